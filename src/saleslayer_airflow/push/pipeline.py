"""Push one table: decide per item (create, update, unchanged, stale), send the changed ones in
batches, and checkpoint every acknowledged batch in the state store.

Plain Python, no Airflow: the transport is a callable that sends one batch and returns when Sales
Layer acknowledged it (raising otherwise). Memory stays bounded: items are read and decided in
chunks.

A staged table file (:func:`~saleslayer_airflow.push.items.read_items`, in file order) is decided
on columns (:mod:`~saleslayer_airflow.push.columnar`): its content hashes are computed on Arrow
batches and joined with the state of the whole table, loaded in one query; only the items to send
become Python objects. For a transport that says how it encodes them (``form_encoding``: the
Import Connector's), not even those: they are encoded on columns and travel as columns
(:mod:`~saleslayer_airflow.push.encoded`) to the body of their call and to its checkpoint. Any
other iterable of items is decided row by row, with the same rules.

A batch is the unit of both sending and checkpointing: when the transport would need several
calls for one batch (an Import Connector payload over its size cap), it splits the batch first
(``split``) and each part is sent and checkpointed on its own, so a retry never resends a part
Sales Layer already acknowledged.

Items Sales Layer answers it did not create (a connector set to "only import existing items")
are counted as ``skipped`` and not recorded as applied: they are sent again next run, and
created then if they exist by that time.

Items Sales Layer refuses (it denies a whole Import Connector call, ``result: 2``, because of
some of its items: a link to a category deleted in Sales Layer, a value of the wrong type; or
answers one REST write 400) never block the rest of their table: the items the denial names are
set aside and the rest of the call is sent again; when it names none, the call is cut in halves
until each refused item is alone (about 2 x log2(call size) extra calls per refused item). A
refused item is counted ``failed`` (and ``refused``), handed to ``on_refused`` with Sales
Layer's reason, and not recorded as applied: every later run sends it again until Sales Layer
accepts it. The table fails (:class:`RefusedPastLimit`) only when Sales Layer refused more than
``max_failed_ratio`` of the table's items.

Resuming: a batch is recorded in the state store together with its items in one transaction as
soon as Sales Layer acknowledged it. When the task is killed and retried, those items now match
the state store and belong to this run, so they are not sent again, and the batch's counts are
taken from the store: the retried run reports the same totals as an uninterrupted one.
"""

from __future__ import annotations

import hashlib
from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from typing import TYPE_CHECKING, Any

from saleslayer_airflow.background import read_ahead
from saleslayer_airflow.contracts import TableCounts as TableCounts  # built here, declared there
from saleslayer_airflow.exceptions import TerminalError
from saleslayer_airflow.state import AppliedItem, Decision, ItemState, StateStore, content_hash
from saleslayer_airflow.state.delta import decide, is_empty_value, same_value
from saleslayer_airflow.state.store import AppliedColumns, naive_utc

if TYPE_CHECKING:
    from saleslayer_airflow.push.encoded import EncodedBatch, FormEncoding

#: Items decided at once: bounds memory and the size of state store queries.
DEFAULT_CHUNK = 5_000
#: Changed fields kept per table for a dry run's sample.
DRY_RUN_SAMPLE = 10
#: Refused items (reference and reason) kept per table for the report; all go to ``on_refused``.
REFUSAL_SAMPLE = 5
#: Items refused by bisecting with no call of the table accepted yet, after which the denial is
#: taken for one about the table itself (every call is refused: a set-up Sales Layer does not
#: accept, whose words name no item), and the table fails as before instead of bisecting on.
BISECT_NOTHING_ACCEPTED = 10


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
    cleared: int = 0
    """Fields sent empty that Sales Layer had a value for (see :func:`_cleared`)."""


@dataclass(frozen=True)
class BatchResult:
    """What Sales Layer answered for one batch.

    ``ids``: the Sales Layer id of each item of the batch, in order (None when unknown).
    ``skipped``: how many items Sales Layer did not create (unknown references sent to a
    connector that only imports existing items). ``skipped_refs``: which ones, when the
    transport knows (REST does; the Import Connector API only answers a count).
    """

    ids: Sequence[int | None]
    skipped: int = 0
    skipped_refs: frozenset[str] | None = None
    refused: Mapping[str, str] = field(default_factory=dict)
    """Items of the batch Sales Layer refused while accepting the others (REST: one write each),
    by reference, with its reason: not recorded as applied, counted ``failed``."""


