"""The columnar engine against the small reference split (tests/reference/reference.py), on
random exports of one connector shape: repeated and conflicting rows, blank cells, missing,
look-alike and cyclic parents, multi-line and quoted cells, non-ASCII text in UTF-8 (with and
without a byte-order mark) or Latin-1, declared or detected. The engine runs with random chunk,
batch, part, range and read-block sizes: whatever they are, its tables, rejects and counts are
the reference's."""

from __future__ import annotations

import csv
import dataclasses
import io
import tempfile
from collections.abc import Collection, Sequence
from functools import partial
from pathlib import Path
from unittest import mock

import pyarrow.parquet as pq
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from saleslayer_airflow.config.load import parse_connector
from saleslayer_airflow.normalize import engine
from saleslayer_airflow.normalize.items import Items
from saleslayer_airflow.readers import csv_arrow
from tests.reference import reference
from tests.reference.reference import COLUMNS, Outcome

#: Values of each column: plain ones, and odd ones (see `changed` below) chosen so
#: that rows collide: the same reference in other cases, padded, fullwidth, decomposed (e +
#: U+0301), with a tab, a no-break or a zero-width space inside; parents and links to nothing
#: (Z), to a reference imported before (C9, P9) or to a look-alike; values that are not numbers,
#: booleans, allowed or short enough; multi-line, quoted and formula-like cells.
PLAIN: dict[str, list[str]] = {
    "kind": ["F", "F", "C", "P", "V"],
    "cat": ["C1", "C2", "C3", "C4"],
    "parent": ["", "", "", "C3"],
    "cat_title": [
        "",
        "Shoes",
        "shoes",
        "two\nlines",
        "cr\ronly",
        "cr\r\nlf",
        'say "hi"',
        "a;b,c",
        "\u00f1and\u00fa",
    ],
    "ref": ["P1", "P2", "P3", "P4"],
    "cats": ["", "", "C1", "C1|C2", "C2| C1 |C2"],
    "title": ["Tee", "Shirt", "Tee\nXL", 'a "b"', "\u00fc", "  ", "=1+1", "-5"],
    "price": ["", "1.50", "2", "1.5", "+1.5", "15e-1", "-0", "0.0", " 3 ", ".5", "5."],
    "active": ["", "yes", "0", "Y", "false", "TRUE", " no "],
    "color": ["", "red", "blue"],
    "sku": ["S1", "S2", "S3", "S4", "S5", "S6"],
    "size": ["", "M", "XL", "\u00e9"],
    "stock": ["", "1", "2", "2.0", "-3", "1e2"],
}
ODD: dict[str, list[str]] = {
    "kind": ["", "X", "f", " F"],
    "cat": ["c1", " C1 ", "\uff231", "C\t1", "", "  ", "C\u00e9", "Ce\u0301", "C\u00a02"],
    "parent": ["c1", "c1", "C1", "C2", "C9", "Z", "C\u00e9", "\uff231", " C2", "C4", "C\u200b3"],
    "cat_title": ["=1+1", "-5"],
    "ref": ["p1", "P9", "", "P\u00e9", "Pe\u0301", "P\u00a01", "\uff301", " P2"],
    "cats": ["C3", "C9", "c1", "C1||", "|", "C\t1", "\uff231|C3", "Z", "Ce\u0301"],
    "title": ["", "too long a title"],
    "price": ["x", "1,5", "\uff11", "0x1"],
    "active": ["maybe", "2"],
    "color": ["Red", "green", " red"],
    "sku": ["s1", "", "S1 ", "S\t2", "S" * 513],
    "size": ["XXXL", "XXXXL"],
    "stock": ["2.5", "x"],
}
#: Columns drawn afresh on every row; the others mostly repeat one of a few base rows, as a flat
#: export repeats a product on each of its SKU rows.
OWN = ("kind", "sku", "parent")
#: (declared encoding, bytes written in, byte-order mark)
ENCODINGS = [
    ("utf-8", "utf-8", False),
    ("utf-8", "utf-8", True),
    ("latin-1", "latin-1", False),
    ("auto", "utf-8", False),
    ("auto", "utf-8", True),
    ("auto", "latin-1", False),
]
POLICY = st.sampled_from([None, None, "merge", "first", "reject"])


def _fits(value: str, written: str) -> bool:
    if written == "utf-8":
        return True
    # Latin-1 without the no-break space (0xA0): its bytes could then pass for UTF-8 under
    # `auto`, and which text the file holds would be a guess.
    return all(ord(c) < 0x80 or (0xC0 <= ord(c) <= 0xFF) for c in value)


@dataclasses.dataclass(frozen=True)
class Export:
    data: bytes
    encoding: str
    delimiter: str
    policies: dict[str, str | None]
    known: dict[str, set[str]]


def values_of(column: str, written: str, odd: bool) -> st.SearchStrategy[str]:
    return st.sampled_from([v for v in ODD[column] if _fits(v, written)] if odd else PLAIN[column])


