"""Shared pieces of the push end-to-end tests: a real FTP server holding the ERP's store
directory, the Sales Layer emulator over HTTP, a throw-away state store and staging folder, and
Airflow's own dag.test() running the connector's DAG."""

from __future__ import annotations

import json
import sqlite3
from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest

from saleslayer_airflow.demo.catalog import daily_exports
from tests.conftest import DAGS
from tests.sources.servers import FtpServer

# The emulator's default tenant file holds these test credentials (docs/emulator.md).
CODE, KEY = "CN123TEST", "pk-S3cret-Private-Key-4-tests"

STORES = """\
id: {id}
description: Store directory from FTP into the emulator.
schedule: "@daily"
start_date: 2026-11-01
retries: {retries}
retry_delay: 1s
source:
  kind: ftp
  conn_id: erp_ftp
  path: "/exports/stores_{{{{ ds_nodash }}}}.csv"
  stable_for: 0s
format: {{type: csv}}
tables:
  points_of_sale:
    reference: store_number
    fields:
      pos_name: {{column: store_name, required: true}}
      pos_address: street_address
      pos_city: city
      pos_zip: postcode
      pos_country: {{column: country, max_length: 2}}
      pos_phone: phone_number
      pos_latitude: {{column: latitude, type: number}}
      pos_longitude: {{column: longitude, type: number}}
target: {{conn_id: saleslayer_default, batch_size: {batch_size}{target}}}
validation: {{max_reject_ratio: 0.0}}
"""

#: Jobs end at their first tracking poll: the client never waits between polls.
FAST_TRACKING: dict[str, Any] = {"tracking": {"steps_to_end": 0, "seconds_per_step": 0}}


def saleslayer_conn(base_url: str, key: str = KEY) -> str:
    """An AIRFLOW_CONN_ value of the Sales Layer connection pointing at the emulator."""
    return json.dumps({"conn_type": "saleslayer", "host": base_url, "login": CODE, "password": key})


@dataclass
class World:
    """Everything one end-to-end test talks to; see :func:`world`."""

    tmp: Path
    ftp_root: Path
    emulator: Any
    monkeypatch: pytest.MonkeyPatch
    dag_id: str = "stores_e2e"
    stopped: list[Any] = field(default_factory=list)

    def connector(self, *, retries: int = 0, batch_size: int = 7, target: str = "") -> None:
        """Write the connector file; ``target`` adds flow-style keys to its `target:`."""
        text = STORES.format(
            id=self.dag_id,
            retries=retries,
            batch_size=batch_size,
            target=f", {target}" if target else "",
        )
        (self.tmp / "connectors" / f"{self.dag_id}.yaml").write_text(text, encoding="utf-8")

    def write_connector(self, dag_id: str, text: str) -> None:
        """Use another connector file (its id must be ``dag_id``)."""
        self.dag_id = dag_id
        (self.tmp / "connectors" / f"{dag_id}.yaml").write_text(text, encoding="utf-8")

    def publish_file(self, name: str, text: str) -> None:
        (self.ftp_root / "exports" / name).write_text(text, encoding="utf-8")

    def publish(self, day: datetime, text: str) -> None:
        (self.ftp_root / "exports" / f"stores_{day:%Y%m%d}.csv").write_text(text, encoding="utf-8")

    def use_emulator(self, emulator: Any, state: str) -> None:
        """Point the connection and the state store at another emulator and state file."""
        self.emulator = emulator
        self.monkeypatch.setenv(
            "AIRFLOW_CONN_SALESLAYER_DEFAULT", saleslayer_conn(emulator.base_url)
        )
        self.monkeypatch.setenv("SALESLAYER_STATE_URL", f"sqlite:///{self.tmp / state}")

    def dag(self) -> Any:
        from airflow.dag_processing.dagbag import DagBag

        return DagBag(dag_folder=str(DAGS)).dags[self.dag_id]

    def run(self, day: datetime, **conf: Any) -> Any:
        return self.dag().test(logical_date=day, run_conf=conf or None)


