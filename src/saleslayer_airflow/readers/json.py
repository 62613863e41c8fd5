"""JSON documents (a list of records at a dotted path) and JSON Lines, streamed record by record.

The standard library has no streaming JSON parser, so :class:`_JsonStream` walks the document
with ``JSONDecoder.raw_decode`` over a sliding buffer: memory holds one record at a time.

Nesting: a record (or a value inside it) nested more than :data:`MAX_DEPTH` levels is a reject
with its line, and the rest of the file is read. Python's decoder recurses once per level and
gives up with RecursionError; such a record is measured and skipped by :func:`_scan_nesting`,
which keeps no stack.
"""

from __future__ import annotations

import io
import json
import re
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from decimal import Decimal
from typing import Any, BinaryIO

from saleslayer_airflow.readers.errors import SourceFileError
from saleslayer_airflow.readers.records import BAD_TEXT, RowProblem, SourceRow, show_bad_text

_CHUNK = 1 << 16
#: One record (or one value skipped on the way to the records) may not exceed this.
MAX_RECORD_CHARS = 64 * 1024 * 1024
_WS = re.compile(r"[ \t\r\n]*")
#: Records nested deeper than this are rejected: far more than any real export holds, and far
#: below Python's recursion limit, which later stages (and the decoder itself) rely on.
MAX_DEPTH = 200
#: A string (complete, or cut by the buffer's end: a lone quote) or a bracket.
_NESTING_TOKEN = re.compile(r'"(?:[^"\\]|\\.)*"|"|[\[\]{}]')
_MISSING = object()


def _text(raw: BinaryIO) -> io.TextIOWrapper:
    head = raw.read(3)
    raw.seek(3 if head == b"\xef\xbb\xbf" else 0)
    return io.TextIOWrapper(raw, encoding="utf-8", errors="surrogateescape", newline="")


def _bad_record(text: str) -> RowProblem | None:
    match = BAD_TEXT.search(text)
    if match is None:
        return None
    start = max(match.start() - 30, 0)
    return RowProblem(
        "the record holds bytes that are not valid UTF-8 (JSON is always UTF-8); fix the export",
        value=show_bad_text(text[start : match.end() + 30]),
        code="bad_encoding",
    )


def _scan_nesting(text: str, start: int) -> tuple[int, int | None]:
    """The deepest nesting of the JSON value at ``text[start]``, and the index just past it
    (None: the value does not end within ``text``). Strings are skipped, so brackets inside
    them do not count; the scan keeps only counters, however deep the value."""
    depth = deepest = 0
    for match in _NESTING_TOKEN.finditer(text, start):
        token = match.group()
        if token in "[{":
            depth += 1
            deepest = max(deepest, depth)
        elif token in "]}":
            depth -= 1
            if depth <= 0:
                return deepest, match.end()
        elif token == '"':
            return deepest, None  # a string cut by the end of the text
        elif depth == 0:
            return deepest, match.end()  # the value is a string
    return deepest, None


def _nesting(text: str) -> int:
    """How deep the complete JSON value ``text`` is nested (0 for a scalar); cheap when it
    holds few brackets, as nearly every record does."""
    if text.count("[") + text.count("{") <= MAX_DEPTH:
        return 0
    return _scan_nesting(text, 0)[0]


def json_kind(value: object) -> str:
    """What ``value`` is in JSON's words (a reject is read by someone who wrote JSON, not
    Python): array, string, number, boolean, null, object."""
    if value is None:
        return "null"
    if isinstance(value, bool):
        return "boolean"
    if isinstance(value, int | float | Decimal):
        return "number"
    if isinstance(value, str):
        return "string"
    if isinstance(value, list):
        return "array"
    return "object"


def _too_deep(depth: int, text: str) -> RowProblem:
    return RowProblem(
        f"the record is nested {depth:,} levels deep, more than the {MAX_DEPTH} levels read; "
        "flatten the export (no real catalogue nests this deep)",
        value=text[:200].rstrip("\r\n"),
        code="too_deep",
    )


