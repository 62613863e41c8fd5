"""The hostile corpus runs through Airflow into the emulator with the end-to-end fixtures."""

from __future__ import annotations

from tests.e2e.conftest import world

__all__ = ["world"]
