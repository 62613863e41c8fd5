"""The state store scoped by Sales Layer account (issue 11, point 9), on SQLite and PostgreSQL
(the ``state_url`` fixture): the migration of a version-1 store with rows, the adoption of its
rows by each connector's first push, isolation between accounts; and the two other places the
account scopes: the connection's account key and the import history."""

from __future__ import annotations

import json
import threading
from datetime import UTC, datetime
from pathlib import Path

import pytest

from saleslayer_airflow.state import AppliedItem, BatchTotals, StateStore
from saleslayer_airflow.state.schema import (
    LATEST_VERSION,
    MIGRATIONS,
    _apply,
    _create_version_table,
    current_version,
)
from saleslayer_airflow.state.store import LEGACY_ACCOUNT, _with_installed_driver

DAY = datetime(2026, 11, 1, tzinfo=UTC)
A, B = "account-a", "account-b"


def _v1_store_with_rows(url: str) -> None:
    """A store as version 1 left it: X's categories and a batch, Y's products."""
    import sqlalchemy as sa

    engine = sa.create_engine(_with_installed_driver(sa.engine.make_url(url)))
    _create_version_table(engine)
    _apply(engine, 1, MIGRATIONS[0])
    item = (
        "INSERT INTO slc_items (connector_id, table_name, reference, content_hash, content, "
        "saleslayer_id, export_date, deleted, run_id, updated_at) VALUES "
        "(:c, :t, :r, :h, NULL, :id, :day, :deleted, 'run1', :day)"
    )
    with engine.begin() as connection:
        for connector, table, ref, deleted in (
            ("X", "categories", "C1", False),
            ("X", "categories", "C2", False),
            ("X", "categories", "C3", True),
            ("X", "brands", "B1", False),
            ("Y", "products", "P1", False),
        ):
            connection.execute(
                sa.text(item),
                {
                    "c": connector,
                    "t": table,
                    "r": ref,
                    "h": f"hash-{ref}",
                    "id": 7,
                    "day": DAY.replace(tzinfo=None),
                    "deleted": deleted,
                },
            )
        connection.execute(
            sa.text(
                "INSERT INTO slc_push_batches (connector_id, run_id, table_name, batch_key, "
                "created, updated, acked_at) VALUES ('X', 'run1', 'categories', 'k1', 3, 0, :d)"
            ),
            {"d": DAY.replace(tzinfo=None)},
        )
        assert current_version(connection) == 1
    engine.dispose()


def test_a_version_1_store_keeps_its_rows_as_legacy_until_each_push_adopts_them(
    state_url: str,
) -> None:
    _v1_store_with_rows(state_url)
    in_a = StateStore.open(state_url, account=A)
    with in_a.engine.connect() as connection:
        assert current_version(connection) == LATEST_VERSION == 2
    # Not adopted yet: the account's own state is empty, but the legacy parents stay known
    # (to every account, as before the upgrade), deleted ones excepted.
    assert in_a.items("X", "categories", ["C1"]) == {}
    assert in_a.known_references("categories", ["C1", "C2", "C3"]) == {"C1", "C2"}
    legacy = StateStore(in_a.engine)
    assert legacy.live_references("X", "categories") == {"C1", "C2"}

    assert in_a.adopt_legacy("X", "categories") == 3
    # The first push after the upgrade finds its state: hashes, ids, deletions, batches.
    state = in_a.items("X", "categories", ["C1", "C3"])
    assert {ref: (s.content_hash, s.saleslayer_id, s.deleted) for ref, s in state.items()} == {
        "C1": ("hash-C1", 7, False),
        "C3": ("hash-C3", 7, True),
    }
    assert state["C1"].export_date == DAY.replace(tzinfo=None)
    assert in_a.live_references("X", "categories") == {"C1", "C2"}
    assert in_a.batch_totals("X", "run1", "categories") == BatchTotals(1, 3, 0)
    # Only that connector's table moved: X's brands and Y's products are still legacy.
    assert legacy.live_references("X", "brands") == {"B1"}
    assert legacy.live_references("Y", "products") == {"P1"}
    assert legacy.live_references("X", "categories") == set()
    assert in_a.adopt_legacy("X", "categories") == 0

    # Adopted by account A, the categories are no longer known to account B.
    in_b = StateStore.open(state_url, account=B)
    assert in_b.known_references("categories", ["C1", "C2"]) == set()
    assert in_b.known_references("brands", ["B1"]) == {"B1"}
    assert in_b.items("X", "categories", ["C1"]) == {}
    assert in_b.live_references("X", "categories") == set()
    for opened in (in_a, in_b):
        opened.close()


