"""Faults on demand: each kind, reproducible from a seed, switchable at runtime."""

from __future__ import annotations

import json
import random
from typing import Any

import httpx
import pytest

from saleslayer_airflow.emulator.faults import draw
from saleslayer_airflow.emulator.settings import FAULT_ORDER, RouteFaults
from saleslayer_airflow.saleslayer import (
    ConnectorApiClient,
    ConnectorApiOptions,
    ConnectorCredentials,
    RetryPolicy,
)
from tests.emulator.conftest import CODE, PRIVATE_KEY, Api, php_form, sign

pytestmark = pytest.mark.integration


def expected_sequence(config: dict[str, Any], count: int) -> list[str]:
    """The documented pick, re-implemented here: shares laid end to end in FAULT_ORDER, one
    ``random.Random(seed).random()`` per request."""
    rng = random.Random(config.get("seed", 0))
    out = []
    for _ in range(count):
        point, edge, kind = rng.random(), 0.0, "ok"
        for name in FAULT_ORDER:
            edge += config.get(f"share_{name}", 0.0)
            if point < edge:
                kind = name
                break
        out.append(kind)
    return out


def rest_outcome(api: Api) -> str:
    response = api.rest("GET", "Products", params={"$select": "prod_id"})
    return {200: "ok", 429: "429", 503: "5xx"}[response.status_code]


def test_the_server_draw_matches_the_documented_algorithm() -> None:
    config = {"seed": 11, "share_429": 0.2, "share_5xx": 0.1, "share_drop": 0.05}
    rng = random.Random(11)
    assert [draw(RouteFaults(**config), rng) for _ in range(200)] == expected_sequence(config, 200)


def test_rest_429_and_5xx_follow_the_seed_and_repeat_after_a_settings_post(api: Api) -> None:
    config = {"seed": 42, "share_429": 0.3, "share_5xx": 0.2, "retry_after_seconds": 3}
    api.settings({"faults": {"rest": config}})
    first = [rest_outcome(api) for _ in range(30)]
    assert first == expected_sequence(config, 30)
    assert {"ok", "429", "5xx"} <= set(first)
    api.settings({"faults": {"rest": config}})  # re-seeds
    assert [rest_outcome(api) for _ in range(30)] == first
    throttled = api.http.get("/_emulator/stats").json()
    assert throttled["faults"]["rest 429"] == 2 * first.count("429")
    assert throttled["total_429"] == 2 * first.count("429")


def gateway_page(line: str) -> str:
    """nginx's own error page, as the faults answer it."""
    return (
        f"<html>\r\n<head><title>{line}</title></head>\r\n<body>\r\n"
        f"<center><h1>{line}</h1></center>\r\n<hr><center>nginx</center>\r\n</body>\r\n"
        "</html>\r\n"
    )


def assert_gateway_answer(
    response: httpx.Response, status: int, line: str, retry_after: str | None
) -> None:
    """A gateway's answer, not the API's: its status line, an HTML page, no JSON to misread."""
    assert response.status_code == status
    assert response.headers["content-type"] == "text/html"
    assert response.headers.get("retry-after") == retry_after
    assert response.text == gateway_page(line)
    with pytest.raises(json.JSONDecodeError):
        response.json()


@pytest.mark.parametrize("route", ["rest", "connector_api", "tracking"])
def test_429_and_5xx_faults_answer_as_a_gateway_does(api: Api, route: str) -> None:
    body = php_form({"products": [{"prod_ref": "P1"}]})
    tracking = api.set_info(body).json()["input_response"]["status_tracking"]

    def request() -> httpx.Response:
        if route == "rest":
            return api.rest("GET", "Products")
        if route == "tracking":
            return api.http.get(tracking)
        return api.set_info(body)

    api.settings({"faults": {route: {"script": ["429", "5xx"], "retry_after_seconds": 4}}})
    assert_gateway_answer(request(), 429, "429 Too Many Requests", "4")
    assert_gateway_answer(request(), 503, "503 Service Unavailable", None)
    api.settings({"faults": {route: {"script": ["5xx"], "status_5xx": 502}}})
    assert_gateway_answer(request(), 502, "502 Bad Gateway", None)
    assert request().status_code == 200  # the script is used up


def test_our_client_retries_gateway_faults_and_waits_retry_after(emulator: Any) -> None:
    emulator.update_settings(
        {
            "faults": {
                "connector_api": {"script": ["429", "5xx"], "retry_after_seconds": 3},
                "tracking": {"script": ["5xx", "429"], "retry_after_seconds": 2},
            }
        }
    )
    waits: list[float] = []
    credentials = ConnectorCredentials(emulator.base_url, CODE, PRIVATE_KEY)
    options = ConnectorApiOptions(
        poll_interval=0, retry=RetryPolicy(attempts=4, initial=0.01, maximum=0.01, jitter=0)
    )
    with ConnectorApiClient(credentials, options=options, sleep=waits.append) as client:
        counts = client.upsert("products", [{"prod_ref": "P1"}], ref_field="prod_ref")
    assert counts["products"].created == 1
    # Waits: Retry-After of the POST's 429, backoff after its 503, then the tracking poll's
    # 503 (backoff) and 429 (Retry-After); polls in between wait poll_interval (0).
    assert [w for w in waits if w] == [3.0, 0.01, 0.01, 2.0]
    assert emulator.stats()["faults"] == {
        "connector_api 429": 1,
        "connector_api 5xx": 1,
        "tracking 5xx": 1,
        "tracking 429": 1,
    }


