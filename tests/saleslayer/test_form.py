"""PHP bracket-notation encoding of set_info bodies."""

from __future__ import annotations

from urllib.parse import unquote_plus

import pytest

from saleslayer_airflow.exceptions import SalesLayerTerminalError
from saleslayer_airflow.saleslayer.form import encode_body, flatten_row

# The appendix of docs/saleslayer-api.md, line breaks removed, as the PHP SDK sends it.
APPENDIX_DECODED = (
    "input_data[products][0][prod_ref]=P1&input_data[products][0][prod_title_en]=Shoe"
    "&input_data[products][0][prod_title_es]=Zapato&input_data[products][1][prod_ref]=P2"
    "&input_data[products][1][prod_title_en]=Boot, tall&input_data[products][1][cat_ref]=C1,C2"
    "&input_data[product_formats][0][frmt_ref]=V1&input_data[product_formats][0][prod_ref]=P1"
    "&input_data[product_formats][0][size]=42&delete_data[products][0][prod_ref]=OLD1"
)


def _appendix_body() -> bytes:
    return encode_body(
        {
            "products": [
                {"prod_ref": "P1", "prod_title": {"en": "Shoe", "es": "Zapato"}},
                {"prod_ref": "P2", "prod_title_en": "Boot, tall", "cat_ref": ["C1", "C2"]},
            ],
            "product_formats": [{"frmt_ref": "V1", "prod_ref": "P1", "size": 42}],
        },
        {"products": [{"prod_ref": "OLD1"}]},
    )


def test_appendix_example_byte_for_byte_after_decoding() -> None:
    body = _appendix_body().decode("ascii")
    decoded = "&".join(
        "=".join(unquote_plus(side) for side in pair.split("=", 1)) for pair in body.split("&")
    )
    assert decoded == APPENDIX_DECODED


def test_brackets_commas_and_spaces_travel_percent_encoded() -> None:
    body = _appendix_body().decode("ascii")
    assert body.startswith("input_data%5Bproducts%5D%5B0%5D%5Bprod_ref%5D=P1&")
    assert "input_data%5Bproducts%5D%5B1%5D%5Bprod_title_en%5D=Boot%2C+tall" in body
    assert "input_data%5Bproducts%5D%5B1%5D%5Bcat_ref%5D=C1%2CC2" in body
    assert body.endswith("delete_data%5Bproducts%5D%5B0%5D%5Bprod_ref%5D=OLD1")
    assert "[" not in body and "]" not in body and " " not in body


def test_values_become_strings_like_php() -> None:
    pairs = flatten_row(
        "products",
        {"a": True, "b": False, "c": None, "d": 3, "e": 2.5, "f": ("x", 1), "g": "~é"},
    )
    assert pairs == [
        ("a", "1"),
        ("b", "0"),
        ("c", ""),
        ("d", "3"),
        ("e", "2.5"),
        ("f", "x,1"),
        ("g", "~é"),
    ]
    assert encode_body({"t": [{"g": "~é"}]}) == b"input_data%5Bt%5D%5B0%5D%5Bg%5D=%7E%C3%A9"


def test_input_data_directly_is_appended() -> None:
    assert encode_body({"t": [{"a": "1"}]}, input_data_directly=True).endswith(
        b"&input_data_directly=1"
    )


def test_a_comma_inside_a_list_value_is_refused_with_a_clear_error() -> None:
    with pytest.raises(SalesLayerTerminalError) as caught:
        flatten_row("products", {"prod_ref": "P9", "tags": ["red", "blue, green"]}, item="#9")
    message = str(caught.value)
    assert "table 'products'" in message
    assert "field 'tags'" in message
    assert "'blue, green'" in message
    assert "forbids commas" in message


@pytest.mark.parametrize(
    "row",
    [{"bad[name]": "x"}, {"": "x"}, {"nested": {"en": {"deep": 1}}}, {"obj": object()}],
)
def test_values_and_names_the_form_cannot_carry_are_refused(row: dict[str, object]) -> None:
    with pytest.raises(SalesLayerTerminalError, match="table 'products'"):
        flatten_row("products", row)
