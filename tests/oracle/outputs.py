"""The row engine's writers: staged tables and the rejects CSV from its item store."""

from __future__ import annotations

import csv
import json
from pathlib import Path
from typing import Any

from saleslayer_airflow.validation.outputs import REJECT_COLUMNS, spreadsheet_safe, table_schema
from tests.oracle.store import ItemStore

_BATCH = 50_000


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
