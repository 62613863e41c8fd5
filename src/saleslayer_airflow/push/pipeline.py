"""Push one table: decide per item (create, update, unchanged, stale), send the changed ones in
batches, and checkpoint every acknowledged batch in the state store.

Plain Python, no Airflow: the transport is a callable that sends one batch and returns when Sales
Layer acknowledged it (raising otherwise). Memory stays bounded: items are read and decided in
chunks.

Resuming: a batch is recorded in the state store together with its items in one transaction as
soon as Sales Layer acknowledged it. When the task is killed and retried, those items now match
the state store and belong to this run, so they are not sent again, and the batch's counts are
taken from the store: the retried run reports the same totals as an uninterrupted one.
"""

from __future__ import annotations

import hashlib
from collections.abc import Callable, Iterable, Iterator, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from saleslayer_airflow.state import AppliedItem, Decision, ItemState, StateStore, content_hash
from saleslayer_airflow.state.delta import decide
from saleslayer_airflow.state.store import naive_utc

#: Items decided at once: bounds memory and the size of state store queries.
DEFAULT_CHUNK = 5_000
#: Changed fields kept per table for a dry run's sample.
DRY_RUN_SAMPLE = 10


@dataclass(frozen=True)
class OutgoingItem:
    """One item as it will be sent: its reference and its fields (links included)."""

    reference: str
    fields: dict[str, Any]


@dataclass(frozen=True)
class SentItem:
    """An item of a batch, with what was decided for it."""

    item: OutgoingItem
    decision: Decision
    digest: str


#: Sends one batch; returns the Sales Layer id of each item when the transport knows it.
SendBatch = Callable[[Sequence[SentItem]], Sequence[int | None]]


@dataclass
class TableCounts:
    """Per-table outcome. ``items == created + updated + unchanged + stale + failed``;
    ``deleted`` counts items of earlier runs missing from this export (outside that sum: they
    were not read); None when the connector does not delete."""

    items: int = 0
    created: int = 0
    updated: int = 0
    unchanged: int = 0
    stale: int = 0
    failed: int = 0
    deleted: int | None = None
    batches_sent: int = 0
    batches_resumed: int = 0
    sample: list[dict[str, Any]] = field(default_factory=list)

    def check_balanced(self, table: str) -> None:
        """Refuse to report counts that do not add up: a lost item is a bug, never a rounding."""
        total = self.created + self.updated + self.unchanged + self.stale + self.failed
        if total != self.items:
            raise AssertionError(
                f"table {table!r}: counts do not balance: {self.items} items but "
                f"created {self.created} + updated {self.updated} + unchanged {self.unchanged} "
                f"+ stale {self.stale} + failed {self.failed} = {total}"
            )

    def as_dict(self) -> dict[str, Any]:
        return {
            "items": self.items,
            "created": self.created,
            "updated": self.updated,
            "unchanged": self.unchanged,
            "stale": self.stale,
            "failed": self.failed,
            "batches_sent": self.batches_sent,
            "batches_resumed": self.batches_resumed,
            "sample": self.sample,
        } | ({} if self.deleted is None else {"deleted": self.deleted})


@dataclass(frozen=True)
class PushOptions:
    """How one table is pushed (from the connector's `target:` and the run's params)."""

    connector_id: str
    table: str
    run_id: str
    export_date: datetime
    batch_size: int = 1000
    overwrite: bool = False
    apply_older_exports: bool = False
    dry_run: bool = False
    chunk_size: int = DEFAULT_CHUNK


def _chunks(items: Iterable[OutgoingItem], size: int) -> Iterator[list[OutgoingItem]]:
    chunk: list[OutgoingItem] = []
    for item in items:
        chunk.append(item)
        if len(chunk) >= size:
            yield chunk
            chunk = []
    if chunk:
        yield chunk


def batch_key(table: str, batch: Sequence[SentItem]) -> str:
    """Identifies a batch by its content, so acknowledging it twice is recorded once."""
    digest = hashlib.sha256(table.encode())
    for sent in batch:
        digest.update(b"\0" + sent.item.reference.encode() + b"\0" + sent.digest.encode())
    return digest.hexdigest()