@dataclass(frozen=True)
class Refusal:
    """An item Sales Layer refused, and its reason (Sales Layer's own words)."""

    reference: str
    reason: str


class ItemsRefused(Exception):
    """Raised by a :data:`SendBatch` when Sales Layer denied the whole call because of some of its
    items, writing nothing of it. ``reasons``: the items the denial names (reference -> reason);
    empty when it names none (the pipeline then bisects). ``errors``: Sales Layer's words."""

    def __init__(
        self, message: str, *, errors: Sequence[str], reasons: Mapping[str, str] | None = None
    ) -> None:
        super().__init__(message)
        self.errors = tuple(errors)
        self.reasons: Mapping[str, str] = reasons or {}

    @property
    def reason(self) -> str:
        """Sales Layer's words, for an item found refused by bisecting."""
        return "; ".join(self.errors) or str(self)


class RefusedPastLimit(TerminalError):
    """Sales Layer refused more than ``target.max_failed_ratio`` of a table's items sent (or
    refused whole calls whatever their items): the accepted items are pushed and checkpointed,
    the task fails without retry (the same items would be refused again)."""


#: Sends one batch; returns a :class:`BatchResult`, or just the Sales Layer id of each item
#: (None when unknown).
SendBatch = Callable[[Sequence[SentItem]], "Sequence[int | None] | BatchResult"]
#: Splits a batch into the parts the transport sends in one call each.
SplitBatch = Callable[[Sequence[SentItem]], Sequence[Sequence[SentItem]]]
#: Told the running counts after every acknowledged batch (progress for people watching).
Progress = Callable[["TableCounts"], None]
#: Told every item Sales Layer refused, with its reason, as soon as it is known.
OnRefused = Callable[[Sequence[Refusal]], None]


@dataclass(frozen=True)
class PushOptions:
    """How one table is pushed (from the connector's `target:` and the run's params)."""

    connector_id: str
    table: str
    run_id: str
    export_date: datetime
    batch_size: int = 1000
    send_unchanged: bool = False
    apply_older_exports: bool = False
    dry_run: bool = False
    chunk_size: int = DEFAULT_CHUNK
    max_failed_ratio: float = 0.0
    """The share of the table's items Sales Layer may refuse before the table fails."""
    total_items: int | None = None
    """The table's item count, when known: bounds the calls spent bisecting (see _TablePush)."""


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
        if not same_value(before.get(name), value)
    }


