"""Hostile export files: encodings, structure, binary garbage, sizes. Each is fetched from a real
FTP server and imported through Airflow (`dag.test()`) into the Sales Layer emulator, and gets
exactly its verdict:

- ``Imports``: the run succeeds and Sales Layer holds the items, with the given values;
- ``Rejects``: the run succeeds, the named lines are in the rejects file with their reason, the
  other rows are imported;
- ``Fails``: the named task fails with one of the package's errors, whose message says what is
  wrong (never a bare traceback of a library), and nothing at all is written to Sales Layer.

Every run's report must balance.
"""

from __future__ import annotations

import csv
import gzip
import io
import zlib
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest

from tests.e2e.conftest import World, catalog, states, xcom

CONNECTOR = """\
id: hostile_files
description: Hostile export files.
schedule: "@daily"
start_date: 2026-11-01
retries: 0
source:
  kind: ftp
  conn_id: erp_ftp
  path: "/exports/{file}"
  stable_for: 0s
format: {format}
tables:
  points_of_sale:
    reference: ref
    fields:
      pos_name: {{column: name, required: true}}
      pos_city: city
target: {{conn_id: saleslayer_default, batch_size: 50}}
validation: {{max_reject_ratio: 1.0}}
"""

CSV = "{type: csv}"
CSV_AUTO = "{type: csv, encoding: auto}"
ROWS = [("S1", "Almacén Norte", "Bilbao"), ("S2", "Tienda Sur", "Sevilla"), ("S3", "Ñandú", "León")]


def csv_text(
    rows: list[tuple[str, ...]] = ROWS, header: str = "ref,name,city", nl: str = "\n"
) -> str:
    return nl.join([header, *(",".join(r) for r in rows)]) + nl


@dataclass(frozen=True)
class Imports:
    count: int
    holds: dict[str, dict[str, Any]] = field(default_factory=dict)


@dataclass(frozen=True)
class Rejects:
    lines: dict[int, str]  # line -> fragment of the reason
    imported: int


@dataclass(frozen=True)
class Fails:
    task: str
    fragment: str


@dataclass(frozen=True)
class Case:
    name: str
    data: bytes
    verdict: Imports | Rejects | Fails
    format: str = CSV
    file: str = "export.csv"


def _xlsx_bytes(rows: list[list[Any]]) -> bytes:
    from openpyxl import Workbook

    book = Workbook()
    sheet = book.active
    for row in rows:
        sheet.append(row)
    out = io.BytesIO()
    book.save(out)
    return out.getvalue()


def _deep_json(depth: int) -> str:
    return "[" * depth + "]" * depth


NAMES = {"S1": {"pos_name": "Almacén Norte"}, "S3": {"pos_name": "Ñandú", "pos_city": "León"}}

CASES = [
    # Encodings.
    Case("UTF-8", csv_text().encode(), Imports(3, NAMES)),
    Case("UTF-8 with a BOM", b"\xef\xbb\xbf" + csv_text().encode(), Imports(3, NAMES), CSV_AUTO),
    Case("UTF-16 with a BOM", csv_text().encode("utf-16"), Imports(3, NAMES), CSV_AUTO),
    Case("Windows-1252, detected", csv_text().encode("cp1252"), Imports(3, NAMES), CSV_AUTO),
    Case(
        "Latin-1 declared",
        csv_text().encode("latin-1"),
        Imports(3, NAMES),
        "{type: csv, encoding: latin-1}",
    ),
    Case(
        "bad bytes in UTF-8",
        csv_text().encode().replace(b"Tienda", b"Ti\xffnda"),
        Rejects({3: "\\xff"}, 2),
    ),
    Case(
        "NUL bytes in a cell",
        csv_text().encode().replace(b"Tienda", b"Ti\x00nda"),
        Rejects({3: "\\x00"}, 2),
    ),
    # Line endings and quoting.
    Case("CRLF line ends", csv_text(nl="\r\n").encode(), Imports(3, NAMES)),
    Case("CR-only line ends", csv_text(nl="\r").encode(), Imports(3, NAMES)),
    Case(
        "quoted cells with commas and newlines",
        b'ref,name,city\nS1,"Almac\xc3\xa9n, Norte","Bil\nbao"\nS2,Tienda Sur,Sevilla\n',
        Imports(2, {"S1": {"pos_name": "Almacén, Norte", "pos_city": "Bil\nbao"}}),
    ),
    Case(
        "an extra cell",
        csv_text().replace("S2,Tienda Sur,Sevilla", "S2,Tienda,Sur,Sevilla").encode(),
        Rejects({3: "field"}, 2),
    ),
    Case(
        "a missing cell",
        csv_text().replace("S2,Tienda Sur,Sevilla", "S2,Tienda Sur").encode(),
        Rejects({3: "field"}, 2),
    ),
    Case(
        "quote left open in the middle",
        csv_text().replace("S2,Tienda Sur", 'S2,"Tienda Sur').encode(),
        Rejects({3: "quote"}, 1),
    ),
    # Structure of the whole file.
    Case("empty file", b"", Fails("validate_and_split", "empty")),
    Case("header only", b"ref,name,city\n", Imports(0)),
    Case(
        "mapped column missing",
        csv_text(header="ref,title,city").encode(),
        Fails("validate_and_split", "'name'"),
    ),
    Case(
        "other delimiter than declared",
        csv_text().replace(",", ";").encode(),
        Fails("validate_and_split", "'name'"),
    ),
    Case(
        "a column named twice",
        csv_text(header="ref,name,name").encode(),
        Fails("validate_and_split", "'name'"),
    ),
    Case(
        "PNG image instead of a CSV",
        b"\x89PNG\r\n\x1a\n" + bytes(range(256)) * 4,
        Fails("validate_and_split", "export.csv"),
    ),
    Case(
        "gzip archive instead of a CSV",
        gzip.compress(csv_text().encode()),
        Fails("validate_and_split", "export.csv"),
    ),
    Case(
        "five thousand columns",
        (
            "ref,name,city,"
            + ",".join(f"c{i}" for i in range(5000))
            + "\n"
            + "S1,Almacén Norte,Bilbao,"
            + ",".join("x" for _ in range(5000))
            + "\n"
        ).encode(),
        Imports(1, {"S1": {"pos_name": "Almacén Norte"}}),
    ),
    # JSON.
    Case(
        "JSON that is a number",
        b"42",
        Fails("validate_and_split", "export.json"),
        "{type: json}",
        "export.json",
    ),
    Case(
        "JSON cut short",
        b'[{"ref": "S1", "name": "A"}, {"ref": "S2", "na',
        Fails("validate_and_split", "export.json"),
        "{type: json}",
        "export.json",
    ),
    Case(
        "JSON record nested 100,000 levels",
        (
            '[{"ref": "S1", "name": "A", "city": "B"},\n{"ref": "S2", "name": '
            + _deep_json(100_000)
            + '},\n{"ref": "S3", "name": "C", "city": "D"}]'
        ).encode(),
        Rejects({2: "nested"}, 2),
        "{type: json}",
        "export.json",
    ),
    Case(
        "JSON Lines with a broken line",
        b'{"ref": "S1", "name": "A", "city": "B"}\n'
        b'{"ref": "S2", "name": \n'
        b'{"ref": "S3", "name": "C"}\n',
        Rejects({2: "JSON"}, 2),
        "{type: jsonl}",
        "export.jsonl",
    ),
    Case(
        "JSON numbers as references",
        b'[{"ref": 7, "name": "A", "city": "B"}, {"ref": 8.0, "name": "B"}]',
        Imports(2, {"7": {"pos_name": "A"}, "8": {"pos_name": "B"}}),
        "{type: json}",
        "export.json",
    ),
    Case(
        "JSON deflate stream instead of JSON",
        zlib.compress(b'[{"ref": "S1"}]'),
        Fails("validate_and_split", "export.json"),
        "{type: json}",
        "export.json",
    ),
    # XLSX.
    Case(
        "text file named .xlsx",
        csv_text().encode(),
        Fails("validate_and_split", "export.xlsx"),
        "{type: xlsx}",
        "export.xlsx",
    ),
    Case(
        "XLSX formula without a computed value",
        _xlsx_bytes([["ref", "name", "city"], ["S1", "A", "B"], ["S2", '=A2&"x"', "C"]]),
        Rejects({3: "formula"}, 1),
        "{type: xlsx}",
        "export.xlsx",
    ),
]


