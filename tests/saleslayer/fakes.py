"""Stand-ins for the two Sales Layer servers, as ``httpx.MockTransport`` handlers.

They implement the documented server behaviour (docs/saleslayer-api.md and the wire contract)
in a few lines, so the clients' unit tests run before the emulator exists and can inject faults
precisely. The contract tests against the real emulator over real HTTP are in
test_against_emulator.py; these fakes are mocks of the server side only, never of the client.
"""

from __future__ import annotations

import gzip
import hashlib
import json
import re
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import parse_qsl

import httpx

CODE = "CN123TEST"
PRIVATE_KEY = "pk-S3cret-Private-Key-4-tests"  # long enough for Airflow's masker; never leaks
API_KEY = "ak-S3cret-Api-Key-4-tests-0042"
API_URL = "http://sl.test:8090"
REST_BASE = "http://sl.test:8090/catalog/rest/Catalog/"

REF_FIELDS = {
    "catalogue": "cat_ref",
    "products": "prod_ref",
    "product_formats": "frmt_ref",
    "points_of_sale": "pos_ref",
    "brands": "brand_ref",
}

_BRACKET = re.compile(r"^(input_data|delete_data)\[([^\]]+)\]\[(\d+)\]\[([^\]]+)\]$")

Fault = httpx.Response | Exception | Callable[[httpx.Request], httpx.Response]


def _json(status: int, body: Any, headers: dict[str, str] | None = None) -> httpx.Response:
    return httpx.Response(status, json=body, headers=headers)


def _apply_fault(fault: Fault, request: httpx.Request) -> httpx.Response:
    if isinstance(fault, Exception):
        raise fault
    if isinstance(fault, httpx.Response):
        return fault
    return fault(request)


def parse_form(body: bytes) -> dict[str, dict[str, list[dict[str, str]]]]:
    """PHP bracket form -> {section: {table: [row, ...]}} (rows in index order)."""
    out: dict[str, dict[str, dict[int, dict[str, str]]]] = {}
    for key, value in parse_qsl(body.decode("ascii"), keep_blank_values=True):
        match = _BRACKET.match(key)
        if not match:
            continue
        section, table, index, name = match.groups()
        out.setdefault(section, {}).setdefault(table, {}).setdefault(int(index), {})[name] = value
    return {
        section: {t: [rows[i] for i in sorted(rows)] for t, rows in tables.items()}
        for section, tables in out.items()
    }


@dataclass
class FakeConnectorApi:
    """The Import Connector API: signed POST /, bracket form, per-table counts, tracking."""

    tracking_steps: list[str] = field(default_factory=list)
    tracking_final: str = "end"
    tracking_origin: str = API_URL
    faults: list[Fault] = field(default_factory=list)
    tracking_faults: list[Fault] = field(default_factory=list)
    tables: dict[str, dict[str, dict[str, str]]] = field(default_factory=dict)
    requests: list[httpx.Request] = field(default_factory=list)
    jobs: dict[int, list[str]] = field(default_factory=dict)

    def transport(self) -> httpx.MockTransport:
        return httpx.MockTransport(self.handle)

    def posts(self) -> list[httpx.Request]:
        return [r for r in self.requests if r.method == "POST"]

    def handle(self, request: httpx.Request) -> httpx.Response:
        self.requests.append(request)
        if request.url.path.startswith("/track/"):
            if self.tracking_faults:
                return _apply_fault(self.tracking_faults.pop(0), request)
            steps = self.jobs[int(request.url.path.rsplit("/", 1)[1])]
            status = steps.pop(0) if steps else self.tracking_final
            percent = 100 if status == "end" else 50
            return _json(
                200,
                {
                    "version": "1.18",
                    "time": 0,
                    "input_status": status,
                    "input_percent_completion": percent,
                    "input_action_message": "boom: bad field" if status == "error" else "",
                },
            )
        if self.faults:
            return _apply_fault(self.faults.pop(0), request)
        query = request.url.params
        if query.get("code") != CODE:
            return _json(200, {"error": 2})
        raw = f"{CODE}{PRIVATE_KEY}{query.get('time')}{query.get('unique')}"
        if query.get("key256") != hashlib.sha256(raw.encode()).hexdigest():
            return _json(200, {"error": 9})
        return self._import(query, parse_form(request.content))

    def _import(
        self, query: httpx.QueryParams, form: dict[str, dict[str, list[dict[str, str]]]]
    ) -> httpx.Response:
        new: dict[str, int] = {}
        updated: dict[str, int] = {}
        deleted: dict[str, int] = {}
        for table, rows in form.get("input_data", {}).items():
            if len(rows) > 50_000:
                return self._answer(query, {"result": 2, "errors": ["more than 50000 items"]})
            store = self.tables.setdefault(table, {})
            for row in rows:
                ref = row.get(REF_FIELDS[table]) or row["REF"]
                if ref not in store:
                    new[table] = new.get(table, 0) + 1
                    store[ref] = dict(row)
                elif {**store[ref], **row} != store[ref]:
                    updated[table] = updated.get(table, 0) + 1
                    store[ref].update(row)
        for table, rows in form.get("delete_data", {}).items():
            for row in rows:
                ref = next(iter(row.values()))
                if self.tables.get(table, {}).pop(ref, None) is not None:
                    deleted[table] = deleted.get(table, 0) + 1
        response: dict[str, Any] = {
            "result": 1,
            "errors": [],
            "items_affected": {t: new.get(t, 0) + updated.get(t, 0) for t in {*new, *updated}},
            "new_items": new,
            "updated_items": updated,
            "deleted_items": deleted,
        }
        if self.tracking_steps or self.tracking_final != "end":
            job = len(self.jobs) + 1
            self.jobs[job] = list(self.tracking_steps)
            response["status_tracking"] = f"{self.tracking_origin}/track/{job}?code={CODE}"
        return self._answer(query, response)

    def _answer(self, query: httpx.QueryParams, input_response: dict[str, Any]) -> httpx.Response:
        body = json.dumps(
            {
                "version": "1.18",
                "time": 0,
                "action": "update",
                "error": 0,
                "input_response": input_response,
            }
        ).encode()
        if query.get("compression") == "1":
            return httpx.Response(
                200,
                content=gzip.compress(body),
                headers={"Content-Encoding": "gzip", "Content-Type": "application/json"},
            )
        return httpx.Response(200, content=body, headers={"Content-Type": "application/json"})


