"""kill -9 of the push halfway, then a retry, through Airflow's own CLI.

The push task runs in a subprocess (`airflow tasks test`, the same task runner a worker uses,
against the run prepared by dag.test); once the state store holds a few acknowledged batches the
process group is SIGKILLed, as when a worker is lost. The retry (the same task of the same run)
must send exactly the items not acknowledged before, once each, and the emulator must end with
every store of the export."""

from __future__ import annotations

import os
import signal
import sqlite3
import subprocess
import sys
import time
from pathlib import Path

import pytest

from saleslayer_airflow.state.schema import PREFIX
from tests.e2e.conftest import World, catalog, first_day, sent_references, states, xcom

TASK = "push_points_of_sale"
#: Safety net only (the test waits for an event, not for a duration).
_GIVE_UP_SECONDS = 120


def _airflow(*args: str) -> subprocess.Popen[bytes]:
    airflow = Path(sys.executable).with_name("airflow")
    return subprocess.Popen(
        [str(airflow), *args],
        env=dict(os.environ),
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
        start_new_session=True,  # its own process group: the kill takes any child with it
    )


def _acked(state_file: Path, run_id: str) -> tuple[int, set[str]]:
    """Acknowledged batches of the run, and the references they checkpointed."""
    if not state_file.exists():
        return 0, set()
    with sqlite3.connect(state_file) as connection:
        (batches,) = connection.execute(
            f"SELECT count(*) FROM {PREFIX}push_batches WHERE run_id = ?", (run_id,)
        ).fetchone()
        refs = {
            row[0]
            for row in connection.execute(
                f"SELECT reference FROM {PREFIX}items WHERE run_id = ?", (run_id,)
            )
        }
    return int(batches), refs


@pytest.mark.integration
def test_push_killed_halfway_then_retried_resends_nothing_acknowledged(world: World) -> None:
    day, text = first_day()
    everything = {line.split(",")[0] for line in text.splitlines()[1:]}
    world.connector(retries=1, batch_size=3)
    world.publish(day, text)
    # Every import job needs two tracking polls a second apart: the push takes seconds, long
    # enough to be killed in the middle.
    world.emulator.update_settings({"tracking": {"steps_to_end": 2, "seconds_per_step": 0}})

    prepared = world.dag().test(logical_date=day, mark_success_pattern=f"{TASK}|report")
    assert states(prepared)["validate_and_split"] == "success", states(prepared)
    run_id = prepared.run_id
    state_file = world.tmp / "state.sqlite"

    worker = _airflow("tasks", "test", world.dag_id, TASK, run_id)
    deadline = time.monotonic() + _GIVE_UP_SECONDS
    while _acked(state_file, run_id)[0] < 3:
        assert worker.poll() is None, "the push ended before it could be killed"
        assert time.monotonic() < deadline, "no batch was acknowledged"
        time.sleep(0.05)
    os.killpg(worker.pid, signal.SIGKILL)
    worker.wait()
    batches, acknowledged = _acked(state_file, run_id)
    sent_before = sent_references(world.tmp / "sl.sqlite")
    assert 3 <= batches < 9 and len(acknowledged) == 3 * batches
    assert catalog(world.emulator).keys() < everything, "the kill came too late to test much"

    retry = _airflow("tasks", "test", world.dag_id, TASK, run_id)
    assert retry.wait(timeout=_GIVE_UP_SECONDS) == 0

    resent = sent_references(world.tmp / "sl.sqlite")[len(sent_before) :]
    assert sorted(resent) == sorted(everything - acknowledged), "resent or lost items"
    assert set(catalog(world.emulator)) == everything
    # `airflow tasks test` keeps the task's XCom: the retry's counts include the batches
    # acknowledged before the kill, so the run reports what an uninterrupted push would.
    pushed = xcom(prepared, TASK)
    assert (pushed["created"], pushed["failed"], pushed["items"]) == (len(everything), 0, 25)
    assert pushed["batches_resumed"] == batches
