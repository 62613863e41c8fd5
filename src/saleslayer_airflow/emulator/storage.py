"""The emulator's persistent store: items of every table, their changelog, import jobs and seen
signatures.

One SQLite file (stdlib ``sqlite3``); everything survives a restart. Deleted items stay as rows
with status ``X`` so the inspection dump can show them; the APIs never return them.
"""

from __future__ import annotations

import json
import sqlite3
import threading
from collections.abc import Callable, Iterable, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, NamedTuple

_SCHEMA = """
CREATE TABLE IF NOT EXISTS items (
    tbl TEXT NOT NULL, id INTEGER NOT NULL, ref TEXT NOT NULL, status TEXT NOT NULL,
    fields TEXT NOT NULL, links TEXT NOT NULL, created TEXT NOT NULL, modified TEXT NOT NULL,
    deleted INTEGER NOT NULL DEFAULT 0, PRIMARY KEY (tbl, id)
) WITHOUT ROWID;
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

# Items are clustered by (table, id), without a rowid: a lookup by id is one b-tree search and
# the reference index holds the id (a file made before keeps its rowid table; the statements
# are the same).
_CHUNK = 900
"""References or ids per ``IN (...)`` lookup: large enough that a 5,000-item call takes a few
statements, below SQLite's 999-parameter limit of old builds."""

FieldValue = str | list[str] | dict[str, str]
"""A stored attribute value: text, a list (multi-value field) or {culture: text}."""


def _not_json(value: object) -> object:
    raise TypeError(f"a {type(value).__name__} is not JSON-serialisable")


def _item_json_encoder() -> Callable[[object], str]:
    """``json.dumps`` with its default settings, minus its per-call set-up (building an encoder
    each time), which costs more than encoding a small item: the C encoder, built once. Where
    there is none, or it does not answer as ``json.dumps`` does, ``json.dumps`` itself."""
    make = getattr(json.encoder, "c_make_encoder", None)
    try:
        encode = make(  # type: ignore[misc]
            None,
            _not_json,
            json.encoder.encode_basestring_ascii,
            None,
            ": ",
            ", ",
            False,
            False,
            True,
        )
        sample = {"a": ["b", 1], "c": {"é": None, "d": '"\n'}}

        def dumps(value: object) -> str:
            return "".join(encode(value, 0))

        if dumps(sample) == json.dumps(sample):
            return dumps
    except Exception:  # any other Python: the standard function
        pass
    return json.dumps


item_json = _item_json_encoder()
"""An item's ``fields`` (or ``links``) as stored: ``json.dumps(value)``, about twice as fast."""

_BATCH_JSON = json.JSONEncoder(separators=(",", ":"), check_circular=False)
"""A job's call as stored: compact, and not checked for cycles (it is plain rows) to save a
third of the encoding time of a large call."""


def call_refs_json(batch: dict[str, Any]) -> str:
    """A call (an ``importer.Batch``) as an ended job keeps it: the references it upserted per
    table (``{"ref": ...}`` rows), those it deleted, its duplicates; ``_BATCH_JSON`` of that
    reduced call, written directly (one encoded reference per row)."""
    encode = json.encoder.encode_basestring_ascii
    upserts = ",".join(
        encode(table) + ':[{"ref":' + '},{"ref":'.join([encode(row["ref"]) for row in rows]) + "}]"
        if rows
        else encode(table) + ":[]"
        for table, rows in batch["upserts"].items()
    )
    rest = _BATCH_JSON.encode({"deletes": batch["deletes"], "duplicates": batch["duplicates"]})
    return '{"upserts":{' + upserts + "}," + rest[1:]


JOB_COLUMNS = "columns"
"""The key of a job's batch that holds its call as columns (``bulk.job_batch``), beside the
references it upserts."""


def _open_batch_json(batch: dict[str, Any]) -> str:
    """The batch of an open job as stored: a call kept as columns with its references written
    directly (:func:`call_refs_json`), its columns as JSON lists; any other call whole."""
    columns = batch.get(JOB_COLUMNS)
    if columns is None:
        return _BATCH_JSON.encode(batch)
    return f'{call_refs_json(batch)[:-1]},"{JOB_COLUMNS}":{_BATCH_JSON.encode(columns)}}}'


