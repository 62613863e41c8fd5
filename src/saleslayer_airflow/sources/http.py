"""A file at a URL, streamed into staging through the Airflow HTTP provider's HttpHook.

The hook owns the connection (base URL, auth, headers and request options from its extras); this
module owns the request: GET, redirects followed, a read timeout, the body streamed chunk by chunk,
and the checks that tell an export from what is not one (an HTML error page, an empty body).
The JSON API source (:mod:`api`) sends its requests through the same :class:`HttpClient`.
"""

from __future__ import annotations

import contextlib
import posixpath
import re
from collections.abc import Iterator, Mapping
from datetime import datetime, timedelta
from email.utils import format_datetime, parsedate_to_datetime
from typing import TYPE_CHECKING, Any
from urllib.parse import urlsplit, urlunsplit

from saleslayer_airflow.config.sources import HttpSource
from saleslayer_airflow.sources.base import CHUNK, LandedFile, land_stream, landing_target
from saleslayer_airflow.sources.errors import (
    ExportMissingError,
    ExportUnchanged,
    NotAnExportError,
    SourceAuthError,
    SourceRequestError,
    TransientFetchError,
)

if TYPE_CHECKING:
    from saleslayer_airflow.import_history import RemoteState

#: Seconds allowed to open the TCP/TLS connection (the connector's `timeout` is the read timeout).
CONNECT_TIMEOUT = 30.0

_HTML_START = re.compile(rb"^\s*(<!doctype\s+html|<html|<head|<body)", re.I)
_TITLE = re.compile(rb"<title[^>]*>(.*?)</title>", re.I | re.S)


def public_url(url: str) -> str:
    """The URL without user info (``user:password@``), for logs, errors and XCom."""
    parts = urlsplit(url)
    if parts.username is None and parts.password is None:
        return url
    host = parts.hostname or ""
    netloc = f"{host}:{parts.port}" if parts.port else host
    return urlunsplit(parts._replace(netloc=netloc))


def looks_like_html(content_type: str, head: bytes) -> bool:
    """True for an HTML page: by its Content-Type, or by how its first bytes look."""
    media = content_type.split(";")[0].strip().lower()
    if media in {"text/html", "application/xhtml+xml"}:
        return True
    return bool(_HTML_START.match(head.lstrip(b"\xef\xbb\xbf")))


def html_title(head: bytes) -> str:
    """The page's <title>, if the first bytes hold one (for the error message)."""
    match = _TITLE.search(head)
    if not match:
        return ""
    return " ".join(match.group(1).decode("utf-8", "replace").split())[:120]


def status_error(status: int, reason: str, conn_id: str, url: str) -> Exception | None:
    """The fetch-stage error for an HTTP status, None for a success."""
    if 200 <= status < 300:
        return None
    what = f"{public_url(url)} answered {status} {reason}".strip()
    if status in {401, 403}:
        return SourceAuthError(conn_id, public_url(url), f"{status} {reason}".strip())
    if status in {404, 410}:
        return ExportMissingError(conn_id, public_url(url), f"{status} {reason}".strip())
    if status in {408, 425, 429} or status >= 500:
        return TransientFetchError(
            f"{what} (connection {conn_id!r}); the server is busy or failing. The task will retry"
        )
    return SourceRequestError(
        f"{what} (connection {conn_id!r}); check the endpoint, its parameters and the "
        "connection's host and schema (http/https)"
    )


class HttpClient:
    """GET requests through an HttpHook's session: streamed, redirects followed, timeouts set."""

    def __init__(self, conn_id: str, headers: dict[str, str], timeout: timedelta) -> None:
        from airflow.providers.http.hooks.http import HttpHook

        self.conn_id = conn_id
        self.hook = HttpHook(method="GET", http_conn_id=conn_id)
        self.session = self.hook.get_conn(headers=headers)
        self.session.stream = True
        self.timeout = (CONNECT_TIMEOUT, timeout.total_seconds())

    def url(self, endpoint: str) -> str:
        """The connection's base URL joined with ``endpoint``."""
        return str(self.hook.url_from_endpoint(endpoint))

    def get(
        self,
        url: str,
        params: dict[str, Any] | None = None,
        headers: dict[str, str] | None = None,
    ) -> Any:
        """Send a GET and return the (streamed) ``requests.Response``; network failures become
        TransientFetchError, an untrusted certificate or endless redirects SourceRequestError."""
        import requests

        request = requests.Request("GET", url, params=params, headers=headers)
        prepared = self.session.prepare_request(request)
        options = {"timeout": self.timeout, "check_response": False, "allow_redirects": True}
        try:
            return self.hook.run_and_check(self.session, prepared, options)
        except requests.exceptions.SSLError as exc:
            raise SourceRequestError(
                f"{public_url(url)}: TLS failed ({type(exc).__name__}); connection "
                f"{self.conn_id!r}: check the host name and the server's certificate, or the "
                "`verify` extra of the connection"
            ) from None
        except requests.exceptions.TooManyRedirects:
            raise SourceRequestError(
                f"{public_url(url)}: too many redirects (connection {self.conn_id!r}); check "
                "the endpoint and whether the server redirects to a login page"
            ) from None
        except requests.exceptions.Timeout:
            raise TransientFetchError(
                f"{public_url(url)}: no answer within {self.timeout[1]:.0f}s (connection "
                f"{self.conn_id!r}). The task will retry; raise the source's `timeout` if the "
                "ERP is slow to start sending"
            ) from None
        except requests.exceptions.RequestException as exc:
            raise TransientFetchError(
                f"{public_url(url)}: request failed ({type(exc).__name__}); connection "
                f"{self.conn_id!r}. The task will retry; if this persists check the host and port"
            ) from None

    def close(self) -> None:
        """Close the session's pooled connections."""
        self.session.close()


