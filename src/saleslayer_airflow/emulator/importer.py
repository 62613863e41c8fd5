"""What one Import Connector API call does to the store: check it, count it, apply it.

A call is checked twice: when it arrives (so a bad call is denied with ``result: 2`` and no job),
and again when its job ends (the store may have changed meanwhile; a job that no longer fits ends
in ``error`` and writes nothing). Applying is one SQLite transaction: all or nothing.

Both work in bulk, so that the emulator is not the bottleneck of a benchmark (50,000 items per
second and more): the references of a call are looked up together per table, never one query
per item; new items are inserted and updates written with one prepared statement each
(``executemany``); an update that only sets values is merged into the stored item by SQLite
(``json_patch``) without reading it. The answers are those of applying one item after another.

A call whose rows are of one table and share their fields (what this project's client sends)
does not come here, applied at once or as a tracked job: :mod:`saleslayer_airflow.emulator.bulk`
applies it column by column, with the same answers, and hands anything else back to this row
path (a tracked job's call too, when it no longer fits the column path as its job ends).
"""

from __future__ import annotations

import re
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from saleslayer_airflow.emulator.catalog import FieldChange, apply_fields, delete_items
from saleslayer_airflow.emulator.form import ImportForm
from saleslayer_airflow.emulator.settings import ConnectorApiSettings, EmulatorSettings
from saleslayer_airflow.emulator.storage import (
    AUTHOR_CONNECTOR,
    Item,
    ItemPatch,
    NewItemRow,
    Storage,
    item_json,
    new_item_row,
    now_iso,
)
from saleslayer_airflow.emulator.tenant import (
    STATUSES,
    ConnectorSpec,
    LinkSpec,
    TableSpec,
    Tenant,
)

Batch = dict[str, Any]
"""A checked call, JSON-serialisable so a job can persist it:
``{"upserts": {table: [row, ...]}, "deletes": {table: [ref, ...]}, "duplicates": {table: n}}``
where a row is ``{"ref", "status", "fields": {name: change}, "links": {field: [refs]}}`` and
``duplicates`` counts the rows the call holds but does not apply (a reference repeated, a delete
by the ``ID`` of no live item): they are counted in ``skipped_items``."""

IdRefs = dict[str, dict[int, tuple[str, bool]]]
"""Per table, the items named by the call's ``ID`` columns: id -> (reference, deleted)."""

_ID_TEXT = re.compile(r"[1-9][0-9]{0,17}\Z")

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


_REF, _ID, _STAT, _LINK, _MULTILINGUAL, _LIST, _PLAIN, _UNKNOWN = range(8)
_Kind = tuple[int, Any, Any]
"""How a column of a call is read: one of the tags above and its arguments."""


def _kind(tenant: Tenant, table: TableSpec, name: str) -> _Kind:
    """How a column of ``table`` is read; decided once per column name and call, not per row."""
    if name in (table.ref_field, "REF"):
        return (_REF, None, None)
    if name == "ID":  # the item's Sales Layer id: read with the reference (_row_ref)
        return (_ID, None, None)
    if name == table.stat_field:
        return (_STAT, None, None)
    if name in table.link_by_field:
        return (_LINK, table.link_by_field[name], None)
    if name not in table.field_map and not _lang_field(table, tenant, name):
        return (_UNKNOWN, None, None)
    spec = table.field_map.get(name)
    if spec is None or spec.multilingual:
        # A bare multilingual name is the default language; name_<lang> is that language.
        base, culture = _lang_field(table, tenant, name) or (name, tenant.default_language)
        return (_MULTILINGUAL, base, culture)
    return (_LIST if spec.list else _PLAIN, None, None)


def _where(table: TableSpec, index: int) -> str:
    """How errors name a row of a call (formatted only for an error)."""
    return f"{table.import_name}[{index}]"


def _item_id(value: str) -> int | None:
    """A Sales Layer id given as text (``ID``), or None when it is not one."""
    return int(value) if _ID_TEXT.match(value) else None


