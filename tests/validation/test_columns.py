"""The column preflight (validation/columns.py): headers read as the split reads them, from the
file's start only, and every column a connector names checked against them, with suggestions."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest
import yaml

from saleslayer_airflow.config.models import ConnectorConfig
from saleslayer_airflow.mapping.errors import MappingError
from saleslayer_airflow.mapping.plan import build_plans
from saleslayer_airflow.normalize.engine import split_export
from saleslayer_airflow.normalize.results import LandedFile
from saleslayer_airflow.readers.errors import SourceFileError
from saleslayer_airflow.validation.columns import (
    SAMPLE_RECORDS,
    Header,
    MissingColumnsError,
    check_columns,
    named_columns,
    preflight,
    read_header,
    show_columns,
    suggest,
)

HEAD = """\
id: t
description: column preflight
schedule: null
start_date: 2026-11-01
"""


def connector(body: str, fmt: str = "{type: csv}", source: str = "") -> ConnectorConfig:
    src = source or "{kind: ftp, conn_id: c, path: /x.csv}"
    text = f"{HEAD}source: {src}\nformat: {fmt}\ntables:\n{body}"
    return ConnectorConfig.model_validate(yaml.safe_load(text))


PRODUCTS = """\
  products:
    reference: sku
    fields:
      prod_name: name
