"""Find one file of a run in staging for the web app, refusing anything outside the bases.

A request names a DAG (= connector id), a run id and one of a fixed set of files (report, report
JSON, rejects); nothing in it is a path. The run folder is built the way the tasks build it
(:func:`saleslayer_airflow.staging.run_folder`) under each staging base this API server knows,
and is refused when a segment could climb out (``..``, ``.``, empty, a ``_`` state folder) or,
for local bases, when the resolved file (symbolic links followed) is not inside the base.

The bases are the one the tasks use by default (``SALESLAYER_STAGING_BASE``, else
``$AIRFLOW_HOME/saleslayer-staging``) and those listed in ``SALESLAYER_UI_STAGING_BASES``
(comma-separated URIs), for connector files that set their own ``staging.base``.
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from typing import Any

from saleslayer_airflow import staging
from saleslayer_airflow.ui.links import RUN_FILES

#: Extra staging bases (comma-separated URIs) the web app may serve run files from.
EXTRA_BASES_ENV = "SALESLAYER_UI_STAGING_BASES"

_LOCAL = {"file", "local", ""}


class RunFileNotFound(LookupError):
    """The run's file is not in any staging base this server may serve from (or the request
    named a run that cannot exist). The message says which run and file, and what to check."""


@dataclass(frozen=True)
class RunFile:
    """A run file found in staging: where it is, its media type and a download name."""

    path: Any
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


def _inside(base: Any, candidate: Any) -> bool:
    """For a local base: the candidate, symbolic links resolved, lies inside the base."""
    if base.protocol not in _LOCAL:
        # Object stores have no links or '..': the checked segments keep the key below the base.
        return str(candidate.path).startswith(str(base.path).rstrip("/") + "/")
    root: str = os.path.realpath(base.path)
    real: str = os.path.realpath(candidate.path)
    return os.path.commonpath([root, real]) == root and real != root


def find_run_file(dag_id: str, run_id: str, endpoint: str) -> RunFile:
    """The file ``endpoint`` (``report``, ``report.json``, ``rejects``) of one run.

    :raises RunFileNotFound: unknown endpoint, an id that could leave its folder, or no such
        file in any base.
    """
    from airflow.sdk import ObjectStoragePath

    if endpoint not in RUN_FILES:
        raise RunFileNotFound(f"no run file {endpoint!r}; the files are {sorted(RUN_FILES)}")
    if not (_plain_segment(dag_id) and _plain_segment(run_id)):
        raise RunFileNotFound(f"no run {run_id!r} of DAG {dag_id!r}: not a valid DAG or run id")
    name, media_type = RUN_FILES[endpoint]
    bases = staging_bases()
    for base_uri in bases:
        base = ObjectStoragePath(base_uri)
        candidate = staging.run_folder(base_uri, dag_id, run_id) / name
        if _inside(base, candidate) and candidate.is_file():
            download = f"{staging.safe_segment(dag_id)}_{staging.safe_segment(run_id)}_{name}"
            return RunFile(candidate, media_type, download)
    shown = ", ".join(_shown(b) for b in bases)
    raise RunFileNotFound(
        f"run {run_id!r} of DAG {dag_id!r} has no {name} in the staging base(s) this API "
        f"server serves ({shown}): the task that writes it may not have run yet, the run "
        "folder may be past its retention, or the connector sets its own `staging.base`, "
        f"which must then be listed in {EXTRA_BASES_ENV} on the API server"
    )
