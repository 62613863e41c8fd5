"""What this connector fetched last: the fingerprint that decides whether a run is skipped.

One small JSON record per connector, ``<base>/<connector_id>/_state/last_fetch.json``, written by
the fetch task when it has landed an export that it hands on to the rest of the run::

    {"fingerprint": "<sha256>", "run_id": "...", "started_at": "<ISO-8601 UTC>",
     "recorded_at": "<ISO-8601 UTC>"}

``started_at`` (when that fetch began) is also the watermark of incremental API sources: the next
run asks for what changed since then. The record lives in staging (an ObjectStoragePath), so every
worker sees it. The fetch task alone cannot know whether the rest of its run will succeed; the
report stage can :meth:`FetchHistory.forget` a run that did not import, so that the next run
fetches the same export again instead of skipping it.
"""

from __future__ import annotations

import json
import uuid
from dataclasses import asdict, dataclass
from datetime import UTC, datetime
from typing import Any

from saleslayer_airflow.staging import STATE

LAST_FETCH = "last_fetch.json"


@dataclass(frozen=True)
class LastFetch:
    """The export the connector's last handed-on fetch landed."""

    fingerprint: str
    run_id: str
    started_at: str
    recorded_at: str

    @property
    def started(self) -> datetime:
        """``started_at`` as an aware datetime."""
        return datetime.fromisoformat(self.started_at)


class FetchHistory:
    """Reads and writes the connector's ``_state/last_fetch.json``."""

    def __init__(self, connector_folder: Any) -> None:
        self.path = connector_folder / STATE / LAST_FETCH

    def read(self) -> LastFetch | None:
        """The last record, or None (first run, or an unreadable record: fetch and import)."""
        try:
            with self.path.open("r", encoding="utf-8") as handle:
                data = json.load(handle)
            return LastFetch(**{k: str(data[k]) for k in LastFetch.__dataclass_fields__})
        except (FileNotFoundError, KeyError, TypeError, ValueError):
            return None

    def record(self, fingerprint: str, run_id: str, started: datetime) -> LastFetch:
        """Write the record (through a temporary name, so readers never see half of it)."""
        entry = LastFetch(
            fingerprint=fingerprint,
            run_id=run_id,
            started_at=started.astimezone(UTC).isoformat(),
            recorded_at=datetime.now(UTC).isoformat(),
        )
        self.path.parent.mkdir(parents=True, exist_ok=True)
        temporary = self.path.parent / f".{self.path.name}.{uuid.uuid4().hex}.tmp"
        with temporary.open("w", encoding="utf-8") as handle:
            json.dump(asdict(entry), handle)
        temporary.rename(self.path)
        return entry

    def forget(self, run_id: str) -> bool:
        """Drop the record if ``run_id`` wrote it (its import failed); True when dropped."""
        last = self.read()
        if last is None or last.run_id != run_id:
            return False
        self.path.unlink()
        return True
