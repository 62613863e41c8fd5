"""Everything one running emulator holds: tenant, store, settings, faults, limiter, counters."""

from __future__ import annotations

import threading
from pathlib import Path
from typing import Any

from saleslayer_airflow.emulator.faults import FaultInjector
from saleslayer_airflow.emulator.jobs import JobRunner
from saleslayer_airflow.emulator.ratelimit import SlidingWindowLimiter
from saleslayer_airflow.emulator.settings import EmulatorSettings
from saleslayer_airflow.emulator.stats import RequestStats
from saleslayer_airflow.emulator.storage import Storage
from saleslayer_airflow.emulator.tenant import Tenant


class EmulatorState:
    """The shared state behind the routes of one emulator."""

    def __init__(self, tenant: Tenant, data: Path | str, settings: EmulatorSettings) -> None:
        self.tenant = tenant
        self.storage = Storage(data)
        self._lock = threading.Lock()
        self._settings = settings
        self._initial_settings = settings
        self.faults = FaultInjector(settings.faults)
        self.limiter = SlidingWindowLimiter(settings.rate_limit)
        self.stats = RequestStats()
        self.jobs = JobRunner(self.storage, tenant, lambda: self.settings.tracking)

    @property
    def settings(self) -> EmulatorSettings:
        """The settings in force."""
        return self._settings

    def update_settings(self, patch: dict[str, Any]) -> EmulatorSettings:
        """Deep-merge a partial settings mapping; fault sequences restart from their seeds and
        rate-limit windows start empty."""
        with self._lock:
            self._settings = self._settings.merged(patch)
            self.faults.configure(self._settings.faults)
            self.limiter.configure(self._settings.rate_limit)
            return self._settings

    def reset(self) -> None:
        """Forget every item, job, counter and settings change: back to the start state."""
        self.storage.clear()
        self.stats.reset()
        with self._lock:
            self._settings = self._initial_settings
            self.faults.configure(self._settings.faults)
            self.limiter.configure(self._settings.rate_limit)

    def close(self) -> None:
        """Release the store."""
        self.storage.close()
