"""Real servers for the fetch tests, on 127.0.0.1 and free ports: HTTP (files and a paginated
JSON API with every pagination style), FTP and FTPS (pyftpdlib), SFTP (asyncssh)."""

from __future__ import annotations

import asyncio
import base64
import datetime as dt
import hashlib
import json
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from email.utils import format_datetime, parsedate_to_datetime
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs, urlsplit

USER = "erp"
PASSWORD = "S3cret-Passw0rd-4-tests"  # long enough for Airflow's masker; must never leak


# --------------------------------------------------------------------------------------- HTTP


@dataclass
class HttpState:
    """What the HTTP server serves, and what it saw."""

    files: dict[str, bytes] = field(default_factory=dict)
    mtime: dt.datetime = dt.datetime(2026, 11, 2, 5, 30, tzinfo=dt.UTC)
    records: list[dict[str, Any]] = field(default_factory=list)
    requests: list[str] = field(default_factory=list)
    fail_once: set[str] = field(default_factory=set)  # request paths+query answered 500 once
    slow_seconds: float = 3.0
    bodies: list[str] = field(default_factory=list)  # file paths answered 200 with the body
    not_modified: list[str] = field(default_factory=list)  # file paths answered 304
    conditional: list[dict[str, str]] = field(default_factory=list)  # If-* headers received
    lock: threading.Lock = field(default_factory=threading.Lock)

    def api_log(self, style: str) -> list[dict[str, list[str]]]:
        """Query strings of the API requests of one style, in order."""
        return [
            parse_qs(urlsplit(r).query)
            for r in self.requests
            if urlsplit(r).path == f"/api/{style}/items"
        ]


def _records_page(state: HttpState, query: dict[str, list[str]]) -> list[dict[str, Any]]:
    records = state.records
    if "updated_since" in query:
        since = query["updated_since"][0]
        records = [r for r in records if r["updated_at"] > since]
    return records


