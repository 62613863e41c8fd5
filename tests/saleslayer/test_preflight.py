"""The Sales Layer name check: a connector's tables, fields (one per language, as sent) and link
targets against the account's model, from the emulator's own ``$metadata`` (the same tenant
model that refuses unknown fields on import), a schema declared in the connection, or none."""

from __future__ import annotations

import json
import logging
from pathlib import Path
from typing import Any

import pytest

from saleslayer_airflow.config.load import parse_connector
from saleslayer_airflow.config.models import ConnectorConfig
from saleslayer_airflow.emulator.rest_metadata import table_schema
from saleslayer_airflow.emulator.tenant import load_tenant
from saleslayer_airflow.saleslayer.hook import SalesLayerHook
from saleslayer_airflow.saleslayer.preflight import (
    AccountSchema,
    DeclaredSchemaError,
    UnknownSalesLayerNames,
    account_schema,
    check_account_names,
    check_names,
    declared_schema,
    schema_from_metadata,
)

CONNECTOR = """\
id: names_check
description: Categories, products and variants with a brand link.
schedule: "@daily"
start_date: 2026-11-01
source: {{kind: ftp, conn_id: erp_ftp, path: "/exports/catalog.csv"}}
format: {{type: csv}}
tables:
  categories:
    reference: category_path
    path: {{column: category_path, separator: " > "}}
    fields:
      cat_title: {{column: category_name, languages: [en, es]}}
  products:
    reference: product_ref
    categories: {{column: category_path}}
    links: {{{link}: {{column: brand, field: {link_field}}}}}
    fields:
      {product_title}: {{column: product_name, languages: [{languages}]}}
      prod_price: {{column: price{price_languages}}}
      prod_material: material
  variants:
    reference: sku
    product: product_ref
    fields:
      {size}: size
      color: {{column: colour, languages: [en]}}
target: {{conn_id: saleslayer_preflight}}
"""


def connector(**changes: str) -> ConnectorConfig:
    values = {
        "link": "brands",
        "link_field": "prod_brand",
        "product_title": "prod_title",
        "languages": "en, es",
        "price_languages": "",
        "size": "size",
    }
    values.update(changes)
    return parse_connector(CONNECTOR.format(**values), "names_check.yaml")


def emulator_schema() -> AccountSchema:
    tenant = load_tenant()
    docs = [table_schema(tenant, table) for table in tenant.tables]
    return schema_from_metadata(docs, "the emulator's $metadata")


def paths(config: ConnectorConfig) -> dict[str, str]:
    return {p.path: p.message for p in check_names(config, emulator_schema())}


def test_the_metadata_model_holds_the_accounts_tables_languages_and_link_targets() -> None:
    schema = emulator_schema()
    assert set(schema.tables) == {
        "catalogue",
        "products",
        "product_formats",
        "points_of_sale",
        "brands",
    }
    assert schema.languages == ("en", "es", "fr")
    products = schema.tables["products"]
    assert products.fields["prod_title"].multilingual is True
    assert products.fields["prod_price"].multilingual is False
    assert products.links["cat_ref"] == "catalogue"
    assert products.links["prod_brand"] is None  # a reference field: $metadata names no target
    assert schema.tables["product_formats"].links["prod_ref"] == "products"
    assert schema.tables["catalogue"].links["cat_parent_ref"] == "catalogue"


def test_a_connector_whose_names_all_exist_passes() -> None:
    assert paths(connector()) == {}


def test_a_misspelt_field_is_named_with_its_path_a_suggestion_and_the_tables_fields() -> None:
    found = paths(connector(product_title="prod_titel"))
    assert list(found) == ["tables.products.fields.prod_titel"]
    message = found["tables.products.fields.prod_titel"]
    assert "prod_titel_en, prod_titel_es" in message  # as the connector sends it
    assert "did you mean 'prod_title'?" in message
    assert "prod_description" in message and "prod_image" in message  # the account's fields


def test_a_language_the_account_lacks_is_an_unknown_per_language_field() -> None:
    found = paths(connector(languages="en, de"))
    message = found.pop("tables.products.fields.prod_title.languages")
    assert found == {}
    assert "prod_title_de" in message and "en, es, fr" in message
    assert "prod_title_en" not in message


def test_languages_on_a_single_language_field_are_refused() -> None:
    found = paths(connector(price_languages=", languages: [en]"))
    assert "not multi-language" in found["tables.products.fields.prod_price"]


