"""The state store: a small SQL database the connectors share across runs and workers.

SQLite by default (one file, fine for one machine); PostgreSQL or any SQLAlchemy database through
an Airflow connection when tasks run on several machines. Where it is:

1. ``SALESLAYER_STATE_CONN_ID``: an Airflow connection (e.g. a Postgres connection);
2. ``SALESLAYER_STATE_URL``: an SQLAlchemy URL;
3. otherwise ``sqlite:///$AIRFLOW_HOME/saleslayer-state.sqlite``.

The URL may hold a password: it is only ever shown with the password hidden.

**Accounts.** A store handle is bound to one Sales Layer account (``StateStore.open(account=...)``,
the key :attr:`SalesLayerHook.account_key` derives from the target connection, never a secret):
items, batches and known references are read and written within that account only. A connector
re-pointed to another account therefore starts empty there (everything is created, nothing is
"unchanged" because of the other account's hashes, deletions never consider the other account's
items), and a parent imported into one account never validates a child bound for another.
Rows written before accounts were kept carry :data:`LEGACY_ACCOUNT`; see :meth:`adopt_legacy`.
"""

from __future__ import annotations

import json
import operator
import os
from collections.abc import Iterable, Iterator, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from itertools import repeat
from pathlib import Path
from typing import TYPE_CHECKING, Any

from saleslayer_airflow.exceptions import StateStoreError
from saleslayer_airflow.state.schema import LEGACY_ACCOUNT, migrate, tables

if TYPE_CHECKING:
    import polars as pl

__all__ = [
    "LEGACY_ACCOUNT",
    "AppliedColumns",
    "AppliedItem",
    "BatchTotals",
    "ItemState",
    "StateStore",
]

STATE_URL_ENV = "SALESLAYER_STATE_URL"
STATE_CONN_ENV = "SALESLAYER_STATE_CONN_ID"

#: References per IN (...) query: well below SQLite's and PostgreSQL's parameter limits.
_CHUNK = 500
#: Rows fetched at once when the state of a whole table is read.
_STREAM = 100_000


@dataclass(frozen=True)
class ItemState:
    """What was last applied to one item in Sales Layer."""

    content_hash: str
    saleslayer_id: int | None
    export_date: datetime
    deleted: bool = False
    content: dict[str, Any] | None = None
    run_id: str = ""


@dataclass(frozen=True)
class BatchTotals:
    """What the acknowledged batches of one run and table did, over all attempts."""

    batches: int = 0
    created: int = 0
    updated: int = 0


@dataclass(frozen=True)
class AppliedItem:
    """One item Sales Layer acknowledged in this run."""

    reference: str
    content_hash: str
    export_date: datetime
    saleslayer_id: int | None = None
    deleted: bool = False
    content: dict[str, Any] | None = None


@dataclass(frozen=True)
class AppliedColumns:
    """Items Sales Layer acknowledged in this run, as columns (one entry per item): what the
    push of a staged file checkpoints without an object per item. ``contents``: each item's
    content already encoded as JSON (any JSON object whose ``json.loads`` gives its fields), or
    None; ``saleslayer_ids``: None when none is known."""

    references: Sequence[str]
    content_hashes: Sequence[str]
    contents: Sequence[str | None]
    export_date: datetime
    saleslayer_ids: Sequence[int | None] | None = None


def naive_utc(value: datetime) -> datetime:
    """How the store keeps times: UTC without tzinfo (portable across SQLite and PostgreSQL)."""
    return value.astimezone(UTC).replace(tzinfo=None) if value.tzinfo else value


def _chunks(values: Sequence[str], size: int = _CHUNK) -> Iterator[Sequence[str]]:
    for start in range(0, len(values), size):
        yield values[start : start + size]


#: The columns of an item row, in the order :func:`_item_rows` gives them.
_ITEM_COLUMNS = (
    "account",
    "connector_id",
    "table_name",
    "reference",
    "content_hash",
    "content",
    "saleslayer_id",
    "export_date",
    "deleted",
    "run_id",
    "updated_at",
)
_ITEM_KEY = _ITEM_COLUMNS[:4]


def _content_encoder() -> Any:
    """``json.dumps(content, sort_keys=True)``, byte for byte, built once: json.dumps and
    JSONEncoder.encode build a new C encoder on every call, a good part of a checkpoint's time
    per item. (No check for circular references: an item's fields hold none.)"""
    import json.encoder as encoder

    make = getattr(encoder, "c_make_encoder", None)
    escape = getattr(encoder, "c_encode_basestring_ascii", None)
    if make is None or escape is None:  # a Python without the json accelerator
        return json.JSONEncoder(sort_keys=True).encode
    chunks = make(
        None,
        json.JSONEncoder().default,
        escape,
        None,
        ": ",
        ", ",
        True,  # sort_keys
        False,  # skipkeys
        True,  # allow_nan
    )
    return lambda content: "".join(chunks(content, 0))