"""


def problems_of(config: ConnectorConfig, header: Header) -> dict[str, str]:
    return {p.named.field: p.message for p in check_columns(config, header)}


# -- CSV -----------------------------------------------------------------------------------------


def test_csv_utf8_bom_is_not_part_of_the_first_name(tmp_path: Path) -> None:
    path = tmp_path / "bom.csv"
    path.write_bytes(b"\xef\xbb\xbfsku,name\nA,x\n")
    for encoding in ("utf-8", "auto"):
        config = connector(PRODUCTS, f"{{type: csv, encoding: {encoding}}}")
        header = read_header(path, config.format)
        assert header.columns == ("sku", "name")
        assert check_columns(config, header) == []


def test_csv_typo_names_the_config_path_the_suggestion_and_the_columns(tmp_path: Path) -> None:
    path = tmp_path / "products.csv"
    path.write_text("sku,prod_name,price\nA,x,1\n", encoding="utf-8")
    config = connector(PRODUCTS.replace("prod_name: name", "prod_name: prod_nam"))
    (problem,) = check_columns(config, read_header(path, config.format))
    assert problem.named.field == "tables.products.fields.prod_name.column"
    assert problem.table == "products" and problem.column == "prod_nam"
    assert problem.certain
    assert "column 'prod_nam', which is not in the header of products.csv" in problem.message
    assert "Did you mean 'prod_name'?" in problem.message
    assert "The file's columns (3): 'sku', 'prod_name', 'price'." in problem.message


def test_case_and_spaces_are_suggested_before_spelling(tmp_path: Path) -> None:
    path = tmp_path / "p.csv"
    # 'nme' is closer in spelling to 'name' than 'Name ' is, but case and spaces come first
    path.write_text("SKU,nme,Name \nA,x,y\n", encoding="utf-8")
    config = connector(PRODUCTS)
    found = problems_of(config, read_header(path, config.format))
    assert "Did you mean 'SKU'?" in found["tables.products.reference"]
    assert "Did you mean 'Name '?" in found["tables.products.fields.prod_name.column"]
    assert suggest("product_name", ["Product Name", "product_nam"]) == "Product Name"
    assert suggest("name", ["name "]) == "name "
    assert suggest("zzz", ["sku", "name"]) is None


def test_spaces_around_a_header_name_are_pointed_out(tmp_path: Path) -> None:
    path = tmp_path / "p.csv"
    path.write_text(" sku ,name\nA,x\n", encoding="utf-8")
    config = connector(PRODUCTS)
    message = problems_of(config, read_header(path, config.format))["tables.products.reference"]
    assert "Did you mean ' sku '? (the header's name has spaces around it)" in message


def test_duplicate_names_are_a_problem_only_when_named(tmp_path: Path) -> None:
    path = tmp_path / "dup.csv"
    path.write_text("sku,name,note,name,note\nA,x,1,y,2\n", encoding="utf-8")
    config = connector(PRODUCTS)
    found = problems_of(config, read_header(path, config.format))
    assert list(found) == ["tables.products.fields.prod_name.column"]
    assert (
        "appears 2 times in the header of dup.csv (positions 2, 4)"
        in found["tables.products.fields.prod_name.column"]
    )


def test_empty_names_are_shown_quoted(tmp_path: Path) -> None:
    path = tmp_path / "empty.csv"
    path.write_text("sku,,title,\nA,,x,\n", encoding="utf-8")
    config = connector(PRODUCTS)
    header = read_header(path, config.format)
    assert header.columns == ("sku", "", "title", "")
    message = problems_of(config, header)["tables.products.fields.prod_name.column"]
    assert "The file's columns (4): 'sku', '', 'title', ''." in message


def test_non_ascii_names_in_the_declared_encoding(tmp_path: Path) -> None:
    path = tmp_path / "cp1252.csv"
    path.write_bytes("sku;Descripción;Größe\nA;x;M\n".encode("cp1252"))
    body = PRODUCTS.replace("prod_name: name", "prod_name: Descripción\n      size: Grosse")
    config = connector(body, "{type: csv, delimiter: ';', encoding: cp1252}")
    header = read_header(path, config.format)
    assert header.columns == ("sku", "Descripción", "Größe")
    found = problems_of(config, header)
    assert list(found) == ["tables.products.fields.size.column"]
    assert "Did you mean 'Größe'?" in found["tables.products.fields.size.column"]


def test_quoted_names_with_delimiters_and_line_breaks(tmp_path: Path) -> None:
    path = tmp_path / "quoted.csv"
    path.write_text('sku,"name, full","multi\nline"\nA,x,y\n', encoding="utf-8")
    body = PRODUCTS.replace(
        "prod_name: name", 'prod_name: "name, full"\n      note: "multi\\nline"'
    )
    config = connector(body)
    header = read_header(path, config.format)
    assert header.columns == ("sku", "name, full", "multi\nline")
    assert check_columns(config, header) == []
    typo = connector(body.replace('"name, full"', '"name,full"'))
    message = problems_of(typo, header)["tables.products.fields.prod_name.column"]
    assert "Did you mean 'name, full'?" in message
    assert "'multi\\nline'" in message  # a line break in a name shows as \n


def test_a_header_read_as_one_column_hints_at_the_delimiter(tmp_path: Path) -> None:
    path = tmp_path / "semi.csv"
    path.write_text("sku;name\nA;x\n", encoding="utf-8")
    config = connector(PRODUCTS)
    message = problems_of(config, read_header(path, config.format))["tables.products.reference"]
    assert "probably delimited by ';'; check format.delimiter" in message


def test_no_header_row_and_skipped_lines(tmp_path: Path) -> None:
    path = tmp_path / "raw.csv"
    path.write_text("exported 2026-12-01\nA,x\n", encoding="utf-8")
    body = PRODUCTS.replace("reference: sku", "reference: col_1").replace(
        "prod_name: name", "prod_name: col_3"
    )
    config = connector(body, "{type: csv, header: false, skip_lines: 1}")
    header = read_header(path, config.format)
    assert header.columns == ("col_1", "col_2")
    assert list(problems_of(config, header)) == ["tables.products.fields.prod_name.column"]


def test_an_empty_file_fails_as_the_split_would(tmp_path: Path) -> None:
    path = tmp_path / "empty.csv"
    path.write_bytes(b"")
    with pytest.raises(SourceFileError, match="the file is empty"):
        read_header(path, connector(PRODUCTS).format)


def _bytes_read() -> int:
    for line in Path("/proc/self/io").read_text().splitlines():
        if line.startswith("rchar:"):
            return int(line.split()[1])
    raise AssertionError("no rchar in /proc/self/io")


@pytest.mark.skipif(not Path("/proc/self/io").exists(), reason="needs Linux /proc/self/io")
@pytest.mark.parametrize("fmt", ["{type: csv}", "{type: csv, encoding: auto}", "{type: jsonl}"])
def test_the_header_is_read_from_the_start_of_a_large_file_only(tmp_path: Path, fmt: str) -> None:
    path = tmp_path / "large"
    if "csv" in fmt:
        path.write_text("sku,name\n" + "A,x\n" * 1_000, encoding="utf-8")
    else:
        rows = "".join(json.dumps({"sku": f"A{i}", "name": "x"}) + "\n" for i in range(1_010))
        path.write_text(rows, encoding="utf-8")
    with path.open("r+b") as grow:  # a sparse 64 MiB tail: reading it would show in rchar
        grow.truncate(64 << 20)
    config = connector(PRODUCTS, fmt)
    before = _bytes_read()
    header = read_header(path, config.format)
    read = _bytes_read() - before
    assert header.columns == ("sku", "name")
    assert read < 2 << 20, f"read {read:,} bytes of a 64 MiB file for its header"


# -- JSON and JSON Lines ---------------------------------------------------------------------------

NESTED = """\
  products:
    reference: item.code
    fields:
      prod_name: {column: title, languages: [en, fr], language_pattern: "{column}.{lang}"}
      prod_brand: brand.name
      prod_flat: a.b
