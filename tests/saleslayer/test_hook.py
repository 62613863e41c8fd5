"""The Airflow hook: connection (as AIRFLOW_CONN_* JSON) -> clients, form, connection test."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import httpx
import jsonschema
import pytest

from saleslayer_airflow.exceptions import SalesLayerTerminalError
from saleslayer_airflow.saleslayer import CATEGORIES
from saleslayer_airflow.saleslayer.hook import SalesLayerHook
from saleslayer_airflow.saleslayer.provider_info import get_provider_info
from tests.saleslayer.conftest import FakeClock
from tests.saleslayer.fakes import (
    API_KEY,
    API_URL,
    CODE,
    PRIVATE_KEY,
    REST_BASE,
    FakeConnectorApi,
    FakeRestApi,
)


def _define(
    monkeypatch: pytest.MonkeyPatch, conn_id: str = "saleslayer_test", **fields: Any
) -> None:
    conn = {
        "conn_type": "saleslayer",
        "host": API_URL,
        "login": CODE,
        "password": PRIVATE_KEY,
        "extra": {"rest_url": REST_BASE, "api_key": API_KEY, "timeout": 7},
    }
    conn.update(fields)
    monkeypatch.setenv(f"AIRFLOW_CONN_{conn_id.upper()}", json.dumps(conn))


def _router(connector: FakeConnectorApi, rest: FakeRestApi) -> httpx.MockTransport:
    def handle(request: httpx.Request) -> httpx.Response:
        if request.url.path.startswith("/catalog/rest/"):
            return rest.handle(request)
        return connector.handle(request)

    return httpx.MockTransport(handle)


def test_the_hook_declares_the_provider_conventions() -> None:
    assert SalesLayerHook.conn_type == "saleslayer"
    assert SalesLayerHook.conn_name_attr == "saleslayer_conn_id"
    assert SalesLayerHook.default_conn_name == "saleslayer_default"
    assert SalesLayerHook.hook_name == "Sales Layer"
    assert SalesLayerHook().saleslayer_conn_id == "saleslayer_default"


def test_credentials_and_clients_come_from_the_connection(
    monkeypatch: pytest.MonkeyPatch, clock: FakeClock
) -> None:
    _define(monkeypatch)
    hook = SalesLayerHook("saleslayer_test")
    creds = hook.connector_credentials()
    assert (creds.api_url, creds.connector_code, creds.private_key) == (API_URL, CODE, PRIVATE_KEY)
    assert hook.rest_credentials().base_url == REST_BASE
    server = FakeConnectorApi()
    with hook.get_connector_api_client(
        transport=server.transport(), clock=clock, sleep=clock.sleep
    ) as api:
        assert api.options.timeout == 7.0
        assert api.conn_id == "saleslayer_test"
        assert api.upsert("products", [{"prod_ref": "P1"}])["products"].created == 1
    rest_server = FakeRestApi()
    with hook.get_rest_client(transport=rest_server.transport(), sleep=clock.sleep) as rest:
        assert rest.options.timeout == 7.0
        assert rest.upsert(CATEGORIES, [{"cat_ref": "C1"}]).created == 1
    assert isinstance(hook.get_conn(), type(api))


def test_a_uri_style_connection_builds_the_api_url_from_schema_host_and_port(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setenv(
        "AIRFLOW_CONN_SALESLAYER_URI", f"saleslayer://{CODE}:{PRIVATE_KEY}@127.0.0.1:8090/http"
    )
    assert SalesLayerHook("saleslayer_uri").connector_credentials().api_url == (
        "http://127.0.0.1:8090"
    )
    monkeypatch.setenv("AIRFLOW_CONN_SALESLAYER_URI", f"saleslayer://{CODE}:x@api.saleslayer.com")
    assert SalesLayerHook("saleslayer_uri").connector_credentials().api_url == (
        "https://api.saleslayer.com"
    )


def test_a_missing_connection_names_the_conn_id_and_what_to_set() -> None:
    with pytest.raises(SalesLayerTerminalError) as caught:
        SalesLayerHook("saleslayer_nowhere").connector_credentials()
    message = str(caught.value)
    assert "'saleslayer_nowhere': is not defined" in message
    assert "AIRFLOW_CONN_SALESLAYER_NOWHERE" in message
    assert "login = connector code" in message


@pytest.mark.parametrize(
    ("fields", "method", "expected"),
    [
        ({"host": ""}, "connector_credentials", "no host"),
        ({"login": None}, "connector_credentials", "no login (the connector code)"),
        ({"password": None}, "connector_credentials", "no password"),
        ({"host": "ftp://x"}, "connector_credentials", "http:// or https://"),
        ({"extra": {"api_key": API_KEY}}, "rest_credentials", "no extra 'rest_url'"),
        ({"extra": {"rest_url": REST_BASE}}, "rest_credentials", "no extra 'api_key'"),
        ({"extra": {"timeout": "soon"}}, "get_conn", "extra 'timeout' is 'soon'"),
    ],
)
def test_an_incomplete_connection_says_what_to_set(
    monkeypatch: pytest.MonkeyPatch, fields: dict[str, Any], method: str, expected: str
) -> None:
    _define(monkeypatch, **fields)
    with pytest.raises(SalesLayerTerminalError) as caught:
        getattr(SalesLayerHook("saleslayer_test"), method)()
    assert expected in str(caught.value)
    assert "'saleslayer_test'" in str(caught.value)
    assert PRIVATE_KEY not in str(caught.value) and API_KEY not in str(caught.value)


def test_test_connection_checks_both_apis(monkeypatch: pytest.MonkeyPatch) -> None:
    _define(monkeypatch)
    connector, rest = FakeConnectorApi(), FakeRestApi()
    ok, message = SalesLayerHook("saleslayer_test").test_connection(
        transport=_router(connector, rest)
    )
    assert ok, message
    assert "accepted connector 'CN123TEST'" in message
    assert "accepted the API key" in message
    assert connector.tables == {}  # nothing was imported


@pytest.mark.parametrize(
    ("fields", "expected"),
    [
        ({"password": "not-the-key-12345"}, "Invalid private key"),
        ({"login": "CN999"}, "Invalid connector code"),
        ({"extra": {"rest_url": REST_BASE, "api_key": "bad-api-key-12345"}}, "HTTP 401"),
    ],
)
def test_test_connection_reports_refused_credentials_without_secrets(
    monkeypatch: pytest.MonkeyPatch, fields: dict[str, Any], expected: str
) -> None:
    _define(monkeypatch, **fields)
    connector, rest = FakeConnectorApi(), FakeRestApi()
    ok, message = SalesLayerHook("saleslayer_test").test_connection(
        transport=_router(connector, rest)
    )
    assert not ok
    assert expected in message
    for secret in (PRIVATE_KEY, API_KEY, "not-the-key-12345", "bad-api-key-12345"):
        assert secret not in message
    # One attempt only: a connection test never waits through backoff.
    assert len(connector.posts()) == 1


def test_connection_form_and_provider_info_follow_airflow_schemas() -> None:
    import airflow

    behaviour = SalesLayerHook.get_ui_field_behaviour()
    assert behaviour["hidden_fields"] == ["schema", "port"]
    assert behaviour["relabeling"]["login"] == "Connector code"
    assert behaviour["relabeling"]["password"] == "Private key"
    root = Path(airflow.__path__[0])
    schema = json.loads((root / "customized_form_field_behaviours.schema.json").read_text())
    jsonschema.validate(behaviour, schema)
    info = get_provider_info()
    jsonschema.validate(info, json.loads((root / "provider_info.schema.json").read_text()))
    (conn_type,) = info["connection-types"]
    assert conn_type["hook-class-name"] == "saleslayer_airflow.saleslayer.hook.SalesLayerHook"
    assert conn_type["conn-fields"]["api_key"]["schema"]["format"] == "password"
    assert set(conn_type["conn-fields"]) == {"rest_url", "api_key", "timeout", "account_schema"}
