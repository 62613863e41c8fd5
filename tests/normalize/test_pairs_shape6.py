"""Shape 6 of issue 13: key=value attribute cells (Magento's additional_attributes).

A field takes the value of one key of a cell (`key:`, `pairs:`), then its own rules (separator,
type, transforms); a cell that is not pairs rejects its row with the reason; keys no field of
the table declares are counted per key in the run's ignored counts. Expected values and counts
come from the raw export read with the csv module and a plain split, never from the package.
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
from saleslayer_airflow.config.tables import PairsFormat
from saleslayer_airflow.exceptions import ConnectorConfigError
from saleslayer_airflow.mapping.pairs import parse_pairs, undeclared_keys, unknown_key_reason
from saleslayer_airflow.normalize.engine import split_export
from saleslayer_airflow.normalize.results import LandedFile, SplitResult
from saleslayer_airflow.validation.values import ValueProblem
from tests.normalize.magento_sample import export_csv, pairs, records

HEAD = """\
id: magento_pairs
description: Magento 2 catalog export, attributes from additional_attributes.
schedule: "@daily"
start_date: 2026-11-01
source: {kind: ftp, conn_id: erp_ftp, path: /exports/catalog_product.csv}
format: {type: csv}
"""

PRODUCTS = """\
tables:
  products:
    reference: sku
    where: [{column: visibility, equals: ["Catalog, Search", "Catalog", "Search"]}]
    fields:
      prod_title: name
      prod_material: {column: additional_attributes, key: material}
      prod_tags: {column: additional_attributes, key: activity, separator: "|"}
      eco: {column: additional_attributes, key: eco_collection, type: boolean}
