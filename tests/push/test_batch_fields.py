"""The columnar reading of staged rows (``StagedLayout.batch_fields``) and the fast path for
exact numbers give exactly what the row by row reading gives: same values, types, key order."""

from __future__ import annotations

from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from saleslayer_airflow.numbers import staged_number
from saleslayer_airflow.push.items import StagedLayout, _exact

TEXTS = st.one_of(st.none(), st.just(""), st.text(max_size=6))
LISTS: st.SearchStrategy[list[str] | None] = st.one_of(
    st.none(), st.just([]), st.lists(st.text(max_size=4), max_size=3)
)
NUMBERS = st.one_of(
    st.none(),
    st.just(""),
    st.from_regex(r"-?[0-9]{1,8}(\.[0-9]{1,4})?", fullmatch=True),
)
INTS = st.one_of(st.none(), st.integers(-5, 5))
FLOATS = st.one_of(st.none(), st.sampled_from([0.0, 1.0, -2.0, 2.5, 1e20]))


def _batch(rows: list[dict[str, Any]]) -> Any:
    import pyarrow as pa

    schema = pa.schema(
        [
            ("reference", pa.string()),
            ("name", pa.string()),
            ("tags", pa.list_(pa.string())),
            ("price", pa.string()),
            ("stock", pa.int64()),
            ("weight", pa.float64()),
            ("_product_ref", pa.string()),
            ("_line", pa.int64()),
        ]
    )
    return pa.RecordBatch.from_pylist(rows, schema=schema)


def _same(expected: list[dict[str, Any]], got: list[dict[str, Any]]) -> None:
    assert got == expected
    for want, have in zip(expected, got, strict=True):
        assert list(have) == list(want)  # key order: the order a call's body is encoded in
        assert [type(v) for v in have.values()] == [type(v) for v in want.values()]


ROWS = st.lists(
    st.fixed_dictionaries(
        {
            "reference": st.text(min_size=1, max_size=4),
            "name": TEXTS,
            "tags": LISTS,
            "price": NUMBERS,
            "stock": INTS,
            "weight": FLOATS,
            "_product_ref": TEXTS,
            "_line": st.integers(1, 9),
        }
    ),
    max_size=12,
)


@settings(max_examples=200, deadline=None)
@given(
    rows=ROWS,
    clear=st.sets(st.sampled_from(["name", "tags", "price", "stock", "weight"])),
    levels=st.booleans(),
    twice=st.booleans(),
)
def test_batch_fields_is_fields_row_by_row(
    rows: list[dict[str, Any]], clear: set[str], levels: bool, twice: bool
) -> None:
    names = {
        "name": "frmt_name",
        "tags": "frmt_tags",
        "price": "frmt_price",
        "stock": "frmt_stock",
        "weight": "frmt_weight",
        "_product_ref": "prod_ref",
    }
    if twice:  # two columns feeding one field: the later wins, in the first one's place
        names["weight"] = "frmt_name"
    layout = StagedLayout(
        names=names,
        clear={column: [] if column == "tags" else "" for column in clear},
        numbers=frozenset({"price"}),
        levels=frozenset({"name", "tags"} if levels else set()),
    )
    batch = _batch(rows)
    _same([layout.fields(row) for row in batch.to_pylist()], layout.batch_fields(batch))


@pytest.mark.parametrize(
    "text",
    [
        "0",
        "-0",
        "007",
        "12.50",
        "12.00",
        "-0.0",
        "1.",
        ".5",
        "+5",
        "1e3",
        "1_0",
        "12.\u0660",
        "\u0663",
        "99999999999999999999.000000001",
        " 1",
        "-",
    ],
)
def test_exact_numbers_as_staged_number(text: str) -> None:
    try:
        want: Any = staged_number(text)
    except ValueError:
        with pytest.raises(ValueError, match="staged decimal number"):
            _exact(text)
        return
    got = _exact(text)
    assert (got, type(got), str(got)) == (want, type(want), str(want))


@settings(max_examples=300, deadline=None)
@given(text=st.from_regex(r"-?[0-9]{1,25}(\.[0-9]{0,6})?", fullmatch=True))
def test_exact_decimal_digits(text: str) -> None:
    want, got = staged_number(text), _exact(text)
    assert (got, type(got), str(got)) == (want, type(want), str(want))
