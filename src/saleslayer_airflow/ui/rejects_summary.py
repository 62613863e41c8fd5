"""A run's rejects file grouped by reason for the run report page: per kind of reason, how many
rows and the first few (file, line, table, reference, column, value).

Reasons carry the row's own values (``conflict: 'price' is '9.90' here, '8.50' on line 3``), so
rows are grouped by the reason's text with every quoted value and number taken out: one group
per kind of problem, not one per row. The file is streamed; past :data:`MAX_ROWS` rows the
groups count the rows read so far and say so (the download link has the whole file).
"""

from __future__ import annotations

import csv
import io
import re
from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from saleslayer_airflow.ui.files import Openable

#: Rows read from a rejects file at most (the page says when it stopped).
MAX_ROWS = 200_000
#: Sample rows kept per group.
SAMPLES = 3

_QUOTED = re.compile(r"'(?:[^'\\]|\\.)*'|\"(?:[^\"\\]|\\.)*\"")
_NUMBER = re.compile(r"(?<![\w.])-?\d+(?:[.,]\d+)*(?![\w.])")


def reason_kind(reason: str) -> str:
    """The reason without its values: ``conflict: '…' is '…' here`` for every conflict."""
    return _NUMBER.sub("N", _QUOTED.sub("'…'", reason)).strip()


@dataclass
class RejectGroup:
    """One kind of reason: its text without values, its row count, the first rows."""

    kind: str
    count: int = 0
    samples: list[dict[str, str]] = field(default_factory=list)


@dataclass
class RejectsSummary:
    groups: list[RejectGroup]
    rows: int
    complete: bool


def summarise(lines: Iterable[str], *, max_rows: int = MAX_ROWS) -> RejectsSummary:
    """Group the rows of a rejects CSV (its text lines, header first) by :func:`reason_kind`,
    the largest group first (ties: first seen first)."""
    groups: dict[str, RejectGroup] = {}
    rows = 0
    complete = True
    for row in csv.DictReader(lines):
        if rows >= max_rows:
            complete = False
            break
        rows += 1
        reason = row.get("reason") or ""
        kind = reason_kind(reason)
        group = groups.get(kind)
        if group is None:
            group = groups[kind] = RejectGroup(kind)
        group.count += 1
        if len(group.samples) < SAMPLES:
            group.samples.append({key: value or "" for key, value in row.items() if key})
    ordered = sorted(groups.values(), key=lambda g: -g.count)  # stable: first seen first
    return RejectsSummary(ordered, rows, complete)


def summarise_file(path: Openable, *, max_rows: int = MAX_ROWS) -> RejectsSummary:
    """:func:`summarise` of a rejects file in staging."""
    with path.open("rb") as raw:
        text = io.TextIOWrapper(raw, encoding="utf-8", newline="")
        return summarise(text, max_rows=max_rows)