"""


def test_jsonl_nested_paths_and_literal_dotted_keys(tmp_path: Path) -> None:
    path = tmp_path / "items.jsonl"
    records = [
        {"item": {"code": "A"}, "title": {"en": "x", "fr": "y"}, "a.b": 1, "brand": None},
        {"item": {"code": "B"}, "title": {"en": "x"}, "brand": {"name": "Acme"}},
    ]
    path.write_text("".join(json.dumps(r) + "\n" for r in records), encoding="utf-8")
    config = connector(NESTED, "{type: jsonl}")
    header = read_header(path, config.format)
    assert header.records == 2 and header.complete
    assert "title.fr" in header.columns and "a.b" in header.columns
    assert check_columns(config, header) == []


def test_json_typo_in_a_nested_path_is_certain_when_every_record_was_read(
    tmp_path: Path,
) -> None:
    path = tmp_path / "items.json"
    doc = {"data": {"items": [{"item": {"code": "A"}, "title": {"en": "x", "fr": "y"}}]}}
    path.write_text(json.dumps(doc), encoding="utf-8")
    body = NESTED.replace("prod_brand: brand.name\n      prod_flat: a.b\n", "").replace(
        "item.code", "item.cod"
    )
    config = connector(body, "{type: json, records_path: data.items}")
    (problem,) = check_columns(config, read_header(path, config.format))
    assert problem.certain
    assert problem.named.field == "tables.products.reference"
    assert "in none of the 1 record(s) of items.json" in problem.message
    assert "Did you mean 'item.code'?" in problem.message


def test_json_language_columns_are_located_at_their_language(tmp_path: Path) -> None:
    path = tmp_path / "items.jsonl"
    path.write_text(json.dumps({"item": {"code": "A"}, "title": {"en": "x"}}) + "\n")
    body = NESTED.replace("prod_brand: brand.name\n      prod_flat: a.b\n", "")
    config = connector(body, "{type: jsonl}")
    (problem,) = check_columns(config, read_header(path, config.format))
    assert problem.named.field == "tables.products.fields.prod_name.languages[1]"
    assert problem.column == "title.fr"
    assert "its 'fr' column by language_pattern '{column}.{lang}'" in problem.message


def test_a_key_missing_from_the_first_records_of_a_longer_file_is_only_a_warning(
    tmp_path: Path,
) -> None:
    path = tmp_path / "items.jsonl"
    lines = [json.dumps({"sku": f"A{i}"}) for i in range(SAMPLE_RECORDS)]
    lines.append(json.dumps({"sku": "late", "name": "only here"}))
    path.write_text("\n".join(lines) + "\n", encoding="utf-8")
    config = connector(PRODUCTS, "{type: jsonl}")
    header = read_header(path, config.format)
    assert header.records == SAMPLE_RECORDS and not header.complete
    (problem,) = check_columns(config, header)
    assert not problem.certain
    assert f"the first {SAMPLE_RECORDS:,} records" in problem.message
    assert preflight(config, [(path, "items.jsonl", None)]).errors == []
    # and the split, which reads every record, indeed finds the key
    result = split_export(config, [LandedFile(path, "items.jsonl")], tmp_path / "out")
    assert result.tables["products"].rows_in == SAMPLE_RECORDS + 1


def test_json_where_filters_are_at_most_warnings(tmp_path: Path) -> None:
    path = tmp_path / "cats.jsonl"
    path.write_text(json.dumps({"code": "C1", "title": "Root"}) + "\n", encoding="utf-8")
    body = """\
  categories:
    reference: code
    where: [{column: parent, empty: true}, {column: model, equals: category}]
    fields:
      cat_title: title
