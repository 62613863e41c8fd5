"""Excel workbooks, read row by row with openpyxl's read-only mode (memory stays flat).

Two things read empty in that mode with no word from openpyxl, so the reader looks for them in
the sheet's XML itself (a streaming parse, memory bounded by the number of merged ranges):

- **merged cells**: only the top-left cell of a merged range holds the value; the others read
  empty. A data row with such a cell (inside the header's columns, the top-left holding a value)
  is rejected naming the cell and the range: its value would otherwise be lost unnoticed.
- **formulas without a computed value**: a workbook written by a program that never calculated
  it (a library writing ``=A1*2``) holds the formula and no result. Such a row is rejected naming
  the cell and the formula. A formula whose result is empty text is computed and reads empty.
"""

from __future__ import annotations

import re
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from datetime import date, datetime, time
from typing import IO, Any, BinaryIO
from xml.etree.ElementTree import Element, ParseError, iterparse

from saleslayer_airflow.config.formats import XlsxFormat
from saleslayer_airflow.readers.errors import SourceFileError
from saleslayer_airflow.readers.records import RowProblem, SourceRow


def cell_text(value: Any) -> str:
    """A sheet cell as the text an export would hold: 12.0 -> '12', dates in ISO 8601."""
    if value is None:
        return ""
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, float) and value.is_integer():
        return str(int(value))
    if isinstance(value, datetime):
        return value.isoformat() if value.time() != time() else value.date().isoformat()
    if isinstance(value, date | time):
        return value.isoformat()
    return str(value)


_SCAN_CHUNK = 1 << 20
#: ``<f>`` or ``<f t="shared" ...>``, with or without a namespace prefix.
_FORMULA_TAG = re.compile(rb"<(?:[A-Za-z_][\w.-]*:)?f[\s/>]")
_MERGE_CELL = re.compile(rb"<(?:[A-Za-z_][\w.-]*:)?mergeCell\s[^>]*?\bref=[\"']([^\"']+)[\"']")


def _local(tag: str) -> str:
    return tag.rpartition("}")[2]


@dataclass(slots=True)
class _Merged:
    """A merged range; ``filled`` once its top-left cell is seen holding a value."""

    ref: str
    min_col: int
    min_row: int
    max_col: int
    max_row: int
    filled: bool = True  # a top-left cell never seen (in a skipped line) may hold a value


@dataclass(frozen=True, slots=True)
class _SheetScan:
    merged: list[_Merged]
    formulas: bool


@dataclass(frozen=True, slots=True)
class _CellProblem:
    col: int
    address: str
    reason: str
    value: str
    code: str


def _uncached(cell: Element) -> bool:
    """A formula cell without a result: no ``<v>``, or an empty one that is not a text result
    (openpyxl writes ``<v/>`` after a formula it did not compute; Excel writes an empty ``<v>``
    only for a formula whose text result is empty, with ``t="str"``)."""
    has_formula, value = False, ""
    for child in cell:
        name = _local(child.tag)
        if name == "f":
            has_formula = True
        elif name == "v":
            value = child.text or ""
            if not value and cell.get("t") == "str":
                return False
    return has_formula and not value


def _sheet_xml(source: IO[bytes]) -> Iterator[tuple[str, Element]]:
    """``("row", row)`` as each row starts, ``("c", cell)`` and ``("mergeCell", element)`` as
    they end, from a worksheet part; a row's cells are dropped once it ends (memory stays flat).
    """
    sheet_data: Element | None = None
    for event, element in iterparse(source, events=("start", "end")):
        name = _local(element.tag)
        if event == "start":
            if name == "sheetData":
                sheet_data = element
            elif name == "row":
                yield name, element
        elif name in ("c", "mergeCell"):
            yield name, element
        elif name == "row" and sheet_data is not None:
            sheet_data.clear()


