"""The SQLite read of ``StateStore.decision_states`` in three texts per chunk (references,
hashes laid end to end, one flag digit per item): used for every chunk whose hashes are all a
sha256's hex, and a chunk holding any other stored hash falls back to the packed rows with
the same answers; chunks end exactly where the keyset pagination says."""

from __future__ import annotations

import hashlib
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest

from saleslayer_airflow.state import AppliedItem, StateStore
from saleslayer_airflow.state import store as store_module

DAY = datetime(2026, 11, 5, 10, 30, tzinfo=UTC)


def _sha(number: int) -> str:
    return hashlib.sha256(str(number).encode()).hexdigest()


def _expected(store: StateStore, run_id: str) -> dict[str, tuple[Any, ...]]:
    """What decision_states must say of each item, from item_states, by hand."""
    answer = {}
    for reference, digest, when, deleted, run, _ in store.item_states("shop", "products").rows():
        valid = len(digest) == 64 and digest.isascii() and "\x00" not in digest
        newer = when > DAY.replace(tzinfo=None)
        answer[reference] = (digest if valid else None, newer, deleted, run == run_id)
    return answer


@pytest.fixture
def counted(monkeypatch: pytest.MonkeyPatch) -> dict[str, int]:
    """Chunks read as three texts (``columns``) and as packed rows (``packed``)."""
    calls = {"columns": 0, "packed": 0}
    columns, packed = store_module._parse_columns, store_module._parse_states

    def parse_columns(*args: Any) -> Any:
        frame = columns(*args)
        calls["columns"] += frame is not None
        return frame

    def parse_states(*args: Any) -> Any:
        calls["packed"] += 1
        return packed(*args)

    monkeypatch.setattr(store_module, "_parse_columns", parse_columns)
    monkeypatch.setattr(store_module, "_parse_states", parse_states)
    monkeypatch.setattr(store_module, "_STREAM", 4)
    return calls


@pytest.mark.parametrize("size", [0, 1, 3, 4, 5, 8, 9])
def test_chunks_of_sha256_hashes_are_read_as_columns(
    tmp_path: Path, counted: dict[str, int], size: int
) -> None:
    store = StateStore.open(f"sqlite:///{tmp_path / 'state.sqlite'}", account="acct")
    try:
        items = [
            AppliedItem(f"R{n:02d}", _sha(n), DAY + timedelta(seconds=n % 3 - 1), deleted=n == 2)
            for n in range(size)
        ]
        store.record_applied("shop", "products", "run1", items[::2])
        store.record_applied("shop", "products", "run2", items[1::2])
        frame = store.decision_states("shop", "products", export_date=DAY, run_id="run1")
        # In the index's order (the staged file's), one row per item, every flag as stored.
        assert frame["reference"].to_list() == [f"R{n:02d}" for n in range(size)]
        assert {row[0]: row[1:] for row in frame.rows()} == _expected(store, "run1")
        assert counted == {"columns": -(-size // 4), "packed": 0}
    finally:
        store.close()


@pytest.mark.parametrize(
    "odd",
    [
        _sha(1)[:63],  # one short ...
        _sha(1) + "0",  # ... and (below) one long: the text's length alone would not tell
        "é" * 64,
        _sha(1)[:63] + "\x00",
        _sha(1)[:32] + "\x00" + _sha(1)[:31],
        _sha(1).upper(),  # 64 ASCII characters: read as columns, never equal to a digest's hex
    ],
)
def test_a_chunk_with_another_stored_hash_falls_back_to_packed_rows(
    tmp_path: Path, counted: dict[str, int], odd: str
) -> None:
    store = StateStore.open(f"sqlite:///{tmp_path / 'state.sqlite'}", account="acct")
    try:
        hashes = [_sha(0), odd, _sha(2), _sha(3), _sha(4), _sha(5)]
        if len(odd) == 63:
            hashes[2] = _sha(2) + "f"  # 63 + 65 characters: 128 in all, as two good ones
        store.record_applied(
            "shop",
            "products",
            "run1",
            [AppliedItem(f"R{n}", digest, DAY) for n, digest in enumerate(hashes)],
        )
        frame = store.decision_states("shop", "products", export_date=DAY, run_id="run1")
        assert {row[0]: row[1:] for row in frame.rows()} == _expected(store, "run1")
        ascii_64 = len(odd) == 64 and odd.isascii() and "\x00" not in odd
        # The first chunk (R0-R3) holds the odd hash; the second (R4, R5) never does.
        assert counted == ({"columns": 2, "packed": 0} if ascii_64 else {"columns": 1, "packed": 1})
    finally:
        store.close()
