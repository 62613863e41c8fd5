"""What this connector imported last: the export a later run compares its own with.

One small JSON record per connector, ``<base>/<connector_id>/_state/last_import.json``, written by
the report stage of a run that imported its export wholly (every table pushed, nothing Sales
Layer skipped or refused, not a dry run) and read by the fetch stage of later runs::

    {"fingerprint": "<sha256>", "run_id": "...", "started_at": "<ISO-8601 UTC>",
     "recorded_at": "<ISO-8601 UTC>", "account": "<account key>" | null,
     "files": [{"source": "<URL>", "size": int, "remote_mtime": "<ISO>" | null,
                "etag": str | null}]}

It belongs to neither stage: the report writes what its run imported, from the fetch's result
(:class:`~saleslayer_airflow.contracts.FetchResult`), and the next fetch reads it. A run that did
not import (a task failed, the worker died, the run was stopped, a dry run) writes nothing, so the
next run compares with the last export that was imported: it is never skipped as "unchanged"
because of an export that never reached Sales Layer, and an incremental API source asks again
for everything changed since the start of the last fetch that was imported (``started_at``, the
watermark).

``files`` holds what the server said about each file (by its URL): the next fetch sends it back
(HTTP If-None-Match / If-Modified-Since) or compares it (FTP/SFTP size and mtime) to skip the
download when nothing changed. A record without ``files`` (of an early version) reads as having
none.

``account`` is the key of the Sales Layer account the connector pushed that export to
(:attr:`SalesLayerHook.account_key`): a connector re-pointed to another account finds no record
there, so its next run fetches and imports everything (an incremental API source starts again
from its ``initial`` value), never skipped as "unchanged". A record without it (written before
accounts were kept, or when the account could not be told) holds for any account.

Earlier versions kept ``_state/last_fetch.json`` instead, written by the fetch and removed by the
report of a run that did not import; it is read when there is no ``last_import.json`` yet (the
first run after an upgrade) and removed when the first ``last_import.json`` is written.
"""

from __future__ import annotations

import json
import uuid
from collections.abc import Iterable
from dataclasses import asdict, dataclass, field
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any

from saleslayer_airflow.staging import STATE

if TYPE_CHECKING:
    from saleslayer_airflow.contracts import FetchResult

LAST_IMPORT = "last_import.json"
#: The record of earlier versions (see the module's doc).
LEGACY_LAST_FETCH = "last_fetch.json"


@dataclass(frozen=True)
class RemoteState:
    """What the server said about one file of the last imported export."""

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


@dataclass(frozen=True)
class LastImport:
    """The export the connector's last wholly imported run fetched."""

    fingerprint: str
    run_id: str
    started_at: str
    """When that run's fetch began (ISO-8601 UTC): the watermark of incremental API sources."""
    recorded_at: str
    files: tuple[RemoteState, ...] = field(default=())
    account: str | None = None

    @property
    def started(self) -> datetime:
        """``started_at`` as an aware datetime."""
        return datetime.fromisoformat(self.started_at)

    def remote(self) -> dict[str, RemoteState]:
        """The files of that import by URL (no credentials in it)."""
        return {f.source: f for f in self.files}


class ImportHistory:
    """Reads and writes the connector's ``_state/last_import.json``.

    :param connector_folder: ``<base>/<connector_id>`` (an ObjectStoragePath or a Path).
    :param account: the key of the account the connector pushes to now; a record of another
        account reads as none. None: records are read whatever their account, and written
        without one.
    """

    def __init__(self, connector_folder: Any, account: str | None = None) -> None:
        self.path = connector_folder / STATE / LAST_IMPORT
        self.legacy_path = connector_folder / STATE / LEGACY_LAST_FETCH
        self.account = account

    def read(self) -> LastImport | None:
        """The last record of this account, or None (first run, a record of another account,
        or an unreadable record: fetch and import)."""
        last = self._read(self.path)
        if last is None and not self.path.exists():
            last = self._read(self.legacy_path)
        if last is None or self.account is None or last.account in (None, self.account):
            return last
        return None

    @staticmethod
    def _read(path: Any) -> LastImport | None:
        try:
            with path.open("r", encoding="utf-8") as handle:
                data = json.load(handle)
            scalars = ("fingerprint", "run_id", "started_at", "recorded_at")
            files = data.get("files") if isinstance(data.get("files"), list) else []
            account = data.get("account")
            return LastImport(
                **{k: str(data[k]) for k in scalars},
                files=tuple(r for f in files if (r := RemoteState.from_json(f)) is not None),
                account=account if isinstance(account, str) and account else None,
            )
        except (FileNotFoundError, KeyError, TypeError, ValueError, AttributeError):
            return None

    def record(
        self,
        fingerprint: str,
        run_id: str,
        started: datetime,
        files: Iterable[RemoteState] = (),
    ) -> LastImport:
        """Write the record (through a temporary name, so readers never see half of it)."""
        entry = LastImport(
            fingerprint=fingerprint,
            run_id=run_id,
            started_at=started.astimezone(UTC).isoformat(),
            recorded_at=datetime.now(UTC).isoformat(),
            files=tuple(files),
            account=self.account,
        )
        self.path.parent.mkdir(parents=True, exist_ok=True)
        temporary = self.path.parent / f".{self.path.name}.{uuid.uuid4().hex}.tmp"
        with temporary.open("w", encoding="utf-8") as handle:
            json.dump(asdict(entry), handle)
        temporary.rename(self.path)
        if self.legacy_path.exists():
            self.legacy_path.unlink()
        return entry

    def record_import(self, fetched: FetchResult, run_id: str) -> LastImport | None:
        """Record the export ``fetched`` as imported by ``run_id``: what the report stage of a
        run that imported it wholly calls. A result of an earlier version does not say when its
        fetch began (no watermark to record): nothing is recorded, and the next run imports the
        export again."""
        if fetched.started_at is None:
            return None
        return self.record(
            fetched.fingerprint,
            run_id,
            fetched.started_at,
            [RemoteState(f.source, f.size, f.remote_mtime, f.etag) for f in fetched.files],
        )
