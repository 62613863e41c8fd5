"""The demo's local servers, all in one process on 127.0.0.1: the Sales Layer emulator, an FTP
server (pyftpdlib) and an HTTP server serving export files, and a paginated ERP API.

Each starts on the port it is given (the ports of ``airflow_settings.yaml`` for ``make demo``) or
on a free one (port 0, for tests), and :class:`DemoServers` gives the Airflow connections, as
``AIRFLOW_CONN_*`` values, that point at them.
"""

from __future__ import annotations

import json
import threading
from dataclasses import dataclass, field
from datetime import UTC, datetime
from functools import partial
from http.server import BaseHTTPRequestHandler, SimpleHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs, urlsplit

#: The emulator's default tenant holds these test credentials (docs/emulator.md); never real ones.
EMULATOR_CODE = "CN123TEST"
EMULATOR_KEY = "pk-S3cret-Private-Key-4-tests"
FTP_USER = "erp"
#: The demo FTP server's throw-away password (airflow_settings.yaml declares it too).
FTP_PASSWORD = "demo-ftp-password"


@dataclass(frozen=True)
class Ports:
    """Where each server listens; 0 picks a free port."""

    emulator: int = 0
    ftp: int = 0
    http: int = 0
    api: int = 0


def busy_ports(ports: Ports) -> list[int]:
    """The fixed ports of ``ports`` that something else on this machine already listens on."""
    import socket

    busy = []
    for port in (ports.emulator, ports.ftp, ports.http, ports.api):
        if not port:
            continue
        with socket.socket() as probe:
            # Like the servers themselves: a port left in TIME_WAIT by a previous run is free.
            probe.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
            try:
                probe.bind(("127.0.0.1", port))
            except OSError:
                busy.append(port)
    return busy


class _QuietHandler(SimpleHTTPRequestHandler):
    def log_message(self, format: str, *args: Any) -> None:
        """Requests are not logged: the demo prints its own summary."""


def _http_server(handler: Any, port: int) -> ThreadingHTTPServer:
    server = ThreadingHTTPServer(("127.0.0.1", port), handler)
    server.daemon_threads = True
    threading.Thread(target=server.serve_forever, name=f"demo-http-{port}", daemon=True).start()
    return server


# ------------------------------------------------------------------------------- the ERP API


@dataclass
class ErpApiState:
    """The ERP's items as the API serves them now, each stamped with when it last changed."""

    items: list[dict[str, Any]] = field(default_factory=list)
    lock: threading.Lock = field(default_factory=threading.Lock)

    def publish(self, records: list[dict[str, Any]], now: datetime | None = None) -> int:
        """Replace the items; records whose content changed get ``updated_at`` = now (UTC).

        Returns how many records changed. Items no longer listed disappear from the API (an
        incremental client never hears of them, as with a real ERP API).
        """
        stamp = (now or datetime.now(UTC)).strftime("%Y-%m-%dT%H:%M:%S.%fZ")
        with self.lock:
            before = {item["item_code"]: item for item in self.items}
            published, changed = [], 0
            for record in records:
                old = before.get(record["item_code"])
                if (
                    old is not None
                    and {k: v for k, v in old.items() if k != "updated_at"} == record
                ):
                    published.append(old)
                else:
                    published.append({**record, "updated_at": stamp})
                    changed += 1
            self.items = published
        return changed

    def page(self, query: dict[str, list[str]]) -> dict[str, Any]:
        """One page of ``GET /v1/items``: cursor pagination, ``limit``, ``updated_since``."""
        with self.lock:
            items = list(self.items)
        if "updated_since" in query:
            since = _parse_instant(query["updated_since"][0])
            items = [item for item in items if _parse_instant(item["updated_at"]) > since]
        if query.get("status", ["active"])[0] != "active":
            items = []
        limit = max(1, min(int(query.get("limit", ["100"])[0]), 1000))
        start = int(query.get("cursor", ["0"])[0] or 0)
        end = start + limit
        following = str(end) if end < len(items) else None
        return {"data": {"items": items[start:end], "next_cursor": following}}


def _parse_instant(text: str) -> datetime:
    value = datetime.fromisoformat(text.replace("Z", "+00:00"))
    return value if value.tzinfo else value.replace(tzinfo=UTC)


class _ApiHandler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    state: ErpApiState

    def log_message(self, format: str, *args: Any) -> None:
        """Requests are not logged: the demo prints its own summary."""

    def do_GET(self) -> None:
        """``GET /v1/items``; anything else is 404."""
        parts = urlsplit(self.path)
        if parts.path.rstrip("/") != "/v1/items":
            self._send(404, {"error": f"no route {parts.path}"})
            return
        try:
            body = self.state.page(parse_qs(parts.query))
        except ValueError as exc:
            self._send(400, {"error": str(exc)})
            return
        self._send(200, body)

    def _send(self, status: int, body: Any) -> None:
        data = json.dumps(body).encode()
        self.send_response(status)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(data)))
        self.end_headers()
        self.wfile.write(data)


