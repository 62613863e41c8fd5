"""A small, plainly written validate-and-split of one connector shape, for the property tests.

The shape (:data:`TABLES`, :func:`connector_yaml`): one CSV file whose ``kind`` column says which
tables a row feeds (C: categories, P: products, V: variants, F: all three, a flat export row;
anything else: none). Categories have a parent column, products a required title with a maximum
length, a number, a boolean, an enumeration and a list of categories, variants a short size, an
integer and their product. Each table's ``on_duplicate`` is a parameter.

Everything is a loop over rows or items, in the order a person would do it by hand; nothing of
the engine is imported. The reason texts are copied from the engine's messages
(mapping/rows.py, mapping/references.py, validation/values.py, the items and parents layers) so
that the rejects file can be compared line for line.
"""

from __future__ import annotations

import codecs
import csv
import io
import json
import re
import unicodedata
from dataclasses import dataclass, field
from decimal import Decimal
from typing import Any


@dataclass(frozen=True)
class Field:
    out: str
    column: str
    type: str = "string"  # string, number, integer or boolean
    required: bool = False
    max_length: int | None = None
    enum: tuple[str, ...] | None = None


@dataclass(frozen=True)
class Link:
    out: str
    column: str
    target: str
    noun: str
    separator: str | None = None  # a list of references when set


@dataclass(frozen=True)
class Table:
    name: str
    kinds: tuple[str, ...]  # the values of the `kind` column that feed it
    reference: str
    fields: tuple[Field, ...]
    links: tuple[Link, ...]


# In dependency order: the parent check visits them in this order.
TABLES = (
    Table(
        "categories",
        ("C", "F"),
        "cat",
        (Field("cat_title", "cat_title"),),
        (Link("_parent_ref", "parent", "categories", "parent category"),),
    ),
    Table(
        "products",
        ("P", "F"),
        "ref",
        (
            Field("title", "title", required=True, max_length=8),
            Field("price", "price", "number"),
            Field("active", "active", "boolean"),
            Field("color", "color", enum=("red", "blue")),
        ),
        (Link("_category_refs", "cats", "categories", "category", "|"),),
    ),
    Table(
        "variants",
        ("V", "F"),
        "sku",
        (Field("size", "size", max_length=3), Field("stock", "stock", "integer")),
        (Link("_product_ref", "ref", "products", "product"),),
    ),
)
COLUMNS: tuple[str, ...] = ("kind", "cat", "parent", "cat_title", "ref", "cats", "title")
COLUMNS += ("price", "active", "color", "sku", "size", "stock")


def connector_yaml(policies: dict[str, str | None], delimiter: str, encoding: str) -> str:
    """The connector file of :data:`TABLES`: keep both in step."""

    def policy(table: str) -> str:
        return f"    on_duplicate: {policies[table]}\n" if policies.get(table) else ""

    return (
        "id: reference\ndescription: the property tests' shape\nschedule: null\n"
        "start_date: 2026-01-01\nsource: {kind: http, conn_id: erp_http, endpoint: x.csv}\n"
        f"format: {{type: csv, delimiter: {json.dumps(delimiter)}, encoding: {encoding}}}\n"
        "tables:\n"
        "  categories:\n    reference: cat\n    parent: parent\n"
        "    where: [{column: kind, equals: [C, F]}]\n"
        "    fields: {cat_title: cat_title}\n" + policy("categories") + "  products:\n"
        "    reference: ref\n    categories: {column: cats, separator: '|'}\n"
        "    where: [{column: kind, equals: [P, F]}]\n"
        "    fields:\n      title: {column: title, required: true, max_length: 8}\n"
        "      price: {column: price, type: number}\n"
        "      active: {column: active, type: boolean}\n"
        "      color: {column: color, enum: [red, blue]}\n" + policy("products") + "  variants:\n"
        "    reference: sku\n    product: ref\n    where: [{column: kind, equals: [V, F]}]\n"
        "    fields:\n      size: {column: size, max_length: 3}\n"
        "      stock: {column: stock, type: integer}\n" + policy("variants")
    )