def test_the_legacy_account_adopts_nothing(state_url: str) -> None:
    _v1_store_with_rows(state_url)
    legacy = StateStore.open(state_url)
    assert legacy.account == LEGACY_ACCOUNT
    assert legacy.adopt_legacy("X", "categories") == 0
    assert legacy.live_references("X", "categories") == {"C1", "C2"}
    legacy.close()


def test_workers_migrating_a_version_1_store_at_once_copy_every_row_once(
    state_url: str,
) -> None:
    _v1_store_with_rows(state_url)
    errors: list[BaseException] = []
    opened: list[StateStore] = []
    start = threading.Barrier(5)

    def open_store() -> None:
        try:
            start.wait()
            opened.append(StateStore.open(state_url, account=A))
        except BaseException as exc:
            errors.append(exc)

    threads = [threading.Thread(target=open_store) for _ in range(5)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert errors == []
    import sqlalchemy as sa

    with opened[0].engine.connect() as connection:
        assert current_version(connection) == LATEST_VERSION
        count = connection.execute(sa.text("SELECT COUNT(*) FROM slc_items")).scalar()
        versions = connection.execute(sa.text("SELECT version FROM slc_schema_version"))
        assert sorted(row.version for row in versions) == list(range(1, LATEST_VERSION + 1))
    assert count == 5
    for store in opened:
        store.close()


def test_accounts_keep_separate_items_batches_and_known_references(state_url: str) -> None:
    in_a = StateStore.open(state_url, account=A)
    in_b = StateStore.open(state_url, account=B)
    in_a.record_applied("X", "categories", "r1", [AppliedItem("C1", "h1", DAY, saleslayer_id=1)])
    in_a.ack_batch(
        "X", "r1", "categories", "k", [AppliedItem("C2", "h2", DAY)], created=1, updated=0
    )
    # The same connector, table and references in account B are new items there.
    assert in_b.items("X", "categories", ["C1", "C2"]) == {}
    assert in_b.live_references("X", "categories") == set()
    assert in_b.batch_totals("X", "r1", "categories") == BatchTotals()
    assert in_b.known_references("categories", ["C1", "C2"]) == set()
    # Any connector of account A knows A's parents.
    assert in_a.known_references("categories", ["C1", "C2", "C9"]) == {"C1", "C2"}

    in_b.record_applied("X", "categories", "r2", [AppliedItem("C1", "other", DAY)])
    assert in_a.items("X", "categories", ["C1"])["C1"].content_hash == "h1"
    assert in_b.items("X", "categories", ["C1"])["C1"].content_hash == "other"
    # Deleting in B leaves A's item live.
    in_b.record_applied("X", "categories", "r3", [AppliedItem("C1", "", DAY, deleted=True)])
    assert in_a.live_references("X", "categories") == {"C1", "C2"}
    assert in_b.live_references("X", "categories") == set()
    for opened in (in_a, in_b):
        opened.close()


def test_adoption_keeps_the_accounts_own_row_over_a_legacy_one(state_url: str) -> None:
    _v1_store_with_rows(state_url)
    in_a = StateStore.open(state_url, account=A)
    in_a.record_applied("X", "categories", "r2", [AppliedItem("C1", "newer", DAY)])
    assert in_a.adopt_legacy("X", "categories") == 2
    assert in_a.items("X", "categories", ["C1"])["C1"].content_hash == "newer"
    assert in_a.live_references("X", "categories") == {"C1", "C2"}
    assert StateStore(in_a.engine).live_references("X", "categories") == set()
    in_a.close()


# --- the account key of a connection ---------------------------------------------------------


def _key(monkeypatch: pytest.MonkeyPatch, conn_id: str, **fields: object) -> str:
    from saleslayer_airflow.saleslayer.hook import SalesLayerHook

    monkeypatch.setenv(
        f"AIRFLOW_CONN_{conn_id.upper()}", json.dumps({"conn_type": "saleslayer", **fields})
    )
    return SalesLayerHook(saleslayer_conn_id=conn_id).account_key


def test_the_account_key_follows_host_and_connector_code_not_the_private_key(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    host = "http://127.0.0.1:8090"
    first = _key(monkeypatch, "sl_one", host=host, login="CN1", password="pk-secret-1")
    assert len(first) == 16 and "pk-secret" not in first
    # Another connection with the same code (key rotated): the same account.
    assert _key(monkeypatch, "sl_two", host=host + "/", login="CN1", password="pk-2") == first
    assert _key(monkeypatch, "sl_three", host=host, login="CN2", password="pk-1") != first
    assert _key(monkeypatch, "sl_four", host="http://127.0.0.1:8091", login="CN1") != first
    # Connectors of one account with different codes share a key through extra `account`.
    labelled = {"extra": {"account": "Acme Fashion"}}
    assert _key(monkeypatch, "sl_five", host=host, login="CN1", **labelled) == _key(
        monkeypatch, "sl_six", host=host, login="CN2", **labelled
    )


def test_a_rest_only_connection_is_keyed_by_its_api_key(monkeypatch: pytest.MonkeyPatch) -> None:
    rest = "http://127.0.0.1:8090/catalog/rest/Catalog/"
    first = _key(monkeypatch, "rest_one", extra={"rest_url": rest, "api_key": "ak-one-0042"})
    assert "0042" not in first
    assert first == _key(
        monkeypatch, "rest_two", extra={"rest_url": rest, "api_key": "ak-one-0042"}
    )
    assert first != _key(monkeypatch, "rest_3", extra={"rest_url": rest, "api_key": "ak-two-0042"})


def test_a_connection_that_names_no_account_is_refused_with_the_fix(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    from saleslayer_airflow.exceptions import SalesLayerTerminalError

    with pytest.raises(SalesLayerTerminalError, match=r"'sl_empty'.*no login.*'account'"):
        _key(monkeypatch, "sl_empty", host="http://127.0.0.1:8090", password="pk-secret")
    with pytest.raises(SalesLayerTerminalError, match=r"'sl_absent'.*not defined"):
        from saleslayer_airflow.saleslayer.hook import SalesLayerHook

        _ = SalesLayerHook(saleslayer_conn_id="sl_absent").account_key


# --- the import history -----------------------------------------------------------------------


def test_the_import_history_of_one_account_is_none_in_another(tmp_path: Path) -> None:
    from airflow.sdk import ObjectStoragePath

    from saleslayer_airflow.import_history import ImportHistory

    folder = ObjectStoragePath(tmp_path.as_uri())
    ImportHistory(folder, account=A).record("f" * 64, "run1", DAY)
    last = ImportHistory(folder, account=A).read()
    assert last is not None and (last.fingerprint, last.account) == ("f" * 64, A)
    # Re-pointed to account B: no record, so the export is fetched and imported again.
    assert ImportHistory(folder, account=B).read() is None
    assert ImportHistory(folder).read() == last


def test_an_import_record_from_before_accounts_holds_for_any_account(tmp_path: Path) -> None:
    from airflow.sdk import ObjectStoragePath

    from saleslayer_airflow.import_history import ImportHistory

    folder = ObjectStoragePath(tmp_path.as_uri())
    ImportHistory(folder).record("e" * 64, "run0", DAY)
    data = json.loads((tmp_path / "_state" / "last_import.json").read_text())
    assert data["account"] is None
    del data["account"]  # as version 1 wrote it
    (tmp_path / "_state" / "last_import.json").write_text(json.dumps(data))
    last = ImportHistory(folder, account=B).read()
    assert last is not None and last.run_id == "run0" and last.account is None
