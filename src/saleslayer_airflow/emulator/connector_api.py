"""The emulated Import Connector API: ``POST /`` (``set_info``) and its status tracking URLs."""

from __future__ import annotations

import contextlib
import json
import re
import time
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from fastapi import APIRouter, Request, Response

from saleslayer_airflow.emulator import bulk, importer
from saleslayer_airflow.emulator.compression import json_answer
from saleslayer_airflow.emulator.form import FormError, ImportForm
from saleslayer_airflow.emulator.form_fast import (
    ColumnForm,
    parse_columns,
    parse_import_form_fast,
)
from saleslayer_airflow.emulator.signing import (
    DEFAULT_VERSION,
    ERROR_MESSAGES,
    SUPPORTED_VERSIONS,
    SignatureError,
    check_signature,
)
from saleslayer_airflow.emulator.state import EmulatorState
from saleslayer_airflow.emulator.storage import Job
from saleslayer_airflow.emulator.tenant import ConnectorSpec

TRACKING_PATH = "/status_tracking/"
API_VERSION = "1.18"
"""The version tracking answers state (their URL carries no ``ver``)."""
DELETE_DATA_SINCE = "1.18"
_MESSAGES = {"prepare": "Import queued", "started": "Importing", "end": "Import finished"}


def answer_version(query: Mapping[str, str]) -> str:
    """The version an answer states: the ``ver`` the call asked for when the API has it, else
    the version the API assumes without one."""
    version = query.get("ver", DEFAULT_VERSION)
    return version if version in SUPPORTED_VERSIONS else DEFAULT_VERSION


def legacy_error(code: int, detail: str, *, version: str = API_VERSION) -> Response:
    """An API-level failure as the API answers it: HTTP 200, ``{"error": <code>}``."""
    body = {
        "version": version,
        "time": int(time.time()),
        "error": code,
        "error_message": f"{ERROR_MESSAGES.get(code, 'Error')}: {detail}",
    }
    return Response(json.dumps(body), media_type="application/json")


# "points_of_sale ST-1: ..." or "products[3]: ...": the item an error is about, and its reason.
_ITEM_PREFIX = re.compile(r"^[A-Za-z][A-Za-z0-9_]*(?:\[\d+\]| \S+): ")


def _unnamed(errors: list[str]) -> list[str]:
    """The errors of a denial without the items they are about (``denials_name_items: false``)."""
    return [_ITEM_PREFIX.sub("", error) for error in errors]


def _version_problems(form: ImportForm, version: str) -> list[str]:
    """What a call asks of an API version it does not name (answered with its other problems)."""
    if form.delete_data and _as_tuple(version) < _as_tuple(DELETE_DATA_SINCE):
        return [
            f"delete_data needs API version {DELETE_DATA_SINCE}, and this call is version "
            f"{version} (the version assumed without ver): send ver={DELETE_DATA_SINCE}, or "
            "delete with the status X in input_data"
        ]
    return []


def _as_tuple(version: str) -> tuple[int, ...]:
    return tuple(int(part) for part in version.split("."))


@dataclass(frozen=True)
class _Call:
    """How one signed call is to be answered."""

    request: Request
    query: dict[str, str]
    version: str
    compress: bool
    """``compression=1`` in the body or, when the body does not say, in the URL."""


def _final_counts(job: Job) -> dict[str, Any]:
    """A job's counts as its tracking answers show them: what it wrote when it ended, what it
    was accepted with before, nothing when it failed (it wrote nothing)."""
    if job.status == "error":
        return {kind: dict.fromkeys(tables, 0) for kind, tables in job.counts.items()}
    return job.counts


