"""JSON Lines as batches: the Arrow fast path gives exactly what the record reader gives.

Random JSON Lines files (odd numbers written as they come: ``1.50``, ``-0``, ``1E+5``, big
integers, ``NaN``; unicode, escapes and lone surrogates; nested values and lists; timestamps as
text; blank lines of every kind; bad lines: broken JSON, arrays, two objects on a line, invalid
bytes, NUL, duplicate keys, keys hiding behind escapes or holding dots) are read both ways and
compared record by record (``compare.check``), for several batch sizes and block sizes (so that
proven and record-read blocks mix in one batch). Well-formed files must take the fast path all
the way.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from tempfile import TemporaryDirectory
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from saleslayer_airflow.config.formats import JsonLinesFormat
from saleslayer_airflow.readers import jsonl_arrow
from saleslayer_airflow.readers.batches import open_batches
from saleslayer_airflow.readers.json import MISSING
from saleslayer_airflow.readers.jsonl_arrow import JsonLinesBatchReader
from tests.readers.compare import same_as_reference

FMT = JsonLinesFormat(type="jsonl")
BATCH_ROWS = (1, 65_536)
PATHS = ("sku", "price", "stock", "n.c", "n.price", "a.b", "flag", "when", "tags", "absent")


@contextmanager
def read_blocks(size: int) -> Iterator[None]:
    saved = jsonl_arrow.BLOCK_BYTES
    jsonl_arrow.BLOCK_BYTES = size
    try:
        yield
    finally:
        jsonl_arrow.BLOCK_BYTES = saved


@dataclass(frozen=True)
class Lit:
    """A JSON value written exactly as ``text`` (a number as the export wrote it)."""

    text: str


NUMBERS = (
    "0", "-0", "7", "-12", "1.50", "0.1", "2.0", "-0.0", "1e5", "1E+5", "2.5e-3",
    "12345678901234567890", "-9223372036854775809", "9223372036854775807", "1e400", "NaN",
    "Infinity", "123456789.123456789123",
)  # fmt: skip
TEXTS = (
    "", "x", "SKU-1", "ñandú", "€ 5", "😀", "a\"b", "back\\slash", '"price": 1.5', "\u2028",
    "2024-01-01", "2024-01-01T10:00:00", "tab\there", "nul\x00", "line\nbreak", "{[", "n.c",
    "\\u0061",
)  # fmt: skip


def _dump(value: Any) -> str:
    if isinstance(value, Lit):
        return value.text
    if isinstance(value, dict):
        return "{" + ", ".join(f"{json.dumps(k)}: {_dump(v)}" for k, v in value.items()) + "}"
    if isinstance(value, list):
        return "[" + ",".join(_dump(v) for v in value) + "]"
    return json.dumps(value, ensure_ascii=False)


def _scalars(hostile: bool) -> st.SearchStrategy[Any]:
    numbers = NUMBERS if hostile else [n for n in NUMBERS if n not in ("1e400", "NaN", "Infinity")]
    return st.one_of(
        st.sampled_from(TEXTS if hostile else [t for t in TEXTS if "\x00" not in t]),
        st.text(max_size=6),
        st.sampled_from(numbers).map(Lit),
        st.decimals(allow_nan=False, allow_infinity=False, places=3).map(lambda d: Lit(str(d))),
        st.integers(-(2**70), 2**70).map(lambda i: Lit(str(i))),
        st.booleans(),
        st.none(),
    )


def _spoil(draw: st.DrawFn, text: str, record: dict[str, Any]) -> str:
    """Now and then, a line that json.loads and pyarrow may read differently."""
    kind = draw(st.integers(0, 30))
    if kind == 0:
        text = text.replace('"sku"', '"\\u0073ku"')
    elif kind == 1:
        text = text + " " + text  # two objects on a line
    elif kind == 2:
        text = text[: len(text) // 2]  # cut
    elif kind == 3 and record:
        text = text[:-1] + ', "sku": "dup"}'
    elif kind == 4:
        text = draw(st.sampled_from(["[1, 2]", '"text"', "5", "null", "{", "}", "{}}"]))
    elif kind == 5:
        text = text.replace("}", ', "deep": ' + "[" * 210 + "]" * 210 + "}", 1)
    elif kind == 6:
        text = '{"sku": "\\ud800"}'
    elif kind == 7:
        text = '{"sku": "raw\ttab"}'
    elif kind == 8:
        text = '{"a\\"price": 1.5, "price": 1.50}'
    return text


@st.composite
def _record(draw: st.DrawFn, hostile: bool) -> str:
    scalar = _scalars(hostile)
    keys = st.sampled_from(["sku", "price", "stock", "flag", "when", "a", "x", "price "])
    record: dict[str, Any] = draw(st.dictionaries(keys, scalar, max_size=6))
    if draw(st.booleans()):
        inner = st.dictionaries(st.sampled_from(["c", "price", "sku"]), scalar, max_size=3)
        record["n"] = draw(st.one_of(inner, st.none()))
    if hostile and draw(st.integers(0, 5)) == 0:
        record["tags"] = draw(st.lists(scalar, max_size=3))
    if hostile and draw(st.integers(0, 8)) == 0:
        record["a.b"] = draw(scalar)
    if draw(st.integers(0, 4)) == 0:
        record["a"] = draw(st.one_of(st.dictionaries(st.just("b"), scalar), scalar))
    text = _dump(record)
    if hostile:
        text = _spoil(draw, text, record)
    pad = draw(st.sampled_from(["", " ", "\t", "  "])) if draw(st.integers(0, 6)) == 0 else ""
    return pad + text + pad


@st.composite
def jsonl_file(draw: st.DrawFn, hostile: bool) -> bytes:
    lines = draw(
        st.lists(
            st.one_of(
                _record(hostile),
                _record(hostile),
                _record(hostile),
                st.sampled_from(["", "  ", "\t"] + (["\x0c", "\u00a0"] if hostile else [])),
            ),
            max_size=14,
        )
    )
    ends = ["\n", "\r\n", "\r"] if hostile else ["\n", "\r\n"]
    out = ""
    for line in lines:
        out += line + draw(st.sampled_from(ends))
    if out and draw(st.booleans()):
        out = out.rstrip("\r\n")  # a last line without its line break
    data = out.encode("utf-8", "surrogatepass")
    if draw(st.integers(0, 5)) == 0:
        data = b"\xef\xbb\xbf" + data
    if hostile and data and draw(st.integers(0, 6)) == 0:
        at = draw(st.integers(0, len(data) - 1))
        data = data[:at] + draw(st.sampled_from([b"\xff", b"\xc3", b"\x00"])) + data[at:]
    return data


def _wanted() -> st.SearchStrategy[list[str]]:
    return st.lists(st.sampled_from(PATHS), min_size=1, max_size=6)


def _compare(data: bytes, wanted: list[str]) -> list[JsonLinesBatchReader]:
    readers = []
    with TemporaryDirectory() as tmp:
        path = Path(tmp) / "export.jsonl"
        path.write_bytes(data)
        for block in (8, 1 << 20):
            with read_blocks(block):
                for batch_rows in BATCH_ROWS:
                    got = same_as_reference(path, FMT, wanted, batch_rows)
                    assert got is not None
                    assert isinstance(got[0], JsonLinesBatchReader)
                    readers.append(got[0])
    return readers


@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(data=jsonl_file(hostile=True), wanted=_wanted())
def test_hostile_files_read_as_the_record_reader_reads_them(data: bytes, wanted: list[str]) -> None:
    _compare(data, wanted)


@settings(max_examples=100, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(data=jsonl_file(hostile=False), wanted=_wanted())
def test_well_formed_files_take_the_fast_path(data: bytes, wanted: list[str]) -> None:
    for reader in _compare(data, wanted):
        if not reader.fallbacks:
            assert reader.fast_records == reader.records
        # values of two kinds at one path, a float inside an object, an object or list as a
        # value, a nested key named as a top-level float: read record by record; nothing else
        for reason in reader.fallbacks:
            assert any(
                w in reason for w in ("changed from", "holds", "an object at", "told apart")
            ), reason


def _read(tmp_path: Path, text: str, wanted: list[str]) -> JsonLinesBatchReader:
    path = tmp_path / "x.jsonl"
    path.write_bytes(text.encode())
    reader = open_batches(path, FMT, "x.jsonl", 0, wanted)
    assert isinstance(reader, JsonLinesBatchReader)
    list(reader)
    return reader


def test_a_plain_export_is_read_by_pyarrow_exactly(tmp_path: Path) -> None:
    lines = [
        '{"sku": "A", "price": 1.50, "stock": 3, "n": {"c": "x"}, "flag": true}',
        "",
        '{"sku": "B", "price": 2, "stock": null, "n": null, "when": "2024-01-01"}',
        '  {"sku": "", "price": 12345678901234567890, "n": {"c": null}}\t',
    ]
    path = tmp_path / "x.jsonl"
    path.write_text("\r\n".join(lines), encoding="utf-8")
    wanted = ["sku", "price", "stock", "n.c", "flag", "when", "absent"]
    got = same_as_reference(path, FMT, wanted, 65_536)
    assert got is not None
    reader, count = got
    assert count == 3 and reader.fast_records == 3 and not reader.fallbacks
    (batch,) = list(open_batches(path, FMT, "x.jsonl", 0, wanted))
    assert batch.lines.to_pylist() == [1, 3, 4]
    assert [str(v) for v in batch.objects["price"]] == ["1.50", "2", "12345678901234567890"]
    assert batch.present["stock"].to_pylist() == [True, True, False]
    assert batch.present["n.c"].to_pylist() == [True, False, True]
    assert batch.text["when"].to_pylist() == [None, "2024-01-01", None]


@pytest.mark.parametrize(
    ("first", "line", "reason"),
    [
        ('{"a": "ok"}', '{"a": "x"} {"a": "y"}', "several records on one line"),
        ('{"a": "ok"}', '{"a": "1", "a": "2"}', "specified twice"),
        ('{"a": "ok"}', '{"a": "\\ud800"}', "surrogate"),
        ('{"a": 0.5}', '{"a": 1e400}', "Number too big"),
        ('{"a": 0.5}', '{"o": {"a": 1.5}, "a": 2.5}', "cannot be told apart"),
        ('{"a": "ok"}', '{"a": "1"}\n{"a": 1}', "changed from"),
        ('{"a": "ok"}', "[1]", "not an object"),
    ],
)
def test_a_doubtful_block_is_read_record_by_record(
    tmp_path: Path, first: str, line: str, reason: str
) -> None:
    reader = _read(tmp_path, first + "\n" + line + "\n", ["a"])
    assert reader.fast_records == 0
    assert reason in reader.fallbacks[0], reader.fallbacks
    same_as_reference(tmp_path / "x.jsonl", FMT, ["a"], 1)


def test_escaped_keys_are_read_by_json_loads_line_by_line(tmp_path: Path) -> None:
    text = (
        '{"a": 0.5, "b": "x"}\n{"\\u0061": 1.50, "b": "\\u00e9"}\n{"b": null}\n'
        '{"x\\"a": 2.5, "a": 7, "b": "\\"a\\": 3.0"}\n'
    )
    reader = _read(tmp_path, text, ["a", "b"])
    assert reader.fast_records == 4 and not reader.fallbacks
    same_as_reference(tmp_path / "x.jsonl", FMT, ["a", "b"], 2)
    (batch,) = list(open_batches(tmp_path / "x.jsonl", FMT, "x.jsonl", 0, ["a", "b"]))
    assert [v if v is MISSING else str(v) for v in batch.objects["a"]] == [
        "0.5",
        "1.50",
        MISSING,
        "7",
    ]
    assert batch.text["b"].to_pylist() == ["x", "é", None, '"a": 3.0']
    assert batch.present["b"].to_pylist() == [True, True, True, True]
