"""Look-alike references through Airflow (dag.test, FTP, the emulator over HTTP): a padded
reference is the same item as the plain one, on the item side and on the link side alike; one
holding a zero-width space is rejected with the character named, never imported as a second item.
"""

from __future__ import annotations

import csv
from typing import Any

import pytest

from saleslayer_airflow import staging
from tests.e2e.conftest import World, catalog, first_day, states, xcom

CONNECTOR = """\
id: lookalikes_e2e
description: Categories, products and SKUs with look-alike references.
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
    reference: ref
    where: [{column: kind, equals: cat}]
    parent: parent
    fields:
      cat_title: name
  products:
    reference: ref
    where: [{column: kind, equals: prod}]
    categories: {column: category}
    fields:
      prod_title: name
  variants:
    reference: ref
    where: [{column: kind, equals: sku}]
    product: product
    fields:
      size: size
target: {conn_id: saleslayer_default, batch_size: 10}
validation: {max_reject_ratio: 1.0}
"""

EXPORT = (
    "kind;ref;parent;name;category;product;size\n"
    "cat;CAT-1 ;;Shirts;;;\n"  # padded on the item side ...
    "cat;CAT-2;CAT-1;Oxford;;;\n"  # ... plain on the link side
    "prod;P1;;Tee;CAT-1;;\n"
    "prod;P1 ;;Tee;CAT-1\u00a0;;\n"  # the same product and category: merged
    "prod;P1\u200b;;Tee;CAT-1;;\n"  # looks like P1, is not: rejected with the reason
    "sku;S1;;;;P1 ;M\n"
    "sku;S2;;;;P1;L\n"
)


def _rejects(world: World, dag_run: Any) -> list[dict[str, str]]:
    folder = staging.run_folder((world.tmp / "staging").as_uri(), world.dag_id, dag_run.run_id)
    with (folder / staging.REJECTS_FILE).open("r", encoding="utf-8", newline="") as handle:
        return list(csv.DictReader(handle))


@pytest.mark.integration
def test_look_alike_references_end_as_one_item_or_a_reasoned_reject(world: World) -> None:
    day, _ = first_day()
    world.write_connector("lookalikes_e2e", CONNECTOR)
    world.publish_file(f"catalog_{day:%Y%m%d}.csv", EXPORT)

    dag_run = world.run(day)

    assert dag_run.state == "success", states(dag_run)
    categories = catalog(world.emulator, "catalogue")
    products = catalog(world.emulator, "products")
    variants = catalog(world.emulator, "product_formats")
    assert set(categories) == {"CAT-1", "CAT-2"}
    assert set(products) == {"P1"}
    assert set(variants) == {"S1", "S2"}
    # linked in Sales Layer, by the trimmed reference on both sides
    assert categories["CAT-2"]["links"] == {"cat_parent_ref": ["CAT-1"]}
    cat_1 = next(row["id"] for row in world.emulator.dump("catalogue") if row["ref"] == "CAT-1")
    assert categories["CAT-2"]["link_ids"]["cat_parent_ref"] == [cat_1]
    assert products["P1"]["links"]["cat_ref"] == ["CAT-1"]
    assert products["P1"]["link_ids"]["cat_ref"] == [cat_1]
    assert {ref: v["links"] for ref, v in variants.items()} == {
        "S1": {"prod_ref": ["P1"]},
        "S2": {"prod_ref": ["P1"]},
    }

    report = xcom(dag_run, "report")["tables"]
    assert (report["categories"]["read"], report["categories"]["created"]) == (2, 2)
    product_counts = {k: report["products"][k] for k in ("read", "created", "merged", "rejected")}
    assert product_counts == {"read": 3, "created": 1, "merged": 1, "rejected": 1}
    assert (report["variants"]["read"], report["variants"]["created"]) == (2, 2)

    (reject,) = _rejects(world, dag_run)
    assert (reject["line"], reject["table"], reject["column"]) == ("6", "products", "ref")
    assert reject["reason"] == (
        "the reference 'P1\\u200b' holds an invisible character U+200B ZERO WIDTH SPACE at "
        "position 3; remove it in the ERP"
    )
