"""End to end through Airflow (dag.test): a store directory on a real FTP server, imported into
the Sales Layer emulator over HTTP, then re-imported unchanged (nothing sent), then a day with
changes (only those sent), then an older export (stale: nothing rolled back)."""

from __future__ import annotations

import csv
import io
import json
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest

from saleslayer_airflow.demo.catalog import daily_exports
from tests.conftest import DAGS
from tests.sources.servers import FtpServer

CONNECTOR = """\
id: stores_e2e
description: Store directory from FTP into the emulator.
schedule: "@daily"
start_date: 2026-11-01
retries: 0
source:
  kind: ftp
  conn_id: erp_ftp
  path: "/exports/stores_{{ ds_nodash }}.csv"
  stable_for: 0s
format: {type: csv}
tables:
  points_of_sale:
    reference: store_number
    fields:
      pos_name: {column: store_name, required: true}
      pos_address: street_address
      pos_city: city
      pos_zip: postcode
      pos_country: {column: country, max_length: 2}
      pos_phone: phone_number
      pos_latitude: {column: latitude, type: number}
      pos_longitude: {column: longitude, type: number}
target: {conn_id: saleslayer_default, batch_size: 7}
validation: {max_reject_ratio: 0.0}
"""

# The emulator's default tenant file holds these test credentials (docs/emulator.md).
CODE, KEY = "CN123TEST", "pk-S3cret-Private-Key-4-tests"


@pytest.fixture
def world(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, airflow_db: str
) -> Iterator[dict[str, Any]]:
    from saleslayer_airflow.emulator.server import start_in_thread

    (tmp_path / "connectors").mkdir()
    (tmp_path / "connectors" / "stores_e2e.yaml").write_text(CONNECTOR, encoding="utf-8")
    root = tmp_path / "ftproot"
    (root / "exports").mkdir(parents=True)
    ftp = FtpServer(root)
    emulator = start_in_thread(tmp_path / "sl.sqlite")
    monkeypatch.setenv("SALESLAYER_CONNECTORS_DIR", str(tmp_path / "connectors"))
    monkeypatch.setenv("SALESLAYER_STAGING_BASE", (tmp_path / "staging").as_uri())
    monkeypatch.setenv("SALESLAYER_STATE_URL", f"sqlite:///{tmp_path / 'state.sqlite'}")
    monkeypatch.setenv("AIRFLOW_CONN_ERP_FTP", ftp.conn())
    monkeypatch.setenv(
        "AIRFLOW_CONN_SALESLAYER_DEFAULT",
        json.dumps(
            {"conn_type": "saleslayer", "host": emulator.base_url, "login": CODE, "password": KEY}
        ),
    )
    yield {"root": root, "emulator": emulator}
    emulator.stop()
    ftp.stop()


def publish(root: Path, day: datetime, text: str) -> None:
    (root / "exports" / f"stores_{day:%Y%m%d}.csv").write_text(text, encoding="utf-8")


def run(day: datetime) -> Any:
    from airflow.dag_processing.dagbag import DagBag

    dag = DagBag(dag_folder=str(DAGS)).dags["stores_e2e"]
    return dag.test(logical_date=day)


def states(dag_run: Any) -> dict[str, str]:
    return {ti.task_id: ti.state for ti in dag_run.get_task_instances()}


def report_of(dag_run: Any) -> dict[str, Any]:
    """The report task's XCom, read from Airflow's metadata database."""
    from airflow.models.xcom import XComModel
    from airflow.utils.session import create_session

    with create_session() as session:
        row = (
            session.query(XComModel)
            .filter_by(dag_id=dag_run.dag_id, run_id=dag_run.run_id, task_id="report")
            .filter_by(key="return_value")
            .one()
        )
        return XComModel.deserialize_value(row)  # type: ignore[no-any-return]


def expected_stores(text: str) -> dict[str, str]:
    return {row["store_number"]: row["store_name"] for row in csv.DictReader(io.StringIO(text))}


@pytest.mark.integration
def test_import_reimport_change_and_backfill(world: dict[str, Any]) -> None:
    emulator = world["emulator"]
    ((day1, company1),) = daily_exports(1)
    first = datetime(day1.year, day1.month, day1.day, 6, tzinfo=UTC)
    second = first + timedelta(days=1)
    text1 = company1.stores_csv()
    # The next day: one store renamed, one store opened.
    lines = text1.splitlines()
    renamed = lines[1].split(",")
    renamed[1] = renamed[1] + " (renovated)"
    opened = lines[2].split(",")
    opened[0], opened[1] = "ST-9999", "Porto Ribeira 9999"
    text2 = "\n".join([lines[0], ",".join(renamed), *lines[2:], ",".join(opened)]) + "\n"
    publish(world["root"], first, text1)

    dag_run = run(first)
    assert dag_run.state == "success", states(dag_run)
    stored = {row["ref"]: row for row in emulator.dump("points_of_sale")}
    assert {ref: row["fields"]["pos_name"] for ref, row in stored.items()} == expected_stores(text1)
    report = report_of(dag_run)["tables"]["points_of_sale"]
    assert report["created"] == len(expected_stores(text1)) and report["failed"] == 0

    # The same export again: the fetch sees the same fingerprint and skips the run.
    again = run(first.replace(hour=7))
    assert states(again)["fetch_source"] == "skipped"

    # The next day's export: only the stores that changed or opened are sent.
    publish(world["root"], second, text2)
    calls_before = emulator.stats()
    dag_run = run(second)
    assert dag_run.state == "success", states(dag_run)
    report = report_of(dag_run)["tables"]["points_of_sale"]
    new = set(expected_stores(text2)) - set(expected_stores(text1))
    assert report["created"] == len(new)
    assert report["created"] + report["updated"] + report["unchanged"] == len(
        expected_stores(text2)
    )
    stored = {row["ref"]: row for row in emulator.dump("points_of_sale")}
    assert {ref: row["fields"]["pos_name"] for ref, row in stored.items()} == expected_stores(text2)
    assert calls_before != emulator.stats()

    # Backfilling day 1 after day 2 (forced past the unchanged-export skip) changes nothing.
    before = emulator.dump("points_of_sale")
    from airflow.dag_processing.dagbag import DagBag

    dag = DagBag(dag_folder=str(DAGS)).dags["stores_e2e"]
    backfill = dag.test(logical_date=first.replace(hour=8), run_conf={"force": True})
    assert backfill.state == "success", states(backfill)
    report = report_of(backfill)["tables"]["points_of_sale"]
    assert report["created"] == 0 and report["updated"] == 0
    assert report["stale"] + report["unchanged"] == len(expected_stores(text1))
    assert emulator.dump("points_of_sale") == before
