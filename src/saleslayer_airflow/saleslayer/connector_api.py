"""Client of the Import Connector API (legacy ``set_info``): bulk upsert and delete by reference.

One call carries up to 50,000 items of a table in PHP bracket form, signed with the connector's
private key. Sales Layer answers with per-table counts and, for asynchronous imports, a tracking
URL that is polled until the import ends. Upserts and deletes match items by reference, so a
retried batch leaves the same state as one sent once: transient failures are retried with
backoff, each attempt signed afresh.

Usage::

    with ConnectorApiClient(ConnectorCredentials(url, code, key), conn_id="saleslayer") as api:
        counts = api.upsert("products", rows)        # {"products": ImportCounts(...)}
        api.delete("products", ["OLD1"], "prod_ref")
"""

from __future__ import annotations

import functools
import json
import logging
import re
import time
from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

import httpx

from saleslayer_airflow.exceptions import (
    SalesLayerTerminalError,
    SalesLayerTransientError,
)
from saleslayer_airflow.numbers import ExactNumber
from saleslayer_airflow.saleslayer.batching import (
    Batch,
    BatchLimits,
    split_batches,
    split_by_sizes,
)
from saleslayer_airflow.saleslayer.credentials import ConnectorCredentials, safe_url
from saleslayer_airflow.saleslayer.errors import (
    SalesLayerItemsRefused,
    denial_concerns_items,
    legacy_error,
    redact,
    status_error,
    transport_error,
    where,
)
from saleslayer_airflow.saleslayer.form import (
    DELETE_DATA,
    INPUT_DATA,
    Row,
    item_fields,
    php_urlencode,
)
from saleslayer_airflow.saleslayer.retry import RetryPolicy, retrying
from saleslayer_airflow.saleslayer.signing import sign

log = logging.getLogger(__name__)

API = "Import Connector API"
#: What PHP's urlencode leaves as it is (space aside, which becomes "+").
_UNSAFE = re.compile(r"[^A-Za-z0-9_.\- ]+")
#: Joins the values of a row escaped at once (see encode_item).
_SEPARATOR = "Zq9xSEPj"
_DEFAULT_PORTS = {"http": 80, "https": 443}
_RUNNING = {"prepare", "started"}


@dataclass(frozen=True)
class ConnectorApiOptions:
    """Tunables of :class:`ConnectorApiClient`.

    ``timeout``: seconds per HTTP request. ``limits``: items and bytes per call.
    ``poll_interval``: seconds between two tracking polls (the official SDK polls at most once
    per second). ``tracking_timeout``: seconds to wait for an import to end before giving up
    (transient: the import may still end, and re-sending is safe). ``retry``: backoff of
    transient errors. ``input_data_directly``: ask for a direct, not queued, import.
    """

    timeout: float = 60.0
    limits: BatchLimits = field(default_factory=BatchLimits)
    poll_interval: float = 1.0
    tracking_timeout: float = 3600.0
    retry: RetryPolicy = field(default_factory=RetryPolicy)
    input_data_directly: bool = False


@dataclass
class ImportCounts:
    """What Sales Layer reported for one table, summed over the calls of a push (``skipped``:
    rows of unknown references a connector set to "only import existing items" ignored)."""

    created: int = 0
    updated: int = 0
    deleted: int = 0
    skipped: int = 0
    affected: int = 0
    items_sent: int = 0
    calls: int = 0

    def add(self, other: ImportCounts) -> None:
        """Add ``other``'s counts to these."""
        self.created += other.created
        self.updated += other.updated
        self.deleted += other.deleted
        self.skipped += other.skipped
        self.affected += other.affected
        self.items_sent += other.items_sent
        self.calls += other.calls


@dataclass(frozen=True)
class TrackingStatus:
    """The last state of an asynchronous import, as its tracking URL reported it."""

    status: str
    percent: int
    message: str
    counts: Mapping[str, Any] | None = None


@dataclass(frozen=True)
class PlannedCall:
    """One upsert call as :meth:`ConnectorApiClient.plan_calls` cut it: the positions of its
    rows in the rows given, and their encoded body parts."""

    table: str
    positions: list[int]
    parts: list[str] = field(repr=False)
    size: int


def _percent(match: re.Match[str]) -> str:
    return "%" + match.group().encode("utf-8").hex("%").upper()


