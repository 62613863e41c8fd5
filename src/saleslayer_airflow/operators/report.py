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
        fetched = ti.xcom_pull(task_ids=FETCH_TASK)
        split = ti.xcom_pull(task_ids=SPLIT_TASK)
        if not fetched:
            raise AirflowSkipException(
                "Nothing to report: the fetch landed no export in this run (skipped or failed; "
                "see the fetch_source task)"
            )
        base = staging.staging_base_uri(config.staging.base)
        history = FetchHistory(staging.connector_folder(base, config.id))
        dry_run = config.target.dry_run or bool(context["params"].get("dry_run"))
        if not split:
            history.forget(run_id)
            raise AirflowSkipException(
                "Nothing to report: validate_and_split produced no tables (see that task)"
            )
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
        return body
