"""What one Import Connector API call does to the store: check it, count it, apply it.

A call is checked twice: when it arrives (so a bad call is denied with ``result: 2`` and no job),
and again when its job ends (the store may have changed meanwhile; a job that no longer fits ends
in ``error`` and writes nothing). Applying is one SQLite transaction: all or nothing.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from typing import Any

from saleslayer_airflow.emulator.catalog import FieldChange, apply_fields, delete_items
from saleslayer_airflow.emulator.form import ImportForm
from saleslayer_airflow.emulator.settings import ConnectorApiSettings
from saleslayer_airflow.emulator.storage import AUTHOR_CONNECTOR, Item, Storage
from saleslayer_airflow.emulator.tenant import STATUSES, ConnectorSpec, TableSpec, Tenant

Batch = dict[str, Any]
"""A checked call, JSON-serialisable so a job can persist it:
``{"upserts": {table: [row, ...]}, "deletes": {table: [ref, ...]}, "duplicates": {table: n}}``
where a row is ``{"ref", "status", "fields": {name: change}, "links": {field: [refs]}}``."""

COUNT_KEYS = ("items_affected", "new_items", "updated_items", "deleted_items", "skipped_items")


class ImportRejected(Exception):
    """The call cannot be applied; ``errors`` says why, row by row."""

    def __init__(self, errors: list[str]) -> None:
        super().__init__("; ".join(errors))
        self.errors = errors


@dataclass
class Counts:
    """Per-table counts of one call."""

    new: dict[str, int] = field(default_factory=dict)
    updated: dict[str, int] = field(default_factory=dict)
    deleted: dict[str, int] = field(default_factory=dict)
    skipped: dict[str, int] = field(default_factory=dict)

    def as_response(self, tables: list[str]) -> dict[str, dict[str, int]]:
        """The counts as the API answers them: one map per kind, every touched table in each."""
        out = {
            "new_items": {t: self.new.get(t, 0) for t in tables},
            "updated_items": {t: self.updated.get(t, 0) for t in tables},
            "deleted_items": {t: self.deleted.get(t, 0) for t in tables},
            "skipped_items": {t: self.skipped.get(t, 0) for t in tables},
        }
        out["items_affected"] = {
            t: out["new_items"][t] + out["updated_items"][t] + out["deleted_items"][t]
            for t in tables
        }
        return out


def _lang_field(table: TableSpec, tenant: Tenant, name: str) -> tuple[str, str] | None:
    match = re.fullmatch(r"(.+)_([A-Za-z]{2}(?:-[A-Za-z]{2})?)", name)
    if not match:
        return None
    base, culture = match.groups()
    spec = table.field_map.get(base)
    if spec is None or not spec.multilingual or culture not in tenant.languages:
        return None
    return base, culture


def _set_field(
    tenant: Tenant, table: TableSpec, fields: dict[str, FieldChange], name: str, value: str
) -> None:
    spec = table.field_map.get(name)
    if spec is None or spec.multilingual:
        # A bare multilingual name is the default language; name_<lang> is that language.
        base, culture = _lang_field(table, tenant, name) or (name, tenant.default_language)
        previous = fields.get(base)
        merged = dict(previous) if isinstance(previous, dict) else {}
        merged[culture] = value or None
        fields[base] = merged
    elif spec.list:
        fields[name] = [part for part in value.split(",") if part] if value else None
    else:
        fields[name] = value or None


def _normalize_row(
    tenant: Tenant,
    table: TableSpec,
    row: dict[str, str],
    where: str,
    settings: ConnectorApiSettings,
    errors: list[str],
) -> dict[str, Any] | None:
    ref = row.get(table.ref_field)
    alias = row.get("REF")
    if ref is not None and alias is not None and ref != alias:
        errors.append(f"{where}: {table.ref_field}={ref!r} and REF={alias!r} disagree")
        return None
    ref = ref if ref is not None else alias
    if not ref:
        errors.append(f"{where}: the reference {table.ref_field} (or REF) is missing or empty")
        return None
    out: dict[str, Any] = {"ref": ref, "status": None, "fields": {}, "links": {}}
    fields: dict[str, FieldChange] = out["fields"]
    for name, value in row.items():
        if name in (table.ref_field, "REF"):
            continue
        if name == table.stat_field:
            if value not in STATUSES and value != "X":
                errors.append(f"{where}: {name}={value!r} is not one of V, I, D, R, X")
            out["status"] = value
        elif name in table.link_by_field:
            link = table.link_by_field[name]
            refs = [part for part in value.split(",") if part] if value else []
            if len(refs) > 1 and not link.many:
                errors.append(f"{where}: {name} takes one reference, got {value!r}")
            out["links"][name] = refs
        elif name in table.field_map or _lang_field(table, tenant, name):
            _set_field(tenant, table, fields, name, value)
        elif settings.unknown_fields == "reject":
            errors.append(
                f"{where}: unknown field {name!r} (check the Name on Import; names are "
                "case-sensitive and multilingual fields take a _<language> suffix)"
            )
    return out


def normalize(tenant: Tenant, settings: ConnectorApiSettings, form: ImportForm) -> Batch:
    """Check a parsed call against the tenant model (not the store) and flatten it."""
    errors: list[str] = []
    total = sum(len(rows) for rows in form.input_data.values()) + sum(
        len(rows) for rows in form.delete_data.values()
    )
    if total == 0:
        raise ImportRejected(["the call holds no rows in input_data or delete_data"])
    if total > settings.max_items_per_call:
        raise ImportRejected(
            [f"{total} items in one call; at most {settings.max_items_per_call} are accepted"]
        )
    batch: Batch = {"upserts": {}, "deletes": {}, "duplicates": {}}
    for name in list(form.input_data) + list(form.delete_data):
        if tenant.table(name) is None:
            known = ", ".join(t.import_name for t in tenant.tables)
            errors.append(f"unknown table {name!r}; the account's tables are: {known}")
    if errors:
        raise ImportRejected(errors)
    _normalize_upserts(tenant, settings, form, batch, errors)
    _normalize_deletes(tenant, form, batch, errors)
    if errors:
        raise ImportRejected(errors)
    return batch


def _normalize_upserts(
    tenant: Tenant,
    settings: ConnectorApiSettings,
    form: ImportForm,
    batch: Batch,
    errors: list[str],
) -> None:
    for name, rows in form.input_data.items():
        table = tenant.table(name)
        assert table is not None
        seen: set[str] = set()
        kept: list[dict[str, Any]] = []
        for index, row in enumerate(rows):
            normal = _normalize_row(tenant, table, row, f"{name}[{index}]", settings, errors)
            if normal is None:
                continue
            if normal["ref"] in seen:
                # The documented rule for a reference repeated within one file: the first wins.
                batch["duplicates"][name] = batch["duplicates"].get(name, 0) + 1
                continue
            seen.add(normal["ref"])
            if normal["status"] == "X":
                batch["deletes"].setdefault(name, []).append(normal["ref"])
            else:
                kept.append(normal)
        batch["upserts"][name] = kept


def _normalize_deletes(tenant: Tenant, form: ImportForm, batch: Batch, errors: list[str]) -> None:
    for name, rows in form.delete_data.items():
        table = tenant.table(name)
        assert table is not None
        for index, row in enumerate(rows):
            ref = row.get(table.ref_field, row.get("REF"))
            extra = set(row) - {table.ref_field, "REF"}
            if not ref or extra:
                errors.append(
                    f"delete_data {name}[{index}]: give only the reference {table.ref_field} "
                    f"(or REF), got fields {sorted(row)}"
                )
                continue
            batch["deletes"].setdefault(name, []).append(ref)


@dataclass
class _Plan:
    counts: Counts
    existing: dict[str, dict[str, Item]]
    creatable: dict[str, set[str]]


def plan(tenant: Tenant, storage: Storage, connector: ConnectorSpec, batch: Batch) -> _Plan:
    """Count what the call would do now and check its links; :class:`ImportRejected` if a link
    points nowhere or a required link is missing."""
    counts = Counts()
    existing: dict[str, dict[str, Item]] = {}
    creatable: dict[str, set[str]] = {}
    for name, rows in batch["upserts"].items():
        found = storage.by_refs(name, [row["ref"] for row in rows])
        existing[name] = found
        new = {row["ref"] for row in rows if row["ref"] not in found}
        if connector.only_import_existing:
            counts.skipped[name] = len(new)
            new = set()
        creatable[name] = new
        counts.new[name] = len(new)
        counts.updated[name] = len(rows) - len(new) - counts.skipped.get(name, 0)
    for name, count in batch["duplicates"].items():
        counts.skipped[name] = counts.skipped.get(name, 0) + count
    errors = _check_links(tenant, storage, batch, existing, creatable)
    for name, refs in batch["deletes"].items():
        found = storage.by_refs(name, refs)
        counts.deleted[name] = len(set(refs) & set(found))
        counts.skipped[name] = counts.skipped.get(name, 0) + len(set(refs) - set(found))
    if errors:
        raise ImportRejected(errors)
    return _Plan(counts, existing, creatable)


def _check_links(
    tenant: Tenant,
    storage: Storage,
    batch: Batch,
    existing: dict[str, dict[str, Item]],
    creatable: dict[str, set[str]],
) -> list[str]:
    errors: list[str] = []
    for name, rows in batch["upserts"].items():
        table = tenant.table(name)
        assert table is not None
        for row in rows:
            ref = row["ref"]
            if ref not in existing[name] and ref not in creatable[name]:
                continue  # skipped: only existing items are imported
            for link in table.links:
                refs: list[str] | None = row["links"].get(link.field)
                if refs is None:
                    if link.required and ref not in existing[name]:
                        errors.append(
                            f"{name} {ref}: a new item needs {link.field} (its {link.target} "
                            "reference)"
                        )
                    continue
                if not refs and link.required:
                    errors.append(f"{name} {ref}: {link.field} cannot be emptied")
                if link.target == name and ref in refs:
                    errors.append(f"{name} {ref}: an item cannot link to itself in {link.field}")
                in_call = creatable.get(link.target, set())
                outside = [r for r in refs if r not in in_call]
                stored = storage.by_refs(link.target, outside) if outside else {}
                for missing in [r for r in outside if r not in stored]:
                    errors.append(
                        f"{name} {ref}: {link.field} {missing!r} is not a {link.target} "
                        "reference of the account nor of this call"
                    )
    return errors


def apply(tenant: Tenant, storage: Storage, connector: ConnectorSpec, batch: Batch) -> Counts:
    """Write the call into the store in one transaction and return what it did."""
    with storage.transaction(), storage.authored_by(AUTHOR_CONNECTOR):
        the_plan = plan(tenant, storage, connector, batch)
        touched: dict[str, dict[str, Item]] = {}
        for name, rows in batch["upserts"].items():
            table = tenant.table(name)
            assert table is not None
            touched[name] = {}
            for row in rows:
                item = the_plan.existing[name].get(row["ref"])
                if item is None:
                    if row["ref"] not in the_plan.creatable[name]:
                        continue
                    item = storage.insert(
                        name, row["ref"], row["status"] or tenant.new_item_status, {}, {}
                    )
                elif row["status"]:
                    item.status = row["status"]
                apply_fields(table, item, row["fields"], replace=connector.overwrite)
                touched[name][row["ref"]] = item
        for name, rows in batch["upserts"].items():
            table = tenant.table(name)
            assert table is not None
            for row in rows:
                item = touched[name].get(row["ref"])
                if item is None:
                    continue
                _set_links(table, storage, item, row["links"], replace=connector.overwrite)
                storage.save(item)
        for name, refs in batch["deletes"].items():
            table = tenant.table(name)
            assert table is not None
            found = storage.by_refs(name, refs)
            delete_items(tenant, storage, table, [item.id for item in found.values()])
    return the_plan.counts


def _set_links(
    table: TableSpec,
    storage: Storage,
    item: Item,
    links: dict[str, list[str]],
    *,
    replace: bool,
) -> None:
    for link in table.links:
        refs = links.get(link.field)
        if refs is None:
            if replace and not link.required:
                item.links.pop(link.field, None)
            continue
        found = storage.by_refs(link.target, refs)
        item.links[link.field] = [found[r].id for r in refs if r in found]


def refused_items(batch: Batch, refuse: dict[str, dict[str, str]]) -> list[str]:
    """The errors of the call's items the emulator is set to refuse (settings ``refuse``)."""
    return [
        f"{name} {row['ref']}: {refuse[name][row['ref']]}"
        for name, rows in batch["upserts"].items()
        if name in refuse
        for row in rows
        if row["ref"] in refuse[name]
    ]
