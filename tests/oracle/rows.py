"""The row engine's mapping (the reference the columnar engine is tested against): one source row
-> the items it gives a table (a category path: one per level), or why not.

Row by row, with the value rules of :mod:`saleslayer_airflow.mapping.values` (the same functions
the columnar engine applies to distinct values): only the walk over a row is the oracle's own.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from saleslayer_airflow.mapping.columns import MappedColumns
from saleslayer_airflow.mapping.plan import PARENT_REF, TablePlan
from saleslayer_airflow.mapping.values import (
    Rejected,
    RejectedReference,
    field_value,
    item_reference,
    link_value,
    passes_filter,
    rejected_reference,
    template_cell,
)
from saleslayer_airflow.readers.json import MISSING


@dataclass(slots=True)
class Item:
    """One item of a table: its reference and its values, aligned with the plan's columns."""

    ref: str
    values: list[Any]


@dataclass(frozen=True, slots=True)
class RowReject:
    """Why a row gives this table nothing."""

    ref: str
    column: str
    value: str
    reason: str
    code: str


class BoundTable:
    """A table plan bound to one landed file's columns."""

    def __init__(self, plan: TablePlan, columns: Sequence[str] | None, file: str) -> None:
        self.plan = plan
        self.file = file
        self.columns = MappedColumns(plan, columns, file)
        self._get = self.columns.getters
        self._ref_get = self._get[plan.path.column if plan.path else plan.reference]

    def accepts(self, cells: Any) -> bool:
        """Whether the row passes the table's `where` filters."""
        return all(passes_filter(f, self._get[f.column](cells)) for f in self.plan.where)

    def reference_of(self, cells: Any) -> str:
        """The row's reference as text, for a reject; '' when it has none. Normalised like
        :meth:`map` does, so that children linking to it learn it was rejected."""
        try:
            value = self._ref_get(cells)
        except (IndexError, TypeError):
            return ""
        return rejected_reference(self.plan, value)

    def note_seen(self, cells: Any) -> None:
        """JSON records: remember which mapped paths occurred at least once."""
        unseen = self.columns.unseen
        if unseen:
            self.columns.unseen = {p for p in unseen if self._get[p](cells) is MISSING}

    def check_all_seen(self, rows: int) -> None:
        """A mapped JSON path found in none of the table's records is a mapping mistake."""
        self.columns.check_all_seen(rows)

    def map(self, cells: Any) -> list[Item] | RowReject:
        """The row's items for this table, or the reason it gives none."""
        plan = self.plan
        ref_column = plan.path.column if plan.path else plan.reference
        found = item_reference(plan, self._ref_get(cells))
        if isinstance(found, RejectedReference):
            return RowReject(found.ref, ref_column, found.shown, found.reason, found.code)
        values: list[Any] = []
        for source in plan.fields:
            cell = self._get[source.column](cells) if source.column is not None else None
            if source.template is not None:
                cell = template_cell(source, [self._get[n](cells) for n in source.template.names])
            value = field_value(source, cell)
            if isinstance(value, Rejected):
                column = source.column or f"(constant of {source.field})"
                if source.template is not None:
                    column = source.template.text
                return RowReject(found.ref, column, value.shown, value.reason, value.code)
            values.append(value)
        for link in plan.links:
            if link.column is None:
                values.append(None)  # a path's parent, set per level below
                continue
            linked = link_value(plan, link, self._get[link.column](cells))
            if isinstance(linked, Rejected):
                return RowReject(found.ref, link.column, linked.shown, linked.reason, linked.code)
            values.append(linked)
        if found.levels is None:
            return [Item(found.ref, values)]
        parent_at = [c.name for c in plan.columns].index(PARENT_REF)
        items = []
        for depth, ref in enumerate(found.levels):
            level = list(values) if depth == len(found.levels) - 1 else [None] * len(values)
            level[parent_at] = found.levels[depth - 1] if depth else None
            items.append(Item(ref, level))
        return items
