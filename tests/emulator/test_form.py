"""PHP bracket-notation parsing edge cases, directly and through the server."""

from __future__ import annotations

from urllib.parse import quote_plus

import pytest

from saleslayer_airflow.emulator.form import FormError, parse_import_form
from tests.emulator.conftest import Api, php_form

AWKWARD = [
    "Boot, tall",
    "a[0][b]=c&d",
    "Crème brûlée ☕ 日本語 🎉",
    "",
    "  spaces kept  ",
    "100% + more",
    "line\nbreak",
    'quote \' and "double"',
]


def encode(pairs: list[tuple[str, str]]) -> bytes:
    return "&".join(f"{quote_plus(k)}={quote_plus(v)}" for k, v in pairs).encode()


@pytest.mark.parametrize("value", AWKWARD)
def test_values_come_back_exactly(value: str) -> None:
    form = parse_import_form(encode([("input_data[products][0][prod_title_en]", value)]))
    assert form.input_data == {"products": [{"prod_title_en": value}]}


def test_unencoded_brackets_and_plus_spaces_are_accepted() -> None:
    form = parse_import_form(
        b"input_data[products][0][prod_ref]=P+1&delete_data[products][0][REF]=X"
    )
    assert form.input_data == {"products": [{"prod_ref": "P 1"}]}
    assert form.delete_data == {"products": [{"REF": "X"}]}


def test_rows_follow_their_index_not_the_key_order() -> None:
    form = parse_import_form(
        encode(
            [
                ("input_data[t][10][f]", "ten"),
                ("input_data[t][2][f]", "two"),
                ("input_data[t][10][g]", "ten-g"),
            ]
        )
    )
    assert form.input_data == {"t": [{"f": "two"}, {"f": "ten", "g": "ten-g"}]}


def test_flags() -> None:
    form = parse_import_form(b"input_data[t][0][f]=1&input_data_directly=1&get_affected_ids=0")
    assert form.directly is True


@pytest.mark.parametrize(
    ("body", "message"),
    [
        (b"input_data[t][0]=x", "expected input_data[table][index][field]"),
        (b"input_data[t][01][f]=x", "the row index must be a number"),
        (b"input_data[t][-1][f]=x", "the row index must be a number"),
        (b"input_data[t][0][f][g]=x", "expected input_data[table][index][field]"),
        (b"input_data[][0][f]=x", "empty table or field name"),
        (b"input_data[t][0][f]=x&input_data[t][0][f]=y", "is given twice"),
        (b"input_data[t][0][f]", "not application/x-www-form-urlencoded"),
        (b"input_data[t][0]]f]=x", "malformed key"),
        (b"x=1", "unknown parameter 'x'"),
        (b"input_data[t][0][f]=%C3%28", "not application/x-www-form-urlencoded"),
        (b"\xff", "the body is not UTF-8"),
    ],
)
def test_refusals(body: bytes, message: str) -> None:
    with pytest.raises(FormError, match=None) as info:
        parse_import_form(body)
    assert message in str(info.value)


@pytest.mark.integration
def test_awkward_values_round_trip_through_the_server(api: Api) -> None:
    rows = [
        {"prod_ref": f"P{i}", "prod_title_en": value, "prod_price": value}
        for i, value in enumerate(AWKWARD)
    ]
    api.import_and_wait(php_form({"products": rows}))
    products = api.dump("products")
    for i, value in enumerate(AWKWARD):
        fields = products[f"P{i}"]["fields"]
        if value:
            assert fields == {"prod_title": {"en": value}, "prod_price": value}
        else:
            assert fields == {}  # an empty value clears (here: never sets) the field


@pytest.mark.integration
def test_list_values_split_on_commas_and_refs_keep_brackets(api: Api) -> None:
    api.import_and_wait(
        php_form({"products": [{"prod_ref": "REF[1]/é", "prod_image": "a.jpg,b c.png,,"}]})
    )
    assert api.dump("products")["REF[1]/é"]["fields"] == {"prod_image": ["a.jpg", "b c.png"]}