class ConnectorApi:
    """Handlers of one emulator's Import Connector routes."""

    def __init__(self, state: EmulatorState) -> None:
        self.state = state

    def router(self) -> APIRouter:
        """``POST /`` and ``GET /status_tracking/<job>``."""
        router = APIRouter()
        router.add_api_route("/", self.set_info, methods=["POST"], include_in_schema=False)
        router.add_api_route(
            TRACKING_PATH + "{job_id}", self.tracking, methods=["GET"], include_in_schema=False
        )
        return router

    async def set_info(self, request: Request) -> Response:
        """Check the signature and the body, then accept the call as a tracked job."""
        state = self.state
        settings = state.settings.connector_api
        query = dict(request.query_params)
        version = answer_version(query)
        now = time.time()
        try:
            connector = check_signature(
                query, state.tenant, now=now, window=settings.time_window_seconds
            )
        except SignatureError as exc:
            return legacy_error(exc.code, exc.detail, version=version)
        test = query.get("test", "0")
        if test not in ("0", "1"):
            return legacy_error(1, f"test must be 0 or 1, not {test!r}", version=version)
        url_compression = query.get("compression") == "1"
        if test == "1":
            # Only the connection and the signature are checked: the body is not read.
            return self._test(_Call(request, query, version, url_compression), connector, now)
        body = await request.body()
        return self._accept(request, query, version, now, connector, body)

    def _fresh_unique(self, call: _Call, connector: ConnectorSpec, now: float) -> bool:
        """Remember the call's ``unique``; False when this connector used it already."""
        settings = self.state.settings.connector_api
        return not settings.reject_reused_unique or self.state.storage.remember_unique(
            connector.code, call.query["unique"], now, 2 * settings.time_window_seconds + 1
        )

    def _test(self, call: _Call, connector: ConnectorSpec, now: float) -> Response:
        """The answer to ``test=1``: the connection and signature are good, nothing imported
        (``result`` 0, "unmodified" in the documentation's words)."""
        if not self._fresh_unique(call, connector, now):
            return legacy_error(
                3, "this unique was already used; sign every call anew", version=call.version
            )
        response: dict[str, Any] = {
            "version": call.version,
            "time": int(now),
            "action": "testing",
            "error": 0,
            "input_response": {
                "result": 0,
                "errors": [],
                **importer.Counts().as_response([]),
            },
        }
        return self._answer(response, call)

    def _accept(
        self,
        request: Request,
        query: dict[str, str],
        version: str,
        now: float,
        connector: ConnectorSpec,
        body: bytes,
    ) -> Response:
        """Parse, check and accept (or deny) a signed call; apply it when it is applied at once."""
        state = self.state
        settings = state.settings.connector_api
        columns = parse_columns(body)
        try:
            form = parse_import_form_fast(body) if columns is None else None
        except FormError as exc:
            return legacy_error(exc.code, str(exc), version=version)
        flags: ColumnForm | ImportForm | None = columns if columns is not None else form
        assert flags is not None  # one of the two parsers read the body
        compress = query.get("compression") == "1"
        if flags.compression is not None:  # the body's word wins, as PHP's $_REQUEST has it
            compress = flags.compression
        call = _Call(request, query, version, compress)
        if flags.test:
            return self._test(call, connector, now)
        if settings.busy_while_job_running and state.storage.open_jobs(connector.code, batch=False):
            return legacy_error(
                14, "the previous import of this connector has not ended", version=version
            )
        if not self._fresh_unique(call, connector, now):
            return legacy_error(
                3, "this unique was already used; sign every call anew", version=version
            )
        response: dict[str, Any] = {"version": version, "time": int(now), "action": "update"}
        directly = columns.directly if columns is not None else form is not None and form.directly
        at_once = directly or state.settings.tracking.steps_to_end == 0
        # A call applied at once is checked, recorded and applied in one transaction: the plan
        # that answers it is the one applied (not made twice), and one commit writes it all. A
        # tracked call is planned now (its answer) and again when its job ends, either way.
        with state.storage.transaction() if at_once else contextlib.nullcontext():
            if columns is not None and at_once:
                prepared = bulk.prepare(
                    state.tenant, state.storage, state.settings, connector, columns
                )
                if prepared is not None:
                    state.stats.import_call("columns")
                    return self._accepted(call, response, connector, prepared)
            if columns is not None and not at_once:
                checked = bulk.check_tracked(
                    state.tenant, state.storage, state.settings, connector, columns
                )
                if checked is not None:
                    state.stats.import_call("columns")
                    return self._tracked(call, response, connector, columns, checked)
            state.stats.import_call("rows")
            if form is None:
                assert columns is not None
                form = columns.form()
            try:
                batch, planned = importer.check(
                    state.tenant,
                    state.storage,
                    state.settings,
                    connector,
                    form,
                    _version_problems(form, version),
                )
            except importer.ImportRejected as exc:
                errors = exc.errors if settings.denials_name_items else _unnamed(exc.errors)
                response["error"] = 0
                response["input_response"] = {"result": 2, "errors": errors}
                return self._answer(response, call)
            tables = sorted(set(batch["upserts"]) | set(batch["deletes"]))
            counts: dict[str, Any] = dict(planned.counts.as_response(tables))
            fail = state.faults.next_job_fails()
            job = state.jobs.submit(
                connector.code, batch, counts, fail=fail, at_once=at_once, planned=planned
            )
        return self._accepted_job(call, response, job)

    def _accepted(
        self,
        call: _Call,
        response: dict[str, Any],
        connector: ConnectorSpec,
        prepared: bulk.Prepared,
    ) -> Response:
        """Record (and apply, unless the job is to fail) a call :func:`bulk.prepare` planned."""
        state = self.state
        counts: dict[str, Any] = dict(prepared.counts.as_response([prepared.table.import_name]))
        fail = state.faults.next_job_fails()
        job = state.jobs.submit(
            connector.code,
            prepared.batch(),
            counts,
            fail=fail,
            at_once=True,
            apply=lambda: prepared.apply(state.storage),
        )
        return self._accepted_job(call, response, job)

    def _tracked(
        self,
        call: _Call,
        response: dict[str, Any],
        connector: ConnectorSpec,
        form: ColumnForm,
        checked: importer.Counts,
    ) -> Response:
        """Record a tracked call :func:`bulk.check_tracked` took: its job keeps its columns, to
        be planned again and applied column by column when it ends."""
        state = self.state
        table = state.tenant.table(form.table)
        assert table is not None  # check_tracked found it
        counts: dict[str, Any] = dict(checked.as_response([table.import_name]))
        fail = state.faults.next_job_fails()
        job = state.jobs.submit(connector.code, bulk.job_batch(table, form), counts, fail=fail)
        return self._accepted_job(call, response, job)

    def _accepted_job(self, call: _Call, response: dict[str, Any], job: Job) -> Response:
        """The answer to an accepted call: its job's counts and tracking URL."""
        response["error"] = 0
        response["input_response"] = {
            "result": 1,
            "errors": [],
            **job.counts,
            "status_tracking": f"{str(call.request.base_url).rstrip('/')}{TRACKING_PATH}{job.id}",
        }
        return self._answer(response, call)

    @staticmethod
    def _answer(body: dict[str, Any], call: _Call) -> Response:
        return json_answer(
            body,
            compress=call.compress,
            accept_encoding=call.request.headers.get("accept-encoding"),
        )

    async def tracking(self, job_id: str) -> Response:
        """Answer one poll of a tracking URL, advancing the job."""
        job = self.state.jobs.poll(job_id)
        if job is None:
            body = {
                "version": API_VERSION,
                "time": int(time.time()),
                "error": 1,
                "error_message": "Validation error: no import job has this tracking id",
            }
            return Response(json.dumps(body), status_code=404, media_type="application/json")
        return Response(json.dumps(self.tracking_body(job)), media_type="application/json")

    def tracking_body(self, job: Job) -> dict[str, Any]:
        """The tracking answer for a job as it is now: the same keys at every step, so a client
        may read ``input_response`` (``result``, ``errors``, the counts) whenever it polls."""
        failed = job.status == "error"
        message = job.message or _MESSAGES.get(job.status, "")
        return {
            "version": API_VERSION,
            "time": int(time.time()),
            "error": 0,
            "input_status": job.status,
            "input_percent_completion": job.percent,
            "input_action_message": message,
            "input_response": {
                "result": 2 if failed else 1,
                "errors": [message] if failed else [],
                **_final_counts(job),
            },
        }