def links_json(links: dict[str, list[int]]) -> str:
    """``json.dumps(links)``, written directly: link fields are plain names (the tenant model's
    pattern) and targets are integer ids, so nothing needs escaping; twice as fast, and an
    import writes one per item."""
    return (
        "{"
        + ", ".join([f'"{name}": [{", ".join(map(str, ids))}]' for name, ids in links.items()])
        + "}"
    )


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


class ItemPatch(NamedTuple):
    """A change to a stored item, applied without reading it: ``fields`` and ``links`` are JSON
    merge patches (RFC 7396: a member set to null is removed, objects merge, anything else
    replaces), ``status`` None keeps the status."""

    table: str
    id: int
    ref: str
    status: str | None
    fields: str
    links: str
    modified: str


NewItemRow = tuple[str, int, str, str, str, str, str, str]
"""An item to insert as its row: table, id, reference, status, fields and links as stored
(:data:`item_json`, :func:`links_json`), created, modified."""


def new_item_row(item: Item) -> NewItemRow:
    """The row that inserts ``item`` (links to integer ids only: see :func:`links_json`)."""
    return (
        item.table,
        item.id,
        item.ref,
        item.status,
        item_json(item.fields),
        links_json(item.links),
        item.created,
        item.modified,
    )


@dataclass
class Job:
    """One accepted Import Connector call, tracked until it ends (or fails).

    ``batch`` is read back from the store only while the job is open (empty otherwise): an ended
    job never applies it again, and decoding a 5,000-item call on every tracking poll cost about
    as much as applying it. A job that ends as it is accepted (applied at once) is stored with
    the references of its call only (:func:`call_refs_json`): its values are in the items it
    wrote, and encoding them again cost a sixth of applying the call. An open job of the column
    path keeps its call as columns beside those references (``JOB_COLUMNS``).
    """

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


