"""Hostile rows: one store directory holding every kind of awkward value an ERP exports, imported
through Airflow (`dag.test()`) from a real FTP server into the Sales Layer emulator.

Table-driven: each row is a case with its verdict, either *rejected* (the rejects file names the
row's line, the column and a reason) or *imported* (the emulator holds exactly the given values).
Every case is checked, the report must balance, and nothing may be imported from a rejected row.
"""

from __future__ import annotations

import csv
import io
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest

from tests.e2e.conftest import World, catalog, states, xcom

CONNECTOR = """\
id: hostile_rows
description: Every awkward value an ERP exports, in one store directory.
schedule: "@daily"
start_date: 2026-11-01
retries: 0
source:
  kind: ftp
  conn_id: erp_ftp
  path: "/exports/stores_{{ ds_nodash }}.csv"
  stable_for: 0s
format: {type: csv}
tables:
  points_of_sale:
    reference: ref
    fields:
      pos_name: {column: name, required: true}
      pos_latitude: {column: lat, type: number}
      pos_longitude: {column: lon, type: number, transforms: [{parse_number: comma}]}
      pos_zip: {column: zip, type: integer}
      pos_country: {column: country, max_length: 2}
      pos_email: {column: web, type: url}
      pos_phone: {column: open, type: boolean}
      pos_address: {column: opened, type: date}
      pos_city: city
target: {conn_id: saleslayer_default, batch_size: 9}
validation: {max_reject_ratio: 1.0}
"""

COLUMNS = ["ref", "name", "lat", "lon", "zip", "country", "web", "open", "opened", "city"]
GOOD: dict[str, str] = {
    "name": "Tienda",
    "lat": "40.4168",
    "lon": "-3,7038",
    "zip": "28013",
    "country": "ES",
    "web": "https://example.com/store",
    "open": "yes",
    "opened": "2026-01-15",
    "city": "Madrid",
}


@dataclass(frozen=True)
class Row:
    """One case: the cells that differ from a good row, and the verdict."""

    name: str
    ref: str
    cells: dict[str, str] = field(default_factory=dict)
    #: Rejected: (column, fragment of the reason). Imported: None.
    rejected: tuple[str, str] | None = None
    #: Imported: the fields Sales Layer must hold (a subset).
    holds: dict[str, Any] = field(default_factory=dict)
    #: The reference the item is imported under, when it is not ``ref`` as written.
    imported_as: str | None = None


ROWS = [
    Row("a good row", "R-OK", holds={"pos_name": "Tienda", "pos_city": "Madrid"}),
    # Numbers: never re-interpreted, exact, or rejected.
    Row("letters for a number", "N-ABC", {"lat": "abc"}, ("lat", "not a number")),
    Row("NaN", "N-NAN", {"lat": "NaN"}, ("lat", "number")),
    Row("infinity", "N-INF", {"lat": "Infinity"}, ("lat", "number")),
    Row("hexadecimal", "N-HEX", {"lat": "0x1A"}, ("lat", "not a number")),
    Row("comma where a dot is declared", "N-COMMA", {"lat": "12,5"}, ("lat", "number")),
    Row("dot where a comma is declared", "C-DOT", {"lon": "12.50"}, ("lon", "','")),
    Row("two decimal commas", "C-TWO", {"lon": "1,2,3"}, ("lon", "','")),
    Row(
        "grouped with a comma format",
        "C-GROUP",
        {"lon": "1.234,5"},
        holds={"pos_longitude": 1234.5},
    ),
    Row(
        "integer past 2^53, exact",
        "I-BIG",
        {"zip": "9007199254740993"},
        holds={"pos_zip": 9007199254740993},
    ),
    Row("integer past 2^64", "I-HUGE", {"zip": "18446744073709551616"}, ("zip", "")),
    Row("fraction for an integer", "I-FRAC", {"zip": "12.5"}, ("zip", "whole number")),
    Row("boolean that is not", "B-MAYBE", {"open": "maybe"}, ("open", "boolean")),
    Row("impossible date", "D-FEB30", {"opened": "2026-02-30"}, ("opened", "date")),
    Row("date in another format", "D-DMY", {"opened": "30/01/2026"}, ("opened", "date")),
    Row("script URL", "U-JS", {"web": "javascript:alert(1)"}, ("web", "URL")),
    Row("URL without a host", "U-EMPTY", {"web": "http://"}, ("web", "URL")),
    Row("too long for the field", "L-ESP", {"country": "ESP"}, ("country", "at most 2")),
    Row("required value missing", "Q-EMPTY", {"name": ""}, ("name", "required")),
    # References: one normalisation, look-alikes never become new items silently.
    Row(
        "reference with spaces around",
        "  R-TRIM  ",
        imported_as="R-TRIM",
        holds={"pos_name": "Tienda"},
    ),
    Row(
        "reference ending in a no-break space",
        "R-NBSP\u00a0",
        imported_as="R-NBSP",
        holds={"pos_name": "Tienda"},
    ),
    Row("reference with a zero-width space", "R-ZW\u200b", rejected=("ref", "U+200B")),
    Row("reference with a tab inside", "R\tTAB", rejected=("ref", "U+0009")),
    Row("reference with a bidi override", "R-\u202eBIDI", rejected=("ref", "U+202E")),
    Row("no reference", "", rejected=("ref", "reference is empty")),
    Row("reference too long", "X" * 600, rejected=("ref", "at most 512")),
    Row("SQL in a reference", "R-SQL'; DROP TABLE slc_items;--", holds={"pos_name": "Tienda"}),
    Row("path in a reference", "../../etc/passwd", holds={"pos_name": "Tienda"}),
    Row("reference in another script", "Магазин-7", holds={"pos_name": "Tienda"}),
    # Text: carried exactly, never executed, never templated.
    Row(
        "spreadsheet formula, rejected",
        "T-FORMULA",
        {"lat": '=HYPERLINK("http://evil.example","click")'},
        ("lat", "not a number"),
    ),
    Row(
        "template syntax in a value",
        "T-JINJA",
        {"name": "{{ conn.saleslayer_default.password }}"},
        holds={"pos_name": "{{ conn.saleslayer_default.password }}"},
    ),
    Row(
        "multi-line cell",
        "T-LINES",
        {"name": "Line one\nLine two"},
        holds={"pos_name": "Line one\nLine two"},
    ),
    Row(
        "bidi override inside a value",
        "T-BIDI",
        {"name": "Tienda \u202eabc"},
        holds={"pos_name": "Tienda \u202eabc"},
    ),
    Row(
        "emoji and astral characters",
        "T-EMOJI",
        {"name": "Tienda 🛒 \U0001d518"},
        holds={"pos_name": "Tienda 🛒 \U0001d518"},
    ),
    Row("NUL byte in a value", "T-NUL", {"name": "A\x00B"}, ("name", "")),
    Row("a very long value", "T-LONG", {"name": "é" * 20_000}, holds={"pos_name": "é" * 20_000}),
]