# ------------------------------------------------------------------------------------ FTP


class _FtpServer:
    """pyftpdlib serving ``root`` read-only to the demo user, in a thread with its own IOLoop."""

    def __init__(self, root: Path, port: int) -> None:
        from pyftpdlib.authorizers import DummyAuthorizer
        from pyftpdlib.handlers import FTPHandler
        from pyftpdlib.ioloop import IOLoop
        from pyftpdlib.servers import FTPServer

        authorizer = DummyAuthorizer()
        authorizer.add_user(FTP_USER, FTP_PASSWORD, str(root), perm="elr")
        handler = type("DemoFtpHandler", (FTPHandler,), {"authorizer": authorizer})
        # Its own IOLoop: pyftpdlib's default one is shared by every server of the process.
        self._server = FTPServer(("127.0.0.1", port), handler, ioloop=IOLoop())
        self.port = int(self._server.socket.getsockname()[1])
        self._thread = threading.Thread(
            target=self._server.serve_forever, kwargs={"timeout": 0.1}, daemon=True
        )
        self._thread.start()

    def stop(self) -> None:
        self._server.close_all()
        self._thread.join(timeout=10)


# -------------------------------------------------------------------------------- together


class DemoServers:
    """Every server of the demo, started together; use as a context manager or call stop()."""

    def __init__(self, folder: Path, ports: Ports | None = None) -> None:
        import logging

        from saleslayer_airflow.emulator.server import start_in_thread

        ports = ports or Ports()
        # A handler of its own keeps pyftpdlib from logging every FTP command to stderr.
        ftp_log = logging.getLogger("pyftpdlib")
        ftp_log.setLevel(logging.WARNING)
        if not ftp_log.handlers:
            ftp_log.addHandler(logging.NullHandler())
        self.ftp_root = folder / "ftp"
        self.http_root = folder / "http"
        for path in (self.ftp_root, self.http_root):
            path.mkdir(parents=True, exist_ok=True)
        self.api = ErpApiState()
        self._stops: list[Any] = []
        try:
            # No tracking delay: an import job ends at its first status poll.
            self.emulator = start_in_thread(
                folder / "saleslayer.sqlite",
                settings={"tracking": {"seconds_per_step": 0}},
                port=ports.emulator,
            )
            self._stops.append(self.emulator.stop)
            self.ftp = _FtpServer(self.ftp_root, ports.ftp)
            self._stops.append(self.ftp.stop)
            files = _http_server(partial(_QuietHandler, directory=str(self.http_root)), ports.http)
            self._stops.append(_shutdown(files))
            self.http_port = int(files.server_address[1])
            api = _http_server(
                type("DemoApiHandler", (_ApiHandler,), {"state": self.api}), ports.api
            )
            self._stops.append(_shutdown(api))
            self.api_port = int(api.server_address[1])
        except BaseException:
            self.stop()
            raise

    def connections(self) -> dict[str, str]:
        """``AIRFLOW_CONN_<ID>`` environment values for the connections the examples name."""

        def http(port: int) -> str:
            return json.dumps({"conn_type": "http", "host": "127.0.0.1", "port": port,
                               "schema": "http"})  # fmt: skip

        return {
            "AIRFLOW_CONN_ERP_HTTP": http(self.http_port),
            "AIRFLOW_CONN_ERP_API": http(self.api_port),
            "AIRFLOW_CONN_ERP_FTP": json.dumps(
                {
                    "conn_type": "ftp",
                    "host": "127.0.0.1",
                    "port": self.ftp.port,
                    "login": FTP_USER,
                    "password": FTP_PASSWORD,
                    "extra": {"passive": True},
                }
            ),
            "AIRFLOW_CONN_SALESLAYER_DEFAULT": json.dumps(
                {
                    "conn_type": "saleslayer",
                    "host": self.emulator.base_url,
                    "login": EMULATOR_CODE,
                    "password": EMULATOR_KEY,
                }
            ),
        }

    def describe(self) -> list[str]:
        """One line per server, for the demo's output (no secrets)."""
        return [
            f"Sales Layer emulator  {self.emulator.base_url}  (connector code {EMULATOR_CODE})",
            f"FTP (pyftpdlib)       ftp://127.0.0.1:{self.ftp.port}/  root {self.ftp_root}",
            f"HTTP exports          http://127.0.0.1:{self.http_port}/  root {self.http_root}",
            f"ERP API               http://127.0.0.1:{self.api_port}/v1/items  (cursor, "
            "updated_since)",
        ]

    def stop(self) -> None:
        """Stop every server that started, last first."""
        while self._stops:
            self._stops.pop()()

    def __enter__(self) -> DemoServers:
        return self

    def __exit__(self, *exc: object) -> None:
        self.stop()


def _shutdown(server: ThreadingHTTPServer) -> Any:
    def stop() -> None:
        server.shutdown()
        server.server_close()

    return stop