_JOB_COLUMNS = (
    "id, connector, created, status, polls, message, will_fail, finished, counts, "
    "CASE WHEN status IN ('prepare', 'started') THEN batch ELSE '{}' END AS batch"
)
"""A job row as :func:`_job` reads it: the batch of an ended job is not even read (see Job)."""
_JOB_COLUMNS_NO_BATCH = _JOB_COLUMNS.rsplit("CASE", 1)[0] + "'{}' AS batch"
"""A job row without its batch (``{}``): what a tracking poll needs, unless the job ends."""

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
            # 16 KB pages in a new file (an existing file keeps its own: SQLite ignores this
            # once a table exists): an item row of a few hundred bytes is a large part of a
            # 4 KB page of the clustered items table, and bulk inserts and updates of an import
            # call spent a fifth more time splitting and rewriting pages.
            self._conn.execute("PRAGMA page_size=16384")
            if self.path != ":memory:":
                self._conn.execute("PRAGMA journal_mode=WAL")
                # No fsync at all: what the emulator promises is that a restart (of the process,
                # killed or not) loses nothing, and a commit handed to the operating system
                # survives that; only a crash of the machine could lose or damage the file, and
                # the emulator is a local test double, not a store of record. NORMAL would still
                # fsync at every checkpoint of a large import.
                self._conn.execute("PRAGMA synchronous=OFF")
                # Copy the log into the file every 64 MB rather than 4 MB: a large import call
                # writes several MB, and pages it rewrites are then copied once, not each time.
                self._conn.execute("PRAGMA wal_autocheckpoint=16384")
            # 64 MB of page cache (the default is 2 MB): the reference lookups and updates of a
            # large import stay in memory.
            self._conn.execute("PRAGMA cache_size=-65536")
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

    def live_count(self, table: str) -> int:
        """How many live items a table holds (counted by SQLite, no item read)."""
        return int(
            self._rows("SELECT count(*) FROM items WHERE tbl = ? AND deleted = 0", (table,))[0][0]
        )

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

    def refs_by_ids(self, table: str, ids: Iterable[int]) -> dict[int, tuple[str, bool]]:
        """Reference and deleted flag of the items among ``ids``, deleted ones included (an
        Import Connector row may name an item by its ``ID``)."""
        wanted = sorted(set(ids))
        out: dict[int, tuple[str, bool]] = {}
        for start in range(0, len(wanted), _CHUNK):
            chunk = wanted[start : start + _CHUNK]
            marks = ",".join("?" * len(chunk))
            rows = self._rows(
                f"SELECT id, ref, deleted FROM items WHERE tbl = ? AND id IN ({marks})",
                (table, *chunk),
            )
            out.update({item_id: (ref, bool(deleted)) for item_id, ref, deleted in rows})
        return out

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

    # bulk writes of import calls ------------------------------------------------------------
    # One statement per chunk of references and one executemany per kind of write, instead of
    # a statement (and a JSON decode) per item: an import call of 5,000 items is a few dozen
    # statements.

    def _rows(self, sql: str, params: Iterable[Any]) -> list[tuple[Any, ...]]:
        """Rows as plain tuples (cheaper than :class:`sqlite3.Row` for bulk reads)."""
        with self._lock:
            cursor = self._conn.cursor()
            cursor.row_factory = None
            return cursor.execute(sql, tuple(params)).fetchall()

    def ids_by_refs(self, table: str, refs: Iterable[str]) -> dict[str, int]:
        """Ids of the live items holding ``refs``; when a reference is held twice, the lowest id
        (as :meth:`by_refs`), without reading the items."""
        wanted = list(set(refs))
        found: dict[str, int] = {}
        for start in range(0, len(wanted), _CHUNK):
            chunk = wanted[start : start + _CHUNK]
            marks = ",".join("?" * len(chunk))
            # No GROUP BY: a reference is held once but for a REST write's duplicate, and
            # grouping cost a third of the lookup; the lowest id is picked here when it is not.
            rows = self._rows(
                f"SELECT ref, id FROM items WHERE tbl = ? AND deleted = 0 AND ref IN ({marks})",
                (table, *chunk),
            )
            by_ref = dict(rows)
            if len(by_ref) != len(rows):
                by_ref = {}
                for ref, item_id in rows:
                    if ref not in by_ref or item_id < by_ref[ref]:
                        by_ref[ref] = item_id
            found.update(by_ref)
        return found

    def items_by_ids(self, table: str, ids: Iterable[int]) -> dict[int, Item]:
        """The live items among ``ids``, by id."""
        wanted = list(set(ids))
        found: dict[int, Item] = {}
        loads = json.loads
        for start in range(0, len(wanted), _CHUNK):
            chunk = wanted[start : start + _CHUNK]
            marks = ",".join("?" * len(chunk))
            rows = self._rows(
                "SELECT id, ref, status, fields, links, created, modified FROM items "
                f"WHERE tbl = ? AND deleted = 0 AND id IN ({marks})",
                (table, *chunk),
            )
            for item_id, ref, status, fields, links, created, modified in rows:
                found[item_id] = Item(
                    table, item_id, ref, status, loads(fields), loads(links), created, modified
                )
        return found

    def reserve_ids(self, table: str, count: int) -> int:
        """Take the next ``count`` ids of a table; the first of them."""
        with self.transaction():
            rows = self._rows("SELECT last_id FROM sequences WHERE tbl = ?", (table,))
            first = (int(rows[0][0]) if rows else 0) + 1
            self._execute(
                "INSERT INTO sequences (tbl, last_id) VALUES (?, ?) "
                "ON CONFLICT (tbl) DO UPDATE SET last_id = excluded.last_id",
                (table, first + count - 1),
            )
        return first

    def write_items(
        self, created: Sequence[NewItemRow], updated: Sequence[Item | ItemPatch]
    ) -> None:
        """Insert ``created`` (ids from :meth:`reserve_ids`), write ``updated`` back (an item
        whole, ``modified`` included; a patch merged into the stored item), with their changelog
        records: the creates, then the updates, each in the order given; an item already logged
        in this transaction is not logged again (as :meth:`insert` and :meth:`save`)."""
        dumps = item_json
        author = getattr(self._author, "name", AUTHOR_API)
        whole = [item for item in updated if isinstance(item, Item)]
        patches = [item for item in updated if not isinstance(item, Item)]
        with self.transaction():
            # A created item has a new id: it cannot have been logged before in this
            # transaction.
            records = [(t, i, r, "create", m, author) for t, i, r, _, _, _, _, m in created]
            self._logged.update([(row[0], row[1]) for row in created])
            keys = [(item.table, item.id) for item in updated]
            distinct = set(keys)
            # The usual case: items given once each, none logged yet in this transaction.
            if len(distinct) == len(keys) and self._logged.isdisjoint(distinct):
                self._logged |= distinct
                records += [(i.table, i.id, i.ref, "update", i.modified, author) for i in updated]
            else:
                for key, item in zip(keys, updated, strict=True):
                    if key not in self._logged:
                        self._logged.add(key)
                        records.append((*key, item.ref, "update", item.modified, author))
            self._conn.executemany(
                "INSERT INTO items (tbl, id, ref, status, fields, links, created, modified, "
                "deleted) VALUES (?, ?, ?, ?, ?, ?, ?, ?, 0)",
                created,
            )
            # The reference is not written back: an import never changes it, and leaving it
            # out spares SQLite the update of the reference index.
            self._conn.executemany(
                "UPDATE items SET status = ?, fields = ?, links = ?, modified = ? "
                "WHERE tbl = ? AND id = ?",
                [
                    (i.status, dumps(i.fields), dumps(i.links), i.modified, i.table, i.id)
                    for i in whole
                ],
            )
            self._conn.executemany(
                "UPDATE items SET status = coalesce(?, status), fields = json_patch(fields, ?), "
                "links = json_patch(links, ?), modified = ? WHERE tbl = ? AND id = ?",
                [(p.status, p.fields, p.links, p.modified, p.table, p.id) for p in patches],
            )
            self._conn.executemany(
                "INSERT INTO changelog (tbl, entity_id, ref, action, date, author) "
                "VALUES (?, ?, ?, ?, ?, ?)",
                records,
            )

    def delete_many(self, table: str, ids: Sequence[int]) -> None:
        """Mark items deleted (status ``X``), logging each in the order given (as
        :meth:`delete` one by one)."""
        if not ids:
            return
        stamp = now_iso()
        author = getattr(self._author, "name", AUTHOR_API)
        with self.transaction():
            self._conn.executemany(
                "UPDATE items SET status = 'X', deleted = 1, modified = ? WHERE tbl = ? AND id = ?",
                [(stamp, table, item_id) for item_id in ids],
            )
            self._conn.executemany(
                "INSERT INTO changelog (tbl, entity_id, ref, action, date, author) "
                "SELECT tbl, id, ref, 'delete', ?, ? FROM items WHERE tbl = ? AND id = ?",
                [(stamp, author, table, item_id) for item_id in ids],
            )

    def children_ids(self, table: str, link_field: str, parent_ids: Iterable[int]) -> list[int]:
        """Ids of the live items of ``table`` whose ``link_field`` link holds one of
        ``parent_ids``, ascending (without reading them):
        one pass over the table whatever the number of parents."""
        wanted = sorted(set(parent_ids))
        if not wanted:
            return []
        rows = self._rows(
            "SELECT DISTINCT items.id FROM items, json_each(items.links, '$.' || ?) AS link "
            "WHERE items.tbl = ? AND items.deleted = 0 "
            "AND link.value IN (SELECT value FROM json_each(?)) ORDER BY items.id",
            (link_field, table, json.dumps(wanted)),
        )
        return [row[0] for row in rows]

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
                _open_batch_json(job.batch)
                if job.status in ("prepare", "started")
                else call_refs_json(job.batch),
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

    def job(self, job_id: str, *, batch: bool = True) -> Job | None:
        """The job with this id; ``batch=False``: without its call (``batch`` is ``{}``; see
        :meth:`job_batch`)."""
        columns = _JOB_COLUMNS if batch else _JOB_COLUMNS_NO_BATCH
        rows = self._query(f"SELECT {columns} FROM jobs WHERE id = ?", (job_id,))
        return _job(rows[0]) if rows else None

    def job_batch(self, job_id: str) -> dict[str, Any]:
        """The call of an open job (``{}`` for an ended job or none): read when the job ends,
        not decoded on each poll and tick before that."""
        rows = self._query(f"SELECT {_JOB_COLUMNS} FROM jobs WHERE id = ?", (job_id,))
        return _job(rows[0]).batch if rows else {}

    def open_jobs(self, connector: str | None = None, *, batch: bool = True) -> list[Job]:
        """Jobs that have not ended, oldest first (optionally of one connector); ``batch=False``:
        without their calls (see :meth:`job`)."""
        columns = _JOB_COLUMNS if batch else _JOB_COLUMNS_NO_BATCH
        sql = f"SELECT {columns} FROM jobs WHERE status IN ('prepare', 'started')"
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
