"""Where a run's files live between tasks: one folder per connector and run.

    <base>/<connector_id>/<run_id>/landed/      the raw export(s), unchanged (fetch)
    <base>/<connector_id>/<run_id>/split/       one Parquet file per table (validate and split)
    <base>/<connector_id>/<run_id>/rejects.csv  rows set aside, with line and reason
    <base>/<connector_id>/<run_id>/report.json  the run's balanced counts
    <base>/<connector_id>/<run_id>/fetch_pages/ API pages landed so far (resume on retry)
    <base>/<connector_id>/_state/               per-connector records kept across runs

Names starting with '_' below a connector are not run folders: retention leaves them alone.

Runs never share a folder, so parallel runs and backfills cannot overwrite each other's files.
The base is an ObjectStoragePath URI: a local folder by default, object storage when tasks run on
different machines. XCom carries only these paths and counts.
"""

from __future__ import annotations

import os
import re
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

#: Environment variable naming the staging base when the connector file does not.
STAGING_BASE_ENV = "SALESLAYER_STAGING_BASE"

LANDED = "landed"
SPLIT = "split"
REJECTS_FILE = "rejects.csv"
REPORT_FILE = "report.json"
FETCH_PAGES = "fetch_pages"
STATE = "_state"


def default_base() -> str:
    """A local folder beside Airflow's own files: ``$AIRFLOW_HOME/saleslayer-staging``."""
    home = os.environ.get("AIRFLOW_HOME") or str(Path.home() / "airflow")
    return Path(home, "saleslayer-staging").absolute().as_uri()


def staging_base_uri(configured: str | None) -> str:
    """The base URI: the connector's `staging.base`, else the environment, else the default."""
    return configured or os.environ.get(STAGING_BASE_ENV) or default_base()


def safe_segment(value: str) -> str:
    """A run id as one path segment: Airflow run ids hold ':' and '+', which some stores refuse."""
    return re.sub(r"[^A-Za-z0-9_.\-]", "_", value)


def run_folder(base_uri: str, connector_id: str, run_id: str) -> Any:
    """The run's folder as an ObjectStoragePath (created on first write)."""
    from airflow.sdk import ObjectStoragePath

    return ObjectStoragePath(base_uri) / safe_segment(connector_id) / safe_segment(run_id)


def connector_folder(base_uri: str, connector_id: str) -> Any:
    """The connector's folder, holding its run folders and its ``_state``."""
    from airflow.sdk import ObjectStoragePath

    return ObjectStoragePath(base_uri) / safe_segment(connector_id)


def _modified(path: Any) -> datetime | None:
    try:
        info = path.stat()
    except (FileNotFoundError, NotADirectoryError):
        return None
    mtime = getattr(info, "st_mtime", None)
    if mtime is None and isinstance(info, dict):
        mtime = info.get("mtime")
    if mtime is None:
        return None
    if isinstance(mtime, datetime):
        return mtime if mtime.tzinfo else mtime.replace(tzinfo=UTC)
    return datetime.fromtimestamp(float(mtime), UTC)


def _remove_tree(path: Any) -> None:
    if path.is_dir():
        for child in path.iterdir():
            _remove_tree(child)
        path.rmdir()
    else:
        path.unlink()


def clean_old_runs(
    base_uri: str,
    connector_id: str,
    retention_days: int,
    *,
    keep: str | None = None,
    now: datetime | None = None,
) -> list[str]:
    """Delete the connector's run folders last modified more than ``retention_days`` ago.

    ``keep`` (a run id) is never deleted, nor is anything whose name starts with '_'. A folder
    whose store reports no modification time (some object stores for "directories") is kept.
    Returns the names of the deleted folders.
    """
    folder = connector_folder(base_uri, connector_id)
    if not folder.exists():
        return []
    limit = (now or datetime.now(UTC)) - timedelta(days=retention_days)
    kept = safe_segment(keep) if keep else None
    removed = []
    for run in sorted(folder.iterdir(), key=lambda p: p.name):
        if run.name.startswith("_") or run.name == kept or not run.is_dir():
            continue
        modified = _modified(run)
        if modified is not None and modified < limit:
            _remove_tree(run)
            removed.append(run.name)
    return removed
