"""The fast parser of Import Connector bodies answers exactly what the strict parser answers:
the same rows, flags and refusals (wording included), on bodies clients send and bodies they
should not."""

from __future__ import annotations

from urllib.parse import quote_plus

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from saleslayer_airflow.emulator.form import FormError, ImportForm, parse_import_form
from saleslayer_airflow.emulator.form_fast import parse_columns, parse_import_form_fast


def _outcome(parse: object, body: bytes) -> ImportForm | str:
    try:
        return parse(body)  # type: ignore[operator, no-any-return]
    except FormError as exc:
        return f"FormError: {exc}"


def _same(body: bytes) -> ImportForm | str:
    fast = _outcome(parse_import_form_fast, body)
    strict = _outcome(parse_import_form, body)
    assert fast == strict, body
    return fast


_names = st.sampled_from(["products", "product_formats", "prod_ref", "x", "a b", "é", ""])
_indexes = st.sampled_from(["0", "1", "2", "10", "01", "-1", "", "x", "999999999", "1000000000"])
_values = st.lists(
    st.sampled_from([*"aZ09 +&=%[]\x00,é€\n\\", "%00", "%E2", "%e2%82%ac", "%2", "%5C", "%41"]),
    max_size=8,
).map("".join)


@st.composite
def _pair(draw: st.DrawFn) -> str:
    kind = draw(st.sampled_from(["item", "item", "item", "flag", "odd"]))
    value = draw(_values)
    encode = draw(st.sampled_from(["php", "php", "raw", "lower"]))
    if kind == "flag":
        name = draw(
            st.sampled_from(
                ["input_data_directly", "compression", "test", "get_output_data", "other"]
            )
        )
        return f"{name}={draw(st.sampled_from(['0', '1', '2', '', value]))}"
    if kind == "odd":
        return draw(st.sampled_from(["", "=", "input_data", "input_data=1", "a=b=c", value]))
    section = draw(st.sampled_from(["input_data", "input_data", "delete_data", "output"]))
    key = f"{section}[{draw(_names)}][{draw(_indexes)}][{draw(_names)}]"
    if encode == "raw":
        return f"{key}={value}"
    encoded = f"{quote_plus(key)}={quote_plus(value) if encode == 'php' else value}"
    return encoded.lower() if encode == "lower" else encoded


@settings(max_examples=600, deadline=None)
@given(st.lists(_pair(), max_size=8), st.booleans())
def test_any_body_gets_the_strict_parsers_answer(pairs: list[str], latin1: bool) -> None:
    text = "&".join(pairs)
    _same(text.encode("latin-1", "replace") if latin1 else text.encode("utf-8"))


@settings(max_examples=200, deadline=None)
@given(
    st.lists(
        st.dictionaries(
            st.sampled_from(["prod_ref", "prod_title_en", "cat_ref", "prod_stat"]),
            st.text(max_size=12),
            min_size=1,
        ),
        min_size=1,
        max_size=6,
    ),
    st.booleans(),
)
def test_bodies_as_clients_encode_them_take_the_fast_path(
    rows: list[dict[str, str]], directly: bool
) -> None:
    parts = [
        f"{quote_plus(f'input_data[products][{i}][{k}]')}={quote_plus(v)}"
        for i, row in enumerate(rows)
        for k, v in row.items()
    ]
    if directly:
        parts.append("input_data_directly=1")
    form = _same("&".join(parts).encode())
    assert isinstance(form, ImportForm)
    assert form.input_data == {"products": rows} and form.directly is directly


@pytest.mark.parametrize(
    "body",
    [
        b"",
        b"input_data%5Bproducts%5D%5B1%5D%5Bprod_ref%5D=B&input_data%5Bproducts%5D%5B0%5D%5Bprod_ref%5D=A",
        b"input_data%5Bproducts%5D%5B0%5D%5Bprod_ref%5D=A&input_data%5Bproducts%5D%5B0%5D%5Bprod_ref%5D=B",
        b"input_data%5Bproducts%5D%5B0%5D%5Bprod_ref%5D=A%FF",
        b"input_data%5Bproducts%5D%5B0%5D%5Bprod_ref%5D=A%00B",
        b"input_data%5Bproducts%5D%5B0%5D%5Bprod_ref%5D=Caf%C3%A9+%26+co%3D",
        b"input_data%5Bproducts%5D%5B0%5D%5Bprod_ref%5D=A&input_data_directly=2",
        b"input_data%5Bproducts%5D%5B0%5D%5Bprod_ref%5D=A&",
        b"xinput_data%5Bproducts%5D%5B0%5D%5Bprod_ref%5D=A",
        b"input_data%5Bproducts%5D=http%3A%2F%2Fexample.com%2Fa.csv",
        b"input_data%5Bp%5D%5B0%5D%5Ba%5D=x%41%2b&input_data%5Bp%5D%5B0%5D%5Bb%5D=c:\\0\\a\\x41",
        b"input_data%5Bp%5D%5B0%5D%5Ba%5D=%C3%A9%E2%82%AC&input_data%5Bp%5D%5B1%5D%5Ba%5D=100%",
    ],
)
def test_edge_bodies(body: bytes) -> None:
    _same(body)


