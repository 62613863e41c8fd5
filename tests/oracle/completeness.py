"""The row engine's rejected references, staged from its item store."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from saleslayer_airflow.validation.completeness import present_forms
from tests.oracle.store import ItemStore

_BATCH = 50_000


def write_rejected_refs(store: ItemStore, tbl: int, path: Path) -> int:
    """Stage the references of the table's rejected rows (and items) as one Parquet column
    ``reference``, a batch at a time; returns how many distinct references were rejected."""
    import pyarrow as pa
    import pyarrow.parquet as pq

    plan = store.tables[tbl].plan
    schema = pa.schema([pa.field("reference", pa.string(), nullable=False)])
    count = 0
    cursor = store.db.execute(
        "SELECT DISTINCT ref FROM rejects WHERE tbl = ? AND ref != '' ORDER BY ref", (tbl,)
    )
    with pq.ParquetWriter(path, schema, compression="zstd") as writer:
        while batch := cursor.fetchmany(_BATCH):
            count += len(batch)
            refs: dict[str, None] = {}
            for (ref,) in batch:
                refs.update(dict.fromkeys(present_forms(str(ref), plan)))
            column: Any = pa.array(list(refs), type=pa.string())
            writer.write_table(pa.Table.from_arrays([column], schema=schema))
        if count == 0:
            writer.write_table(schema.empty_table())
    return count
