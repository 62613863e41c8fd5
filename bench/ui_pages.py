"""How fast the connector pages load with many connectors and runs (issue 15: 200 connectors with
30 runs each in under a second on our machines).

A throw-away Airflow home (SQLite metadata database) is filled with ``--connectors`` connector
DAGs (tagged ``saleslayer``, a few tags of their own), ``--runs`` finished runs each (five task
instances per run with durations, a report XCom with two tables' counts, a failed run now and
then), then the pages are fetched from Airflow's own API server app in process, as a viewer,
``--repeat`` times each; the figures are the median and the slowest wall times of the requests
(the first, which builds the app's routes and templates, apart).

    .venv/bin/python bench/ui_pages.py                        # 200 connectors x 30 runs
    .venv/bin/python bench/ui_pages.py --connectors 500 --runs 90 --json out.json

Figures are in docs/benchmarks.md ("Connector pages").
"""

from __future__ import annotations

import argparse
import json
import os
import secrets
import statistics
import sys
import tempfile
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

TASKS = ("fetch_source", "validate_and_split", "push_categories", "push_products", "report")
TABLES = ("categories", "products")


def _report(dag_id: str, run_id: str, n: int) -> dict[str, Any]:
    tables = {}
    for position, table in enumerate(TABLES):
        read = 1000 * (position + 1) + n
        rejected = n % 7
        created = 5 if n == 0 else 0
        updated = (n * 13) % 50
        merged = 100 * position
        unchanged = read - created - updated - rejected - merged
        tables[table] = {
            "status": "pushed",
            "read": read,
            "created": created,
            "updated": updated,
            "unchanged": unchanged,
            "stale": 0,
            "skipped": 0,
            "rejected": rejected,
            "failed": 0,
            "merged": merged,
            "conflicts": 0,
        }
    return {
        "connector_id": dag_id,
        "run_id": run_id,
        "dry_run": False,
        "succeeded": True,
        "tables": tables,
        "target": "saleslayer_default",
    }


def fill(connectors: int, runs: int) -> None:
    """The metadata database of ``connectors`` DAGs with ``runs`` runs each, by bulk inserts."""
    from airflow.models.dag import DagModel, DagTag
    from airflow.models.dagbundle import DagBundleModel
    from airflow.models.dagrun import DagRun
    from airflow.models.taskinstance import TaskInstance
    from airflow.models.xcom import XComModel
    from airflow.utils.session import create_session
    from sqlalchemy import insert, select

    start = datetime(2026, 1, 1, tzinfo=UTC)
    with create_session() as session:
        session.execute(insert(DagBundleModel.__table__), [{"name": "bench"}])
        ids = [f"connector_{i:04d}" for i in range(connectors)]
        session.execute(
            insert(DagModel.__table__),
            [
                {
                    "dag_id": dag_id,
                    "bundle_name": "bench",
                    "max_active_tasks": 16,
                    "max_consecutive_failed_dag_runs": 0,
                    "has_task_concurrency_limits": False,
                    "is_stale": False,
                    "is_paused": False,
                    "next_dagrun_create_after": start + timedelta(days=runs),
                    "timetable_summary": "@daily",
                }
                for dag_id in ids
            ],
        )
        session.execute(
            insert(DagTag.__table__),
            [
                {"dag_id": dag_id, "name": name}
                for i, dag_id in enumerate(ids)
                for name in ("saleslayer", f"team_{i % 5}")
            ],
        )
        session.execute(
            insert(DagRun.__table__),
            [
                {
                    "dag_id": dag_id,
                    "run_id": f"scheduled__{(start + timedelta(days=n)).isoformat()}",
                    "run_type": "scheduled",
                    "run_after": start + timedelta(days=n),
                    "logical_date": start + timedelta(days=n),
                    "start_date": start + timedelta(days=n, minutes=1),
                    "end_date": start + timedelta(days=n, minutes=3),
                    "state": "failed" if (n + i) % 11 == 0 else "success",
                }
                for i, dag_id in enumerate(ids)
                for n in range(runs)
            ],
        )
        run_ids = session.execute(select(DagRun.id, DagRun.dag_id, DagRun.run_id)).all()
        session.execute(
            insert(TaskInstance.__table__),
            [
                {
                    "task_id": task,
                    "dag_id": dag_id,
                    "run_id": run_id,
                    "map_index": -1,
                    "pool": "default_pool",
                    "state": "success",
                    "duration": 1.5 + position,
                }
                for _, dag_id, run_id in run_ids
                for position, task in enumerate(TASKS)
            ],
        )
        session.execute(
            insert(XComModel.__table__),
            [
                {
                    "dag_run_id": pk,
                    "task_id": "report",
                    "map_index": -1,
                    "key": "return_value",
                    "dag_id": dag_id,
                    "run_id": run_id,
                    "value": json.dumps(_report(dag_id, run_id, pk % runs)),
                }
                for pk, dag_id, run_id in run_ids
            ],
        )


