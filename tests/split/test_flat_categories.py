"""A categories table without `parent` or `path`: a flat list, split without a tree check."""

from __future__ import annotations

from pathlib import Path

from tests.split.conftest import connector_text, run_split

CONNECTOR = """\
id: flat_categories
description: categories with no tree
schedule: null
start_date: 2026-01-01
source: {kind: http, conn_id: erp_http, endpoint: categories.csv}
format: {type: csv, delimiter: ";"}
tables:
  categories:
    reference: code
    fields:
      cat_title: name
"""


def test_a_flat_category_list_splits_every_row(tmp_path: Path) -> None:
    export = tmp_path / "categories.csv"
    export.write_text("code;name\nC1;Shoes\nC2;Bags\nC3;Hats\n", encoding="utf-8")
    outcome = run_split(connector_text(CONNECTOR), [(export, "categories.csv")], tmp_path / "out")
    counts = outcome.result.tables["categories"]
    assert (counts.rows_in, counts.rows_out, counts.rejected) == (3, 3, 0)
