"""A paginated JSON API of the ERP, landed as one JSON Lines file (one record per line).

Pagination styles (``source.pagination.style``):

- ``page``: ``?page=1&limit=100``, then 2, 3, ... until a page holds fewer than ``page_size``.
- ``offset``: ``?offset=0&limit=100``, then 100, 200, ... with the same stop rule.
- ``cursor``: the body holds the next cursor (``cursor_path``), sent back as ``cursor_param``;
  an empty or missing cursor ends the listing.
- ``next_link``: the body holds the next page's URL (``next_link_path``), absolute or relative.
- ``link_header``: the ``Link: <...>; rel="next"`` response header holds it (RFC 8288).

Every page is written to its own part file under ``<run folder>/fetch_pages/`` and a checkpoint
(pages done, records, the next request) is saved after each page, so a retried task resumes
after the last landed page. When the listing ends the parts are joined, streaming, into
``landed/<name>.jsonl``. Next links must stay on the connection's host: the session carries the
connection's credentials, which must not be sent anywhere else.
"""

from __future__ import annotations

import json
import time
from collections.abc import Callable, Iterator
from dataclasses import asdict, dataclass, field
from typing import Any, Protocol
from urllib.parse import urljoin, urlsplit

from saleslayer_airflow.config.sources import ApiSource, Pagination, PaginationStyle
from saleslayer_airflow.sources.base import LandedFile, land_stream
from saleslayer_airflow.sources.errors import (
    ApiResponseError,
    ExportMissingError,
    NotAnExportError,
)
from saleslayer_airflow.sources.http import (
    HttpClient,
    landed_name,
    looks_like_html,
    public_url,
    status_error,
)

#: Waits on a 429 inside the task before leaving it to Airflow's retries.
MAX_429_WAITS = 3
MAX_RETRY_AFTER = 60.0


@dataclass(frozen=True)
class PageRequest:
    """The request for one page: a URL and its query parameters (JSON-serialisable)."""

    url: str
    params: dict[str, Any] = field(default_factory=dict)


def value_at(body: Any, path: str) -> Any:
    """The value at a dotted path ('data.items'; '' is the body itself); None when absent."""
    value = body
    for key in [p for p in path.split(".") if p]:
        if isinstance(value, dict):
            value = value.get(key)
        elif isinstance(value, list) and key.isdigit() and int(key) < len(value):
            value = value[int(key)]
        else:
            return None
    return value


def records_at(body: Any, path: str, url: str) -> list[Any]:
    """The list of records of a page, or ApiResponseError saying what the page holds instead."""
    records = value_at(body, path)
    if isinstance(records, list):
        return records
    keys = sorted(body) if isinstance(body, dict) else type(body).__name__
    raise ApiResponseError(
        f"{public_url(url)}: no list of records at records_path {path or '(the body)'!r}; "
        f"the page holds {keys}. Check `records_path` in the connector's source"
    )


def next_link_from_header(header: str | None) -> str | None:
    """The ``rel="next"`` target of an RFC 8288 Link header, if any."""
    for part in (header or "").split(","):
        target, _, attributes = part.partition(";")
        target = target.strip()
        if not (target.startswith("<") and target.endswith(">")):
            continue
        for attribute in attributes.split(";"):
            name, _, value = attribute.strip().partition("=")
            if name.strip().lower() == "rel" and "next" in value.strip().strip('"').split():
                return target[1:-1]
    return None


def first_request(
    pagination: Pagination, url: str, params: dict[str, Any], since: str | None, since_param: str
) -> PageRequest:
    """The request for the first page."""
    query = {**params}
    if since is not None:
        query[since_param] = since
    query[pagination.size_param] = pagination.page_size
    if pagination.style is PaginationStyle.PAGE:
        query[pagination.page_param] = pagination.first_page
    elif pagination.style is PaginationStyle.OFFSET:
        query[pagination.offset_param] = 0
    return PageRequest(url, query)


