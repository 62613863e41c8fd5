"""The declared transforms of a field (trim, case, map, parse_number, parse_date), in order."""

from __future__ import annotations

import re
from collections.abc import Sequence
from datetime import datetime
from typing import Any

from saleslayer_airflow.config.tables import Transform
from saleslayer_airflow.validation.values import ValueProblem, as_text, shown

_TIME_DIRECTIVES = re.compile(r"%[HIMSfpzZ]")


def _parse_number(text: str, decimal: str) -> float:
    cleaned = text.strip().replace(" ", "").replace("\u00a0", "")
    if decimal == "comma":
        cleaned = cleaned.replace(".", "").replace(",", ".")
    else:
        cleaned = cleaned.replace(",", "")
    try:
        return float(cleaned)
    except ValueError:
        sep = "," if decimal == "comma" else "."
        raise ValueProblem(
            f"{shown(text)!r} is not a number with {sep!r} as decimal separator", "type"
        ) from None


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
            if not isinstance(value, int | float) or isinstance(value, bool):
                value = _parse_number(as_text(value), step.parse_number)
        elif step.parse_date is not None:
            value = _parse_date(as_text(value), step.parse_date)
        if value is None:
            return None
    return value