@st.composite
def exports(draw: st.DrawFn, max_rows: int = 30) -> Export:
    declared, written, bom = draw(st.sampled_from(ENCODINGS))
    bases = draw(
        st.lists(
            st.tuples(*(values_of(c, written, False) for c in COLUMNS)), min_size=1, max_size=4
        )
    )
    # A few odd cells (or other plain ones) on some rows: most rows are well formed.
    changed = st.tuples(st.sampled_from(range(len(COLUMNS))), st.booleans()).flatmap(
        lambda pick: st.tuples(st.just(pick[0]), values_of(COLUMNS[pick[0]], written, pick[1]))
    )
    rows = []
    for _ in range(draw(st.integers(0, max_rows))):
        row = list(draw(st.sampled_from(bases)))
        for column in OWN:
            row[COLUMNS.index(column)] = draw(values_of(column, written, False))
        for index, value in draw(st.lists(changed, max_size=3)):
            row[index] = value
        rows.append((row, draw(st.integers(0, 4)) == 0))
    # A parent cycle of several categories (longer than the eight a reason shows, sometimes),
    # and a product in one of them, anywhere among the rows.
    ring = draw(st.sampled_from([0, 0, 0, 2, 3, 9]))
    for n in range(ring):
        row = ["C", f"R{n}", f"R{(n + 1) % ring}"] + [""] * (len(COLUMNS) - 3)
        rows.insert(draw(st.integers(0, len(rows))), (row, False))
    if ring:
        row = ["P", "", "", "", "P4", "R1", "Tee"] + [""] * (len(COLUMNS) - 7)
        rows.insert(draw(st.integers(0, len(rows))), (row, False))
    delimiter = draw(st.sampled_from([",", ";", "\t", "|"]))
    end = draw(st.sampled_from(["\n", "\r\n"]))
    quote_all = draw(st.booleans())

    def record(cells: Sequence[str]) -> str:
        # With "\r\n" as its terminator the writer quotes every cell holding either character
        # (with "\n" it leaves a lone "\r" unquoted: a line break in the middle of a record).
        out = io.StringIO()
        if quote_all:
            writer = csv.writer(
                out, delimiter=delimiter, lineterminator="\r\n", quoting=csv.QUOTE_ALL
            )
        else:
            writer = csv.writer(out, delimiter=delimiter, lineterminator="\r\n")
        writer.writerow(cells)
        return out.getvalue().removesuffix("\r\n") + end

    text = record(COLUMNS)
    for cells, blank_before in rows:
        # a blank line: read past, still counted in the line numbers
        text += (end if blank_before else "") + record(cells)
    if draw(st.booleans()):
        text = text.rstrip("\r\n")  # no line break after the last record
    data = ("\ufeff" if bom else "").encode() + text.encode(written)
    policies = {t: draw(POLICY) for t in ("categories", "products", "variants")}
    known = {
        "categories": {"C9"} if draw(st.booleans()) else set(),
        "products": {"P9"} if draw(st.booleans()) else set(),
    }
    return Export(data, declared, delimiter, policies, known)


@dataclasses.dataclass(frozen=True)
class Sizes:
    chunk_rows: int
    batch_rows: int
    part_bytes: int
    range_span: int
    block_bytes: int


SIZES = st.builds(
    Sizes,
    chunk_rows=st.sampled_from([1, 3, 5_000]),
    batch_rows=st.sampled_from([1, 2, 7, 65_536]),
    part_bytes=st.sampled_from([64, 300, engine.PART_BYTES]),
    range_span=st.sampled_from([1, 4, 65_536]),
    block_bytes=st.sampled_from([16, 100, csv_arrow.BLOCK_BYTES]),
)


def run_engine(export: Export, sizes: Sizes, work: Path) -> Outcome:
    """The engine's split of ``export`` with ``sizes``, read back as the reference gives it."""
    config = parse_connector(
        reference.connector_yaml(export.policies, export.delimiter, export.encoding), "ref.yaml"
    )
    path = work / "export.csv"
    path.write_bytes(export.data)

    def known_refs(table: str, refs: Sequence[str]) -> Collection[str]:
        assert len(refs) <= 1000
        return [r for r in refs if r in export.known.get(table, ())]

    with (
        mock.patch.object(engine, "PART_BYTES", sizes.part_bytes),
        mock.patch.object(engine, "Items", partial(Items, range_span=sizes.range_span)),
        mock.patch.object(csv_arrow, "BLOCK_BYTES", sizes.block_bytes),
    ):
        result = engine.split_export(
            config,
            [engine.LandedFile(path, "export.csv")],
            work / "run",
            known_refs=known_refs,
            chunk_rows=sizes.chunk_rows,
            batch_rows=sizes.batch_rows,
        )
    with result.rejects_path.open(encoding="utf-8", newline="") as handle:
        rejects = list(csv.DictReader(handle))
    return Outcome(
        tables={key: pq.read_table(p).to_pylist() for key, p in result.paths.items()},
        rejects=rejects,
        counts={key: dataclasses.asdict(c) for key, c in result.tables.items()},
        rows_read=result.rows_read,
        rows_unused=result.rows_unused,
        rows_rejected=result.rows_rejected,
    )


def assert_same(got: Outcome, want: Outcome) -> None:
    """Field by field, so that a failure names what differs first."""
    for table, c in want.counts.items():  # the balance, kept by the reference as well
        assert c["rows_in"] == c["rows_out"] + c["merged"] + c["rejected"], table
    assert got.rejects == want.rejects
    for table, rows in want.tables.items():
        assert got.tables[table] == rows, table
    assert got.counts == want.counts
    assert (got.rows_read, got.rows_unused, got.rows_rejected) == (
        want.rows_read,
        want.rows_unused,
        want.rows_rejected,
    )


def check(export: Export, sizes: Sizes) -> Outcome:
    want = reference.split(
        export.data,
        "export.csv",
        encoding=export.encoding,
        delimiter=export.delimiter,
        policies=export.policies,
        known=export.known,
    )
    with tempfile.TemporaryDirectory() as scratch:
        got = run_engine(export, sizes, Path(scratch))
    assert_same(got, want)
    return want


@settings(
    max_examples=120,
    deadline=None,
    derandomize=True,
    database=None,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large],
)
@given(export=exports(), sizes=SIZES)
def test_the_engine_gives_the_reference_split(export: Export, sizes: Sizes) -> None:
    check(export, sizes)