def lookup_ids(tenant: Tenant, storage: Storage, form: ImportForm) -> IdRefs:
    """The stored items (deleted ones too) that the call's ``ID`` columns name, per table."""
    wanted: dict[str, set[int]] = {}
    for section in (form.input_data, form.delete_data):
        for name, rows in section.items():
            if tenant.table(name) is None:
                continue
            ids = {item_id for row in rows if "ID" in row and (item_id := _item_id(row["ID"]))}
            if ids:
                wanted.setdefault(name, set()).update(ids)
    return {name: storage.refs_by_ids(name, ids) for name, ids in wanted.items()}


def _id_ref(
    table: TableSpec,
    where: str,
    value: str,
    ref: str | None,
    ids: dict[int, tuple[str, bool]],
    errors: list[str],
) -> tuple[str | None, bool]:
    """The reference of the item a row names by ``ID`` (and whether it is live), or None with
    the error: an ID that is not a number, or whose item holds another reference than the
    row's own."""
    item_id = _item_id(value)
    if item_id is None:
        errors.append(f"{where}: ID {value!r} is not a Sales Layer id (a whole number from 1)")
        return None, False
    stored, deleted = ids.get(item_id, (None, True))
    if stored is not None and ref and ref != stored:
        errors.append(
            f"{where}: ID {item_id} is the item {table.ref_field}={stored!r}, but the row gives "
            f"{ref!r}; send the ID or the reference, or both of the same item"
        )
        return None, False
    return stored, not deleted


def _row_ref(
    table: TableSpec,
    row: dict[str, str],
    index: int,
    errors: list[str],
    ids: IdRefs | None = None,
) -> str | None:
    """The row's reference (its reference field, ``REF``, or that of the live item its ``ID``
    names), or None with the error."""
    ref = row.get(table.ref_field)
    if ref and "REF" not in row and "ID" not in row:  # the usual row
        return ref
    alias = row.get("REF")
    if ref is not None and alias is not None and ref != alias:
        errors.append(
            f"{table.import_name}[{index}]: {table.ref_field}={ref!r} and REF={alias!r} disagree"
        )
        return None
    ref = ref if ref is not None else alias
    if "ID" in row:
        where = _where(table, index)
        errors_before = len(errors)
        stored, live = _id_ref(
            table, where, row["ID"], ref, (ids or {}).get(table.import_name, {}), errors
        )
        if stored is not None and live:
            return stored
        if len(errors) == errors_before:
            state = "a deleted" if stored is not None else "no"
            errors.append(
                f"{where}: ID {row['ID']} names {state} {table.import_name} item; an ID only "
                f"updates a live item (new items are created by their reference, "
                f"{table.ref_field} or REF)"
            )
        return None
    if not ref:
        errors.append(
            f"{table.import_name}[{index}]: the reference {table.ref_field} (or REF) is missing "
            "or empty"
        )
        return None
    return ref


def _link_refs(
    table: TableSpec, index: int, link: LinkSpec, value: str, errors: list[str]
) -> list[str]:
    """The references of a link column (comma-separated when the link takes many)."""
    if value and "," not in value:
        return [value]
    refs = [part for part in value.split(",") if part] if value else []
    if len(refs) > 1 and not link.many:
        errors.append(f"{_where(table, index)}: {link.field} takes one reference, got {value!r}")
    return refs


def _normalize_row(
    table: TableSpec,
    row: dict[str, str],
    index: int,
    kinds: dict[str, _Kind],
    kind_of: Callable[[str], _Kind],
    reject_unknown: bool,
    errors: list[str],
    ids: IdRefs | None,
) -> dict[str, Any] | None:
    ref = _row_ref(table, row, index, errors, ids)
    if ref is None:
        return None

    status: str | None = None
    fields: dict[str, FieldChange] = {}
    links: dict[str, list[str]] = {}
    for name, value in row.items():
        kind = kinds.get(name)
        if kind is None:
            kind = kinds[name] = kind_of(name)
        tag, arg, culture = kind
        if tag == _PLAIN:
            fields[name] = value or None
        elif tag == _MULTILINGUAL:
            cultures = fields.get(arg)
            if isinstance(cultures, dict):
                cultures[culture] = value or None
            else:
                fields[arg] = {culture: value or None}
        elif tag == _LINK:
            links[name] = _link_refs(table, index, arg, value, errors)
        elif tag == _LIST:
            fields[name] = [part for part in value.split(",") if part] if value else None
        elif tag == _STAT:
            if value not in STATUSES and value != "X":
                errors.append(
                    f"{_where(table, index)}: {name}={value!r} is not one of V, I, D, R, X"
                )
            status = value
        elif tag == _UNKNOWN and reject_unknown:
            errors.append(
                f"{_where(table, index)}: unknown field {name!r} (check the Name on Import; "
                "names are case-sensitive and multilingual fields take a _<language> suffix)"
            )
    return {"ref": ref, "status": status, "fields": fields, "links": links}


