"""Fixtures of the small soak: one run per transport for the whole module, shared by its tests
(each run pushes the catalog twice into fresh emulators started in threads on free ports)."""

from __future__ import annotations

from pathlib import Path

import pytest

from saleslayer_airflow.emulator.soak import SoakOptions, SoakResult, soak

# Small enough for the default suite, large enough that every fault kind fires more than once:
# small Import Connector batches make many calls and polls; a short timeout keeps slow faults
# cheap; a fractional Retry-After (test-only, see docs/emulator.md) keeps 429 waits short.
CONNECTOR_OPTIONS = SoakOptions(
    items=1_000,
    seed=7,
    fault_rate=0.1,
    batch=25,
    timeout=1.0,
    slow_margin=0.5,
    retry_after=0.2,
    poll_interval=0.02,
)
REST_OPTIONS = SoakOptions(
    items=300,
    seed=7,
    fault_rate=0.1,
    rest_workers=4,
    timeout=1.0,
    # Slow answers land 2.5 s after the POST: later than the client's look-up after its timeout,
    # so only the client's sweep of late-applied creates keeps references unique.
    slow_margin=1.5,
    retry_after=0.2,
)


@pytest.fixture(scope="session")
def connector_soak(tmp_path_factory: pytest.TempPathFactory) -> SoakResult:
    folder: Path = tmp_path_factory.mktemp("soak-connector")
    return soak("connector_api", CONNECTOR_OPTIONS, folder)


@pytest.fixture(scope="session")
def rest_soak(tmp_path_factory: pytest.TempPathFactory) -> SoakResult:
    folder: Path = tmp_path_factory.mktemp("soak-rest")
    return soak("rest", REST_OPTIONS, folder)
