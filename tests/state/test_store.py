"""The state store on a real SQLite file and a real PostgreSQL server (the ``store`` and
``state_url`` fixtures of conftest.py): schema migration, items, batches, delta and the backfill
guard. PostgreSQL-only behaviour (concurrent workers, Airflow connections) is in
test_store_postgres.py."""

from __future__ import annotations

import itertools
import threading
from datetime import UTC, datetime, timedelta, timezone
from pathlib import Path

import pytest

from saleslayer_airflow.exceptions import StateStoreError
from saleslayer_airflow.state import (
    AppliedItem,
    BatchTotals,
    Decision,
    ItemState,
    StateStore,
    content_hash,
    decide,
)
from saleslayer_airflow.state.schema import LATEST_VERSION, current_version, migrate
from saleslayer_airflow.state.store import _with_installed_driver, naive_utc

DAY = datetime(2026, 11, 1, tzinfo=UTC)


def test_schema_is_created_and_migration_is_idempotent(state_url: str) -> None:
    import sqlalchemy as sa

    engine = sa.create_engine(_with_installed_driver(sa.engine.make_url(state_url)))
    with engine.connect() as connection:
        assert current_version(connection) == 0
    first = StateStore.open(state_url)
    assert migrate(first.engine) == LATEST_VERSION
    first.record_applied("c", "t", "r", [AppliedItem("A", "h", DAY)])
    second = StateStore.open(state_url)
    with second.engine.connect() as connection:
        assert current_version(connection) == LATEST_VERSION
        # One row per step: reopening applied nothing twice.
        versions = connection.execute(sa.text("SELECT version FROM slc_schema_version"))
        assert sorted(row.version for row in versions) == list(range(1, LATEST_VERSION + 1))
        tables = set(sa.inspect(connection).get_table_names())
    assert {"slc_items", "slc_push_batches", "slc_schema_version"} <= tables
    assert second.live_references("c", "t") == {"A"}
    for opened in (first, second):
        opened.close()
    engine.dispose()