def _cleared(item: OutgoingItem, decision: Decision, previous: ItemState | None) -> int:
    """How many fields ``item`` sends empty that Sales Layer has a value for, as last pushed
    (every field sent empty when what was pushed last is not known); none for a new item."""
    if decision is not Decision.UPDATE or previous is None:
        return 0
    before = previous.content
    return sum(
        1
        for name, value in item.fields.items()
        if is_empty_value(value) and (before is None or not is_empty_value(before.get(name)))
    )


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

    def __init__(
        self,
        store: StateStore,
        options: PushOptions,
        send: SendBatch,
        split: SplitBatch | None = None,
        progress: Progress | None = None,
        on_refused: OnRefused | None = None,
    ) -> None:
        self.store, self.options, self.send = store, options, send
        self.split, self.progress, self.on_refused = split, progress, on_refused
        #: Items found refused by bisecting, and calls of this table Sales Layer accepted.
        self.bisect_refused = 0
        self.accepted_calls = 0
        self.export_date = naive_utc(options.export_date)
        self.counts = TableCounts()
        self.pending: list[SentItem] = []
        #: Items encoded on columns waiting for their batch (see take_encoded).
        self.pending_encoded: list[EncodedBatch] = []
        self.pending_encoded_count = 0
        self.error: BaseException | None = None
        resumed = store.batch_totals(options.connector_id, options.run_id, options.table)
        self.counts.created, self.counts.updated = resumed.created, resumed.updated
        self.counts.batches_resumed = resumed.batches

    def take(self, chunk: list[OutgoingItem]) -> None:
        opts = self.options
        self.counts.items += len(chunk)
        if self.error is not None:
            self.counts.failed += self._unsent(chunk)
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
                send_unchanged=opts.send_unchanged,
                apply_older_exports=opts.apply_older_exports,
            )
            if decision is Decision.UNCHANGED:
                self.counts.unchanged += 1
            elif decision is Decision.STALE:
                self.counts.stale += 1
            else:
                cleared = _cleared(item, decision, previous)
                self._queue(SentItem(item, decision, digest, cleared), previous)
                if len(self.pending) >= opts.batch_size:
                    self.flush()
                if self.error is not None:
                    self.counts.failed += self._unsent(chunk[position + 1 :], states)
                    return

    def _unsent(
        self, items: Sequence[OutgoingItem], states: Mapping[str, ItemState] | None = None
    ) -> int:
        """How many of ``items``, left unsent after an error, count as failed: all but those an
        earlier attempt of this run acknowledged (already counted from its batches)."""
        opts = self.options
        if opts.dry_run or not self.counts.batches_resumed:
            return len(items)
        if states is None:
            states = self.store.items(opts.connector_id, opts.table, [i.reference for i in items])
        return sum(
            1
            for item in items
            if not _applied_by_this_run(
                states.get(item.reference), content_hash(item.fields), opts.run_id
            )
        )

    def take_decided(
        self,
        codes: Any,
        sends: Sequence[tuple[int, OutgoingItem, Decision, str, ItemState | None]],
    ) -> None:
        """Take consecutive items decided on columns (``push.columnar``): ``codes`` holds each
        one's decision code, ``sends`` the items to send among them (position, item, decision,
        digest, previous state). Counts as :meth:`take` does, items after a failed send
        included."""
        from saleslayer_airflow.push.columnar import APPLIED, STALE, UNCHANGED

        total = len(codes)
        self.counts.items += total
        # Acknowledged by an earlier attempt of this run: counted from its batches, never failed.
        unsent = codes != APPLIED
        if self.error is not None:
            self.counts.failed += int(unsent.sum())
            return
        unchanged, stale = codes == UNCHANGED, codes == STALE
        batch_size, dry_run, update = self.options.batch_size, self.options.dry_run, Decision.UPDATE
        for position, item, decision, digest, previous in sends:
            # A new item clears nothing (see _cleared): no call for the first import's items.
            cleared = _cleared(item, decision, previous) if decision is update else 0
            sent = SentItem(item, decision, digest, cleared)
            if dry_run:
                self._queue(sent, previous)
            else:
                self.pending.append(sent)
            if len(self.pending) >= batch_size:
                self.flush()
            if self.error is not None:
                self.counts.unchanged += int(unchanged[:position].sum())
                self.counts.stale += int(stale[:position].sum())
                self.counts.failed += int(unsent[position + 1 :].sum())
                return
        self.counts.unchanged += int(unchanged.sum())
        self.counts.stale += int(stale.sum())

    def take_encoded(self, codes: Any, positions: Any, encoded: EncodedBatch) -> None:
        """:meth:`take_decided` of items encoded on columns: ``encoded`` holds the items to send
        among ``codes`` (their positions in the span in ``positions``), in order."""
        from saleslayer_airflow.push.columnar import APPLIED, STALE, UNCHANGED

        self.counts.items += len(codes)
        unsent = codes != APPLIED
        if self.error is not None:
            self.counts.failed += int(unsent.sum())
            return
        unchanged, stale = codes == UNCHANGED, codes == STALE
        batch_size, taken = self.options.batch_size, 0
        while taken < len(encoded):
            room = max(batch_size - self.pending_encoded_count, 1)
            part = encoded.take(range(taken, min(len(encoded), taken + room)))
            self.pending_encoded.append(part)
            self.pending_encoded_count += len(part)
            taken += len(part)
            if self.pending_encoded_count >= batch_size:
                self.flush()
            if self.error is not None:
                position = int(positions[taken - 1])
                self.counts.unchanged += int(unchanged[:position].sum())
                self.counts.stale += int(stale[:position].sum())
                self.counts.failed += int(unsent[position + 1 :].sum())
                return
        self.counts.unchanged += int(unchanged.sum())
        self.counts.stale += int(stale.sum())

    def _queue(self, sent: SentItem, previous: ItemState | None) -> None:
        if self.options.dry_run and len(self.counts.sample) < DRY_RUN_SAMPLE:
            self.counts.sample += (
                {
                    "reference": sent.item.reference,
                    "action": sent.decision.value,
                    "fields": _changed_fields(sent.item, previous),
                },
            )
        self.pending.append(sent)

    def flush(self) -> None:
        from saleslayer_airflow.push.encoded import EncodedBatch

        batch: Sequence[SentItem]
        if self.pending_encoded:
            batch = EncodedBatch.concat(self.pending_encoded)
            self.pending_encoded, self.pending_encoded_count = [], 0
        else:
            batch, self.pending = self.pending, []
        if not batch or self.error is not None:
            self.counts.failed += len(batch)
            return
        try:
            parts = [batch] if self.split is None or self.options.dry_run else self.split(batch)
        except Exception as exc:  # e.g. one item alone over the payload cap: nothing was sent
            self.error = exc
            self.counts.failed += len(batch)
            return
        for number, part in enumerate(parts):
            if self.error is not None:
                self.counts.failed += sum(len(rest) for rest in parts[number:])
                return
            self._send_part(part if isinstance(part, EncodedBatch) else list(part))

    def _send_part(self, batch: list[SentItem] | EncodedBatch) -> None:
        from saleslayer_airflow.push.encoded import EncodedBatch

        opts = self.options
        if isinstance(batch, EncodedBatch):
            creates = batch.creates()
        else:
            creates = sum(1 for s in batch if s.decision is Decision.CREATE)
        if opts.dry_run:
            self.counts.cleared += sum(_cleared_of(batch))
            self._count_batch(creates, len(batch) - creates, 0)
            return
        if self.error is not None:
            self.counts.failed += len(batch)
            return
        try:
            answer = self.send(batch)
        except ItemsRefused as refused:
            self._isolate(batch, refused)
            return
        except Exception as exc:
            self.error = exc
            self.counts.failed += len(batch)
            return
        result = answer if isinstance(answer, BatchResult) else BatchResult(answer)
        self.accepted_calls += 1
        if isinstance(batch, EncodedBatch):
            if not result.refused:
                self._record_encoded(batch, result, creates)
                return
            batch = list(batch)  # refused one by one (REST): the items, as objects
        self._record_items(batch, result, creates)

    def _record_items(self, batch: list[SentItem], result: BatchResult, creates: int) -> None:
        """Checkpoint an acknowledged batch of items (see :meth:`_send_part`)."""
        opts = self.options
        if result.refused:
            # Written one by one (REST): the others of the batch are in Sales Layer.
            self._refuse(
                [
                    (s.item.reference, result.refused[s.item.reference])
                    for s in batch
                    if s.item.reference in result.refused
                ]
            )
            keep = [i for i, s in enumerate(batch) if s.item.reference not in result.refused]
            result = BatchResult([result.ids[i] for i in keep], result.skipped, result.skipped_refs)
            batch = [batch[i] for i in keep]
            creates = sum(1 for s in batch if s.decision is Decision.CREATE)
            if not batch:
                return
        kept = _recorded(batch, result)
        export_date = self.export_date
        if kept is None:
            kept = {s.item.reference for s in batch}
        if len(kept) == len(batch):  # the usual case: no per-item membership test
            applied = [
                AppliedItem(s.item.reference, s.digest, export_date, sl_id, False, s.item.fields)
                for s, sl_id in zip(batch, result.ids, strict=True)
            ]
            recorded_creates = creates
        else:
            applied = [
                AppliedItem(s.item.reference, s.digest, export_date, sl_id, False, s.item.fields)
                for s, sl_id in zip(batch, result.ids, strict=True)
                if s.item.reference in kept
            ]
            recorded_creates = sum(
                1 for s in batch if s.decision is Decision.CREATE and s.item.reference in kept
            )
        self.store.ack_batch(
            opts.connector_id,
            opts.run_id,
            opts.table,
            batch_key(opts.table, batch),
            applied,
            created=recorded_creates,
            updated=len(applied) - recorded_creates,
        )
        if len(kept) == len(batch):
            self.counts.cleared += sum(s.cleared for s in batch)
        else:
            self.counts.cleared += sum(s.cleared for s in batch if s.item.reference in kept)
        if result.skipped_refs is not None:
            skipped = len(batch) - len(kept)
            created = recorded_creates
        else:
            skipped = min(result.skipped, len(batch))
            created = max(creates - skipped, 0)
        self._count_batch(created, len(batch) - created - skipped, skipped)

    def _record_encoded(self, batch: EncodedBatch, result: BatchResult, creates: int) -> None:
        """Checkpoint an acknowledged batch encoded on columns (see :meth:`_send_part`): its
        items' columns straight to the state store, content pre-encoded."""
        opts = self.options
        kept = _recorded(batch, result)
        if kept is None:  # the usual case: every item
            chosen, recorded_creates = batch, creates
        else:
            chosen = batch.take([i for i, r in enumerate(batch.references) if r in kept])
            recorded_creates = chosen.creates()
        applied = AppliedColumns(
            chosen.references, chosen.digests, chosen.content_texts(), self.export_date
        )
        self.store.ack_batch(
            opts.connector_id,
            opts.run_id,
            opts.table,
            batch.key(opts.table),
            applied,
            created=recorded_creates,
            updated=len(chosen) - recorded_creates,
        )
        self.counts.cleared += sum(chosen.cleared)
        if result.skipped_refs is not None:
            skipped = len(batch) - len(chosen)
            created = recorded_creates
        else:
            skipped = min(result.skipped, len(batch))
            created = max(creates - skipped, 0)
        self._count_batch(created, len(batch) - created - skipped, skipped)

    def _isolate(self, batch: list[SentItem] | EncodedBatch, refused: ItemsRefused) -> None:
        """Sales Layer denied the call ``batch`` because of some of its items: set the items it
        names aside and send the rest again, or, when it names none, send each half on its own
        (a single item denied is the refused one)."""
        from saleslayer_airflow.push.encoded import EncodedBatch

        references = (
            batch.references
            if isinstance(batch, EncodedBatch)
            else [s.item.reference for s in batch]
        )
        named = [i for i, reference in enumerate(references) if reference in refused.reasons]
        if named:
            self._refuse([(references[i], refused.reasons[references[i]]) for i in named])
            others = [
                i for i, reference in enumerate(references) if reference not in refused.reasons
            ]
            if others:
                if isinstance(batch, EncodedBatch):
                    self._send_part(batch.take(others))
                else:
                    self._send_part([batch[i] for i in others])
            return
        if len(batch) == 1:
            self.bisect_refused += 1
            self._refuse([(references[0], refused.reason)])
            nothing_accepted = self.accepted_calls == 0 and not self.counts.batches_resumed
            if nothing_accepted and self.bisect_refused >= BISECT_NOTHING_ACCEPTED:
                self.error = RefusedPastLimit(
                    f"{refused} -- every one of the first {self.bisect_refused} items of table "
                    f"{self.options.table!r} sent alone was refused and no call was accepted: "
                    "the denial concerns the table or the connector's set-up, not single items; "
                    "fix what it says and run again"
                )
            elif self._bisect_budget_spent():
                self.error = RefusedPastLimit(
                    f"{refused} -- Sales Layer refused {self.counts.refused} items of table "
                    f"{self.options.table!r} ({self.bisect_refused} found by cutting calls "
                    "whose denial named no item): more than target.max_failed_ratio "
                    f"{self.options.max_failed_ratio:g} of its {self.options.total_items} items "
                    "whatever the rest does, so the push stopped here; fix the items (the run's "
                    "rejects list them with Sales Layer's reasons) and run again"
                )
            return
        half = (len(batch) + 1) // 2
        self._send_part(batch[:half])
        self._send_part(batch[half:])

    def _bisect_budget_spent(self) -> bool:
        """Whether bisecting may stop: past ``max_failed_ratio`` of the table's items refused
        (and at least :data:`BISECT_NOTHING_ACCEPTED`), the table fails whatever the rest does,
        and every further refused item costs about 2 x log2(call size) calls."""
        total = self.options.total_items
        if total is None:
            return False
        limit = max(BISECT_NOTHING_ACCEPTED, self.options.max_failed_ratio * total)
        return self.counts.refused > limit

    def _refuse(self, refused: Sequence[tuple[str, str]]) -> None:
        """Count items refused (reference, Sales Layer's reason) and hand them on."""
        self.counts.refused += len(refused)
        self.counts.failed += len(refused)
        for reference, reason in refused[: max(REFUSAL_SAMPLE - len(self.counts.refusals), 0)]:
            self.counts.refusals += ({"reference": reference, "reason": reason},)
        if self.on_refused is not None:
            self.on_refused([Refusal(reference, reason) for reference, reason in refused])

    def check_refusals(self) -> None:
        """Fail the table when Sales Layer refused more than ``max_failed_ratio`` of its items.

        The share is of the table's items, not of those sent this run: a run sends only what
        changed, so an item refused day after day would otherwise be 100 % of the next day's
        few items sent and turn a steady job red though nothing got worse."""
        counts, limit = self.counts, self.options.max_failed_ratio
        if self.error is not None or not counts.refused:
            return
        if counts.refused <= limit * counts.items:
            return
        reasons = "; ".join(f"{r['reference']}: {r['reason']}" for r in counts.refusals[:3])
        self.error = RefusedPastLimit(
            f"table {self.options.table!r}: Sales Layer refused {counts.refused} of its "
            f"{counts.items} items ({counts.refused / counts.items:.1%}; "
            f"{counts.items_sent} were sent), more than target.max_failed_ratio "
            f"{limit:g} allows (first: {reasons}). The accepted items are in Sales Layer and "
            "checkpointed; the refused ones are in the run's rejects with Sales Layer's reasons "
            "and are sent again next run: fix them in the export (or in Sales Layer), or raise "
            "target.max_failed_ratio"
        )

    def _count_batch(self, created: int, updated: int, skipped: int) -> None:
        self.counts.created += created
        self.counts.updated += updated
        self.counts.skipped += skipped
        self.counts.batches_sent += 1
        if self.progress is not None:
            self.progress(self.counts)


