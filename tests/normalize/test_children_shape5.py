"""Shape 5 of issue 13: variants listed on their product's row (Magento's
configurable_variations), and a product reference cut out of a variant's column by a pattern.

Expected links, filled values and counts are computed from the raw export with the csv module
and a plain split, never with the package's code.
"""

from __future__ import annotations

import textwrap
from pathlib import Path
from typing import Any

import pyarrow.parquet as pq
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from saleslayer_airflow.config import parse_connector
from saleslayer_airflow.config.tables import ChildListing
from saleslayer_airflow.exceptions import ConnectorConfigError
from saleslayer_airflow.mapping.plan import PRODUCT_REF, build_plans
from saleslayer_airflow.normalize import engine
from saleslayer_airflow.normalize.children import absent_reason, unreadable_reason
from saleslayer_airflow.normalize.engine import split_export
from saleslayer_airflow.normalize.results import LandedFile, SplitResult
from saleslayer_airflow.validation.columns import named_columns
from tests.normalize.magento_sample import export_csv, pairs, records

HEAD = """\
id: magento_children
description: Magento 2 catalog export, variants listed on the configurable product's row.
schedule: "@daily"
start_date: 2026-11-01
source: {kind: ftp, conn_id: erp_ftp, path: /exports/catalog_product.csv}
format: {type: csv}
"""

TABLES = """\
tables:
  products:
    reference: sku
    where: [{column: visibility, equals: ["Catalog, Search", "Catalog", "Search"]}]
    fields:
      prod_title: name
  variants:
    reference: sku
    where: [{column: visibility, equals: Not Visible Individually}]
    product:
      listed_in:
        column: configurable_variations
        reference_key: sku
        fields: {size: size, color: color}
    fields:
      size: {column: additional_attributes, key: size}
      color: {column: additional_attributes, key: color}
      frmt_price: {column: price, type: number}
"""

VISIBLE = {"Catalog, Search", "Catalog", "Search"}
_PULLOVER_DESCRIPTION = next(r["description"] for r in records(export_csv()) if r["sku"] == "MH02")


def split(tmp_path: Path, tables: str, text: str, **kwargs: Any) -> SplitResult:
    config = parse_connector(HEAD + textwrap.dedent(tables), "magento_children.yaml")
    path = tmp_path / "catalog_product.csv"
    path.write_text(text, encoding="utf-8", newline="")
    return split_export(config, [LandedFile(path, path.name)], tmp_path / "work", **kwargs)


def staged(result: SplitResult, table: str) -> dict[str, dict[str, Any]]:
    return {row["reference"]: row for row in pq.read_table(result.paths[table]).to_pylist()}


def rejects(result: SplitResult) -> list[dict[str, str]]:
    return records(result.rejects_path.read_text(encoding="utf-8"))


def balanced(result: SplitResult) -> None:
    for counts in result.tables.values():
        assert counts.rows_in == counts.rows_out + counts.merged + counts.rejected


def expected_variants(text: str) -> dict[str, dict[str, Any]]:
    """Each variant row with its product (the configurable row listing it) and its size and
    colour: its own additional_attributes, else the listed pair."""
    rows = records(text)
    listed: dict[str, tuple[str, dict[str, str]]] = {}
    for row in rows:
        for entry in filter(None, row["configurable_variations"].split("|")):
            found = pairs(entry)
            listed[found["sku"]] = (row["sku"], found)
    expected = {}
    for row in rows:
        if row["visibility"] != "Not Visible Individually":
            continue
        parent, found = listed[row["sku"]]
        own = pairs(row["additional_attributes"])
        expected[row["sku"]] = {
            PRODUCT_REF: parent,
            "size": own.get("size") or found.get("size"),
            "color": own.get("color") or found.get("color"),
        }
    return expected


def picked(rows: dict[str, dict[str, Any]]) -> dict[str, dict[str, Any]]:
    return {ref: {k: row[k] for k in (PRODUCT_REF, "size", "color")} for ref, row in rows.items()}


@pytest.mark.parametrize("batch_rows", [65_536, 1])
def test_listed_variants_get_their_product_and_empty_fields(
    tmp_path: Path, batch_rows: int
) -> None:
    text = export_csv()
    result = split(tmp_path, TABLES, text, batch_rows=batch_rows)

    expected = expected_variants(text)
    # the sample has children before and after their parent, and values only the listing has
    rows = records(text)
    order = [row["sku"] for row in rows]
    assert any(order.index(ref) < order.index(v[PRODUCT_REF]) for ref, v in expected.items())
    assert any(order.index(ref) > order.index(v[PRODUCT_REF]) for ref, v in expected.items())
    assert picked(staged(result, "variants")) == expected
    assert set(staged(result, "products")) == {r["sku"] for r in rows if r["visibility"] in VISIBLE}
    assert rejects(result) == []
    balanced(result)

    # MH01-L-Gray is listed, and absent: counted, its product's row listed in ignored.csv
    listed = {
        pairs(entry)["sku"]
        for row in rows
        for entry in filter(None, row["configurable_variations"].split("|"))
    }
    absent = listed - set(order)
    assert absent == {"MH01-L-Gray"}
    reason = absent_reason("variants", "configurable_variations")
    assert result.ignored.counts[reason] == len(absent)
    assert result.ignored_path is not None
    shown = result.ignored_path.read_text(encoding="utf-8")
    assert "'MH01-L-Gray'" in shown


