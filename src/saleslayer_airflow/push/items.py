"""Read a table's staged Parquet file as the items to send, under Sales Layer's field names.

The split stage writes one column per Sales Layer field (``<field>_<lang>`` per language, lists
as list columns) and the links as ``_parent_ref``, ``_category_refs``, ``_product_ref`` and
``_link_<table>``. Here each link gets the field name Sales Layer imports it under, empty values
are left out (an item only carries what the export says), and the file is read a batch at a
time so memory does not grow with the table.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

from saleslayer_airflow.config.tables import TableMapping
from saleslayer_airflow.push.pipeline import OutgoingItem

#: Columns the split stage adds for its own bookkeeping: never sent.
_BOOKKEEPING = frozenset({"reference", "_source_file", "_line"})
_PARENT_COLUMNS = ("_parent_ref", "_category_refs", "_product_ref")
_LINK_PREFIX = "_link_"
_READ_BATCH = 10_000


def field_names(table_key: str, table: TableMapping, columns: list[str]) -> dict[str, str]:
    """Staged column -> Sales Layer field, for every column that is sent."""
    names: dict[str, str] = {}
    parent_field = table.import_parent_field(table_key)
    for column in columns:
        if column in _BOOKKEEPING:
            continue
        if column in _PARENT_COLUMNS:
            if parent_field is not None:
                names[column] = parent_field
        elif column.startswith(_LINK_PREFIX):
            link = column.removeprefix(_LINK_PREFIX)
            ref_list = table.links.get(link)
            names[column] = (ref_list.field if ref_list and ref_list.field else None) or link
        else:
            names[column] = column
    return names


def _clean(value: Any) -> Any:
    if isinstance(value, float) and value.is_integer():
        return int(value)
    return value


def read_items(path: Any, table_key: str, table: TableMapping) -> Iterator[OutgoingItem]:
    """The items of a staged table file (a local path or an ObjectStoragePath), in file order."""
    import pyarrow.parquet as pq

    with path.open("rb") if hasattr(path, "open") else open(path, "rb") as handle:  # noqa: PTH123
        parquet = pq.ParquetFile(handle)
        names = field_names(table_key, table, parquet.schema_arrow.names)
        for batch in parquet.iter_batches(batch_size=_READ_BATCH):
            for row in batch.to_pylist():
                fields = {
                    names[column]: _clean(value)
                    for column, value in row.items()
                    if column in names and value not in (None, "", [])
                }
                yield OutgoingItem(str(row["reference"]), fields)


def read_references(path: Any) -> set[str]:
    """Every reference of a staged table file: what a complete export holds, for deletions."""
    import pyarrow.parquet as pq

    with path.open("rb") if hasattr(path, "open") else open(path, "rb") as handle:  # noqa: PTH123
        column = pq.read_table(handle, columns=["reference"]).column("reference")
        return {str(ref) for ref in column.to_pylist()}