def next_request(
    pagination: Pagination,
    current: PageRequest,
    body: Any,
    records: list[Any],
    link_header: str | None,
) -> PageRequest | None:
    """The request for the page after ``current``, or None when the listing has ended."""
    style = pagination.style
    if style in {PaginationStyle.PAGE, PaginationStyle.OFFSET}:
        if len(records) < pagination.page_size:
            return None
        if style is PaginationStyle.PAGE:
            page = int(current.params[pagination.page_param]) + 1
            return PageRequest(current.url, {**current.params, pagination.page_param: page})
        offset = int(current.params[pagination.offset_param]) + len(records)
        return PageRequest(current.url, {**current.params, pagination.offset_param: offset})
    if style is PaginationStyle.CURSOR:
        cursor = value_at(body, pagination.cursor_path)
        if cursor in (None, "") or not records:
            return None
        if current.params.get(pagination.cursor_param) == cursor:
            raise ApiResponseError(
                f"{public_url(current.url)}: the API returned the cursor it was sent "
                f"({pagination.cursor_path!r}); the listing would never end. Check `cursor_path`"
            )
        return PageRequest(current.url, {**current.params, pagination.cursor_param: cursor})
    if style is PaginationStyle.NEXT_LINK:
        link = value_at(body, pagination.next_link_path)
    else:
        link = next_link_from_header(link_header)
    if not link or not isinstance(link, str):
        return None
    target = urljoin(current.url, link)
    if target == current.url and not current.params:
        raise ApiResponseError(
            f"{public_url(current.url)}: the next link points at the same page; the listing "
            "would never end"
        )
    return PageRequest(target, {})


def check_same_origin(base_url: str, url: str, conn_id: str) -> None:
    """Refuse next links to another host: the session would send it the connection's secrets."""
    base, other = urlsplit(base_url), urlsplit(url)
    if (base.scheme, base.netloc) != (other.scheme, other.netloc):
        raise ApiResponseError(
            f"the API's next link leads to another host ({public_url(url)}, not "
            f"{public_url(base_url)}); connection {conn_id!r}: requests stop here so the "
            "connection's credentials are not sent there. Point the connection at that host"
        )


class RateLimiter:
    """At most ``per_second`` requests per second (client side; None = unlimited)."""

    def __init__(
        self,
        per_second: float | None,
        *,
        clock: Callable[[], float] = time.monotonic,
        sleep: Callable[[float], None] = time.sleep,
    ) -> None:
        self.interval = 1.0 / per_second if per_second else 0.0
        self._clock, self._sleep = clock, sleep
        self._next = 0.0

    def wait(self) -> None:
        """Block until the next request may go."""
        now = self._clock()
        if now < self._next:
            self._sleep(self._next - now)
            now = self._next
        self._next = now + self.interval


class Checkpoint(Protocol):
    """Where the page checkpoint of a task survives its retries (Airflow's task state store)."""

    def get(self, key: str, default: Any = None) -> Any: ...

    def set(self, key: str, value: Any) -> None: ...

    def delete(self, key: str) -> None: ...


CHECKPOINT_KEY = "api_pages"


class _Pages:
    """The part files of the pages landed so far, and the checkpoint that describes them."""

    def __init__(self, folder: Any, checkpoint: Checkpoint, base_url: str) -> None:
        self.folder, self.checkpoint, self.base_url = folder, checkpoint, base_url

    def resume(self) -> tuple[int, int, PageRequest | None] | None:
        saved = self.checkpoint.get(CHECKPOINT_KEY)
        if not isinstance(saved, dict) or saved.get("base_url") != self.base_url:
            return None
        pages = int(saved["pages"])
        if not all(self.part(n).exists() for n in range(1, pages + 1)):
            return None
        following = saved.get("next")
        return pages, int(saved["records"]), PageRequest(**following) if following else None

    def part(self, number: int) -> Any:
        return self.folder / f"{number:06d}.jsonl"

    def write(self, number: int, records: list[Any]) -> None:
        lines = (json.dumps(r, ensure_ascii=False, separators=(",", ":")) + "\n" for r in records)
        land_stream(self.part(number), (line.encode("utf-8") for line in lines))

    def save(self, pages: int, records: int, following: PageRequest | None) -> None:
        state = {"base_url": self.base_url, "pages": pages, "records": records}
        self.checkpoint.set(CHECKPOINT_KEY, {**state, "next": following and asdict(following)})

    def joined(self, pages: int) -> Iterator[bytes]:
        for number in range(1, pages + 1):
            with self.part(number).open("rb") as part:
                while chunk := part.read(1024 * 1024):
                    yield chunk

    def discard(self) -> None:
        if self.folder.exists():
            for part in self.folder.iterdir():
                part.unlink()
            self.folder.rmdir()
        self.checkpoint.delete(CHECKPOINT_KEY)


