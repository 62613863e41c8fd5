"""What a gateway in front of Sales Layer answers when it refuses or fails a request itself.

Injected 429 and 5xx faults stand for a proxy or load balancer (nginx, Cloudflare), not for the
API: such a gateway answers its own status line and an HTML page, never an API body. A JSON body
here would read as a normal answer to a client that looks at the body before the status (the
official SDK reads a body without an ``error`` key as a success), so the page is HTML.
"""

from __future__ import annotations

from http import HTTPStatus

from starlette.types import Send


def gateway_page(status: int) -> bytes:
    """The HTML page nginx serves for an error status it answers itself."""
    try:
        phrase = HTTPStatus(status).phrase
    except ValueError:  # a status_5xx Python does not name (e.g. 599)
        phrase = "Server Error"
    line = f"{status} {phrase}"
    return (
        "<html>\r\n"
        f"<head><title>{line}</title></head>\r\n"
        "<body>\r\n"
        f"<center><h1>{line}</h1></center>\r\n"
        "<hr><center>nginx</center>\r\n"
        "</body>\r\n"
        "</html>\r\n"
    ).encode()


async def send_gateway_error(send: Send, status: int, *, retry_after: float | None = None) -> None:
    """Answer ``status`` with the gateway's HTML page (and ``Retry-After`` when given)."""
    page = gateway_page(status)
    headers = [
        (b"content-type", b"text/html"),
        (b"content-length", str(len(page)).encode()),
    ]
    if retry_after is not None:
        headers.append((b"retry-after", f"{retry_after:g}".encode()))
    await send({"type": "http.response.start", "status": status, "headers": headers})
    await send({"type": "http.response.body", "body": page})
