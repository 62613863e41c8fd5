"""A table's push progress, published while it runs, for people watching a long push.

Airflow 3.3's task state store (``context["task_state_store"]``) keeps small JSON values per task
instance, shown by Airflow's UI and REST API and kept after the task ends. The push writes one
key, ``progress``, once per acknowledged batch (cheap: one small write per batch) and a last
time with the table's final status.
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any, Protocol

from saleslayer_airflow.push.pipeline import TableCounts

#: The task state store key holding the progress.
PROGRESS_KEY = "progress"


class KeyValueStore(Protocol):
    """What is used of Airflow's task state store accessor."""

    def set(self, key: str, value: Any) -> None: ...


def progress_value(table: str, status: str, counts: TableCounts | None) -> dict[str, Any]:
    """The published value: the table, its status, and its counts so far (none before any)."""
    value: dict[str, Any] = {
        "table": table,
        "status": status,
        "updated_at": datetime.now(UTC).isoformat(timespec="seconds"),
    }
    if counts is not None:
        value |= {
            "batches_done": counts.batches_sent + counts.batches_resumed,
            "items_sent": counts.created + counts.updated + counts.skipped,
            "items_read": counts.items,
            "created": counts.created,
            "updated": counts.updated,
            "unchanged": counts.unchanged,
            "stale": counts.stale,
            "skipped": counts.skipped,
            "failed": counts.failed,
        }
    return value


class ProgressPublisher:
    """Publishes a table's progress to a task state store (None: publishes nothing).

    Never fails the push: a store that cannot be written is logged once and left alone.
    Call it with the running counts after each batch; :meth:`finish` with the final ones.
    """

    def __init__(self, store: KeyValueStore | None, table: str, *, log: Any) -> None:
        self.store = store
        self.table = table
        self.log = log

    def __call__(self, counts: TableCounts) -> None:
        self._set("running", counts)

    def finish(self, status: str, counts: TableCounts | None) -> None:
        """The last word on the table: its final status and counts."""
        self._set(status, counts)

    def _set(self, status: str, counts: TableCounts | None) -> None:
        if self.store is None:
            return
        try:
            self.store.set(PROGRESS_KEY, progress_value(self.table, status, counts))
        except Exception as exc:  # progress is for people; it must never stop a push
            self.log.warning("could not publish push progress (%s); going on without", exc)
            self.store = None
