"""The contract between the mapping layer and the items layer of the columnar engine.

For each table, the mapping layer (:mod:`saleslayer_airflow.normalize.mapping`) hands the items
layer (:mod:`saleslayer_airflow.normalize.items`) a :class:`TableChunk` per source batch, in
source order. A chunk holds exactly what the row engine gives :class:`ItemStore` today:

``items``: one row per contribution (the row engine's ``Contribution``, tests/oracle/store.py),
in the order it would be added to the store (record order, then level order for a category path):

- ``ref``: String, the normalised reference (never null);
- ``_file``: Int32, index of the landed file in the run's list of files;
- ``_line``: Int64, the record's line (``SourceRow.line``);
- ``_record``: Int64, 0-based index of the record among its file's records
  (``SourceBatch.first_record`` + position in the batch). The items layer uses it to reproduce
  the old engine's chunked writes, which decide the order of rejects sharing a line (several
  JSON records on one line);
- ``_order``: Int64, strictly increasing across all the chunks of one table (items and rejects
  share this sequence): the order the row engine adds contributions and rejects;
- then one column per ``plan.columns`` entry, named as the :class:`OutputColumn`, holding the
  value exactly as today's ``Item.values`` (see :func:`value_dtype`): String (numbers as their
  canonical decimal text, dates as text), Int64 for ``integer`` fields, Boolean for ``boolean``
  fields, List(String) for list columns (any type); null for ``None``.

``rejects``: one row per row reject (``ItemStore.reject_row``), in order:

- ``_file``: Int32, ``_line``: Int64, ``_record``: Int64, ``_order``: Int64 (as above: a row
  reject takes the order its row would have had among the contributions);
- ``ref``, ``col``, ``val``, ``reason``, ``code``: String, never null, the texts as the row
  engine passes them to ``reject_row``. Polars strings cannot hold a lone surrogate (an
  undecodable byte read with ``surrogateescape``, a JSON ``"\\ud800"``): pass such a text
  through ``normalize.results.storable`` first. The items layer applies ``_storable`` to every
  text anyway (it is idempotent), so a NUL may stay raw.

A table's ``rows_in`` is the number of contribution rows plus the number of row rejects.

The items layer stores every reject of the run (these, and those it makes) in one frame of the
same columns after ``tbl``: :func:`rejects_schema` with ``tbl=True``.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING

from saleslayer_airflow.config.tables import FieldType
from saleslayer_airflow.mapping.plan import OutputColumn, TablePlan

if TYPE_CHECKING:
    import polars as pl

#: the bookkeeping columns of ``TableChunk.items``, before the plan's columns
ITEM_KEYS = ("ref", "_file", "_line", "_record", "_order")
#: the columns of ``TableChunk.rejects``
REJECT_KEYS = ("_file", "_line", "_record", "_order", "ref", "col", "val", "reason", "code")


def value_dtype(column: OutputColumn) -> pl.DataType:
    """The polars dtype of one output column in ``TableChunk.items``."""
    import polars as pl

    if column.is_list:
        return pl.List(pl.String)
    if column.type is FieldType.INTEGER:
        return pl.Int64()
    if column.type is FieldType.BOOLEAN:
        return pl.Boolean()
    return pl.String()


def items_schema(plan: TablePlan) -> dict[str, pl.DataType]:
    """Column name -> polars dtype of ``TableChunk.items`` for ``plan``, in order."""
    import polars as pl

    schema: dict[str, pl.DataType] = {
        "ref": pl.String(),
        "_file": pl.Int32(),
        "_line": pl.Int64(),
        "_record": pl.Int64(),
        "_order": pl.Int64(),
    }
    for column in plan.columns:
        schema[column.name] = value_dtype(column)
    return schema


def rejects_schema(*, tbl: bool = False) -> dict[str, pl.DataType]:
    """Column name -> polars dtype of ``TableChunk.rejects``, in order (:data:`REJECT_KEYS`).

    With ``tbl``: of the items layer's frame of every reject of the run
    (:meth:`~saleslayer_airflow.normalize.items.Items.rejects`), the same columns after ``tbl``
    (Int32, the index of the table's plan), where ``_order`` is the order the rejects were made
    (the row engine's ``rowid``, not a contribution's order) and ``_record`` is null for the
    rejects of an item (the later phases: on_duplicate reject, parents, cycles)."""
    import polars as pl

    schema: dict[str, pl.DataType] = {"tbl": pl.Int32()} if tbl else {}
    schema.update(
        {
            "_file": pl.Int32(),
            "_line": pl.Int64(),
            "_record": pl.Int64(),
            "_order": pl.Int64(),
            "ref": pl.String(),
            "col": pl.String(),
            "val": pl.String(),
            "reason": pl.String(),
            "code": pl.String(),
        }
    )
    return schema


@dataclass(frozen=True)
class TableChunk:
    """What one source batch gives one table: its contributions and its row rejects."""

    #: index of the plan in ``build_plans(config)``
    table: int
    #: one row per contribution; columns and dtypes: :func:`items_schema`
    items: pl.DataFrame
    #: one row per row reject; columns and dtypes: :func:`rejects_schema`
    rejects: pl.DataFrame

    @property
    def rows_in(self) -> int:
        """What the chunk adds to the table's ``rows_in``."""
        return self.items.height + self.rejects.height


def empty_chunk(table: int, plan: TablePlan) -> TableChunk:
    """A chunk with no contribution and no reject, with the right columns and dtypes."""
    import polars as pl

    return TableChunk(
        table,
        pl.DataFrame(schema=items_schema(plan)),
        pl.DataFrame(schema=rejects_schema()),
    )


def check_chunk(chunk: TableChunk, plan: TablePlan) -> None:
    """Raise ValueError when a chunk's columns or dtypes differ from the contract (a bug in the
    mapping layer: the message names the table and the column)."""
    for frame, expected, what in (
        (chunk.items, items_schema(plan), "items"),
        (chunk.rejects, rejects_schema(), "rejects"),
    ):
        got = dict(frame.schema)
        if list(got) != list(expected):
            raise ValueError(
                f"table {plan.key!r}: TableChunk.{what} has columns {list(got)}, the contract "
                f"(normalize/contributions.py) wants {list(expected)}"
            )
        for name, dtype in expected.items():
            if got[name] != dtype:
                raise ValueError(
                    f"table {plan.key!r}: TableChunk.{what} column {name!r} is {got[name]}, the "
                    f"contract (normalize/contributions.py) wants {dtype}"
                )
