"""Where a run's files live between tasks: one folder per connector and run.

    <base>/<connector_id>/<run_id>/landed/      the raw export(s), unchanged (fetch)
    <base>/<connector_id>/<run_id>/split/       one Parquet file per table (validate and split)
    <base>/<connector_id>/<run_id>/rejects.csv  rows set aside, with line and reason
    <base>/<connector_id>/<run_id>/report.json  the run's balanced counts

Runs never share a folder, so parallel runs and backfills cannot overwrite each other's files.
The base is an ObjectStoragePath URI: a local folder by default, object storage when tasks run on
different machines. XCom carries only these paths and counts.
"""

from __future__ import annotations

import os
import re
from pathlib import Path
from typing import Any

#: Environment variable naming the staging base when the connector file does not.
STAGING_BASE_ENV = "SALESLAYER_STAGING_BASE"

LANDED = "landed"
SPLIT = "split"
REJECTS_FILE = "rejects.csv"
REPORT_FILE = "report.json"


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
