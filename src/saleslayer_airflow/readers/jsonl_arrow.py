"""JSON Lines as Arrow batches: pyarrow's JSON parser where it provably reads what json.loads reads.

The record reader (:class:`~saleslayer_airflow.readers.json.JsonLinesReader`) is the reference:
one ``json.loads`` per non-blank line, floats as exact :class:`~decimal.Decimal`, a bad line a
problem row. pyarrow's JSON reader is many times faster, but it parses a stream of values, not
lines (two objects on one line are two records to it, one bad line to ``json.loads``), reads
floats as doubles, reads ISO-8601 strings as timestamps, cannot tell an absent key from a null,
and refuses what ``json.loads`` takes (a duplicated key, a lone surrogate escape, ``1e400``). So
the file is cut into blocks of whole lines (about :data:`BLOCK_BYTES`), and a block's records are
taken from pyarrow only once its raw bytes are proven, with vectorised scans, to hold nothing
that can read differently:

- no NUL byte, valid UTF-8; outside strings (quotes counted with their escaping backslashes)
  every non-blank line holds exactly one ``{...}`` whose brackets close on that line, and nothing
  but JSON whitespace around it; no line break inside a string; nesting within :data:`MAX_DEPTH`;
  pyarrow then finds exactly one record per non-blank line, or the block is not proven;
- pyarrow reads only the wanted keys, with an explicit kind each (text, integer, double,
  boolean, object: learned from its complaints, kept from block to block), so other keys may
  hold anything and a timestamp-looking string stays text; a wanted value of two kinds, a list
  or an object as a value, a float inside an object are not proven;
- a string leaf is Arrow text as it is; an integer or boolean leaf becomes Python values; a
  top-level double column takes each value's exact literal from the line's bytes (the one
  match of ``"key": number``, equal to the double; a line where the key may be written with an
  escape is decided by ``json.loads``);
- a null at a path is a JSON null or an absent key: a line that does not hold the key's text is
  absent for sure, any other such line is decided by ``json.loads`` of that line alone.

A block that is not proven is read by the record reader (its lines only, with their line numbers);
batches mix both kinds of blocks, and the result is the same as reading the whole file record by
record.
"""

from __future__ import annotations

import io
import json
import re
from collections import deque
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from decimal import Decimal
from pathlib import Path
from typing import TYPE_CHECKING, Any

from saleslayer_airflow.arrow_arrays import bool_array, int64_array
from saleslayer_airflow.readers.batches import (
    SourceBatch,
    batch_of,
    text_array,
)
from saleslayer_airflow.readers.json import MAX_DEPTH, MISSING, JsonLinesReader, lookup
from saleslayer_airflow.readers.records import RowProblem

if TYPE_CHECKING:
    from concurrent.futures import Future

    import numpy as np
    import numpy.typing as npt
    import pyarrow as pa

    Ints = npt.NDArray[np.int64]
    Bools = npt.NDArray[np.bool_]
    Bytes = npt.NDArray[np.uint8]

#: Bytes read (and proven) at a time; a line longer than this is read whole all the same.
BLOCK_BYTES = 1 << 20
#: blocks parsed at once, by worker threads, while the next one is read
PARSERS = 2
_LF, _CR, _SPACE, _TAB, _QUOTE, _BACKSLASH = 10, 13, 32, 9, 34, 92
_OPEN = (ord("{"), ord("["))
_CLOSE = (ord("}"), ord("]"))
_NUMBER = r"-?(?:0|[1-9][0-9]*)(?:\.[0-9]+)?(?:[eE][+-]?[0-9]+)?"
#: characters a key may be written with other than themselves (an escape), or that end it
_ESCAPABLE = re.compile(r'["\\/\x00-\x1f]')


class _NotProven(Exception):
    """A block cannot be shown to read as ``json.loads`` reads each of its lines."""


