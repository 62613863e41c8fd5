"""Stage 3 as plain Python: push one staged table to Sales Layer and say what it did.

The push task (:class:`~saleslayer_airflow.operators.push.PushTableOperator`) reads the split
stage's contract, builds a :class:`TablePushRequest` and calls :func:`push_staged_table`; this
module opens the state store and the connector's target, plans the deletions (before anything is
sent: the safety limit refuses them first), sends the changed items
(:func:`~saleslayer_airflow.push.pipeline.push_table`), applies the deletions, and writes the
items Sales Layer refused to ``failed/<table>.csv``.

It returns the table's :class:`~saleslayer_airflow.contracts.TablePushResult`; when the push
stops it raises :class:`PushStopped`, which carries the result all the same (balanced counts,
unsent items as ``failed``, the error) for the report, and the cause, for the task to fail or
be retried.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import TYPE_CHECKING

from saleslayer_airflow.contracts import PushStatus, TableCounts, TablePushResult
from saleslayer_airflow.exceptions import TerminalError
from saleslayer_airflow.push.pipeline import PushInterrupted, PushOptions

if TYPE_CHECKING:
    from airflow.sdk import ObjectStoragePath

    from saleslayer_airflow.config.models import ConnectorConfig
    from saleslayer_airflow.contracts import StagedTable, StageLog
    from saleslayer_airflow.push.failures import FailedItems
    from saleslayer_airflow.push.progress import ProgressPublisher


@dataclass(frozen=True)
class TablePushRequest:
    """One table's push in one run."""

    config: ConnectorConfig
    table: str
    staged: StagedTable
    """The table as the split stage staged it."""
    run_folder: str
    """The run folder the split stage named (``failed/<table>.csv`` goes there)."""
    run_id: str
    export_date: datetime
    """The date of the export this run imports (the backfill guard compares it)."""
    dry_run: bool
    progress: ProgressPublisher
    log: StageLog

    def options(self) -> PushOptions:
        """How the table is pushed: the connector's ``target:`` and this run."""
        target = self.config.target
        return PushOptions(
            connector_id=self.config.id,
            table=self.table,
            run_id=self.run_id,
            export_date=self.export_date,
            batch_size=target.batch_size,
            send_unchanged=target.send_unchanged,
            apply_older_exports=target.apply_older_exports,
            dry_run=self.dry_run,
            max_failed_ratio=target.max_failed_ratio,
            total_items=self.staged.rows_out,
        )


class PushStopped(Exception):
    """The push of a table stopped on ``cause``; ``result`` is what it did up to there (status
    ``failed``, or ``not pushed`` when nothing was sent), to hand on before failing."""

    def __init__(self, result: TablePushResult, cause: BaseException) -> None:
        super().__init__(str(cause))
        self.result = result
        self.cause = cause


