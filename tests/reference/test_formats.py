"""The columnar engine against the second reference split (tests/reference/catalogue.py): category
trees built from a path column with a random separator, transforms (trim, case, map,
parse_number, parse_date), per-language fields, defaults and constants, list fields, `where:`
filters, duplicate policies; the same exports written as CSV, JSON Lines, JSON and XLSX, with
rows each format's reader cannot use (wrong field counts, broken or unclosed quotes, undecodable
bytes and NUL, lines that are not JSON objects, values beyond the header) and JSON's three
kinds of nothing (an empty string, null, an absent key). The engine runs with random chunk,
batch, part, range and read-block sizes.

Three properties: the engine gives the reference's tables, rejects and counts, whatever the
format and the sizes; one export written in each of the four formats gives the same tables and
rejects in all of them, line numbers aside (each format numbers its own lines: they are
compared as the position of the record they name); and the encoding of small CSV exports
(`encoding: auto`, UTF-8 or cp1252, the last byte maybe the only non-ASCII one) is detected as
the reference detects it.

``HYPOTHESIS_PROFILE=more`` runs ten times as many examples.
"""

from __future__ import annotations

import csv
import dataclasses
import io
import json
import os
import re
import tempfile
from collections.abc import Collection, Sequence
from datetime import datetime
from functools import partial
from pathlib import Path
from typing import Any
from unittest import mock

import pyarrow.parquet as pq
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from saleslayer_airflow.config.load import parse_connector
from saleslayer_airflow.mapping.errors import MappingError
from saleslayer_airflow.normalize import engine
from saleslayer_airflow.normalize.items import Items
from saleslayer_airflow.readers import csv_arrow, jsonl_arrow
from tests.reference import catalogue
from tests.reference.catalogue import ABSENT, COLUMNS, Filter, Outcome, Shape
from tests.reference.test_property import SIZES, Sizes

settings.register_profile(
    "formats",
    max_examples=60,
    deadline=None,
    derandomize=True,
    database=None,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large],
)
settings.register_profile("more", parent=settings.get_profile("formats"), max_examples=600)
PROFILE = settings.get_profile(
    "more" if os.environ.get("HYPOTHESIS_PROFILE") == "more" else "formats"
)

#: Levels of category paths: plain ones, and odd ones (case, look-alike, padded, invisible,
#: control and no-break characters, empty).
LEVELS = ["Men", "Women", "Tops", "Tees", "Shoes"]
ODD_LEVELS = [
    "men",
    "\uff2den",
    " Tops ",
    "T\u200bops",
    "Te\nes",
    "Tops\u00a0",
    "",
    "  ",
    "Caf\u00e9",
]
PLAIN: dict[str, list[str]] = {
    "kind": ["F", "F", "C", "P", "V"],
    "label": [
        "",
        "",
        "Tops",
        "tops",
        "two\nlines",
        'say "hi"',
        "a,b;c",
        "\u00f1and\u00fa",
        "line\u2028sep",
        'q"}{',
        "back\\",
    ],
    "ref": ["P1", "P2", "P3", "P4"],
    "name_en": ["Tee", "Shirt", "Tee\nXL", "\u00c7a va"],
    "name_es": ["", "Camiseta", "Polo"],
    "price": ["", "1,5", "1.234,5", "2", "1 234", "-0,0", " 3,0 ", "12,50", "1.5", "1,234.5"],
    "status": ["", "on", " ON ", "gone"],
    "released": ["", "01/02/2020", "1/2/2020", " 05/06/2021 "],
    "tags": ["", "a,b", "a, ,B", "x,x", "\u00df"],
    "brand": ["", "Nike", "Adidas"],
    "sku": ["S1", "S2", "S3", "S4", "S5"],
    "stock": ["", "1", "2.0", "-3", "1e2"],
}
ODD: dict[str, list[str]] = {
    "kind": ["", "X", "f"],
    "label": ["-5", "@x"],
    "ref": ["p1", "P9", "", "  ", "P\u00e9", "Pe\u0301", "P\t1", " P2 ", "\uff301"],
    "name_en": ["", "much too long a name"],
    "name_es": ["0123456789X"],
    "price": ["x", "1.234", "12.50", "1,5,5", "1\u00a0234,5", "  ", ",5", "1'234.5", "1,234"],
    "status": ["off", "maybe", "  "],
    "released": ["2020-02-01", "31/02/2020", "x"],
    "tags": ["toolong", ",", "a;b"],
    "brand": ["  "],
    "sku": ["s1", "", "S1 ", "S\u00a02"],
    "stock": ["2.5", "x", " 4 "],
}


