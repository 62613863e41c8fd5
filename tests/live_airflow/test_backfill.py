"""A backfill of five days through a real Airflow: `airflow backfill create` records it, the
scheduler runs it with LocalExecutor workers, each run imports its own day's export from FTP into
the Sales Layer emulator, and everything is checked from outside: runs, reports and the
emulator's final state, through Airflow's REST API and the emulator's inspection routes."""

from __future__ import annotations

from datetime import date, datetime
from typing import Any

import httpx
import pytest

from tests.live_airflow.conftest import (
    DAG_ID,
    DAYS,
    Backfill,
    LiveAirflow,
    export_csv,
    export_name,
    export_rows,
    fetch_fingerprint,
)

# Airflow's start and the backfill (about 100 s here) are part of the first test's setup.
pytestmark = [pytest.mark.integration, pytest.mark.timeout(600)]


def run_day(run: dict[str, Any]) -> date:
    return datetime.fromisoformat(run["logical_date"]).date()


def task_states(airflow: LiveAirflow, run_id: str) -> dict[str, str | None]:
    found = airflow.get(f"/dags/{DAG_ID}/dagRuns/{run_id}/taskInstances")["task_instances"]
    return {ti["task_id"]: ti["state"] for ti in found}


def xcom(airflow: LiveAirflow, run_id: str, task_id: str) -> Any:
    """A task's return value, as the REST API gives it (deserialised)."""
    path = f"/dags/{DAG_ID}/dagRuns/{run_id}/taskInstances/{task_id}/xcomEntries/return_value"
    return airflow.get(path, deserialize=True)["value"]


def expected_final_state() -> dict[str, dict[str, Any]]:
    """Every product as the newest export holding it says, from the export files alone."""
    newest: dict[str, dict[str, str]] = {}
    for number in range(len(DAYS)):
        for row in export_rows(number):
            newest[row["sku"]] = row
    return {
        sku: {"prod_title": {"en": row["name_en"]}, "prod_price": float(row["price"])}
        for sku, row in newest.items()
    }


def emulator_products(airflow: LiveAirflow) -> dict[str, dict[str, Any]]:
    """The emulator's products table, through its inspection route."""
    answer = httpx.get(f"{airflow.emulator.base_url}/_emulator/tables/products", timeout=30)
    assert answer.status_code == 200, answer.text
    return {str(item["ref"]): item for item in answer.json()["items"]}


def test_backfill_imports_each_day_and_ends_with_the_newest_data(
    live_airflow: LiveAirflow, backfill: Backfill
) -> None:
    runs = backfill.runs
    assert [run_day(r) for r in runs] == DAYS
    # The scheduler started no run of its own (the connector's end date is the last day).
    assert live_airflow.get(f"/dags/{DAG_ID}/dagRuns")["total_entries"] == len(DAYS)
    failed = {
        r["dag_run_id"]: task_states(live_airflow, r["dag_run_id"])
        for r in runs
        if r["state"] != "success"
    }
    if failed:
        run_id, states = next(iter(failed.items()))
        broken = next((t for t, s in states.items() if s == "failed"), "report")
        pytest.fail(
            f"runs did not succeed: {failed}\nlog of {broken} in {run_id}:\n"
            f"{live_airflow.task_log(DAG_ID, run_id, broken)[-3000:]}"
        )

    previous: set[str] = set()
    for number, run in enumerate(runs):
        run_id = run["dag_run_id"]
        day = DAYS[number]
        assert task_states(live_airflow, run_id) == {
            "fetch_source": "success",
            "validate_and_split": "success",
            "push_products": "success",
            "report": "success",
        }
        # The run fetched its own day's file: by name on the server, and by content.
        fetched = xcom(live_airflow, run_id, "fetch_source")
        assert [f["source"].rsplit("/", 1)[-1] for f in fetched["files"]] == [export_name(day)]
        report = xcom(live_airflow, run_id, "report")
        assert report["run_id"] == run_id and report["succeeded"] is True
        assert report["fingerprint"] == fetch_fingerprint(export_csv(number))

        # Counts balance, and match what changed since the previous day's export.
        counts = report["tables"]["products"]
        rows = {r["sku"]: r for r in export_rows(number)}
        before = {r["sku"]: r for r in export_rows(number - 1)} if number else {}
        assert counts["read"] == len(rows)
        assert counts["read"] == sum(
            counts[k]
            for k in ("created", "updated", "unchanged", "stale", "rejected", "merged", "failed")
        )
        assert counts["created"] == len(set(rows) - previous)
        assert counts["updated"] == sum(1 for s in before if s in rows and rows[s] != before[s])
        assert counts["rejected"] == counts["failed"] == counts["stale"] == 0
        previous = set(rows)

    stored = emulator_products(live_airflow)
    expected = expected_final_state()
    assert set(stored) == set(expected)
    for sku, fields in expected.items():
        item = stored[sku]
        assert not item["deleted"], sku
        # Sales Layer keeps numbers as text: compared as numbers.
        shown = dict(item["fields"], prod_price=float(item["fields"]["prod_price"]))
        assert shown == fields, sku


def test_no_secret_in_task_logs_xcom_or_component_logs(
    live_airflow: LiveAirflow, backfill: Backfill
) -> None:
    from tests.e2e.conftest import KEY
    from tests.sources.servers import PASSWORD

    seen: list[str] = []
    for run in backfill.runs:
        run_id = run["dag_run_id"]
        for task_id in task_states(live_airflow, run_id):
            path = f"/dags/{DAG_ID}/dagRuns/{run_id}/taskInstances/{task_id}"
            seen.append(live_airflow.api("GET", f"{path}/logs/1").text)
            seen.append(live_airflow.api("GET", f"{path}/xcomEntries/return_value").text)
    seen += [live_airflow.log(name).read_text(errors="replace") for name in live_airflow.processes]
    text = "\n".join(seen)
    assert "Sales Layer import" in text  # the logs were read
    assert PASSWORD not in text
    assert KEY not in text
