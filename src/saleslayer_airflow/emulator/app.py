"""The FastAPI application of the emulator: both APIs, the inspection and admin routes."""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import AsyncIterator
from typing import Any

from fastapi import APIRouter, FastAPI, Request
from fastapi.responses import JSONResponse
from pydantic import ValidationError
from starlette.types import ASGIApp

from saleslayer_airflow.emulator.catalog import dump_table
from saleslayer_airflow.emulator.connector_api import ConnectorApi
from saleslayer_airflow.emulator.middleware import ADMIN_PREFIX, FaultsAndCounters
from saleslayer_airflow.emulator.rest_api import RestApi
from saleslayer_airflow.emulator.state import EmulatorState
from saleslayer_airflow.emulator.tenant import TableSpec

_log = logging.getLogger(__name__)


def find_table(state: EmulatorState, name: str) -> TableSpec | None:
    """A table by import name, REST set name or custom-entity denominator (any case)."""
    tenant = state.tenant
    return (
        tenant.table(name)
        or tenant.rest_table(name, custom=False)
        or tenant.rest_table(name, custom=True)
    )


def _inspect_routes(router: APIRouter, state: EmulatorState, connector_api: ConnectorApi) -> None:
    @router.get("/health")
    async def health() -> dict[str, Any]:
        """Liveness and the tenant name."""
        return {"ok": True, "tenant": state.tenant.name}

    @router.get("/tables")
    async def tables() -> dict[str, Any]:
        """Every table with its live item count."""
        return {
            "tables": [
                {
                    "import_name": t.import_name,
                    "kind": t.kind,
                    "rest_set": t.rest_set,
                    "live_items": state.storage.live_count(t.import_name),
                }
                for t in state.tenant.tables
            ]
        }

    @router.get("/tables/{name}")
    async def table(name: str, live: bool = False) -> JSONResponse:
        """One table as it is now (deleted items too unless ``live``)."""
        spec = find_table(state, name)
        if spec is None:
            names = ", ".join(t.import_name for t in state.tenant.tables)
            return JSONResponse({"detail": f"no table {name!r}; tables: {names}"}, 404)
        items = dump_table(state.tenant, state.storage, spec)
        if live:
            items = [i for i in items if not i["deleted"]]
        return JSONResponse({"table": spec.import_name, "items": items})

    @router.get("/jobs")
    async def jobs() -> dict[str, Any]:
        """Import jobs per status, and how many have not ended (``open``)."""
        counts = state.storage.job_counts()
        return {"open": counts.get("prepare", 0) + counts.get("started", 0), "by_status": counts}

    @router.get("/jobs/{job_id}")
    async def job(job_id: str) -> JSONResponse:
        """One job as tracking would answer, without counting a poll."""
        found = state.storage.job(job_id)
        if found is None:
            return JSONResponse({"detail": f"no job {job_id!r}"}, 404)
        state.jobs.advance(found)
        body = connector_api.tracking_body(found)
        body.update({"id": found.id, "connector": found.connector, "polls": found.polls})
        return JSONResponse(body)

    @router.get("/stats")
    async def stats() -> dict[str, Any]:
        """Request counters."""
        return state.stats.snapshot()


def _control_routes(router: APIRouter, state: EmulatorState) -> None:
    @router.post("/stats/reset")
    async def reset_stats() -> dict[str, Any]:
        """Start the counters from zero."""
        state.stats.reset()
        return state.stats.snapshot()

    @router.get("/settings")
    async def get_settings() -> dict[str, Any]:
        """The settings in force."""
        return state.settings.model_dump()

    @router.post("/settings")
    async def post_settings(request: Request) -> JSONResponse:
        """Deep-merge a partial settings document; faults restart from their seeds."""
        try:
            patch = await request.json()
            if not isinstance(patch, dict):
                raise ValueError("send a JSON object with the settings to change")
            settings = state.update_settings(patch)
        except ValidationError as exc:
            problems = exc.errors(include_url=False, include_context=False)
            return JSONResponse({"detail": problems}, 400)
        except ValueError as exc:
            return JSONResponse({"detail": str(exc)}, 400)
        return JSONResponse(settings.model_dump())

    @router.post("/reset")
    async def reset() -> dict[str, Any]:
        """Empty the store; restore the start settings and counters."""
        state.reset()
        return {"ok": True}


def create_app(state: EmulatorState) -> FastAPI:
    """The ASGI app serving one emulator state (a background task advances timed jobs)."""

    @contextlib.asynccontextmanager
    async def lifespan(_: FastAPI) -> AsyncIterator[None]:
        async def tick() -> None:
            while True:
                await asyncio.sleep(state.settings.tracking.tick_seconds)
                try:
                    state.jobs.tick()
                except Exception:  # the ticker must survive; the next poll reports the job
                    _log.exception("advancing import jobs failed")

        task = asyncio.create_task(tick())
        try:
            yield
        finally:
            task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await task

    app = FastAPI(
        title="Sales Layer emulator",
        lifespan=lifespan,
        docs_url=None,
        redoc_url=None,
        openapi_url=None,
    )
    connector_api = ConnectorApi(state)
    app.include_router(connector_api.router())
    app.include_router(RestApi(state).router())
    admin = APIRouter(prefix=ADMIN_PREFIX)
    _inspect_routes(admin, state, connector_api)
    _control_routes(admin, state)
    app.include_router(admin)
    return app


def create_asgi(state: EmulatorState) -> ASGIApp:
    """The app wrapped in the faults-and-counters layer, outermost so that a dropped connection
    reaches the server's own transport."""
    return FaultsAndCounters(create_app(state), state)
