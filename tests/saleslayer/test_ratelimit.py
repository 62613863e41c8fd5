"""The client-side sliding-window limiter, on a simulated clock."""

from __future__ import annotations

import threading

import pytest

from saleslayer_airflow.saleslayer.ratelimit import SlidingWindowLimiter, limiter_for


class SharedClock:
    """A simulated clock shared by threads: sleeping moves it forward."""

    def __init__(self) -> None:
        self.now = 0.0
        self._lock = threading.Lock()

    def __call__(self) -> float:
        with self._lock:
            return self.now

    def sleep(self, seconds: float) -> None:
        with self._lock:
            self.now += seconds


def _max_in_any_window(grants: list[float], window: float) -> int:
    grants = sorted(grants)
    return max(sum(1 for g in grants if t - window < g <= t) for t in grants)


def test_a_single_caller_gets_n_per_window() -> None:
    clock = SharedClock()
    limiter = SlidingWindowLimiter(5, 10.0, clock=clock, sleep=clock.sleep)
    grants = [limiter.acquire() for _ in range(12)]
    assert grants == [0.0] * 5 + [10.0] * 5 + [20.0] * 2


def test_concurrent_callers_never_exceed_n_per_window() -> None:
    clock = SharedClock()
    limiter = SlidingWindowLimiter(7, 10.0, clock=clock, sleep=clock.sleep)
    grants: list[float] = []
    lock = threading.Lock()

    def worker() -> None:
        for _ in range(25):
            granted = limiter.acquire()
            with lock:
                grants.append(granted)

    threads = [threading.Thread(target=worker) for _ in range(6)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=60)
    assert len(grants) == 150
    assert _max_in_any_window(grants, 10.0) <= 7


def test_pause_holds_every_request_until_it_ends() -> None:
    clock = SharedClock()
    limiter = SlidingWindowLimiter(50, 10.0, clock=clock, sleep=clock.sleep)
    limiter.acquire()
    limiter.pause(30.0)
    assert limiter.acquire() >= 30.0


def test_limiters_are_shared_per_api_key() -> None:
    assert limiter_for("key-a") is limiter_for("key-a")
    assert limiter_for("key-a") is not limiter_for("key-b")
    assert limiter_for("key-a").max_requests == 45


@pytest.mark.parametrize(("n", "window"), [(0, 10.0), (5, 0.0)])
def test_nonsense_limits_are_refused(n: int, window: float) -> None:
    with pytest.raises(ValueError, match="must be positive"):
        SlidingWindowLimiter(n, window)
