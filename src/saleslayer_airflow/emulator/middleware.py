"""Counting every request and serving faults before the real handlers see a request."""

from __future__ import annotations

import asyncio
from typing import cast
from urllib.parse import parse_qsl

from starlette.types import ASGIApp, Message, Receive, Scope, Send

from saleslayer_airflow.emulator.connector_api import (
    API_VERSION,
    TRACKING_PATH,
    answer_version,
    legacy_error,
)
from saleslayer_airflow.emulator.faults import Route
from saleslayer_airflow.emulator.gateway import send_gateway_error
from saleslayer_airflow.emulator.rest_paths import REST_PREFIXES
from saleslayer_airflow.emulator.settings import FaultKind
from saleslayer_airflow.emulator.state import EmulatorState

ADMIN_PREFIX = "/_emulator"


def classify(method: str, path: str) -> tuple[str, str]:
    """The route group of a request and the endpoint label it is counted under."""
    if path.startswith(ADMIN_PREFIX):
        return "admin", f"{method} {path}"
    if path == "/" and method == "POST":
        return "connector_api", "POST /"
    if path.startswith(TRACKING_PATH):
        return "tracking", f"GET {TRACKING_PATH}"
    for prefix in REST_PREFIXES:
        if path.startswith(prefix + "/"):
            first = path[len(prefix) + 1 :].split("/")[0].split("(")[0]
            return "rest", f"{method} {first}"
    return "other", f"{method} {path}"


class FaultsAndCounters:
    """ASGI middleware: counts requests and answers, and injects the configured faults."""

    def __init__(self, app: ASGIApp, state: EmulatorState) -> None:
        self.app = app
        self.state = state

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        route, endpoint = classify(scope["method"], scope["path"])
        stats = self.state.stats
        stats.request(route, endpoint)

        async def counting_send(message: Message) -> None:
            if message["type"] == "http.response.start":
                stats.status(route, int(message["status"]))
            await send(message)

        if route not in ("connector_api", "tracking", "rest"):
            await self.app(scope, receive, counting_send)
            return
        # Counted until the handler returns, so a soak can wait for requests its client gave
        # up on (slow faults) before it reads the final state.
        group = cast(Route, route)  # one of the API route groups, checked just above
        stats.started()
        try:
            kind = self.state.faults.next_fault(group)
            if kind == "slow":
                receive = await _received_in_full(receive)
            handled = await self._fault(group, kind, scope, receive, send, counting_send)
            if not handled:
                await self.app(scope, receive, counting_send)
        finally:
            stats.finished()

    async def _fault(
        self,
        route: Route,
        kind: FaultKind,
        scope: Scope,
        receive: Receive,
        raw_send: Send,
        send: Send,
    ) -> bool:
        if kind == "ok":
            return False
        self.state.stats.fault(route, kind)
        config = self.state.faults.config(route)
        if kind == "slow":
            # The request was read before the delay and is then handled in full, like a
            # server that answers too late: the client has given up, but the write happened.
            await asyncio.sleep(config.slow_seconds)
            return False
        if kind == "drop":
            _drop_connection(raw_send)
            # Let the server see the connection lost before this request returns, so it does
            # not try to answer 500 on it.
            for _ in range(3):
                await asyncio.sleep(0)
            return True
        if kind == "429":
            await send_gateway_error(send, 429, retry_after=config.retry_after_seconds)
        elif kind == "5xx":
            await send_gateway_error(send, config.status_5xx)
        else:
            # The API's own "try later" codes: its answer, in the version the call asked for
            # (tracking URLs carry none: the version their answers state).
            query = dict(parse_qsl(scope.get("query_string", b"").decode("latin-1")))
            version = API_VERSION if route == "tracking" else answer_version(query)
            code = int(kind.split("_")[1])
            answer = legacy_error(code, "emulated fault", version=version)
            await answer(scope, receive, send)
        return True


async def _received_in_full(receive: Receive) -> Receive:
    """Read the whole request body now; a ``receive`` that hands it out again, then waits on
    the real one (which reports the disconnect of a client that gave up)."""
    messages: list[Message] = []
    while True:
        message = await receive()
        messages.append(message)
        if message["type"] != "http.request" or not message.get("more_body", False):
            break

    async def replay() -> Message:
        if messages:
            return messages.pop(0)
        return await receive()

    return replay


def _drop_connection(send: Send) -> None:
    """Close the client's socket without an answer.

    ASGI has no "close without answering" message, so this reaches uvicorn's transport through
    the bound ``send`` of its request cycle (h11 and httptools both keep ``transport`` there).
    """
    transport = getattr(getattr(send, "__self__", None), "transport", None)
    if transport is None:
        raise RuntimeError("the drop fault needs uvicorn's h11 or httptools protocol")
    transport.close()
