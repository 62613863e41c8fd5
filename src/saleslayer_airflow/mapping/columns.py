"""Finding mapped columns in a landed file: exact names (case included), or JSON dotted paths."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Any

from saleslayer_airflow.mapping.errors import MappingError
from saleslayer_airflow.readers.json import MISSING, lookup

Getter = Callable[[Any], Any]
_DELIMITERS = (";", ",", "\t", "|")


def _hint(columns: Sequence[str]) -> str:
    if len(columns) == 1:
        for delimiter in _DELIMITERS:
            if delimiter in columns[0]:
                return (
                    f" The header was read as one column that contains {delimiter!r}: the file "
                    f"is probably delimited by {delimiter!r}; check format.delimiter."
                )
    return ""


def _close(name: str, columns: Sequence[str]) -> str:
    same = [c for c in columns if c.lower() == name.lower() or c.strip() == name]
    return f" (did you mean {same[0]!r}? names match exactly, case included)" if same else ""


def tabular_getters(
    columns: Sequence[str], needed: Sequence[str], *, file: str, table: str
) -> dict[str, Getter]:
    """Getters by column name for list-shaped rows; a missing or doubled column is an error."""
    positions: dict[str, list[int]] = {}
    for index, name in enumerate(columns):
        positions.setdefault(name, []).append(index)
    problems = []
    for name in needed:
        found = positions.get(name, [])
        if not found:
            problems.append(f"column {name!r} is not in the file{_close(name, columns)}")
        elif len(found) > 1:
            places = ", ".join(str(i + 1) for i in found)
            problems.append(
                f"column {name!r} appears {len(found)} times in the header (positions "
                f"{places}), so the value to use is ambiguous; rename the columns in the export"
            )
    if problems:
        listed = ", ".join(repr(c) for c in columns[:60]) + (" ..." if len(columns) > 60 else "")
        raise MappingError(
            f"{file}: table {table!r}: {'; '.join(problems)}. The file's columns are: "
            f"{listed}.{_hint(columns)}"
        )
    return {name: _position_getter(positions[name][0]) for name in needed}


def _position_getter(index: int) -> Getter:
    def get(cells: Any) -> Any:
        return cells[index] if index < len(cells) else MISSING

    return get


def _path_getter(path: str) -> Getter:
    def get(record: Any) -> Any:
        return lookup(record, path)

    return get


def record_getters(needed: Sequence[str]) -> dict[str, Getter]:
    """Getters by dotted path for JSON records; absent keys give MISSING."""
    return {name: _path_getter(name) for name in needed}


def is_empty(value: Any) -> bool:
    """No value: an absent key, null, or an empty cell."""
    return value is None or value is MISSING or value == ""
