"""What readers hand the columnar engine: records of a landed file as columns, a batch at a time.

A :class:`SourceBatch` holds consecutive records of one file. Every column the connector reads
is in exactly one of two places:

- ``text``: an Arrow ``string`` array, when every value of the column in this batch is text. An
  empty cell, a JSON ``null`` and an absent JSON key are all null here (the mapping treats the
  three alike: no value).
- ``objects``: the raw Python values, when some value of the column in this batch is not text
  (a JSON number, boolean, list or object; a spreadsheet number or date). Absent JSON keys are
  :data:`saleslayer_airflow.readers.json.MISSING`, nulls ``None``. The engine converts these
  value by value with the same functions as text, so a number stays exact.

``present`` (record formats only: JSON, JSON Lines, XML) says per column whether the key (XML:
the path) occurred in each record, so that a mapped path found in no record can be reported as a
mistake.

A record that could not be read carries its :class:`RowProblem` in the ``problem_*`` arrays
(null when the record is fine); its cells are whatever the reader could recover (possibly none:
null).

Details the readers keep (see :func:`open_batches`):

- a text column holding a lone surrogate (an undecodable byte read with ``surrogateescape``, or a
  JSON ``"\ud800"``) cannot be Arrow text: it goes to ``objects`` (raw strings), like non-text;
- a problem text Arrow cannot hold (the raw record of a field-count problem with undecodable
  bytes) is escaped as the rejects file writes it (:func:`storable`): the written bytes agree;
- a batch holds at most ``batch_rows`` records (all of them but the last, except where the CSV
  reader hands over from its fast path); batch sizes never change the records or values.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass, field
from itertools import islice
from pathlib import Path
from typing import TYPE_CHECKING, Any, Protocol

from saleslayer_airflow.config.formats import (
    CsvFormat,
    JsonFormat,
    JsonLinesFormat,
    XlsxFormat,
    XmlFormat,
)
from saleslayer_airflow.readers.json import MISSING, lookup
from saleslayer_airflow.readers.records import (
    BAD_TEXT,
    Cells,
    RecordReader,
    RowProblem,
    SourceRow,
    show_bad_text,
)

if TYPE_CHECKING:
    import pyarrow as pa

#: one column's value of a record's cells: text, a JSON value, or MISSING
Getter = Callable[[Cells], object]


@dataclass(frozen=True)
class SourceBatch:
    """Consecutive records of one landed file, as columns."""

    #: index of the landed file in the run's list of files
    file: int
    #: index (0-based) of the batch's first record among the file's records: with the row's
    #: position in the batch, it orders records across batches
    first_record: int
    #: the first physical line (CSV) or sheet row (XLSX) or line (JSON) of each record: int64
    lines: pa.Array
    #: text columns by source column name (or JSON dotted path)
    text: dict[str, pa.Array]
    #: non-text columns by name: the raw values
    objects: dict[str, list[Any]]
    #: why each record could not be read (null when it was read): code, reason, column, value
    problem_code: pa.Array
    problem_reason: pa.Array
    problem_column: pa.Array
    problem_value: pa.Array
    #: record formats only: per column, whether the key occurred in each record
    present: dict[str, pa.Array] = field(default_factory=dict)

    @property
    def num_rows(self) -> int:
        return len(self.lines)


class BatchReader(Protocol):
    """An open landed file read as :class:`SourceBatch` objects, in bounded memory."""

    name: str

    @property
    def columns(self) -> Sequence[str] | None:
        """The header's column names (CSV, XLSX), or None when records are JSON objects."""

    def __iter__(self) -> Iterator[SourceBatch]: ...


#: ASCII-compatible codecs whose bytes below 0x80 are always the ASCII characters themselves (no
#: multi-byte sequence holds one): a quote, delimiter or line break byte is that character.
#: (codecs.lookup names)
ASCII_COMPATIBLE = frozenset(
    {"utf-8", "ascii", "iso8859-1", "iso8859-15", "cp1252", "cp1250", "cp1251", "cp1257"}
)

_SURROGATE = re.compile("[\ud800-\udfff]")


def storable(text: str) -> str:
    """``text`` as Arrow can hold it: the same escaping ``normalize.results.storable`` applies
    when writing (undecodable bytes as ``\\xff``, NUL as ``\\x00``, lone surrogates as
    ``\\ud800``), so a value escaped here is written the same as the raw one."""
    if BAD_TEXT.search(text):
        text = show_bad_text(text)
    return _SURROGATE.sub(lambda m: f"\\u{ord(m.group()):04x}", text)


