"""CSV as batches: the Arrow fast path gives exactly what the csv-module reader gives.

Random delimited texts (quotes, doubled quotes, delimiters and CR/LF/CRLF inside cells, blank
lines, malformed quotes, short and long rows, BOM, non-ASCII, latin-1 bytes, bad bytes, NUL) are
read both ways and compared record by record (``compare.check``), for several batch sizes and
several sizes of the fast path's read blocks (so that the hand-over to the csv-module reader
happens in the middle of a file too). Well-formed files must take the fast path all the way.
"""

from __future__ import annotations

import codecs
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from tempfile import TemporaryDirectory
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from saleslayer_airflow.config.formats import CsvFormat
from saleslayer_airflow.readers import csv_arrow
from saleslayer_airflow.readers.batches import open_batches
from tests.readers.compare import same_as_reference

BATCH_ROWS = (1, 2, 3, 7, 65_536)


@contextmanager
def read_blocks(size: int) -> Iterator[None]:
    """The fast path reads ``size`` bytes at a time (small: many stretches in a small file)."""
    saved = csv_arrow.BLOCK_BYTES
    csv_arrow.BLOCK_BYTES = size
    try:
        yield
    finally:
        csv_arrow.BLOCK_BYTES = saved


@dataclass(frozen=True)
class Export:
    data: bytes
    fmt: CsvFormat
    wanted: tuple[str, ...] | None


def _cell(draw: st.DrawFn, delimiter: str, quote: str) -> str:
    """One cell as written in the file (quoted when it needs to be, or at random)."""
    pieces = st.sampled_from(
        ["x", "Ab", "é", "ñandú", "€", " ", "1.5", delimiter, quote, "\n", "\r", "\r\n", ""]
    )
    value = "".join(draw(st.lists(pieces, max_size=4)))
    special = any(c in value for c in (delimiter, quote, "\n", "\r"))
    if special or draw(st.integers(0, 4)) == 0:
        return quote + value.replace(quote, quote * 2) + quote
    return value


def _damage(draw: st.DrawFn, text: str, quote: str) -> str:
    """A malformed spot: a stray quote, text after a closing quote, an unclosed quote."""
    kind = draw(st.sampled_from(["stray", "after", "unclosed", "space"]))
    at = draw(st.integers(0, len(text)))
    if kind == "stray":
        return text[:at] + quote + text[at:]
    if kind == "after":
        return text[:at] + f"{quote}v{quote}w" + text[at:]
    if kind == "unclosed":
        return text[:at] + quote + "open" + text[at:]
    return text[:at] + f" {quote}s{quote}" + text[at:]


ENDS = st.sampled_from(["\n", "\r\n", "\r"])


def _records(
    draw: st.DrawFn, width: int, delimiter: str, quote: str, well_formed: bool, least: int
) -> list[str]:
    """Data records with their line breaks, blank lines between some."""
    lines: list[str] = []
    for _ in range(draw(st.integers(least, 12))):
        count = width
        if not well_formed and draw(st.integers(0, 6)) == 0:
            count = draw(st.integers(1, width + 2))  # a short or a long record
        row = delimiter.join(_cell(draw, delimiter, quote) for _ in range(count))
        if not row and count == 1 and not well_formed:
            row = quote * 2  # a one-column empty record must be written, not left blank
        if not well_formed and draw(st.integers(0, 8)) == 0:
            row = _damage(draw, row, quote)
        lines.append(row + draw(ENDS))
        if draw(st.integers(0, 5)) == 0:
            lines.append(draw(ENDS))  # a blank line
    return lines


def _encode(draw: st.DrawFn, text: str, well_formed: bool) -> tuple[bytes, str]:
    """The bytes of ``text`` and the declared encoding (a BOM, bad bytes and NUL sometimes)."""
    encoding = draw(st.sampled_from(["utf-8", "utf-8", "latin-1", "cp1252", "auto"]))
    # auto-detection may take a cp1252 text for UTF-8 (then some bytes are bad: not well formed)
    codec = "cp1252" if encoding == "auto" and not well_formed and draw(st.booleans()) else encoding
    codec = "utf-8" if codec == "auto" else codec
    try:
        data = text.encode(codec)
    except UnicodeEncodeError:
        data, codec = text.encode("utf-8"), "utf-8"
        encoding = draw(st.sampled_from(["utf-8", "auto"]))
    if draw(st.booleans()) and codec == "utf-8" and encoding in ("utf-8", "auto"):
        data = codecs.BOM_UTF8 + data
    if not well_formed and data and draw(st.integers(0, 5)) == 0:
        at = draw(st.integers(0, len(data)))
        bad = draw(st.sampled_from([b"\xff", b"\xc3", b"\xed\xa0\x80", b"\x00", b"\x81"]))
        data = data[:at] + bad + data[at:]
    return data, encoding


