"""Issue 13, shapes 1 and 2, through Airflow into the emulator: a Magento-like
``catalog_product`` export whose ``categories`` cell lists several paths
(``Default Category/Men/Tops/Hoodies & Sweatshirts,Default Category/Collections/Eco Friendly``)
with a parallel ``categories_fr`` column for the French titles, imported by the connector file
alone. The emulator must hold every level of every path once, under its parent, titled in both
languages from the path segments; each product linked to every path's deepest level; and the
rows whose cell cannot be read as paths rejected (never half imported), with a balanced report.

Everything expected is computed from the raw file with the csv module and string operations.
"""

from __future__ import annotations

import csv
import io
from typing import Any

import pytest

from tests.e2e.conftest import World, catalog, first_day, states, xcom

CONNECTOR = """\
id: magento_paths_e2e
description: Magento-like catalog_product export with several category paths per cell.
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
  categories:
    reference: categories
    path:
      column: categories
      separator: /
      list_separator: ","
      title: {field: cat_title, languages: [en, fr], path_language: en}
  products:
    reference: sku
    categories: {column: categories}
    fields:
      prod_title: {column: name, required: true}
      prod_description: description
      prod_image: {column: additional_images, separator: ","}
target: {conn_id: saleslayer_default, batch_size: 5}
validation: {max_reject_ratio: 0.5}
"""

HEADER = ["sku", "name", "description", "additional_images", "categories", "categories_fr"]
HOODIES = "Default Category/Men/Tops/Hoodies & Sweatshirts"
HOODIES_FR = "Catégorie par défaut/Hommes/Hauts/Sweats à capuche"
ROWS = [
    [
        "MH01",
        "Chaz Kangeroo Hoodie",
        "<p>Ideal for cold-weather training &amp; work outdoors.</p>\n<ul>\n<li>Fleece</li>\n</ul>",
        "/m/h/mh01-gray_main.jpg,/m/h/mh01-gray_alt1.jpg",
        f"{HOODIES},Default Category/Collections/Eco Friendly",
        f"{HOODIES_FR},Catégorie par défaut/Collections/Éco-responsable",
    ],
    [
        "MH02",
        "Teton Pullover Hoodie",
        "<p>Café-style comfort.</p>",
        "/m/h/mh02-black_main.jpg",
        f"{HOODIES},Default Category/Men/Tops",  # a path repeated, and one above it
        f"{HOODIES_FR},Catégorie par défaut/Hommes/Hauts",
    ],
    [
        "MH03",
        "Bruno Compete Hoodie",
        "<p>Naïve &eacute;l&eacute;gance</p>",
        "",
        HOODIES,
        HOODIES_FR,
    ],
    [
        "WS01",
        "Iris Workout Top",
        "<p>Light</p>",
        "/w/s/ws01-red_main.jpg",
        "Default Category/Women/Tops/Tees,Default Category/Promotions/Été",
        "Catégorie par défaut/Femmes/Hauts/T-shirts,Catégorie par défaut/Promotions/Été",
    ],
    [  # an empty level: the row is rejected for the categories, and so its product
        "MJ09",
        "Broken Jacket",
        "<p>x</p>",
        "",
        "Default Category/Men//Jackets,Default Category/Gear",
        "Catégorie par défaut/Hommes//Vestes,Catégorie par défaut/Équipement",
    ],
    [  # the French path misses a level: rejected, naming both values
        "MB01",
        "Mismatched Bag",
        "<p>y</p>",
        "",
        "Default Category/Gear/Bags",
        "Catégorie par défaut/Sacs",
    ],
]
BAD_SKUS = {"MJ09", "MB01"}


def export() -> str:
    out = io.StringIO()
    csv.writer(out, lineterminator="\r\n").writerows([HEADER, *ROWS])
    return out.getvalue()


def expected(text: str) -> dict[str, Any]:
    """From the raw file: each category's parent and titles, each product's category links,
    and the levels each good row gives (for the report's counts)."""
    categories: dict[str, dict[str, Any]] = {}
    links: dict[str, list[str]] = {}
    levels = 0
    for row in csv.DictReader(io.StringIO(text)):
        if row["sku"] in BAD_SKUS:
            continue
        paths = [p.split("/") for p in row["categories"].split(",")]
        french = [p.split("/") for p in row["categories_fr"].split(",")]
        seen = set()
        for path, path_fr in zip(paths, french, strict=True):
            for depth in range(len(path)):
                ref = "/".join(path[: depth + 1])
                seen.add(ref)
                categories[ref] = {
                    "parent": "/".join(path[:depth]) or None,
                    "title": {"en": path[depth], "fr": path_fr[depth]},
                }
        levels += len(seen)
        links[row["sku"]] = list(dict.fromkeys("/".join(p) for p in paths))
    return {"categories": categories, "links": links, "levels": levels}


@pytest.mark.integration
def test_several_paths_per_cell_with_titles_reach_the_emulator(world: World) -> None:
    day, _ = first_day()
    text = export()
    want = expected(text)
    world.write_connector("magento_paths_e2e", CONNECTOR)
    world.publish_file(f"catalog_product_{day:%Y%m%d}.csv", text)

    dag_run = world.run(day)

    assert dag_run.state == "success", states(dag_run)
    categories = catalog(world.emulator, "catalogue")
    assert set(categories) == set(want["categories"])
    for ref, item in want["categories"].items():
        got = categories[ref]
        parent = item["parent"]
        assert got["links"].get("cat_parent_ref", []) == ([parent] if parent else []), ref
        assert got["fields"]["cat_title"] == item["title"], ref
    products = catalog(world.emulator, "products")
    assert set(products) == set(want["links"])
    for sku, leaves in want["links"].items():
        assert sorted(products[sku]["links"]["cat_ref"]) == sorted(leaves), sku
    mh01 = products["MH01"]["fields"]
    assert mh01["prod_description"] == {"en": ROWS[0][2]}  # multilingual: the default language
    assert mh01["prod_image"] == ROWS[0][3].split(",")

    report = xcom(dag_run, "report")["tables"]
    cats, prods = report["categories"], report["products"]
    assert cats["created"] == len(want["categories"])
    assert cats["rejected"] == len(BAD_SKUS)
    assert cats["merged"] == want["levels"] - len(want["categories"])
    assert prods["created"] == len(want["links"]) and prods["rejected"] == len(BAD_SKUS)
    for counts in (cats, prods):
        parts = ("created", "updated", "unchanged", "stale", "skipped", "rejected", "merged")
        assert counts["read"] == sum(counts.get(k, 0) for k in (*parts, "failed")), counts
