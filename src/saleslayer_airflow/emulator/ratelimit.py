"""The Catalog REST rate limit: N requests per sliding window of T seconds, per API key."""

from __future__ import annotations

import math
import threading
import time
from collections import deque
from collections.abc import Callable

from saleslayer_airflow.emulator.settings import RateLimit


class SlidingWindowLimiter:
    """Counts accepted requests per key over the last ``window_seconds``; refused requests are
    not counted (a client that waits ``Retry-After`` gets through)."""

    def __init__(self, config: RateLimit, clock: Callable[[], float] = time.monotonic) -> None:
        self._lock = threading.Lock()
        self._clock = clock
        self._hits: dict[str, deque[float]] = {}
        self.configure(config)

    def configure(self, config: RateLimit) -> None:
        """Take new limits and forget every window."""
        with self._lock:
            self._config = config
            self._hits.clear()

    def hit(self, key: str) -> int | None:
        """Count one request of ``key``; None if allowed, else the whole seconds to wait."""
        config = self._config
        if not config.enabled:
            return None
        now = self._clock()
        with self._lock:
            hits = self._hits.setdefault(key, deque())
            while hits and hits[0] <= now - config.window_seconds:
                hits.popleft()
            if len(hits) >= config.requests:
                return max(1, math.ceil(hits[0] + config.window_seconds - now))
            hits.append(now)
            return None
