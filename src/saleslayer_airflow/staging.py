"""Where a run's files live between tasks: one folder per connector and run.

    <base>/<connector_id>/<run_id>/landed/      the raw export(s), unchanged (fetch)
    <base>/<connector_id>/<run_id>/split/       one Parquet file per table (validate and split)
    <base>/<connector_id>/<run_id>/rejects.csv  rows set aside, with line and reason
    <base>/<connector_id>/<run_id>/report.json  the run's balanced counts
    <base>/<connector_id>/<run_id>/fetch_pages/ API pages landed so far (resume on retry)
    <base>/<connector_id>/<run_id>/.saleslayer-run  marks the folder as a run folder of this package
    <base>/<connector_id>/_state/               per-connector records kept across runs

**Retention** (:func:`clean_old_runs`) deletes only run folders this package made: folders right
below ``<base>/<connector_id>/`` holding a ``.saleslayer-run`` marker written by the fetch stage
for that connector and that run. Anything else there (other data, another tool's folders, files,
names starting with '_', symbolic links, which are never followed) is left alone and named in the
fetch log. Run folders made before the marker existed (saleslayer-airflow 0.x up to this change)
carry none, so they are kept too: delete them by hand once they are no longer needed.

Runs never share a folder, so parallel runs and backfills cannot overwrite each other's files.
The base is an ObjectStoragePath URI: a local folder by default, object storage when tasks run on
different machines. XCom carries only these paths and counts.
"""

from __future__ import annotations

import json
import os
import re
import shutil
import stat
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

#: Environment variable naming the staging base when the connector file does not.
STAGING_BASE_ENV = "SALESLAYER_STAGING_BASE"

LANDED = "landed"
SPLIT = "split"
#: Beside each ``split/<table>.parquet``: the references of the table's rejected rows.
REJECTED_REFS_SUFFIX = ".rejected_refs.parquet"
REJECTS_FILE = "rejects.csv"
REPORT_FILE = "report.json"
FETCH_PAGES = "fetch_pages"
STATE = "_state"
#: The file that makes a folder a run folder retention may delete (JSON: connector and run id).
RUN_MARKER = ".saleslayer-run"


def default_base() -> str:
    """A local folder beside Airflow's own files: ``$AIRFLOW_HOME/saleslayer-staging``."""
    home = os.environ.get("AIRFLOW_HOME") or str(Path.home() / "airflow")
    return Path(home, "saleslayer-staging").absolute().as_uri()


def staging_base_uri(configured: str | None) -> str:
    """The base URI: the connector's `staging.base`, else the environment, else the default."""
    return configured or os.environ.get(STAGING_BASE_ENV) or default_base()


def safe_segment(value: str) -> str:
    """A run id as one path segment: Airflow run ids hold ':' and '+', which some stores refuse.

    '.' and '..' (a run id given through the API) would name the folder itself or its parent:
    they become '_' and '__'.
    """
    segment = re.sub(r"[^A-Za-z0-9_.\-]", "_", value)
    return "_" * len(segment) if segment.strip(".") == "" else segment


def run_folder(base_uri: str, connector_id: str, run_id: str) -> Any:
    """The run's folder as an ObjectStoragePath (created on first write)."""
    from airflow.sdk import ObjectStoragePath

    return ObjectStoragePath(base_uri) / safe_segment(connector_id) / safe_segment(run_id)


def connector_folder(base_uri: str, connector_id: str) -> Any:
    """The connector's folder, holding its run folders and its ``_state``."""
    from airflow.sdk import ObjectStoragePath

    return ObjectStoragePath(base_uri) / safe_segment(connector_id)


def mark_run_folder(base_uri: str, connector_id: str, run_id: str) -> Any:
    """Create the run's folder and its marker (see :data:`RUN_MARKER`); returns the folder.

    Written by the fetch stage before anything lands, so that every folder it fills, even by a
    failed attempt, is one retention may later delete.
    """
    folder = run_folder(base_uri, connector_id, run_id)
    folder.mkdir(parents=True, exist_ok=True)
    body = {
        "package": "saleslayer-airflow",
        "connector_id": connector_id,
        "run_id": run_id,
        "created": datetime.now(UTC).isoformat(),
    }
    with (folder / RUN_MARKER).open("w", encoding="utf-8") as handle:
        json.dump(body, handle)
    return folder


