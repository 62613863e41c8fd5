"""Find one file of a run in staging for the web app: only inside the requested DAG's own run
folder, and with messages that show no path.

A request names a DAG (= connector id), a run id and one of a fixed set of files (report, report
JSON, rejects); nothing in it is a path. The DAG id must be a connector id as written (so it is
its own staging folder name: no two DAG ids share a folder, whatever the permission checked), the
run id must stay one folder below it (no ``..``, ``.``, empty, nor a ``_`` state folder). The run
folder is built the way the tasks build it (:func:`saleslayer_airflow.staging.run_folder`) under
each staging base this API server knows and, for local bases, the file is served only when its
real path (symbolic links resolved) lies inside that run folder, itself resolved from the base's
real path plus the two folder names: a link from one DAG's run folder to another DAG's run, or a
DAG folder that is a link, is refused. Object stores have no links: the checked segments keep the
key under the run folder's prefix.

The bases are the one the tasks use by default (``SALESLAYER_STAGING_BASE``, else
``$AIRFLOW_HOME/saleslayer-staging``) and those listed in ``SALESLAYER_UI_STAGING_BASES``
(comma-separated URIs), for connector files that set their own ``staging.base``.
"""

from __future__ import annotations

import logging
import os
import re
from dataclasses import dataclass
from pathlib import Path
from typing import IO, Any, Protocol

from saleslayer_airflow import staging
from saleslayer_airflow.ui.links import RUN_FILES

#: Extra staging bases (comma-separated URIs) the web app may serve run files from.
EXTRA_BASES_ENV = "SALESLAYER_UI_STAGING_BASES"

log = logging.getLogger(__name__)


class RunFileNotFound(LookupError):
    """The run's file is not in any staging base this server may serve from (or the request
    named a run that cannot exist). The message says which run and file, and what to check."""


class Openable(Protocol):
    """A file in staging: an ObjectStoragePath (object storage) or a Path, opened in binary."""

    def open(self, mode: str) -> IO[bytes]: ...


@dataclass(frozen=True)
class RunFile:
    """A run file found in staging: where it is, its media type and a download name."""

    path: Openable
    media_type: str
    download_name: str


def staging_bases() -> list[str]:
    """The staging bases served from, default first."""
    bases = [staging.staging_base_uri(None)]
    for extra in os.environ.get(EXTRA_BASES_ENV, "").split(","):
        if extra.strip() and extra.strip() not in bases:
            bases.append(extra.strip())
    return bases


def _shown(uri: str) -> str:
    """A base URI for a message: without a password, should one have been written into it."""
    scheme, sep, rest = uri.partition("://")
    userinfo, at, location = rest.partition("@")
    if sep and at and ":" in userinfo:
        return f"{scheme}://{userinfo.split(':', 1)[0]}:***@{location}"
    return uri


def _plain_segment(value: str) -> bool:
    """A DAG or run id that stays one folder below its parent once made safe for storage."""
    segment = staging.safe_segment(value)
    return bool(segment) and segment.strip(".") != "" and not segment.startswith("_")


def _connector_id(value: str) -> bool:
    """A DAG id that is a connector id exactly as written: its own folder name (no character
    replaced, so no other DAG id names the same folder)."""
    from saleslayer_airflow.config.connector import CONNECTOR_ID_MAX, CONNECTOR_ID_PATTERN

    return len(value) <= CONNECTOR_ID_MAX and re.fullmatch(CONNECTOR_ID_PATTERN, value) is not None


def _inside_run_folder(base: Any, run: Any, candidate: Any) -> Any:
    """The file to serve: ``candidate`` if it lies inside the run folder ``run`` of ``base``, for
    local bases resolved (symbolic links followed, and the run folder taken from the base's real
    path, so that a linked DAG or run folder does not count as its own); else None."""
    if staging.local_path(base) is None:
        prefix = str(run.path).rstrip("/") + "/"
        return candidate if str(candidate.path).startswith(prefix) else None
    from airflow.sdk import ObjectStoragePath

    own = Path(os.path.realpath(base.path)) / run.parent.name / run.name
    real = Path(os.path.realpath(candidate.path))
    if real == own or not real.is_relative_to(own):
        return None
    return ObjectStoragePath(real.as_uri())


def find_run_file(dag_id: str, run_id: str, endpoint: str) -> RunFile:
    """The file ``endpoint`` (``report``, ``report.json``, ``rejects``, ``ignored``) of one run.

    :raises RunFileNotFound: unknown endpoint, an id that could leave its folder, or no such
        file in the run's own folder in any base. Messages hold no path.
    """
    from airflow.sdk import ObjectStoragePath

    if endpoint not in RUN_FILES:
        raise RunFileNotFound(f"no such run file; the files are {', '.join(sorted(RUN_FILES))}")
    if not (_connector_id(dag_id) and _plain_segment(run_id)):
        raise RunFileNotFound("no such file for this run: not a valid DAG or run id")
    name, media_type = RUN_FILES[endpoint]
    bases = staging_bases()
    for base_uri in bases:
        base = ObjectStoragePath(base_uri)
        run = staging.run_folder(base_uri, dag_id, run_id)
        try:
            found = _inside_run_folder(base, run, run / name)
            if found is not None and found.is_file():
                download = f"{dag_id}_{staging.safe_segment(run_id)}_{name}"
                return RunFile(found, media_type, download)
        except (OSError, ValueError) as exc:
            # Unreadable base, bad URI: the operator's log says which; the caller sees a 404.
            log.warning("Cannot look in staging base %s: %s", _shown(base_uri), exc)
    log.info("No %s for run %r of DAG %r in %s", name, run_id, dag_id,
             ", ".join(_shown(b) for b in bases))  # fmt: skip
    raise RunFileNotFound(
        f"no such file for this run: run {run_id!r} of DAG {dag_id!r} has no {name} in the "
        "staging this API server serves; the task that writes it may not have run yet, the run "
        "folder may be past its retention, or the connector sets its own `staging.base`, which "
        f"must then be listed in {EXTRA_BASES_ENV} on the API server"
    )
