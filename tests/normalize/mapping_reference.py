"""The row engine as the reference for the mapping layer, and an adapter from its readers.

``old_mapping`` runs the row engine's own ``_Splitter.read_file`` (open_reader + BoundTable per
row) into a recording store, with chunks of one row so that contributions and row rejects are
recorded in the order the row engine produces them. ``new_mapping`` runs
:func:`saleslayer_airflow.normalize.mapping.map_file` and puts its chunks back in ``_order``.
``RowBatches`` turns the rows of the existing readers into :class:`SourceBatch` objects (the way
``readers/batches.py`` does, for the tests until its ``open_batches`` is there).
"""

from __future__ import annotations

import re
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pyarrow as pa

from saleslayer_airflow.config.connector import ConnectorConfig
from saleslayer_airflow.mapping.plan import build_plans
from saleslayer_airflow.normalize.results import LandedFile
from saleslayer_airflow.normalize.results import storable as _storable
from saleslayer_airflow.readers import open_reader
from saleslayer_airflow.readers.batches import SourceBatch
from saleslayer_airflow.readers.json import MISSING, lookup
from saleslayer_airflow.readers.records import SourceRow
from saleslayer_airflow.validation.completeness import Unreadable
from tests.oracle.pipeline import _Splitter
from tests.oracle.store import Contribution

_SURROGATE = re.compile("[\ud800-\udfff]")

#: ("item", ref, file, line, values) or ("reject", file, line, ref, col, val, reason, code)
Event = tuple[Any, ...]


@dataclass
class Mapped:
    """What one engine's mapping gave: per table its events in order, and the counts."""

    events: list[list[Event]]
    rows_read: int
    rows_unused: int
    unreadable: list[tuple[int, list[str], tuple[str, int, str] | None]]
    error: str | None = None
    #: per table: the ``_order`` of its items, then of its rejects, as the chunks came
    orders: list[tuple[list[int], list[int]]] = field(default_factory=list)


class _Recorder:
    def __init__(self, tables: int) -> None:
        self.events: list[list[Event]] = [[] for _ in range(tables)]

    def reject_row(
        self, tbl: int, file: int, line: int, ref: str, col: str, val: str, reason: str, code: str
    ) -> None:
        texts = tuple(_storable(t) for t in (ref, col, val, reason))
        self.events[tbl].append(("reject", file, line, *texts, code))

    def add(self, tbl: int, contributions: Sequence[Contribution]) -> None:
        for c in contributions:
            self.events[tbl].append(("item", c.ref, c.file, c.line, list(c.values)))


def _unreadable(notes: Sequence[Unreadable]) -> list[tuple[int, list[str], Any]]:
    return [(u.rows, list(u.files), u.first) for u in notes]


def _files_by_table(config: ConnectorConfig) -> dict[str, tuple[str, ...] | None]:
    return {key: table.source_files() for key, table in config.tables.items()}


def old_mapping(config: ConnectorConfig, files: Sequence[LandedFile]) -> Mapped:
    plans = build_plans(config)
    recorder = _Recorder(len(plans))
    splitter = _Splitter(plans, recorder, 1, _files_by_table(config))  # type: ignore[arg-type]
    error = None
    try:
        for index, landed in enumerate(files):
            splitter.read_file(index, landed, config.format)
    except Exception as exc:  # the same error is expected from the new engine
        error = f"{type(exc).__name__}: {exc}"
    return Mapped(
        recorder.events,
        splitter.rows_read,
        splitter.rows_unused,
        _unreadable(splitter.unreadable),
        error,
    )


def new_mapping(
    config: ConnectorConfig,
    files: Sequence[LandedFile],
    batch_rows: int = 65_536,
    opener: Any = None,
) -> Mapped:
    """The mapping layer's result; ``opener``: how files become batches (None: the readers'
    ``open_batches``; ``RowBatches``: this module's adapter of the row readers)."""
    from saleslayer_airflow.normalize.contributions import check_chunk
    from saleslayer_airflow.normalize.mapping import map_file

    plans = build_plans(config)
    unreadable = [Unreadable() for _ in plans]
    keyed: list[list[tuple[int, Event]]] = [[] for _ in plans]
    orders: list[tuple[list[int], list[int]]] = [([], []) for _ in plans]
    rows_read = rows_unused = 0
    error = None
    try:
        for index, landed in enumerate(files):
            mapping = map_file(
                plans,
                _files_by_table(config),
                landed,
                index,
                config.format,
                unreadable=unreadable,
                batch_rows=batch_rows,
                opener=opener,
            )
            for tbl, chunk in mapping:
                check_chunk(chunk, plans[tbl])
                names = [c.name for c in plans[tbl].columns]
                orders[tbl][0].extend(chunk.items.get_column("_order").to_list())
                orders[tbl][1].extend(chunk.rejects.get_column("_order").to_list())
                for row in chunk.items.iter_rows(named=True):
                    values = [row[name] for name in names]
                    event: Event = ("item", row["ref"], row["_file"], row["_line"], values)
                    keyed[tbl].append((row["_order"], event))
                for row in chunk.rejects.iter_rows(named=True):
                    texts = (row["ref"], row["col"], row["val"], row["reason"])
                    event = ("reject", row["_file"], row["_line"], *texts, row["code"])
                    keyed[tbl].append((row["_order"], event))
            rows_read += mapping.rows_read
            rows_unused += mapping.rows_unused
    except Exception as exc:  # compared with the row engine's error
        error = f"{type(exc).__name__}: {exc}"
    return Mapped(
        [[e for _, e in sorted(k, key=lambda pair: pair[0])] for k in keyed],
        rows_read,
        rows_unused,
        _unreadable(unreadable),
        error,
        orders,
    )


