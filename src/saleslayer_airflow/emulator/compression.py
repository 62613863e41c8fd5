"""The Import Connector API's ``compression`` parameter, as HTTP allows it.

``compression=1`` asks for a gzip answer "as long as it is possible for the client" (Sales
Layer's call-structure article). What the client can read is what its ``Accept-Encoding`` says:
the official SDK sets curl's encoding to gzip when it asks for compression, so curl sends
``Accept-Encoding: gzip`` and inflates the answer; a client that asks for compression without
that header would receive bytes it never inflates, so it gets plain JSON.
"""

from __future__ import annotations

import gzip
import json
from typing import Any

from fastapi import Response

_GZIP_NAMES = frozenset({"gzip", "x-gzip"})


def _weight(parameters: list[str]) -> float:
    """The ``q`` of one coding (1 when absent; 0 when unreadable, as a cautious server does)."""
    for parameter in parameters:
        name, _, value = parameter.partition("=")
        if name.strip().lower() == "q":
            try:
                return float(value.strip())
            except ValueError:
                return 0.0
    return 1.0


def accepts_gzip(header: str | None) -> bool:
    """Whether an ``Accept-Encoding`` value lets the answer be gzipped (RFC 9110 12.5.3):
    ``gzip`` (or ``x-gzip``) with a weight above 0, or ``*`` above 0 when gzip is not named.
    No header: no (see the module docstring)."""
    if not header:
        return False
    weights: dict[str, float] = {}
    for coding in header.split(","):
        name, *parameters = coding.split(";")
        name = name.strip().lower()
        if name:
            weights[name] = _weight(parameters)
    named = [weights[name] for name in _GZIP_NAMES if name in weights]
    if named:
        return max(named) > 0
    return weights.get("*", 0.0) > 0


def json_answer(body: dict[str, Any], *, compress: bool, accept_encoding: str | None) -> Response:
    """A JSON answer, gzipped when the call asked for compression and its client can read it."""
    data = json.dumps(body).encode()
    if not compress:
        return Response(data, media_type="application/json")
    # Caches must tell clients apart by the header that decided the encoding.
    headers = {"Vary": "Accept-Encoding"}
    if accepts_gzip(accept_encoding):
        headers["Content-Encoding"] = "gzip"
        data = gzip.compress(data)
    return Response(data, media_type="application/json", headers=headers)
