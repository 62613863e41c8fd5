"""Client of the Catalog REST API v2: upsert and delete by reference, one item per call.

The REST API has no upsert by reference and links items by numeric id, so an upsert reads, then
writes: references are resolved to ids in batches (``$filter=<p>_ref in (...)``, following
``@nextLink``) and cached; known items are PATCHed, new ones POSTed (the id is read from the
``(...)`` of the ``Location`` header). Tables go in dependency order: categories (parents first),
custom entities, products, variants. Every request passes a client-side rate limiter
(45 per 10 s per API key by default) and transient failures are retried with backoff, honouring
``Retry-After``. A POST that failed in a way that may still have created the item is retried
only after looking the reference up, so a retry never creates a duplicate.

Usage::

    with RestCatalogClient(RestCredentials(base_url, api_key), conn_id="saleslayer") as rest:
        rest.push(categories=cats, products=prods, variants=variants)
"""

from __future__ import annotations

import logging
import re
import time
from collections.abc import Callable, Iterable, Iterator, Mapping
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import quote

import httpx

from saleslayer_airflow.exceptions import (
    SalesLayerApiError,
    SalesLayerNoAnswerError,
    SalesLayerTerminalError,
    SalesLayerTransientError,
)
from saleslayer_airflow.saleslayer.credentials import RestCredentials, safe_url
from saleslayer_airflow.saleslayer.entities import (
    CATEGORIES,
    LINKS,
    PRODUCTS,
    VARIANTS,
    EntitySet,
    Link,
    odata_string,
)
from saleslayer_airflow.saleslayer.errors import redact, status_error, transport_error, where
from saleslayer_airflow.saleslayer.form import Row, join_list
from saleslayer_airflow.saleslayer.ratelimit import (
    DEFAULT_MAX_REQUESTS,
    DEFAULT_WINDOW_SECONDS,
    SlidingWindowLimiter,
    limiter_for,
)
from saleslayer_airflow.saleslayer.retry import RetryPolicy, retrying

log = logging.getLogger(__name__)

API = "Catalog REST API"
_LOCATION_ID = re.compile(r"\((\d+)\)/?$")
_DEFAULT_PORTS = {"http": 80, "https": 443}
#: Wait after a 429 that carried no Retry-After.
_DEFAULT_429_WAIT = 10.0


@dataclass(frozen=True)
class RestOptions:
    """Tunables of :class:`RestCatalogClient`.

    ``max_requests`` per ``window`` seconds: the client-side rate limit (Sales Layer allows 50
    per 10 s). ``lookup_batch``: references per lookup request (at most 100, the page size cap).
    ``max_url_length``: a lookup URL never grows beyond this. ``languages``: culture codes whose
    ``<field>_<lang>`` columns are folded into culture-keyed objects (``prod_title_en`` ->
    ``prod_title: {"en": ...}``); multilingual values given as mappings are sent as they are.
    """

    timeout: float = 30.0
    retry: RetryPolicy = field(default_factory=RetryPolicy)
    max_requests: int = DEFAULT_MAX_REQUESTS
    window: float = DEFAULT_WINDOW_SECONDS
    lookup_batch: int = 100
    max_url_length: int = 2000
    languages: tuple[str, ...] = ()

    def __post_init__(self) -> None:
        if not 1 <= self.lookup_batch <= 100:
            raise ValueError(f"lookup_batch={self.lookup_batch}: must be between 1 and 100")


@dataclass
class RestCounts:
    """What one table's push did: items created, updated, deleted, deletes of references
    Sales Layer did not have (already gone), and items not created because only existing items
    were to be updated (``skipped``)."""

    created: int = 0
    updated: int = 0
    deleted: int = 0
    missing: int = 0
    skipped: int = 0


def _origin(url: httpx.URL) -> tuple[str, str, int | None]:
    return (url.scheme, url.host, url.port or _DEFAULT_PORTS.get(url.scheme))


