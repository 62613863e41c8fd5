"""The REST rate limit: 50 requests per 10 s per API key, 429 with Retry-After beyond it."""

from __future__ import annotations

import time

import pytest

from saleslayer_airflow.emulator.ratelimit import SlidingWindowLimiter
from saleslayer_airflow.emulator.settings import RateLimit
from tests.emulator.conftest import Api

pytestmark = pytest.mark.integration


def test_the_51st_request_within_10_seconds_is_429(api: Api) -> None:
    statuses = [api.rest("GET", "Products").status_code for _ in range(50)]
    assert statuses == [200] * 50
    refused = api.rest("GET", "Products")
    assert refused.status_code == 429
    assert 1 <= int(refused.headers["retry-after"]) <= 10
    assert refused.json()["type"] == "https://api2.saleslayer.com/errors/too-many-requests"
    stats = api.http.get("/_emulator/stats").json()
    assert stats["rate_limited_429"] == 1 and stats["total_429"] == 1
    # The Import Connector API and the admin routes are not limited.
    assert api.http.get("/_emulator/stats").status_code == 200


def test_a_tiny_window_frees_up_after_retry_after(api: Api) -> None:
    api.settings({"rate_limit": {"requests": 3, "window_seconds": 0.2}})
    assert [api.rest("GET", "Products").status_code for _ in range(3)] == [200] * 3
    refused = api.rest("GET", "Products")
    assert refused.status_code == 429 and refused.headers["retry-after"] == "1"
    time.sleep(0.25)
    assert api.rest("GET", "Products").status_code == 200


def test_unauthenticated_requests_do_not_use_the_budget(api: Api) -> None:
    api.settings({"rate_limit": {"requests": 2}})
    for _ in range(5):
        assert api.http.get("/rest/Catalog/Products").status_code == 401
    assert [api.rest("GET", "Products").status_code for _ in range(3)] == [200, 200, 429]


def test_the_limit_can_be_switched_off(api: Api) -> None:
    api.settings({"rate_limit": {"enabled": False, "requests": 1}})
    assert [api.rest("GET", "Products").status_code for _ in range(5)] == [200] * 5


def test_sliding_window_with_a_simulated_clock() -> None:
    now = [100.0]
    limiter = SlidingWindowLimiter(RateLimit(requests=2, window_seconds=10), clock=lambda: now[0])
    assert limiter.hit("k") is None
    now[0] = 104.0
    assert limiter.hit("k") is None
    assert limiter.hit("k") == 6  # the oldest hit leaves the window at 110
    assert limiter.hit("other") is None
    now[0] = 110.0
    assert limiter.hit("k") is None
    assert limiter.hit("k") == 4
