"""What the stages hand each other through XCom, typed.

The split stage's summary holds, per table, a :class:`StagedTable`; the push task of that table
reads it. Keys added after a release are ``NotRequired``: a push retried after an upgrade may read
a summary written before it.
"""

from __future__ import annotations

from typing import NotRequired, TypedDict


class StagedTable(TypedDict):
    """One table as the split stage staged it."""

    path: str
    """The table's Parquet file (an ObjectStoragePath URI)."""
    rows_in: int
    rows_out: int
    merged: int
    rejected: int
    conflicts: int
    duplicates: int
    rejected_refs_path: NotRequired[str | None]
    """The references of the table's rejected rows (staged only when deletions are on)."""
    unreadable_rows: NotRequired[int]
    """Rows of the table's input no reader could read: the export then drives no deletions."""
    unreadable: NotRequired[str | None]
    """How many, of which file, the first line and why; None when every row was read."""