"""
    config = connector(body, "{type: jsonl}")
    (problem,) = check_columns(config, read_header(path, config.format))
    assert problem.named.field == "tables.categories.where[1].column"
    assert not problem.certain  # the split selects no record: a warning, never a failure
    assert "The filter passes no record without the key." in problem.message


def test_bad_json_lines_are_skipped_and_an_empty_export_has_no_problems(tmp_path: Path) -> None:
    path = tmp_path / "items.jsonl"
    path.write_text('{"sku": "A", \n{"sku": "B", "name": "x"}\n', encoding="utf-8")
    config = connector(PRODUCTS, "{type: jsonl}")
    header = read_header(path, config.format)
    assert header.records == 2 and header.columns == ("sku", "name")
    empty = tmp_path / "empty.json"
    empty.write_text('{"items": []}', encoding="utf-8")
    config = connector(PRODUCTS, "{type: json, records_path: items}")
    assert check_columns(config, read_header(empty, config.format)) == []


# -- XLSX ----------------------------------------------------------------------------------------


def _workbook(path: Path, sheets: dict[str, list[list[Any]]]) -> None:
    from openpyxl import Workbook

    book = Workbook()
    for default in list(book.worksheets):
        book.remove(default)
    for title, rows in sheets.items():
        sheet = book.create_sheet(title)
        for row in rows:
            sheet.append(row)
    book.save(path)


def test_xlsx_first_row_of_the_configured_sheet(tmp_path: Path) -> None:
    path = tmp_path / "book.xlsx"
    _workbook(
        path,
        {
            "Notes": [["nothing here"]],
            "Products": [
                ["exported by the ERP"],
                [None, None],
                ["SKU", "Désignation", 2024, None, None],
                ["A", "x", 1],
            ],
        },
    )
    body = PRODUCTS.replace("reference: sku", "reference: SKU").replace(
        "prod_name: name", "prod_name: Designation\n      year: '2024'"
    )
    config = connector(body, "{type: xlsx, sheet: Products, skip_lines: 1}")
    header = read_header(path, config.format)
    assert header.columns == ("SKU", "Désignation", "2024")
    found = problems_of(config, header)
    assert list(found) == ["tables.products.fields.prod_name.column"]
    assert "Did you mean 'Désignation'?" in found["tables.products.fields.prod_name.column"]
    with pytest.raises(SourceFileError, match=r"format\.sheet 'Prices' does not exist"):
        read_header(path, connector(PRODUCTS, "{type: xlsx, sheet: Prices}").format)


# -- what a connector names ------------------------------------------------------------------------

EVERYTHING = """\
  categories:
    reference: unused_when_path
    path: {column: cat_path, separator: " > "}
    fields:
      cat_title: {column: cat_name, languages: [en, es]}
  products:
    reference: prod_ref
    categories: {column: cat_path}
    links:
      brands: {column: brand_code, separator: "|"}
    where: [{column: kind, equals: product}]
    fields:
      prod_title: {column: title, languages: [en], language_pattern: "{lang}_{column}"}
      prod_fixed: {constant: x}
  variants:
    reference: sku
    product: prod_ref
    fields:
      size: size
  brands:
    kind: custom_entity
    reference: brand_code
  tree:
    kind: custom_entity
    reference: node
