"""Shapes 5 and 6 of issue 13 end to end: a Magento 2 catalog_product export, imported by a
connector file alone, through Airflow (dag.test) into the emulator over HTTP.

The configurable products list their simple children in configurable_variations (children
before and after their parent, one listed child absent from the export); attributes are
key=value pairs in additional_attributes (a multiselect joined by '|', keys no field declares).
Expected catalogue, links and counts are computed here from the raw export with the csv module.
"""

from __future__ import annotations

from typing import Any

import pytest

from tests.e2e.conftest import World, catalog, first_day, states, xcom
from tests.normalize.magento_sample import export_csv, pairs, records

CONNECTOR = """\
id: magento_e2e
description: Magento 2 catalog_product export from FTP into the emulator.
schedule: "@daily"
start_date: 2026-11-01
retries: 0
source:
  kind: ftp
  conn_id: erp_ftp
  path: "/exports/catalog_product_{{ ds_nodash }}.csv"
  stable_for: 0s
format: {type: csv}
tables:
  products:
    reference: sku
    where: [{column: visibility, equals: ["Catalog, Search", "Catalog", "Search"]}]
    fields:
      prod_title: name
      prod_description: description
      prod_material: {column: additional_attributes, key: material}
      prod_tags: {column: additional_attributes, key: activity, separator: "|"}
      prod_price: {column: price, type: number}
  variants:
    reference: sku
    where: [{column: visibility, equals: Not Visible Individually}]
    product:
      listed_in:
        column: configurable_variations
        reference_key: sku
        fields: {size: size}
    fields:
      size: {column: additional_attributes, key: size}
      frmt_price: {column: price, type: number}
target: {conn_id: saleslayer_default, batch_size: 3}
validation: {max_reject_ratio: 0.0}
"""

VISIBLE = {"Catalog, Search", "Catalog", "Search"}


def expected(text: str) -> tuple[dict[str, dict[str, Any]], dict[str, dict[str, Any]]]:
    """Products and variants as the export says, read with the csv module."""
    rows = records(text)
    listed: dict[str, tuple[str, dict[str, str]]] = {}
    for row in rows:
        for entry in filter(None, row["configurable_variations"].split("|")):
            found = pairs(entry)
            listed[found["sku"]] = (row["sku"], found)
    products: dict[str, dict[str, Any]] = {}
    variants: dict[str, dict[str, Any]] = {}
    for row in rows:
        attrs = pairs(row["additional_attributes"])
        if row["visibility"] in VISIBLE:
            products[row["sku"]] = {
                "title": row["name"],
                "material": attrs.get("material"),
                "tags": [t for t in attrs.get("activity", "").split("|") if t],
                "price": row["price"],
            }
        else:
            parent, pair = listed[row["sku"]]
            variants[row["sku"]] = {"product": parent, "size": attrs.get("size") or pair["size"]}
    return products, variants


@pytest.mark.integration
def test_magento_export_lands_with_listed_variants_and_pair_fields(world: World) -> None:
    day, _ = first_day()
    text = export_csv()
    world.write_connector("magento_e2e", CONNECTOR)
    world.publish_file(f"catalog_product_{day:%Y%m%d}.csv", text)

    dag_run = world.run(day)

    assert dag_run.state == "success", states(dag_run)
    want_products, want_variants = expected(text)
    products = catalog(world.emulator, "products")
    variants = catalog(world.emulator, "product_formats")
    assert set(products) == set(want_products)
    assert set(variants) == set(want_variants)
    for ref, want in want_products.items():
        fields = products[ref]["fields"]
        assert fields["prod_title"] == {"en": want["title"]}, ref
        assert fields.get("prod_material") == (
            None if want["material"] is None else {"en": want["material"]}
        ), ref
        assert fields["prod_tags"] == want["tags"], ref
        assert float(fields["prod_price"]) == float(want["price"]), ref
    # the HTML description arrives as the export has it (entities, line breaks, accents)
    pullover = next(r for r in records(text) if r["sku"] == "MH02")
    assert products["MH02"]["fields"]["prod_description"] == {"en": pullover["description"]}
    for ref, want in want_variants.items():
        row = variants[ref]
        assert row["fields"]["size"] == want["size"], ref
        assert row["links"]["prod_ref"] == [want["product"]], ref

    report = xcom(dag_run, "report")
    assert report["tables"]["products"]["created"] == len(want_products)
    assert report["tables"]["variants"]["created"] == len(want_variants)
    assert report["tables"]["variants"]["rejected"] == 0
    # nothing vanishes: the keys no field declares, per table and key, and the listed variant
    # absent from the export are counted in the report
    declared = {"products": {"material", "activity"}, "variants": {"size"}}
    unknown: dict[str, int] = {}
    for row in records(text):
        table = "products" if row["visibility"] in VISIBLE else "variants"
        for key in pairs(row["additional_attributes"]):
            if key not in declared[table]:
                name = f"{table}: unknown key {key!r} in additional_attributes"
                unknown[name] = unknown.get(name, 0) + 1
    counted = {
        reason.split(" (")[0]: n
        for reason, n in report["ignored"].items()
        if "unknown key" in reason
    }
    assert counted == unknown
    listed = {
        pairs(entry)["sku"]
        for row in records(text)
        for entry in filter(None, row["configurable_variations"].split("|"))
    }
    absent = [n for reason, n in report["ignored"].items() if "variants listed in" in reason]
    assert absent == [len(listed - {row["sku"] for row in records(text)})] == [1]
