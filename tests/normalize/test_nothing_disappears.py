"""Nothing disappears (issue 13, shape 9): rows that feed no table, rows a table's `where:` left
out and header columns no table reads are counted per reason, the rows listed in ignored.csv.

The expected counts are computed from the raw file with the csv module, never by the split."""

from __future__ import annotations

import csv
import io
import json
from pathlib import Path
from typing import Any

import pytest

from saleslayer_airflow.config.load import parse_connector
from saleslayer_airflow.contracts import SplitFile, SplitSummary
from saleslayer_airflow.normalize.engine import split_export
from saleslayer_airflow.normalize.outputs import IGNORED_COLUMNS
from saleslayer_airflow.normalize.results import (
    IGNORED_ROWS_LISTED,
    NO_TABLE,
    UNREAD_COLUMNS,
    Ignored,
    LandedFile,
    SplitResult,
)
from saleslayer_airflow.report.summary import UnbalancedReportError, build_report

CONNECTOR = """\
id: shop_export
description: A Magento-like catalogue export, one row per product of any type.
schedule: null
start_date: 2026-01-01
source: {kind: sftp, conn_id: erp_sftp, path: /exports/catalog_product.csv}
format: {type: csv}
tables:
  products:
    reference: sku
    where: [{column: product_type, equals: configurable}]
    fields:
      prod_title: name
      prod_description: description
      prod_image: base_image
  variants:
    reference: sku
    where: [{column: product_type, equals: [simple, virtual]}]
    product: parent_sku
    fields:
      size: size
"""

#: Bundles and grouped products feed no table; weight, tax_class_name, url_key, meta_keyword and
#: additional_attributes are read by no table.
EXPORT = (
    "sku,product_type,parent_sku,name,description,base_image,size,weight,tax_class_name,"
    "url_key,meta_keyword,additional_attributes\n"
    'MH01,configurable,,Chaz Kangeroo Hoodie,"<p>Ideal for cold-weather training &amp; '
    'work.</p>\n<ul><li>Pullover</li></ul>",/m/h/mh01-gray_main.jpg,,,Taxable Goods,'
    'chaz-kangeroo-hoodie,"hoodie, sweat",material=Cotton\n'
    "MH01-XS-Gray,simple,MH01,Chaz XS,,,XS,1,Taxable Goods,chaz-xs,,\n"
    "MH01-S-Gray,simple,MH01,Chaz S,,,S,1,Taxable Goods,chaz-s,,\n"
    '24-WG080,bundle,,Sprite Yoga Companion Kit,"<p>Kit: ball, strap &amp; block</p>",'
    "/w/g/wg080.jpg,,,Taxable Goods,sprite-kit,,\n"
    "MH02,configurable,,Teton Pullover Hoodie,<p>Créé pour l'hiver</p>,/m/h/mh02.jpg,,,"
    "Taxable Goods,teton,,\n"
    "MH02-M-Black,virtual,MH02,Teton M,,,M,,None,teton-m,,\n"
    '24-MG04,grouped,,Aim Analog Watch,"<p>Watch\nwith two lines</p>",,,,Taxable Goods,'
    "aim-watch,,\n"
    "24-WG085,bundle,,Sprite Yoga Strap,,,,,Taxable Goods,strap,,\n"
)


def _records(text: str) -> tuple[list[str], list[tuple[int, dict[str, str]]]]:
    """The header and each record with its first physical line, by the csv module."""
    reader = csv.reader(io.StringIO(text, newline=""))
    header = next(reader)
    records = []
    last = reader.line_num
    for cells in reader:
        records.append((last + 1, dict(zip(header, cells, strict=True))))
        last = reader.line_num
    return header, records


def _split(
    tmp_path: Path, text: str, name: str = "catalog_product.csv"
) -> tuple[SplitResult, Path]:
    config = parse_connector(CONNECTOR, "shop_export.yaml")
    landed = tmp_path / name
    landed.write_text(text, encoding="utf-8", newline="")
    work = tmp_path / "work"
    return split_export(config, [LandedFile(landed, name)], work), work