def test_concurrent_first_opens_agree_on_the_schema(state_url: str) -> None:
    """Six workers open a new, empty store at once: the migration races, nobody fails."""
    errors: list[BaseException] = []
    stores: list[StateStore] = []
    start = threading.Barrier(6)

    def open_store() -> None:
        try:
            start.wait()
            opened = StateStore.open(state_url)
            stores.append(opened)
            opened.record_applied(
                "c", "t", f"run-{threading.get_ident()}", [AppliedItem("A", "h", DAY)]
            )
        except BaseException as exc:
            errors.append(exc)

    threads = [threading.Thread(target=open_store) for _ in range(6)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert errors == []
    assert StateStore.open(state_url).live_references("c", "t") == {"A"}
    for opened in stores:
        opened.close()


def test_items_round_trip_in_chunks(store: StateStore) -> None:
    applied = [
        AppliedItem(f"P{i:05d}", content_hash({"i": i}), DAY, saleslayer_id=i) for i in range(1234)
    ]
    assert store.record_applied("shop", "products", "run1", applied) == 1234
    got = store.items("shop", "products", [f"P{i:05d}" for i in range(1300)])
    assert len(got) == 1234
    assert got["P00007"] == ItemState(
        content_hash({"i": 7}), 7, DAY.replace(tzinfo=None), run_id="run1"
    )
    assert store.items("shop", "variants", ["P00007"]) == {}
    assert store.items("other", "products", ["P00007"]) == {}


def test_applied_content_is_kept_for_field_level_diffs(store: StateStore) -> None:
    fields = {"name_en": "Shoe", "sizes": ["40", "41"]}
    store.record_applied("shop", "products", "r", [AppliedItem("A", "h", DAY, content=fields)])
    assert store.items("shop", "products", ["A"])["A"].content == fields


def test_record_applied_updates_in_place_and_tracks_deletions(store: StateStore) -> None:
    store.record_applied("shop", "products", "r1", [AppliedItem("A", "h1", DAY)])
    store.record_applied(
        "shop", "products", "r2", [AppliedItem("A", "h2", DAY + timedelta(days=1))]
    )
    store.record_applied("shop", "products", "r2", [AppliedItem("B", "h", DAY)])
    assert store.items("shop", "products", ["A"])["A"].content_hash == "h2"
    assert store.live_references("shop", "products") == {"A", "B"}
    store.record_applied("shop", "products", "r3", [AppliedItem("B", "h", DAY, deleted=True)])
    assert store.live_references("shop", "products") == {"A"}


def test_known_references_span_connectors_and_skip_deleted(store: StateStore) -> None:
    store.record_applied("shop", "products", "r", [AppliedItem("A", "h", DAY)])
    store.record_applied("erp", "products", "r", [AppliedItem("B", "h", DAY)])
    store.record_applied("erp", "products", "r", [AppliedItem("C", "h", DAY, deleted=True)])
    assert store.known_references("products", ["A", "B", "C", "D"]) == {"A", "B"}
    assert store.known_references("variants", ["A"]) == set()


def test_acknowledged_batches_are_remembered_with_their_items(store: StateStore) -> None:
    assert store.batch_totals("shop", "run1", "products") == BatchTotals()
    store.ack_batch(
        "shop", "run1", "products", "k1", [AppliedItem("A", "h", DAY)], created=1, updated=0
    )
    # The same batch acknowledged again (a retry that resent it) is counted once.
    store.ack_batch(
        "shop", "run1", "products", "k1", [AppliedItem("A", "h", DAY)], created=1, updated=0
    )
    store.ack_batch(
        "shop", "run1", "products", "k2", [AppliedItem("B", "h", DAY)], created=0, updated=1
    )
    assert store.batch_totals("shop", "run1", "products") == BatchTotals(2, 1, 1)
    assert store.batch_totals("shop", "run2", "products") == BatchTotals()
    states = store.items("shop", "products", ["A", "B"])
    assert {ref: s.run_id for ref, s in states.items()} == {"A": "run1", "B": "run1"}


def test_content_hash_ignores_key_order() -> None:
    assert content_hash({"a": 1, "b": [1, 2]}) == content_hash({"b": [1, 2], "a": 1})
    assert content_hash({"a": 1}) != content_hash({"a": "1"})


@pytest.mark.parametrize(
    ("previous", "new_hash", "export", "options", "expected"),
    [
        (None, "h", DAY, {}, Decision.CREATE),
        (ItemState("h", 1, DAY, deleted=True), "h", DAY, {}, Decision.CREATE),
        (ItemState("h", 1, DAY), "h", DAY, {}, Decision.UNCHANGED),
        (ItemState("h", 1, DAY), "h", DAY, {"send_unchanged": True}, Decision.UPDATE),
        (ItemState("h", 1, DAY), "h2", DAY, {}, Decision.UPDATE),
        (ItemState("h", 1, DAY), "h2", DAY + timedelta(days=1), {}, Decision.UPDATE),
        (ItemState("h", 1, DAY), "h2", DAY - timedelta(days=1), {}, Decision.STALE),
        (ItemState("h", 1, DAY), "h", DAY - timedelta(days=1), {}, Decision.STALE),
        (
            ItemState("h", 1, DAY),
            "h2",
            DAY - timedelta(days=1),
            {"apply_older_exports": True},
            Decision.UPDATE,
        ),
    ],
)
def test_decide(
    previous: ItemState | None,
    new_hash: str,
    export: datetime,
    options: dict[str, bool],
    expected: Decision,
) -> None:
    assert decide(new_hash, export, previous, **options) is expected


def test_backfills_in_any_order_end_with_the_newest_export(store: StateStore) -> None:
    """Five daily exports, applied in all 120 orders (one item per order): the newest always
    wins, and exports older than the one applied are refused as stale."""
    exports = [(DAY + timedelta(days=d), content_hash({"price": 10 + d})) for d in range(5)]
    newest = exports[-1][1]
    orders = list(itertools.permutations(exports))
    stale = 0
    for n, order in enumerate(orders):
        reference = f"A{n:03d}"
        for export_date, digest in order:
            previous = store.items("shop", "products", [reference]).get(reference)
            decision = decide(digest, naive_utc(export_date), previous)
            stale += decision is Decision.STALE
            if decision in (Decision.CREATE, Decision.UPDATE):
                store.record_applied(
                    "shop", "products", "r", [AppliedItem(reference, digest, export_date)]
                )
    states = store.items("shop", "products", [f"A{n:03d}" for n in range(len(orders))])
    assert {state.content_hash for state in states.values()} == {newest}
    assert {state.export_date for state in states.values()} == {naive_utc(exports[-1][0])}
    assert len(states) == 120
    assert stale > 0


def test_export_dates_are_kept_as_utc_whatever_the_time_zone(store: StateStore) -> None:
    """An export dated 01:30 at UTC+2 is 23:30 UTC the day before: it is stored and compared
    as such, so a later export written in UTC is newer, not stale."""
    plus_two = timezone(timedelta(hours=2))
    local = datetime(2026, 11, 2, 1, 30, tzinfo=plus_two)
    store.record_applied("shop", "products", "r", [AppliedItem("A", "h1", local)])
    store.record_applied(
        "shop", "products", "r", [AppliedItem("N", "h1", datetime(2026, 11, 2, 1, 30))]
    )
    got = store.items("shop", "products", ["A", "N"])
    assert got["A"].export_date == datetime(2026, 11, 1, 23, 30)
    assert got["A"].export_date.tzinfo is None
    # A naive date is taken as UTC already.
    assert got["N"].export_date == datetime(2026, 11, 2, 1, 30)
    later_in_utc = naive_utc(datetime(2026, 11, 1, 23, 45, tzinfo=UTC))
    assert decide("h2", later_in_utc, got["A"]) is Decision.UPDATE
    earlier_in_utc = naive_utc(datetime(2026, 11, 1, 23, 15, tzinfo=UTC))
    assert decide("h2", earlier_in_utc, got["A"]) is Decision.STALE


def test_microseconds_of_export_dates_survive(store: StateStore) -> None:
    moment = datetime(2026, 11, 1, 6, 0, 0, 123456, tzinfo=UTC)
    store.record_applied("shop", "products", "r", [AppliedItem("A", "h", moment)])
    assert store.items("shop", "products", ["A"])["A"].export_date == naive_utc(moment)


def test_ids_hashes_and_flags_round_trip(store: StateStore) -> None:
    big_id = 2**40 + 7
    store.record_applied(
        "shop",
        "products",
        "r",
        [
            AppliedItem("A", content_hash({"n": "Ä"}), DAY, saleslayer_id=big_id),
            AppliedItem("B", content_hash({"n": "B"}), DAY, deleted=True),
            AppliedItem("C ü/ümlaut '\"; --", content_hash({}), DAY, content={"k": "€"}),
        ],
    )
    got = store.items("shop", "products", ["A", "B", "C ü/ümlaut '\"; --"])
    assert got["A"] == ItemState(content_hash({"n": "Ä"}), big_id, naive_utc(DAY), run_id="r")
    assert got["B"].deleted is True and got["B"].saleslayer_id is None
    assert got["C ü/ümlaut '\"; --"].content == {"k": "€"}
    assert store.live_references("shop", "products") == {"A", "C ü/ümlaut '\"; --"}


def test_known_references_are_looked_up_in_chunks(store: StateStore) -> None:
    """More references than one IN (...) query takes (500): every chunk is asked."""
    applied = [AppliedItem(f"P{i:05d}", "h", DAY, deleted=i % 7 == 0) for i in range(1700)]
    store.record_applied("erp", "products", "r", applied)
    asked = [f"P{i:05d}" for i in range(2000)]
    expected = {f"P{i:05d}" for i in range(1700) if i % 7 != 0}
    assert store.known_references("products", asked) == expected
    assert store.known_references("products", reversed(asked)) == expected


def test_the_same_reference_twice_in_one_call_keeps_the_last(store: StateStore) -> None:
    store.record_applied(
        "shop", "products", "r", [AppliedItem("A", "h1", DAY), AppliedItem("A", "h2", DAY)]
    )
    assert store.items("shop", "products", ["A"])["A"].content_hash == "h2"


def test_bad_url_names_the_setting_to_fix() -> None:
    with pytest.raises(StateStoreError, match="SALESLAYER_STATE_URL"):
        StateStore.open("not a url")


def test_unreachable_database_error_hides_the_password() -> None:
    with pytest.raises(StateStoreError) as caught:
        StateStore.open("postgresql://loader:pw-very-secret@127.0.0.1:1/state")
    assert "pw-very-secret" not in str(caught.value)
    assert "127.0.0.1" in str(caught.value)


def test_airflow_connection_becomes_the_url(monkeypatch: pytest.MonkeyPatch) -> None:
    from saleslayer_airflow.state.store import _url_from_airflow_connection

    monkeypatch.setenv(
        "AIRFLOW_CONN_SL_STATE",
        '{"conn_type": "postgres", "host": "db.internal", "port": 5432, "login": "loader",'
        ' "password": "pw", "schema": "state"}',
    )
    assert (
        _url_from_airflow_connection("sl_state") == "postgresql://loader:pw@db.internal:5432/state"
    )
    with pytest.raises(StateStoreError, match=r"'missing_conn'.*SALESLAYER_STATE_CONN_ID"):
        _url_from_airflow_connection("missing_conn")


def test_default_location_is_in_airflow_home(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("AIRFLOW_HOME", str(tmp_path))
    monkeypatch.delenv("SALESLAYER_STATE_URL", raising=False)
    monkeypatch.delenv("SALESLAYER_STATE_CONN_ID", raising=False)
    StateStore.open().record_applied("c", "t", "r", [AppliedItem("A", "h", DAY)])
    assert (tmp_path / "saleslayer-state.sqlite").is_file()
