"""Deletions: items pushed before that are missing from this run's complete export.

Opt-in per connector (``target.deletions``), for exports that always hold every item. The
candidates are the references the state store knows as live for the connector and table that
this run's staged table does not hold. Guards keep a bad export from wiping the catalogue:

- only an export read in full drives deletions: when rows of the table's input could not be read
  at all (an unclosed quote swallowing the lines after it, broken quoting, bytes that are not
  text...), they may hide any number of references, so the deletion pass is refused for the run
  (nothing deleted, the upserts go on, the result says why);
- a rejected row still names an item the export holds: its reference counts as present;
- the safety limit: when more than ``max_ratio`` of the live items would go, nothing is deleted
  and :class:`DeletionRefused` (terminal) stops the push before anything is sent;
- the backfill guard: an item whose data came from an export newer than this run's is kept (an
  older export cannot know it), unless the connector applies older exports.

Each acknowledged batch of deletions is checkpointed in the state store (the items are marked
deleted), so a retried task does not delete them again, and an item that comes back later is
created anew.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import TYPE_CHECKING

from saleslayer_airflow.exceptions import DeletionRefused, TerminalError
from saleslayer_airflow.state import AppliedItem, StateStore
from saleslayer_airflow.state.store import naive_utc

if TYPE_CHECKING:
    from saleslayer_airflow.config.models import ConnectorConfig
    from saleslayer_airflow.contracts import StagedTable, StageLog

__all__ = [
    "DeletionPlan",
    "DeletionRefused",
    "DeletionSetupError",
    "apply_deletions",
    "deleted_status",
    "plan_deletions",
    "plan_table_deletions",
]

#: Deletes (or sets the status of) one batch of references; returns when acknowledged.
SendDeletions = Callable[[Sequence[str]], None]


@dataclass(frozen=True)
class DeletionPlan:
    """The references to delete from one table, out of ``live`` items known to be there."""

    connector_id: str
    table: str
    references: tuple[str, ...]
    live: int
    kept_newer: int = 0
    kept_rejected: int = 0
    #: why this run deletes nothing (the export was not read in full); None when it may delete
    refused: str | None = None

    @property
    def ratio(self) -> float:
        return len(self.references) / self.live if self.live else 0.0


def plan_deletions(
    store: StateStore,
    connector_id: str,
    table: str,
    present: Iterable[str],
    *,
    export_date: datetime,
    max_ratio: float,
    apply_older_exports: bool = False,
    rejected: Iterable[str] = (),
    unreadable: str | None = None,
) -> DeletionPlan:
    """Which live items of ``table`` this export no longer holds; refuse past ``max_ratio``.

    ``rejected`` are the references of the export's rejected rows (kept: the export holds them);
    ``unreadable`` says which rows of the table's input could not be read, if any: then the plan
    deletes nothing and its ``refused`` says why.

    :raises DeletionRefused: when more than ``max_ratio`` of the live items would be deleted.
    """
    live = store.live_references(connector_id, table)
    if unreadable:
        return DeletionPlan(
            connector_id,
            table,
            (),
            len(live),
            refused=(
                f"{unreadable}; an export not read in full never drives deletions: this run "
                "deletes nothing, its upserts go on. The unreadable rows are in rejects.csv: fix "
                "the export, and the next export read in full deletes again"
            ),
        )
    missing = live - set(present)
    in_export = {ref for ref in rejected if ref in missing}
    missing -= in_export
    kept = 0
    if missing and not apply_older_exports:
        newest = naive_utc(export_date)
        states = store.items(connector_id, table, missing)
        newer = {ref for ref, state in states.items() if state.export_date > newest}
        kept = len(newer)
        missing -= newer
    plan = DeletionPlan(
        connector_id, table, tuple(sorted(missing)), len(live), kept, len(in_export)
    )
    if plan.ratio > max_ratio:
        raise DeletionRefused(
            f"connector {connector_id!r}, table {table!r}: {len(plan.references)} of the "
            f"{plan.live} items pushed before ({plan.ratio:.1%}) are missing from this export, "
            f"more than the safety limit target.deletions.max_ratio = {max_ratio:.1%}; nothing "
            "was deleted or sent. Check that the export is complete; if the deletions are "
            "intended, raise max_ratio for one run, or disable deletions"
        )
    return plan


def apply_deletions(
    plan: DeletionPlan,
    store: StateStore,
    *,
    run_id: str,
    export_date: datetime,
    batch_size: int,
    send: SendDeletions,
    dry_run: bool = False,
) -> int:
    """Delete (or set the status of) the planned references in batches, checkpointing each
    acknowledged batch; return how many were deleted (would be, in a dry run)."""
    if plan.refused is not None:
        return 0
    if dry_run:
        return len(plan.references)
    done = 0
    refs = plan.references
    for start in range(0, len(refs), batch_size):
        batch = refs[start : start + batch_size]
        send(batch)
        store.record_applied(
            plan.connector_id,
            plan.table,
            run_id,
            (AppliedItem(ref, "", export_date, deleted=True) for ref in batch),
        )
        done += len(batch)
    return done


class DeletionSetupError(TerminalError):
    """The connector's deletions cannot be applied to a table as set up (retrying cannot help)."""


def deleted_status(config: ConnectorConfig) -> str | None:
    """The status a deleted item is given (``target.deletions.action: status``), None when
    deleted items are deleted."""
    from saleslayer_airflow.config.target import DeletionAction

    deletions = config.target.deletions
    return str(deletions.status_value) if deletions.action is DeletionAction.STATUS else None


def plan_table_deletions(
    config: ConnectorConfig,
    table: str,
    staged: StagedTable,
    store: StateStore,
    *,
    export_date: datetime,
    log: StageLog,
) -> DeletionPlan | None:
    """The deletions of a staged table in this run (None when the connector does not delete):
    the live items this export lacks, less those its rejected rows name; none at all (the plan's
    ``refused`` says why) when rows of the table's input could not be read.

    :raises DeletionSetupError: deletions by status and the table's status field is unknown.
    :raises DeletionRefused: past the safety limit (see :func:`plan_deletions`).
    """
    from airflow.sdk import ObjectStoragePath

    from saleslayer_airflow.push.items import read_references
    from saleslayer_airflow.push.transports import status_field

    deletions = config.target.deletions
    if not deletions.enabled:
        return None
    mapping = config.tables[table]
    kind = mapping.resolved_kind(table).value
    if deleted_status(config) is not None and status_field(kind, mapping.reference_field) is None:
        raise DeletionSetupError(
            f"connector {config.id!r}, table {table!r}: deletions with action status need the "
            "status field's name; set the table's reference_field to '<prefix>_ref' (its status "
            "field is then '<prefix>_stat')"
        )
    unreadable = staged.unreadable or None
    rejected: set[str] = set()
    if staged.rejected_refs_path and not unreadable:
        rejected = read_references(ObjectStoragePath(staged.rejected_refs_path))
    plan = plan_deletions(
        store,
        config.id,
        table,
        () if unreadable else read_references(ObjectStoragePath(staged.path)),
        export_date=export_date,
        max_ratio=deletions.max_ratio,
        apply_older_exports=config.target.apply_older_exports,
        rejected=rejected,
        unreadable=unreadable,
    )
    if plan.refused is not None:
        log.warning("deletions of %s refused: %s", table, plan.refused)
        return plan
    log.info(
        "deletions of %s: %d of %d live items are missing from this export (kept: %d "
        "applied from a newer export, %d whose rows were rejected)",
        table,
        len(plan.references),
        plan.live,
        plan.kept_newer,
        plan.kept_rejected,
    )
    return plan
