"""`target.transport: rest` end to end: a small catalogue (a category tree, products, variants,
parents by reference) from FTP into the emulator through the Catalog REST API v2, run by
Airflow's dag.test(). The first run creates every item in dependency order and records each
item's Sales Layer id in the state store; the same export again sends nothing; one changed
product sends exactly one PATCH; a product missing from a complete export is deleted by id."""

from __future__ import annotations

import csv
import io
import json
import sqlite3
from pathlib import Path
from typing import Any

import pytest

from saleslayer_airflow.demo.catalog import daily_exports
from saleslayer_airflow.state.schema import PREFIX
from tests.e2e.conftest import CODE, KEY, World, catalog, first_day, states, xcom

API_KEY = "ak-S3cret-Api-Key-4-tests-0042"  # the emulator's default tenant's test key
TABLES = {"categories": "catalogue", "products": "products", "variants": "product_formats"}

CONNECTOR = """\
id: catalog_rest
description: Row-per-SKU apparel catalogue from FTP into the emulator over the REST API.
schedule: "@daily"
start_date: 2026-11-01
retries: 0
source:
  kind: ftp
  conn_id: erp_ftp
  path: "/exports/catalog_{{ ds_nodash }}.csv"
  stable_for: 0s
format: {type: csv, delimiter: ";"}
tables:
  categories:
    reference: category_path
    path: {column: category_path, separator: " > "}
    fields:
      cat_title: {column: category_name, languages: [en, es]}
  products:
    reference: product_ref
    categories: {column: category_path}
    fields:
      prod_title: {column: product_name, languages: [en, es], required: true}
      prod_image: {column: image_urls, separator: ","}
  variants:
    reference: sku
    product: product_ref
    fields:
      size: size
      frmt_price: {column: price_eur, type: number, transforms: [{parse_number: comma}]}
target:
  conn_id: saleslayer_default
  transport: rest
  batch_size: 5
  deletions: {enabled: true, max_ratio: 0.5}
validation: {max_reject_ratio: 0.0}
"""


def small_catalogue(products: int = 8, skus: int = 2) -> str:
    """The demo export cut to a few products (two SKUs each): 11 categories, 8 products and
    16 variants, 35 items, so that a run stays far below the REST rate limit."""
    ((_, company),) = daily_exports(1)
    lines = company.apparel_catalog_csv().splitlines()
    rows = list(csv.reader(lines[1:], delimiter=";"))
    kept: dict[str, list[list[str]]] = {}
    for row in rows:
        group = kept.setdefault(row[3], []) if len(kept) < products or row[3] in kept else None
        if group is not None and len(group) < skus:
            group.append(row)
    out = io.StringIO()
    writer = csv.writer(out, delimiter=";", lineterminator="\n")
    writer.writerow(lines[0].split(";"))
    writer.writerows(row for group in kept.values() for row in group)
    return out.getvalue()


def rest_conn(base_url: str, rest_url: str) -> str:
    """The Sales Layer connection with the REST extras; the client and the emulator get a high
    rate limit so the test does not wait on a 10-second window."""
    return json.dumps(
        {
            "conn_type": "saleslayer",
            "host": base_url,
            "login": CODE,
            "password": KEY,
            "extra": {"rest_url": rest_url, "api_key": API_KEY, "rest_max_requests": 1000},
        }
    )


def stored_ids(state_file: Path, table: str) -> dict[str, int | None]:
    with sqlite3.connect(state_file) as connection:
        return {
            ref: sl_id
            for ref, sl_id in connection.execute(
                f"SELECT reference, saleslayer_id FROM {PREFIX}items "
                "WHERE table_name = ? AND deleted = 0",
                (table,),
            )
        }


def progress(dag_run: Any, task_id: str) -> Any:
    """What the task published to Airflow's task state store under ``progress``."""
    from airflow.models.task_state_store import TaskStateStoreModel
    from airflow.utils.session import create_session

    with create_session() as session:
        row = (
            session.query(TaskStateStoreModel)
            .filter_by(dag_id=dag_run.dag_id, run_id=dag_run.run_id, task_id=task_id)
            .filter_by(key="progress")
            .one_or_none()
        )
        return None if row is None else json.loads(row.value)


def rest_requests(emulator: Any) -> dict[str, int]:
    return {
        endpoint: n
        for endpoint, n in emulator.stats()["by_endpoint"].items()
        if endpoint.split()[0] in {"GET", "POST", "PATCH", "DELETE"}
        and endpoint.split()[1] in {"Categories", "Products", "Variants"}
    }


