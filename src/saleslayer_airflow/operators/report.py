"""Stage 4: the balanced per-table report of the run."""

from __future__ import annotations

import json
from datetime import UTC, datetime
from typing import Any

from airflow.sdk import Context

from saleslayer_airflow.contracts import (
    FETCH_TASK,
    SPLIT_TASK,
    FetchResult,
    SplitSummary,
    TablePushResult,
    push_task_id,
)
from saleslayer_airflow.operators.base import ConnectorStageOperator
from saleslayer_airflow.ui.links import RunReportLink

REPORT_TEXT_FILE = "report.txt"


class ImportReportOperator(ConnectorStageOperator):
    """Sum up the run per table and say where every item read ended up.

    ``read = created + updated + unchanged + stale + skipped + rejected + merged + failed`` per
    table, checked in code (see :mod:`saleslayer_airflow.report.summary`). The report is written
    to the run folder as ``report.json`` and ``report.txt``, logged as one block and returned as
    XCom.
    It runs whatever the pushes did (trigger rule ``all_done``): a failed table shows as failed.

    It also closes the run's books: when the run imported everything (every table pushed,
    nothing Sales Layer skipped or refused, not a dry run), the export is recorded as the
    connector's last import (:mod:`saleslayer_airflow.import_history`): a next run that fetches
    the same export is skipped, and an incremental API source asks for what changed since this
    run's fetch began. Otherwise nothing is recorded, and the next run imports again.

    As the DAG's only leaf it decides the run's colour: when an earlier task failed, it fails
    too (after writing what it could), so a run that did not import never shows as a success.
    An unchanged export (the fetch skipped) leaves it skipped and the run green, with a
    ``report.json`` saying ``skipped`` and why.
    """

    stage = "report"
    ui_color = "#f3e8fd"
    operator_extra_links = (RunReportLink(),)

    def execute(self, context: Context) -> Any:
        from airflow.sdk.exceptions import AirflowSkipException

        from saleslayer_airflow import staging
        from saleslayer_airflow.import_history import ImportHistory
        from saleslayer_airflow.push.failures import merge_into_rejects
        from saleslayer_airflow.push.targets import target_account_or_none
        from saleslayer_airflow.report.summary import build_report

        config = self.connector_config
        ti = context["ti"]
        run_id = context["run_id"]
        failed = self._failed_tasks(context)
        fetched_xcom = ti.xcom_pull(task_ids=FETCH_TASK)
        split_xcom = ti.xcom_pull(task_ids=SPLIT_TASK)
        base = staging.staging_base_uri(config.staging.base)
        connector_folder = staging.connector_folder(base, config.id)
        if not fetched_xcom or not split_xcom:
            if failed:
                raise self._run_failed(failed)
            reason = self._skip_reason(context, ImportHistory(connector_folder))
            skipped = self._write_skipped(base, run_id, reason)
            # Kept as the task's XCom too, as a report is: the connector pages read runs there.
            ti.xcom_push(key="return_value", value=skipped)
            raise AirflowSkipException(f"Nothing to report: {reason}")
        fetched = FetchResult.from_xcom(fetched_xcom, task_id=FETCH_TASK)
        split = SplitSummary.from_xcom(split_xcom, task_id=SPLIT_TASK)
        dry_run = config.target.dry_run or bool(context["params"].get("dry_run"))
        pushes = {table: self._pushed(ti, table) for table in config.tables}
        report = build_report(config.id, run_id, split, pushes, dry_run=dry_run)

        folder = staging.run_folder(base, config.id, run_id)
        # Items Sales Layer refused join the rows validation set aside, in the one rejects file.
        merge_into_rejects(folder, staging.REJECTS_FILE)
        # the account (a connection id, no secret): the connectors overview shows it
        body = report.as_dict() | {
            "fingerprint": fetched.fingerprint,
            "target": config.target.conn_id,
        }
        with (folder / staging.REPORT_FILE).open("w", encoding="utf-8") as handle:
            json.dump(body, handle, indent=2)
        with (folder / REPORT_TEXT_FILE).open("w", encoding="utf-8") as handle:
            handle.write(report.text() + "\n")
        self._log_block(report.text())
        if failed:
            context["ti"].xcom_push(key="return_value", value=body)
            raise self._run_failed(failed)
        # Recorded only when the export was wholly imported: otherwise the next run takes it
        # again, so items Sales Layer skipped or refused are sent again even when the export
        # does not change.
        if (
            report.succeeded
            and not dry_run
            and not any(t.skipped or t.refused for t in report.tables)
        ):
            account = target_account_or_none(config, self.log.warning)
            ImportHistory(connector_folder, account=account).record_import(
                fetched, run_id, _fetch_started(fetched, context)
            )
        return body

    @staticmethod
    def _pushed(ti: Any, table: str) -> TablePushResult | None:
        """The push result of ``table``; None when its task left none (it failed before
        counting, or was skipped)."""
        task_id = push_task_id(table)
        value = ti.xcom_pull(task_ids=task_id)
        return None if not value else TablePushResult.from_xcom(value, task_id=task_id)

    def _skip_reason(self, context: Context, history: Any) -> str:
        """Why the run imported nothing: the fetch's own words when it left them (XCom key
        ``skip_reason``), else what the fetch history says."""
        said = context["ti"].xcom_pull(task_ids=FETCH_TASK, key="skip_reason")
        if said:
            return str(said)
        last = history.read()
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

    def _write_skipped(self, base: str, run_id: str, reason: str) -> dict[str, object]:
        """A report of a run that imported nothing: ``skipped``, and why (returned too)."""
        from saleslayer_airflow import staging

        config = self.connector_config
        body: dict[str, object] = {
            "connector_id": config.id,
            "run_id": run_id,
            "skipped": True,
            "reason": reason,
            "succeeded": True,
            "tables": {},
            "target": config.target.conn_id,
        }
        folder = staging.run_folder(base, config.id, run_id)
        # The fetch skipped before writing anything: the run folder may not exist yet.
        folder.mkdir(parents=True, exist_ok=True)
        with (folder / staging.REPORT_FILE).open("w", encoding="utf-8") as handle:
            json.dump(body, handle, indent=2)
        text = f"Sales Layer import {config.id} / {run_id}: SKIPPED\n{reason}\n"
        with (folder / REPORT_TEXT_FILE).open("w", encoding="utf-8") as handle:
            handle.write(text)
        self._log_block(text)
        return body

    def _log_block(self, text: str) -> None:
        """The report as one foldable section of the task log. The UI takes a group's first
        message as its title, so the title, each line and the end are separate messages."""
        self.log.info("::group::Sales Layer import report")
        for line in text.rstrip("\n").splitlines():
            self.log.info("%s", line)
        self.log.info("::endgroup::")

    def _failed_tasks(self, context: Context) -> list[str]:
        """The tasks of this run, other than this one, that failed or could not run."""
        from airflow.sdk.execution_time.task_runner import RuntimeTaskInstance

        states = RuntimeTaskInstance.get_task_states(
            dag_id=context["dag"].dag_id, run_ids=[context["run_id"]]
        )
        mine = states.get(context["run_id"], {})
        return sorted(
            task
            for task, state in mine.items()
            if task != self.task_id and state in {"failed", "upstream_failed"}
        )

    def _run_failed(self, failed: list[str]) -> Exception:
        from airflow.sdk.exceptions import AirflowFailException

        return AirflowFailException(
            f"connector {self.connector_id!r}: the run did not import everything: "
            f"{', '.join(failed)} failed or could not run; see those tasks' logs (the report "
            "above, when there is one, counts what was done)"
        )


def _fetch_started(fetched: FetchResult, context: Context) -> datetime:
    """When the run's fetch began; for a result of an earlier version, which does not say, when
    the run began (earlier still: the next incremental fetch asks for a little more, never less)."""
    if fetched.started_at:
        return datetime.fromisoformat(fetched.started_at)
    began = getattr(context.get("dag_run"), "start_date", None)
    return began if isinstance(began, datetime) else datetime.now(UTC)