def _page(client: HttpClient, request: PageRequest, sleep: Callable[[float], None]) -> Any:
    """One page's response, waiting out a few 429s (Retry-After) before giving up."""
    for attempt in range(MAX_429_WAITS + 1):
        response = client.get(request.url, request.params)
        if response.status_code != 429 or attempt == MAX_429_WAITS:
            return response
        retry_after = response.headers.get("Retry-After", "")
        delay = float(retry_after) if retry_after.replace(".", "", 1).isdigit() else 2.0**attempt
        response.close()
        sleep(min(delay, MAX_RETRY_AFTER))
    raise AssertionError("unreachable")


def _json_body(response: Any, conn_id: str, url: str) -> Any:
    with response:
        if problem := status_error(response.status_code, response.reason, conn_id, url):
            raise problem
        content = response.content
    try:
        return json.loads(content)
    except RecursionError:
        # A page is one JSON document: its records cannot be told apart without parsing it, so
        # the page is refused as a whole (terminal: a retry would get the same answer).
        raise ApiResponseError(
            f"{public_url(url)} answered a page nested too deeply to read ({len(content)} bytes; "
            f"connection {conn_id!r}); nothing was imported from this run. Ask the API's owner "
            "which record is malformed, or limit the page to well-formed records"
        ) from None
    except ValueError:
        if looks_like_html(response.headers.get("Content-Type", ""), content[:4096]):
            raise NotAnExportError(
                f"{public_url(url)} answered {response.status_code} with an HTML page instead of "
                f"JSON (connection {conn_id!r}); check the endpoint and the connection's token"
            ) from None
        raise ApiResponseError(
            f"{public_url(url)} answered {response.status_code} with a body that is not JSON "
            f"({len(content)} bytes; connection {conn_id!r}); check the endpoint"
        ) from None


def fetch_api(
    source: ApiSource,
    landed: Any,
    pages_folder: Any,
    checkpoint: Checkpoint,
    *,
    since: str | None = None,
    log: Callable[[str], None] = print,
    clock: Callable[[], float] = time.monotonic,
    sleep: Callable[[float], None] = time.sleep,
) -> list[LandedFile]:
    """Page through the API into ``landed/<name>.jsonl``; resume from ``checkpoint`` if a previous
    attempt of this task landed pages already. ``since`` is the incremental parameter's value."""
    client = HttpClient(source.conn_id, source.headers, source.timeout)
    limiter = RateLimiter(source.requests_per_second, clock=clock, sleep=sleep)
    try:
        base_url = client.url(source.endpoint)
        pages = _Pages(pages_folder, checkpoint, base_url)
        resumed = pages.resume()
        if resumed:
            done, total, request = resumed
            log(f"Resuming after page {done} ({total} records already landed)")
        else:
            done, total = 0, 0
            since_param = source.incremental.param if source.incremental else ""
            request = first_request(source.pagination, base_url, source.params, since, since_param)
        while request is not None:
            check_same_origin(base_url, request.url, source.conn_id)
            limiter.wait()
            response = _page(client, request, sleep)
            link_header = response.headers.get("Link")
            body = _json_body(response, source.conn_id, request.url)
            records = records_at(body, source.records_path, request.url)
            following = next_request(source.pagination, request, body, records, link_header)
            done += 1
            total += len(records)
            pages.write(done, records)
            pages.save(done, total, following)
            request = following
        if total == 0:
            pages.discard()
            raise ExportMissingError(source.conn_id, public_url(base_url), "no records")
        target = landed / f"{landed_name(source.endpoint, 'records')}.jsonl"
        digest = land_stream(target, pages.joined(done))
        log(f"Landed {total} records from {done} pages")
        pages.discard()
        return [
            LandedFile(
                path=str(target),
                name=target.name,
                source=public_url(base_url),
                size=digest.size,
                sha256=digest.sha256,
            )
        ]
    finally:
        client.close()