class Problem(Exception):
    """Why a value cannot be imported; its text is the reason the engine gives."""


def shown(value: Any) -> str:
    """A value in a message or the rejects file: cut after 200 characters."""
    text = str(value)
    return f"{text[:200]}... ({len(text):,} characters)" if len(text) > 200 else text


# -- values ------------------------------------------------------------------------------------

_NAMES = {"\t": "TAB", "\n": "LINE FEED", "\r": "CARRIAGE RETURN", "\x0b": "VERTICAL TAB"}


def character(char: str) -> str:
    name = unicodedata.name(char, "") or _NAMES.get(char, "")
    return f"U+{ord(char):04X} {name}" if name else f"U+{ord(char):04X}"


def reference(text: str, noun: str = "reference") -> str:
    """Trimmed, refused if it holds a character one cannot see or tell from a space, NFC."""
    trimmed = text.strip()
    for index, char in enumerate(trimmed):
        category = unicodedata.category(char)
        if char == " " or category not in ("Cc", "Cf", "Zs", "Zl", "Zp"):
            continue
        kind = {"Cc": "a control character", "Cf": "an invisible character"}.get(
            category, "a space other than the plain space"
        )
        fix = "replace it with a plain space" if kind.startswith("a space") else "remove it"
        position = len(text) - len(text.lstrip()) + index + 1
        raise Problem(
            f"the {noun} {text!r} holds {kind} {character(char)} at position {position}; "
            f"{fix} in the ERP",
        )
    return unicodedata.normalize("NFC", trimmed)


_NUMBER = re.compile(r"[+-]?([0-9]+(\.[0-9]*)?|\.[0-9]+)([eE][+-]?[0-9]+)?")


def decimal(raw: str) -> Decimal:
    text = raw.strip()
    if not _NUMBER.fullmatch(text):
        raise Problem(
            f"{text!r} is not a number (digits 0-9 with a dot as decimal separator and no "
            "thousands separators; for other formats declare transforms: [{parse_number: "
            "comma}] or [{parse_number: dot}])",
        )
    return Decimal(text)  # the tests' numbers are short: no digit limit to check


def typed(spec: Field, raw: str) -> Any:
    """A non-empty cell as the field's value; Problem when it is not one."""
    value: Any = raw
    if spec.type == "number":
        number = decimal(raw)
        value = "0" if number == 0 else format(number.normalize(), "f")
    elif spec.type == "integer":
        number = decimal(raw)
        if number != number.to_integral_value():
            raise Problem(f"{raw!r} is not a whole number")
        value = int(number)
    elif spec.type == "boolean":
        word = raw.strip().lower()
        if word not in ("true", "1", "yes", "y", "false", "0", "no", "n"):
            raise Problem(
                f"{raw!r} is not a boolean (true/false, 1/0, yes/no; or map the values with "
                "transforms: [{map: {...}}])",
            )
        value = word in ("true", "1", "yes", "y")
    if spec.enum is not None and str(value) not in spec.enum:
        raise Problem(f"{value!r} is not one of the allowed values: {', '.join(spec.enum)}")
    if isinstance(value, str) and spec.max_length is not None and len(value) > spec.max_length:
        raise Problem(
            f"the value is {len(value):,} characters long; the field allows at most "
            f"{spec.max_length:,}",
        )
    return value


def linked(link: Link, raw: str) -> str | list[str] | None:
    if raw == "":
        return None
    noun = f"{link.noun} reference"
    if link.separator is None:
        return reference(raw, noun) or None
    refs: list[str] = []
    for part in raw.split(link.separator):
        ref = reference(part, noun) if part else ""
        if ref and ref not in refs:
            refs.append(ref)
    return refs or None


def look_alike(ref: str) -> str:
    return unicodedata.normalize("NFKC", ref).casefold()


