"""The demo's import end to end: real servers, every example connector through Airflow
(dag.test()), the emulator read back and checked against the export files, and a re-run of the
last day that sends nothing. The checks are shown to fail when Sales Layer differs."""

from __future__ import annotations

import copy
from pathlib import Path

import pytest

from saleslayer_airflow.demo.checks import check_state
from saleslayer_airflow.demo.expected import expected_state
from saleslayer_airflow.demo.run import CONNECTORS, FORCED_RERUN, run_demo
from saleslayer_airflow.demo.servers import EMULATOR_KEY, FTP_PASSWORD
from tests.conftest import DAGS, EXAMPLES
from tests.demo.test_demo_summary import assert_adds_up


@pytest.mark.integration
@pytest.mark.timeout(240)
def test_two_days_imported_checked_and_the_rerun_sends_nothing(
    tmp_path: Path, airflow_db: str
) -> None:
    from saleslayer_airflow.emulator.server import run_in_thread

    printed: list[str] = []
    workdir = tmp_path / "demo"
    result = run_demo(workdir, examples=EXAMPLES, dags_folder=DAGS, days=2, out=printed.append)

    assert result.ok, result.failures
    assert [(run.dag_id, run.state) for run in result.runs] == [
        (dag_id, "success") for _ in range(2) for dag_id in CONNECTORS
    ]
    # Day 1 creates everything the first exports hold.
    first = {run.dag_id: run.report for run in result.runs[:3]}
    assert first["stores_ftp"] is not None
    assert first["stores_ftp"]["tables"]["points_of_sale"]["created"] == 25
    assert first["erp_api_catalog"] is not None
    assert first["erp_api_catalog"]["tables"]["brands"]["created"] == 3

    checked = {(check.connector, check.table): check for check in result.checks}
    assert set(checked) == {
        ("stores_ftp", "points_of_sale"),
        ("apparel_catalog_http", "catalogue"),
        ("apparel_catalog_http", "products"),
        ("apparel_catalog_http", "product_formats"),
        ("erp_api_catalog", "brands"),
        ("erp_api_catalog", "products"),
    }
    for check in checked.values():
        assert check.ok and check.expected > 0 and check.matching == check.expected, check

    # The re-run: plain runs skip (same export, no API changes); the forced one reads
    # everything and finds it unchanged; the emulator gets no Import Connector call.
    assert result.calls_during_rerun == 0
    plain, forced = result.reruns[:3], result.reruns[3]
    assert all(run.state == "success" and run.skipped for run in plain)
    assert forced.dag_id == FORCED_RERUN and not forced.skipped and forced.report is not None
    for counts in forced.report["tables"].values():
        assert counts["created"] == counts["updated"] == 0 and counts["unchanged"] > 0

    output = "\n".join(printed)
    assert "OK" in output and "FAIL" not in output
    # Every table line the demo printed adds up to its rows read, whatever the runs did.
    table_lines = [line for line in output.splitlines() if " rows read = " in line]
    assert len(table_lines) >= 6 * 2, output
    for line in table_lines:
        assert_adds_up(line)
    assert FTP_PASSWORD not in output and EMULATOR_KEY not in output

    # The checks fail when Sales Layer differs from the exports: the emulator's store (kept in
    # the work folder) served again, against a tampered expectation.
    expected = expected_state(result.exports)
    with run_in_thread(workdir / "saleslayer.sqlite") as emulator:
        assert all(check.ok for check in check_state(emulator.base_url, expected))
        tampered = copy.deepcopy(expected)
        stores = tampered["stores_ftp"]["points_of_sale"]
        some_ref = sorted(stores)[0]
        stores[some_ref]["fields"]["pos_name"] = "Somewhere else"
        stores["ST-0001"] = copy.deepcopy(stores[some_ref])
        brands = tampered["erp_api_catalog"]["brands"]
        dropped = sorted(brands)[0]
        del brands[dropped]
        failed = {
            (c.connector, c.table): c.problems
            for c in check_state(emulator.base_url, tampered)
            if not c.ok
        }
    assert set(failed) == {("stores_ftp", "points_of_sale"), ("(none)", "brands")}
    problems = failed["stores_ftp", "points_of_sale"]
    assert any(f"{some_ref}: pos_name is" in p and "'Somewhere else'" in p for p in problems)
    assert "ST-0001: missing" in problems
    assert failed["(none)", "brands"] == [f"unexpected items: {[dropped]}"]
