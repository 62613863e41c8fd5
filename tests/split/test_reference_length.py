"""A reference longer than the state store keeps is rejected with its line, not pushed."""

from __future__ import annotations

from pathlib import Path

from saleslayer_airflow.mapping.values import MAX_REFERENCE_LENGTH
from tests.split.conftest import connector_text, run_split

CONNECTOR = """\
id: long_refs
description: references of every length
schedule: null
start_date: 2026-01-01
source: {kind: http, conn_id: erp_http, endpoint: products.csv}
format: {type: csv, delimiter: ";"}
tables:
  products:
    reference: sku
    fields:
      prod_title: title
"""


def test_a_reference_over_the_limit_is_rejected_and_one_at_the_limit_kept(tmp_path: Path) -> None:
    at_limit = "A" * MAX_REFERENCE_LENGTH
    too_long = "B" * (MAX_REFERENCE_LENGTH + 1)
    export = tmp_path / "products.csv"
    export.write_text(f"sku;title\n{at_limit};kept\n{too_long};dropped\n", encoding="utf-8")
    outcome = run_split(connector_text(CONNECTOR), [(export, "products.csv")], tmp_path / "out")
    counts = outcome.result.tables["products"]
    assert (counts.rows_in, counts.rows_out, counts.rejected) == (2, 1, 1)
    (reject,) = outcome.rejects
    assert reject["line"] == "3" and "513 characters" in reject["reason"]