#: Encodes the content kept of an item (see :func:`_content_encoder`).
_CONTENT_JSON = _content_encoder()


def content_json(content: Any) -> str:
    """The JSON text the store keeps of an item's content (``json.dumps(content,
    sort_keys=True)``)."""
    return _CONTENT_JSON(content)  # type: ignore[no-any-return]


#: The reference of an item row (see _item_rows).
_by_reference = operator.itemgetter(_ITEM_COLUMNS.index("reference"))
_first = operator.itemgetter(0)


def _sqlite_literal(text: str) -> str:
    """An SQLite string literal of ``text`` (no NUL: the caller binds such values instead)."""
    return "'" + text.replace("'", "''") + "'"


def _sqlite_time(value: datetime) -> str:
    # How SQLAlchemy's DateTime stores a time in SQLite: read back by it and by item_states.
    return value.strftime("%Y-%m-%d %H:%M:%S.%f")


def _item_rows(
    account: str,
    connector_id: str,
    table: str,
    run_id: str,
    applied: Iterable[AppliedItem] | AppliedColumns,
    *,
    sqlite: bool,
) -> list[tuple[Any, ...]]:
    """The rows to upsert, as tuples of :data:`_ITEM_COLUMNS`: sorted by reference (every
    writer locks rows in the same order, so workers upserting overlapping references wait for
    each other instead of deadlocking on PostgreSQL), one per reference (the last given wins)."""
    now: Any = naive_utc(datetime.now(UTC))
    if sqlite:
        now = _sqlite_time(now)
    if isinstance(applied, AppliedColumns):
        return _column_rows(account, connector_id, table, run_id, applied, now, sqlite=sqlite)
    items = list(applied)
    # An export date is shared by a whole batch: each converted once, looked up in C per item.
    times = {
        value: _sqlite_time(naive_utc(value)) if sqlite else naive_utc(value)
        for value in {item.export_date for item in items}
    }
    encode = _CONTENT_JSON
    rows = {
        item.reference: (
            account,
            connector_id,
            table,
            item.reference,
            item.content_hash,
            None if item.content is None else encode(item.content),
            item.saleslayer_id,
            times[item.export_date],
            item.deleted,
            run_id,
            now,
        )
        for item in items
    }
    return sorted(rows.values(), key=_by_reference)


def _column_rows(
    account: str,
    connector_id: str,
    table: str,
    run_id: str,
    applied: AppliedColumns,
    now: Any,
    *,
    sqlite: bool,
) -> list[tuple[Any, ...]]:
    """:func:`_item_rows` of columns: the tuples are zipped in C, not built item by item."""
    size = len(applied.references)
    exported = naive_utc(applied.export_date)
    when = _sqlite_time(exported) if sqlite else exported
    ids = applied.saleslayer_ids if applied.saleslayer_ids is not None else repeat(None, size)
    rows = list(
        zip(
            repeat(account, size),
            repeat(connector_id, size),
            repeat(table, size),
            applied.references,
            applied.content_hashes,
            applied.contents,
            ids,
            repeat(when, size),
            repeat(False, size),  # deleted
            repeat(run_id, size),
            repeat(now, size),
            strict=True,
        )
    )
    if len(set(applied.references)) != size:  # the last given wins, as for items
        rows = list({row[3]: row for row in rows}.values())
    rows.sort(key=_by_reference)  # nearly free on a staged file already in reference order
    return rows


#: Added to the flags of a row (see :func:`_sqlite_states_query`): always two digits.
_FLAG_BASE = 10
#: Characters of a sha256's hex digest.
_HASH_LENGTH = 64
#: The stored hashes decision_states gives (others are null: never a sha256's hex).
_HASH_TEXT = f"^[\x01-\x7f]{{{_HASH_LENGTH}}}$"
#: Separates the rows of a chunk of :meth:`StateStore.decision_states` (SQLite).
_ROW_SEPARATOR = "\x1e"


