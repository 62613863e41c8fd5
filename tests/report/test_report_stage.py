"""The report stage without Airflow's task machinery: `report.stage.report_stage` on the earlier
stages' contracts, in a real staging folder: the files it writes, and when it records the import
that the next run's fetch compares its export with."""

from __future__ import annotations

import json
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest
import yaml

from saleslayer_airflow import staging
from saleslayer_airflow.config.models import ConnectorConfig
from saleslayer_airflow.contracts import (
    FetchResult,
    LandedFileRecord,
    PushStatus,
    SplitFile,
    SplitSummary,
    StagedTable,
    TablePushResult,
)
from saleslayer_airflow.import_history import ImportHistory
from saleslayer_airflow.report.stage import (
    REPORT_TEXT_FILE,
    ReportRequest,
    report_stage,
    skip_reason,
    skipped_report,
)
from tests.stage_log import Lines

CONNECTOR = "report_stage_shop"
STARTED = datetime(2026, 11, 2, 6, 0, 5, tzinfo=UTC)


@pytest.fixture
def base(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    folder = tmp_path / "staging"
    monkeypatch.setenv(staging.STAGING_BASE_ENV, folder.as_uri())
    return folder


def config(dry_run: bool = False) -> ConnectorConfig:
    return ConnectorConfig.model_validate(
        yaml.safe_load(
            f"""
            id: {CONNECTOR}
            description: The report stage alone.
            schedule: "@daily"
            start_date: 2026-11-01
            source: {{kind: http, conn_id: erp_http, endpoint: products.csv}}
            format: {{type: csv}}
            tables:
              products:
                reference: sku
                fields: {{prod_name: name}}
            target: {{dry_run: {str(dry_run).lower()}}}
            """
        )
    )


def fetched(run_folder: Path) -> FetchResult:
    landed = LandedFileRecord(
        path=(run_folder / "landed" / "products.csv").as_uri(),
        name="products.csv",
        source="http://erp/products.csv",
        size=30,
        sha256="0" * 64,
        remote_mtime="2026-11-02T05:00:00+00:00",
        etag='"v1"',
    )
    return FetchResult(
        connector_id=CONNECTOR,
        run_folder=run_folder.as_uri(),
        fingerprint="f" * 64,
        files=(landed,),
        started_at=STARTED,
    )


def request(base: Path, run_id: str, **changes: Any) -> ReportRequest:
    run_folder = base / CONNECTOR / run_id
    run_folder.mkdir(parents=True, exist_ok=True)
    (run_folder / staging.REJECTS_FILE).write_text(
        "source_file,line,table,reference,column,value,reason\n", encoding="utf-8"
    )
    split = SplitSummary(
        run_folder=run_folder.as_uri(),
        rows_read=2,
        rows_unused=0,
        rows_rejected=0,
        rejects_path=(run_folder / staging.REJECTS_FILE).as_uri(),
        tables={
            "products": StagedTable(
                path=(run_folder / "split" / "products.parquet").as_uri(),
                rows_in=2,
                rows_out=2,
                merged=0,
                rejected=0,
            )
        },
        balance="",
        files=(SplitFile(name="products.csv", rows_read=2, rows_used=2, rows_unused=0),),
    )
    pushed = TablePushResult(
        table="products", status=PushStatus.PUSHED, items=2, created=1, unchanged=1
    )
    dry_run = bool(changes.pop("dry_run", False))
    values: dict[str, Any] = {
        "config": config(dry_run),
        "run_id": run_id,
        "fetched": fetched(run_folder),
        "split": split,
        "pushes": {"products": pushed},
        "failed": (),
        "dry_run": dry_run,
        "log": Lines(),
    }
    return ReportRequest(**(values | changes))


def history(base: Path) -> ImportHistory:
    return ImportHistory(staging.connector_folder(base.as_uri(), CONNECTOR))


def test_a_wholly_imported_run_writes_its_report_and_records_the_import(base: Path) -> None:
    req = request(base, "run1")

    body = report_stage(req)

    folder = base / CONNECTOR / "run1"
    assert json.loads((folder / staging.REPORT_FILE).read_text()) == body
    assert body["succeeded"] is True and body["fingerprint"] == "f" * 64
    text = (folder / REPORT_TEXT_FILE).read_text()
    assert "products" in text
    log = req.log
    assert isinstance(log, Lines)
    start = log.lines.index("::group::Sales Layer import report")
    end = log.lines.index("::endgroup::")
    assert log.lines[start + 1 : end] == text.rstrip("\n").splitlines()
    last = history(base).read()
    assert last is not None
    assert (last.run_id, last.fingerprint, last.started) == ("run1", "f" * 64, STARTED)
    (remote,) = last.files
    assert (remote.source, remote.size, remote.etag) == ("http://erp/products.csv", 30, '"v1"')
    assert remote.remote_mtime == "2026-11-02T05:00:00+00:00"


def _refused() -> dict[str, TablePushResult]:
    result = TablePushResult(
        table="products", status=PushStatus.PUSHED, items=2, created=1, failed=1, refused=1
    )
    return {"products": result}


def _skipped() -> dict[str, TablePushResult]:
    result = TablePushResult(
        table="products", status=PushStatus.PUSHED, items=2, created=1, skipped=1
    )
    return {"products": result}


def _not_pushed() -> dict[str, TablePushResult | None]:
    return {"products": None}


def _fetched_by_an_earlier_version() -> FetchResult:
    # An XCom of a fetch of an earlier version: no start, so no watermark to record.
    result = fetched(Path("/nowhere"))
    return FetchResult.model_validate(result.to_xcom() | {"started_at": None})


@pytest.mark.parametrize(
    "changes",
    [
        {"failed": ("push_categories",)},
        {"dry_run": True},
        {"pushes": _refused()},
        {"pushes": _skipped()},
        {"pushes": _not_pushed()},
        {"fetched": _fetched_by_an_earlier_version()},
    ],
    ids=[
        "a task failed",
        "dry run",
        "items refused",
        "items skipped",
        "table not pushed",
        "no fetch start",
    ],
)
def test_a_run_that_did_not_import_everything_leaves_the_last_import_as_it_was(
    base: Path, changes: dict[str, Any]
) -> None:
    report_stage(request(base, "run1"))

    body = report_stage(request(base, "run2", **changes))

    assert (base / CONNECTOR / "run2" / staging.REPORT_FILE).exists()
    assert body["run_id"] == "run2"
    last = history(base).read()
    assert last is not None and last.run_id == "run1"


def test_a_skipped_run_says_why_and_names_the_last_import(base: Path) -> None:
    report_stage(request(base, "run1"))
    log = Lines()

    reason = skip_reason(config(), None)
    body = skipped_report(config(), "run2", reason, log)

    assert "the last export imported was that of run 'run1'" in reason
    assert "force=true" in reason
    assert skip_reason(config(), "Export unchanged: said so") == ("Export unchanged: said so")
    assert body["skipped"] is True and body["reason"] == reason
    folder = base / CONNECTOR / "run2"
    assert json.loads((folder / staging.REPORT_FILE).read_text()) == body
    assert (
        (folder / REPORT_TEXT_FILE)
        .read_text()
        .startswith(f"Sales Layer import {CONNECTOR} / run2: SKIPPED\n")
    )
    last = history(base).read()
    assert last is not None and last.run_id == "run1"