def assert_same(old: Mapped, new: Mapped) -> None:
    assert new.error == old.error
    if old.error is not None:
        return  # the run stops: what was mapped before the error is never used
    for tbl, (got, want) in enumerate(zip(new.events, old.events, strict=True)):
        for index, (g, w) in enumerate(zip(got, want, strict=False)):
            assert g == w, f"table {tbl}, event {index}: {g} != {w}"
        assert len(got) == len(want), f"table {tbl}: {len(got)} events != {len(want)}"
    assert (new.rows_read, new.rows_unused) == (old.rows_read, old.rows_unused)
    assert new.unreadable == old.unreadable
    for items, rejects in new.orders:
        assert items == sorted(set(items)), "items: _order is not strictly increasing"
        assert rejects == sorted(set(rejects)), "rejects: _order is not strictly increasing"
        assert not set(items) & set(rejects), "an item and a reject share an _order"


# -- the adapter ---------------------------------------------------------------------------------


def _text_column(values: list[Any]) -> pa.Array | None:
    """An Arrow string column when every value is text (or no value), else None."""
    texts: list[str | None] = []
    for value in values:
        if value is None or value is MISSING or value == "":
            texts.append(None)
        elif isinstance(value, str) and not _SURROGATE.search(value):
            texts.append(value)
        else:
            return None
    return pa.array(texts, type=pa.string())


class RowBatches:
    """The rows of ``open_reader`` as SourceBatch objects (the readers/batches.py contract)."""

    def __init__(
        self,
        path: Path,
        fmt: Any,
        name: str,
        file: int,
        wanted: Sequence[str] | None,
        batch_rows: int = 65_536,
    ) -> None:
        self.name = name
        self._raw = path.open("rb")
        self._reader = open_reader(self._raw, fmt, name)
        self._file = file
        self._batch_rows = batch_rows
        header = self._reader.columns
        self._wanted = list(wanted) if wanted is not None else list(header or [])
        self._positions: dict[str, int] = {}
        if header is not None:
            for index, column in enumerate(header):
                self._positions.setdefault(column, index)

    @property
    def columns(self) -> Sequence[str] | None:
        return self._reader.columns

    def close(self) -> None:
        self._raw.close()

    def _value(self, row: SourceRow, name: str) -> Any:
        if isinstance(row.cells, dict):
            return lookup(row.cells, name)
        index = self._positions.get(name)
        if index is None or index >= len(row.cells):
            return MISSING
        return row.cells[index]

    def _batch(self, rows: list[SourceRow], first: int) -> SourceBatch:
        text: dict[str, pa.Array] = {}
        objects: dict[str, list[Any]] = {}
        present: dict[str, pa.Array] = {}
        for name in self._wanted:
            if self.columns is not None and name not in self._positions:
                continue
            values = [self._value(row, name) for row in rows]
            column = _text_column(values)
            if column is not None:
                text[name] = column
            else:
                objects[name] = values
            if self.columns is None:
                present[name] = pa.array([v is not MISSING for v in values], type=pa.bool_())
        problems = [row.problem for row in rows]

        def strings(attribute: str) -> pa.Array:
            return pa.array(
                [None if p is None else _storable(getattr(p, attribute)) for p in problems],
                type=pa.string(),
            )

        return SourceBatch(
            file=self._file,
            first_record=first,
            lines=pa.array([row.line for row in rows], type=pa.int64()),
            text=text,
            objects=objects,
            problem_code=strings("code"),
            problem_reason=strings("reason"),
            problem_column=strings("column"),
            problem_value=strings("value"),
            present=present,
        )

    def __iter__(self) -> Iterator[SourceBatch]:
        rows: list[SourceRow] = []
        first = 0
        for row in self._reader:
            rows.append(row)
            if len(rows) == self._batch_rows:
                yield self._batch(rows, first)
                first += len(rows)
                rows = []
        if rows:
            yield self._batch(rows, first)


def check_mapping(
    config: ConnectorConfig, files: Sequence[LandedFile], batch_sizes: Sequence[int]
) -> Mapped:
    """The row engine's mapping, and the mapping layer's for every batch size, over both the
    readers' ``open_batches`` and the row readers' adapter: all identical. Returns the first."""
    old = old_mapping(config, files)
    for batch_rows in batch_sizes:
        for opener in (None, RowBatches):
            assert_same(old, new_mapping(config, files, batch_rows, opener))
    return old