@dataclass(frozen=True, slots=True)
class _TooDeep:
    """A value skipped because it is nested deeper than :data:`MAX_DEPTH`."""

    depth: int


class _JsonStream:
    """A cursor over JSON text that knows its line number."""

    def __init__(self, text: io.TextIOWrapper, name: str) -> None:
        self._text = text
        self._name = name
        self._buf = ""
        self._pos = 0
        self._eof = False
        self.line = 1
        # Decimals: a JSON number keeps every digit it was written with (a float would not).
        self._decoder = json.JSONDecoder(parse_float=Decimal)

    def _fill(self) -> bool:
        if self._eof:
            return False
        chunk = self._text.read(_CHUNK)
        if not chunk:
            self._eof = True
            return False
        self._buf = self._buf[self._pos :] + chunk
        self._pos = 0
        return True

    def _advance(self, end: int) -> None:
        self.line += self._buf.count("\n", self._pos, end)
        self._pos = end

    def peek(self) -> str:
        """The next non-blank character ('' at the end)."""
        while True:
            self._advance(_WS.match(self._buf, self._pos).end())  # type: ignore[union-attr]
            if self._pos < len(self._buf):
                return self._buf[self._pos]
            if not self._fill():
                return ""

    def expect(self, chars: str, what: str) -> str:
        ch = self.peek()
        if ch == "" or ch not in chars:
            found = repr(ch) if ch else "the end of the file"
            raise SourceFileError(
                self._name, f"invalid JSON: expected {what}, found {found}", line=self.line
            )
        self._advance(self._pos + 1)
        return ch

    def value(self) -> tuple[Any, str]:
        """The next JSON value and its source text; a :class:`_TooDeep` instead of a value
        nested deeper than :data:`MAX_DEPTH` (the stream moves past it all the same)."""
        self.peek()
        while True:
            try:
                obj, end = self._decoder.raw_decode(self._buf, self._pos)
            except RecursionError:
                return self._skip_deep()
            except json.JSONDecodeError as exc:
                if len(self._buf) - self._pos > MAX_RECORD_CHARS:
                    raise SourceFileError(
                        self._name,
                        f"a record is larger than {MAX_RECORD_CHARS:,} characters, or the JSON "
                        f"is broken near here ({exc.msg})",
                        line=self.line,
                    ) from None
                if self._fill():
                    continue
                line = self.line + self._buf.count("\n", self._pos, exc.pos)
                raise SourceFileError(self._name, f"invalid JSON: {exc.msg}", line=line) from None
            if end == len(self._buf) and not self._eof and self._fill():
                continue  # a number may continue in the next chunk
            text = self._buf[self._pos : end]
            self._advance(end)
            depth = _nesting(text)
            return (_TooDeep(depth), text) if depth > MAX_DEPTH else (obj, text)

    def _skip_deep(self) -> tuple[_TooDeep, str]:
        """Move past a value too deep for the decoder, reading on until it ends."""
        while True:
            depth, end = _scan_nesting(self._buf, self._pos)
            if end is not None:
                text = self._buf[self._pos : end]
                self._advance(end)
                return _TooDeep(depth), text
            if len(self._buf) - self._pos > MAX_RECORD_CHARS:
                raise SourceFileError(
                    self._name,
                    f"a record nested {depth:,}+ levels deep is larger than "
                    f"{MAX_RECORD_CHARS:,} characters",
                    line=self.line,
                )
            if not self._fill():
                raise SourceFileError(
                    self._name,
                    f"invalid JSON: a value nested {depth:,}+ levels deep does not end before "
                    "the end of the file",
                    line=self.line,
                )


