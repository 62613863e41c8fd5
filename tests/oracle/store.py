"""The row engine's item store (the reference the columnar engine is tested against): the items
of one run, on disk (SQLite): references, de-duplication, merges, conflicts, rejects.

Memory must not grow with the export: every item and every reject lives in a throw-away SQLite
file beside the run's work folder; a chunk of rows is resolved against it with a few queries.
"""

from __future__ import annotations

import json
import sqlite3
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from saleslayer_airflow.config.tables import DuplicatePolicy
from saleslayer_airflow.mapping.plan import TablePlan
from saleslayer_airflow.normalize.items import conflict_advice
from saleslayer_airflow.normalize.results import TableCounts
from saleslayer_airflow.normalize.results import storable as _storable
from saleslayer_airflow.validation.values import shown

_BATCH = 900  # bound parameters per IN (...) query


@dataclass(slots=True)
class Contribution:
    """What one source row gives one table: an item, maybe merged with others of its reference."""

    ref: str
    file: int
    line: int
    values: list[Any]


@dataclass(slots=True)
class _Held:
    file: int
    line: int
    nrows: int
    values: list[Any]
    dup: int
    new: bool
    changed: bool = False


@dataclass
class _Table:
    plan: TablePlan
    counts: TableCounts = field(default_factory=TableCounts)
    sources: list[str] = field(default_factory=list)


def _chunks(values: Sequence[str], size: int = _BATCH) -> Iterator[Sequence[str]]:
    for start in range(0, len(values), size):
        yield values[start : start + size]


