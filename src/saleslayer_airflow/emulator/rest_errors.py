"""Problem-details (RFC 7807) answers of the emulated Catalog REST API."""

from __future__ import annotations

import re
from typing import Any

from fastapi.responses import JSONResponse

ERRORS_BASE = "https://api2.saleslayer.com/errors/"
_TITLES = {
    400: "Bad Request",
    401: "Unauthorized",
    403: "Forbidden",
    404: "Not Found",
    405: "Method Not Allowed",
    429: "Too Many Requests",
    500: "Internal Server Error",
    503: "Service Unavailable",
}


class RestError(Exception):
    """An error answer of the REST API: status, human detail and, for 400, the field at fault."""

    def __init__(
        self,
        status: int,
        detail: str,
        *,
        field: str | None = None,
        headers: dict[str, str] | None = None,
    ) -> None:
        super().__init__(detail)
        self.status = status
        self.detail = detail
        self.field = field
        self.headers = headers or {}


def _slug(status: int) -> str:
    return re.sub(r"[^a-z]+", "-", _TITLES.get(status, "error").lower()).strip("-")


def problem(
    status: int,
    detail: str,
    instance: str,
    *,
    field: str | None = None,
    headers: dict[str, str] | None = None,
    bare_400: bool = False,
) -> JSONResponse:
    """A problem-details answer; a 400 also carries ``validationFailures`` (the new guide's
    shape), or is the bare JSON string of the old articles when ``bare_400``."""
    if status == 400 and bare_400:
        return JSONResponse(detail, status_code=400, headers=headers)
    body: dict[str, Any] = {
        "type": ERRORS_BASE + _slug(status),
        "title": _TITLES.get(status, "Error"),
        "status": status,
        "detail": detail,
        "instance": instance,
    }
    if status == 400:
        body["validationFailures"] = {field or "request": [detail]}
    return JSONResponse(
        body, status_code=status, headers=headers, media_type="application/problem+json"
    )