def _sqlite_states_query(table: str, *, first: bool, rows: bool = False) -> str:
    """The next :data:`_STREAM` items of a connector's table, by reference, from ``:after``
    on, as one text (``rows``: as rows): per item its flags, its hash when 64 ASCII characters
    (none otherwise: the text is cut at fixed widths), and its reference; with ``count(*)``
    and ``max(reference)``, where the next chunk starts."""
    # 64 characters in 64 bytes: ASCII, and no NUL (length() of a text stops at one).
    hashed = (
        f"length(content_hash) = {_HASH_LENGTH}"
        f" AND length(CAST(content_hash AS BLOB)) = {_HASH_LENGTH}"
    )
    flags = (
        f"{_FLAG_BASE} + (export_date > :export_date) + 2 * deleted + 4 * (run_id = :run_id)"
        f" + 8 * ({hashed})"
    )
    chunk = (
        f"SELECT reference, {flags} AS flags,"
        f" CASE WHEN {hashed} THEN content_hash ELSE '' END AS hash"
        f" FROM {table} WHERE account = :account AND connector_id = :connector_id"
        f" AND table_name = :table_name AND reference {'>=' if first else '>'} :after"
        f" ORDER BY reference LIMIT {_STREAM}"
    )
    if rows:
        return f"SELECT reference, hash, flags FROM ({chunk})"
    return (
        "SELECT count(*), max(reference),"
        f" group_concat(flags || hash || reference, char({ord(_ROW_SEPARATOR)})) FROM ({chunk})"
    )


def _sqlite_bound_query(table: str, *, first: bool) -> str:
    """The last reference of the next :data:`_STREAM` items of a connector's table from
    ``:after`` on (no row: fewer are left)."""
    return (
        f"SELECT reference FROM {table} WHERE account = :account"
        " AND connector_id = :connector_id AND table_name = :table_name"
        f" AND reference {'>=' if first else '>'} :after"
        f" ORDER BY reference LIMIT 1 OFFSET {_STREAM - 1}"
    )


def _sqlite_columns_query(table: str, *, first: bool, last: bool) -> str:
    """:func:`_sqlite_states_query`'s chunk (from ``:after`` to ``:upto``, to the end when
    ``last``) as three texts, one per column: the references (separated), the hashes
    (concatenated: 64 characters each, when every one is a sha256's hex, which whether any
    length differs tells with the text's length), the flags (one digit each).
    Splitting the references is the only parsing left; the hashes and flags become columns
    without a copy, and SQLite checks no hash row by row. An aggregate over the key's range,
    without a subquery: half the cost of one (the three texts list the rows in one order, the
    index's; a chunk in another order is still right, only the delta's join is then needed)."""
    # Flags 0-7: one digit each (a number is cheaper to build in SQLite than a character).
    flags = "(export_date > :export_date) + 2 * deleted + 4 * (run_id = :run_id)"
    return (
        f"SELECT count(*), max(reference), max(length(content_hash) <> {_HASH_LENGTH}),"
        f" group_concat(reference, char({ord(_ROW_SEPARATOR)})),"
        f" group_concat(content_hash, ''), group_concat({flags}, '')"
        f" FROM {table} WHERE account = :account AND connector_id = :connector_id"
        f" AND table_name = :table_name AND reference {'>=' if first else '>'} :after"
        + ("" if last else " AND reference <= :upto")
    )


def _parse_columns(
    count: int, other_lengths: int, references: str, hashes: str, flags: str
) -> pl.DataFrame | None:
    """A chunk of :func:`_sqlite_columns_query` as the columns of
    :meth:`StateStore.decision_states`; None unless every hash is 64 ASCII characters other
    than NUL and the references split into ``count`` rows."""
    import numpy as np
    import polars as pl
    import pyarrow as pa

    # length() counts the characters before a NUL: each hash has at least 64, and all of them
    # together exactly 64 each, so each has 64 (and no NUL, checked again on the text).
    if (
        other_lengths
        or len(hashes) != _HASH_LENGTH * count
        or not hashes.isascii()
        or "\x00" in hashes
        or len(flags) != count
    ):
        return None
    reference = pl.Series("reference", [references]).str.split(_ROW_SEPARATOR).explode()
    if len(reference) != count:
        return None
    offsets = np.arange(0, _HASH_LENGTH * (count + 1), _HASH_LENGTH, dtype=np.int64)
    digest = pa.LargeStringArray.from_buffers(
        count, pa.py_buffer(offsets), pa.py_buffer(hashes.encode("ascii"))
    )
    bits = np.frombuffer(flags.encode("ascii"), dtype=np.uint8) - ord("0")
    return pl.DataFrame(
        {
            "reference": reference,
            "content_hash": pl.Series(digest, dtype=pl.String),
            "newer": (bits & 1) != 0,
            "deleted": (bits & 2) != 0,
            "this_run": (bits & 4) != 0,
        }
    )


def _states_columns(flags: pl.Expr, digest: pl.Expr, reference: pl.Expr) -> list[pl.Expr]:
    """The columns of :meth:`StateStore.decision_states` from a chunk's flags, hash ("" when
    not 64 ASCII characters) and reference. The hash stays text: the delta compares it with the
    hex of its digests (encoding those costs a tenth of decoding these and checking them)."""
    import polars as pl

    return [
        reference.alias("reference"),
        pl.when(digest != "").then(digest).alias("content_hash"),
        ((flags & 1) != 0).alias("newer"),
        ((flags & 2) != 0).alias("deleted"),
        ((flags & 4) != 0).alias("this_run"),
    ]


