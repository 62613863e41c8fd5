"""Fixtures of the UI tests: the package's Airflow plugin loaded as Airflow loads it, Airflow's
own API server app (in process, over Starlette's TestClient) and a token for it, and the
end-to-end world (FTP server, Sales Layer emulator) of tests/e2e."""

from __future__ import annotations

from collections.abc import Iterator
from importlib.metadata import entry_points
from typing import Any

import pytest

from tests.e2e.conftest import world  # noqa: F401  (the FTP + emulator fixture, reused)

PLUGIN_CLASS = "saleslayer_airflow.ui.plugin:SalesLayerPlugin"


def _entry_point_installed() -> bool:
    return any(ep.value == PLUGIN_CLASS for ep in entry_points(group="airflow.plugins"))


def _clear_plugin_caches() -> None:
    from airflow import plugins_manager

    for name in dir(plugins_manager):
        cached = getattr(plugins_manager, name)
        if callable(getattr(cached, "cache_clear", None)):
            cached.cache_clear()


@pytest.fixture
def plugin_loaded(monkeypatch: pytest.MonkeyPatch) -> Iterator[None]:
    """Airflow's plugin manager sees the package's plugin as an `airflow.plugins` entry point.

    Until pyproject.toml declares the entry point (and the package is reinstalled), the test
    adds the plugin to what Airflow's entry-point loader returns: the same path as the real one.
    """
    from airflow import plugins_manager

    if not _entry_point_installed():
        from saleslayer_airflow.ui.plugin import SalesLayerPlugin

        original = plugins_manager._load_entrypoint_plugins

        def with_ours() -> tuple[list[Any], dict[str, str]]:
            plugins, errors = original()
            return [*plugins, SalesLayerPlugin()], errors

        monkeypatch.setattr(plugins_manager, "_load_entrypoint_plugins", with_ours)
    _clear_plugin_caches()
    yield
    monkeypatch.undo()
    _clear_plugin_caches()


@pytest.fixture
def api(plugin_loaded: None, airflow_db: str) -> Iterator[Any]:
    """Airflow's API server app (REST API, UI routes, plugins), in process."""
    from airflow.api_fastapi.app import create_app
    from fastapi.testclient import TestClient

    with TestClient(create_app(), base_url="http://airflow.test") as client:
        yield client


def token(role: str | None = "viewer", username: str = "someone") -> str:
    """A JWT of Airflow's simple auth manager, as the UI holds in its session cookie."""
    from airflow.api_fastapi.app import get_auth_manager
    from airflow.api_fastapi.auth.managers.simple.user import SimpleAuthManagerUser

    user = SimpleAuthManagerUser(username=username, role=role)
    return str(get_auth_manager().generate_jwt(user))


def bearer(role: str | None = "viewer") -> dict[str, str]:
    return {"Authorization": f"Bearer {token(role)}"}