_SET = re.compile(r"^(?P<coll>[A-Za-z]+(?:\('(?:[^']|'')*'\))?)(?:(?:/Item)?\((?P<id>\d+)\))?$")
_IN = re.compile(r"^(\w+) in \((.*)\)$")


@dataclass
class FakeRestApi:
    """The Catalog REST API v2: X-API-KEY, OData lists with ``in`` filters and @nextLink,
    POST -> 201 + Location (on another host, as the old docs show), PATCH, DELETE, 404s."""

    page_size: int = 100
    patch_status: int = 204
    next_link_host: str | None = None
    faults: list[Fault] = field(default_factory=list)
    items: dict[str, dict[int, dict[str, Any]]] = field(default_factory=dict)
    requests: list[httpx.Request] = field(default_factory=list)
    next_id: int = 0

    def transport(self) -> httpx.MockTransport:
        return httpx.MockTransport(self.handle)

    def by_ref(self, collection: str, ref_field: str) -> dict[str, dict[str, Any]]:
        return {row[ref_field]: row for row in self.items.get(collection, {}).values()}

    def handle(self, request: httpx.Request) -> httpx.Response:
        self.requests.append(request)
        if self.faults:
            return _apply_fault(self.faults.pop(0), request)
        if request.headers.get("X-API-KEY") != API_KEY:
            return _json(
                401,
                {
                    "type": "https://api2.saleslayer.com/errors/unauthorized",
                    "title": "Unauthorized",
                    "status": 401,
                    "detail": "Missing or invalid API key",
                },
            )
        path = request.url.path.removeprefix("/catalog/rest/Catalog/")
        match = _SET.match(path)
        if not match:
            return _json(404, "not found")
        coll, item_id = match.group("coll"), match.group("id")
        rows = self.items.setdefault(coll, {})
        prefix = {"Categories": "cat", "Products": "prod", "Variants": "frmt"}.get(coll, "brand")
        if request.method == "GET":
            return self._list(request, coll, rows)
        if request.method == "POST":
            body = json.loads(request.content)
            if f"{prefix}_ref" not in body:
                return _json(400, f"Attribute {prefix}_ref is mandatory")
            if coll == "Variants" and int(body.get("prod_id", 0)) not in self.items.get(
                "Products", {}
            ):
                return _json(400, f"Product {body.get('prod_id')} not found.")
            self.next_id += 1
            rows[self.next_id] = {**body, f"{prefix}_id": self.next_id}
            where = f"{coll}({self.next_id})" if "'" not in coll else f"{coll}/Item({self.next_id})"
            return httpx.Response(
                201, headers={"Location": f"https://internal.kp.test/rest/Catalog/{where}"}
            )
        if item_id is None or int(item_id) not in rows:
            return _json(404, "not found")
        if request.method == "PATCH":
            rows[int(item_id)].update(json.loads(request.content))
            return httpx.Response(self.patch_status)
        if request.method == "DELETE":
            del rows[int(item_id)]
            return httpx.Response(204)
        return _json(405, "method")

    def _list(
        self, request: httpx.Request, coll: str, rows: dict[int, dict[str, Any]]
    ) -> httpx.Response:
        params = request.url.params
        selected = list(rows.values())
        if flt := params.get("$filter"):
            match = _IN.match(flt)
            assert match, flt
            name, values = match.groups()
            wanted = {v.replace("''", "'") for v in re.findall(r"'((?:[^']|'')*)'", values)}
            selected = [r for r in selected if str(r.get(name)) in wanted]
        top = min(int(params.get("$top", "100")), self.page_size)
        skip = int(params.get("$skipToken", "0"))
        page = selected[skip : skip + top]
        if sel := params.get("$select"):
            page = [{k: r.get(k) for k in sel.split(",")} for r in page]
        body: dict[str, Any] = {"value": page, "@count": len(selected)}
        if skip + top < len(selected):
            host = self.next_link_host or f"{request.url.scheme}://{request.url.netloc.decode()}"
            nxt = request.url.copy_set_param("$skipToken", str(skip + top))
            body["@nextLink"] = f"{host}{nxt.raw_path.decode()}"
        return _json(200, body)
