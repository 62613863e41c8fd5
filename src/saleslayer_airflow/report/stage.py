"""Stage 4 as plain Python: write the run's report and close its books.

The report task (:class:`~saleslayer_airflow.operators.report.ImportReportOperator`) reads the
earlier stages' contracts and the tasks that failed, and calls :func:`report_stage` (or
:func:`skipped_report` when the run imported nothing); this module builds the balanced report
(:func:`~saleslayer_airflow.report.summary.build_report`), adds the items Sales Layer refused to
the run's rejects, writes ``report.json`` and ``report.txt`` to the run folder, logs the report
as one foldable block and, when the run imported its export wholly, records the import
(:mod:`saleslayer_airflow.import_history`) for the next run's fetch.
"""

from __future__ import annotations

import json
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from saleslayer_airflow.config.models import ConnectorConfig
    from saleslayer_airflow.contracts import FetchResult, SplitSummary, StageLog, TablePushResult
    from saleslayer_airflow.report.summary import RunReport

REPORT_TEXT_FILE = "report.txt"


@dataclass(frozen=True)
class ReportRequest:
    """One run's report: what its stages handed on."""

    config: ConnectorConfig
    run_id: str
    fetched: FetchResult
    split: SplitSummary
    pushes: Mapping[str, TablePushResult | None]
    """Each table's push result; None when its task left none (failed early, or skipped)."""
    failed: Sequence[str]
    """The run's tasks that failed or could not run."""
    dry_run: bool
    log: StageLog


def report_stage(request: ReportRequest) -> dict[str, Any]:
    """Write the report of ``request``'s run; its body (``report.json``). The import is recorded
    only when the run imported everything: no task failed, every table pushed, nothing Sales
    Layer skipped or refused, not a dry run. Otherwise the next run takes the export again, so
    items Sales Layer skipped or refused are sent again even when the export does not change."""
    from saleslayer_airflow import staging
    from saleslayer_airflow.import_history import ImportHistory
    from saleslayer_airflow.push.failures import merge_into_rejects
    from saleslayer_airflow.push.targets import target_account_or_none
    from saleslayer_airflow.report.summary import build_report

    config, run_id = request.config, request.run_id
    report = build_report(config.id, run_id, request.split, request.pushes, dry_run=request.dry_run)
    base = staging.staging_base_uri(config.staging.base)
    folder = staging.run_folder(base, config.id, run_id)
    # Items Sales Layer refused join the rows validation set aside, in the one rejects file.
    merge_into_rejects(folder, staging.REJECTS_FILE)
    # the account (a connection id, no secret): the connectors overview shows it
    body = report.as_dict() | {
        "fingerprint": request.fetched.fingerprint,
        "target": config.target.conn_id,
    }
    _write(folder, body, report.text() + "\n", request.log)
    if not request.failed and imported_wholly(report, dry_run=request.dry_run):
        account = target_account_or_none(config, request.log.warning)
        history = ImportHistory(staging.connector_folder(base, config.id), account=account)
        history.record_import(request.fetched, run_id)
    return body


def imported_wholly(report: RunReport, *, dry_run: bool) -> bool:
    """Whether the run put its whole export into Sales Layer."""
    return (
        report.succeeded and not dry_run and not any(t.skipped or t.refused for t in report.tables)
    )


def skipped_report(
    config: ConnectorConfig, run_id: str, reason: str, log: StageLog
) -> dict[str, object]:
    """Write the report of a run that imported nothing (``skipped``, and why); its body."""
    from saleslayer_airflow import staging

    body: dict[str, object] = {
        "connector_id": config.id,
        "run_id": run_id,
        "skipped": True,
        "reason": reason,
        "succeeded": True,
        "tables": {},
        "target": config.target.conn_id,
    }
    folder = staging.run_folder(staging.staging_base_uri(config.staging.base), config.id, run_id)
    # The fetch skipped before writing anything: the run folder may not exist yet.
    folder.mkdir(parents=True, exist_ok=True)
    _write(folder, body, f"Sales Layer import {config.id} / {run_id}: SKIPPED\n{reason}\n", log)
    return body


def skip_reason(config: ConnectorConfig, said: object) -> str:
    """Why the run imported nothing: the fetch's own words when it left them (``said``), else
    what the connector's import history says."""
    from saleslayer_airflow import staging
    from saleslayer_airflow.contracts import FETCH_TASK
    from saleslayer_airflow.import_history import ImportHistory

    if said:
        return str(said)
    base = staging.staging_base_uri(config.staging.base)
    last = ImportHistory(staging.connector_folder(base, config.id)).read()
    since = (
        f"; the last export imported was that of run {last.run_id!r} ({last.recorded_at})"
        if last is not None
        else ""
    )
    return (
        f"{FETCH_TASK} was skipped: the export was unchanged since the last import, or "
        f"missing with on_missing: skip{since}; nothing was imported (see the {FETCH_TASK} "
        "log; trigger with param force=true to import an unchanged export again)"
    )


def _write(folder: Any, body: Mapping[str, object], text: str, log: StageLog) -> None:
    from saleslayer_airflow import staging

    with (folder / staging.REPORT_FILE).open("w", encoding="utf-8") as handle:
        json.dump(body, handle, indent=2)
    with (folder / REPORT_TEXT_FILE).open("w", encoding="utf-8") as handle:
        handle.write(text)
    log_block(text, log)


def log_block(text: str, log: StageLog) -> None:
    """The report as one foldable section of the task log. The UI takes a group's first
    message as its title, so the title, each line and the end are separate messages."""
    log.info("::group::Sales Layer import report")
    for line in text.rstrip("\n").splitlines():
        log.info("%s", line)
    log.info("::endgroup::")


__all__ = ["REPORT_TEXT_FILE", "ReportRequest", "report_stage", "skip_reason", "skipped_report"]
