"""The declared transforms of a field (trim, case, map, parse_number, parse_date), in order."""

from __future__ import annotations

import re
from collections.abc import Sequence
from datetime import datetime
from decimal import Decimal
from typing import Any

from saleslayer_airflow.config.tables import Transform
from saleslayer_airflow.validation.values import ValueProblem, as_text, checked_decimal, shown

_TIME_DIRECTIVES = re.compile(r"%[HIMSfpzZ]")


#: Grouping (thousands) separators each decimal separator allows besides the other mark:
#: blanks (space, no-break space, narrow no-break space) and, with a dot, the Swiss apostrophe.
_BLANKS = " \u00a0\u202f"
_GROUPING = {"comma": "." + _BLANKS, "dot": "," + _BLANKS + "'\u2019"}
_DECIMAL_MARK = {"comma": ",", "dot": "."}


def _number_pattern(decimal: str) -> re.Pattern[str]:
    mark = re.escape(_DECIMAL_MARK[decimal])
    group = "[" + re.escape(_GROUPING[decimal]) + "]"
    # Plain digits, or groups of three after one to three leading digits, all with the same
    # separator (the backreference); then an optional decimal part.
    return re.compile(
        rf"(?P<sign>[+-]?)(?P<int>[0-9]+|[0-9]{{1,3}}(?:(?P<sep>{group})[0-9]{{3}})"
        rf"(?:(?P=sep)[0-9]{{3}})*)(?:{mark}(?P<frac>[0-9]+))?"
    )


_NUMBER = {decimal: _number_pattern(decimal) for decimal in _DECIMAL_MARK}
_EXAMPLE = {"comma": "1234,5 or 1.234.567,89", "dot": "1234.5 or 1,234,567.89"}


def parse_number(text: str, decimal: str) -> Decimal:
    """``text`` as an exact decimal written with ``decimal`` ("comma" or "dot") as the decimal
    separator; :class:`ValueProblem` when it is not one, never a re-scaled number.

    Grouping separators are accepted only in well-formed groups of three, and only where the
    reading is unambiguous: with ``comma``, ``1.234,5``, ``1.234.567`` and ``1 234`` are fine,
    but ``1.234`` (one dot, no comma) could be 1234 or 1.234 and ``12.50`` is a dot-decimal
    number: both are rejected. Mirrored for ``dot``.
    """
    cleaned = text.strip()
    match = _NUMBER[decimal].fullmatch(cleaned)
    other = _DECIMAL_MARK["dot" if decimal == "comma" else "comma"]
    expected = (
        f"expected a number with {_DECIMAL_MARK[decimal]!r} as decimal separator, "
        f"e.g. {_EXAMPLE[decimal]}"
    )
    if match is None:
        raise ValueProblem(f"{shown(text)!r} is not a number: {expected}", "type")
    sep = match.group("sep")
    if sep == other and match.group("frac") is None and match.group("int").count(sep) == 1:
        raise ValueProblem(
            f"{shown(text)!r} is ambiguous: with {_DECIMAL_MARK[decimal]!r} as decimal "
            f"separator it reads as a whole number with a grouping {sep!r}, but it may be a "
            f"decimal written with {sep!r}; {expected}",
            "type",
        )
    digits = match.group("int") if sep is None else match.group("int").replace(sep, "")
    number = Decimal(match.group("sign") + digits + "." + (match.group("frac") or "0"))
    return checked_decimal(number, text)


def _parse_date(text: str, fmt: str) -> Any:
    try:
        parsed = datetime.strptime(text.strip(), fmt)
    except ValueError:
        raise ValueProblem(
            f"{shown(text)!r} does not match the date format {fmt!r}", "type"
        ) from None
    return parsed if _TIME_DIRECTIVES.search(fmt) else parsed.date()


def _map(value: Any, table: dict[str, Any]) -> Any:
    key = as_text(value)
    if key in table:
        return table[key]
    raise ValueProblem(
        f"{shown(key)!r} is not in the field's value map (known: {', '.join(table)})", "map"
    )


def apply_transforms(value: Any, transforms: Sequence[Transform]) -> Any:
    """``value`` after every transform; a transform that cannot apply raises ValueProblem."""
    for step in transforms:
        if step.trim:
            value = as_text(value).strip()
        elif step.case is not None:
            text = as_text(value)
            value = (
                text.lower()
                if step.case == "lower"
                else text.upper()
                if step.case == "upper"
                else text.title()
            )
        elif step.map is not None:
            value = _map(value, step.map)
        elif step.parse_number is not None:
            # A number of a JSON source is a number already: its separators mean nothing.
            if not isinstance(value, int | float | Decimal) or isinstance(value, bool):
                value = parse_number(as_text(value), step.parse_number)
        elif step.parse_date is not None:
            value = _parse_date(as_text(value), step.parse_date)
        if value is None:
            return None
    return value