def test_a_per_language_name_given_as_sent_is_known() -> None:
    # `cat_title_fr` as a plain field is what the Import Connector takes for French.
    config = connector(size="frmt_description_fr")
    assert paths(config) == {}
    assert "tables.variants.fields.frmt_description_xx" in paths(
        connector(size="frmt_description_xx")
    )


def test_an_unknown_link_target_and_an_unknown_link_field_are_named() -> None:
    found = paths(connector(link="brandz"))
    message = found["tables.products.links.brandz"]
    assert "targets table 'brandz', which is not in the account" in message
    assert "did you mean 'brands'?" in message
    found = paths(connector(link_field="prod_brnd"))
    assert "has no link field 'prod_brnd'" in found["tables.products.links.brands"]
    assert "did you mean 'prod_brand'?" in found["tables.products.links.brands"]


def test_a_link_pointing_at_another_table_than_the_account_says_is_named() -> None:
    # cat_ref links products to categories in the account, not to brands.
    found = paths(connector(link_field="cat_ref"))
    assert (
        "targets 'catalogue' in the account, not 'brands'"
        in (found["tables.products.links.brands"])
    )


def test_an_unknown_table_is_named_with_the_accounts_tables() -> None:
    text = connector().model_dump(mode="json", exclude_none=True)
    text["tables"]["colours"] = {
        "kind": "custom_entity",
        "reference": "colour",
        "fields": {"colour_title": "colour"},
    }
    config = ConnectorConfig.model_validate(text)
    found = paths(config)
    assert list(found) == ["tables.colours"]
    assert "'colours' is not in the account" in found["tables.colours"]
    assert "brands, catalogue" in found["tables.colours"]


def test_every_tables_unknown_names_are_in_one_message(monkeypatch: pytest.MonkeyPatch) -> None:
    config = connector(product_title="prod_titel", size="sise", link="brandz")
    problems = check_names(config, emulator_schema())
    error = UnknownSalesLayerNames(config.id, problems, "the emulator's $metadata")
    text = str(error)
    for path in (
        "tables.products.fields.prod_titel",
        "tables.products.links.brandz",
        "tables.variants.fields.sise",
    ):
        assert f"- {path}: " in text
    assert "connector 'names_check'" in text and "products, variants" in text
    assert "nothing was sent" in text and "Fix: correct these names" in text
    assert "did you mean 'size'?" in text


def test_a_declared_schema_in_both_shapes_and_as_a_file(tmp_path: Path) -> None:
    tables: dict[str, Any] = {
        "catalogue": ["cat_ref", "cat_title", "cat_parent_ref"],
        "products": {
            "fields": ["prod_ref", "prod_title", "prod_price", "prod_material", "cat_ref"],
            "links": {"prod_brand": "brands"},
        },
        "product_formats": ["frmt_ref", "prod_ref", "size", "color"],
        "brands": ["brand_ref"],
    }
    short = declared_schema(tables, "c")
    assert check_names(connector(), short) == []
    long = {"languages": ["en", "fr"], "tables": tables}
    file = tmp_path / "schema.json"
    file.write_text(json.dumps(long), encoding="utf-8")
    for value in (long, json.dumps(long), str(file)):
        problems = check_names(connector(), declared_schema(value, "c"))
        assert [p.path for p in problems] == [
            "tables.categories.fields.cat_title.languages",
            "tables.products.fields.prod_title.languages",
        ]
    tables["products"]["links"] = {"prod_brand": "catalogue"}
    linked = declared_schema(tables, "c")
    assert any("targets 'catalogue'" in p.message for p in check_names(connector(), linked))
    with pytest.raises(DeclaredSchemaError, match="neither JSON/YAML text nor a readable file"):
        declared_schema("/nowhere/schema.json", "c")
    with pytest.raises(DeclaredSchemaError, match="list of field names"):
        declared_schema({"products": "prod_ref"}, "c")


def _define(monkeypatch: pytest.MonkeyPatch, **extra: Any) -> None:
    conn = {
        "conn_type": "saleslayer",
        "host": "http://127.0.0.1:1",
        "login": "CN123TEST",
        "password": "pk-S3cret-Private-Key-4-tests",
        "extra": extra,
    }
    monkeypatch.setenv("AIRFLOW_CONN_SALESLAYER_PREFLIGHT", json.dumps(conn))


