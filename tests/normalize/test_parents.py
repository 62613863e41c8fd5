"""The columnar parent check where its order matters: items rejected earlier in the same pass
are no longer look-alikes, orphans go in later passes, external targets, self links."""

from __future__ import annotations

from pathlib import Path

from tests.normalize.items_oracle import Record
from tests.normalize.support import both, cat, plans, prod, var


def test_a_look_alike_rejected_earlier_in_the_pass_is_not_offered(tmp_path: Path) -> None:
    records = [
        Record(0, 2, {0: [cat("a", "Nope")]}),  # rejected first (refs in order)
        Record(0, 3, {0: [cat("b", "A")]}),  # 'a' is gone by now: no look-alike
        Record(0, 4, {0: [cat("c", "X")]}),  # 'x' is still there: told so
        Record(0, 5, {0: [cat("x", "Nope")]}),
    ]
    old, _ = both(tmp_path, plans(), records)
    text = old.rejects_csv.decode()
    assert "its parent category 'X' is not in this import, but 'x' is" in text
    assert "'A' is not in this import" not in text


def test_orphans_of_orphans_go_in_later_passes(tmp_path: Path) -> None:
    chain = [f"L{n}" for n in range(6)]
    records = [
        Record(0, 2 + n, {0: [cat(ref, chain[n + 1] if n + 1 < len(chain) else "Missing")]})
        for n, ref in enumerate(chain)
    ]
    records += [
        Record(1, 2, {1: [prod("P1", ["L0", "L3"])], 2: [var("S1", "P1", ["B1"])]}),
        Record(1, 3, {1: [prod("P2", ["Ok"])], 2: [var("S2", "P2", ["B1", "b1"])]}),
    ]
    old, _ = both(tmp_path, plans(), records, {"categories": {"Ok"}, "brands": {"B1"}})
    assert old.counts["categories"].rows_out == 0
    assert old.counts["variants"].rows_out == 0  # S1: its product went; S2: brand 'b1'


def test_merged_items_take_their_rows_along(tmp_path: Path) -> None:
    records = [
        Record(0, 2, {0: [cat("C1", "Gone", "x", None)]}),
        Record(0, 3, {0: [cat("C1", "Gone", None, 4)]}),
        Record(0, 4, {0: [cat("C1", None, "x", 4)]}),
        Record(0, 5, {0: [cat("C1", "Other", "x", 4)]}),  # a conflict: not merged
    ]
    old, _ = both(tmp_path, plans(), records, chunk_rows=1, batch_records=1)
    assert old.counts["categories"].rejected == 4 and old.counts["categories"].merged == 0
    assert "(the 2 other row(s) merged into this item are rejected with it)" in (
        old.rejects_csv.decode()
    )