@dataclass(frozen=True)
class _Part:
    """Consecutive records of a block, column by column.

    ``columns``: per wanted path an Arrow string array (an empty string kept: the batch decides
    what is null) or the raw Python values (``MISSING`` when absent); ``present``: whether the
    path occurred; ``problems``: None when no record has one.
    """

    lines: Ints
    columns: dict[str, pa.Array | list[Any]]
    present: dict[str, Bools]
    problems: list[RowProblem | None] | None

    def __len__(self) -> int:
        return len(self.lines)

    def slice(self, start: int, stop: int) -> _Part:
        return _Part(
            lines=self.lines[start:stop],
            columns={
                name: (
                    values[start:stop]
                    if isinstance(values, list)
                    else values.slice(start, stop - start)
                )
                for name, values in self.columns.items()
            },
            present={name: flags[start:stop] for name, flags in self.present.items()},
            problems=None if self.problems is None else self.problems[start:stop],
        )


@dataclass(frozen=True)
class _Block:
    raw: bytes
    #: physical line of the block's first byte
    line: int


def _blocks(raw: io.BufferedReader) -> Iterator[_Block]:
    """The file (after a UTF-8 BOM) in blocks of whole lines (``\\r\\n``, ``\\r`` or ``\\n``)."""
    head = raw.read(3)
    rest = b"" if head == b"\xef\xbb\xbf" else head
    line = 1
    while True:
        chunk = raw.read(BLOCK_BYTES)
        data = rest + chunk
        if not chunk:
            if data:
                yield _Block(data, line)
            return
        cut = data.rfind(b"\n") + 1
        if not cut:
            # a lone \r ends a line too, unless it is the last byte (half of a \r\n?)
            cut = data.rfind(b"\r", 0, len(data) - 1) + 1
        if not cut:
            rest = data  # one line longer than a block: read on
            continue
        block, rest = data[:cut], data[cut:]
        yield _Block(block, line)
        line += block.count(b"\n") + block.count(b"\r") - block.count(b"\r\n")


def _valid_utf8(data: bytes) -> bool:
    from saleslayer_airflow.readers.csv_arrow import _valid_utf8

    return _valid_utf8(data)


@dataclass(frozen=True)
class _Shape:
    """Where a proven block's records are: byte offsets of each record's line."""

    #: per record: first byte of its line, byte after its line's end
    line_starts: Ints
    line_ends: Ints
    #: per record: its physical line, counted from the block's first line (0)
    lines: Ints


def _breaks(data: Bytes) -> Ints:
    """Positions of the line breaks' last bytes: ``\n``, and a ``\r`` not followed by one."""
    import numpy as np

    n = len(data)
    breaks = np.flatnonzero(data == _LF)
    crs = np.flatnonzero(data == _CR)
    if crs.size:
        after = np.minimum(crs + 1, n - 1)
        lone = crs[(data[after] != _LF) | (crs + 1 >= n)]
        if lone.size:
            breaks = np.sort(np.concatenate([breaks, lone]))
    return breaks


def _structural_quotes(data: Bytes) -> Ints:
    """The quotes that open or close a string: those not escaped by an odd run of backslashes."""
    import numpy as np

    quotes = np.flatnonzero(data == _QUOTE)
    escaped = quotes[(quotes > 0) & (data[np.maximum(quotes - 1, 0)] == _BACKSLASH)]
    if not escaped.size:
        return quotes
    # the length of each backslash run before an escaped-looking quote: a few steps back
    run = np.ones(len(escaped), dtype=np.int64)
    going = np.ones(len(escaped), dtype=bool)
    while going.any():
        at = escaped - run - 1
        going &= (at >= 0) & (data[np.maximum(at, 0)] == _BACKSLASH)
        run += going
    keep = np.ones(len(quotes), dtype=bool)
    keep[np.searchsorted(quotes, escaped[(run & 1) == 1])] = False
    return quotes[keep]


def _only_blank_between(data: Bytes, starts: Ints, ends: Ints) -> bool:
    """Whether every byte outside the spans ``starts[i]..ends[i]`` is JSON whitespace."""
    import numpy as np

    gap_starts = np.concatenate([[0], ends + 1])
    gap_sizes = np.concatenate([starts, [len(data)]]) - gap_starts
    total = int(gap_sizes.sum())
    if not total:
        return True
    offsets = np.repeat(gap_starts - np.concatenate([[0], np.cumsum(gap_sizes)[:-1]]), gap_sizes)
    gaps = data[offsets + np.arange(total, dtype=np.int64)]
    blank = (gaps == _SPACE) | (gaps == _TAB) | (gaps == _LF) | (gaps == _CR)
    return bool(blank.all())


