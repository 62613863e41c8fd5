"""The demo's line per table adds up: rows read = every term of the report's balance.

Fed with the counts a real split of the demo's own catalogue export gives (rows merged into the
item of their reference, rows rejected), and a push that used every push outcome, so a term the
line leaves out makes the sum fall short.
"""

from __future__ import annotations

import re
from datetime import date
from pathlib import Path
from typing import Any

from saleslayer_airflow.config import load_connector
from saleslayer_airflow.contracts import SplitSummary, TablePushResult
from saleslayer_airflow.demo.exports import write_exports
from saleslayer_airflow.demo.run import table_line
from saleslayer_airflow.normalize.engine import split_export
from saleslayer_airflow.normalize.results import LandedFile
from saleslayer_airflow.report.summary import build_report
from tests.conftest import EXAMPLES

#: Found anywhere in a line: the demo prints the first table after the run's state and time.
LINE = re.compile(r"(?P<table>\S+)\s+(?P<read>\d+) rows read = (?P<terms>.+)$")
TERM = re.compile(r"^(?P<count>\d+) (?P<name>[a-z]+)$")
PUSH_OUTCOMES = ("created", "updated", "unchanged", "stale", "skipped", "failed")


def parse(line: str) -> tuple[str, int, dict[str, int]]:
    """The table, the rows read, and each term of a printed line."""
    match = LINE.search(line.strip())
    assert match, line
    terms: dict[str, int] = {}
    for text in match["terms"].split(" + "):
        term = TERM.match(text)
        assert term, f"{text!r} in {line!r}"
        terms[term["name"]] = int(term["count"])
    return match["table"], int(match["read"]), terms


def assert_adds_up(line: str) -> dict[str, int]:
    table, read, terms = parse(line)
    assert sum(terms.values()) == read, f"{table}: {terms} do not add up to {read}: {line!r}"
    return terms


def _push_using_every_outcome(table: str, items: int) -> TablePushResult:
    """A push of ``items`` items spread over every push outcome (each at least 1 when it can)."""
    counts = dict.fromkeys(PUSH_OUTCOMES, 0)
    for n in range(items):
        counts[PUSH_OUTCOMES[n % len(PUSH_OUTCOMES)]] += 1
    return TablePushResult.model_validate(
        {"table": table, "status": "failed", "items": items} | counts
    )


def _with_a_broken_row(csv_path: Path) -> None:
    """Add a product row without its required English name, as real exports have some: the
    demo's own export is clean, and the line must show the rows the split rejects too."""
    text = csv_path.read_text(encoding="utf-8")
    header, first, *_ = text.splitlines()
    row = dict(zip(header.split(";"), first.split(";"), strict=True))
    row |= {"product_ref": "AP-99999", "product_name_en": "", "sku": "AP-99999-NAV-XS"}
    ending = "" if text.endswith("\n") else "\n"
    csv_path.write_text(text + ending + ";".join(row.values()) + "\n", encoding="utf-8")


def _demo_split(tmp_path: Path) -> tuple[SplitSummary, dict[str, TablePushResult]]:
    (export,) = write_exports(tmp_path / "exports", 1, date(2026, 11, 1))
    _with_a_broken_row(export.catalog_csv)
    config = load_connector(EXAMPLES / "apparel_catalog_http.yaml")
    landed = [LandedFile(export.catalog_csv, export.catalog_csv.name)]
    result = split_export(config, landed, tmp_path / "work")
    tables: dict[str, Any] = {
        key: {
            "path": str(result.paths[key]),
            "rows_in": counts.rows_in,
            "rows_out": counts.rows_out,
            "merged": counts.merged,
            "rejected": counts.rejected,
            "conflicts": counts.conflicts,
        }
        for key, counts in result.tables.items()
    }
    summary = SplitSummary.model_validate(
        {
            "run_folder": str(tmp_path / "run"),
            "rows_read": result.rows_read,
            "rows_unused": result.rows_unused,
            "rows_rejected": result.rows_rejected,
            "rejects_path": str(result.rejects_path),
            "tables": tables,
        }
    )
    pushes = {
        key: _push_using_every_outcome(key, counts.rows_out)
        for key, counts in result.tables.items()
    }
    return summary, pushes


def test_each_table_line_adds_up_to_the_rows_read(tmp_path: Path) -> None:
    summary, pushes = _demo_split(tmp_path)
    report = build_report("apparel_catalog_http", "run1", summary, pushes).as_dict()

    shown: set[str] = set()
    for table, counts in report["tables"].items():
        terms = assert_adds_up(table_line(table, counts))
        assert all(counts[name] == value for name, value in terms.items()), (terms, counts)
        shown |= {name for name, value in terms.items() if value}
    # The export really exercises the split's side of the balance, not only the push's.
    assert {"merged", "rejected", *PUSH_OUTCOMES} <= shown


def test_a_line_without_a_term_does_not_add_up() -> None:
    counts = {"read": 20, "created": 3, "updated": 2, "unchanged": 5, "merged": 10}
    assert_adds_up(table_line("products", counts))
    # The demo's line before: merged rows left out, so 1720 rows read showed 15 items.
    old = "products         20 rows read = 3 created + 2 updated + 5 unchanged"
    try:
        assert_adds_up(old)
    except AssertionError:
        return
    raise AssertionError("a line missing a term must not pass")


def test_zero_terms_beyond_the_push_outcome_are_left_out() -> None:
    counts = {"read": 4, "created": 4, "updated": 0, "unchanged": 0, "stale": 0, "failed": 0}
    line = table_line("brands", counts)
    assert line.endswith("4 rows read = 4 created + 0 updated + 0 unchanged"), line
