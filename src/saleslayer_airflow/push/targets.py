"""The connector's ``target.transport`` for one table: its client, its batch sender, how it cuts
batches into calls, how it orders items, and its deletions.

- ``connector_api`` (default): the Import Connector API; a batch over the payload cap is cut into
  the calls the client makes, each checkpointed on its own.
- ``rest``: the Catalog REST API v2, one item per call; category trees go parents first; the
  Sales Layer id of each item is returned for the state store.

A target is a context manager: the client's connections are closed on leaving it.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from dataclasses import replace
from typing import TYPE_CHECKING

from saleslayer_airflow.config.models import ConnectorConfig
from saleslayer_airflow.config.target import Transport
from saleslayer_airflow.exceptions import SalesLayerTerminalError
from saleslayer_airflow.push.deletions import SendDeletions
from saleslayer_airflow.push.pipeline import OutgoingItem, PushOptions, SendBatch, SplitBatch
from saleslayer_airflow.push.transports import status_field

if TYPE_CHECKING:
    from saleslayer_airflow.saleslayer.connector_api import ConnectorApiClient
    from saleslayer_airflow.saleslayer.rest_api import RestCatalogClient
    from saleslayer_airflow.state import StateStore


def target_account(config: ConnectorConfig) -> str:
    """The key of the Sales Layer account the connector pushes to (the state store's scope),
    from its target connection, without any network call.

    :raises SalesLayerTerminalError: the connection is missing or names no account.
    """
    from saleslayer_airflow.saleslayer.hook import SalesLayerHook

    return SalesLayerHook(saleslayer_conn_id=config.target.conn_id).account_key


def target_account_or_none(config: ConnectorConfig, warn: Callable[[str], object]) -> str | None:
    """:func:`target_account`, or None (told to ``warn``) when the connection cannot say: the
    fetch and split stages go on without it (the push, which needs the connection, fails
    then with the connection's own error)."""
    from saleslayer_airflow.exceptions import TerminalError

    try:
        return target_account(config)
    except TerminalError as exc:
        warn(f"the target account is unknown, its state is not scoped this run: {exc}")
        return None


def connector_api_client(config: ConnectorConfig) -> ConnectorApiClient:
    """The Import Connector API client of the connector's connection, with its batch limits."""
    from saleslayer_airflow.saleslayer.batching import BatchLimits
    from saleslayer_airflow.saleslayer.connector_api import ConnectorApiOptions
    from saleslayer_airflow.saleslayer.hook import SalesLayerHook

    target = config.target
    limits = BatchLimits(
        max_items=target.batch_size, max_bytes=int(target.max_payload_mb * 1024 * 1024)
    )
    hook = SalesLayerHook(saleslayer_conn_id=target.conn_id)
    return hook.get_connector_api_client(ConnectorApiOptions(limits=limits))


def _positive(extra: dict[str, object], key: str, conn_id: str) -> float | None:
    value = extra.get(key)
    if value in (None, ""):
        return None
    try:
        number = float(value) if isinstance(value, int | float | str) else 0.0
    except ValueError:
        number = 0.0
    if number <= 0:
        raise SalesLayerTerminalError(
            f"Airflow connection {conn_id!r}: extra {key!r} is {value!r}; it must be a "
            "positive number (the REST client's rate limit), or be left out",
            conn_id=conn_id,
        )
    return number


def rest_client(config: ConnectorConfig) -> RestCatalogClient:
    """The Catalog REST API client of the connector's connection.

    The connection's extra ``rest_max_requests`` and ``rest_window_seconds`` set the client's
    rate limit (default 45 per 10 s, under Sales Layer's 50, for an account whose limit
    differs); the languages of the connector's fields are sent culture-keyed."""
    from saleslayer_airflow.saleslayer.hook import SalesLayerHook
    from saleslayer_airflow.saleslayer.rest_api import RestOptions

    conn_id = config.target.conn_id
    hook = SalesLayerHook(saleslayer_conn_id=conn_id)
    try:
        extra = dict(hook.get_connection(conn_id).extra_dejson or {})
    except Exception:  # a missing connection: get_rest_client below says what to define
        extra = {}
    options = RestOptions()
    if (requests := _positive(extra, "rest_max_requests", conn_id)) is not None:
        options = replace(options, max_requests=int(requests))
    if (window := _positive(extra, "rest_window_seconds", conn_id)) is not None:
        options = replace(options, window=window)
    languages = sorted(
        {
            language
            for table in config.tables.values()
            for mapping in table.fields.values()
            for language in mapping.languages or ()
        }
        | {  # a category path's per-language titles
            language
            for table in config.tables.values()
            if table.path is not None and table.path.title is not None
            for language in table.path.title.languages or ()
        }
    )
    return hook.get_rest_client(replace(options, languages=tuple(languages)))


class ConnectorApiTarget:
    """The Import Connector API: one call per checkpointed part of a batch."""

    split: SplitBatch | None

    def __init__(self, config: ConnectorConfig, table: str) -> None:
        self.config = config
        self.table = table
        self.client: ConnectorApiClient | None = None

    def __enter__(self) -> ConnectorApiTarget:
        from saleslayer_airflow.push.transports import ConnectorApiTransport

        mapping = self.config.tables[self.table]
        self.client = connector_api_client(self.config)
        transport = ConnectorApiTransport(
            self.client, mapping.import_table(self.table), mapping.reference_field
        )
        self.send: SendBatch = transport
        self.split = transport.split
        return self

    def __exit__(self, *exc: object) -> None:
        if self.client is not None:
            self.client.close()

    def order(self, items: Iterable[OutgoingItem]) -> Iterable[OutgoingItem]:
        """Items go in file order."""
        return items

    def deletions(self, status: str | None) -> SendDeletions:
        """Deletes by reference, or with ``status`` gives that status (``<prefix>_stat``)."""
        from saleslayer_airflow.push.transports import ConnectorApiDeletions

        mapping = self.config.tables[self.table]
        field = None
        if status is not None:
            kind = mapping.resolved_kind(self.table).value
            field = (str(status_field(kind, mapping.reference_field)), status)
        return ConnectorApiDeletions(
            self.client, mapping.import_table(self.table), mapping.reference_field, status=field
        )


class RestTarget:
    """The Catalog REST API: one item per call, ids recorded in the state store."""

    split: SplitBatch | None = None

    def __init__(
        self, config: ConnectorConfig, table: str, store: StateStore, options: PushOptions
    ) -> None:
        from saleslayer_airflow.push.rest_transport import rest_entity

        self.config = config
        self.table = table
        self.store = store
        self.options = options
        self.client: RestCatalogClient | None = None
        mapping = config.tables[table]
        self.kind = mapping.resolved_kind(table).value
        # Checked before any connection is made: a table REST cannot write fails at once.
        self.entity = rest_entity(
            self.kind,
            mapping.import_table(table),
            mapping.reference_field,
            where=f"connector {config.id!r}, table {table!r}",
        )

    def __enter__(self) -> RestTarget:
        from saleslayer_airflow.push.rest_transport import RestTransport

        self.client = rest_client(self.config)
        self.send: SendBatch = RestTransport(
            self.client,
            self.entity,
            store=self.store,
            connector_id=self.options.connector_id,
            table=self.table,
            only_existing=self.config.target.only_existing,
        )
        return self

    def __exit__(self, *exc: object) -> None:
        if self.client is not None:
            self.client.close()

    def order(self, items: Iterable[OutgoingItem]) -> Iterable[OutgoingItem]:
        """A category tree goes parents first (a parent is never in a later batch than its
        children); other tables in file order."""
        from saleslayer_airflow.push.rest_transport import parents_first

        parent_field = self.config.tables[self.table].import_parent_field(self.table)
        if self.kind == "categories" and parent_field:
            return parents_first(items, parent_field)
        return items

    def deletions(self, status: str | None) -> SendDeletions:
        """Deletes by id, or with ``status`` patches ``<prefix>_stat``."""
        from saleslayer_airflow.push.rest_transport import RestDeletions

        return RestDeletions(
            self.client,
            self.entity,
            store=self.store,
            connector_id=self.options.connector_id,
            table=self.table,
            status=None if status is None else (f"{self.entity.prefix}_stat", status),
        )


def open_target(
    config: ConnectorConfig, table: str, store: StateStore, options: PushOptions
) -> ConnectorApiTarget | RestTarget:
    """The target of ``config.target.transport`` for ``table`` (enter it to connect)."""
    if config.target.transport is Transport.REST:
        return RestTarget(config, table, store, options)
    return ConnectorApiTarget(config, table)
