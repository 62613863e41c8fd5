"""Checking batch readers against the record readers: record by record, value by value.

The record readers (``readers.open_reader``: SourceRow with cells and problem) are the reference.
A batch reader must give, for record ``first_record + i``: the same first line; per wanted column
the reference's value (tabular: the cell at the name's FIRST header position, nothing for a
missing cell; JSON: the value by dotted path), as text (null for no value: empty, null, absent)
or as the raw value in ``objects``; per JSON path whether the key is present; the same problem.
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path
from typing import Any

from saleslayer_airflow.config.formats import CsvFormat, JsonFormat, JsonLinesFormat, XlsxFormat
from saleslayer_airflow.readers import open_reader
from saleslayer_airflow.readers.batches import SourceBatch, open_batches, storable
from saleslayer_airflow.readers.errors import SourceFileError
from saleslayer_airflow.readers.json import MISSING, lookup
from saleslayer_airflow.readers.records import SourceRow

Fmt = CsvFormat | JsonFormat | JsonLinesFormat | XlsxFormat


def reference(path: Path, fmt: Fmt) -> tuple[Sequence[str] | None, list[SourceRow]] | str:
    """The record reader's columns and rows (the error's message when the file is unreadable)."""
    try:
        with path.open("rb") as raw:
            reader = open_reader(raw, fmt, path.name)
            return reader.columns, list(reader)
    except SourceFileError as exc:
        return str(exc)


def batches(
    path: Path, fmt: Fmt, wanted: Sequence[str] | None, batch_rows: int
) -> tuple[Any, list[SourceBatch]] | str:
    """The batch reader (to ask which path it took) and its batches, or the error's message."""
    try:
        reader = open_batches(path, fmt, path.name, 3, wanted, batch_rows)
        return reader, list(reader)
    except SourceFileError as exc:
        return str(exc)


def _arrow_safe(text: str) -> str:
    try:
        text.encode("utf-8")
    except UnicodeEncodeError:
        return storable(text)
    return text


def _expected(row: SourceRow, columns: Sequence[str] | None, name: str) -> Any:
    cells = row.cells
    if isinstance(cells, dict):
        assert columns is None
        return lookup(cells, name)
    assert columns is not None
    index = columns.index(name)  # the first position, as mapping.columns reads it
    return cells[index] if index < len(cells) else None


def check(
    got: list[SourceBatch],
    columns: Sequence[str] | None,
    rows: list[SourceRow],
    names: Sequence[str],
    batch_rows: int,
) -> None:
    """``got`` holds exactly ``rows``, column ``names`` of them (see the module's docstring)."""
    seen = 0
    for batch in got:
        n = batch.num_rows
        assert batch.file == 3
        assert 0 < n <= batch_rows
        assert batch.first_record == seen, (batch.first_record, seen)
        assert str(batch.lines.type) == "int64"
        assert set(batch.text) | set(batch.objects) == set(names), (batch.text, names)
        assert not set(batch.text) & set(batch.objects)
        assert set(batch.present) == (set(names) if columns is None else set())
        text = {name: array.to_pylist() for name, array in batch.text.items()}
        for array in batch.text.values():
            assert str(array.type) == "string" and len(array) == n
        present = {name: array.to_pylist() for name, array in batch.present.items()}
        problems = [
            a.to_pylist()
            for a in (
                batch.problem_code,
                batch.problem_reason,
                batch.problem_column,
                batch.problem_value,
            )
        ]
        lines = batch.lines.to_pylist()
        for i in range(n):
            row = rows[seen + i]
            where = (seen + i, row.line)
            assert lines[i] == row.line, where
            for name in names:
                want = _expected(row, columns, name)
                if name in text:
                    assert want is None or want is MISSING or isinstance(want, str), where
                    blank = want is None or want is MISSING or want == ""
                    assert text[name][i] == (None if blank else want), (where, name)
                else:
                    value = batch.objects[name][i]
                    assert value is want or (type(value) is type(want) and value == want), (
                        where,
                        name,
                        value,
                        want,
                    )
                if columns is None:
                    assert present[name][i] == (want is not MISSING), (where, name)
            problem = row.problem
            if problem is None:
                assert [p[i] for p in problems] == [None] * 4, where
            else:
                wanted = [problem.code, problem.reason, problem.column, problem.value]
                assert [p[i] for p in problems] == [_arrow_safe(t) for t in wanted], where
        seen += n
    assert seen == len(rows)


def same_as_reference(
    path: Path, fmt: Fmt, wanted: Sequence[str] | None, batch_rows: int
) -> tuple[Any, int] | None:
    """open_batches gives what the record reader gives; returns the batch reader and the number
    of records (None when both refuse the file with the same message)."""
    want = reference(path, fmt)
    got = batches(path, fmt, wanted, batch_rows)
    if isinstance(want, str) or isinstance(got, str):
        assert got == want
        return None
    columns, rows = want
    reader, result = got
    assert reader.columns == columns
    if columns is not None:
        names = [n for n in dict.fromkeys(columns if wanted is None else wanted) if n in columns]
    else:
        assert wanted is not None
        names = list(dict.fromkeys(wanted))
    check(result, columns, rows, names, batch_rows)
    return reader, len(rows)
