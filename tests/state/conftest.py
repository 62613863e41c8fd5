"""Fixtures of the state store's tests: every store test runs on SQLite and on a real
PostgreSQL server started for the session (skipped, saying why, when PostgreSQL is absent)."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from saleslayer_airflow.state import StateStore
from tests.state.postgres import PostgresServer, PostgresUnavailable, remove, start_postgres


@pytest.fixture(scope="session")
def postgres_server() -> Iterator[PostgresServer]:
    """One PostgreSQL server for the session on 127.0.0.1, stopped at the end."""
    try:
        server = start_postgres()
    except PostgresUnavailable as exc:
        pytest.skip(f"PostgreSQL is not available: {exc}")
    try:
        yield server
    finally:
        remove(server)


@pytest.fixture
def postgres_url(postgres_server: PostgresServer) -> str:
    """The URL of a new, empty database on the session's server (driver left to the store)."""
    return postgres_server.url(postgres_server.create_database())


@pytest.fixture(params=["sqlite", pytest.param("postgresql", marks=pytest.mark.integration)])
def state_url(request: pytest.FixtureRequest, tmp_path: Path) -> str:
    """The URL of an empty state database, once on each backend the store supports."""
    if request.param == "sqlite":
        return f"sqlite:///{tmp_path / 'state.sqlite'}"
    return str(request.getfixturevalue("postgres_url"))


@pytest.fixture
def store(state_url: str) -> Iterator[StateStore]:
    """A migrated store on an empty database, closed after the test."""
    opened = StateStore.open(state_url)
    yield opened
    opened.close()
