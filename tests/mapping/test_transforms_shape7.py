"""Shape 7 of issue 13: the text transforms (prefix, suffix, template, html_unescape, extract,
replace, split), fields combining columns (`template:`) and per-language defaults.

Expected values are written out by hand from the sample values, never computed by the code under
test; the columnar engine is compared with the row engine (tests/oracle) on random rows.
"""

from __future__ import annotations

import csv
import io
import json
import tempfile
from pathlib import Path
from typing import Any

import polars as pl
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from saleslayer_airflow.config.load import parse_connector
from saleslayer_airflow.config.tables import Transform
from saleslayer_airflow.mapping.plan import build_plans
from saleslayer_airflow.mapping.transforms import apply_transforms
from saleslayer_airflow.mapping.value_templates import TemplateSyntaxError, parse_template
from saleslayer_airflow.mapping.values import (
    Rejected,
    emptied_values,
    empties_values,
    field_value,
    template_cell,
)
from saleslayer_airflow.normalize.results import LandedFile
from saleslayer_airflow.readers.json import MISSING
from saleslayer_airflow.validation.columns import Header, check_columns
from saleslayer_airflow.validation.values import ValueProblem
from tests.normalize.mapping_reference import check_mapping

HEADER = """\
id: shape7
description: value transforms
schedule: null
start_date: 2026-01-01
source: {kind: http, conn_id: erp_http, endpoint: export}
"""


def _steps(*raw: dict[str, Any]) -> list[Transform]:
    return [Transform.model_validate(step) for step in raw]


def _apply(value: Any, *raw: dict[str, Any]) -> Any:
    return apply_transforms(value, _steps(*raw))


# -- the transforms, one by one ------------------------------------------------------------------


def test_prefix_suffix_and_value_template() -> None:
    assert _apply("/m/b/mb01.jpg", {"prefix": "https://cdn.example.com/media"}) == (
        "https://cdn.example.com/media/m/b/mb01.jpg"
    )
    assert _apply("42", {"suffix": " cm"}) == "42 cm"
    # a JSON number is read as written
    assert _apply(7, {"prefix": "#"}) == "#7"
    assert _apply("mb01.jpg", {"template": "https://cdn.example.com/{value}?w={{800}}"}) == (
        "https://cdn.example.com/mb01.jpg?w={800}"
    )
    assert _apply("ab", {"template": "{value}-{value}"}) == "ab-ab"


def test_html_unescape() -> None:
    value = "Caf&eacute; &amp; th&#233; &lt;b&gt;bio&lt;/b&gt; &#x2014; 10&nbsp;cl"
    assert _apply(value, {"html_unescape": True}) == "Café & thé <b>bio</b> \u2014 10\u00a0cl"
    # an already plain text stays as it is
    assert _apply("Café & thé", {"html_unescape": True}) == "Café & thé"


def test_extract() -> None:
    # default group: 1 when the pattern has one
    assert _apply("MH01-XS-Black", {"extract": {"pattern": r"^([^-]+)-"}}) == "MH01"
    # no group: the whole match
    assert _apply("ref 1234 x", {"extract": {"pattern": r"\d+"}}) == "1234"
    assert _apply("MH01-XS", {"extract": {"pattern": r"-(?P<size>\w+)$", "group": "size"}}) == (
        "XS"
    )
    assert _apply("MH01-XS", {"extract": {"pattern": r"^(\w+)-(\w+)$", "group": 2}}) == "XS"
    with pytest.raises(ValueProblem) as caught:
        _apply("no digits", {"trim": True}, {"extract": {"pattern": r"\d+"}})
    assert caught.value.code == "no_match"
    assert "'no digits' does not match the pattern '\\\\d+' of transforms[1] (extract)" in (
        caught.value.reason
    )
    assert _apply("none", {"extract": {"pattern": r"\d+", "on_no_match": "empty"}}) is None
    assert _apply("none", {"extract": {"pattern": r"\d+", "on_no_match": "keep"}}) == "none"
    # an optional group that took no part: no value
    assert _apply("ab", {"extract": {"pattern": r"a(x)?b"}}) is None


