"""bench/pipeline.py, issue 12's benchmark command: its parts run end to end on a small export
(real Airflow, emulator and HTTP server as subprocesses) and it prints the targets' ratios; its
DAG runs start through bench/airflow_launcher.py, so Airflow's start-up is out of the tasks."""

from __future__ import annotations

import copy
import importlib
import json
import os
import pstats
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
LAUNCHER = ROOT / "bench" / "airflow_launcher.py"
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
    # Three `airflow dags test` processes: about a minute on a quiet machine, four on a busy one.
    done = subprocess.run([*command, *args], capture_output=True, text=True, cwd=ROOT, timeout=540)
    assert done.returncode == 0, done.stdout[-3000:] + done.stderr[-3000:]
    return done, json.loads(out.read_text(encoding="utf-8"))


#: The DAG runs of bench/pipeline.py, in order.
RUNS = ("first", "forced", "changed_1pct")
#: What airflow_launcher.py prints of the Execution API's build (its AIRFLOW_STARTUP line).
STARTUP_FIELDS = {
    "wall_s", "cpu_s", "build_s", "build_cpu_s", "first_request_s", "first_request_cpu_s",
    "check_s",
}  # fmt: skip


def _profiled(profile: Path) -> set[tuple[str, str]]:
    """(file, function) of every function a cProfile file saw called."""
    stats = pstats.Stats(str(profile)).stats  # type: ignore[attr-defined]
    return {(Path(file).as_posix(), name) for (file, _, name) in stats}