@pytest.fixture
def world(tmp_path: Path, monkeypatch: pytest.MonkeyPatch, airflow_db: str) -> Iterator[World]:
    """An FTP server, an emulator (fast tracking), env vars pointing Airflow at them; the
    connector file is written by the test with :meth:`World.connector`."""
    from saleslayer_airflow.emulator.server import start_in_thread

    (tmp_path / "connectors").mkdir()
    root = tmp_path / "ftproot"
    (root / "exports").mkdir(parents=True)
    ftp = FtpServer(root)
    emulator = start_in_thread(tmp_path / "sl.sqlite", settings=FAST_TRACKING)
    monkeypatch.setenv("SALESLAYER_CONNECTORS_DIR", str(tmp_path / "connectors"))
    monkeypatch.setenv("SALESLAYER_STAGING_BASE", (tmp_path / "staging").as_uri())
    monkeypatch.setenv("AIRFLOW_CONN_ERP_FTP", ftp.conn())
    world = World(tmp_path, root, emulator, monkeypatch)
    world.use_emulator(emulator, "state.sqlite")
    world.stopped.append(emulator)
    yield world
    for running in world.stopped:
        running.stop()
    ftp.stop()


def first_day() -> tuple[datetime, str]:
    """The demo company's first daily export of its store directory, and its date."""
    ((day, company),) = daily_exports(1)
    return datetime(day.year, day.month, day.day, 6, tzinfo=UTC), company.stores_csv()


def changed_copy(text: str) -> str:
    """The next day's directory: two stores renamed, one store opened."""
    lines = text.splitlines()
    out = [lines[0]]
    for number, line in enumerate(lines[1:], start=1):
        cells = line.split(",")
        if number in (1, 5):
            cells[1] += " (renovated)"
        out.append(",".join(cells))
    opened = lines[2].split(",")
    opened[0], opened[1] = "ST-9999", "Porto Ribeira 9999"
    return "\n".join([*out, ",".join(opened)]) + "\n"


def states(dag_run: Any) -> dict[str, str]:
    return {ti.task_id: ti.state for ti in dag_run.get_task_instances()}


def tries(dag_run: Any) -> dict[str, int]:
    return {ti.task_id: ti.try_number for ti in dag_run.get_task_instances()}


def xcom(dag_run: Any, task_id: str, key: str = "return_value") -> Any:
    """A task's XCom (by default its return value; an extra link's URL is under
    ``_link_<class>``), read from Airflow's metadata database (None: it pushed none)."""
    from airflow.models.xcom import XComModel
    from airflow.utils.session import create_session

    with create_session() as session:
        row = (
            session.query(XComModel)
            .filter_by(dag_id=dag_run.dag_id, run_id=dag_run.run_id, task_id=task_id)
            .filter_by(key=key)
            .one_or_none()
        )
        return None if row is None else XComModel.deserialize_value(row)


def catalog(emulator: Any, table: str = "points_of_sale") -> dict[str, dict[str, Any]]:
    """A table of the emulator by reference, without what differs between two equal imports
    (ids, creation and modification times)."""
    shown: dict[str, dict[str, Any]] = {}
    for row in emulator.dump(table):
        shown[row["ref"]] = {
            key: value
            for key, value in row.items()
            if key not in {"id", "created", "modified", "creation", "modify"}
        }
    return shown


def sent_references(data_file: Path, table: str = "points_of_sale") -> list[str]:
    """Every reference the emulator accepted in an import call, once per time it was sent, read
    from the emulator's own job records (each accepted call is one job)."""
    with sqlite3.connect(data_file) as connection:
        batches = [json.loads(row[0]) for row in connection.execute("SELECT batch FROM jobs")]
    return [str(row["ref"]) for batch in batches for row in batch["upserts"].get(table, [])]


def deleted_references(data_file: Path, table: str = "points_of_sale") -> list[str]:
    """Every reference the emulator was asked to delete, once per time asked."""
    with sqlite3.connect(data_file) as connection:
        batches = [json.loads(row[0]) for row in connection.execute("SELECT batch FROM jobs")]
    return [str(ref) for batch in batches for ref in batch["deletes"].get(table, [])]
