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


def tables(metadata: Any) -> dict[str, Any]:
    """The tables of the newest schema version, declared on ``metadata``."""
    import sqlalchemy as sa

    return {
        "items": sa.Table(
            f"{PREFIX}items",
            metadata,
            sa.Column("connector_id", sa.String(200), primary_key=True),
            sa.Column("table_name", sa.String(200), primary_key=True),
            # 512 = mapping.rows.MAX_REFERENCE_LENGTH: longer references are rejected by the split.
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
            f"{PREFIX}push_batches",
            metadata,
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


def _v1_create_tables(connection: Any) -> None:
    import sqlalchemy as sa

    metadata = sa.MetaData()
    tables(metadata)
    metadata.create_all(connection)


#: Step N brings the schema from version N-1 to N.
MIGRATIONS: list[Callable[[Any], None]] = [_v1_create_tables]

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
