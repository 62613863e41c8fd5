"""What every reader yields: source rows with their first line, or the problem that spoiled them."""

from __future__ import annotations

import re
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from typing import Any, Protocol

#: Lone surrogates stand for bytes that were not valid in the file's encoding (they were decoded
#: with ``errors="surrogateescape"``: shown, never silently replaced); NUL is no text either.
BAD_TEXT = re.compile("[\udc80-\udcff\x00]")


@dataclass(frozen=True, slots=True)
class RowProblem:
    """Why a source row cannot be used at all; it becomes a reject in every table it feeds."""

    reason: str
    column: str = ""
    value: str = ""
    code: str = "unreadable"


#: a record's cells: text by column position (CSV, XLSX), or a JSON object
Cells = list[str] | dict[str, Any]


@dataclass(slots=True)
class SourceRow:
    """One record of a landed file.

    ``cells`` is a list of strings (CSV, XLSX: by column position) or a dict (JSON records);
    ``line`` is the first physical line (or sheet row) of the record.
    """

    line: int
    cells: Cells
    problem: RowProblem | None = None


class RecordReader(Protocol):
    """An open landed file, read record by record in bounded memory."""

    name: str

    @property
    def columns(self) -> Sequence[str] | None:
        """The header's column names, or None when records are JSON objects."""

    def __iter__(self) -> Iterator[SourceRow]: ...


def show_bad_text(text: str) -> str:
    """The text with undecodable bytes written as ``\\xff`` and NUL as ``\\x00``, for a person."""
    return BAD_TEXT.sub(
        lambda m: "\\x00" if m.group() == "\x00" else f"\\x{ord(m.group()) - 0xDC00:02x}", text
    )


def bad_text_problem(columns: Sequence[str], cells: Sequence[str], encoding: str) -> RowProblem:
    """Name the first cell holding undecodable bytes or NUL, and what to check."""
    for index, cell in enumerate(cells):
        match = BAD_TEXT.search(cell)
        if match is None:
            continue
        column = columns[index] if index < len(columns) else f"col_{index + 1}"
        shown = show_bad_text(cell)
        if match.group() == "\x00":
            reason = (
                "the value holds a NUL byte (\\x00), which is not text; the export is damaged "
                "here: fix the row in the ERP"
            )
        else:
            reason = (
                f"bytes that are not valid {encoding} ({show_bad_text(match.group())}); check "
                "the file's encoding (format.encoding) or fix the row in the ERP"
            )
        return RowProblem(reason, column=column, value=shown, code="bad_encoding")
    raise ValueError("no undecodable text in the row")
