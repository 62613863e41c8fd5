"""Daily exports through Airflow (dag.test) into the emulator: five days imported out of order
end in the newest day's data, and a re-import where 1% of the rows changed sends exactly those.

The expected states are computed from the export files alone, not from what the pipeline says.
"""

from __future__ import annotations

import csv
import io
from datetime import timedelta

import pytest

from tests.e2e.conftest import World, catalog, first_day, sent_references, states, xcom

pytestmark = pytest.mark.integration


def _rows(text: str) -> list[dict[str, str]]:
    return list(csv.DictReader(io.StringIO(text)))


def _text(rows: list[dict[str, str]]) -> str:
    out = io.StringIO()
    writer = csv.DictWriter(out, fieldnames=list(rows[0]), lineterminator="\n")
    writer.writeheader()
    writer.writerows(rows)
    return out.getvalue()


def _names(text: str) -> dict[str, str]:
    return {row["store_number"]: row["store_name"] for row in _rows(text)}


def _day_exports(base: str, days: int) -> list[str]:
    """Day k: store 0 renamed every day, and from day k on store k+1 carries a new name, so each
    day's file differs from every other and the newest is known from the files alone."""
    exports = []
    for k in range(days):
        rows = _rows(base)
        rows[0]["store_name"] = f"Flagship v{k}"
        for j in range(1, k + 2):
            rows[j]["store_name"] = f"{rows[j]['store_name']} (refit {j})"
        exports.append(_text(rows))
    return exports


def _counts(dag_run: object) -> dict[str, int]:
    report = xcom(dag_run, "report")
    assert report is not None, "the report task returned nothing"
    table: dict[str, int] = report["tables"]["points_of_sale"]
    return table


def test_five_days_imported_out_of_order_end_in_the_newest_data(world: World) -> None:
    world.connector()
    day0, base = first_day()
    exports = _day_exports(base, 5)
    for k, text in enumerate(exports):
        world.publish(day0 + timedelta(days=k), text)

    newest_seen = -1
    for k in (2, 0, 4, 1, 3):
        sent_before = len(sent_references(world.tmp / "sl.sqlite"))
        dag_run = world.run(day0 + timedelta(days=k))
        assert dag_run.state == "success", (k, states(dag_run))
        counts = _counts(dag_run)
        sent = len(sent_references(world.tmp / "sl.sqlite")) - sent_before
        if k < newest_seen:
            # Older than what every item already has: nothing applied, nothing sent.
            assert counts["created"] == counts["updated"] == 0 and sent == 0, (k, counts)
            assert counts["stale"] > 0, (k, counts)
        newest_seen = max(newest_seen, k)

    shown = {ref: row["fields"]["pos_name"] for ref, row in catalog(world.emulator).items()}
    assert shown == _names(exports[4])


def test_a_one_percent_change_sends_exactly_that_one_percent(world: World) -> None:
    world.connector(batch_size=50)
    day0, base = first_day()
    template = _rows(base)
    # 300 stores: the demo's directory repeated under new store numbers.
    rows = []
    for n in range(300):
        row = dict(template[n % len(template)])
        row["store_number"] = f"ST-{20000 + n}"
        rows.append(row)
    world.publish(day0, _text(rows))
    first = world.run(day0)
    assert first.state == "success", states(first)
    assert _counts(first)["created"] == 300

    changed = ["ST-20007", "ST-20150", "ST-20299"]  # 1% of 300
    for row in rows:
        if row["store_number"] in changed:
            row["store_name"] += " (moved)"
    world.publish(day0 + timedelta(days=1), _text(rows))
    sent_before = len(sent_references(world.tmp / "sl.sqlite"))
    second = world.run(day0 + timedelta(days=1))
    assert second.state == "success", states(second)

    counts = _counts(second)
    assert (counts["updated"], counts["unchanged"], counts["created"]) == (3, 297, 0), counts
    sent = sent_references(world.tmp / "sl.sqlite")[sent_before:]
    assert sorted(sent) == changed
    shown = {ref: row["fields"]["pos_name"] for ref, row in catalog(world.emulator).items()}
    assert shown == {row["store_number"]: row["store_name"] for row in rows}
