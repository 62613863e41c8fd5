"""The timer a waiting fetch defers on (``on_missing: wait``), so no worker is held between looks.

It is Airflow's own DateTimeTrigger (it works the same for every protocol), with one addition:
its event carries the time of the first look. The fetch operator also passes that time in the
deferral's method kwargs; Airflow's triggerer hands both back, but ``dag.test()`` (Airflow 3.3)
replaces the method kwargs by the event when resuming, so the event must carry it too.

The class must be importable by the triggerer: it lives in this installed package, never in a
DAG bundle.
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from datetime import datetime
from typing import Any

from airflow.providers.standard.triggers.temporal import DateTimeTrigger
from airflow.triggers.base import TriggerEvent


class LookAgainTrigger(DateTimeTrigger):
    """Fire at ``moment`` with ``{"first_look": <ISO-8601>}`` as the event's payload.

    :param moment: when to look again (timezone-aware).
    :param first_look: when the fetch first found the export missing (ISO-8601, UTC).
    """

    def __init__(self, moment: datetime, first_look: str) -> None:
        super().__init__(moment=moment)
        self.first_look = first_look

    def serialize(self) -> tuple[str, dict[str, Any]]:
        """Classpath and kwargs to rebuild the trigger in the triggerer."""
        return (
            f"{type(self).__module__}.{type(self).__qualname__}",
            {"moment": self.moment, "first_look": self.first_look},
        )

    async def run(self) -> AsyncIterator[TriggerEvent]:
        """Sleep until ``moment`` (DateTimeTrigger's loop), then hand back the first look."""
        async for _ in super().run():
            yield TriggerEvent({"first_look": self.first_look})  # type: ignore[no-untyped-call]
            return
