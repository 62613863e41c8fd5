"""Numbers are parsed exactly and never re-interpreted (issue 11, points 2 and 4): the rules of
``parse_number`` and of number and integer fields, value by awkward value."""

from __future__ import annotations

from decimal import Decimal

import pytest

from saleslayer_airflow.config.tables import FieldType
from saleslayer_airflow.mapping.transforms import parse_number
from saleslayer_airflow.validation.values import (
    ValueProblem,
    as_text,
    convert,
    decimal_text,
    to_decimal,
)

REJECTED = None

# (text, decimal separator, canonical result or REJECTED, words the reason must hold)
PARSE_NUMBER = [
    ("12,50", "comma", "12.5", ""),
    ("1.234,5", "comma", "1234.5", ""),
    ("1.234,50", "comma", "1234.5", ""),
    ("1 234,50", "comma", "1234.5", ""),
    ("1\u00a0234,5", "comma", "1234.5", ""),
    ("1.234.567,89", "comma", "1234567.89", ""),
    ("1.234.567", "comma", "1234567", ""),
    ("-1.234,5", "comma", "-1234.5", ""),
    ("12", "comma", "12", ""),
    (" 12 ", "comma", "12", ""),
    ("-0", "comma", "0", ""),
    ("0,10", "comma", "0.1", ""),
    ("12.50", "comma", REJECTED, "',' as decimal separator"),  # never 1250
    ("1.234", "comma", REJECTED, "ambiguous"),  # 1234 or 1.234?
    ("1.23,4", "comma", REJECTED, "not a number"),  # a group that is not three digits
    ("1.234 567,8", "comma", REJECTED, "not a number"),  # two grouping separators
    ("1,2,3", "comma", REJECTED, "not a number"),
    ("12,", "comma", REJECTED, "not a number"),
    (",5", "comma", REJECTED, "not a number"),
    ("1e5", "comma", REJECTED, "not a number"),
    ("١٢", "comma", REJECTED, "not a number"),  # Arabic-Indic digits
    ("NaN", "comma", REJECTED, "not a number"),
    ("Infinity", "comma", REJECTED, "not a number"),
    ("12.50", "dot", "12.5", ""),
    ("1,234.5", "dot", "1234.5", ""),
    ("1,234,567", "dot", "1234567", ""),
    ("1'234.5", "dot", "1234.5", ""),
    ("12,5", "dot", REJECTED, "'.' as decimal separator"),  # never 125
    ("1,234", "dot", REJECTED, "ambiguous"),
    ("1.234.567", "dot", REJECTED, "not a number"),
]


@pytest.mark.parametrize(("text", "decimal", "expected", "words"), PARSE_NUMBER)
def test_parse_number(text: str, decimal: str, expected: str | None, words: str) -> None:
    if expected is REJECTED:
        with pytest.raises(ValueProblem) as problem:
            parse_number(text, decimal)
        assert words in problem.value.reason
        assert repr(text) in problem.value.reason  # the value, as it was
        assert "e.g." in problem.value.reason  # and the form expected
    else:
        assert decimal_text(parse_number(text, decimal)) == expected


# (value as a source gives it, number field result, integer field result; REJECTED: refused)
FIELDS: list[tuple[object, str | None, int | None]] = [
    ("12.50", "12.5", REJECTED),
    (" 12 ", "12", 12),
    ("-0", "0", 0),
    ("+7", "7", 7),
    ("1e5", "100000", 100000),
    ("12.0", "12", 12),
    ("9007199254740993", "9007199254740993", 9007199254740993),  # 2**53 + 1, not ...992
    ("9223372036854775807", "9223372036854775807", 2**63 - 1),
    ("9223372036854775808", "9223372036854775808", REJECTED),  # 2**63: beyond int64
    ("99999999999999999999", "99999999999999999999", REJECTED),
    ("18446744073709551616", "18446744073709551616", REJECTED),  # 2**64
    ("1" * 38, "1" * 38, REJECTED),
    ("1" * 39, REJECTED, REJECTED),  # past the 38 digits a number field carries
    ("0.1", "0.1", REJECTED),
    ("0.30000000000000004", "0.30000000000000004", REJECTED),
    ("1e400", REJECTED, REJECTED),
    ("1e-40", REJECTED, REJECTED),
    ("1,5", REJECTED, REJECTED),  # a comma needs parse_number: comma
    ("1 234", REJECTED, REJECTED),
    ("١٢", REJECTED, REJECTED),
    ("NaN", REJECTED, REJECTED),
    ("Infinity", REJECTED, REJECTED),
    ("-inf", REJECTED, REJECTED),
    ("", REJECTED, REJECTED),
    (9007199254740993, "9007199254740993", 9007199254740993),  # a JSON integer
    (2**64, "18446744073709551616", REJECTED),
    (0.1, "0.1", REJECTED),  # a JSON float: the digits it was written with
    (float("inf"), REJECTED, REJECTED),  # JSON 1e400
    (float("nan"), REJECTED, REJECTED),
    (Decimal("12.50"), "12.5", REJECTED),
    (True, REJECTED, REJECTED),
]


@pytest.mark.parametrize(("value", "number", "integer"), FIELDS)
def test_number_and_integer_fields(value: object, number: str | None, integer: int | None) -> None:
    for kind, expected in ((FieldType.NUMBER, number), (FieldType.INTEGER, integer)):
        if expected is REJECTED:
            with pytest.raises(ValueProblem):
                convert(value, kind)
        else:
            got = convert(value, kind)
            assert got == expected and type(got) is type(expected), (kind, got)


def test_decimals_add_up_exactly() -> None:
    # With floats 0.1 + 0.2 is 0.30000000000000004; the values carried are the decimals written.
    assert to_decimal("0.1") + to_decimal("0.2") == to_decimal("0.3")
    assert convert("0.1", FieldType.NUMBER) == "0.1"


def test_an_integer_out_of_range_says_what_to_do() -> None:
    with pytest.raises(ValueProblem) as problem:
        convert("18446744073709551616", FieldType.INTEGER)
    assert "'18446744073709551616'" in problem.value.reason
    assert "type: number" in problem.value.reason


def test_a_huge_exponent_is_refused_without_writing_it_out() -> None:
    with pytest.raises(ValueProblem) as problem:
        convert("1e999999999", FieldType.NUMBER)
    assert "1,000,000,000 digits" in problem.value.reason
    assert as_text(Decimal("1e999999999")) == "1E+999999999"