def _parse_states(text: str, count: int) -> pl.DataFrame | None:
    """A chunk of :func:`_sqlite_states_query` as columns; None when it does not split into
    ``count`` rows (a reference holds the separator)."""
    import polars as pl

    rows = pl.Series("row", [text]).str.split(_ROW_SEPARATOR).explode()
    if len(rows) != count:
        return None
    row = pl.col("row")
    flags = row.str.slice(0, 2).cast(pl.Int64) - _FLAG_BASE
    hashed = (flags & 8) != 0
    digest = pl.when(hashed).then(row.str.slice(2, _HASH_LENGTH)).otherwise(pl.lit(""))
    reference = pl.when(hashed).then(row.str.slice(2 + _HASH_LENGTH)).otherwise(row.str.slice(2))
    return rows.to_frame().select(*_states_columns(flags, digest, reference))


def default_url() -> str:
    home = os.environ.get("AIRFLOW_HOME") or str(Path.home() / "airflow")
    return f"sqlite:///{Path(home, 'saleslayer-state.sqlite').absolute()}"


def _url_from_airflow_connection(conn_id: str) -> str:
    from airflow.sdk import BaseHook

    try:
        connection = BaseHook.get_connection(conn_id)
    except Exception as exc:
        raise StateStoreError(
            f"the state store connection {conn_id!r} (from {STATE_CONN_ENV}) cannot be read: "
            f"{type(exc).__name__}; create it in Airflow, or unset {STATE_CONN_ENV}"
        ) from None
    uri = str(connection.get_uri())
    # Airflow spells PostgreSQL "postgres://"; SQLAlchemy 2 wants "postgresql://".
    return (
        "postgresql://" + uri.removeprefix("postgres://") if uri.startswith("postgres://") else uri
    )


def _with_installed_driver(url: Any) -> Any:
    """A bare ``postgresql://`` URL with a driver that is installed.

    SQLAlchemy 2.1 maps it to psycopg 3, while Airflow's Postgres provider installs psycopg2:
    without this, a worker with only psycopg2 could not open the store.
    """
    import importlib.util

    if url.drivername != "postgresql":
        return url
    for module in ("psycopg", "psycopg2"):
        if importlib.util.find_spec(module) is not None:
            return url.set(drivername=f"postgresql+{module}")
    return url


