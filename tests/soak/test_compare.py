"""The state comparison the soak relies on: by reference, ids and timestamps ignored, and every
kind of difference found (so a soak that compares nothing cannot pass)."""

from __future__ import annotations

from typing import Any

from saleslayer_airflow.emulator.compare import TableState, check_references, diff_table


def item(ref: str, id_: int, *, title: str = "Shoe", deleted: bool = False) -> dict[str, Any]:
    return {
        "id": id_,
        "ref": ref,
        "status": "X" if deleted else "V",
        "deleted": deleted,
        "created": f"2026-01-0{id_ % 9 + 1}T00:00:00Z",
        "modified": f"2026-02-0{id_ % 9 + 1}T00:00:00Z",
        "fields": {"prod_title": {"en": title}},
        "links": {"cat_ref": ["C1"]},
        "link_ids": {"cat_ref": [id_ * 10]},
    }


def test_same_items_under_other_ids_and_times_are_equal() -> None:
    one = TableState.of([item("P1", 1), item("P2", 2)])
    other = TableState.of([item("P2", 7), item("P1", 9), item("P0", 3, deleted=True)])
    assert diff_table("products", one, other).empty
    assert other.deleted_rows == 1


def test_every_kind_of_difference_is_found_and_described() -> None:
    expected = TableState.of([item("P1", 1), item("P2", 2), item("P3", 3)])
    actual = TableState.of(
        [item("P1", 1, title="Boot"), item("P2", 2), item("P2", 5), item("P4", 4)]
    )
    diff = diff_table("products", expected, actual)
    assert diff.changed == ["P1"]
    assert diff.missing == ["P3"]
    assert diff.unexpected == ["P4"]
    assert diff.duplicated == ["P2"]
    lines = "\n".join(diff.describe(expected, actual))
    assert "P3" in lines and "P4" in lines and "duplicated" in lines and "Boot" in lines


def test_a_duplicate_keeps_the_lowest_id_content_and_counts() -> None:
    state = TableState.of([item("P1", 8, title="late"), item("P1", 3, title="first")])
    assert state.live["P1"]["fields"] == {"prod_title": {"en": "first"}}
    assert state.duplicates == {"P1": 2}


def test_references_are_checked_against_the_generated_ones() -> None:
    state = TableState.of(
        [item("P1", 1), item("P1", 2), item("P9", 3), item("P2", 4, deleted=True)]
    )
    refs = check_references("products", state, ["P1", "P2"])
    assert refs.missing == ["P2"]  # deleted counts as lost
    assert refs.unexpected == ["P9"]
    assert refs.duplicated == ["P1"]
    assert not refs.empty
