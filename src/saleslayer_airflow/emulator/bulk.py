"""The Import Connector call of one table applied column by column, at once or as a tracked job.

What this project's client sends is one table per call, rows numbered from 0, every row with
the same fields in the same order: :func:`~saleslayer_airflow.emulator.form_fast.parse_columns`
reads such a body as columns, and this module checks, plans and writes it without building a
dict per row: the kind of each column is decided once, the stored JSON of every item is made
from a template of the row's shape filled with the column's JSON-encoded values, the links'
JSON from the ids of the distinct references named. The answers and the stored items (fields
and links as text, key order included), the changelog and the counts are those of
:mod:`importer` applying the same call row by row (``tests/emulator/test_bulk.py`` compares
both on random calls).

Only the usual call takes this path. :func:`prepare` answers None, before anything is written,
for anything else: an error to report (it is reported by the row path, in its words), a status
``X`` (a delete), a reference given twice, an ``ID`` or both the reference field and ``REF`` (the
row path compares them), an emptied language or list, a
connector that overwrites, items refused by the settings, a link to check row by row. The row
path then handles the call as before.

A tracked call (not applied at once) is checked and counted the same way when it arrives
(:func:`check_tracked`: its answer) and kept by its job as its columns (:func:`job_batch`); when
the job ends, :func:`apply_job` plans them again against the store as it is then (other jobs
may have ended meanwhile), as the row path plans its rows again, and applies them column by
column, or row by row if the column path now declines.
"""

from __future__ import annotations

import json
import operator
import sys
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from itertools import compress

from saleslayer_airflow.emulator import importer
from saleslayer_airflow.emulator.form_fast import ColumnForm
from saleslayer_airflow.emulator.settings import ConnectorApiSettings, EmulatorSettings
from saleslayer_airflow.emulator.storage import (
    AUTHOR_CONNECTOR,
    JOB_COLUMNS,
    ItemPatch,
    NewItemRow,
    Storage,
    now_iso,
)
from saleslayer_airflow.emulator.tenant import STATUSES, ConnectorSpec, LinkSpec, TableSpec, Tenant

_encode: Callable[[str], str] = json.encoder.encode_basestring_ascii
"""A text as ``item_json`` writes it (the same C function its encoder calls)."""


def _template_text(text: str) -> str:
    """Constant text inside a ``str.format`` template."""
    return text.replace("{", "{{").replace("}", "}}")


@dataclass
class _Value:
    """A plain or list attribute: one column."""

    name: str
    column: int
    is_list: bool


@dataclass
class _Languages:
    """A multilingual attribute: its cultures in the order a row dict would hold them, each
    with the column that sets it (the last one naming it, as in a dict)."""

    name: str
    cultures: list[tuple[str, int]]


@dataclass
class _Link:
    link: LinkSpec
    column: int
    refs: list[list[str]] | None
    """References per row when some row names several (comma list); None when each value is
    one reference or empty."""