def _records(data: Bytes, quotes: Ints) -> tuple[Ints, Ints]:
    """The first and last byte of each top-level value (brackets outside strings)."""
    import numpy as np

    opens = np.flatnonzero((data == _OPEN[0]) | (data == _OPEN[1]))
    closes = np.flatnonzero((data == _CLOSE[0]) | (data == _CLOSE[1]))
    if quotes.size:
        opens = opens[(np.searchsorted(quotes, opens) & 1) == 0]
        closes = closes[(np.searchsorted(quotes, closes) & 1) == 0]
    brackets = np.concatenate([opens, closes])
    order = np.argsort(brackets, kind="stable")
    delta = np.concatenate(
        [np.ones(len(opens), dtype=np.int64), np.full(len(closes), -1, dtype=np.int64)]
    )[order]
    brackets = brackets[order]
    depth = np.cumsum(delta)
    if depth.size and (depth.min() < 0 or depth.max() > MAX_DEPTH):
        raise _NotProven("brackets out of balance, or nesting deeper than the levels read")
    starts = brackets[(depth == 1) & (delta == 1)]
    ends = brackets[(depth == 0) & (delta == -1)]
    if len(starts) != len(ends):
        raise _NotProven("a record does not end")
    return starts, ends


def _shape(data: Bytes) -> _Shape:
    """Prove the block's structure (see the module's docstring), else :class:`_NotProven`."""
    import numpy as np

    n = len(data)
    if not n:
        empty = np.zeros(0, dtype=np.int64)
        return _Shape(empty, empty, empty)
    if np.count_nonzero(data == 0):
        raise _NotProven("a NUL byte")
    breaks = _breaks(data)
    quotes = _structural_quotes(data)
    if quotes.size % 2:
        raise _NotProven("a string is never closed")
    if quotes.size and np.count_nonzero(np.searchsorted(quotes, breaks) & 1):
        raise _NotProven("a line break inside a string")
    starts, ends = _records(data, quotes)
    if starts.size and np.count_nonzero(data[starts] != _OPEN[0]):
        raise _NotProven("a line that is not an object")
    if not _only_blank_between(data, starts, ends):
        raise _NotProven("a line holding something besides one object")
    line_of_start = np.searchsorted(breaks, starts)
    if np.count_nonzero(line_of_start != np.searchsorted(breaks, ends)):
        raise _NotProven("a record over several lines")
    if line_of_start.size > 1 and np.count_nonzero(np.diff(line_of_start) == 0):
        raise _NotProven("several records on one line")
    bounds = np.concatenate([[0], breaks + 1])
    ends_of_lines = np.concatenate([breaks + 1, [n]])
    return _Shape(
        bounds[line_of_start], ends_of_lines[line_of_start], line_of_start.astype(np.int64)
    )


#: ``Column(/a/b) changed from string to number``: pyarrow's word for a value of another kind
_CHANGED = re.compile(r"Column\((/[^)]*)\) changed from \w+ to (\w+)")
_KINDS = {"string": "string", "number": "int64", "boolean": "bool", "object": "object"}


def _tree(paths: Sequence[str]) -> dict[str, Any]:
    """The wanted paths as nested keys (a leaf is an empty dict); a dotted path's literal key
    is wanted too (it would win over the nested one)."""
    tree: dict[str, Any] = {}
    for path in paths:
        for keys in ([path], path.split(".")) if "." in path else ([path],):
            node = tree
            for key in keys:
                node = node.setdefault(key, {})
    return tree


def _schema(tree: dict[str, Any], kinds: dict[str, str], prefix: str = "") -> pa.Schema:
    import pyarrow as pa

    def field(key: str, node: dict[str, Any]) -> pa.Field:
        where = f"{prefix}/{key}"
        kind = kinds.get(where, "object" if node else "string")
        if kind == "object":
            if not node:
                raise _NotProven(f"an object at {where.replace('/', '.')[1:]!r}")
            children = _schema(node, kinds, where)
            return pa.field(key, pa.struct(list(children)))
        return pa.field(key, {"string": pa.string(), "int64": pa.int64(), "bool": pa.bool_(),
                              "float64": pa.float64()}[kind])  # fmt: skip

    return pa.schema([field(key, node) for key, node in tree.items()])