@dataclasses.dataclass(frozen=True)
class Number:
    """A JSON number written exactly so (1.50, 1E2, -0.0)."""

    text: str


#: Values of other types: JSON numbers, booleans, lists and objects; sheet numbers and dates.
JSON_TYPED: dict[str, list[Any]] = {
    "kind": [Number("1"), True],
    "path": [Number("7"), ["Men"], True],
    "cats": [["Men", "Women > Tops"], [Number("7")], True, Number("7")],
    "label": [Number("2.50"), {"a": [1, "é"]}],
    # (a lone surrogate, JSON's "\\ud800", only where it is rejected: see test_regressions.py)
    "ref": [
        Number("1"),
        Number("1.0"),
        Number("1.5"),
        Number("1E0"),
        True,
        {"a": 1},
        ["P1"],
        Number('"P\\ud800"'),
        Number('"P\\udcff"'),
    ],
    "name_en": [Number("12"), Number("1.50"), False, {"x": [1, "é"]}, ["a", "b"]],
    "price": [
        Number("1.5"),
        Number("2"),
        Number("1E2"),
        Number("-0.0"),
        True,
        Number("0.10"),
        Number("12345678901234567890.5"),
        Number("1234567890123456789012345678901234567.8"),
        Number("1e400"),
        Number("1E-40"),
    ],
    "status": [True, Number("1")],
    "released": [Number("2020")],
    "tags": [["a", "b"], [], ["a,b"], ["toolong"], [Number("1"), None, " c "], [["x"]], True],
    "sku": [Number("7"), Number("7.0"), False],
    "stock": [
        Number("2"),
        Number("2.0"),
        Number("2.5"),
        True,
        Number("1E2"),
        Number("-0"),
        [1],
        Number("9223372036854775807"),
        Number("9223372036854775808"),
        Number("-9223372036854775809"),
        Number("9.3E18"),
    ],
}
XLSX_TYPED: dict[str, list[Any]] = {
    "ref": [7, 7.0, 1.5],
    "sku": [8],
    "price": [1.5, 3.0],
    "stock": [2, 2.5, 3.0],
    "released": [datetime(2020, 2, 1), datetime(2020, 2, 1, 10, 30)],
    "name_en": [True, 12],
    "tags": [5],
}
SEPARATORS = [" > ", "/", "|"]
FORMATS = ["csv", "jsonl", "json", "xlsx"]
POLICY = st.sampled_from([None, None, "merge", "first", "reject"])
#: `where:` filters each table may have (the first: none)
WHERE: dict[str, list[tuple[Filter, ...]]] = {
    "categories": [(), (Filter("kind", equals=("C", "F")),), (Filter("path", empty=False),)],
    "products": [
        (Filter("kind", equals=("P", "F")),),
        (Filter("ref", empty=False), Filter("kind", equals=("P", "F", ""))),
        (Filter("sku", empty=True),),
    ],
    "variants": [
        (Filter("kind", equals=("V", "F")),),
        (Filter("sku", empty=False),),
        (Filter("kind", equals=("V",), scalar=True),),
    ],
}
#: Rows a reader cannot use, by format.
MALFORMED = {
    "csv": ["extra", "short", "badquote", "unclosed", "badbyte", "nul"],
    "jsonl": ["notjson", "list", "badbyte", "two", "dupkey", "escapedkey"],
    "json": ["list", "str", "badbyte", "dupkey"],
    "xlsx": ["extra", "formula", "merged", "merged_down"],
}


