"""A dry run (run param) through Airflow leaves Sales Layer untouched and predicts the real run
exactly; a terminal error (a wrong private key) fails the push at once, with balanced counts in
the report and an error that names the connection but never the key."""

from __future__ import annotations

import pytest

from tests.e2e.conftest import (
    KEY,
    World,
    catalog,
    changed_copy,
    first_day,
    saleslayer_conn,
    states,
    tries,
    xcom,
)

_COUNTS = ("created", "updated", "unchanged", "stale", "failed")


@pytest.mark.integration
def test_dry_run_leaves_the_emulator_untouched_and_predicts_the_real_run(world: World) -> None:
    day, text = first_day()
    world.connector(batch_size=4)
    world.publish(day, text)
    assert world.run(day).state == "success"
    before, requests_before = catalog(world.emulator), world.emulator.stats()["total"]

    next_day = day.replace(day=day.day + 1)
    world.publish(next_day, changed_copy(text))
    dry = world.run(next_day, dry_run=True)

    assert dry.state == "success", states(dry)
    assert catalog(world.emulator) == before
    assert world.emulator.stats()["total"] == requests_before, "the dry run called Sales Layer"
    predicted = xcom(dry, "report")
    assert predicted["dry_run"] is True
    predicted_push = xcom(dry, "push_points_of_sale")
    sample = {s["reference"]: s for s in predicted_push["sample"]}
    assert sample["ST-9999"]["action"] == "created"
    renamed = [ref for ref, s in sample.items() if s["action"] == "updated"]
    assert len(renamed) == 2
    assert all(set(sample[ref]["fields"]) == {"pos_name"} for ref in renamed)

    # The real run of the same export: the dry run did not mark it imported.
    real = world.run(next_day.replace(hour=7))
    assert real.state == "success", states(real)
    done = xcom(real, "report")
    for key in (*_COUNTS, "read"):
        assert (
            done["tables"]["points_of_sale"][key] == predicted["tables"]["points_of_sale"][key]
        ), key
    assert (done["tables"]["points_of_sale"]["created"], len(renamed)) == (1, 2)
    after = catalog(world.emulator)
    changed = {ref for ref in after if after[ref] != before.get(ref)}
    assert changed == set(sample), "the dry run's sample is not what the real run changed"


@pytest.mark.integration
def test_a_wrong_private_key_fails_at_once_and_names_the_connection_only(
    world: World, capfd: pytest.CaptureFixture[str]
) -> None:
    day, text = first_day()
    world.connector(retries=3, batch_size=4)
    world.publish(day, text)
    wrong = "pk-Wrong-Key-Do-Not-Leak-0099"
    world.monkeypatch.setenv(
        "AIRFLOW_CONN_SALESLAYER_DEFAULT", saleslayer_conn(world.emulator.base_url, key=wrong)
    )

    dag_run = world.run(day)

    assert dag_run.state == "failed"
    assert states(dag_run)["push_points_of_sale"] == "failed"
    assert tries(dag_run)["push_points_of_sale"] == 1, "a terminal error was retried"
    assert catalog(world.emulator) == {}
    report = xcom(dag_run, "report")
    table = report["tables"]["points_of_sale"]
    assert report["succeeded"] is False and table["status"] == "failed"
    assert table["read"] == table["failed"] == len(text.splitlines()) - 1
    pushed = xcom(dag_run, "push_points_of_sale")
    assert "saleslayer_default" in pushed["error"]
    # The task logs, as the task runner wrote them (structlog, to the process's streams).
    logs = "".join(capfd.readouterr())
    assert "push of points_of_sale stopped" in logs, "the task log was not captured"
    everything = repr(pushed) + repr(report) + logs
    assert wrong not in everything and KEY not in everything


@pytest.mark.integration
def test_retry_policy_fails_a_missing_connection_at_once(world: World) -> None:
    # The hook's SalesLayerTerminalError reaches Airflow as is (not wrapped by the operator):
    # only the push task's retry policy keeps Airflow from retrying it three times.
    day, text = first_day()
    world.connector(retries=3)
    world.publish(day, text)
    world.monkeypatch.delenv("AIRFLOW_CONN_SALESLAYER_DEFAULT")

    dag_run = world.run(day)

    assert states(dag_run)["push_points_of_sale"] == "failed"
    assert tries(dag_run)["push_points_of_sale"] == 1