def test_replace() -> None:
    assert _apply("12,50 EUR", {"replace": {"pattern": r"\s*EUR$", "with": ""}}) == "12,50"
    swap = {"pattern": r"(\d+)-(\d+)-(\d+)", "with": r"\3/\2/\1"}
    assert _apply("2024-01-31", {"replace": swap}) == "31/01/2024"
    assert _apply("a  b   c", {"replace": {"pattern": r"\s+", "with": " "}}) == "a b c"
    # everything replaced away: no value
    assert _apply("N/A", {"replace": {"pattern": r"^N/A$", "with": ""}}) is None


def test_split() -> None:
    assert _apply("/m/b/mb01-blue.jpg", {"split": {"separator": "/", "index": -1}}) == (
        "mb01-blue.jpg"
    )
    assert _apply("Acme|Hoodie", {"split": {"separator": "|", "index": 0}}) == "Acme"
    with pytest.raises(ValueProblem) as caught:
        _apply("Acme", {"split": {"separator": "|", "index": 1}})
    assert "'Acme' has 1 element(s) separated by '|', so no element 1 for transforms[0]" in (
        caught.value.reason
    )
    split = {"separator": "|", "index": 1}
    assert _apply("Acme", {"split": {**split, "on_missing": "empty"}}) is None
    assert _apply("Acme", {"split": {**split, "on_missing": "keep"}}) == "Acme"
    # an empty element is no value
    assert _apply("Acme|", {"split": split}) is None


def test_transforms_run_in_order() -> None:
    steps = (
        {"html_unescape": True},
        {"trim": True},
        {"split": {"separator": "/", "index": -1}},
        {"case": "lower"},
        {"prefix": "https://cdn.example.com/"},
    )
    assert _apply("  /M/B/MB01&#45;Blue.JPG ", *steps) == "https://cdn.example.com/mb01-blue.jpg"


# -- fields --------------------------------------------------------------------------------------


def _plans(fields: str, fmt: str = "{type: csv}") -> Any:
    text = (
        HEADER + f"format: {fmt}\ntables:\n  products:\n    reference: sku\n    fields:\n" + fields
    )
    config = parse_connector(text, "shape7.yaml")
    return config, build_plans(config)[0]


def test_list_field_transforms_each_value() -> None:
    _, plan = _plans(
        "      images:\n        column: images\n        separator: ','\n"
        "        transforms: [{prefix: 'https://cdn.example.com/media'}]\n"
    )
    (source,) = plan.fields
    assert field_value(source, "/a.jpg, /b.jpg") == [
        "https://cdn.example.com/media/a.jpg",
        "https://cdn.example.com/media/b.jpg",
    ]


def test_template_field_values() -> None:
    _, plan = _plans("      title: {template: '{brand} {name}', required: true}\n")
    (source,) = plan.fields
    assert plan.source_columns() == ["sku", "brand", "name"]

    def value(brand: object, name: object) -> object:
        return field_value(source, template_cell(source, [brand, name]))

    assert value("Acme", "Hoodie") == "Acme Hoodie"
    assert value("", "Hoodie") == "Hoodie"
    assert value("Acme", None) == "Acme"
    assert value(MISSING, 12) == "12"
    rejected = value("", None)
    assert isinstance(rejected, Rejected) and rejected.code == "required"


def test_language_template_and_defaults() -> None:
    _, plan = _plans(
        "      title:\n        template: '{brand} {name_{lang}}'\n        languages: [en, es]\n"
        "      state:\n        column: state\n        languages: [en, es, fr]\n"
        "        default: {en: New, es: Nuevo}\n"
    )
    title_en, title_es, state_en, state_es, state_fr = plan.fields
    assert (title_en.out, title_es.out) == ("title_en", "title_es")
    assert title_en.template.names == ("brand", "name_en")
    assert title_es.template.names == ("brand", "name_es")
    assert plan.source_columns() == ["sku", "brand", "name_en", "name_es", "state_en", "state_es",
                                     "state_fr"]  # fmt: skip
    assert field_value(title_es, template_cell(title_es, ["Acme", "Sudadera"])) == "Acme Sudadera"
    assert field_value(state_en, "") == "New"
    assert field_value(state_es, None) == "Nuevo"
    assert field_value(state_fr, "") is None
    assert field_value(state_fr, "Neuf") == "Neuf"