@dataclass
class Retention:
    """What :func:`clean_old_runs` did: the run folders deleted, and the names it kept because
    they are not run folders of this connector (no marker, a file, a symbolic link)."""

    removed: list[str] = field(default_factory=list)
    not_runs: list[str] = field(default_factory=list)


def local_path(path: Any) -> Path | None:
    """The OS path of a local ObjectStoragePath (None: object storage, no symbolic links)."""
    if getattr(path, "protocol", "") in ("", "file", "local"):
        return Path(path.path)
    return None


def _marker(folder: Any, local: Path | None) -> dict[str, Any] | None:
    """The folder's run marker, or None when it has none (or one that is not a regular file)."""
    try:
        if local is not None:
            marker = local / RUN_MARKER
            if not stat.S_ISREG(os.lstat(marker).st_mode):
                return None
            text = marker.read_text(encoding="utf-8")
        else:
            with (folder / RUN_MARKER).open("r", encoding="utf-8") as handle:
                text = handle.read()
        body = json.loads(text)
    except (OSError, ValueError):
        return None
    return body if isinstance(body, dict) else None


def _is_run_of(name: str, marker: dict[str, Any] | None, connector_id: str) -> bool:
    return (
        marker is not None
        and marker.get("connector_id") == connector_id
        and isinstance(marker.get("run_id"), str)
        and safe_segment(marker["run_id"]) == name
    )


def _created(marker: dict[str, Any]) -> datetime | None:
    try:
        created = datetime.fromisoformat(str(marker.get("created")))
    except ValueError:
        return None
    return created if created.tzinfo else created.replace(tzinfo=UTC)


def _modified(path: Any) -> datetime | None:
    try:
        info = path.stat()
    except (FileNotFoundError, NotADirectoryError):
        return None
    mtime = getattr(info, "st_mtime", None)
    if mtime is None and isinstance(info, dict):
        mtime = info.get("mtime")
    if mtime is None or mtime == 0:
        # Object stores have no folders: Airflow's stat of an S3 "directory" reports st_mtime 0
        # (no time known), which is not 1970; the caller falls back to the marker's time.
        return None
    if isinstance(mtime, datetime):
        return mtime if mtime.tzinfo else mtime.replace(tzinfo=UTC)
    return datetime.fromtimestamp(float(mtime), UTC)


def _remove_tree(path: Any) -> None:
    """Delete an object-storage folder: every object under its prefix. An object store has no
    folders to remove one by one (a "folder" is gone with its last object; removing it as a
    directory fails half-way with NotADirectoryError), and no symbolic links."""
    path.fs.rm(path.path.rstrip("/") + "/", recursive=True)


def clean_old_runs(
    base_uri: str,
    connector_id: str,
    retention_days: int,
    *,
    keep: str | None = None,
    now: datetime | None = None,
) -> Retention:
    """Delete the connector's run folders last modified more than ``retention_days`` ago.

    Only folders carrying this connector's run marker (:data:`RUN_MARKER`, naming the folder's
    run) are run folders; everything else is kept and listed in ``not_runs``. ``keep`` (a run
    id) is never deleted, nor is anything whose name starts with '_'. A symbolic link is never
    followed: not to list, not to delete. The age is the folder's modification time, or the
    marker's creation time when the store reports none (object stores for "directories").
    """
    folder = connector_folder(base_uri, connector_id)
    retention = Retention()
    if not folder.exists():
        return retention
    limit = (now or datetime.now(UTC)) - timedelta(days=retention_days)
    kept = safe_segment(keep) if keep else None
    local = local_path(folder)
    if local is not None and local.is_symlink():
        retention.not_runs.append(f"{local.name} (a symbolic link: not followed)")
        return retention
    for run in sorted(folder.iterdir(), key=lambda p: p.name):
        name = run.name
        if name.startswith("_") or name == kept:
            continue
        run_local = None if local is None else local / name
        if run_local is not None:
            mode = os.lstat(run_local).st_mode
            if not stat.S_ISDIR(mode):  # files, and symbolic links even to run folders
                retention.not_runs.append(name)
                continue
        elif not run.is_dir():
            retention.not_runs.append(name)
            continue
        marker = _marker(run, run_local)
        if marker is None or not _is_run_of(name, marker, connector_id):
            retention.not_runs.append(name)
            continue
        modified = _modified(run) or _created(marker)
        if modified is None or modified >= limit:
            continue
        if run_local is not None:
            # rmtree unlinks symbolic links inside without following them.
            shutil.rmtree(run_local)
        else:
            _remove_tree(run)
        retention.removed.append(name)
    return retention