def normalize(
    tenant: Tenant, settings: ConnectorApiSettings, form: ImportForm, ids: IdRefs | None = None
) -> Batch:
    """Check a parsed call against the tenant model (and ``ids``, the items its ``ID`` columns
    name: :func:`lookup_ids`) and flatten it; :class:`ImportRejected` with every problem."""
    batch, errors = normalize_all(tenant, settings, form, ids)
    if errors:
        raise ImportRejected(errors)
    return batch


def normalize_all(
    tenant: Tenant, settings: ConnectorApiSettings, form: ImportForm, ids: IdRefs | None = None
) -> tuple[Batch, list[str]]:
    """:func:`normalize` without raising: the batch of the rows that could be read, and one
    message per problem found (the documentation promises every problem of a call, not the
    first kind), about the call first, then row by row."""
    errors: list[str] = []
    batch: Batch = {"upserts": {}, "deletes": {}, "duplicates": {}}
    total = sum(len(rows) for rows in form.input_data.values()) + sum(
        len(rows) for rows in form.delete_data.values()
    )
    if total == 0:
        return batch, ["the call holds no rows in input_data or delete_data"]
    if total > settings.max_items_per_call:
        errors.append(
            f"{total} items in one call; at most {settings.max_items_per_call} are accepted"
        )
    for name in dict.fromkeys([*form.input_data, *form.delete_data]):
        if tenant.table(name) is None:
            known = ", ".join(t.import_name for t in tenant.tables)
            errors.append(f"unknown table {name!r}; the account's tables are: {known}")
    _normalize_upserts(tenant, settings, form, batch, errors, ids)
    _normalize_deletes(tenant, form, batch, errors, ids)
    return batch, errors


def check(
    tenant: Tenant,
    storage: Storage,
    settings: EmulatorSettings,
    connector: ConnectorSpec,
    form: ImportForm,
    problems: list[str] | None = None,
) -> tuple[Batch, Plan]:
    """Check a call in full as it arrives (model, ``ID`` columns, refusals, links against the
    store): its batch and plan, or :class:`ImportRejected` with one message per problem, the
    caller's ``problems`` (about the call as a whole) first."""
    ids = lookup_ids(tenant, storage, form)
    batch, errors = normalize_all(tenant, settings.connector_api, form, ids)
    errors = [*(problems or []), *errors, *refused_items(batch, settings.refuse)]
    planned: Plan | None = None
    try:
        planned = plan(tenant, storage, connector, batch)
    except ImportRejected as exc:
        errors += exc.errors
    if errors or planned is None:
        raise ImportRejected(errors)
    return batch, planned


def _normalize_upserts(
    tenant: Tenant,
    settings: ConnectorApiSettings,
    form: ImportForm,
    batch: Batch,
    errors: list[str],
    ids: IdRefs | None,
) -> None:
    for name, rows in form.input_data.items():
        table = tenant.table(name)
        if table is None:
            continue  # reported with the call's problems
        seen: set[str] = set()
        kept: list[dict[str, Any]] = []
        kinds: dict[str, _Kind] = {}
        reject_unknown = settings.unknown_fields == "reject"

        def kind_of(column: str, table: TableSpec = table) -> _Kind:
            return _kind(tenant, table, column)

        for index, row in enumerate(rows):
            normal = _normalize_row(table, row, index, kinds, kind_of, reject_unknown, errors, ids)
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


