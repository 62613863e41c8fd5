"""Request counters, so tests and benchmarks can count what a client sent."""

from __future__ import annotations

import threading
from collections import Counter
from typing import Any


class RequestStats:
    """Requests per route group and endpoint, answers per status, 429s and faults served."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._in_flight = 0
        self.reset()

    def reset(self) -> None:
        """Start counting from zero."""
        with self._lock:
            self._routes: Counter[str] = Counter()
            self._endpoints: Counter[str] = Counter()
            self._statuses: Counter[str] = Counter()
            self._faults: Counter[str] = Counter()
            self._imports: Counter[str] = Counter()
            self._rate_limited = 0

    def request(self, route: str, endpoint: str) -> None:
        """Count one request."""
        with self._lock:
            self._routes[route] += 1
            self._endpoints[endpoint] += 1

    def started(self) -> None:
        """One API request is being handled (kept across :meth:`reset`)."""
        with self._lock:
            self._in_flight += 1

    def finished(self) -> None:
        """One API request's handler returned."""
        with self._lock:
            self._in_flight -= 1

    def status(self, route: str, status: int) -> None:
        """Count one answer."""
        with self._lock:
            self._statuses[f"{route} {status}"] += 1

    def fault(self, route: str, kind: str) -> None:
        """Count one fault served."""
        with self._lock:
            self._faults[f"{route} {kind}"] += 1

    def import_call(self, path: str) -> None:
        """Count one Import Connector call taken by ``path``: ``columns`` (checked and applied
        column-wise, :mod:`~saleslayer_airflow.emulator.bulk`) or ``rows`` (row by row), so a
        benchmark or a test sees when a client's calls stop taking the fast path."""
        with self._lock:
            self._imports[path] += 1

    def rate_limited(self) -> None:
        """Count one 429 served by the rate limiter."""
        with self._lock:
            self._rate_limited += 1

    def snapshot(self) -> dict[str, Any]:
        """All counters as JSON-ready data (admin routes excluded from ``total``)."""
        with self._lock:
            api_total = sum(n for route, n in self._routes.items() if route != "admin")
            fault_429 = sum(n for key, n in self._faults.items() if key.endswith(" 429"))
            return {
                "total": api_total,
                "by_route": dict(self._routes),
                "by_endpoint": dict(self._endpoints),
                "by_status": dict(self._statuses),
                "faults": dict(self._faults),
                "import_calls": dict(self._imports),
                "rate_limited_429": self._rate_limited,
                "total_429": self._rate_limited + fault_429,
                "in_flight": self._in_flight,
            }
