"""The emulator's command line, run as a user runs it (a subprocess): a ``--data`` that cannot be
the SQLite file is one line saying what to pass, exit code 2, no traceback."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

pytestmark = pytest.mark.integration


def run(*args: str, cwd: Path | None = None) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "saleslayer_airflow.emulator", *args],
        capture_output=True,
        text=True,
        timeout=60,
        cwd=cwd,
    )


def test_data_pointing_at_a_folder_says_what_to_pass(tmp_path: Path) -> None:
    folder = tmp_path / "somefolder"
    folder.mkdir()
    done = run("--data", str(folder), "--port", "0")
    assert done.returncode == 2
    assert done.stdout == ""
    assert done.stderr == (
        f"error: --data {folder} is a folder; pass the emulator's SQLite file, e.g. "
        f"--data {folder / 'sl.sqlite'} (created if missing)\n"
    )
    assert list(folder.iterdir()) == []


def test_dump_with_a_folder_says_the_same(tmp_path: Path) -> None:
    done = run("dump", "--data", str(tmp_path), "--table", "products")
    assert done.returncode == 2
    assert done.stderr.startswith(f"error: --data {tmp_path} is a folder; pass")
    assert "Traceback" not in done.stderr


def test_data_in_a_missing_folder_says_so(tmp_path: Path) -> None:
    data = tmp_path / "nope" / "sl.sqlite"
    done = run("--data", str(data), "--port", "0")
    assert done.returncode == 2
    assert done.stderr == (
        f"error: --data {data}: the folder {data.parent} does not exist; create it, or pass a "
        "file in an existing folder\n"
    )


def test_data_that_is_not_sqlite_says_so(tmp_path: Path) -> None:
    data = tmp_path / "notes.txt"
    data.write_text("not a database\n" * 100, encoding="utf-8")
    done = run("--data", str(data), "--port", "0")
    assert done.returncode == 2
    assert done.stderr == (
        f"error: --data {data} cannot be used as the emulator's SQLite file (file is not a "
        "database); pass a file the emulator made, or a new path\n"
    )
