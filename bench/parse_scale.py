"""Benchmark: the DAG folder with many connector files on the cluster of tests/cluster (scheduler,
dag-processor, api-server, triggerer, two Celery workers, PostgreSQL, Redis, S3 on moto).

For each count of generated connector files (the cluster tests' connectors, numbered on):

- **parse**: the dag-processor's own figure for the loader file (``dags/saleslayer_connectors.py``
  builds one DAG per connector file): "Last Duration" of its processing-stats table, printed
  every 10 s here; and the time from the components' start until the API lists every DAG
  (the dag-processor's parse plus writing the serialized DAGs to PostgreSQL);
- **trigger to first task**: one DAG at a time unpaused and triggered through the REST API; the
  time until its first task instance is queued (the scheduler) and until it starts on a worker
  (Celery and the worker's task supervisor), from the task instance's ``queued_when`` and
  ``start_date`` against the trigger's wall clock (all processes on one machine, one clock).

bench/parse_time.py measures the parse alone in a fresh process (no cluster); this one measures
it where it runs in a deployment, beside the scheduler and the workers.

    .venv/bin/python bench/parse_scale.py                      # 12 and 500 connector files
    .venv/bin/python bench/parse_scale.py --counts 500 --triggers 8
"""

from __future__ import annotations

import argparse
import contextlib
import logging
import re
import shutil
import statistics
import sys
import tempfile
import time
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

# tests.conftest (imported through the harness) points this process's Airflow settings at a
# throw-away folder; the components get their own environment, and the folder goes at exit.
from tests import conftest as _test_settings  # noqa: E402
from tests.cluster.harness import Cluster, start_cluster  # noqa: E402
from tests.cluster.workload import connectors  # noqa: E402

#: The dag-processor prints its stats table this often (default 30 s).
STATS_INTERVAL = 10
#: One row of that table for the loader file: [PID, current duration,] #DAGs, #errors, last
#: duration, last run at.
_STATS_ROW = re.compile(
    r"saleslayer_connectors\.py\s+(?:\d+\s+[\d.]+s\s+)?(\d+)\s+(\d+)\s+([\d.]+)s\s+(\S+)"
)


def _parse_durations(cluster: Cluster, dags: int) -> list[float]:
    """Every "Last Duration" the dag-processor printed for the loader file with ``dags`` DAGs."""
    log = (cluster.homes["dag-processor"] / "component.log").read_text(errors="replace")
    found = []
    for match in _STATS_ROW.finditer(log):
        if int(match.group(1)) == dags and int(match.group(2)) == 0:
            found.append(float(match.group(3)))
    return found


def _when(value: str | None) -> datetime | None:
    return None if value is None else datetime.fromisoformat(value)


def _trigger_delays(cluster: Cluster, dag_ids: list[str]) -> list[dict[str, float]]:
    """Trigger each DAG alone and wait for its first task to start."""
    delays = []
    for dag_id in dag_ids:
        cluster.api("PATCH", f"/dags/{dag_id}", json={"is_paused": False}).raise_for_status()
        sent = datetime.now(UTC)
        answer = cluster.api("POST", f"/dags/{dag_id}/dagRuns", json={"logical_date": None})
        answer.raise_for_status()
        run_id = answer.json()["dag_run_id"]
        path = f"/dags/{dag_id}/dagRuns/{run_id}/taskInstances/fetch_source"

        def started(path: str = path) -> dict[str, Any] | None:
            ti: dict[str, Any] = cluster.get(path)
            return ti if ti.get("start_date") else None

        ti = cluster.wait_for(f"{dag_id}'s first task to start", started, 300)
        queued, start = _when(ti.get("queued_when")), _when(ti["start_date"])
        assert start is not None
        delays.append(
            {
                "queued_s": (queued - sent).total_seconds() if queued else float("nan"),
                "started_s": (start - sent).total_seconds(),
            }
        )
        # Let the run finish before the next trigger: each delay is measured on a quiet cluster.
        cluster.wait_runs({dag_id: run_id}, 300)
    return delays


def measure(count: int, triggers: int) -> dict[str, Any]:
    root = Path(tempfile.mkdtemp(prefix="bench-parse-scale-"))
    chosen = connectors(count)
    began = time.monotonic()
    try:
        # start_cluster stops what it started when it fails; the folder goes in `finally`.
        cluster = start_cluster(
            root,
            chosen,
            start_timeout=600,
            extra_env={"AIRFLOW__DAG_PROCESSOR__PRINT_STATS_INTERVAL": str(STATS_INTERVAL)},
        )
    except BaseException:
        shutil.rmtree(root, ignore_errors=True)
        raise
    try:
        started_in = time.monotonic() - began
        # Wait for at least two stats tables listing every DAG (the first parse and a re-parse).
        deadline = time.monotonic() + 180
        while len(_parse_durations(cluster, count)) < 2 and time.monotonic() < deadline:
            time.sleep(2)
        durations = _parse_durations(cluster, count)
        # Spread over the numbering: both sources, both accounts.
        step = max(1, count // triggers)
        picked = [c.dag_id for c in chosen[::step][:triggers]]
        delays = _trigger_delays(cluster, picked)
        return {
            "count": count,
            "start_s": started_in,
            "dags_listed_s": cluster.timings["dags parsed"],
            "parse_s": durations,
            "queued_s": [d["queued_s"] for d in delays],
            "started_s": [d["started_s"] for d in delays],
        }
    finally:
        cluster.stop()
        shutil.rmtree(root, ignore_errors=True)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--counts", type=int, nargs="+", default=[12, 500])
    parser.add_argument("--triggers", type=int, default=5, help="DAGs triggered one by one")
    args = parser.parse_args()
    for name in ("pyftpdlib", "uvicorn", "uvicorn.error", "saleslayer_airflow"):
        logging.getLogger(name).setLevel(logging.WARNING)
    try:
        for count in args.counts:
            _show(measure(count, args.triggers))
    finally:
        with contextlib.suppress(OSError):
            shutil.rmtree(_test_settings._AIRFLOW_HOME, ignore_errors=True)


def _show(r: dict[str, Any]) -> None:
    """One count's figures, printed as soon as measured (a later count may fail)."""
    print(
        f"\n{'files':>6} {'parse s (dag-processor, median)':>31} {'ms/file':>8} "
        f"{'start->all listed s':>20} {'trigger->queued s':>18} {'trigger->task start s':>22}",
        flush=True,
    )
    parse = statistics.median(r["parse_s"]) if r["parse_s"] else float("nan")
    print(
        f"{r['count']:>6} {parse:>31.2f} {1000 * parse / r['count']:>8.1f} "
        f"{r['dags_listed_s']:>20.1f} {statistics.median(r['queued_s']):>18.2f} "
        f"{statistics.median(r['started_s']):>22.2f}"
    )
    print(
        f"       parse durations {r['parse_s']}; queued {[round(x, 2) for x in r['queued_s']]}"
        f"; started {[round(x, 2) for x in r['started_s']]}",
        flush=True,
    )


if __name__ == "__main__":
    main()
