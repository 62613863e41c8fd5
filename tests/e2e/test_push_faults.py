"""Faults end to end through Airflow: ~10% of the Import Connector and tracking requests fail
(seeded), plus a streak of dropped connections long enough to exhaust the client's own backoff
so that Airflow's retry (through the push task's retry policy) has to take over. The emulator
must end exactly as after a fault-free run of the same export."""

from __future__ import annotations

from typing import Any

import pytest

from tests.e2e.conftest import FAST_TRACKING, World, catalog, first_day, states, tries, xcom

TEN_PERCENT = {
    "seed": 7,
    "share_429": 0.03,
    "share_5xx": 0.03,
    "share_drop": 0.02,
    "share_error_10": 0.02,
}


@pytest.mark.integration
def test_ten_percent_faults_with_retries_end_like_a_fault_free_run(world: World) -> None:
    from saleslayer_airflow.emulator.server import start_in_thread

    day, text = first_day()
    world.connector(retries=2, batch_size=3)
    world.publish(day, text)

    clean = world.run(day)
    assert clean.state == "success", states(clean)
    expected = catalog(world.emulator)
    assert len(expected) == len(text.splitlines()) - 1

    # The same export into a second, faulty Sales Layer with a fresh state store.
    faulty_settings: dict[str, Any] = FAST_TRACKING | {
        "faults": {
            # Five drops in a row: the first call's five attempts all fail, so the task fails
            # with a transient error and Airflow retries it.
            "connector_api": TEN_PERCENT | {"script": ["drop"] * 5},
            "tracking": TEN_PERCENT | {"seed": 2},
        }
    }
    faulty = start_in_thread(world.tmp / "faulty.sqlite", settings=faulty_settings)
    world.stopped.append(faulty)
    world.use_emulator(faulty, "state-faulty.sqlite")

    dag_run = world.run(day.replace(hour=7), force=True)

    assert dag_run.state == "success", states(dag_run)
    assert tries(dag_run)["push_points_of_sale"] == 2, "the transient failure was not retried"
    served = faulty.stats()["faults"]
    assert sum(served.values()) > 5, served  # the scripted drops and the random ones
    assert any(kind.startswith("tracking") for kind in served), served
    assert catalog(faulty) == expected
    report = xcom(dag_run, "report")["tables"]["points_of_sale"]
    assert (report["created"], report["failed"]) == (len(expected), 0)
