"""One source row -> the items it gives a table (a category path: one per level), or why not."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from saleslayer_airflow.config.tables import TableKind
from saleslayer_airflow.mapping.columns import is_empty, record_getters, tabular_getters
from saleslayer_airflow.mapping.errors import MappingError
from saleslayer_airflow.mapping.plan import FieldSource, LinkPlan, TablePlan
from saleslayer_airflow.mapping.references import normalise_reference, path_levels, reference_text
from saleslayer_airflow.mapping.transforms import apply_transforms
from saleslayer_airflow.readers.json import MISSING
from saleslayer_airflow.validation.values import ValueProblem, as_text, check_value, shown

#: The longest reference kept: the state store keys items by it (a 512-character column), so a
#: longer one must be rejected here, before Sales Layer acknowledges an item it cannot record.
MAX_REFERENCE_LENGTH = 512


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
        needed = plan.source_columns()
        filter_columns = [f.column for f in plan.where]
        if columns is None:
            self._get = record_getters(list(dict.fromkeys(needed + filter_columns)))
            self._unseen: set[str] = set(needed)
        else:
            self._get = tabular_getters(
                columns, list(dict.fromkeys(needed + filter_columns)), file=file, table=plan.key
            )
            self._unseen = set()
        self._ref_get = self._get[plan.path.column if plan.path else plan.reference]

    def accepts(self, cells: Any) -> bool:
        """Whether the row passes the table's `where` filters."""
        for row_filter in self.plan.where:
            value = self._get[row_filter.column](cells)
            if row_filter.empty is not None:
                if is_empty(value) != row_filter.empty:
                    return False
                continue
            text = "" if is_empty(value) else as_text(value)
            wanted = row_filter.equals
            if text not in (wanted if isinstance(wanted, list) else [wanted]):
                return False
        return True

    def reference_of(self, cells: Any) -> str:
        """The row's reference as text, for a reject; '' when it has none. Normalised like
        :meth:`map` does, so that children linking to it learn it was rejected."""
        try:
            value = self._ref_get(cells)
        except (IndexError, TypeError):
            return ""
        return "" if is_empty(value) else self._loose_reference(value)

    def _loose_reference(self, raw: Any) -> str:
        """The reference a rejected row is recorded under: normalised as far as it goes (a path
        with an empty level keeps it), so that a link to it finds it among the rejected."""
        try:
            if self.plan.path is None:
                return normalise_reference(raw)
            levels = path_levels(raw, self.plan.path.separator)
            return self.plan.path.separator.join(levels) if any(levels) else ""
        except ValueProblem:
            return as_text(raw).strip()

    def _reference(self, raw: Any) -> tuple[str, list[str] | None]:
        """The item reference of a non-empty source value, and its levels for a category path."""
        plan = self.plan
        if plan.path is None:
            ref = normalise_reference(raw)
            if not ref:
                raise ValueProblem("the reference is empty; every item needs one", "no_reference")
            return ref, None
        path = path_levels(raw, plan.path.separator)
        if not any(path):
            raise ValueProblem("the category path is empty; every item needs one", "no_reference")
        if not all(path):
            raise ValueProblem(
                f"the category path has an empty level (levels are separated by "
                f"{plan.path.separator!r})",
                "bad_path",
            )
        return plan.path.separator.join(path), path

    def note_seen(self, cells: Any) -> None:
        """JSON records: remember which mapped paths occurred at least once."""
        if self._unseen:
            self._unseen = {p for p in self._unseen if self._get[p](cells) is MISSING}

    def check_all_seen(self, rows: int) -> None:
        """A mapped JSON path found in none of the table's records is a mapping mistake."""
        if rows and self._unseen:
            raise MappingError(
                f"{self.file}: table {self.plan.key!r}: the mapped path(s) "
                f"{', '.join(sorted(map(repr, self._unseen)))} occur in none of the "
                f"{rows:,} records; check the spelling (paths are dotted, case included)"
            )

    # -- values --------------------------------------------------------------------------------

    def _field(self, source: FieldSource, cells: Any) -> Any:
        spec = source.spec
        raw = self._get[source.column](cells) if source.column is not None else source.constant
        if is_empty(raw) and spec.default is not None:
            raw = spec.default
        if is_empty(raw):
            if spec.required:
                raise ValueProblem("a required field is empty", "required")
            return None
        if spec.separator is not None:
            parts = raw if isinstance(raw, list) else as_text(raw).split(spec.separator)
            values = []
            for part in parts:
                part = part.strip() if isinstance(part, str) else part
                if is_empty(part):
                    continue
                value = apply_transforms(part, spec.transforms)
                if value is not None:
                    values.append(as_text(check_value(value, spec, in_list=True)))
            if not values and spec.required:
                raise ValueProblem("a required field has no value", "required")
            return values or None
        value = apply_transforms(raw, spec.transforms)
        if value is None:
            if spec.required:
                raise ValueProblem("a required field is empty after its transforms", "required")
            return None
        return check_value(value, spec, in_list=False)

    def _link(self, link: LinkPlan, cells: Any) -> Any:
        """The link's reference(s), normalised exactly like the items they point at; raises
        ValueProblem for one that cannot be a reference (the row is rejected, never trimmed of
        the bad reference)."""
        assert link.column is not None
        raw = self._get[link.column](cells)
        if is_empty(raw):
            return None
        noun = f"{link.noun} reference"
        if not link.is_list:
            return normalise_reference(raw, noun) or None
        if isinstance(raw, list):
            parts = raw
        elif link.separator is not None:
            parts = reference_text(raw, noun).split(link.separator)
        else:
            parts = [raw]
        refs = []
        for part in parts:
            if is_empty(part):
                continue
            if link.path_separator is None:
                ref = normalise_reference(part, noun)
            else:
                # An empty level is kept: the category side rejects that path under the same
                # reference, so this link then says its category was rejected.
                levels = path_levels(part, link.path_separator, f"{link.noun} path level")
                ref = link.path_separator.join(levels) if any(levels) else ""
            if ref:
                refs.append(ref)
        return list(dict.fromkeys(refs)) or None

    def _reject(self, ref: str, column: str, value: Any, reason: str, code: str) -> RowReject:
        shown_value = "" if value is None or value is MISSING else shown(as_text(value))
        return RowReject(ref, column, shown_value, reason, code)

    def map(self, cells: Any) -> list[Item] | RowReject:
        """The row's items for this table, or the reason it gives none."""
        plan = self.plan
        ref_column = plan.path.column if plan.path else plan.reference
        raw_ref = self._ref_get(cells)
        if is_empty(raw_ref):
            noun = "category path" if plan.path else "reference"
            return self._reject(
                "",
                ref_column,
                raw_ref,
                f"the {noun} is empty; every item needs one",
                "no_reference",
            )
        try:
            ref, path = self._reference(raw_ref)
        except ValueProblem as problem:
            return self._reject(
                self._loose_reference(raw_ref), ref_column, raw_ref, problem.reason, problem.code
            )
        if len(ref) > MAX_REFERENCE_LENGTH:
            return self._reject(
                ref,
                ref_column,
                ref,
                f"the reference is {len(ref)} characters long; at most {MAX_REFERENCE_LENGTH} "
                "are kept (shorten it in the ERP, or map another column as the reference)",
                "reference_too_long",
            )
        values: list[Any] = []
        for source in plan.fields:
            try:
                values.append(self._field(source, cells))
            except ValueProblem as problem:
                raw = self._get[source.column](cells) if source.column else source.constant
                column = source.column or f"(constant of {source.field})"
                return self._reject(
                    ref, column, raw, f"field {source.out!r}: {problem.reason}", problem.code
                )
        for link in plan.links:
            if link.column is None:
                values.append(None)  # a path's parent, set per level below
                continue
            try:
                value = self._link(link, cells)
            except ValueProblem as problem:
                raw_link = self._get[link.column](cells)
                return self._reject(ref, link.column, raw_link, problem.reason, problem.code)
            if value is None and plan.kind is TableKind.VARIANTS and link.out == "_product_ref":
                return self._reject(
                    ref,
                    link.column,
                    None,
                    "the variant has no product reference; every variant belongs to a product",
                    "no_parent",
                )
            values.append(value)
        if path is None:
            return [Item(ref, values)]
        return self._path_items(path, values)

    def _path_items(self, path: list[str], values: list[Any]) -> list[Item]:
        assert self.plan.path is not None
        sep = self.plan.path.separator
        parent_at = [c.name for c in self.plan.columns].index("_parent_ref")
        items = []
        for depth in range(1, len(path) + 1):
            level = values if depth == len(path) else [None] * len(values)
            level = list(level)
            level[parent_at] = sep.join(path[: depth - 1]) if depth > 1 else None
            items.append(Item(sep.join(path[:depth]), level))
        return items
