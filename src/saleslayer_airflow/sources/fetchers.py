"""One fetcher interface for every source kind, and the registry that picks one by kind.

The fetch operator renders the `source:` section and hands a :class:`FetchRequest` to
:func:`fetch_export`; which protocol lands the export is decided here, not in the operator.
A fetcher lands the export's files under ``<run folder>/landed/`` and returns them; it raises
:class:`~saleslayer_airflow.sources.errors.ExportMissingError` when the export is not there,
:class:`~saleslayer_airflow.sources.errors.ExportUnchanged` when the server says nothing changed
since ``previous``, a :class:`~saleslayer_airflow.exceptions.TerminalError` when retrying cannot
help, and anything else for Airflow to retry.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from saleslayer_airflow import staging

if TYPE_CHECKING:
    from airflow.sdk import ObjectStoragePath

    from saleslayer_airflow.config.sources import (
        ApiSource,
        FtpSource,
        FtpsSource,
        HttpSource,
        SftpSource,
        Source,
    )
    from saleslayer_airflow.import_history import LastImport, RemoteState
    from saleslayer_airflow.sources.api import Checkpoint
    from saleslayer_airflow.sources.base import LandedFile


@dataclass(frozen=True)
class FetchRequest:
    """Everything a fetcher needs for one attempt of a run's fetch."""

    #: the rendered, checked `source:` section
    source: Source
    #: the run's folder in staging
    run_folder: ObjectStoragePath
    #: what the server said about each file at the last import, when an unchanged export may be
    #: skipped before downloading (None: download whatever the server says)
    previous: dict[str, RemoteState] | None
    #: the connector's last import (API sources: the incremental cursor)
    last: LastImport | None
    #: where an API source records the pages landed so far, so that a retry resumes
    checkpoint: Checkpoint
    log: Callable[[str], None]


Fetcher = Callable[[FetchRequest], "list[LandedFile]"]


def _landed(request: FetchRequest) -> ObjectStoragePath:
    """The run's landed folder, emptied of an earlier attempt's leftovers."""
    landed = request.run_folder / staging.LANDED
    _empty(landed)
    return landed


def _http(request: FetchRequest) -> list[LandedFile]:
    from saleslayer_airflow.sources.http import fetch_http

    source: HttpSource = request.source  # type: ignore[assignment]  # FETCHERS picks by kind
    return fetch_http(source, _landed(request), request.previous)


def _ftp(request: FetchRequest) -> list[LandedFile]:
    from saleslayer_airflow.sources.base import fetch_from_server
    from saleslayer_airflow.sources.ftp import ftp_server

    source: FtpSource | FtpsSource = request.source  # type: ignore[assignment]  # by kind
    with ftp_server(source.conn_id, tls=source.kind == "ftps") as ftp:
        return fetch_from_server(ftp, source, _landed(request), request.previous)


def _sftp(request: FetchRequest) -> list[LandedFile]:
    from saleslayer_airflow.sources.base import fetch_from_server
    from saleslayer_airflow.sources.sftp import sftp_server

    source: SftpSource = request.source  # type: ignore[assignment]  # FETCHERS picks by kind
    with sftp_server(source.conn_id) as sftp:
        return fetch_from_server(sftp, source, _landed(request), request.previous)


def _api(request: FetchRequest) -> list[LandedFile]:
    from saleslayer_airflow.sources.api import fetch_api

    source: ApiSource = request.source  # type: ignore[assignment]  # FETCHERS picks by kind
    since = None
    if source.incremental:
        since = source.incremental.initial
        if request.last is not None:
            since = request.last.started.strftime(source.incremental.format)
        request.log(f"Incremental: {source.incremental.param}={since}")
    # Not emptied: the pages an earlier attempt landed are resumed from the checkpoint.
    return fetch_api(
        source,
        request.run_folder / staging.LANDED,
        request.run_folder / staging.FETCH_PAGES,
        request.checkpoint,
        since=since,
        log=request.log,
    )


#: The fetcher of each source kind (the `kind:` of a connector's `source:`).
FETCHERS: dict[str, Fetcher] = {
    "http": _http,
    "ftp": _ftp,
    "ftps": _ftp,
    "sftp": _sftp,
    "api": _api,
}


def fetch_export(request: FetchRequest) -> list[LandedFile]:
    """Land the export of ``request.source`` with the fetcher of its kind."""
    return FETCHERS[request.source.kind](request)


def _empty(folder: ObjectStoragePath) -> None:
    """Remove the files of ``folder`` and its sub-folders (named files land in sub-folders)."""
    if folder.exists():
        for child in folder.iterdir():
            if child.is_dir():
                _empty(child)
                child.rmdir()
            elif child.is_file():
                child.unlink()


class MemoryCheckpoint(dict[str, Any]):
    """A checkpoint that lives as long as the task attempt (no resume across retries), for an
    Airflow without the task state store."""

    def set(self, key: str, value: Any) -> None:
        self[key] = value

    def delete(self, key: str) -> None:
        self.pop(key, None)