def _normalize_deletes(
    tenant: Tenant, form: ImportForm, batch: Batch, errors: list[str], ids: IdRefs | None
) -> None:
    for name, rows in form.delete_data.items():
        table = tenant.table(name)
        if table is None:
            continue  # reported with the call's problems
        deletes: list[str] = batch["deletes"].setdefault(name, [])
        for index, row in enumerate(rows):
            ref = row.get(table.ref_field, row.get("REF"))
            extra = set(row) - {table.ref_field, "REF", "ID"}
            if (not ref and "ID" not in row) or extra:
                errors.append(
                    f"delete_data {name}[{index}]: give only the reference {table.ref_field} "
                    f"(or REF, or the item's ID), got fields {sorted(row)}"
                )
                continue
            if "ID" in row:
                known = (ids or {}).get(name, {})
                ref = _deleted_by_id(table, index, row["ID"], ref, known, batch, errors)
            if ref is not None:
                deletes.append(ref)


def _deleted_by_id(
    table: TableSpec,
    index: int,
    value: str,
    ref: str | None,
    known: dict[int, tuple[str, bool]],
    batch: Batch,
    errors: list[str],
) -> str | None:
    """The reference a delete by ``ID`` deletes; None with the error, or when the ID names no
    live item: like a delete of an unknown reference, there is nothing to delete (a retried
    call may have deleted it already) and the row is counted in ``skipped_items``."""
    errors_before = len(errors)
    where = f"delete_data {table.import_name}[{index}]"
    stored, live = _id_ref(table, where, value, ref, known, errors)
    if len(errors) > errors_before:
        return None
    if stored is None or not live:
        name = table.import_name
        batch["duplicates"][name] = batch["duplicates"].get(name, 0) + 1
        return None
    return stored


@dataclass
class Plan:
    """What a call would do to the store as it is now, per table: its counts, the ids of the
    items it updates, the references it creates, and the ids of the stored items its links
    name (beyond those it creates)."""

    counts: Counts
    existing: dict[str, dict[str, int]]
    creatable: dict[str, set[str]]
    linked: dict[str, dict[str, int]]


def plan(tenant: Tenant, storage: Storage, connector: ConnectorSpec, batch: Batch) -> Plan:
    """Count what the call would do now and check its links; :class:`ImportRejected` if a link
    points nowhere or a required link is missing."""
    counts = Counts()
    existing: dict[str, dict[str, int]] = {}
    creatable: dict[str, set[str]] = {}
    for name, rows in batch["upserts"].items():
        found = storage.ids_by_refs(name, [row["ref"] for row in rows])
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
    linked, unresolved = _linked(tenant, storage, batch, creatable)
    errors = _check_links(tenant, batch, existing, creatable, linked, unresolved)
    for name, refs in batch["deletes"].items():
        live = storage.ids_by_refs(name, refs)
        counts.deleted[name] = len(set(refs) & set(live))
        counts.skipped[name] = counts.skipped.get(name, 0) + len(set(refs) - set(live))
    if errors:
        raise ImportRejected(errors)
    return Plan(counts, existing, creatable, linked)


def _linked(
    tenant: Tenant, storage: Storage, batch: Batch, creatable: dict[str, set[str]]
) -> tuple[dict[str, dict[str, int]], set[str]]:
    """Ids of the live items named by the call's links that the call does not create, looked
    up together per target table; and the target tables some of whose references named are
    nowhere (only their links need checking row by row)."""
    wanted: dict[str, set[str]] = {}
    for name, rows in batch["upserts"].items():
        table = tenant.table(name)
        assert table is not None
        for link in table.links:
            refs = wanted.setdefault(link.target, set())
            for row in rows:
                refs.update(row["links"].get(link.field) or ())
    linked: dict[str, dict[str, int]] = {}
    unresolved: set[str] = set()
    for target, refs in wanted.items():
        outside = refs - creatable.get(target, set())
        linked[target] = storage.ids_by_refs(target, outside)
        if outside - linked[target].keys():
            unresolved.add(target)
    return linked, unresolved


