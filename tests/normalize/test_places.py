"""Repeated rows spilled as their place alone (``normalize.items._aggregate``): a chunk's rows
that its aggregate row gives back are stored as a few integers, and read back exactly when a
later chunk disagrees (merge) or repeats them (first / reject)."""

from __future__ import annotations

from pathlib import Path

import polars as pl
import pytest

from saleslayer_airflow.normalize.items import PLACE, Items, _aggregate
from tests.normalize.items_oracle import Record, chunks_of
from tests.normalize.support import FILES, both, cat, plans, prod


def _records() -> list[Record]:
    return [
        # chunk 1 (3 records): C1 three times, the same values: places only
        Record(0, 2, {0: [cat("C1", None, "x", 1)], 1: [prod("P1", ["C1"], tags=["a"])]}),
        Record(0, 3, {0: [cat("C1", None, "x", 1)], 1: [prod("P1", ["C1"], tags=["a"])]}),
        Record(0, 4, {0: [cat("C1", None, "x", 1)], 1: [prod("P1", ["C1"])]}),  # a null: whole
        # chunk 2: C1 again, agreeing, then a conflict in chunk 3: the places are needed
        Record(0, 5, {0: [cat("C1", None, "x", None)], 1: [prod("P1", ["C1"], title="t")]}),
        Record(0, 6, {0: [cat("C1", None, "x", 1)], 1: [prod("P1", ["C1"], tags=["a"])]}),
        Record(0, 7, {0: [cat("C2", "C1")]}),
        Record(1, 2, {0: [cat("C1", None, "y", 1)], 1: [prod("P1", ["C1"], tags=["b"])]}),
        Record(1, 3, {0: [cat("C1", None, "x", 1)], 1: [prod("P1", ["C1"], tags=["a"])]}),
        Record(1, 4, {0: [cat("C2", "C1")], 1: [prod("P2", ["C2"])]}),
    ]


@pytest.mark.parametrize("policy", ["merge", "first", "reject"])
@pytest.mark.parametrize("spill", [False, True])
def test_places_read_back_as_the_rows(tmp_path: Path, policy: str, spill: bool) -> None:
    old, _ = both(
        tmp_path,
        plans(policy, policy, "merge"),
        _records(),
        chunk_rows=2,
        batch_records=3,
        spill=spill,
        partitions=2,
    )
    if policy == "merge":
        assert old.counts["categories"].conflicts == 1
        assert old.counts["products"].conflicts == 1
    else:
        assert old.counts["categories"].duplicates == 7  # C1 six times, C2 once


def test_rows_equal_to_the_aggregate_go_as_places() -> None:
    table_plans = plans()
    chunk = next(c for c in chunks_of(table_plans, _records()[:3], 3) if c.table == 0)
    _, whole, places = _aggregate(table_plans[0], chunk.items)
    assert whole.height == 0
    assert places.columns == ["ref", *PLACE]
    assert places["_order"].to_list() == chunk.items["_order"].to_list()
    assert places["_seq"].unique().to_list() == [chunk.items["_order"][0]]

    products = next(c for c in chunks_of(table_plans, _records()[:3], 3) if c.table == 1)
    _, whole, places = _aggregate(table_plans[1], products.items)
    assert whole["_line"].to_list() == [4]  # tags null where the aggregate has ["a"]
    assert places["_line"].to_list() == [2, 3]


def test_a_spilled_export_of_agreeing_rows_holds_no_whole_rows(tmp_path: Path) -> None:
    table_plans = plans()
    records = [
        Record(0, 2 + n, {0: [cat(f"C{n % 3}")], 1: [prod(f"P{n % 5}", [f"C{n % 5 % 3}"])]})
        for n in range(40)
    ]
    items = Items(table_plans, FILES, spill_dir=tmp_path / "spill", partitions=2)
    for chunk in chunks_of(table_plans, records, 10):
        items.add(chunk)
    for tbl in range(len(items.tables)):
        items._flush(tbl)
    stored = {key[0] for key in items._frames._stored}
    assert stored == {"a", "p"}  # aggregates and places, no repeated row with its texts
    places = sum(
        frame.height
        for key in list(items._frames._stored)
        if key.startswith("p")
        for frame in items._frames.get(key)
    )
    assert places == 80  # each chunk of 10 repeats every reference of both tables
    items.resolve()
    assert items.alive(0)["ref"].to_list() == ["C0", "C1", "C2"]
    assert pl.Series(items.alive(1)["_nrows"]).to_list() == [8, 8, 8, 8, 8]
    items.close()
