"""One distributed Airflow for every test of the folder (see tests/cluster/harness.py): started
once, a dozen connector DAGs triggered at once, and stopped after the folder's last test.

Skipped, saying why, when redis-server, PostgreSQL's binaries or the Celery/Amazon providers,
s3fs or moto are not installed; a cluster that is all there but does not come up fails.
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import Any

import pytest

from tests.cluster.harness import (
    Cluster,
    ClusterError,
    ClusterUnavailable,
    check_prerequisites,
    start_cluster,
)
from tests.cluster.workload import ACCOUNTS, connectors, scenarios

#: How long the twelve runs may take together (measured here: about 70 s on a quiet machine).
RUNS_TIMEOUT = 420.0
#: How long the workers may take to upload the last task logs after the last run ended.
LOGS_TIMEOUT = 60.0


@pytest.fixture(scope="package")
def cluster(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Cluster]:
    """The running cluster with twelve connector DAGs and the scenario connectors parsed (all
    still paused)."""
    try:
        check_prerequisites()
    except ClusterUnavailable as exc:
        pytest.skip(f"the cluster cannot be started here: {exc}")
    root = tmp_path_factory.mktemp("cluster")
    # The FTP server runs in this process: a line per FTP command would bury pytest's output.
    logging.getLogger("pyftpdlib").setLevel(logging.WARNING)
    began = time.monotonic()
    try:
        running = start_cluster(root, connectors(12), scenarios=scenarios())
    except ClusterError as exc:
        pytest.fail(f"the cluster did not start: {exc}")
    running.timings["start-up in all"] = time.monotonic() - began
    try:
        yield running
    finally:
        began = time.monotonic()
        running.stop()
        print(f"\ncluster: stopped in {time.monotonic() - began:.1f} s; timings {running.timings}")


class InFlightSampler:
    """Samples each emulator's count of API requests being handled (its ``in_flight`` counter)
    every few milliseconds, keeping the highest seen: two pushes of one account at once would
    show as 2."""

    def __init__(self, emulators: dict[str, Any]) -> None:
        self.emulators = emulators
        self.highest = dict.fromkeys(emulators, 0)
        self.samples = 0
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, name="in-flight-sampler", daemon=True)

    def _run(self) -> None:
        while not self._stop.is_set():
            for account, emulator in self.emulators.items():
                # The counter itself, not the HTTP route: an HTTP request would count itself.
                now = int(emulator.state.stats.snapshot()["in_flight"])
                self.highest[account] = max(self.highest[account], now)
            self.samples += 1
            time.sleep(0.002)

    def __enter__(self) -> InFlightSampler:
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._stop.set()
        self._thread.join(timeout=10)


@dataclass
class Runs:
    """The twelve finished runs: run per DAG, their task instances, the in-flight highs."""

    runs: dict[str, dict[str, Any]]
    task_instances: dict[str, list[dict[str, Any]]]
    in_flight_highest: dict[str, int]
    in_flight_samples: int
    seconds: float
    stats: dict[str, dict[str, Any]] = field(default_factory=dict)


@pytest.fixture(scope="package")
def runs(cluster: Cluster) -> Runs:
    """Unpause every connector DAG, trigger one run of each through the REST API, all at once,
    and wait until every run has finished (whatever its state: the tests say which)."""
    dag_ids = [c.dag_id for c in cluster.connectors]
    for emulator in cluster.emulators.values():
        emulator.state.stats.reset()
    began = time.monotonic()
    with InFlightSampler(cluster.emulators) as sampler:
        run_ids: dict[str, str] = {}
        for dag_id in dag_ids:
            answer = cluster.api("PATCH", f"/dags/{dag_id}", json={"is_paused": False})
            assert answer.status_code == 200, answer.text
        for dag_id in dag_ids:
            answer = cluster.api("POST", f"/dags/{dag_id}/dagRuns", json={"logical_date": None})
            assert answer.status_code == 200, answer.text
            run_ids[dag_id] = answer.json()["dag_run_id"]

        def finished() -> dict[str, dict[str, Any]] | None:
            found = {d: cluster.get(f"/dags/{d}/dagRuns/{r}") for d, r in run_ids.items()}
            done = all(run["state"] in ("success", "failed") for run in found.values())
            return found if done else None

        try:
            found = cluster.wait_for("the twelve runs to finish", finished, RUNS_TIMEOUT)
        except ClusterError as exc:
            pytest.fail(str(exc))
    seconds = time.monotonic() - began
    cluster.timings["twelve runs"] = seconds
    task_instances = {
        d: cluster.get(f"/dags/{d}/dagRuns/{r}/taskInstances")["task_instances"]
        for d, r in run_ids.items()
    }
    # A worker uploads a task's log to the bucket after the try has ended, so the last logs may
    # arrive a moment after the last run finished.
    tries = sum(len(tis) for tis in task_instances.values())
    try:
        cluster.wait_for(
            "every task log in the bucket",
            lambda: len(cluster.bucket_keys("logs/")) >= tries,
            LOGS_TIMEOUT,
        )
    except ClusterError as exc:
        pytest.fail(str(exc))
    return Runs(
        runs=found,
        task_instances=task_instances,
        in_flight_highest=dict(sampler.highest),
        in_flight_samples=sampler.samples,
        seconds=seconds,
        stats={a: cluster.emulators[a].stats() for a in ACCOUNTS},
    )
