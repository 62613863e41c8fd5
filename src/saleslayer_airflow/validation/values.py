"""Checks of one field value: type and format, enumeration, length, list separators."""

from __future__ import annotations

import math
import re
from datetime import date, datetime
from typing import Any

from saleslayer_airflow.config.tables import FieldMapping, FieldType

#: Values longer than this are cut in messages and in the rejects file.
SHOWN_CHARS = 200
_URL = re.compile(r"^https?://[^\s/?#]+\.[^\s/?#]+(/[^\s]*)?$|^https?://localhost(:\d+)?(/\S*)?$")
_TRUE = frozenset({"true", "1", "yes", "y"})
_FALSE = frozenset({"false", "0", "no", "n"})


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


def as_text(value: Any) -> str:
    """A source value as text: JSON numbers without a spurious '.0', objects as JSON."""
    if isinstance(value, str):
        return value
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, float) and value.is_integer():
        return str(int(value))
    if isinstance(value, dict | list):
        import json

        return json.dumps(value, ensure_ascii=False, separators=(",", ":"))
    return str(value)


def _number(value: Any) -> float:
    if isinstance(value, bool):
        raise ValueProblem(f"{value!r} is a boolean, not a number", "type")
    if isinstance(value, int | float):
        number = float(value)
    else:
        text = as_text(value).strip()
        try:
            number = float(text)
        except ValueError:
            raise ValueProblem(
                f"{shown(text)!r} is not a number (use a dot as decimal separator, or declare "
                "transforms: [{parse_number: comma}])",
                "type",
            ) from None
    if not math.isfinite(number):
        raise ValueProblem(f"{shown(value)!r} is not a finite number", "type")
    return number


def _integer(value: Any) -> int:
    if isinstance(value, int) and not isinstance(value, bool):
        return value
    number = _number(value)
    if not number.is_integer():
        raise ValueProblem(f"{shown(value)!r} is not a whole number", "type")
    return int(number)


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