def _read(raw: bytes, tree: dict[str, Any], kinds: dict[str, str]) -> pa.Table:
    """The wanted keys of the block's records; every other key is skipped (its value is only
    checked to be JSON). The kind of each wanted value (text, number, boolean, object) is
    learned from pyarrow's complaints, starting from ``kinds`` (what the last block held);
    ``kinds`` is updated. A wanted value of two kinds, or a list, is not proven."""
    import pyarrow as pa
    import pyarrow.json as pj

    tried: dict[str, set[str]] = {}
    for _ in range(4 * len(kinds) + 4 * sum(1 for _ in _walk(tree)) + 2):
        try:
            return pj.read_json(
                pa.BufferReader(raw),
                read_options=pj.ReadOptions(use_threads=False, block_size=len(raw) + 1),
                parse_options=pj.ParseOptions(
                    explicit_schema=_schema(tree, kinds),
                    unexpected_field_behavior="ignore",
                    newlines_in_values=False,
                ),
            )
        except pa.ArrowInvalid as exc:
            message = str(exc)
        changed = _CHANGED.search(message)
        if changed is not None:
            where, kind = changed.group(1), _KINDS.get(changed.group(2))
            if kind is None or kind in tried.setdefault(where, set()):
                raise _NotProven(f"pyarrow: {message}")
        elif "Failed to convert JSON to int64" in message:
            # a number with a fraction (or past int64) in a column read as integers; pyarrow
            # does not say which: the next integer column is read as doubles (their literals)
            where = _int_column(raw, kinds, message)
            kind = "float64"
            if not where:
                raise _NotProven(f"pyarrow: {message}")
        else:
            raise _NotProven(f"pyarrow: {message}")
        tried.setdefault(where, set()).add(kinds.get(where, "string"))
        kinds[where] = kind
    raise _NotProven("the kinds of the wanted values change too often")


def _int_column(raw: bytes, kinds: dict[str, str], message: str) -> str:
    """The integer column whose key the number pyarrow could not read follows (the first
    integer column when none does: a wrong guess only costs another try)."""
    columns = [where for where, kind in kinds.items() if kind == "int64"]
    number = message.rpartition(":")[2].strip().encode()
    for where in columns:
        key = json.dumps(where.rpartition("/")[2], ensure_ascii=False).encode()
        if re.search(re.escape(key) + rb"[ \t]*:[ \t]*" + re.escape(number) + rb"(?![0-9])", raw):
            return where
    return columns[0] if columns else ""


def _walk(tree: dict[str, Any]) -> Iterator[dict[str, Any]]:
    for node in tree.values():
        yield node
        yield from _walk(node)


