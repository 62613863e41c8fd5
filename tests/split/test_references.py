"""Look-alike references: one normalisation for items and links (trim, refuse invisible or control
characters with the reason, NFC), checked on the function and through the split stage."""

from __future__ import annotations

import json
import re
from decimal import Decimal
from pathlib import Path
from typing import Any

import pytest

from saleslayer_airflow.mapping.references import BAD_REFERENCE, normalise_reference
from saleslayer_airflow.validation.values import ValueProblem
from tests.split.conftest import Outcome, connector_text, run_split

#: (value, the reference it is, or None when refused, a regex of the refusal's reason)
CASES: list[tuple[Any, str | None, str]] = [
    ("P1", "P1", ""),
    ("P1 ", "P1", ""),
    (" P1", "P1", ""),
    ("P1\t", "P1", ""),
    ("P1\r", "P1", ""),
    ("P1\r\n", "P1", ""),
    ("P1\u00a0", "P1", ""),  # no-break space at an end: padding, trimmed
    ("\u3000P1\u202f", "P1", ""),  # ideographic and narrow no-break spaces
    ("ST 01", "ST 01", ""),  # a plain space inside is part of the reference
    (
        "P1\u200b",
        None,
        r"'P1\\u200b' holds an invisible character U\+200B ZERO WIDTH SPACE at "
        r"position 3; remove it in the ERP",
    ),
    ("\ufeffP1", None, r"U\+FEFF ZERO WIDTH NO-BREAK SPACE at position 1"),
    ("P\u200d1", None, r"U\+200D ZERO WIDTH JOINER at position 2"),
    ("P\u200c1", None, r"U\+200C ZERO WIDTH NON-JOINER at position 2"),
    ("P1\u202e", None, r"U\+202E RIGHT-TO-LEFT OVERRIDE at position 3"),
    ("\u200eP1", None, r"U\+200E LEFT-TO-RIGHT MARK at position 1"),
    ("P\u00ad1", None, r"U\+00AD SOFT HYPHEN at position 2"),
    ("P\n1", None, r"a control character U\+000A LINE FEED at position 2"),
    ("P\t1", None, r"a control character U\+0009 TAB at position 2"),
    ("P\x071", None, r"a control character U\+0007 at position 2"),
    # the position counts in the value as received, leading blanks included
    ("  P\u200b1", None, r"at position 4"),
    (
        "ST\u00a001",
        None,
        r"a space other than the plain space U\+00A0 NO-BREAK SPACE at position "
        r"3; replace it with a plain space in the ERP",
    ),
    ("\u3164", None, r"invisible character U\+3164 HANGUL FILLER"),
    ("A\ud800", None, r"a lone surrogate \(half of a character, not text\) U\+D800 at position 2"),
    # fullwidth letters are visible and used on purpose: a reference of their own, not P1
    ("\uff301", "\uff301", ""),
    # NFC: a decomposed e + combining acute is the precomposed é
    ("e\u0301", "\u00e9", ""),
    ("\u00e9", "\u00e9", ""),
    ("Cafe\u0301 ", "Caf\u00e9", ""),
    # JSON numbers
    (1, "1", ""),
    ("1", "1", ""),
    (1.0, "1", ""),
    (1e3, "1000", ""),
    (-7, "-7", ""),
    (2**60, "1152921504606846976", ""),
    (Decimal("1.0"), "1", ""),  # an exact JSON reader's numbers
    (Decimal("1E+3"), "1000", ""),
    (Decimal("9007199254740993"), "9007199254740993", ""),
    (Decimal("1.50"), None, r"JSON number 1\.50, which is not a whole number"),
    (Decimal("1E+999999999"), None, r"not a whole number"),
    (Decimal("NaN"), None, r"not a whole number"),
    (1.5, None, r"JSON number 1\.5, which is not a whole number"),
    (float(2**60), None, r"not a whole number a float holds exactly"),
    (float("nan"), None, r"JSON number nan"),
    (True, None, r"JSON boolean true"),
    ({"code": "P1"}, None, r"an object .*map the field of the record"),
    (["P1"], None, r"a list"),
]


@pytest.mark.parametrize(("value", "expected", "reason"), CASES, ids=[repr(c[0]) for c in CASES])
def test_normalise_reference(value: Any, expected: str | None, reason: str) -> None:
    if expected is not None:
        assert normalise_reference(value) == expected
        return
    with pytest.raises(ValueProblem) as caught:
        normalise_reference(value)
    assert caught.value.code == BAD_REFERENCE
    assert re.search(reason, caught.value.reason), caught.value.reason


