"""Deletion plans from an export not read in full: rejected rows keep their items, unreadable rows
refuse the deletion pass (against a real SQLite state store; the e2e suite drives the same
through Airflow into the emulator, tests/e2e/test_deletions_safety.py)."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from saleslayer_airflow.push.deletions import apply_deletions, plan_deletions
from saleslayer_airflow.push.pipeline import OutgoingItem, PushOptions, push_table
from saleslayer_airflow.state import StateStore

DAY = datetime(2026, 11, 5, tzinfo=UTC)
REFS = [f"S{i:03d}" for i in range(20)]


@pytest.fixture
def store(tmp_path: Path) -> StateStore:
    store = StateStore.open(f"sqlite:///{tmp_path / 'state.sqlite'}")
    items = [OutgoingItem(ref, {"pos_name": ref}) for ref in REFS]
    push_table(items, store, PushOptions("shop", "points_of_sale", "run-1", DAY), _accept)
    return store


def _accept(batch: Sequence[object]) -> list[int | None]:
    return [None] * len(batch)


def test_a_rejected_reference_counts_as_present(store: StateStore) -> None:
    present = REFS[2:]  # S000 rejected for a bad value, S001 gone from the ERP
    plan = plan_deletions(
        store,
        "shop",
        "points_of_sale",
        present,
        export_date=DAY + timedelta(days=1),
        max_ratio=0.1,
        rejected=["S000", "NOT-LIVE"],
    )
    assert plan.references == ("S001",) and plan.kept_rejected == 1 and plan.refused is None


def test_unreadable_rows_refuse_the_pass_whatever_is_missing(store: StateStore) -> None:
    sent: list[Sequence[str]] = []
    plan = plan_deletions(
        store,
        "shop",
        "points_of_sale",
        REFS[:5],  # 75% missing: past the safety limit, yet no DeletionRefused
        export_date=DAY + timedelta(days=1),
        max_ratio=0.1,
        unreadable="1 row of stores.csv could not be read (line 21, unclosed quote)",
    )
    assert plan.references == () and plan.live == 20
    assert plan.refused is not None
    assert plan.refused.startswith("1 row of stores.csv could not be read (line 21")
    assert "an export not read in full never drives deletions" in plan.refused
    for dry_run in (True, False):
        done = apply_deletions(
            plan,
            store,
            run_id="run-2",
            export_date=DAY,
            batch_size=5,
            send=sent.append,
            dry_run=dry_run,
        )
        assert done == 0
    assert sent == [] and store.live_references("shop", "points_of_sale") == set(REFS)
