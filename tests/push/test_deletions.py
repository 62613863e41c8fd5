"""Deletions against a real SQLite state store: the plan (missing items, safety limit, backfill
guard) and the checkpointed batches. `send` is a recorder standing in for the Import Connector
(the transport is exercised against the emulator in tests/e2e)."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from saleslayer_airflow.exceptions import TerminalError
from saleslayer_airflow.push.deletions import (
    DeletionPlan,
    DeletionRefused,
    apply_deletions,
    plan_deletions,
)
from saleslayer_airflow.push.pipeline import OutgoingItem, PushOptions, push_table
from saleslayer_airflow.push.transports import status_field
from saleslayer_airflow.state import StateStore

DAY = datetime(2026, 11, 5, tzinfo=UTC)


class Deleter:
    """Records every batch of references; fails on the batch numbers given (1-based)."""

    def __init__(self, fail_on: set[int] | None = None) -> None:
        self.batches: list[list[str]] = []
        self.fail_on = fail_on or set()
        self.calls = 0

    def __call__(self, refs: Sequence[str]) -> None:
        self.calls += 1
        if self.calls in self.fail_on:
            raise ConnectionError(f"batch {self.calls} dropped")
        self.batches.append(list(refs))

    @property
    def sent(self) -> list[str]:
        return [ref for batch in self.batches for ref in batch]


@pytest.fixture
def store(tmp_path: Path) -> StateStore:
    return StateStore.open(f"sqlite:///{tmp_path / 'state.sqlite'}")


def refs(n: int) -> list[str]:
    return [f"S{i:03d}" for i in range(n)]


def pushed(store: StateStore, references: list[str], day: datetime = DAY) -> None:
    """Push the references once, as an earlier run did."""
    items = [OutgoingItem(ref, {"pos_name": ref}) for ref in references]
    push_table(items, store, PushOptions("shop", "points_of_sale", f"run-{day}", day), _noop)


def _noop(batch: Sequence[object]) -> list[int | None]:
    return [None] * len(batch)


def plan(
    store: StateStore, present: list[str], max_ratio: float = 0.1, **kw: object
) -> DeletionPlan:
    return plan_deletions(
        store,
        "shop",
        "points_of_sale",
        present,
        export_date=kw.pop("export_date", DAY + timedelta(days=1)),  # type: ignore[arg-type]
        max_ratio=max_ratio,
        **kw,  # type: ignore[arg-type]
    )


def test_items_missing_from_the_export_are_deleted_once(store: StateStore) -> None:
    pushed(store, refs(100))
    present = refs(100)[5:]
    deletion = plan(store, present)
    assert deletion.references == tuple(refs(5)) and deletion.live == 100

    deleter = Deleter()
    done = apply_deletions(
        deletion, store, run_id="run2", export_date=DAY, batch_size=2, send=deleter
    )
    assert done == 5 and deleter.sent == refs(5)
    assert [len(b) for b in deleter.batches] == [2, 2, 1]
    assert store.live_references("shop", "points_of_sale") == set(present)
    # The next run of the same export has nothing left to delete.
    assert plan(store, present).references == ()


def test_more_than_the_limit_is_refused_and_nothing_is_deleted(store: StateStore) -> None:
    pushed(store, refs(100))
    with pytest.raises(DeletionRefused, match=r"11 of the 100 items .*max_ratio = 10.0%"):
        plan(store, refs(100)[11:])
    assert isinstance(DeletionRefused("x"), TerminalError)
    assert len(store.live_references("shop", "points_of_sale")) == 100
    assert plan(store, refs(100)[10:]).references == tuple(refs(10)), "10% is allowed"


def test_an_empty_export_is_refused_whatever_the_store_holds(store: StateStore) -> None:
    pushed(store, refs(3))
    with pytest.raises(DeletionRefused):
        plan(store, [], max_ratio=0.5)


def test_items_from_a_newer_export_survive_a_backfill(store: StateStore) -> None:
    pushed(store, refs(10), DAY)
    pushed(store, ["NEW1", "NEW2"], DAY + timedelta(days=3))
    backfill = plan(store, refs(10), max_ratio=0.5, export_date=DAY + timedelta(days=1))
    assert backfill.references == () and backfill.kept_newer == 2
    forced = plan(
        store,
        refs(10),
        max_ratio=0.5,
        export_date=DAY + timedelta(days=1),
        apply_older_exports=True,
    )
    assert forced.references == ("NEW1", "NEW2")


def test_a_failure_midway_resumes_without_deleting_twice(store: StateStore) -> None:
    pushed(store, refs(100))
    present = refs(100)[9:]
    broken = Deleter(fail_on={3})
    with pytest.raises(ConnectionError):
        apply_deletions(
            plan(store, present), store, run_id="r", export_date=DAY, batch_size=3, send=broken
        )
    assert broken.sent == refs(6)

    retry = Deleter()
    done = apply_deletions(
        plan(store, present), store, run_id="r", export_date=DAY, batch_size=3, send=retry
    )
    assert retry.sent == refs(9)[6:] and done == 3
    assert store.live_references("shop", "points_of_sale") == set(present)


def test_a_dry_run_counts_without_sending_or_recording(store: StateStore) -> None:
    pushed(store, refs(20))
    deleter = Deleter()
    done = apply_deletions(
        plan(store, refs(20)[1:]),
        store,
        run_id="r",
        export_date=DAY,
        batch_size=5,
        send=deleter,
        dry_run=True,
    )
    assert done == 1 and deleter.calls == 0
    assert len(store.live_references("shop", "points_of_sale")) == 20


def test_a_deleted_item_that_comes_back_is_created_again(store: StateStore) -> None:
    pushed(store, refs(10))
    apply_deletions(
        plan(store, refs(10)[1:]), store, run_id="r", export_date=DAY, batch_size=5, send=Deleter()
    )
    items = [OutgoingItem(ref, {"pos_name": ref}) for ref in refs(10)]
    counts = push_table(
        items, store, PushOptions("shop", "points_of_sale", "r3", DAY + timedelta(days=2)), _noop
    )
    assert (counts.created, counts.unchanged) == (1, 9)


@pytest.mark.parametrize(
    ("kind", "reference_field", "expected"),
    [
        ("products", "REF", "prod_stat"),
        ("variants", "REF", "frmt_stat"),
        ("points_of_sale", "pos_ref", "pos_stat"),
        ("brands", "brand_ref", "brand_stat"),
        ("brands", "REF", None),
    ],
)
def test_status_field_names(kind: str, reference_field: str, expected: str | None) -> None:
    assert status_field(kind, reference_field) == expected
