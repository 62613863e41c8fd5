"""The reference split itself, on small exports worked out by hand: what it is trusted for."""

from __future__ import annotations

from typing import Any
from unittest import mock

import pytest

from tests.reference import reference
from tests.reference.reference import COLUMNS
from tests.reference.test_property import Export, Sizes, check

HEADER = ",".join(COLUMNS)


def split(lines: list[str], **policies: str) -> reference.Outcome:
    data = "\n".join([HEADER, *lines, ""]).encode()
    return reference.split(
        data, "e.csv", encoding="utf-8", delimiter=",", policies=dict(policies), known={}
    )


def reasons(outcome: reference.Outcome) -> list[tuple[str, str, str, str]]:
    return [(r["line"], r["table"], r["reference"], r["reason"]) for r in outcome.rejects]


def test_a_flat_export_merges_fills_and_reports_a_conflict() -> None:
    # kind,cat,parent,cat_title,ref,cats,title,price,active,color,sku,size,stock
    out = split(
        [
            "F,C1,,Shoes,P1,C1,Tee,,yes,red,S1,M,1",
            "F,C1,,,P1,C1,Tee,1.50,,,S2,L,2",
            "",
            'F,C1,,,P1,C1,"Tee\nXL",,,,S3,XL,3',
        ]
    )
    assert out.tables["products"] == [
        {
            "reference": "P1",
            "_source_file": "e.csv",
            "_line": 2,
            "title": "Tee",
            "price": "1.5",
            "active": True,
            "color": "red",
            "_category_refs": ["C1"],
        }
    ]
    assert [v["reference"] for v in out.tables["variants"]] == ["S1", "S2", "S3"]
    assert reasons(out) == [
        (
            "5",  # the blank line 4 counts
            "products",
            "P1",
            "conflict: rows of 'P1' disagree on 'title': this row has 'Tee\\nXL', line 2 has "
            "'Tee'; line 2 is kept, fix the export so that both agree",
        )
    ]
    assert out.counts["products"] == {
        "rows_in": 3,
        "rows_out": 1,
        "merged": 1,
        "rejected": 1,
        "conflicts": 1,
        "duplicates": 0,
    }


def test_parents_cycles_look_alikes_and_what_they_take_with_them() -> None:
    out = split(
        [
            "C,A,B,,,,,,,,,,",
            "C,B,A,,,,,,,,,,",
            "C,C,A,,,,,,,,,,",
            "C,D,z,,,,,,,,,,",
            "C,Z,,,,,,,,,,,",
            "P,,,,P1,C|Z,Tee,,,,,,",
            "V,,,,P1,,,,,,S1,,",
            "V,,,,P2,,,,,,S2,,",
        ]
    )
    assert [c["reference"] for c in out.tables["categories"]] == ["Z"]
    assert reasons(out) == [
        (
            "2",
            "categories",
            "A",
            "the category is part of a parent cycle: 'A' -> 'B' -> 'A'; a tree needs a root",
        ),
        (
            "3",
            "categories",
            "B",
            "the category is part of a parent cycle: 'A' -> 'B' -> 'A'; a tree needs a root",
        ),
        ("4", "categories", "C", "its parent category 'A' was rejected (see that reject)"),
        (
            "5",
            "categories",
            "D",
            "its parent category 'z' is not in this import, but 'Z' is: references are "
            "case-sensitive in Sales Layer",
        ),
        ("7", "products", "P1", "its category 'C' was rejected (see that reject)"),
        ("8", "variants", "S1", "its product 'P1' was rejected (see that reject)"),
        (
            "9",
            "variants",
            "S2",
            "its product 'P2' is neither in this import nor imported before (references are "
            "case-sensitive)",
        ),
    ]


def test_duplicate_policies() -> None:
    rows = ["P,,,,P1,,Tee,,,,,,", "P,,,,P1,,Shirt,,,,,,", "P,,,,P1,,Tee,,,,,,"]
    first = split(rows, products="first")
    assert [p["title"] for p in first.tables["products"]] == ["Tee"]
    assert [r[0] for r in reasons(first)] == ["3", "4"]
    every = split(rows, products="reject")
    assert every.tables["products"] == []
    assert reasons(every)[0][3] == (
        "reference 'P1' appears on 3 rows; this table rejects every row of a duplicated "
        "reference (on_duplicate: reject)"
    )
    assert every.counts["products"]["rejected"] == 3


def test_the_engine_agrees_on_these_exports_too() -> None:
    sizes = Sizes(chunk_rows=1, batch_rows=1, part_bytes=64, range_span=1, block_bytes=16)
    for lines in (
        ["F,C1,,Shoes,P1,C1,Tee,,yes,red,S1,M,1", 'F,C1,,,P1,C1,"Tee\nXL",,,,S3,XL,3'],
        ["C,A,B,,,,,,,,,,", "C,B,A,,,,,,,,,,", "C,C,A,,,,,,,,,,", "P,,,,P1,C|Z,Tee,,,,,,"],
    ):
        data = "\r\n".join([HEADER, *lines]).encode()
        check(Export(data, "utf-8", ",", {}, {}), sizes)


def _misread_yes(spec: reference.Field, raw: str) -> object:
    value = _TYPED(spec, raw)
    return False if spec.type == "boolean" else value


_TYPED = reference.typed
_YAML = reference.connector_yaml


@pytest.mark.parametrize(
    "broken",
    [
        # the reference reads every boolean as false
        lambda: mock.patch.object(reference, "typed", _misread_yes),
        # the engine's connector says on_duplicate: first where the reference merges
        lambda: mock.patch.object(
            reference,
            "connector_yaml",
            lambda policies, delimiter, encoding: _YAML({"products": "first"}, delimiter, encoding),
        ),
    ],
    ids=["reference-misreads-booleans", "engine-keeps-first-row"],
)
def test_the_comparison_fails_when_either_side_is_wrong(broken: Any) -> None:
    data = "\n".join([HEADER, "P,,,,P1,,Tee,,yes,,,,", "P,,,,P1,,Tee,2,,,,,"]).encode()
    export = Export(data, "utf-8", ",", {}, {})
    sizes = Sizes(
        chunk_rows=5_000, batch_rows=65_536, part_bytes=1 << 20, range_span=9, block_bytes=1 << 20
    )
    check(export, sizes)  # as they are, both agree
    with broken(), pytest.raises(AssertionError):
        check(export, sizes)
