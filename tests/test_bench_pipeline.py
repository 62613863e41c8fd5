"""bench/pipeline.py, issue 12's benchmark command: its parts run end to end on a small export
(real Airflow, emulator and HTTP server as subprocesses) and it prints the targets' ratios."""

from __future__ import annotations

import importlib
import json
import os
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path
from types import ModuleType
from typing import Any

import pytest

from tests.conftest import ROOT

KIT = ROOT.parent / "shared" / "bench"
BENCH = ROOT / "bench" / "pipeline.py"
#: A python with dlt, when one was made (``make bench-pipeline`` makes .bench/dlt-venv).
DLT_PYTHON = Path(
    os.environ.get("BENCH_DLT_PYTHON", ROOT / ".bench" / "dlt-venv" / "bin" / "python")
)

needs_kit = pytest.mark.skipif(
    not (KIT / "gen_flat.py").exists(), reason=f"the peer benchmark kit is not in {KIT}"
)


@pytest.fixture(scope="module")
def pipeline() -> Iterator[ModuleType]:
    """bench/pipeline.py as a module (bench/ is a folder of scripts, not a package)."""
    sys.path.insert(0, str(ROOT / "bench"))
    try:
        yield importlib.import_module("pipeline")
    finally:
        sys.path.remove(str(ROOT / "bench"))


def _run(tmp_path: Path, *args: str) -> tuple[subprocess.CompletedProcess[str], dict[str, Any]]:
    out = tmp_path / "figures.json"
    command = [sys.executable, str(BENCH), "--work", str(tmp_path / "work"), "--json", str(out)]
    done = subprocess.run([*command, *args], capture_output=True, text=True, cwd=ROOT, timeout=280)
    assert done.returncode == 0, done.stdout[-3000:] + done.stderr[-3000:]
    return done, json.loads(out.read_text(encoding="utf-8"))


@needs_kit
@pytest.mark.integration
# Three `airflow dags test` processes: about a minute on a quiet machine, three on a busy one.
@pytest.mark.timeout(600)
def test_every_part_runs_and_the_ratios_are_printed(tmp_path: Path) -> None:
    done, figures = _run(tmp_path, "--rows", "2000", "--memory-scale", "2")
    split = figures["split"]
    made = {table: counts["rows_out"] for table, counts in split["tables"].items()}
    assert made == {"categories": 420, "products": 400, "variants": 2000}
    assert figures["floor"]["rows"] == 2000 and figures["floor"]["peak_rss_mb"] > 0
    assert figures["memory"]["rows"] == 4000
    dags = figures["dags"]
    assert [dags[run]["state"] for run in ("first", "forced", "changed_1pct")] == ["success"] * 3
    assert dags["first"]["sent"] == made
    assert sum(dags["forced"]["sent"].values()) == 0
    assert dags["changed_1pct"]["sent"] == {"categories": 0, "products": 0, "variants": 20}
    first = dags["first"]
    assert set(first["tasks"]) >= {"fetch_source", "validate_and_split", "push_variants", "report"}
    assert first["task_sum_s"] == pytest.approx(
        sum(t["seconds"] for t in first["tasks"].values()), abs=0.05
    )
    assert first["task_cpu_s"] > 0 and first["emulator_cpu_s"] > 0
    assert figures["problems"] == []
    assert figures["dlt"].startswith("skipped: no --dlt-python")
    results = {t["name"]: t["result"] for t in figures["targets"]}
    assert results["forced re-run: items sent"] == "PASS"
    assert results["1%-changed re-run: variants sent"] == "PASS"
    assert results["1%-changed re-run: task time sum / dlt job"] == "n/a"
    assert results["split / floor"] in ("PASS", "FAIL")
    for line in ("split / floor", "forced re-run: task time sum / floor", "RSS 2x rows / 1x"):
        assert line in done.stdout
    assert "validate_and_split" in done.stdout and "sum of task times" in done.stdout
    assert not list((tmp_path / "work").glob("run-*")), "the run folder is removed at the end"


