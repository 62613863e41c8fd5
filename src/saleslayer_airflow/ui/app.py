"""The plugin's web app on the Airflow API server: a run's report and rejects file.

    GET /saleslayer/runs/{dag_id}/{run_id}/report        report.txt   (text)
    GET /saleslayer/runs/{dag_id}/{run_id}/report.json   report.json
    GET /saleslayer/runs/{dag_id}/{run_id}/rejects       rejects.csv

Airflow does not authenticate the FastAPI apps of plugins (a mounted app inherits none of the
core API's dependencies), so every route checks, with Airflow's own dependency, that the caller
holds a valid Airflow token (the UI's session cookie or a bearer token) and may read the DAG's
task instances; otherwise 401/403. Files are found by :func:`saleslayer_airflow.ui.files.
find_run_file`, which never serves anything outside the staging bases.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

from fastapi import Depends, FastAPI, HTTPException
from fastapi.responses import StreamingResponse

from saleslayer_airflow.ui.files import RunFileNotFound, find_run_file

_CHUNK = 1 << 16


def _chunks(path: Any) -> Iterator[bytes]:
    with path.open("rb") as handle:
        while chunk := handle.read(_CHUNK):
            yield chunk


def create_app() -> FastAPI:
    """The web app (imports Airflow's API-server security, so only the API server builds it)."""
    from airflow.api_fastapi.auth.managers.models.resource_details import DagAccessEntity
    from airflow.api_fastapi.core_api.security import requires_access_dag

    app = FastAPI(
        title="Sales Layer connectors",
        description="A connector run's report and rejects file, from staging.",
    )
    can_read_runs = Depends(requires_access_dag("GET", DagAccessEntity.TASK_INSTANCE))

    @app.get("/runs/{dag_id}/{run_id}/{endpoint}", dependencies=[can_read_runs])
    def run_file(dag_id: str, run_id: str, endpoint: str) -> StreamingResponse:
        """One file of a run, streamed (a rejects file may be large)."""
        try:
            found = find_run_file(dag_id, run_id, endpoint)
        except RunFileNotFound as exc:
            raise HTTPException(status_code=404, detail=str(exc)) from exc
        disposition = "inline" if endpoint.startswith("report") else "attachment"
        return StreamingResponse(
            _chunks(found.path),
            media_type=found.media_type,
            headers={
                "Content-Disposition": f'{disposition}; filename="{found.download_name}"',
                "X-Content-Type-Options": "nosniff",
            },
        )

    return app