def difference(wanted: str, found: str) -> str:
    for index, (a, b) in enumerate(zip(wanted, found, strict=False)):
        if a != b:
            return (
                f"character {index + 1} is {a!r} ({character(a)}) in one and {b!r} "
                f"({character(b)}) in the other"
            )
    return f"one is {len(wanted)} characters long, the other {len(found)}"


@dataclass(frozen=True)
class RowReject:
    ref: str
    column: str
    value: str
    reason: str


def map_row(t: Table, cell: dict[str, str]) -> tuple[str, list[Any]] | RowReject:
    """The row's reference and values for table ``t``, or why it gives the table nothing."""
    raw_ref = cell[t.reference]
    try:
        ref = reference(raw_ref)
    except Problem as problem:
        return RowReject(raw_ref.strip(), t.reference, raw_ref, str(problem))
    if not ref:
        return RowReject("", t.reference, raw_ref, "the reference is empty; every item needs one")
    if len(ref) > 512:  # the state store's key column
        why = f"the reference is {len(ref)} characters long; at most 512 are kept (shorten it in "
        why += "the ERP, or map another column as the reference)"
        return RowReject(ref, t.reference, ref, why)
    values: list[Any] = []
    for spec in t.fields:
        raw = cell[spec.column]
        try:
            if raw == "" and spec.required:
                raise Problem("a required field is empty")
            values.append(None if raw == "" else typed(spec, raw))
        except Problem as problem:
            return RowReject(ref, spec.column, raw, f"field {spec.out!r}: {problem}")
    for link in t.links:
        raw = cell[link.column]
        try:
            value = linked(link, raw)
        except Problem as problem:
            return RowReject(ref, link.column, raw, str(problem))
        if value is None and t.name == "variants":
            why = "the variant has no product reference; every variant belongs to a product"
            return RowReject(ref, link.column, "", why)
        values.append(value)
    return ref, values


# -- the split ---------------------------------------------------------------------------------


@dataclass
class Item:
    line: int
    values: list[Any]
    rows: int = 1
    repeats: int = 0  # on_duplicate: reject


@dataclass
class Outcome:
    tables: dict[str, list[dict[str, Any]]]
    rejects: list[dict[str, str]]  # as the rejects CSV reads
    counts: dict[str, dict[str, int]]
    rows_read: int
    rows_unused: int
    rows_rejected: int


def read_csv(data: bytes, encoding: str, delimiter: str) -> list[tuple[int, list[str]]]:
    """(first physical line, cells) of every non-blank record, the header first."""
    if data.startswith(codecs.BOM_UTF8):
        text = data[3:].decode("utf-8")
    elif encoding == "auto":
        try:
            text = data.decode("utf-8")
        except UnicodeDecodeError:
            text = data.decode("cp1252")
    else:
        text = data.decode(encoding)
    reader = csv.reader(io.StringIO(text, newline=""), delimiter=delimiter, strict=True)
    records = []
    end = 0
    for cells in reader:
        start, end = end + 1, reader.line_num
        if cells:
            records.append((start, cells))
    return records


