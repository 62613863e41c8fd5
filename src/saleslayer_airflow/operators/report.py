"""Stage 4: the balanced per-table report of the run (the stage: :mod:`..report.stage`)."""

from __future__ import annotations

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

        from saleslayer_airflow.report.stage import (
            ReportRequest,
            report_stage,
            skip_reason,
            skipped_report,
        )

        config, ti, run_id = self.connector_config, context["ti"], context["run_id"]
        failed = self._failed_tasks(context)
        fetched_xcom = ti.xcom_pull(task_ids=FETCH_TASK)
        split_xcom = ti.xcom_pull(task_ids=SPLIT_TASK)
        if not fetched_xcom or not split_xcom:
            if failed:
                raise self._run_failed(failed)
            said = ti.xcom_pull(task_ids=FETCH_TASK, key="skip_reason")
            reason = skip_reason(config, said)
            skipped = skipped_report(config, run_id, reason, self.log)
            # Kept as the task's XCom too, as a report is: the connector pages read runs there.
            ti.xcom_push(key="return_value", value=skipped)
            raise AirflowSkipException(f"Nothing to report: {reason}")
        request = ReportRequest(
            config=config,
            run_id=run_id,
            fetched=FetchResult.from_xcom(fetched_xcom, task_id=FETCH_TASK),
            split=SplitSummary.from_xcom(split_xcom, task_id=SPLIT_TASK),
            pushes={table: self._pushed(ti, table) for table in config.tables},
            failed=failed,
            dry_run=config.target.dry_run or bool(context["params"].get("dry_run")),
            log=self.log,
        )
        body = report_stage(request)
        if failed:
            ti.xcom_push(key="return_value", value=body)
            raise self._run_failed(failed)
        return body

    @staticmethod
    def _pushed(ti: Any, table: str) -> TablePushResult | None:
        """The push result of ``table``; None when its task left none (it failed before
        counting, or was skipped)."""
        task_id = push_task_id(table)
        value = ti.xcom_pull(task_ids=task_id)
        return None if not value else TablePushResult.from_xcom(value, task_id=task_id)

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