def _changed_fields(item: OutgoingItem, previous: ItemState | None) -> dict[str, Any]:
    before = (previous.content or {}) if previous else {}
    return {
        name: {"from": before.get(name), "to": value}
        for name, value in item.fields.items()
        if before.get(name) != value
    }


def _applied_by_this_run(previous: ItemState | None, digest: str, run_id: str) -> bool:
    # Acknowledged in an earlier attempt of this same run: its batch is already counted.
    return previous is not None and previous.run_id == run_id and previous.content_hash == digest


class PushInterrupted(Exception):
    """Sending stopped on an error; ``counts`` are still balanced (unsent items are `failed`)."""

    def __init__(self, counts: TableCounts, cause: BaseException) -> None:
        super().__init__(str(cause))
        self.counts = counts
        self.cause = cause


class _TablePush:
    """The state of one table's push while items stream through."""

    def __init__(self, store: StateStore, options: PushOptions, send: SendBatch) -> None:
        self.store, self.options, self.send = store, options, send
        self.export_date = naive_utc(options.export_date)
        self.counts = TableCounts()
        self.pending: list[SentItem] = []
        self.error: BaseException | None = None
        resumed = store.batch_totals(options.connector_id, options.run_id, options.table)
        self.counts.created, self.counts.updated = resumed.created, resumed.updated
        self.counts.batches_resumed = resumed.batches

    def take(self, chunk: list[OutgoingItem]) -> None:
        opts = self.options
        self.counts.items += len(chunk)
        if self.error is not None:
            self.counts.failed += len(chunk)
            return
        states = self.store.items(opts.connector_id, opts.table, [i.reference for i in chunk])
        for position, item in enumerate(chunk):
            previous = states.get(item.reference)
            digest = content_hash(item.fields)
            if not opts.dry_run and _applied_by_this_run(previous, digest, opts.run_id):
                continue
            decision = decide(
                digest,
                self.export_date,
                previous,
                overwrite=opts.overwrite,
                apply_older_exports=opts.apply_older_exports,
            )
            if decision is Decision.UNCHANGED:
                self.counts.unchanged += 1
            elif decision is Decision.STALE:
                self.counts.stale += 1
            else:
                self._queue(SentItem(item, decision, digest), previous)
                if len(self.pending) >= opts.batch_size:
                    self.flush()
                if self.error is not None:
                    self.counts.failed += len(chunk) - position - 1
                    return

    def _queue(self, sent: SentItem, previous: ItemState | None) -> None:
        if self.options.dry_run and len(self.counts.sample) < DRY_RUN_SAMPLE:
            self.counts.sample.append(
                {
                    "reference": sent.item.reference,
                    "action": sent.decision.value,
                    "fields": _changed_fields(sent.item, previous),
                }
            )
        self.pending.append(sent)

    def flush(self) -> None:
        batch, self.pending = self.pending, []
        if not batch or self.error is not None:
            self.counts.failed += len(batch)
            return
        opts = self.options
        created = sum(1 for s in batch if s.decision is Decision.CREATE)
        if not opts.dry_run:
            try:
                ids = self.send(batch)
            except Exception as exc:
                self.error = exc
                self.counts.failed += len(batch)
                return
            applied = [
                AppliedItem(
                    s.item.reference, s.digest, self.export_date, sl_id, content=s.item.fields
                )
                for s, sl_id in zip(batch, ids, strict=True)
            ]
            self.store.ack_batch(
                opts.connector_id,
                opts.run_id,
                opts.table,
                batch_key(opts.table, batch),
                applied,
                created=created,
                updated=len(batch) - created,
            )
        self.counts.created += created
        self.counts.updated += len(batch) - created
        self.counts.batches_sent += 1


def push_table(
    items: Iterable[OutgoingItem], store: StateStore, options: PushOptions, send: SendBatch
) -> TableCounts:
    """Push the items of one table and return balanced counts.

    When ``send`` fails, the batches acknowledged before stay recorded, the rest of the items
    are counted as failed, and :class:`PushInterrupted` carries the counts and the cause.
    """
    push = _TablePush(store, options, send)
    for chunk in _chunks(items, options.chunk_size):
        push.take(chunk)
    push.flush()
    push.counts.check_balanced(options.table)
    if push.error is not None:
        raise PushInterrupted(push.counts, push.error) from push.error
    return push.counts
