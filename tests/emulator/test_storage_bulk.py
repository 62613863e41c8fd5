"""Bulk reads and writes of the store used by Import Connector calls."""

from __future__ import annotations

from pathlib import Path

from saleslayer_airflow.emulator.storage import Storage


def test_ids_by_refs_gives_the_lowest_id_of_a_reference_held_twice(tmp_path: Path) -> None:
    storage = Storage(tmp_path / "sl.sqlite")
    try:
        # REST posts may create a second item with a reference already held (rest setting
        # duplicate_ref_on_post: allow); a deleted item never counts.
        first = storage.insert("products", "P1", "V", {}, {})
        storage.insert("products", "P1", "V", {}, {})
        gone = storage.insert("products", "P2", "V", {}, {})
        storage.delete("products", gone.id)
        kept = storage.insert("products", "P2", "V", {}, {})
        refs = [f"R{n}" for n in range(2_000)]  # more than one chunk of the IN list
        ids = {storage.insert("products", ref, "V", {}, {}).id: ref for ref in refs[::7]}
        found = storage.ids_by_refs("products", ["P1", "P2", "NONE", *refs])
        assert found == {"P1": first.id, "P2": kept.id, **{ref: i for i, ref in ids.items()}}
        assert storage.ids_by_refs("catalogue", ["P1"]) == {}
    finally:
        storage.close()
