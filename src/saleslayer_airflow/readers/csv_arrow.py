"""CSV as Arrow batches: pyarrow's parser where it provably reads what the csv module reads.

The csv-module reader (:class:`~saleslayer_airflow.readers.csv.CsvReader`) is the reference:
its cells, first physical lines and problems define the result. pyarrow's CSV parser is many
times faster and gives the same cells for every well-formed record, but differs on malformed ones
(a closing quote followed by text, a wrong field count, an unclosed quote, invalid bytes) and
skips blank lines without counting them. So the file is cut into stretches of whole records
(about :data:`BLOCK_BYTES` each), and a stretch's records are only handed out once it is proven,
with vectorised scans of its raw bytes, that no such difference can arise in it:

- every quote character is structural: an opening one (even index, counted from the stretch's
  start, which is a record boundary) at a field's start (after the delimiter, a line break, or
  right after a quote: a doubled quote), a closing one (odd index) before the delimiter, a line
  break, the end of the file or a quote. Then inside/outside quotes is the parity of the quotes
  before a byte, for both parsers, and a stretch ends at a line break with an even number of
  quotes before it (``\r\n``, a lone ``\r`` or ``\n``: how ``newline=''`` splits lines);
- first lines: when the stretch holds as many line breaks as records, every record is one line
  and none is blank, so the lines are consecutive; otherwise a full scan of the stretch finds each
  record's first line (and the record count, checked against pyarrow's);
- no NUL byte; the text is valid in the file's (ASCII-compatible) encoding; no value can be
  longer than the csv module's field size limit; pyarrow's parse itself refuses a record whose
  field count differs from the header's.

Stretches are parsed by worker threads (pyarrow, numpy and the UTF-8 check let go of the GIL)
while the next one is read. Whatever is not proven (another encoding, an escape character, an odd
byte, a parse error) sends the rest of the file, from the first record not yet handed out, to the
csv-module reader (``CsvReader.resume_at``): a batch already given is never taken back, and the
result is the same as reading the whole file record by record.
"""

from __future__ import annotations

import codecs
import threading
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

from saleslayer_airflow.arrow_arrays import int64_array
from saleslayer_airflow.config.formats import CsvFormat
from saleslayer_airflow.readers.batches import (
    ASCII_COMPATIBLE,
    RowBatchReader,
    SourceBatch,
    tabular_positions,
)
from saleslayer_airflow.readers.csv import FIELD_SIZE_LIMIT, CsvReader

if TYPE_CHECKING:
    from concurrent.futures import Future
    from io import BufferedReader

    import numpy as np
    import numpy.typing as npt
    import pyarrow as pa

    Ints = npt.NDArray[np.int64]
    #: a stretch's raw bytes as numbers, and a mask over them
    Bytes = npt.NDArray[np.uint8]
    Mask = npt.NDArray[np.bool_]

#: Bytes read (and scanned) at a time; a record longer than this is read over several blocks.
BLOCK_BYTES = 1 << 20
#: stretches parsed at once, by worker threads, while the next one is scanned
PARSERS = 2
_LF, _CR = 10, 13


_SCRATCH = threading.local()


def _equal(data: Bytes, byte: int) -> Mask:
    """``data == byte`` into a per-thread reusable mask: a fresh array per call costs more in
    page faults than the comparison (the allocator hands big blocks back to the system)."""
    import numpy as np

    mask: Mask | None = getattr(_SCRATCH, "mask", None)
    if mask is None or len(mask) < len(data):
        mask = _SCRATCH.mask = np.empty(max(len(data), BLOCK_BYTES + (1 << 16)), dtype=bool)
    out: Mask = np.equal(data, byte, out=mask[: len(data)])
    return out


class _NotProven(Exception):
    """The rest of the file cannot be shown to read as the csv module reads it."""


@dataclass(frozen=True)
class _Scan:
    """Complete records found in a stretch of bytes that starts at a record boundary."""

    #: bytes of the stretch up to the end of its last complete record (and blank lines)
    consumed: int
    #: physical line breaks in those bytes
    breaks: int
    #: each non-blank record: first byte, byte after its line break, line breaks before it
    starts: Ints
    ends: Ints
    lines: Ints