@dataclasses.dataclass(frozen=True)
class Export:
    """Rows of cells (str, None: a JSON null, ABSENT: no such key) and malformed rows
    (position, kind), to be written in one format."""

    rows: list[tuple[list[Any], bool]]  # cells, a blank line before
    malformed: list[tuple[int, str]]
    shape: Shape
    known: dict[str, set[str]]
    end: str = "\n"
    quote_all: bool = False
    bom: bool = False
    indent: int | None = None
    written: str = "utf-8"  # the codec of a CSV export's bytes
    last_line_break: bool = True


@st.composite
def paths(draw: st.DrawFn, separator: str) -> str:
    if draw(st.integers(0, 9)) == 0:
        return draw(st.sampled_from(["", " ", separator.strip() or separator, "Men>Tops"]))
    levels = draw(st.lists(st.sampled_from(LEVELS), min_size=1, max_size=3))
    if draw(st.integers(0, 3)) == 0:
        levels[draw(st.integers(0, len(levels) - 1))] = draw(st.sampled_from(ODD_LEVELS))
    padded = separator if draw(st.booleans()) else f" {separator.strip()} "
    if padded.strip() == "":
        padded = separator
    return padded.join(levels)


def cell(column: str, odd: bool) -> st.SearchStrategy[str]:
    return st.sampled_from(ODD[column] if odd else PLAIN[column])


@st.composite
def exports(draw: st.DrawFn, fmt: str | None = None, max_rows: int = 24) -> Export:
    fmt = fmt or draw(st.sampled_from(FORMATS))
    separator = draw(st.sampled_from(SEPARATORS))
    listed = draw(st.sampled_from([None, ";"]))
    encoding, written, delimiter = "utf-8", "utf-8", ","
    if fmt == "csv":
        encoding, written = draw(
            st.sampled_from(
                [
                    ("utf-8", "utf-8"),
                    ("latin-1", "latin-1"),
                    ("auto", "utf-8"),
                    ("cp1252", "cp1252"),
                    ("auto", "cp1252"),
                ]
            )
        )
        delimiter = draw(st.sampled_from([",", ";", "\t"]))
    shape = Shape(
        format=fmt,
        path_separator=separator,
        categories_separator=listed,
        where={t: draw(st.sampled_from(WHERE[t])) for t in catalogue.TABLE_NAMES},
        policies={t: draw(POLICY) for t in catalogue.TABLE_NAMES},
        name_required=draw(st.booleans()),
        categories_column=draw(st.sampled_from(["path", "path", "cats"])),
        decimal=draw(st.sampled_from(["comma", "dot"])),
        records_path=draw(st.sampled_from(["data.items", ""])),
        skip_lines=draw(st.sampled_from([0, 0, 1, 2, 3])),
        language_pattern=draw(st.sampled_from(["{column}_{lang}", "{lang}-{column}"])),
        encoding=encoding,
        delimiter=delimiter,
    )
    shared = [c for c in COLUMNS if c not in ("kind", "sku", "path", "cats", "en-name", "es-name")]
    bases = draw(
        st.lists(st.fixed_dictionaries({c: cell(c, False) for c in shared}), min_size=1, max_size=3)
    )
    changed = st.tuples(st.sampled_from([*shared, "kind", "sku"]), st.booleans()).flatmap(
        lambda pick: st.tuples(st.just(pick[0]), cell(*pick))
    )
    rows = []
    for _ in range(draw(st.integers(0, max_rows))):
        row = dict(draw(st.sampled_from(bases)))
        row["kind"] = draw(cell("kind", False))
        row["sku"] = draw(cell("sku", False))
        row["path"] = draw(paths(separator))
        for column, value in draw(st.lists(changed, max_size=3)):
            row[column] = value
        if listed and draw(st.integers(0, 3)) == 0:
            row["path"] = row["path"] + listed + draw(paths(separator))
        row["cats"] = row["path"] if draw(st.booleans()) else draw(paths(separator))
        # both namings of the language columns hold the names: the pattern picks one pair
        row["en-name"], row["es-name"] = row["name_en"], row["name_es"]
        cells: list[Any] = [row[c] for c in COLUMNS]
        if written != "utf-8":
            cells = [c.encode(written, "replace").decode(written) for c in cells]
        if fmt == "xlsx":  # no carriage return or formula-looking text in a sheet cell
            cells = [c.replace("\r", "") for c in cells]
        if fmt in ("json", "jsonl"):  # JSON's kinds of nothing
            cells = [draw(st.sampled_from(["", "", None, ABSENT])) if c == "" else c for c in cells]
        typed = JSON_TYPED if fmt in ("json", "jsonl") else XLSX_TYPED if fmt == "xlsx" else {}
        for column in draw(st.lists(st.sampled_from(sorted(typed)), max_size=2)) if typed else []:
            cells[COLUMNS.index(column)] = draw(st.sampled_from(typed[column]))
        rows.append((cells, draw(st.integers(0, 5)) == 0))
    bad = MALFORMED[fmt]
    if written == "latin-1":  # every byte is a latin-1 character
        bad = [b for b in bad if b != "badbyte"]
    malformed = draw(
        st.lists(st.tuples(st.integers(0, len(rows)), st.sampled_from(bad)), max_size=2)
    )
    known = {
        "categories": {"Old"} if draw(st.booleans()) else set(),
        "products": {"P9"} if draw(st.booleans()) else set(),
    }
    return Export(
        rows,
        malformed,
        shape,
        known,
        # A lone carriage return ends a line too (old Mac exports), as text editors read it;
        # not in a JSON document, which counts line feeds: its records would share line 1, and
        # the order of their rejects on one line follows the engine's write chunks.
        end=draw(st.sampled_from(["\n", "\r\n"] if fmt == "json" else ["\n", "\r\n", "\r"])),
        quote_all=draw(st.booleans()),
        bom=draw(st.booleans()) and written == "utf-8",
        written=written,
        last_line_break=draw(st.booleans()),
        indent=draw(st.sampled_from([None, 2])),
    )