def _urlencode(text: str) -> str:
    """:func:`~saleslayer_airflow.saleslayer.form.php_urlencode`, byte for byte, at C speed:
    runs of characters to escape are percent-encoded at once (urllib's quote maps each byte
    through a Python dict, the most part of a call's encoding time)."""
    if text.isascii() and text.isalnum():
        return text
    return _UNSAFE.sub(_percent, text).replace(" ", "+")


@functools.lru_cache(maxsize=1024)
def _template(section: str, table: str, names: tuple[str, ...]) -> str | None:
    """The encoded fields of an item with these field names, for ``str.format``: ``{0}`` is the
    item's index, ``{1}``... its encoded values (names are percent-encoded: no brace left).
    None when the table or a name cannot be carried (the form module says why)."""
    if not all(_plain(name) for name in (table, *names)):
        return None
    head = f"{php_urlencode(section)}%5B{php_urlencode(table)}%5D%5B{{0}}%5D%5B"
    return "&".join(
        f"{head}{php_urlencode(name)}%5D={{{number}}}" for number, name in enumerate(names, 1)
    )


def _text(value: Any) -> str | None:
    """The text a value travels as (see :mod:`~saleslayer_airflow.saleslayer.form`), for the
    kinds staged tables hold; None for any other kind (then the form module encodes the row)."""
    kind = type(value)
    if kind is str or kind is ExactNumber:
        return value  # type: ignore[no-any-return]
    if kind is int or kind is float:
        return str(value)
    if kind is bool:
        return "1" if value else "0"
    if value is None:
        return ""
    if kind is list:
        texts = []
        for element in value:
            text = _text(element)
            # A list in a list, or a comma inside a value (the form module refuses it).
            if text is None or type(element) is list or "," in text:
                return None
            texts.append(text)
        return ",".join(texts)
    return None


@functools.lru_cache(maxsize=4096)
def _plain(name: str) -> bool:
    return bool(name) and "[" not in name and "]" not in name


def encode_item(section: str, table: str, index: int | str, row: Row, *, item: str = "") -> str:
    """:func:`~saleslayer_airflow.saleslayer.form.item_fields`, byte for byte, faster: values
    of the usual kinds are turned into text without the form module's checks per value (which
    are for the unusual ones: mappings by language, sets, bad names), field names are encoded
    once, and values escaped by :func:`_urlencode`. Anything unusual goes to the form module,
    which also raises its errors. ``index`` may be a text that stands for the index (a
    placeholder a call substitutes)."""
    template = _template(section, table, tuple(row))
    if template is None:
        return item_fields(section, table, index, row, item=item)
    texts = []
    for value in row.values():
        text = value if type(value) is str else _text(value)
        if text is None:
            return item_fields(section, table, index, row, item=item)
        texts.append(text)
    if not texts:
        return ""
    # The row's values escaped in one pass, joined by a separator the escaping leaves as it is
    # and that has no border (no prefix equal to a suffix), so it can only be found where it
    # was put when no value holds it (else each value is escaped on its own).
    joined = _SEPARATOR.join(texts)
    if joined.count(_SEPARATOR) == len(texts) - 1:
        escaped = _urlencode(joined).split(_SEPARATOR)
    else:
        escaped = [_urlencode(text) for text in texts]
    return template.format(index, *escaped)


def _origin(url: httpx.URL) -> tuple[str, str, int | None]:
    return (url.scheme, url.host, url.port or _DEFAULT_PORTS.get(url.scheme))


def _count(section: Any, table: str, default_table: str | None) -> int:
    if isinstance(section, Mapping):
        value = section.get(table, 0)
    elif isinstance(section, int | str) and table == default_table:
        # The docs leave open whether counts are per-table maps or plain numbers.
        value = section
    else:
        value = 0
    try:
        return int(value)
    except (TypeError, ValueError):
        return 0


