"""The state store on a real SQLite file: schema migration, items, batches, imports, delta and
the backfill guard."""

from __future__ import annotations

import itertools
import threading
from datetime import UTC, datetime, timedelta
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

DAY = datetime(2026, 11, 1, tzinfo=UTC)


@pytest.fixture
def store(tmp_path: Path) -> StateStore:
    return StateStore.open(f"sqlite:///{tmp_path / 'state.sqlite'}")


def test_schema_is_created_and_migration_is_idempotent(tmp_path: Path) -> None:
    url = f"sqlite:///{tmp_path / 'state.sqlite'}"
    first = StateStore.open(url)
    assert migrate(first.engine) == LATEST_VERSION
    second = StateStore.open(url)
    with second.engine.connect() as connection:
        assert current_version(connection) == LATEST_VERSION


def test_concurrent_first_opens_agree_on_the_schema(tmp_path: Path) -> None:
    url = f"sqlite:///{tmp_path / 'state.sqlite'}"
    errors: list[BaseException] = []

    def open_store() -> None:
        try:
            StateStore.open(url).record_applied(
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
    assert StateStore.open(url).live_references("c", "t") == {"A"}


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
        (ItemState("h", 1, DAY), "h", DAY, {"overwrite": True}, Decision.UPDATE),
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


def test_backfills_in_any_order_end_with_the_newest_export(tmp_path: Path) -> None:
    """Five daily exports of one item, applied in all 120 orders: the newest always wins."""
    exports = [(DAY + timedelta(days=d), content_hash({"price": 10 + d})) for d in range(5)]
    newest = exports[-1][1]
    for n, order in enumerate(itertools.permutations(exports)):
        store = StateStore.open(f"sqlite:///{tmp_path / f'perm{n}.sqlite'}")
        for export_date, digest in order:
            previous = store.items("shop", "products", ["A"]).get("A")
            decision = decide(digest, export_date.replace(tzinfo=None), previous)
            if decision in (Decision.CREATE, Decision.UPDATE):
                store.record_applied(
                    "shop", "products", "r", [AppliedItem("A", digest, export_date)]
                )
        assert store.items("shop", "products", ["A"])["A"].content_hash == newest, order
        store.close()


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
