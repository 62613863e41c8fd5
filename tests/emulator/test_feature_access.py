"""REST 403 "feature disabled": the account's REST feature off, or its writes off
(``rest.access``), answered with problem details after authentication."""

from __future__ import annotations

import pytest

from saleslayer_airflow.emulator.server import RunningEmulator
from saleslayer_airflow.exceptions import SalesLayerTerminalError
from saleslayer_airflow.saleslayer import (
    PRODUCTS,
    RestCatalogClient,
    RestCredentials,
    RestOptions,
    RetryPolicy,
    SlidingWindowLimiter,
)
from tests.emulator.conftest import API_KEY, Api, location_id, php_form

pytestmark = pytest.mark.integration


def assert_forbidden(response_json: dict[str, object], instance: str) -> None:
    assert response_json["type"] == "https://api2.saleslayer.com/errors/forbidden"
    assert response_json["title"] == "Forbidden"
    assert response_json["status"] == 403
    assert "disabled for this account" in str(response_json["detail"])
    assert response_json["instance"] == instance


def test_read_only_refuses_every_write_and_still_reads(api: Api) -> None:
    created = api.rest("POST", "Products", json={"prod_ref": "P1"})
    assert created.status_code == 201
    item = location_id(created)
    api.settings({"rest": {"access": "read_only"}})
    for method, path, body in (
        ("POST", "Products", {"prod_ref": "P2"}),
        ("PATCH", f"Products({item})", {"prod_price": "9"}),
        ("DELETE", f"Products({item})", None),
    ):
        refused = api.rest(method, path, json=body)
        assert refused.status_code == 403, (method, refused.text)
        assert refused.headers["content-type"].startswith("application/problem+json")
        assert_forbidden(refused.json(), f"/catalog/rest/Catalog/{path}")
        assert "Writes" in refused.json()["detail"] and method in refused.json()["detail"]
    listed = api.rest("GET", "Products")
    assert listed.status_code == 200
    assert [p["prod_ref"] for p in listed.json()["value"]] == ["P1"]
    assert api.dump("products")["P1"]["fields"] == {}  # the PATCH did not land


def test_disabled_refuses_reads_too_but_a_wrong_key_is_still_401(api: Api) -> None:
    api.settings({"rest": {"access": "disabled"}})
    refused = api.rest("GET", "Products")
    assert refused.status_code == 403
    assert_forbidden(refused.json(), "/catalog/rest/Catalog/Products")
    assert api.rest("GET", "$metadata").status_code == 403
    wrong = api.http.get("/catalog/rest/Catalog/Products", headers={"X-API-KEY": "nope"})
    assert wrong.status_code == 401


def test_the_import_connector_api_is_not_affected(api: Api) -> None:
    api.settings({"rest": {"access": "disabled"}})
    done = api.import_and_wait(php_form({"products": [{"prod_ref": "P1"}]}))
    assert done["input_status"] == "end"
    assert set(api.dump("products")) == {"P1"}


def test_403_does_not_use_the_rate_limit_budget(api: Api) -> None:
    api.settings({"rest": {"access": "read_only"}, "rate_limit": {"requests": 2}})
    refused = [api.rest("POST", "Products", json={"prod_ref": "P"}) for _ in range(5)]
    assert {r.status_code for r in refused} == {403}
    # Reads are allowed: the budget of two is untouched by the five refused writes.
    assert [api.rest("GET", "Products").status_code for _ in range(3)] == [200, 200, 429]


def test_the_client_fails_at_once_with_an_actionable_message(emulator: RunningEmulator) -> None:
    emulator.update_settings({"rest": {"access": "read_only"}})
    client = RestCatalogClient(
        RestCredentials(emulator.rest_base_url, API_KEY),
        conn_id="sl_test",
        options=RestOptions(retry=RetryPolicy(attempts=3, initial=0.01, jitter=0.0)),
        limiter=SlidingWindowLimiter(1000, 1.0),
    )
    with client, pytest.raises(SalesLayerTerminalError) as caught:
        client.upsert(PRODUCTS, [{"prod_ref": "P1", "prod_price": "1"}])
    assert caught.value.status == 403
    message = str(caught.value)
    assert "disabled" in message and "sl_test" in message
    assert API_KEY not in message
    # One lookup, one refused POST: a 403 is not retried.
    assert emulator.stats()["by_status"] == {"rest 200": 1, "rest 403": 1}
