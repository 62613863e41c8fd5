"""The state store's tables and the migrations that create and evolve them.

The package owns its schema: :func:`migrate` brings any database to the newest version, one
numbered step at a time, each in its own transaction, recording the version it reached. Steps are
append-only: a released step is never edited, a change is a new step.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from functools import partial
from typing import Any

#: Prefix of every table, so the store can share a database (e.g. Airflow's own PostgreSQL).
PREFIX = "slc_"


#: The account of rows written before the store knew accounts (schema version 1). The first push
#: of each connector and table after the upgrade adopts them (``StateStore.adopt_legacy``).
LEGACY_ACCOUNT = ""


def tables(metadata: Any) -> dict[str, Any]:
    """The tables of the newest schema version, declared on ``metadata``."""
    return _v2_tables(metadata, f"{PREFIX}items", f"{PREFIX}push_batches")


def _v2_tables(metadata: Any, items_name: str, batches_name: str) -> dict[str, Any]:
    """Version 2: items and batches are keyed by the target account first.

    ``account`` is the key of the Sales Layer account a connector pushes to
    (:attr:`SalesLayerHook.account_key`), never a credential: the same connector pushing to
    another account has other items there.
    """
    import sqlalchemy as sa

    return {
        "items": sa.Table(
            items_name,
            metadata,
            sa.Column("account", sa.String(64), primary_key=True),
            sa.Column("connector_id", sa.String(200), primary_key=True),
            sa.Column("table_name", sa.String(200), primary_key=True),
            # 512 = mapping.values.MAX_REFERENCE_LENGTH: the split rejects longer references.
            sa.Column("reference", sa.String(512), primary_key=True),
            sa.Column("content_hash", sa.String(64), nullable=False),
            # The fields last applied (JSON), so a dry run can show which fields would change.
            sa.Column("content", sa.Text, nullable=True),
            sa.Column("saleslayer_id", sa.BigInteger, nullable=True),
            # Naive UTC: compared across runs to refuse older exports (the backfill guard).
            sa.Column("export_date", sa.DateTime, nullable=False),
            sa.Column("deleted", sa.Boolean, nullable=False, default=False),
            sa.Column("run_id", sa.String(250), nullable=False),
            sa.Column("updated_at", sa.DateTime, nullable=False),
        ),
        "batches": sa.Table(
            batches_name,
            metadata,
            sa.Column("account", sa.String(64), primary_key=True),
            sa.Column("connector_id", sa.String(200), primary_key=True),
            sa.Column("run_id", sa.String(250), primary_key=True),
            sa.Column("table_name", sa.String(200), primary_key=True),
            sa.Column("batch_key", sa.String(64), primary_key=True),
            # What the batch did, so a retried run still reports its earlier attempts' work.
            sa.Column("created", sa.Integer, nullable=False),
            sa.Column("updated", sa.Integer, nullable=False),
            sa.Column("acked_at", sa.DateTime, nullable=False),
        ),
    }


def _v1_tables(metadata: Any) -> dict[str, Any]:
    """Version 1 as released (frozen: step 1 must create exactly this, whatever comes later)."""
    import sqlalchemy as sa

    return {
        "items": sa.Table(
            f"{PREFIX}items",
            metadata,
            sa.Column("connector_id", sa.String(200), primary_key=True),
            sa.Column("table_name", sa.String(200), primary_key=True),
            sa.Column("reference", sa.String(512), primary_key=True),
            sa.Column("content_hash", sa.String(64), nullable=False),
            sa.Column("content", sa.Text, nullable=True),
            sa.Column("saleslayer_id", sa.BigInteger, nullable=True),
            sa.Column("export_date", sa.DateTime, nullable=False),
            sa.Column("deleted", sa.Boolean, nullable=False, default=False),
            sa.Column("run_id", sa.String(250), nullable=False),
            sa.Column("updated_at", sa.DateTime, nullable=False),
        ),
        "batches": sa.Table(
            f"{PREFIX}push_batches",
            metadata,
            sa.Column("connector_id", sa.String(200), primary_key=True),
            sa.Column("run_id", sa.String(250), primary_key=True),
            sa.Column("table_name", sa.String(200), primary_key=True),
            sa.Column("batch_key", sa.String(64), primary_key=True),
            sa.Column("created", sa.Integer, nullable=False),
            sa.Column("updated", sa.Integer, nullable=False),
            sa.Column("acked_at", sa.DateTime, nullable=False),
        ),
    }


def _v1_create_tables(connection: Any) -> None:
    import sqlalchemy as sa

    metadata = sa.MetaData()
    _v1_tables(metadata)
    metadata.create_all(connection)


_V1_ITEM_COLUMNS = (
    "connector_id, table_name, reference, content_hash, content, saleslayer_id, export_date, "
    "deleted, run_id, updated_at"
)
_V1_BATCH_COLUMNS = "connector_id, run_id, table_name, batch_key, created, updated, acked_at"


def _v2_account_keys(connection: Any) -> None:
    """Put the target account first in the keys of items and batches.

    A primary key cannot be altered in SQLite, so each table is rebuilt (SQLite's documented
    way: create the new table, copy, drop the old one, rename), on both backends alike. Rows of
    version 1 get :data:`LEGACY_ACCOUNT`. The step takes the database's write lock first and
    looks again, so a worker that lost the race to migrate does nothing twice.
    """
    import sqlalchemy as sa

    dialect = connection.dialect.name
    items, batches = f"{PREFIX}items", f"{PREFIX}push_batches"
    if dialect == "postgresql":
        connection.execute(sa.text(f"LOCK TABLE {items}, {batches} IN ACCESS EXCLUSIVE MODE"))
    else:
        # pysqlite opens its transaction at the first write only, and runs DDL before that
        # outside any transaction: a no-op write opens it and takes the write lock now, so the
        # whole rebuild commits or rolls back as one.
        connection.execute(
            sa.text(f"UPDATE {PREFIX}schema_version SET version = version WHERE version < 0")
        )
    columns = {c["name"] for c in sa.inspect(connection).get_columns(items)}
    if "account" in columns:
        return  # another worker migrated meanwhile
    metadata = sa.MetaData()
    new = _v2_tables(metadata, f"{items}_v2", f"{batches}_v2")
    metadata.create_all(connection)
    for old, table, copied in (
        (items, new["items"], _V1_ITEM_COLUMNS),
        (batches, new["batches"], _V1_BATCH_COLUMNS),
    ):
        connection.execute(
            sa.text(
                f"INSERT INTO {table.name} (account, {copied}) SELECT :legacy, {copied} FROM {old}"
            ),
            {"legacy": LEGACY_ACCOUNT},
        )
        connection.execute(sa.text(f"DROP TABLE {old}"))
        connection.execute(sa.text(f"ALTER TABLE {table.name} RENAME TO {old}"))
        if dialect == "postgresql":
            # The renamed table keeps its key's name; give it the one a new table would get.
            connection.execute(sa.text(f"ALTER INDEX {table.name}_pkey RENAME TO {old}_pkey"))
    # Known references are looked up by table and reference across the account's connectors.
    connection.execute(
        sa.text(f"CREATE INDEX {PREFIX}items_by_reference ON {items} (table_name, reference)")
    )


#: Step N brings the schema from version N-1 to N.
MIGRATIONS: list[Callable[[Any], None]] = [_v1_create_tables, _v2_account_keys]

LATEST_VERSION = len(MIGRATIONS)


def current_version(connection: Any) -> int:
    """The version the database is at; 0 for an empty database."""
    import sqlalchemy as sa

    if not sa.inspect(connection).has_table(f"{PREFIX}schema_version"):
        return 0
    value = connection.execute(sa.text(f"SELECT MAX(version) FROM {PREFIX}schema_version"))
    return int(value.scalar() or 0)


def migrate(engine: Any) -> int:
    """Apply every missing step; safe to call on every start and from several processes."""
    _retrying(partial(_create_version_table, engine))
    for step_number, step in enumerate(MIGRATIONS, start=1):
        _retrying(partial(_apply, engine, step_number, step))
    with engine.connect() as connection:
        return current_version(connection)


_ATTEMPTS = 8


def _retrying(action: Callable[[], None]) -> None:
    import sqlalchemy as sa

    for attempt in range(_ATTEMPTS):
        try:
            action()
            return
        except (sa.exc.IntegrityError, sa.exc.OperationalError, sa.exc.ProgrammingError):
            # Several workers opening a new store race on the same DDL: the loser's
            # transaction rolls back; look again (the winner has usually committed by then).
            if attempt == _ATTEMPTS - 1:
                raise
            time.sleep(0.05 * (attempt + 1))


def _create_version_table(engine: Any) -> None:
    import sqlalchemy as sa

    with engine.begin() as connection:
        connection.execute(
            sa.text(
                # IF NOT EXISTS is not atomic in PostgreSQL: two first opens at once can both
                # try to create the table, and one fails on pg_type's unique index (retried).
                f"CREATE TABLE IF NOT EXISTS {PREFIX}schema_version "
                "(version INTEGER PRIMARY KEY, applied_at TIMESTAMP NOT NULL)"
            )
        )


def _apply(engine: Any, step_number: int, step: Callable[[Any], None]) -> None:
    import sqlalchemy as sa

    with engine.begin() as connection:
        if current_version(connection) >= step_number:
            return
        step(connection)
        connection.execute(
            sa.text(
                f"INSERT INTO {PREFIX}schema_version (version, applied_at) "
                "VALUES (:v, CURRENT_TIMESTAMP)"
            ),
            {"v": step_number},
        )