def _scan_sheet(source: IO[bytes]) -> _SheetScan:
    """The merged ranges of a worksheet part, and whether it holds any formula at all.

    A plain scan of the bytes, several times faster than parsing the XML: the cheap check that
    nearly every file passes. Only a sheet with formulas is parsed (:func:`_uncached_formulas`).
    """
    from openpyxl.utils.cell import range_boundaries

    merged: list[_Merged] = []
    formulas = False
    rest = b""
    with source:
        while chunk := source.read(_SCAN_CHUNK):
            data = rest + chunk
            cut = data.rfind(b">") + 1  # whole tags only; the rest waits for the next chunk
            data, rest = data[:cut], data[cut:]
            formulas = formulas or _FORMULA_TAG.search(data) is not None
            for match in _MERGE_CELL.finditer(data):
                ref = match.group(1).decode("ascii", "replace")
                try:
                    min_col, min_row, max_col, max_row = range_boundaries(ref)
                except ValueError:  # not a range Excel would write: nothing to report
                    continue
                if min_col and min_row and max_col and max_row:
                    merged.append(_Merged(ref, min_col, min_row, max_col, max_row))
    merged.sort(key=lambda m: m.min_row)
    return _SheetScan(merged, formulas)


def _uncached_formulas(source: IO[bytes]) -> Iterator[tuple[int, dict[int, str]]]:
    """(row, {column: "=formula"}) for each row holding formulas without a result, in order.

    ``r`` attributes may be left out of rows and cells: they then mean the next one.
    """
    from openpyxl.formula.translate import Translator
    from openpyxl.utils.cell import (
        column_index_from_string,
        coordinate_from_string,
        get_column_letter,
    )

    shared: dict[str, tuple[str, str]] = {}  # si -> (formula, its cell): one per shared group
    row = col = 0
    found: dict[int, str] = {}
    with source:
        for name, element in _sheet_xml(source):
            if name == "row":
                if found:
                    yield row, found
                    found = {}
                number = element.get("r")
                row, col = (int(number) if number else row + 1), 0
                continue
            if name != "c":
                continue
            ref = element.get("r")
            col = column_index_from_string(coordinate_from_string(ref)[0]) if ref else col + 1
            formula = next((c for c in element if _local(c.tag) == "f"), None)
            if formula is None:
                continue
            text, where = f"={formula.text or ''}", f"{get_column_letter(col)}{row}"
            if formula.get("t") == "shared" and (si := formula.get("si")) is not None:
                if formula.text:
                    shared[si] = (text, where)
                elif si in shared:
                    try:
                        text = Translator(*shared[si]).translate_formula(where)
                    except Exception:  # only shown in a reason: the group's own text will do
                        text = shared[si][0]
            if _uncached(element):
                found[col] = text
        if found:
            yield row, found


