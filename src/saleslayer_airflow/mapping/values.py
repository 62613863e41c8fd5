"""The value rules of a table's mapping: one source value in, its converted value or why not out.

Every rule of a mapped value lives here once: the item reference (normalisation, category path
levels, length), a field (default, required, list separator, transforms, type, enum, length), a
link (normalised like the items it points at; a variant needs its product) and the value a reject
shows. The split applies them to the distinct values of a column (normalize/cells.py); the row
engine the tests compare it with (tests/oracle) applies the same functions row by row, so the two
engines cannot drift apart on a rule.

A rule returns its value, or a :class:`Rejected` saying why the row gives the table nothing. Its
``reason`` is the text of the rejects file, byte for byte (the golden copy compares them).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field

from saleslayer_airflow.config.tables import FieldMapping, RowFilter, TableKind
from saleslayer_airflow.mapping.columns import is_empty
from saleslayer_airflow.mapping.plan import PRODUCT_REF, FieldSource, LinkPlan, TablePlan
from saleslayer_airflow.mapping.references import (
    PathTree,
    loose_paths,
    normalise_reference,
    path_levels,
    path_link_refs,
    path_tree,
    reference_text,
)
from saleslayer_airflow.mapping.transforms import apply_transforms, emptied_by
from saleslayer_airflow.readers.json import MISSING
from saleslayer_airflow.validation.values import ValueProblem, as_text, check_value, shown

#: The longest reference kept: the state store keys items by it (a 512-character column), so a
#: longer one must be rejected here, before Sales Layer acknowledges an item it cannot record.
MAX_REFERENCE_LENGTH = 512

#: A field's value as staged: text (numbers, dates and URLs too), an integer, a boolean, a list
#: of texts (a field with a separator), or None (no value).
FieldValue = str | int | bool | list[str] | None
#: A link's value: one reference, a list of references, or None (no link).
LinkValue = str | list[str] | None


@dataclass(frozen=True, slots=True)
class Rejected:
    """Why a value gives its row's table nothing: the reject's ``reason`` and ``code``, and the
    value it ``shown`` ('' for no value)."""

    reason: str
    code: str
    shown: str


@dataclass(frozen=True, slots=True)
class RejectedReference(Rejected):
    """A reference that gives no item; ``ref`` is the reference the row is rejected under ('',
    the reference normalised as far as it goes, or the too-long reference), so that links to it
    learn it was rejected."""

    ref: str


@dataclass(frozen=True, slots=True)
class ItemReference:
    """A row's item reference; for a category path, ``levels`` holds the reference of every
    level from the top (``A``, ``A > B``, ...), the last one being ``ref``. With several paths
    in a cell (``path.list_separator``), ``levels`` holds every path's levels once each, ``ref``
    is the cell's paths joined again, and ``tree`` tells each level's parent, leaf and title."""

    ref: str
    levels: tuple[str, ...] | None = None
    tree: PathTree | None = field(default=None, compare=False)


def show_value(value: object) -> str:
    """The value a reject shows for the source value ``value``: '' for no value, else its text
    cut to a readable length."""
    return "" if value is None or value is MISSING else shown(as_text(value))


def passes_filter(row_filter: RowFilter, value: object) -> bool:
    """Whether a row whose ``row_filter.column`` holds ``value`` passes that `where` filter."""
    if row_filter.empty is not None:
        return is_empty(value) == row_filter.empty
    text = "" if is_empty(value) else as_text(value)
    wanted = row_filter.equals
    return text in (wanted if isinstance(wanted, list) else [wanted])


# -- the item reference --------------------------------------------------------------------------


def _reference(plan: TablePlan, raw: object) -> ItemReference:
    """The item reference of a non-empty source value; raises ValueProblem when it has none."""
    if plan.path is None:
        ref = normalise_reference(raw)
        if not ref:
            raise ValueProblem("the reference is empty; every item needs one", "no_reference")
        return ItemReference(ref)
    sep, listed = plan.path.separator, plan.path.list_separator
    tree = path_tree(raw, sep, listed)
    if listed is None:
        return ItemReference(tree.refs[-1], tree.refs, tree)
    return ItemReference(listed.join(sep.join(path) for path in tree.paths), tree.refs, tree)


def _loose_reference(plan: TablePlan, raw: object) -> str:
    """The reference a rejected row is recorded under: normalised as far as it goes (a path with
    an empty level keeps it), so that a link to it finds it among the rejected."""
    try:
        if plan.path is None:
            return normalise_reference(raw)
        return loose_paths(raw, plan.path.separator, plan.path.list_separator)
    except ValueProblem:
        return as_text(raw).strip()


def rejected_reference(plan: TablePlan, raw: object) -> str:
    """The reference a row whose reference column holds ``raw`` is rejected under when it cannot
    be read or mapped ('' when it has none): links to it then learn it was rejected."""
    return "" if is_empty(raw) else _loose_reference(plan, raw)


def item_reference(plan: TablePlan, raw: object) -> ItemReference | RejectedReference:
    """The item reference a row whose reference column (or path column) holds ``raw`` gives."""
    if is_empty(raw):
        noun = "category path" if plan.path else "reference"
        return RejectedReference(
            f"the {noun} is empty; every item needs one", "no_reference", show_value(raw), ""
        )
    try:
        found = _reference(plan, raw)
    except ValueProblem as problem:
        return RejectedReference(
            problem.reason, problem.code, show_value(raw), _loose_reference(plan, raw)
        )
    # a path gives its levels as references (the longest: the deepest, or a cell's longest)
    ref = found.ref if found.tree is None else max(found.levels or (found.ref,), key=len)
    if len(ref) > MAX_REFERENCE_LENGTH:
        return RejectedReference(
            f"the reference is {len(ref)} characters long; at most {MAX_REFERENCE_LENGTH} "
            "are kept (shorten it in the ERP, or map another column as the reference)",
            "reference_too_long",
            shown(ref),
            ref,
        )
    return found


# -- fields --------------------------------------------------------------------------------------


def _field(spec: FieldMapping, raw: object) -> FieldValue:
    if is_empty(raw) and spec.default is not None:
        raw = spec.default
    if is_empty(raw):
        if spec.required:
            raise ValueProblem("a required field is empty", "required")
        return None
    if spec.separator is not None:
        parts = raw if isinstance(raw, list) else as_text(raw).split(spec.separator)
        values: list[str] = []
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
    converted: str | int | bool = check_value(value, spec, in_list=False)
    return converted


def field_value(source: FieldSource, cell: object) -> FieldValue | Rejected:
    """The value of ``source``'s output column for a row whose mapped column holds ``cell`` (a
    field with a constant has no column: its constant is the value, ``cell`` is ignored; a field
    with a template: ``cell`` is the row's :func:`template_cell`)."""
    raw = cell if source.column is not None or source.template is not None else source.constant
    try:
        return _field(source.spec, raw)
    except ValueProblem as problem:
        return Rejected(f"field {source.out!r}: {problem.reason}", problem.code, show_value(raw))