@dataclass
class Prepared:
    """A call checked and planned against the store as it is now (inside the transaction it
    is applied in): :meth:`apply` writes it, :attr:`counts` is the answer."""

    tenant: Tenant
    table: TableSpec
    columns: list[list[str]]
    refs: list[str]
    statuses: list[str] | None
    fields: list[str]
    """Each row's attribute changes as the JSON merge patch that applies them (cleared values
    as null); it is also the new item's JSON when the row clears nothing."""
    new_fields: dict[int, str]
    """The new item's JSON of the rows that clear a value (left out of a new item)."""
    links: list[_Link]
    existing: dict[str, int]
    creatable: set[str]
    linked: dict[str, dict[str, int]]
    counts: importer.Counts

    def batch(self) -> importer.Batch:
        """The call as a job that ended keeps it (see :meth:`Storage.add_job`)."""
        return {
            "upserts": {self.table.import_name: [{"ref": ref} for ref in self.refs]},
            "deletes": {},
            "duplicates": {},
        }

    def apply(self, storage: Storage) -> importer.Counts:
        """Write the call (in the caller's transaction) and return what it did."""
        name = self.table.import_name
        with storage.transaction(), storage.authored_by(AUTHOR_CONNECTOR):
            stamp = now_iso()
            fresh = [ref for ref in self.refs if ref in self.creatable]
            first = storage.reserve_ids(name, len(fresh)) if fresh else 0
            ids = dict(zip(fresh, range(first, first + len(fresh)), strict=True))
            links = self._links_json(ids)
            statuses: Sequence[str | None] = self.statuses or [None] * len(self.refs)
            existing, creatable, new_fields = self.existing, self.creatable, self.new_fields
            fields = self.fields
            new_status = self.tenant.new_item_status
            created: list[NewItemRow] = []
            updated: list[ItemPatch] = []
            for row, ref in enumerate(self.refs):
                item_id = existing.get(ref)
                if item_id is not None:
                    updated.append(
                        ItemPatch(name, item_id, ref, statuses[row], fields[row], links[row], stamp)
                    )
                elif ref in creatable:
                    created.append(
                        (
                            name,
                            ids[ref],
                            ref,
                            statuses[row] or new_status,
                            new_fields.get(row, fields[row]),
                            links[row],
                            stamp,
                            stamp,
                        )
                    )
            storage.write_items(created, updated)
        return self.counts

    def _links_json(self, fresh: dict[str, int]) -> list[str]:
        """Each row's links as stored (:func:`~saleslayer_airflow.emulator.storage.links_json`):
        the table's links in its order, by target id; a reference found nowhere left out (the
        plan made sure none matters)."""
        name = self.table.import_name
        pieces: list[list[str]] = []
        for entry in self.links:
            target = entry.link.target
            found = {**fresh, **self.linked[target]} if target == name else self.linked[target]
            head = f'"{entry.link.field}": ['
            if entry.refs is None:
                column = self.columns[entry.column]
                text = {ref: f"{head}{found[ref]}]" for ref in set(column) if ref in found}
                empty = head + "]"
                pieces.append([text.get(ref, empty) for ref in column])
            else:
                pieces.append(
                    [
                        head + ", ".join([str(found[r]) for r in refs if r in found]) + "]"
                        for refs in entry.refs
                    ]
                )
        if not pieces:
            return ["{}"] * len(self.refs)
        if len(pieces) == 1:
            return ["{" + piece + "}" for piece in pieces[0]]
        return list(map(("{{" + ", ".join(["{}"] * len(pieces)) + "}}").format, *pieces))


def prepare(
    tenant: Tenant,
    storage: Storage,
    settings: EmulatorSettings,
    connector: ConnectorSpec,
    form: ColumnForm,
) -> Prepared | None:
    """Check and plan a call read column-wise; None when the row path must handle it (see the
    module docstring). Reads the store only: call it inside the transaction that applies."""
    return _prepare(tenant, storage, settings, connector, form, build=True)


def check_tracked(
    tenant: Tenant,
    storage: Storage,
    settings: EmulatorSettings,
    connector: ConnectorSpec,
    form: ColumnForm,
) -> importer.Counts | None:
    """A tracked call checked and counted as :func:`prepare` does (the answer it is accepted
    with), None when the row path must handle it; its items' JSON is not built (a third of the
    work of :func:`prepare`): its job builds it when it ends (:func:`apply_job`)."""
    prepared = _prepare(tenant, storage, settings, connector, form, build=False)
    return None if prepared is None else prepared.counts