def text_array(values: Sequence[object]) -> pa.Array | None:
    """An Arrow string array of ``values`` (no value -> null), or None when some value is not
    text, or is text Arrow cannot hold (a lone surrogate: an undecodable byte, or a JSON
    ``"\\ud800"``)."""
    import pyarrow as pa
    import pyarrow.compute as pc

    try:
        # Arrow's own conversion refuses every value that is not str or None (no value here is
        # ever bytes): the common case, all text, without a Python step per value
        array = pa.array(values, pa.string())
    except (TypeError, UnicodeEncodeError, pa.ArrowException):
        pass  # MISSING, a JSON number or object, a lone surrogate: value by value
    else:
        return pc.if_else(pc.equal(array, ""), pa.scalar(None, pa.string()), array)
    texts: list[str | None] = []
    for value in values:
        if isinstance(value, str):
            texts.append(value or None)
        elif value is None or value is MISSING:
            texts.append(None)
        else:
            return None
    try:
        return pa.array(texts, pa.string())
    except (UnicodeEncodeError, pa.ArrowException):
        return None


def problem_arrays(problems: Sequence[RowProblem | None], count: int) -> list[pa.Array]:
    """The ``problem_*`` arrays of ``count`` records: code, reason, column, value (null where
    the record has no problem; ``problems`` may be empty when none has one)."""
    import pyarrow as pa

    if not any(p is not None for p in problems):
        none = pa.nulls(count, pa.string())
        return [none, none, none, none]
    fields: list[list[str | None]] = [[], [], [], []]
    for problem in problems:
        if problem is None:
            for values in fields:
                values.append(None)
            continue
        for values, text in zip(
            fields, (problem.code, problem.reason, problem.column, problem.value), strict=True
        ):
            values.append(text)
    arrays = []
    for values in fields:
        try:
            arrays.append(pa.array(values, pa.string()))
        except (UnicodeEncodeError, pa.ArrowException):
            # A field-count problem's value is the raw record: it may hold undecodable bytes.
            arrays.append(pa.array([v if v is None else storable(v) for v in values], pa.string()))
    return arrays


def batch_of(
    *,
    file: int,
    first_record: int,
    lines: pa.Array,
    text: dict[str, pa.Array],
    objects: dict[str, list[Any]],
    problems: Sequence[RowProblem | None],
    present: dict[str, pa.Array],
) -> SourceBatch:
    """A :class:`SourceBatch` of ``len(lines)`` records, its ``problem_*`` arrays made from
    ``problems`` (empty when no record has one)."""
    code, reason, column, value = problem_arrays(problems, len(lines))
    return SourceBatch(
        file=file,
        first_record=first_record,
        lines=lines,
        text=text,
        objects=objects,
        problem_code=code,
        problem_reason=reason,
        problem_column=column,
        problem_value=value,
        present=present,
    )


def rows_to_batch(
    rows: Sequence[SourceRow],
    *,
    file: int,
    first_record: int,
    getters: dict[str, Getter],
    records: bool,
) -> SourceBatch:
    """A :class:`SourceBatch` of ``rows`` (consecutive records of a reader), one column per
    getter (a cell by position, or a JSON value by dotted path: MISSING when absent)."""
    import pyarrow as pa

    text: dict[str, pa.Array] = {}
    objects: dict[str, list[Any]] = {}
    present: dict[str, pa.Array] = {}
    for name, get in getters.items():
        values = [get(row.cells) for row in rows]
        array = text_array(values)
        if array is None:
            objects[name] = values
        else:
            text[name] = array
        if records:
            present[name] = pa.array([v is not MISSING for v in values], pa.bool_())
    return batch_of(
        file=file,
        first_record=first_record,
        lines=pa.array([row.line for row in rows], pa.int64()),
        text=text,
        objects=objects,
        problems=[row.problem for row in rows],
        present=present,
    )


def _position_getter(index: int) -> Getter:
    def get(cells: Cells) -> object:
        # a short record (field_count) has no value for the missing cells; a JSON object is
        # never read by position
        return cells[index] if isinstance(cells, list) and index < len(cells) else None

    return get


def _path_getter(path: str) -> Getter:
    def get(record: Cells) -> object:
        return lookup(record, path) if isinstance(record, dict) else MISSING

    return get


def tabular_positions(columns: Sequence[str], wanted: Sequence[str] | None) -> dict[str, int]:
    """The position of each wanted column: the FIRST position of its name in the header (as
    ``mapping.columns.tabular_getters`` reads it). A name not in the header is left out: the
    mapping reports it (with the header) before reading."""
    first: dict[str, int] = {}
    for index, name in enumerate(columns):
        first.setdefault(name, index)
    names = columns if wanted is None else wanted
    return {name: first[name] for name in dict.fromkeys(names) if name in first}