def _columns_or_none(body: bytes) -> ImportForm | None:
    """What :func:`parse_columns` reads, as rows; checked against the strict parser."""
    columns = parse_columns(body)
    if columns is None:
        return None
    assert columns.form() == parse_import_form(body), body
    return columns.form()


@settings(max_examples=400, deadline=None)
@given(st.lists(_pair(), min_size=1, max_size=8), st.booleans())
def test_the_column_reading_of_any_body_is_the_strict_parsers(
    pairs: list[str], latin1: bool
) -> None:
    text = "&".join(pairs)
    _columns_or_none(text.encode("latin-1", "replace") if latin1 else text.encode("utf-8"))


_fields = st.lists(
    st.sampled_from(["prod_ref", "prod_title_en", "cat_ref", "a", "B_1"]),
    min_size=1,
    max_size=4,
    unique=True,
)


@settings(max_examples=300, deadline=None)
@given(
    _fields,
    st.lists(st.lists(_values, min_size=4, max_size=4), min_size=1, max_size=6),
    st.sampled_from(
        [
            "",
            "&input_data_directly=1",
            "&input_data_directly=0",
            "&compression=1",
            "&input_data_directly=1&compression=1",  # the official SDK's order
            "&compression=0&test=1&input_data_directly=0",
        ]
    ),
)
def test_bodies_of_one_table_and_one_shape_are_read_as_columns(
    names: list[str], cells: list[list[str]], flag: str
) -> None:
    rows = [dict(zip(names, row, strict=False)) for row in cells]
    parts = [
        f"{quote_plus(f'input_data[products][{i}][{k}]')}={quote_plus(v)}"
        for i, row in enumerate(rows)
        for k, v in row.items()
    ]
    body = ("&".join(parts) + flag).encode()
    if "%00" in body.decode():
        assert parse_columns(body) is None  # NUL values go to the row parser
        return
    form = _columns_or_none(body)
    assert form is not None
    assert form.input_data == {"products": rows}
    assert form.directly is ("input_data_directly=1" in flag)
    assert form.compression is (
        {"compression=1": True, "compression=0": False}.get(
            next((part for part in flag.split("&") if part.startswith("compression")), "")
        )
    )
    assert form.test is ("test=1" in flag)


@pytest.mark.parametrize(
    "body",
    [
        b"input_data%5Bp%5D%5B1%5D%5Ba%5D=x&input_data%5Bp%5D%5B0%5D%5Ba%5D=y",  # not in order
        b"input_data%5Bp%5D%5B0%5D%5Ba%5D=x&input_data%5Bp%5D%5B2%5D%5Ba%5D=y",  # a gap
        b"input_data%5Bp%5D%5B0%5D%5Ba%5D=x&input_data%5Bp%5D%5B1%5D%5Bb%5D=y",  # other field
        b"input_data%5Bp%5D%5B0%5D%5Ba%5D=x&input_data%5Bq%5D%5B1%5D%5Ba%5D=y",  # two tables
        b"input_data%5Bp%5D%5B0%5D%5Ba%5D=x&input_data%5Bp%5D%5B0%5D%5Ba%5D=y",  # given twice
        b"input_data%5Bp%5D%5B0%5D%5Ba%5D=x&delete_data%5Bp%5D%5B0%5D%5Ba%5D=y",
        b"input_data%5Bp%5D%5B0%5D%5Ba%5D=x&input_data%5Bp%5D%5B1%5D%5Ba%5D",  # no "="
        b"input_data%5Bp%5D%5B0%5D%5Ba%5D=x=y&input_data%5Bp%5D%5B1%5D%5Ba%5D",
        b"input_data%5Bp%5D%5B0%5D%5Ba%5D=x&",
        b"input_data_directly=1&input_data%5Bp%5D%5B0%5D%5Ba%5D=x",
        b"input_data%5Bp%5D%5B0%5D%5Ba%5D=%FF",
    ],
)
def test_other_bodies_are_not_read_as_columns(body: bytes) -> None:
    assert parse_columns(body) is None
    _same(body)