def _line_breaks(data: Bytes, final: bool, has_cr: bool) -> tuple[Ints, int]:
    """The positions of the line breaks' last bytes in ``data`` (a uint8 array), and how many
    bytes could be judged: a ``\\r`` at the end of a non-final stretch may be half of ``\\r\\n``."""
    import numpy as np

    n = len(data)
    m = n - 1 if n and not final and data[-1] == _CR else n
    view = data[:m]
    breaks = np.flatnonzero(view == _LF)
    if has_cr:
        crs = np.flatnonzero(view == _CR)
        after = crs + 1
        nxt = data[np.minimum(after, n - 1)]
        lone = crs[(nxt != _LF) | (after >= n)]
        if lone.size:
            breaks = np.sort(np.concatenate([breaks, lone]))
    return breaks, m


def _check_quotes(data: Bytes, quotes: Ints, m: int, final: bool, delimiter: int) -> None:
    """Every quote structural (see the module's docstring), else :class:`_NotProven`."""
    import numpy as np

    n = len(data)
    quote = int(data[quotes[0]])
    opens, closes = quotes[0::2], quotes[1::2]
    before = np.take(data, np.maximum(opens - 1, 0))
    ok = (before == delimiter) | (before == _LF) | (before == _CR) | (before == quote)
    ok[opens == 0] = True
    if not ok.all():
        raise _NotProven("a quote character inside an unquoted value")
    after = closes + 1
    nxt = np.take(data, np.minimum(after, n - 1))
    ok = (nxt == delimiter) | (nxt == _LF) | (nxt == _CR) | (nxt == quote)
    # beyond the judged bytes: the end of the file, or a record not complete yet (scanned again)
    ok |= after >= m
    if not ok.all():
        raise _NotProven("a closing quote followed by something other than the delimiter")
    if final and len(quotes) % 2:
        raise _NotProven("a quoted value is never closed")


def scan_records(data: Bytes, delimiter: int, quote: int, final: bool, has_cr: bool) -> _Scan:
    """The complete records of ``data`` (uint8; starts at a record boundary, quotes even).

    ``final``: ``data`` runs to the end of the file (a last record needs no line break).
    Raises :class:`_NotProven` when a quote is not structural.
    """
    import numpy as np

    breaks, m = _line_breaks(data, final, has_cr)
    quotes = np.flatnonzero(data[:m] == quote)
    if quotes.size:
        _check_quotes(data, quotes, m, final, delimiter)
        inside = (np.searchsorted(quotes, breaks) & 1).astype(bool)
    if quotes.size and inside.any():
        index = np.flatnonzero(~inside)
        ends = breaks[index]
    else:  # no line break inside a quoted value: every break ends a record (or blank line)
        index = None
        ends = breaks
    count = len(ends)
    starts = np.empty(count, dtype=np.int64)
    lines = np.empty(count, dtype=np.int64)
    if count:
        starts[0] = lines[0] = 0
        starts[1:] = ends[:-1] + 1
        lines[1:] = index[:-1] + 1 if index is not None else np.arange(1, count)
    content_ends = ends
    if has_cr and count:  # a \r\n break: the record's text ends before the \r
        crlf = (np.take(data, np.maximum(ends - 1, 0)) == _CR) & (np.take(data, ends) == _LF)
        content_ends = ends - (crlf & (ends > 0))
    blank = content_ends == starts  # a blank line: nothing before its line break
    consumed = int(ends[-1]) + 1 if count else 0
    breaks_seen = (int(index[-1]) + 1 if index is not None else count) if count else 0
    if blank.any():
        starts, ends, lines = starts[~blank], ends[~blank], lines[~blank]
    ends = ends + 1
    if final and consumed < m:  # a last record with no line break
        starts = np.append(starts, consumed)
        ends = np.append(ends, m)
        lines = np.append(lines, breaks_seen)
        consumed, breaks_seen = m, len(breaks)
    return _Scan(consumed, breaks_seen, starts, ends, lines)