class ItemStore:
    """Items and rejects of every table of one run."""

    def __init__(self, path: Path, plans: Sequence[TablePlan], files: Sequence[str]) -> None:
        self.files = list(files)
        self.db = sqlite3.connect(path, isolation_level=None)
        for pragma in (
            "journal_mode=OFF",
            "synchronous=OFF",
            "cache_size=-65536",
            "temp_store=FILE",
        ):
            self.db.execute(f"PRAGMA {pragma}")
        self.db.execute("BEGIN")
        self.tables: list[_Table] = []
        self._seq = 0
        self.db.execute(
            "CREATE TABLE rejects (file INTEGER, line INTEGER, tbl INTEGER, ref TEXT, col TEXT, "
            "val TEXT, reason TEXT, code TEXT)"
        )
        for index, plan in enumerate(plans):
            table = _Table(plan)
            table.sources = [
                *(f.column or f"(constant of {f.field})" for f in plan.fields),
                *(link.column or (plan.path.column if plan.path else "") for link in plan.links),
            ]
            self.tables.append(table)
            self.db.execute(
                f"CREATE TABLE items_{index} (ref TEXT PRIMARY KEY, seq INTEGER, file INTEGER, "
                "line INTEGER, nrows INTEGER, vals TEXT, dup INTEGER)"
            )
            self.db.execute(f"CREATE TABLE gone_{index} (ref TEXT PRIMARY KEY)")
            self.db.execute(f"CREATE TABLE known_{index} (ref TEXT PRIMARY KEY)")

    def close(self) -> None:
        """Commit nothing (the store is throw-away) and release the file."""
        self.db.close()

    # -- rejects -------------------------------------------------------------------------------

    def where(self, file: int, line: int, *, relative_to: int | None = None) -> str:
        """'line 12', or 'line 12 of b.csv' when it is another file than ``relative_to``."""
        if relative_to is None or relative_to == file:
            return f"line {line}"
        return f"line {line} of {self.files[file]}"

    def add_reject(
        self,
        tbl: int,
        file: int,
        line: int,
        ref: str,
        col: str,
        val: str,
        reason: str,
        code: str,
        *,
        remember: bool = True,
    ) -> None:
        """A rejected row (or item); its reference is remembered as rejected for its children
        unless the item itself goes on (``remember=False``: a dropped duplicate, a conflict)."""
        texts = [_storable(t) for t in (ref, col, val, reason)]
        self.db.execute(
            "INSERT INTO rejects VALUES (?, ?, ?, ?, ?, ?, ?, ?)", (file, line, tbl, *texts, code)
        )
        if ref and remember:
            self.db.execute(f"INSERT OR IGNORE INTO gone_{tbl} VALUES (?)", (texts[0],))

    def reject_row(
        self, tbl: int, file: int, line: int, ref: str, col: str, val: str, reason: str, code: str
    ) -> None:
        """A source row that gives the table nothing."""
        self.tables[tbl].counts.rows_in += 1
        self.tables[tbl].counts.rejected += 1
        self.add_reject(tbl, file, line, ref, col, val, reason, code)

    def reject_item(self, tbl: int, ref: str, col: str, val: str, reason: str, code: str) -> None:
        """Remove a stored item (every row merged into it) and record why."""
        found = self.db.execute(
            f"SELECT file, line, nrows FROM items_{tbl} WHERE ref = ?", (ref,)
        ).fetchone()
        if found is None:
            return
        file, line, nrows = found
        if nrows > 1:
            reason += f" (the {nrows - 1} other row(s) merged into this item are rejected with it)"
        self.db.execute(f"DELETE FROM items_{tbl} WHERE ref = ?", (ref,))
        counts = self.tables[tbl].counts
        counts.rejected += nrows
        counts.merged -= nrows - 1
        self.add_reject(tbl, file, line, ref, col, val, reason, code)

    # -- items ---------------------------------------------------------------------------------

    def _load(self, tbl: int, refs: Sequence[str]) -> dict[str, _Held]:
        held: dict[str, _Held] = {}
        for batch in _chunks(refs):
            marks = ",".join("?" * len(batch))
            query = (
                f"SELECT ref, file, line, nrows, vals, dup FROM items_{tbl} WHERE ref IN ({marks})"
            )
            for ref, file, line, nrows, vals, dup in self.db.execute(query, batch):
                held[ref] = _Held(file, line, nrows, json.loads(vals), dup, new=False)
        return held

    def add(self, tbl: int, contributions: Sequence[Contribution]) -> None:
        """Add a chunk of one table's items, applying its duplicate policy, in row order."""
        table = self.tables[tbl]
        counts = table.counts
        held = self._load(tbl, list(dict.fromkeys(c.ref for c in contributions)))
        for c in contributions:
            counts.rows_in += 1
            first = held.get(c.ref)
            if first is None:
                held[c.ref] = _Held(c.file, c.line, 1, c.values, 0, new=True)
            elif table.plan.policy is DuplicatePolicy.MERGE:
                self._merge(tbl, first, c)
            else:
                self._duplicate(tbl, first, c)
        new_rows = []
        changed_rows = []
        for ref, item in held.items():
            if item.new:
                self._seq += 1
                new_rows.append(
                    (
                        ref,
                        self._seq,
                        item.file,
                        item.line,
                        item.nrows,
                        json.dumps(item.values),
                        item.dup,
                    )
                )
            elif item.changed:
                changed_rows.append((item.nrows, json.dumps(item.values), item.dup, ref))
        self.db.executemany(f"INSERT INTO items_{tbl} VALUES (?, ?, ?, ?, ?, ?, ?)", new_rows)
        self.db.executemany(
            f"UPDATE items_{tbl} SET nrows = ?, vals = ?, dup = ? WHERE ref = ?", changed_rows
        )

    def _duplicate(self, tbl: int, first: _Held, c: Contribution) -> None:
        table = self.tables[tbl]
        table.counts.duplicates += 1
        table.counts.rejected += 1
        first_at = self.where(first.file, first.line, relative_to=c.file)
        if table.plan.policy is DuplicatePolicy.REJECT:
            first.dup += 1
            first.changed = True
            reason = (
                f"reference {c.ref!r} repeats the one on {first_at}; this table rejects every row "
                "of a duplicated reference (on_duplicate: reject)"
            )
        else:
            reason = (
                f"reference {c.ref!r} repeats the one on {first_at}, which is kept "
                "(on_duplicate: first)"
            )
        self.add_reject(
            tbl,
            c.file,
            c.line,
            c.ref,
            table.plan.reference,
            c.ref,
            reason,
            "duplicate",
            remember=False,
        )

    def _merge(self, tbl: int, first: _Held, c: Contribution) -> None:
        table = self.tables[tbl]
        for index, (kept, given) in enumerate(zip(first.values, c.values, strict=True)):
            if kept is not None and given is not None and kept != given:
                column = table.plan.columns[index].name
                first_at = self.where(first.file, first.line, relative_to=c.file)
                # the advice (collect a list, declare continuation rows) is the engine's text
                reason = (
                    f"conflict: rows of {c.ref!r} disagree on {column!r}: this row has "
                    f"{shown(given)!r}, {first_at} has {shown(kept)!r}; "
                    + conflict_advice(table.plan, index, c.values, first_at)
                )
                table.counts.conflicts += 1
                table.counts.rejected += 1
                self.add_reject(
                    tbl,
                    c.file,
                    c.line,
                    c.ref,
                    table.sources[index],
                    shown(given),
                    reason,
                    "conflict",
                    remember=False,
                )
                return
        for index, given in enumerate(c.values):
            if first.values[index] is None and given is not None:
                first.values[index] = given
        first.nrows += 1
        first.changed = True
        table.counts.merged += 1

    def reject_duplicated(self) -> None:
        """on_duplicate: reject — the first row of each duplicated reference goes as well."""
        for tbl, table in enumerate(self.tables):
            if table.plan.policy is not DuplicatePolicy.REJECT:
                continue
            rows = self.db.execute(f"SELECT ref, dup FROM items_{tbl} WHERE dup > 0").fetchall()
            for ref, dup in rows:
                self.reject_item(
                    tbl,
                    ref,
                    table.plan.reference,
                    ref,
                    f"reference {ref!r} appears on {dup + 1} rows; this table rejects every row "
                    "of a duplicated reference (on_duplicate: reject)",
                    "duplicate",
                )

    def count_items(self, tbl: int) -> int:
        """Items stored for a table."""
        return int(self.db.execute(f"SELECT COUNT(*) FROM items_{tbl}").fetchone()[0])

    def iter_items(self, tbl: int, size: int) -> Iterator[list[tuple[str, int, int, str]]]:
        """(ref, file, line, values as JSON) in source order, ``size`` at a time."""
        cursor = self.db.execute(f"SELECT ref, file, line, vals FROM items_{tbl} ORDER BY seq")
        while batch := cursor.fetchmany(size):
            yield batch
