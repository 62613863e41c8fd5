"""Stage 3: send one table's changed items to Sales Layer (the stage: :mod:`..push.stage`)."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any

from airflow.sdk import Context

from saleslayer_airflow.contracts import SPLIT_TASK, SplitSummary
from saleslayer_airflow.operators.base import ConnectorStageOperator, frozen_heap

if TYPE_CHECKING:
    from saleslayer_airflow.push.progress import KeyValueStore


def export_datetime(context: Context) -> datetime:
    """The date of the export this run imports: the run's ``export_date`` param, else its
    logical date, else when it was triggered. The backfill guard compares these."""
    param = (context.get("params") or {}).get("export_date")
    if param:
        day = datetime.fromisoformat(str(param))
        return day if day.tzinfo else day.replace(tzinfo=UTC)
    logical = context.get("logical_date")
    if logical is not None:
        return logical
    dag_run = context.get("dag_run")
    return getattr(dag_run, "run_after", None) or datetime.now(UTC)


class PushTableOperator(ConnectorStageOperator):
    """Upsert the staged items of one table, by reference, through the connector's target:
    the Import Connector API (``transport: connector_api``, the default) or the Catalog REST API
    (``transport: rest``; the Sales Layer id of each item is kept in the state store).

    Only items whose content changed since the last push are sent (all of them with
    ``target.send_unchanged``); an item whose data comes from an export older than what Sales Layer
    already has is ``stale`` and not sent (unless ``target.apply_older_exports``). Every batch
    Sales Layer acknowledges is checkpointed in the state store, so a retried task resends
    nothing acknowledged. With ``dry_run`` (connector or run param) nothing is written and the
    result lists, per table, what would change with a sample of the changed fields.

    Items Sales Layer does not create (a connector that only imports existing items) are
    ``skipped``: counted, not recorded as pushed, and sent again next run. While it runs, the
    task publishes its progress (batches done, items sent) in Airflow's task state store under
    the key ``progress``.

    An item Sales Layer refuses (a call denied because of it, a REST write answered 400) does not
    block the others: it is set aside with Sales Layer's reason (``failed``, ``refused`` and the
    first reasons in ``refusals``; all of them in ``failed/<table>.csv`` of the run folder, which
    the report adds to the run's rejects), not recorded as pushed, and sent again next run. The
    task fails without retry only when more than ``target.max_failed_ratio`` of the items sent
    were refused.

    Returns (XCom) the table's balanced counts and ``status``; when sending fails, the counts
    are pushed all the same (unsent items as ``failed``) with the ``error``, and the error is
    raised: transient errors are retried by Airflow, terminal ones fail the task at once (a
    deletion refused by the safety limit among them, its reason in the result).

    :param table: the connector's table key (``products``, ``brands``, ...).
    """

    stage = "push"
    ui_color = "#e6f5e6"

    def __init__(self, *, table: str, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.table = table

    def execute(self, context: Context) -> dict[str, Any]:
        with frozen_heap():
            return self._run(context)

    def _run(self, context: Context) -> dict[str, Any]:
        from airflow.sdk.exceptions import AirflowFailException

        from saleslayer_airflow.exceptions import TerminalError
        from saleslayer_airflow.push.progress import ProgressPublisher
        from saleslayer_airflow.push.stage import (
            PushStopped,
            TablePushRequest,
            asset_event_extra,
            push_staged_table,
        )

        config, ti = self.connector_config, context["ti"]
        try:
            split = SplitSummary.from_xcom(ti.xcom_pull(task_ids=SPLIT_TASK), task_id=SPLIT_TASK)
        except TerminalError as exc:
            raise AirflowFailException(f"connector {self.connector_id!r}: {exc}") from exc
        staged = split.tables.get(self.table)
        if staged is None:
            raise AirflowFailException(
                f"connector {self.connector_id!r}: {SPLIT_TASK} staged no file for table "
                f"{self.table!r}; see that task's log"
            )
        dry_run = config.target.dry_run or bool(context["params"].get("dry_run"))
        request = TablePushRequest(
            config=config,
            table=self.table,
            staged=staged,
            run_folder=split.run_folder,
            run_id=context["run_id"],
            export_date=export_datetime(context),
            dry_run=dry_run,
            progress=ProgressPublisher(_task_state_store(context), self.table, log=self.log),
            log=self.log,
        )
        try:
            result = push_staged_table(request)
        except PushStopped as stopped:
            # Counts first (the report shows why the table failed), then the task fails: at
            # once when retrying cannot help, else through Airflow's retries.
            ti.xcom_push(key="return_value", value=stopped.result.to_xcom())
            if isinstance(stopped.cause, TerminalError):
                raise AirflowFailException(str(stopped.cause)) from stopped.cause
            raise stopped.cause from None
        extra = asset_event_extra(self.connector_id, result, dry_run=dry_run)
        for outlet in self.outlets:
            context["outlet_events"][outlet].extra.update(extra)
        self.log.info("push of %s: %s", self.table, result.to_xcom())
        return result.to_xcom()


def _task_state_store(context: Context) -> KeyValueStore | None:
    """Airflow's task state store of this task instance (None in an Airflow without it)."""
    try:
        store: KeyValueStore = context["task_state_store"]
    except KeyError:
        return None
    return store
