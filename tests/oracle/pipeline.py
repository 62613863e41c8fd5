"""The row engine (the reference the columnar engine is tested against). Validate and split:
landed files -> one Parquet file per table, and a rejects CSV.

Airflow-free: the operator calls :func:`split_export` with local copies of the landed files and a
local work folder, then publishes the outputs to the run's staging folder.

Balance: every source row is counted once in ``rows_read``. For each table, every row that feeds
it (passes its ``where`` filters) is counted in ``rows_in`` and ends as exactly one of: an item
written (``rows_out``), a row merged into an item of the same reference (``merged``), or a reject
(``rejected``, which includes ``conflicts`` and ``duplicates``). A category path counts one input
per level. :func:`split_export` checks ``rows_in == rows_out + merged + rejected`` for every table.

Completeness, for deletions (:mod:`saleslayer_airflow.validation.completeness`): per table, the
references of its rejected rows are staged beside its file (the export holds those items), and
the rows of its input a reader could not read are counted (such an export never drives
deletions).
"""

from __future__ import annotations

import logging
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

from saleslayer_airflow.config.connector import ConnectorConfig
from saleslayer_airflow.mapping.plan import TablePlan, build_plans
from saleslayer_airflow.normalize.results import (
    KnownRefs,
    LandedFile,
    SplitResult,
    no_known_refs,
    tables_of_file,
)
from saleslayer_airflow.readers import SourceRow, open_reader
from saleslayer_airflow.staging import REJECTED_REFS_SUFFIX
from saleslayer_airflow.validation.completeness import Unreadable, hides_references
from saleslayer_airflow.validation.errors import BalanceError
from tests.oracle.completeness import write_rejected_refs
from tests.oracle.outputs import write_rejects, write_table
from tests.oracle.parents import ParentCheck
from tests.oracle.rows import BoundTable, RowReject
from tests.oracle.store import Contribution, ItemStore

log = logging.getLogger(__name__)


class _Splitter:
    def __init__(
        self,
        plans: Sequence[TablePlan],
        store: ItemStore,
        chunk_rows: int,
        files_by_table: Mapping[str, tuple[str, ...] | None],
    ) -> None:
        self.plans = plans
        self.store = store
        self.chunk_rows = chunk_rows
        self.files_by_table = files_by_table
        self.rows_read = 0
        self.rows_unused = 0
        self.unreadable = [Unreadable() for _ in plans]

    def read_file(self, file_index: int, landed: LandedFile, fmt: Any) -> None:
        feeds = tables_of_file(self.plans, self.files_by_table, landed.file)
        with landed.path.open("rb") as raw:
            reader = open_reader(raw, fmt, landed.name)
            bound = {tbl: BoundTable(self.plans[tbl], reader.columns, landed.name) for tbl in feeds}
            fed = dict.fromkeys(bound, 0)
            pending: list[list[Contribution]] = [[] for _ in self.plans]
            for count, row in enumerate(reader, start=1):
                self.rows_read += 1
                if row.problem is not None:
                    # Counted for every table the file feeds, whatever its `where` says: the
                    # row's cells (and so the filter's verdict) cannot be trusted.
                    code = row.problem.code
                    for tbl, table in bound.items():
                        if hides_references(code, table.reference_of(row.cells)):
                            self.unreadable[tbl].note(landed.name, row.line, code)
                used = False
                for tbl, table in bound.items():
                    if not self._accepts(table, row):
                        continue
                    used = True
                    fed[tbl] += 1
                    self._feed(tbl, table, file_index, row, pending[tbl])
                if not used:
                    self.rows_unused += 1
                if count % self.chunk_rows == 0:
                    self._flush(pending)
            self._flush(pending)
            for tbl, table in bound.items():
                table.check_all_seen(fed[tbl])

    @staticmethod
    def _accepts(table: BoundTable, row: SourceRow) -> bool:
        try:
            return table.accepts(row.cells)
        except (IndexError, TypeError):
            return True  # an unreadable row: reject it in every table rather than lose it

    def _feed(
        self, tbl: int, table: BoundTable, file: int, row: SourceRow, pending: list[Contribution]
    ) -> None:
        if row.problem is not None:
            problem = row.problem
            self.store.reject_row(
                tbl,
                file,
                row.line,
                table.reference_of(row.cells),
                problem.column,
                problem.value,
                problem.reason,
                problem.code,
            )
            return
        table.note_seen(row.cells)
        mapped = table.map(row.cells)
        if isinstance(mapped, RowReject):
            self.store.reject_row(
                tbl,
                file,
                row.line,
                mapped.ref,
                mapped.column,
                mapped.value,
                mapped.reason,
                mapped.code,
            )
            return
        pending.extend(Contribution(item.ref, file, row.line, item.values) for item in mapped)

    def _flush(self, pending: list[list[Contribution]]) -> None:
        for tbl, contributions in enumerate(pending):
            if contributions:
                self.store.add(tbl, contributions)
                contributions.clear()


