"""`python -m saleslayer_airflow`: exit codes and the `file:line: field: message` output."""

from __future__ import annotations

import re
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from tests.conftest import EXAMPLES, ROOT

PROBLEM_LINE = re.compile(r"^(?P<file>[^:]+):(?P<line>\d+): (?P<field>[^:]+): (?P<message>.+)$")


def run_cli(*args: str, cwd: Path = ROOT) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "saleslayer_airflow", *args],
        cwd=cwd,
        capture_output=True,
        text=True,
        timeout=120,
    )


def test_valid_examples_exit_zero() -> None:
    result = run_cli("validate", "include/connectors")
    assert result.returncode == 0, result.stdout + result.stderr
    assert "3 file(s) checked, 3 valid, 0 with problems" in result.stderr
    for path in EXAMPLES.glob("*.yaml"):
        assert f"include/connectors/{path.name}: ok (connector {path.stem})" in result.stdout


def test_problems_exit_one_and_print_one_located_line_each(tmp_path: Path) -> None:
    shutil.copy(EXAMPLES / "stores_ftp.yaml", tmp_path / "good.yaml")
    bad = (EXAMPLES / "stores_ftp.yaml").read_text(encoding="utf-8")
    bad = bad.replace("id: stores_ftp", "id: bad").replace("  path:", "  paht:")
    bad = bad.replace("retries: 2", "retries: two")
    (tmp_path / "bad.yaml").write_text(bad, encoding="utf-8")

    result = run_cli("validate", "--quiet", "bad.yaml", "good.yaml", cwd=tmp_path)

    assert result.returncode == 1
    lines = result.stdout.splitlines()
    assert len(lines) == 2, result.stdout
    parsed = [PROBLEM_LINE.match(line) for line in lines]
    assert all(parsed), lines
    assert [(m["file"], m["field"]) for m in parsed if m] == [
        ("bad.yaml", "retries"),
        ("bad.yaml", "source.paht"),
    ]
    assert "did you mean 'path'?" in lines[1]
    assert "2 file(s) checked, 1 valid, 1 with problems (2 problem(s))" in result.stderr


def test_duplicate_ids_across_files_are_a_problem(tmp_path: Path) -> None:
    shutil.copy(EXAMPLES / "stores_ftp.yaml", tmp_path / "a.yaml")
    shutil.copy(EXAMPLES / "stores_ftp.yaml", tmp_path / "b.yaml")
    result = run_cli("validate", "-q", str(tmp_path))
    assert result.returncode == 1
    assert re.search(
        r"b\.yaml:\d+: id: connector id 'stores_ftp' is already used by .*a\.yaml", result.stdout
    ), result.stdout


def test_missing_path_is_reported(tmp_path: Path) -> None:
    result = run_cli("validate", str(tmp_path / "nope.yaml"), "include/connectors")
    assert result.returncode == 1
    assert "nope.yaml: no such file or folder" in result.stderr


def test_nothing_to_check_is_a_usage_error(tmp_path: Path) -> None:
    result = run_cli("validate", str(tmp_path))
    assert result.returncode == 2
    assert "no connector files" in result.stderr


@pytest.mark.parametrize("args", [[], ["validate"], ["frobnicate"]])
def test_wrong_usage_exits_two(args: list[str]) -> None:
    result = run_cli(*args)
    assert result.returncode == 2
    assert "usage:" in result.stderr


def test_schema_check_detects_a_stale_file(tmp_path: Path) -> None:
    stale = tmp_path / "connector.schema.json"
    stale.write_text("{}\n", encoding="utf-8")
    assert run_cli("schema", "--output", str(stale), "--check").returncode == 1
    assert run_cli("schema", "--output", str(stale)).returncode == 0
    assert run_cli("schema", "--output", str(stale), "--check").returncode == 0
    assert stale.read_text(encoding="utf-8") == (ROOT / "schema/connector.schema.json").read_text(
        encoding="utf-8"
    )


def test_dags_command_shows_ids_schedules_and_tasks() -> None:
    result = run_cli("dags", "--dags-folder", "dags")
    assert result.returncode == 0, result.stdout + result.stderr
    out = result.stdout
    assert "DAG apparel_catalog_http" in out
    assert "0 6 * * * (UTC): At 06:00 AM" in out
    assert re.search(r"push_variants\s+PushTableOperator\s+after push_products", out)
    assert "3 DAG(s), 0 import error(s)" in result.stderr


# -- validate --sample: the column preflight -----------------------------------------------------


def _validate(*args: str) -> tuple[int, str, str]:
    import io

    from saleslayer_airflow.cli import main

    out, err = io.StringIO(), io.StringIO()
    code = main(["validate", *args], out=out, err=err)
    return code, out.getvalue(), err.getvalue()


@pytest.fixture
def demo_samples(tmp_path: Path) -> dict[str, Path]:
    """One day of the demo company's exports, as each example connector lands them."""
    import json
    from datetime import date

    from saleslayer_airflow.demo.exports import write_exports

    (day,) = write_exports(tmp_path / "demo", 1, date(2026, 11, 1))
    items = tmp_path / "items.jsonl"  # the api source lands its pages as JSON Lines
    items.write_text("".join(json.dumps(r) + "\n" for r in day.items()), encoding="utf-8")
    return {
        "apparel_catalog_http": day.catalog_csv,
        "stores_ftp": day.stores_csv,
        "erp_api_catalog": items,
    }