def _prepare(
    tenant: Tenant,
    storage: Storage,
    settings: EmulatorSettings,
    connector: ConnectorSpec,
    form: ColumnForm,
    *,
    build: bool,
) -> Prepared | None:
    """:func:`prepare`; without ``build``, a plan that only counts (no items' JSON: it cannot
    be applied), declining the same calls."""
    table = tenant.table(form.table)
    if table is None or connector.overwrite:
        return None
    name, columns = table.import_name, form.columns
    shape = _shape(tenant, table, settings, form)
    if shape is None:
        return None
    refs = reference_column(table, form)
    assert refs is not None  # _shape checked it
    if build:
        patch = _patch_json(shape.order, columns, len(refs))
    else:
        patch = None if _empties_a_list(shape.order, columns) else ([], {})
    if patch is None:
        return None
    fields, new_fields = patch
    existing = storage.ids_by_refs(name, refs)
    new = {ref for ref in refs if ref not in existing}
    counts = importer.Counts()
    if connector.only_import_existing:
        counts.skipped[name] = len(new)
        new = set()
    counts.new[name] = len(new)
    counts.updated[name] = len(refs) - len(new) - counts.skipped.get(name, 0)
    linked = _linked(storage, table, columns, shape.links, new)
    if linked is None or not _links_hold(table, refs, columns, shape.links, new):
        return None
    return Prepared(
        tenant,
        table,
        columns,
        refs,
        shape.statuses,
        fields,
        new_fields,
        shape.links,
        existing,
        new,
        linked,
        counts,
    )


def _empties_a_list(order: list[_Value | _Languages], columns: list[list[str]]) -> bool:
    """Whether a row empties a list (``,``): when :func:`_patch_json` declines."""
    return any(
        cell and not cell.strip(",")
        for entry in order
        if isinstance(entry, _Value) and entry.is_list
        for cell in columns[entry.column]
    )


def job_batch(table: TableSpec, form: ColumnForm) -> importer.Batch:
    """A tracked call :func:`check_tracked` took, as its job keeps it until it ends: the
    references it upserts (what readers of the job records find in every job, as
    :meth:`Prepared.batch`) and its columns, planned again when the job ends
    (:func:`apply_job`). Lists of texts: encoded and decoded many times faster than the row
    path's batch of row dicts."""
    refs = reference_column(table, form)
    assert refs is not None  # check_tracked took the call
    return {
        "upserts": {table.import_name: [{"ref": ref} for ref in refs]},
        "deletes": {},
        "duplicates": {},
        JOB_COLUMNS: {"names": list(form.names), "values": form.columns},
    }


_AT_END = EmulatorSettings(
    connector_api=ConnectorApiSettings(unknown_fields="ignore", max_items_per_call=sys.maxsize)
)
"""The settings a tracked job's call is planned with when it ends. The checks of the call alone
(its size, unknown fields, refused items) were made when it was accepted, and the row path does
not make them again either: a settings change in between must not fail the job. A call that
passed them reads the same with these (an unknown field was then ignored, or there was none)."""


def job_form(batch: importer.Batch) -> ColumnForm | None:
    """The columns a tracked job keeps (:func:`job_batch`), or None for a job of the row path
    (its batch holds the call's normalized rows)."""
    kept = batch.get(JOB_COLUMNS)
    if kept is None:
        return None
    (table,) = batch["upserts"]
    return ColumnForm(table, tuple(kept["names"]), kept["values"])


def apply_job(
    tenant: Tenant, storage: Storage, connector: ConnectorSpec, form: ColumnForm
) -> importer.Counts:
    """Apply the call of a tracked job that ends, in one transaction, and return what it did:
    planned against the store as it is now, column by column; when :func:`prepare` declines now
    (a link's target deleted meanwhile, say), row by row, as the row path applies its jobs (it
    raises :class:`importer.ImportRejected` in its words when the call no longer fits)."""
    with storage.transaction():
        prepared = prepare(tenant, storage, _AT_END, connector, form)
        if prepared is not None:
            return prepared.apply(storage)
        batch = importer.normalize(tenant, _AT_END.connector_api, form.form())
        return importer.apply(tenant, storage, connector, batch)


