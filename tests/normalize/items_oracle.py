"""Feed the same contributions to the row engine's store (the reference) and to the columnar
items layer, and collect every output of each for an exact comparison.

A test describes source records: per table, a record gives either a row reject or one or more
contributions (a category path gives one per level). The row engine receives them as
``_Splitter`` hands them to :class:`ItemStore` (row rejects at once, contributions flushed every
``chunk_rows`` records of a file and at its end); the columnar layer receives them as the
mapping layer's :class:`TableChunk` objects, ``batch_records`` records at a time.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Collection, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import polars as pl
import pyarrow.parquet as pq

from saleslayer_airflow.config.load import parse_connector
from saleslayer_airflow.mapping.plan import TablePlan, build_plans
from saleslayer_airflow.normalize import outputs as new_outputs
from saleslayer_airflow.normalize.contributions import (
    TableChunk,
    items_schema,
    rejects_schema,
)
from saleslayer_airflow.normalize.items import Items
from saleslayer_airflow.normalize.parents import ParentCheck as NewParentCheck
from saleslayer_airflow.normalize.results import TableCounts
from tests.oracle.completeness import write_rejected_refs
from tests.oracle.outputs import write_rejects, write_table
from tests.oracle.parents import ParentCheck
from tests.oracle.pipeline import _top_reasons
from tests.oracle.store import Contribution, ItemStore


@dataclass(frozen=True)
class RowReject:
    ref: str
    col: str
    val: str
    reason: str
    code: str


@dataclass(frozen=True)
class Record:
    """One source record: per table index, a row reject or its contributions (ref, values)."""

    file: int
    line: int
    outcomes: dict[int, RowReject | list[tuple[str, list[Any]]]]


@dataclass
class Known:
    """A ``known_refs`` callable answering from fixed sets, recording every question."""

    refs: dict[str, set[str]] = field(default_factory=dict)
    calls: list[tuple[str, list[str]]] = field(default_factory=list)

    def __call__(self, table: str, refs: Sequence[str]) -> Collection[str]:
        self.calls.append((table, list(refs)))
        assert len(refs) <= 1000
        return [r for r in refs if r in self.refs.get(table, set())]


@dataclass
class Outputs:
    rejects_csv: bytes
    tables: dict[str, list[dict[str, Any]]]
    schemas: dict[str, Any]
    rejected_refs: dict[str, list[str]]
    counts: dict[str, TableCounts]
    top_reasons: list[tuple[str, int, str]]
    rows_rejected: int
    calls: list[tuple[str, list[str]]]


def plans_of(yaml_text: str) -> list[TablePlan]:
    return build_plans(parse_connector(yaml_text, "test.yaml"))


def _by_file(records: Sequence[Record]) -> list[tuple[int, Record]]:
    """(0-based index of the record in its file, record), files in order."""
    out: list[tuple[int, Record]] = []
    counts: dict[int, int] = {}
    for record in sorted(records, key=lambda r: r.file):  # stable: record order in a file
        out.append((counts.get(record.file, 0), record))
        counts[record.file] = counts.get(record.file, 0) + 1
    return out


def _read(paths: dict[str, Path]) -> tuple[dict[str, list[dict[str, Any]]], dict[str, Any]]:
    tables = {}
    schemas = {}
    for key, path in paths.items():
        table = pq.read_table(path)
        tables[key] = table.to_pylist()
        schemas[key] = table.schema
    return tables, schemas


def run_old(
    plans: Sequence[TablePlan],
    files: Sequence[str],
    records: Sequence[Record],
    known: Known,
    work: Path,
    *,
    chunk_rows: int = 5_000,
) -> Outputs:
    work.mkdir(parents=True, exist_ok=True)
    store = ItemStore(work / "items.sqlite", plans, files)
    try:
        pending: list[list[Contribution]] = [[] for _ in plans]

        def flush() -> None:
            for tbl, contributions in enumerate(pending):
                if contributions:
                    store.add(tbl, contributions)
                    contributions.clear()

        previous: int | None = None
        for index, record in _by_file(records):
            if previous is not None and record.file != previous:
                flush()
            previous = record.file
            for tbl, outcome in record.outcomes.items():
                if isinstance(outcome, RowReject):
                    store.reject_row(
                        tbl,
                        record.file,
                        record.line,
                        outcome.ref,
                        outcome.col,
                        outcome.val,
                        outcome.reason,
                        outcome.code,
                    )
                else:
                    pending[tbl].extend(
                        Contribution(ref, record.file, record.line, list(values))
                        for ref, values in outcome
                    )
            if (index + 1) % chunk_rows == 0:
                flush()
        flush()
        store.reject_duplicated()
        ParentCheck(store, known).run()
        paths = {}
        refs = {}
        for tbl, table in enumerate(store.tables):
            table.counts.rows_out = store.count_items(tbl)
            paths[table.plan.key] = work / f"{table.plan.key}.parquet"
            write_table(store, tbl, paths[table.plan.key])
            refs_path = work / f"{table.plan.key}.refs.parquet"
            write_rejected_refs(store, tbl, refs_path)
            refs[table.plan.key] = pq.read_table(refs_path).column(0).to_pylist()
        write_rejects(store, work / "rejects.csv")
        rows_rejected = int(
            store.db.execute(
                "SELECT COUNT(*) FROM (SELECT DISTINCT file, line FROM rejects)"
            ).fetchone()[0]
        )
        tables, schemas = _read(paths)
        return Outputs(
            rejects_csv=(work / "rejects.csv").read_bytes(),
            tables=tables,
            schemas=schemas,
            rejected_refs=refs,
            counts={t.plan.key: dataclasses.replace(t.counts) for t in store.tables},
            top_reasons=_top_reasons(store),
            rows_rejected=rows_rejected,
            calls=list(known.calls),
        )
    finally:
        store.close()


def chunks_of(
    plans: Sequence[TablePlan], records: Sequence[Record], batch_records: int
) -> list[TableChunk]:
    """The mapping layer's output for these records: per batch of records of one file, one
    chunk per table that got something, ``_order`` counted per table."""
    order = [0] * len(plans)
    chunks: list[TableChunk] = []
    ordered = _by_file(records)
    start = 0
    while start < len(ordered):
        file = ordered[start][1].file
        end = start
        while end < len(ordered) and end - start < batch_records and ordered[end][1].file == file:
            end += 1
        items: list[list[tuple[Any, ...]]] = [[] for _ in plans]
        rejects: list[list[tuple[Any, ...]]] = [[] for _ in plans]
        for index, record in ordered[start:end]:
            for tbl, outcome in record.outcomes.items():
                if isinstance(outcome, RowReject):
                    order[tbl] += 1
                    rejects[tbl].append(
                        (
                            record.file,
                            record.line,
                            index,
                            order[tbl],
                            outcome.ref,
                            outcome.col,
                            outcome.val,
                            outcome.reason,
                            outcome.code,
                        )
                    )
                    continue
                for ref, values in outcome:
                    order[tbl] += 1
                    items[tbl].append((ref, record.file, record.line, index, order[tbl], *values))
        for tbl, plan in enumerate(plans):
            if items[tbl] or rejects[tbl]:
                chunks.append(
                    TableChunk(
                        tbl,
                        pl.DataFrame(items[tbl], schema=items_schema(plan), orient="row"),
                        pl.DataFrame(rejects[tbl], schema=rejects_schema(), orient="row"),
                    )
                )
        start = end
    return chunks


def run_new(
    plans: Sequence[TablePlan],
    files: Sequence[str],
    records: Sequence[Record],
    known: Known,
    work: Path,
    *,
    chunk_rows: int = 5_000,
    batch_records: int = 65_536,
    spill: bool = False,
    partitions: int = 1,
    range_span: int = 131_072,
) -> Outputs:
    work.mkdir(parents=True, exist_ok=True)
    items = Items(
        plans,
        files,
        chunk_rows=chunk_rows,
        spill_dir=work / "spill" if spill else None,
        partitions=partitions,
        range_span=range_span,
    )
    for chunk in chunks_of(plans, records, batch_records):
        items.add(chunk)
    items.resolve()
    items.reject_duplicated()
    NewParentCheck(items, known).run()
    items.finish_counts()
    paths = {}
    refs = {}
    for tbl, table in enumerate(items.tables):
        paths[table.plan.key] = work / f"{table.plan.key}.parquet"
        new_outputs.write_table(items, tbl, paths[table.plan.key])
        refs_path = work / f"{table.plan.key}.refs.parquet"
        new_outputs.write_rejected_refs(items, tbl, refs_path)
        refs[table.plan.key] = pq.read_table(refs_path).column(0).to_pylist()
    new_outputs.write_rejects(items, work / "rejects.csv")
    tables, schemas = _read(paths)
    return Outputs(
        rejects_csv=(work / "rejects.csv").read_bytes(),
        tables=tables,
        schemas=schemas,
        rejected_refs=refs,
        counts={t.plan.key: dataclasses.replace(t.counts) for t in items.tables},
        top_reasons=new_outputs.top_reasons(items),
        rows_rejected=new_outputs.rows_rejected(items),
        calls=list(known.calls),
    )


def assert_same(old: Outputs, new: Outputs) -> None:
    """Every output equal, the rejects CSV byte for byte (shown as text on a difference)."""
    assert new.rejects_csv.decode() == old.rejects_csv.decode()
    assert new.tables == old.tables
    for key, schema in old.schemas.items():
        assert new.schemas[key].equals(schema, check_metadata=True), key
    assert new.counts == old.counts
    assert new.rejected_refs == old.rejected_refs
    assert new.top_reasons == old.top_reasons
    assert new.rows_rejected == old.rows_rejected
    assert _asked(new.calls) == _asked(old.calls)


def _asked(calls: list[tuple[str, list[str]]]) -> list[tuple[str, str]]:
    """The questions to ``known_refs`` in order, one (table, ref) each. The row engine also asks
    ``None`` for an item with no list of links when the target holds nothing yet (SQLite's
    ``NULL NOT IN (<empty>)`` is true); that is no reference, the columnar engine does not ask
    it, and it moves the batch edges: batches are compared as one sequence."""
    return [(table, ref) for table, refs in calls for ref in refs if ref is not None]
