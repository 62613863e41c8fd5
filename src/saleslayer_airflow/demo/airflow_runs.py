"""Run one connector DAG for one day through Airflow, and read what the run reported.

Two ways, same result: ``cli`` runs ``airflow dags test <dag_id> <date>`` in a subprocess (what a
person types; about 10 s each, most of it Airflow starting), ``inprocess`` calls the same
``dag.test()`` inside this process (Airflow starts once, then each run takes about a second).
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path
from typing import Any


class DemoRunError(Exception):
    """A demo step could not run (not a failed check): the message says what to look at."""


@dataclass
class RunOutcome:
    """What one DAG run did: its state, each task's state, and the report when one was written."""

    dag_id: str
    logical_date: datetime
    state: str
    tasks: dict[str, str] = field(default_factory=dict)
    report: dict[str, Any] | None = None

    @property
    def skipped(self) -> bool:
        """The fetch found nothing new to import (unchanged export, or no API changes)."""
        return self.tasks.get("fetch_source") == "skipped"


def _newest_report(staging: Path, dag_id: str, since: float) -> dict[str, Any] | None:
    reports = [
        path for path in (staging / dag_id).glob("*/report.json") if path.stat().st_mtime >= since
    ]
    if not reports:
        return None
    newest = max(reports, key=lambda path: path.stat().st_mtime)
    body: dict[str, Any] = json.loads(newest.read_text(encoding="utf-8"))
    return body


def run_inprocess(
    dag_id: str,
    logical_date: datetime,
    dags_folder: Path,
    staging: Path,
    conf: dict[str, Any] | None = None,
) -> RunOutcome:
    """``dag.test()`` in this process (the environment must be set before Airflow is imported)."""
    import time

    from airflow.dag_processing.dagbag import DagBag

    started = time.time()
    bag = DagBag(dag_folder=str(dags_folder))
    if dag_id not in bag.dags:
        raise DemoRunError(f"Airflow built no DAG {dag_id!r}; import errors: {bag.import_errors}")
    dag_run = bag.dags[dag_id].test(logical_date=logical_date, run_conf=conf)
    tasks = {ti.task_id: str(ti.state) for ti in dag_run.get_task_instances()}
    return RunOutcome(
        dag_id, logical_date, str(dag_run.state), tasks, _newest_report(staging, dag_id, started)
    )


def run_cli(
    dag_id: str,
    logical_date: datetime,
    log_file: Path,
    staging: Path,
    conf: dict[str, Any] | None = None,
) -> RunOutcome:
    """``airflow dags test <dag_id> <date>`` in a subprocess; its output goes to ``log_file``."""
    import time

    started = time.time()
    airflow = Path(sys.executable).with_name("airflow")
    command = [str(airflow), "dags", "test", dag_id, logical_date.isoformat()]
    if conf:
        command += ["--conf", json.dumps(conf)]
    with log_file.open("ab") as log:
        log.write(f"\n$ {' '.join(command)}\n".encode())
        log.flush()
        done = subprocess.run(command, stdout=log, stderr=subprocess.STDOUT, env=os.environ.copy())
    tasks = _task_states(dag_id, logical_date)
    state = "success" if done.returncode == 0 else "failed"
    if any(value == "failed" or value == "upstream_failed" for value in tasks.values()):
        state = "failed"
    return RunOutcome(dag_id, logical_date, state, tasks, _newest_report(staging, dag_id, started))


def _task_states(dag_id: str, logical_date: datetime) -> dict[str, str]:
    """Task states of the run, read from Airflow's metadata database."""
    from airflow.models.dagrun import DagRun
    from airflow.utils.session import create_session

    with create_session() as session:
        run = (
            session.query(DagRun)
            .filter(DagRun.dag_id == dag_id, DagRun.logical_date == logical_date)
            .order_by(DagRun.id.desc())
            .first()
        )
        if run is None:
            return {}
        return {ti.task_id: str(ti.state) for ti in run.get_task_instances(session=session)}