@dataclass
class Split:
    file: str
    policies: dict[str, str]
    known: dict[str, set[str]]
    items: dict[str, dict[str, Item]] = field(default_factory=dict)
    gone: dict[str, set[str]] = field(default_factory=dict)
    counts: dict[str, dict[str, int]] = field(default_factory=dict)
    rejects: list[tuple[int, int, str, str, str, str]] = field(default_factory=list)

    def __post_init__(self) -> None:
        for t in TABLES:
            self.items[t.name], self.gone[t.name] = {}, set()
            self.counts[t.name] = dict.fromkeys(
                ("rows_in", "rows_out", "merged", "rejected", "conflicts", "duplicates"), 0
            )

    def reject(self, line: int, t: Table, ref: str, col: str, val: str, why: str) -> None:
        self.rejects.append((line, TABLES.index(t), ref, col, val, why))

    def reject_item(self, t: Table, ref: str, col: str, val: str, why: str) -> None:
        item = self.items[t.name].pop(ref)
        if item.rows > 1:
            why += f" (the {item.rows - 1} other row(s) merged into this item are rejected with it)"
        self.counts[t.name]["rejected"] += item.rows
        self.counts[t.name]["merged"] -= item.rows - 1
        self.reject(item.line, t, ref, col, val, why)
        self.gone[t.name].add(ref)

    def map_row(self, t: Table, line: int, cell: dict[str, str]) -> None:
        self.counts[t.name]["rows_in"] += 1
        mapped = map_row(t, cell)
        if isinstance(mapped, RowReject):
            self.counts[t.name]["rejected"] += 1
            self.reject(line, t, mapped.ref, mapped.column, shown(mapped.value), mapped.reason)
            if mapped.ref:
                self.gone[t.name].add(mapped.ref)
        else:
            self.add(t, *mapped, line)

    def add(self, t: Table, ref: str, values: list[Any], line: int) -> None:
        counts = self.counts[t.name]
        first = self.items[t.name].get(ref)
        if first is None:
            self.items[t.name][ref] = Item(line, values)
            return
        policy = self.policies[t.name]
        if policy == "merge":
            columns: list[Field | Link] = [*t.fields, *t.links]
            for index, (kept, given) in enumerate(zip(first.values, values, strict=True)):
                if kept is not None and given is not None and kept != given:
                    counts["conflicts"] += 1
                    counts["rejected"] += 1
                    self.reject(
                        line,
                        t,
                        ref,
                        columns[index].column,
                        shown(given),
                        f"conflict: rows of {ref!r} disagree on {columns[index].out!r}: this "
                        f"row has {shown(given)!r}, line {first.line} has {shown(kept)!r}; line "
                        f"{first.line} is kept, fix the export so that both agree",
                    )
                    return
            first.values = [
                given if kept is None else kept
                for kept, given in zip(first.values, values, strict=True)
            ]
            first.rows += 1
            counts["merged"] += 1
            return
        counts["duplicates"] += 1
        counts["rejected"] += 1
        if policy == "first":
            why = (
                f"reference {ref!r} repeats the one on line {first.line}, which is kept "
                "(on_duplicate: first)"
            )
        else:
            first.repeats += 1
            why = (
                f"reference {ref!r} repeats the one on line {first.line}; this table rejects "
                "every row of a duplicated reference (on_duplicate: reject)"
            )
        self.reject(line, t, ref, t.reference, ref, why)

    def reject_duplicated(self) -> None:
        for t in TABLES:
            for ref, item in list(self.items[t.name].items()):
                if item.repeats:
                    self.reject_item(
                        t,
                        ref,
                        t.reference,
                        ref,
                        f"reference {ref!r} appears on {item.repeats + 1} rows; this table "
                        "rejects every row of a duplicated reference (on_duplicate: reject)",
                    )

    def check_parents(self) -> None:
        """Until nothing changes: reject the items whose links point at nothing, then the
        category cycles. The items broken at one step are found before any is rejected; they
        are rejected in order of their reference."""
        changed = True
        while changed:
            changed = False
            for t in TABLES:
                for number, link in enumerate(t.links):
                    at = len(t.fields) + number
                    targets, known = self.items[link.target], self.known.get(link.target, set())
                    broken = {}
                    for ref, item in self.items[t.name].items():
                        value = item.values[at]
                        listed = value if isinstance(value, list) else [value]
                        missing = [r for r in listed if r is not None]
                        missing = [r for r in missing if r not in targets and r not in known]
                        if missing:
                            broken[ref] = min(missing)
                    for ref in sorted(broken):
                        target = broken[ref]
                        why = self.unknown(link, target)
                        self.reject_item(t, ref, link.column, target, why)
                        changed = True
                if t.name == "categories" and self.cycles(t):
                    changed = True

    def unknown(self, link: Link, target: str) -> str:
        if target in self.gone[link.target]:
            return f"its {link.noun} {target!r} was rejected (see that reject)"
        alike = sorted(
            r
            for r in self.items[link.target]
            if r != target and look_alike(r) == look_alike(target)
        )
        if alike and alike[0].lower() == target.lower():
            return (
                f"its {link.noun} {target!r} is not in this import, but {alike[0]!r} is: "
                "references are case-sensitive in Sales Layer"
            )
        if alike:
            return (
                f"its {link.noun} {target!r} is not in this import, but the look-alike "
                f"{alike[0]!r} is ({difference(target, alike[0])}): references must match "
                "character for character; make both the same in the ERP"
            )
        return (
            f"its {link.noun} {target!r} is neither in this import nor imported before "
            "(references are case-sensitive)"
        )

    def cycles(self, t: Table) -> bool:
        """Walk up from every category in item order; a walk that meets itself is a cycle,
        named from the first of its categories the walk reached."""
        at = len(t.fields)
        parent = {r: i.values[at] for r, i in self.items[t.name].items() if i.values[at]}
        seen: set[str] = set()
        cycles = []
        for start in parent:
            path: list[str] = []
            node: str | None = start
            while node is not None and node not in seen and node not in path:
                path.append(node)
                node = parent.get(node)
            if node is not None and node in path:
                cycles.append(path[path.index(node) :])
            seen.update(path)
        for cycle in cycles:
            ring = [*cycle, cycle[0]]
            text = " -> ".join(repr(r) for r in ring[:8])
            if len(ring) > 8:
                text += f" -> ... ({len(cycle)} categories)"
            for ref in cycle:
                why = f"the category is part of a parent cycle: {text}; a tree needs a root"
                self.reject_item(t, ref, t.links[0].column, parent[ref], why)
        return bool(cycles)

    def outcome(self, rows_read: int, rows_unused: int) -> Outcome:
        tables = {}
        for t in TABLES:
            names = [c.out for c in t.fields] + [c.out for c in t.links]
            tables[t.name] = [
                {"reference": ref, "_source_file": self.file, "_line": item.line}
                | dict(zip(names, item.values, strict=True))
                for ref, item in self.items[t.name].items()
            ]
            self.counts[t.name]["rows_out"] = len(tables[t.name])
        rejects = []
        for line, tbl, ref, col, val, why in sorted(self.rejects, key=lambda r: r[:2]):
            cells = [self.file, str(line), TABLES[tbl].name, ref, col, val, why]
            # The rejects file is opened in spreadsheets: a cell starting like a formula gets '.
            cells = [
                "'" + c if c.startswith(("=", "+", "-", "@", "\t", "\r")) else c for c in cells
            ]
            rejects.append(dict(zip(REJECT_COLUMNS, cells, strict=True)))
        return Outcome(
            tables,
            rejects,
            self.counts,
            rows_read,
            rows_unused,
            len({line for line, *_ in self.rejects}),
        )


REJECT_COLUMNS = ("source_file", "line", "table", "reference", "column", "value", "reason")


def split(
    data: bytes,
    name: str,
    *,
    encoding: str,
    delimiter: str,
    policies: dict[str, str | None],
    known: dict[str, set[str]],
) -> Outcome:
    """The reference split of one export of the shape: staged rows, rejects, counts."""
    # Several tables fed by one export: a reference repeats on purpose (merge) by default.
    chosen = {t.name: policies.get(t.name) or "merge" for t in TABLES}
    run = Split(name, chosen, known)
    header, *records = read_csv(data, encoding, delimiter)
    assert tuple(header[1]) == COLUMNS, header
    unused = 0
    for line, cells in records:
        cell = dict(zip(COLUMNS, cells, strict=True))
        feeds = [t for t in TABLES if cell["kind"] in t.kinds]
        unused += not feeds
        for t in feeds:
            run.map_row(t, line, cell)
    run.reject_duplicated()
    run.check_parents()
    return run.outcome(len(records), unused)
