"""Deletions only from exports read in full, end to end: a store whose row was rejected (a latitude
`abc`) is in the export and is not deleted, while a store that left the directory is; an
unclosed quote that swallows the last lines makes the export unreadable past that line, so the
deletion pass is refused for the run (the upserts go on, the push stays green, the report says
why), in a dry run as in a real one."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

import pytest

from tests.e2e.conftest import (
    STORES,
    World,
    catalog,
    deleted_references,
    first_day,
    states,
    xcom,
)

#: Deletions on, with a safety limit loose enough that a bad export would get through it: the
#: guards under test, not the limit, must keep the stores. One reject in twenty goes on.
CONNECTOR = STORES.format(
    id="stores_deletions_safety",
    retries=0,
    batch_size=7,
    target=", deletions: {enabled: true, max_ratio: 0.5}",
).replace("max_reject_ratio: 0.0", "max_reject_ratio: 0.2")


def rows_of(text: str) -> tuple[str, list[str]]:
    header, *rows = text.splitlines()
    return header, rows


def joined(header: str, rows: list[str]) -> str:
    return "\n".join([header, *rows]) + "\n"


def live(world: World) -> set[str]:
    """References of the emulator's stores that are not deleted."""
    return {ref for ref, item in catalog(world.emulator).items() if item["status"] != "X"}


def report_text(world: World, dag_run: Any) -> str:
    from saleslayer_airflow import staging
    from saleslayer_airflow.report.stage import REPORT_TEXT_FILE

    folder = staging.run_folder((world.tmp / "staging").as_uri(), world.dag_id, dag_run.run_id)
    with (folder / REPORT_TEXT_FILE).open("r", encoding="utf-8") as handle:
        return str(handle.read())


def first_import(world: World) -> tuple[Any, str, set[str]]:
    day, text = first_day()
    world.write_connector("stores_deletions_safety", CONNECTOR)
    world.publish(day, text)
    dag_run = world.run(day)
    assert dag_run.state == "success", states(dag_run)
    everything = live(world)
    assert len(everything) == 25
    return day, text, everything


@pytest.mark.integration
def test_a_rejected_store_is_kept_and_a_closed_one_deleted(world: World) -> None:
    day, text, everything = first_import(world)
    header, rows = rows_of(text)
    assert header.split(",")[9] == "latitude"

    # Day 2: ST-1003's latitude is `abc` (its row is rejected), ST-1010 closed.
    cells = rows[3].split(",")
    bad_ref, cells[9] = cells[0], "abc"
    rows[3] = ",".join(cells)
    closed = rows.pop(10).split(",")[0]
    assert (bad_ref, closed) == ("ST-1003", "ST-1010")
    day2 = day + timedelta(days=1)
    world.publish(day2, joined(header, rows))
    dag_run = world.run(day2)

    # 1 rejected row of 24 is under max_reject_ratio 0.2: the run goes on, green.
    assert dag_run.state == "success", states(dag_run)
    split = xcom(dag_run, "validate_and_split")["tables"]["points_of_sale"]
    assert (split["rejected"], split["unreadable_rows"], split["unreadable"]) == (1, 0, None)
    report = xcom(dag_run, "report")["tables"]["points_of_sale"]
    assert report["read"] == 24 and report["rejected"] == 1
    assert report["unchanged"] == 23 and report["deleted"] == 1
    assert "deletions" not in report
    assert live(world) == everything - {closed}
    assert deleted_references(world.tmp / "sl.sqlite") == [closed]


@pytest.mark.integration
def test_an_unclosed_quote_refuses_the_deletion_pass(world: World) -> None:
    day, text, everything = first_import(world)
    header, rows = rows_of(text)

    # Day 2: ST-1001 renamed (an upsert that must go through); ST-1019's name opens a quote
    # that is never closed, swallowing the six last lines (ST-1019 to ST-1024, line 21 on).
    renamed = rows[1].split(",")
    renamed[1] += " (renovated)"
    rows[1] = ",".join(renamed)
    swallowed = rows[19].split(",")
    swallowed[1] = '"' + swallowed[1]
    rows[19] = ",".join(swallowed)
    day2 = day + timedelta(days=1)
    world.publish(day2, joined(header, rows))

    for dry_run in (True, False):
        before = live(world)
        dag_run = world.run(day2, dry_run=dry_run) if dry_run else world.run(day2)
        assert dag_run.state == "success", states(dag_run)
        assert states(dag_run)["push_points_of_sale"] == "success"

        split = xcom(dag_run, "validate_and_split")["tables"]["points_of_sale"]
        assert split["rows_in"] == 20 and split["rejected"] == 1
        assert split["unreadable_rows"] == 1
        assert "line 21, unclosed quote" in split["unreadable"]

        push = xcom(dag_run, "push_points_of_sale")
        assert push["deletions"] == "refused" and push["deleted"] == 0
        report = xcom(dag_run, "report")
        table = report["tables"]["points_of_sale"]
        assert report["dry_run"] is dry_run
        assert table["deletions"] == "refused"
        reason = table["deletions_reason"]
        assert "1 row of stores_20261102.csv could not be read (line 21, unclosed quote)" in reason
        assert "an export not read in full never drives deletions" in reason
        assert table["read"] == 20 and table["rejected"] == 1 and table["deleted"] == 0
        assert table["updated"] == 1 and table["unchanged"] == 18
        assert f"points_of_sale: deletions refused: {reason}" in report_text(world, dag_run)

        # Nothing deleted: the six swallowed stores are as live as before.
        assert live(world) == before == everything
        assert deleted_references(world.tmp / "sl.sqlite") == []

    # The real run sent the rename.
    assert catalog(world.emulator)["ST-1001"]["fields"]["pos_name"] == renamed[1]
