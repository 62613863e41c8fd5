"""The declared transforms of a field, in order: trim, case, map, parse_number, parse_date; and
the text transforms prefix, suffix, template, html_unescape, extract, replace, split.

A text transform reads the value as text (a JSON number as written) and gives text; a result that
is empty ('' after `replace`, an `extract` or `split` left empty) is no value: the field is empty
(``default`` does not apply: it fills empty cells, before the transforms; ``required`` does).
"""

from __future__ import annotations

import html
import re
from collections.abc import Sequence
from datetime import datetime
from decimal import Decimal
from functools import lru_cache
from typing import Any

from saleslayer_airflow.config.tables import (
    ExtractTransform,
    SplitTransform,
    Transform,
    compiled_pattern,
)
from saleslayer_airflow.mapping.value_templates import parse_template
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


@lru_cache(maxsize=1024)
def _pattern(pattern: str) -> re.Pattern[str]:
    return compiled_pattern(pattern)


@lru_cache(maxsize=256)
def _value_literals(template: str) -> tuple[str, ...]:
    return parse_template(template).literals


class _LeftEmpty(Exception):
    """A transform's ``empty`` option left the value without a value: no reject, but counted
    (see :func:`emptied_by`); ``where`` names the transform and its option."""

    def __init__(self, where: str) -> None:
        super().__init__(where)
        self.where = where


def _empty_or_kept(text: str, on_no_match: str, why: str, code: str, option: str) -> str | None:
    if on_no_match == "keep":
        return text
    if on_no_match == "empty":
        raise _LeftEmpty(option)
    raise ValueProblem(why, code)


def _extract(text: str, spec: ExtractTransform, where: str) -> str | None:
    match = _pattern(spec.pattern).search(text)
    if match is None:
        return _empty_or_kept(
            text,
            spec.on_no_match,
            f"{shown(text)!r} does not match the pattern {spec.pattern!r} of {where} (extract); "
            "fix the value, or set on_no_match: empty or keep",
            "no_match",
            f"{where} (extract, on_no_match: empty)",
        )
    # a group that took no part in the match (an optional one) gives no value
    return match.group(spec.chosen_group()) or None


def _split(text: str, spec: SplitTransform, where: str) -> str | None:
    parts = text.split(spec.separator)
    if -len(parts) <= spec.index < len(parts):
        return parts[spec.index] or None
    return _empty_or_kept(
        text,
        spec.on_missing,
        f"{shown(text)!r} has {len(parts)} element(s) separated by {spec.separator!r}, so no "
        f"element {spec.index} for {where} (split); fix the value, or set on_missing: empty or "
        "keep",
        "no_match",
        f"{where} (split, on_missing: empty)",
    )


def _text_transform(value: object, step: Transform, where: str) -> str | None:
    """One text transform (prefix ... split) of a value; None when it leaves no value."""
    text = as_text(value)
    if step.prefix is not None:
        out: str | None = step.prefix + text
    elif step.suffix is not None:
        out = text + step.suffix
    elif step.template is not None:
        out = text.join(_value_literals(step.template))
    elif step.html_unescape:
        out = html.unescape(text)
    elif step.extract is not None:
        out = _extract(text, step.extract, where)
    elif step.replace is not None:
        out = _pattern(step.replace.pattern).sub(step.replace.with_, text)
    else:
        assert step.split is not None
        out = _split(text, step.split, where)
    return out or None


def apply_transforms(value: Any, transforms: Sequence[Transform]) -> Any:
    """``value`` after every transform; a transform that cannot apply raises ValueProblem."""
    try:
        return _apply(value, transforms)
    except _LeftEmpty:
        return None


def emptied_by(value: object, transforms: Sequence[Transform]) -> str | None:
    """The transform whose ``empty`` option (``on_no_match``, ``on_missing``) leaves ``value``
    without a value, e.g. "transforms[1] (extract, on_no_match: empty)"; None when none does
    (the value is kept, or rejected: a reject is counted on its own)."""
    try:
        _apply(value, transforms)
    except _LeftEmpty as left:
        return left.where
    except ValueProblem:
        return None
    return None


def _apply(value: Any, transforms: Sequence[Transform]) -> Any:
    for index, step in enumerate(transforms):
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
        else:
            value = _text_transform(value, step, f"transforms[{index}]")
        if value is None:
            return None
    return value
