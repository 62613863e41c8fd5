"""`required:` checked on the merged item, for the fields whose rows may each lack the value.

An item made of several rows (``TablePlan.required_on_item``: a table with `continuation:`
rows, or a `collect: true` list) is complete when one of its rows gives the value: a Shopify
product whose first row has no image but whose image rows do, a group whose title sits on a
later row. Those fields are optional on each row (mapping/plan.py); once the rows are merged
(:meth:`Items.resolve`), an item with no value for one of them is rejected with every row merged
into it, at its first row's line, like any item-level reject.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from saleslayer_airflow.mapping.plan import FieldSource, TablePlan
    from saleslayer_airflow.normalize.items import Items


def _source_name(source: FieldSource) -> str:
    """The rejects file's `column` of a field: its column(s), or what it is built from."""
    if source.columns:
        return " + ".join(source.columns)
    if source.column is not None:
        return source.column
    if source.template is not None:
        return " + ".join(source.template.columns) or f"(template of {source.field})"
    return f"(constant of {source.field})"


def _reason(plan: TablePlan, empty: list[FieldSource]) -> str:
    names = ", ".join(repr(s.out) for s in empty)
    noun = "a required field is" if len(empty) == 1 else "required fields are"
    rows = "of this item's group" if plan.continuation is not None else "of this item"
    return (
        f"{noun} empty on every row {rows} ({names}); fill it on one of the item's "
        "rows in the export, or give the field a `default`"
    )


def reject_incomplete_items(items: Items) -> None:
    """Reject the items none of whose rows gave a value to one of their table's
    ``required_on_item`` fields, in order of first appearance."""
    import polars as pl

    for tbl, table in enumerate(items.tables):
        plan = table.plan
        if not plan.required_on_item or not table.resolved:
            continue
        sources = [plan.fields[i] for i in plan.required_on_item]
        names = [plan.columns[i].name for i in plan.required_on_item]
        missing = pl.any_horizontal(pl.col(name).is_null() for name in names)
        found = [part.filter(missing) for part in items.item_parts(tbl, ["ref", "_seq", *names])]
        found = [frame for frame in found if frame.height]
        if not found:
            continue
        incomplete = pl.concat(found, how="vertical").sort("_seq")
        items.prefetch(tbl, incomplete["ref"].to_list())
        for row in incomplete.iter_rows(named=True):
            ref = row["ref"]
            empty = [s for s, name in zip(sources, names, strict=True) if row[name] is None]
            items.reject_item(
                tbl,
                ref,
                _source_name(empty[0]),
                "",
                _reason(plan, empty),
                "required",
            )