class CsvBatchReader:
    """A CSV landed file as :class:`SourceBatch` objects: the Arrow fast path where proven, the
    csv-module reader for the rest (see the module's docstring).

    ``fast_records``: records given by the fast path; ``fallback``: why (part of) the file was
    read record by record, None when it never was.
    """

    def __init__(
        self,
        path: Path,
        fmt: CsvFormat,
        name: str,
        *,
        file: int,
        wanted: Sequence[str] | None,
        batch_rows: int = 65_536,
    ) -> None:
        if batch_rows < 1:
            raise ValueError(f"batch_rows must be at least 1, not {batch_rows}")
        self.name = name
        self._path = path
        self._fmt = fmt
        self._file = file
        self._batch_rows = batch_rows
        self._raw = path.open("rb")
        try:
            # The reference reader reads the header: the same errors, names and encoding.
            self._rows = CsvReader(self._raw, fmt, name)
        except BaseException:
            self._raw.close()
            raise
        self._wanted = wanted
        self._positions = tabular_positions(self._rows.columns, wanted)
        self._codec = codecs.lookup(self._rows.encoding).name
        self.fast_records = 0
        self._line = 1  # physical line where the next stretch starts
        # proven records not handed out yet (a batch may take them from several stretches)
        self._pending: list[tuple[dict[str, pa.Array], Ints]] = []
        self._pending_rows = 0
        self.fallback: str | None = self._not_eligible()
        # where the csv-module reader takes over: byte offset and physical line of a record
        self._resume: tuple[int, int] | None = None

    @property
    def columns(self) -> Sequence[str]:
        return self._rows.columns

    def _not_eligible(self) -> str | None:
        fmt = self._fmt
        if self._codec not in ASCII_COMPATIBLE:
            return f"encoding {self._rows.encoding} is not read by the fast path"
        if fmt.escapechar is not None:
            return "an escape character is not read by the fast path"
        special = {"\r", "\n", "\x00"}
        if fmt.delimiter == fmt.quotechar or {fmt.delimiter, fmt.quotechar} & special:
            return "the delimiter or quote character is not read by the fast path"
        if not (fmt.delimiter.isascii() and fmt.quotechar.isascii()):
            return "a non-ASCII delimiter or quote character is not read by the fast path"
        return None

    def close(self) -> None:
        self._raw.close()

    def __enter__(self) -> CsvBatchReader:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def __iter__(self) -> Iterator[SourceBatch]:
        try:
            if self.fallback is None:
                try:
                    yield from self._fast()
                except _NotProven as exc:
                    self.fallback = str(exc)
            if self.fallback is not None:
                yield from self._slow()
        finally:
            self.close()

    def _slow(self) -> Iterator[SourceBatch]:
        if self.fast_records and self._resume is not None:
            self._rows.resume_at(*self._resume)
        rows = RowBatchReader(
            self._rows, file=self._file, wanted=self._wanted, batch_rows=self._batch_rows
        )
        rows.records = self.fast_records
        yield from rows.batches_of(iter(self._rows))

    # -- the fast path --------------------------------------------------------------------

    def _fast(self) -> Iterator[SourceBatch]:
        from collections import deque
        from concurrent.futures import ThreadPoolExecutor

        with self._path.open("rb") as raw, ThreadPoolExecutor(PARSERS) as pool:
            start = 3 if self._codec == "utf-8" and raw.read(3) == codecs.BOM_UTF8 else 0
            raw.seek(start)
            source = _Stretches(self._fmt, raw, start)
            queue: deque[tuple[_Stretch, Future[tuple[pa.Table, int]]]] = deque()
            try:
                stretches = iter(source)
                while True:
                    try:
                        stretch = next(stretches, None)
                    except _NotProven:
                        # the stretches proven before are good: take them, then stop there
                        while queue:
                            yield from self._take(*queue.popleft())
                        self._resume = (source.offset, self._line)
                        raise
                    if stretch is None:
                        break
                    queue.append((stretch, pool.submit(self._parse, stretch)))
                    while len(queue) > PARSERS:
                        yield from self._take(*queue.popleft())
                while queue:
                    yield from self._take(*queue.popleft())
            except _NotProven:
                yield from self._flush()  # proven records still waiting for a full batch
                raise
            yield from self._flush()

    def _take(
        self, stretch: _Stretch, parsed: Future[tuple[pa.Table, int]]
    ) -> Iterator[SourceBatch]:
        """The stretch's records, with their lines from the break count when every record is
        one line (no blank line, no break inside a value), else from a full scan; the batches
        they complete."""
        import numpy as np

        if stretch.line is not None:
            self._line = stretch.line
        line = self._line
        self._resume = (stretch.offset, line)  # if this stretch is not proven
        table, breaks = parsed.result()
        rows = table.num_rows
        if breaks == rows - stretch.open_end:
            lines = np.arange(line, line + rows, dtype=np.int64)
        else:
            data = np.frombuffer(stretch.raw, dtype=np.uint8)
            found = scan_records(data, self._delimiter, self._quote, True, stretch.has_cr)
            if len(found.lines) != rows:
                raise _NotProven(f"pyarrow read {rows} records where {len(found.lines)} are")
            lines = found.lines + line
        self._line = line + breaks
        if rows:
            columns = {}
            for name, pos in self._positions.items():
                column = table.column(f"c{pos}")
                columns[name] = (
                    column.chunk(0) if column.num_chunks == 1 else column.combine_chunks()
                )
            self._pending.append((columns, lines))
            self._pending_rows += rows
        while self._pending_rows >= self._batch_rows:
            yield self._batch(self._batch_rows)

    def _flush(self) -> Iterator[SourceBatch]:
        while self._pending_rows:
            yield self._batch(min(self._batch_rows, self._pending_rows))

    def _batch(self, count: int) -> SourceBatch:
        """A batch of the next ``count`` proven records (from one stretch or several)."""
        import numpy as np
        import pyarrow as pa

        parts: dict[str, list[pa.Array]] = {name: [] for name in self._positions}
        lines: list[Ints] = []
        need = count
        while need:
            columns, some = self._pending[0]
            if len(some) <= need:
                del self._pending[0]
                taken = columns
                lines.append(some)
                need -= len(some)
            else:
                taken = {name: array.slice(0, need) for name, array in columns.items()}
                rest = {name: array.slice(need) for name, array in columns.items()}
                self._pending[0] = (rest, some[need:])
                lines.append(some[:need])
                need = 0
            for name, array in taken.items():
                parts[name].append(array)
        self._pending_rows -= count
        none = pa.nulls(count, pa.string())
        batch = SourceBatch(
            file=self._file,
            first_record=self.fast_records,
            lines=int64_array(np.concatenate(lines) if len(lines) > 1 else lines[0]),
            text={
                name: arrays[0] if len(arrays) == 1 else pa.concat_arrays(arrays)
                for name, arrays in parts.items()
            },
            objects={},
            problem_code=none,
            problem_reason=none,
            problem_column=none,
            problem_value=none,
        )
        self.fast_records += count
        return batch

    @property
    def _delimiter(self) -> int:
        return ord(self._fmt.delimiter)

    @property
    def _quote(self) -> int:
        return ord(self._fmt.quotechar)

    def _parse(self, stretch: _Stretch) -> tuple[pa.Table, int]:
        """The wanted columns of a stretch's records, and its line breaks (run by a worker
        thread: pyarrow, numpy and the UTF-8 check let go of the GIL)."""
        import numpy as np
        import pyarrow as pa
        import pyarrow.csv as pacsv

        data = stretch.raw
        if len(data) > FIELD_SIZE_LIMIT:
            # the csv module refuses a value longer than this (in characters, never more than
            # the bytes): only a stretch longer than it may hold one
            raise _NotProven(f"a record longer than {FIELD_SIZE_LIMIT:,} bytes")
        array = np.frombuffer(data, dtype=np.uint8)
        quotes = np.flatnonzero(_equal(array, self._quote))
        if quotes.size:
            _check_quotes(array, quotes, len(array), stretch.final, self._delimiter)
        breaks, lf, cr = _count_breaks(array, stretch.has_cr)
        if self._codec == "utf-8":
            if not _valid_utf8(data):
                raise _NotProven("bytes that are not valid UTF-8")
        else:
            try:  # a record boundary is a character boundary: the codec is ASCII-compatible
                data = memoryview(bytes(data).decode(self._codec).encode("utf-8"))
            except UnicodeDecodeError:
                raise _NotProven(f"bytes that are not valid {self._codec}") from None
        names = [f"c{i}" for i in range(len(self._rows.columns))]
        include = sorted(set(self._positions.values())) or [0]
        if len(data) == lf + cr:  # nothing but blank lines
            return pa.table({names[i]: pa.array([], pa.string()) for i in include}), breaks
        try:
            table = pacsv.read_csv(
                pa.py_buffer(data),
                read_options=pacsv.ReadOptions(
                    column_names=names, use_threads=False, block_size=max(len(data), 1 << 16) + 1
                ),
                parse_options=pacsv.ParseOptions(
                    delimiter=self._fmt.delimiter,
                    quote_char=self._fmt.quotechar,
                    double_quote=True,
                    escape_char=False,
                    newlines_in_values=True,
                    ignore_empty_lines=True,
                ),
                convert_options=pacsv.ConvertOptions(
                    column_types={names[i]: pa.string() for i in include},
                    include_columns=[names[i] for i in include],
                    null_values=[""],
                    strings_can_be_null=True,
                    quoted_strings_can_be_null=True,
                    check_utf8=False,  # checked above, over every column
                ),
            )
        except pa.ArrowInvalid as exc:
            raise _NotProven(f"pyarrow: {exc}") from None
        return table, breaks