class _Handler(BaseHTTPRequestHandler):
    disable_nagle_algorithm = True
    protocol_version = "HTTP/1.1"
    state: HttpState

    def log_message(self, format: str, *args: Any) -> None:  # quiet
        pass

    def _send(self, status: int, body: bytes, headers: dict[str, str] | None = None) -> None:
        self.send_response(status)
        for name, value in {"Content-Length": str(len(body)), **(headers or {})}.items():
            self.send_header(name, value)
        self.end_headers()
        self.wfile.write(body)

    def _json(self, body: Any, headers: dict[str, str] | None = None) -> None:
        data = json.dumps(body).encode()
        self._send(200, data, {"Content-Type": "application/json", **(headers or {})})

    def _authorised(self) -> bool:
        expected = base64.b64encode(f"{USER}:{PASSWORD}".encode()).decode()
        return self.headers.get("Authorization") == f"Basic {expected}"

    def do_GET(self) -> None:
        state = self.state
        with state.lock:
            state.requests.append(self.path)
            if self.path in state.fail_once:
                state.fail_once.discard(self.path)
                self._send(500, b"boom", {"Content-Type": "text/plain"})
                return
        parts = urlsplit(self.path)
        path, query = parts.path, parse_qs(parts.query)
        if path.startswith("/private/") and not self._authorised():
            self._send(401, b"unauthorised", {"WWW-Authenticate": 'Basic realm="erp"'})
            return
        if path.startswith("/api/"):
            self._api(path.split("/")[2], query)
        elif path.startswith("/redirect/"):
            self._send(302, b"", {"Location": "/exports/" + path.removeprefix("/redirect/")})
        elif path == "/html":
            page = b"<!DOCTYPE html><html><head><title>Maintenance</title></head><body/></html>"
            self._send(200, page, {"Content-Type": "text/html; charset=utf-8"})
        elif path == "/empty":
            self._send(200, b"", {"Content-Type": "text/csv"})
        elif path == "/slow":
            time.sleep(state.slow_seconds)
            self._send(200, b"late\n")
        elif path == "/drop":
            self.send_response(200)
            self.send_header("Content-Length", "100000")
            self.end_headers()
            self.wfile.write(b"x" * 1000)
            self.wfile.flush()
            self.close_connection = True
        elif path.startswith("/big/"):
            self._big(int(path.removeprefix("/big/")))
        else:
            name = path.removeprefix("/private/").removeprefix("/exports/")
            if name not in state.files:
                self._send(404, b"not found", {"Content-Type": "text/plain"})
                return
            body = state.files[name]
            etag = f'"{len(body)}-{hashlib.sha256(body).hexdigest()[:12]}"'
            if self._not_modified(etag):
                with state.lock:
                    state.not_modified.append(path)
                self.send_response(304)
                self.send_header("ETag", etag)
                self.end_headers()
                return
            with state.lock:
                state.bodies.append(path)
            self._send(
                200,
                body,
                {
                    "Content-Type": "text/csv",
                    "ETag": etag,
                    "Last-Modified": format_datetime(state.mtime, usegmt=True),
                },
            )

    def _not_modified(self, etag: str) -> bool:
        """RFC 9110: If-None-Match decides when present, else If-Modified-Since."""
        sent = {k: v for k in ("If-None-Match", "If-Modified-Since") if (v := self.headers.get(k))}
        if sent:
            with self.state.lock:
                self.state.conditional.append(sent)
        if "If-None-Match" in sent:
            return etag in [t.strip() for t in sent["If-None-Match"].split(",")]
        if "If-Modified-Since" in sent:
            return self.state.mtime <= parsedate_to_datetime(sent["If-Modified-Since"])
        return False

    def _big(self, size: int) -> None:
        self.send_response(200)
        self.send_header("Content-Length", str(size))
        self.send_header("Content-Type", "text/csv")
        self.end_headers()
        block = (b"sku,name,price\n" + b"A" * 1009 + b"\n") * 64
        sent = 0
        while sent < size:
            chunk = block[: size - sent]
            self.wfile.write(chunk)
            sent += len(chunk)

    def _api(self, style: str, query: dict[str, list[str]]) -> None:
        records = _records_page(self.state, query)
        limit = int(query.get("limit", ["3"])[0])
        base = f"/api/{style}/items"
        if style == "page":
            start = (int(query["page"][0]) - 1) * limit
            self._json({"data": {"items": records[start : start + limit]}})
        elif style == "offset":
            start = int(query["offset"][0])
            self._json({"data": {"items": records[start : start + limit]}})
        elif style == "cursor":
            start = int(query.get("cursor", ["c0"])[0][1:])
            nxt = f"c{start + limit}" if start + limit < len(records) else None
            self._json({"data": {"items": records[start : start + limit], "next_cursor": nxt}})
        elif style in {"next_link", "link_header"}:
            start = int(query.get("start", ["0"])[0])
            following = None
            if start + limit < len(records):
                following = f"{base}?start={start + limit}&limit={limit}"
            page = records[start : start + limit]
            if style == "next_link":
                self._json({"items": page, "next": following})
            else:
                link = {"Link": f'<{following}>; rel="next"'} if following else {}
                self._json(page, link)
        elif style == "offsite":
            self._json({"items": [{"id": 1}], "next": "http://198.51.100.7/steal"})
        else:
            self._send(404, b"no such API", {"Content-Type": "text/plain"})


class HttpServer:
    """A threaded HTTP server on a free port."""

    def __init__(self) -> None:
        self.state = HttpState()
        handler = type("Handler", (_Handler,), {"state": self.state})
        self._server = ThreadingHTTPServer(("127.0.0.1", 0), handler)
        self._server.daemon_threads = True
        self.port = self._server.server_address[1]
        self._thread = threading.Thread(target=self._server.serve_forever, daemon=True)
        self._thread.start()

    def conn(self, *, login: bool = True) -> str:
        """The Airflow connection, JSON form."""
        body: dict[str, Any] = {"conn_type": "http", "host": "127.0.0.1", "port": self.port}
        if login:
            body.update(login=USER, password=PASSWORD)
        return json.dumps(body)

    def stop(self) -> None:
        self._server.shutdown()
        self._server.server_close()