def measure(repeat: int, connectors: int) -> dict[str, dict[str, float]]:
    """Wall seconds of each page's requests: the first, the median and the slowest of the
    others."""
    from airflow.api_fastapi.app import create_app, get_auth_manager
    from airflow.api_fastapi.auth.managers.simple.user import SimpleAuthManagerUser
    from fastapi.testclient import TestClient

    from saleslayer_airflow.ui.plugin import SalesLayerPlugin

    del SalesLayerPlugin  # imported: the entry point must be installed (pip install -e .)
    pages = {
        "overview": "/saleslayer/pages/connectors",
        "overview, one tag": "/saleslayer/pages/connectors?tag=team_1",
        "trends (30 runs)": f"/saleslayer/pages/connectors/connector_{connectors // 2:04d}/trends",
    }
    figures: dict[str, dict[str, float]] = {}
    with TestClient(create_app(), base_url="http://airflow.bench") as client:
        user = SimpleAuthManagerUser(username="bench", role="viewer")
        headers = {"Authorization": f"Bearer {get_auth_manager().generate_jwt(user)}"}
        for name, path in pages.items():
            times = []
            for _ in range(repeat + 1):
                began = time.perf_counter()
                answer = client.get(path, headers=headers)
                times.append(time.perf_counter() - began)
                if answer.status_code != 200:
                    raise SystemExit(f"{path}: {answer.status_code} {answer.text[:300]}")
            if name == "overview":  # what was measured is the full page: every row shown
                rows = answer.text.count('data-table="')
                if rows != connectors * len(TABLES):
                    raise SystemExit(f"the overview shows {rows} table rows, not {connectors * 2}")
            rest = times[1:]
            figures[name] = {
                "first_s": times[0],
                "median_s": statistics.median(rest),
                "max_s": max(rest),
                "bytes": len(answer.content),
            }
    return figures


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--connectors", type=int, default=200)
    parser.add_argument("--runs", type=int, default=30)
    parser.add_argument("--repeat", type=int, default=10)
    parser.add_argument("--json", type=Path, help="also write the figures here")
    args = parser.parse_args(argv)
    home = tempfile.mkdtemp(prefix="saleslayer-ui-bench-")
    os.environ["AIRFLOW_HOME"] = home
    os.environ["AIRFLOW__CORE__LOAD_EXAMPLES"] = "False"
    os.environ["AIRFLOW__CORE__AUTH_MANAGER"] = (
        "airflow.api_fastapi.auth.managers.simple.simple_auth_manager.SimpleAuthManager"
    )
    os.environ["AIRFLOW__CORE__SIMPLE_AUTH_MANAGER_USERS"] = "bench:viewer"
    os.environ["AIRFLOW__API_AUTH__JWT_SECRET"] = secrets.token_hex(32)
    from airflow.utils import db

    began = time.perf_counter()
    db.initdb()
    fill(args.connectors, args.runs)
    print(
        f"filled {args.connectors} connectors x {args.runs} runs "
        f"({args.connectors * args.runs * len(TASKS)} task instances) in "
        f"{time.perf_counter() - began:.1f} s; Airflow home {home}"
    )
    figures = measure(args.repeat, args.connectors)
    for name, found in figures.items():
        print(
            f"{name:<20} first {found['first_s'] * 1000:7.0f} ms   median "
            f"{found['median_s'] * 1000:7.0f} ms   slowest {found['max_s'] * 1000:7.0f} ms   "
            f"{found['bytes'] / 1024:6.0f} KiB"
        )
    if args.json:
        args.json.write_text(json.dumps(figures, indent=2), encoding="utf-8")
    return 0


if __name__ == "__main__":
    sys.exit(main())