# -- writing the export in its format --------------------------------------------------------

#: lines before the header (format.skip_lines): a title with a stray quote, a blank line, a
#: line holding delimiters
PREAMBLE = ['Catalogue "export', "", "a;b,c\td"]
#: a plain cell for a malformed row: no delimiter, quote or line break in any format
_PLAIN_ROW = ["P", "Men", "", "P7", "Tee", "", "", "", "", "", "", "", "", "", "Tee", ""]


def _csv_bytes(export: Export) -> bytes:
    shape = export.shape
    end = export.end

    def record(cells: Sequence[str]) -> str:
        out = io.StringIO()
        quoting: Any = csv.QUOTE_ALL if export.quote_all else csv.QUOTE_MINIMAL
        csv.writer(out, delimiter=shape.delimiter, lineterminator="\r\n", quoting=quoting).writerow(
            cells
        )
        return out.getvalue().removesuffix("\r\n") + end

    def broken(kind: str) -> str:
        row = list(_PLAIN_ROW)
        d = shape.delimiter
        if kind == "extra":
            return d.join([*row, "x"]) + end
        if kind == "short":
            return d.join(row[:-3]) + end
        if kind == "badquote":
            row[6] = '"ab"c'
            return d.join(row) + end
        if kind == "unclosed":
            row[6] = '"Tee'
            return d.join(row) + end
        if kind == "badbyte":
            row[4] = "T\ue000e"  # written as a byte the encoding has no character for
            return d.join(row) + end
        row[4] = "T\x00e"
        return d.join(row) + end

    text = "".join(line + end for line in PREAMBLE[: shape.skip_lines]) + record(COLUMNS)
    bad = dict(export.malformed)
    for index, (cells, blank) in enumerate(export.rows):
        if index in bad:
            text += broken(bad[index])
        text += (end if blank else "") + record(["" if c in (None, ABSENT) else c for c in cells])
    if len(export.rows) in bad:
        text += broken(bad[len(export.rows)])
    if not export.last_line_break:
        text = text.rstrip("\r\n")
    bad_byte = b"\x81" if export.written == "cp1252" else b"\xff"
    data = bad_byte.join(part.encode(export.written) for part in text.split("\ue000"))
    return (b"\xef\xbb\xbf" if export.bom else b"") + data


