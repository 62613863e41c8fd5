"""The items of a staged file, encoded on columns for the Import Connector (push.encoded), give
byte for byte the calls the per-item path (``encode_item`` of each item's fields) gives, and the
same state: pushed both ways on hostile values, the bodies posted, the counts and the store's
rows (hash, content read back) are compared.

Lone surrogates are not generated: a staged (Arrow, UTF-8) file cannot hold one.
"""

from __future__ import annotations

import json
import tempfile
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import httpx
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from saleslayer_airflow.config.tables import TableMapping
from saleslayer_airflow.numbers import FIELD_TYPE_KEY
from saleslayer_airflow.push.encoded import PLACEHOLDER, FormEncoding, encode_rows, urlencoded
from saleslayer_airflow.push.items import StagedItems, StagedLayout
from saleslayer_airflow.push.pipeline import PushInterrupted, PushOptions, push_table
from saleslayer_airflow.push.transports import ConnectorApiTransport
from saleslayer_airflow.saleslayer import ConnectorApiClient, ConnectorApiOptions
from saleslayer_airflow.saleslayer.batching import BatchLimits
from saleslayer_airflow.saleslayer.connector_api import _urlencode, encode_item
from saleslayer_airflow.saleslayer.credentials import ConnectorCredentials
from saleslayer_airflow.state import StateStore

TABLE = "variants"
REF = "frmt_ref"
DAY = datetime(2026, 12, 1, tzinfo=UTC)
#: Text a hostile export may hold: every kind of character the form and JSON escape.
HOSTILE = st.text(
    alphabet=st.one_of(
        st.sampled_from(list("&=+%[]{}, \"\\'~*#?/\x00\x01\n\t\x7f")),
        st.sampled_from(["é", "ñ", "ß", "€", "中", "😀", "\u2028", "\ufeff", "\U0010ffff"]),
        st.characters(exclude_categories=["Cs"]),
    ),
    max_size=12,
)
NUMBERS = st.one_of(
    st.decimals(allow_nan=False, allow_infinity=False, places=None).map(str),
    st.sampled_from(["0", "-0", "007", "12.50", "12.00", "-0.50", "5.", "1E+5", "0.0001"]),
    st.integers(min_value=-(10**30), max_value=10**30).map(str),
)
#: Kinds of staged column: (Arrow type, Sales Layer type, values).
KINDS: dict[str, tuple[str, st.SearchStrategy[Any]]] = {
    "string": ("string", st.one_of(st.none(), st.just(""), HOSTILE)),
    "number": ("number", st.one_of(st.none(), st.just(""), NUMBERS)),
    "integer": ("integer", st.one_of(st.none(), st.integers(-(2**63), 2**63 - 1))),
    "boolean": ("boolean", st.one_of(st.none(), st.booleans())),
    "list": ("string", st.one_of(st.none(), st.lists(st.one_of(st.none(), HOSTILE), max_size=3))),
    "ints": ("integer", st.one_of(st.none(), st.lists(st.integers(-5, 10**12), max_size=3))),
    "float": ("number", st.one_of(st.none(), st.floats(allow_nan=False, allow_infinity=False))),
}
NAMES = st.one_of(
    st.from_regex(r"[a-z][a-z0-9_]{0,6}", fullmatch=True),
    st.sampled_from(["prod name", "título", "a+b", "x.y-z", "n~1", "f[1]", "bad]"]),
)


def _arrow_type(kind: str) -> Any:
    import pyarrow as pa

    return {
        "string": pa.string(),
        "number": pa.string(),
        "integer": pa.int64(),
        "boolean": pa.bool_(),
        "list": pa.list_(pa.string()),
        "ints": pa.list_(pa.int64()),
        "float": pa.float64(),
    }[kind]


@st.composite
def staged(
    draw: st.DrawFn,
) -> tuple[list[tuple[str, str]], StagedLayout, list[list[dict[str, Any]]]]:
    """Columns (name, kind), a layout, and two exports (the second updates the first)."""
    names = draw(st.lists(NAMES, min_size=1, max_size=5, unique=True))
    # No float column most of the time: it sends a whole batch the per-item way.
    kinds = st.sampled_from([k for k in KINDS if k != "float"])
    columns = [
        (name, draw(kinds if draw(st.integers(0, 9)) else st.just("float"))) for name in names
    ]
    cleared = draw(st.lists(st.sampled_from(names), unique=True))
    levels = draw(st.lists(st.sampled_from(names), unique=True, max_size=2))
    layout = StagedLayout(
        names={name: name for name in names},
        clear={
            name: [] if kind in ("list", "ints") else ""
            for name, kind in columns
            if name in cleared
        },
        numbers=frozenset(name for name, kind in columns if kind == "number"),
        levels=frozenset(levels),
    )
    size = draw(st.integers(1, 12))
    exports = []
    for _ in range(2):
        rows = [
            {"reference": f"R{i}", **{name: draw(KINDS[kind][1]) for name, kind in columns}}
            for i in range(size)
        ]
        exports.append(rows)
    return columns, layout, exports