"""


def split(tmp_path: Path, tables: str, text: str, **kwargs: Any) -> SplitResult:
    config = parse_connector(HEAD + textwrap.dedent(tables), "magento_pairs.yaml")
    path = tmp_path / "catalog_product.csv"
    path.write_text(text, encoding="utf-8", newline="")
    return split_export(config, [LandedFile(path, path.name)], tmp_path / "work", **kwargs)


def staged(result: SplitResult, table: str) -> dict[str, dict[str, Any]]:
    return {row["reference"]: row for row in pq.read_table(result.paths[table]).to_pylist()}


def rejects(result: SplitResult) -> list[dict[str, str]]:
    return records(result.rejects_path.read_text(encoding="utf-8"))


# -- the pairs of one cell ------------------------------------------------------------------------


def test_pairs_are_trimmed_and_empty_parts_skipped() -> None:
    assert parse_pairs(" color = Red ,size=M,, material=Cotton,", PairsFormat()) == {
        "color": "Red",
        "size": "M",
        "material": "Cotton",
    }
    # only the first `assign` cuts: the rest belongs to the value
    assert parse_pairs("formula=a=b;x=1", PairsFormat(separator=";")) == {
        "formula": "a=b",
        "x": "1",
    }
    # a key given twice with the same value is one pair
    assert parse_pairs("size=M,size=M", PairsFormat()) == {"size": "M"}
    assert parse_pairs("", PairsFormat()) == {}
    assert parse_pairs({"size": "M", "n": 2}, PairsFormat()) == {"size": "M", "n": 2}


def test_quoted_values_may_hold_the_separator() -> None:
    fmt = PairsFormat(quote='"')
    cell = 'material="Cotton, Polyester",label="the ""best"" one" ,size=M'
    assert parse_pairs(cell, fmt) == {
        "material": "Cotton, Polyester",
        "label": 'the "best" one',
        "size": "M",
    }


@pytest.mark.parametrize(
    ("cell", "fmt", "fragment"),
    [
        ("material=Cotton, Polyester", PairsFormat(), "'Polyester' is not a key=value pair"),
        ("=Red,size=M", PairsFormat(), "'=Red' has an empty key"),
        ("color=Red,color=Blue", PairsFormat(), "key 'color' appears twice"),
        ('material="Cotton', PairsFormat(quote='"'), "is never closed"),
        ('material="Cotton" x,size=M', PairsFormat(quote='"'), "is followed by"),
    ],
)
def test_cells_that_are_not_pairs_say_why(cell: str, fmt: PairsFormat, fragment: str) -> None:
    with pytest.raises(ValueProblem) as caught:
        parse_pairs(cell, fmt)
    assert fragment in caught.value.reason
    assert caught.value.code == "bad_pairs"


# -- the split ------------------------------------------------------------------------------------


def test_declared_keys_map_to_fields_with_their_own_separator_and_type(tmp_path: Path) -> None:
    text = export_csv()
    result = split(tmp_path, PRODUCTS, text)
    products = staged(result, "products")

    wanted = {"Catalog, Search", "Catalog", "Search"}
    expected = {}
    for row in records(text):
        if row["visibility"] in wanted:
            attrs = pairs(row["additional_attributes"])
            tags = [t for t in attrs.get("activity", "").split("|") if t]
            eco = attrs.get("eco_collection")
            expected[row["sku"]] = {
                "prod_title": row["name"],
                "prod_material": attrs.get("material"),
                "prod_tags": tags or None,
                "eco": None if eco is None else eco == "1",
            }
    assert {ref: {k: row[k] for k in expected[ref]} for ref, row in products.items()} == expected
    assert rejects(result) == []
    assert result.tables["products"].rows_out == len(expected)


def test_unknown_keys_are_counted_per_key_and_row(tmp_path: Path) -> None:
    text = export_csv()
    result = split(tmp_path, PRODUCTS, text)

    declared = {"material", "activity", "eco_collection"}
    counted: dict[str, int] = {}
    for row in records(text):
        if row["visibility"] == "Not Visible Individually":
            continue
        for key in pairs(row["additional_attributes"]):
            if key not in declared:
                counted[key] = counted.get(key, 0) + 1
    assert counted  # the sample holds undeclared keys (style_general, strap_bags)
    found = {
        reason: n
        for reason, n in result.ignored.counts.items()
        if "unknown key" in reason and "additional_attributes" in reason
    }
    assert found == {
        f"products: {unknown_key_reason(key, 'additional_attributes')}": n
        for key, n in counted.items()
    }


def test_a_cell_that_is_not_pairs_rejects_its_row_with_the_reason(tmp_path: Path) -> None:
    text = export_csv().replace("material=Wool,activity=Hiking", "material=Wool, Cashmere", 1)
    result = split(tmp_path, PRODUCTS, text)

    bad = [row for row in records(text) if "Wool, Cashmere" in row["additional_attributes"]]
    assert len(bad) == 1
    (reject,) = rejects(result)
    assert reject["reference"] == bad[0]["sku"]
    assert reject["column"] == "additional_attributes"
    assert "is not key=value pairs: 'Cashmere' is not a key=value pair" in reject["reason"]
    assert "pairs.quote" in reject["reason"]
    assert bad[0]["sku"] not in staged(result, "products")
    counts = result.tables["products"]
    assert counts.rows_in == counts.rows_out + counts.merged + counts.rejected
    assert counts.rejected == 1


def test_quoted_values_with_the_separator_import_whole(tmp_path: Path) -> None:
    text = export_csv().replace("material=Wool,activity", 'material=""Wool, Cashmere"",activity')
    quoted = ", pairs: {quote: '\"'}}"
    tables = PRODUCTS.replace("key: material}", "key: material" + quoted)
    tables = tables.replace('separator: "|"}', 'separator: "|"' + quoted)
    tables = tables.replace("type: boolean}", "type: boolean" + quoted)
    result = split(tmp_path, tables, text)
    assert staged(result, "products")["MH02"]["prod_material"] == "Wool, Cashmere"
    assert rejects(result) == []


def test_fields_of_one_column_read_it_with_one_format() -> None:
    tables = PRODUCTS.replace("key: material}", "key: material, pairs: {quote: '\"'}}")
    with pytest.raises(ConnectorConfigError) as caught:
        parse_connector(HEAD + tables, "magento_pairs.yaml")
    assert "tables.products.fields.prod_tags.pairs" in str(caught.value)
    assert "with different `pairs:`" in str(caught.value)


def test_a_missing_key_is_an_empty_value_and_required_still_holds(tmp_path: Path) -> None:
    tables = PRODUCTS.replace("key: material}", "key: material, required: true}")
    result = split(tmp_path, tables, export_csv())
    # the duffle bag has no material= pair: a required field is empty
    (reject,) = rejects(result)
    assert reject["reference"] == "24-MB01"
    assert "field 'prod_material': a required field is empty" in reject["reason"]


@pytest.mark.parametrize(
    ("field", "fragment"),
    [
        ("{constant: x, key: size}", "`key: size` reads a key=value cell: set `column`"),
        ("{column: a, pairs: {separator: ';'}}", "`pairs` says how the key=value pairs"),
        ("{column: a, key: 'si=ze'}", "cannot be a key of a pair"),
        ("{column: a, key: size, pairs: {separator: '=', assign: '='}}", "must differ"),
        ("{column: a, key: size, pairs: {quote: ','}}", "quote ','"),
    ],
)
def test_misused_pairs_options_fail_at_load(field: str, fragment: str) -> None:
    text = HEAD + f"tables:\n  products:\n    reference: sku\n    fields:\n      f: {field}\n"
    with pytest.raises(ConnectorConfigError) as caught:
        parse_connector(text, "bad.yaml")
    message = str(caught.value)
    assert "bad.yaml:" in message and "tables.products.fields.f" in message
    assert fragment in message


def test_a_json_object_is_its_own_pairs(tmp_path: Path) -> None:
    import json

    lines = [
        {"sku": "TS-1", "attributes": {"color": "Rouge", "size": "M", "fit": "slim"}},
        {"sku": "TS-2", "attributes": {"color": "Bleu", "care": "30°"}},
        {"sku": "TS-3", "attributes": "color=Vert,fit=loose"},
    ]
    config = parse_connector(
        HEAD.replace("format: {type: csv}", "format: {type: jsonl}")
        + textwrap.dedent(
            """\
            tables:
              products:
                reference: sku
                fields:
                  color: {column: attributes, key: color}
                  size: {column: attributes, key: size}
            """
        ),
        "json_pairs.yaml",
    )
    path = tmp_path / "products.jsonl"
    path.write_text("".join(json.dumps(r, ensure_ascii=False) + "\n" for r in lines), "utf-8")
    result = split_export(config, [LandedFile(path, path.name)], tmp_path / "work")
    products = staged(result, "products")
    assert {ref: (row["color"], row["size"]) for ref, row in products.items()} == {
        "TS-1": ("Rouge", "M"),
        "TS-2": ("Bleu", None),
        "TS-3": ("Vert", None),
    }
    unknown = {r: n for r, n in result.ignored.counts.items() if "unknown key" in r}
    assert unknown == {
        f"products: {unknown_key_reason('fit', 'attributes')}": 2,
        f"products: {unknown_key_reason('care', 'attributes')}": 1,
    }


_PIECES = ["color", "size", "=", ",", " ", "Red", "M", "1", "0", "x", "é", "\t", '"', "\x1c"]
_CELLS = st.lists(
    st.one_of(
        st.lists(st.sampled_from(_PIECES), max_size=10).map("".join),
        st.sampled_from(["color=Red,size=M", "size=1,color=", "size=M,size=M", "size=1,size=2"]),
    ),
    min_size=1,
    max_size=8,
)
_SPECS = st.sampled_from(
    [
        "{column: attrs, key: size}",
        "{column: attrs, key: size, required: true}",
        "{column: attrs, key: size, default: XS}",
        "{column: attrs, key: size, type: integer}",
        "{column: attrs, key: size, type: boolean}",
        "{column: attrs, key: size, type: number}",
        "{column: attrs, key: size, enum: [M, '1']}",
        "{column: attrs, key: size, max_length: 1}",
    ]
)


@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(cells=_CELLS, spec=_SPECS)
def test_the_vectorised_path_of_a_key_field_is_the_python_one(cells: list[str], spec: str) -> None:
    import pyarrow as pa

    from saleslayer_airflow.mapping.plan import build_plans
    from saleslayer_airflow.normalize.cells import PairFieldRule, convert_all
    from saleslayer_airflow.normalize.results import Ignored

    config = parse_connector(
        HEAD + f"tables:\n  products:\n    reference: sku\n    fields:\n      f: {spec}\n", "p.yaml"
    )
    (source,) = build_plans(config)[0].fields
    rule = PairFieldRule(source)
    ignored = Ignored()
    rule.count_unknown(frozenset({"size"}), ignored, "products")
    (found,) = convert_all([(rule, pa.array(cells, type=pa.string()))], len(cells))
    expected = [PairFieldRule(source).python(cell) for cell in cells]
    assert found["v"].to_list() == [e[0] for e in expected]
    reasons = found["reason"].to_list() if "reason" in found else [None] * len(cells)
    assert reasons == [e[1] for e in expected]
    # the unknown keys, counted vectorised, are those the Python reading finds
    counted: dict[str, int] = {}
    for cell in cells:
        for key in undeclared_keys(cell, PairsFormat(), frozenset({"size"})) or ():
            counted[key] = counted.get(key, 0) + 1
    assert ignored.counts == {
        f"products: {unknown_key_reason(key, 'attrs')}": n for key, n in counted.items()
    }
