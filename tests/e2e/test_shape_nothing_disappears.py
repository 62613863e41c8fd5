"""Nothing disappears, through Airflow (issue 13, shape 9): a Magento-like export whose bundles
and grouped products feed no table, whose tables take rows by `where:`, with columns no table
reads, imported by dag.test() from FTP into the emulator over HTTP. The report (XCom,
report.json, report.txt) counts every row that fed no table, every row a `where:` left out and
every unread column; ignored.csv lists the rows with line and why, served by the UI plugin's
files. Expected figures are computed here from the raw file with the csv module."""

from __future__ import annotations

import csv
import io
import json
from typing import Any

import pytest

from saleslayer_airflow import staging
from saleslayer_airflow.contracts import IGNORED_FILE
from saleslayer_airflow.report.stage import REPORT_TEXT_FILE
from saleslayer_airflow.ui.links import RUN_FILES, run_file_url
from tests.e2e.conftest import World, catalog, first_day, states, xcom

CONNECTOR = """\
id: shop_e2e
description: A Magento-like export with product types no table takes.
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
    where: [{column: product_type, equals: configurable}]
    fields:
      prod_title: {column: name, required: true}
      prod_description: description
  variants:
    reference: sku
    where: [{column: product_type, equals: [simple, virtual]}]
    product: parent_sku
    fields:
      size: size
target: {conn_id: saleslayer_default, batch_size: 10}
validation: {max_reject_ratio: 0.0}
"""

EXPORT = (
    "sku,product_type,parent_sku,name,description,size,weight,tax_class_name,url_key,"
    "base_image,additional_attributes\n"
    'MH01,configurable,,Chaz Kangeroo Hoodie,"<p>Ideal for cold-weather training &amp; work.'
    '</p>\n<ul><li>Pullover</li></ul>",,,Taxable Goods,chaz-hoodie,/m/h/mh01.jpg,'
    '"material=Cotton,style=Pullover"\n'
    "MH01-XS-Gray,simple,MH01,Chaz XS Gray,,XS,1.2,Taxable Goods,chaz-xs,,\n"
    "MH01-S-Gray,simple,MH01,Chaz S Gray,,S,1.3,Taxable Goods,chaz-s,,\n"
    '24-WG080,bundle,,Sprite Yoga Companion Kit,"<p>Ball, strap &amp; block</p>",,,Taxable '
    "Goods,sprite-kit,/w/g/wg080.jpg,\n"
    "MH02,configurable,,Teton Pullover Hoodie,<p>Créé pour l'hiver à Montréal</p>,,,Taxable "
    "Goods,teton,/m/h/mh02.jpg,\n"
    "MH02-M-Black,virtual,MH02,Teton M Black,,M,,None,teton-m,,\n"
    '24-MG04,grouped,,Aim Analog Watch,"<p>Watch\nwith a second line</p>",,,Taxable Goods,'
    "aim-watch,,\n"
    "24-WG085,bundle,,Sprite Yoga Strap,,,,Taxable Goods,strap,,\n"
)


def _records() -> tuple[list[str], list[tuple[int, dict[str, str]]]]:
    reader = csv.reader(io.StringIO(EXPORT, newline=""))
    header = next(reader)
    records, last = [], reader.line_num
    for cells in reader:
        records.append((last + 1, dict(zip(header, cells, strict=True))))
        last = reader.line_num
    return header, records


def _run_file(world: World, dag_run: Any, name: str) -> str:
    folder = staging.run_folder((world.tmp / "staging").as_uri(), world.dag_id, dag_run.run_id)
    with (folder / name).open("r", encoding="utf-8", newline="") as handle:
        return str(handle.read())


@pytest.mark.integration
def test_rows_columns_and_filtered_rows_are_counted_in_the_report(world: World) -> None:
    header, records = _records()
    products = {r["sku"]: r for _, r in records if r["product_type"] == "configurable"}
    variants = {r["sku"]: r for _, r in records if r["product_type"] in ("simple", "virtual")}
    no_table = [(line, r) for line, r in records if r["sku"] not in products | variants]
    read = {"sku", "product_type", "parent_sku", "name", "description", "size"}
    unread = [c for c in header if c not in read]
    day, _ = first_day()
    world.write_connector("shop_e2e", CONNECTOR)
    world.publish_file(f"catalog_product_{day:%Y%m%d}.csv", EXPORT)

    dag_run = world.run(day)

    assert dag_run.state == "success", states(dag_run)
    # what feeds a table arrives, with its values
    sent_products = catalog(world.emulator, "products")
    assert set(sent_products) == set(products)
    for sku, row in products.items():
        assert sent_products[sku]["fields"]["prod_title"] == {"en": row["name"]}
        assert sent_products[sku]["fields"]["prod_description"] == {"en": row["description"]}
    sent_variants = catalog(world.emulator, "product_formats")
    assert {ref: v["links"] for ref, v in sent_variants.items()} == {
        sku: {"prod_ref": [row["parent_sku"]]} for sku, row in variants.items()
    }

    # the report: balanced per table as before, and what no table took, per reason
    body = xcom(dag_run, "report")
    assert body == json.loads(_run_file(world, dag_run, staging.REPORT_FILE))
    tables = body["tables"]
    assert (tables["products"]["read"], tables["products"]["created"]) == (len(products), 2)
    assert (tables["variants"]["read"], tables["variants"]["created"]) == (len(variants), 3)
    assert tables["products"]["filtered"] == len(records) - len(products)
    assert tables["variants"]["filtered"] == len(records) - len(variants)
    (file,) = body["files"]
    assert file["rows_read"] == len(records) == file["rows_used"] + file["rows_unused"]
    assert file["rows_unused"] == len(no_table) == 3
    assert file["unread_columns"] == unread and file["unread_count"] == len(unread)
    assert body["ignored"] == {
        "rows that feed no table": len(no_table),
        "columns no table reads": len(unread),
        "products: rows its where: left out (product_type = 'configurable')": len(records)
        - len(products),
        "variants: rows its where: left out (product_type in ('simple', 'virtual'))": len(records)
        - len(variants),
    }
    assert body["ignored_listed"] == len(no_table)
    text = _run_file(world, dag_run, REPORT_TEXT_FILE)
    assert f"  rows that feed no table: {len(no_table)}" in text
    assert f"{len(records)} row(s) read = {len(records) - len(no_table)} fed a table" in text
    assert ", ".join(unread) in text

    # ignored.csv, one of the files the UI plugin serves, lists each row with line and why; the
    # validate_and_split task's "Ignored rows" link opens it
    assert RUN_FILES["ignored"][0] == IGNORED_FILE
    link = xcom(dag_run, "validate_and_split", key="_link_IgnoredRowsLink")
    assert link == run_file_url(world.dag_id, dag_run.run_id, "ignored")
    assert body["ignored_path"].endswith(f"/{IGNORED_FILE}")
    listed = list(csv.DictReader(io.StringIO(_run_file(world, dag_run, IGNORED_FILE))))
    assert [(int(r["line"]), r["table"]) for r in listed] == [(line, "") for line, _ in no_table]
    for row, (_, record) in zip(listed, no_table, strict=True):
        assert row["source_file"] == f"catalog_product_{day:%Y%m%d}.csv"
        assert row["reason"].startswith("no table takes this row: products needs product_type")
        assert row["reason"].endswith(f"(here product_type = {record['product_type']!r})")
    # nothing that fed no table is a reject
    assert _run_file(world, dag_run, staging.REJECTS_FILE).count("\n") == 1