class RowBatchReader:
    """Any :class:`RecordReader`'s rows, ``batch_rows`` at a time, as :class:`SourceBatch`
    objects: the exact reference for every format (and the CSV reader when it cannot take its
    fast path).

    ``wanted``: source column names (CSV, XLSX) or dotted JSON paths; None: every header column
    (JSON: the top-level keys seen in each batch, in order of appearance).
    """

    def __init__(
        self,
        reader: RecordReader,
        *,
        file: int,
        wanted: Sequence[str] | None,
        batch_rows: int = 65_536,
        close: Callable[[], None] | None = None,
    ) -> None:
        if batch_rows < 1:
            raise ValueError(f"batch_rows must be at least 1, not {batch_rows}")
        self.name = reader.name
        self._reader = reader
        self._file = file
        self._wanted = wanted
        self._batch_rows = batch_rows
        self._close = close
        #: records read so far (the next batch's first_record)
        self.records = 0

    @property
    def columns(self) -> Sequence[str] | None:
        return self._reader.columns

    def _getters(self, rows: Sequence[SourceRow]) -> tuple[dict[str, Getter], bool]:
        columns = self._reader.columns
        if columns is not None:
            positions = tabular_positions(columns, self._wanted)
            return {name: _position_getter(pos) for name, pos in positions.items()}, False
        paths = self._wanted
        if paths is None:
            paths = list(
                dict.fromkeys(k for r in rows if isinstance(r.cells, dict) for k in r.cells)
            )
        return {path: _path_getter(path) for path in dict.fromkeys(paths)}, True

    def batches_of(self, rows: Iterator[SourceRow]) -> Iterator[SourceBatch]:
        """``rows`` (records of this reader, from record ``self.records`` on) as batches."""
        while chunk := list(islice(rows, self._batch_rows)):
            getters, records = self._getters(chunk)
            yield rows_to_batch(
                chunk, file=self._file, first_record=self.records, getters=getters, records=records
            )
            self.records += len(chunk)

    def close(self) -> None:
        if self._close is not None:
            self._close()
            self._close = None

    def __iter__(self) -> Iterator[SourceBatch]:
        try:
            yield from self.batches_of(iter(self._reader))
        finally:
            self.close()

    def __enter__(self) -> RowBatchReader:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


def open_batches(
    path: Path,
    fmt: CsvFormat | JsonFormat | JsonLinesFormat | XlsxFormat | XmlFormat,
    name: str,
    file: int,
    wanted: Sequence[str] | None,
    batch_rows: int = 65_536,
) -> BatchReader:
    """The landed file ``path`` (shown as ``name``; index ``file`` in the run) as batches.

    CSV takes an Arrow fast path when the file is proven to read exactly as the csv module reads
    it (:mod:`saleslayer_airflow.readers.csv_arrow`), JSON Lines (with ``wanted`` paths) for
    each block proven to read as ``json.loads`` reads its lines
    (:mod:`saleslayer_airflow.readers.jsonl_arrow`); every other case adapts the record readers
    (JSON documents; XLSX, where openpyxl itself takes most of the time; XML, whose reader
    reads only the ``wanted`` paths of each record).
    The file stays open until the batches are read to the end (or ``close()``). A file that
    cannot be read at all raises :class:`SourceFileError` here.
    """
    if isinstance(fmt, CsvFormat):
        from saleslayer_airflow.readers.csv_arrow import CsvBatchReader

        return CsvBatchReader(path, fmt, name, file=file, wanted=wanted, batch_rows=batch_rows)
    if isinstance(fmt, JsonLinesFormat) and wanted is not None:
        from saleslayer_airflow.readers.jsonl_arrow import JsonLinesBatchReader

        return JsonLinesBatchReader(path, name, file=file, wanted=wanted, batch_rows=batch_rows)
    from saleslayer_airflow.readers import open_reader

    raw = path.open("rb")
    try:
        reader: RecordReader
        if isinstance(fmt, XmlFormat):
            from saleslayer_airflow.readers.xml import XmlReader

            reader = XmlReader(raw, fmt, name, wanted)
        else:
            reader = open_reader(raw, fmt, name)
    except BaseException:
        raw.close()
        raise
    return RowBatchReader(reader, file=file, wanted=wanted, batch_rows=batch_rows, close=raw.close)