class _Proven:
    """One proven block's wanted columns (see the module's docstring)."""

    def __init__(self, raw: bytes, shape: _Shape, table: pa.Table) -> None:
        self.raw = raw
        self.shape = shape
        self.table = table
        self._escapes: Bools | None = None
        self._texts: pa.Array | None = None

    @property
    def texts(self) -> pa.Array:
        """Per record, its line as Arrow text (with any blank lines after it: whitespace), for
        Arrow's string kernels."""
        import numpy as np
        import pyarrow as pa

        if self._texts is None:
            shape = self.shape
            offsets = np.concatenate([shape.line_starts, shape.line_ends[-1:]]).astype(np.int64)
            self._texts = pa.Array.from_buffers(
                pa.large_string(),
                len(shape.lines),
                [None, pa.py_buffer(offsets), pa.py_buffer(self.raw)],
            )
        return self._texts

    def rows_with(self, pattern: str) -> Bools:
        """Per record, whether its line holds ``pattern``."""
        import numpy as np
        import pyarrow.compute as pc

        if pattern.encode() not in self.raw:  # a plain byte search: nearly always the answer
            return np.zeros(len(self.shape.lines), dtype=bool)
        found: Bools = pc.match_substring(self.texts, pattern).to_numpy(zero_copy_only=False)
        return found

    @property
    def escapes(self) -> Bools:
        """Per record, whether its line holds a ``\\u`` escape (a key may hide behind one)."""
        if self._escapes is None:
            self._escapes = self.rows_with("\\u")
        return self._escapes

    def line(self, record: int) -> str:
        start, end = int(self.shape.line_starts[record]), int(self.shape.line_ends[record])
        return self.raw[start:end].decode("utf-8")

    def column(self, path: str) -> tuple[pa.Array | list[Any], Bools]:
        """The values at ``path`` and whether the path occurred, per record."""
        import numpy as np
        import pyarrow as pa
        import pyarrow.compute as pc

        count = len(self.shape.lines)
        keys = path.split(".")
        if len(keys) > 1:
            self._no_literal_key(path)
        absent = ([MISSING] * count, np.zeros(count, dtype=bool))
        values: pa.Array = self.table.column(keys[0]).combine_chunks()
        for key in keys[1:]:
            if not pa.types.is_struct(values.type) or values.type.get_field_index(key) < 0:
                return absent
            values = pc.struct_field(values, [key])
        kind = values.type
        nulls = values.is_null().to_numpy(zero_copy_only=False)
        present = ~nulls
        if nulls.any():
            present = self._present(path, keys[-1], nulls, present)
        if pa.types.is_string(kind):
            return values, present
        if pa.types.is_integer(kind) or pa.types.is_boolean(kind) or pa.types.is_null(kind):
            python = values.to_pylist()
        elif pa.types.is_floating(kind) and len(keys) == 1:
            python = self._literals(path, values, nulls)
        elif pa.types.is_struct(kind) and nulls.all():
            python = [None] * count
        else:
            raise _NotProven(f"{path!r} holds {kind} values")
        if nulls.any():
            python = [
                (MISSING if not seen else None) if value is None else value
                for value, seen in zip(python, present.tolist(), strict=True)
            ]
        return python, present

    def _no_literal_key(self, path: str) -> None:
        """A dotted path: no record may hold the key with the dots itself (it would win)."""
        import numpy as np

        literal = self.table.column(path)
        if literal.null_count != len(literal):
            raise _NotProven(f"a key {path!r} holding dots")
        doubt = self.escapes
        if not _ESCAPABLE.search(path):
            doubt = doubt | self.rows_with(f'"{path}"')
        for record in np.flatnonzero(doubt).tolist():
            if path in json.loads(self.line(record), parse_float=Decimal):
                raise _NotProven(f"a key {path!r} holding dots")

    def _present(self, path: str, last: str, nulls: Bools, present: Bools) -> Bools:
        """Whether each null is a JSON null (present) or an absent key: absent for sure when the
        line does not hold the key's text; ``json.loads`` of the line otherwise."""
        import numpy as np

        present = present.copy()
        doubt = nulls.copy()
        if not _ESCAPABLE.search(last):
            doubt &= self.rows_with(f'"{last}"') | self.escapes
        for record in np.flatnonzero(doubt).tolist():
            value = lookup(json.loads(self.line(record), parse_float=Decimal), path)
            if value is not None and value is not MISSING:
                raise _NotProven(f"pyarrow read no value at {path!r} where there is one")
            present[record] = value is None
        return present

    def _literals(self, key: str, values: pa.Array, nulls: Bools) -> list[Any]:
        """A top-level number column read as doubles, as json.loads reads it: each value from
        its literal (the one match of ``"key": number`` in its line, read as the same double by
        Arrow); a line with a ``\\u`` escape (the key may be written with one) by json.loads."""
        import numpy as np
        import pyarrow as pa
        import pyarrow.compute as pc

        if _ESCAPABLE.search(key):
            doubt = np.ones(len(nulls), dtype=bool)
        else:
            # a key's opening quote follows no backslash: inside a string, every quote does
            doubt = self.escapes | self.rows_with(f'\\"{key}"')
        pattern = rf'"\Q{key}\E"[ \t]*:[ \t]*(?P<n>{_NUMBER})'
        texts = self.texts
        matches = pc.count_substring_regex(texts, pattern).to_numpy(zero_copy_only=False)
        if np.count_nonzero((matches != np.where(nulls, 0, 1)) & ~doubt):
            raise _NotProven(f"the numbers at {key!r} cannot be told apart in the lines")
        literals = pc.struct_field(pc.extract_regex(texts, pattern), [0])
        if doubt.any():
            literals = pc.if_else(bool_array(doubt), pa.nulls(1, pa.string())[0], literals)
        same = pc.equal(pc.cast(literals, pa.float64()), values)
        if pc.any(pc.invert(same)).as_py():
            raise _NotProven(f"a number at {key!r} is not the one pyarrow read")
        strings: list[str | None] = literals.to_pylist()
        fractions = pc.match_substring_regex(literals, "[.eE]")
        if not pc.any(fractions).as_py():
            python: list[Any] = [None if t is None else int(t) for t in strings]
        else:
            python = [
                None if t is None else Decimal(t) if f else int(t)
                for t, f in zip(strings, fractions.to_pylist(), strict=True)
            ]
        for record in np.flatnonzero(doubt & ~nulls).tolist():
            value = json.loads(self.line(record), parse_float=Decimal).get(key, MISSING)
            if value is MISSING or isinstance(value, bool) or not isinstance(value, int | Decimal):
                raise _NotProven(f"a number at {key!r} is not the one pyarrow read")
            if float(value) != values[record].as_py():
                raise _NotProven(f"a number at {key!r} is not the one pyarrow read")
            python[record] = value
        return python