class ConnectorApiClient:
    """Upserts and deletes items by reference through the Import Connector API.

    :param credentials: API URL, connector code and private key.
    :param conn_id: the Airflow connection the credentials came from (named in errors).
    :param options: batching, polling, timeout and retry settings.
    :param transport: an ``httpx`` transport (tests; defaults to the network).
    :param clock: unix-time source for signatures and tracking deadlines.
    :param sleep: used for backoff and polling waits (tests pass a recorder).
    """

    def __init__(
        self,
        credentials: ConnectorCredentials,
        *,
        conn_id: str = "saleslayer_default",
        options: ConnectorApiOptions | None = None,
        transport: httpx.BaseTransport | None = None,
        clock: Callable[[], float] = time.time,
        sleep: Callable[[float], None] = time.sleep,
    ) -> None:
        self.credentials = credentials
        self.conn_id = conn_id
        self.options = options or ConnectorApiOptions()
        self._clock = clock
        self._sleep = sleep
        self._api_url = httpx.URL(credentials.api_url)
        self._safe_url = safe_url(self._api_url)
        self._secrets = (credentials.private_key,)
        #: HTTP requests made so far (posts, retries and tracking polls).
        self.requests = 0
        self._http = httpx.Client(
            timeout=self.options.timeout,
            transport=transport,
            follow_redirects=False,
            headers={"Accept-Encoding": "gzip", "Accept": "application/json"},
            event_hooks={"request": [self._count_request]},
        )

    def _count_request(self, request: httpx.Request) -> None:
        self.requests += 1

    def __repr__(self) -> str:
        return f"ConnectorApiClient(conn_id={self.conn_id!r}, credentials={self.credentials!r})"

    def __enter__(self) -> ConnectorApiClient:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def close(self) -> None:
        """Close the HTTP connections."""
        self._http.close()

    # ------------------------------------------------------------------ public operations

    def upsert(
        self, table: str, rows: Iterable[Row], *, ref_field: str | None = None
    ) -> dict[str, ImportCounts]:
        """Create or update ``rows`` of ``table`` by reference, in as many calls as the limits
        need; return Sales Layer's counts per table, summed over the calls.

        ``ref_field`` (e.g. ``prod_ref``) only serves to name items in errors.
        """
        return self._push(INPUT_DATA, table, rows, ref_field)

    def delete(self, table: str, refs: Iterable[str], ref_field: str) -> dict[str, ImportCounts]:
        """Delete the items of ``table`` whose ``ref_field`` is one of ``refs``."""
        return self._push(DELETE_DATA, table, ({ref_field: ref} for ref in refs), ref_field)

    def send(
        self,
        *,
        input_data: Mapping[str, Sequence[Row]] | None = None,
        delete_data: Mapping[str, Sequence[Row]] | None = None,
    ) -> dict[str, ImportCounts]:
        """Send one call as given (no batching): several tables at once, for callers that
        batch themselves. Returns the counts per table."""
        parts: list[str] = []
        items: dict[str, int] = {}
        for section, data in ((INPUT_DATA, input_data), (DELETE_DATA, delete_data)):
            for table, rows in (data or {}).items():
                items[table] = items.get(table, 0) + len(rows)
                parts.extend(item_fields(section, table, i, row) for i, row in enumerate(rows))
        return self._call(parts, items, table_label=",".join(items))

    def check(self) -> str:
        """Send one signed call that imports nothing and say what Sales Layer accepted; raise
        :class:`SalesLayerApiError` when it refuses the code, key or signature."""
        retry = retrying(
            self.options.retry, sleep=self._sleep, logger=log, what=f"Sales Layer {API} check"
        )
        try:
            retry(self._post, b"", None)
        except SalesLayerTerminalError as exc:
            # Validation of an empty import means the code and signature were accepted.
            if exc.code != 1:
                raise
        return (
            f"Sales Layer {API} at {self._safe_url} accepted connector "
            f"{self.credentials.connector_code!r} and its private key"
        )

    # ------------------------------------------------------------------ batching

    def plan_calls(
        self, table: str, rows: Sequence[Row], *, ref_field: str | None = None
    ) -> list[PlannedCall]:
        """How :meth:`upsert` would cut ``rows`` into calls under the limits, each call
        encoded already. Callers that checkpoint per call send each with :meth:`send_planned`
        (the rows are not encoded twice)."""
        return [
            PlannedCall(table, [position for position, _ in batch.items], batch.parts, batch.size)
            for batch in self._batches(INPUT_DATA, table, rows, ref_field)
        ]

    def send_planned(self, call: PlannedCall) -> dict[str, ImportCounts]:
        """Send one call of :meth:`plan_calls`; return Sales Layer's counts per table."""
        counts = self._call(call.parts, {call.table: len(call.positions)}, table_label=call.table)
        log.info(
            "Sales Layer %s: upserted %d items of table %r (%s bytes): %s",
            API,
            len(call.positions),
            call.table,
            f"{call.size:,}",
            {name: vars(c) for name, c in counts.items()},
        )
        return counts

    def encode_fragment(
        self, table: str, row: Row, position: int, *, placeholder: str, ref_field: str | None
    ) -> str:
        """The encoded fields of an upserted ``row`` (the ``position``-th of the rows given,
        which names it in errors), with ``placeholder`` for its index in its call: what
        :meth:`plan_calls` encodes, for callers that encode most rows on columns."""
        return self._encoder(INPUT_DATA, table, ref_field)(placeholder, (position, row))

    def plan_sizes(
        self,
        table: str,
        lengths: Any,
        holes: Any,
        *,
        describe: Callable[[int], str],
    ) -> list[tuple[int, int]]:
        """The calls :meth:`upsert` would cut items into, as ``(start, stop)`` ranges, from
        each item's encoded length and the places of its index in it (see
        :func:`~saleslayer_airflow.saleslayer.batching.split_by_sizes`)."""
        return split_by_sizes(
            lengths, holes, self.options.limits, describe=describe, overhead=self._overhead()
        )

    def send_encoded(self, table: str, parts: list[str]) -> dict[str, ImportCounts]:
        """Send one upsert call of ``table`` whose items are encoded already (``parts``, each
        with its index in the call; within the limits, see :meth:`plan_sizes`); return Sales
        Layer's counts per table."""
        counts = self._call(parts, {table: len(parts)}, table_label=table)
        if log.isEnabledFor(logging.INFO):
            size = sum(map(len, parts)) + max(len(parts) - 1, 0) + self._overhead()
            log.info(
                "Sales Layer %s: upserted %d items of table %r (%s bytes): %s",
                API,
                len(parts),
                table,
                f"{size:,}",
                {name: vars(c) for name, c in counts.items()},
            )
        return counts

    def _overhead(self) -> int:
        return len("&input_data_directly=1") if self.options.input_data_directly else 0

    @staticmethod
    def _describer(table: str, ref_field: str | None) -> Callable[[tuple[int, Row]], str]:
        def describe(numbered: tuple[int, Row]) -> str:
            position, row = numbered
            ref = row.get(ref_field) if ref_field else None
            label = f"item #{position + 1}"
            return f"table {table!r}, {label}" + (f" ({ref_field} {ref!r})" if ref else "")

        return describe

    def _encoder(
        self, section: str, table: str, ref_field: str | None
    ) -> Callable[[int | str, tuple[int, Row]], str]:
        describe = self._describer(table, ref_field)

        def encode(index: int | str, numbered: tuple[int, Row]) -> str:
            try:
                return encode_item(section, table, index, numbered[1])
            except SalesLayerTerminalError:
                # Encode again to name the item by its reference; only on the error path.
                return item_fields(section, table, index, numbered[1], item=describe(numbered))

        return encode

    def _batches(
        self, section: str, table: str, rows: Iterable[Row], ref_field: str | None
    ) -> Iterator[Batch[tuple[int, Row]]]:
        return split_batches(
            enumerate(rows),
            self.options.limits,
            self._encoder(section, table, ref_field),
            describe=self._describer(table, ref_field),
            overhead=self._overhead(),
        )

    def describe_item(self, table: str, position: int, row: Row, ref_field: str | None) -> str:
        """How errors name the ``position``-th row given (``table 'x', item #3 (ref 'R')``)."""
        return self._describer(table, ref_field)((position, row))

    def _push(
        self, section: str, table: str, rows: Iterable[Row], ref_field: str | None
    ) -> dict[str, ImportCounts]:
        totals: dict[str, ImportCounts] = {}
        for number, batch in enumerate(self._batches(section, table, rows, ref_field), start=1):
            counts = self._call(batch.parts, {table: len(batch.items)}, table_label=table)
            for name, table_counts in counts.items():
                totals.setdefault(name, ImportCounts()).add(table_counts)
            log.info(
                "Sales Layer %s: %s %d items of table %r (call %d, %s bytes): %s",
                API,
                "upserted" if section == INPUT_DATA else "deleted",
                len(batch.items),
                table,
                number,
                f"{batch.size:,}",
                {name: vars(c) for name, c in counts.items()},
            )
        return totals

    # ------------------------------------------------------------------ one call

    def _call(
        self, parts: list[str], items: Mapping[str, int], *, table_label: str
    ) -> dict[str, ImportCounts]:
        if self.options.input_data_directly:
            parts = [*parts, "input_data_directly=1"]
        body = "&".join(parts).encode("ascii")
        retry = retrying(
            self.options.retry,
            sleep=self._sleep,
            logger=log,
            what=f"Sales Layer {API}, table {table_label!r}",
        )
        answer: dict[str, Any] = retry(self._post, body, table_label)
        response = answer.get("input_response")
        if not isinstance(response, Mapping):
            raise SalesLayerTerminalError(
                f"Sales Layer {API} answered without 'input_response' "
                f"[{self._where(table_label)}]: check that the connection's host is the Import "
                "Connector API (e.g. https://api.saleslayer.com)",
                conn_id=self.conn_id,
                url=self._safe_url,
                table=table_label,
            )
        self._check_result(response, table_label)
        tracking = response.get("status_tracking")
        if tracking:
            final = self._track(str(tracking), table_label)
            if isinstance(final.counts, Mapping):
                # What the import really did when it ended (the store may have changed since
                # the call was accepted) wins over the counts planned at acceptance.
                response = final.counts
        default_table = next(iter(items)) if len(items) == 1 else None
        counts: dict[str, ImportCounts] = {}
        reported = {
            name
            for key in (
                "items_affected",
                "new_items",
                "updated_items",
                "deleted_items",
                "skipped_items",
            )
            if isinstance(response.get(key), Mapping)
            for name in response[key]
        }
        for name in sorted(reported | set(items)):
            counts[name] = ImportCounts(
                created=_count(response.get("new_items"), name, default_table),
                updated=_count(response.get("updated_items"), name, default_table),
                deleted=_count(response.get("deleted_items"), name, default_table),
                skipped=_count(response.get("skipped_items"), name, default_table),
                affected=_count(response.get("items_affected"), name, default_table),
                items_sent=items.get(name, 0),
                calls=1 if name in items else 0,
            )
        return counts

    def _where(self, table: str | None, method: str = "POST", url: str | None = None) -> str:
        return where(conn_id=self.conn_id, method=method, url=url or self._safe_url, table=table)

    def _post(self, body: bytes, table: str | None) -> dict[str, Any]:
        signed = sign(self.credentials, clock=self._clock)
        try:
            response = self._http.post(
                self._api_url,
                params=signed.params(compression="1"),
                content=body,
                headers={"Content-Type": "application/x-www-form-urlencoded"},
            )
        except httpx.TransportError as exc:
            raise transport_error(
                exc,
                api=API,
                conn_id=self.conn_id,
                method="POST",
                url=self._safe_url,
                table=table,
                secrets=self._secrets,
            ) from None
        return self._decode(response, table, method="POST", url=self._safe_url)

    def _decode(
        self, response: httpx.Response, table: str | None, *, method: str, url: str
    ) -> dict[str, Any]:
        try:
            answer = response.json()
        except (json.JSONDecodeError, UnicodeDecodeError):
            answer = None
        if isinstance(answer, Mapping) and answer.get("error") not in (None, 0, "0", ""):
            try:
                code = int(answer["error"])
            except (TypeError, ValueError):
                code = -1
            raise legacy_error(
                code,
                conn_id=self.conn_id,
                url=url,
                table=table,
                detail=str(answer.get("error_message") or answer.get("message") or ""),
                method=method,
                secrets=self._secrets,
            )
        if not response.is_success:
            raise status_error(
                response,
                api=API,
                conn_id=self.conn_id,
                url=url,
                table=table,
                now=self._clock(),
                secrets=self._secrets,
            )
        if not isinstance(answer, Mapping):
            # The SDK's code 101: void or malformed answer, usually a proxy or a cut connection.
            raise SalesLayerTransientError(
                f"Sales Layer {API} answered HTTP {response.status_code} with a body that is not "
                f"a JSON object [{self._where(table, method, url)}]: retried; if it persists, "
                "check that the connection's host is the Import Connector API",
                conn_id=self.conn_id,
                url=url,
                table=table,
                status=response.status_code,
            )
        return dict(answer)

    def _check_result(self, response: Mapping[str, Any], table: str) -> None:
        if str(response.get("result", 1)) != "2":
            return
        errors = response.get("errors") or response.get("error") or []
        if isinstance(errors, str | int):
            errors = [errors]
        shown = "; ".join(str(e) for e in list(errors)[:5])
        more = f" (and {len(errors) - 5} more)" if len(errors) > 5 else ""
        message = (
            f"Sales Layer {API} denied the import (result 2): {shown or 'no reason given'}{more} "
            f"[{self._where(table)}]: fix the items or field names named above (they must match "
            "the connector's 'Name on Import'), or lower the batch size if it speaks of a limit"
        )
        reasons = [redact(str(e), self._secrets) for e in errors]
        if denial_concerns_items(reasons):
            # Possibly a few bad items: the pusher can set them aside and send the rest.
            raise SalesLayerItemsRefused(
                redact(message, self._secrets),
                errors=reasons,
                conn_id=self.conn_id,
                url=self._safe_url,
                table=table,
            )
        raise SalesLayerTerminalError(
            redact(message, self._secrets),
            conn_id=self.conn_id,
            url=self._safe_url,
            table=table,
            code=2,
        )

    # ------------------------------------------------------------------ tracking

    def _tracking_url(self, raw: str, table: str) -> httpx.URL:
        url = self._api_url.join(raw)
        if _origin(url) != _origin(self._api_url):
            raise SalesLayerTerminalError(
                f"Sales Layer {API} handed out a tracking URL on another server "
                f"({safe_url(url)}); it is only followed on the configured API host "
                f"{self._safe_url}, like the official SDK does [{self._where(table)}]: check "
                "the connection's host (scheme, host and port must be the API's own)",
                conn_id=self.conn_id,
                url=safe_url(url),
                table=table,
            )
        return url

    def _track(self, raw: str, table: str) -> TrackingStatus:
        """Poll the tracking URL until the import ends; raise if it ends in error or never
        ends within ``tracking_timeout``."""
        url = self._tracking_url(raw, table)
        shown = safe_url(url)
        deadline = self._clock() + self.options.tracking_timeout
        retry = retrying(
            self.options.retry,
            sleep=self._sleep,
            logger=log,
            what=f"Sales Layer {API} tracking, table {table!r}",
        )
        while True:
            answer: dict[str, Any] = retry(self._poll, url, table)
            status = TrackingStatus(
                status=str(answer.get("input_status", "")),
                percent=int(answer.get("input_percent_completion") or 0),
                message=str(answer.get("input_action_message") or ""),
                counts=answer.get("input_response"),
            )
            if status.status == "end":
                return status
            if status.status == "error":
                raise SalesLayerTerminalError(
                    redact(
                        f"Sales Layer {API} reports that the import ended in error "
                        f"({status.message or 'no message'}) [{self._where(table, 'GET', shown)}]"
                        ": nothing of this call was written; check the connector's import log "
                        "in Sales Layer and the items of this table",
                        self._secrets,
                    ),
                    conn_id=self.conn_id,
                    url=shown,
                    table=table,
                )
            if status.status not in _RUNNING:
                raise SalesLayerTerminalError(
                    f"Sales Layer {API} tracking answered the unknown status "
                    f"{status.status!r} [{self._where(table, 'GET', shown)}]: expected "
                    "prepare, started, end or error",
                    conn_id=self.conn_id,
                    url=shown,
                    table=table,
                )
            if self._clock() >= deadline:
                raise SalesLayerTransientError(
                    f"the Sales Layer import of table {table!r} is still {status.status!r} "
                    f"({status.percent}%) after {self.options.tracking_timeout:.0f} s "
                    f"[{self._where(table, 'GET', shown)}]: it may still finish; re-sending is "
                    "safe (imports match items by reference). Raise tracking_timeout if imports "
                    "of this size take longer",
                    conn_id=self.conn_id,
                    url=shown,
                    table=table,
                )
            log.debug("Sales Layer import of %r: %s %d%%", table, status.status, status.percent)
            self._sleep(self.options.poll_interval)

    def _poll(self, url: httpx.URL, table: str) -> dict[str, Any]:
        shown = safe_url(url)
        try:
            response = self._http.get(url)
        except httpx.TransportError as exc:
            raise transport_error(
                exc,
                api=API,
                conn_id=self.conn_id,
                method="GET",
                url=shown,
                table=table,
                secrets=self._secrets,
            ) from None
        return self._decode(response, table, method="GET", url=shown)


__all__ = [
    "ConnectorApiClient",
    "ConnectorApiOptions",
    "ImportCounts",
    "PlannedCall",
    "TrackingStatus",
]
