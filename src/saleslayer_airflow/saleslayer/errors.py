"""Turn Sales Layer's answers into transient or terminal errors with actionable messages.

Classification: the Import Connector API's error codes 10, 11 and 14, timeouts, dropped
connections, HTTP 5xx, 408, 409, 425 and 429 can pass by themselves (transient, retried); every
other code or status needs a person to change the connection or the data (terminal).
"""

from __future__ import annotations

import email.utils
import json
import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime

import httpx

from saleslayer_airflow.exceptions import (
    SalesLayerApiError,
    SalesLayerNoAnswerError,
    SalesLayerTerminalError,
    SalesLayerTransientError,
)
from saleslayer_airflow.saleslayer.credentials import safe_url

_CHECK_KEY = (
    "check the connection's password: it must be the private key of the Import Connector whose "
    "code is the connection's login"
)
_CHECK_CLOCK = (
    "the signature's time was refused: check that the worker's clock is right (NTP) and that "
    "nothing delays requests for minutes"
)


@dataclass(frozen=True)
class LegacyCode:
    """One error code of the Import Connector API: meaning, class and what to check."""

    code: int
    meaning: str
    transient: bool
    check: str


#: Codes 1-14 as the official PHP SDK lists them, with what each asks of the operator.
LEGACY_CODES: dict[int, LegacyCode] = {
    c.code: c
    for c in (
        LegacyCode(
            1,
            "Validation error",
            False,
            "check the rows sent: field names must equal the connector's 'Name on Import' "
            "(case-sensitive) and the table must be enabled in the connector",
        ),
        LegacyCode(
            2,
            "Invalid connector code",
            False,
            "check the connection's login: it must be the code of an Import Connector of the "
            "Sales Layer account (Connectors page), and the host must be the Import Connector "
            "API URL",
        ),
        LegacyCode(3, "Wrong unique key", False, _CHECK_KEY),
        LegacyCode(4, "Invalid codification key", False, _CHECK_KEY),
        LegacyCode(
            5, "Incorrect date of last_update", False, "this client sends no last_update: a bug"
        ),
        LegacyCode(
            6,
            "API version nonexistent",
            False,
            "this client speaks API version 1.18; check that the connection's host is the "
            "Import Connector API",
        ),
        LegacyCode(
            7, "Wrong output mode", False, "check that the host is the Import Connector API"
        ),
        LegacyCode(
            8,
            "Invalid compression type",
            False,
            "the server refused compression=1; check that the host is the Import Connector API",
        ),
        LegacyCode(9, "Invalid private key", False, _CHECK_KEY),
        LegacyCode(
            10,
            "Service temporarily blocked",
            True,
            "Sales Layer throttles this connector; retried with backoff. If it persists, push "
            "less often or in fewer, larger batches",
        ),
        LegacyCode(
            11,
            "Service temporarily unavailable",
            True,
            "Sales Layer is unavailable (maintenance or outage); retried with backoff",
        ),
        LegacyCode(12, "Incorrect date-code", False, _CHECK_CLOCK),
        LegacyCode(13, "Date code has expired", False, _CHECK_CLOCK),
        LegacyCode(
            14,
            "Updating data. Try later",
            True,
            "the connector is still importing earlier data; retried later",
        ),
    )
}

_TRANSIENT_STATUS = {408, 409, 425, 429}

_STATUS_CHECK = {
    400: "Sales Layer refused the item: fix the field names or values named above "
    "(field identifiers are case-sensitive and must exist in the item's attribute set)",
    401: "the API key was refused: check the connection's extra 'api_key' (X-API-KEY)",
    403: "the API key may not do this, or REST writes are disabled for the account: ask Sales "
    "Layer support to enable them",
    404: "the item, entity set or custom entity does not exist (or was deleted): check the REST "
    "base URL (extra 'rest_url', e.g. https://api2.saleslayer.com/catalog/rest/Catalog/) and "
    "the custom entity's name",
    409: "Sales Layer reported a conflict; retried. If it persists, check for another process "
    "writing the same items",
    429: "rate limit reached (50 requests per 10 s per API key); retried after the delay "
    "Sales Layer asked for. If it persists, another process shares the API key",
}


