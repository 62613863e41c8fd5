"""The second reference split (tests/reference/catalogue.py) on small exports worked out by hand,
and the engine on the same ones: what the reference is trusted for."""

from __future__ import annotations

from decimal import Decimal
from unittest import mock

import pytest

from tests.reference import catalogue
from tests.reference.catalogue import COLUMNS, Filter, Shape
from tests.reference.test_formats import Export, check, in_format
from tests.reference.test_property import Sizes

SMALL = Sizes(chunk_rows=1, batch_rows=1, part_bytes=64, range_span=1, block_bytes=16)
SHAPE = Shape(
    format="csv",
    path_separator=" > ",
    categories_separator=";",
    where={
        "categories": (Filter("kind", equals=("C", "F")),),
        "products": (Filter("kind", equals=("P", "F")),),
        "variants": (Filter("sku", empty=False),),
    },
    policies={},
    name_required=True,
)


def row(**cells: str) -> list[str]:
    return [cells.get(c, "") for c in COLUMNS]


def csv_split(text: str, shape: Shape = SHAPE) -> catalogue.Outcome:
    return catalogue.split(text.encode(), "e.csv", shape, {})


def test_a_path_gives_every_level_and_products_link_to_the_deepest() -> None:
    header = ",".join(COLUMNS)
    out = csv_split(
        f"{header}\n"
        'F, Men >  Tops ,Tops,P1,Tee,Camiseta,"1.234,5", ON ,1/2/2020,"a, ,b",,S1,2,,,\n'
        "C,Men >  > Tops,,,,,,,,,,,,,,\n"
        "P,,,P2,Polo,Polo,12.50,maybe,2020-02-01,toolong,,,,,,\n"
        "P,,,P3,,,,,,,,,,,,\n"
    )
    assert [(c["reference"], c["_parent_ref"], c["label"]) for c in out.tables["categories"]] == [
        ("Men", None, None),
        ("Men > Tops", "Men", "Tops"),
    ]
    [product] = out.tables["products"]
    assert product | {"_source_file": "", "_line": 0} == {
        "reference": "P1",
        "_source_file": "",
        "_line": 0,
        "name_en": "Tee",
        "name_es": "Camiseta",
        "price": "1234.5",
        "status": "active",
        "released": "2020-02-01",
        "tags": ["A", "B"],
        "brand": "acme",
        "origin": "erp",
        "_category_refs": ["Men > Tops"],
    }
    assert [(r["line"], r["table"], r["reference"], r["reason"]) for r in out.rejects] == [
        (
            "3",
            "categories",
            "Men >  > Tops",
            "the category path has an empty level (levels are separated by ' > ')",
        ),
        (
            "4",
            "products",
            "P2",
            "field 'price': '12.50' is not a number: expected a number with ',' as decimal "
            "separator, e.g. 1234,5 or 1.234.567,89",
        ),
        ("5", "products", "P3", "field 'name_en': a required field is empty"),
    ]
    assert out.counts["categories"]["rows_in"] == 3  # two levels, and the rejected row


def test_malformed_csv_rows_are_rejects_of_the_tables_they_pass() -> None:
    header = ",".join(COLUMNS)
    out = csv_split(
        f"{header}\n"
        "P,,,P1,Tee,,,,,,,,,,,,extra\n"  # 17 fields
        "P,,,P2\n"  # 4 fields: the variants' sku is absent, so only products take it
        'P,,,P3,"ab"c,,,,,,,,,,,\n'
        "V,,,P1,,,,,,,,S1,1,,,\n"
    )
    assert [(r["line"], r["table"], r["reference"], r["reason"][:40]) for r in out.rejects] == [
        ("2", "products", "P1", "the record has 17 fields but the header "),
        ("3", "products", "P2", "the record has 4 fields but the header h"),
        ("5", "variants", "S1", "its product 'P1' was rejected (see that "),
    ]
    # line 4 gives no cells: no filter passes, the row is unused (an unreadable-rows note)
    assert out.rows_unused == 1 and out.rows_rejected == 3


def test_json_values_of_other_types() -> None:
    shape = Shape("jsonl", "/", None, {}, {"products": "first"}, False)
    # every mapped key is in some record: a key in none is a mapping error of its own
    nulls = '"label": null, "name_en": null, "name_es": null, "status": null, "released": null, '
    nulls += '"brand": null, '
    lines = [
        '{"path": "A/B", "ref": 1.0, "price": 1E2, "stock": 2.0, "sku": 7, "tags": ["x", 1]}',
        "{" + nulls + '"path": "A", "ref": "1", "sku": true, "stock": 2.5}',
        "[1]",
    ]
    out = catalogue.split(("\n".join(lines) + "\n").encode(), "e.jsonl", shape, {})
    assert [p["reference"] for p in out.tables["products"]] == ["1"]
    assert out.tables["products"][0]["price"] == "100"
    assert out.tables["products"][0]["tags"] == ["X", "1"]
    assert out.tables["variants"][0]["stock"] == 2
    assert [(r["line"], r["table"], r["reason"]) for r in out.rejects] == [
        (
            "2",
            "products",
            "reference '1' repeats the one on line 1, which is kept (on_duplicate: first)",
        ),
        (
            "2",
            "variants",
            "the reference is the JSON boolean true, not a code; map the column "
            "that holds the reference",
        ),
        ("3", "categories", "the line is a JSON array, not an object"),
        ("3", "products", "the line is a JSON array, not an object"),
        ("3", "variants", "the line is a JSON array, not an object"),
    ]
    assert catalogue.decimal_text(Decimal("-0.0")) == "0"


def test_each_format_numbers_its_own_lines() -> None:
    rows = [
        (row(kind="F", path="A", ref="P1", name_en="Tee", name_es="x", sku="S1"), False),
        (row(kind="F", path="A", ref="P1", name_en="Polo", name_es="x", sku="S2"), True),
    ]
    lines = {}
    for fmt, line in (("csv", "4"), ("jsonl", "3"), ("json", "4"), ("xlsx", "4")):
        export = in_format(Export(rows, [], SHAPE, {}), fmt)
        out = check(export, SMALL)
        assert out is not None
        lines[fmt] = [(r["line"], r["reason"]) for r in out.rejects]
        assert lines[fmt] == [
            (
                line,
                f"conflict: rows of 'P1' disagree on 'name_en': this row has 'Polo', line "
                f"{out.tables['products'][0]['_line']} has 'Tee'; line "
                f"{out.tables['products'][0]['_line']} is kept, fix the export so that both agree",
            )
        ]


def test_the_comparison_fails_when_the_reference_is_wrong() -> None:
    rows = [
        (
            row(
                kind="F", path="A > B", ref="P1", name_en="Tee", name_es="x", price="1,5", sku="S1"
            ),
            False,
        )
    ]
    export = Export(rows, [], SHAPE, {})
    check(export, SMALL)
    right = catalogue.decimal_text
    with (
        mock.patch.object(catalogue, "decimal_text", lambda d: right(d) + "0"),
        pytest.raises(AssertionError),
    ):
        check(export, SMALL)
