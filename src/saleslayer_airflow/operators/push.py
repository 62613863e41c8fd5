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
        from saleslayer_airflow.push.deletions import DeletionRefused
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
        staged_path = ObjectStoragePath(staged["path"])
        items = read_items(staged_path, self.table, table)
        try:
            # Planned (and refused past the safety limit) before anything is sent.
            deletions = self._plan_deletions(store, staged_path, options)
            with self._client() as client:
                from saleslayer_airflow.push.transports import ConnectorApiTransport

                send = ConnectorApiTransport(
                    client, table.import_table(self.table), table.reference_field
                )
                counts = push_table(items, store, options, send)
                if deletions is not None:
                    try:
                        counts.deleted = self._delete(deletions, store, client, options)
                    except Exception as exc:
                        # The upserts are done and checkpointed: report them, and the retry
                        # resumes the deletions where the acknowledged batches stopped.
                        raise PushInterrupted(counts, exc) from exc
        except DeletionRefused as refused:
            raise AirflowFailException(str(refused)) from refused
        except PushInterrupted as stopped:
            # The cause's message names the connection, table and URL, never a secret (the
            # clients redact them), so the report can show why the table failed.
            result = stopped.counts.as_dict() | {
                "status": "failed",
                "table": self.table,
                "error": str(stopped.cause),
            }
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

    def _plan_deletions(self, store: Any, staged_path: Any, options: Any) -> Any:
        """The deletions of this run (None when the connector does not delete)."""
        from airflow.sdk.exceptions import AirflowFailException

        from saleslayer_airflow.config.target import DeletionAction
        from saleslayer_airflow.push.deletions import plan_deletions
        from saleslayer_airflow.push.items import read_references

        deletions = self.connector_config.target.deletions
        if not deletions.enabled:
            return None
        if deletions.action is DeletionAction.STATUS and self._status_field() is None:
            raise AirflowFailException(
                f"connector {self.connector_id!r}, table {self.table!r}: deletions with action "
                "status need the status field's name; set the table's reference_field to "
                "'<prefix>_ref' (its status field is then '<prefix>_stat')"
            )
        plan = plan_deletions(
            store,
            options.connector_id,
            options.table,
            read_references(staged_path),
            export_date=options.export_date,
            max_ratio=deletions.max_ratio,
            apply_older_exports=options.apply_older_exports,
        )
        self.log.info(
            "deletions of %s: %d of %d live items are missing from this export (%d kept: "
            "applied from a newer export)",
            options.table,
            len(plan.references),
            plan.live,
            plan.kept_newer,
        )
        return plan

    def _status_field(self) -> str | None:
        from saleslayer_airflow.push.transports import status_field

        table = self.connector_config.tables[self.table]
        return status_field(table.resolved_kind(self.table).value, table.reference_field)

    def _delete(self, plan: Any, store: Any, client: Any, options: Any) -> int:
        from saleslayer_airflow.config.target import DeletionAction
        from saleslayer_airflow.push.deletions import apply_deletions
        from saleslayer_airflow.push.transports import ConnectorApiDeletions

        table = self.connector_config.tables[self.table]
        deletions = self.connector_config.target.deletions
        status = None
        if deletions.action is DeletionAction.STATUS:
            status = (str(self._status_field()), str(deletions.status_value))
        send = ConnectorApiDeletions(
            client, table.import_table(self.table), table.reference_field, status=status
        )
        return apply_deletions(
            plan,
            store,
            run_id=options.run_id,
            export_date=options.export_date,
            batch_size=options.batch_size,
            send=send,
            dry_run=options.dry_run,
        )

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
