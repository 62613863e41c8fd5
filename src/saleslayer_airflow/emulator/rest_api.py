"""The emulated Catalog REST API v2: auth, rate limit, OData routes, reads and writes."""

from __future__ import annotations

import base64
import binascii
import hmac
import re
from collections.abc import Callable
from typing import Any
from urllib.parse import urlencode

from fastapi import APIRouter, Request, Response
from fastapi.responses import JSONResponse

from saleslayer_airflow.emulator.attribute_sets import (
    V1_PROPERTIES,
    V2_PROPERTIES,
    attribute_sets,
    v1_record,
    v2_record,
)
from saleslayer_airflow.emulator.catalog import (
    RefResolver,
    apply_fields,
    delete_item,
    render_rest,
)
from saleslayer_airflow.emulator.odata import Filter, FilterError, parse_filter
from saleslayer_airflow.emulator.rest_errors import RestError, problem
from saleslayer_airflow.emulator.rest_metadata import table_schema
from saleslayer_airflow.emulator.rest_paths import REST_PREFIXES, Resource, resolve
from saleslayer_airflow.emulator.rest_write import BodyReader, culture_of, parse_body
from saleslayer_airflow.emulator.state import EmulatorState
from saleslayer_airflow.emulator.tenant import TableSpec

_OPTIONS = {"$filter", "$select", "$top", "$skip", "$skiptoken", "$orderby", "$expand", "$count"}
_TOKEN = re.compile(r"id:([0-9]{1,18})\Z")
_CHANGELOG_FIELDS = {"id", "entity_id", "reference", "action", "date", "author_type"}
_CHANGELOG_REFUSED = {"$select", "$expand", "$skiptoken"}
_EXPAND = {("product", "Variants"): "variant", ("category", "Products"): "product"}


def _encode_token(last_id: int) -> str:
    return base64.urlsafe_b64encode(f"id:{last_id}".encode()).decode().rstrip("=")


def _decode_token(token: str) -> int:
    try:
        text = base64.urlsafe_b64decode(token + "=" * (-len(token) % 4)).decode()
    except (binascii.Error, UnicodeDecodeError, ValueError):
        text = ""
    match = _TOKEN.match(text)
    if not match:
        raise RestError(400, "Invalid $skipToken: take it verbatim from @nextLink")
    return int(match.group(1))


def _int_option(name: str, value: str) -> int:
    if not re.fullmatch(r"[0-9]{1,9}", value):
        raise RestError(400, f"{name} must be a non-negative integer, not {value!r}")
    return int(value)


