"""What the delta reads of a whole table (``StateStore.decision_states``): the same answers as
``item_states`` compared by hand, whatever the references and stored hashes hold (the SQLite
path packs each chunk of rows into one text), on SQLite and on a real PostgreSQL server."""

from __future__ import annotations

import hashlib
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import polars as pl
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from saleslayer_airflow.state import AppliedItem, StateStore
from saleslayer_airflow.state import store as store_module

DAY = datetime(2026, 11, 5, 10, 30, 15, 123456, tzinfo=UTC)
_SHA = hashlib.sha256(b"x").hexdigest()

#: Stored hashes: a sha256's hex, and every kind that must never match one.
_HASHES = st.one_of(
    st.just(_SHA),
    st.binary(min_size=32, max_size=32).map(lambda raw: raw.hex()),
    st.just(_SHA.upper()),
    st.just(_SHA[:63]),
    st.just(_SHA + "0"),
    st.just("\x1e" * 64),
    st.just(_SHA[:30] + "\x1f\x1e" + _SHA[:32]),
    st.just("é" * 64),
    st.just("\x00" + _SHA[1:]),
    st.just(_SHA[:63] + "\x00" + "abc"),
    st.just(""),
)
#: References, with the separators the SQLite path packs rows with.
_REFERENCES = st.one_of(
    st.text(alphabet=st.sampled_from("ab\x1e\x1f é中0123456789"), max_size=6),
    st.text(alphabet=st.characters(codec="utf-8", exclude_characters="\x00"), max_size=70),
)
_ITEMS = st.lists(
    st.tuples(
        _REFERENCES,
        _HASHES,
        st.sampled_from([timedelta(0), timedelta(microseconds=1), -timedelta(days=1)]),
        st.booleans(),
        st.sampled_from(["run1", "run2"]),
    ),
    max_size=12,
    unique_by=lambda item: item[0],
)


def _expected(store: StateStore, export_date: datetime, run_id: str) -> pl.DataFrame:
    """decision_states' columns, the obvious way, from item_states."""
    states = store.item_states("shop", "products")
    return states.select(
        "reference",
        pl.when(pl.col("content_hash").str.contains("^[\x01-\x7f]{64}$")).then(
            pl.col("content_hash")
        ),
        (pl.col("export_date") > export_date.replace(tzinfo=None)).alias("newer"),
        "deleted",
        (pl.col("run_id") == run_id).alias("this_run"),
    ).sort("reference")


def _write(store: StateStore, items: list[tuple[str, str, timedelta, bool, str]]) -> None:
    for reference, digest, shift, deleted, run_id in items:
        applied = AppliedItem(reference, digest, DAY + shift, deleted=deleted)
        store.record_applied("shop", "products", run_id, [applied])
    # Another table and another connector of the same account: never read.
    store.record_applied("shop", "variants", "run1", [AppliedItem("V1", _SHA, DAY)])
    store.record_applied("other", "products", "run1", [AppliedItem("O1", _SHA, DAY)])


@settings(
    max_examples=150, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
@given(items=_ITEMS, stream=st.sampled_from([1, 2, 5, 100_000]), run_id=st.just("run1"))
def test_sqlite_decision_states_are_item_states_compared(
    tmp_path_factory: pytest.TempPathFactory,
    monkeypatch: pytest.MonkeyPatch,
    items: list[tuple[str, str, timedelta, bool, str]],
    stream: int,
    run_id: str,
) -> None:
    # Small chunks: the keyset pagination crosses references of every kind.
    monkeypatch.setattr(store_module, "_STREAM", stream)
    folder: Path = tmp_path_factory.mktemp("state")
    store = StateStore.open(f"sqlite:///{folder / 'state.sqlite'}", account="acct")
    try:
        _write(store, items)
        frame = store.decision_states("shop", "products", export_date=DAY, run_id=run_id)
        assert frame.sort("reference").equals(_expected(store, DAY, run_id))
        assert frame.height == len(items)
    finally:
        store.close()


def test_decision_states_on_each_backend(store: StateStore) -> None:
    _write(
        store,
        [
            ("P1", _SHA, timedelta(0), False, "run1"),
            ("P\x1e2", _SHA.upper(), timedelta(hours=1), False, "run2"),
            ("", "not-a-hash", -timedelta(days=1), True, "run1"),
            ("P\x1f4", "\x1e" * 64, timedelta(microseconds=1), False, "run1"),
        ],
    )
    frame = store.decision_states("shop", "products", export_date=DAY, run_id="run1")
    rows: dict[str, Any] = {row[0]: row[1:] for row in frame.rows()}
    assert rows == {
        "P1": (_SHA, False, False, True),
        "P\x1e2": (_SHA.upper(), True, False, False),
        "": (None, False, True, True),
        "P\x1f4": ("\x1e" * 64, True, False, True),
    }
    assert frame.sort("reference").equals(_expected(store, DAY, "run1"))
    empty = store.decision_states("shop", "nothing", export_date=DAY, run_id="run1")
    assert empty.height == 0 and empty.schema == frame.schema