def _json(value: Any, ascii_only: bool) -> str:
    if isinstance(value, Number):
        return value.text
    if isinstance(value, list):
        return "[" + ", ".join(_json(v, ascii_only) for v in value) + "]"
    return json.dumps(value, ensure_ascii=ascii_only)


def _record(cells: Sequence[Any], indent: int | None = None, ascii_only: bool = False) -> str:
    """A JSON object of the cells (ABSENT ones left out), by hand: numbers as written."""
    pairs = [
        f"{json.dumps(c)}: {_json(v, ascii_only)}"
        for c, v in zip(COLUMNS, cells, strict=True)
        if v is not ABSENT
    ]
    if indent is None:
        return "{" + ", ".join(pairs) + "}"
    pad = " " * indent
    return "{\n" + ",\n".join(pad + p for p in pairs) + "\n}" if pairs else "{}"


def _json_malformed(kind: str) -> str:
    if kind == "list":
        return "[1, 2]"
    if kind == "str":
        return '"P1"'
    if kind == "notjson":
        return '{"kind": "P", '
    if kind == "two":
        return '{"kind": "P", "ref": "P8"} {"kind": "V"}'
    if kind == "escapedkey":  # "ref", written with an escape
        return '{"kind": "P", "r\\u0065f": "P5", "path": "Men", "name_en": "Esc"}'
    if kind == "dupkey":  # not malformed: the last value of a key counts
        return '{"kind": "P", "ref": "P1", "path": "Men", "ref": "P8", "name_en": "Dup"}'
    return '{"kind": "P", "ref": "P\ue000"}'  # written as the byte 0xFF below


def _jsonl_bytes(export: Export) -> bytes:
    bad = dict(export.malformed)
    lines = []
    for index, (cells, blank) in enumerate(export.rows):
        if index in bad:
            lines.append(_json_malformed(bad[index]))
        if blank:
            lines.append("  ")
        lines.append(_record(cells, ascii_only=bool(index % 2)))
    if len(export.rows) in bad:
        lines.append(_json_malformed(bad[len(export.rows)]))
    text = "".join(line + export.end for line in lines)
    if not export.last_line_break:
        text = text.rstrip("\r\n")
    data = text.encode().replace("\ue000".encode(), b"\xff")
    return (b"\xef\xbb\xbf" if export.bom else b"") + data


def _json_bytes(export: Export) -> bytes:
    bad = dict(export.malformed)
    values = []
    for index, (cells, _blank) in enumerate(export.rows):
        if index in bad:
            values.append(_json_malformed(bad[index]))
        values.append(_record(cells, export.indent))
    if len(export.rows) in bad:
        values.append(_json_malformed(bad[len(export.rows)]))
    if export.shape.records_path:
        text = '{"meta": {"n": 1},\n "data": {"items": [\n' + ",\n".join(values) + "\n]}}\n"
    else:
        text = "[" + ",\n".join(values) + "]\n"
    data = text.replace("\n", export.end).encode().replace("\ue000".encode(), b"\xff")
    return (b"\xef\xbb\xbf" if export.bom else b"") + data


def _sheet_append(sheet: Any, cells: Sequence[Any]) -> None:
    sheet.append([None if c in ("", None, ABSENT) else c for c in cells])
    for found in sheet[sheet.max_row]:
        if isinstance(found.value, str):
            found.data_type = "s"  # "=1+1" is text here, not a formula


