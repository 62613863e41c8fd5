"""Stage 4: the balanced per-table report of the run."""

from __future__ import annotations

import json
from typing import Any

from airflow.sdk import Context

from saleslayer_airflow.operators.base import ConnectorStageOperator
from saleslayer_airflow.plan import FETCH_TASK, SPLIT_TASK, push_task_id

REPORT_TEXT_FILE = "report.txt"


class ImportReportOperator(ConnectorStageOperator):
    """Sum up the run per table and say where every item read ended up.

    ``read = created + updated + unchanged + stale + rejected + merged + failed`` per table,
    checked in code (see :mod:`saleslayer_airflow.report.summary`). The report is written to the
    run folder as ``report.json`` and ``report.txt``, logged as one block and returned as XCom.
    It runs whatever the pushes did (trigger rule ``all_done``): a failed table shows as failed.

    It also closes the run's books: when the run imported everything, the export's fingerprint
    is kept as "last imported" (an identical next export is skipped); otherwise the fetch's
    record is dropped so that the next run imports the same export again.

    As the DAG's only leaf it decides the run's colour: when an earlier task failed, it fails
    too (after writing what it could), so a run that did not import never shows as a success.
    An unchanged export (the fetch skipped) leaves it skipped and the run green.
    """

    stage = "report"
    ui_color = "#f3e8fd"

    def execute(self, context: Context) -> Any:
        from airflow.sdk.exceptions import AirflowSkipException

        from saleslayer_airflow import staging
        from saleslayer_airflow.report.summary import build_report
        from saleslayer_airflow.sources.history import FetchHistory

        config = self.connector_config
        ti = context["ti"]
        run_id = context["run_id"]
        failed = self._failed_tasks(context)
        fetched = ti.xcom_pull(task_ids=FETCH_TASK)
        split = ti.xcom_pull(task_ids=SPLIT_TASK)
        base = staging.staging_base_uri(config.staging.base)
        history = FetchHistory(staging.connector_folder(base, config.id))
        if not fetched or not split:
            if failed:
                history.forget(run_id)
                raise self._run_failed(failed)
            raise AirflowSkipException(
                "Nothing to report: the fetch found the export unchanged or missing, so nothing "
                "was imported (see the fetch_source task)"
            )
        dry_run = config.target.dry_run or bool(context["params"].get("dry_run"))
        pushes = {table: ti.xcom_pull(task_ids=push_task_id(table)) for table in config.tables}
        report = build_report(config.id, run_id, split, pushes, dry_run=dry_run)
        if not report.succeeded or dry_run:
            # The export was not (or not really) imported: let the next run take it again.
            history.forget(run_id)

        folder = staging.run_folder(base, config.id, run_id)
        body = report.as_dict() | {"fingerprint": fetched.get("fingerprint")}
        with (folder / staging.REPORT_FILE).open("w", encoding="utf-8") as handle:
            json.dump(body, handle, indent=2)
        with (folder / REPORT_TEXT_FILE).open("w", encoding="utf-8") as handle:
            handle.write(report.text() + "\n")
        self.log.info("::group::Sales Layer import report\n%s\n::endgroup::", report.text())
        if failed:
            context["ti"].xcom_push(key="return_value", value=body)
            raise self._run_failed(failed)
        return body

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