class XlsxReader:
    """Rows of one sheet; the first row after ``skip_lines`` is the header.

    A data row with a merged cell or a formula without a computed value in the header's columns
    is yielded with a :class:`RowProblem` naming the cell (see the module's docstring).
    """

    def __init__(self, raw: BinaryIO, fmt: XlsxFormat, name: str) -> None:
        from openpyxl import load_workbook

        self.name = name
        try:
            self._book = load_workbook(raw, read_only=True, data_only=True)
        except Exception as exc:  # openpyxl raises zipfile/KeyError/InvalidFileException kinds
            raise SourceFileError(
                name, f"not a readable .xlsx workbook ({type(exc).__name__}: {exc})"
            ) from None
        sheets = self._book.sheetnames
        if isinstance(fmt.sheet, int):
            if not 0 <= fmt.sheet < len(sheets):
                raise SourceFileError(
                    name, f"format.sheet {fmt.sheet} does not exist; the sheets are {sheets}"
                )
            sheet = self._book[sheets[fmt.sheet]]
        elif fmt.sheet in sheets:
            sheet = self._book[fmt.sheet]
        else:
            raise SourceFileError(
                name, f"format.sheet {fmt.sheet!r} does not exist; the sheets are {sheets}"
            )
        try:
            # openpyxl's read-only sheet opens its own XML part; it has no public name for it.
            part: Any = sheet
            scan = _scan_sheet(part._get_source())
            self._formulas = _uncached_formulas(part._get_source()) if scan.formulas else None
        except ParseError as exc:
            raise SourceFileError(
                name, f"sheet {sheet.title!r} is not well-formed XML ({exc}); export it again"
            ) from None
        self._merged = scan.merged
        self._next_merged = 0
        self._active: list[_Merged] = []
        self._formula_row: tuple[int, dict[int, str]] | None = None
        self._rows = sheet.iter_rows(min_row=fmt.skip_lines + 1, values_only=True)
        self._line = fmt.skip_lines
        header: list[str] | None = None
        for values in self._rows:
            self._line += 1
            self._cell_problems(values, 0)  # notes the top-left cells of merged ranges
            if any(v is not None for v in values):
                header = [cell_text(v) for v in values]
                break
        if header is None:
            raise SourceFileError(name, "the sheet is empty: no header row and no data")
        while header and header[-1] == "":
            header.pop()
        self._columns = header

    @property
    def columns(self) -> Sequence[str]:
        return self._columns

    def _cell_problems(self, values: Sequence[Any], width: int) -> list[_CellProblem]:
        """The cells of the current row, among the first
        ``width``, that read empty because of a merged range or a formula without a result."""
        from openpyxl.utils.cell import get_column_letter

        line = self._line
        while self._next_merged < len(self._merged):
            merged = self._merged[self._next_merged]
            if merged.min_row > line:
                break
            self._active.append(merged)
            self._next_merged += 1
        if self._active:
            self._active = [m for m in self._active if m.max_row >= line]
        problems: list[_CellProblem] = []
        for merged in self._active:
            top_left = f"{get_column_letter(merged.min_col)}{merged.min_row}"
            if merged.min_row == line:
                index = merged.min_col - 1
                merged.filled = index < len(values) and cell_text(values[index]) != ""
            if not merged.filled:
                continue  # an empty merged range: nothing is lost
            for col in range(merged.min_col, min(merged.max_col, width) + 1):
                if (col, line) == (merged.min_col, merged.min_row):
                    continue
                address = f"{get_column_letter(col)}{line}"
                reason = (
                    f"{address} is part of merged range {merged.ref}, so it reads empty (only "
                    f"{top_left} holds the value); unmerge the cells in the ERP export"
                )
                problems.append(_CellProblem(col, address, reason, "", "merged_cell"))
        for col, formula in self._formulas_of(line).items():
            if col <= width:
                address = f"{get_column_letter(col)}{line}"
                reason = (
                    f"{address}: formula {formula} has no computed value; open and save the "
                    "file in a spreadsheet program, or export values"
                )
                problems.append(_CellProblem(col, address, reason, formula, "uncached_formula"))
        return problems

    def _formulas_of(self, line: int) -> dict[int, str]:
        if self._formulas is None:
            return {}
        while self._formula_row is None or self._formula_row[0] < line:
            self._formula_row = next(self._formulas, None)
            if self._formula_row is None:
                self._formulas = None
                return {}
        row, cells = self._formula_row
        return cells if row == line else {}

    def _problem(self, problems: list[_CellProblem]) -> RowProblem:
        """The row's first such cell, and the addresses of the others."""
        problems.sort(key=lambda p: p.col)
        first, others = problems[0], [p.address for p in problems[1:]]
        reason = first.reason
        if others:
            more = f" and {len(others) - 5} more" if len(others) > 5 else ""
            reason += f"; {', '.join(others[:5])}{more} of this row read empty too"
        column = self._columns[first.col - 1]
        return RowProblem(reason, column=column, value=first.value, code=first.code)

    def __iter__(self) -> Iterator[SourceRow]:
        width = len(self._columns)
        try:
            for values in self._rows:
                self._line += 1
                cells = [cell_text(v) for v in values]
                problems = self._cell_problems(values, width)
                if problems:
                    cells = (cells + [""] * width)[:width]
                    yield SourceRow(self._line, cells, self._problem(problems))
                    continue
                if not any(cells):
                    continue
                extra = [c for c in cells[width:] if c]
                if extra:
                    reason = (
                        f"the row has values beyond the header's {width} columns; "
                        "a shifted row or a column without a header?"
                    )
                    yield SourceRow(
                        self._line, cells, RowProblem(reason, value=extra[0], code="field_count")
                    )
                    continue
                cells = (cells + [""] * width)[:width]
                yield SourceRow(self._line, cells)
        finally:
            self._book.close()