class SalesLayerItemsRefused(SalesLayerTerminalError):
    """Sales Layer denied an import call (``result: 2``) for reasons that may concern some of its
    items only (a link to a category deleted in Sales Layer, a value of the wrong type). Nothing
    of the call was written. ``errors``: Sales Layer's reasons, as it gave them; the pusher drops
    the items they name (:func:`refused_positions`), or bisects the call when they name none, and
    sends the rest. Terminal on its own: sending the same call again gets the same answer."""

    def __init__(
        self,
        message: str,
        *,
        errors: Sequence[str],
        conn_id: str | None = None,
        url: str | None = None,
        table: str | None = None,
    ) -> None:
        super().__init__(message, conn_id=conn_id, url=url, table=table, code=2)
        self.errors: tuple[str, ...] = tuple(errors)


#: Denials about the call itself, never about one of its items (isolating cannot help): the
#: table or the connector's set-up is wrong, the call is empty or over the item limit.
CALL_LEVEL_DENIALS = re.compile(
    r"unknown table|holds no rows|items in one call|more than \d+ items",
    re.IGNORECASE,
)


def denial_concerns_items(errors: Sequence[str]) -> bool:
    """Whether a denial may be about some items of the call (so isolating them can help):
    it has reasons, and none of them is about the call itself (:data:`CALL_LEVEL_DENIALS`)."""
    return bool(errors) and not any(CALL_LEVEL_DENIALS.search(str(e)) for e in errors)


_TOKEN = re.compile(r"[^\s'\"`,;:()\[\]{}<>=]+")


def refused_positions(
    errors: Sequence[str], table: str, references: Sequence[str]
) -> dict[int, str]:
    """Which items of a denied call the denial's ``errors`` name, by their position in the call,
    with the reason given for each.

    An error names an item as ``<table>[<position>]`` (the position in the call, as the PHP form
    numbered it) or by the item's reference standing alone (not inside a longer word or
    reference). Errors naming no item of the call are left out: when none names one, the caller
    cannot tell which items were refused and must bisect the call.
    """
    by_ref: dict[str, list[int]] = {}
    for position, ref in enumerate(references):
        by_ref.setdefault(ref, []).append(position)
    indexed = re.compile(rf"(?<![\w-]){re.escape(table)}\[(\d+)\]")
    # References that are not one token are searched for one by one (rare, and slower).
    spaced = [ref for ref in by_ref if not _TOKEN.fullmatch(ref)]
    named: dict[int, str] = {}
    for error in errors:
        text = str(error)
        hits = {int(m) for m in indexed.findall(text) if int(m) < len(references)}
        for token in _TOKEN.findall(text):
            hits.update(by_ref.get(token, by_ref.get(token.rstrip("."), ())))
        for ref in spaced:
            if re.search(rf"(?<![\w-]){re.escape(ref)}(?![\w-])", text):
                hits.update(by_ref[ref])
        for position in hits:
            named.setdefault(position, text)
    return named


def refusal_reasons(
    errors: Sequence[str], table: str, references: Sequence[str]
) -> Mapping[str, str]:
    """:func:`refused_positions` by reference: the refused items' references and reasons."""
    return {
        references[position]: reason
        for position, reason in sorted(refused_positions(errors, table, references).items())
    }


def redact(text: str, secrets: Sequence[str]) -> str:
    """``text`` with every secret replaced by ``***``: servers may echo what they were sent."""
    for secret in secrets:
        if secret:
            text = text.replace(secret, "***")
    return text


def where(
    *, conn_id: str, method: str, url: str, table: str | None = None, item: str | None = None
) -> str:
    """``connection 'x', POST https://host/path, table 'products'`` for messages."""
    parts = [f"connection {conn_id!r}", f"{method} {url}"]
    if table:
        parts.append(f"table {table!r}")
    if item:
        parts.append(item)
    return ", ".join(parts)


def legacy_error(
    code: int,
    *,
    conn_id: str,
    url: str,
    table: str | None,
    detail: str = "",
    method: str = "POST",
    secrets: Sequence[str] = (),
) -> SalesLayerApiError:
    """The error for a top-level ``{"error": code}`` answer of the Import Connector API."""
    known = LEGACY_CODES.get(code)
    meaning = known.meaning if known else "unknown error code"
    check = known.check if known else "check the connection's host, login and password"
    extra = f" ({detail})" if detail else ""
    message = (
        f'Sales Layer Import Connector API answered error {code} "{meaning}"{extra} '
        f"[{where(conn_id=conn_id, method=method, url=url, table=table)}]: {check}"
    )
    cls = SalesLayerTransientError if known and known.transient else SalesLayerTerminalError
    return cls(redact(message, secrets), conn_id=conn_id, url=url, table=table, code=code)