def _check_links(
    tenant: Tenant,
    batch: Batch,
    existing: dict[str, dict[str, int]],
    creatable: dict[str, set[str]],
    linked: dict[str, dict[str, int]],
    unresolved: set[str],
) -> list[str]:
    errors: list[str] = []
    for name, rows in batch["upserts"].items():
        table = tenant.table(name)
        assert table is not None
        # Only these links can be wrong (an optional link to another table whose every named
        # reference is known cannot): most calls check no row at all.
        checked = [
            link
            for link in table.links
            if link.required or link.target == name or link.target in unresolved
        ]
        if not checked:
            continue
        for row in rows:
            ref = row["ref"]
            if ref not in existing[name] and ref not in creatable[name]:
                continue  # skipped: only existing items are imported
            for link in checked:
                refs = row["links"].get(link.field)
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
                if link.target not in unresolved:
                    continue  # every reference this link names somewhere is known
                in_call = creatable.get(link.target, set())
                stored = linked[link.target]
                for missing in [r for r in refs if r not in in_call and r not in stored]:
                    errors.append(
                        f"{name} {ref}: {link.field} {missing!r} is not a {link.target} "
                        "reference of the account nor of this call"
                    )
    return errors


def apply(
    tenant: Tenant,
    storage: Storage,
    connector: ConnectorSpec,
    batch: Batch,
    planned: Plan | None = None,
) -> Counts:
    """Write the call into the store in one transaction and return what it did.

    ``planned``: the call's :func:`plan`, when the caller made it inside the transaction this
    runs in (the store cannot have changed since); otherwise the call is planned again here.
    """
    with storage.transaction(), storage.authored_by(AUTHOR_CONNECTOR):
        the_plan = planned if planned is not None else plan(tenant, storage, connector, batch)
        stamp = now_iso()
        # Ids of the items the call creates, in the order of its rows (as one insert after the
        # other would give them); links reach them by reference like stored ones.
        targets: dict[str, dict[str, int]] = {}
        for name, rows in batch["upserts"].items():
            fresh = [
                row["ref"]
                for row in rows
                if row["ref"] in the_plan.creatable[name]
                and row["ref"] not in the_plan.existing[name]
            ]
            first = storage.reserve_ids(name, len(fresh)) if fresh else 0
            targets[name] = dict(zip(fresh, range(first, first + len(fresh)), strict=True))
        for target, ids in the_plan.linked.items():
            targets[target] = {**targets.get(target, {}), **ids}
        writes = _Writes(tenant, storage, connector, the_plan, targets, stamp)
        for name, rows in batch["upserts"].items():
            table = tenant.table(name)
            assert table is not None
            writes.add(table, rows)
        storage.write_items(writes.created, writes.updated)
        for name, refs in batch["deletes"].items():
            table = tenant.table(name)
            assert table is not None
            found = storage.ids_by_refs(name, refs)
            delete_items(tenant, storage, table, found.values())
    return the_plan.counts


def _mergeable(changes: dict[str, FieldChange]) -> bool:
    """Whether attribute changes read as a JSON merge patch (RFC 7396, SQLite's
    ``json_patch``) do what :func:`apply_fields` does without ``replace``: yes unless a change
    clears one language of a multilingual value (which may leave it empty: then it goes) or is
    an empty text or list (which clears the attribute; in a patch it would be stored)."""
    for change in changes.values():
        if change.__class__ is dict:
            values = change.values()
            if not change or None in values or "" in values:
                return False
        elif change is not None and not change:
            return False
    return True