def _cleared_of(batch: Sequence[SentItem]) -> list[int]:
    from saleslayer_airflow.push.encoded import EncodedBatch

    return batch.cleared if isinstance(batch, EncodedBatch) else [s.cleared for s in batch]


def _recorded(batch: Sequence[SentItem], result: BatchResult) -> set[str] | None:
    """The references of ``batch`` to record as applied (None: all of them): all but those
    Sales Layer skipped.

    The Import Connector API only counts skipped items. They are the batch's new items (an item
    Sales Layer has is updated, not skipped) when that count equals the number of new items;
    otherwise which new items were skipped cannot be told, so none of them is recorded (they are
    sent again next run, which is harmless: upserts by reference are idempotent), and when more
    items were skipped than were new, none of the batch is.
    """
    from saleslayer_airflow.push.encoded import CREATE_CODE, EncodedBatch

    if result.skipped_refs is None and result.skipped <= 0:
        return None
    if isinstance(batch, EncodedBatch):
        refs = set(batch.references)
        new = {
            r for r, code in zip(batch.references, batch.codes, strict=True) if code == CREATE_CODE
        }
    else:
        refs = {s.item.reference for s in batch}
        new = {s.item.reference for s in batch if s.decision is Decision.CREATE}
    if result.skipped_refs is not None:
        return refs - result.skipped_refs
    if result.skipped > len(new):
        return set()
    return refs - new