def _sheet_broken(sheet: Any, kind: str) -> None:
    """A row the reader cannot use."""
    if kind == "extra":
        _sheet_append(sheet, [*_PLAIN_ROW, "", "beyond"])
        return
    _sheet_append(sheet, _PLAIN_ROW)
    row = sheet.max_row
    if kind == "formula":  # written without a computed value
        sheet.cell(row=row, column=7).value = "=1+1"
    elif kind == "merged":  # name_en and name_es merged: name_es reads empty
        sheet.merge_cells(start_row=row, start_column=5, end_row=row, end_column=6)
    else:  # name_en merged with the cell below: that one reads empty
        sheet.merge_cells(start_row=row, start_column=5, end_row=row + 1, end_column=5)


def _xlsx_bytes(export: Export) -> bytes:
    from openpyxl import Workbook

    book = Workbook()
    sheet: Any = book.active
    for line in PREAMBLE[: export.shape.skip_lines]:
        sheet.append([line or None])
    sheet.append(list(COLUMNS))
    bad = dict(export.malformed)
    for index, (cells, blank) in enumerate(export.rows):
        if index in bad:
            _sheet_broken(sheet, bad[index])
        if blank:
            sheet.append([None])
        _sheet_append(sheet, cells)
    if len(export.rows) in bad:
        _sheet_broken(sheet, bad[len(export.rows)])
    out = io.BytesIO()
    book.save(out)
    return out.getvalue()


def export_bytes(export: Export) -> bytes:
    return {
        "csv": _csv_bytes,
        "jsonl": _jsonl_bytes,
        "json": _json_bytes,
        "xlsx": _xlsx_bytes,
    }[export.shape.format](export)


def in_format(export: Export, fmt: str) -> Export:
    """The same export in another format (its malformed rows left out)."""
    shape = dataclasses.replace(export.shape, format=fmt, encoding="utf-8", delimiter=",")
    rows = [([c for c in cells], blank) for cells, blank in export.rows]
    if fmt == "xlsx":
        rows = [
            ([c.replace("\r", "") if isinstance(c, str) else c for c in cells], blank)
            for cells, blank in rows
        ]
    end = "\n" if fmt == "json" and export.end == "\r" else export.end  # see exports()
    return dataclasses.replace(
        export, rows=rows, malformed=[], shape=shape, written="utf-8", end=end
    )


# -- running both ------------------------------------------------------------------------------


def run_engine(export: Export, data: bytes, sizes: Sizes, work: Path) -> Outcome:
    config = parse_connector(catalogue.connector_yaml(export.shape), "catalogue.yaml")
    name = f"export.{export.shape.format}"
    path = work / name
    path.write_bytes(data)

    def known_refs(table: str, refs: Sequence[str]) -> Collection[str]:
        assert len(refs) <= 1000
        return [r for r in refs if r in export.known.get(table, ())]

    with (
        mock.patch.object(engine, "PART_BYTES", sizes.part_bytes),
        mock.patch.object(engine, "Items", partial(Items, range_span=sizes.range_span)),
        mock.patch.object(csv_arrow, "BLOCK_BYTES", sizes.block_bytes),
        mock.patch.object(jsonl_arrow, "BLOCK_BYTES", sizes.block_bytes),
    ):
        result = engine.split_export(
            config,
            [engine.LandedFile(path, name)],
            work / "run",
            known_refs=known_refs,
            chunk_rows=sizes.chunk_rows,
            batch_rows=sizes.batch_rows,
        )
    with result.rejects_path.open(encoding="utf-8", newline="") as handle:
        rejects = list(csv.DictReader(handle))
    return Outcome(
        tables={key: pq.read_table(p).to_pylist() for key, p in result.paths.items()},
        rejects=rejects,
        counts={key: dataclasses.asdict(c) for key, c in result.tables.items()},
        rows_read=result.rows_read,
        rows_unused=result.rows_unused,
        rows_rejected=result.rows_rejected,
    )


def assert_same(got: Outcome, want: Outcome) -> None:
    for table, c in want.counts.items():  # the balance, kept by the reference as well
        assert c["rows_in"] == c["rows_out"] + c["merged"] + c["rejected"], table
    assert got.rejects == want.rejects
    for table, rows in want.tables.items():
        assert got.tables[table] == rows, table
    assert got.counts == want.counts
    assert (got.rows_read, got.rows_unused, got.rows_rejected) == (
        want.rows_read,
        want.rows_unused,
        want.rows_rejected,
    )