def test_template_columns_are_checked_by_the_preflight() -> None:
    config, _ = _plans("      title: {template: '{Vendor} {Title}'}\n")
    header = Header("products.csv", ("sku", "Vendor", "title"))
    (problem,) = check_columns(config, header)
    assert problem.column == "Title"
    assert problem.named.field == "tables.products.fields.title.template"
    assert "Did you mean 'title'?" in problem.message


def test_values_an_empty_option_leaves_out_are_named_for_the_count() -> None:
    _, plan = _plans(
        "      tags:\n        column: tags\n        separator: '|'\n        transforms:\n"
        "          - {extract: {pattern: '^([\\w-]+)$', on_no_match: empty}}\n"
        "          - {split: {separator: '-', index: 1, on_missing: empty}}\n"
    )
    (source,) = plan.fields
    assert empties_values(source.spec)
    extract = "transforms[0] (extract, on_no_match: empty)"
    split = "transforms[1] (split, on_missing: empty)"
    assert emptied_values(source.spec, "a-b| c-d |50% off|x||") == (extract, split)
    assert field_value(source, "a-b| c-d |50% off|x||") == ["b", "d"]
    assert emptied_values(source.spec, "") == ()
    _, plain = _plans("      tags: {column: tags, transforms: [{extract: {pattern: x}}]}\n")
    assert not empties_values(plain.fields[0].spec)


# -- templates -----------------------------------------------------------------------------------


def test_parse_template() -> None:
    parsed = parse_template("{{{Variant SKU}}} - {name_{lang}}!")
    assert parsed.literals == ("{", "} - ", "!")
    assert parsed.names == ("Variant SKU", "name_{lang}")
    assert parsed.for_language("es").names == ("Variant SKU", "name_es")
    assert parse_template(parsed.for_language("es").text).names == ("Variant SKU", "name_es")
    for bad, fragment in [
        ("{brand", "never closed"),
        ("brand}", "single '}'"),
        ("{}", "empty placeholder"),
        ("{a{b}}", "inside the placeholder"),
    ]:
        with pytest.raises(TemplateSyntaxError, match=fragment):
            parse_template(bad)


def test_render_leaves_out_empty_values_with_their_separator() -> None:
    template = parse_template("[{a}-{b}/{c}]")
    assert template.render(["A", "B", "C"]) == "[A-B/C]"
    assert template.render(["A", "", "C"]) == "[A/C]"
    assert template.render([None, "B", "C"]) == "[B/C]"
    assert template.render([None, None, "C"]) == "[C]"
    assert template.render(["A", "B", None]) == "[A-B]"
    assert template.render([None, "", None]) is None


_PIECE = st.text(st.characters(exclude_categories=["Cs"]), max_size=4)
_VALUE = st.one_of(st.none(), st.just(""), _PIECE)


@settings(max_examples=200, deadline=None)
@given(st.lists(_PIECE, min_size=2, max_size=5), st.data())
def test_render_and_the_polars_expression_agree(literals: list[str], data: st.DataObject) -> None:
    names = [f"c{i}" for i in range(len(literals) - 1)]
    text = "".join(
        lit.replace("{", "{{").replace("}", "}}") + ("{" + n + "}" if i < len(names) else "")
        for i, (lit, n) in enumerate(zip(literals, [*names, ""], strict=True))
    )
    template = parse_template(text)
    assert template.literals == tuple(literals)
    rows = data.draw(st.lists(st.tuples(*[_VALUE] * len(names)), min_size=1, max_size=8))
    frame = pl.DataFrame(
        {n: [row[i] for row in rows] for i, n in enumerate(names)},
        schema=dict.fromkeys(names, pl.String),
    )
    got = frame.select(template.expr([pl.col(n) for n in names])).to_series().to_list()
    assert got == [template.render(list(row)) for row in rows]


# -- the columnar engine against the row engine --------------------------------------------------

