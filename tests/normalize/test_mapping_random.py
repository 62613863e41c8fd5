"""Random exports through the mapping layer and the row engine: the same contributions and row
rejects, in the same order, whatever the batch size (Hypothesis)."""

from __future__ import annotations

import csv
import io
import json
import tempfile
from pathlib import Path
from typing import Any

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from saleslayer_airflow.normalize.results import LandedFile
from tests.normalize.mapping_reference import check_mapping
from tests.split.conftest import connector_text

TABLES = """\
tables:
  categories:
    reference: path
    path: {column: path}
    fields:
      label: {column: label, max_length: 4}
  products:
    reference: product
    categories: {column: path}
    where: [{column: kind, equals: [p, b]}]
    links:
      stores: {column: stores, separator: ","}
    fields:
      title: {column: title, required: true}
      price: {column: price, type: number}
      qty: {column: qty, type: integer, default: 0}
      flag: {column: flag, type: boolean}
      day: {column: day, type: date}
      color: {column: color, enum: [red, blue, "1"]}
      tags: {column: tags, separator: "|"}
      cost: {column: cost, type: number, transforms: [{parse_number: comma}]}
      code: {column: code, transforms: [{trim: true}, {case: upper}]}
      origin: {constant: ES}
  variants:
    reference: sku
    product: product
    where: [{column: kind, empty: false}]
    fields:
      size: {column: size, type: integer, enum: ["1", "2"]}
      name: {column: title, languages: [en, es], language_pattern: "{column}_{lang}"}
"""
COLUMNS = [
    "kind", "path", "label", "product", "sku", "stores", "title", "price", "qty", "flag", "day",
    "color", "tags", "cost", "code", "size", "title_en", "title_es",
]  # fmt: skip

_TEXT = st.text(st.characters(exclude_categories=["Cs"]), max_size=6)
REFS = st.one_of(
    st.sampled_from(
        [
            "P1", "P2", "p1", " P1", "P1 ", "\tP1", "P 1", "P\u200b1", "\u00a0P1", "P\u00a01",
            "\u00e9", "e\u0301", "\uff30\uff11", "", "x" * 513, "x" * 512, "P1\nP2", "0", "007",
            "A,B", "P\x00", "\u3164", "P\u2028",
        ]
    ),
    _TEXT,
)  # fmt: skip
NUMBERS = st.sampled_from(
    [
        "1", "1.50", "-0", "+1", "1e3", "1,5", "abc", "007", " 2 ", "1.234,5", "9" * 40, "0.1",
        "-12.5", "1.", ".5", "1 234,5", "12.50", "", "9223372036854775808", "-3", "1.000",
    ]
)  # fmt: skip
BOOLEANS = st.sampled_from(["yes", "No", "TRUE", "maybe", "1", " y ", "", "0", "False"])
DATES = st.sampled_from(["2024-01-31", "2024-02-30", "31/01/2024", "", " 2024-01-01 "])
PATHS = st.sampled_from(
    ["A > B", "A >  > B", " > A", "A", "A > B > C", "\u00e9 > e\u0301", "", "A >", "A > B\u200b",
     "A>B", "  ", "x" * 600]
)  # fmt: skip
LISTS = st.sampled_from(["a|b", "a||b", "a,b|c", "", "|", "a|a", " a | b "])
LINKS = st.sampled_from(["S1,S2", "S1,,S1", " S1 ,S2", "S\u200b1", "", ",", "S1"])


def _mostly(good: list[str], other: st.SearchStrategy[str]) -> st.SearchStrategy[str]:
    """Usually a value that passes (so that later checks of the row are reached too)."""
    usual = st.sampled_from(good)
    return st.one_of(usual, usual, usual, usual, usual, usual, other)


