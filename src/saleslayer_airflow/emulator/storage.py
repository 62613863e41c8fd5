"""The emulator's persistent store: items of every table, their changelog, import jobs and seen
signatures.

One SQLite file (stdlib ``sqlite3``); everything survives a restart. Deleted items stay as rows
with status ``X`` so the inspection dump can show them; the APIs never return them.
"""

from __future__ import annotations

import json
import sqlite3
import threading
from collections.abc import Iterable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

_SCHEMA = """
CREATE TABLE IF NOT EXISTS items (
    tbl TEXT NOT NULL, id INTEGER NOT NULL, ref TEXT NOT NULL, status TEXT NOT NULL,
    fields TEXT NOT NULL, links TEXT NOT NULL, created TEXT NOT NULL, modified TEXT NOT NULL,
    deleted INTEGER NOT NULL DEFAULT 0, PRIMARY KEY (tbl, id)
);
CREATE INDEX IF NOT EXISTS items_by_ref ON items (tbl, ref, deleted);
CREATE TABLE IF NOT EXISTS sequences (tbl TEXT PRIMARY KEY, last_id INTEGER NOT NULL);
CREATE TABLE IF NOT EXISTS jobs (
    id TEXT PRIMARY KEY, connector TEXT NOT NULL, created REAL NOT NULL, status TEXT NOT NULL,
    polls INTEGER NOT NULL DEFAULT 0, batch TEXT NOT NULL, counts TEXT NOT NULL,
    message TEXT NOT NULL DEFAULT '', will_fail INTEGER NOT NULL DEFAULT 0,
    finished REAL
);
CREATE TABLE IF NOT EXISTS changelog (
    id INTEGER PRIMARY KEY, tbl TEXT NOT NULL, entity_id INTEGER NOT NULL, ref TEXT NOT NULL,
    action TEXT NOT NULL, date TEXT NOT NULL, author TEXT NOT NULL
);
CREATE INDEX IF NOT EXISTS changelog_by_table ON changelog (tbl, id);
CREATE TABLE IF NOT EXISTS uniques (
    code TEXT NOT NULL, value TEXT NOT NULL, seen REAL NOT NULL, PRIMARY KEY (code, value)
);
"""

FieldValue = str | list[str] | dict[str, str]
"""A stored attribute value: text, a list (multi-value field) or {culture: text}."""


def now_iso() -> str:
    """The current UTC time as stored in ``*_creation``/``*_modify`` (ISO 8601, ``Z``)."""
    return datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%S.%fZ")


@dataclass
class Item:
    """One item of one table. ``links`` maps a link's reference field to the target ids."""

    table: str
    id: int
    ref: str
    status: str
    fields: dict[str, FieldValue] = field(default_factory=dict)
    links: dict[str, list[int]] = field(default_factory=dict)
    created: str = ""
    modified: str = ""
    deleted: bool = False


@dataclass
class Job:
    """One accepted Import Connector call, tracked until it ends (or fails)."""

    id: str
    connector: str
    created: float
    status: str
    polls: int
    batch: dict[str, Any]
    counts: dict[str, Any]
    message: str = ""
    will_fail: bool = False
    finished: float | None = None
    percent: int = 0
    """Progress shown by the last advance (not stored: it follows from polls and time)."""


def _item(row: sqlite3.Row) -> Item:
    return Item(
        table=row["tbl"],
        id=row["id"],
        ref=row["ref"],
        status=row["status"],
        fields=json.loads(row["fields"]),
        links=json.loads(row["links"]),
        created=row["created"],
        modified=row["modified"],
        deleted=bool(row["deleted"]),
    )


def _job(row: sqlite3.Row) -> Job:
    return Job(
        id=row["id"],
        connector=row["connector"],
        created=row["created"],
        status=row["status"],
        polls=row["polls"],
        batch=json.loads(row["batch"]),
        counts=json.loads(row["counts"]),
        message=row["message"],
        will_fail=bool(row["will_fail"]),
        finished=row["finished"],
    )


