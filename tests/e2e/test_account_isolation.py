"""Isolation between Sales Layer accounts (issue 11, point 9), through Airflow into two emulators
(two accounts) sharing one state store.

Connector ``cats_x`` imports categories into account A; connector ``prods_y`` imports products
linking those categories. Bound for account B, where the categories were never imported, the
products are rejected by validation (their parents are unknown in B), not failed at push time.
Bound for account A, the same products resolve against X's categories. Re-pointed to account B,
``cats_x`` fetches and creates every category there again: not skipped as an unchanged export,
nothing "unchanged" because of account A's hashes; and then Y's products go to B too.
"""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest

from tests.e2e.conftest import CODE, FAST_TRACKING, KEY, World, catalog, states, xcom

CATEGORIES = """\
id: cats_x
description: Categories into one Sales Layer account.
schedule: "@daily"
start_date: 2026-11-01
source: {{kind: ftp, conn_id: erp_ftp, path: /exports/categories.csv, stable_for: 0s}}
format: {{type: csv}}
tables:
  categories:
    reference: code
    fields:
      cat_title: name
target: {{conn_id: {conn_id}, batch_size: 50, deletions: {{enabled: true, max_ratio: 0.5}}}}
validation: {{max_reject_ratio: 0.0}}
"""

PRODUCTS = """\
id: prods_y
description: Products linking the categories another connector imports.
schedule: "@daily"
start_date: 2026-11-01
source: {{kind: ftp, conn_id: erp_ftp, path: /exports/products.csv, stable_for: 0s}}
format: {{type: csv}}
tables:
  products:
    reference: sku
    categories: {{column: category}}
    fields:
      prod_title: name
target: {{conn_id: {conn_id}, batch_size: 50}}
validation: {{max_reject_ratio: 1.0}}
"""

CATEGORY_ROWS = ["C1,Shirts", "C2,Shoes", "C3,Bags"]
PRODUCT_ROWS = ["P1,Oxford shirt,C1", "P2,Derby shoe,C2", "P3,Tote bag,C3", "P4,Sneaker,C2"]
DAY = datetime(2026, 11, 2, 6, tzinfo=UTC)


def _connection(base_url: str) -> str:
    return json.dumps({"conn_type": "saleslayer", "host": base_url, "login": CODE, "password": KEY})


def _run(world: World, dag_id: str, text: str, day: datetime) -> Any:
    world.write_connector(dag_id, text)
    run = world.run(day)
    assert states(run)["fetch_source"] == "success", states(run)
    return run


