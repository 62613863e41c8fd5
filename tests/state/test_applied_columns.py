"""Checkpointing a batch as columns (AppliedColumns, content pre-encoded as JSON) keeps what the
same items as AppliedItem objects keep; ``contents`` reads the content texts back. On SQLite
and PostgreSQL (see conftest)."""

from __future__ import annotations

import json
from datetime import UTC, datetime
from typing import Any

from saleslayer_airflow.state import AppliedItem, StateStore
from saleslayer_airflow.state.store import AppliedColumns, content_json

DAY = datetime(2026, 12, 1, 10, 30, tzinfo=UTC)
CONTENTS: list[dict[str, Any] | None] = [
    {"name": "Zoë", "tags": ["a", "b"]},
    {"price": "12.50", "stock": 3},
    None,
]


def test_columns_are_recorded_like_items(state_url: str) -> None:
    store = StateStore.open(state_url, account="acct")
    refs = ["B", "A", "C"]
    items = [
        AppliedItem(ref, f"h{ref}", DAY, content=content)
        for ref, content in zip(refs, CONTENTS, strict=True)
    ]
    store.ack_batch("by-items", "run", "t", "k", items, created=3, updated=0)
    columns = AppliedColumns(
        refs,
        [f"h{ref}" for ref in refs],
        # Any JSON text of the content: compact, non-ASCII as is.
        [None if c is None else json.dumps(c, ensure_ascii=False) for c in CONTENTS],
        DAY,
    )
    store.ack_batch("by-columns", "run", "t", "k", columns, created=3, updated=0)
    by_items = store.items("by-items", "t", refs)
    by_columns = store.items("by-columns", "t", refs)
    assert by_columns == by_items
    assert by_columns["A"].content == CONTENTS[1] and by_columns["C"].content is None
    assert store.batch_totals("by-columns", "run", "t").created == 3
    texts = store.contents("by-columns", "t", ["A", "C", "unknown"])
    assert texts == {"A": json.dumps(CONTENTS[1], ensure_ascii=False), "C": None}
    assert store.contents("by-items", "t", ["B"]) == {"B": content_json(CONTENTS[0])}
    store.close()


def test_the_last_of_a_reference_given_twice_wins(state_url: str) -> None:
    store = StateStore.open(state_url)
    columns = AppliedColumns(["R", "Q", "R"], ["h1", "h2", "h3"], ['{"a":1}', "{}", '{"a":3}'], DAY)
    store.ack_batch("c", "run", "t", "k", columns, created=2, updated=0)
    states = store.items("c", "t", ["R", "Q"])
    assert states["R"].content_hash == "h3" and states["R"].content == {"a": 3}
    assert states["Q"].content == {}
    store.close()


def test_quotes_in_the_shared_values_are_kept(state_url: str) -> None:
    store = StateStore.open(state_url, account="a'b")
    columns = AppliedColumns(["R'1"], ["h"], ['{"x":"\'"}'], DAY)
    store.ack_batch("it's", "run'1", "t'x", "k", columns, created=1, updated=0)
    [state] = store.items("it's", "t'x", ["R'1"]).values()
    assert (state.run_id, state.content) == ("run'1", {"x": "'"})
    assert state.export_date == DAY.replace(tzinfo=None)
    store.close()
