"""The push pipeline against a real SQLite state store. `send` here is a recorder standing in for
a Sales Layer transport (the transports are tested against the emulator over HTTP); what is under
test is the delta, the batching, the checkpoints and the counts."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from saleslayer_airflow.push.pipeline import (
    OutgoingItem,
    PushInterrupted,
    PushOptions,
    SentItem,
    TableCounts,
    push_table,
)
from saleslayer_airflow.state import StateStore

DAY = datetime(2026, 11, 5, tzinfo=UTC)


class Recorder:
    """Records every batch; fails on the batch numbers given (1-based)."""

    def __init__(self, fail_on: set[int] | None = None) -> None:
        self.batches: list[list[str]] = []
        self.fail_on = fail_on or set()
        self.calls = 0

    def __call__(self, batch: Sequence[SentItem]) -> list[int | None]:
        self.calls += 1
        if self.calls in self.fail_on:
            raise ConnectionError(f"batch {self.calls} dropped")
        self.batches.append([s.item.reference for s in batch])
        return [None] * len(batch)

    @property
    def sent(self) -> list[str]:
        return [ref for batch in self.batches for ref in batch]


def items(n: int, version: dict[int, int] | None = None) -> list[OutgoingItem]:
    version = version or {}
    return [
        OutgoingItem(f"P{i:04d}", {"name_en": f"Product {i}", "price": 10 + version.get(i, 0)})
        for i in range(n)
    ]


@pytest.fixture
def store(tmp_path: Path) -> StateStore:
    return StateStore.open(f"sqlite:///{tmp_path / 'state.sqlite'}")


def options(run: str = "run1", **kw: object) -> PushOptions:
    return PushOptions(
        connector_id="shop",
        table="products",
        run_id=run,
        export_date=DAY,
        **kw,  # type: ignore[arg-type]
    )


def test_first_push_creates_everything_and_an_unchanged_rerun_sends_nothing(
    store: StateStore,
) -> None:
    first = Recorder()
    counts = push_table(items(250), store, options(batch_size=100), first)
    assert (counts.created, counts.updated, counts.unchanged) == (250, 0, 0)
    assert [len(b) for b in first.batches] == [100, 100, 50]

    again = Recorder()
    counts = push_table(items(250), store, options("run2", batch_size=100), again)
    assert again.calls == 0
    assert (counts.items, counts.unchanged, counts.created, counts.updated) == (250, 250, 0, 0)


def test_a_one_percent_change_sends_exactly_that_one_percent(store: StateStore) -> None:
    push_table(items(1000), store, options(), Recorder())
    changed = {i: 1 for i in range(0, 1000, 100)}
    recorder = Recorder()
    counts = push_table(items(1000, changed), store, options("run2"), recorder)
    assert sorted(recorder.sent) == sorted(f"P{i:04d}" for i in changed)
    assert (counts.updated, counts.unchanged) == (10, 990)


@pytest.mark.parametrize("batch_size", [1, 10, 23])
def test_batches_of_awkward_sizes(store: StateStore, batch_size: int) -> None:
    recorder = Recorder()
    push_table(items(100), store, options(batch_size=batch_size, chunk_size=7), recorder)
    assert recorder.sent == [f"P{i:04d}" for i in range(100)]
    assert all(len(b) == batch_size for b in recorder.batches[:-1])
    assert len(recorder.batches) == -(-100 // batch_size)


@pytest.mark.parametrize("failing_batch", [1, 3, 5])
def test_failure_mid_push_then_retry_resends_nothing_acknowledged(
    store: StateStore, failing_batch: int
) -> None:
    broken = Recorder(fail_on={failing_batch})
    with pytest.raises(PushInterrupted) as caught:
        push_table(items(230), store, options(batch_size=50), broken)
    interrupted = caught.value.counts
    interrupted.check_balanced("products")
    assert interrupted.created == 50 * (failing_batch - 1)
    assert interrupted.failed == 230 - interrupted.created

    retry = Recorder()
    counts = push_table(items(230), store, options(batch_size=50), retry)  # same run id
    assert set(retry.sent).isdisjoint(broken.sent), "an acknowledged item was sent again"
    assert sorted(broken.sent + retry.sent) == [f"P{i:04d}" for i in range(230)]
    assert (counts.items, counts.created, counts.failed) == (230, 230, 0)
    assert counts.batches_resumed == failing_batch - 1


def test_older_export_is_stale_and_not_sent(store: StateStore) -> None:
    push_table(items(5, {0: 5}), store, options(), Recorder())
    older = Recorder()
    counts = push_table(
        items(5, {0: 1}),
        store,
        PushOptions("shop", "products", "backfill", DAY - timedelta(days=2)),
        older,
    )
    assert older.calls == 0 and counts.stale == 5
    forced = Recorder()
    counts = push_table(
        items(5, {0: 1}),
        store,
        PushOptions(
            "shop", "products", "forced", DAY - timedelta(days=2), apply_older_exports=True
        ),
        forced,
    )
    assert forced.sent == ["P0000"] and counts.updated == 1 and counts.unchanged == 4


def test_dry_run_writes_nothing_and_predicts_the_real_run(store: StateStore) -> None:
    push_table(items(20), store, options(), Recorder())
    changed = {3: 7, 11: 2}
    dry = Recorder()
    predicted = push_table(items(25, changed), store, options("run2", dry_run=True), dry)
    assert dry.calls == 0
    assert (predicted.created, predicted.updated, predicted.unchanged) == (5, 2, 18)
    sample = {s["reference"]: s for s in predicted.sample}
    assert sample["P0003"]["fields"] == {"price": {"from": 10, "to": 17}}
    assert sample["P0021"]["action"] == "created"

    real = Recorder()
    done = push_table(items(25, changed), store, options("run2"), real)
    assert (done.created, done.updated, done.unchanged) == (5, 2, 18)
    assert len(real.sent) == 7


def test_send_unchanged_sends_unchanged_items_too(store: StateStore) -> None:
    push_table(items(10), store, options(), Recorder())
    recorder = Recorder()
    counts = push_table(items(10), store, options("run2", send_unchanged=True), recorder)
    assert len(recorder.sent) == 10 and counts.updated == 10


def test_unbalanced_counts_are_refused() -> None:
    counts = TableCounts(items=3, created=1, updated=1)
    with pytest.raises(AssertionError, match="do not balance"):
        counts.check_balanced("products")
