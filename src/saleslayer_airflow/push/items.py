"""Read a table's staged Parquet file as the items to send, under Sales Layer's field names.

The split stage writes one column per Sales Layer field (``<field>_<lang>`` per language, lists
as list columns) and the links as ``_parent_ref``, ``_category_refs``, ``_product_ref`` and
``_link_<table>``. Here each link gets the field name Sales Layer imports it under, and the file
is read a batch at a time so memory does not grow with the table.

The ERP is the source of truth: a mapped field that is empty in the export is sent empty (``""``,
or an empty list for a list field), which clears it in Sales Layer, unless the field (or the
connector's ``target:``) says ``on_empty: keep``; then it is left out and Sales Layer keeps what
it has. Empty links are always left out, and so are the fields of the levels a category path
adds above a row's own category (the export says nothing about them). Numbers are exact
(:mod:`saleslayer_airflow.numbers`).
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import AbstractContextManager, contextmanager
from dataclasses import dataclass
from typing import Any

from saleslayer_airflow.config.tables import FieldType, OnEmpty, TableMapping
from saleslayer_airflow.numbers import FIELD_TYPE_KEY, ExactNumber, staged_number
from saleslayer_airflow.push.pipeline import OutgoingItem

#: Columns the split stage adds for its own bookkeeping: never sent.
_BOOKKEEPING = frozenset({"reference", "_source_file", "_line"})
_PARENT_COLUMNS = ("_parent_ref", "_category_refs", "_product_ref")
_LINK_PREFIX = "_link_"
_READ_BATCH = 10_000
#: What an empty cell is staged as.
_EMPTY: tuple[Any, ...] = (None, "", [])
#: Stands for a cell left out of its item (empty, and its field does not clear).
_OMIT: Any = object()


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
    # A float column comes from a file staged before numbers were exact: send it as it was.
    if isinstance(value, float) and value.is_integer():
        return int(value)
    return value


def _exact(value: Any) -> Any:
    if type(value) is str:
        # Plain decimal digits (what the split stage writes) read without a Decimal: the
        # same value staged_number gives, at a fraction of its cost; anything else goes to it.
        whole, dot, fraction = value.partition(".")
        digits = whole[1:] if whole[:1] == "-" else whole
        plain = not dot or (fraction.isascii() and fraction.isdigit())
        if digits.isascii() and digits.isdigit() and plain:
            if not fraction.strip("0"):
                return int(whole)
            return ExactNumber(value)
    return staged_number(value) if isinstance(value, str) else _clean(value)


def _field_columns(table: TableMapping, on_empty: OnEmpty | None) -> set[str]:
    # The staged columns of the mapped fields (one per language); with ``on_empty``, only those
    # of fields whose own on_empty (or, unset, ``on_empty``) is clear.
    found: set[str] = set()
    for name, spec in table.fields.items():
        if on_empty is not None and (spec.on_empty or on_empty) is not OnEmpty.CLEAR:
            continue
        if spec.languages is None:
            found.add(name)
        else:
            found.update(f"{name}_{lang}" for lang in spec.languages)
    return found


def cleared_columns(
    table: TableMapping, columns: list[str], on_empty: OnEmpty = OnEmpty.CLEAR
) -> set[str]:
    """The staged columns whose empty cells clear the field: every column of a mapped field
    (one per language) whose ``on_empty`` (or, unset, the connector's) is ``clear``."""
    return _field_columns(table, on_empty) & set(columns)


@dataclass(frozen=True)
class StagedLayout:
    """How the columns of a staged table file become an item's fields (see the module's doc).

    ``names``: staged column -> Sales Layer field, for every column sent; ``clear``: the empty
    value that clears each clearable column ("" or []); ``numbers``: the exact number columns;
    ``levels``: with a category path, the field columns whose emptiness marks a level above a
    row's own category (its empty fields are left out, not cleared).
    """

    names: dict[str, str]
    clear: dict[str, Any]
    numbers: frozenset[str]
    levels: frozenset[str]

    def fields(self, row: dict[str, Any]) -> dict[str, Any]:
        """The fields of one staged row (a dict of its columns), as they are sent."""
        names, numbers = self.names, self.numbers
        levels = self.levels
        fields: dict[str, Any] = {}
        row_clear = {} if levels and all(row[c] in _EMPTY for c in levels) else self.clear
        for column, value in row.items():
            if column not in names:
                continue
            if value in _EMPTY:
                if column in row_clear:
                    fields[names[column]] = row_clear[column]
            elif column in numbers:
                fields[names[column]] = _exact(value)
            else:
                fields[names[column]] = _clean(value)
        return fields

    def batch_fields(self, batch: Any) -> list[dict[str, Any]]:
        """The fields of every row of an Arrow record batch, as :meth:`fields` gives them (same
        values, same key order), built a column at a time: a Python call per cell and a dict
        of columns per row cost most of a push's reading."""
        if self.levels:  # whether a row clears depends on the whole row: row by row
            return [self.fields(row) for row in batch.to_pylist()]
        import pyarrow as pa

        names, keys, columns, dense = self.names, [], [], True
        for column, array in zip(batch.schema.names, batch.columns, strict=True):
            if column not in names:
                continue
            clear = self.clear.get(column, _OMIT)
            if column in self.numbers:
                convert: Any = _exact
            elif pa.types.is_floating(array.type):
                convert = _clean
            else:
                convert = None
            values = array.to_pylist()
            if convert is None:
                values = [clear if value in _EMPTY else value for value in values]
            else:
                values = [clear if value in _EMPTY else convert(value) for value in values]
            dense = dense and (clear is not _OMIT or _OMIT not in values)
            keys.append(names[column])
            columns.append(values)
        if not keys:
            return [{} for _ in range(batch.num_rows)]
        if dense:
            return [dict(zip(keys, row, strict=True)) for row in zip(*columns, strict=True)]
        return [
            {key: value for key, value in zip(keys, row, strict=True) if value is not _OMIT}
            for row in zip(*columns, strict=True)
        ]


def staged_layout(
    schema: Any, table_key: str, table: TableMapping, on_empty: OnEmpty = OnEmpty.CLEAR
) -> StagedLayout:
    """The :class:`StagedLayout` of a staged file of ``table`` with the Arrow ``schema``."""
    import pyarrow as pa

    names = field_names(table_key, table, schema.names)
    clear = {
        column: [] if pa.types.is_list(schema.field(column).type) else ""
        for column in cleared_columns(table, list(names), on_empty)
    }
    numbers = frozenset(
        column
        for column in names
        if (schema.field(column).metadata or {}).get(FIELD_TYPE_KEY)
        == FieldType.NUMBER.value.encode()
        and not pa.types.is_list(schema.field(column).type)
    )
    # A category path gives every level above a row's own category as an item with no
    # field values: the export says nothing about those fields, so they are not cleared.
    levels = _field_columns(table, None) & set(names) if table.path is not None else set()
    return StagedLayout(names, clear, numbers, frozenset(levels))


@contextmanager
def open_parquet(path: Any) -> Iterator[Any]:
    """A ``pyarrow.parquet.ParquetFile`` of a local path or an ObjectStoragePath."""
    import pyarrow.parquet as pq

    with path.open("rb") if hasattr(path, "open") else open(path, "rb") as handle:  # noqa: PTH123
        yield pq.ParquetFile(handle)


class StagedItems:
    """The items of a staged table file, in file order: iterate it for :class:`OutgoingItem`
    objects one at a time, or let :func:`~saleslayer_airflow.push.pipeline.push_table` decide
    them on columns (only the items it sends ever become Python objects)."""

    def __init__(
        self, path: Any, table_key: str, table: TableMapping, on_empty: OnEmpty = OnEmpty.CLEAR
    ) -> None:
        self.path, self.table_key, self.table, self.on_empty = path, table_key, table, on_empty

    def open(self) -> AbstractContextManager[Any]:
        """The staged file as a ``pyarrow.parquet.ParquetFile``."""
        return open_parquet(self.path)

    def layout(self, schema: Any) -> StagedLayout:
        return staged_layout(schema, self.table_key, self.table, self.on_empty)

    def __iter__(self) -> Iterator[OutgoingItem]:
        with self.open() as parquet:
            layout = self.layout(parquet.schema_arrow)
            for batch in parquet.iter_batches(batch_size=_READ_BATCH):
                references = batch.column("reference").to_pylist()
                for reference, fields in zip(references, layout.batch_fields(batch), strict=True):
                    yield OutgoingItem(str(reference), fields)


def read_items(
    path: Any, table_key: str, table: TableMapping, *, on_empty: OnEmpty = OnEmpty.CLEAR
) -> StagedItems:
    """The items of a staged table file (a local path or an ObjectStoragePath), in file order.

    ``on_empty``: the connector's default for fields that do not set their own.
    """
    return StagedItems(path, table_key, table, on_empty)


def read_references(path: Any) -> set[str]:
    """Every reference of a staged table file: what a complete export holds, for deletions."""
    with open_parquet(path) as parquet:
        column = parquet.read(columns=["reference"]).column("reference")
        return {str(ref) for ref in column.to_pylist()}