def test_look_alikes_are_one_reference_or_refused() -> None:
    """Every spelling a person reads as P1 gives P1 or is refused; none is a second item."""
    kept = set()
    for value in ["P1", "P1 ", " P1", "P1\t", "P1\u00a0", "P1\r"]:
        kept.add(normalise_reference(value))
    assert kept == {"P1"}
    for value in ["P1\u200b", "\ufeffP1", "P\u200d1", "P\n1", "P1\u202e"]:
        with pytest.raises(ValueProblem):
            normalise_reference(value)
    assert normalise_reference("\uff301") != "P1"
    assert {normalise_reference(v) for v in (1, "1", 1.0, " 1 ")} == {"1"}


TREE = """\
id: refs
description: look-alike references
schedule: null
start_date: 2026-01-01
source: {kind: http, conn_id: erp_http, endpoint: export.csv}
format: {type: csv, delimiter: ";"}
tables:
  categories:
    reference: code
    where: [{column: kind, equals: cat}]
    parent: parent
    fields:
      cat_title: title
  products:
    reference: ref
    where: [{column: kind, equals: prod}]
    categories: {column: cats, separator: ","}
    fields:
      prod_title: title
"""
HEADER = "kind;code;parent;ref;cats;title\n"


def _split_tree(tmp_path: Path, rows: str) -> Outcome:
    export = tmp_path / "export.csv"
    export.write_text(HEADER + rows, encoding="utf-8")
    return run_split(connector_text(TREE), [(export, "export.csv")], tmp_path / "out")


def test_padded_references_meet_their_links(tmp_path: Path) -> None:
    """`CAT-1 ` in the category table and `CAT-1` in a product's categories (and the reverse,
    and a parent padded with a no-break space) are one category, linked."""
    outcome = _split_tree(
        tmp_path,
        "cat;CAT-1 ;;;;Root\n"
        "cat; CAT-2;CAT-1\u00a0;;;Child\n"
        "prod;;;P1;CAT-1,CAT-2 ;Tee\n"
        "prod;;;P2 ; CAT-2;Shirt\n",
    )
    assert outcome.rejects == []
    cats = {i["reference"]: i for i in outcome.tables["categories"]}
    assert cats.keys() == {"CAT-1", "CAT-2"}
    assert cats["CAT-2"]["_parent_ref"] == "CAT-1"
    products = {i["reference"]: i["_category_refs"] for i in outcome.tables["products"]}
    assert products == {"P1": ["CAT-1", "CAT-2"], "P2": ["CAT-2"]}


def test_an_invisible_character_rejects_the_row_with_its_column(tmp_path: Path) -> None:
    """A link holding a zero-width space rejects the product (column = the link column), it is
    never dropped from the list; an item reference holding one rejects its row."""
    outcome = _split_tree(
        tmp_path,
        "cat;CAT-1;;;;Root\n"
        "cat;CAT\u200b-2;;;;Other\n"
        "prod;;;P1;CAT-1,CAT-1\u200b;Tee\n"
        "prod;;;P2;CAT-1;Shirt\n",
    )
    assert [i["reference"] for i in outcome.tables["categories"]] == ["CAT-1"]
    assert [i["reference"] for i in outcome.tables["products"]] == ["P2"]
    got = {(r["table"], r["line"]): r for r in outcome.rejects}
    assert got.keys() == {("categories", "3"), ("products", "4")}
    category, product = got["categories", "3"], got["products", "4"]
    assert category["column"] == "code"
    assert "U+200B ZERO WIDTH SPACE at position 4" in category["reason"]
    assert product["column"] == "cats" and product["reference"] == "P1"
    assert product["value"] == "CAT-1,CAT-1\u200b"
    assert re.search(
        r"the category reference 'CAT-1\\u200b' holds an invisible character U\+200B",
        product["reason"],
    )


