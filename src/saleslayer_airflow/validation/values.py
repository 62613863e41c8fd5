"""Checks of one field value: type and format, enumeration, length, list separators.

Numbers are exact: they are parsed as :class:`decimal.Decimal`, never as binary floats, and
carried as their canonical decimal text (``number`` fields) or as a Python ``int`` (``integer``
fields), so ``9007199254740993`` stays ``9007199254740993`` and ``0.1`` stays ``0.1``. A value
that is not a number in the expected form is rejected with the reason, never re-scaled.
"""

from __future__ import annotations

import math
import re
from datetime import date, datetime
from decimal import Decimal, InvalidOperation
from typing import Any

from saleslayer_airflow.config.tables import FieldMapping, FieldType

#: Values longer than this are cut in messages and in the rejects file.
SHOWN_CHARS = 200
_URL = re.compile(r"^https?://[^\s/?#]+\.[^\s/?#]+(/[^\s]*)?$|^https?://localhost(:\d+)?(/\S*)?$")
_TRUE = frozenset({"true", "1", "yes", "y"})
_FALSE = frozenset({"false", "0", "no", "n"})

#: A plain number: ASCII digits only (``str.isdigit`` and ``Decimal`` would take Arabic-Indic
#: or full-width digits, which no ERP export means as a price), an optional sign, a dot as the
#: decimal separator and an optional exponent. No grouping separators: those need
#: ``transforms: [{parse_number: ...}]``, which says which character is the decimal one.
_PLAIN_NUMBER = re.compile(r"[+-]?(?:[0-9]+(?:\.[0-9]*)?|\.[0-9]+)(?:[eE][+-]?[0-9]+)?")
#: The most digits a number field carries (integer and fraction digits of its plain decimal
#: form, leading and trailing zeros aside): what a DECIMAL(38) column of a database holds.
MAX_NUMBER_DIGITS = 38
#: Beyond this many digits a decimal is shown in exponent notation (1E+999999 would otherwise
#: take a megabyte of zeros to show in a message).
_TEXT_DIGITS = 1000
#: Integer fields are 64-bit signed integers (the staged Parquet column is int64).
MIN_INTEGER = -(2**63)
MAX_INTEGER = 2**63 - 1


class ValueProblem(Exception):
    """A value that cannot be imported; ``reason`` is a sentence for a person."""

    def __init__(self, reason: str, code: str) -> None:
        super().__init__(reason)
        self.reason = reason
        self.code = code


def shown(value: Any) -> str:
    """A value as text for messages, cut to a readable length."""
    text = value if isinstance(value, str) else str(value)
    if len(text) > SHOWN_CHARS:
        return f"{text[:SHOWN_CHARS]}... ({len(text):,} characters)"
    return text


def _significant(number: Decimal) -> tuple[int, str, int]:
    """Sign, significant digits (no leading or trailing zeros) and exponent of a non-zero
    finite decimal. ``Decimal.normalize`` would do it, but rounds to the context's 28 digits."""
    sign, digits, exponent = number.as_tuple()
    assert isinstance(exponent, int)
    text = "".join(map(str, digits)).lstrip("0")
    stripped = text.rstrip("0")
    return sign, stripped, exponent + len(text) - len(stripped)


def _width(number: Decimal) -> int:
    """How many digits the plain form of a finite decimal has (the zeros an exponent adds
    either side included: 1E+40 is 41 digits, 1E-40 is 40 fraction digits)."""
    if number == 0:
        return 1
    _, digits, exponent = _significant(number)
    return max(len(digits), len(digits) + exponent, -exponent)


def decimal_text(number: Decimal) -> str:
    """The canonical text of a finite decimal: plain notation (no exponent), no trailing zeros
    in the fraction, no ``-0``: ``12.50`` -> ``12.5``, ``1E+5`` -> ``100000``, ``-0`` -> ``0``.
    Equal numbers give equal text, so two rows of one item agree whatever their notation."""
    if number == 0:
        return "0"
    sign, text, exponent = _significant(number)
    if exponent >= 0:
        text += "0" * exponent
    elif -exponent >= len(text):
        text = "0." + "0" * (-exponent - len(text)) + text
    else:
        text = f"{text[:exponent]}.{text[exponent:]}"
    return f"-{text}" if sign else text


def _plain(value: Any) -> Any:
    # Objects and arrays of a JSON source hold Decimals (exact numbers): JSON text of them.
    if isinstance(value, Decimal):
        if value.is_finite() and _width(value) <= _TEXT_DIGITS and value == int(value):
            return int(value)
        return float(value)
    if isinstance(value, dict):
        return {k: _plain(v) for k, v in value.items()}
    if isinstance(value, list):
        return [_plain(v) for v in value]
    return value


def as_text(value: Any) -> str:
    """A source value as text: JSON numbers without a spurious '.0', objects as JSON."""
    if isinstance(value, str):
        return value
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, float) and value.is_integer():
        return str(int(value))
    if isinstance(value, Decimal) and value.is_finite() and _width(value) <= _TEXT_DIGITS:
        return decimal_text(value)
    if isinstance(value, dict | list):
        import json

        return json.dumps(_plain(value), ensure_ascii=False, separators=(",", ":"))
    return str(value)


