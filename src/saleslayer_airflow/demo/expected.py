"""What Sales Layer should hold after the demo, computed straight from the export files.

Deliberately independent of the pipeline: a few lines of csv/json per example connector that say,
from the ERP's own columns, which item each table should hold and which values its fields should
have. Exports are applied day by day, the newest value winning; an item that leaves an export
keeps its last values (none of the examples deletes), except points of sale, whose connector sets
stores missing from the newest export inactive (status ``I``).

Each expected item is ``{"fields": {...}, "links": {...}, "status": ...}`` with only the fields
the connector writes: multilingual fields as ``{lang: text}``, lists as lists, numbers as floats.
"""

from __future__ import annotations

import csv
from collections.abc import Iterable
from pathlib import Path
from typing import Any

from saleslayer_airflow.demo.exports import DayExports

Item = dict[str, Any]
#: connector id -> Sales Layer table (import name) -> reference -> expected item
Expected = dict[str, dict[str, dict[str, Item]]]

_LIFECYCLE_STATUS = {"ACTIVE": "V", "PHASE_OUT": "V", "BLOCKED": "I"}


def _rows(path: Path, delimiter: str) -> Iterable[dict[str, str]]:
    with path.open(encoding="utf-8", newline="") as handle:
        yield from csv.DictReader(handle, delimiter=delimiter)


def _item(fields: dict[str, Any], links: dict[str, list[str]] | None = None) -> Item:
    return {"fields": fields, "links": links or {}}


def apparel_catalog(days: list[DayExports]) -> dict[str, dict[str, Item]]:
    """``apparel_catalog_http``: the category tree, products and variants of the catalog CSV."""
    categories: dict[str, Item] = {}
    products: dict[str, Item] = {}
    variants: dict[str, Item] = {}
    for day in days:
        for row in _rows(day.catalog_csv, ";"):
            parts = row["category_path"].split(" > ")
            for depth in range(1, len(parts) + 1):
                ref = " > ".join(parts[:depth])
                parent = [" > ".join(parts[: depth - 1])] if depth > 1 else []
                fields = categories.get(ref, {}).get("fields", {})
                if depth == len(parts):  # only the leaf has names in the export
                    fields = {
                        "cat_title": {"en": row["category_name_en"], "es": row["category_name_es"]}
                    }
                categories[ref] = _item(fields, {"cat_parent_ref": parent})
            products[row["product_ref"]] = _item(
                {
                    "prod_title": {"en": row["product_name_en"], "es": row["product_name_es"]},
                    "prod_description": {
                        "en": row["product_description_en"],
                        "es": row["product_description_es"],
                    },
                    "prod_material": {"en": row["material"].strip().lower()},
                    "prod_image": row["image_urls"].split(","),
                },
                {"cat_ref": [row["category_path"]]},
            )
            variants[row["sku"]] = _item(
                {
                    "size": row["size"],
                    "color": {"en": row["colour"].title()},
                    "frmt_price": float(row["price_eur"].replace(",", ".")),
                    "frmt_ean": row["ean"],
                },
                {"prod_ref": [row["product_ref"]]},
            )
    return {"catalogue": categories, "products": products, "product_formats": variants}


def stores(days: list[DayExports]) -> dict[str, dict[str, Item]]:
    """``stores_ftp``: every store ever listed; those missing from the newest file inactive."""
    points: dict[str, Item] = {}
    for day in days:
        for row in _rows(day.stores_csv, ","):
            points[row["store_number"]] = _item(
                {
                    "pos_name": row["store_name"],
                    "pos_address": row["street_address"],
                    "pos_city": row["city"],
                    "pos_zip": row["postcode"],
                    "pos_country": row["country"].upper(),
                    "pos_phone": row["phone_number"],
                    "pos_latitude": float(row["latitude"]),
                    "pos_longitude": float(row["longitude"]),
                }
            )
    if days:
        open_now = {row["store_number"] for row in _rows(days[-1].stores_csv, ",")}
        for ref, item in points.items():
            item["status"] = "V" if ref in open_now else "I"
    return {"points_of_sale": points}


def erp_api(days: list[DayExports]) -> dict[str, dict[str, Item]]:
    """``erp_api_catalog``: brands and products of the ERP API's records, newest day winning."""
    brands: dict[str, Item] = {}
    products: dict[str, Item] = {}
    for day in days:
        for record in day.items():
            brand = record["brand"]
            brands[brand["code"]] = _item(
                {"brand_title": {"en": brand["name"]}, "brand_website": brand["url"]}
            )
            item = _item(
                {"prod_title": {"en": record["title"]["en"], "fr": record["title"]["fr"]}},
                {"prod_brand": [brand["code"]]},
            )
            item["status"] = _LIFECYCLE_STATUS[record["lifecycle"]]
            products[record["item_code"]] = item
    return {"brands": brands, "products": products}


def expected_state(days: list[DayExports]) -> Expected:
    """Per example connector and Sales Layer table, the items the demo's imports should leave."""
    return {
        "stores_ftp": stores(days),
        "apparel_catalog_http": apparel_catalog(days),
        "erp_api_catalog": erp_api(days),
    }
