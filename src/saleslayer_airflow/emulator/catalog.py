"""Rules shared by both APIs: applying changes to items, deleting with cascade, rendering items.

Links are stored by target id whichever API wrote them, so an item created through one API is
read and linked through the other.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from typing import Any

from saleslayer_airflow.emulator.storage import FieldValue, Item, Storage
from saleslayer_airflow.emulator.tenant import TableSpec, Tenant

FieldChange = str | list[str] | dict[str, str | None] | None
"""A change to one attribute: a value, a list, {culture: value or None to clear}, or None
(clear the whole attribute)."""


def apply_fields(
    table: TableSpec, item: Item, changes: Mapping[str, FieldChange], *, replace: bool
) -> None:
    """Apply attribute changes; with ``replace`` every attribute not in ``changes`` is cleared
    and multilingual values keep only the cultures given."""
    if replace:
        item.fields = {k: v for k, v in item.fields.items() if k in changes}
    for name, change in changes.items():
        spec = table.field_map[name]
        if change is None:
            item.fields.pop(name, None)
        elif spec.multilingual and isinstance(change, dict):
            current = item.fields.get(name)
            merged: dict[str, str] = (
                {} if replace or not isinstance(current, dict) else dict(current)
            )
            for culture, text in change.items():
                if text is None or text == "":
                    merged.pop(culture, None)
                else:
                    merged[culture] = text
            if merged:
                item.fields[name] = merged
            else:
                item.fields.pop(name, None)
        elif isinstance(change, list):
            if change:
                item.fields[name] = list(change)
            else:
                item.fields.pop(name, None)
        elif isinstance(change, str):
            if change:
                item.fields[name] = change
            else:
                item.fields.pop(name, None)


def delete_item(tenant: Tenant, storage: Storage, table: TableSpec, item_id: int) -> int:
    """Delete an item, and the variants of a deleted product; the number of items deleted."""
    return delete_items(tenant, storage, table, [item_id])


def delete_items(
    tenant: Tenant, storage: Storage, table: TableSpec, item_ids: Iterable[int]
) -> int:
    """Delete items, and the variants of deleted products; the number of items deleted."""
    ids = sorted(set(item_ids))
    storage.delete_many(table.import_name, ids)
    deleted = len(ids)
    if table.kind != "product" or not ids:
        return deleted
    for child_table in tenant.tables:
        if child_table.kind != "variant":
            continue
        for link in child_table.links:
            if link.target != table.import_name or not link.required:
                continue
            children = storage.children_ids(child_table.import_name, link.field, ids)
            storage.delete_many(child_table.import_name, children)
            deleted += len(children)
    return deleted


class RefResolver:
    """Target references of links, fetched once per table for a page of items."""

    def __init__(self, tenant: Tenant, storage: Storage, table: TableSpec, items: Iterable[Item]):
        wanted: dict[str, set[int]] = {}
        for item in items:
            for link in table.links:
                wanted.setdefault(link.target, set()).update(item.links.get(link.field, []))
        self._refs = {target: storage.refs_of(target, ids) for target, ids in wanted.items()}

    def live_ids(self, target: str, ids: Iterable[int]) -> list[int]:
        """The ids among ``ids`` whose target item is still live."""
        known = self._refs.get(target, {})
        return [i for i in ids if i in known]

    def refs(self, target: str, ids: Iterable[int]) -> list[str]:
        """References of the live targets among ``ids``."""
        known = self._refs.get(target, {})
        return [known[i] for i in ids if i in known]


def render_rest(table: TableSpec, item: Item, resolver: RefResolver) -> dict[str, Any]:
    """An item as the REST API returns it: ids, reference, status, dates, attributes (lists
    comma-joined, multilingual values keyed by culture), links by id and their read-only refs."""
    out: dict[str, Any] = {
        table.id_field: item.id,
        table.ref_field: item.ref,
        table.stat_field: item.status,
        table.creation_field: item.created,
        table.modify_field: item.modified,
    }
    for spec in table.fields:
        value = item.fields.get(spec.name)
        if isinstance(value, list):
            out[spec.name] = ",".join(value)
        elif isinstance(value, dict):
            out[spec.name] = dict(value)
        else:
            out[spec.name] = value
    for link in table.links:
        ids = resolver.live_ids(link.target, item.links.get(link.field, []))
        refs = resolver.refs(link.target, ids)
        if link.rest_field:
            out[link.rest_field] = ids if link.many else (ids[0] if ids else None)
        out[link.field] = ",".join(refs) if refs else None
    return out


def render_dump(table: TableSpec, item: Item, resolver: RefResolver) -> dict[str, Any]:
    """An item as the inspection route and the dump command show it (deleted ones too)."""
    fields: dict[str, FieldValue] = {
        name: item.fields[name] for name in sorted(item.fields) if name in table.field_map
    }
    return {
        "id": item.id,
        "ref": item.ref,
        "status": item.status,
        "deleted": item.deleted,
        "created": item.created,
        "modified": item.modified,
        "fields": fields,
        "links": {
            link.field: resolver.refs(link.target, item.links.get(link.field, []))
            for link in table.links
        },
        "link_ids": {link.field: list(item.links.get(link.field, [])) for link in table.links},
    }


def dump_table(tenant: Tenant, storage: Storage, table: TableSpec) -> list[dict[str, Any]]:
    """Every item of a table (deleted ones too), as :func:`render_dump` shows them."""
    items = storage.all_items(table.import_name)
    resolver = RefResolver(tenant, storage, table, items)
    return [render_dump(table, item, resolver) for item in items]