def _export(rows: list[Row]) -> tuple[str, dict[str, int]]:
    """The CSV text and the physical line each case starts on."""
    out = io.StringIO()
    writer = csv.writer(out, lineterminator="\n")
    writer.writerow(COLUMNS)
    lines: dict[str, int] = {}
    for row in rows:
        lines[row.name] = out.getvalue().count("\n") + 1
        cells = GOOD | row.cells | {"ref": row.ref}
        writer.writerow([cells[c] for c in COLUMNS])
    return out.getvalue(), lines


def _rejects(path: str) -> list[dict[str, str]]:
    with Path(path.removeprefix("file://")).open(encoding="utf-8", newline="") as handle:
        return list(csv.DictReader(handle))


@pytest.mark.integration
def test_every_hostile_row_gets_its_verdict(world: World) -> None:
    day = datetime(2026, 11, 2, 6, tzinfo=UTC)
    world.write_connector("hostile_rows", CONNECTOR)
    text, lines = _export(ROWS)
    (world.ftp_root / "exports" / f"stores_{day:%Y%m%d}.csv").write_bytes(text.encode("utf-8"))

    dag_run = world.run(day)
    assert dag_run.state == "success", states(dag_run)

    report = xcom(dag_run, "report")["tables"]["points_of_sale"]
    rejected_cases = [r for r in ROWS if r.rejected]
    assert report["read"] == len(ROWS)
    assert report["rejected"] == len(rejected_cases), report
    assert report["created"] == len(ROWS) - len(rejected_cases), report
    assert report["read"] == sum(
        report[k]
        for k in (
            "created",
            "updated",
            "unchanged",
            "stale",
            "skipped",
            "rejected",
            "merged",
            "failed",
        )
    )

    rejects = _rejects(xcom(dag_run, "validate_and_split")["rejects_path"])
    by_line = {int(r["line"]): r for r in rejects}
    items = catalog(world.emulator)
    problems = []
    for row in ROWS:
        line = lines[row.name]
        if row.rejected is not None:
            column, fragment = row.rejected
            found = by_line.get(line)
            if found is None or found["column"] != column or fragment not in found["reason"]:
                problems.append(
                    f"{row.name} (line {line}): expected a reject of {column!r} "
                    f"saying {fragment!r}, got {found}"
                )
            if row.ref.strip() and row.ref in items:
                problems.append(f"{row.name}: rejected, yet imported")
            continue
        if line in by_line:
            problems.append(f"{row.name} (line {line}): expected imported, got {by_line[line]}")
            continue
        item = items.get(row.imported_as or row.ref)
        if item is None:
            problems.append(f"{row.name}: not in Sales Layer (have {sorted(items)[:5]}...)")
            continue
        for key, wanted in row.holds.items():
            got = item["fields"].get(key)
            if _normal(got) != _normal(wanted):
                problems.append(f"{row.name}: {key} is {got!r:.80}, expected {wanted!r:.80}")
    assert not problems, "\n".join(problems)

    # A formula in a rejected value is neutralised in the rejects file, and still readable.
    formula = by_line[lines["spreadsheet formula, rejected"]]
    assert formula["reference"] == "T-FORMULA"
    assert formula["value"] == "'" + '=HYPERLINK("http://evil.example","click")'
    # No look-alike became an item of its own.
    assert not [ref for ref in items if ref != ref.strip()]


def _normal(value: Any) -> Any:
    """Numbers compared by value whatever their JSON spelling."""
    if isinstance(value, str):
        try:
            number = float(value) if any(c in value for c in ".eE") else int(value)
        except ValueError:
            return value
        return number
    return value
