"""Continuation rows and multi-column lists, applied to a batch before a table maps it.

Continuation rows (``TableMapping.continuation``): an export such as Shopify's products CSV puts
the product on the first row of a group and each further variant, or extra image, on a row that
repeats only the key (the Handle) and leaves the product's cells blank. Contiguous rows with the
same key (as text, without surrounding blanks; an empty key groups nothing) form a group; an
empty cell of a row after the first takes the first row's cell, for the columns the plan fills
(``TablePlan.fill``). Groups run across batches: the last group of a batch is carried over.

A row after the first of its group whose reference cell is empty (an image-only row, for the
variants table) gives the table no item: it is left out of the table and counted
(:attr:`Continuations.without_reference`), not rejected; its values still feed the other tables.

Multi-column lists (``FieldMapping.columns``): the cells of several columns joined into one cell
the field's rule splits by its separator, which gives exactly the values of each cell split on
its own, in column order (see :func:`joined_cells`).
"""

from __future__ import annotations

import dataclasses
from collections.abc import Sequence
from typing import TYPE_CHECKING

from saleslayer_airflow.readers.json import MISSING
from saleslayer_airflow.validation.values import as_text

if TYPE_CHECKING:
    import polars as pl

    from saleslayer_airflow.mapping.plan import TablePlan
    from saleslayer_airflow.normalize.cells import Column
    from saleslayer_airflow.readers.batches import SourceBatch


def _empty(value: object) -> bool:
    return value is None or value is MISSING or value == ""


def _key_text(value: object) -> str | None:
    """A group key as compared: its text without surrounding blanks; None for no key."""
    if _empty(value):
        return None
    return as_text(value).strip() or None


def _cells(batch: SourceBatch, name: str) -> Column:
    found = batch.text.get(name)
    if found is not None:
        return found
    return batch.objects.get(name)


def _values(cells: Column, rows: int) -> list[object]:
    if cells is None:
        return [None] * rows
    if isinstance(cells, list):
        return cells
    return list(cells.to_pylist())


class Continuations:
    """One table's continuation groups over the batches of one landed file, in order."""

    def __init__(self, plan: TablePlan) -> None:
        assert plan.continuation is not None
        self.key = plan.continuation
        self.reference = plan.path.column if plan.path is not None else plan.reference
        self.fill = plan.fill
        #: the key of the last row seen, and its group's first-row cells of the filled columns
        self._last_key: str | None = None
        self._first: dict[str, object] = {}
        #: rows after the first of their group without a reference: left out of the table
        self.without_reference = 0
        #: rows whose empty cells took their group's first row's values (one or more cells)
        self.filled_rows = 0
        self._done: tuple[SourceBatch, SourceBatch, pl.Series] | None = None

    def apply(self, batch: SourceBatch) -> tuple[SourceBatch, pl.Series]:
        """The batch with its continuation rows filled, and per row whether it is a continuation
        row without a reference (to leave out of the table). Called several times for one batch
        (filters, then mapping), it computes once: the groups' state moves on once per batch."""
        if self._done is not None and self._done[0] is batch:
            return self._done[1], self._done[2]
        filled, skip = self._apply(batch)
        self._done = (batch, filled, skip)
        return filled, skip

    def _apply(self, batch: SourceBatch) -> tuple[SourceBatch, pl.Series]:
        import polars as pl

        rows = batch.num_rows
        if rows == 0:
            return batch, pl.Series("continued_without_reference", [], dtype=pl.Boolean)
        keys = _keys(_cells(batch, self.key), rows)
        previous = keys.shift(1, fill_value=self._last_key)
        continued = (keys == previous).fill_null(False)
        # per row, the position of its group's first row in this batch (null: a group carried
        # over from the batch before, whose first row is in ``self._first``)
        starts = (
            pl.select(
                pl.when(~continued).then(pl.int_range(0, rows, dtype=pl.Int64)).forward_fill()
            )
            .to_series()
            .alias("start")
        )
        last_start = starts[-1]
        text = dict(batch.text)
        objects = dict(batch.objects)
        first_now: dict[str, object] = {}
        filled_any = pl.repeat(False, rows, dtype=pl.Boolean, eager=True)
        for name in self.fill:
            cells = _cells(batch, name)
            if cells is None:  # a JSON key no record of this batch has: every cell is empty
                cells = [None] * rows
            carried = self._first.get(name)
            moved = not isinstance(cells, list) and not isinstance(carried, str | None)
            if moved:  # a JSON value (a number, a list) carried into a batch read as text
                cells = _values(cells, rows)
                text.pop(name, None)
            if isinstance(cells, list):
                out, changed = _fill_objects(cells, continued, starts, carried)
                if moved or changed.any():
                    objects[name] = out
            else:
                values = pl.Series("v", cells).cast(pl.String)
                firsts = values.gather(starts.fill_null(0))
                firsts = pl.select(
                    pl.when(starts.is_null())
                    .then(pl.lit(carried, dtype=pl.String))
                    .otherwise(firsts)
                ).to_series()
                changed = (
                    continued
                    & (values.is_null() | (values == "")).fill_null(True)
                    & (firsts.is_not_null() & (firsts != "")).fill_null(False)
                )
                if changed.any():
                    merged = pl.select(pl.when(changed).then(firsts).otherwise(values)).to_series()
                    text[name] = merged.to_arrow()
                values_first = None if last_start is None else values[last_start]
                first_now[name] = carried if last_start is None else values_first
                filled_any = filled_any | changed
                continue
            first_now[name] = carried if last_start is None else cells[last_start]
            filled_any = filled_any | changed
        self._last_key = keys[-1]
        self._first = first_now
        self.filled_rows += int(filled_any.sum())
        refs = _keys(_cells(batch, self.reference), rows)
        skip = (continued & refs.is_null()).alias("continued_without_reference")
        self.without_reference += int(skip.sum())
        filled = dataclasses.replace(batch, text=text, objects=objects)
        return filled, skip