class RestApi:
    """Handlers of one emulator's REST routes."""

    def __init__(self, state: EmulatorState) -> None:
        self.state = state

    def router(self) -> APIRouter:
        """Routes under every served base path."""
        router = APIRouter()
        for prefix in REST_PREFIXES:
            router.add_api_route(
                prefix + "/{subpath:path}",
                self.handle,
                methods=["GET", "POST", "PATCH", "DELETE", "PUT"],
                include_in_schema=False,
            )
        return router

    async def handle(self, request: Request, subpath: str) -> Response:
        """Authenticate, rate-limit, route and answer one REST request."""
        settings = self.state.settings.rest
        try:
            api_key = self._authenticate(request)
            self._check_access(request.method)
            retry_after = self.state.limiter.hit(api_key)
            if retry_after is not None:
                self.state.stats.rate_limited()
                raise RestError(
                    429,
                    f"More than {self.state.settings.rate_limit.requests} requests in "
                    f"{self.state.settings.rate_limit.window_seconds:g} s for this API key",
                    headers={"Retry-After": str(retry_after)},
                )
            resource = resolve(self.state.tenant, subpath)
            return await self._dispatch(request, resource)
        except RestError as exc:
            return problem(
                exc.status,
                exc.detail,
                request.url.path,
                field=exc.field,
                headers=exc.headers,
                bare_400=settings.error_body == "string",
            )

    def _authenticate(self, request: Request) -> str:
        given = request.headers.get("x-api-key")
        if not given:
            raise RestError(401, "The X-API-KEY header is missing")
        for key in self.state.tenant.api_keys:
            if hmac.compare_digest(key.encode(), given.encode()):
                return key
        raise RestError(401, "The X-API-KEY header holds no valid API key of this account")

    def _check_access(self, method: str) -> None:
        """403 when the account's REST feature is off, or its writes are (``rest.access``)."""
        access = self.state.settings.rest.access
        if access == "disabled":
            raise RestError(
                403,
                "The Catalog REST API feature is disabled for this account: ask Sales Layer "
                "support to enable it",
            )
        if access == "read_only" and method not in ("GET", "HEAD"):
            raise RestError(
                403,
                f"Writes through the Catalog REST API are disabled for this account ({method} "
                "refused): ask Sales Layer support to enable them",
            )

    async def _dispatch(self, request: Request, resource: Resource) -> Response:
        method = request.method
        if resource.attribute_sets is not None:
            if method != "GET":
                raise RestError(
                    405, f"{method} is not allowed: the emulator serves attribute sets read-only"
                )
            return self._attribute_sets(request, resource)
        if resource.changelog:
            return self._changelog(request, resource)
        if resource.metadata:
            if method != "GET":
                raise RestError(405, f"{method} is not allowed on $metadata")
            return self._metadata(request, resource)
        if resource.item_id is None:
            if method == "GET":
                return self._list(request, resource)
            if method == "POST":
                return self._create(request, resource, await request.body())
        else:
            if method == "GET":
                return self._get(request, resource)
            if method == "PATCH":
                return self._patch(request, resource, await request.body())
            if method == "DELETE":
                return self._delete(resource)
        raise RestError(405, f"{method} is not allowed on {request.url.path}")

    # writes -------------------------------------------------------------------------------

    def _reader(self, request: Request, table: TableSpec) -> BodyReader:
        culture = culture_of(self.state.tenant, request.headers.get("accept-language"))
        return BodyReader(
            self.state.tenant,
            self.state.storage,
            table,
            self.state.settings.rest,
            culture,
            refuse=self.state.settings.refuse.get(table.import_name),
        )

    def _create(self, request: Request, resource: Resource, raw: bytes) -> Response:
        table = resource.table
        assert table is not None
        storage = self.state.storage
        with storage.transaction():
            change = self._reader(request, table).read(parse_body(raw), None)
            assert change.ref is not None
            item = storage.insert(
                table.import_name,
                change.ref,
                change.status or self.state.tenant.new_item_status,
                {},
                {},
            )
            apply_fields(table, item, change.fields, replace=False)
            item.links.update(change.links)
            storage.save(item)
        base = str(request.url).split("?")[0].rstrip("/")
        base = base[: base.rindex("/") + 1]
        headers = {"Location": base + resource.item_path(item.id)}
        return Response(status_code=201, headers=headers)

    def _live(self, resource: Resource) -> Any:
        assert resource.table is not None and resource.item_id is not None
        item = self.state.storage.get(resource.table.import_name, resource.item_id)
        if item is None:
            raise RestError(404, f"{resource.item_path(resource.item_id)} not found")
        return item

    def _patch(self, request: Request, resource: Resource, raw: bytes) -> Response:
        table = resource.table
        assert table is not None
        storage = self.state.storage
        with storage.transaction():
            item = self._live(resource)
            change = self._reader(request, table).read(parse_body(raw), item)
            if change.status:
                item.status = change.status
            apply_fields(table, item, change.fields, replace=False)
            item.links.update(change.links)
            storage.save(item)
        if self.state.settings.rest.patch_status == 204:
            return Response(status_code=204)
        return JSONResponse(self._render(table, [item])[0], status_code=200)

    def _delete(self, resource: Resource) -> Response:
        table = resource.table
        assert table is not None
        with self.state.storage.transaction():
            item = self._live(resource)
            delete_item(self.state.tenant, self.state.storage, table, item.id)
        return Response(status_code=204)

    # reads --------------------------------------------------------------------------------

    def _render(self, table: TableSpec, items: list[Any]) -> list[dict[str, Any]]:
        resolver = RefResolver(self.state.tenant, self.state.storage, table, items)
        return [render_rest(table, item, resolver) for item in items]

    def _get(self, request: Request, resource: Resource) -> Response:
        table = resource.table
        assert table is not None
        culture_of(self.state.tenant, request.headers.get("accept-language"))
        record = self._render(table, [self._live(resource)])[0]
        selected = self._select(record, request.query_params.get("$select"))
        return JSONResponse(selected)

    @staticmethod
    def _select(record: dict[str, Any], select: str | None) -> Any:
        if not select:
            return record
        names = [n.strip() for n in select.split(",") if n.strip()]
        for name in names:
            if name not in record:
                raise RestError(400, f"Invalid attribute name in $select: {name}", field=name)
        return {name: record[name] for name in names}

    def _options(self, request: Request) -> dict[str, str]:
        options: dict[str, str] = {}
        for key, value in request.query_params.multi_items():
            if key.startswith("$"):
                if key.lower() not in _OPTIONS:
                    raise RestError(400, f"Unsupported query option {key}")
                options[key.lower()] = value
        return options

    def _list(self, request: Request, resource: Resource) -> Response:
        table = resource.table
        assert table is not None

        def expand(page: list[dict[str, Any]], nav: str) -> None:
            self._expand(table, page, nav)

        return self._page(
            request,
            known=self._known_properties(table),
            id_field=table.id_field,
            source=lambda compiled: self._render(table, self._candidates(table, compiled)),
            expand=expand,
        )

    def _page(
        self,
        request: Request,
        *,
        known: set[str],
        id_field: str,
        source: Callable[[Filter | None], list[dict[str, Any]]],
        expand: Callable[[list[dict[str, Any]], str], None] | None,
        token_paging: bool = True,
    ) -> Response:
        """One page of a list with the OData options: ``source`` gives the candidate records
        (it may use the filter to narrow them), ``expand`` adds a navigation collection;
        ``@nextLink`` carries a ``$skipToken``, or ``$skip`` with ``$orderby`` or without
        ``token_paging``."""
        culture = culture_of(self.state.tenant, request.headers.get("accept-language"))
        options = self._options(request)
        limit = self._page_size(options)
        skip = _int_option("$skip", options["$skip"]) if "$skip" in options else 0
        after = _decode_token(options["$skiptoken"]) if "$skiptoken" in options else None
        orderby = options.get("$orderby")
        if after is not None and orderby:
            raise RestError(400, "$skipToken cannot be combined with $orderby")
        for name in (options.get("$select") or "").split(","):
            if name.strip() and name.strip() not in known:
                raise RestError(400, f"Invalid attribute name in $select: {name.strip()}")
        compiled = self._compile(options["$filter"], known) if "$filter" in options else None
        records = source(compiled)
        if compiled is not None:
            records = [r for r in records if compiled.matches(r, culture)]
        if orderby:
            records = self._order(records, orderby, known, culture)
        total = len(records)
        if after is not None:
            records = [r for r in records if r[id_field] > after]
        remaining = records[skip:]
        page = remaining[:limit]
        nav = options.get("$expand")
        if nav:
            if expand is None:
                raise RestError(400, f"Cannot $expand {nav} here")
            expand(page, nav)
        select = options.get("$select")
        if select and nav:
            select = f"{select},{nav},{nav}@count"
        body: dict[str, Any] = {
            "value": [self._select(r, select) for r in page],
            "@count": total,
            "@readLink": str(request.url),
        }
        if page and len(remaining) > len(page):
            body["@nextLink"] = self._next_link(
                request, options, id_field, page, skip, token_paging=token_paging
            )
        return JSONResponse(body)

    def _page_size(self, options: dict[str, str]) -> int:
        settings = self.state.settings.rest
        if "$top" not in options:
            return settings.max_top
        top = _int_option("$top", options["$top"])
        if top <= settings.max_top:
            return top
        if settings.top_over_max == "clamp":
            return settings.max_top
        if settings.top_over_max == "empty":
            return 0
        raise RestError(400, f"$top must be at most {settings.max_top}")

    def _known_properties(self, table: TableSpec) -> set[str]:
        names = {
            table.id_field,
            table.ref_field,
            table.stat_field,
            table.creation_field,
            table.modify_field,
        }
        names.update(spec.name for spec in table.fields)
        for link in table.links:
            names.add(link.field)
            if link.rest_field:
                names.add(link.rest_field)
        return names

    @staticmethod
    def _compile(text: str, known: set[str]) -> Filter:
        try:
            compiled = parse_filter(text)
        except FilterError as exc:
            raise RestError(400, f"Invalid $filter: {exc}") from exc
        for name in sorted(compiled.properties - known):
            raise RestError(400, f"Invalid attribute name in $filter: {name}", field=name)
        return compiled

    def _candidates(self, table: TableSpec, compiled: Filter | None) -> list[Any]:
        """Items that may match: found by index when the filter pins the reference or the id
        (the client's ref -> id lookups), else every live item."""
        storage = self.state.storage
        if compiled is not None and compiled.narrowing is not None:
            prop, values = compiled.narrowing
            if prop == table.ref_field:
                return storage.with_refs(table.import_name, [str(v) for v in values])
            if prop == table.id_field:
                ids = [
                    int(v)
                    for v in values
                    if isinstance(v, int | float) and not isinstance(v, bool) and v == int(v)
                ]
                return storage.with_ids(table.import_name, ids)
        return storage.live_items(table.import_name)

    def _order(
        self, records: list[dict[str, Any]], orderby: str, known: set[str], culture: str
    ) -> list[dict[str, Any]]:
        keys: list[tuple[str, bool]] = []
        for part in orderby.split(","):
            words = part.split()
            if not words or len(words) > 2 or words[-1].lower() not in ("asc", "desc", words[0]):
                raise RestError(400, f"Invalid $orderby: {orderby!r}")
            if words[0] not in known:
                raise RestError(400, f"Invalid attribute name in $orderby: {words[0]}")
            keys.append((words[0], len(words) == 2 and words[1].lower() == "desc"))

        def sort_key(value: Any) -> tuple[int, str]:
            if isinstance(value, dict):
                value = value.get(culture)
            if value is None:
                return (0, "")
            if isinstance(value, int | float):
                return (1, f"{value:030.6f}")
            return (2, str(value))

        for name, descending in reversed(keys):
            records = sorted(records, key=lambda r: sort_key(r.get(name)), reverse=descending)
        return records

    def _expand(self, table: TableSpec, page: list[dict[str, Any]], expand: str) -> None:
        child_kind = _EXPAND.get((table.kind, expand))
        child = next((t for t in self.state.tenant.tables if t.kind == child_kind), None)
        link = (
            next((x for x in child.links if x.target == table.import_name), None) if child else None
        )
        if child is None or link is None:
            raise RestError(400, f"Cannot $expand {expand} on {table.rest_set}")
        children = self.state.storage.live_items(child.import_name)
        for record in page:
            mine = [c for c in children if record[table.id_field] in c.links.get(link.field, [])]
            record[expand] = self._render(child, mine)
            record[f"{expand}@count"] = len(mine)

    def _next_link(
        self,
        request: Request,
        options: dict[str, str],
        id_field: str,
        page: list[dict[str, Any]],
        skip: int,
        *,
        token_paging: bool = True,
    ) -> str:
        params = {
            k: v
            for k, v in request.query_params.multi_items()
            if k.lower() not in ("$skip", "$skiptoken")
        }
        if options.get("$orderby") or not token_paging:
            params["$skip"] = str(skip + len(page))
        else:
            params["$skiptoken"] = _encode_token(page[-1][id_field])
            params = {("$skipToken" if k == "$skiptoken" else k): v for k, v in params.items()}
        base = str(request.url).split("?")[0]
        return f"{base}?{urlencode(params, safe='$,()')}"

    def _changelog(self, request: Request, resource: Resource) -> Response:
        """A table's change records (docs/emulator.md, "Changelogs"): ``$filter``,
        ``$orderby``, ``$top`` and ``$skip`` only, ``$skip`` paging in ``@nextLink``."""
        table = resource.table
        assert table is not None
        if request.method != "GET":
            raise RestError(405, f"{request.method} is not allowed: a changelog is read-only")
        if table.kind != "custom" and not self.state.settings.rest.inferred_changelogs:
            raise RestError(
                404,
                f"{table.rest_set}/Changelog is not served: only the custom-entity changelog "
                "path is confirmed (switch on rest.inferred_changelogs to serve it)",
            )
        for key in self._options(request):
            if key in _CHANGELOG_REFUSED:
                shown = next(k for k in request.query_params if k.lower() == key)
                raise RestError(400, f"Unsupported query option {shown} on a changelog")
        return self._page(
            request,
            known=_CHANGELOG_FIELDS,
            id_field="id",
            source=lambda _: self.state.storage.changelog(table.import_name),
            expand=None,
            token_paging=False,
        )

    def _attribute_sets(self, request: Request, resource: Resource) -> Response:
        tenant = self.state.tenant
        specs = attribute_sets(tenant)
        v2 = resource.attribute_sets == "v2"
        id_field = "id" if v2 else "typ_id"
        records = [v2_record(spec) if v2 else v1_record(tenant, spec) for spec in specs]
        if resource.set_key is not None:
            culture_of(tenant, request.headers.get("accept-language"))
            if resource.set_key == "default":
                found = [r for r, spec in zip(records, specs, strict=True) if spec.default]
            else:
                found = [r for r in records if r[id_field] == resource.set_key]
            if not found:
                raise RestError(404, f"Attribute set {resource.set_key} not found")
            return JSONResponse(self._select(found[0], request.query_params.get("$select")))
        return self._page(
            request,
            known=set(V2_PROPERTIES if v2 else V1_PROPERTIES),
            id_field=id_field,
            source=lambda _: records,
            expand=None,
        )

    def _metadata(self, request: Request, resource: Resource) -> Response:
        tenant = self.state.tenant
        if resource.table is not None:
            tables = [resource.table]
        elif resource.all_custom:
            tables = [t for t in tenant.tables if t.kind == "custom"]
        else:
            tables = list(tenant.tables)
        return JSONResponse(
            {
                "value": [table_schema(tenant, t) for t in tables],
                "readLink": {"uri": str(request.url)},
            }
        )