AUTHOR_API = "api"
"""``author_type`` of changelog records written through the Catalog REST API (the default)."""
AUTHOR_CONNECTOR = "unknown"
"""``author_type`` of records written by Import Connector jobs (the real value is not known)."""


class Storage:
    """Thread-safe access to the SQLite file; one lock serialises every statement.

    Every insert, save and delete of an item also appends a changelog record, in the same
    transaction; within one outer transaction an item gets at most one ``create``/``update``
    record (a create followed by the saves that fill it is one ``create``).
    """

    def __init__(self, path: Path | str) -> None:
        self.path = str(path)
        self._lock = threading.RLock()
        self._conn = sqlite3.connect(self.path, check_same_thread=False, isolation_level=None)
        self._conn.row_factory = sqlite3.Row
        with self._lock:
            if self.path != ":memory:":
                self._conn.execute("PRAGMA journal_mode=WAL")
            self._conn.executescript(_SCHEMA)
        self._depth = 0
        self._logged: set[tuple[str, int]] = set()
        self._author = threading.local()

    def close(self) -> None:
        """Close the connection."""
        with self._lock:
            self._conn.close()

    @contextmanager
    def transaction(self) -> Iterator[None]:
        """All statements inside commit together or not at all (nestable)."""
        with self._lock:
            if self._depth == 0:
                self._conn.execute("BEGIN IMMEDIATE")
                self._logged.clear()
            self._depth += 1
            try:
                yield
            except BaseException:
                self._depth -= 1
                if self._depth == 0:
                    self._logged.clear()
                    self._conn.execute("ROLLBACK")
                raise
            self._depth -= 1
            if self._depth == 0:
                self._logged.clear()
                self._conn.execute("COMMIT")

    @contextmanager
    def authored_by(self, author: str) -> Iterator[None]:
        """Changelog records written by this thread inside the block carry ``author``."""
        previous = getattr(self._author, "name", AUTHOR_API)
        self._author.name = author
        try:
            yield
        finally:
            self._author.name = previous

    def _log(self, table: str, item_id: int, action: str, stamp: str) -> None:
        """Append a changelog record; the reference is read from the item row."""
        if action != "delete":
            if (table, item_id) in self._logged:
                return
            self._logged.add((table, item_id))
        self._execute(
            "INSERT INTO changelog (tbl, entity_id, ref, action, date, author) "
            "SELECT tbl, id, ref, ?, ?, ? FROM items WHERE tbl = ? AND id = ?",
            (action, stamp, getattr(self._author, "name", AUTHOR_API), table, item_id),
        )

    def _query(self, sql: str, params: Iterable[Any] = ()) -> list[sqlite3.Row]:
        with self._lock:
            return list(self._conn.execute(sql, tuple(params)))

    def _execute(self, sql: str, params: Iterable[Any] = ()) -> None:
        with self._lock:
            self._conn.execute(sql, tuple(params))

    # items -------------------------------------------------------------------------------

    def get(self, table: str, item_id: int) -> Item | None:
        """The live (not deleted) item with this id."""
        rows = self._query(
            "SELECT * FROM items WHERE tbl = ? AND id = ? AND deleted = 0", (table, item_id)
        )
        return _item(rows[0]) if rows else None

    def live_items(self, table: str) -> list[Item]:
        """Every live item of a table, by id."""
        rows = self._query(
            "SELECT * FROM items WHERE tbl = ? AND deleted = 0 ORDER BY id", (table,)
        )
        return [_item(row) for row in rows]

    def all_items(self, table: str) -> list[Item]:
        """Every item of a table, deleted ones included, by id."""
        return [
            _item(r) for r in self._query("SELECT * FROM items WHERE tbl = ? ORDER BY id", (table,))
        ]

    def by_refs(self, table: str, refs: Iterable[str]) -> dict[str, Item]:
        """Live items by reference; when a reference is held twice, the lowest id wins."""
        wanted = sorted(set(refs))
        found: dict[str, Item] = {}
        for start in range(0, len(wanted), 500):
            chunk = wanted[start : start + 500]
            marks = ",".join("?" * len(chunk))
            # No ORDER BY here: it would make SQLite walk the primary key instead of the
            # reference index (quadratic imports); the lowest id is picked below.
            rows = self._query(
                f"SELECT * FROM items WHERE tbl = ? AND deleted = 0 AND ref IN ({marks})",
                (table, *chunk),
            )
            for row in sorted(rows, key=lambda r: -int(r["id"])):
                found[row["ref"]] = _item(row)
        return found

    def refs_of(self, table: str, ids: Iterable[int]) -> dict[int, str]:
        """References of the live items among ``ids``."""
        wanted = sorted(set(ids))
        out: dict[int, str] = {}
        for start in range(0, len(wanted), 500):
            chunk = wanted[start : start + 500]
            marks = ",".join("?" * len(chunk))
            rows = self._query(
                f"SELECT id, ref FROM items WHERE tbl = ? AND deleted = 0 AND id IN ({marks})",
                (table, *chunk),
            )
            out.update({row["id"]: row["ref"] for row in rows})
        return out

    def insert(
        self,
        table: str,
        ref: str,
        status: str,
        fields: dict[str, FieldValue],
        links: dict[str, list[int]],
    ) -> Item:
        """Create an item with the next id of its table."""
        with self.transaction():
            rows = self._query("SELECT last_id FROM sequences WHERE tbl = ?", (table,))
            new_id = (rows[0]["last_id"] if rows else 0) + 1
            self._execute(
                "INSERT INTO sequences (tbl, last_id) VALUES (?, ?) "
                "ON CONFLICT (tbl) DO UPDATE SET last_id = excluded.last_id",
                (table, new_id),
            )
            stamp = now_iso()
            item = Item(table, new_id, ref, status, fields, links, stamp, stamp)
            self._execute(
                "INSERT INTO items (tbl, id, ref, status, fields, links, created, modified, "
                "deleted) VALUES (?, ?, ?, ?, ?, ?, ?, ?, 0)",
                (table, new_id, ref, status, json.dumps(fields), json.dumps(links), stamp, stamp),
            )
            self._log(table, new_id, "create", stamp)
        return item

    def save(self, item: Item) -> None:
        """Write an item's status, fields and links back, stamping ``modified``."""
        item.modified = now_iso()
        with self.transaction():
            self._save(item)

    def _save(self, item: Item) -> None:
        self._execute(
            "UPDATE items SET ref = ?, status = ?, fields = ?, links = ?, modified = ? "
            "WHERE tbl = ? AND id = ?",
            (
                item.ref,
                item.status,
                json.dumps(item.fields),
                json.dumps(item.links),
                item.modified,
                item.table,
                item.id,
            ),
        )
        self._log(item.table, item.id, "update", item.modified)

    def delete(self, table: str, item_id: int) -> None:
        """Mark an item deleted (status ``X``)."""
        stamp = now_iso()
        with self.transaction():
            self._execute(
                "UPDATE items SET status = 'X', deleted = 1, modified = ? WHERE tbl = ? AND id = ?",
                (stamp, table, item_id),
            )
            self._log(table, item_id, "delete", stamp)

    def children(self, table: str, link_field: str, parent_id: int) -> list[Item]:
        """Live items of ``table`` whose ``link_field`` link holds ``parent_id``."""
        rows = self._query(
            "SELECT * FROM items WHERE tbl = ? AND deleted = 0 AND EXISTS ("
            "SELECT 1 FROM json_each(items.links, '$.' || ?) WHERE value = ?) ORDER BY id",
            (table, link_field, parent_id),
        )
        return [_item(row) for row in rows]

    def with_refs(self, table: str, refs: Iterable[str]) -> list[Item]:
        """Every live item holding one of ``refs`` (duplicates included), by id."""
        wanted = sorted(set(refs))
        items: list[Item] = []
        for start in range(0, len(wanted), 500):
            chunk = wanted[start : start + 500]
            marks = ",".join("?" * len(chunk))
            rows = self._query(
                f"SELECT * FROM items WHERE tbl = ? AND deleted = 0 AND ref IN ({marks})",
                (table, *chunk),
            )
            items += [_item(row) for row in rows]
        return sorted(items, key=lambda item: item.id)

    def with_ids(self, table: str, ids: Iterable[int]) -> list[Item]:
        """Every live item among ``ids``, by id."""
        wanted = sorted(set(ids))
        items: list[Item] = []
        for start in range(0, len(wanted), 500):
            chunk = wanted[start : start + 500]
            marks = ",".join("?" * len(chunk))
            rows = self._query(
                f"SELECT * FROM items WHERE tbl = ? AND deleted = 0 AND id IN ({marks}) "
                "ORDER BY id",
                (table, *chunk),
            )
            items += [_item(row) for row in rows]
        return items

    def clear(self) -> None:
        """Remove every item, job and seen signature (the admin reset)."""
        with self.transaction():
            for table in ("items", "sequences", "jobs", "uniques", "changelog"):
                self._execute(f"DELETE FROM {table}")

    # changelog ---------------------------------------------------------------------------

    def changelog(self, table: str) -> list[dict[str, Any]]:
        """Every changelog record of a table, oldest first, in the REST record shape."""
        rows = self._query("SELECT * FROM changelog WHERE tbl = ? ORDER BY id", (table,))
        return [
            {
                "id": row["id"],
                "entity_id": row["entity_id"],
                "reference": row["ref"],
                "action": row["action"],
                "date": row["date"],
                "author_type": row["author"],
            }
            for row in rows
        ]

    # jobs --------------------------------------------------------------------------------

    def add_job(self, job: Job) -> None:
        """Persist a new job."""
        self._execute(
            "INSERT INTO jobs (id, connector, created, status, polls, batch, counts, message, "
            "will_fail, finished) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
            (
                job.id,
                job.connector,
                job.created,
                job.status,
                job.polls,
                json.dumps(job.batch),
                json.dumps(job.counts),
                job.message,
                int(job.will_fail),
                job.finished,
            ),
        )

    def save_job(self, job: Job) -> None:
        """Write a job's progress back."""
        self._execute(
            "UPDATE jobs SET status = ?, polls = ?, counts = ?, message = ?, finished = ? "
            "WHERE id = ?",
            (job.status, job.polls, json.dumps(job.counts), job.message, job.finished, job.id),
        )

    def job(self, job_id: str) -> Job | None:
        """The job with this id."""
        rows = self._query("SELECT * FROM jobs WHERE id = ?", (job_id,))
        return _job(rows[0]) if rows else None

    def open_jobs(self, connector: str | None = None) -> list[Job]:
        """Jobs that have not ended, oldest first (optionally of one connector)."""
        sql = "SELECT * FROM jobs WHERE status IN ('prepare', 'started')"
        params: tuple[Any, ...] = ()
        if connector is not None:
            sql += " AND connector = ?"
            params = (connector,)
        return [_job(row) for row in self._query(sql + " ORDER BY created, id", params)]

    def job_counts(self) -> dict[str, int]:
        """How many jobs are in each status."""
        rows = self._query("SELECT status, count(*) AS n FROM jobs GROUP BY status")
        return {row["status"]: int(row["n"]) for row in rows}

    # signatures --------------------------------------------------------------------------

    def remember_unique(self, code: str, unique: str, now: float, window: float) -> bool:
        """Record a (code, unique) pair; False if it was already seen within ``window`` s."""
        with self.transaction():
            self._execute("DELETE FROM uniques WHERE seen < ?", (now - window,))
            if self._query("SELECT 1 FROM uniques WHERE code = ? AND value = ?", (code, unique)):
                return False
            self._execute(
                "INSERT INTO uniques (code, value, seen) VALUES (?, ?, ?)", (code, unique, now)
            )
        return True