@pytest.mark.integration
def test_rest_transport_creates_then_sends_nothing_then_one_patch(world: World) -> None:
    world.emulator.update_settings({"rate_limit": {"requests": 1000}})
    world.monkeypatch.setenv(
        "AIRFLOW_CONN_SALESLAYER_DEFAULT",
        rest_conn(world.emulator.base_url, world.emulator.rest_base_url),
    )
    day, _ = first_day()
    text = small_catalogue()
    world.write_connector("catalog_rest", CONNECTOR)
    world.publish_file(f"catalog_{day:%Y%m%d}.csv", text)

    first = world.run(day)
    assert first.state == "success", states(first)
    shown = {table: catalog(world.emulator, name) for table, name in TABLES.items()}
    assert {t: len(rows) for t, rows in shown.items()} == {
        "categories": 11,
        "products": 8,
        "variants": 16,
    }
    # Parents by reference arrived as links: the tree, the products' categories, the variants'
    # products.
    tshirts = shown["categories"]["Men > Tops > T-Shirts"]
    assert tshirts["links"]["cat_parent_ref"] == ["Men > Tops"], tshirts
    product = shown["products"]["AP-00000"]
    assert product["links"]["cat_ref"] == ["Men > Tops > T-Shirts"], product
    assert product["fields"]["prod_title"]["es"].startswith("Camiseta")
    variant = shown["variants"]["AP-00000-NAV-XS"]
    assert variant["links"]["prod_ref"] == ["AP-00000"], variant
    # Every item's Sales Layer id is in the state store, and it is the emulator's id.
    state_file = world.tmp / "state.sqlite"
    for table, name in TABLES.items():
        ids = {row["ref"]: row["id"] for row in world.emulator.dump(name)}
        assert stored_ids(state_file, table) == ids, table
    requests = rest_requests(world.emulator)
    assert requests["POST Categories"] == 11 and requests["POST Variants"] == 16, requests
    assert "PATCH Products" not in requests, requests
    report = xcom(first, "report")["tables"]
    assert {t: report[t]["created"] for t in TABLES} == {
        "categories": 11,
        "products": 8,
        "variants": 16,
    }
    # Neither the results nor the published progress hold a secret of the connection.
    for task in ("push_categories", "push_products", "push_variants", "report"):
        shown_values = json.dumps([xcom(first, task), progress(first, task)])
        assert API_KEY not in shown_values and KEY not in shown_values, task
    # Progress was published per batch through the task state store; its last word stays.
    done = progress(first, "push_variants")
    assert done["status"] == "pushed" and done["items_sent"] == 16, done
    assert done["batches_done"] == 4, done  # 16 variants in batches of 5

    # The same export again: nothing to send, not a single REST request.
    world.emulator.state.stats.reset()
    again = world.run(day.replace(hour=7), force=True)
    assert again.state == "success", states(again)
    assert rest_requests(world.emulator) == {}
    report = xcom(again, "report")["tables"]
    assert {t: report[t]["unchanged"] for t in TABLES} == {
        "categories": 11,
        "products": 8,
        "variants": 16,
    }

    # The next day one product is renamed: one PATCH by its recorded id, nothing created.
    next_day = day.replace(day=day.day + 1)
    renamed = text.replace("Organic cotton T-Shirt 0;", "Organic cotton T-Shirt 0 (new);")
    assert renamed != text
    world.publish_file(f"catalog_{next_day:%Y%m%d}.csv", renamed)
    world.emulator.state.stats.reset()
    changed = world.run(next_day)
    assert changed.state == "success", states(changed)
    requests = rest_requests(world.emulator)
    writes = {k: n for k, n in requests.items() if not k.startswith("GET")}
    assert writes == {"PATCH Products": 1}, requests
    report = xcom(changed, "report")["tables"]["products"]
    assert (report["updated"], report["unchanged"], report["created"]) == (1, 7, 0)
    after = catalog(world.emulator, "products")
    assert after["AP-00000"]["fields"]["prod_title"]["en"] == "Organic cotton T-Shirt 0 (new)"
    assert after["AP-00000"]["fields"]["prod_title"]["es"].startswith("Camiseta")
    assert {ref: row for ref, row in after.items() if ref != "AP-00000"} == {
        ref: row for ref, row in shown["products"].items() if ref != "AP-00000"
    }


@pytest.mark.integration
def test_rest_transport_deletes_by_id_what_a_complete_export_dropped(world: World) -> None:
    world.emulator.update_settings({"rate_limit": {"requests": 1000}})
    world.monkeypatch.setenv(
        "AIRFLOW_CONN_SALESLAYER_DEFAULT",
        rest_conn(world.emulator.base_url, world.emulator.rest_base_url),
    )
    day, _ = first_day()
    text = small_catalogue(products=2, skus=2)
    world.write_connector("catalog_rest", CONNECTOR)
    world.publish_file(f"catalog_{day:%Y%m%d}.csv", text)
    first = world.run(day)
    assert first.state == "success", states(first)
    before = catalog(world.emulator, "product_formats")
    assert len(before) == 4

    # The next export no longer holds the last SKU, the second of its product (1 of 4
    # variants: under max_ratio 0.5); the products and categories stay.
    lines = text.splitlines()
    gone = lines[-1].split(";")[11]
    next_day = day.replace(day=day.day + 1)
    world.publish_file(f"catalog_{next_day:%Y%m%d}.csv", "\n".join(lines[:-1]) + "\n")
    world.emulator.state.stats.reset()
    second = world.run(next_day)
    assert second.state == "success", states(second)
    assert rest_requests(world.emulator).get("DELETE Variants") == 1
    after = catalog(world.emulator, "product_formats")
    assert after[gone]["status"] == "X"  # the emulator keeps deleted items, marked X
    assert {ref for ref, row in after.items() if row["status"] != "X"} == set(before) - {gone}
    assert xcom(second, "report")["tables"]["variants"]["deleted"] == 1
