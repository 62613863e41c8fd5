"""The Import Connector client's fast encoding is the form module's, byte for byte: the bodies the
emulator and Sales Layer accept do not change, nor do the errors a bad row raises."""

from __future__ import annotations

from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from saleslayer_airflow.exceptions import SalesLayerTerminalError
from saleslayer_airflow.numbers import ExactNumber
from saleslayer_airflow.saleslayer.connector_api import _urlencode, encode_item
from saleslayer_airflow.saleslayer.form import item_fields, php_urlencode

_TEXT = st.one_of(
    # The separator the client joins a row's values with, whole and in parts.
    st.sampled_from(["Zq9xSEPj", "aZq9xSEPjZq9xSEPj", "Zq9x", "SEPj", "Zq9xSEPjZq9"]),
    st.text(alphabet=st.sampled_from(' \x00%+&=~.-_,aZ9é中😀\n"\\[]'), max_size=8),
    st.text(alphabet=st.characters(codec="utf-8"), max_size=8),
)
_VALUES = st.one_of(
    _TEXT,
    st.integers(-(10**20), 10**20),
    st.booleans(),
    st.none(),
    st.floats(allow_nan=False),
    st.sampled_from(["0.1", "-12.5"]).map(ExactNumber),
    st.lists(st.one_of(_TEXT, st.integers(), st.booleans(), st.none()), max_size=3),
    st.dictionaries(st.sampled_from(["en", "es"]), _TEXT, max_size=2),
    st.frozensets(st.sampled_from(["a", "b"]), max_size=2),
)
_NAMES = st.one_of(st.sampled_from(["prod_ref", "title_en", "a b", "é"]), _TEXT)


@settings(max_examples=500, deadline=None)
@given(text=_TEXT)
def test_values_are_escaped_as_php_does(text: str) -> None:
    assert _urlencode(text) == php_urlencode(text)


def _encoded(encode: Any, table: str, index: int, row: dict[str, Any]) -> Any:
    try:
        return encode("input_data", table, index, row)
    except SalesLayerTerminalError as exc:
        return ("error", str(exc))


@settings(max_examples=500, deadline=None)
@given(
    table=st.one_of(st.sampled_from(["products", "variants"]), _TEXT),
    index=st.integers(0, 50_000),
    row=st.dictionaries(_NAMES, _VALUES, max_size=6),
)
def test_rows_encode_as_the_form_module_encodes_them(
    table: str, index: int, row: dict[str, Any]
) -> None:
    assert _encoded(encode_item, table, index, row) == _encoded(item_fields, table, index, row)


@pytest.mark.parametrize(
    "row",
    [
        {"prod_ref": "P 1", "tags": ["a", "b,c"]},
        {"prod_ref": "P1", "bad]name": "x"},
        {"prod_ref": "P1", "price": object()},
    ],
)
def test_bad_rows_raise_the_form_module_error(row: dict[str, Any]) -> None:
    with pytest.raises(SalesLayerTerminalError) as fast:
        encode_item("input_data", "products", 3, row)
    with pytest.raises(SalesLayerTerminalError) as form:
        item_fields("input_data", "products", 3, row)
    assert str(fast.value) == str(form.value)
