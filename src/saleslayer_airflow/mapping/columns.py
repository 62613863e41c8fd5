"""Finding mapped columns in a landed file: exact names (case included), or JSON dotted paths."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import TYPE_CHECKING, Any

from saleslayer_airflow.mapping.errors import MappingError
from saleslayer_airflow.readers.json import MISSING, lookup

if TYPE_CHECKING:
    from saleslayer_airflow.mapping.plan import TablePlan

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


class MappedColumns:
    """A table's mapped source columns checked against one landed file.

    Tabular files: every mapped column (and filter column) must be in the header exactly once,
    else :class:`MappingError` before any row is read. JSON records: a mapped path found in none
    of the table's records is a spelling mistake; the caller removes the paths it sees from
    ``unseen`` and calls :meth:`check_all_seen` at the end of the file.
    """

    def __init__(self, plan: TablePlan, columns: Sequence[str] | None, file: str) -> None:
        self.plan = plan
        self.file = file
        needed = plan.source_columns()
        wanted = list(dict.fromkeys(needed + [f.column for f in plan.where]))
        self.getters: dict[str, Getter]
        if columns is None:
            self.getters = record_getters(wanted)
            self.unseen: set[str] = set(needed)
        else:
            self.getters = tabular_getters(columns, wanted, file=file, table=plan.key)
            self.unseen = set()

    def check_all_seen(self, rows: int) -> None:
        """A mapped JSON path found in none of the table's ``rows`` records is a mistake."""
        if rows and self.unseen:
            raise MappingError(
                f"{self.file}: table {self.plan.key!r}: the mapped path(s) "
                f"{', '.join(sorted(map(repr, self.unseen)))} occur in none of the "
                f"{rows:,} records; check the spelling (paths are dotted, case included)"
            )
