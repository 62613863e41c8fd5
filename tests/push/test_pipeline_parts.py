"""The push pipeline's newer duties, against a real SQLite state store: batches cut into parts
(one call, one checkpoint each), items Sales Layer skipped (counted, never recorded), and
progress told once per batch. `send` is a recorder standing in for a transport."""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

import pytest

from saleslayer_airflow.push.pipeline import (
    BatchResult,
    PushInterrupted,
    SentItem,
    TableCounts,
    push_table,
)
from saleslayer_airflow.state import StateStore
from tests.push.test_pipeline import Recorder, items, options


@pytest.fixture
def store(tmp_path: Path) -> StateStore:
    return StateStore.open(f"sqlite:///{tmp_path / 'state.sqlite'}")


def in_threes(batch: Sequence[SentItem]) -> list[list[SentItem]]:
    return [list(batch[i : i + 3]) for i in range(0, len(batch), 3)]


def recorded(store: StateStore, n: int) -> set[str]:
    return set(store.items("shop", "products", [f"P{i:04d}" for i in range(n)]))


def test_each_part_is_sent_and_checkpointed_on_its_own(store: StateStore) -> None:
    broken = Recorder(fail_on={2})  # the second call of the first batch fails
    with pytest.raises(PushInterrupted) as caught:
        push_table(items(10), store, options(batch_size=10), broken, split=in_threes)
    assert caught.value.counts.created == 3 and caught.value.counts.failed == 7
    assert recorded(store, 10) == {"P0000", "P0001", "P0002"}

    retry = Recorder()
    counts = push_table(items(10), store, options(batch_size=10), retry, split=in_threes)
    assert retry.sent == [f"P{i:04d}" for i in range(3, 10)], "the first part was sent again"
    assert [len(b) for b in retry.batches] == [3, 3, 1]
    assert (counts.created, counts.failed, counts.batches_resumed) == (10, 0, 1)


class Skipping:
    """Answers like a connector of existing items: only ``known`` references are taken."""

    def __init__(self, known: set[str], *, by_reference: bool = False) -> None:
        self.known = known
        self.by_reference = by_reference
        self.sent: list[str] = []

    def __call__(self, batch: Sequence[SentItem]) -> BatchResult:
        refs = [s.item.reference for s in batch]
        self.sent += refs
        skipped = frozenset(r for r in refs if r not in self.known)
        if self.by_reference:
            return BatchResult([7] * len(batch), len(skipped), skipped)
        return BatchResult([None] * len(batch), len(skipped))


def test_skipped_items_are_counted_and_not_recorded(store: StateStore) -> None:
    # Batches of 4: the first holds the four known items, the others only unknown ones.
    send = Skipping({f"P{i:04d}" for i in range(4)})
    counts = push_table(items(10), store, options(batch_size=4), send)
    counts.check_balanced("products")
    assert (counts.created, counts.skipped) == (4, 6)
    assert recorded(store, 10) == {f"P{i:04d}" for i in range(4)}

    again = Skipping({f"P{i:04d}" for i in range(10)})
    counts = push_table(items(10), store, options("run2", batch_size=4), again)
    assert again.sent == [f"P{i:04d}" for i in range(4, 10)]
    assert (counts.created, counts.unchanged, counts.skipped) == (6, 4, 0)


def test_a_mixed_batch_records_none_of_its_new_items(store: StateStore) -> None:
    # One batch of 5 new items, 2 of which Sales Layer has: a count of 3 skipped cannot say
    # which, so none is recorded (they are sent again next run, harmlessly).
    send = Skipping({"P0000", "P0003"})
    counts = push_table(items(5), store, options(batch_size=5), send)
    assert (counts.created, counts.skipped, counts.items) == (2, 3, 5)
    assert recorded(store, 5) == set()


def test_skipped_by_reference_records_exactly_the_others(store: StateStore) -> None:
    send = Skipping({"P0000", "P0003"}, by_reference=True)
    counts = push_table(items(5), store, options(batch_size=5), send)
    assert (counts.created, counts.skipped) == (2, 3)
    states = store.items("shop", "products", ["P0000", "P0003"])
    assert set(states) == {"P0000", "P0003"} == recorded(store, 5)
    assert {s.saleslayer_id for s in states.values()} == {7}


def test_a_resumed_run_with_skipped_items_still_balances(store: StateStore) -> None:
    class FailSecond(Skipping):
        calls = 0

        def __call__(self, batch: Sequence[SentItem]) -> BatchResult:
            self.calls += 1
            if self.calls == 2:
                raise ConnectionError("dropped")
            return super().__call__(batch)

    known = {"P0000", "P0001"}
    with pytest.raises(PushInterrupted):
        push_table(items(6), store, options(batch_size=2), FailSecond(known))
    counts = push_table(items(6), store, options(batch_size=2), Skipping(known))
    counts.check_balanced("products")
    assert (counts.created, counts.skipped, counts.failed) == (2, 4, 0)


def test_progress_is_told_once_per_batch(store: StateStore) -> None:
    seen: list[tuple[int, int]] = []

    def progress(counts: TableCounts) -> None:
        seen.append((counts.batches_sent, counts.created))

    push_table(items(7), store, options(batch_size=3), Recorder(), progress=progress)
    assert seen == [(1, 3), (2, 6), (3, 7)]


def test_a_batch_that_cannot_be_split_fails_after_the_batches_before(store: StateStore) -> None:
    def split(batch: Sequence[SentItem]) -> list[list[SentItem]]:
        if any(s.item.reference == "P0005" for s in batch):
            raise ValueError("item P0005 alone is over the payload cap")
        return [list(batch)]

    with pytest.raises(PushInterrupted, match="P0005") as caught:
        push_table(items(9), store, options(batch_size=3), Recorder(), split=split)
    counts = caught.value.counts
    assert (counts.created, counts.failed) == (3, 6)
    assert recorded(store, 9) == {"P0000", "P0001", "P0002"}