def _prove(block: _Block, paths: Sequence[str], kinds: dict[str, str]) -> _Part:
    """The block's records from pyarrow, or :class:`_NotProven` (run by a worker thread).
    ``kinds``: the wanted values' kinds as the last block held them (updated)."""
    import numpy as np

    raw = block.raw
    data = np.frombuffer(raw, dtype=np.uint8)
    shape = _shape(data)
    if not _valid_utf8(raw):
        raise _NotProven("bytes that are not valid UTF-8")
    records = len(shape.lines)
    if not records:
        return _Part(shape.lines, {p: [] for p in paths}, {p: shape.lines > 0 for p in paths}, None)
    learned = dict(kinds)  # the workers share ``kinds``: each learns on a copy
    table = _read(raw, _tree(paths), learned)
    kinds.update(learned)
    if table.num_rows != records:
        raise _NotProven(f"pyarrow read {table.num_rows} records where {records} are")
    proven = _Proven(raw, shape, table)
    columns: dict[str, pa.Array | list[Any]] = {}
    present: dict[str, Bools] = {}
    for path in paths:
        columns[path], present[path] = proven.column(path)
    return _Part(shape.lines + block.line, columns, present, None)


def _record_part(block: _Block, name: str, paths: Sequence[str]) -> _Part:
    """The block read by the record reader, with the file's line numbers."""
    import numpy as np

    reader = JsonLinesReader(io.BytesIO(block.raw), name, first_line=block.line, skip_bom=False)
    rows = list(reader)
    columns: dict[str, pa.Array | list[Any]] = {}
    present: dict[str, Bools] = {}
    for path in paths:
        values = [lookup(r.cells, path) if isinstance(r.cells, dict) else MISSING for r in rows]
        columns[path] = values
        present[path] = np.array([v is not MISSING for v in values], dtype=bool)
    problems = [row.problem for row in rows]
    return _Part(
        np.array([row.line for row in rows], dtype=np.int64),
        columns,
        present,
        problems if any(p is not None for p in problems) else None,
    )