def checked_decimal(number: Decimal, value: Any) -> Decimal:
    """``number`` if it is finite and within :data:`MAX_NUMBER_DIGITS`; ``value`` (the source
    value) names it in the reason otherwise."""
    if not number.is_finite():
        raise ValueProblem(f"{shown(as_text(value))!r} is not a finite number", "type")
    width = _width(number)
    if width > MAX_NUMBER_DIGITS:
        raise ValueProblem(
            f"{shown(as_text(value))!r} needs {width:,} digits; number fields carry at most "
            f"{MAX_NUMBER_DIGITS} (integer and decimal digits together), exactly",
            "type",
        )
    return number


def to_decimal(value: Any) -> Decimal:
    """A source value as an exact, finite decimal; :class:`ValueProblem` when it is not one.

    Text must be a plain number (digits 0-9, an optional sign, a dot as decimal separator, an
    optional exponent; blanks around it are ignored). JSON sources give ``Decimal`` (or ``int``)
    already; a binary ``float`` is taken by its shortest repr, the digits it was written with.
    """
    if isinstance(value, bool):
        raise ValueProblem(f"{value!r} is a boolean, not a number", "type")
    if isinstance(value, Decimal):
        number = value
    elif isinstance(value, int):
        number = Decimal(value)
    elif isinstance(value, float):
        if not math.isfinite(value):
            raise ValueProblem(f"{value!r} is not a finite number", "type")
        number = Decimal(repr(value))
    else:
        text = as_text(value).strip()
        if not _PLAIN_NUMBER.fullmatch(text):
            raise ValueProblem(
                f"{shown(text)!r} is not a number (digits 0-9 with a dot as decimal separator "
                "and no thousands separators; for other formats declare "
                "transforms: [{parse_number: comma}] or [{parse_number: dot}])",
                "type",
            )
        try:
            number = Decimal(text)
        except InvalidOperation:  # pragma: no cover - the pattern only lets decimals through
            raise ValueProblem(f"{shown(text)!r} is not a number", "type") from None
    return checked_decimal(number, value)


def _number(value: Any) -> str:
    return decimal_text(to_decimal(value))


def _integer(value: Any) -> int:
    if isinstance(value, int) and not isinstance(value, bool):
        whole = value
    else:
        number = to_decimal(value)
        if number != number.to_integral_value():
            raise ValueProblem(f"{shown(as_text(value))!r} is not a whole number", "type")
        whole = int(number)
    if not MIN_INTEGER <= whole <= MAX_INTEGER:
        raise ValueProblem(
            f"{shown(as_text(value))!r} is outside the range of integer fields "
            f"({MIN_INTEGER} to {MAX_INTEGER}); declare the field `type: number` to carry up "
            f"to {MAX_NUMBER_DIGITS} digits exactly, or `type: string` for a code",
            "type",
        )
    return whole


def _boolean(value: Any) -> bool:
    if isinstance(value, bool):
        return value
    text = as_text(value).strip().lower()
    if text in _TRUE:
        return True
    if text in _FALSE:
        return False
    raise ValueProblem(
        f"{shown(value)!r} is not a boolean (true/false, 1/0, yes/no; or map the values with "
        "transforms: [{map: {...}}])",
        "type",
    )


def _date(value: Any) -> str:
    if isinstance(value, datetime):
        return value.date().isoformat()
    if isinstance(value, date):
        return value.isoformat()
    text = as_text(value).strip()
    try:
        return date.fromisoformat(text).isoformat()
    except ValueError:
        raise ValueProblem(
            f"{shown(text)!r} is not a date in YYYY-MM-DD form (declare its format with "
            "transforms: [{parse_date: '%d/%m/%Y'}])",
            "type",
        ) from None


def _datetime(value: Any) -> str:
    if isinstance(value, datetime):
        return value.isoformat()
    text = as_text(value).strip()
    try:
        return datetime.fromisoformat(text).isoformat()
    except ValueError:
        raise ValueProblem(
            f"{shown(text)!r} is not an ISO 8601 date-time (declare its format with "
            "transforms: [{parse_date: '%d/%m/%Y %H:%M'}])",
            "type",
        ) from None


def _url(value: Any) -> str:
    text = as_text(value).strip()
    if not _URL.match(text):
        raise ValueProblem(f"{shown(text)!r} is not a public http(s) URL with a host name", "type")
    return text


def convert(value: Any, kind: FieldType) -> Any:
    """The value in the field's type, as it will be sent; ValueProblem when it is not one."""
    if kind is FieldType.STRING:
        return as_text(value)
    if kind is FieldType.NUMBER:
        # The canonical decimal text: exact, and JSON-safe in the item store and Parquet.
        return _number(value)
    if kind is FieldType.INTEGER:
        return _integer(value)
    if kind is FieldType.BOOLEAN:
        return _boolean(value)
    if kind is FieldType.DATE:
        return _date(value)
    if kind is FieldType.DATETIME:
        return _datetime(value)
    return _url(value)


def check_value(value: Any, spec: FieldMapping, *, in_list: bool) -> Any:
    """Convert and check one value (one element of a list field when ``in_list``)."""
    value = convert(value, spec.type)
    if spec.enum is not None and as_text(value) not in spec.enum:
        raise ValueProblem(
            f"{shown(value)!r} is not one of the allowed values: {', '.join(spec.enum)}", "enum"
        )
    if isinstance(value, str):
        if spec.max_length is not None and len(value) > spec.max_length:
            raise ValueProblem(
                f"the value is {len(value):,} characters long; the field allows at most "
                f"{spec.max_length:,}",
                "max_length",
            )
        if in_list and "," in value:
            raise ValueProblem(
                f"the list value {shown(value)!r} holds a comma, which Sales Layer reads as a "
                "separator between list values; remove it or split the value",
                "list_separator",
            )
    return value
