"""`make cluster`: the cluster tests' distributed Airflow, for a person to look at.

Starts what tests/cluster starts (Redis, PostgreSQL, an S3 bucket on moto's server, two Sales
Layer emulators, FTP and HTTP sources; scheduler, dag-processor, api-server, triggerer and two
Celery workers as separate processes), prints the UI's address and login, optionally triggers
every connector DAG, and stops everything on Ctrl-C (or SIGTERM).

    scripts/cluster                  # 12 connector DAGs, paused: unpause and trigger in the UI
    scripts/cluster --trigger        # ...and run them all at once
    scripts/cluster --connectors 4 --keep   # fewer DAGs; keep the work folder afterwards
"""

from __future__ import annotations

import argparse
import contextlib
import logging
import shutil
import signal
import sys
import tempfile
import time
from pathlib import Path
from types import FrameType

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

# tests.conftest (imported through the harness) points this process's Airflow settings at a
# throw-away folder; the components get their own environment, and the folder goes at exit.
from tests import conftest as _test_settings  # noqa: E402
from tests.cluster.harness import (  # noqa: E402
    BUCKET,
    USER,
    WORKERS,
    Cluster,
    ClusterError,
    ClusterUnavailable,
    start_cluster,
)
from tests.cluster.workload import connectors  # noqa: E402


def _say(text: str) -> None:
    """Print, even when the terminal or a pipe reading the output is already gone (Ctrl-C
    reaches `| tee` too): stopping the cluster matters more than telling about it."""
    with contextlib.suppress(OSError):
        print(text, flush=True)


def _quiet_servers() -> None:
    """The FTP and emulator servers run in this process: their per-request lines would bury
    the banner."""
    for name in ("pyftpdlib", "uvicorn", "uvicorn.error", "saleslayer_airflow"):
        logging.getLogger(name).setLevel(logging.WARNING)


def _stop_on_sigterm(signum: int, frame: FrameType | None) -> None:
    raise KeyboardInterrupt


def _trigger(cluster: Cluster) -> None:
    for connector in cluster.connectors:
        dag = connector.dag_id
        cluster.api("PATCH", f"/dags/{dag}", json={"is_paused": False}).raise_for_status()
        cluster.api("POST", f"/dags/{dag}/dagRuns", json={"logical_date": None}).raise_for_status()
    print(f"triggered {len(cluster.connectors)} runs")


def _banner(cluster: Cluster) -> str:
    assert cluster.postgres is not None
    lines = [
        "",
        f"Airflow UI   {cluster.base_url}   user {USER}   password {cluster.password}",
        f"             (CeleryExecutor; Celery workers {', '.join(WORKERS)})",
        f"S3 (moto)    {cluster.s3_endpoint}   bucket {BUCKET}: staging/ and task logs/",
        f"PostgreSQL   127.0.0.1:{cluster.postgres.port}   databases airflow, saleslayer_state",
        f"Broker       {cluster.env['AIRFLOW__CELERY__BROKER_URL']}",
    ]
    for account, emulator in cluster.emulators.items():
        lines.append(
            f"Sales Layer  account {account}: {emulator.base_url}/_emulator/tables/products"
        )
    lines += [
        f"Work folder  {cluster.root} (component homes and logs under homes/)",
        "Start-up     " + ", ".join(f"{k} {v:.1f} s" for k, v in cluster.timings.items()),
        "",
        "Ctrl-C stops everything.",
    ]
    return "\n".join(lines)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--connectors", type=int, default=12, help="connector DAGs (default 12)")
    parser.add_argument("--trigger", action="store_true", help="run every DAG once at start")
    parser.add_argument("--keep", action="store_true", help="keep the work folder at the end")
    args = parser.parse_args()

    signal.signal(signal.SIGTERM, _stop_on_sigterm)
    _quiet_servers()
    root = Path(tempfile.mkdtemp(prefix="saleslayer-cluster-"))
    cluster: Cluster | None = None
    code = 0
    try:
        print(f"starting the cluster in {root} (about 20-40 s)...", flush=True)
        began = time.monotonic()
        cluster = start_cluster(root, connectors(args.connectors))
        cluster.timings["start-up in all"] = time.monotonic() - began
        print(_banner(cluster), flush=True)
        if args.trigger:
            _trigger(cluster)
        while True:
            dead = [n for n, p in cluster.processes.items() if not p.alive()]
            if dead:
                print(f"components exited: {dead}; see {root}/homes/<name>/component.log")
                code = 1
                break
            time.sleep(1)
    except ClusterUnavailable as exc:
        print(f"cluster: cannot start here: {exc}", file=sys.stderr)
        code = 2
    except ClusterError as exc:
        print(f"cluster: did not start: {exc}", file=sys.stderr)
        code = 1
    except KeyboardInterrupt:
        _say("\nstopping...")
    finally:
        # Ctrl-C again while stopping must not leave processes behind.
        signal.signal(signal.SIGINT, signal.SIG_IGN)
        signal.signal(signal.SIGTERM, signal.SIG_IGN)
        began = time.monotonic()
        if cluster is not None:
            cluster.stop()
        if not args.keep:
            shutil.rmtree(root, ignore_errors=True)
        shutil.rmtree(_test_settings._AIRFLOW_HOME, ignore_errors=True)
        _say(f"stopped in {time.monotonic() - began:.1f} s")
    return code


if __name__ == "__main__":
    sys.exit(main())
