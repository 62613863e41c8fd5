"""Delimited text, read record by record: quoted multi-line cells, true source line numbers."""

from __future__ import annotations

import csv
import io
from collections.abc import Iterator, Sequence
from typing import BinaryIO

from saleslayer_airflow.config.formats import CsvFormat
from saleslayer_airflow.readers.encoding import resolve_encoding
from saleslayer_airflow.readers.errors import SourceFileError
from saleslayer_airflow.readers.records import BAD_TEXT, RowProblem, SourceRow, bad_text_problem

#: A single cell may be this long; the default (128 KiB) is too small for real exports (HTML
#: descriptions), and a cell beyond it is rejected rather than read.
FIELD_SIZE_LIMIT = 64 * 1024 * 1024


class CsvReader:
    """Records of a delimited text file, with their first physical line.

    Rows whose bytes are invalid in the encoding, that hold NUL, whose quoting is broken or whose
    field count differs from the header's come out with a :class:`RowProblem`, never raise.
    """

    def __init__(self, raw: BinaryIO, fmt: CsvFormat, name: str) -> None:
        self.name = name
        self._fmt = fmt
        self.encoding, skip = resolve_encoding(raw, fmt.encoding, name)
        raw.seek(skip)
        self._text = io.TextIOWrapper(
            raw, encoding=self.encoding, errors="surrogateescape", newline=""
        )
        if csv.field_size_limit() < FIELD_SIZE_LIMIT:
            csv.field_size_limit(FIELD_SIZE_LIMIT)
        for _ in range(fmt.skip_lines):
            if not self._text.readline():
                raise SourceFileError(
                    name, f"the file has fewer than format.skip_lines={fmt.skip_lines} lines"
                )
        self._reader = csv.reader(
            self._text,
            delimiter=fmt.delimiter,
            quotechar=fmt.quotechar,
            escapechar=fmt.escapechar,
            doublequote=fmt.escapechar is None,
            strict=True,
        )
        self._end = 0  # physical lines consumed so far (after skip_lines)
        self._resumed = 0  # lines before the csv reader's first one (see resume_at)
        self._first: SourceRow | None = None
        self._columns = self._read_header()

    @property
    def columns(self) -> Sequence[str]:
        """The header's names (col_1, col_2, ... without a header row)."""
        return self._columns

    def _line(self, physical: int) -> int:
        return self._fmt.skip_lines + physical

    def _next_record(self) -> tuple[int, list[str] | None, str | None] | None:
        """(first line, cells or None, csv error) of the next non-blank record; None at the end."""
        while True:
            start = self._end + 1
            try:
                cells = next(self._reader)
            except StopIteration:
                return None
            except csv.Error as exc:
                self._end = self._resumed + self._reader.line_num
                return start, None, str(exc)
            self._end = self._resumed + self._reader.line_num
            if cells:
                return start, cells, None

    def _read_header(self) -> list[str]:
        record = self._next_record()
        if record is None:
            raise SourceFileError(
                self.name,
                "the file is empty: no header row and no data"
                if self._fmt.header
                else "the file is empty: no data",
            )
        line, cells, error = record
        if cells is None:
            raise SourceFileError(
                self.name, f"the header row cannot be read: {error}", line=self._line(line)
            )
        if not self._fmt.header:
            self._first = self._make_row(line, cells, None, len(cells))
            return [f"col_{i + 1}" for i in range(len(cells))]
        if any(BAD_TEXT.search(cell) for cell in cells):
            raise SourceFileError(
                self.name,
                "the header row holds bytes that are not valid "
                f"{self.encoding}; check format.encoding",
                line=self._line(line),
            )
        return cells

    def _make_row(
        self, line: int, cells: list[str] | None, error: str | None, width: int
    ) -> SourceRow:
        at = self._line(line)
        if cells is None:
            if error is not None and "unexpected end of data" in error:
                reason = (
                    f"a quoted value opened in the record starting on line {at} is never closed, "
                    f"so lines {at}-{self._line(self._end)} were read as one record; add the "
                    "missing quote in the export"
                )
                return SourceRow(at, [], RowProblem(reason, code="unclosed_quote"))
            if error is not None and "field larger than field limit" in error:
                reason = (
                    f"a value is longer than {FIELD_SIZE_LIMIT:,} characters, more than any "
                    "Sales Layer field holds"
                )
                return SourceRow(at, [], RowProblem(reason, code="cell_too_large"))
            reason = f"the record is not valid CSV ({error}); check the quoting of this line"
            return SourceRow(at, [], RowProblem(reason, code="bad_quoting"))
        if len(cells) != width:
            many = len(cells) > width
            reason = f"the record has {len(cells)} fields but the header has {width}; " + (
                "a delimiter inside an unquoted value, or a shifted row?"
                if many
                else "fields are missing (a line break inside an unquoted value?)"
            )
            value = self._fmt.delimiter.join(cells)
            return SourceRow(at, cells, RowProblem(reason, value=value, code="field_count"))
        if BAD_TEXT.search("\x1f".join(cells)):
            return SourceRow(
                at, cells, bad_text_problem(self._columns_or_default(width), cells, self.encoding)
            )
        return SourceRow(at, cells)

    def resume_at(self, offset: int, line: int) -> None:
        """Go on reading at byte ``offset``, where a record starts on physical ``line``: the
        columnar reader (readers/csv_arrow.py) hands over to this reader at a record boundary
        it proved, when the rest of the file needs the exact record-by-record reading."""
        raw = self._text.detach()  # the old wrapper must not close the file when collected
        raw.seek(offset)
        self._text = io.TextIOWrapper(
            raw, encoding=self.encoding, errors="surrogateescape", newline=""
        )
        self._reader = csv.reader(
            self._text,
            delimiter=self._fmt.delimiter,
            quotechar=self._fmt.quotechar,
            escapechar=self._fmt.escapechar,
            doublequote=self._fmt.escapechar is None,
            strict=True,
        )
        self._end = self._resumed = line - 1 - self._fmt.skip_lines
        self._first = None

    def _columns_or_default(self, width: int) -> Sequence[str]:
        return getattr(self, "_columns", None) or [f"col_{i + 1}" for i in range(width)]

    def __iter__(self) -> Iterator[SourceRow]:
        if self._first is not None:
            yield self._first
        width = len(self._columns)
        while (record := self._next_record()) is not None:
            line, cells, error = record
            yield self._make_row(line, cells, error, width)
