"""The stage's files from the columnar items: the same bytes as ``validation/outputs.py`` and
``validation/completeness.py`` write from the row engine's SQLite store.

- one Parquet file per table (:func:`saleslayer_airflow.validation.outputs.table_schema`, zstd,
  a row group per 50,000 items as before), its kept items in order of first appearance;
- the rejects CSV, ordered by file, line, table, then the order the rejects were made (see
  :mod:`saleslayer_airflow.normalize.items`), every text cell through ``spreadsheet_safe``;
- per table, its rejected references with their present forms;
- the top reasons and the number of distinct rejected rows, as the row engine's queries;
- the ignored rows CSV: the first rows no table took, with file, line and why (the report
  counts them all, per reason).
"""

from __future__ import annotations

import csv
import re
import sqlite3
from pathlib import Path
from typing import TYPE_CHECKING

from saleslayer_airflow.background import BackgroundWrites
from saleslayer_airflow.normalize.items import Items
from saleslayer_airflow.normalize.results import Ignored
from saleslayer_airflow.validation.completeness import present_forms
from saleslayer_airflow.validation.outputs import (
    FORMULA_START,
    REJECT_COLUMNS,
    spreadsheet_safe,
    table_schema,
)

if TYPE_CHECKING:
    import polars as pl
    import pyarrow as pa

_BATCH = 50_000  # the row engine's batch: one Parquet row group, one set of present forms
_FORMULA = "^[" + re.escape("".join(FORMULA_START)) + "]"


def _safe(expr: pl.Expr, name: str) -> pl.Expr:
    """``validation.outputs.spreadsheet_safe`` on a text column."""
    import polars as pl

    safe = pl.when(expr.str.contains(_FORMULA)).then(pl.lit("'") + expr).otherwise(expr)
    return safe.alias(name)


def write_table(items: Items, tbl: int, path: Path) -> int:
    """Write one table's kept items in source order; returns the rows written."""
    import polars as pl
    import pyarrow as pa
    import pyarrow.parquet as pq

    plan = items.tables[tbl].plan
    schema = table_schema(plan)
    names = dict(enumerate(items.files))
    columns = [c.name for c in plan.columns]

    def write(frame: pl.DataFrame) -> None:
        part = frame.to_arrow()
        arrays = [
            part.column(i).combine_chunks().cast(schema.field(i).type) for i in range(len(schema))
        ]
        # Row groups in order: one writer thread, the writes in the order submitted.
        group = pa.Table.from_arrays(arrays, schema=schema)
        background.submit(writer.write_table, group)

    background = BackgroundWrites()
    written = 0
    # The items come one _seq range at a time; the row groups stay the row engine's (every
    # _BATCH items from the first), whatever the ranges' sizes.
    carry = None
    # Dictionary pages only for the file name: on references, descriptions and codes they cost
    # twice the CPU to write and to read, and zstd makes the plain pages 4x smaller (1M variants:
    # 2.2 MB against 9.0 MB). The writes end (background exits first) before the footer.
    with (
        pq.ParquetWriter(
            path, schema, compression="zstd", use_dictionary=["_source_file"]
        ) as writer,
        background,
    ):
        for found in items.item_ranges(tbl, ["ref", "_file", "_line", *columns]):
            frame = found.select(
                pl.col("ref").alias("reference"),
                pl.col("_file").replace_strict(names, return_dtype=pl.String).alias("_source_file"),
                pl.col("_line"),
                *(pl.col(c) for c in columns),
            )
            if carry is not None:
                # Complete the previous range's last row group (slices: no copy of the range).
                need = _BATCH - carry.height
                carry = pl.concat([carry, frame.slice(0, need)], how="vertical")
                frame = frame.slice(need)
                if carry.height < _BATCH:
                    continue
                write(carry)
                written += carry.height
                carry = None
            whole = frame.height - frame.height % _BATCH
            for start in range(0, whole, _BATCH):
                write(frame.slice(start, _BATCH))
            carry = frame.slice(whole) if whole < frame.height else None
            written += whole
        if carry is not None:
            write(carry)
            written += carry.height
        if written == 0:
            writer.write_table(schema.empty_table())
    return written


def sorted_rejects(items: Items) -> pl.DataFrame:
    """Every reject in the rejects CSV's order: file, line, table, order made."""
    return items.rejects().sort(["_file", "_line", "tbl", "_order"], maintain_order=True)


