"""JSON documents (a list of records at a dotted path) and JSON Lines, streamed record by record.

The standard library has no streaming JSON parser, so :class:`_JsonStream` walks the document
with ``JSONDecoder.raw_decode`` over a sliding buffer: memory holds one record at a time.
"""

from __future__ import annotations

import io
import json
import re
from collections.abc import Iterator, Sequence
from typing import Any, BinaryIO

from saleslayer_airflow.readers.errors import SourceFileError
from saleslayer_airflow.readers.records import BAD_TEXT, RowProblem, SourceRow, show_bad_text

_CHUNK = 1 << 16
#: One record (or one value skipped on the way to the records) may not exceed this.
MAX_RECORD_CHARS = 64 * 1024 * 1024
_WS = re.compile(r"[ \t\r\n]*")
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


class _JsonStream:
    """A cursor over JSON text that knows its line number."""

    def __init__(self, text: io.TextIOWrapper, name: str) -> None:
        self._text = text
        self._name = name
        self._buf = ""
        self._pos = 0
        self._eof = False
        self.line = 1
        self._decoder = json.JSONDecoder()

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
        """The next JSON value and its source text."""
        self.peek()
        while True:
            try:
                obj, end = self._decoder.raw_decode(self._buf, self._pos)
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
            return obj, text


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
            if problem is None and not isinstance(obj, dict):
                problem = RowProblem(
                    f"the record is a JSON {type(obj).__name__}, not an object",
                    value=text[:200],
                    code="not_an_object",
                )
            yield SourceRow(line, obj if problem is None else {}, problem)
            if stream.expect(",]", "',' or ']' after a record") == "]":
                return


class JsonLinesReader:
    """One JSON object per line; a bad line is a reject, the next lines are read."""

    columns: Sequence[str] | None = None

    def __init__(self, raw: BinaryIO, name: str) -> None:
        self.name = name
        self._text = _text(raw)

    def __iter__(self) -> Iterator[SourceRow]:
        for line, text in enumerate(self._text, start=1):
            if not text.strip():
                continue
            problem = _bad_record(text)
            if problem is not None:
                yield SourceRow(line, {}, problem)
                continue
            try:
                obj = json.loads(text)
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
                    f"the line is a JSON {type(obj).__name__}, not an object",
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
