"""One pipeline batch over the payload cap goes out as several Import Connector calls, and each
call is its own checkpoint: when the second call fails for good (five dropped connections in a
row exhaust the client's backoff) and Airflow retries the task, the first call's stores are not
sent again."""

from __future__ import annotations

from collections import Counter

import pytest

from tests.e2e.conftest import World, catalog, first_day, sent_references, states, tries, xcom


@pytest.mark.integration
def test_a_batch_split_by_size_resends_nothing_acknowledged_after_a_failure(world: World) -> None:
    day, text = first_day()
    stores = {line.split(",")[0] for line in text.splitlines()[1:]}
    # One batch holds every store; ~1.5 KB per call cuts it into several calls.
    world.connector(retries=1, batch_size=1000, target="max_payload_mb: 0.0015")
    world.publish(day, text)
    world.emulator.update_settings({"faults": {"connector_api": {"script": ["ok"] + ["drop"] * 5}}})

    dag_run = world.run(day)

    assert dag_run.state == "success", states(dag_run)
    assert tries(dag_run)["push_points_of_sale"] == 2, "the failure was not retried"
    sent = sent_references(world.tmp / "sl.sqlite")
    calls = sum(1 for _ in _jobs(world))
    assert calls >= 3, f"the batch was not split by size ({calls} calls)"
    twice = [ref for ref, n in Counter(sent).items() if n > 1]
    assert twice == [], f"acknowledged stores were sent again: {twice}"
    assert set(sent) == stores
    assert set(catalog(world.emulator)) == stores
    report = xcom(dag_run, "report")["tables"]["points_of_sale"]
    assert (report["created"], report["failed"]) == (len(stores), 0), report


def _jobs(world: World) -> list[str]:
    import sqlite3

    with sqlite3.connect(world.tmp / "sl.sqlite") as connection:
        return [row[0] for row in connection.execute("SELECT id FROM jobs")]