TABLES = """\
tables:
  products:
    reference: sku
    fields:
      title: {template: '{brand} {name}', max_length: 12}
      label: {template: '{{{brand}}}: {name_{lang}}', languages: [en, es], required: true}
      state: {column: state, languages: [en, es], default: {es: Nuevo}}
      image:
        column: image
        transforms:
          - {html_unescape: true}
          - {split: {separator: /, index: -1, on_missing: empty}}
          - {template: 'https://cdn.example.com/{value}'}
      code:
        column: code
        transforms: [{extract: {pattern: '^([A-Z]+)-', on_no_match: reject}}, {suffix: '!'}]
      clean:
        column: code
        transforms: [{replace: {pattern: '[^A-Za-z0-9]+', with: '_'}}, {prefix: x}]
      tags:
        column: tags
        separator: '|'
        transforms: [{extract: {pattern: '\\w+', on_no_match: empty}}]
"""
COLUMNS = ["sku", "brand", "name", "name_en", "name_es", "state_en", "state_es", "image", "code",
           "tags"]  # fmt: skip
_TEXT = st.text(st.characters(exclude_categories=["Cs"]), max_size=6)
CELLS = {
    "sku": st.sampled_from(["S1", "S2", "S3", " S4", ""]),
    "brand": st.one_of(st.sampled_from(["Acme", "", "{x}", "Ünïcode"]), _TEXT),
    "name": st.one_of(st.sampled_from(["Hoodie", "", "Long hoodie name"]), _TEXT),
    "name_en": st.one_of(st.sampled_from(["Hoodie", ""]), _TEXT),
    "name_es": st.one_of(st.sampled_from(["Sudadera", ""]), _TEXT),
    "state_en": st.sampled_from(["new", "", "used"]),
    "state_es": st.sampled_from(["nuevo", ""]),
    "image": st.one_of(st.sampled_from(["/m/b/a.jpg", "a&amp;b.jpg", "/", "x/"]), _TEXT),
    "code": st.one_of(st.sampled_from(["AB-1", "ab-1", "AB-", "-1", ""]), _TEXT),
    "tags": st.one_of(st.sampled_from(["a|b", "a||-", "|", "é|ß"]), _TEXT),
}
ROWS = st.lists(st.fixed_dictionaries(CELLS), max_size=20)
SETTINGS = settings(max_examples=50, deadline=None, suppress_health_check=[HealthCheck.too_slow])


def _compare(fmt: str, data: bytes, batch_rows: int) -> None:
    config = parse_connector(HEADER + f"format: {fmt}\n" + TABLES, "shape7.yaml")
    with tempfile.TemporaryDirectory() as folder:
        path = Path(folder) / "export"
        path.write_bytes(data)
        check_mapping(config, [LandedFile(path, path.name)], (batch_rows, 65_536))


@SETTINGS
@given(ROWS, st.sampled_from([1, 3, 7]))
def test_engines_agree_on_csv(rows: list[dict[str, str]], batch_rows: int) -> None:
    out = io.StringIO()
    writer = csv.writer(out, lineterminator="\n")
    writer.writerow(COLUMNS)
    writer.writerows([row[c] for c in COLUMNS] for row in rows)
    _compare("{type: csv}", out.getvalue().encode("utf-8"), batch_rows)


JSON_VALUES = st.one_of(
    st.integers(-1000, 1000), st.booleans(), st.none(), st.just(1.5), st.just(["a", "b"]),
)  # fmt: skip


@SETTINGS
@given(
    ROWS,
    st.lists(st.tuples(st.sampled_from(COLUMNS[1:]), st.one_of(JSON_VALUES, st.just(...)))),
    st.sampled_from([1, 4]),
)
def test_engines_agree_on_json_lines(
    rows: list[dict[str, Any]], changes: list[tuple[str, Any]], batch_rows: int
) -> None:
    lines = []
    for index, row in enumerate(rows):
        record: dict[str, Any] = dict(row)
        for column, value in changes[index :: max(len(rows), 1)]:
            if value is ...:
                record.pop(column, None)
            else:
                record[column] = value
        lines.append(json.dumps(record))
    _compare("{type: jsonl}", "\n".join(lines).encode("utf-8"), batch_rows)