def push_staged_table(request: TablePushRequest) -> TablePushResult:
    """Push the staged table of ``request``; its result, or :class:`PushStopped`."""
    from airflow.sdk import ObjectStoragePath

    from saleslayer_airflow.push.deletions import (
        apply_deletions,
        deleted_status,
        plan_table_deletions,
    )
    from saleslayer_airflow.push.failures import FailedItems
    from saleslayer_airflow.push.items import read_items, read_references
    from saleslayer_airflow.push.pipeline import push_table
    from saleslayer_airflow.push.targets import open_target, target_account
    from saleslayer_airflow.saleslayer.preflight import check_account_names
    from saleslayer_airflow.state import StateStore

    config, table, log, progress = request.config, request.table, request.log, request.progress
    options = request.options()
    # Items Sales Layer refuses: set aside with its reason, written to failed/<table>.csv.
    failed_items = FailedItems(table)
    staged_path = ObjectStoragePath(request.staged.path)
    store = StateStore.open()
    try:
        # The state of the account the connection points at now (another account's items,
        # hashes and deletions candidates are not this one's); the first push after the
        # upgrade to accounts takes the table's earlier state along.
        store.account = target_account(config)
        store.adopt_legacy(config.id, table)
        # Every table's names against the account, in every push task (a retried one too):
        # a typo in the products fails the categories' push as well, before anything is sent.
        check_account_names(config, log)
        # Planned (and refused past the safety limit) before anything is sent.
        deletions = plan_table_deletions(
            config, table, request.staged, store, export_date=options.export_date, log=log
        )
        with open_target(config, table, store, options) as target:
            items = read_items(
                staged_path, table, config.tables[table], on_empty=config.target.on_empty
            )
            counts = push_table(
                target.order(items),
                store,
                options,
                target.send,
                split=target.split,
                progress=progress,
                on_refused=failed_items.add,
            )
            if deletions is not None:
                try:
                    counts.deleted = apply_deletions(
                        deletions,
                        store,
                        run_id=options.run_id,
                        export_date=options.export_date,
                        batch_size=options.batch_size,
                        send=target.deletions(deleted_status(config)),
                        dry_run=options.dry_run,
                    )
                except Exception as exc:
                    # The upserts are done and checkpointed: report them, and the retry
                    # resumes the deletions where the acknowledged batches stopped.
                    raise PushInterrupted(counts, exc) from exc
    except TerminalError as refused:
        # Before anything was sent (a deletion refused by the safety limit, a table the
        # transport cannot write, a connection missing): every item of the table is unsent,
        # and the report says why.
        unsent = len(read_references(staged_path))
        result = TableCounts(items=unsent, failed=unsent).result(
            table, PushStatus.NOT_PUSHED, error=str(refused)
        )
        progress.finish(PushStatus.NOT_PUSHED.value, None)
        raise PushStopped(result, refused) from refused
    except PushInterrupted as stopped:
        # The cause's message names the connection, table and URL, never a secret (the
        # clients redact them), so the report can show why the table failed.
        result = stopped.counts.result(table, PushStatus.FAILED, error=str(stopped.cause))
        _publish_failed(failed_items, staged_path, request.run_folder, log)
        progress.finish(PushStatus.FAILED.value, stopped.counts)
        log.error("push of %s stopped: %s", table, result)
        raise PushStopped(result, stopped.cause) from stopped.cause
    finally:
        store.close()
    _publish_failed(failed_items, staged_path, request.run_folder, log)
    status = PushStatus.DRY_RUN if options.dry_run else PushStatus.PUSHED
    progress.finish(status.value, counts)
    if deletions is not None and deletions.refused is not None:
        return counts.result(table, status, deletions="refused", deletions_reason=deletions.refused)
    return counts.result(table, status)


def _publish_failed(
    failed_items: FailedItems, staged_path: ObjectStoragePath, run_folder: str, log: StageLog
) -> None:
    """Write the items Sales Layer refused to ``failed/<table>.csv`` of the run folder the
    split stage named (the report task adds them to the run's rejects)."""
    from airflow.sdk import ObjectStoragePath

    written = failed_items.publish(staged_path, ObjectStoragePath(run_folder))
    if written is not None:
        log.warning(
            "Sales Layer refused %d items of %s; they are listed with its reasons in %s "
            "and are sent again next run",
            failed_items.count,
            failed_items.table,
            written,
        )


def asset_event_extra(
    connector_id: str, result: TablePushResult, *, dry_run: bool
) -> dict[str, int | str | bool]:
    """The extra of the table's asset event: the counts, so that a DAG scheduled on the asset
    can tell a run that changed Sales Layer from a dry run or one that sent nothing."""
    counts = result.counts()
    changed = counts.get("created", 0) + counts.get("updated", 0) + counts.get("deleted", 0)
    return {
        "connector_id": connector_id,
        "dry_run": dry_run,
        "changed": 0 if dry_run else changed,
        **counts,
    }
