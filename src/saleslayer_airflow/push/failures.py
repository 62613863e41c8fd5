"""The items Sales Layer refused in a run: one file per table, merged into the run's rejects.

The push task hands every refused item (reference and Sales Layer's reason) to
:class:`FailedItems`, which keeps them in a local file (a whole table may be refused: memory
stays bounded) and, when the push ends, writes ``<run folder>/failed/<table>.csv``: the columns
of ``rejects.csv`` (the source file and line looked up in the staged table) plus ``stage``
(``failed``). The report task then appends them to the run's ``rejects.csv``
(:func:`merge_into_rejects`) with the reason ``refused by Sales Layer: <reason>``: the rejects
file keeps its columns (the UI, tests and people's own tooling read it), and a person finds
every row of the run that did not reach Sales Layer in one place.

Cells are written CSV-injection safe: a cell a spreadsheet would run as a formula (starting with
``= + - @``, a tab or a carriage return) is prefixed with ``'``.
"""

from __future__ import annotations

import csv
import shutil
import tempfile
from collections.abc import Iterable, Sequence
from pathlib import Path
from typing import IO, TYPE_CHECKING, TypeAlias

from saleslayer_airflow.push.pipeline import Refusal
from saleslayer_airflow.tables import BOOKKEEPING_COLUMNS
from saleslayer_airflow.validation.outputs import FORMULA_START, REJECT_COLUMNS, spreadsheet_safe

if TYPE_CHECKING:
    from airflow.sdk import ObjectStoragePath

#: A run folder or a file of it: in staging (an ObjectStoragePath) or a local path.
StoragePath: TypeAlias = "ObjectStoragePath | Path"

#: The run folder's sub-folder of refused items, one CSV per table.
FAILED_FOLDER = "failed"
FAILED_COLUMNS = [*REJECT_COLUMNS, "stage"]
FAILED_STAGE = "failed"
#: How a refused item's reason reads in the run's rejects file.
REFUSED_PREFIX = "refused by Sales Layer: "
_READ_BATCH = 10_000


def safe_cell(value: object) -> str:
    """``value`` as a CSV cell no spreadsheet runs as a formula."""
    return str(spreadsheet_safe("" if value is None else str(value)))


def table_size(staged_path: StoragePath) -> int:
    """The number of items of a staged table file (from its Parquet footer: nothing is read)."""
    import pyarrow.parquet as pq

    with staged_path.open("rb") as handle:
        return int(pq.ParquetFile(handle).metadata.num_rows)


def _origins(staged_path: StoragePath, references: set[str]) -> dict[str, tuple[str, int]]:
    """The source file and line of each of ``references`` in the staged table file."""
    import pyarrow.parquet as pq

    found: dict[str, tuple[str, int]] = {}
    with staged_path.open("rb") as handle:
        parquet = pq.ParquetFile(handle)
        columns = list(BOOKKEEPING_COLUMNS)
        for batch in parquet.iter_batches(batch_size=_READ_BATCH, columns=columns):
            refs, files, lines = (batch.column(c).to_pylist() for c in columns)
            for ref, file, line in zip(refs, files, lines, strict=True):
                if ref in references and ref not in found:
                    found[ref] = (str(file), int(line))
    return found


class FailedItems:
    """Collects one table's refused items during its push; :meth:`publish` writes them."""

    def __init__(self, table: str) -> None:
        self.table = table
        self.count = 0
        self._file: IO[str] = tempfile.TemporaryFile("w+", encoding="utf-8", newline="")  # noqa: SIM115
        self._writer = csv.writer(self._file)

    def add(self, refused: Sequence[Refusal]) -> None:
        """Keep ``refused`` (the pipeline's ``on_refused``)."""
        for one in refused:
            self._writer.writerow([one.reference, one.reason])
        self.count += len(refused)

    def publish(self, staged_path: StoragePath, run_folder: StoragePath) -> StoragePath | None:
        """Write ``failed/<table>.csv`` into ``run_folder`` (None and no file when nothing was
        refused: a file an earlier attempt of this run left is removed)."""
        target = run_folder / FAILED_FOLDER / f"{self.table}.csv"
        try:
            if not self.count:
                if target.exists():
                    target.unlink()
                return None
            self._file.seek(0)
            refs = {row[0] for row in csv.reader(self._file)}
            origins = _origins(staged_path, refs)
            self._file.seek(0)
            target.parent.mkdir(parents=True, exist_ok=True)
            with target.open("w", encoding="utf-8", newline="") as out:
                writer = csv.writer(out)
                writer.writerow(FAILED_COLUMNS)
                for ref, reason in csv.reader(self._file):
                    file, line = origins.get(ref, ("", 0))
                    row = [file, line or "", self.table, ref, "", "", reason, FAILED_STAGE]
                    writer.writerow([safe_cell(cell) for cell in row])
            return target
        finally:
            self._file.close()


def failed_files(run_folder: StoragePath) -> list[StoragePath]:
    """The run's ``failed/<table>.csv`` files, by name."""
    folder = run_folder / FAILED_FOLDER
    if not folder.exists():
        return []
    return sorted((p for p in folder.iterdir() if p.name.endswith(".csv")), key=lambda p: p.name)


def _unescaped(cell: str) -> str:
    """A cell as it was before :func:`safe_cell`."""
    return cell[1:] if cell.startswith("'") and cell[1:].startswith(FORMULA_START) else cell


def _rows(path: StoragePath) -> Iterable[list[str]]:
    with path.open("r", encoding="utf-8", newline="") as handle:
        reader = csv.reader(handle)
        next(reader, None)
        yield from reader


def merge_into_rejects(run_folder: StoragePath, rejects_name: str = "rejects.csv") -> int:
    """Append the run's refused items to its rejects file, reason ``refused by Sales Layer:
    <reason>``, once (rows a previous attempt of the report appended are replaced); returns how
    many were appended. The file is rewritten only when the run has refused items."""
    files = failed_files(run_folder)
    if not files:
        # The common case: the rejects file (maybe large) is not read at all.
        return 0
    rejects = run_folder / rejects_name
    with tempfile.TemporaryDirectory() as tmp:
        merged = Path(tmp) / rejects_name
        appended = 0
        with merged.open("w", encoding="utf-8", newline="") as out:
            writer = csv.writer(out)
            writer.writerow(REJECT_COLUMNS)
            if rejects.exists():
                for row in _rows(rejects):
                    if len(row) == len(REJECT_COLUMNS) and row[-1].startswith(REFUSED_PREFIX):
                        continue
                    writer.writerow(row)
            for path in files:
                for row in _rows(path):
                    values = row[: len(REJECT_COLUMNS)]
                    values[-1] = REFUSED_PREFIX + _unescaped(values[-1])
                    writer.writerow(values)
                    appended += 1
        with merged.open("rb") as source, rejects.open("wb") as target:
            shutil.copyfileobj(source, target)
    return appended