def _valid_utf8(data: bytes | memoryview) -> bool:
    """Arrow's UTF-8 check (the rules of Python's strict decoder: no surrogates, no overlong
    forms), many times faster than decoding."""
    import numpy as np
    import pyarrow as pa

    offsets = pa.py_buffer(np.array([0, len(data)], dtype=np.int64))
    text = pa.Array.from_buffers(pa.large_string(), 1, [None, offsets, pa.py_buffer(data)])
    try:
        text.validate(full=True)
    except pa.ArrowInvalid:
        return False
    return True


def _count_breaks(data: Bytes, has_cr: bool) -> tuple[int, int, int]:
    """Line breaks in ``data`` (whole lines), and its \\n and \\r bytes."""
    import numpy as np

    lf = int(np.count_nonzero(_equal(data, _LF)))
    if not has_cr:
        return lf, lf, 0
    crs = np.flatnonzero(_equal(data, _CR))
    after = crs[crs + 1 < len(data)] + 1
    paired = int(np.count_nonzero(np.take(data, after) == _LF))  # \r\n: one break
    return lf + len(crs) - paired, lf, len(crs)


@dataclass(frozen=True)
class _Stretch:
    """Whole records (and blank lines) of the file, proven to read alike both ways."""

    #: the bytes as in the file
    raw: memoryview
    #: file offset of the first byte, and its physical line (None: right after the previous
    #: stretch's, which the reader knows once it counted that one's line breaks)
    offset: int
    line: int | None
    #: whether it runs to the end of the file, and its last record ends without a line break
    final: bool
    open_end: bool
    has_cr: bool