@dataclass
class _Shape:
    """What the columns of a call are: its statuses, its attributes in the order a row dict
    holds them, its links in the table's order."""

    statuses: list[str] | None = None
    order: list[_Value | _Languages] = field(default_factory=list)
    links: list[_Link] = field(default_factory=list)


def _shape(
    tenant: Tenant, table: TableSpec, settings: EmulatorSettings, form: ColumnForm
) -> _Shape | None:
    """The call's columns read as :func:`importer.normalize` reads each row's (the kind of a
    column with :func:`importer._kind`, decided once); None if a row would be refused, deleted,
    skipped as a duplicate, or would clear a language."""
    names, columns = form.names, form.columns
    api = settings.connector_api
    if form.size > api.max_items_per_call or not _refs_hold(table, settings, form):
        return None
    shape = _Shape()
    languages: dict[str, _Languages] = {}
    link_columns: dict[str, int] = {}
    for column, name in enumerate(names):
        tag, arg, culture = importer._kind(tenant, table, name)
        cells = columns[column]
        if tag == importer._STAT:
            if not set(cells) <= set(STATUSES):
                return None  # an unknown status (an error) or X (a delete)
            shape.statuses = cells
        elif tag in (importer._PLAIN, importer._LIST):
            shape.order.append(_Value(name, column, tag == importer._LIST))
        elif tag == importer._MULTILINGUAL:
            if "" in cells:
                return None  # a language cleared: the row path merges it into the stored value
            entry = languages.get(arg)
            if entry is None:
                entry = languages[arg] = _Languages(arg, [])
                shape.order.append(entry)
            # As in a dict: a culture named twice keeps its first place and its last value.
            entry.cultures = list({**dict(entry.cultures), culture: column}.items())
        elif tag == importer._LINK:
            link_columns[name] = column
        elif tag == importer._UNKNOWN and api.unknown_fields == "reject":
            return None
    links = [
        _link(link, link_columns[link.field], columns[link_columns[link.field]])
        for link in table.links
        if link.field in link_columns
    ]
    if None in links:
        return None
    shape.links = [read for read in links if read is not None]
    return shape


def reference_column(table: TableSpec, form: ColumnForm) -> list[str] | None:
    """The call's references: its column of the table's reference field, or of ``REF`` (the
    name every table takes, and the one this project's client sends); None when it names both
    (the row path checks that they agree), neither, or an ``ID`` to translate."""
    names = form.names
    if "ID" in names:
        return None
    given = [name for name in (table.ref_field, "REF") if name in names]
    if len(given) != 1:
        return None
    return form.columns[names.index(given[0])]


def _refs_hold(table: TableSpec, settings: EmulatorSettings, form: ColumnForm) -> bool:
    """Whether every row has its own reference (see :func:`reference_column`) and none is
    refused by the settings."""
    refs = reference_column(table, form)
    if refs is None:
        return False
    refused = settings.refuse.get(table.import_name, {})
    return "" not in refs and len(set(refs)) == len(refs) and refused.keys().isdisjoint(refs)


def _link(link: LinkSpec, column: int, cells: list[str]) -> _Link | None:
    """A link column, its comma lists split (None: a list where one reference is taken)."""
    if "," not in "".join(cells):
        return _Link(link, column, None)
    split = [[part for part in cell.split(",") if part] if cell else [] for cell in cells]
    if not link.many and any(len(refs) > 1 for refs in split):
        return None
    return _Link(link, column, split)


def _link_refs(entry: _Link, columns: list[list[str]]) -> set[str]:
    if entry.refs is None:
        return set(columns[entry.column]) - {""}
    return {ref for refs in entry.refs for ref in refs}


def _linked(
    storage: Storage, table: TableSpec, columns: list[list[str]], links: list[_Link], new: set[str]
) -> dict[str, dict[str, int]] | None:
    """Ids of the stored items the links name, per target table (as :func:`importer.plan`);
    None when some reference is found neither there nor among the items the call creates."""
    wanted: dict[str, set[str]] = {link.target: set() for link in table.links}
    for entry in links:
        wanted[entry.link.target] |= _link_refs(entry, columns)
    linked: dict[str, dict[str, int]] = {}
    for target, refs in wanted.items():
        outside = refs - new if target == table.import_name else refs
        linked[target] = storage.ids_by_refs(target, outside)
        if len(linked[target]) != len(outside):
            return None
    return linked


