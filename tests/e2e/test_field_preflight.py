"""The Sales Layer name check through Airflow into the emulator: a connector with a misspelt
product field fails at its first push task (the categories') with nothing sent to Sales Layer,
not a single category; the same connector without the typo imports; a connection with neither
a REST API key nor a declared schema skips the check with one log line and imports as before."""

from __future__ import annotations

import csv
import io
import json
from typing import Any

import pytest

from saleslayer_airflow.demo.catalog import daily_exports
from tests.e2e.conftest import CODE, KEY, World, catalog, first_day, states, tries, xcom

API_KEY = "ak-S3cret-Api-Key-4-tests-0042"  # the emulator's default tenant (docs/emulator.md)

CATALOG = """\
id: names_e2e
description: Row-per-SKU catalogue whose Sales Layer names are checked before the push.
schedule: "@daily"
start_date: 2026-11-01
retries: 2
retry_delay: 1s
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
      PRODUCT_TITLE: {column: product_name, languages: [en, es], required: true}
      prod_material: material
  variants:
    reference: sku
    product: product_ref
    fields:
      size: size
      color: colour
target: {conn_id: saleslayer_default, batch_size: 200}
validation: {max_reject_ratio: 0.0}
"""

TABLES = {"categories": "catalogue", "products": "products", "variants": "product_formats"}


def connector(title_field: str) -> str:
    return CATALOG.replace("PRODUCT_TITLE", title_field)


def with_rest_api(world: World) -> None:
    """The Sales Layer connection with the REST extras (the check reads $metadata); the push
    still goes through the Import Connector API."""
    world.monkeypatch.setenv(
        "AIRFLOW_CONN_SALESLAYER_DEFAULT",
        json.dumps(
            {
                "conn_type": "saleslayer",
                "host": world.emulator.base_url,
                "login": CODE,
                "password": KEY,
                "extra": {
                    "rest_url": f"{world.emulator.base_url}/catalog/rest/Catalog/",
                    "api_key": API_KEY,
                },
            }
        ),
    )


def publish_catalogue(world: World) -> tuple[Any, str]:
    day, _ = first_day()
    ((_, company),) = daily_exports(1)
    text = company.apparel_catalog_csv()
    world.publish_file(f"catalog_{day:%Y%m%d}.csv", text)
    return day, text


def references(text: str) -> dict[str, set[str]]:
    """What each table must hold after an import, from the export alone."""
    rows = list(csv.DictReader(io.StringIO(text), delimiter=";"))
    paths: set[str] = set()
    for row in rows:
        parts = row["category_path"].split(" > ")
        paths.update(" > ".join(parts[: i + 1]) for i in range(len(parts)))
    return {
        "catalogue": paths,
        "products": {row["product_ref"] for row in rows},
        "product_formats": {row["sku"] for row in rows},
    }


def import_calls(world: World) -> int:
    """Import Connector API calls the emulator received (its ``POST /``)."""
    return int(world.emulator.stats()["by_route"].get("connector_api", 0))


@pytest.mark.integration
def test_a_misspelt_product_field_fails_the_first_push_with_nothing_sent(
    world: World, capfd: pytest.CaptureFixture[str]
) -> None:
    with_rest_api(world)
    world.write_connector("names_e2e", connector("prod_titel"))
    day, _ = publish_catalogue(world)

    dag_run = world.run(day)

    assert dag_run.state == "failed"
    ran = states(dag_run)
    assert ran["push_categories"] == "failed", ran
    assert tries(dag_run)["push_categories"] == 1, "a terminal error was retried"
    assert ran["push_products"] != "success" and ran["push_variants"] != "success", ran
    # Nothing reached Sales Layer: no item in any table, no import call at all.
    for import_name in TABLES.values():
        assert catalog(world.emulator, import_name) == {}, import_name
    assert import_calls(world) == 0, world.emulator.stats()["by_route"]
    pushed = xcom(dag_run, "push_categories")
    error = pushed["error"]
    assert "tables.products.fields.prod_titel" in error, error
    assert "did you mean 'prod_title'?" in error and "$metadata" in error
    report = xcom(dag_run, "report")
    assert report["succeeded"] is False
    assert "prod_titel" in report["tables"]["categories"]["error"]
    logs = "".join(capfd.readouterr())
    assert "tables.products.fields.prod_titel" in logs, "the task log was not captured"
    everything = repr(pushed) + repr(report) + logs
    assert KEY not in everything and API_KEY not in everything


@pytest.mark.integration
def test_the_same_connector_without_the_typo_imports(world: World) -> None:
    with_rest_api(world)
    world.write_connector("names_e2e", connector("prod_title"))
    day, text = publish_catalogue(world)

    dag_run = world.run(day)

    assert dag_run.state == "success", states(dag_run)
    expected = references(text)
    for import_name in TABLES.values():
        assert set(catalog(world.emulator, import_name)) == expected[import_name], import_name
    # One $metadata read per push task, and no more.
    by_endpoint: dict[str, int] = world.emulator.stats()["by_endpoint"]
    metadata = sum(n for endpoint, n in by_endpoint.items() if "$metadata" in endpoint)
    assert metadata == len(TABLES), by_endpoint
    assert import_calls(world) > 0  # the counter the failing run asserts zero on counts
    product = next(iter(catalog(world.emulator, "products").values()))
    assert set(product["fields"]["prod_title"]) == {"en", "es"}


@pytest.mark.integration
def test_without_api_key_or_declared_schema_the_check_is_skipped_and_the_run_imports(
    world: World, capfd: pytest.CaptureFixture[str]
) -> None:
    # The default connection of the world: Import Connector API only.
    world.write_connector("names_e2e", connector("prod_title"))
    day, text = publish_catalogue(world)

    dag_run = world.run(day)

    assert dag_run.state == "success", states(dag_run)
    expected = references(text)
    for import_name in TABLES.values():
        assert set(catalog(world.emulator, import_name)) == expected[import_name], import_name
    logs = "".join(capfd.readouterr())
    skipped = [line for line in logs.splitlines() if "field check skipped" in line]
    assert len(skipped) == len(TABLES), skipped  # one line per push task
    assert "'account_schema'" in skipped[0] and "'api_key'" in skipped[0]
    assert KEY not in logs


@pytest.mark.integration
def test_a_dry_run_checks_the_names_too(world: World) -> None:
    with_rest_api(world)
    world.write_connector("names_e2e", connector("prod_titel"))
    day, _ = publish_catalogue(world)

    dag_run = world.run(day, dry_run=True)

    assert dag_run.state == "failed"
    assert states(dag_run)["push_categories"] == "failed", states(dag_run)
    assert "tables.products.fields.prod_titel" in xcom(dag_run, "push_categories")["error"]
    assert import_calls(world) == 0