class StateStore:
    """Read and write the connectors' state in one Sales Layer account. Create with
    :meth:`open`; the schema is migrated.

    :param account: the target account's key (see the module docstring); every read and write
        of this handle stays within it. The default, :data:`LEGACY_ACCOUNT`, is the account of
        rows written before accounts were kept.
    """

    def __init__(self, engine: Any, account: str = LEGACY_ACCOUNT) -> None:
        import sqlalchemy as sa

        self.engine = engine
        self.account = account
        self._tables = tables(sa.MetaData())

    @classmethod
    def open(cls, url: str | None = None, *, account: str = LEGACY_ACCOUNT) -> StateStore:
        """Connect (see the module docstring for where) and bring the schema up to date; the
        handle reads and writes within ``account``."""
        import sqlalchemy as sa

        if url is None:
            conn_id = os.environ.get(STATE_CONN_ENV)
            url = (
                _url_from_airflow_connection(conn_id)
                if conn_id
                else os.environ.get(STATE_URL_ENV) or default_url()
            )
        try:
            parsed = sa.engine.make_url(url)
        except sa.exc.ArgumentError:
            raise StateStoreError(
                f"the state store URL is not an SQLAlchemy URL; set {STATE_URL_ENV} to e.g. "
                "'sqlite:////data/saleslayer-state.sqlite' or 'postgresql://user@host/db'"
            ) from None
        parsed = _with_installed_driver(parsed)
        shown = parsed.render_as_string(hide_password=True)
        try:
            engine = sa.create_engine(parsed, **cls._engine_options(parsed))
        except ImportError as exc:
            raise StateStoreError(
                f"the database driver for the state store {shown} is not installed "
                f"({exc.name}); install it in every Airflow worker, e.g. "
                "`pip install 'psycopg[binary]'` (or psycopg2-binary) for PostgreSQL"
            ) from None
        try:
            migrate(engine)
        except sa.exc.SQLAlchemyError as exc:
            raise StateStoreError(
                f"cannot open the state store {shown}: "
                f"{type(getattr(exc, 'orig', None) or exc).__name__}; "
                "check that the database is reachable and the user may create tables"
            ) from None
        return cls(engine, account)

    @staticmethod
    def _engine_options(url: Any) -> dict[str, Any]:
        if url.get_backend_name() != "sqlite":
            return {"pool_pre_ping": True}
        if url.database and url.database != ":memory:":
            Path(url.database).parent.mkdir(parents=True, exist_ok=True)
        return {"connect_args": {"timeout": 30}}

    # --- items ---------------------------------------------------------------------------

    def items(
        self, connector_id: str, table: str, references: Iterable[str]
    ) -> dict[str, ItemState]:
        """What was last applied to each of ``references`` (absent: never applied)."""
        import sqlalchemy as sa

        items = self._tables["items"]
        refs = sorted(set(references))
        found: dict[str, ItemState] = {}
        with self.engine.connect() as connection:
            for chunk in _chunks(refs):
                query = sa.select(items).where(
                    items.c.account == self.account,
                    items.c.connector_id == connector_id,
                    items.c.table_name == table,
                    items.c.reference.in_(chunk),
                )
                for row in connection.execute(query):
                    found[row.reference] = ItemState(
                        content_hash=row.content_hash,
                        saleslayer_id=row.saleslayer_id,
                        export_date=row.export_date,
                        deleted=row.deleted,
                        content=None if row.content is None else json.loads(row.content),
                        run_id=row.run_id,
                    )
        return found

    def contents(
        self, connector_id: str, table: str, references: Iterable[str]
    ) -> dict[str, str | None]:
        """The content kept of each of ``references`` that was applied, as its JSON text (None
        when none was kept): what :meth:`items` gives as ``content``, for callers that read a
        few of its fields of many items (no object per item, the text parsed by the caller)."""
        items = self._tables["items"]
        refs = sorted(set(references))
        found: dict[str, str | None] = {}
        sqlite = self.engine.dialect.name == "sqlite"
        mark = "?" if sqlite else "%s"
        connection = self.engine.raw_connection()
        try:
            cursor = connection.cursor()
            for chunk in _chunks(refs):
                cursor.execute(
                    f"SELECT reference, content FROM {items.name} WHERE account = {mark}"
                    f" AND connector_id = {mark} AND table_name = {mark}"
                    f" AND reference IN ({', '.join([mark] * len(chunk))})",
                    (self.account, connector_id, table, *chunk),
                )
                found.update(cursor.fetchall())
            cursor.close()
        finally:
            connection.close()
        return found

    def item_states(
        self, connector_id: str, table: str, *, binary_hashes: bool = False
    ) -> pl.DataFrame:
        """What was last applied to every item of the connector's ``table`` in this account, as
        columns: ``reference``, ``content_hash``, ``export_date`` (naive UTC), ``deleted``,
        ``run_id``, ``saleslayer_id`` (never the content: it is only needed for the few items a
        push sends; see :meth:`items`).

        One query, streamed (a server-side cursor on PostgreSQL) into columns
        :data:`_STREAM` rows at a time, so the delta is a join, never one look-up per item.
        ``binary_hashes``: ``content_hash`` as the 32 bytes of the sha256 (null when the stored
        text is not a lowercase hex sha256), half the memory of the text.
        """
        import polars as pl

        schema: dict[str, Any] = {
            "reference": pl.String,
            "content_hash": pl.String,
            "export_date": pl.Datetime("us"),
            "deleted": pl.Boolean,
            "run_id": pl.String,
            "saleslayer_id": pl.Int64,
        }
        sqlite = self.engine.dialect.name == "sqlite"
        # SQLite hands back the text SQLAlchemy stored (parsed below, on the whole column).
        raw = schema | ({"export_date": pl.String, "deleted": pl.Int64} if sqlite else {})
        mark = "?" if sqlite else "%s"
        query = (
            f"SELECT {', '.join(schema)} FROM {self._tables['items'].name} "
            f"WHERE account = {mark} AND connector_id = {mark} AND table_name = {mark}"
        )

        def columns(rows: list[Any]) -> pl.DataFrame:
            frame = pl.DataFrame(rows, schema=raw, orient="row")
            if sqlite:
                frame = frame.with_columns(
                    pl.col("export_date").str.to_datetime("%Y-%m-%d %H:%M:%S%.f", time_unit="us"),
                    pl.col("deleted").cast(pl.Boolean),
                )
            if binary_hashes:
                digest = pl.col("content_hash")
                frame = frame.with_columns(
                    pl.when(digest.str.contains("^[0-9a-f]{64}$"))
                    .then(digest.str.decode("hex", strict=False))
                    .alias("content_hash")
                )
            return frame

        frames = []
        connection = self.engine.raw_connection()
        try:
            # Named: a server-side cursor on PostgreSQL (rows come as they are fetched).
            cursor = connection.cursor() if sqlite else connection.cursor(name="slc_item_states")
            if not sqlite:
                cursor.itersize = _STREAM
            cursor.execute(query, (self.account, connector_id, table))
            while rows := cursor.fetchmany(_STREAM):
                frames.append(columns(rows))
            cursor.close()
        finally:
            connection.close()
        if not frames:
            empty = pl.DataFrame(schema=schema)
            return (
                empty.with_columns(pl.col("content_hash").cast(pl.Binary))
                if binary_hashes
                else empty
            )
        return pl.concat(frames)

    def decision_states(
        self, connector_id: str, table: str, *, export_date: datetime, run_id: str
    ) -> pl.DataFrame:
        """What the delta needs of every item of the connector's ``table`` in this account, as
        columns: ``reference``, ``content_hash`` (as stored; null unless 64 ASCII characters
        other than NUL: anything else cannot be a sha256's hex), ``newer`` (applied from an
        export dated after ``export_date``), ``deleted``, ``this_run`` (last written by
        ``run_id``).

        The same values as :meth:`item_states` gives, compared here. On SQLite, the rows come
        :data:`_STREAM` at a time as one text each (``group_concat``, in reference order): a
        Python object per row, let alone a tuple of six, costs more than the query itself.
        """
        import polars as pl

        if self.engine.dialect.name != "sqlite":
            states = self.item_states(connector_id, table)
            return states.select(
                "reference",
                pl.when(pl.col("content_hash").str.contains(_HASH_TEXT))
                .then(pl.col("content_hash"))
                .alias("content_hash"),
                (pl.col("export_date") > naive_utc(export_date)).alias("newer"),
                "deleted",
                (pl.col("run_id") == run_id).alias("this_run"),
            )
        frames = []
        connection = self.engine.raw_connection()
        try:
            cursor = connection.cursor()
            after, first = "", True
            while True:
                values: dict[str, Any] = {
                    "account": self.account,
                    "connector_id": connector_id,
                    "table_name": table,
                    "after": after,
                    "export_date": _sqlite_time(naive_utc(export_date)),
                    "run_id": run_id,
                }
                name = self._tables["items"].name
                # Where the chunk ends (its last reference; none: the rest of the table is the
                # last chunk), so that the chunk is aggregated straight from the index.
                cursor.execute(_sqlite_bound_query(name, first=first), values)
                bound = cursor.fetchone()
                values["upto"] = None if bound is None else bound[0]
                query = _sqlite_columns_query(name, first=first, last=bound is None)
                cursor.execute(query, values)
                count, last, *packed = cursor.fetchone()
                if not count:
                    break
                frame = _parse_columns(count, *packed)
                if frame is None:  # a hash that is not a sha256's hex: this chunk packed per row
                    cursor.execute(_sqlite_states_query(name, first=first), values)
                    count, last, text = cursor.fetchone()
                    frame = _parse_states(text, count)
                if frame is None:  # a reference holds the separator: this chunk as tuples
                    cursor.execute(_sqlite_states_query(name, first=first, rows=True), values)
                    rows = cursor.fetchall()
                    frame = pl.DataFrame(
                        rows, schema=["reference", "hash", "flags"], orient="row"
                    ).select(
                        *_states_columns(
                            pl.col("flags") - _FLAG_BASE, pl.col("hash"), pl.col("reference")
                        )
                    )
                frames.append(frame)
                if bound is None:
                    break
                after, first = last, False
            cursor.close()
        finally:
            connection.close()
        if not frames:
            return pl.DataFrame(
                schema={
                    "reference": pl.String,
                    "content_hash": pl.String,
                    "newer": pl.Boolean,
                    "deleted": pl.Boolean,
                    "this_run": pl.Boolean,
                }
            )
        return pl.concat(frames)

    def known_references(self, table: str, references: Iterable[str]) -> set[str]:
        """Which of ``references`` some connector already applied to ``table`` of this account
        and did not delete: parents imported before, by this connector or another one feeding
        the same account's table. Another account's items are never known here.

        Legacy rows (written before accounts were kept, and not adopted yet) are known in every
        account, as they were before the upgrade: refusing them would reject children whose
        parents a connector imported before the upgrade and has not pushed again since."""
        import sqlalchemy as sa

        items = self._tables["items"]
        refs = sorted(set(references))
        found: set[str] = set()
        accounts = sorted({self.account, LEGACY_ACCOUNT})
        with self.engine.connect() as connection:
            for chunk in _chunks(refs):
                query = sa.select(items.c.reference).where(
                    items.c.account.in_(accounts),
                    items.c.table_name == table,
                    items.c.reference.in_(chunk),
                    items.c.deleted.is_(False),
                )
                found.update(row.reference for row in connection.execute(query))
        return found

    def live_references(self, connector_id: str, table: str) -> set[str]:
        """Every reference applied and not deleted: the candidates for deletions."""
        import sqlalchemy as sa

        items = self._tables["items"]
        query = sa.select(items.c.reference).where(
            items.c.account == self.account,
            items.c.connector_id == connector_id,
            items.c.table_name == table,
            items.c.deleted.is_(False),
        )
        with self.engine.connect() as connection:
            return {row.reference for row in connection.execute(query)}

    def record_applied(
        self, connector_id: str, table: str, run_id: str, applied: Iterable[AppliedItem]
    ) -> int:
        """Remember what Sales Layer acknowledged; one transaction. Returns the rows written."""
        rows = self._item_rows(connector_id, table, run_id, applied)
        with self.engine.begin() as connection:
            self._write_items(connection, rows)
        return len(rows)

    def _item_rows(
        self,
        connector_id: str,
        table: str,
        run_id: str,
        applied: Iterable[AppliedItem] | AppliedColumns,
    ) -> list[tuple[Any, ...]]:
        sqlite = self.engine.dialect.name == "sqlite"
        return _item_rows(self.account, connector_id, table, run_id, applied, sqlite=sqlite)

    def _write_items(self, connection: Any, rows: list[tuple[Any, ...]]) -> None:
        """Upsert item rows (from :meth:`_item_rows`) in the transaction of ``connection``.

        Tuples straight to the driver (one ``executemany``; ``execute_values`` pages on
        psycopg2): checkpointing a batch costs a few microseconds per item, not the tens a
        dict per row through SQLAlchemy's statement compilation and type processing cost."""
        if not rows:
            return
        self._insert(self._tables["items"])  # refuses a database other than SQLite/PostgreSQL
        dialect = self.engine.dialect
        columns = ", ".join(_ITEM_COLUMNS)
        update = ", ".join(
            f"{name} = excluded.{name}" for name in _ITEM_COLUMNS if name not in _ITEM_KEY
        )
        conflict = f"ON CONFLICT ({', '.join(_ITEM_KEY)}) DO UPDATE SET {update}"
        table = self._tables["items"].name
        cursor = connection.connection.cursor()
        try:
            if dialect.name == "postgresql" and dialect.driver == "psycopg2":
                from psycopg2.extras import execute_values  # type: ignore[import-untyped]

                statement = f"INSERT INTO {table} ({columns}) VALUES %s {conflict}"
                execute_values(cursor, statement, rows, page_size=_CHUNK)
            else:
                mark = "?" if dialect.paramstyle == "qmark" else "%s"
                values = ", ".join([mark] * len(_ITEM_COLUMNS))
                statement = f"INSERT INTO {table} ({columns}) VALUES ({values}) {conflict}"
                cursor.executemany(statement, rows)
        finally:
            cursor.close()

    def _write_sqlite_columns(
        self, connection: Any, connector_id: str, table: str, run_id: str, applied: AppliedColumns
    ) -> None:
        """:meth:`_write_items` of columns on SQLite: the values every row shares are written
        into the statement as literals, so each row binds its three own (reference, hash,
        content): a third less CPU per row than eleven parameters."""
        size = len(applied.references)
        if not size:
            return
        rows = list(zip(applied.references, applied.content_hashes, applied.contents, strict=True))
        if len(set(applied.references)) != size:  # the last given wins, as for items
            rows = list({row[0]: row for row in rows}.values())
        rows.sort(key=_first)  # same lock order as _item_rows; nearly free when sorted already
        shared = {
            "account": _sqlite_literal(self.account),
            "connector_id": _sqlite_literal(connector_id),
            "table_name": _sqlite_literal(table),
            "reference": "?",
            "content_hash": "?",
            "content": "?",
            "saleslayer_id": "NULL",
            "export_date": _sqlite_literal(_sqlite_time(naive_utc(applied.export_date))),
            "deleted": "0",
            "run_id": _sqlite_literal(run_id),
            "updated_at": _sqlite_literal(_sqlite_time(naive_utc(datetime.now(UTC)))),
        }
        update = ", ".join(
            f"{name} = excluded.{name}" for name in _ITEM_COLUMNS if name not in _ITEM_KEY
        )
        statement = (
            f"INSERT INTO {self._tables['items'].name} ({', '.join(_ITEM_COLUMNS)})"
            f" VALUES ({', '.join(shared[name] for name in _ITEM_COLUMNS)})"
            f" ON CONFLICT ({', '.join(_ITEM_KEY)}) DO UPDATE SET {update}"
        )
        cursor = connection.connection.cursor()
        try:
            cursor.executemany(statement, rows)
        finally:
            cursor.close()

    def _insert(self, table: Any) -> Any:
        """The dialect's INSERT, which knows ON CONFLICT (SQLite and PostgreSQL only)."""
        dialect = self.engine.dialect.name
        if dialect == "sqlite":
            from sqlalchemy.dialects.sqlite import insert
        elif dialect == "postgresql":
            from sqlalchemy.dialects.postgresql import insert  # type: ignore[assignment]
        else:
            raise StateStoreError(
                f"the state store supports SQLite and PostgreSQL, not {dialect}; "
                f"point {STATE_URL_ENV} or {STATE_CONN_ENV} at one of those"
            )
        return insert(table)

    # --- resumable pushes ------------------------------------------------------------------

    def batch_totals(self, connector_id: str, run_id: str, table: str) -> BatchTotals:
        """Sum of what this run's acknowledged batches of ``table`` did (all attempts)."""
        import sqlalchemy as sa

        batches = self._tables["batches"]
        query = sa.select(
            sa.func.count(), sa.func.sum(batches.c.created), sa.func.sum(batches.c.updated)
        ).where(
            batches.c.account == self.account,
            batches.c.connector_id == connector_id,
            batches.c.run_id == run_id,
            batches.c.table_name == table,
        )
        with self.engine.connect() as connection:
            count, created, updated = connection.execute(query).one()
        return BatchTotals(int(count), int(created or 0), int(updated or 0))

    def ack_batch(
        self,
        connector_id: str,
        run_id: str,
        table: str,
        batch_key: str,
        applied: Iterable[AppliedItem] | AppliedColumns,
        *,
        created: int,
        updated: int,
    ) -> None:
        """Record a batch as acknowledged together with its items, atomically: after a crash
        either both are there (the items are not resent and the batch's counts stay in the
        run's totals) or neither (the batch is resent, harmlessly: upserts by reference are
        idempotent). ``applied``: the items, or their columns with the content pre-encoded
        (:class:`AppliedColumns`)."""

        rows = None
        literal = (self.account, connector_id, table, run_id)
        if not (
            isinstance(applied, AppliedColumns)
            and applied.saleslayer_ids is None
            and self.engine.dialect.name == "sqlite"
            and not any("\0" in value for value in literal)
        ):
            rows = self._item_rows(connector_id, table, run_id, applied)
        batches = self._tables["batches"]
        key = {
            "account": self.account,
            "connector_id": connector_id,
            "run_id": run_id,
            "table_name": table,
            "batch_key": batch_key,
        }
        acked = (
            self._insert(batches)
            .values(**key, created=created, updated=updated, acked_at=naive_utc(datetime.now(UTC)))
            # Two attempts of a task (a retry and a still-running first try) can acknowledge
            # the same batch at once: the first acknowledgement stands, the second is a no-op.
            .on_conflict_do_nothing(index_elements=list(key))
        )
        with self.engine.begin() as connection:
            if rows is None:
                assert isinstance(applied, AppliedColumns)
                self._write_sqlite_columns(connection, connector_id, table, run_id, applied)
            else:
                self._write_items(connection, rows)
            connection.execute(acked)

    # --- accounts --------------------------------------------------------------------------

    def adopt_legacy(self, connector_id: str, table: str) -> int:
        """Move the connector's legacy rows of ``table`` (written before accounts were kept)
        into this handle's account; returns the items moved.

        Called by the push of each table before it reads the state: the first run after the
        upgrade takes its earlier state along instead of resending every item. Per table, so
        the push tasks of one run never update the same rows. Legacy rows can only be
        attributed to the account the connector pushes to now: a connector whose connection
        changed in the very upgrade carries its old state to the new account once."""
        import sqlalchemy as sa

        if self.account == LEGACY_ACCOUNT:
            return 0
        moved = 0
        with self.engine.begin() as connection:
            for name in ("items", "batches"):
                rows = self._tables[name]
                legacy = sa.and_(
                    rows.c.account == LEGACY_ACCOUNT,
                    rows.c.connector_id == connector_id,
                    rows.c.table_name == table,
                )
                # A row this account already has for the same key is newer than the legacy one
                # (only a push outside the operator could write it first): the legacy one goes.
                current = rows.alias("current")
                keys = [c.name for c in rows.primary_key.columns if c.name != "account"]
                newer = (
                    sa.select(sa.literal(1))
                    .where(current.c.account == self.account)
                    .where(*(current.c[k] == rows.c[k] for k in keys))
                    .exists()
                )
                connection.execute(sa.delete(rows).where(legacy, newer))
                result = connection.execute(
                    sa.update(rows).where(legacy).values(account=self.account)
                )
                if name == "items":
                    moved = int(result.rowcount or 0)
        return moved

    def close(self) -> None:
        self.engine.dispose()
