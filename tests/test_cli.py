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
