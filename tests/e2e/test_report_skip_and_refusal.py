"""The report says why: a run skipped because the export did not change still writes a report
(`skipped`, and the reason), and a deletion refused by the safety limit puts its reason in the
push task's result and in the report."""

from __future__ import annotations

import json
from datetime import timedelta
from typing import Any

import pytest

from tests.e2e.conftest import World, first_day, states, xcom


def report_file(world: World, dag_run: Any) -> dict[str, Any]:
    from saleslayer_airflow import staging

    folder = staging.run_folder((world.tmp / "staging").as_uri(), world.dag_id, dag_run.run_id)
    with (folder / staging.REPORT_FILE).open("r", encoding="utf-8") as handle:
        loaded: dict[str, Any] = json.load(handle)
        return loaded


@pytest.mark.integration
def test_an_unchanged_export_ends_with_a_skipped_report(world: World) -> None:
    day, text = first_day()
    world.connector()
    world.publish(day, text)
    first = world.run(day)
    assert first.state == "success", states(first)

    again = world.run(day + timedelta(hours=1))  # the same day: the same, unchanged file

    assert again.state == "success", states(again)
    assert states(again)["report"] == "skipped"
    report = report_file(world, again)
    assert report["skipped"] is True and report["tables"] == {}
    assert first.run_id in report["reason"] and "force=true" in report["reason"]


@pytest.mark.integration
def test_a_refused_deletion_shows_its_reason_in_the_report(world: World) -> None:
    day, text = first_day()
    world.connector(target="deletions: {enabled: true, max_ratio: 0.05}")
    world.publish(day, text)
    assert world.run(day).state == "success"
    lines = text.splitlines()
    next_day = day + timedelta(days=1)
    world.publish(next_day, "\n".join(lines[:-4]) + "\n")  # four stores missing: > 5%

    refused = world.run(next_day)

    assert refused.state == "failed", states(refused)
    pushed = xcom(refused, "push_points_of_sale")
    assert "max_ratio" in pushed["error"] and pushed["failed"] == pushed["items"], pushed
    table = report_file(world, refused)["tables"]["points_of_sale"]
    assert table["error"] == pushed["error"]
    assert (table["failed"], table["status"]) == (len(lines) - 5, "not pushed"), table


@pytest.mark.integration
def test_a_table_rest_cannot_write_fails_at_once_and_says_why(world: World) -> None:
    day, text = first_day()
    world.connector(target="transport: rest")
    world.publish(day, text)

    dag_run = world.run(day)

    assert dag_run.state == "failed", states(dag_run)
    assert world.emulator.stats()["total"] == 0, "nothing may be sent"
    table = report_file(world, dag_run)["tables"]["points_of_sale"]
    assert "points of sale have no write through the Catalog REST API" in table["error"]
    assert "transport: connector_api" in table["error"]
    assert table["failed"] == len(text.splitlines()) - 1


@pytest.mark.integration
def test_an_export_whose_report_never_ran_is_imported_again_not_skipped(world: World) -> None:
    # A run stopped after its pushes (the worker died, the run was marked failed, the report
    # task never ran) has not been confirmed as imported: the next run with the same export
    # imports it again instead of skipping it as "unchanged".
    day, text = first_day()
    world.connector()
    world.publish(day, text)
    stopped = world.dag().test(logical_date=day, mark_success_pattern="^report$")
    assert states(stopped)["fetch_source"] == "success", states(stopped)
    assert not (world.tmp / "staging" / world.dag_id / "_state" / "last_import.json").exists()

    again = world.run(day + timedelta(hours=1))

    assert again.state == "success", states(again)
    assert states(again)["fetch_source"] == "success" and states(again)["report"] == "success"
    # Everything was pushed by the stopped run: nothing is sent again.
    assert xcom(again, "push_points_of_sale")["unchanged"] == len(text.splitlines()) - 1
    recorded = json.loads(
        (world.tmp / "staging" / world.dag_id / "_state" / "last_import.json").read_text()
    )
    assert recorded["run_id"] == again.run_id

    third = world.run(day + timedelta(hours=2))
    assert states(third)["fetch_source"] == "skipped", states(third)