def test_rows_that_feed_no_table_are_counted_and_listed_with_why(tmp_path: Path) -> None:
    header, records = _records(EXPORT)
    products = [r for _, r in records if r["product_type"] == "configurable"]
    variants = [r for _, r in records if r["product_type"] in ("simple", "virtual")]
    no_table = [(line, r) for line, r in records if r["product_type"] in ("bundle", "grouped")]
    read_by_tables = {"sku", "product_type", "parent_sku", "name", "description"}
    read_by_tables |= {"base_image", "size"}
    unread = [c for c in header if c not in read_by_tables]

    result, work = _split(tmp_path, EXPORT)

    assert result.rows_read == len(records)
    assert result.rows_unused == len(no_table) == 3
    (file,) = result.files
    assert (file.name, file.rows_read, file.rows_used, file.rows_unused) == (
        "catalog_product.csv",
        len(records),
        len(products) + len(variants),
        len(no_table),
    )
    assert file.rows_read == file.rows_used + file.rows_unused
    assert file.unread_columns == tuple(unread)
    # the per-table balance is today's: filtered rows never entered the table
    assert result.tables["products"].rows_in == len(products)
    assert result.tables["variants"].rows_in == len(variants)
    assert result.filtered == {
        "products": len(records) - len(products),
        "variants": len(records) - len(variants),
    }
    assert result.ignored.counts == {
        NO_TABLE: len(no_table),
        UNREAD_COLUMNS: len(unread),
        "products: rows its where: left out (product_type = 'configurable')": len(records)
        - len(products),
        "variants: rows its where: left out (product_type in ('simple', 'virtual'))": len(records)
        - len(variants),
    }
    assert result.ignored_path == work / "ignored.csv"
    with result.ignored_path.open(encoding="utf-8", newline="") as handle:
        listed = list(csv.reader(handle))
    assert listed[0] == IGNORED_COLUMNS
    assert [(row[0], int(row[1]), row[2]) for row in listed[1:]] == [
        ("catalog_product.csv", line, "") for line, _ in no_table
    ]
    for row, (_, record) in zip(listed[1:], no_table, strict=True):
        assert row[3] == (
            "no table takes this row: products needs product_type = 'configurable'; variants "
            "needs product_type in ('simple', 'virtual') (here product_type = "
            f"{record['product_type']!r})"
        )
    # nothing of the rows that fed no table is a reject
    with result.rejects_path.open(encoding="utf-8") as handle:
        assert len(handle.read().splitlines()) == 1


def test_the_listed_rows_are_capped_the_count_is_not(tmp_path: Path) -> None:
    bundles = IGNORED_ROWS_LISTED + 205
    text = EXPORT + "".join(
        f"KIT-{n},bundle,,Kit {n},,,,,Taxable Goods,kit-{n},,\n" for n in range(bundles)
    )
    _, records = _records(text)
    expected_unused = sum(r["product_type"] in ("bundle", "grouped") for _, r in records)

    result, _ = _split(tmp_path, text)

    assert result.rows_unused == expected_unused == 3 + bundles
    assert result.ignored.counts[NO_TABLE] == expected_unused
    assert result.ignored_path is not None
    with result.ignored_path.open(encoding="utf-8", newline="") as handle:
        assert sum(1 for _ in csv.reader(handle)) == 1 + IGNORED_ROWS_LISTED


def test_a_file_no_table_reads_is_counted_whole(tmp_path: Path) -> None:
    config = parse_connector(
        CONNECTOR.replace(
            "source: {kind: sftp, conn_id: erp_sftp, path: /exports/catalog_product.csv}",
            "source: {kind: sftp, conn_id: erp_sftp, "
            "files: {catalog: /e/catalog.csv, stock: /e/stock.csv}}",
        )
        .replace("  variants:\n", "  variants:\n    file: catalog\n")
        .replace("  products:\n", "  products:\n    file: catalog\n"),
        "shop_export.yaml",
    )
    catalog = tmp_path / "catalog.csv"
    catalog.write_text(EXPORT, encoding="utf-8", newline="")
    stock = tmp_path / "stock.csv"
    stock.write_text("sku,qty\nMH01-XS-Gray,4\nMH01-S-Gray,0\n", encoding="utf-8")

    result = split_export(
        config,
        [LandedFile(catalog, "catalog.csv", "catalog"), LandedFile(stock, "stock.csv", "stock")],
        tmp_path / "work",
    )

    stock_counts = result.files[1]
    assert (stock_counts.rows_read, stock_counts.rows_used, stock_counts.rows_unused) == (2, 0, 2)
    assert stock_counts.unread_columns == ("sku", "qty")
    assert result.ignored.counts[NO_TABLE] == 3 + 2
    assert result.ignored_path is not None
    with result.ignored_path.open(encoding="utf-8", newline="") as handle:
        rows = list(csv.DictReader(handle))
    assert [(r["source_file"], r["line"]) for r in rows[-2:]] == [
        ("stock.csv", "2"),
        ("stock.csv", "3"),
    ]
    assert rows[-1]["reason"].startswith("no table reads stock.csv")


