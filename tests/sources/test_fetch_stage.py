"""The fetch stage without Airflow: `sources.stage.fetch_stage` against a real HTTP server and a
real staging folder, and what it asks the task to do (skip, wait) instead of doing it."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
import yaml

from saleslayer_airflow.config.models import ConnectorConfig
from saleslayer_airflow.import_history import ImportHistory
from saleslayer_airflow.sources.errors import ExportMissingError, ExportWaitTimeoutError
from saleslayer_airflow.sources.fetchers import MemoryCheckpoint
from saleslayer_airflow.sources.stage import (
    FetchStageRequest,
    RunSkipped,
    WaitForExport,
    fetch_stage,
    wait_or_give_up,
)
from saleslayer_airflow.staging import connector_folder, staging_base_uri
from tests.sources.conftest import CSV
from tests.sources.servers import HttpServer
from tests.stage_log import Lines


def connector(on_missing: str = "{policy: fail}", force: bool = False) -> ConnectorConfig:
    return ConnectorConfig.model_validate(
        yaml.safe_load(
            f"""
            id: stage_shop
            description: The fetch stage alone.
            schedule: "@daily"
            start_date: 2026-11-01
            force: {str(force).lower()}
            source:
              kind: http
              conn_id: erp_http
              endpoint: exports/products.csv
              on_missing: {on_missing}
            format: {{type: csv}}
            tables:
              products:
                reference: sku
                fields: {{name: name}}
            """
        )
    )


def request(
    config: ConnectorConfig, run_id: str, log: Lines, first_look: str | None = None
) -> FetchStageRequest:
    return FetchStageRequest(
        config=config,
        source=config.source,
        run_id=run_id,
        force=config.force,
        checkpoint=MemoryCheckpoint(),
        log=log,
        first_look=first_look,
    )


def test_lands_the_export_then_skips_it_unchanged_unless_forced(
    http_server: HttpServer, staging: Path
) -> None:
    http_server.state.files["products.csv"] = CSV
    log = Lines()

    first = fetch_stage(request(connector(), "run1", log))

    (landed,) = first.files
    assert Path(landed.path.removeprefix("file://")).read_bytes() == CSV
    assert first.run_folder.endswith("/stage_shop/run1") and len(first.fingerprint) == 64
    assert any(line.startswith("Landed products.csv from http://127.0.0.1") for line in log.lines)

    # Not imported yet (the report stage records an import): fetched again, not skipped.
    assert fetch_stage(request(connector(), "run2", log)).fingerprint == first.fingerprint
    assert first.started_at is not None and first.started_at <= datetime.now(UTC)
    history = ImportHistory(connector_folder(staging_base_uri(None), "stage_shop"))
    assert history.record_import(first, "run1") is not None

    with pytest.raises(RunSkipped, match=r"Export unchanged on the server.*run 'run1'"):
        fetch_stage(request(connector(), "run2", log))
    # The run that recorded the export (a retry, a run cleared to run again) is never skipped.
    assert fetch_stage(request(connector(), "run1", log)).fingerprint == first.fingerprint
    forced = fetch_stage(request(connector(force=True), "run3", log))
    assert forced.fingerprint == first.fingerprint
    assert "Export unchanged since run run1; importing anyway (force)" in log.lines


def test_a_missing_export_fails_skips_or_asks_to_wait(
    http_server: HttpServer, staging: Path
) -> None:
    log = Lines()
    with pytest.raises(ExportMissingError, match="connection 'erp_http'"):
        fetch_stage(request(connector(), "run1", log))
    with pytest.raises(RunSkipped, match=r"^Skipping the run \(on_missing: skip\): export not"):
        fetch_stage(request(connector("{policy: skip}"), "run1", log))

    waiting = connector("{policy: wait, timeout: 60s, poke_interval: 5s}")
    before = datetime.now(UTC)
    with pytest.raises(WaitForExport) as asked:
        fetch_stage(request(waiting, "run1", log))
    first_look = datetime.fromisoformat(asked.value.first_look)
    assert before <= first_look <= datetime.now(UTC)
    assert asked.value.moment == first_look + timedelta(seconds=5)
    assert "waited 0s of 60s, looking again in 5s" in log.lines[-1]

    # Looked again with the first look's time: past the timeout, it gives up.
    long_ago = (datetime.now(UTC) - timedelta(seconds=61)).isoformat()
    with pytest.raises(ExportWaitTimeoutError, match="gave up waiting for the export after 61"):
        fetch_stage(request(waiting, "run1", log, first_look=long_ago))


def test_waiting_never_overshoots_the_timeout_and_can_skip_at_the_end() -> None:
    config = connector("{policy: wait, timeout: 60s, poke_interval: 30s, on_timeout: skip}")
    policy = config.source.on_missing
    missing = ExportMissingError("erp_http", "http://erp/p.csv", "404")
    first = datetime(2026, 11, 2, 6, 0, tzinfo=UTC)
    log = Lines()

    again = wait_or_give_up(
        missing, policy, first.isoformat(), log, now=first + timedelta(seconds=45)
    )
    assert again.moment == first + timedelta(seconds=60)  # 15 s left, not the 30 s interval
    assert again.first_look == first.isoformat()
    with pytest.raises(RunSkipped, match=r"on_missing.on_timeout: skip\): gave up waiting"):
        wait_or_give_up(missing, policy, first.isoformat(), log, now=first + timedelta(seconds=60))