@dataclass
class _Writes:
    """The writes of one call, gathered table by table: new items as the rows to insert; an
    update as a merge patch applied in SQLite when it can be one (the stored item is not read),
    else the stored item read, changed and written back whole.

    Items the call creates are not built as :class:`Item` objects when their fields need no
    rule of :func:`apply_fields` (nothing is cleared): their stored JSON is made from the row
    directly, and links are written as JSON text in one step (this part of applying a new item
    took about a third less CPU).
    """

    tenant: Tenant
    storage: Storage
    connector: ConnectorSpec
    plan: Plan
    targets: dict[str, dict[str, int]]
    stamp: str
    created: list[NewItemRow] = field(default_factory=list)
    updated: list[Item | ItemPatch] = field(default_factory=list)

    def add(self, table: TableSpec, rows: list[dict[str, Any]]) -> None:
        """Add the writes of one table's rows, in their order."""
        name = table.import_name
        existing = self.plan.existing[name]
        creatable = self.plan.creatable[name]
        replace = self.connector.overwrite
        patchable = [not replace and _mergeable(row["fields"]) for row in rows]
        wanted = [
            existing[row["ref"]]
            for row, patch in zip(rows, patchable, strict=True)
            if not patch and row["ref"] in existing
        ]
        stored = self.storage.items_by_ids(name, wanted) if wanted else {}
        # Each link field with the ids of its target table's references, looked up once.
        resolve = [(link.field, self.targets.get(link.target, {})) for link in table.links]
        links_text = _links_text(resolve)
        ids = self.targets.get(name, {})
        new_status = self.tenant.new_item_status
        stamp = self.stamp
        created, updated = self.created.append, self.updated.append
        for row, patch in zip(rows, patchable, strict=True):
            ref = row["ref"]
            item_id = existing.get(ref)
            if item_id is None:
                if ref not in creatable:
                    continue
                if patch:
                    # What apply_fields and _set_links give on an empty item when no change
                    # clears anything (a patchable row clears no culture: only whole values).
                    fields = row["fields"]
                    if None in fields.values():
                        fields = {k: v for k, v in fields.items() if v is not None}
                    created(
                        (
                            name,
                            ids[ref],
                            ref,
                            row["status"] or new_status,
                            item_json(fields),
                            links_text(row["links"]),
                            stamp,
                            stamp,
                        )
                    )
                else:
                    created(self._create(table, row))
            elif patch:
                updated(
                    ItemPatch(
                        name,
                        item_id,
                        ref,
                        row["status"],
                        item_json(row["fields"]),
                        links_text(row["links"]),
                        stamp,
                    )
                )
            else:
                item = stored[item_id]
                if row["status"]:
                    item.status = row["status"]
                item.modified = stamp
                apply_fields(table, item, row["fields"], replace=replace)
                _set_links(table, self.targets, item, row["links"], replace=replace)
                updated(item)

    def _create(self, table: TableSpec, row: dict[str, Any]) -> NewItemRow:
        name, ref = table.import_name, row["ref"]
        status = row["status"] or self.tenant.new_item_status
        item = Item(name, self.targets[name][ref], ref, status, {}, {}, self.stamp, self.stamp)
        apply_fields(table, item, row["fields"], replace=self.connector.overwrite)
        _set_links(table, self.targets, item, row["links"], replace=self.connector.overwrite)
        return new_item_row(item)


def _links_text(
    resolve: list[tuple[str, dict[str, int]]],
) -> Callable[[dict[str, list[str]]], str]:
    """How a row's links are stored: by target id, in the table's order of links, references
    not found left out (the plan refused the call if one mattered); the JSON text of
    :func:`links_json`, written directly (an import writes one per item)."""
    heads = [(link_field, f'"{link_field}": [', found) for link_field, found in resolve]

    def text(row_links: dict[str, list[str]]) -> str:
        parts = []
        for link_field, head, found in heads:
            refs = row_links.get(link_field)
            if refs is None:
                continue
            if len(refs) == 1 and refs[0] in found:
                parts.append(f"{head}{found[refs[0]]}]")
            else:
                parts.append(head + ", ".join([str(found[r]) for r in refs if r in found]) + "]")
        return "{" + ", ".join(parts) + "}"

    return text


def _set_links(
    table: TableSpec,
    targets: dict[str, dict[str, int]],
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
        found = targets.get(link.target, {})
        item.links[link.field] = [found[r] for r in refs if r in found]


def refused_items(batch: Batch, refuse: dict[str, dict[str, str]]) -> list[str]:
    """The errors of the call's items the emulator is set to refuse (settings ``refuse``)."""
    return [
        f"{name} {row['ref']}: {refuse[name][row['ref']]}"
        for name, rows in batch["upserts"].items()
        if name in refuse
        for row in rows
        if row["ref"] in refuse[name]
    ]