def _refs_of(value: Any) -> list[str]:
    if value is None:
        return []
    if isinstance(value, list | tuple):
        return [str(v).strip() for v in value if str(v).strip()]
    return [part.strip() for part in str(value).split(",") if part.strip()]


@dataclass
class _Item:
    position: int
    ref: str
    fields: dict[str, Any]
    links: dict[str, list[str]]


class RestCatalogClient:
    """Upserts and deletes categories, products, variants and custom-entity items by reference
    through the Catalog REST API v2.

    One client per thread (its reference cache is not locked); clients of one API key share the
    process-wide rate limiter, so several threads together still stay under the limit.

    :param credentials: base URL (up to ``.../Catalog/``) and API key.
    :param conn_id: the Airflow connection the credentials came from (named in errors).
    :param options: rate limit, lookup batching, retry and timeout settings.
    :param transport: an ``httpx`` transport (tests; defaults to the network).
    :param limiter: the rate limiter; by default the process-wide one of the API key.
    :param clock: unix-time source (``Retry-After`` dates).
    :param sleep: used for backoff waits (tests pass a recorder).
    """

    def __init__(
        self,
        credentials: RestCredentials,
        *,
        conn_id: str = "saleslayer_default",
        options: RestOptions | None = None,
        transport: httpx.BaseTransport | None = None,
        limiter: SlidingWindowLimiter | None = None,
        clock: Callable[[], float] = time.time,
        sleep: Callable[[float], None] = time.sleep,
    ) -> None:
        self.credentials = credentials
        self.conn_id = conn_id
        self.options = options or RestOptions()
        self.limiter = limiter or limiter_for(
            credentials.api_key, self.options.max_requests, self.options.window
        )
        self._clock = clock
        self._sleep = sleep
        self._base = httpx.URL(credentials.base_url)
        self._secrets = (credentials.api_key,)
        self._ids: dict[tuple[str, str], int] = {}
        #: (collection, reference) of creates whose POST timed out after it left, with the
        #: monotonic time it did: the server may still write it (see :meth:`_sweep`).
        self._unanswered: dict[tuple[str, str], float] = {}
        #: Extra items a late-applied POST left behind, deleted by :meth:`_sweep`.
        self.duplicates_removed = 0
        #: HTTP requests made so far, and how many of them were reference lookups.
        self.requests = 0
        self.lookups = 0
        self._http = httpx.Client(
            timeout=self.options.timeout,
            transport=transport,
            follow_redirects=False,
            headers={"X-API-KEY": credentials.api_key, "Accept": "application/json"},
        )

    def __repr__(self) -> str:
        return f"RestCatalogClient(conn_id={self.conn_id!r}, credentials={self.credentials!r})"

    def __enter__(self) -> RestCatalogClient:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def close(self) -> None:
        """Close the HTTP connections."""
        self._http.close()

    # ------------------------------------------------------------------ id cache

    def remember(self, entity: EntitySet, ids: Mapping[str, int]) -> None:
        """Seed the reference -> id cache (e.g. from the state store), saving lookups."""
        for ref, item_id in ids.items():
            self._ids[(entity.collection, ref)] = int(item_id)

    def known_ids(self, entity: EntitySet) -> dict[str, int]:
        """The reference -> id pairs of ``entity`` this client knows so far."""
        return {ref: i for (coll, ref), i in self._ids.items() if coll == entity.collection}

    # ------------------------------------------------------------------ HTTP

    def _url(self, path: str) -> httpx.URL:
        return self._base.join(path)

    def _request(
        self,
        method: str,
        url: httpx.URL,
        *,
        table: str,
        item: str | None = None,
        json_body: Mapping[str, Any] | None = None,
    ) -> httpx.Response:
        """One request through the rate limiter; errors classified (not retried here)."""
        shown = safe_url(url)
        self.limiter.acquire()
        self.requests += 1
        try:
            response = self._http.request(method, url, json=json_body)
        except httpx.TransportError as exc:
            raise transport_error(
                exc,
                api=API,
                conn_id=self.conn_id,
                method=method,
                url=shown,
                table=table,
                secrets=self._secrets,
            ) from None
        if response.is_success:
            return response
        error = status_error(
            response,
            api=API,
            conn_id=self.conn_id,
            url=shown,
            table=table,
            item=item,
            now=self._clock(),
            secrets=self._secrets,
        )
        if response.status_code == 429:
            if error.retry_after is None:
                error.retry_after = _DEFAULT_429_WAIT
            self.limiter.pause(min(error.retry_after, self.options.retry.max_retry_after))
        raise error

    def _retrying(self, what: str) -> Callable[..., Any]:
        return retrying(self.options.retry, sleep=self._sleep, logger=log, what=what)

    def check(self) -> str:
        """Read one category id to prove the base URL and API key work; raise
        :class:`SalesLayerApiError` when they do not."""
        url = self._url(CATEGORIES.collection).copy_merge_params(
            {"$select": CATEGORIES.id_field, "$top": "1"}
        )
        self._retrying(f"Sales Layer {API} check")(self._request, "GET", url, table=CATEGORIES.name)
        return f"Sales Layer {API} at {safe_url(self._base)} accepted the API key"

    def metadata(self, path: str = "$metadata") -> list[dict[str, Any]]:
        """The account's model: one JSON Schema per table (``GET $metadata``, or another
        metadata ``path`` such as ``CustomEntities/$metadata``); read-only, retried like any
        read."""
        url = self._url(path)

        def read() -> Any:
            response = self._request("GET", url, table="$metadata")
            try:
                return response.json()
            except ValueError:
                return None

        document = self._retrying(f"Sales Layer {API} {path}")(read)
        schemas = document.get("value") if isinstance(document, Mapping) else None
        if not isinstance(schemas, list):
            raise SalesLayerTerminalError(
                f"Sales Layer {API} answered {path} with a body that holds no 'value' list "
                f"[{where(conn_id=self.conn_id, method='GET', url=safe_url(url))}]: check the "
                "REST base URL (extra 'rest_url'); it must end in /Catalog/",
                conn_id=self.conn_id,
                url=safe_url(url),
                table="$metadata",
            )
        return [dict(schema) for schema in schemas if isinstance(schema, Mapping)]

    # ------------------------------------------------------------------ lookups

    def _lookup_groups(self, entity: EntitySet, refs: list[str]) -> Iterator[list[str]]:
        """Refs grouped so that each lookup URL stays within ``max_url_length``."""
        fixed = len(str(self._url(entity.collection))) + 80 + 2 * len(entity.prefix)
        group: list[str] = []
        length = fixed
        for ref in refs:
            added = len(quote(odata_string(ref), safe="")) + 3
            if group and (
                len(group) >= self.options.lookup_batch
                or length + added > self.options.max_url_length
            ):
                yield group
                group, length = [], fixed
            if fixed + added > self.options.max_url_length:
                raise SalesLayerTerminalError(
                    f"reference {ref[:80]!r} of {entity.name} is too long to look up within a "
                    f"{self.options.max_url_length}-character URL [connection {self.conn_id!r}]"
                    ": raise max_url_length or shorten the reference",
                    conn_id=self.conn_id,
                    table=entity.name,
                )
            group.append(ref)
            length += added
        if group:
            yield group

    def _next_url(self, link: str, entity: EntitySet) -> httpx.URL:
        url = self._base.join(link)
        if _origin(url) == _origin(self._base):
            return url
        # Never send the API key to another host: keep the page's query (its $skipToken),
        # on the configured base URL.
        log.debug("@nextLink on another host; following its query on the configured host")
        return self._url(entity.collection).copy_with(query=url.query)

    def resolve(self, entity: EntitySet, refs: Iterable[str]) -> dict[str, int]:
        """The ids of the items of ``entity`` with these references, looked up in batches (only
        references not already cached). References Sales Layer does not have are absent."""
        wanted = list(dict.fromkeys(refs))
        unknown = [r for r in wanted if (entity.collection, r) not in self._ids]
        for group in self._lookup_groups(entity, unknown):
            self._lookup(entity, group)
        return {
            r: self._ids[(entity.collection, r)]
            for r in wanted
            if (entity.collection, r) in self._ids
        }

    def _lookup(self, entity: EntitySet, refs: list[str]) -> None:
        for ref, ids in self._find_ids(entity, refs).items():
            if len(ids) > 1:
                log.warning(
                    "%s: reference %r is held by %d items (ids %s); using the oldest, id %d",
                    entity.name,
                    ref,
                    len(ids),
                    sorted(ids),
                    min(ids),
                )
            self._ids[(entity.collection, ref)] = min(ids)

    def _find_ids(self, entity: EntitySet, refs: list[str]) -> dict[str, list[int]]:
        """Every id holding each of ``refs`` (several when an item was created twice)."""
        in_list = ",".join(odata_string(r) for r in refs)
        url: httpx.URL | None = self._url(entity.collection).copy_merge_params(
            {
                "$select": f"{entity.id_field},{entity.ref_field}",
                "$filter": f"{entity.ref_field} in ({in_list})",
                "$top": "100",
            }
        )
        found: dict[str, list[int]] = {}
        retry = self._retrying(f"Sales Layer {API}, lookup in {entity.name}")
        while url is not None:
            page: dict[str, Any] = retry(self._get_page, url, entity)
            for row in page.get("value") or []:
                if not isinstance(row, Mapping):
                    continue
                ref, item_id = row.get(entity.ref_field), row.get(entity.id_field)
                if ref is not None and item_id is not None:
                    found.setdefault(str(ref), []).append(int(item_id))
            link = page.get("@nextLink")
            url = self._next_url(str(link), entity) if link else None
        return found

    def _sweep(self, entity: EntitySet) -> None:
        """Delete the second items that late-applied POSTs created.

        A POST that timed out may still be written by the server after the client looked the
        reference up and created the item again. Once the slowest of them has had twice the
        timeout to land, the references they touched are looked up once more, and every item
        holding one besides the id the client kept (and the state store records) is deleted:
        it was created by this client a moment ago and carries the same content.
        """
        mine = {
            ref: at for (coll, ref), at in self._unanswered.items() if coll == entity.collection
        }
        if not mine:
            return
        settle = max(mine.values()) + 2 * self.options.timeout - time.monotonic()
        if settle > 0:
            self._sleep(settle)
        for group in self._lookup_groups(entity, list(mine)):
            for ref, ids in self._find_ids(entity, group).items():
                kept = self._ids.get((entity.collection, ref), min(ids))
                for extra in sorted(set(ids) - {kept}):
                    label = f"{entity.ref_field} {ref!r}"
                    log.warning(
                        "%s: a timed-out create of %r was applied late: deleting the second "
                        "item, id %d (keeping id %d)",
                        entity.name,
                        ref,
                        extra,
                        kept,
                    )
                    if self._delete_id(entity, extra, label):
                        self.duplicates_removed += 1
        for ref in mine:
            self._unanswered.pop((entity.collection, ref), None)

    def _get_page(self, url: httpx.URL, entity: EntitySet) -> dict[str, Any]:
        self.lookups += 1
        response = self._request("GET", url, table=entity.name)
        try:
            page = response.json()
        except ValueError:
            page = None
        if not isinstance(page, Mapping):
            raise SalesLayerTransientError(
                f"Sales Layer {API} answered a list request with a body that is not a JSON "
                f"object [{where(conn_id=self.conn_id, method='GET', url=safe_url(url))}]: "
                "retried; if it persists, check the REST base URL (extra 'rest_url')",
                conn_id=self.conn_id,
                url=safe_url(url),
                table=entity.name,
            )
        return dict(page)

    # ------------------------------------------------------------------ writes

    def _prepare(self, entity: EntitySet, rows: Iterable[Row]) -> list[_Item]:
        links = {link.ref_field: link for link in LINKS.get(entity, ())}
        items = []
        for position, row in enumerate(rows):
            ref = str(row.get(entity.ref_field) or row.get("REF") or "").strip()
            if not ref:
                raise SalesLayerTerminalError(
                    f"{entity.name}: item #{position + 1} has no reference "
                    f"({entity.ref_field}) [connection {self.conn_id!r}]: every item needs one",
                    conn_id=self.conn_id,
                    table=entity.name,
                )
            fields: dict[str, Any] = {}
            item_links: dict[str, list[str]] = {}
            for name, value in row.items():
                if name in links:
                    item_links[name] = _refs_of(value)
                elif name == "REF":
                    continue
                else:
                    self._put_field(fields, name, value, entity, ref)
            fields[entity.ref_field] = ref
            items.append(_Item(position, ref, fields, item_links))
        return items

    def _put_field(
        self, fields: dict[str, Any], name: str, value: Any, entity: EntitySet, ref: str
    ) -> None:
        where_ = f"{entity.name}, {entity.ref_field} {ref!r}, field {name!r}"
        if isinstance(value, list | tuple | set | frozenset):
            value = join_list(value, where=where_)
        base, _, culture = name.rpartition("_")
        if base and culture in self.options.languages:
            target = fields.setdefault(base, {})
            if isinstance(target, dict):
                target[culture] = value
                return
        if isinstance(value, Mapping):
            value = {str(k): v for k, v in value.items()}
        fields[name] = value

    def _resolve_links(self, entity: EntitySet, items: list[_Item]) -> None:
        """Resolve every parent reference before writing anything: a missing parent fails the
        whole table up front instead of half-way."""
        own = {item.ref for item in items}
        missing: list[str] = []
        for link in LINKS.get(entity, ()):
            refs = [r for item in items for r in item.links.get(link.ref_field, [])]
            if link.target == entity:
                refs = [r for r in refs if r not in own]
            known = self.resolve(link.target, refs)
            missing.extend(
                f"{entity.ref_field} {item.ref!r} -> {link.ref_field} {r!r}"
                for item in items
                for r in item.links.get(link.ref_field, [])
                if r not in known and not (link.target == entity and r in own)
            )
        if missing:
            shown = "; ".join(missing[:10])
            if len(missing) > 10:
                shown += f" (and {len(missing) - 10} more)"
            raise SalesLayerTerminalError(
                f"{entity.name}: {len(missing)} parent reference(s) do not exist in Sales Layer "
                f"nor in this push: {shown} [connection {self.conn_id!r}]: push the parents "
                "first or fix the references",
                conn_id=self.conn_id,
                table=entity.name,
            )

    def _ordered(self, entity: EntitySet, items: list[_Item]) -> list[_Item]:
        """Parents before children when items of one table link to each other (categories)."""
        self_links = [link for link in LINKS.get(entity, ()) if link.target == entity]
        if not self_links:
            return items
        by_ref = {item.ref: item for item in items}
        done: set[str] = set()
        ordered: list[_Item] = []
        for start in items:
            stack: list[tuple[_Item, list[str]]] = []
            chain = set()
            node: _Item | None = start
            while node is not None and node.ref not in done:
                if node.ref in chain:
                    raise SalesLayerTerminalError(
                        f"{entity.name}: the parent references form a cycle through "
                        f"{entity.ref_field} {node.ref!r} [connection {self.conn_id!r}]: fix "
                        "the parents in the source data",
                        conn_id=self.conn_id,
                        table=entity.name,
                    )
                chain.add(node.ref)
                parents = [r for link in self_links for r in node.links.get(link.ref_field, [])]
                stack.append((node, parents))
                node = next((by_ref[p] for p in parents if p in by_ref and p not in done), None)
            for pending, _ in reversed(stack):
                if pending.ref not in done:
                    done.add(pending.ref)
                    ordered.append(pending)
        return ordered

    def _body(self, entity: EntitySet, item: _Item) -> dict[str, Any]:
        body = dict(item.fields)
        for link in LINKS.get(entity, ()):
            if link.ref_field not in item.links:
                continue
            ids = [self._ids[(link.target.collection, r)] for r in item.links[link.ref_field]]
            if not ids:
                continue  # an empty parent: leave the link as it is
            body[link.id_field] = ids if link.many and len(ids) > 1 else ids[0]
        return body

    def upsert(self, entity: EntitySet, rows: Iterable[Row], *, create: bool = True) -> RestCounts:
        """Create or update ``rows`` of ``entity`` by reference; parent links given by
        reference (``cat_parent_ref``, ``cat_ref``, ``prod_ref``) are sent as ids. With
        ``create=False`` only items Sales Layer already has are updated; the others are
        counted as ``skipped`` (Sales Layer's "only import existing items")."""
        items = self._ordered(entity, self._prepare(entity, rows))
        self.resolve(entity, [item.ref for item in items])
        counts = RestCounts()
        if not create:
            existing = [item for item in items if (entity.collection, item.ref) in self._ids]
            counts.skipped = len(items) - len(existing)
            items = existing
        self._resolve_links(entity, items)
        for item in items:
            if self._write(entity, item):
                counts.created += 1
            else:
                counts.updated += 1
        self._sweep(entity)
        log.info(
            "Sales Layer %s: %s: %d created, %d updated (%d requests so far)",
            API,
            entity.name,
            counts.created,
            counts.updated,
            self.requests,
        )
        return counts

    def _write(self, entity: EntitySet, item: _Item) -> bool:
        """PATCH a known item or POST a new one; True when created."""
        body = self._body(entity, item)
        label = f"{entity.ref_field} {item.ref!r}"
        item_id = self._ids.get((entity.collection, item.ref))
        if item_id is not None:
            patch = {k: v for k, v in body.items() if k not in (entity.id_field, entity.ref_field)}
            try:
                self._retrying(f"Sales Layer {API}, PATCH {entity.name} {label}")(
                    self._request,
                    "PATCH",
                    self._url(entity.item(item_id)),
                    table=entity.name,
                    item=label,
                    json_body=patch,
                )
                return False
            except SalesLayerTerminalError as exc:
                if exc.status != 404:
                    raise
                # The cached id is stale (the item was deleted): look the reference up again.
                del self._ids[(entity.collection, item.ref)]
                if item.ref in self.resolve(entity, [item.ref]):
                    return self._write(entity, item)
        new_id = self._retrying(f"Sales Layer {API}, POST {entity.name} {label}")(
            self._create, entity, item, body, [0, 0]
        )
        self._ids[(entity.collection, item.ref)] = new_id
        return True

    def _create(
        self, entity: EntitySet, item: _Item, body: dict[str, Any], attempt: list[int]
    ) -> int:
        attempt[0] += 1
        if attempt[0] > 1:
            if attempt[1]:
                # The last POST left but timed out: a server answering late may still write it.
                # Give it as long as the request had before looking the reference up, or the
                # lookup misses it and the item is created twice.
                self._sleep(self.options.timeout)
                attempt[1] = 0
            # The failed POST may have created the item after all: never create it twice.
            self._ids.pop((entity.collection, item.ref), None)
            known = self.resolve(entity, [item.ref])
            if item.ref in known:
                return known[item.ref]
        url = self._url(entity.collection)
        label = f"{entity.ref_field} {item.ref!r}"
        try:
            response = self._request("POST", url, table=entity.name, item=label, json_body=body)
        except SalesLayerNoAnswerError:
            attempt[1] = 1
            self._unanswered[(entity.collection, item.ref)] = time.monotonic()
            raise
        location = response.headers.get("Location", "")
        match = _LOCATION_ID.search(httpx.URL(location).path if location else "")
        if match:
            return int(match.group(1))
        known = self.resolve(entity, [item.ref])
        if item.ref in known:
            return known[item.ref]
        place = where(
            conn_id=self.conn_id,
            method="POST",
            url=safe_url(url),
            table=entity.name,
            item=label,
        )
        message = (
            f"Sales Layer {API} answered HTTP {response.status_code} to a create without an id "
            f"in its Location header ({location[:200]!r}) and the item cannot be found by "
            f"reference [{place}]: check the REST base URL (extra 'rest_url')"
        )
        raise SalesLayerTerminalError(
            redact(message, self._secrets),
            conn_id=self.conn_id,
            url=safe_url(url),
            table=entity.name,
        )

    def delete(self, entity: EntitySet, refs: Iterable[str]) -> RestCounts:
        """Delete the items of ``entity`` with these references; references Sales Layer does
        not have (or no longer has) are counted as ``missing``, not as errors."""
        wanted = list(dict.fromkeys(refs))
        known = self.resolve(entity, wanted)
        counts = RestCounts(missing=len(wanted) - len(known))
        for ref, item_id in known.items():
            if self._delete_id(entity, item_id, f"{entity.ref_field} {ref!r}"):
                counts.deleted += 1
            else:
                counts.missing += 1
            self._ids.pop((entity.collection, ref), None)
        return counts

    def _delete_id(self, entity: EntitySet, item_id: int, label: str) -> bool:
        """DELETE one item by id, with retries; False when Sales Layer no longer has it."""
        try:
            self._retrying(f"Sales Layer {API}, DELETE {entity.name} {label}")(
                self._request,
                "DELETE",
                self._url(entity.item(item_id)),
                table=entity.name,
                item=label,
            )
        except SalesLayerApiError as exc:
            if exc.status != 404:
                raise
            return False
        return True

    def set_status(
        self, entity: EntitySet, refs: Iterable[str], field_name: str, value: str
    ) -> RestCounts:
        """Give the items of ``entity`` with these references the status ``value`` (PATCH of
        ``field_name``, e.g. ``prod_stat``); references Sales Layer does not have are counted as
        ``missing`` and never created. ``updated`` counts the items patched."""
        wanted = list(dict.fromkeys(refs))
        known = self.resolve(entity, wanted)
        counts = RestCounts(missing=len(wanted) - len(known))
        for ref, item_id in known.items():
            label = f"{entity.ref_field} {ref!r}"
            try:
                self._retrying(f"Sales Layer {API}, PATCH {entity.name} {label}")(
                    self._request,
                    "PATCH",
                    self._url(entity.item(item_id)),
                    table=entity.name,
                    item=label,
                    json_body={field_name: value},
                )
                counts.updated += 1
            except SalesLayerApiError as exc:
                if exc.status != 404:
                    raise
                counts.missing += 1
                self._ids.pop((entity.collection, ref), None)
        return counts

    def push(
        self,
        *,
        categories: Iterable[Row] = (),
        products: Iterable[Row] = (),
        variants: Iterable[Row] = (),
        custom_entities: Mapping[EntitySet, Iterable[Row]] | None = None,
        custom_entities_first: bool = True,
    ) -> dict[str, RestCounts]:
        """Upsert several tables in dependency order: categories (parents first), products,
        variants. Custom entities go right after the categories by default, because product and
        variant fields may relate to them (``prod_brand``) and a relation to an item that does
        not exist yet is refused or lost; ``custom_entities_first=False`` sends them last, for
        custom entities that relate to products. Returns the counts per entity set name."""
        custom = list((custom_entities or {}).items())
        order: list[tuple[EntitySet, Iterable[Row]]] = [(CATEGORIES, categories)]
        if custom_entities_first:
            order += custom
        order += [(PRODUCTS, products), (VARIANTS, variants)]
        if not custom_entities_first:
            order += custom
        result: dict[str, RestCounts] = {}
        for entity, rows in order:
            batch = list(rows)
            if batch:
                result[entity.name] = self.upsert(entity, batch)
        return result


__all__ = ["Link", "RestCatalogClient", "RestCounts", "RestOptions"]
