"""Writing the stage's files: one Parquet file per table, and the rejects CSV."""

from __future__ import annotations

import csv
import json
from pathlib import Path
from typing import Any

from saleslayer_airflow.config.tables import FieldType
from saleslayer_airflow.mapping.plan import TablePlan
from saleslayer_airflow.numbers import FIELD_TYPE_KEY
from saleslayer_airflow.tables import LINE, REFERENCE, SOURCE_FILE
from saleslayer_airflow.validation.store import ItemStore

REJECT_COLUMNS = ["source_file", "line", "table", "reference", "column", "value", "reason"]
_BATCH = 50_000


def _arrow_type(kind: FieldType, is_list: bool) -> Any:
    import pyarrow as pa

    # Numbers are the exact canonical decimal text ("12.5", "9007199254740993"), never float64,
    # which would round them; integers are range-checked to int64 when split.
    scalar = {
        FieldType.INTEGER: pa.int64(),
        FieldType.BOOLEAN: pa.bool_(),
    }.get(kind, pa.string())
    return pa.list_(pa.string()) if is_list else scalar


def table_schema(plan: TablePlan) -> Any:
    """reference, _source_file, _line, then one column per field (per language) and link."""
    import pyarrow as pa

    fields = [
        pa.field(REFERENCE, pa.string(), nullable=False),
        pa.field(SOURCE_FILE, pa.string(), nullable=False),
        pa.field(LINE, pa.int64(), nullable=False),
    ]
    fields += [
        pa.field(
            c.name,
            _arrow_type(c.type, c.is_list),
            metadata={FIELD_TYPE_KEY: c.type.value.encode()},
        )
        for c in plan.columns
    ]
    return pa.schema(fields)


def write_table(store: ItemStore, tbl: int, path: Path) -> int:
    """Write one table's items in source order, a batch at a time; returns the rows written."""
    import pyarrow as pa
    import pyarrow.parquet as pq

    plan = store.tables[tbl].plan
    schema = table_schema(plan)
    width = len(plan.columns)
    written = 0
    with pq.ParquetWriter(path, schema, compression="zstd") as writer:
        for batch in store.iter_items(tbl, _BATCH):
            columns: list[list[Any]] = [[] for _ in range(3 + width)]
            for ref, file, line, vals in batch:
                columns[0].append(ref)
                columns[1].append(store.files[file])
                columns[2].append(line)
                for index, value in enumerate(json.loads(vals)):
                    columns[3 + index].append(value)
            arrays = [pa.array(col, type=schema.field(i).type) for i, col in enumerate(columns)]
            writer.write_table(pa.Table.from_arrays(arrays, schema=schema))
            written += len(batch)
        if written == 0:
            writer.write_table(schema.empty_table())
    return written


#: What a spreadsheet program reads as the start of a formula (or of a DDE command).
FORMULA_START = ("=", "+", "-", "@", "\t", "\r")


def spreadsheet_safe(value: Any) -> Any:
    """A CSV cell a spreadsheet program shows as text: a string starting like a formula
    (``=``, ``+``, ``-``, ``@``, tab, carriage return) gets a leading ``'``, OWASP's defence
    against CSV injection, so ``=HYPERLINK(...)`` is shown, never run. The value stays readable:
    ``'=1+1``; a negative number written as text reads ``'-12``. Other values are unchanged."""
    if isinstance(value, str) and value.startswith(FORMULA_START):
        return "'" + value
    return value


def write_rejects(store: ItemStore, path: Path) -> int:
    """The rejects CSV (header even when empty), ordered by file, line and table.

    People open it in a spreadsheet program: every text cell goes through
    :func:`spreadsheet_safe`, so a rejected value such as ``=HYPERLINK(...)`` shows as
    ``'=HYPERLINK(...)`` instead of running."""
    names = [t.plan.key for t in store.tables]
    count = 0
    with path.open("w", encoding="utf-8", newline="") as out:
        writer = csv.writer(out)
        writer.writerow(REJECT_COLUMNS)
        cursor = store.db.execute(
            "SELECT file, line, tbl, ref, col, val, reason FROM rejects "
            "ORDER BY file, line, tbl, rowid"
        )
        while batch := cursor.fetchmany(10_000):
            for file, line, tbl, ref, col, val, reason in batch:
                table = names[tbl] if tbl >= 0 else ""
                cells = [store.files[file], line, table, ref, col, val, reason]
                writer.writerow([spreadsheet_safe(cell) for cell in cells])
                count += 1
    return count