def _sum(report: dict[str, Any]) -> int:
    keys = ("created", "updated", "unchanged", "stale", "skipped", "rejected", "merged", "failed")
    return sum(report[k] for k in keys)


def _rejects(path: str) -> dict[int, dict[str, str]]:
    with Path(path.removeprefix("file://")).open(encoding="utf-8", newline="") as handle:
        return {int(r["line"]): r for r in csv.DictReader(handle)}


@pytest.mark.integration
@pytest.mark.parametrize("case", CASES, ids=[c.name for c in CASES])
def test_hostile_file_gets_its_verdict(
    case: Case, world: World, capfd: pytest.CaptureFixture[str]
) -> None:
    day = datetime(2026, 11, 2, 6, tzinfo=UTC)
    world.write_connector("hostile_files", CONNECTOR.format(file=case.file, format=case.format))
    (world.ftp_root / "exports" / case.file).write_bytes(case.data)

    dag_run = world.run(day)
    output = capfd.readouterr().out
    task_states = states(dag_run)
    report = xcom(dag_run, "report")
    verdict = case.verdict

    if isinstance(verdict, Fails):
        assert dag_run.state == "failed", task_states
        assert task_states[verdict.task] == "failed", task_states
        # The task ended with one of the package's errors, saying what is wrong.
        endings = [line for line in output.splitlines() if "AirflowFailException:" in line]
        assert endings, output[-3000:]
        assert any(verdict.fragment in line for line in endings), endings
        assert "RecursionError" not in output and "OverflowError" not in output
        writes = world.emulator.stats().get("by_endpoint", {})
        assert catalog(world.emulator) == {}, writes
        return

    errors = [line for line in output.splitlines() if "Exception:" in line or "Error:" in line]
    assert dag_run.state == "success", (task_states, errors)
    table = report["tables"]["points_of_sale"]
    assert table["read"] == _sum(table), table
    items = catalog(world.emulator)
    if isinstance(verdict, Imports):
        assert len(items) == verdict.count, sorted(items)
        assert table["rejected"] == 0, table
        for ref, fields in verdict.holds.items():
            for key, wanted in fields.items():
                assert items[ref]["fields"].get(key) == wanted, (ref, key, items[ref])
        assert not [ref for ref in items if ref.startswith("\ufeff")]
        return
    rejects = _rejects(xcom(dag_run, "validate_and_split")["rejects_path"])
    for line, fragment in verdict.lines.items():
        assert line in rejects, (line, rejects)
        assert fragment in rejects[line]["reason"], rejects[line]
    assert len(items) == verdict.imported, sorted(items)


def test_the_corpus_is_large_enough() -> None:
    from tests.adversarial.test_hostile_connectors import CASES as CONNECTORS
    from tests.adversarial.test_hostile_rows import ROWS

    assert len(CASES) + len(ROWS) + len(CONNECTORS) >= 40
