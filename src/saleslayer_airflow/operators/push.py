"""Stage 3: send one table's changed items to Sales Layer."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any

from airflow.sdk import Context

from saleslayer_airflow.contracts import SPLIT_TASK, PushStatus, SplitSummary, TablePushResult
from saleslayer_airflow.operators.base import ConnectorStageOperator, frozen_heap

if TYPE_CHECKING:
    from saleslayer_airflow.contracts import StagedTable
    from saleslayer_airflow.push.deletions import DeletionPlan
    from saleslayer_airflow.push.failures import FailedItems
    from saleslayer_airflow.push.pipeline import PushOptions
    from saleslayer_airflow.state import StateStore


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
    ``target.overwrite``); an item whose data comes from an export older than what Sales Layer
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

    def execute(self, context: Context) -> Any:
        with frozen_heap():
            return self._run(context)

    def _run(self, context: Context) -> Any:
        from airflow.sdk import ObjectStoragePath
        from airflow.sdk.exceptions import AirflowFailException

        from saleslayer_airflow.exceptions import TerminalError
        from saleslayer_airflow.push.failures import FailedItems
        from saleslayer_airflow.push.items import read_items, read_references
        from saleslayer_airflow.push.pipeline import PushInterrupted, PushOptions, push_table
        from saleslayer_airflow.push.progress import ProgressPublisher
        from saleslayer_airflow.push.targets import open_target, target_account
        from saleslayer_airflow.state import StateStore

        config = self.connector_config
        try:
            split = SplitSummary.from_xcom(
                context["ti"].xcom_pull(task_ids=SPLIT_TASK), task_id=SPLIT_TASK
            )
        except TerminalError as exc:
            raise AirflowFailException(f"connector {self.connector_id!r}: {exc}") from exc
        staged = split.tables.get(self.table)
        if staged is None:
            raise AirflowFailException(
                f"connector {self.connector_id!r}: {SPLIT_TASK} staged no file for table "
                f"{self.table!r}; see that task's log"
            )
        dry_run = config.target.dry_run or bool(context["params"].get("dry_run"))
        options = PushOptions(
            connector_id=config.id,
            table=self.table,
            run_id=context["run_id"],
            export_date=export_datetime(context),
            batch_size=config.target.batch_size,
            overwrite=config.target.overwrite,
            apply_older_exports=config.target.apply_older_exports,
            dry_run=dry_run,
            max_failed_ratio=config.target.max_failed_ratio,
            total_items=staged.rows_out,
        )
        # Items Sales Layer refuses: set aside with its reason, written to failed/<table>.csv.
        failed_items = FailedItems(self.table)
        store = StateStore.open()
        staged_path = ObjectStoragePath(staged.path)
        progress = ProgressPublisher(_task_state_store(context), self.table, log=self.log)
        try:
            # The state of the account the connection points at now (another account's items,
            # hashes and deletions candidates are not this one's); the first push after the
            # upgrade to accounts takes the table's earlier state along.
            store.account = target_account(config)
            store.adopt_legacy(config.id, self.table)
            # Planned (and refused past the safety limit) before anything is sent.
            deletions = self._plan_deletions(store, staged, staged_path, options)
            with open_target(config, self.table, store, options) as target:
                items = target.order(
                    read_items(
                        staged_path,
                        self.table,
                        self.config_table,
                        on_empty=config.target.on_empty,
                    )
                )
                counts = push_table(
                    items,
                    store,
                    options,
                    target.send,
                    split=target.split,
                    progress=progress,
                    on_refused=failed_items.add,
                )
                if deletions is not None:
                    try:
                        counts.deleted = self._delete(deletions, store, target, options)
                    except Exception as exc:
                        # The upserts are done and checkpointed: report them, and the retry
                        # resumes the deletions where the acknowledged batches stopped.
                        raise PushInterrupted(counts, exc) from exc
        except TerminalError as refused:
            # Before anything was sent (a deletion refused by the safety limit, a table the
            # transport cannot write, a connection missing): every item of the table is unsent,
            # and the report says why.
            unsent = len(read_references(staged_path))
            result = TablePushResult(
                table=self.table,
                status=PushStatus.NOT_PUSHED,
                items=unsent,
                failed=unsent,
                error=str(refused),
            )
            context["ti"].xcom_push(key="return_value", value=result.to_xcom())
            progress.finish("not pushed", None)
            raise AirflowFailException(str(refused)) from refused
        except PushInterrupted as stopped:
            # The cause's message names the connection, table and URL, never a secret (the
            # clients redact them), so the report can show why the table failed.
            result = TablePushResult.model_validate(
                stopped.counts.as_dict()
                | {"status": PushStatus.FAILED, "table": self.table, "error": str(stopped.cause)}
            )
            self._publish_failed(failed_items, staged_path, split.run_folder)
            context["ti"].xcom_push(key="return_value", value=result.to_xcom())
            progress.finish("failed", stopped.counts)
            self.log.error("push of %s stopped: %s", self.table, result)
            if isinstance(stopped.cause, TerminalError):
                raise AirflowFailException(str(stopped.cause)) from stopped.cause
            raise stopped.cause from None
        finally:
            store.close()
        self._publish_failed(failed_items, staged_path, split.run_folder)
        status = PushStatus.DRY_RUN if dry_run else PushStatus.PUSHED
        progress.finish(status.value, counts)
        refused_deletions = deletions is not None and deletions.refused is not None
        result = TablePushResult.model_validate(
            counts.as_dict()
            | {"status": status, "table": self.table}
            | (
                {"deletions": "refused", "deletions_reason": deletions.refused}
                if deletions is not None and refused_deletions
                else {}
            )
        )
        self._describe_asset_events(context, result, dry_run=dry_run)
        self.log.info("push of %s: %s", self.table, result.to_xcom())
        return result.to_xcom()

    def _publish_failed(self, failed_items: FailedItems, staged_path: Any, run_folder: str) -> None:
        """Write the items Sales Layer refused to ``failed/<table>.csv`` of the run folder the
        split stage named (the report task adds them to the run's rejects)."""
        from airflow.sdk import ObjectStoragePath

        written = failed_items.publish(staged_path, ObjectStoragePath(run_folder))
        if written is not None:
            self.log.warning(
                "Sales Layer refused %d items of %s; they are listed with its reasons in %s "
                "and are sent again next run",
                failed_items.count,
                self.table,
                written,
            )

    def _describe_asset_events(
        self, context: Context, result: TablePushResult, *, dry_run: bool
    ) -> None:
        """Put the counts on the table's asset event, so a DAG scheduled on the asset can tell
        a run that changed Sales Layer from a dry run or one that sent nothing."""
        counts = result.counts()
        changed = counts.get("created", 0) + counts.get("updated", 0) + counts.get("deleted", 0)
        extra: dict[str, Any] = {
            "connector_id": self.connector_id,
            "dry_run": dry_run,
            "changed": 0 if dry_run else changed,
            **counts,
        }
        for outlet in self.outlets:
            context["outlet_events"][outlet].extra.update(extra)

    @property
    def config_table(self) -> Any:
        """This task's table mapping."""
        return self.connector_config.tables[self.table]

    def _plan_deletions(
        self, store: StateStore, staged: StagedTable, staged_path: Any, options: PushOptions
    ) -> DeletionPlan | None:
        """The deletions of this run (None when the connector does not delete): the live items
        this export lacks, less those its rejected rows name; none at all (the plan's
        ``refused`` says why) when rows of the table's input could not be read."""
        from airflow.sdk import ObjectStoragePath
        from airflow.sdk.exceptions import AirflowFailException

        from saleslayer_airflow.config.target import DeletionAction
        from saleslayer_airflow.push.deletions import plan_deletions
        from saleslayer_airflow.push.items import read_references

        deletions = self.connector_config.target.deletions
        if not deletions.enabled:
            return None
        if deletions.action is DeletionAction.STATUS and self.status_field() is None:
            raise AirflowFailException(
                f"connector {self.connector_id!r}, table {self.table!r}: deletions with action "
                "status need the status field's name; set the table's reference_field to "
                "'<prefix>_ref' (its status field is then '<prefix>_stat')"
            )
        unreadable = staged.unreadable or None
        rejected_path = staged.rejected_refs_path
        rejected: set[str] = set()
        if rejected_path and not unreadable:
            rejected = read_references(ObjectStoragePath(rejected_path))
        plan = plan_deletions(
            store,
            options.connector_id,
            options.table,
            () if unreadable else read_references(staged_path),
            export_date=options.export_date,
            max_ratio=deletions.max_ratio,
            apply_older_exports=options.apply_older_exports,
            rejected=rejected,
            unreadable=unreadable,
        )
        if plan.refused is not None:
            self.log.warning("deletions of %s refused: %s", options.table, plan.refused)
            return plan
        self.log.info(
            "deletions of %s: %d of %d live items are missing from this export (kept: %d "
            "applied from a newer export, %d whose rows were rejected)",
            options.table,
            len(plan.references),
            plan.live,
            plan.kept_newer,
            plan.kept_rejected,
        )
        return plan

    def status_field(self) -> str | None:
        """The Import Connector status field of this table (``prod_stat``), if it is known."""
        from saleslayer_airflow.push.transports import status_field

        table = self.connector_config.tables[self.table]
        return status_field(table.resolved_kind(self.table).value, table.reference_field)

    def _delete(
        self, plan: DeletionPlan, store: StateStore, target: Any, options: PushOptions
    ) -> int:
        """Apply the planned deletions through the target; how many were deleted."""
        from saleslayer_airflow.config.target import DeletionAction
        from saleslayer_airflow.push.deletions import apply_deletions

        deletions = self.connector_config.target.deletions
        status = None
        if deletions.action is DeletionAction.STATUS:
            status = str(deletions.status_value)
        return apply_deletions(
            plan,
            store,
            run_id=options.run_id,
            export_date=options.export_date,
            batch_size=options.batch_size,
            send=target.deletions(status),
            dry_run=options.dry_run,
        )


def _task_state_store(context: Context) -> Any:
    """Airflow's task state store of this task instance (None in an Airflow without it)."""
    try:
        return context["task_state_store"]
    except KeyError:
        return None
