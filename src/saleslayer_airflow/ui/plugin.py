"""The Airflow plugin of the package, registered through the ``airflow.plugins`` entry point so
it works wherever the package is installed (no file in ``plugins/`` needed)."""

from __future__ import annotations

from typing import Any

from airflow.plugins_manager import AirflowPlugin

from saleslayer_airflow.ui.links import URL_PREFIX


class LazyApp:
    """An ASGI app that builds :func:`saleslayer_airflow.ui.app.create_app` on first request.

    Airflow loads plugins in every process, task processes included; building the web app there
    would import FastAPI and the API server's security stack for nothing.
    """

    def __init__(self) -> None:
        self._app: Any = None

    async def __call__(self, scope: Any, receive: Any, send: Any) -> None:
        if self._app is None:
            from saleslayer_airflow.ui.app import create_app

            self._app = create_app()
        await self._app(scope, receive, send)


class SalesLayerPlugin(AirflowPlugin):
    """Serves a connector run's report and rejects file on the API server under ``/saleslayer``.

    The tasks' extra links ("Run report", "Rejects file", "Ignored rows") point there. They need no
    registering here: Airflow 3 stores each link's URL in XCom when the task finishes and the
    serialized DAG names each link with its XCom key, which is all the API server reads to show
    them.
    """

    name = "saleslayer"
    fastapi_apps: list[Any] = [
        {"app": LazyApp(), "url_prefix": URL_PREFIX, "name": "Sales Layer run files"}
    ]