def test_without_api_key_or_declared_schema_the_check_is_skipped_with_one_line(
    monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    _define(monkeypatch)
    log = logging.getLogger("preflight-test")
    with caplog.at_level(logging.INFO, logger="preflight-test"):
        check_account_names(connector(product_title="prod_titel"), log)
    (line,) = [r.getMessage() for r in caplog.records]
    assert "field check skipped for connector 'names_check'" in line
    assert "'rest_url' and 'api_key'" in line and "'account_schema'" in line
    assert "pk-S3cret" not in line


def test_a_declared_schema_in_the_connection_is_used(monkeypatch: pytest.MonkeyPatch) -> None:
    _define(monkeypatch, account_schema=json.dumps({"products": ["prod_ref"]}))
    with pytest.raises(UnknownSalesLayerNames) as raised:
        check_account_names(connector(), logging.getLogger("preflight-test"))
    text = str(raised.value)
    assert "the schema declared in Airflow connection 'saleslayer_preflight'" in text
    assert "tables.categories: Sales Layer table 'catalogue' is not in the account" in text
    assert "pk-S3cret" not in text


def test_the_rest_metadata_is_read_when_the_connection_has_an_api_key(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    from saleslayer_airflow.emulator.server import start_in_thread

    emulator = start_in_thread(tmp_path / "sl.sqlite")
    try:
        api_key = "ak-S3cret-Api-Key-4-tests-0042"
        _define(
            monkeypatch,
            rest_url=f"{emulator.base_url}/catalog/rest/Catalog/",
            api_key=api_key,
            account_schema=json.dumps({"products": ["prod_ref"]}),  # REST comes first
        )
        hook = SalesLayerHook(saleslayer_conn_id="saleslayer_preflight")
        schema = account_schema(hook, connector(), logging.getLogger("preflight-test"))
        assert schema is not None and "$metadata" in schema.source
        assert check_names(connector(), schema) == []
        with pytest.raises(UnknownSalesLayerNames) as raised:
            check_account_names(connector(size="sise"), logging.getLogger("preflight-test"))
        assert [p.path for p in raised.value.problems] == ["tables.variants.fields.sise"]
        assert api_key not in str(raised.value)
        assert emulator.stats()["by_endpoint"]
    finally:
        emulator.stop()


def test_an_unreadable_metadata_skips_for_the_import_connector_and_fails_for_rest(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    from saleslayer_airflow.config.target import Transport
    from saleslayer_airflow.emulator.server import start_in_thread
    from saleslayer_airflow.exceptions import SalesLayerTerminalError

    emulator = start_in_thread(tmp_path / "sl.sqlite")
    try:
        wrong = "ak-Wrong-Key-Do-Not-Leak-0077"
        _define(monkeypatch, rest_url=f"{emulator.base_url}/catalog/rest/Catalog/", api_key=wrong)
        log = logging.getLogger("preflight-test")
        with caplog.at_level(logging.INFO, logger="preflight-test"):
            check_account_names(connector(product_title="prod_titel"), log)
        (line,) = [r.getMessage() for r in caplog.records]
        assert "$metadata could not be read" in line and "skipped this run" in line
        assert "saleslayer_preflight" in line and wrong not in line
        config = connector()
        rest = config.model_copy(
            update={"target": config.target.model_copy(update={"transport": Transport.REST})}
        )
        with pytest.raises(SalesLayerTerminalError) as raised:
            check_account_names(rest, log)
        assert wrong not in str(raised.value)
    finally:
        emulator.stop()


def test_metadata_without_storage_names_is_matched_by_entity_title() -> None:
    # Sales Layer's own documents may lack the emulator's x-storage-object-name: the titles
    # (Category, Product, Variant, CustomEntity('Brands')) still find each table.
    tenant = load_tenant()
    docs = []
    for table in tenant.tables:
        doc = table_schema(tenant, table)
        del doc["x-storage-object-name"]
        docs.append(doc)
    schema = schema_from_metadata(docs, "titles only")
    assert {"catalogue", "products", "product_formats", "Brands"} <= set(schema.tables)
    assert check_names(connector(), schema) == []
    assert [p.path for p in check_names(connector(size="sise"), schema)] == [
        "tables.variants.fields.sise"
    ]
