"""No private key or API key in any exception message, log record or repr of this package,
even when a server echoes what it was sent."""

from __future__ import annotations

import logging

import httpx
import pytest

from saleslayer_airflow.exceptions import SalesLayerApiError
from saleslayer_airflow.saleslayer import CATEGORIES, ConnectorCredentials, RestCredentials
from saleslayer_airflow.saleslayer.hook import SalesLayerHook
from tests.saleslayer.conftest import FakeClock, make_connector_client, make_rest_client
from tests.saleslayer.fakes import API_KEY, PRIVATE_KEY, REST_BASE, FakeConnectorApi, FakeRestApi

SECRETS = (PRIVATE_KEY, API_KEY)


def _assert_clean(*texts: str) -> None:
    for text in texts:
        for secret in SECRETS:
            assert secret not in text


def _echo_api_key(request: httpx.Request) -> httpx.Response:
    return httpx.Response(
        401, json={"title": "Unauthorized", "detail": f"key {request.headers['X-API-KEY']}"}
    )


def _echo_private_key(request: httpx.Request) -> httpx.Response:
    return httpx.Response(200, json={"error": 9, "message": f"expected {PRIVATE_KEY}"})


def _connector_failures() -> list[list[object]]:
    return [
        [_echo_private_key],
        [httpx.Response(500, text=f"trace: {PRIVATE_KEY}")] * 3,
        [httpx.ConnectError(f"refused {PRIVATE_KEY}")] * 3,
        [httpx.Response(200, json={"input_response": {"result": 2, "errors": [PRIVATE_KEY]}})],
    ]


@pytest.mark.parametrize("case", range(4))
def test_connector_errors_and_logs_hold_no_secret(
    case: int, clock: FakeClock, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.DEBUG)
    server = FakeConnectorApi(faults=list(_connector_failures()[case]))  # type: ignore[arg-type]
    with make_connector_client(server, clock) as api, pytest.raises(SalesLayerApiError) as caught:
        api.upsert("products", [{"prod_ref": "P1"}])
    _assert_clean(str(caught.value), repr(caught.value), caplog.text, repr(api))
    assert caplog.records or case in (0, 3)  # retried cases logged their retries


def test_tracking_errors_hold_no_secret(clock: FakeClock, caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.DEBUG)
    server = FakeConnectorApi(tracking_steps=["prepare"], tracking_final="error")
    server.tracking_faults = [httpx.Response(503, text=PRIVATE_KEY)]
    with make_connector_client(server, clock) as api, pytest.raises(SalesLayerApiError) as caught:
        api.upsert("products", [{"prod_ref": "P1"}])
    _assert_clean(str(caught.value), caplog.text)


@pytest.mark.parametrize(
    "faults",
    [
        [_echo_api_key],
        [httpx.Response(503, text=f"upstream {API_KEY}")] * 3,
        [httpx.ReadTimeout(f"slow {API_KEY}")] * 3,
        [httpx.Response(400, json=f"bad {API_KEY}")],
    ],
)
def test_rest_errors_and_logs_hold_no_secret(
    faults: list[object], clock: FakeClock, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.DEBUG)
    server = FakeRestApi(faults=list(faults))  # type: ignore[arg-type]
    with make_rest_client(server, clock) as rest, pytest.raises(SalesLayerApiError) as caught:
        rest.upsert(CATEGORIES, [{"cat_ref": "A"}])
    _assert_clean(str(caught.value), repr(caught.value), caplog.text, repr(rest))


def test_reprs_hide_the_secrets(monkeypatch: pytest.MonkeyPatch) -> None:
    conn = ConnectorCredentials("https://api.saleslayer.com", "CN1", PRIVATE_KEY)
    rest = RestCredentials(REST_BASE, API_KEY)
    _assert_clean(repr(conn), str(conn), repr(rest), str(rest), f"{conn} {rest}")
    assert "***" in repr(conn) and "***" in repr(rest)
    hook = SalesLayerHook("saleslayer_test")
    _assert_clean(repr(hook))


def test_a_successful_push_logs_no_secret(
    clock: FakeClock, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.DEBUG)
    with make_connector_client(FakeConnectorApi(tracking_steps=["started"]), clock) as api:
        api.upsert("products", [{"prod_ref": "P1"}])
    with make_rest_client(FakeRestApi(), clock) as rest:
        rest.push(categories=[{"cat_ref": "A"}], products=[{"prod_ref": "P", "cat_ref": "A"}])
    assert "upserted 1 items of table 'products'" in caplog.text
    _assert_clean(caplog.text)