class _Stretches:
    """The file's records after the header, a stretch (about a block) at a time, each proven
    before it is handed out. ``offset``: where the next stretch starts."""

    def __init__(self, fmt: CsvFormat, raw: BufferedReader, start: int) -> None:
        self._raw = raw
        self._delimiter = ord(fmt.delimiter)
        self._quote = ord(fmt.quotechar)
        self._header = fmt.header
        self._skip = fmt.skip_lines
        self._buf: bytes | bytearray = b""  # the unproven rest; _buf[0] is at offset
        self.offset = start
        self._line: int | None = 1  # line of offset (None: known to the reader, see _Stretch)
        self._eof = False

    def __iter__(self) -> Iterator[_Stretch]:
        while not self._eof:
            buf = self._read()
            if self._skip:
                buf = self._skip_lines(buf)
                if self._skip:
                    self._buf = buf
                    continue
            end = self._boundary(buf)
            stretch = self._stretch(buf, end) if end else None
            self._buf = buf[end:]
            if stretch is not None:
                yield stretch
        if self._buf:
            raise _NotProven("bytes after the last record")  # _boundary reads to the end

    def _read(self) -> bytearray:
        """The unproven rest and the next block, in a new buffer (parsed arrays may keep the
        bytes they were read from, so a buffer is never reused)."""
        rest = len(self._buf)
        buf = bytearray(rest + BLOCK_BYTES)
        buf[:rest] = self._buf
        got = self._raw.readinto(memoryview(buf)[rest:])
        self._eof = not got
        del buf[rest + got :]
        return buf

    def _skip_lines(self, buf: bytearray) -> bytearray:
        import numpy as np

        data = np.frombuffer(buf, dtype=np.uint8)
        breaks, _ = _line_breaks(data, self._eof, b"\r" in buf)
        taken = min(self._skip, len(breaks))
        if not taken:
            if self._eof:
                raise _NotProven("fewer lines than skip_lines")  # the reader said so already
            return buf
        cut = int(breaks[taken - 1]) + 1
        self._skip -= taken
        self.offset += cut
        assert self._line is not None  # lines are counted here until the first stretch
        self._line += taken
        return buf[cut:]

    def _boundary(self, buf: bytearray) -> int:
        """The end of the last complete record of ``buf`` (0: none yet) IF its quotes are
        structural: the line break there has an even number of quotes before it. The worker
        proves the quotes (``_check_quotes``) before the stretch's records are used; a stretch
        is only read after every stretch before it was proven, so it starts at a boundary."""
        import numpy as np

        if buf.find(b"\x00") != -1:
            raise _NotProven("a NUL byte")
        n = len(buf)
        if self._eof:
            return n
        m = n - 1 if n and buf[-1] == _CR else n
        data = np.frombuffer(buf, dtype=np.uint8)
        end, quotes = m, -1
        for _ in range(64):  # the last line break outside quotes, from the end
            last = max(buf.rfind(b"\n", 0, end), buf.rfind(b"\r", 0, end))
            if last < 0:
                return 0
            if quotes < 0:
                quotes = int(np.count_nonzero(_equal(data[:last], self._quote)))
            else:
                quotes -= int(np.count_nonzero(_equal(data[last:end], self._quote)))
            if not quotes & 1:
                return last + 1
            end = last
        # a value holding many line breaks near the end of the block: find them all at once
        return scan_records(data, self._delimiter, self._quote, False, b"\r" in buf).consumed

    def _stretch(self, buf: bytearray, end: int) -> _Stretch | None:
        import numpy as np

        raw = memoryview(buf)[:end]
        data = np.frombuffer(buf, dtype=np.uint8)[:end]
        has_cr = buf.find(b"\r", 0, end) != -1
        if self._header:  # the first record is the header: the reader has read it
            found = scan_records(data, self._delimiter, self._quote, True, has_cr)
            cut = int(found.ends[0]) if len(found.starts) else end
            self._header = not len(found.starts)
            self.offset += cut
            assert self._line is not None
            self._line += _count_breaks(data[:cut], has_cr)[0]
            raw, data = raw[cut:], data[cut:]
            end -= cut
            has_cr = has_cr and bool(np.count_nonzero(data == _CR))
            if not end:
                return None
        stretch = _Stretch(
            raw=raw,
            offset=self.offset,
            line=self._line,
            final=self._eof,
            open_end=self._eof and int(data[-1]) not in (_LF, _CR),
            has_cr=has_cr,
        )
        self.offset += end
        self._line = None
        return stretch
