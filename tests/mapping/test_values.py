"""The value rules as plain functions: one source value in, its value or the reject out."""

from __future__ import annotations

from decimal import Decimal

import pytest

from saleslayer_airflow.config.load import parse_connector
from saleslayer_airflow.mapping.plan import PRODUCT_REF, FieldSource, TablePlan, build_plans
from saleslayer_airflow.mapping.values import (
    MAX_REFERENCE_LENGTH,
    ItemReference,
    Rejected,
    RejectedReference,
    field_value,
    item_reference,
    link_value,
    passes_filter,
    rejected_reference,
    show_value,
)
from saleslayer_airflow.readers.json import MISSING
from saleslayer_airflow.validation.values import SHOWN_CHARS

HEADER = """\
id: rules
description: the value rules
schedule: null
start_date: 2026-01-01
source: {kind: http, conn_id: erp_http, endpoint: export.csv}
format: {type: csv, delimiter: ";"}
"""
TABLES = """\
tables:
  categories:
    reference: path
    path: {column: path, separator: " > "}
  products:
    reference: product
    categories: {column: path}
    where: [{column: kind, equals: [p, b]}]
    links:
      stores: {column: stores, separator: ","}
    fields:
      title: {column: title, required: true}
      price: {column: price, type: number}
      qty: {column: qty, type: integer, default: 0}
      flag: {column: flag, type: boolean}
      color: {column: color, enum: [red, blue]}
      tags: {column: tags, separator: "|", max_length: 3}
      cost: {column: cost, type: number, transforms: [{parse_number: comma}]}
      origin: {constant: ES}
  variants:
    reference: sku
    product: product
    where: [{column: kind, empty: false}]
    fields:
      name: {column: title, languages: [en, es], language_pattern: "{column}_{lang}"}
"""


@pytest.fixture(scope="module")
def plans() -> dict[str, TablePlan]:
    return {plan.key: plan for plan in build_plans(parse_connector(HEADER + TABLES, "t.yaml"))}


def _field(plan: TablePlan, out: str) -> FieldSource:
    return next(source for source in plan.fields if source.out == out)


def test_a_reference_is_trimmed_and_put_in_nfc(plans: dict[str, TablePlan]) -> None:
    products = plans["products"]
    assert item_reference(products, "  P1\u00a0") == ItemReference("P1")
    assert item_reference(products, "e\u0301") == ItemReference("\u00e9")
    assert item_reference(products, Decimal("7")) == ItemReference("7")


def test_a_missing_reference_is_rejected_under_no_reference(
    plans: dict[str, TablePlan],
) -> None:
    for empty in (None, MISSING, ""):
        assert item_reference(plans["products"], empty) == RejectedReference(
            "the reference is empty; every item needs one", "no_reference", "", ""
        )
    assert item_reference(plans["categories"], "") == RejectedReference(
        "the category path is empty; every item needs one", "no_reference", "", ""
    )
    # blanks only: normalised to nothing; the reject shows what the cell held
    assert item_reference(plans["products"], "   ") == RejectedReference(
        "the reference is empty; every item needs one", "no_reference", "   ", ""
    )


def test_a_bad_reference_is_rejected_under_its_loose_form(plans: dict[str, TablePlan]) -> None:
    found = item_reference(plans["products"], " P\u200b1 ")
    assert found == RejectedReference(
        "the reference ' P\\u200b1 ' holds an invisible character U+200B ZERO WIDTH SPACE at "
        "position 3; remove it in the ERP",
        "bad_reference",
        " P\u200b1 ",
        "P\u200b1",
    )
    assert rejected_reference(plans["products"], " P\u200b1 ") == "P\u200b1"
    assert rejected_reference(plans["products"], None) == ""


def test_a_reference_longer_than_the_store_keeps_is_rejected(
    plans: dict[str, TablePlan],
) -> None:
    at_limit = "A" * MAX_REFERENCE_LENGTH
    assert item_reference(plans["products"], at_limit) == ItemReference(at_limit)
    too_long = "B" * (MAX_REFERENCE_LENGTH + 1)
    found = item_reference(plans["products"], f" {too_long} ")
    assert isinstance(found, RejectedReference)
    assert found.code == "reference_too_long"
    assert found.reason == (
        "the reference is 513 characters long; at most 512 are kept (shorten it in the ERP, "
        "or map another column as the reference)"
    )
    assert found.ref == too_long
    assert found.shown == f"{too_long[:SHOWN_CHARS]}... (513 characters)"