"""


def test_every_place_a_table_names_a_column_is_listed_with_its_path() -> None:
    config = connector(EVERYTHING)
    named = named_columns(config)
    by_path = {n.field: n.column for n in named}
    assert by_path == {
        "tables.categories.path.column": "cat_path",
        "tables.categories.fields.cat_title.languages[0]": "cat_name_en",
        "tables.categories.fields.cat_title.languages[1]": "cat_name_es",
        "tables.products.reference": "prod_ref",
        "tables.products.fields.prod_title.languages[0]": "en_title",
        "tables.products.categories.column": "cat_path",
        "tables.products.links.brands.column": "brand_code",
        "tables.products.where[0].column": "kind",
        "tables.variants.reference": "sku",
        "tables.variants.product": "prod_ref",
        "tables.variants.fields.size.column": "size",
        "tables.brands.reference": "brand_code",
        "tables.tree.reference": "node",
    }
    # exactly what the split reads, table by table
    for plan in build_plans(config):
        mine = {n.column for n in named if n.table == plan.key}
        assert mine == set(plan.source_columns()) | {f.column for f in plan.where}, plan.key


def test_named_files_check_only_the_tables_reading_them(tmp_path: Path) -> None:
    source = "{kind: ftp, conn_id: c, files: {cats: /c.csv, items: /i.csv}}"
    body = """\
  categories:
    reference: code
    file: cats
  products:
    reference: sku
    file: items
    fields:
      prod_name: name
"""
    config = connector(body, source=source)
    cats = tmp_path / "c.csv"
    cats.write_text("code\nC1\n", encoding="utf-8")
    header = read_header(cats, config.format)
    assert check_columns(config, header, file="cats") == []
    assert {p.table for p in check_columns(config, header, file="items")} == {"products"}


def test_shown_columns_are_shortened_when_there_are_many() -> None:
    shown = show_columns([f"c{i}" for i in range(100)])
    assert shown.startswith("'c0', 'c1'") and shown.endswith("'c39', ... (60 more)")
    assert show_columns([]) == "none"


def test_the_run_error_is_terminal_and_lists_every_problem(tmp_path: Path) -> None:
    path = tmp_path / "p.csv"
    path.write_text("SKU,Name\nA,x\n", encoding="utf-8")
    config = connector(PRODUCTS)
    checked = preflight(config, [(path, "p.csv", None)])
    error = MissingColumnsError("t", checked.errors)
    assert isinstance(error, MappingError)  # a TerminalError: no retry
    text = str(error)
    assert text.startswith(
        "connector 't': 2 column(s) named in the connector file are not in p.csv ('sku', 'name')"
    )
    assert "\n  tables.products.reference: table 'products' reads column 'sku'" in text
    assert "Did you mean 'Name'?" in text
    doubled = tmp_path / "d.csv"
    doubled.write_text("sku,name,name\nA,x,y\n", encoding="utf-8")
    error = MissingColumnsError("t", preflight(config, [(doubled, "d.csv", None)]).errors)
    assert "are missing from or doubled in d.csv ('name')" in str(error)


def test_the_split_today_finds_the_same_typo_without_a_spelling_suggestion(
    tmp_path: Path,
) -> None:
    """What the split does without the preflight (kept as a second line of defence)."""
    path = tmp_path / "p.csv"
    path.write_text("sku,prod_name\nA,x\n", encoding="utf-8")
    config = connector(PRODUCTS.replace("prod_name: name", "prod_name: prod_nam"))
    with pytest.raises(MappingError) as raised:
        split_export(config, [LandedFile(path, "p.csv")], tmp_path / "out")
    assert "column 'prod_nam' is not in the file" in str(raised.value)
    assert "did you mean" not in str(raised.value).lower()
