"""`on_missing: wait` defers the fetch on a timer between looks (no worker held), through Airflow.

dag.test() (Airflow 3.3) runs the trigger in-process and resumes the task with the trigger's
event only (the method kwargs are dropped), so these runs also prove that the first-look time
survives that path. The timer sleeps in one-second steps (Airflow's DateTimeTrigger), so the
tests use poke intervals of one second.
"""

from __future__ import annotations

import asyncio
import threading
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from saleslayer_airflow.sources.errors import ExportMissingError, ExportWaitTimeoutError
from saleslayer_airflow.sources.recheck import LookAgainTrigger
from tests.sources.conftest import CSV, ConnectorDag
from tests.sources.servers import PASSWORD, FtpServer


def test_trigger_round_trips_and_its_event_carries_the_first_look() -> None:
    from airflow.sdk._shared.module_loading import import_string

    moment = datetime.now(UTC) - timedelta(seconds=1)  # already due: fires at once
    trigger = LookAgainTrigger(moment, "2026-11-02T06:00:00+00:00")
    classpath, kwargs = trigger.serialize()
    rebuilt = import_string(classpath)(**kwargs)
    assert isinstance(rebuilt, LookAgainTrigger) and rebuilt.moment == trigger.moment

    async def first_event() -> object:
        async for event in rebuilt.run():
            return event.payload
        return None

    assert asyncio.run(first_event()) == {"first_look": "2026-11-02T06:00:00+00:00"}


def test_timeout_message_names_connection_path_file_and_timeout() -> None:
    missing = ExportMissingError(
        "erp_ftp", "ftp://127.0.0.1:21/exports/p.csv", "no such file", file="products"
    )
    text = str(ExportWaitTimeoutError(missing, waited=2.4, timeout=2))
    assert text.startswith(
        "gave up waiting for the export after 2.4s (on_missing.timeout is 2s): named file "
        "'products' at ftp://127.0.0.1:21/exports/p.csv (connection 'erp_ftp') is still missing"
    )


def _publish_after_first_look(server: FtpServer, target: Path) -> threading.Thread:
    """Write ``target`` once the server has seen the fetch look for it (SIZE), not before."""

    def run() -> None:
        deadline = time.monotonic() + 60
        while not any(target.name in look for look in server.looks):
            if time.monotonic() > deadline:
                return
            time.sleep(0.05)
        target.write_bytes(CSV)

    thread = threading.Thread(target=run, daemon=True)
    thread.start()
    return thread


@pytest.mark.integration
def test_wait_defers_and_takes_an_export_published_after_the_first_look(
    ftp_server: FtpServer,
    ftp_root: Path,
    connector_dag: ConnectorDag,
    caplog: pytest.LogCaptureFixture,
) -> None:
    connector_dag.write(
        """
        kind: ftp
        conn_id: erp_ftp
        path: "/exports/stores_{{ ds_nodash }}.csv"
        stable_for: 0s
        on_missing: {policy: wait, timeout: 60s, poke_interval: 1s}
        """
    )
    publisher = _publish_after_first_look(ftp_server, ftp_root / "exports" / "stores_20261102.csv")

    run = connector_dag.run("2026-11-02")
    publisher.join(timeout=5)

    assert run.state == "success" and run.try_number == 1
    (landed,) = run.xcom["files"]
    assert Path(landed["path"].removeprefix("file://")).read_bytes() == CSV
    looks = [p for p in ftp_server.looks if p.endswith("stores_20261102.csv")]
    assert len(looks) >= 2  # missing at the first look, found at a later one
    assert ftp_server.retrieved == ["/exports/stores_20261102.csv"]
    assert "[DAG TEST] running trigger in line" in caplog.text  # it deferred, it did not sleep


@pytest.mark.integration
def test_wait_gives_up_after_its_timeout_with_a_clear_message(
    ftp_server: FtpServer,
    connector_dag: ConnectorDag,
    caplog: pytest.LogCaptureFixture,
    capfd: pytest.CaptureFixture[str],
) -> None:
    connector_dag.write(
        """
        kind: ftp
        conn_id: erp_ftp
        path: "/exports/stores_{{ ds_nodash }}.csv"
        on_missing: {policy: wait, timeout: 2s, poke_interval: 1s}
        """,
        retries=1,
    )

    run = connector_dag.run("2026-11-02")

    assert run.state == "failed" and run.try_number == 1  # terminal: not retried
    assert len(ftp_server.looks) >= 2
    assert "[DAG TEST] running trigger in line" in caplog.text
    logged = caplog.text + "".join(capfd.readouterr())
    assert "gave up waiting for the export after" in logged
    assert "(on_missing.timeout is 2s)" in logged
    assert f"ftp://127.0.0.1:{ftp_server.port}/exports/stores_20261102.csv" in logged
    assert "(connection 'erp_ftp') is still missing" in logged
    assert PASSWORD not in logged


@pytest.mark.integration
def test_wait_may_skip_the_run_after_its_timeout(
    ftp_server: FtpServer, connector_dag: ConnectorDag
) -> None:
    connector_dag.write(
        """
        kind: ftp
        conn_id: erp_ftp
        path: /exports/never.csv
        on_missing: {policy: wait, timeout: 1s, poke_interval: 1s, on_timeout: skip}
        """
    )
    run = connector_dag.run("2026-11-02")
    assert run.state == "skipped" and run.xcom is None
    assert len(ftp_server.looks) >= 2