def test_a_fullwidth_look_alike_is_named_in_the_unknown_parent_reason(tmp_path: Path) -> None:
    outcome = _split_tree(tmp_path, "cat;\uff23\uff21\uff34-1;;;;Root\nprod;;;P1;CAT-1;Tee\n")
    (reject,) = outcome.rejects
    assert reject["table"] == "products"
    assert "but the look-alike '\uff23\uff21\uff34-1' is" in reject["reason"]
    assert "U+0043 LATIN CAPITAL LETTER C" in reject["reason"]
    assert "U+FF23 FULLWIDTH LATIN CAPITAL LETTER C" in reject["reason"]


PATHS = """\
id: paths
description: category paths
schedule: null
start_date: 2026-01-01
source: {kind: http, conn_id: erp_http, endpoint: export.csv}
format: {type: csv, delimiter: ";"}
tables:
  categories:
    reference: path
    path: {column: path, separator: " > "}
  products:
    reference: product
    categories: {column: path}
    fields:
      title: title
"""


def test_category_path_levels_are_normalised_on_both_sides(tmp_path: Path) -> None:
    export = tmp_path / "export.csv"
    export.write_text(
        "path;product;title\n"
        "Men > Tops\u00a0;P1;Tee\n"
        "Men\t > Tops;P1;Tee\n"
        "Men > To\u200bps;P2;Shirt\n",
        encoding="utf-8",
    )
    outcome = run_split(connector_text(PATHS), [(export, "export.csv")], tmp_path / "out")
    assert [i["reference"] for i in outcome.tables["categories"]] == ["Men", "Men > Tops"]
    assert {i["reference"]: i["_category_refs"] for i in outcome.tables["products"]} == {
        "P1": ["Men > Tops"]
    }
    got = sorted((r["table"], r["line"], r["column"]) for r in outcome.rejects)
    assert got == [("categories", "4", "path"), ("products", "4", "path")]
    assert all("U+200B ZERO WIDTH SPACE" in r["reason"] for r in outcome.rejects)
    assert all("category path level 'To\\u200bps'" in r["reason"] for r in outcome.rejects)


JSON_LINKS = """\
id: numbers
description: JSON number references
schedule: null
start_date: 2026-01-01
source: {kind: http, conn_id: erp_http, endpoint: export.json}
format: {type: jsonl}
tables:
  products:
    reference: id
    fields:
      prod_title: title
  variants:
    reference: sku
    product: product_id
"""


def test_json_numbers_and_strings_are_one_reference(tmp_path: Path) -> None:
    records = [
        {"id": 1, "title": "Tee", "sku": "S1", "product_id": "1"},
        {"id": "1", "title": "Tee", "sku": "S2", "product_id": 1.0},
        {"id": 1.0, "title": "Tee", "sku": 3, "product_id": 1},
        {"id": 2.5, "title": "Bad", "sku": "S4", "product_id": True},
    ]
    export = tmp_path / "export.json"
    export.write_text("".join(json.dumps(r) + "\n" for r in records), encoding="utf-8")
    outcome = run_split(connector_text(JSON_LINKS), [(export, "export.json")], tmp_path / "out")
    assert [i["reference"] for i in outcome.tables["products"]] == ["1"]
    variants = {i["reference"]: i["_product_ref"] for i in outcome.tables["variants"]}
    assert variants == {"S1": "1", "S2": "1", "3": "1"}
    counts = outcome.result.tables["products"]
    assert (counts.rows_in, counts.rows_out, counts.merged, counts.rejected) == (4, 1, 2, 1)
    got = {(r["table"], r["line"]): r["reason"] for r in outcome.rejects}
    assert "JSON number 2.5" in got["products", "4"]
    assert "JSON boolean true" in got["variants", "4"]


def test_a_lone_surrogate_in_a_json_reference_is_a_reject_not_a_crash(tmp_path: Path) -> None:
    """JSON may escape half a character ("\\ud800"); the reject shows it escaped."""
    export = tmp_path / "export.jsonl"
    export.write_text(
        '{"id": "A\\ud800", "title": "x"}\n{"id": "B", "title": "y"}\n', encoding="utf-8"
    )
    config = connector_text(
        JSON_LINKS.replace("  variants:\n    reference: sku\n    product: product_id\n", "")
    )
    outcome = run_split(config, [(export, "export.jsonl")], tmp_path / "out")
    assert [i["reference"] for i in outcome.tables["products"]] == ["B"]
    (reject,) = outcome.rejects
    assert (reject["reference"], reject["value"]) == ("A\\ud800", "A\\ud800")
    assert "U+D800 at position 2" in reject["reason"]