def test_a_category_path_gives_the_reference_of_every_level(plans: dict[str, TablePlan]) -> None:
    categories = plans["categories"]
    assert item_reference(categories, " A > B  > C") == ItemReference(
        "A > B > C", ("A", "A > B", "A > B > C")
    )
    found = item_reference(categories, "A >  > C")
    assert found == RejectedReference(
        "the category path has an empty level (levels are separated by ' > ')",
        "bad_path",
        "A >  > C",
        "A >  > C",
    )
    # the loose form keeps the empty level: a product's link to that path says it was rejected
    assert link_value(plans["products"], plans["products"].links[0], "A >  > C") == ["A >  > C"]


def test_fields_convert_and_name_themselves_in_their_rejects(
    plans: dict[str, TablePlan],
) -> None:
    products = plans["products"]
    assert field_value(_field(products, "price"), "12.50") == "12.5"
    assert field_value(_field(products, "qty"), "") == 0
    assert field_value(_field(products, "flag"), "Yes") is True
    assert field_value(_field(products, "tags"), "a| b ||c") == ["a", "b", "c"]
    assert field_value(_field(products, "cost"), "1.234,5") == "1234.5"
    assert field_value(_field(products, "title"), None) == Rejected(
        "field 'title': a required field is empty", "required", ""
    )
    assert field_value(_field(products, "color"), "green") == Rejected(
        "field 'color': 'green' is not one of the allowed values: red, blue", "enum", "green"
    )
    assert field_value(_field(products, "tags"), "abcd") == Rejected(
        "field 'tags': the value is 4 characters long; the field allows at most 3",
        "max_length",
        "abcd",
    )
    assert field_value(_field(products, "price"), "1,5") == Rejected(
        "field 'price': '1,5' is not a number (digits 0-9 with a dot as decimal separator and no "
        "thousands separators; for other formats declare transforms: [{parse_number: comma}] "
        "or [{parse_number: dot}])",
        "type",
        "1,5",
    )


def test_a_constant_field_ignores_the_cell(plans: dict[str, TablePlan]) -> None:
    origin = _field(plans["products"], "origin")
    assert field_value(origin, "anything") == "ES"
    assert field_value(origin, None) == "ES"


def test_a_language_field_reads_its_own_column(plans: dict[str, TablePlan]) -> None:
    variants = plans["variants"]
    assert [(s.out, s.column) for s in variants.fields] == [
        ("name_en", "title_en"),
        ("name_es", "title_es"),
    ]
    assert field_value(variants.fields[1], " Hola ") == " Hola "


def test_links_are_normalised_like_items_and_deduplicated(plans: dict[str, TablePlan]) -> None:
    products = plans["products"]
    stores = next(link for link in products.links if link.out == "_link_stores")
    assert link_value(products, stores, " S1, S2 ,S1,,") == ["S1", "S2"]
    assert link_value(products, stores, "") is None
    bad = link_value(products, stores, "S1,S\u00a02")
    assert bad == Rejected(
        "the stores item reference 'S\\xa02' holds a space other than the plain space "
        "U+00A0 NO-BREAK SPACE at position 2; replace it with a plain space in the ERP",
        "bad_reference",
        "S1,S\u00a02",
    )


def test_a_variant_needs_its_product(plans: dict[str, TablePlan]) -> None:
    variants = plans["variants"]
    product = next(link for link in variants.links if link.out == PRODUCT_REF)
    assert link_value(variants, product, " P1 ") == "P1"
    for empty in (None, "", " "):
        assert link_value(variants, product, empty) == Rejected(
            "the variant has no product reference; every variant belongs to a product",
            "no_parent",
            "",
        )


def test_where_filters(plans: dict[str, TablePlan]) -> None:
    (kind_in,) = plans["products"].where
    assert passes_filter(kind_in, "p") and passes_filter(kind_in, "b")
    assert not passes_filter(kind_in, "v") and not passes_filter(kind_in, None)
    (not_empty,) = plans["variants"].where
    assert passes_filter(not_empty, "v") and not passes_filter(not_empty, MISSING)


def test_the_shown_value() -> None:
    assert show_value(None) == show_value(MISSING) == ""
    assert show_value(Decimal("1.50")) == "1.5"
    assert show_value(True) == "true"
    assert show_value({"a": [1]}) == '{"a":[1]}'
    assert show_value("x" * 201) == "x" * 200 + "... (201 characters)"
