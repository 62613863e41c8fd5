"""Stage 2: read the landed export, map it onto Sales Layer tables, validate, split (the stage:
:mod:`saleslayer_airflow.normalize.stage`)."""

from __future__ import annotations

from typing import Any

from airflow.sdk import Context

from saleslayer_airflow.contracts import FETCH_TASK, FetchResult
from saleslayer_airflow.exceptions import TerminalError
from saleslayer_airflow.operators.base import ConnectorStageOperator, frozen_heap
from saleslayer_airflow.ui.links import IgnoredRowsLink, RejectsFileLink


class ValidateAndSplitOperator(ConnectorStageOperator):
    """Write one staged file per table and a rejects file, from the connector's mapping.

    Reads the XCom of ``fetch_source`` (the run folder and the landed files, each tagged with its
    name in the source's `files:` when named; a table with `file:` reads only those), writes
    ``<run_folder>/split/<table>.parquet`` and ``<run_folder>/rejects.csv``, returns a summary
    and fails without retry when the rejects cross the connector's `validation:` threshold.

    For deletions (when on), each table also gets ``split/<table>.rejected_refs.parquet`` (the
    references of its rejected rows: the export holds those items). The summary says how many
    rows of its input could not be read at all (``unreadable_rows``, and ``unreadable``: how
    many, of which file, the first line and why); such an export never drives deletions.

    Nothing disappears: per file, ``rows_read = rows_used + rows_unused``; what no table took
    (rows that feed no table, rows a table's `where:` left out, header columns no table reads,
    and what other layers count) is in the summary's ``ignored``, per reason, and the first
    rows that fed no table in ``<run_folder>/ignored.csv`` (file, line, why).
    """

    stage = "validate-and-split"
    ui_color = "#fdf6e3"
    operator_extra_links = (RejectsFileLink(), IgnoredRowsLink())

    def execute(self, context: Context) -> Any:
        with frozen_heap():
            return self._run(context)

    def _run(self, context: Context) -> Any:
        from airflow.sdk.exceptions import AirflowFailException

        from saleslayer_airflow.normalize.stage import SplitStageRequest, split_stage

        try:
            fetched = FetchResult.from_xcom(
                context["ti"].xcom_pull(task_ids=FETCH_TASK), task_id=FETCH_TASK
            )
        except TerminalError as exc:
            raise AirflowFailException(f"connector {self.connector_id!r}: {exc}") from exc
        if not fetched.files:
            raise AirflowFailException(
                f"connector {self.connector_id!r}: task {FETCH_TASK!r} landed no file; "
                "nothing to validate"
            )
        request = SplitStageRequest(config=self.connector_config, fetched=fetched, log=self.log)
        try:
            return split_stage(request).to_xcom()
        except TerminalError as exc:
            # Retrying cannot help: the connector file or the export must change.
            raise AirflowFailException(str(exc)) from exc
