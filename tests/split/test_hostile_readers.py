"""Hostile exports: records nested 100,000 levels deep, XLSX merged cells and formulas without a
computed value, and rejected values that a spreadsheet program would run as formulas.

Each is a reject naming its line (and cell), the other rows are read, and the balance holds.
"""

from __future__ import annotations

import csv
import io
import re
import textwrap
from pathlib import Path

import pytest

from saleslayer_airflow.config.formats import XlsxFormat
from saleslayer_airflow.readers.json import MAX_DEPTH, JsonLinesReader, JsonReader
from saleslayer_airflow.readers.xlsx import XlsxReader
from saleslayer_airflow.validation.outputs import spreadsheet_safe
from tests.split.conftest import connector_text, run_split

DEEP = 100_000
DEEP_LIST = "[" * DEEP + "]" * DEEP
DEEP_OBJECT = '{"a":' * DEEP + "1" + "}" * DEEP


def _json_lines(raw: str) -> list[tuple[int, object, str]]:
    rows = JsonLinesReader(io.BytesIO(raw.encode()), "x.jsonl")
    return [(r.line, r.cells, r.problem.code if r.problem else "") for r in rows]


def _json(raw: str, path: str = "data") -> list[tuple[int, object, str]]:
    rows = JsonReader(io.BytesIO(raw.encode()), path, "x.json")
    return [(r.line, r.cells, r.problem.code if r.problem else "") for r in rows]


def test_json_array_deep_records_are_rejects_and_the_rest_is_read() -> None:
    deep_value = '{"sku": "B", "x": ' + DEEP_OBJECT + "}"
    brackets_in_text = '{"sku": "C", "s": "' + "[" * 500 + '\\"{"}'
    doc = "\n".join(
        [
            '{"skipped": ' + DEEP_LIST + ', "data": [',  # a deep value on the way to the records
            '{"sku": "A"},',
            DEEP_LIST + ",",
            deep_value + ",",
            brackets_in_text + ",",
            "[" * (MAX_DEPTH + 1) + "]" * (MAX_DEPTH + 1) + ",",
            '{"sku": "D", "ok": ' + "[" * (MAX_DEPTH - 1) + "]" * (MAX_DEPTH - 1) + "}",
            "]}",
        ]
    )
    got = _json(doc)
    assert [(line, code) for line, _, code in got] == [
        (2, ""),
        (3, "too_deep"),
        (4, "too_deep"),
        (5, ""),
        (6, "too_deep"),
        (7, ""),
    ]
    assert got[0][1] == {"sku": "A"}
    assert got[3][1] == {"sku": "C", "s": "[" * 500 + '"{'}
    rows = list(JsonReader(io.BytesIO(doc.encode()), "data", "x.json"))
    assert rows[1].problem is not None
    assert f"nested {DEEP:,} levels deep, more than the {MAX_DEPTH} levels read" in (
        rows[1].problem.reason
    )
    assert rows[2].problem is not None and f"{DEEP + 1:,} levels" in rows[2].problem.reason


def test_json_document_that_is_one_deep_list_is_read_to_its_end() -> None:
    # records_path '' and the records list itself holding a 100,000-deep record
    doc = "[\n" + DEEP_LIST + ',\n{"sku": "A"}\n]'
    assert [(line, code) for line, _, code in _json(doc, "")] == [(2, "too_deep"), (3, "")]


def test_json_lines_deep_lines_are_rejects_and_the_rest_is_read() -> None:
    raw = "\n".join(['{"sku": "A"}', DEEP_LIST, '{"sku": "B", "x": ' + DEEP_OBJECT + "}", "{}"])
    assert [(line, code) for line, _, code in _json_lines(raw + "\n")] == [
        (1, ""),
        (2, "too_deep"),
        (3, "too_deep"),
        (4, ""),
    ]


def _book(rows: list[list[object]], merges: list[str]) -> bytes:
    from openpyxl import Workbook

    book = Workbook()
    sheet = book.active
    assert sheet is not None
    for row in rows:
        sheet.append(row)
    for ref in merges:
        sheet.merge_cells(ref)
    out = io.BytesIO()
    book.save(out)
    return out.getvalue()