@pytest.mark.integration
def test_state_is_scoped_by_the_target_account(world: World) -> None:
    from saleslayer_airflow.emulator.server import start_in_thread

    account_b = start_in_thread(world.tmp / "sl_b.sqlite", settings=FAST_TRACKING)
    world.stopped.append(account_b)
    account_a = world.emulator
    world.monkeypatch.setenv("AIRFLOW_CONN_SL_ACCOUNT_A", _connection(account_a.base_url))
    world.monkeypatch.setenv("AIRFLOW_CONN_SL_ACCOUNT_B", _connection(account_b.base_url))
    world.publish_file("categories.csv", "code,name\n" + "\n".join(CATEGORY_ROWS) + "\n")
    world.publish_file("products.csv", "sku,name,category\n" + "\n".join(PRODUCT_ROWS) + "\n")

    # 1. X imports the categories into account A.
    run = _run(world, "cats_x", CATEGORIES.format(conn_id="sl_account_a"), DAY)
    assert run.state == "success", states(run)
    assert xcom(run, "push_categories")["created"] == 3
    assert set(catalog(account_a, "catalogue")) == {"C1", "C2", "C3"}

    # 2. Y bound for account B: the categories are unknown there, every product is rejected
    # by validation; nothing is sent, nothing fails at push time.
    run = _run(world, "prods_y", PRODUCTS.format(conn_id="sl_account_b"), DAY)
    assert run.state == "success", states(run)
    split = xcom(run, "validate_and_split")
    assert split["tables"]["products"]["rejected"] == 4
    assert split["tables"]["products"]["rows_out"] == 0
    pushed = xcom(run, "push_products")
    assert (pushed["items"], pushed["created"], pushed["failed"]) == (0, 0, 0)
    assert catalog(account_b, "products") == {}

    # 3. The same products bound for account A resolve against X's categories there.
    run = _run(world, "prods_y", PRODUCTS.format(conn_id="sl_account_a"), DAY + timedelta(1))
    assert run.state == "success", states(run)
    assert xcom(run, "validate_and_split")["tables"]["products"]["rejected"] == 0
    assert xcom(run, "push_products")["created"] == 4
    linked = catalog(account_a, "products")
    assert set(linked) == {"P1", "P2", "P3", "P4"}

    # 4. X re-pointed to account B, the same export: fetched again (not skipped as unchanged),
    # every category created in B (none "unchanged" from A's hashes), and account A's items
    # are no deletion candidates in B.
    run = _run(world, "cats_x", CATEGORIES.format(conn_id="sl_account_b"), DAY + timedelta(1))
    assert run.state == "success", states(run)
    assert xcom(run, "fetch_source")["files"], "the export was fetched"
    pushed = xcom(run, "push_categories")
    assert (pushed["items"], pushed["created"], pushed["unchanged"]) == (3, 3, 0)
    assert pushed["deleted"] == 0
    assert set(catalog(account_b, "catalogue")) == {"C1", "C2", "C3"}
    assert set(catalog(account_a, "catalogue")) == {"C1", "C2", "C3"}

    # 5. Now the categories exist in B: Y's products go there, all created.
    run = _run(world, "prods_y", PRODUCTS.format(conn_id="sl_account_b"), DAY + timedelta(2))
    assert run.state == "success", states(run)
    assert xcom(run, "validate_and_split")["tables"]["products"]["rejected"] == 0
    pushed = xcom(run, "push_products")
    assert (pushed["created"], pushed["unchanged"]) == (4, 0)
    assert set(catalog(account_b, "products")) == {"P1", "P2", "P3", "P4"}

    # 6. Back on account A with the same export: A's own state stands, nothing changed there.
    run = _run(world, "cats_x", CATEGORIES.format(conn_id="sl_account_a"), DAY + timedelta(2))
    assert run.state == "success", states(run)
    pushed = xcom(run, "push_categories")
    assert (pushed["created"], pushed["unchanged"], pushed["deleted"]) == (0, 3, 0)


@pytest.mark.integration
def test_a_store_from_before_accounts_is_adopted_by_the_first_push(world: World) -> None:
    """A version-1 store holding what an earlier run pushed: after the upgrade, the first run
    sends nothing unchanged, and the rows belong to the connector's account from then on."""
    import sqlalchemy as sa

    from saleslayer_airflow.state.schema import MIGRATIONS, _apply, _create_version_table

    world.monkeypatch.setenv("AIRFLOW_CONN_SL_ACCOUNT_A", _connection(world.emulator.base_url))
    world.publish_file("categories.csv", "code,name\n" + "\n".join(CATEGORY_ROWS) + "\n")
    run = _run(world, "cats_x", CATEGORIES.format(conn_id="sl_account_a"), DAY)
    assert xcom(run, "push_categories")["created"] == 3

    # The same rows in a store as version 1 of the schema kept them (no account).
    current = sa.create_engine(f"sqlite:///{world.tmp / 'state.sqlite'}")
    old = sa.create_engine(f"sqlite:///{world.tmp / 'state_v1.sqlite'}")
    _create_version_table(old)
    _apply(old, 1, MIGRATIONS[0])
    columns = (
        "connector_id, table_name, reference, content_hash, content, saleslayer_id, "
        "export_date, deleted, run_id, updated_at"
    )
    with current.connect() as source, old.begin() as target:
        rows = [
            dict(r._mapping) for r in source.execute(sa.text(f"SELECT {columns} FROM slc_items"))
        ]
        assert len(rows) == 3
        names = ", ".join(f":{c.strip()}" for c in columns.split(","))
        target.execute(sa.text(f"INSERT INTO slc_items ({columns}) VALUES ({names})"), rows)
    world.monkeypatch.setenv("SALESLAYER_STATE_URL", f"sqlite:///{world.tmp / 'state_v1.sqlite'}")

    world.emulator.reset()
    run = world.dag().test(logical_date=DAY + timedelta(1), run_conf={"force": True})
    assert run.state == "success", states(run)
    pushed = xcom(run, "push_categories")
    assert (pushed["created"], pushed["unchanged"], pushed["deleted"]) == (0, 3, 0)
    assert catalog(world.emulator, "catalogue") == {}, "nothing was resent"
    with old.connect() as connection:
        accounts = {r[0] for r in connection.execute(sa.text("SELECT account FROM slc_items"))}
    assert len(accounts) == 1 and "" not in accounts
    for engine in (current, old):
        engine.dispose()
