"""A stage log for the tests of a stage run without Airflow (fetch, push): it keeps each line as
the task's logger would print it, for the test to read."""

from __future__ import annotations

from typing import Any


class Lines:
    """A StageLog (``saleslayer_airflow.contracts.StageLog``) that keeps the formatted lines,
    whatever their level."""

    def __init__(self) -> None:
        self.lines: list[str] = []

    def info(self, msg: str, /, *args: Any) -> None:
        self.lines.append(msg % args)

    warning = error = info
