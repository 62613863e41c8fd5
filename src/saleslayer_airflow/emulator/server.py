"""Running the emulator: in a background thread for tests, or in the foreground for the CLI.

Tests of any area start one with::

    from saleslayer_airflow.emulator.server import run_in_thread

    with run_in_thread(tmp_path / "sl.sqlite") as emulator:
        emulator.base_url        # "http://127.0.0.1:<port>"  (Import Connector API: POST /)
        emulator.rest_base_url   # "http://127.0.0.1:<port>/catalog/rest/Catalog/"
        emulator.update_settings({"faults": {"rest": {"script": ["429"]}}})
        emulator.dump("products")
"""

from __future__ import annotations

import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import uvicorn

from saleslayer_airflow.emulator.app import create_asgi, find_table
from saleslayer_airflow.emulator.catalog import dump_table
from saleslayer_airflow.emulator.settings import EmulatorSettings
from saleslayer_airflow.emulator.state import EmulatorState
from saleslayer_airflow.emulator.tenant import Tenant, load_tenant

TenantSource = Tenant | Path | str | None
SettingsSource = EmulatorSettings | dict[str, Any] | Path | str | None


def _tenant(source: TenantSource) -> Tenant:
    if isinstance(source, Tenant):
        return source
    return load_tenant(Path(source) if source is not None else None)


def _settings(source: SettingsSource) -> EmulatorSettings:
    from saleslayer_airflow.emulator.settings import load_settings

    if isinstance(source, EmulatorSettings):
        return source
    if isinstance(source, dict):
        return EmulatorSettings.model_validate(source)
    return load_settings(Path(source) if source is not None else None)


def make_server(
    data: Path | str,
    *,
    tenant: TenantSource = None,
    settings: SettingsSource = None,
    host: str = "127.0.0.1",
    port: int = 0,
    log_level: str = "warning",
) -> tuple[uvicorn.Server, EmulatorState]:
    """A configured (not yet started) uvicorn server and the emulator state behind it."""
    state = EmulatorState(_tenant(tenant), data, _settings(settings))
    config = uvicorn.Config(
        create_asgi(state),
        host=host,
        port=port,
        log_level=log_level,
        lifespan="on",
        http="h11",
        access_log=False,
        timeout_graceful_shutdown=1,
    )
    return uvicorn.Server(config), state


@dataclass
class RunningEmulator:
    """An emulator serving in a background thread; stop it with :meth:`stop`."""

    server: uvicorn.Server
    state: EmulatorState
    thread: threading.Thread
    port: int

    @property
    def base_url(self) -> str:
        """``http://127.0.0.1:<port>``: the Import Connector API host (``POST /``)."""
        return f"http://127.0.0.1:{self.port}"

    @property
    def rest_base_url(self) -> str:
        """The Catalog REST API v2 base, ending in ``/catalog/rest/Catalog/``."""
        return f"{self.base_url}/catalog/rest/Catalog/"

    def update_settings(self, patch: dict[str, Any]) -> EmulatorSettings:
        """Change settings in place (same as ``POST /_emulator/settings``)."""
        return self.state.update_settings(patch)

    def dump(self, table: str) -> list[dict[str, Any]]:
        """A table as it is now (same as ``GET /_emulator/tables/<table>``)."""
        spec = find_table(self.state, table)
        if spec is None:
            raise KeyError(f"the tenant has no table {table!r}")
        return dump_table(self.state.tenant, self.state.storage, spec)

    def reset(self) -> None:
        """Empty the store and restore the start settings (same as ``POST /_emulator/reset``)."""
        self.state.reset()

    def stats(self) -> dict[str, Any]:
        """Request counters (same as ``GET /_emulator/stats``)."""
        return self.state.stats.snapshot()

    def stop(self) -> None:
        """Stop serving, wait for the thread, close the store."""
        self.server.should_exit = True
        self.thread.join(timeout=10)
        self.state.close()


def start_in_thread(
    data: Path | str,
    *,
    tenant: TenantSource = None,
    settings: SettingsSource = None,
    port: int = 0,
    startup_timeout: float = 10.0,
) -> RunningEmulator:
    """Start an emulator on 127.0.0.1 (``port`` 0: a free port) and wait until it listens."""
    server, state = make_server(data, tenant=tenant, settings=settings, port=port)
    thread = threading.Thread(target=server.run, name="saleslayer-emulator", daemon=True)
    thread.start()
    deadline = time.monotonic() + startup_timeout
    while not server.started:
        if not thread.is_alive() or time.monotonic() > deadline:
            server.should_exit = True
            state.close()
            raise RuntimeError(f"the Sales Layer emulator did not start on 127.0.0.1:{port}")
        time.sleep(0.01)
    bound = server.servers[0].sockets[0].getsockname()[1]
    return RunningEmulator(server, state, thread, int(bound))


@contextmanager
def run_in_thread(
    data: Path | str,
    *,
    tenant: TenantSource = None,
    settings: SettingsSource = None,
    port: int = 0,
) -> Iterator[RunningEmulator]:
    """Context manager around :func:`start_in_thread` that always stops the emulator."""
    running = start_in_thread(data, tenant=tenant, settings=settings, port=port)
    try:
        yield running
    finally:
        running.stop()