# ------------------------------------------------------------------------------ FTP and FTPS


def make_certificate(folder: Path) -> Path:
    """A self-signed certificate for 127.0.0.1 and its key, in one PEM file."""
    import ipaddress

    from cryptography import x509
    from cryptography.hazmat.primitives import hashes, serialization
    from cryptography.hazmat.primitives.asymmetric import ec
    from cryptography.x509.oid import NameOID

    key = ec.generate_private_key(ec.SECP256R1())
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "127.0.0.1")])
    now = dt.datetime.now(dt.UTC)
    cert = (
        x509.CertificateBuilder()
        .subject_name(name)
        .issuer_name(name)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - dt.timedelta(days=1))
        .not_valid_after(now + dt.timedelta(days=2))
        .add_extension(
            x509.SubjectAlternativeName([x509.IPAddress(ipaddress.ip_address("127.0.0.1"))]),
            critical=False,
        )
        .add_extension(x509.BasicConstraints(ca=True, path_length=None), critical=True)
        .sign(key, hashes.SHA256())
    )
    path = folder / "server.pem"
    path.write_bytes(
        cert.public_bytes(serialization.Encoding.PEM)
        + key.private_bytes(
            serialization.Encoding.PEM,
            serialization.PrivateFormat.PKCS8,
            serialization.NoEncryption(),
        )
    )
    return path


