"""Faults on demand, reproducible from a seed: one ``random.Random`` per route group."""

from __future__ import annotations

import random
import threading
from typing import Literal

from saleslayer_airflow.emulator.settings import FAULT_ORDER, FaultKind, Faults, RouteFaults

Route = Literal["connector_api", "tracking", "rest"]
ROUTES: tuple[Route, ...] = ("connector_api", "tracking", "rest")


def draw(config: RouteFaults, rng: random.Random) -> FaultKind:
    """One fault pick: lay the shares end to end on [0, 1) in FAULT_ORDER and see where one
    ``rng.random()`` falls (past them all: ``ok``)."""
    point = rng.random()
    edge = 0.0
    for kind in FAULT_ORDER:
        edge += config.share(kind)
        if point < edge:
            return kind
    return "ok"


class FaultInjector:
    """Decides, request by request, which fault a route serves."""

    def __init__(self, faults: Faults) -> None:
        self._lock = threading.Lock()
        self.configure(faults)

    def configure(self, faults: Faults) -> None:
        """Take new fault settings and restart every random sequence from its seed."""
        with self._lock:
            self._faults = faults
            self._rngs = {route: random.Random(self.config(route).seed) for route in ROUTES}
            self._scripts = {route: list(self.config(route).script) for route in ROUTES}
            self._job_rng = random.Random(faults.tracking.seed)

    def config(self, route: Route) -> RouteFaults:
        """The fault settings of one route group."""
        result: RouteFaults = getattr(self._faults, route)
        return result

    def next_fault(self, route: Route) -> FaultKind:
        """The fault the next request of ``route`` gets (``ok`` for none)."""
        with self._lock:
            script = self._scripts[route]
            if script:
                return script.pop(0)
            return draw(self.config(route), self._rngs[route])

    def next_job_fails(self) -> bool:
        """Whether the next accepted import job will end in ``error``."""
        with self._lock:
            share = self._faults.tracking.job_failure_share
            return share > 0 and self._job_rng.random() < share
