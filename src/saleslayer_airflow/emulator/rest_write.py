"""Checking and coercing REST write bodies (POST/PATCH) against the tenant model."""

from __future__ import annotations

import json
import re
from dataclasses import dataclass, field
from typing import Any

from saleslayer_airflow.emulator.catalog import FieldChange
from saleslayer_airflow.emulator.rest_errors import RestError
from saleslayer_airflow.emulator.settings import RestSettings
from saleslayer_airflow.emulator.storage import Item, Storage
from saleslayer_airflow.emulator.tenant import STATUSES, LinkSpec, TableSpec, Tenant

_DIGITS = re.compile(r"[0-9]{1,18}\Z")


@dataclass
class Change:
    """A checked write: reference (POST only), status, attribute changes, links by id."""

    ref: str | None = None
    status: str | None = None
    fields: dict[str, FieldChange] = field(default_factory=dict)
    links: dict[str, list[int]] = field(default_factory=dict)


def parse_body(raw: bytes) -> dict[str, Any]:
    """The one JSON object of a write body (a one-element array is accepted)."""
    try:
        body = json.loads(raw.decode("utf-8")) if raw else None
    except (UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise RestError(400, f"The request body is not valid JSON: {exc}") from exc
    if isinstance(body, list):
        if len(body) != 1:
            raise RestError(400, f"Only one item per request; the array holds {len(body)}")
        body = body[0]
    if not isinstance(body, dict) or not body:
        raise RestError(400, "The request body must be a non-empty JSON object")
    return body


def culture_of(tenant: Tenant, header: str | None) -> str:
    """The culture an ``Accept-Language`` header names (the tenant default when absent)."""
    if not header:
        return tenant.default_language
    wanted = header.strip().lower()
    for candidate in (wanted, wanted.split("-")[0]):
        if candidate in tenant.languages:
            return candidate
    raise RestError(
        400,
        f"Culture {header!r} is not enabled for this account "
        f"(enabled: {', '.join(tenant.languages)})",
    )


def _text(name: str, value: Any) -> str | None:
    if value is None:
        return None
    if isinstance(value, bool):
        return "1" if value else "0"
    if isinstance(value, str | int | float):
        return str(value)
    raise RestError(
        400, f"Field {name} takes a single value, not {type(value).__name__}", field=name
    )


class BodyReader:
    """Turns one write body into a :class:`Change`, or raises :class:`RestError`."""

    def __init__(
        self,
        tenant: Tenant,
        storage: Storage,
        table: TableSpec,
        settings: RestSettings,
        culture: str,
        refuse: dict[str, str] | None = None,
    ) -> None:
        self.tenant = tenant
        self.storage = storage
        self.table = table
        self.settings = settings
        self.culture = culture
        self.refuse = refuse or {}

    def read(self, body: dict[str, Any], current: Item | None) -> Change:
        """Check every key of ``body``; ``current`` is the item a PATCH changes (None: POST)."""
        table = self.table
        change = Change()
        read_only = {link.field for link in table.links if link.rest_field} | {
            table.id_field,
            table.creation_field,
            table.modify_field,
        }
        for key, value in body.items():
            if key == table.ref_field:
                if current is None:
                    ref = _text(key, value)
                    change.ref = ref
                elif _text(key, value) != current.ref:
                    self._immutable(key)
            elif key in read_only:
                if current is not None and key == table.id_field and value == current.id:
                    continue
                self._immutable(key)
            elif key == table.stat_field:
                if value not in STATUSES:
                    raise RestError(
                        400, f"Invalid value for {key}: {value!r} (use V, I, D or R)", field=key
                    )
                change.status = value
            elif key in table.link_by_rest_field:
                link = table.link_by_rest_field[key]
                change.links[link.field] = self._link(key, link, value, current)
            elif key in table.field_map:
                change.fields[key] = self._field(key, value)
            else:
                raise RestError(400, f"Invalid attribute name: {key}", field=key)
        if current is None:
            self._check_create(change)
        self._check_refused(change.ref if current is None else current.ref)
        return change

    def _check_refused(self, ref: str | None) -> None:
        """Settings ``refuse``: data Sales Layer does not accept for this item."""
        if ref is not None and ref in self.refuse:
            raise RestError(400, self.refuse[ref])

    def _check_create(self, change: Change) -> None:
        table = self.table
        if not change.ref:
            raise RestError(400, f"Attribute {table.ref_field} is mandatory", field=table.ref_field)
        for link in table.links:
            if link.required and not change.links.get(link.field):
                name = link.rest_field or link.field
                raise RestError(400, f"Attribute {name} is mandatory", field=name)
        if self.settings.duplicate_ref_on_post == "reject":
            found = self.storage.by_refs(table.import_name, [change.ref]).get(change.ref)
            if found is not None:
                raise RestError(
                    400,
                    f"Reference {change.ref} already exists ({table.id_field} {found.id})",
                    field=table.ref_field,
                )

    def _immutable(self, key: str) -> None:
        if self.settings.immutable_fields == "reject":
            raise RestError(400, f"Attribute {key} cannot be changed", field=key)

    def _field(self, key: str, value: Any) -> FieldChange:
        spec = self.table.field_map[key]
        if spec.multilingual:
            return self._multilingual(key, value)
        if spec.list:
            if value is None:
                return None
            if isinstance(value, list):
                return [t for t in (_text(key, v) for v in value) if t]
            text = _text(key, value) or ""
            return [part for part in text.split(",") if part]
        return _text(key, value)

    def _multilingual(self, key: str, value: Any) -> FieldChange:
        if value is None:
            return None
        pairs: list[tuple[Any, Any]]
        if isinstance(value, dict):
            pairs = list(value.items())
        elif isinstance(value, list):
            pairs = []
            for entry in value:
                if not isinstance(entry, dict) or "culture" not in entry:
                    raise RestError(
                        400, f"Field {key}: array entries must be {{culture, value}}", field=key
                    )
                pairs.append((entry["culture"], entry.get("value")))
        else:
            pairs = [(self.culture, value)]
        out: dict[str, str | None] = {}
        for culture, text in pairs:
            if not isinstance(culture, str):
                raise RestError(400, f"Field {key}: cultures are text such as 'en'", field=key)
            out[culture_of(self.tenant, culture)] = _text(key, text) or None
        return out

    def _ids(self, key: str, link: LinkSpec, value: Any) -> list[int]:
        values = value if isinstance(value, list) else [value]
        if isinstance(value, list) and not link.many:
            raise RestError(400, f"{key} takes one id, not a list", field=key)
        ids: list[int] = []
        for one in values:
            if one is None:
                continue
            if isinstance(one, int) and not isinstance(one, bool):
                number = one
            elif isinstance(one, str) and _DIGITS.match(one.strip()):
                number = int(one.strip())
            else:
                raise RestError(400, f"{key} does not exist or is invalid: {one!r}", field=key)
            if number:
                ids.append(number)
        return ids

    def _link(self, key: str, link: LinkSpec, value: Any, current: Item | None) -> list[int]:
        if link.rest_field is None:
            return self._ref_link(key, link, value)
        ids = self._ids(key, link, value)
        if link.required and not ids:
            raise RestError(400, f"Attribute {key} is mandatory", field=key)
        if current is not None and link.target == self.table.import_name and current.id in ids:
            raise RestError(400, f"{key}: an item cannot be its own parent", field=key)
        live = self.storage.refs_of(link.target, ids)
        for missing in [i for i in ids if i not in live]:
            target = self.tenant.table(link.target)
            if target is not None and target.kind == "product" and self.table.kind == "variant":
                status = self.settings.missing_product_status
                detail = (
                    f"Product {missing} not found."
                    if status == 400
                    else f"Product {missing} does not exist or has been deleted"
                )
                raise RestError(status, detail, field=key)
            raise RestError(400, f"{key} does not exist or is invalid", field=key)
        return ids

    def _ref_link(self, key: str, link: LinkSpec, value: Any) -> list[int]:
        if value is None:
            return []
        if isinstance(value, list):
            refs = [t for t in (_text(key, v) for v in value) if t]
        else:
            refs = [part for part in (_text(key, value) or "").split(",") if part]
        if len(refs) > 1 and not link.many:
            raise RestError(400, f"{key} takes one reference", field=key)
        found = self.storage.by_refs(link.target, refs)
        missing = [r for r in refs if r not in found]
        if missing and self.settings.check_custom_links:
            raise RestError(
                400,
                f"{key}: reference(s) {', '.join(missing)} not found in {link.target}",
                field=key,
            )
        return [found[r].id for r in refs if r in found]