def push_table(
    items: Iterable[OutgoingItem],
    store: StateStore,
    options: PushOptions,
    send: SendBatch,
    *,
    split: SplitBatch | None = None,
    progress: Progress | None = None,
    on_refused: OnRefused | None = None,
) -> TableCounts:
    """Push the items of one table and return balanced counts.

    ``split`` cuts a batch into the parts the transport sends in one call each (each part is
    then checkpointed on its own); ``progress`` is told the counts after each batch;
    ``on_refused`` every item Sales Layer refused, with its reason (see the module's doc).
    When ``send`` fails, the batches acknowledged before stay recorded, the rest of the items
    are counted as failed, and :class:`PushInterrupted` carries the counts and the cause.
    """
    from saleslayer_airflow.push.items import StagedItems

    push = _TablePush(store, options, send, split, progress, on_refused)
    if isinstance(items, StagedItems):
        # A staged file in file order: decided on columns (see push.columnar).
        from saleslayer_airflow.push.columnar import decide_staged, spans

        encoding: FormEncoding | None = None
        if not options.dry_run:
            # The transport's form, when it takes items encoded on columns (push.encoded).
            encoding = getattr(send, "form_encoding", None)
        decided = decide_staged(items, store, options)
        # Each span read and encoded while the one before is sent (the wait for Sales
        # Layer's answers releases the GIL).
        for span in read_ahead(spans(items, decided, store, options, encoding=encoding)):
            if span.encoded is not None:
                push.take_encoded(span.codes, span.positions, span.encoded)
            else:
                push.take_decided(span.codes, span.sends)
    else:
        for chunk in _chunks(items, options.chunk_size):
            push.take(chunk)
    push.flush()
    push.counts.check_balanced(options.table)
    push.check_refusals()
    if push.error is not None:
        raise PushInterrupted(push.counts, push.error) from push.error
    return push.counts
