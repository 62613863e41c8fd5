"""What the soak relies on: a slow fault still handles the request after the client gave up,
``in_flight`` and ``/_emulator/jobs`` tell when the emulator is quiet, and a fractional
``Retry-After`` is sent as written (test-only)."""

from __future__ import annotations

import time

import httpx
import pytest

from tests.emulator.conftest import API_KEY, REST, Api, php_form, sign

pytestmark = pytest.mark.integration


def wait_until_quiet(api: Api, timeout: float = 10.0) -> None:
    deadline = time.monotonic() + timeout
    while api.http.get("/_emulator/stats").json()["in_flight"]:
        assert time.monotonic() < deadline, "the emulator never became quiet"
        time.sleep(0.05)


def test_a_slow_rest_post_is_written_although_the_client_gave_up(api: Api) -> None:
    api.settings({"faults": {"rest": {"script": ["slow"], "slow_seconds": 0.6}}})
    with pytest.raises(httpx.ReadTimeout):
        api.http.post(
            REST + "Products",
            json={"prod_ref": "LATE"},
            headers={"X-API-KEY": API_KEY},
            timeout=0.2,
        )
    wait_until_quiet(api)
    assert set(api.dump("products")) == {"LATE"}
    stats = api.http.get("/_emulator/stats").json()
    assert stats["faults"] == {"rest slow": 1} and stats["in_flight"] == 0


def test_a_dropped_rest_post_writes_nothing(api: Api) -> None:
    api.settings({"faults": {"rest": {"script": ["drop"]}}})
    with pytest.raises(httpx.TransportError):
        api.rest("POST", "Products", json={"prod_ref": "GONE"})
    wait_until_quiet(api)
    assert api.dump("products") == {}


def test_a_slow_import_call_gets_its_job_and_jobs_tell_when_all_ended(api: Api) -> None:
    api.settings(
        {
            "faults": {"connector_api": {"script": ["slow"], "slow_seconds": 0.5}},
            "tracking": {"seconds_per_step": 0.05, "tick_seconds": 0.05},
        }
    )
    body = php_form({"products": [{"prod_ref": "P1"}, {"prod_ref": "P2"}]})
    with pytest.raises(httpx.ReadTimeout):
        api.http.post(
            "/",
            params=sign(),
            content=body,
            headers={"Content-Type": "application/x-www-form-urlencoded"},
            timeout=0.1,
        )
    wait_until_quiet(api)
    deadline = time.monotonic() + 10
    while (jobs := api.http.get("/_emulator/jobs").json())["open"]:
        assert time.monotonic() < deadline
        time.sleep(0.05)
    assert jobs == {"open": 0, "by_status": {"end": 1}}
    assert set(api.dump("products")) == {"P1", "P2"}


def test_open_jobs_are_counted_until_they_end(api: Api) -> None:
    assert api.http.get("/_emulator/jobs").json() == {"open": 0, "by_status": {}}
    answer = api.set_info(php_form({"products": [{"prod_ref": "P1"}]})).json()
    assert api.http.get("/_emulator/jobs").json() == {"open": 1, "by_status": {"prepare": 1}}
    url = answer["input_response"]["status_tracking"]
    statuses = [api.http.get(url).json()["input_status"] for _ in range(3)]
    assert statuses[-1] == "end", statuses
    assert api.http.get("/_emulator/jobs").json() == {"open": 0, "by_status": {"end": 1}}


@pytest.mark.parametrize(("setting", "header"), [(1, "1"), (3.0, "3"), (0.2, "0.2")])
def test_retry_after_of_fault_429s_is_sent_as_written(
    api: Api, setting: float, header: str
) -> None:
    api.settings({"faults": {"rest": {"script": ["429"], "retry_after_seconds": setting}}})
    limited = api.rest("GET", "Products")
    assert limited.status_code == 429 and limited.headers["retry-after"] == header
