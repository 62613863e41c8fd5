"""Stage 3: send one table's changed items to Sales Layer."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

from airflow.sdk import Context

from saleslayer_airflow.operators.base import ConnectorStageOperator
from saleslayer_airflow.plan import SPLIT_TASK


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
    """Upsert the staged items of one table, by reference, through the connector's target.

    Only items whose content changed since the last push are sent (all of them with
    ``target.overwrite``); an item whose data comes from an export older than what Sales Layer
    already has is ``stale`` and not sent (unless ``target.apply_older_exports``). Every batch
    Sales Layer acknowledges is checkpointed in the state store, so a retried task resends
    nothing acknowledged. With ``dry_run`` (connector or run param) nothing is written and the
    result lists, per table, what would change with a sample of the changed fields.

    Returns (XCom) the table's balanced counts and ``status``; when sending fails, the counts
    are pushed all the same (unsent items as ``failed``) and the error is raised: transient
    errors are retried by Airflow, terminal ones fail the task at once.

    :param table: the connector's table key (``products``, ``brands``, ...).
    """

    stage = "push"
    ui_color = "#e6f5e6"

    def __init__(self, *, table: str, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.table = table

    def execute(self, context: Context) -> Any:
        from airflow.sdk import ObjectStoragePath
        from airflow.sdk.exceptions import AirflowFailException

        from saleslayer_airflow.config.target import Transport
        from saleslayer_airflow.exceptions import TerminalError
        from saleslayer_airflow.push.items import read_items
        from saleslayer_airflow.push.pipeline import PushInterrupted, PushOptions, push_table
        from saleslayer_airflow.state import StateStore

        config = self.connector_config
        table = config.tables[self.table]
        split = context["ti"].xcom_pull(task_ids=SPLIT_TASK) or {}
        staged = (split.get("tables") or {}).get(self.table)
        if not staged:
            raise AirflowFailException(
                f"connector {self.connector_id!r}: {SPLIT_TASK} staged no file for table "
                f"{self.table!r}; see that task's log"
            )
        dry_run = config.target.dry_run or bool(context["params"].get("dry_run"))
        if config.target.transport is not Transport.CONNECTOR_API:
            raise AirflowFailException(
                f"connector {self.connector_id!r}: pushing through transport "
                f"{config.target.transport.value!r} is not available yet; use "
                "`transport: connector_api` (the Import Connector API)"
            )
        options = PushOptions(
            connector_id=config.id,
            table=self.table,
            run_id=context["run_id"],
            export_date=export_datetime(context),
            batch_size=config.target.batch_size,
            overwrite=config.target.overwrite,
            apply_older_exports=config.target.apply_older_exports,
            dry_run=dry_run,
        )
        store = StateStore.open()
        items = read_items(ObjectStoragePath(staged["path"]), self.table, table)
        try:
            with self._client() as client:
                from saleslayer_airflow.push.transports import ConnectorApiTransport

                send = ConnectorApiTransport(
                    client, table.import_table(self.table), table.reference_field
                )
                counts = push_table(items, store, options, send)
        except PushInterrupted as stopped:
            result = stopped.counts.as_dict() | {"status": "failed", "table": self.table}
            context["ti"].xcom_push(key="return_value", value=result)
            self.log.error("push of %s stopped: %s", self.table, result)
            if isinstance(stopped.cause, TerminalError):
                raise AirflowFailException(str(stopped.cause)) from stopped.cause
            raise stopped.cause from None
        finally:
            store.close()
        result = counts.as_dict() | {
            "status": "dry run" if dry_run else "pushed",
            "table": self.table,
        }
        self.log.info("push of %s: %s", self.table, result)
        return result

    def _client(self) -> Any:
        from saleslayer_airflow.saleslayer.batching import BatchLimits
        from saleslayer_airflow.saleslayer.connector_api import ConnectorApiOptions
        from saleslayer_airflow.saleslayer.hook import SalesLayerHook

        target = self.connector_config.target
        limits = BatchLimits(
            max_items=target.batch_size, max_bytes=int(target.max_payload_mb * 1024 * 1024)
        )
        hook = SalesLayerHook(saleslayer_conn_id=target.conn_id)
        return hook.get_connector_api_client(ConnectorApiOptions(limits=limits))
