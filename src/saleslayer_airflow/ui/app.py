"""The plugin's web app on the Airflow API server: a run's report and rejects file.

    GET /saleslayer/runs/{dag_id}/{run_id}/report        report.txt   (text)
    GET /saleslayer/runs/{dag_id}/{run_id}/report.json   report.json
    GET /saleslayer/runs/{dag_id}/{run_id}/rejects       rejects.csv
    GET /saleslayer/runs/{dag_id}/{run_id}/ignored       ignored.csv (rows that fed no table)

    GET /saleslayer/openapi.json, /saleslayer/docs                 this API, for logged-in users

Airflow does not authenticate the FastAPI apps of plugins (a mounted app inherits none of the
core API's dependencies), so every route checks, with Airflow's own dependency, that the caller
holds a valid Airflow token (the UI's session cookie or a bearer token) and, for run files, may
read the DAG's task instances; otherwise 401/403. FastAPI's own /openapi.json, /docs and /redoc
(public by default) are replaced by routes with that check. Files are found by
:func:`saleslayer_airflow.ui.files.find_run_file`, which serves only from the requested DAG's
own run folder; a 404 says which run and file, never a path.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

from fastapi import Depends, FastAPI, HTTPException, Request
from fastapi.responses import HTMLResponse, JSONResponse, StreamingResponse

from saleslayer_airflow.ui.files import RunFileNotFound, find_run_file

_CHUNK = 1 << 16


def _chunks(path: Any) -> Iterator[bytes]:
    with path.open("rb") as handle:
        while chunk := handle.read(_CHUNK):
            yield chunk


def create_app() -> FastAPI:
    """The web app (imports Airflow's API-server security, so only the API server builds it)."""
    from airflow.api_fastapi.auth.managers.models.resource_details import DagAccessEntity
    from airflow.api_fastapi.core_api.security import requires_access_dag, requires_authenticated
    from fastapi.openapi.docs import get_swagger_ui_html

    app = FastAPI(
        title="Sales Layer connectors",
        description="A connector run's report and rejects file, from staging.",
        openapi_url=None,
        docs_url=None,
        redoc_url=None,
    )
    can_read_runs = Depends(requires_access_dag("GET", DagAccessEntity.TASK_INSTANCE))
    logged_in = Depends(requires_authenticated())

    @app.get("/openapi.json", dependencies=[logged_in], include_in_schema=False)
    def openapi() -> JSONResponse:
        return JSONResponse(app.openapi())

    @app.get("/docs", dependencies=[logged_in], include_in_schema=False)
    def docs(request: Request) -> HTMLResponse:
        root = str(request.scope.get("root_path", "")).rstrip("/")
        return get_swagger_ui_html(openapi_url=f"{root}/openapi.json", title=app.title)

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
