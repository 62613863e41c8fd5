"""Extra links ("Run report", "Rejects file", "Ignored rows") from a task to the run's files in
staging.

Airflow 3 computes a task's links when the task finishes (whatever its state) and stores each URL
in XCom, where the UI reads it; the serialized DAG only names each link and its XCom key, so the
API server needs neither these classes nor the connector's config. The URLs point at the plugin's
web app (:mod:`saleslayer_airflow.ui.app`), which serves the files after checking the user may
read the DAG's task instances.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any
from urllib.parse import quote

import attrs
from airflow.sdk import BaseOperatorLink

from saleslayer_airflow import staging
from saleslayer_airflow.contracts import IGNORED_FILE

if TYPE_CHECKING:
    from airflow.sdk import BaseOperator
    from airflow.sdk.types import TaskInstanceKey

#: Where the plugin's web app is mounted on the Airflow API server.
URL_PREFIX = "/saleslayer"

#: URL endpoint of each servable run file -> (file name in the run folder, media type).
RUN_FILES: dict[str, tuple[str, str]] = {
    "report": ("report.txt", "text/plain; charset=utf-8"),
    "report.json": (staging.REPORT_FILE, "application/json"),
    "rejects": (staging.REJECTS_FILE, "text/csv; charset=utf-8"),
    # the first rows that fed no table, with why (the report counts them all)
    "ignored": (IGNORED_FILE, "text/csv; charset=utf-8"),
}


def api_base_url() -> str:
    """``[api] base_url`` without its trailing slash; empty (a root-relative link) if unset."""
    from airflow.sdk import conf

    return str(conf.get("api", "base_url", fallback="") or "").rstrip("/")


def run_file_url(dag_id: str, run_id: str, endpoint: str, *, base_url: str | None = None) -> str:
    """The plugin URL serving one file of a run, e.g. ``/saleslayer/runs/<dag>/<run>/report``.

    ``base_url`` defaults to Airflow's ``[api] base_url``, so the link also works when the UI is
    served below a path (``https://host/airflow/``).
    """
    if endpoint not in RUN_FILES:
        raise ValueError(f"unknown run file {endpoint!r}; use one of {sorted(RUN_FILES)}")
    root = api_base_url() if base_url is None else base_url.rstrip("/")
    dag = quote(dag_id, safe="")
    run = quote(run_id, safe="")
    return f"{root}{URL_PREFIX}/runs/{dag}/{run}/{endpoint}"


def _file_exists(operator: Any, run_id: str, endpoint: str) -> bool:
    """Whether the task wrote the file (seen from the worker, which knows the connector's
    staging base). When that cannot be told, the link is shown: the plugin answers 404."""
    try:
        config = operator.connector_config
        base = staging.staging_base_uri(config.staging.base)
        name = RUN_FILES[endpoint][0]
        return bool((staging.run_folder(base, config.id, run_id) / name).exists())
    except Exception:
        return True


@attrs.define()
class _RunFileLink(BaseOperatorLink):
    """A link to one file of the task's run; empty (shown disabled) when the file is missing."""

    endpoint: str = ""

    def get_link(self, operator: BaseOperator, *, ti_key: TaskInstanceKey) -> str:
        if not _file_exists(operator, ti_key.run_id, self.endpoint):
            return ""
        return run_file_url(ti_key.dag_id, ti_key.run_id, self.endpoint)


@attrs.define()
class RunReportLink(_RunFileLink):
    """On the report task: the run's balanced counts per table, as text ("Run report")."""

    name = "Run report"
    endpoint: str = "report"


@attrs.define()
class RejectsFileLink(_RunFileLink):
    """On validate_and_split: every row set aside, with file, line and reason ("Rejects file")."""

    name = "Rejects file"
    endpoint: str = "rejects"


@attrs.define()
class IgnoredRowsLink(_RunFileLink):
    """On validate_and_split: the rows that fed no table (no reference for any table, left out
    by a `where:` filter, a continuation row without this table's reference), with file, line
    and why ("Ignored rows"); the report counts them all, per reason."""

    name = "Ignored rows"
    endpoint: str = "ignored"