def _check_balance(store: ItemStore) -> None:
    for table in store.tables:
        c = table.counts
        if c.rows_in != c.rows_out + c.merged + c.rejected:
            raise BalanceError(
                f"table {table.plan.key!r}: rows_in {c.rows_in} != rows_out {c.rows_out} + merged "
                f"{c.merged} + rejected {c.rejected}; this is a bug in saleslayer-airflow, please "
                "report it with the connector file"
            )


def _top_reasons(store: ItemStore, limit: int = 5) -> list[tuple[str, int, str]]:
    names = [t.plan.key for t in store.tables]
    rows = store.db.execute(
        "SELECT tbl, code, COUNT(*), MIN(reason) FROM rejects GROUP BY tbl, code "
        "ORDER BY COUNT(*) DESC LIMIT ?",
        (limit,),
    ).fetchall()
    return [(f"{names[tbl]}: {code}", count, example) for tbl, code, count, example in rows]


def split_export(
    config: ConnectorConfig,
    files: Sequence[LandedFile],
    work_dir: Path,
    *,
    known_refs: KnownRefs = no_known_refs,
    chunk_rows: int = 5_000,
) -> SplitResult:
    """Read ``files`` in order, map and validate every row, write ``work_dir/split/<table>.parquet``
    and ``work_dir/rejects.csv``. A table with `file:` reads only the named files it lists.
    Raises SourceFileError / MappingError for a file that cannot be read or mapped at all; bad
    rows become rejects."""
    plans = build_plans(config)
    split_dir = work_dir / "split"
    split_dir.mkdir(parents=True, exist_ok=True)
    store = ItemStore(work_dir / "items.sqlite", plans, [f.name for f in files])
    try:
        files_by_table = {key: table.source_files() for key, table in config.tables.items()}
        splitter = _Splitter(plans, store, chunk_rows, files_by_table)
        for index, landed in enumerate(files):
            splitter.read_file(index, landed, config.format)
            log.info("read %s: %d rows so far", landed.name, splitter.rows_read)
        store.reject_duplicated()
        ParentCheck(store, known_refs).run()
        for tbl, table in enumerate(store.tables):
            table.counts.rows_out = store.count_items(tbl)
        _check_balance(store)
        paths = {}
        rejected_refs = {}
        for tbl, table in enumerate(store.tables):
            path = split_dir / f"{table.plan.key}.parquet"
            write_table(store, tbl, path)
            paths[table.plan.key] = path
            if config.target.deletions.enabled:  # only deletions read them
                refs_path = split_dir / f"{table.plan.key}{REJECTED_REFS_SUFFIX}"
                write_rejected_refs(store, tbl, refs_path)
                rejected_refs[table.plan.key] = refs_path
        rejects_path = work_dir / "rejects.csv"
        rejects = write_rejects(store, rejects_path)
        rows_rejected = int(
            store.db.execute(
                "SELECT COUNT(*) FROM (SELECT DISTINCT file, line FROM rejects)"
            ).fetchone()[0]
        )
        return SplitResult(
            rows_read=splitter.rows_read,
            rows_unused=splitter.rows_unused,
            rows_rejected=rows_rejected,
            rejects=rejects,
            rejects_path=rejects_path,
            tables={t.plan.key: t.counts for t in store.tables},
            paths=paths,
            top_reasons=_top_reasons(store),
            rejected_refs=rejected_refs,
            unreadable={t.plan.key: splitter.unreadable[tbl] for tbl, t in enumerate(store.tables)},
        )
    finally:
        store.close()
        (work_dir / "items.sqlite").unlink(missing_ok=True)