class JsonReader:
    """Records of a JSON document: the array at ``records_path`` (dotted; '' = the document)."""

    columns: Sequence[str] | None = None

    def __init__(self, raw: BinaryIO, records_path: str, name: str) -> None:
        self.name = name
        self._stream = _JsonStream(_text(raw), name)
        if self._stream.peek() == "":
            raise SourceFileError(name, "the file is empty: no JSON document")
        for key in [k for k in records_path.split(".") if k]:
            self._enter(key, records_path)
        self._stream.expect("[", f"a list of records at records_path {records_path!r}")

    def _enter(self, key: str, path: str) -> None:
        stream = self._stream
        stream.expect("{", f"an object holding {key!r} (records_path {path!r})")
        if stream.peek() == "}":
            raise SourceFileError(
                self.name, f"records_path {path!r}: no key {key!r}", line=stream.line
            )
        while True:
            name, _ = stream.value()
            stream.expect(":", "':'")
            if name == key:
                return
            stream.value()
            if stream.expect(",}", "',' or '}'") == "}":
                raise SourceFileError(
                    self.name, f"records_path {path!r}: no key {key!r}", line=stream.line
                )

    def __iter__(self) -> Iterator[SourceRow]:
        stream = self._stream
        if stream.peek() == "]":
            return
        while True:
            stream.peek()
            line = stream.line
            obj, text = stream.value()
            problem = _bad_record(text)
            if problem is None and isinstance(obj, _TooDeep):
                problem = _too_deep(obj.depth, text)
            if problem is None and not isinstance(obj, dict):
                problem = RowProblem(
                    f"the record is a JSON {json_kind(obj)}, not an object",
                    value=text[:200],
                    code="not_an_object",
                )
            yield SourceRow(line, obj if problem is None else {}, problem)
            if stream.expect(",]", "',' or ']' after a record") == "]":
                return


class JsonLinesReader:
    """One JSON object per line; a bad line is a reject, the next lines are read."""

    columns: Sequence[str] | None = None

    def __init__(
        self, raw: BinaryIO, name: str, *, first_line: int = 1, skip_bom: bool = True
    ) -> None:
        """``first_line``/``skip_bom``: ``raw`` is a stretch of whole lines of a file starting
        at that line (the Arrow reader's blocks), not the file's start."""
        self.name = name
        self._first_line = first_line
        if skip_bom:
            self._text = _text(raw)
        else:
            self._text = io.TextIOWrapper(
                raw, encoding="utf-8", errors="surrogateescape", newline=""
            )

    def __iter__(self) -> Iterator[SourceRow]:
        for line, text in enumerate(self._text, start=self._first_line):
            if not text.strip():
                continue
            problem = _bad_record(text)
            if problem is not None:
                yield SourceRow(line, {}, problem)
                continue
            depth = _nesting(text)
            if depth > MAX_DEPTH:
                yield SourceRow(line, {}, _too_deep(depth, text))
                continue
            try:
                obj = json.loads(text, parse_float=Decimal)
            except RecursionError:  # the stack was already deep when this line came
                depth = max(_scan_nesting(text, 0)[0], MAX_DEPTH + 1)
                yield SourceRow(line, {}, _too_deep(depth, text))
                continue
            except json.JSONDecodeError as exc:
                problem = RowProblem(
                    f"the line is not valid JSON ({exc.msg} at column {exc.colno})",
                    value=text[:200].rstrip("\r\n"),
                    code="bad_json",
                )
                yield SourceRow(line, {}, problem)
                continue
            if not isinstance(obj, dict):
                problem = RowProblem(
                    f"the line is a JSON {json_kind(obj)}, not an object",
                    value=text[:200].rstrip("\r\n"),
                    code="not_an_object",
                )
                yield SourceRow(line, {}, problem)
                continue
            yield SourceRow(line, obj)


def lookup(record: dict[str, Any], path: str) -> Any:
    """A value by dotted path (``fields.parent``); a key holding the dots itself wins."""
    if path in record:
        return record[path]
    value: Any = record
    for key in path.split("."):
        if not isinstance(value, dict) or key not in value:
            return _MISSING
        value = value[key]
    return value


MISSING = _MISSING