def test_json_records_have_no_header_to_judge(tmp_path: Path) -> None:
    config = parse_connector(
        CONNECTOR.replace("format: {type: csv}", "format: {type: jsonl}"), "shop.yaml"
    )
    _, records = _records(EXPORT)
    landed = tmp_path / "catalog.jsonl"
    landed.write_text("".join(json.dumps(r) + "\n" for _, r in records), encoding="utf-8")

    result = split_export(config, [LandedFile(landed, "catalog.jsonl")], tmp_path / "work")

    assert result.files[0].unread_columns is None
    assert UNREAD_COLUMNS not in result.ignored.counts
    assert result.ignored.counts[NO_TABLE] == 3


def test_another_layer_counts_its_reasons() -> None:
    ignored = Ignored(limit=2)
    ignored.count("unknown key 'material' in additional_attributes", 12, table="products")
    ignored.count("unknown key 'material' in additional_attributes", 0, table="products")
    later = Ignored()
    later.row("image-only row feeds no variant", "a.csv", 7, "MH01: /m/h/x.jpg", table="variants")
    later.row("image-only row feeds no variant", "a.csv", 9, "MH01: /m/h/y.jpg", table="variants")
    later.row("image-only row feeds no variant", "a.csv", 11, "=cmd", table="variants")
    ignored.merge(later)
    assert ignored.counts == {
        "products: unknown key 'material' in additional_attributes": 12,
        "variants: image-only row feeds no variant": 3,
    }
    assert [r[:3] for r in ignored.rows] == [("a.csv", 7, "variants"), ("a.csv", 9, "variants")]
    with pytest.raises(ValueError, match="negative"):
        ignored.count("x", -1)


SUMMARY: dict[str, Any] = {
    "run_folder": "file:///staging/shop/run",
    "rows_read": 8,
    "rows_unused": 3,
    "rows_rejected": 0,
    "rejects_path": "file:///staging/shop/run/rejects.csv",
    "tables": {
        "products": {
            "path": "file:///staging/shop/run/split/products.parquet",
            "rows_in": 2,
            "rows_out": 2,
            "merged": 0,
            "rejected": 0,
            "filtered": 6,
        }
    },
    "files": [
        {
            "name": "catalog_product.csv",
            "rows_read": 8,
            "rows_used": 5,
            "rows_unused": 3,
            "unread_count": 5,
            "unread_columns": ["weight", "tax_class_name", "url_key", "meta_keyword", "x"],
        }
    ],
    "ignored": {NO_TABLE: 3, "products: unknown key 'material' in additional_attributes": 4},
    "ignored_path": "file:///staging/shop/run/ignored.csv",
    "ignored_listed": 3,
}


def test_the_report_shows_every_reason_in_json_and_text() -> None:
    split = SplitSummary.model_validate(SUMMARY)
    report = build_report("shop", "r1", split, {"products": None})
    body = json.loads(json.dumps(report.as_dict()))
    assert body["ignored"] == SUMMARY["ignored"]
    assert body["tables"]["products"]["filtered"] == 6
    assert body["files"][0]["rows_unused"] == 3
    assert body["ignored_path"].endswith("ignored.csv")
    text = report.text()
    assert (
        "catalog_product.csv: 8 row(s) read = 5 fed a table + 3 fed none; 5 column(s) no table "
        "reads: weight, tax_class_name, url_key, meta_keyword, x"
    ) in text
    assert "  rows that feed no table: 3" in text
    assert "  products: unknown key 'material' in additional_attributes: 4" in text
    assert "rows that fed no table (all listed, with line and why)" in text


def test_a_file_whose_rows_do_not_add_up_is_refused() -> None:
    wrong = SUMMARY | {"files": [SUMMARY["files"][0] | {"rows_used": 4}]}
    with pytest.raises(UnbalancedReportError, match=r"catalog_product\.csv"):
        build_report("shop", "r1", SplitSummary.model_validate(wrong), {"products": None})
    more = SUMMARY | {"rows_read": 9}
    with pytest.raises(UnbalancedReportError, match="add up to 8"):
        build_report("shop", "r1", SplitSummary.model_validate(more), {"products": None})


def test_a_summary_without_file_counts_still_reports() -> None:
    old = {k: v for k, v in SUMMARY.items() if k not in {"files", "ignored", "ignored_path"}}
    split = SplitSummary.model_validate(old)
    assert split.files == () and split.ignored == {}
    assert isinstance(SplitFile.model_validate(SUMMARY["files"][0]), SplitFile)
    report = build_report("shop", "r1", split, {"products": None})
    assert report.as_dict()["ignored"] == {}
    assert "not imported" not in report.text()
