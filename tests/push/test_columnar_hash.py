"""The content hash built on columns (push.columnar) is byte for byte ``content_hash`` of the
fields ``read_items`` gives each row: hashes stored by earlier versions keep matching, so an
upgrade resends nothing. Property-based: random staged tables of every column type the split
writes (and a few it does not), with values of every kind of character."""

from __future__ import annotations

import json
import string
from pathlib import Path
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from saleslayer_airflow.config.tables import TableMapping
from saleslayer_airflow.numbers import FIELD_TYPE_KEY, ExactNumber
from saleslayer_airflow.push.columnar import canonical_texts, content_digests
from saleslayer_airflow.push.items import read_items, staged_layout
from saleslayer_airflow.state.delta import content_hash

#: Characters JSON escapes, and those it must leave alone (ensure_ascii=False).
_SPECIAL = '"\\\x00\x01\x07\x08\t\n\x0b\x0c\r\x1b\x1f\x7f\u0085\u00a0\u2028\u2029\ufeff'
_TEXT = st.one_of(
    # A small alphabet, so that the characters JSON escapes are frequent...
    st.text(alphabet=st.sampled_from(_SPECIAL + "a ,|é中😀"), max_size=8),
    # ... and any character at all.
    st.text(alphabet=st.characters(codec="utf-8"), max_size=8),
)
_NUMBERS = st.one_of(
    st.decimals(allow_nan=False, allow_infinity=False, places=None).map(
        lambda d: format(d.normalize(), "f")
    ),
    st.sampled_from(
        ["0.1", "12.5", "-0.001", "9007199254740993", "12", "1e3", "0.30000000000000004"]
    ),
    st.integers(-(10**30), 10**30).map(str),
)

#: Column kinds: (Arrow type factory name, Sales Layer type, value strategy).
_KINDS: dict[str, tuple[str, str, Any]] = {
    "text": ("string", "string", _TEXT),
    "number": ("string", "number", _NUMBERS),
    "integer": ("int64", "integer", st.integers(-(2**63), 2**63 - 1)),
    "boolean": ("bool", "boolean", st.booleans()),
    "list": ("list", "string", st.lists(st.one_of(_TEXT, st.none()), max_size=4)),
    "float": ("float64", "string", st.floats(allow_nan=False, allow_infinity=False)),
    "list_int": ("list_int", "integer", st.lists(st.integers(-5, 2**63 - 1), max_size=3)),
}
_EMPTIES = st.sampled_from([None, ""])


def _arrow_type(name: str) -> Any:
    import pyarrow as pa

    return {
        "string": pa.string(),
        "int64": pa.int64(),
        "bool": pa.bool_(),
        "list": pa.list_(pa.string()),
        "float64": pa.float64(),
        "list_int": pa.list_(pa.int64()),
    }[name]


@st.composite
def staged_tables(draw: st.DrawFn) -> tuple[list[tuple[str, str]], list[dict[str, Any]]]:
    """Field columns (name, kind) and rows with a value or an empty cell in each."""
    names = draw(
        st.lists(
            st.text(alphabet=string.ascii_letters + '_é"\\ü', min_size=1, max_size=6).filter(
                lambda n: not n.startswith("_") and n != "reference"
            ),
            min_size=0,
            max_size=6,
            unique=True,
        )
    )
    columns = [(name, draw(st.sampled_from(sorted(_KINDS)))) for name in names]
    rows = []
    for number in range(draw(st.integers(1, 8))):
        row: dict[str, Any] = {"reference": f"R{number}"}
        for name, kind in columns:
            empty = st.sampled_from([None, []]) if kind.startswith("list") else _EMPTIES
            if kind in ("integer", "boolean", "float"):
                empty = st.none()
            row[name] = draw(st.one_of(empty, _KINDS[kind][2]))
        rows.append(row)
    return columns, rows


def _write(path: Path, columns: list[tuple[str, str]], rows: list[dict[str, Any]]) -> Path:
    import pyarrow as pa
    import pyarrow.parquet as pq

    schema = pa.schema(
        [pa.field("reference", pa.string()), pa.field("_source_file", pa.string())]
        + [
            pa.field(
                name,
                _arrow_type(_KINDS[kind][0]),
                metadata={FIELD_TYPE_KEY: _KINDS[kind][1].encode()},
            )
            for name, kind in columns
        ]
    )
    full = [{"_source_file": "x.csv"} | row for row in rows]
    pq.write_table(pa.Table.from_pylist(full, schema=schema), path)
    return path


def _table(columns: list[tuple[str, str]]) -> TableMapping:
    return TableMapping.model_validate(
        {"reference": "ref", "fields": {name: {"column": name} for name, _ in columns} or {}}
    )


@settings(
    max_examples=250, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
@given(table=staged_tables())
def test_the_columnar_hash_is_content_hash_of_the_items_sent(
    tmp_path: Path, table: tuple[list[tuple[str, str]], list[dict[str, Any]]]
) -> None:
    import pyarrow.parquet as pq

    columns, rows = table
    path = _write(tmp_path / "t.parquet", columns, rows)
    mapping = _table(columns)
    expected = [content_hash(item.fields) for item in read_items(path, "products", mapping)]
    parquet = pq.ParquetFile(path)
    layout = staged_layout(parquet.schema_arrow, "products", mapping)
    batch = parquet.read()
    assert content_digests(batch, layout) == expected


@pytest.mark.parametrize(
    ("fields", "canonical"),
    [
        ({}, "{}"),
        ({"a": ""}, "{}"),
        ({"b": "x", "a": 1}, '{"a":1,"b":"x"}'),
        ({"a": 'q"\\\n\x01\u2028é'}, '{"a":"q\\"\\\\\\n\\u0001\u2028é"}'),
        ({"p": "0.1"}, '{"p":0.1}'),
        ({"t": ["x", None]}, '{"t":["x",null]}'),
        ({"f": True}, '{"f":true}'),
    ],
)
def test_canonical_json_of_known_rows(
    tmp_path: Path, fields: dict[str, Any], canonical: str
) -> None:
    import pyarrow as pa
    import pyarrow.parquet as pq

    kinds = {str: "text", int: "integer", bool: "boolean", list: "list"}
    columns = [
        (name, "number" if name == "p" else kinds[type(value)]) for name, value in fields.items()
    ]
    path = _write(tmp_path / "t.parquet", columns, [{"reference": "R"} | fields])
    mapping = _table(columns)
    layout = staged_layout(pq.ParquetFile(path).schema_arrow, "products", mapping)
    [text] = canonical_texts(pq.read_table(path), layout)
    assert text == canonical
    [item] = read_items(path, "products", mapping)
    assert content_hash(item.fields) == content_hash(
        {k: ExactNumber(v) if k == "p" else v for k, v in fields.items()}
    )
    assert json.loads(text) == json.loads(canonical)
    assert pa is not None
