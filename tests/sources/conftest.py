"""Fixtures of the fetch tests: real servers on 127.0.0.1, Airflow's metadata DB, and a helper
that runs a connector's DAG through Airflow (DagBag + dag.test())."""

from __future__ import annotations

import json
import re
import textwrap
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest

from tests.conftest import DAGS
from tests.sources.servers import FtpServer, HttpServer, SftpServer, make_certificate

CSV = b"sku,name\nA-1,Shirt\nA-2,Shoes\n"


@pytest.fixture(scope="session")
def airflow_db() -> None:
    """Airflow's metadata DB (SQLite in the throw-away AIRFLOW_HOME), created once."""
    from airflow.utils import db

    db.initdb()


@pytest.fixture
def staging(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    folder = tmp_path / "staging"
    monkeypatch.setenv("SALESLAYER_STAGING_BASE", folder.as_uri())
    return folder


@pytest.fixture
def http_server(monkeypatch: pytest.MonkeyPatch) -> Iterator[HttpServer]:
    server = HttpServer()
    monkeypatch.setenv("AIRFLOW_CONN_ERP_HTTP", server.conn())
    yield server
    server.stop()


@pytest.fixture
def ftp_root(tmp_path: Path) -> Path:
    root = tmp_path / "ftproot"
    (root / "exports").mkdir(parents=True)
    return root


@pytest.fixture
def ftp_server(ftp_root: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[FtpServer]:
    server = FtpServer(ftp_root)
    monkeypatch.setenv("AIRFLOW_CONN_ERP_FTP", server.conn())
    yield server
    server.stop()


@pytest.fixture(scope="session")
def certificate(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return make_certificate(tmp_path_factory.mktemp("tls"))


@pytest.fixture
def ftps_server(
    ftp_root: Path, certificate: Path, monkeypatch: pytest.MonkeyPatch
) -> Iterator[FtpServer]:
    server = FtpServer(ftp_root, certfile=certificate)
    monkeypatch.setenv("AIRFLOW_CONN_ERP_FTPS", server.conn(kind="ftp"))
    # The client verifies certificates against the default trust store; trust the test CA.
    monkeypatch.setenv("SSL_CERT_FILE", str(certificate))
    yield server
    server.stop()


@pytest.fixture
def sftp_server(ftp_root: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[SftpServer]:
    server = SftpServer(ftp_root)
    monkeypatch.setenv("AIRFLOW_CONN_ERP_SFTP", server.conn())
    yield server
    server.stop()


# ------------------------------------------------------------------- running a connector DAG

CONNECTOR = """\
id: {id}
description: Fetch test connector.
schedule: "@daily"
start_date: 2026-11-01
retries: {retries}
retry_delay: 1s
force: {force}
source:
{source}
format:
  type: {format}
tables:
  products:
    reference: sku
    fields:
      name: name
"""


@dataclass
class FetchRun:
    """The outcome of one DAG run, seen from its fetch_source task (and the others' states)."""

    state: str | None
    run_state: str
    xcom: Any
    run_id: str
    try_number: int
    states: dict[str, str | None] = field(default_factory=dict)
    xcoms: dict[str, Any] = field(default_factory=dict)


#: Tasks marked done without running in fetch tests (Airflow's own mark_success_pattern).
LATER_STAGES = r"^(validate_and_split|push_.*|report)$"


@dataclass
class ConnectorDag:
    """Writes a connector file and runs its DAG through Airflow."""

    folder: Path
    dag_id: str

    def write(
        self, source: str, *, retries: int = 0, force: bool = False, fmt: str = "csv"
    ) -> None:
        text = CONNECTOR.format(
            id=self.dag_id,
            retries=retries,
            force=str(force).lower(),
            source=textwrap.indent(textwrap.dedent(source).strip(), "  "),
            format=fmt,
        )
        self.write_text(text)

    def write_text(self, text: str) -> None:
        """Write a whole connector file (its ``id`` must be this DAG's id)."""
        (self.folder / f"{self.dag_id}.yaml").write_text(text, encoding="utf-8")

    def dag(self) -> Any:
        from airflow.dag_processing.dagbag import DagBag

        bag = DagBag(dag_folder=str(DAGS))
        assert bag.import_errors == {}, bag.import_errors
        return bag.dags[self.dag_id]

    def run(
        self, logical_date: Any = "2026-11-02", *, mark_success: str = LATER_STAGES, **conf: Any
    ) -> FetchRun:
        import pendulum
        from airflow.models.taskinstance import TaskInstance
        from airflow.models.xcom import XComModel
        from airflow.utils.session import create_session

        when = pendulum.parse(logical_date) if isinstance(logical_date, str) else logical_date
        # These tests are about the fetch: the later stages are marked done without running
        # (Airflow's own mark_success_pattern), as an import that went through would leave them.
        dag_run = self.dag().test(
            logical_date=when, run_conf=conf or None, mark_success_pattern=mark_success
        )
        ti = dag_run.get_task_instance("fetch_source")
        with create_session() as session:
            states = {
                t.task_id: t.state
                for t in session.query(TaskInstance).filter_by(
                    dag_id=self.dag_id, run_id=dag_run.run_id
                )
            }
            xcoms = {
                x.task_id: XComModel.deserialize_value(x)
                for x in session.query(XComModel).filter_by(
                    dag_id=self.dag_id, run_id=dag_run.run_id, key="return_value"
                )
            }
        if ti.state == "success" and re.search(mark_success, "report"):
            # The report stage records a wholly imported export; marked done, it did not run,
            # so the run's import is recorded as it would have (the fetch writes no record).
            from saleslayer_airflow.contracts import FetchResult
            from saleslayer_airflow.import_history import ImportHistory
            from saleslayer_airflow.staging import connector_folder, staging_base_uri

            fetched = FetchResult.from_xcom(xcoms["fetch_source"], task_id="fetch_source")
            recorded = ImportHistory(
                connector_folder(staging_base_uri(None), self.dag_id)
            ).record_import(fetched, dag_run.run_id)
            assert recorded is not None
        return FetchRun(
            state=ti.state, run_state=dag_run.state, xcom=xcoms.get("fetch_source"),
            run_id=dag_run.run_id, try_number=ti.try_number, states=states, xcoms=xcoms,
        )  # fmt: skip


@pytest.fixture
def connector_dag(
    request: pytest.FixtureRequest,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    airflow_db: None,
    staging: Path,
) -> ConnectorDag:
    folder = tmp_path / "connectors"
    folder.mkdir()
    monkeypatch.setenv("SALESLAYER_CONNECTORS_DIR", str(folder))
    dag_id = "fetch_" + "".join(c if c.isalnum() else "_" for c in request.node.name)[:80]
    return ConnectorDag(folder, dag_id)


def read_json(path: Path) -> Any:
    return json.loads(path.read_text(encoding="utf-8"))