class _Staged(StagedItems):
    """A staged file read with a given layout (the test draws layouts a mapping rarely gives)."""

    def __init__(self, path: Path, layout: StagedLayout) -> None:
        super().__init__(path, TABLE, TableMapping.model_validate({"reference": "r", "fields": {}}))
        self._layout = layout

    def layout(self, schema: Any) -> StagedLayout:
        return self._layout


def _write(path: Path, columns: list[tuple[str, str]], rows: list[dict[str, Any]]) -> Path:
    import pyarrow as pa
    import pyarrow.parquet as pq

    schema = pa.schema(
        [pa.field("reference", pa.string()), pa.field("_line", pa.int64())]
        + [
            pa.field(name, _arrow_type(kind), metadata={FIELD_TYPE_KEY: KINDS[kind][0].encode()})
            for name, kind in columns
        ]
    )
    data = [{**row, "_line": n} for n, row in enumerate(rows)]
    pq.write_table(pa.Table.from_pylist(data, schema=schema), path, row_group_size=5)
    return path


def _client(bodies: list[bytes], max_bytes: int) -> ConnectorApiClient:
    def answer(request: httpx.Request) -> httpx.Response:
        bodies.append(request.content)
        count = request.content.count(f"%5D%5B{REF}%5D=".encode())
        response = {"input_response": {"result": 1, "new_items": {TABLE: count}}, "error": 0}
        return httpx.Response(200, json=response)

    limits = BatchLimits(max_items=4, max_bytes=max_bytes)
    return ConnectorApiClient(
        ConnectorCredentials("http://sl.invalid/", "CN0000", "secret"),
        options=ConnectorApiOptions(limits=limits),
        transport=httpx.MockTransport(answer),
    )


def _push(
    source: Any, store: StateStore, run: str, max_bytes: int
) -> tuple[list[bytes], dict[str, Any], str | None]:
    """Push ``source`` (a staged file, or its items one by one); the bodies posted, the counts,
    and the error that stopped the push (None)."""
    bodies: list[bytes] = []
    with _client(bodies, max_bytes) as client:
        transport = ConnectorApiTransport(client, TABLE, REF)
        options = PushOptions("c", TABLE, run, DAY, batch_size=6)
        try:
            counts = push_table(source, store, options, transport, split=transport.split)
        except PushInterrupted as stopped:
            return bodies, stopped.counts.as_dict(), str(stopped.cause)
    return bodies, counts.as_dict(), None


def _state(store: StateStore) -> dict[str, tuple[str, Any]]:
    import sqlalchemy as sa

    with store.engine.connect() as connection:
        rows = connection.execute(sa.text("SELECT reference, content_hash, content FROM slc_items"))
        return {ref: (digest, json.loads(content)) for ref, digest, content in rows}


def _rows_of(staged: StagedItems) -> Iterator[Any]:
    yield from staged  # a plain iterator: push_table takes the per-item path


@pytest.mark.filterwarnings("ignore::pytest.PytestUnraisableExceptionWarning")
@settings(
    max_examples=120,
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)
@given(data=staged(), max_bytes=st.sampled_from([1024, 1400, 64 << 10]))
def test_columns_send_and_record_what_the_items_would(
    tmp_path: Path,
    data: tuple[list[tuple[str, str]], StagedLayout, list[list[dict[str, Any]]]],
    max_bytes: int,
) -> None:
    columns, layout, exports = data
    folder = Path(tempfile.mkdtemp(dir=tmp_path))
    by_items = StateStore.open(f"sqlite:///{folder}/items.sqlite")
    by_columns = StateStore.open(f"sqlite:///{folder}/columns.sqlite")
    for number, rows in enumerate(exports):
        staged = _Staged(_write(folder / f"{number}.parquet", columns, rows), layout)
        expected = _push(_rows_of(staged), by_items, f"run{number}", max_bytes)
        got = _push(staged, by_columns, f"run{number}", max_bytes)
        assert got[0] == expected[0]  # every call's body, byte for byte
        assert got[1:] == expected[1:]  # counts (cleared included) and the error
        assert _state(by_columns) == _state(by_items)
    by_items.close()
    by_columns.close()


