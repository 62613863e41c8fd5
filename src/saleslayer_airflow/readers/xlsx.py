"""Excel workbooks, read row by row with openpyxl's read-only mode (memory stays flat)."""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from datetime import date, datetime, time
from typing import Any, BinaryIO

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


class XlsxReader:
    """Rows of one sheet; the first row after ``skip_lines`` is the header."""

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
        self._rows = sheet.iter_rows(min_row=fmt.skip_lines + 1, values_only=True)
        self._line = fmt.skip_lines
        header: list[str] | None = None
        for values in self._rows:
            self._line += 1
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

    def __iter__(self) -> Iterator[SourceRow]:
        width = len(self._columns)
        try:
            for values in self._rows:
                self._line += 1
                cells = [cell_text(v) for v in values]
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
