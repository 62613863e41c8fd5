"""Comparing two emulator states by reference, as a soak or a test needs it.

An item's content is what a client chose: status, attribute values and links by reference.
Server-assigned ids and timestamps differ between two runs of the same push and are left out,
so two stores compare equal when they hold the same items whichever ids they got.
"""

from __future__ import annotations

import json
from collections import Counter
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

Dump = Sequence[Mapping[str, Any]]
"""A table as ``GET /_emulator/tables/<table>`` lists it (deleted items included)."""


def content(item: Mapping[str, Any]) -> dict[str, Any]:
    """What a client decided about an item: status, fields and links by reference."""
    return {
        "status": item.get("status"),
        "fields": item.get("fields") or {},
        "links": item.get("links") or {},
    }


@dataclass
class TableState:
    """One table's live items by reference, and references held by more than one live item."""

    live: dict[str, dict[str, Any]] = field(default_factory=dict)
    duplicates: dict[str, int] = field(default_factory=dict)
    deleted_rows: int = 0

    @classmethod
    def of(cls, dump: Dump) -> TableState:
        """The state of a dumped table (the lowest id wins for a duplicated reference)."""
        state = cls()
        held: Counter[str] = Counter()
        for item in sorted(dump, key=lambda i: int(i.get("id") or 0)):
            if item.get("deleted"):
                state.deleted_rows += 1
                continue
            ref = str(item["ref"])
            held[ref] += 1
            state.live.setdefault(ref, content(item))
        state.duplicates = {ref: n for ref, n in held.items() if n > 1}
        return state


@dataclass
class TableDiff:
    """How one table of an actual state differs from the expected one."""

    table: str
    missing: list[str] = field(default_factory=list)
    unexpected: list[str] = field(default_factory=list)
    changed: list[str] = field(default_factory=list)
    duplicated: list[str] = field(default_factory=list)

    @property
    def empty(self) -> bool:
        """No difference at all."""
        return not (self.missing or self.unexpected or self.changed or self.duplicated)

    def describe(self, expected: TableState, actual: TableState, limit: int = 5) -> list[str]:
        """Human lines, at most ``limit`` examples per kind of difference."""
        lines: list[str] = []
        for label, refs in (
            ("missing (lost)", self.missing),
            ("unexpected", self.unexpected),
            ("held by several items (duplicated)", self.duplicated),
        ):
            if refs:
                shown = ", ".join(refs[:limit]) + (" ..." if len(refs) > limit else "")
                lines.append(f"{self.table}: {len(refs)} reference(s) {label}: {shown}")
        for ref in self.changed[:limit]:
            want = json.dumps(expected.live[ref], sort_keys=True, ensure_ascii=False)
            got = json.dumps(actual.live[ref], sort_keys=True, ensure_ascii=False)
            lines.append(f"{self.table} {ref}: expected {want[:300]} got {got[:300]}")
        if len(self.changed) > limit:
            lines.append(f"{self.table}: {len(self.changed)} items differ in content in all")
        return lines


def diff_table(table: str, expected: TableState, actual: TableState) -> TableDiff:
    """Every reference missing, unexpected, changed or duplicated in ``actual``."""
    result = TableDiff(table)
    result.missing = sorted(set(expected.live) - set(actual.live))
    result.unexpected = sorted(set(actual.live) - set(expected.live))
    result.changed = sorted(
        ref
        for ref in set(expected.live) & set(actual.live)
        if expected.live[ref] != actual.live[ref]
    )
    result.duplicated = sorted(actual.duplicates)
    return result


def check_references(table: str, state: TableState, wanted: Iterable[str]) -> TableDiff:
    """Which of ``wanted`` are lost, which live references were not wanted, which duplicated."""
    wanted_set = set(wanted)
    result = TableDiff(table)
    result.missing = sorted(wanted_set - set(state.live))
    result.unexpected = sorted(set(state.live) - wanted_set)
    result.duplicated = sorted(state.duplicates)
    return result