@settings(max_examples=300, deadline=None)
@given(values=st.lists(st.one_of(st.none(), HOSTILE), min_size=1, max_size=20))
def test_urlencoded_is_php_urlencode(values: list[str | None]) -> None:
    import pyarrow as pa

    array = pa.array(values, pa.string())
    expected = [None if value is None else _urlencode(value) for value in values]
    assert urlencoded(array).to_pylist() == expected
    assert urlencoded(array.slice(1)).to_pylist() == expected[1:]


def test_fragments_hold_the_placeholder_once_per_field() -> None:
    import pyarrow as pa

    batch = pa.record_batch(
        {"reference": ["A 1", "B"], "name": ["x y", ""], "tags": [["a", "b"], []]},
        schema=pa.schema(
            [("reference", pa.string()), ("name", pa.string()), ("tags", pa.list_(pa.string()))]
        ),
    )
    layout = StagedLayout({"name": "name", "tags": "tags"}, {"tags": []}, frozenset(), frozenset())
    encoded = encode_rows(batch, layout, FormEncoding(TABLE, REF))
    assert encoded is not None
    first, second = encoded.fragments
    assert first is not None and second is not None
    assert first.count(PLACEHOLDER) == 3 and second.count(PLACEHOLDER) == 2  # name left out
    assert first.replace(PLACEHOLDER, "12") == encode_item(
        "input_data", TABLE, 12, {REF: "A 1", "name": "x y", "tags": ["a", "b"]}
    )
    assert json.loads(encoded.contents[1] or "") == {"tags": []}
    assert list(encoded.lengths) == [len(first), len(second)]


@settings(max_examples=200, deadline=None)
@given(
    parts=st.lists(st.tuples(st.integers(1, 300), st.integers(0, 4)), min_size=1, max_size=40),
    max_items=st.integers(1, 12),
    max_bytes=st.integers(1024, 3000),
    overhead=st.sampled_from([0, 22]),
)
def test_split_by_sizes_cuts_where_split_batches_does(
    parts: list[tuple[int, int]], max_items: int, max_bytes: int, overhead: int
) -> None:
    import numpy as np

    from saleslayer_airflow.exceptions import SalesLayerTerminalError
    from saleslayer_airflow.saleslayer.batching import split_batches, split_by_sizes

    # An item: ``length`` characters, ``holes`` of them its index in its call.
    def encode(index: int, item: tuple[int, int]) -> str:
        length, holes = item
        return str(index) * holes + "x" * (length - holes)

    limits = BatchLimits(max_items=max_items, max_bytes=max_bytes)
    items = [(max(length, holes), holes) for length, holes in parts]
    try:
        expected: Any = [
            len(batch.items)
            for batch in split_batches(
                items, limits, encode, describe=lambda item: "it", overhead=overhead
            )
        ]
    except SalesLayerTerminalError as error:
        expected = str(error)
    lengths = np.array([length for length, _ in items], dtype=np.int64)
    holes = np.array([h for _, h in items], dtype=np.int64)
    try:
        got: Any = [
            stop - start
            for start, stop in split_by_sizes(
                lengths, holes, limits, describe=lambda index: "it", overhead=overhead
            )
        ]
    except SalesLayerTerminalError as error:
        got = str(error)
    assert got == expected


def test_an_item_over_the_cap_fails_its_table_as_before(tmp_path: Path) -> None:
    columns = [("note", "string")]
    rows = [{"reference": f"R{i}", "note": "é" * (400 if i == 2 else 3)} for i in range(4)]
    layout = StagedLayout({"note": "note"}, {}, frozenset(), frozenset())
    staged = _Staged(_write(tmp_path / "t.parquet", columns, rows), layout)
    expected = _push(_rows_of(staged), StateStore.open(f"sqlite:///{tmp_path}/a.sqlite"), "r", 1024)
    got = _push(staged, StateStore.open(f"sqlite:///{tmp_path}/b.sqlite"), "r", 1024)
    assert got == expected
    assert got[2] is not None and "item #3 (frmt_ref 'R2') alone encodes to" in got[2]