@st.composite
def exports(draw: st.DrawFn, well_formed: bool = False) -> Export:
    delimiter = draw(st.sampled_from([",", ";", "\t", "|"]))
    quote = draw(st.sampled_from(['"', "'"]))
    header = draw(st.booleans())
    width = draw(st.integers(1, 4))
    names = draw(
        st.lists(
            st.sampled_from(["ref", "name", "qty", "Name", "é"]), min_size=width, max_size=width
        )
    )
    if well_formed:
        names = [f"{n}{i}" if names.index(n) != i else n for i, n in enumerate(names)]
    skip = draw(st.integers(0, 2))
    # (well formed: no empty skipped line, which after a "\r" would make one "\r\n" of two)
    notes = ["# export", 'a "note"', "x;y,z"] + ([] if well_formed else [""])
    lines = [draw(st.sampled_from(notes)) + draw(ENDS) for _ in range(skip)]
    if header:
        lines.append(delimiter.join(names) + draw(ENDS))
    lines += _records(draw, width, delimiter, quote, well_formed, 0 if header else 1)
    text = "".join(lines)
    if draw(st.booleans()):
        text = text.rstrip("\r\n")  # the last record ends without a line break
    data, encoding = _encode(draw, text, well_formed)
    fmt = CsvFormat(
        type="csv",
        delimiter=delimiter,
        quotechar=quote,
        header=header,
        skip_lines=skip,
        encoding=encoding,
    )
    wanted: tuple[str, ...] | None = None
    if header and draw(st.booleans()):
        wanted = tuple(draw(st.lists(st.sampled_from(names), max_size=3)))
    return Export(data, fmt, wanted)


def _compare(export: Export, tmp: Path, block: int) -> list[tuple[Any, int] | None]:
    path = tmp / "export.csv"
    path.write_bytes(export.data)
    readers = []
    with read_blocks(block):
        for batch_rows in BATCH_ROWS:
            readers.append(same_as_reference(path, export.fmt, export.wanted, batch_rows))
    return readers


SETTINGS = settings(max_examples=400, deadline=None, suppress_health_check=[HealthCheck.too_slow])


@SETTINGS
@given(export=exports(), block=st.sampled_from([1, 5, 64, 1 << 20]))
def test_any_export_reads_as_the_csv_module_reads_it(export: Export, block: int) -> None:
    with TemporaryDirectory() as tmp:
        _compare(export, Path(tmp), block)


@SETTINGS
@given(export=exports(well_formed=True), block=st.sampled_from([1, 7, 64, 1 << 20]))
def test_well_formed_exports_take_the_fast_path(export: Export, block: int) -> None:
    with TemporaryDirectory() as tmp:
        readers = _compare(export, Path(tmp), block)
    for outcome in readers:
        if outcome is None:  # refused (no data at all): the same error both ways, checked
            continue
        reader, records = outcome
        assert reader.fallback is None, reader.fallback
        assert reader.fast_records == records


def _write(tmp: Path, data: bytes) -> Path:
    path = tmp / "export.csv"
    path.write_bytes(data)
    return path


@pytest.mark.parametrize(
    ("bad", "why"),
    [
        ('S50,"bad"x,1\n', "a closing quote followed by something other than the delimiter"),
        ("S50,1\n", "Expected 3 columns, got 2"),
        ("S50,\xff,1\n", "not valid UTF-8"),
        ("S50,\x00,1\n", "a NUL byte"),
        ("\n\n", None),  # blank lines: proven all the same (the lines come from a full scan)
    ],
)
def test_a_bad_record_late_in_the_file_hands_over_after_proven_batches(
    tmp_path: Path, bad: str, why: str | None
) -> None:
    good = "".join(f'S{i},"name {i}\nsecond line",{i}\r\n' for i in range(50))
    data = ("ref,name,qty\n" + good).encode() + bad.encode("latin-1") + good.encode()
    path = _write(tmp_path, data)
    with read_blocks(256):
        outcome = same_as_reference(path, CsvFormat(type="csv"), None, 7)
    assert outcome is not None
    reader, records = outcome
    if why is None:
        assert reader.fallback is None and reader.fast_records == records == 100
        return
    assert 0 < reader.fast_records <= 50, "the records before the bad one come from the fast path"
    assert reader.fallback is not None and why in reader.fallback, reader.fallback