@needs_kit
@pytest.mark.integration
@pytest.mark.timeout(600)
def test_every_part_runs_and_the_ratios_are_printed(tmp_path: Path) -> None:
    # --profile: each `airflow dags test` (after the launcher's build) runs under cProfile, which
    # shows what the command line called; that, not a comparison of timings (noisy on a shared
    # machine), says whether Airflow's start-up stayed out of the tasks.
    done, figures = _run(tmp_path, "--rows", "2000", "--memory-scale", "2", "--profile")
    split = figures["split"]
    made = {table: counts["rows_out"] for table, counts in split["tables"].items()}
    assert made == {"categories": 420, "products": 400, "variants": 2000}
    assert figures["floor"]["rows"] == 2000 and figures["floor"]["peak_rss_mb"] > 0
    memory = figures["memory"]
    assert memory["rows"] == 4000
    # each size split --memory-runs (3) times, the timed split among the 1x runs; medians
    assert len(memory["peak_rss_runs_mb"]) == 3 and len(memory["base_rss_runs_mb"]) == 3
    assert memory["base_rss_runs_mb"][0] == split["peak_rss_mb"]
    assert memory["peak_rss_mb"] == sorted(memory["peak_rss_runs_mb"])[1]
    assert memory["base_rss_mb"] == sorted(memory["base_rss_runs_mb"])[1]
    dags = figures["dags"]
    assert [dags[run]["state"] for run in RUNS] == ["success"] * 3
    assert dags["first"]["sent"] == made
    assert sum(dags["forced"]["sent"].values()) == 0
    assert dags["changed_1pct"]["sent"] == {"categories": 0, "products": 0, "variants": 20}
    first = dags["first"]
    assert set(first["tasks"]) >= {"fetch_source", "validate_and_split", "push_variants", "report"}
    assert first["task_cpu_s"] > 0 and first["emulator_cpu_s"] > 0
    assert dags["execution_api"] == "built before the run"
    for run in RUNS:
        figures_of_run, tasks = dags[run], dags[run]["tasks"]
        # Airflow's start-up is recorded apart, with every figure the launcher prints...
        assert set(figures_of_run["airflow_startup"]) == STARTUP_FIELDS, run
        # ...and the run's sums are of its task instances alone, the start-up not added.
        assert figures_of_run["task_sum_s"] == pytest.approx(
            sum(t["seconds"] for t in tasks.values()), abs=0.05
        ), run
        assert figures_of_run["task_cpu_s"] == pytest.approx(
            sum(t["cpu_s"] for t in tasks.values()), abs=0.05
        ), run
        called = _profiled(Path(figures_of_run["profile"]))
        # The tasks talked to the in-process Execution API...
        assert any(
            name == "_api_client" and file.endswith("airflow/sdk/execution_time/supervisor.py")
            for file, name in called
        ), run
        # ...whose app the launcher had built: had the command line built one (a second app,
        # or the launcher's not being the cached instance), its build would be in the profile
        # (create_task_execution_api_app, InProcessExecutionAPI.app/.transport) and cadwyn's
        # route generation, on its first request, in fetch_source's figures.
        built = {name for file, name in called if file.endswith("api_fastapi/execution_api/app.py")}
        assert not built, (run, built)
    # The ratios are of those task sums: the start-up is in none of them.
    floor = figures["floor"]
    results = {t["name"]: t for t in figures["targets"]}
    forced_ratio = results["forced re-run: task time sum / floor"]
    assert forced_ratio["value"] == round(dags["forced"]["task_sum_s"] / floor["wall_s"], 3)
    assert forced_ratio["by_cpu"] == round(dags["forced"]["task_cpu_s"] / floor["cpu_s"], 3)
    assert first["emulator_requests"]["import_calls"] == 3
    # All but the categories' call (its top-level rows leave the parent field out) took the
    # emulator's column-wise path: the emulator's figures are those of the path the push's
    # calls take.
    assert first["emulator_requests"]["import_calls_by_rows"] == 1
    assert dags["forced"]["emulator_requests"] == {
        "total": 0,
        "import_calls": 0,
        "import_calls_by_rows": 0,
    }
    assert dags["changed_1pct"]["emulator_requests"]["import_calls"] == 1
    assert figures["problems"] == []
    assert figures["dlt"].startswith("skipped: no --dlt-python")
    assert results["forced re-run: items sent"]["result"] == "PASS"
    assert results["1%-changed re-run: variants sent"]["result"] == "PASS"
    assert results["1%-changed re-run: task time sum / dlt job"]["result"] == "n/a"
    assert results["split / floor"]["result"] in ("PASS", "FAIL")
    for line in ("split / floor", "forced re-run: task time sum / floor", "RSS 2x rows / 1x"):
        assert line in done.stdout
    assert "validate_and_split" in done.stdout and "sum of task times" in done.stdout
    assert "Airflow start-up OUT of the task figures" in done.stdout
    assert "WITHOUT Airflow's start-up" in done.stdout
    # --profile keeps the run folder (the profiles are in it); without it, see the next test.
    kept = list((tmp_path / "work").glob("run-*"))
    assert kept == [Path(figures["folder"])], kept
    assert f"run folder kept: {kept[0]}" in done.stdout
    assert sorted(p.name for p in (kept[0] / "profiles").iterdir()) == sorted(
        f"{run}.prof" for run in RUNS
    )