@needs_kit
@pytest.mark.integration
@pytest.mark.skipif(not DLT_PYTHON.exists(), reason=f"no python with dlt at {DLT_PYTHON}")
def test_the_dlt_job_runs_against_the_sink(tmp_path: Path) -> None:
    done, figures = _run(
        tmp_path, "--rows", "1000", "--dlt-python", str(DLT_PYTHON),
        "--skip", "dags", "--skip", "memory",
    )  # fmt: skip
    dlt = figures["dlt"]
    assert dlt["items"] == {"categories": 200, "products": 200, "variants": 1000}
    assert dlt["cpu_s"] > 0 and dlt["peak_rss_mb"] > 0 and dlt["dlt"]
    assert "dlt job (dlt_job.py -> sink)" in done.stdout


@needs_kit
def test_the_changed_export_rewrites_the_price_of_every_hundredth_row_only(
    tmp_path: Path, pipeline: ModuleType
) -> None:
    base = pipeline.export_file(KIT, tmp_path, 1000, tmp_path / "gen.log")
    changed, count = pipeline.changed_export(base)
    assert count == 10
    old = base.read_bytes().split(b"\r\n")
    new = changed.read_bytes().split(b"\r\n")
    assert len(old) == len(new)
    differ = [n for n, (a, b) in enumerate(zip(old, new, strict=True)) if a != b]
    assert differ == list(range(100, 1001, 100))  # line 0 is the header
    assert old[0].decode().split(";")[-6] == "price"
    for n in differ:
        before, after = old[n].decode(), new[n].decode()
        # The price is the cell after the quoted description; compare from the right.
        assert float(after.split(";")[-6]) == pytest.approx(float(before.split(";")[-6]) + 1)
        assert before.rsplit(";", 6)[0] == after.rsplit(";", 6)[0]
    assert pipeline.changed_export(base) == (changed, 10), "cached the second time"


def test_targets_say_pass_fail_and_na(pipeline: ModuleType) -> None:
    figures = {
        "floor": {"wall_s": 2.0},
        "split": {"split_s": 7.0, "peak_rss_mb": 100.0},
        "memory": {"peak_rss_mb": 105.0},
        "memory_scale": 5,
        "changed_rows": 10,
        "dags": {
            "forced": {"task_sum_s": 30.0, "sent": {"variants": 0, "products": 0}},
            "changed_1pct": {"task_sum_s": 3.0, "sent": {"variants": 10}},
            "first": {"task_cpu_s": 9.0, "dag_run_s": 20.0},
        },
    }
    found = {t.name: (t.value, t.result) for t in pipeline.targets(figures)}
    assert found["split / floor"] == (3.5, "PASS")
    assert found["forced re-run: task time sum / floor"] == (15.0, "FAIL")
    assert found["forced re-run: items sent"] == (0.0, "PASS")
    assert found["1%-changed re-run: variants sent"] == (10, "PASS")
    assert found["1%-changed re-run: task time sum / dlt job"] == (None, "n/a")
    assert found["split peak RSS 5x rows / 1x rows"] == (1.05, "PASS")
    figures["dlt"] = {"wall_s": 15.0, "cpu_s": 9.0}
    found = {t.name: (t.value, t.result) for t in pipeline.targets(figures)}
    assert found["1%-changed re-run: task time sum / dlt job"] == (0.2, "PASS")
    assert found["first import: task CPU / dlt job CPU"] == (1.0, "PASS")
    assert found["first import: DAG run / dlt job"] == (1.333, "PASS")


def test_checks_find_an_unbalanced_report_and_a_wrong_first_import(
    pipeline: ModuleType,
) -> None:
    balanced = {"read": 10, "created": 4, "merged": 6}
    figures: dict[str, Any] = {
        "split": {"tables": {"variants": {"rows_out": 4}}},
        "dags": {
            "first": {"report_tables": {"variants": balanced}, "sent": {"variants": 4}},
            "forced": {"report_tables": {"variants": balanced | {"unchanged": 1}}},
            "changed_1pct": {"sent": {"variants": 1, "products": 0}},
        },
    }
    assert pipeline.checks(figures) == [
        "forced: report of variants does not balance: "
        "{'read': 10, 'created': 4, 'merged': 6, 'unchanged': 1}"
    ]
    figures["dags"]["first"]["sent"] = {"variants": 3}
    figures["dags"]["changed_1pct"]["sent"] = {"variants": 1, "products": 2}
    problems = pipeline.checks(figures)
    assert problems[1:] == [
        "first import sent {'variants': 3}, the split alone made {'variants': 4}",
        "the 1%-changed run sent items of other tables than variants: {'products': 2}",
    ]