class FtpServer:
    """pyftpdlib in a thread, serving ``root`` read-only to USER/PASSWORD; TLS with ``certfile``.

    ``truncate`` holds names whose RETR stops half-way while SIZE reports the whole file (what a
    client sees when the data connection is cut).
    """

    def __init__(self, root: Path, certfile: Path | None = None) -> None:
        from pyftpdlib.authorizers import DummyAuthorizer
        from pyftpdlib.filesystems import AbstractedFS
        from pyftpdlib.handlers import FTPHandler, TLS_FTPHandler
        from pyftpdlib.ioloop import IOLoop
        from pyftpdlib.servers import FTPServer

        self.root = root
        self.truncate: set[str] = set()
        truncate = self.truncate
        self.retrieved: list[str] = []  # paths of the RETR commands received
        self.looks: list[str] = []  # paths of the SIZE commands received (each look at a file)
        retrieved, looks = self.retrieved, self.looks

        class _FS(AbstractedFS):  # type: ignore[misc]
            def open(self, filename: str, mode: str) -> Any:
                handle = super().open(filename, mode)
                if Path(filename).name not in truncate:
                    return handle
                data = handle.read()
                handle.close()
                import io

                cut = io.BytesIO(data[: len(data) // 2])
                cut.name = filename
                return cut

        authorizer = DummyAuthorizer()
        authorizer.add_user(USER, PASSWORD, str(root), perm="elr")
        base = TLS_FTPHandler if certfile else FTPHandler
        attrs: dict[str, Any] = {
            "authorizer": authorizer,
            "abstracted_fs": _FS,
            "auth_failed_timeout": 0.01,
        }
        if certfile:
            attrs.update(certfile=str(certfile), tls_control_required=True, tls_data_required=True)

        def ftp_path(path: str) -> str:  # pyftpdlib hands over the path on disk
            return "/" + Path(path).relative_to(root).as_posix()

        def ftp_RETR(handler: Any, file: str) -> Any:
            retrieved.append(ftp_path(file))
            return base.ftp_RETR(handler, file)

        def ftp_SIZE(handler: Any, path: str) -> Any:
            looks.append(ftp_path(path))
            return base.ftp_SIZE(handler, path)

        attrs.update(ftp_RETR=ftp_RETR, ftp_SIZE=ftp_SIZE)
        handler = type("Handler", (base,), attrs)
        # One async server with its own IOLoop: pyftpdlib's default IOLoop is one per process,
        # and ThreadedFTPServer keeps its stop event on the class, so stopping one server would
        # make the next test's server drop every session at once.
        self._server = FTPServer(("127.0.0.1", 0), handler, ioloop=IOLoop())
        self.port = self._server.socket.getsockname()[1]
        self._thread = threading.Thread(
            target=self._server.serve_forever, kwargs={"timeout": 0.1}, daemon=True
        )
        self._thread.start()

    def conn(self, password: str = PASSWORD, kind: str = "ftp") -> str:
        return json.dumps(
            {
                "conn_type": kind,
                "host": "127.0.0.1",
                "port": self.port,
                "login": USER,
                "password": password,
                "extra": {"passive": True},
            }
        )

    def stop(self) -> None:
        self._server.close_all()
        self._thread.join(timeout=10)


# --------------------------------------------------------------------------------------- SFTP


class SftpServer:
    """An asyncssh SFTP server (password auth) in a thread with its own event loop."""

    def __init__(self, root: Path) -> None:
        import asyncssh

        self.root = root
        #: file name -> bytes: the next download of that file is cut (the SSH connection is
        #: closed) once that many bytes were sent; one time only.
        self.drop_after: dict[str, int] = {}
        self.opened: list[str] = []  # files opened for reading (each download opens once)
        self.dropped: list[str] = []
        drop_after, opened, dropped = self.drop_after, self.opened, self.dropped
        self._loop = asyncio.new_event_loop()
        self._thread = threading.Thread(target=self._loop.run_forever, daemon=True)
        self._thread.start()

        class _Server(asyncssh.SSHServer):  # type: ignore[misc]
            def begin_auth(self, username: str) -> bool:
                return True

            def password_auth_supported(self) -> bool:
                return True

            def validate_password(self, username: str, password: str) -> bool:
                return username == USER and password == PASSWORD

        class _Sftp(asyncssh.SFTPServer):  # type: ignore[misc]
            def open(self, path: bytes, pflags: int, attrs: Any) -> Any:
                handle = super().open(path, pflags, attrs)
                name = Path(path.decode()).name
                opened.append(name)
                self._names = {**getattr(self, "_names", {}), id(handle): name}
                return handle

            def read(self, file_obj: Any, offset: int, size: int) -> Any:
                name = getattr(self, "_names", {}).get(id(file_obj))
                limit = drop_after.get(name) if name else None
                if limit is not None and offset + size > limit:
                    del drop_after[name]
                    dropped.append(name)
                    # Drop the whole SSH connection, as a network cut or a server restart does.
                    self.connection.abort()
                    return b""
                return super().read(file_obj, offset, size)

        def sftp(chan: Any) -> Any:
            return _Sftp(chan, chroot=str(root).encode())

        async def start() -> Any:
            key = asyncssh.generate_private_key("ssh-ed25519")
            return await asyncssh.listen(
                "127.0.0.1",
                0,
                server_factory=_Server,
                server_host_keys=[key],
                sftp_factory=sftp,
                allow_scp=False,
            )

        self._server = asyncio.run_coroutine_threadsafe(start(), self._loop).result(timeout=30)
        self.port = self._server.sockets[0].getsockname()[1]

    def conn(self, password: str = PASSWORD) -> str:
        return json.dumps(
            {
                "conn_type": "sftp",
                "host": "127.0.0.1",
                "port": self.port,
                "login": USER,
                "password": password,
                "extra": {"no_host_key_check": True, "look_for_keys": False},
            }
        )

    def stop(self) -> None:
        async def close() -> None:
            self._server.close()
            await self._server.wait_closed()

        asyncio.run_coroutine_threadsafe(close(), self._loop).result(timeout=30)
        self._loop.call_soon_threadsafe(self._loop.stop)
        self._thread.join(timeout=10)


def grow(path: Path, until: threading.Event, every: float = 0.05) -> threading.Thread:
    """Append a line to ``path`` every ``every`` seconds until ``until`` is set."""

    def run() -> None:
        with path.open("ab") as handle:
            while not until.is_set():
                handle.write(b"more,rows\n")
                handle.flush()
                time.sleep(every)

    thread = threading.Thread(target=run, daemon=True)
    thread.start()
    return thread


Starter = Callable[[], Any]