CELLS = {
    "kind": st.sampled_from(["p", "b", "", "v", "P"]),
    "path": _mostly(["A", "A > B", "C > D > E"], PATHS),
    "label": _mostly(["ab", ""], st.one_of(_TEXT, st.sampled_from(["abcde", "\u00e9" * 4]))),
    "product": _mostly(["P1", "P2", "P3"], REFS),
    "sku": _mostly(["S1", "S2", "S3", "S4"], REFS),
    "stores": _mostly(["S1", "S1,S2", ""], LINKS),
    "title": _mostly(["T", "Title"], _TEXT),
    "price": _mostly(["1", "12.5", "", "0.99"], NUMBERS),
    "qty": _mostly(["1", "12", "", "-4"], NUMBERS),
    "flag": _mostly(["yes", "false", ""], BOOLEANS),
    "day": _mostly(["2024-01-31", ""], DATES),
    "color": st.sampled_from(["red", "blue", "Red", "", "1", " red"]),
    "tags": _mostly(["a|b", "c", ""], LISTS),
    "cost": _mostly(["1,5", "1.234,5", ""], NUMBERS),
    "code": st.one_of(_TEXT, st.sampled_from([" ab ", "x", ""])),
    "size": _mostly(["1", "2", ""], NUMBERS),
    "title_en": _TEXT,
    "title_es": _TEXT,
}
ROWS = st.lists(st.fixed_dictionaries(CELLS), max_size=25)
#: JSON values beside the texts: numbers, booleans, null, lists, objects, absent keys
JSON_VALUES = st.one_of(
    st.integers(-(2**64), 2**64),
    st.floats(allow_nan=False, allow_infinity=False),
    st.booleans(),
    st.none(),
    st.lists(st.sampled_from(["a", "b", "S1", " a", ""]), max_size=3),
    st.just({"k": 1}),
)
SETTINGS = settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.too_slow])


def _connector(fmt: str) -> Any:
    return connector_text(
        "id: random_rows\ndescription: random rows\nschedule: null\nstart_date: 2026-01-01\n"
        "source: {kind: http, conn_id: erp_http, endpoint: export}\n"
        f"format: {fmt}\n{TABLES}"
    )


def _compare(config: Any, data: bytes | list[bytes], batch_rows: int) -> None:
    with tempfile.TemporaryDirectory() as folder:
        files = []
        for index, content in enumerate(data if isinstance(data, list) else [data]):
            path = Path(folder) / f"export{index}"
            path.write_bytes(content)
            files.append(LandedFile(path, path.name))
        check_mapping(config, files, (batch_rows, 65_536))


def _csv(rows: list[dict[str, str]]) -> bytes:
    out = io.StringIO()
    writer = csv.writer(out, lineterminator="\n")
    writer.writerow(COLUMNS)
    for row in rows:
        writer.writerow([row[c] for c in COLUMNS])
    return out.getvalue().encode("utf-8")


@SETTINGS
@given(ROWS, st.sampled_from([1, 2, 5]), st.integers(0, 3))
def test_random_csv_rows(rows: list[dict[str, str]], batch_rows: int, cut: int) -> None:
    # cut > 0: the rows in two landed files, the second one starting at row ``cut``
    data = [_csv(rows[:cut]), _csv(rows[cut:])] if cut else _csv(rows)
    _compare(_connector("{type: csv}"), data, batch_rows)


@SETTINGS
@given(
    ROWS,
    st.lists(st.tuples(st.sampled_from(COLUMNS), st.one_of(JSON_VALUES, st.just(...)))),
    st.sampled_from([1, 3]),
)
def test_random_json_lines(
    rows: list[dict[str, Any]], changes: list[tuple[str, Any]], batch_rows: int
) -> None:
    lines = []
    for index, row in enumerate(rows):
        record: dict[str, Any] = dict(row)
        for column, value in changes[index :: max(len(rows), 1)]:
            if value is ...:
                record.pop(column, None)  # an absent key
            else:
                record[column] = value
        lines.append(json.dumps(record))
    _compare(_connector("{type: jsonl}"), "\n".join(lines).encode("utf-8"), batch_rows)
