"""OData resource paths of the Catalog REST API: ``Products(12)``,
``CustomEntities('Brands')/Item(5)``, ``Variants/$metadata`` and their aliases."""

from __future__ import annotations

import re
from dataclasses import dataclass
from urllib.parse import quote

from saleslayer_airflow.emulator.rest_errors import RestError
from saleslayer_airflow.emulator.tenant import TableSpec, Tenant

REST_PREFIXES = ("/catalog/rest/Catalog", "/rest/Catalog", "/catalog")
"""Served base paths, most specific first; the last is the lower-case form seen in the wild."""

_SET = re.compile(r"(?P<name>[A-Za-z]+)(?:\((?P<key>[^()]*)\))?\Z")
_CUSTOM = re.compile(r"CustomEntit(?:y|ies)\('(?P<denom>(?:[^']|'')*)'\)\Z", re.IGNORECASE)
_ITEM = re.compile(r"item\((?P<key>[^()]*)\)\Z", re.IGNORECASE)
_KEY = re.compile(r"[0-9]{1,18}\Z")


@dataclass(frozen=True)
class Resource:
    """What a REST path names: the whole catalog's metadata, every custom entity's metadata, a
    table's collection or metadata, or one item."""

    table: TableSpec | None
    item_id: int | None = None
    metadata: bool = False
    all_custom: bool = False
    attribute_sets: str | None = None
    """``v1`` (``AttributeSets``) or ``v2`` (``v2/AttributeSets``): the read-only sets."""
    set_key: int | str | None = None
    """The attribute set named: an id, or ``default`` (v2 only)."""
    changelog: bool = False
    """``<Set>/Changelog`` or ``CustomEntities('X')/Changelog``: the table's change records."""

    def collection_path(self) -> str:
        """The path of the table's collection relative to the base (for Location headers)."""
        assert self.table is not None and self.table.rest_set
        if self.table.kind == "custom":
            denominator = self.table.rest_set.replace("'", "''")
            return f"CustomEntities('{quote(denominator)}')"
        return self.table.rest_set

    def item_path(self, item_id: int) -> str:
        """The path of one item relative to the base."""
        assert self.table is not None
        if self.table.kind == "custom":
            return f"{self.collection_path()}/Item({item_id})"
        return f"{self.collection_path()}({item_id})"


def _key(text: str | None) -> int | None:
    if text is None:
        return None
    if not _KEY.match(text):
        raise RestError(400, f"Invalid key ({text}): item keys are integers, as in Products(12)")
    return int(text)


def _custom(tenant: Tenant, denominator: str, first: str, rest: list[str]) -> Resource:
    table = tenant.rest_table(denominator, custom=True)
    if table is None:
        raise RestError(404, f"Custom entity '{denominator}' not found")
    if not rest:
        return Resource(table)
    if rest == ["$metadata"]:
        return Resource(table, metadata=True)
    if len(rest) == 1 and rest[0].lower() == "changelog":
        return Resource(table, changelog=True)
    item = _ITEM.match(rest[0])
    if item and len(rest) == 1:
        return Resource(table, item_id=_key(item.group("key")))
    raise RestError(404, f"Unknown path below {first}: /{'/'.join(rest)}")


def _attribute_sets(segments: list[str], version: str, first: str) -> Resource:
    match = _SET.match(segments[0]) if len(segments) == 1 else None
    if match is None or match.group("name").lower() != "attributesets":
        shown = "/".join(segments)
        raise RestError(404, f"Unknown path {first}/{shown}: only AttributeSets is served there")
    key = match.group("key")
    if key is None:
        return Resource(table=None, attribute_sets=version)
    if version == "v2" and key.strip("'").lower() == "default":
        return Resource(table=None, attribute_sets=version, set_key="default")
    return Resource(table=None, attribute_sets=version, set_key=_key(key))


def resolve(tenant: Tenant, subpath: str) -> Resource:
    """The resource a path below the base names, or :class:`RestError` (404 for unknown sets)."""
    segments = [s for s in subpath.strip("/").split("/") if s]
    if not segments:
        raise RestError(404, "No entity set given; try Products, Variants or Categories")
    if segments == ["$metadata"]:
        return Resource(table=None, metadata=True)
    first, rest = segments[0], segments[1:]
    if first.lower() == "v2":
        return _attribute_sets(rest, "v2", first)
    if first.lower().split("(")[0] == "attributesets":
        return _attribute_sets(segments, "v1", first)
    if first.lower() in ("customentities", "customentity"):
        if rest == ["$metadata"]:
            return Resource(table=None, metadata=True, all_custom=True)
        raise RestError(404, "Custom entities are addressed as CustomEntities('<name>')")
    custom = _CUSTOM.match(first)
    if custom:
        return _custom(tenant, custom.group("denom").replace("''", "'"), first, rest)
    match = _SET.match(first)
    table = tenant.rest_table(match.group("name"), custom=False) if match else None
    if match is None or table is None:
        raise RestError(404, f"Entity set {first!r} not found")
    item_id = _key(match.group("key"))
    if not rest:
        return Resource(table, item_id=item_id)
    if rest == ["$metadata"] and item_id is None:
        return Resource(table, metadata=True)
    if len(rest) == 1 and rest[0].lower() == "changelog" and item_id is None:
        return Resource(table, changelog=True)
    raise RestError(404, f"Unknown path below {first}: /{'/'.join(rest)}")