class JsonLinesBatchReader:
    """A JSON Lines landed file as :class:`SourceBatch` objects: pyarrow where proven, the
    record reader for the other blocks (see the module's docstring).

    ``fast_records``: records given by pyarrow; ``fallbacks``: why blocks were read record by
    record (the first few reasons), empty when none was.
    """

    columns: Sequence[str] | None = None

    def __init__(
        self,
        path: Path,
        name: str,
        *,
        file: int,
        wanted: Sequence[str],
        batch_rows: int = 65_536,
    ) -> None:
        if batch_rows < 1:
            raise ValueError(f"batch_rows must be at least 1, not {batch_rows}")
        self.name = name
        self._path = path
        self._file = file
        self._paths = list(dict.fromkeys(wanted))
        self._batch_rows = batch_rows
        self._raw = path.open("rb")
        self.records = 0
        self.fast_records = 0
        self.slow_blocks = 0
        self.fallbacks: list[str] = []
        self._pending: deque[_Part] = deque()
        #: kinds of the wanted values learned from the blocks read (shared with the workers:
        #: a stale entry only costs pyarrow one more try)
        self._kinds: dict[str, str] = {}
        self._pending_rows = 0

    def close(self) -> None:
        self._raw.close()

    def __enter__(self) -> JsonLinesBatchReader:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def __iter__(self) -> Iterator[SourceBatch]:
        from concurrent.futures import ThreadPoolExecutor

        try:
            with ThreadPoolExecutor(PARSERS) as pool:
                queue: deque[tuple[_Block, Future[_Part]]] = deque()
                for block in _blocks(self._raw):
                    job = pool.submit(_prove, block, self._paths, self._kinds)
                    queue.append((block, job))
                    while len(queue) > PARSERS:
                        yield from self._take(*queue.popleft())
                while queue:
                    yield from self._take(*queue.popleft())
            while self._pending_rows:
                yield self._batch(min(self._batch_rows, self._pending_rows))
        finally:
            self.close()

    def _take(self, block: _Block, proven: Future[_Part]) -> Iterator[SourceBatch]:
        try:
            part = proven.result()
            self.fast_records += len(part)
        except _NotProven as exc:
            self.slow_blocks += 1
            if len(self.fallbacks) < 5:
                self.fallbacks.append(f"line {block.line}: {exc}")
            part = _record_part(block, self.name, self._paths)
        if len(part):
            self._pending.append(part)
            self._pending_rows += len(part)
        while self._pending_rows >= self._batch_rows:
            yield self._batch(self._batch_rows)

    def _batch(self, count: int) -> SourceBatch:
        parts: list[_Part] = []
        need = count
        while need:
            part = self._pending[0]
            if len(part) <= need:
                self._pending.popleft()
                parts.append(part)
                need -= len(part)
            else:
                parts.append(part.slice(0, need))
                self._pending[0] = part.slice(need, len(part))
                need = 0
        self._pending_rows -= count
        batch = _assemble(parts, self._paths, file=self._file, first_record=self.records)
        self.records += count
        return batch


def _assemble(
    parts: list[_Part], paths: Sequence[str], *, file: int, first_record: int
) -> SourceBatch:
    """One batch of ``parts``: per path Arrow text when every value is text Arrow can hold, the
    raw values otherwise (the rule of ``batches.rows_to_batch``)."""
    import numpy as np
    import pyarrow as pa
    import pyarrow.compute as pc

    text: dict[str, pa.Array] = {}
    objects: dict[str, list[Any]] = {}
    present: dict[str, pa.Array] = {}
    for path in paths:
        pieces = [p.columns[path] for p in parts]
        flags = np.concatenate([p.present[path] for p in parts])
        present[path] = bool_array(flags)
        array: pa.Array | None
        if all(isinstance(piece, pa.Array) for piece in pieces):
            joined = pieces[0] if len(pieces) == 1 else pa.concat_arrays(pieces)
            array = pc.if_else(pc.equal(joined, ""), pa.scalar(None, pa.string()), joined)
        else:
            values: list[Any] = []
            for part, piece in zip(parts, pieces, strict=True):
                if isinstance(piece, list):
                    values += piece
                    continue
                seen = part.present[path].tolist()
                values += [
                    v if v is not None else (None if s else MISSING)
                    for v, s in zip(piece.to_pylist(), seen, strict=True)
                ]
            array = text_array(values)
            if array is None:
                objects[path] = values
                continue
        text[path] = array
    problems: list[RowProblem | None] = []
    if any(p.problems is not None for p in parts):
        for part in parts:
            problems += part.problems if part.problems is not None else [None] * len(part)
    return batch_of(
        file=file,
        first_record=first_record,
        lines=int64_array(np.concatenate([p.lines for p in parts])),
        text=text,
        objects=objects,
        problems=problems,
        present=present,
    )
