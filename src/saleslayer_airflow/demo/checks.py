"""Read Sales Layer back from the emulator (over HTTP) and compare it with the expected state."""

from __future__ import annotations

import json
import urllib.request
from dataclasses import dataclass, field
from typing import Any

from saleslayer_airflow.demo.expected import Expected, Item


@dataclass
class TableCheck:
    """One connector's view of one Sales Layer table: expected items, what arrived, mismatches."""

    connector: str
    table: str
    expected: int
    present: int
    matching: int
    problems: list[str] = field(default_factory=list)

    @property
    def ok(self) -> bool:
        """Every expected item is there with the expected values."""
        return not self.problems and self.matching == self.expected


def read_table(emulator_url: str, table: str) -> dict[str, dict[str, Any]]:
    """The live items of a table, by reference, from the emulator's inspection route."""
    url = f"{emulator_url}/_emulator/tables/{table}"
    with urllib.request.urlopen(url, timeout=30) as answer:
        body = json.load(answer)
    return {item["ref"]: item for item in body["items"] if not item.get("deleted")}


def _same(expected: Any, actual: Any) -> bool:
    if isinstance(expected, float):
        try:
            return abs(float(actual) - expected) < 1e-9
        except (TypeError, ValueError):
            return False
    if isinstance(expected, dict):
        # Only the languages this connector writes; another one may write other languages.
        return isinstance(actual, dict) and all(
            _same(value, actual.get(lang)) for lang, value in expected.items()
        )
    return bool(expected == actual)


def _differences(ref: str, want: Item, item: dict[str, Any]) -> list[str]:
    found = []
    for name, value in want["fields"].items():
        actual = item.get("fields", {}).get(name)
        if not _same(value, actual):
            found.append(f"{ref}: {name} is {actual!r}, expected {value!r}")
    for name, refs in want["links"].items():
        actual = item.get("links", {}).get(name, [])
        if sorted(actual) != sorted(refs):
            found.append(f"{ref}: link {name} is {actual!r}, expected {refs!r}")
    if "status" in want and item.get("status") != want["status"]:
        found.append(f"{ref}: status is {item.get('status')!r}, expected {want['status']!r}")
    return found


def check_state(emulator_url: str, expected: Expected, max_problems: int = 5) -> list[TableCheck]:
    """Compare every connector's expected tables with the emulator; also flag items no
    connector should have created."""
    tables: dict[str, dict[str, dict[str, Any]]] = {}
    results = []
    for connector, by_table in expected.items():
        for table, items in by_table.items():
            if table not in tables:
                tables[table] = read_table(emulator_url, table)
            stored = tables[table]
            problems: list[str] = []
            matching = 0
            for ref, want in items.items():
                if ref not in stored:
                    problems.append(f"{ref}: missing")
                    continue
                found = _differences(ref, want, stored[ref])
                problems.extend(found)
                matching += not found
            present = sum(ref in stored for ref in items)
            results.append(
                TableCheck(connector, table, len(items), present, matching, problems[:max_problems])
            )
    for table, stored in tables.items():
        wanted = {ref for by in expected.values() for ref in by.get(table, {})}
        extra = sorted(set(stored) - wanted)
        if extra:
            results.append(
                TableCheck("(none)", table, 0, len(extra), 0, [f"unexpected items: {extra[:5]}"])
            )
    return results


def import_calls(emulator_url: str) -> int:
    """How many Import Connector calls (``POST /``) the emulator has answered so far."""
    with urllib.request.urlopen(f"{emulator_url}/_emulator/stats", timeout=30) as answer:
        stats = json.load(answer)
    return int(stats.get("by_endpoint", {}).get("POST /", 0))