def response_detail(response: httpx.Response, limit: int = 500) -> str:
    """A short text of an error body: problem details, a bare JSON string, validation failures,
    or the raw text, cut at ``limit`` characters."""
    try:
        body = response.json()
    except (json.JSONDecodeError, UnicodeDecodeError, httpx.ResponseNotRead):
        text = response.text if response.is_stream_consumed or not response.is_closed else ""
        return text.strip()[:limit]
    if isinstance(body, dict):
        if "detail" in body or "title" in body:
            text = "; ".join(str(body[k]) for k in ("title", "detail") if body.get(k))
        elif "validationFailures" in body:
            text = json.dumps(body["validationFailures"], ensure_ascii=False)
        else:
            text = json.dumps(body, ensure_ascii=False)
    else:
        text = body if isinstance(body, str) else json.dumps(body, ensure_ascii=False)
    return text[:limit]


def parse_retry_after(value: str | None, now: float) -> float | None:
    """Seconds to wait from a ``Retry-After`` header: delta seconds or an HTTP date."""
    if not value:
        return None
    value = value.strip()
    try:
        return max(0.0, float(value))
    except ValueError:
        pass
    try:
        when = email.utils.parsedate_to_datetime(value)
    except (TypeError, ValueError):
        return None
    if when.tzinfo is None:
        when = when.replace(tzinfo=UTC)
    return max(0.0, when.timestamp() - datetime.fromtimestamp(now, UTC).timestamp())


def status_error(
    response: httpx.Response,
    *,
    api: str,
    conn_id: str,
    url: str,
    table: str | None = None,
    item: str | None = None,
    now: float,
    secrets: Sequence[str] = (),
) -> SalesLayerApiError:
    """The error for an HTTP status that is not a success."""
    status = response.status_code
    detail = response_detail(response)
    retry_after = parse_retry_after(response.headers.get("Retry-After"), now)
    transient = status >= 500 or status in _TRANSIENT_STATUS
    check = _STATUS_CHECK.get(status)
    if check is None and 300 <= status < 400:
        location = response.headers.get("Location")
        target = safe_url(location) if location else "another address"
        check = (
            f"the server redirects to {target}; set the connection's URL to the final address "
            "(often https:// instead of http://)"
        )
    if check is None:
        check = (
            "Sales Layer failed on its side; retried with backoff"
            if transient
            else "the request was refused; check the connection's URLs and the data"
        )
    reason = response.reason_phrase or ""
    place = where(conn_id=conn_id, method=response.request.method, url=url, table=table, item=item)
    message = (
        f"Sales Layer {api} answered HTTP {status} {reason}".rstrip()
        + (f": {detail}" if detail else "")
        + f" [{place}]: {check}"
    )
    cls = SalesLayerTransientError if transient else SalesLayerTerminalError
    return cls(
        redact(message, secrets),
        conn_id=conn_id,
        url=url,
        table=table,
        status=status,
        retry_after=retry_after,
        detail=redact(detail, secrets) if detail else None,
    )


def transport_error(
    exc: httpx.TransportError,
    *,
    api: str,
    conn_id: str,
    method: str,
    url: str,
    table: str | None = None,
    secrets: Sequence[str] = (),
) -> SalesLayerTransientError:
    """A timeout, refused or dropped connection: transient, Sales Layer may be back soon."""
    kind = "timed out" if isinstance(exc, httpx.TimeoutException) else "failed"
    message = (
        f"the call to the Sales Layer {api} {kind} ({type(exc).__name__}: {exc}) "
        f"[{where(conn_id=conn_id, method=method, url=url, table=table)}]: check that the "
        "connection's host is reachable from the worker; retried with backoff"
    )
    # A connect or pool timeout never sent the request; a read or write timeout may have.
    sent = isinstance(exc, httpx.ReadTimeout | httpx.WriteTimeout)
    error_class = SalesLayerNoAnswerError if sent else SalesLayerTransientError
    return error_class(
        redact(message, secrets),
        conn_id=conn_id,
        url=url,
        table=table,
    )