def empties_values(spec: FieldMapping) -> bool:
    """Whether a transform of ``spec`` may leave a value empty by its ``empty`` option."""
    return any(
        (step.extract is not None and step.extract.on_no_match == "empty")
        or (step.split is not None and step.split.on_missing == "empty")
        for step in spec.transforms
    )


def emptied_values(spec: FieldMapping, raw: object) -> tuple[str, ...]:
    """For each value of the cell ``raw`` (each element of a list field) that a transform's
    ``empty`` option leaves without a value, the transform (:func:`emptied_by`): what the
    split counts instead of rejecting. A cell that is empty gives nothing."""
    if is_empty(raw):
        return ()
    parts: list[object] = [raw]
    if spec.separator is not None:  # split and stripped as `_field` does
        split = list(raw) if isinstance(raw, list) else as_text(raw).split(spec.separator)
        parts = [part.strip() if isinstance(part, str) else part for part in split]
    found = []
    for part in parts:
        if not is_empty(part) and (where := emptied_by(part, spec.transforms)) is not None:
            found.append(where)
    return tuple(found)


def template_cell(source: FieldSource, cells: Sequence[object]) -> str | None:
    """The value a `template:` field's row gives, from the row's ``cells`` of the template's
    placeholders (aligned with ``source.template.names``): None when every one is empty. A
    non-text cell (a JSON number) is its text."""
    assert source.template is not None
    return source.template.render([None if is_empty(c) else as_text(c) for c in cells])


# -- links ---------------------------------------------------------------------------------------


def _link(link: LinkPlan, raw: object) -> LinkValue:
    """The link's reference(s), normalised exactly like the items they point at; raises
    ValueProblem for one that cannot be a reference (the row is rejected, never trimmed of the
    bad reference)."""
    if is_empty(raw):
        return None
    noun = f"{link.noun} reference"
    if not link.is_list:
        return normalise_reference(raw, noun) or None
    parts: list[object]
    if link.path_separator is not None and link.path_list_separator is not None:
        cells = raw if isinstance(raw, list) else [raw]
        found = [
            ref
            for cell in cells
            if not is_empty(cell)
            for ref in path_link_refs(
                cell, link.path_separator, link.path_list_separator, f"{link.noun} path level"
            )
        ]
        return list(dict.fromkeys(found)) or None
    if isinstance(raw, list):
        parts = raw
    elif link.separator is not None:
        parts = list(reference_text(raw, noun).split(link.separator))
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


def link_value(plan: TablePlan, link: LinkPlan, cell: object) -> LinkValue | Rejected:
    """The value of ``link`` (a link of ``plan`` with a column) for a row whose link column holds
    ``cell``; a variant without a product reference is rejected."""
    try:
        value = _link(link, cell)
    except ValueProblem as problem:
        return Rejected(problem.reason, problem.code, show_value(cell))
    if value is None and plan.kind is TableKind.VARIANTS and link.out == PRODUCT_REF:
        return Rejected(
            "the variant has no product reference; every variant belongs to a product",
            "no_parent",
            "",
        )
    return value