def check(export: Export, sizes: Sizes) -> Outcome | None:
    """Engine and reference on ``export``; the reference's outcome (None: both refused the
    mapping with the same MappingError)."""
    data = export_bytes(export)
    name = f"export.{export.shape.format}"
    try:
        want = catalogue.split(data, name, export.shape, export.known)
    except catalogue.MappingError as error:
        with tempfile.TemporaryDirectory() as scratch, pytest.raises(MappingError) as raised:
            run_engine(export, data, sizes, Path(scratch))
        assert str(raised.value) == str(error)
        return None
    with tempfile.TemporaryDirectory() as scratch:
        got = run_engine(export, data, sizes, Path(scratch))
    assert_same(got, want)
    return want


@settings(PROFILE)
@given(export=exports(), sizes=SIZES)
def test_the_engine_gives_the_reference_split_in_every_format(export: Export, sizes: Sizes) -> None:
    check(export, sizes)


def by_position(export: Export, outcome: Outcome) -> dict[str, Any]:
    """The outcome with every line number (columns, reasons) replaced by the position of the
    record on that line, and without the file's name."""
    records = catalogue.read(export_bytes(export), export.shape)
    position = {r.line: n for n, r in enumerate(records)}

    def lines(text: str) -> str:
        return re.sub(r"line (\d+)", lambda m: f"record #{position[int(m.group(1))]}", text)

    tables = {
        t: [
            {k: v for k, v in row.items() if k not in ("_line", "_source_file")}
            | {"_record": position[row["_line"]]}
            for row in rows
        ]
        for t, rows in outcome.tables.items()
    }
    rejects = [
        {k: lines(v) for k, v in r.items() if k != "source_file"}
        | {"line": str(position[int(r["line"])])}
        for r in outcome.rejects
    ]
    return {"tables": tables, "rejects": rejects, "counts": outcome.counts}


@settings(PROFILE, max_examples=max(PROFILE.max_examples // 4, 1))
@given(export=exports(fmt="csv", max_rows=16), sizes=SIZES)
def test_one_export_gives_the_same_split_in_every_format(export: Export, sizes: Sizes) -> None:
    # No null or absent key: an absent JSON key everywhere would be a mapping error of its own.
    rows = [(["" if c in (None, ABSENT) else c for c in cells], b) for cells, b in export.rows]
    base = dataclasses.replace(export, rows=rows)
    seen = []
    for fmt in FORMATS:
        one = in_format(base, fmt)
        outcome = check(one, sizes)
        assert outcome is not None
        seen.append(by_position(one, outcome))
    assert all(s == seen[0] for s in seen[1:])


@st.composite
def small_exports(draw: st.DrawFn) -> Export:
    """One or two rows of an export whose encoding is detected, non-ASCII text (if any) at the
    end of the last cell only: the bytes at the very end of a file are the detector's last."""
    written = draw(st.sampled_from(["utf-8", "cp1252"]))
    shape = Shape("csv", " > ", None, {}, {}, False, categories_column="cats", encoding="auto")
    rows = []
    for ref in ("P1", "P2")[: draw(st.integers(1, 2))]:
        cells = ["P", "", "", ref, *[""] * (len(COLUMNS) - 5)]
        last = draw(st.sampled_from(["\u00e9", "\u00fc", "\u20ac", "", "\u00e9\u00e9"]))
        cells.append(draw(st.sampled_from(["", "a", "a b"])) + last)
        rows.append((cells, False))
    return Export(rows, [], shape, {}, written=written, last_line_break=draw(st.booleans()))


@settings(PROFILE)
@given(export=small_exports(), sizes=SIZES)
def test_the_encoding_of_small_exports_is_detected_as_the_reference_does(
    export: Export, sizes: Sizes
) -> None:
    check(export, sizes)
