"""Send batches through the Catalog REST API v2: the second transport (``transport: rest``).

The REST API writes one item per call and links items by numeric id. The client
(:class:`~saleslayer_airflow.saleslayer.rest_api.RestCatalogClient`) resolves references to ids,
creates or patches, and remembers the ids it learns; this module bridges it to the push
pipeline:

- the ids the state store already holds for a batch's items are handed to the client first, so
  an item pushed before is patched without a lookup;
- the id of every item acknowledged is returned, and the pipeline records it in the state store;
- with ``only_existing``, items Sales Layer does not have are not created: they come back as
  skipped (by reference), so they are not recorded and are sent again next run;
- categories link to categories: :func:`parents_first` orders a table's items so that a parent
  is never in a later batch than its children;
- an item Sales Layer refuses (HTTP 400: a value it does not accept) never blocks its batch:
  the batch is written again one item at a time, and each refused item comes back in
  ``BatchResult.refused`` with Sales Layer's answer (not recorded, sent again next run).
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator, Sequence
from typing import Any

from saleslayer_airflow.exceptions import SalesLayerTerminalError, TerminalError
from saleslayer_airflow.push.pipeline import BatchResult, OutgoingItem, SentItem
from saleslayer_airflow.saleslayer.entities import STANDARD_SETS, EntitySet, custom_entity


class RestTransportUnavailable(TerminalError):
    """The table cannot be written through the Catalog REST API (points of sale have no REST
    write; a custom entity needs its field prefix). Terminal: change the connector file."""


def rest_entity(kind: str, import_table: str, reference_field: str, *, where: str) -> EntitySet:
    """The REST entity set of a connector table, from its kind (``categories``...), its Sales
    Layer import name (a custom entity's denominator) and its reference field (``brand_ref``:
    the custom entity's field prefix ``brand``). ``where`` names the connector and table in
    errors."""
    if kind in STANDARD_SETS:
        return STANDARD_SETS[kind]
    if kind == "points_of_sale":
        raise RestTransportUnavailable(
            f"{where}: points of sale have no write through the Catalog REST API; use "
            "`target.transport: connector_api` (the Import Connector API) for this connector"
        )
    if not reference_field.endswith("_ref"):
        raise RestTransportUnavailable(
            f"{where}: the REST transport addresses a custom entity by its field prefix; set "
            f"the table's reference_field to '<prefix>_ref' (e.g. brand_ref), not "
            f"{reference_field!r}"
        )
    return custom_entity(import_table, reference_field.removesuffix("_ref"))


def parents_first(items: Iterable[OutgoingItem], parent_field: str) -> Iterator[OutgoingItem]:
    """The items of a self-linked table (categories) with every parent before its children,
    otherwise in their own order. Holds the table in memory: category trees are small."""
    pending = list(items)
    by_ref = {item.reference: item for item in pending}
    done: set[str] = set()
    for start in pending:
        chain: list[OutgoingItem] = []
        seen: set[str] = set()
        node: OutgoingItem | None = start
        # Walk up to the first parent already emitted (or absent from this table); a cycle
        # stops the walk and is left for the client to report.
        while node is not None and node.reference not in done and node.reference not in seen:
            seen.add(node.reference)
            chain.append(node)
            parent = node.fields.get(parent_field)
            node = by_ref.get(str(parent)) if parent not in (None, "") else None
        for item in reversed(chain):
            done.add(item.reference)
            yield item


def _seed_ids(
    client: Any, entity: EntitySet, store: Any, connector_id: str, table: str, refs: list[str]
) -> None:
    known = client.known_ids(entity)
    unknown = [ref for ref in refs if ref not in known]
    if not unknown:
        return
    states = store.items(connector_id, table, unknown)
    client.remember(
        entity,
        {
            ref: state.saleslayer_id
            for ref, state in states.items()
            if state.saleslayer_id is not None and not state.deleted
        },
    )


class RestTransport:
    """Upserts a batch through the Catalog REST API and returns the items' Sales Layer ids.

    :param client: a :class:`~saleslayer_airflow.saleslayer.rest_api.RestCatalogClient`.
    :param entity: the table's entity set (see :func:`rest_entity`).
    :param store: the state store, whose ids seed the client's reference -> id cache.
    :param connector_id: the connector, and ``table`` its table key (the state store's keys).
    :param only_existing: update items Sales Layer has; never create (skipped instead).
    """

    def __init__(
        self,
        client: Any,
        entity: EntitySet,
        *,
        store: Any,
        connector_id: str,
        table: str,
        only_existing: bool = False,
    ) -> None:
        self.client = client
        self.entity = entity
        self.store = store
        self.connector_id = connector_id
        self.table = table
        self.only_existing = only_existing

    def __call__(self, batch: Sequence[SentItem]) -> BatchResult:
        refs = [sent.item.reference for sent in batch]
        _seed_ids(self.client, self.entity, self.store, self.connector_id, self.table, refs)
        ref_field = self.entity.ref_field
        rows = [{**sent.item.fields, ref_field: sent.item.reference} for sent in batch]
        refused: dict[str, str] = {}
        try:
            self.client.upsert(self.entity, rows, create=not self.only_existing)
        except SalesLayerTerminalError as exc:
            if exc.status != 400:
                raise
            # One item was refused, which one the client's error only says in words: write
            # the batch again item by item (those written already are patched to the same
            # content), so each refused item is known and the others are written.
            for row, ref in zip(rows, refs, strict=True):
                try:
                    self.client.upsert(self.entity, [row], create=not self.only_existing)
                except SalesLayerTerminalError as item_exc:
                    if item_exc.status != 400:
                        raise
                    refused[ref] = item_exc.detail or str(item_exc)
        ids = self.client.known_ids(self.entity)
        skipped = frozenset(ref for ref in refs if ref not in ids and ref not in refused)
        return BatchResult([ids.get(ref) for ref in refs], len(skipped), skipped, refused)


class RestDeletions:
    """Deletes a batch of references through the Catalog REST API (DELETE by id), or, with
    ``status`` (field, value), patches their status instead. References Sales Layer no longer
    has count as done: the item is gone either way."""

    def __init__(
        self,
        client: Any,
        entity: EntitySet,
        *,
        store: Any,
        connector_id: str,
        table: str,
        status: tuple[str, str] | None = None,
    ) -> None:
        self.client = client
        self.entity = entity
        self.store = store
        self.connector_id = connector_id
        self.table = table
        self.status = status

    def __call__(self, references: Sequence[str]) -> None:
        refs = list(references)
        _seed_ids(self.client, self.entity, self.store, self.connector_id, self.table, refs)
        if self.status is None:
            self.client.delete(self.entity, refs)
        else:
            field_name, value = self.status
            self.client.set_status(self.entity, refs, field_name, value)
