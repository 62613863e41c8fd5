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

from saleslayer_airflow.exceptions import DeletionRefused
from saleslayer_airflow.state import AppliedItem, StateStore
from saleslayer_airflow.state.store import naive_utc

__all__ = ["DeletionPlan", "DeletionRefused", "apply_deletions", "plan_deletions"]

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