def body_chunks(response: Any, conn_id: str, url: str) -> Iterator[bytes]:
    """The response body in chunks; a connection dropped mid-body becomes TransientFetchError."""
    import requests

    received = 0
    try:
        for chunk in response.iter_content(chunk_size=CHUNK):
            received += len(chunk)
            yield chunk
    except (requests.exceptions.RequestException, OSError) as exc:
        raise TransientFetchError(
            f"{public_url(url)}: the connection broke after {received} bytes "
            f"({type(exc).__name__}); connection {conn_id!r}. The task will retry"
        ) from None


def _mtime(value: str | None) -> datetime | None:
    if not value:
        return None
    try:
        return parsedate_to_datetime(value)
    except (TypeError, ValueError):
        return None


def landed_name(endpoint: str, default: str = "export") -> str:
    """The landed file's name: the last segment of the endpoint's path."""
    name = posixpath.basename(urlsplit(endpoint).path.rstrip("/"))
    return name or default


def conditional_headers(before: RemoteState | None) -> dict[str, str]:
    """If-None-Match / If-Modified-Since from what the server said at the last import."""
    headers: dict[str, str] = {}
    if before is None:
        return headers
    if before.etag:
        headers["If-None-Match"] = before.etag
    if before.remote_mtime:
        with contextlib.suppress(ValueError):
            headers["If-Modified-Since"] = format_datetime(
                datetime.fromisoformat(before.remote_mtime), usegmt=True
            )
    return headers


def fetch_http(
    source: HttpSource, landed: Any, previous: Mapping[str, RemoteState] | None = None
) -> list[LandedFile]:
    """GET the export at ``source.endpoint`` (or each of ``source.files``) and stream it into
    ``landed`` (an ObjectStoragePath).

    With ``previous`` (the last import's files by URL; None when forced) each request is
    conditional; when every file answers 304 Not Modified, ExportUnchanged is raised and nothing
    was downloaded. When only some do, those are fetched again in full: a run imports all its
    files together.
    """
    wanted = list(source.files.items()) if source.files else [(None, source.endpoint or "")]
    client = HttpClient(source.conn_id, source.headers, source.timeout)
    try:
        urls = [client.url(endpoint) for _, endpoint in wanted]
        results: list[LandedFile | None] = []
        for (file, endpoint), url in zip(wanted, urls, strict=True):
            before = (previous or {}).get(public_url(url))
            results.append(_fetch_one(client, source, landed, file, endpoint, url, before))
        if all(r is None for r in results) and len(previous or {}) == len(wanted):
            raise ExportUnchanged(
                f"{', '.join(public_url(u) for u in urls)} (connection {source.conn_id!r}): "
                "304 Not Modified since the last import; nothing downloaded"
            )
        landed_files = []
        for (file, endpoint), url, result in zip(wanted, urls, results, strict=True):
            if result is None:
                result = _fetch_one(client, source, landed, file, endpoint, url, None)
            assert result is not None  # an unconditional GET never answers 304
            landed_files.append(result)
        return landed_files
    finally:
        client.close()


def _fetch_one(
    client: HttpClient,
    source: HttpSource,
    landed: Any,
    file: str | None,
    endpoint: str,
    url: str,
    before: RemoteState | None,
) -> LandedFile | None:
    """Land one file; None when the (conditional) request answered 304 Not Modified."""
    conditional = conditional_headers(before)
    response = client.get(url, headers=conditional or None)
    with response:
        if response.status_code == 304 and conditional:
            client.hook.log.info("%s: 304 Not Modified", public_url(url))
            return None
        if problem := status_error(response.status_code, response.reason, source.conn_id, url):
            raise problem.for_file(file) if isinstance(problem, ExportMissingError) else problem
        chunks = body_chunks(response, source.conn_id, url)
        head = next(chunks, b"")
        if not head:
            raise ExportMissingError(
                source.conn_id,
                public_url(url),
                f"{response.status_code} with an empty body",
                file=file,
            )
        if looks_like_html(response.headers.get("Content-Type", ""), head[:4096]):
            title = html_title(head[:4096])
            raise NotAnExportError(
                f"{public_url(url)} answered {response.status_code} with an HTML page"
                f"{f' ({title!r})' if title else ''} instead of the export (connection "
                f"{source.conn_id!r}); check the endpoint, and that the connection's "
                "credentials reach the file rather than a login or error page"
            )
        target = landing_target(landed, file, landed_name(endpoint))

        def body() -> Iterator[bytes]:
            yield head
            yield from chunks

        digest = land_stream(target, body())
        announced = response.headers.get("Content-Length")
        encoded = response.headers.get("Content-Encoding", "identity") != "identity"
        if announced and not encoded and int(announced) != digest.size:
            raise TransientFetchError(
                f"{public_url(url)}: received {digest.size} of {announced} bytes "
                f"(connection {source.conn_id!r}); the transfer was cut. The task will retry"
            )
        if response.history:
            hops = " -> ".join(public_url(r.url) for r in [*response.history, response])
            client.hook.log.info("Followed redirects: %s", hops)
        return LandedFile(
            path=str(target),
            name=target.name,
            source=public_url(url),
            size=digest.size,
            sha256=digest.sha256,
            remote_mtime=_mtime(response.headers.get("Last-Modified")),
            etag=response.headers.get("ETag"),
            file=file,
        )