def _keys(cells: Column, rows: int) -> pl.Series:
    """Texts without surrounding blanks, null for no text: group keys, or a reference cell
    (blank: no reference)."""
    import polars as pl

    if cells is None or isinstance(cells, list):
        return pl.Series("k", [_key_text(v) for v in _values(cells, rows)], dtype=pl.String)
    values = pl.Series("k", cells).cast(pl.String).str.strip_chars()
    return pl.select(pl.when(values != "").then(values)).to_series().alias("k")


def _fill_objects(
    cells: list[object], continued: pl.Series, starts: pl.Series, carried: object
) -> tuple[list[object], pl.Series]:
    """A JSON column's cells filled from their group's first row, and which ones were."""
    import polars as pl

    out = list(cells)
    changed = []
    for index, (cont, at) in enumerate(zip(continued.to_list(), starts.to_list(), strict=True)):
        first = carried if at is None else cells[at]
        fill = bool(cont) and _empty(cells[index]) and not _empty(first)
        if fill:
            out[index] = first
        changed.append(fill)
    return out, pl.Series(changed, dtype=pl.Boolean)


def _bordered(separator: str) -> bool:
    """Whether a separator's start is also its end ('||', ' | '): an occurrence could then
    straddle two joined cells, and joining would not split as the cells do one by one."""
    return any(separator[:k] == separator[-k:] for k in range(1, len(separator)))


def joined_cells(columns: Sequence[Column], separator: str, rows: int) -> Column:
    """One cell per row holding the values of every column, in order, that the field's rule
    splits by ``separator`` into exactly what each cell gives split on its own: text cells
    joined by the separator (when no occurrence can straddle two cells), else per row a list of
    every cell's parts (a JSON array cell gives its items)."""
    import polars as pl

    if all(c is None or not isinstance(c, list) for c in columns) and not _bordered(separator):
        texts = [
            pl.Series(f"c{i}", c).cast(pl.String) for i, c in enumerate(columns) if c is not None
        ]
        if not texts:
            return None
        frame = pl.DataFrame(texts)
        joined = frame.select(
            pl.concat_str(
                [pl.when(pl.col(s.name) != "").then(pl.col(s.name)) for s in texts],
                separator=separator,
                ignore_nulls=True,
            ).alias("joined")
        )["joined"]
        return joined.to_arrow()
    parts: list[object] = []
    lists = [_values(c, rows) for c in columns]
    for index in range(rows):
        found: list[object] = []
        for values in lists:
            value = values[index]
            if _empty(value):
                continue
            if isinstance(value, list):
                found += value
            else:
                found += as_text(value).split(separator)
        parts.append(found or None)
    return parts


__all__ = ["Continuations", "joined_cells"]
