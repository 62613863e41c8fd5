"""The state store on a real PostgreSQL server: what only a shared server shows. Several workers
writing the same tables at once, the Airflow connection deployments use to point at it, errors
that must not leak its password, and a database it shares with other tables. The behaviour both
backends share is tested on both in test_store.py."""

from __future__ import annotations

import json
import logging
import threading
from collections.abc import Callable, Iterator, Sequence
from datetime import UTC, datetime, timedelta
from functools import partial
from typing import Any
from urllib.parse import quote

import pytest

from saleslayer_airflow.exceptions import StateStoreError
from saleslayer_airflow.state import AppliedItem, BatchTotals, StateStore
from saleslayer_airflow.state.schema import LATEST_VERSION, current_version
from tests.e2e.conftest import World, catalog, changed_copy, first_day, states, xcom

# The e2e tests' fixture (FTP server, emulator, connector folder), for the DAG run below.
from tests.e2e.conftest import world as world
from tests.state.postgres import SERVER_TIME_ZONE, PostgresServer

pytestmark = pytest.mark.integration

DAY = datetime(2026, 11, 1, 6, tzinfo=UTC)


def _engine(url: str, **connect_args: Any) -> Any:
    """An engine of the test's own, beside the store's, to look at what the store wrote."""
    import sqlalchemy as sa

    return sa.create_engine(
        sa.engine.make_url(url).set(drivername="postgresql+psycopg2"), connect_args=connect_args
    )


def _in_threads(workers: Sequence[Callable[[], None]]) -> list[BaseException]:
    """Run each worker in its own thread, all starting together; the errors they raised."""
    errors: list[BaseException] = []
    start = threading.Barrier(len(workers))

    def run(work: Callable[[], None]) -> None:
        try:
            start.wait()
            work()
        except BaseException as exc:
            errors.append(exc)

    threads = [threading.Thread(target=run, args=(work,)) for work in workers]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    return errors


@pytest.fixture
def stores(postgres_url: str) -> Iterator[list[StateStore]]:
    """Four stores on one database, each with its own connections: four workers."""
    opened = [StateStore.open(postgres_url) for _ in range(4)]
    yield opened
    for store in opened:
        store.close()


def test_workers_writing_overlapping_references_lose_nothing(stores: list[StateStore]) -> None:
    """Four workers upsert, in batches, references only they write and references all of them
    write, half of them in the opposite order (the classic deadlock): every row is there once,
    each worker's own rows hold its values, the shared rows one worker's whole values."""
    shared = [f"S{i:04d}" for i in range(300)]

    def worker(n: int, store: StateStore) -> Callable[[], None]:
        own = [f"W{n}-{i:04d}" for i in range(600)]
        references = own + shared if n % 2 else list(reversed(shared + own))

        def work() -> None:
            for round_ in range(3):
                for start in range(0, len(references), 150):
                    applied = [
                        AppliedItem(ref, f"h{n}", DAY + timedelta(hours=round_), saleslayer_id=n)
                        for ref in references[start : start + 150]
                    ]
                    store.record_applied("erp", "products", f"run-{n}", applied)

        return work

    assert _in_threads([worker(n, store) for n, store in enumerate(stores)]) == []
    store = stores[0]
    every = [f"W{n}-{i:04d}" for n in range(4) for i in range(600)] + shared
    states = store.items("erp", "products", every)
    assert len(states) == len(every)
    assert store.live_references("erp", "products") == set(every)
    for n in range(4):
        own = [states[f"W{n}-{i:04d}"] for i in range(600)]
        assert {(s.content_hash, s.saleslayer_id, s.run_id) for s in own} == {
            (f"h{n}", n, f"run-{n}")
        }
    for state in (states[ref] for ref in shared):
        writer = state.saleslayer_id
        assert (state.content_hash, state.run_id) == (f"h{writer}", f"run-{writer}")
        assert state.export_date == (DAY + timedelta(hours=2)).replace(tzinfo=None)
    with store.engine.connect() as connection:
        import sqlalchemy as sa

        count = connection.execute(sa.text("SELECT COUNT(*) FROM slc_items")).scalar()
    assert count == len(every)


def test_a_batch_acknowledged_by_two_workers_at_once_counts_once(
    stores: list[StateStore],
) -> None:
    """A retried task resends a batch while its first attempt, still alive, acknowledges it:
    both acknowledgements succeed and the run's totals count the batch once."""
    for attempt in range(5):
        run_id = f"run-{attempt}"

        def ack(store: StateStore, items: list[AppliedItem], run_id: str = run_id) -> None:
            store.ack_batch("erp", run_id, "products", "k1", items, created=3, updated=1)

        with_items = [AppliedItem(f"P{i}", "h", DAY) for i in range(4)]
        workers = [partial(ack, store, with_items) for store in stores[:2]]
        # Without items the batch rows are the only thing the two transactions share.
        workers += [partial(ack, store, []) for store in stores[2:]]
        assert _in_threads(workers) == []
        assert stores[0].batch_totals("erp", run_id, "products") == BatchTotals(1, 3, 1)