def _links_hold(
    table: TableSpec,
    refs: list[str],
    columns: list[list[str]],
    links: list[_Link],
    new: set[str],
) -> bool:
    """Whether no row breaks a rule of its links (a new item without its required link, a
    required link emptied, an item linked to itself): then :func:`importer._check_links` finds
    nothing. Judged on whole columns; rows the call skips count too (a false alarm only sends
    the call to the row path)."""
    given = {entry.link.field: entry for entry in links}
    for link in table.links:
        entry = given.get(link.field)
        if entry is None:
            if link.required and new:
                return False
            continue
        if entry.refs is None:
            cells = columns[entry.column]
            if link.required and "" in cells:
                return False
            if link.target == table.import_name and any(map(operator.eq, refs, cells)):
                return False
        else:
            if link.required and not all(entry.refs):
                return False
            if link.target == table.import_name and any(
                ref in row for ref, row in zip(refs, entry.refs, strict=True)
            ):
                return False
    return True


def _patch_json(
    order: list[_Value | _Languages], columns: list[list[str]], rows: int
) -> tuple[list[str], dict[int, str]] | None:
    """Every row's attribute changes as JSON (see :attr:`Prepared.fields`) and the new-item
    JSON of the rows that clear a value; None when a row empties a list (``,``: the row path
    clears the attribute without a merge patch)."""
    template: list[str] = ["{{"]
    filled: list[list[str]] = []
    cleared: set[int] = set()
    for position, entry in enumerate(order):
        template.append(
            _template_text(("" if position == 0 else ", ") + _encode(entry.name) + ": ")
        )
        if isinstance(entry, _Value):
            cells = columns[entry.column]
            if entry.is_list:
                encoded = []
                for cell in cells:
                    parts = [part for part in cell.split(",") if part] if cell else None
                    if parts == []:
                        return None
                    encoded.append("[" + ", ".join(map(_encode, parts)) + "]" if parts else "null")
            else:
                encoded = list(map(_encode, cells))
            if "" in cells:
                cleared.update(compress(range(rows), map(operator.not_, cells)))
                if not entry.is_list:
                    encoded = [
                        text if cell else "null" for cell, text in zip(cells, encoded, strict=True)
                    ]
            template.append("{}")
            filled.append(encoded)
        else:
            template.append("{{")
            for number, (culture, column) in enumerate(entry.cultures):
                sep = "" if number == 0 else ", "
                template.append(_template_text(sep + _encode(culture) + ": ") + "{}")
                filled.append(list(map(_encode, columns[column])))
            template.append("}}")
    template.append("}}")
    fields = list(map("".join(template).format, *filled)) if filled else ["{}"] * rows
    new_fields = {row: _new_item_json(order, columns, row) for row in cleared}
    return fields, new_fields


def _new_item_json(order: list[_Value | _Languages], columns: list[list[str]], row: int) -> str:
    """A new item's JSON from a row that clears a value (the cleared value is left out)."""
    parts: list[str] = []
    for entry in order:
        if isinstance(entry, _Value):
            cell = columns[entry.column][row]
            if not cell:
                continue
            if entry.is_list:
                text = "[" + ", ".join([_encode(p) for p in cell.split(",") if p]) + "]"
            else:
                text = _encode(cell)
        else:
            text = (
                "{"
                + ", ".join(
                    f"{_encode(culture)}: {_encode(columns[column][row])}"
                    for culture, column in entry.cultures
                )
                + "}"
            )
        parts.append(f"{_encode(entry.name)}: {text}")
    return "{" + ", ".join(parts) + "}"
