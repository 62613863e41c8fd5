"""Shapes 3 and 4 of issue 13 through Airflow into the emulator: a Shopify products CSV
(continuation rows: the product on the first row of a Handle, a variant or an extra image on
each row after it) imported by a connector file alone, with `continuation:` and images collected
from two columns over every row. The expected catalogue is computed from the raw file with the
csv module (tests/normalize/shopify_export.py), never from what the pipeline says."""

from __future__ import annotations

import csv
import io
from decimal import Decimal
from typing import Any

import pytest

from tests.e2e.conftest import World, catalog, first_day, states, xcom
from tests.normalize import shopify_export as shop

pytestmark = pytest.mark.integration

CONNECTOR = """\
id: shopify_e2e
description: Shopify products CSV with continuation rows, into the emulator.
schedule: "@daily"
start_date: 2026-11-01
source:
  kind: ftp
  conn_id: erp_ftp
  path: "/exports/products_export_{{ ds_nodash }}.csv"
  stable_for: 0s
format: {type: csv, delimiter: ","}
target: {conn_id: saleslayer_default, batch_size: 3}
validation: {max_reject_ratio: 0.0}
tables:
  products:
    reference: Handle
    continuation: {key: Handle}
    fields:
      prod_title: {column: Title, required: true}
      prod_description: Body (HTML)
      prod_tags: {column: Tags, separator: ","}
      prod_image: {columns: [Image Src, Variant Image], separator: ",", collect: true}
  variants:
    reference: Variant SKU
    product: Handle
    continuation: {key: Handle, fill: [Option1 Name]}
    fields:
      frmt_description: {column: Option1 Name, required: true}
      size: Option1 Value
      frmt_price: {column: Variant Price, type: number}
      frmt_ean: Variant Barcode
"""


def _fields(row: dict[str, Any]) -> dict[str, Any]:
    fields: dict[str, Any] = row["fields"]
    return fields


def _number(text: str) -> str:
    return f"{Decimal(text).normalize():f}"


def test_shopify_continuation_rows_end_as_products_and_variants(world: World) -> None:
    day, _ = first_day()
    text = shop.export_text()
    world.write_connector("shopify_e2e", CONNECTOR)
    world.publish_file(f"products_export_{day:%Y%m%d}.csv", text)

    dag_run = world.run(day)

    assert dag_run.state == "success", states(dag_run)
    products = shop.expected_products(text)
    variants = shop.expected_variants(text)
    got = catalog(world.emulator, "products")
    assert set(got) == set(products)
    for handle, want in products.items():
        fields = _fields(got[handle])
        assert fields["prod_title"] == {"en": want["title"]}, handle
        assert fields["prod_description"] == {"en": want["description"]}, handle
        assert fields["prod_image"] == want["images"], handle
        assert fields.get("prod_tags") == want["tags"], handle
    got_v = catalog(world.emulator, "product_formats")
    assert set(got_v) == set(variants)
    for sku, want in variants.items():
        fields = _fields(got_v[sku])
        assert fields["frmt_description"] == {"en": want["option"]}, sku
        assert fields["size"] == want["value"], sku
        assert fields["frmt_price"] == _number(str(want["price"])), sku
        assert fields.get("frmt_ean") == want["barcode"], sku
        assert got_v[sku]["links"]["prod_ref"] == [want["product"]], sku

    report = xcom(dag_run, "report")["tables"]
    rows = len(shop.rows_of(text))
    assert report["products"]["created"] == len(products)
    assert report["variants"]["created"] == len(variants)
    assert report["products"]["rejected"] == report["variants"]["rejected"] == 0
    # every row of the export fed the products; the image-only rows fed no variant
    assert report["products"]["read"] == rows
    assert report["variants"]["read"] == rows - shop.image_only_rows(text)


MAGENTO_CONNECTOR = """\
id: magento_e2e
description: Magento catalog_product export, one row per store view, images collected.
schedule: "@daily"
start_date: 2026-11-01
source:
  kind: ftp
  conn_id: erp_ftp
  path: "/exports/catalog_product_{{ ds_nodash }}.csv"
  stable_for: 0s
format: {type: csv, delimiter: ","}
target: {conn_id: saleslayer_default, batch_size: 2}
validation: {max_reject_ratio: 0.0}
tables:
  products:
    reference: sku
    fields:
      prod_title: name
      prod_description: description
      prod_image: {columns: [base_image, additional_images], separator: ",", collect: true}
"""


def test_magento_images_from_two_columns_and_every_store_view_row(world: World) -> None:
    """Shape 4 alone: a product on several rows (its store views), a base image and additional
    images that repeat it; one list per product, in order, each image once."""
    from tests.normalize.test_collect_shape4 import MAGENTO

    day, _ = first_day()
    out = io.StringIO()
    csv.writer(out).writerows(MAGENTO)
    text = out.getvalue()
    world.write_connector("magento_e2e", MAGENTO_CONNECTOR)
    world.publish_file(f"catalog_product_{day:%Y%m%d}.csv", text)

    dag_run = world.run(day)

    assert dag_run.state == "success", states(dag_run)
    rows = list(csv.DictReader(io.StringIO(text)))
    images: dict[str, list[str]] = {}
    names: dict[str, str] = {}
    for row in rows:
        mine = images.setdefault(row["sku"], [])
        names.setdefault(row["sku"], row["name"])
        for cell in (row["base_image"], row["additional_images"]):
            mine += [p for p in cell.split(",") if p and p not in mine]
    got = catalog(world.emulator, "products")
    assert set(got) == set(images)
    for sku, want in images.items():
        fields = _fields(got[sku])
        assert fields.get("prod_image") == (want or None), sku
        assert fields["prod_title"] == {"en": names[sku]}, sku
    report = xcom(dag_run, "report")["tables"]["products"]
    assert (report["read"], report["created"], report["merged"]) == (
        len(rows),
        len(images),
        len(rows) - len(images),
    )
