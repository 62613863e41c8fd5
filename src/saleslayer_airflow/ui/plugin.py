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


def _external_views() -> list[dict[str, str]]:
    """The pages in the Airflow UI: a navigation entry (the connectors overview), a tab on each
    DAG (its trends) and on each DAG run (its report), each shown in a frame (``url_route``).
    The UI fills in ``{DAG_ID}`` and ``{RUN_ID}``; ``[api] base_url``'s path is kept, so the
    pages also work when the UI is served below a path."""
    from saleslayer_airflow.ui.links import api_base_url

    pages = f"{api_base_url()}{URL_PREFIX}/pages"
    return [
        {
            "name": "Sales Layer",
            "href": f"{pages}/connectors",
            "destination": "nav",
            "url_route": "saleslayer-connectors",
        },
        {
            "name": "Sales Layer trends",
            "href": f"{pages}/connectors/{{DAG_ID}}/trends",
            "destination": "dag",
            "url_route": "saleslayer-trends",
        },
        {
            "name": "Sales Layer report",
            "href": f"{pages}/runs/{{DAG_ID}}/{{RUN_ID}}",
            "destination": "dag_run",
            "url_route": "saleslayer-report",
        },
    ]


class SalesLayerPlugin(AirflowPlugin):
    """The connector pages and each run's files, on the API server under ``/saleslayer``.

    The pages appear in the Airflow UI as external views (a "Sales Layer" navigation entry, a
    tab on DAGs and on DAG runs). The tasks' extra links ("Run report", "Rejects file", "Ignored
    rows") point at the run files. The links need no registering here: Airflow 3 stores each
    link's URL in XCom when the task finishes and the serialized DAG names each link with its
    XCom key, which is all the API server reads to show them.
    """

    name = "saleslayer"
    fastapi_apps: list[Any] = [
        {"app": LazyApp(), "url_prefix": URL_PREFIX, "name": "Sales Layer connectors"}
    ]
    external_views: list[Any] = _external_views()