@needs_kit
@pytest.mark.integration
def test_a_run_without_dags_has_no_dag_ratios_and_removes_its_folder(tmp_path: Path) -> None:
    done, figures = _run(
        tmp_path, "--rows", "1000", "--skip", "dags", "--skip", "dlt", "--skip", "memory"
    )
    assert "dags" not in figures and figures["split"]["tables"]["variants"]["rows_out"] == 1000
    results = {t["name"]: t["result"] for t in figures["targets"]}
    assert results["split / floor"] in ("PASS", "FAIL")
    assert results["forced re-run: task time sum / floor"] == "n/a"
    assert "DAG-run figures in these ratios" not in done.stdout
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
    figures: dict[str, Any] = {
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
    # With repeated runs, the medians are compared, not part 2's single run.
    figures["memory"] |= {"peak_rss_mb": 120.0, "base_rss_mb": 110.0}
    found = {t.name: (t.value, t.result) for t in pipeline.targets(figures)}
    assert found["split peak RSS 5x rows / 1x rows"] == (pytest.approx(1.09, abs=0.005), "PASS")
    figures["dlt"] = {"wall_s": 15.0, "cpu_s": 9.0}
    found = {t.name: (t.value, t.result) for t in pipeline.targets(figures)}
    assert found["1%-changed re-run: task time sum / dlt job"] == (0.2, "PASS")
    assert found["first import: task CPU / dlt job CPU"] == (1.0, "PASS")
    assert found["first import: DAG run / dlt job"] == (1.333, "PASS")
    # Airflow's start-up, recorded beside each DAG run, is in none of the ratios.
    startup = {"wall_s": 50.0, "cpu_s": 50.0, "first_request_s": 40.0, "first_request_cpu_s": 40.0}
    with_startup = copy.deepcopy(figures)
    for run in with_startup["dags"].values():
        run["airflow_startup"] = startup
    assert pipeline.targets(with_startup) == pipeline.targets(figures)


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


@pytest.mark.integration
def test_the_launcher_builds_the_execution_api_then_runs_the_airflow_command(
    tmp_path: Path, pipeline: ModuleType
) -> None:
    env = {k: v for k, v in os.environ.items() if not k.startswith(pipeline.INHERIT_NOT)}
    profile = tmp_path / "version.prof"
    env |= {
        "AIRFLOW_HOME": str(tmp_path),
        "AIRFLOW__CORE__LOAD_EXAMPLES": "False",
        "BENCH_PROFILE": str(profile),
    }
    done = subprocess.run(
        [sys.executable, str(LAUNCHER), "version"],
        capture_output=True, text=True, cwd=ROOT, env=env, timeout=180,
    )  # fmt: skip
    assert done.returncode == 0, done.stdout[-2000:] + done.stderr[-2000:]
    startup = pipeline.startup_figures(done.stdout)
    assert startup is not None, done.stdout
    assert startup["first_request_cpu_s"] > 0 and startup["build_cpu_s"] > 0
    assert startup["cpu_s"] == pytest.approx(
        startup["build_cpu_s"] + startup["first_request_cpu_s"], abs=0.02
    )
    import airflow

    assert done.stdout.strip().splitlines()[-1] == airflow.__version__
    # The profile is the command line's (airflow's main), not the Execution API's build.
    functions = {name for (_, _, name) in pstats.Stats(str(profile)).stats}  # type: ignore[attr-defined]
    assert "main" in functions and "build_execution_api" not in functions


def test_the_startup_line_is_read_and_reported_beside_the_fetch(pipeline: ModuleType) -> None:
    output = (
        "noise\nAIRFLOW_STARTUP wall_s=4.204 cpu_s=4.100 build_s=1.100 build_cpu_s=1.000 "
        "first_request_s=3.104 first_request_cpu_s=3.100 check_s=0.002\nmore noise\n"
    )
    startup = pipeline.startup_figures(output)
    assert startup == {
        "wall_s": 4.2, "cpu_s": 4.1, "build_s": 1.1, "build_cpu_s": 1.0,
        "first_request_s": 3.1, "first_request_cpu_s": 3.1, "check_s": 0.0,
    }  # fmt: skip
    assert pipeline.startup_figures("no such line\n") is None
    fetch = {"fetch_source": {"seconds": 0.5, "cpu_s": 0.3}}
    dags = {n: {"tasks": fetch, "airflow_startup": startup} for n in ("first", "forced")}
    dags["changed_1pct"] = {"tasks": fetch, "airflow_startup": startup}
    note = pipeline.startup_note(dags)
    assert note.startswith("Airflow start-up OUT of the task figures")
    assert (
        "first: fetch_source 0.5 s (CPU 0.3 s) + Airflow start-up 3.1 s (CPU 3.1 s) "
        "= 3.6 s (CPU 3.4 s); app build 1.1 s (CPU 1.0 s)" in note
    )
    dags["forced"]["airflow_startup"] = None
    assert pipeline.startup_note(dags).startswith("Airflow start-up IN the task figures")