def test_airflow_connection_opens_the_store(
    postgres_server: PostgresServer, postgres_url: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    """What a deployment does: a Postgres connection in Airflow, named by
    SALESLAYER_STATE_CONN_ID. The password holds characters that must be escaped in URLs."""
    database = postgres_url.rsplit("/", 1)[1]
    monkeypatch.delenv("SALESLAYER_STATE_URL", raising=False)
    monkeypatch.setenv(
        "AIRFLOW_CONN_SL_STATE",
        json.dumps(
            {
                "conn_type": "postgres",
                "host": postgres_server.host,
                "port": postgres_server.port,
                "login": postgres_server.user,
                "password": postgres_server.password,
                "schema": database,
                "extra": {"sslmode": "disable", "connect_timeout": "10"},
            }
        ),
    )
    monkeypatch.setenv("SALESLAYER_STATE_CONN_ID", "sl_state")
    store = StateStore.open()
    try:
        store.record_applied("erp", "products", "r", [AppliedItem("A", "h", DAY, saleslayer_id=9)])
        assert store.engine.dialect.name == "postgresql"
        assert store.items("erp", "products", ["A"])["A"].saleslayer_id == 9
    finally:
        store.close()
    # The rows are in that server's database, not in some default SQLite file.
    engine = _engine(postgres_url)
    with engine.connect() as connection:
        import sqlalchemy as sa

        rows = connection.execute(sa.text("SELECT reference, saleslayer_id FROM slc_items"))
        assert [tuple(row) for row in rows] == [("A", 9)]
    engine.dispose()


def test_airflow_connection_as_a_uri(
    postgres_server: PostgresServer, postgres_url: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    database = postgres_url.rsplit("/", 1)[1]
    password = quote(postgres_server.password, safe="")
    monkeypatch.setenv(
        "AIRFLOW_CONN_SL_STATE_URI",
        f"postgres://{postgres_server.user}:{password}@{postgres_server.host}:"
        f"{postgres_server.port}/{database}",
    )
    monkeypatch.setenv("SALESLAYER_STATE_CONN_ID", "sl_state_uri")
    store = StateStore.open()
    try:
        store.record_applied("erp", "products", "r", [AppliedItem("A", "h", DAY)])
        assert StateStore.open(postgres_url).live_references("erp", "products") == {"A"}
    finally:
        store.close()


def test_a_wrong_password_is_never_shown(
    postgres_server: PostgresServer,
    postgres_url: str,
    monkeypatch: pytest.MonkeyPatch,
    caplog: pytest.LogCaptureFixture,
) -> None:
    """The server refuses the connection's password: the error names the server and what to
    check, and neither the wrong password nor the right one appears anywhere."""
    database = postgres_url.rsplit("/", 1)[1]
    wrong = "pw-Wr0ng-s3cret-@:/%"
    monkeypatch.setenv(
        "AIRFLOW_CONN_SL_STATE_BAD",
        json.dumps(
            {
                "conn_type": "postgres",
                "host": postgres_server.host,
                "port": postgres_server.port,
                "login": postgres_server.user,
                "password": wrong,
                "schema": database,
            }
        ),
    )
    monkeypatch.setenv("SALESLAYER_STATE_CONN_ID", "sl_state_bad")
    caplog.set_level(logging.DEBUG)
    with pytest.raises(StateStoreError) as caught:
        StateStore.open()
    message = str(caught.value)
    assert f"127.0.0.1:{postgres_server.port}/{database}" in message
    assert "reachable" in message
    shown = [message, repr(caught.value), caplog.text]
    shown += [str(exc) for exc in (caught.value.__cause__, caught.value.__context__) if exc]
    for secret in (wrong, quote(wrong, safe=""), postgres_server.password):
        assert not any(secret in text for text in shown)
    # A URL given directly is shown the same way.
    with pytest.raises(StateStoreError) as direct:
        StateStore.open(postgres_server.url(database, password=wrong))
    assert wrong not in str(direct.value) and quote(wrong, safe="") not in str(direct.value)


def test_export_dates_do_not_depend_on_the_server_or_session_time_zone(
    postgres_url: str,
) -> None:
    """Export dates are naive UTC in `timestamp without time zone` columns: the server's time
    zone (UTC+13:45 here) and a session's shift nothing."""
    import sqlalchemy as sa

    store = StateStore.open(postgres_url)
    moment = datetime(2026, 11, 1, 23, 30, tzinfo=UTC)
    store.record_applied("erp", "products", "r", [AppliedItem("A", "h", moment)])
    assert store.items("erp", "products", ["A"])["A"].export_date == datetime(2026, 11, 1, 23, 30)
    store.close()
    engine = _engine(postgres_url, options="-c timezone=America/Los_Angeles")
    with engine.connect() as connection:
        assert connection.execute(sa.text("SHOW timezone")).scalar() == "America/Los_Angeles"
        value = connection.execute(sa.text("SELECT export_date FROM slc_items")).scalar()
        kinds = {
            column["name"]: str(column["type"])
            for column in sa.inspect(connection).get_columns("slc_items")
        }
    engine.dispose()
    assert value == datetime(2026, 11, 1, 23, 30)
    assert kinds["export_date"] == kinds["updated_at"] == "TIMESTAMP"
    assert SERVER_TIME_ZONE != "UTC"


def test_the_store_shares_a_database_with_other_tables(postgres_url: str) -> None:
    """E.g. Airflow's own metadata database: the store adds its slc_ tables and leaves the
    others alone, also when it migrates again."""
    import sqlalchemy as sa

    engine = _engine(postgres_url)
    with engine.begin() as connection:
        connection.execute(sa.text("CREATE TABLE dag_run (id INTEGER PRIMARY KEY, note TEXT)"))
        connection.execute(sa.text("INSERT INTO dag_run VALUES (1, 'kept')"))
    for _ in range(2):
        StateStore.open(postgres_url).close()
    with engine.connect() as connection:
        tables = set(sa.inspect(connection).get_table_names())
        assert connection.execute(sa.text("SELECT note FROM dag_run")).scalar() == "kept"
        assert current_version(connection) == LATEST_VERSION
    engine.dispose()
    assert tables == {"dag_run", "slc_items", "slc_push_batches", "slc_schema_version"}


def test_a_bare_postgresql_url_uses_an_installed_driver(postgres_url: str) -> None:
    """SQLAlchemy 2.1 maps ``postgresql://`` to psycopg 3; a worker with only psycopg2 (what
    Airflow's Postgres provider installs) must still open the store."""
    import importlib.util

    assert postgres_url.startswith("postgresql://")
    store = StateStore.open(postgres_url)
    expected = "psycopg" if importlib.util.find_spec("psycopg") else "psycopg2"
    assert store.engine.dialect.driver == expected
    store.close()


def test_dag_runs_keep_their_state_in_postgresql(
    world: World, postgres_url: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The connector's DAG through Airflow (dag.test) with the state store on PostgreSQL: the
    first day creates every store, the next day's export sends only what changed, an older
    export is refused as stale, and all of it is remembered in the server's database."""
    import sqlalchemy as sa

    day, text = first_day()
    stores_count = len(text.splitlines()) - 1
    world.connector(batch_size=7)
    monkeypatch.setenv("SALESLAYER_STATE_URL", postgres_url)
    world.publish(day, text)

    first = world.run(day)

    assert first.state == "success", states(first)
    report = xcom(first, "report")["tables"]["points_of_sale"]
    assert (report["created"], report["failed"]) == (stores_count, 0), report
    engine = _engine(postgres_url)
    with engine.connect() as connection:
        items = connection.execute(
            sa.text("SELECT COUNT(*) FROM slc_items WHERE connector_id = :c AND table_name = :t"),
            {"c": world.dag_id, "t": "points_of_sale"},
        ).scalar()
        batches = connection.execute(
            sa.text("SELECT COUNT(*) FROM slc_push_batches WHERE run_id = :r"),
            {"r": first.run_id},
        ).scalar()
    assert items == stores_count
    assert batches == -(-stores_count // 7)
    assert not (world.tmp / "state.sqlite").exists()

    next_day = day + timedelta(days=1)
    world.publish(next_day, changed_copy(text))
    second = world.run(next_day)

    assert second.state == "success", states(second)
    report = xcom(second, "report")["tables"]["points_of_sale"]
    assert (report["created"], report["updated"], report["unchanged"]) == (
        1,
        2,
        stores_count - 2,
    ), report
    assert len(catalog(world.emulator)) == stores_count + 1

    # Yesterday's export again, after today's: nothing is rolled back.
    older = world.run(day + timedelta(hours=2), force=True)

    assert older.state == "success", states(older)
    report = xcom(older, "report")["tables"]["points_of_sale"]
    assert (report["stale"], report["updated"]) == (2, 0), report
    renamed = [row for row in catalog(world.emulator).values() if "(renovated)" in str(row)]
    assert len(renamed) == 2
    engine.dispose()
