"""Fixtures of the Sales Layer client tests: server stand-ins, a simulated clock, clients."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from saleslayer_airflow.saleslayer import (
    ConnectorApiClient,
    ConnectorApiOptions,
    ConnectorCredentials,
    RestCatalogClient,
    RestCredentials,
    RestOptions,
    RetryPolicy,
    SlidingWindowLimiter,
)
from tests.saleslayer.fakes import (
    API_KEY,
    API_URL,
    CODE,
    PRIVATE_KEY,
    REST_BASE,
    FakeConnectorApi,
    FakeRestApi,
)


class FakeClock:
    """A clock that only moves when someone sleeps: no test waits for real."""

    def __init__(self, start: float = 1_795_874_830.0) -> None:
        self.now = start
        self.sleeps: list[float] = []

    def __call__(self) -> float:
        return self.now

    def sleep(self, seconds: float) -> None:
        self.sleeps.append(seconds)
        self.now += max(seconds, 0.0)


@pytest.fixture
def clock() -> FakeClock:
    return FakeClock()


@pytest.fixture
def connector_server() -> FakeConnectorApi:
    return FakeConnectorApi()


@pytest.fixture
def rest_server() -> FakeRestApi:
    return FakeRestApi()


FAST_RETRY = RetryPolicy(attempts=3, initial=1.0, maximum=8.0, jitter=0.5)


def make_connector_client(
    server: FakeConnectorApi, clock: FakeClock, **options: object
) -> ConnectorApiClient:
    opts = ConnectorApiOptions(
        **{"retry": FAST_RETRY, "poll_interval": 0.5, **options}  # type: ignore[arg-type]
    )
    return ConnectorApiClient(
        ConnectorCredentials(API_URL, CODE, PRIVATE_KEY),
        conn_id="saleslayer_test",
        options=opts,
        transport=server.transport(),
        clock=clock,
        sleep=clock.sleep,
    )


def make_rest_client(server: FakeRestApi, clock: FakeClock, **options: object) -> RestCatalogClient:
    opts = RestOptions(**{"retry": FAST_RETRY, **options})  # type: ignore[arg-type]
    return RestCatalogClient(
        RestCredentials(REST_BASE, API_KEY),
        conn_id="saleslayer_test",
        options=opts,
        transport=server.transport(),
        limiter=SlidingWindowLimiter(
            opts.max_requests, opts.window, clock=clock, sleep=clock.sleep
        ),
        clock=clock,
        sleep=clock.sleep,
    )


@pytest.fixture
def connector_client(
    connector_server: FakeConnectorApi, clock: FakeClock
) -> Iterator[ConnectorApiClient]:
    with make_connector_client(connector_server, clock) as client:
        yield client


@pytest.fixture
def rest_client(rest_server: FakeRestApi, clock: FakeClock) -> Iterator[RestCatalogClient]:
    with make_rest_client(rest_server, clock) as client:
        yield client
