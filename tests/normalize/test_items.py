"""The columnar items layer (duplicates, merges, conflicts, parents, cycles, outputs) against the
row engine's ItemStore and ParentCheck fed the same contributions."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from tests.normalize.items_oracle import Record, RowReject
from tests.normalize.support import both, cat, plans, prod, var


def test_plan_columns_are_what_the_helpers_build() -> None:
    names = [[c.name for c in p.columns] for p in plans()]
    assert names == [
        ["name", "pos", "_parent_ref"],
        ["title", "active", "tags", "_category_refs"],
        ["size", "_product_ref", "_link_brands"],
    ]


@pytest.mark.parametrize("chunk_rows", [1, 2, 5_000])
def test_merge_fills_nulls_and_rejects_conflicts(tmp_path: Path, chunk_rows: int) -> None:
    records = [
        Record(0, 2, {0: [cat("C1", None, "x", None)]}),
        Record(0, 3, {0: [cat("C1", None, None, 5)]}),
        Record(0, 4, {0: [cat("C1", None, "y", 5)]}),  # conflict on name
        Record(1, 2, {0: [cat("C1", None, "x", 6)]}),  # conflict on pos, other file
        Record(1, 3, {0: [cat("C2", "C1")], 1: [prod("P1", ["C1", "C2"], tags=["a", "b"])]}),
        Record(1, 4, {1: [prod("P1", ["C1", "C2"], tags=["a"])]}),  # list conflict
    ]
    old, _ = both(tmp_path, plans(), records, chunk_rows=chunk_rows)
    assert old.counts["categories"].conflicts == 2
    assert old.counts["products"].conflicts == 1
    assert old.tables["categories"][0]["pos"] == 5


@pytest.mark.parametrize("policy", ["first", "reject"])
def test_duplicates(tmp_path: Path, policy: str) -> None:
    records = [
        Record(0, 2, {1: [prod("P1")], 2: [var("S1", "P1")]}),
        Record(0, 3, {1: [prod("P1", title="other")], 2: [var("S2", "P1")]}),
        Record(1, 2, {1: [prod("P1")], 2: [var("S1", "P1")]}),
        Record(1, 3, {1: [prod("it's")], 2: [var("S3", "it's")]}),
        Record(1, 4, {1: [prod("it's")]}),
    ]
    old, _ = both(tmp_path, plans("merge", policy, policy), records)
    assert old.counts["products"].duplicates == 3


def test_parents_known_refs_look_alikes_and_gone(tmp_path: Path) -> None:
    records = [
        Record(0, 2, {0: [cat("Root")]}),
        Record(0, 3, {0: [cat("Sub", "root")]}),  # case
        Record(0, 4, {0: [cat("Other", "\uff32oot")]}),  # fullwidth look-alike
        Record(0, 5, {0: RowReject("Bad", "cat_ref", "Bad", "bad value", "bad_value")}),
        Record(0, 6, {0: [cat("Kid", "Bad")], 1: [prod("P1", ["Kid", "Old", "Gone"])]}),
        Record(0, 7, {2: [var("S1", "P1", ["B1", "B2"])], 1: [prod("P2", ["Old"])]}),
        Record(0, 8, {2: [var("S2", "P9")]}),
    ]
    old, _ = both(
        tmp_path, plans(), records, {"categories": {"Old"}, "brands": {"B1"}, "products": set()}
    )
    reasons = old.rejects_csv.decode()
    assert "case-sensitive in Sales Layer" in reasons
    assert "look-alike" in reasons
    assert "was rejected (see that reject)" in reasons
    assert old.calls


def test_cycles_and_their_orphans(tmp_path: Path) -> None:
    ring = [f"R{n}" for n in range(10)]
    records = [
        Record(0, 2 + n, {0: [cat(ref, ring[(n + 1) % len(ring)])]}) for n, ref in enumerate(ring)
    ]
    records += [
        Record(0, 20, {0: [cat("A", "B")]}),
        Record(0, 20, {0: [cat("B", "A")]}),  # two records on one line (JSON)
        Record(0, 21, {0: [cat("Leaf", "A")], 1: [prod("P", ["Leaf"])]}),
        Record(0, 22, {0: [cat("Self", "Self")]}),
    ]
    old, _ = both(tmp_path, plans(), records)
    assert old.counts["categories"].rows_out == 0
    assert old.counts["products"].rows_out == 0


def test_path_levels_share_a_line(tmp_path: Path) -> None:
    def levels(path: str, name: str | None) -> list[Any]:
        parts = path.split(" > ")
        out = []
        for depth in range(1, len(parts) + 1):
            ref = " > ".join(parts[:depth])
            parent = " > ".join(parts[: depth - 1]) or None
            out.append(cat(ref, parent, name if depth == len(parts) else None, None))
        return out

    records = [
        Record(0, 2, {0: levels("Men > Tops > Tees", "Tees")}),
        Record(0, 3, {0: levels("Men > Tops > Tees", "Other")}),
        Record(
            0, 4, {0: RowReject("Women >  > X", "cat_ref", "v", "empty level", "bad_reference")}
        ),
        Record(0, 5, {0: levels("Women > X", "X")}),
    ]
    both(tmp_path, plans(path=True), records)


def test_texts_for_spreadsheets_and_bad_bytes(tmp_path: Path) -> None:
    records = [
        Record(0, 2, {1: RowReject("=P", "title", "=1+1", "-bad\x00text", "bad_value")}),
        Record(0, 3, {1: RowReject("", "title", "@x", "\tr", "empty")}),
        Record(0, 4, {1: [prod("+P", title="=HYPERLINK()")]}),
        Record(0, 5, {1: [prod("+P", title="-2")]}),
    ]
    both(tmp_path, plans(), records)


def test_nothing_at_all(tmp_path: Path) -> None:
    both(tmp_path, plans("first", "reject", "merge"), [])


def test_known_refs_are_asked_in_batches_once(tmp_path: Path) -> None:
    records = [
        Record(0, 2 + n, {2: [var(f"S{n}", f"P{n % 1500}", [f"B{n % 2100}"])]}) for n in range(2500)
    ]
    known = {"products": {f"P{n}" for n in range(0, 1500, 2)}, "brands": {"B7"}}
    _, new = both(tmp_path, plans(), records, known, chunk_rows=700, batch_records=999)
    assert max(len(refs) for _, refs in new.calls) == 1000
    asked = [(table, ref) for table, refs in new.calls for ref in refs]
    assert len(asked) == len(set(asked)) > 2000  # each reference asked once per table