def write_rejects(items: Items, path: Path) -> int:
    """The rejects CSV (header even when empty), byte for byte as the row engine's."""
    import polars as pl

    files = dict(enumerate(items.files))
    tables = {i: t.plan.key for i, t in enumerate(items.tables)}
    frame = sorted_rejects(items).select(
        _safe(pl.col("_file").replace_strict(files, return_dtype=pl.String), "file"),
        pl.col("_line"),
        _safe(pl.col("tbl").replace_strict(tables, default="", return_dtype=pl.String), "tbl"),
        *(_safe(pl.col(c), c) for c in ("ref", "col", "val", "reason")),
    )
    with path.open("w", encoding="utf-8", newline="") as out:
        writer = csv.writer(out)
        writer.writerow(REJECT_COLUMNS)
        for start in range(0, frame.height, _BATCH):
            writer.writerows(frame.slice(start, _BATCH).iter_rows())
    return frame.height


#: The ignored rows CSV's header.
IGNORED_COLUMNS = ["source_file", "line", "table", "reason"]


def write_ignored(ignored: Ignored, files: list[str], path: Path) -> int:
    """The ignored rows CSV (header even when empty): the rows ``ignored`` lists, by file (in
    the run's order) and line, every text cell spreadsheet-safe; returns the rows written."""
    order = {name: index for index, name in enumerate(files)}
    rows = sorted(ignored.rows, key=lambda r: (order.get(r[0], len(order)), r[1]))
    with path.open("w", encoding="utf-8", newline="") as out:
        writer = csv.writer(out)
        writer.writerow(IGNORED_COLUMNS)
        writer.writerows([spreadsheet_safe(cell) for cell in row] for row in rows)
    return len(rows)


def rejected_refs(items: Items, tbl: int) -> list[str]:
    """The table's distinct rejected references ('' left out) in code point order (SQLite's
    ``ORDER BY ref``)."""
    import polars as pl

    frame = items.rejects()
    return (
        frame.filter((pl.col("tbl") == tbl) & (pl.col("ref") != ""))["ref"]
        .unique()
        .sort()
        .to_list()
    )


def write_rejected_refs(items: Items, tbl: int, path: Path) -> int:
    """Stage the references of the table's rejected rows (and items) as one Parquet column
    ``reference`` with their present forms; returns how many distinct references were
    rejected."""
    import pyarrow as pa
    import pyarrow.parquet as pq

    plan = items.tables[tbl].plan
    schema = pa.schema([pa.field("reference", pa.string(), nullable=False)])
    refs = rejected_refs(items, tbl)
    plain = re.compile(r"[!-~]([ -~]*[!-~])?")
    with pq.ParquetWriter(path, schema, compression="zstd") as writer:
        for start in range(0, len(refs), _BATCH):
            forms: dict[str, None] = {}
            for ref in refs[start : start + _BATCH]:
                if plan.path is None and plain.fullmatch(ref):
                    forms[ref] = None  # printable ASCII, untrimmed: its only form
                else:
                    forms.update(dict.fromkeys(present_forms(ref, plan)))
            column: pa.Array = pa.array(list(forms), type=pa.string())
            writer.write_table(pa.Table.from_arrays([column], schema=schema))
        if not refs:
            writer.write_table(schema.empty_table())
    return len(refs)


def top_reasons(items: Items, limit: int = 5) -> list[tuple[str, int, str]]:
    """The commonest (table, code) of the rejects, with an example reason: the row engine's
    ``GROUP BY tbl, code ORDER BY COUNT(*) DESC LIMIT``. The groups are counted here; their
    order among equal counts is SQLite's, so SQLite sorts the (few) groups."""
    import polars as pl

    names = [t.plan.key for t in items.tables]
    groups = (
        items.rejects()
        .group_by("tbl", "code")
        .agg(pl.len().alias("n"), pl.col("reason").min())
        .sort(["tbl", "code"])
    )
    db = sqlite3.connect(":memory:")
    try:
        db.execute("CREATE TABLE g (tbl INTEGER, code TEXT, n INTEGER, reason TEXT)")
        db.executemany("INSERT INTO g VALUES (?, ?, ?, ?)", groups.iter_rows())
        rows = db.execute(
            "SELECT tbl, code, n, reason FROM g ORDER BY n DESC LIMIT ?", (limit,)
        ).fetchall()
    finally:
        db.close()
    return [(f"{names[tbl]}: {code}", n, example) for tbl, code, n, example in rows]


def rows_rejected(items: Items) -> int:
    """Distinct (file, line) among the rejects: the source rows with at least one reject."""
    return items.rejects().select("_file", "_line").unique().height
