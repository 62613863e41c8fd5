"""Both split engines on every corpus: the row engine (validation/pipeline.py) and the columnar
one (normalize/engine.py) must write the same files and return the same result.

The inputs are the golden cases (tests/golden/cases.py: every connector of tests/split/data on
its real export, the malformed and hostile corpora of tests/split and tests/adversarial, and
generated exports covering every reject code), each also run with tiny write chunks (the row
engine's ``chunk_rows`` decides the order of rejects several records on one line give), and a
minified JSON export whose records all share a line. Compared: rejects.csv byte for byte, the
summary (counts, top reasons, unreadable rows, rejected references, schemas), every table's rows
in order, the rejected references in their staged order, and every question to ``known_refs``.
"""

from __future__ import annotations

import dataclasses
import json
from collections.abc import Callable, Collection, Sequence
from pathlib import Path
from typing import Any

import pyarrow.parquet as pq
import pytest

from saleslayer_airflow.config.load import parse_connector
from saleslayer_airflow.normalize.engine import split_export as new_split
from saleslayer_airflow.normalize.results import LandedFile, SplitResult
from tests.golden.cases import REALDATA, Case, all_cases
from tests.golden.golden import first_difference, run_case
from tests.oracle.pipeline import split_export as old_split

CASES = all_cases()
VARIANTS = [(case, case.chunk_rows) for case in CASES] + [
    (case, rows) for case in CASES if not case.realdata for rows in (1, 2)
]


class Recorder:
    """A split function that keeps its result and a known_refs that logs its questions."""

    def __init__(self, split: Callable[..., SplitResult]) -> None:
        self.split = split
        self.result: SplitResult | None = None
        self.calls: list[tuple[str, list[str]]] = []

    def __call__(self, *args: Any, **kwargs: Any) -> SplitResult:
        known = kwargs["known_refs"]

        def logged(table: str, refs: Sequence[str]) -> Collection[str]:
            assert len(refs) <= 1000
            self.calls.append((table, list(refs)))
            answer: Collection[str] = known(table, refs)
            return answer

        kwargs["known_refs"] = logged
        self.result = self.split(*args, **kwargs)
        return self.result

    def asked(self) -> list[tuple[str, str]]:
        # The row engine may ask None (see tests/normalize/items_oracle.py::_asked).
        return [(t, r) for t, refs in self.calls for r in refs if r is not None]

    def staged_refs(self) -> dict[str, list[str]]:
        if self.result is None:
            return {}
        return {
            key: pq.read_table(path).column("reference").to_pylist()
            for key, path in self.result.rejected_refs.items()
        }


def _compare(old: dict[str, bytes], new: dict[str, bytes], what: str) -> None:
    assert sorted(new) == sorted(old), f"{what}: files {sorted(new)} != {sorted(old)}"
    for name in old:
        assert new[name] == old[name], f"{what}: " + first_difference(name, old[name], new[name])


@pytest.mark.parametrize(
    ("case", "chunk_rows"),
    VARIANTS,
    ids=[f"{case.name}-chunk{rows}" for case, rows in VARIANTS],
)
def test_both_engines_write_the_same(case: Case, chunk_rows: int, tmp_path: Path) -> None:
    if case.realdata and not REALDATA.is_dir():
        pytest.skip(f"{REALDATA} not present: a clone on its own has no shared/realdata")
    case = dataclasses.replace(case, chunk_rows=chunk_rows)
    old, new = Recorder(old_split), Recorder(new_split)
    old_files = run_case(case, tmp_path / "old", old)
    new_files = run_case(case, tmp_path / "new", new)
    _compare(old_files, new_files, case.name)
    assert new.staged_refs() == old.staged_refs()
    assert new.asked() == old.asked()


JSON_CONNECTOR = """\
id: minified
description: every record on line 1
schedule: null
start_date: 2026-01-01
source: {kind: http, conn_id: erp_http, endpoint: export}
format: {type: json}
target: {conn_id: saleslayer_default, deletions: {enabled: true}}
tables:
  categories:
    reference: cat
    parent: parent
    fields:
      name: cat_name
  products:
    reference: ref
    categories: {column: cats, separator: ","}
    fields:
      name: {column: name, required: true}
      price: {column: price, type: number}
  variants:
    reference: sku
    product: ref
    on_duplicate: reject
    fields:
      stock: {column: stock, type: integer}
"""


def _minified() -> bytes:
    records: list[dict[str, Any]] = []
    for n in range(60):
        records.append(
            {
                "cat": f"C{n % 7}",
                "parent": None if n % 7 == 0 else f"C{(n % 7 + 1) % 7}",
                "cat_name": f"cat {n % 3}",
                "ref": f"P{n % 9}",
                "cats": f"C{n % 7},c{n % 5}",
                "name": "" if n % 11 == 0 else f"name {n % 4}",
                "price": ["1.50", "1.5", "x", 2][n % 4],
                "sku": f"S{n % 23}",
                "stock": [1, "2", "many", None][n % 4],
            }
        )
    return json.dumps(records).encode()


@pytest.mark.parametrize("chunk_rows", [1, 2, 5, 5_000])
def test_records_sharing_a_line(tmp_path: Path, chunk_rows: int) -> None:
    config = parse_connector(JSON_CONNECTOR, "minified.yaml")
    landed = tmp_path / "export.json"
    landed.write_bytes(_minified())
    results = []
    for name, split in (("old", old_split), ("new", new_split)):
        known = Recorder(split)
        result = known(
            config,
            [LandedFile(landed, "export.json")],
            tmp_path / name,
            known_refs=lambda table, refs: [r for r in refs if r.startswith("c1")],
            chunk_rows=chunk_rows,
        )
        tables = {key: pq.read_table(path).to_pylist() for key, path in result.paths.items()}
        results.append(
            (
                result.rejects_path.read_bytes(),
                tables,
                result.tables,
                result.top_reasons,
                result.rows_read,
                result.rows_unused,
                result.rows_rejected,
                result.rejects,
                known.staged_refs(),
                known.asked(),
            )
        )
    old, new = results
    assert not (tmp_path / "new" / "items.spill").exists()  # the spilled rows are deleted
    assert new[0].decode() == old[0].decode()
    assert new == old
    assert old[2]["variants"].duplicates > 0 and old[2]["products"].conflicts > 0
