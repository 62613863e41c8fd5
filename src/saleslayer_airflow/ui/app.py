"""The plugin's web app on the Airflow API server: the connector pages and a run's files.

    GET /saleslayer/pages/connectors                     connectors overview (HTML; ?tag=&state=)
    GET /saleslayer/pages/connectors/{dag_id}/trends     a connector's last runs as charts (?limit=)
    GET /saleslayer/pages/runs/{dag_id}/{run_id}         a run's report as a page

    GET /saleslayer/runs/{dag_id}/{run_id}/report        report.txt   (text)
    GET /saleslayer/runs/{dag_id}/{run_id}/report.json   report.json
    GET /saleslayer/runs/{dag_id}/{run_id}/rejects       rejects.csv
    GET /saleslayer/runs/{dag_id}/{run_id}/ignored       ignored.csv (rows that fed no table)

    GET /saleslayer/openapi.json, /saleslayer/docs                 this API, for logged-in users

Airflow does not authenticate the FastAPI apps of plugins (a mounted app inherits none of the
core API's dependencies), so every route checks, with Airflow's own dependency, that the caller
holds a valid Airflow token (the UI's session cookie or a bearer token) and may read the DAG's
task instances (a run's page and files) or runs (trends); otherwise 401/403. The overview lists
only the connectors whose runs the user may read. FastAPI's own /openapi.json, /docs and /redoc
(public by default) are replaced by routes with that check. Files are found by
:func:`saleslayer_airflow.ui.files.find_run_file`, which serves only from the requested DAG's
own run folder; a 404 says which run and file, never a path.
"""

from __future__ import annotations

import json
from collections.abc import Iterator, Mapping
from typing import TYPE_CHECKING

from fastapi import Depends, FastAPI, HTTPException, Query, Request
from fastapi.responses import HTMLResponse, JSONResponse, StreamingResponse

from saleslayer_airflow.ui.files import Openable, RunFileNotFound, _connector_id, find_run_file
from saleslayer_airflow.ui.links import RUN_FILES

if TYPE_CHECKING:
    from airflow.api_fastapi.auth.managers.models.base_user import BaseUser

    from saleslayer_airflow.ui.runs_data import XComBody

#: Headers of the HTML pages: shown in the Airflow UI's frame (same origin) and nowhere else.
_PAGE_HEADERS = {
    "X-Content-Type-Options": "nosniff",
    "Content-Security-Policy": "default-src 'none'; style-src 'unsafe-inline'; img-src 'self'; "
    "frame-ancestors 'self'; form-action 'self'",
    "Cache-Control": "no-store",
}

_CHUNK = 1 << 16


def _chunks(path: Openable) -> Iterator[bytes]:
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

    from airflow.api_fastapi.core_api.security import get_user

    # The user, as Airflow's API resolves it (a local name: annotations here are strings FastAPI
    # resolves in the module's globals, so the dependency is given as a default instead).
    current_user = Depends(get_user)
    can_read_dag_runs = Depends(requires_access_dag("GET", DagAccessEntity.RUN))

    @app.get("/pages/connectors", dependencies=[logged_in], include_in_schema=False)
    def connectors_page(
        user: BaseUser = current_user, tag: str | None = None, state: str | None = None
    ) -> HTMLResponse:
        """Every connector the user may read the runs of, with its latest run."""
        from saleslayer_airflow.ui import pages, runs_data

        found = [
            c for c in runs_data.connectors(_readable_dags(user)) if _may_read_runs(user, c.dag_id)
        ]
        all_tags = sorted({t for c in found for t in c.tags} - {runs_data.CONNECTOR_TAG})
        shown = runs_data.keep(found, tag=tag, state=state)
        html = pages.overview(shown, tag=tag, state=state, all_tags=all_tags)
        return HTMLResponse(html, headers=_PAGE_HEADERS)

    @app.get(
        "/pages/connectors/{dag_id}/trends",
        dependencies=[can_read_dag_runs],
        include_in_schema=False,
    )
    def trends_page(dag_id: str, limit: int = Query(30, ge=1, le=365)) -> HTMLResponse:
        """A connector's last ``limit`` runs as charts and a table."""
        from saleslayer_airflow.ui import pages, runs_data

        _check_connector(dag_id)
        html = pages.trends(dag_id, runs_data.runs(dag_id, limit), limit=limit)
        return HTMLResponse(html, headers=_PAGE_HEADERS)

    @app.get("/pages/runs/{dag_id}/{run_id}", dependencies=[can_read_runs], include_in_schema=False)
    def run_page(dag_id: str, run_id: str) -> HTMLResponse:
        """A run's report: the balance, the rejects by reason, a dry run's sample, downloads."""
        from saleslayer_airflow.ui import pages, runs_data
        from saleslayer_airflow.ui.rejects_summary import summarise_file

        _check_connector(dag_id)
        view = runs_data.run(dag_id, run_id)
        files = {endpoint: _run_file(dag_id, run_id, endpoint) for endpoint in RUN_FILES}
        if view is None and not any(files.values()):
            raise HTTPException(
                status_code=404, detail=f"no run {run_id!r} of connector {dag_id!r}"
            )
        report = view.report if view is not None else None
        report_file = files.get("report.json")
        if report is None and report_file is not None:
            # a run that imported nothing (skipped) writes report.json but no XCom
            report = _json_file(report_file)
        rejects_file = files.get("rejects")
        rejects = summarise_file(rejects_file) if rejects_file is not None else None
        html = pages.run_report(
            dag_id,
            run_id,
            view=view,
            report=report,
            rejects=rejects,
            files={endpoint: found is not None for endpoint, found in files.items()},
        )
        return HTMLResponse(html, headers=_PAGE_HEADERS)

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


def _readable_dags(user: BaseUser) -> set[str]:
    """The DAG ids the user may read (Airflow's auth manager decides)."""
    from airflow.api_fastapi.app import get_auth_manager

    return set(get_auth_manager().get_authorized_dag_ids(user=user, method="GET"))


def _may_read_runs(user: BaseUser, dag_id: str) -> bool:
    """Whether the user may read the DAG's runs: what a connector's row shows."""
    from airflow.api_fastapi.app import get_auth_manager
    from airflow.api_fastapi.auth.managers.models.resource_details import (
        DagAccessEntity,
        DagDetails,
    )

    return bool(
        get_auth_manager().is_authorized_dag(
            method="GET",
            access_entity=DagAccessEntity.RUN,
            details=DagDetails(id=dag_id),
            user=user,
        )
    )


def _check_connector(dag_id: str) -> None:
    """404 unless ``dag_id`` can be a connector's (its own staging folder name)."""
    if not _connector_id(dag_id):
        raise HTTPException(status_code=404, detail="not a connector DAG id")


def _run_file(dag_id: str, run_id: str, endpoint: str) -> Openable | None:
    """The run's file (a path in staging) or None when it has none."""
    try:
        return find_run_file(dag_id, run_id, endpoint).path
    except RunFileNotFound:
        return None


def _json_file(path: Openable) -> XComBody | None:
    try:
        with path.open("rb") as handle:
            body = json.load(handle)
    except (OSError, ValueError):
        return None
    return body if isinstance(body, Mapping) else None
