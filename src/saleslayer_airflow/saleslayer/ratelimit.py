"""A client-side sliding-window limiter, so a healthy run never meets Sales Layer's rate limit.

The Catalog REST API allows 50 requests per 10 seconds per API key. The default here, 45 per
10 s, leaves a margin for clock differences and for other tools sharing the key. All clients of
one process that use the same API key share one limiter (:func:`limiter_for`).
"""

from __future__ import annotations

import hashlib
import threading
import time
from collections import deque
from collections.abc import Callable

DEFAULT_MAX_REQUESTS = 45
DEFAULT_WINDOW_SECONDS = 10.0


class SlidingWindowLimiter:
    """At most ``max_requests`` grants in any ``window`` seconds; thread-safe.

    ``clock`` and ``sleep`` are injectable so tests run on a simulated clock.
    """

    def __init__(
        self,
        max_requests: int = DEFAULT_MAX_REQUESTS,
        window: float = DEFAULT_WINDOW_SECONDS,
        *,
        clock: Callable[[], float] = time.monotonic,
        sleep: Callable[[float], None] = time.sleep,
    ) -> None:
        if max_requests < 1 or window <= 0:
            raise ValueError(
                f"rate limit {max_requests} requests per {window} s: both must be positive"
            )
        self.max_requests = max_requests
        self.window = window
        self._clock = clock
        self._sleep = sleep
        self._granted: deque[float] = deque()
        self._paused_until = float("-inf")
        self._lock = threading.Lock()

    def _wait_needed(self, now: float) -> float:
        while self._granted and self._granted[0] <= now - self.window:
            self._granted.popleft()
        if now < self._paused_until:
            return self._paused_until - now
        if len(self._granted) < self.max_requests:
            return 0.0
        return self._granted[0] + self.window - now

    def acquire(self) -> float:
        """Block until a request may go; return the clock time at which it was granted."""
        while True:
            with self._lock:
                now = self._clock()
                wait = self._wait_needed(now)
                if wait <= 0:
                    self._granted.append(now)
                    return now
            # Sleep outside the lock so other threads can still see the window move.
            self._sleep(wait)

    def pause(self, seconds: float) -> None:
        """Grant nothing for ``seconds`` (the server said so with a 429 and ``Retry-After``)."""
        with self._lock:
            self._paused_until = max(self._paused_until, self._clock() + seconds)


_shared: dict[tuple[str, int, float], SlidingWindowLimiter] = {}
_shared_lock = threading.Lock()


def limiter_for(
    api_key: str,
    max_requests: int = DEFAULT_MAX_REQUESTS,
    window: float = DEFAULT_WINDOW_SECONDS,
) -> SlidingWindowLimiter:
    """The process-wide limiter of one API key (held under a digest, never the key itself)."""
    digest = hashlib.sha256(api_key.encode()).hexdigest()
    with _shared_lock:
        key = (digest, max_requests, window)
        if key not in _shared:
            _shared[key] = SlidingWindowLimiter(max_requests, window)
        return _shared[key]
