"""The refused items' files: ``failed/<table>.csv`` with the source file and line of each item,
merged once into the run's rejects (a report retried does not add them twice), and cells no
spreadsheet runs as formulas."""

from __future__ import annotations

import csv
from pathlib import Path

import pyarrow as pa
import pyarrow.parquet as pq

from saleslayer_airflow.push.failures import (
    FAILED_COLUMNS,
    FailedItems,
    merge_into_rejects,
    safe_cell,
    table_size,
)
from saleslayer_airflow.push.pipeline import Refusal
from saleslayer_airflow.validation.outputs import REJECT_COLUMNS


def staged(tmp_path: Path) -> Path:
    path = tmp_path / "split" / "products.parquet"
    path.parent.mkdir()
    table = pa.table(
        {
            "reference": ["P1", "=P2", "P3"],
            "_source_file": ["exports/products.csv"] * 3,
            "_line": [2, 3, 4],
            "prod_title_en": ["a", "b", "c"],
        }
    )
    pq.write_table(table, path)
    return path


def read(path: Path) -> list[list[str]]:
    with path.open(encoding="utf-8", newline="") as handle:
        return list(csv.reader(handle))


def test_safe_cells() -> None:
    assert [safe_cell(v) for v in ("=1+1", "+3", "-2", "@A1", "\tx", "\rx", "ok", None, 7)] == [
        "'=1+1",
        "'+3",
        "'-2",
        "'@A1",
        "'\tx",
        "'\rx",
        "ok",
        "",
        "7",
    ]


def test_failed_file_and_its_merge_into_the_rejects(tmp_path: Path) -> None:
    path = staged(tmp_path)
    assert table_size(path) == 3
    run = tmp_path
    (run / "rejects.csv").write_text(
        ",".join(REJECT_COLUMNS)
        + "\nexports/products.csv,9,products,P9,prod_price,x,not a number\n",
        encoding="utf-8",
    )
    failed = FailedItems("products")
    failed.add([Refusal("=P2", "=HYPERLINK(bad)"), Refusal("P3", "products P3: wrong type")])
    written = failed.publish(path, run)

    assert written == run / "failed" / "products.csv"
    assert read(written) == [
        FAILED_COLUMNS,
        ["exports/products.csv", "3", "products", "'=P2", "", "", "'=HYPERLINK(bad)", "failed"],
        [
            "exports/products.csv",
            "4",
            "products",
            "P3",
            "",
            "",
            "products P3: wrong type",
            "failed",
        ],
    ]
    expected = [
        REJECT_COLUMNS,
        ["exports/products.csv", "9", "products", "P9", "prod_price", "x", "not a number"],
        [
            "exports/products.csv",
            "3",
            "products",
            "'=P2",
            "",
            "",
            "refused by Sales Layer: =HYPERLINK(bad)",
        ],
        [
            "exports/products.csv",
            "4",
            "products",
            "P3",
            "",
            "",
            "refused by Sales Layer: products P3: wrong type",
        ],
    ]
    assert merge_into_rejects(run) == 2
    assert read(run / "rejects.csv") == expected
    assert merge_into_rejects(run) == 2, "a retried report"
    assert read(run / "rejects.csv") == expected


def test_nothing_refused_writes_nothing_and_clears_an_earlier_attempts_file(
    tmp_path: Path,
) -> None:
    path = staged(tmp_path)
    first = FailedItems("products")
    first.add([Refusal("P1", "bad")])
    written = first.publish(path, tmp_path)
    assert written is not None and written.exists()
    assert FailedItems("products").publish(path, tmp_path) is None
    assert not written.exists()
    (tmp_path / "rejects.csv").write_text(",".join(REJECT_COLUMNS) + "\n", encoding="utf-8")
    before = (tmp_path / "rejects.csv").stat().st_mtime_ns
    assert merge_into_rejects(tmp_path) == 0
    assert (tmp_path / "rejects.csv").stat().st_mtime_ns == before
