"""Bounded memory: the items layer split into parts (by a hash of the reference) and ranges
(of the order of first appearance), in memory or spilled, gives exactly the row engine's
outputs, whatever the number of parts and the size of the ranges; and the stage's peak memory
does not grow with the number of rows."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest
from hypothesis import given
from hypothesis import strategies as st

from saleslayer_airflow.normalize.engine import PART_BYTES, partitions_for
from saleslayer_airflow.normalize.results import LandedFile
from tests.normalize.items_oracle import Known, Record, run_new
from tests.normalize.support import FILES, RANDOM_EXPORTS, RandomExport, both, examples, plans


@examples(120)
@given(
    export=RANDOM_EXPORTS,
    batch_records=st.sampled_from([1, 3, 1_000]),
    partitions=st.sampled_from([2, 3, 7]),
    range_span=st.sampled_from([1, 2, 5, 131_072]),
    spill=st.booleans(),
)
def test_parts_and_ranges_never_change_the_outputs(
    export: RandomExport, batch_records: int, partitions: int, range_span: int, spill: bool
) -> None:
    export.check(
        chunk_rows=3,
        batch_records=batch_records,
        spill=spill,
        partitions=partitions,
        range_span=range_span,
    )


def test_one_reference_in_many_chunks_and_a_large_group_stay_exact(tmp_path: Path) -> None:
    """A reference on hundreds of rows across every chunk, a conflict far from its first row,
    spilled in parts and ranges: the same as the row engine's."""
    table_plans = plans("merge", "merge", "first")
    records = []
    for line in range(1, 601):
        title = "t" if line != 577 else "other"
        records.append(
            Record(
                0,
                line,
                {
                    1: [("P1", ["t" if line % 3 == 0 else None, None, None, None])],
                    2: [(f"S{line % 250}", ["M", "P1", None])],
                }
                if line != 577
                else {1: [("P1", [title, None, None, None])]},
            )
        )
    _, new = both(
        tmp_path,
        table_plans,
        records,
        chunk_rows=7,
        batch_records=13,
        spill=True,
        partitions=5,
        range_span=40,
    )
    assert new.counts["products"].conflicts == 1
    assert new.counts["variants"].duplicates == 600 - 1 - 250


def test_row_groups_are_whole_across_ranges(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The Parquet file's row groups are every _BATCH items from the first, as the row engine
    wrote them, though the items come in ranges of other sizes."""
    import pyarrow.parquet as pq

    from saleslayer_airflow.normalize import outputs

    monkeypatch.setattr(outputs, "_BATCH", 16)
    records = [Record(0, line, {2: [(f"S{line}", ["M", None, None])]}) for line in range(1, 91)]
    new = run_new(
        plans(),
        FILES,
        records,
        Known({}),
        tmp_path,
        chunk_rows=7,
        batch_records=11,
        spill=True,
        partitions=3,
        range_span=5,
    )
    assert [row["reference"] for row in new.tables["variants"]] == [f"S{n}" for n in range(1, 91)]
    meta = pq.ParquetFile(tmp_path / "variants.parquet").metadata
    sizes = [meta.row_group(i).num_rows for i in range(meta.num_row_groups)]
    assert sizes == [16] * 5 + [10]


def test_parts_grow_with_the_input(tmp_path: Path) -> None:
    small = tmp_path / "small.csv"
    small.write_bytes(b"x" * 10)
    big = tmp_path / "big.csv"
    with big.open("wb") as out:
        out.truncate(PART_BYTES * 5 + 1)
    assert partitions_for([LandedFile(small, "small.csv")]) == 1
    assert partitions_for([LandedFile(big, "big.csv"), LandedFile(small, "s.csv")]) == 6


_CHILD = """
import resource, sys
from pathlib import Path
from saleslayer_airflow.config.load import load_connector
from saleslayer_airflow.normalize import engine
engine.PART_BYTES = int(sys.argv[5])  # parts small enough that both runs hold several
config = load_connector(Path(sys.argv[1]))
export = Path(sys.argv[2])
result = engine.split_export(config, [engine.LandedFile(export, export.name)], Path(sys.argv[3]))
assert result.tables["variants"].rows_out == int(sys.argv[4]), result.tables
print(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss)
"""
_CONNECTOR = """\
id: flat
description: flat export
schedule: null
start_date: 2026-01-01
source: {kind: http, conn_id: erp_http, endpoint: flat.csv}
format: {type: csv, delimiter: ";"}
tables:
  categories:
    reference: category_path
    path: {column: category_path, separator: " > "}
  products:
    reference: product_ref
    categories: {column: category_path}
    fields:
      prod_title: {column: name, required: true}
  variants:
    reference: sku
    product: product_ref
    fields:
      size: size
      frmt_price: {column: price, type: number}
"""


def _export(path: Path, rows: int) -> None:
    with path.open("w", encoding="utf-8") as out:
        out.write("sku;product_ref;category_path;name;size;price\n")
        for i in range(rows):
            product = i // 5
            out.write(
                f"SKU{i:09d};P{product:08d};Cat {product % 40} > Sub {product % 7};"
                f"Product {product} name with some words;{'XSML'[i % 4]};{i % 997}.5\n"
            )


def _peak_kb(tmp_path: Path, rows: int, part_bytes: int) -> int:
    export = tmp_path / f"flat_{rows}.csv"
    _export(export, rows)
    connector = tmp_path / "flat.yaml"
    connector.write_text(_CONNECTOR, encoding="utf-8")
    done = subprocess.run(
        [
            sys.executable,
            "-c",
            _CHILD,
            connector,
            export,
            tmp_path / f"w{rows}",
            str(rows),
            str(part_bytes),
        ],
        capture_output=True,
        text=True,
        check=True,
    )
    return int(done.stdout.split()[-1])


def test_peak_memory_does_not_grow_with_the_rows(tmp_path: Path) -> None:
    """Five times the rows, about the same peak of the process. Before the parts, the items of
    every table were held at once: +60% here. The bound leaves room for the noise of a shared
    machine; the issue's target (within 1.1x at 1M and 5M rows) is measured by
    `make bench-pipeline`, not here."""
    small = _peak_kb(tmp_path, 300_000, 4 << 20)
    large = _peak_kb(tmp_path, 1_500_000, 4 << 20)
    assert large <= small * 1.3, (small, large)
