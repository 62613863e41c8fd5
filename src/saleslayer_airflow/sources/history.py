"""What this connector fetched last: the fingerprint that decides whether a run is skipped.

One small JSON record per connector, ``<base>/<connector_id>/_state/last_fetch.json``, written by
the fetch task when it has landed an export that it hands on to the rest of the run::

    {"fingerprint": "<sha256>", "run_id": "...", "started_at": "<ISO-8601 UTC>",
     "recorded_at": "<ISO-8601 UTC>", "account": "<account key>" | null,
     "files": [{"source": "<URL>", "size": int, "remote_mtime": "<ISO>" | null,
                "etag": str | null}]}

``started_at`` (when that fetch began) is also the watermark of incremental API sources: the next
run asks for what changed since then. The record lives in staging (an ObjectStoragePath), so every
worker sees it. The fetch task alone cannot know whether the rest of its run will succeed; the
report stage can :meth:`FetchHistory.forget` a run that did not import, so that the next run
fetches the same export again instead of skipping it.

``files`` holds what the server said about each file (by its URL): the next fetch sends it back
(HTTP If-None-Match / If-Modified-Since) or compares it (FTP/SFTP size and mtime) to skip the
download when nothing changed. Records written before ``files`` existed read as having none.

``account`` is the key of the Sales Layer account the connector pushed that export to
(:attr:`SalesLayerHook.account_key`): a connector re-pointed to another account finds no record
there, so its next run fetches and imports everything (an incremental API source starts again
from its ``initial`` value), never skipped as "unchanged". A record without it (written before
accounts were kept, or when the account could not be told) holds for any account.
"""

from __future__ import annotations

import json
import uuid
from collections.abc import Iterable
from dataclasses import asdict, dataclass, field
from datetime import UTC, datetime
from typing import Any, Protocol

from saleslayer_airflow.staging import STATE

LAST_FETCH = "last_fetch.json"


@dataclass(frozen=True)
class RemoteState:
    """What the server said about one file of the last handed-on fetch."""

    source: str
    size: int | None = None
    remote_mtime: str | None = None
    etag: str | None = None

    @classmethod
    def from_json(cls, data: Any) -> RemoteState | None:
        """The record of one file, or None when it is not a mapping with a ``source``."""
        if not isinstance(data, dict) or not isinstance(data.get("source"), str):
            return None
        size = data.get("size")
        mtime, etag = data.get("remote_mtime"), data.get("etag")
        return cls(
            source=data["source"],
            size=size if isinstance(size, int) else None,
            remote_mtime=mtime if isinstance(mtime, str) else None,
            etag=etag if isinstance(etag, str) else None,
        )


class _Landed(Protocol):
    @property
    def source(self) -> str: ...

    @property
    def size(self) -> int: ...

    @property
    def remote_mtime(self) -> datetime | None: ...

    @property
    def etag(self) -> str | None: ...


@dataclass(frozen=True)
class LastFetch:
    """The export the connector's last handed-on fetch landed."""

    fingerprint: str
    run_id: str
    started_at: str
    recorded_at: str
    files: tuple[RemoteState, ...] = field(default=())
    account: str | None = None

    @property
    def started(self) -> datetime:
        """``started_at`` as an aware datetime."""
        return datetime.fromisoformat(self.started_at)

    def remote(self) -> dict[str, RemoteState]:
        """The files of that fetch by URL (no credentials in it)."""
        return {f.source: f for f in self.files}


class FetchHistory:
    """Reads and writes the connector's ``_state/last_fetch.json``.

    :param account: the key of the account the connector pushes to now; a record of another
        account reads as none. None: records are read whatever their account, and written
        without one.
    """

    def __init__(self, connector_folder: Any, account: str | None = None) -> None:
        self.path = connector_folder / STATE / LAST_FETCH
        self.account = account

    def read(self) -> LastFetch | None:
        """The last record of this account, or None (first run, a record of another account,
        or an unreadable record: fetch and import)."""
        last = self._read_any()
        if last is None or self.account is None or last.account in (None, self.account):
            return last
        return None

    def _read_any(self) -> LastFetch | None:
        try:
            with self.path.open("r", encoding="utf-8") as handle:
                data = json.load(handle)
            scalars = ("fingerprint", "run_id", "started_at", "recorded_at")
            files = data.get("files") if isinstance(data.get("files"), list) else []
            account = data.get("account")
            return LastFetch(
                **{k: str(data[k]) for k in scalars},
                files=tuple(r for f in files if (r := RemoteState.from_json(f)) is not None),
                account=account if isinstance(account, str) and account else None,
            )
        except (FileNotFoundError, KeyError, TypeError, ValueError, AttributeError):
            return None

    def record(
        self, fingerprint: str, run_id: str, started: datetime, files: Iterable[_Landed] = ()
    ) -> LastFetch:
        """Write the record (through a temporary name, so readers never see half of it)."""
        from saleslayer_airflow.sources.fingerprint import utc_iso

        entry = LastFetch(
            fingerprint=fingerprint,
            run_id=run_id,
            started_at=started.astimezone(UTC).isoformat(),
            recorded_at=datetime.now(UTC).isoformat(),
            files=tuple(
                RemoteState(f.source, f.size, utc_iso(f.remote_mtime), f.etag) for f in files
            ),
            account=self.account,
        )
        self.path.parent.mkdir(parents=True, exist_ok=True)
        temporary = self.path.parent / f".{self.path.name}.{uuid.uuid4().hex}.tmp"
        with temporary.open("w", encoding="utf-8") as handle:
            json.dump(asdict(entry), handle)
        temporary.rename(self.path)
        return entry

    def forget(self, run_id: str) -> bool:
        """Drop the record if ``run_id`` wrote it (its import failed); True when dropped."""
        last = self._read_any()
        if last is None or last.run_id != run_id:
            return False
        self.path.unlink()
        return True