def test_xlsx_merged_cells_and_uncomputed_formulas_name_the_cell() -> None:
    data = _book(
        [
            ["sku", "name", "family", "price"],
            ["A1", "Shoe", "Shoes", 10],
            ["A2", "Boot", None, 12],  # C3:C4 merged, its top-left empty: nothing is lost
            ["A3", "Sock", None, "=D2*2"],
            ["A4", "Hat", "Hats", 5],
            ["A5", "=A4", None, None],  # C5:C6 merged, and B6 never computed
            ["A6", "Belt", None, 3],
            ["A7", "Cap", None, 4, "x"],
            ["A8", "Scarf", "Winter", 1],
            ["A9", "Glove", None, 2],  # C9:C10 merged: "Winter" is lost here
        ],
        ["C3:C4", "C5:C6", "C9:C10"],
    )
    rows = list(XlsxReader(io.BytesIO(data), XlsxFormat(type="xlsx"), "x.xlsx"))
    problems = {r.line: r.problem for r in rows if r.problem}
    assert [r.line for r in rows if r.problem is None] == [2, 3, 5, 7, 9]
    assert rows[1].cells == ["A2", "Boot", "", "12"]
    four, six, ten = problems[4], problems[6], problems[10]
    assert (four.code, four.column, four.value) == ("uncached_formula", "price", "=D2*2")
    assert four.reason.startswith("D4: formula =D2*2 has no computed value; open and save")
    # C4 is merged too, but its range's top-left (C3) is empty: only D4 is named
    assert "C4" not in four.reason
    assert (six.code, six.column, six.value) == ("uncached_formula", "name", "=A4")
    assert six.reason.endswith("; C6 of this row read empty too")
    assert (ten.code, ten.column, ten.value) == ("merged_cell", "family", "")
    assert ten.reason == (
        "C10 is part of merged range C9:C10, so it reads empty (only C9 holds the value); "
        "unmerge the cells in the ERP export"
    )
    assert problems[8].code == "field_count"
    assert rows[-1].cells == ["A9", "Glove", "", "2"]  # the reject still shows its reference


def test_xlsx_formula_with_empty_text_result_is_computed() -> None:
    """Excel writes an empty ``<v>`` with ``t="str"`` for a formula whose result is empty text:
    computed, not a reject."""
    import zipfile

    data = _book([["sku", "name"], ["A1", "=B1"]], [])
    source, out = zipfile.ZipFile(io.BytesIO(data)), io.BytesIO()
    with zipfile.ZipFile(out, "w") as target:
        for item in source.infolist():
            body = source.read(item.filename)
            if item.filename == "xl/worksheets/sheet1.xml":
                # openpyxl writes <v></v> with lxml installed, <v /> without
                assert re.search(rb'<c r="B2"><f>B1</f>(<v ?/>|<v></v>)</c>', body), body
                body = body.replace(b'<c r="B2"><f>', b'<c r="B2" t="str"><f>')
            target.writestr(item, body)
    rows = list(XlsxReader(io.BytesIO(out.getvalue()), XlsxFormat(type="xlsx"), "x.xlsx"))
    assert [(r.cells, r.problem) for r in rows] == [(["A1", ""], None)]


@pytest.mark.parametrize(
    ("value", "shown"),
    [
        ('=HYPERLINK("http://evil","x")', '\'=HYPERLINK("http://evil","x")'),
        ("=1+1", "'=1+1"),
        ("+1", "'+1"),
        ("-12", "'-12"),
        ("@SUM(A1)", "'@SUM(A1)"),
        ("\tx", "'\tx"),
        ("\rx", "'\rx"),
        ("a=1", "a=1"),
        ("", ""),
        (7, 7),
    ],
)
def test_spreadsheet_safe(value: object, shown: object) -> None:
    assert spreadsheet_safe(value) == shown


def test_split_rejects_csv_neutralises_formulas(tmp_path: Path) -> None:
    config = connector_text(
        textwrap.dedent(
            """\
            id: hostile
            description: hostile values
            schedule: null
            start_date: 2026-01-01
            source: {kind: http, conn_id: erp_http, endpoint: export}
            validation: {max_reject_ratio: 1}
            format: {type: csv}
            tables:
              points_of_sale:
                reference: ref
                fields:
                  qty: {column: qty, type: integer}
            """
        )
    )
    landed = tmp_path / "export.csv"
    landed.write_text(
        'ref,qty\nA,1\nB,"=HYPERLINK(""http://x"",""y"")"\n=1+1,@SUM(A1)\nC,-1.5\n',
        encoding="utf-8",
    )
    out = run_split(config, [(landed, "export.csv")], tmp_path / "work")
    assert [(r["line"], r["reference"], r["value"]) for r in out.rejects] == [
        ("3", "B", '\'=HYPERLINK("http://x","y")'),
        ("4", "'=1+1", "'@SUM(A1)"),
        ("5", "C", "'-1.5"),
    ]
    with out.result.rejects_path.open(encoding="utf-8", newline="") as handle:
        cells = [cell for row in csv.reader(handle) for cell in row]
    assert not [c for c in cells if c[:1] in ("=", "+", "-", "@", "\t", "\r")]


def test_a_value_that_is_not_an_object_is_named_in_json_words() -> None:
    # The person reading the reject wrote JSON: "null", not Python's "NoneType".
    values = ["null", '"text"', "12", "1.5", "true", "[1]"]
    kinds = ["null", "string", "number", "number", "boolean", "array"]
    lines = list(JsonLinesReader(io.BytesIO("\n".join(values).encode()), "x.jsonl"))
    records = list(JsonReader(io.BytesIO(("[" + ",".join(values) + "]").encode()), "", "x.json"))
    for rows, head in ((lines, "the line"), (records, "the record")):
        reasons = [r.problem.reason if r.problem else "" for r in rows]
        assert reasons == [f"{head} is a JSON {kind}, not an object" for kind in kinds]