def test_dropped_connections_close_without_an_answer(api: Api) -> None:
    api.settings({"faults": {"connector_api": {"script": ["drop"]}}})
    # A closed socket reads as "no answer" or as a reset, depending on timing.
    with pytest.raises((httpx.RemoteProtocolError, httpx.ReadError)):
        api.set_info(php_form({"products": [{"prod_ref": "P1"}]}))
    assert api.set_info(php_form({"products": [{"prod_ref": "P1"}]})).json()["error"] == 0


def test_slow_answers_pass_a_client_timeout(api: Api) -> None:
    api.settings({"faults": {"rest": {"script": ["slow"], "slow_seconds": 3}}})
    with pytest.raises(httpx.ReadTimeout):
        api.rest("GET", "Products", timeout=0.3)
    assert api.http.get("/_emulator/stats").json()["faults"] == {"rest slow": 1}


@pytest.mark.parametrize("code", [10, 11, 14])
def test_legacy_error_codes_on_the_connector_api(api: Api, code: int) -> None:
    api.settings({"faults": {"connector_api": {f"share_error_{code}": 1.0}}})
    answer = api.set_info(php_form({"products": [{"prod_ref": "P1"}]}))
    assert answer.status_code == 200 and answer.json()["error"] == code
    api.settings({"faults": {"connector_api": {f"share_error_{code}": 0.0}}})
    assert api.set_info(php_form({"products": [{"prod_ref": "P1"}]})).json()["error"] == 0


def test_connector_api_faults_follow_their_own_seed(api: Api) -> None:
    config = {"seed": 3, "share_error_10": 0.25, "share_5xx": 0.25, "share_429": 0.1}
    api.settings({"faults": {"connector_api": config}})
    outcomes = []
    for _ in range(20):
        response = api.set_info(php_form({"products": [{"prod_ref": "P1"}]}))
        if response.status_code != 200:
            outcomes.append({503: "5xx", 429: "429"}[response.status_code])
        else:
            outcomes.append("error_10" if response.json()["error"] == 10 else "ok")
    assert outcomes == expected_sequence(config, 20)


def test_tracking_faults_and_failing_jobs(api: Api) -> None:
    api.settings({"faults": {"tracking": {"script": ["5xx", "error_11"]}}})
    url = api.set_info(php_form({"products": [{"prod_ref": "P1"}]})).json()["input_response"][
        "status_tracking"
    ]
    assert api.http.get(url).status_code == 503
    assert api.http.get(url).json()["error"] == 11
    statuses = [api.http.get(url).json()["input_status"] for _ in range(3)]
    assert statuses == ["prepare", "started", "end"]
    api.settings({"faults": {"tracking": {"script": [], "job_failure_share": 1.0}}})
    done = api.import_and_wait(php_form({"products": [{"prod_ref": "P2"}]}))
    assert done["input_status"] == "error" and "nothing was written" in done["input_action_message"]
    assert set(api.dump("products")) == {"P1"}


def test_failing_jobs_follow_the_seed(api: Api) -> None:
    api.settings({"faults": {"tracking": {"seed": 5, "job_failure_share": 0.5}}})
    outcomes = [
        api.import_and_wait(php_form({"products": [{"prod_ref": f"P{i}"}]}))["input_status"]
        for i in range(12)
    ]
    rng = random.Random(5)
    assert outcomes == ["error" if rng.random() < 0.5 else "end" for _ in range(12)]


@pytest.mark.parametrize(
    "patch",
    [
        {"faults": {"rest": {"share_error_10": 0.1}}},
        {"faults": {"rest": {"share_429": 0.7, "share_5xx": 0.7}}},
        {"faults": {"rest": {"script": ["boom"]}}},
        {"rest": {"patch_status": 201}},
        {"nope": 1},
    ],
)
def test_invalid_settings_are_refused_and_change_nothing(api: Api, patch: dict[str, Any]) -> None:
    before = api.http.get("/_emulator/settings").json()
    assert api.http.post("/_emulator/settings", json=patch).status_code == 400
    assert api.http.get("/_emulator/settings").json() == before


def test_signature_is_checked_before_nothing_else_is_faulted(api: Api) -> None:
    # Faults are infrastructure: they hit before authentication, like a proxy would.
    api.settings({"faults": {"connector_api": {"script": ["error_14"]}}})
    assert (
        api.set_info(php_form({"products": [{"prod_ref": "P1"}]}), sign(key="bad")).json()["error"]
        == 14
    )
