"""A Celery worker lost in the middle of a push: its whole process tree SIGKILLed (the worker,
its pool, the task supervisor and the task process, which Airflow puts in a process group of its
own) once Sales Layer has acknowledged some batches. The scheduler finds the task by its missing
heartbeats (``[scheduler] task_instance_heartbeat_timeout``, 20 s here) and fails the try for
retry; the retry runs on the other worker, resumes after the last acknowledged batch (the state
store on PostgreSQL is shared) and the emulator ends with every item once.

This test kills a worker and does not start it again: it runs last in the folder (file names
sort it last), and the cluster fixture stops what is left of it with the rest.
"""

from __future__ import annotations

import time
from collections import Counter
from typing import Any

import psutil
import pytest

from saleslayer_airflow.state.schema import PREFIX
from tests.cluster.harness import HEARTBEAT_TIMEOUT, TRACKING, WORKERS, Cluster, ClusterError
from tests.cluster.test_cluster import emulator_products
from tests.cluster.workload import KILLED_BATCH, KILLED_DAG, killed_rows
from tests.e2e.conftest import sent_references

pytestmark = [pytest.mark.integration, pytest.mark.timeout(600)]

BATCHES = -(-len(killed_rows()) // KILLED_BATCH)
#: Kill once this many batches are acknowledged (and well before the last one).
KILL_AFTER = 2
#: Each import job of the slowed emulator ends at the first tracking poll after 1 s: 15 batches
#: take 15-20 s, so the kill lands in the middle.
SLOW_TRACKING = {"tracking": {"steps_to_end": 1, "seconds_per_step": 1.0, "tick_seconds": 0.1}}
#: Safety nets only (the test waits for events): the push to start, the whole run to end.
START_TIMEOUT, RUN_TIMEOUT = 120.0, 240.0


def _acked(cluster: Cluster, run_id: str) -> tuple[int, set[str]]:
    """Batches of the run acknowledged in the state store, and the references they recorded."""
    [(batches,)] = cluster.state_query(
        f"SELECT count(*) FROM {PREFIX}push_batches WHERE connector_id = :dag AND run_id = :run",
        dag=KILLED_DAG,
        run=run_id,
    )
    refs = cluster.state_query(
        f"SELECT reference FROM {PREFIX}items WHERE connector_id = :dag AND run_id = :run",
        dag=KILLED_DAG,
        run=run_id,
    )
    return int(batches), {str(r) for (r,) in refs}


def _sent(cluster: Cluster) -> list[str]:
    """Every K- reference emulator a accepted in an import call, in order, once per call."""
    sent = sent_references(cluster.root / "emulator-a.sqlite", "products")
    return [ref for ref in sent if ref.startswith("K-")]


def _running(pids: list[int], within: float) -> list[str]:
    """The processes of ``pids`` still running (not zombies) after up to ``within`` seconds."""
    deadline = time.monotonic() + within
    while True:
        alive = []
        for pid in pids:
            try:
                process = psutil.Process(pid)
                if process.status() != psutil.STATUS_ZOMBIE:
                    alive.append(f"{pid} {process.status()} {' '.join(process.cmdline())[:120]}")
            except psutil.NoSuchProcess:
                continue
        if not alive or time.monotonic() > deadline:
            return alive
        time.sleep(0.2)


def _try(cluster: Cluster, run_id: str, number: int) -> dict[str, Any]:
    path = f"/dags/{KILLED_DAG}/dagRuns/{run_id}/taskInstances/push_products/tries/{number}"
    found: dict[str, Any] = cluster.get(path)
    return found


def test_a_worker_killed_mid_push_is_retried_on_the_other_and_resumes(cluster: Cluster) -> None:
    everything = {row["sku"] for row in killed_rows()}
    emulator = cluster.emulators["a"]
    emulator.update_settings(SLOW_TRACKING)
    emulator.state.stats.reset()
    try:
        run_id = cluster.trigger([KILLED_DAG])[KILLED_DAG]
        ti_path = f"/dags/{KILLED_DAG}/dagRuns/{run_id}/taskInstances/push_products"

        def pushing() -> dict[str, Any] | None:
            ti: dict[str, Any] = cluster.get(ti_path)
            if ti["state"] in ("success", "failed", "up_for_retry"):
                raise ClusterError(f"the push ended before it could be killed: {ti['state']}")
            calls = emulator.stats()["by_endpoint"].get("POST /", 0)
            started = ti["state"] == "running" and ti["hostname"] in WORKERS
            if started and calls >= KILL_AFTER and _acked(cluster, run_id)[0] >= KILL_AFTER:
                return ti
            return None

        ti = cluster.wait_for("the push to have batches acknowledged", pushing, START_TIMEOUT)
        victim = str(ti["hostname"])
        survivor = next(w for w in WORKERS if w != victim)
        killed_at = time.monotonic()
        pids = cluster.kill_worker(victim)

        # Nothing of the killed worker survives (the task process had a group of its own);
        # SIGKILL is delivered asynchronously, so give the kernel a moment.
        alive = _running(pids, within=10.0)
        assert not alive, f"processes of {victim} still running: {alive}"
        batches, acknowledged = _acked(cluster, run_id)
        sent_before = _sent(cluster)
        assert KILL_AFTER <= batches < BATCHES, "the kill came too late to test much"
        assert len(acknowledged) == KILLED_BATCH * batches
        # What was sent and not acknowledged when the worker died: at most the batch in flight.
        in_flight = set(sent_before) - acknowledged
        assert len(in_flight) <= KILLED_BATCH, in_flight

        try:
            run = cluster.wait_runs({KILLED_DAG: run_id}, RUN_TIMEOUT)[KILLED_DAG]
        except ClusterError as exc:
            pytest.fail(str(exc))
        finished_in = time.monotonic() - killed_at
        assert run["state"] == "success", cluster.why_failed([run])
    finally:
        emulator.update_settings(TRACKING)

    # The first try, on the killed worker, was failed for retry; the second ran on the other.
    first, second = _try(cluster, run_id, 1), _try(cluster, run_id, 2)
    assert first["hostname"] == victim and first["state"] == "failed", first
    assert second["hostname"] == survivor and second["state"] == "success", second
    assert cluster.get(ti_path)["try_number"] == 2

    # The retry sent nothing acknowledged, everything else once; the batch in flight at the kill
    # is the only thing Sales Layer received twice.
    sent = _sent(cluster)
    resent = sent[len(sent_before) :]
    assert not set(resent) & acknowledged
    assert sorted(resent) == sorted(everything - acknowledged)
    twice = {ref for ref, n in Counter(sent).items() if n > 1}
    assert twice <= in_flight and max(Counter(sent).values()) <= 2
    assert len(sent) == len(everything) + len(set(sent_before) - acknowledged)

    stored = emulator_products(cluster, "a", "K-")
    assert set(stored) == everything
    for row in killed_rows():
        assert stored[row["sku"]]["fields"]["prod_title"] == {"en": row["name_en"]}

    pushed = cluster.xcom(KILLED_DAG, run_id, "push_products")
    assert pushed["batches_resumed"] == batches, pushed
    assert (pushed["created"], pushed["failed"], pushed["items"]) == (len(everything), 0, 60)
    retry_started = second["start_date"]
    print(
        f"\nworker killed: {victim} after {batches} of {BATCHES} batches acknowledged "
        f"({len(in_flight)} items in flight); retry on {survivor} started {retry_started}; "
        f"run finished {finished_in:.1f} s after the kill (heartbeat timeout "
        f"{HEARTBEAT_TIMEOUT} s)"
    )