@pytest.mark.parametrize(
    ("data", "why"),
    [
        (b"ref,qty\nA,1\nB\nC,3\n", "Expected 2 columns, got 1"),
        (b"ref,qty\nA,1\nB,\xff\n", "not valid UTF-8"),
        (b"ref,qty\nA,1\nB,\x00\n", "NUL"),
        (b'ref,qty\nA,1\nB,"open\n', "never closed"),
        (b'ref,qty\nA,x"y\n', "inside an unquoted value"),
    ],
)
def test_what_the_fast_path_cannot_prove_goes_record_by_record(
    tmp_path: Path, data: bytes, why: str
) -> None:
    outcome = same_as_reference(_write(tmp_path, data), CsvFormat(type="csv"), None, 2)
    assert outcome is not None
    reader = outcome[0]
    assert reader.fallback is not None and why in reader.fallback, reader.fallback


def test_first_position_of_a_doubled_name_and_names_not_in_the_header(tmp_path: Path) -> None:
    path = _write(tmp_path, b"ref,x,x\nA,1,2\nB,3\n")
    reader = open_batches(path, CsvFormat(type="csv"), "e.csv", 0, ["x", "nope", "ref"], 10)
    (batch,) = list(reader)
    assert batch.text["x"].to_pylist() == ["1", "3"]
    assert "nope" not in batch.text and "nope" not in batch.objects
    assert batch.problem_code.to_pylist() == [None, "field_count"]


def test_encodings_that_are_not_ascii_compatible_go_record_by_record(tmp_path: Path) -> None:
    path = _write(tmp_path, "ref,name\nA,Ñandú\n".encode("utf-16"))
    outcome = same_as_reference(path, CsvFormat(type="csv", encoding="auto"), None, 5)
    assert outcome is not None
    reader = outcome[0]
    assert reader.fallback is not None and "utf-16" in reader.fallback


def test_cp1252_undefined_byte_is_a_reject_as_before(tmp_path: Path) -> None:
    path = _write(tmp_path, b"ref,name\nA,caf\xe9\nB,\x81x\n")
    outcome = same_as_reference(path, CsvFormat(type="csv", encoding="cp1252"), None, 5)
    assert outcome is not None
    reader = outcome[0]
    assert reader.fallback == "bytes that are not valid cp1252"


def test_realdata_csv(tmp_path: Path) -> None:
    from tests.conftest import REALDATA

    if not REALDATA.is_dir():
        pytest.skip(f"{REALDATA} not present")
    cases = [
        ("akeneo/categories.csv", CsvFormat(type="csv", delimiter=";", encoding="auto"), True),
        ("akeneo/product_models.csv", CsvFormat(type="csv", delimiter=";"), True),
        ("akeneo/products.csv", CsvFormat(type="csv", delimiter=";"), True),
        (
            "akeneo/product_export_with_non_utf8_characters.csv",
            CsvFormat(type="csv", delimiter=";"),
            False,
        ),
        (
            "prestashop/store_contacts.csv",
            CsvFormat(type="csv", delimiter=";", encoding="auto"),
            None,
        ),
        ("starbucks/directory.csv", CsvFormat(type="csv", encoding="auto"), None),
    ]
    for relative, fmt, fast in cases:
        for batch_rows in (1000, 65_536):
            outcome = same_as_reference(REALDATA / relative, fmt, None, batch_rows)
            assert outcome is not None
            reader = outcome[0]
            if fast is not None:
                assert (reader.fallback is None) == fast, (relative, reader.fallback)


def test_a_value_over_the_field_size_limit_is_the_csv_modules_reject(tmp_path: Path) -> None:
    """The csv module refuses a value longer than its field size limit (cell_too_large); the
    fast path never parses a stretch that could hold one (the limit made small here)."""
    import csv

    from saleslayer_airflow.readers import csv as csv_reader

    good = "".join(f"S{i},name {i}\n" for i in range(40))
    path = _write(tmp_path, ("ref,name\n" + good + "BIG," + "x" * 3000 + "\n" + good).encode())
    saved = (csv_reader.FIELD_SIZE_LIMIT, csv_arrow.FIELD_SIZE_LIMIT, csv.field_size_limit())
    csv_reader.FIELD_SIZE_LIMIT = csv_arrow.FIELD_SIZE_LIMIT = 1000
    csv.field_size_limit(1000)
    try:
        with read_blocks(256):
            outcome = same_as_reference(path, CsvFormat(type="csv"), None, 7)
    finally:
        csv_reader.FIELD_SIZE_LIMIT, csv_arrow.FIELD_SIZE_LIMIT, limit = saved
        csv.field_size_limit(limit)
    assert outcome is not None
    reader, records = outcome
    assert records == 81 and 0 < reader.fast_records <= 40
    assert reader.fallback == "a record longer than 1,000 bytes"