def test_every_example_validates_against_its_own_demo_export(
    demo_samples: dict[str, Path],
) -> None:
    for connector_id, sample in demo_samples.items():
        path = EXAMPLES / f"{connector_id}.yaml"
        code, out, err = _validate(str(path), "--sample", str(sample))
        assert code == 0, out + err
        assert f"{sample}: ok (every column" in out, out
        assert "0 column problem(s), 0 warning(s)" in err


def test_a_misspelt_column_exits_one_with_a_located_line_and_a_suggestion(
    tmp_path: Path, demo_samples: dict[str, Path]
) -> None:
    text = (EXAMPLES / "apparel_catalog_http.yaml").read_text(encoding="utf-8")
    (tmp_path / "apparel.yaml").write_text(
        text.replace("{column: colour,", "{column: Color,"), encoding="utf-8"
    )
    shutil.copy(demo_samples["apparel_catalog_http"], tmp_path / "catalog.csv")

    result = run_cli("validate", "-q", "apparel.yaml", "--sample", "catalog.csv", cwd=tmp_path)

    assert result.returncode == 1, result.stdout + result.stderr
    (line,) = result.stdout.splitlines()
    found = PROBLEM_LINE.match(line)
    assert found, line
    assert (found["file"], found["field"]) == (
        "apparel.yaml",
        "tables.variants.fields.color_en.column",
    )
    assert (
        int(found["line"])
        == text.splitlines().index(next(t for t in text.splitlines() if "{column: colour," in t))
        + 1
    )
    assert (
        "table 'variants' reads column 'Color', which is not in the header of catalog.csv" in line
    )
    assert "Did you mean 'colour'?" in line
    assert "'sku'" in line  # the file's columns are listed
    assert "1 column problem(s), 0 warning(s)" in result.stderr


NAMED = """\
id: named_files
description: two named exports
schedule: null
start_date: 2026-11-01
source: {kind: ftp, conn_id: c, files: {cats: /cats.csv, items: /items.csv}}
format: {type: csv}
tables:
  categories:
    reference: code
    file: cats
  products:
    reference: sku
    file: items
    fields:
      prod_name: name
"""


def test_named_files_take_name_equals_file(tmp_path: Path) -> None:
    connector = tmp_path / "named.yaml"
    connector.write_text(NAMED, encoding="utf-8")
    cats, items = tmp_path / "cats.csv", tmp_path / "items.csv"
    cats.write_text("code\nC1\n", encoding="utf-8")
    items.write_text("sku,Name\nA,x\n", encoding="utf-8")

    code, out, err = _validate(
        str(connector), "--sample", f"cats={cats}", "--sample", f"items={items}"
    )
    assert code == 1, out + err
    assert "tables.products.fields.prod_name.column" in out and "Did you mean 'Name'?" in out
    assert "tables.categories" not in out  # cats.csv is not read by products
    assert "2 sample file(s) checked" in err

    code, out, err = _validate(str(connector), "--sample", f"cats={cats}")
    assert code == 0, out + err

    code, _, err = _validate(str(connector), "--sample", str(cats))
    assert code == 2
    assert "reads several named files (cats, items); give each as --sample NAME=FILE" in err

    code, _, err = _validate(str(connector), "--sample", f"prices={cats}")
    assert code == 2
    assert "'prices' is not a file the source declares; its `files:` are: cats, items" in err


def test_sample_needs_one_valid_connector_file(tmp_path: Path) -> None:
    sample = tmp_path / "stores.csv"
    sample.write_text("store_number\nS1\n", encoding="utf-8")
    code, _, err = _validate(str(EXAMPLES), "--sample", str(sample))
    assert code == 2 and "--sample checks one connector file" in err

    code, _, err = _validate(
        str(EXAMPLES / "stores_ftp.yaml"), "--sample", str(tmp_path / "no.csv")
    )
    assert code == 2 and "no.csv: no such file" in err

    broken = tmp_path / "broken.yaml"
    broken.write_text(NAMED.replace("schedule: null", "schedul: null"), encoding="utf-8")
    code, out, err = _validate(str(broken), "--sample", f"cats={sample}")
    assert code == 1 and "schedul" in out
    assert "its columns were not checked" in err


def test_a_json_key_missing_from_the_first_records_only_warns(tmp_path: Path) -> None:
    import json

    from saleslayer_airflow.validation.columns import SAMPLE_RECORDS

    sample = tmp_path / "items.jsonl"
    records = [{"item_code": f"P{i}", "brand": {"code": "B"}} for i in range(SAMPLE_RECORDS + 1)]
    sample.write_text("".join(json.dumps(r) + "\n" for r in records), encoding="utf-8")
    code, out, err = _validate(str(EXAMPLES / "erp_api_catalog.yaml"), "--sample", str(sample))
    assert code == 0, out + err
    warned = [line for line in out.splitlines() if line.endswith("(warning)")]
    assert any("tables.products.fields.prod_title.languages[0]" in w for w in warned), out
    assert "0 column problem(s), " in err and " warning(s)" in err


def test_a_sample_the_format_cannot_read_is_a_problem_of_the_format(tmp_path: Path) -> None:
    sample = tmp_path / "stores.csv"
    sample.write_bytes(b"")
    code, out, _ = _validate("-q", str(EXAMPLES / "stores_ftp.yaml"), "--sample", str(sample))
    assert code == 1
    found = PROBLEM_LINE.match(out.strip())
    assert found and found["field"] == "format", out
    assert "the file is empty" in out
