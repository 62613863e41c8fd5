"""Items Sales Layer refuses never block their table, end to end through Airflow (dag.test into
the emulator over HTTP, which refuses chosen stores as Sales Layer refuses data it does not
accept: the whole call is denied, result 2).

The other stores arrive; the refused ones are counted failed with Sales Layer's reason in the
push's result, the report and the run's rejects file; the task stays green under
target.max_failed_ratio; the next run sends exactly the refused stores again. Past the ratio the
push fails without retry, and what Sales Layer accepted stays there and checkpointed."""

from __future__ import annotations

import csv
import sqlite3
from datetime import timedelta
from pathlib import Path

import pytest

from saleslayer_airflow.state.schema import PREFIX
from tests.e2e.conftest import World, catalog, first_day, sent_references, states, tries, xcom

PUSH = "push_points_of_sale"
REFUSED = {
    "ST-1000": "Invalid value for field pos_latitude: expected a number",
    "ST-1010": "pos_country links to a country deleted in Sales Layer",
}


def checkpointed(world: World) -> set[str]:
    with sqlite3.connect(world.tmp / "state.sqlite") as connection:
        return {row[0] for row in connection.execute(f"SELECT reference FROM {PREFIX}items")}


def run_file(world: World, name: str) -> list[dict[str, str]]:
    """A CSV file of the (only) run folder of the connector."""
    (path,) = (world.tmp / "staging" / world.dag_id).glob(f"*/{name}")
    with Path(path).open(encoding="utf-8", newline="") as handle:
        return list(csv.DictReader(handle))


@pytest.mark.integration
def test_refused_stores_are_set_aside_reported_and_sent_again_next_run(world: World) -> None:
    day, text = first_day()
    line_of = {line.split(",")[0]: n for n, line in enumerate(text.splitlines(), start=1)}
    stores = set(line_of) - {"store_number"}
    assert len(stores) == 25 and set(REFUSED) <= stores
    world.emulator.update_settings({"refuse": {"points_of_sale": REFUSED}})
    world.connector(retries=2, batch_size=7, target="max_failed_ratio: 0.1")
    world.publish(day, text)

    first = world.run(day)

    assert first.state == "success", states(first)
    assert tries(first)[PUSH] == 1
    assert set(catalog(world.emulator)) == stores - set(REFUSED)
    assert checkpointed(world) == stores - set(REFUSED), "a refused store was recorded as pushed"
    pushed = xcom(first, PUSH)
    assert (pushed["created"], pushed["failed"], pushed["refused"]) == (23, 2, 2)
    reasons = {r["reference"]: r["reason"] for r in pushed["refusals"]}
    assert set(reasons) == set(REFUSED)
    assert all(REFUSED[ref] in reason for ref, reason in reasons.items()), reasons
    report = xcom(first, "report")
    table = report["tables"]["points_of_sale"]
    assert report["succeeded"] is True
    assert (table["read"], table["created"], table["failed"], table["refused"]) == (25, 23, 2, 2)
    (text_file,) = (world.tmp / "staging" / world.dag_id).glob("*/report.txt")
    report_text = text_file.read_text(encoding="utf-8")
    assert "2 item(s) refused by Sales Layer" in report_text
    assert all(reason in report_text for reason in REFUSED.values())

    # The run's rejects: validation's columns, one row per refused store, with its line.
    rejects = run_file(world, "rejects.csv")
    assert list(rejects[0]) == [
        "source_file",
        "line",
        "table",
        "reference",
        "column",
        "value",
        "reason",
    ]
    by_ref = {row["reference"]: row for row in rejects}
    assert set(by_ref) == set(REFUSED)
    for ref, row in by_ref.items():
        assert row["reason"].startswith("refused by Sales Layer: ")
        assert REFUSED[ref] in row["reason"]
        assert row["table"] == "points_of_sale" and row["source_file"].endswith(".csv")
        assert int(row["line"]) == line_of[ref]
    failed = run_file(world, "failed/points_of_sale.csv")
    assert {row["reference"]: row["stage"] for row in failed} == dict.fromkeys(REFUSED, "failed")

    # Next day, the same export, the refusal lifted: exactly the two refused stores are sent.
    world.emulator.update_settings({"refuse": {}})
    sent_before = len(sent_references(world.tmp / "sl.sqlite"))
    next_day = day + timedelta(days=1)
    world.publish(next_day, text)

    second = world.run(next_day)

    assert second.state == "success", states(second)
    assert sorted(sent_references(world.tmp / "sl.sqlite")[sent_before:]) == sorted(REFUSED)
    assert set(catalog(world.emulator)) == stores
    assert checkpointed(world) == stores
    pushed = xcom(second, PUSH)
    assert (pushed["created"], pushed["unchanged"], pushed["failed"]) == (2, 23, 0)


@pytest.mark.integration
def test_refusals_past_max_failed_ratio_fail_the_push_without_retry(world: World) -> None:
    day, text = first_day()
    stores = {line.split(",")[0] for line in text.splitlines()[1:]}
    refused = {ref: "Invalid value for field pos_zip" for ref in ("ST-1002", "ST-1009", "ST-1024")}
    # Sales Layer's errors name no store here: the push finds them by bisecting the calls.
    world.emulator.update_settings(
        {
            "refuse": {"points_of_sale": refused},
            "connector_api": {"denials_name_items": False},
        }
    )
    world.connector(retries=2, batch_size=7)  # max_failed_ratio: the default 0.05 (3/25 = 12 %)
    world.publish(day, text)

    run = world.run(day)

    assert run.state == "failed"
    assert states(run)[PUSH] == "failed"
    assert tries(run)[PUSH] == 1, "refusals past the ratio were retried"
    assert set(catalog(world.emulator)) == stores - set(refused)
    assert checkpointed(world) == stores - set(refused)
    pushed = xcom(run, PUSH)
    assert pushed["status"] == "failed" and "max_failed_ratio 0.05" in pushed["error"]
    assert (pushed["created"], pushed["failed"], pushed["refused"]) == (22, 3, 3)
    report = xcom(run, "report")
    table = report["tables"]["points_of_sale"]
    assert report["succeeded"] is False
    assert (table["read"], table["created"], table["failed"]) == (25, 22, 3)
    rejects = run_file(world, "rejects.csv")
    assert {row["reference"] for row in rejects} == set(refused)
    assert all(
        row["reason"] == "refused by Sales Layer: Invalid value for field pos_zip"
        for row in rejects
    )