def test_items_in_several_parts_are_linked_alike(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    # a few hundred bytes per part: the variants' items are filed in several parts
    monkeypatch.setattr(engine, "PART_BYTES", 300)
    text = export_csv()
    assert engine.partitions_for([LandedFile(_written(tmp_path, text), "x")]) > 2
    result = split(tmp_path, TABLES, text, batch_rows=2)
    assert picked(staged(result, "variants")) == expected_variants(text)


def _written(tmp_path: Path, text: str) -> Path:
    path = tmp_path / "probe.csv"
    path.write_text(text, encoding="utf-8")
    return path


def _with_row(text: str, row: list[str]) -> str:
    import csv
    import io

    out = io.StringIO()
    csv.writer(out).writerow(row)
    return text + out.getvalue()


def _row(sku: str, kind: str, visibility: str, attrs: str = "", variations: str = "") -> list[str]:
    return [sku, "", "Top", kind, "Default Category", "base", sku.title(), "", "10.00",
            visibility, "", attrs, variations, ""]  # fmt: skip


def test_a_variant_listed_by_two_products_is_rejected(tmp_path: Path) -> None:
    text = _with_row(
        export_csv(),
        _row("MH03", "configurable", "Catalog, Search", variations="sku=MH02-S-Black,size=S"),
    )
    result = split(tmp_path, TABLES, text)
    (reject,) = rejects(result)
    assert reject["reference"] == "MH02-S-Black" and reject["table"] == "variants"
    assert "listed by two products in configurable_variations: 'MH02'" in reject["reason"]
    assert "'MH03'" in reject["reason"]
    assert "MH02-S-Black" not in staged(result, "variants")
    balanced(result)


def test_a_variant_no_product_lists_is_rejected(tmp_path: Path) -> None:
    text = _with_row(
        export_csv(), _row("MH09-S-Blue", "simple", "Not Visible Individually", "size=S")
    )
    result = split(tmp_path, TABLES, text)
    (reject,) = rejects(result)
    assert reject["reference"] == "MH09-S-Blue"
    assert "no row of the products table lists it in configurable_variations" in reject["reason"]
    balanced(result)


def test_unreadable_entries_are_counted_with_their_row(tmp_path: Path) -> None:
    text = export_csv().replace("|sku=MH02-M-Red,size=M,color=Red", "|size=M,color=Red|MH02-M-Red")
    result = split(tmp_path, TABLES, text)
    reason = f"products: {unreadable_reason('configurable_variations')}"
    assert result.ignored.counts[reason] == 2
    # MH02-M-Red is then listed by no product: rejected, with the reason
    (reject,) = rejects(result)
    assert reject["reference"] == "MH02-M-Red"
    assert result.ignored_path is not None
    shown = result.ignored_path.read_text(encoding="utf-8")
    assert "has no sku= pair naming the variant" in shown
    assert "'MH02-M-Red' is not a key=value pair" in shown


def test_a_listed_value_the_field_refuses_rejects_the_variant(tmp_path: Path) -> None:
    tables = TABLES.replace(
        "size: {column: additional_attributes, key: size}",
        "size: {column: additional_attributes, key: size, enum: [XS, M, L]}",
    )
    result = split(tmp_path, tables, export_csv())
    # MH01-S-Black has no size of its own: the listing's S is not allowed
    found = {r["reference"]: r for r in rejects(result)}
    assert set(found) == {"MH01-S-Black", "MH02-S-Black"}
    assert "the pair size=S product 'MH01' lists for it" in found["MH01-S-Black"]["reason"]
    assert "not one of the allowed values" in found["MH01-S-Black"]["reason"]
    balanced(result)


def test_a_product_cut_out_of_the_sku_by_a_pattern(tmp_path: Path) -> None:
    tables = TABLES.replace(
        """    product:
      listed_in:
        column: configurable_variations
        reference_key: sku
        fields: {size: size, color: color}
""",
        """    product: {column: sku, pattern: '^(?P<ref>[^-]+)-'}
""",
    )
    text = _with_row(export_csv(), _row("NOPATTERN", "simple", "Not Visible Individually"))
    result = split(tmp_path, tables, text)
    variants = staged(result, "variants")
    expected = {
        row["sku"]: row["sku"].split("-")[0]
        for row in records(text)
        if row["visibility"] == "Not Visible Individually" and "-" in row["sku"]
    }
    assert {ref: row[PRODUCT_REF] for ref, row in variants.items()} == expected
    (reject,) = rejects(result)
    assert reject["reference"] == "NOPATTERN"
    assert "does not match pattern '^(?P<ref>[^-]+)-'" in reject["reason"]


def test_a_pattern_and_a_listing_must_agree(tmp_path: Path) -> None:
    tables = TABLES.replace(
        "    product:\n", "    product:\n      column: sku\n      pattern: '^(.+)-[^-]+$'\n"
    )
    result = split(tmp_path, tables, export_csv())
    # MH01-XS-Black cuts to 'MH01-XS', but MH01 lists it: a disagreement, rejected
    found = {r["reference"]: r["reason"] for r in rejects(result)}
    assert set(found) == {
        r["sku"] for r in records(export_csv()) if r["visibility"] == "Not Visible Individually"
    }
    assert "'sku' gives the variant the product 'MH01-XS'" in found["MH01-XS-Black"]
    balanced(result)


def test_plain_listings_name_the_variants_alone(tmp_path: Path) -> None:
    text = export_csv().replace(
        "sku=MH02-S-Black,size=S,color=Black|sku=MH02-M-Red,size=M,color=Red",
        "MH02-S-Black | MH02-M-Red",
    )
    text = text.replace(
        "sku=MH01-XS-Black,size=XS,color=Black|sku=MH01-S-Black,size=S,color=Black|"
        "sku=MH01-M-Gray,size=M,color=Gray|sku=MH01-L-Gray,size=L,color=Gray",
        "MH01-XS-Black|MH01-S-Black|MH01-M-Gray",
    )
    tables = TABLES.replace(
        "        reference_key: sku\n        fields: {size: size, color: color}\n", ""
    )
    result = split(tmp_path, tables, text)
    linked = {ref: row[PRODUCT_REF] for ref, row in staged(result, "variants").items()}
    assert linked == {ref: v[PRODUCT_REF] for ref, v in expected_variants(export_csv()).items()}


def test_the_listing_column_is_checked_by_the_column_preflight() -> None:
    config = parse_connector(HEAD + TABLES, "magento_children.yaml")
    plans = {plan.key: plan for plan in build_plans(config)}
    assert "configurable_variations" in plans["products"].source_columns()
    assert "configurable_variations" not in plans["variants"].source_columns()
    named = {(n.table, n.column) for n in named_columns(config)}
    assert ("products", "configurable_variations") in named


@pytest.mark.parametrize(
    ("product", "where", "fragment"),
    [
        (
            "{listed_in: {column: cv, reference_key: sku, fields: {weight: weight}}}",
            "tables.variants",
            "product.listed_in.fields names 'weight', not a field of this table",
        ),
        (
            "{listed_in: {column: cv, fields: {size: size}}}",
            "tables.variants.product",
            "`pairs` and `fields` read key=value pairs: set `reference_key`",
        ),
        (
            "{listed_in: {column: cv, separator: ',', reference_key: sku}}",
            "tables.variants.product",
            "must differ from the pairs' separator",
        ),
        ("{pattern: '^(.+)-'}", "tables.variants.product", "`pattern` cuts the product"),
        ("{column: sku, pattern: '^(.+'}", "tables.variants.product", "not a regular expression"),
        ("{column: sku, pattern: '(a)-(b)'}", "tables.variants.product", "name the one"),
        ("{}", "tables.variants.product", "`product:` needs `column`"),
    ],
)
def test_misused_product_options_fail_at_load(product: str, where: str, fragment: str) -> None:
    text = (
        HEAD
        + "tables:\n  products: {reference: sku}\n  variants:\n    reference: sku\n"
        + f"    product: {product}\n    fields:\n      size: size\n"
    )
    with pytest.raises(ConnectorConfigError) as caught:
        parse_connector(text, "bad.yaml")
    message = str(caught.value)
    assert "bad.yaml:" in message and where in message, message
    assert fragment in message, message


def test_a_listing_needs_a_products_table() -> None:
    text = HEAD + textwrap.dedent(
        """\
        tables:
          variants:
            reference: sku
            product: {listed_in: {column: cv}}
        """
    )
    with pytest.raises(ConnectorConfigError) as caught:
        parse_connector(text, "bad.yaml")
    assert "tables.variants.product.listed_in" in str(caught.value)
    assert "this connector has none" in str(caught.value)


def test_variants_of_a_rejected_product_are_rejected_with_it(tmp_path: Path) -> None:
    tables = TABLES.replace(
        "      prod_title: name\n",
        "      prod_title: name\n      prod_desc: {column: description, required: true}\n",
    )
    # the pullover loses its (required) description: the product is rejected
    text = export_csv().replace(_PULLOVER_DESCRIPTION, "")
    result = split(tmp_path, tables, text)
    found = {(r["table"], r["reference"]): r for r in rejects(result)}
    children = {ref for ref, v in expected_variants(text).items() if v[PRODUCT_REF] == "MH02"}
    assert set(found) == {("products", "MH02")} | {("variants", ref) for ref in children}
    for ref in children:
        reject = found[("variants", ref)]
        assert reject["column"] == "configurable_variations"
        assert "its product 'MH02' was rejected" in reject["reason"]
    balanced(result)


#: Listing cells made of the pieces real ones have, and of the ones that break them (blanks
#: around separators, empty entries, quotes, a key without value, non-ASCII, \x1c that Python
#: strips and polars does not)
_PIECES = ["a", "b", "-", "S", "1", "=", ",", "|", " ", "\t", '"', "é", "\x1c"]
_CELL_TEXT = st.lists(
    st.sampled_from([*_PIECES, "sku=", "size=", "sku=A-1", ",size=M", "|sku=", "sku=B,sku=C"]),
    max_size=12,
).map("".join)


def _no_fast_cell(listing: ChildListing) -> str | None:
    return None


@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(cells=st.lists(_CELL_TEXT, min_size=1, max_size=6), keyed=st.booleans())
def test_the_vectorised_reading_of_listings_is_the_python_one(
    cells: list[str], keyed: bool
) -> None:
    import polars as pl

    from saleslayer_airflow.normalize import children
    from saleslayer_airflow.normalize.children import ChildLinkCounts, _Listings
    from saleslayer_airflow.normalize.items import Items
    from saleslayer_airflow.normalize.results import Ignored

    listing = (
        ChildListing(column="cv", reference_key="sku", fields={"size": "size"})
        if keyed
        else ChildListing(column="cv")
    )
    rows = pl.DataFrame(
        {
            "ref": [f"P{i}" for i in range(len(cells))],
            "_file": pl.Series([0] * len(cells), dtype=pl.Int32),
            "_line": pl.Series(range(2, len(cells) + 2), dtype=pl.Int64),
            "_order": pl.Series([i << 10 for i in range(len(cells))], dtype=pl.Int64),
            "_listing": cells,
        }
    )
    items = Items([], ["catalog.csv"])

    def read() -> tuple[list[tuple[object, ...]], ChildLinkCounts, Ignored]:
        counts, ignored = ChildLinkCounts(), Ignored()
        found = _Listings(listing, items, ignored, counts, "products").read(rows)
        return found.rows(), counts, ignored

    fast = read()
    original = children._fast_cell
    children._fast_cell = _no_fast_cell  # every cell through the Python reading
    try:
        slow = read()
    finally:
        children._fast_cell = original
    assert fast[0] == slow[0]
    assert fast[1] == slow[1]
    assert fast[2].counts == slow[2].counts and fast[2].rows == slow[2].rows


def test_listings_are_read_from_the_products_files_only(tmp_path: Path) -> None:
    # products and variants in two exports: the variants' file has a listing-like column too,
    # which must not be read as a listing (it is not a products row)
    config = parse_connector(
        textwrap.dedent(
            """\
            id: two_files
            description: products and variants exported apart
            schedule: null
            start_date: 2026-11-01
            source:
              kind: sftp
              conn_id: erp_sftp
              files: {products: /out/products.csv, variants: /out/variants.csv}
            format: {type: csv, delimiter: ";"}
            tables:
              products:
                reference: code
                file: products
                fields: {prod_title: title}
              variants:
                reference: code
                file: variants
                product: {listed_in: {column: children, separator: ","}}
                fields: {size: size}
            """
        ),
        "two_files.yaml",
    )
    products = tmp_path / "products.csv"
    products.write_text(
        "code;title;children\nJ-1;Jacket « Été »;J-1-S,J-1-M\nJ-2;Parka;J-2-S\n", "utf-8"
    )
    variants = tmp_path / "variants.csv"
    variants.write_text("code;size;children\nJ-1-S;S;J-2-S\nJ-1-M;M;\nJ-2-S;S;J-1-M\n", "utf-8")
    result = split_export(
        config,
        [
            LandedFile(variants, "variants.csv", file="variants"),
            LandedFile(products, "products.csv", file="products"),
        ],
        tmp_path / "work",
    )
    linked = {ref: row[PRODUCT_REF] for ref, row in staged(result, "variants").items()}
    assert linked == {"J-1-S": "J-1", "J-1-M": "J-1", "J-2-S": "J-2"}
    assert rejects(result) == []
