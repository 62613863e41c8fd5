"""What the validate-and-split stage produces, and the small things every part of it shares.

Balance: every source row is counted once in ``rows_read``. For each table, every row that feeds
it (passes its ``where`` filters) is counted in ``rows_in`` and ends as exactly one of: an item
written (``rows_out``), a row merged into an item of the same reference (``merged``), or a reject
(``rejected``, which includes ``conflicts`` and ``duplicates``). A category path counts one input
per level. The engine checks ``rows_in == rows_out + merged + rejected`` for every table before
it writes anything.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Collection, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING

from saleslayer_airflow.readers.records import BAD_TEXT, show_bad_text
from saleslayer_airflow.validation.completeness import Unreadable

if TYPE_CHECKING:
    from saleslayer_airflow.mapping.plan import TablePlan

_SURROGATE = re.compile("[\ud800-\udfff]")

BALANCE_RULE = (
    "per table: rows_in = rows_out + merged + rejected (conflicts and duplicates are part of "
    "rejected; a category path counts one input per level); checked before the files are written"
)


@dataclass
class TableCounts:
    """Per-table balance: ``rows_in = rows_out + merged + rejected`` (checked by the pipeline).

    ``rows_in`` counts what the table received: one per source row, except that a category path
    counts one per level (``Men > Tops`` gives two items). ``conflicts`` and ``duplicates`` are
    rows also counted in ``rejected``.
    """

    rows_in: int = 0
    rows_out: int = 0
    merged: int = 0
    rejected: int = 0
    conflicts: int = 0
    duplicates: int = 0


@dataclass(frozen=True)
class LandedFile:
    """A local copy of one landed export and the name rejects will show for it.

    ``file`` is its name in the source's `files:` (None for a single export or a glob); a table
    with `file:` reads only the files it names.
    """

    path: Path
    name: str
    file: str | None = None


@dataclass
class SplitResult:
    """What :func:`split_export` wrote and its counts."""

    rows_read: int
    rows_unused: int
    rows_rejected: int
    rejects: int
    rejects_path: Path
    tables: dict[str, TableCounts]
    paths: dict[str, Path]
    top_reasons: list[tuple[str, int, str]] = field(default_factory=list)
    #: per table: its rejected references, staged (``<table>.rejected_refs.parquet``), when the
    #: connector's deletions are on
    rejected_refs: dict[str, Path] = field(default_factory=dict)
    #: per table: the rows of its input that could not be read at all
    unreadable: dict[str, Unreadable] = field(default_factory=dict)


def tables_of_file(
    plans: Sequence[TablePlan],
    files_by_table: Mapping[str, tuple[str, ...] | None],
    file: str | None,
) -> list[int]:
    """Indexes of the plans a landed file feeds: every table without `file:`, and the tables
    whose `file:` names it (an unnamed file feeds only the tables without `file:`)."""
    return [
        tbl
        for tbl, plan in enumerate(plans)
        if (wanted := files_by_table.get(plan.key)) is None or file in wanted
    ]


#: Answers "which of these references of table ``name`` were imported before?". The state store
#: (a later stage) will answer it; until then nothing is known from earlier imports.
KnownRefs = Callable[[str, Sequence[str]], Collection[str]]


def no_known_refs(table: str, refs: Sequence[str]) -> Collection[str]:
    """The default answer: no reference is known from earlier imports."""
    return ()


def storable(text: str) -> str:
    """Text SQLite and the rejects CSV can hold: undecodable bytes as ``\\xff``, and a lone
    surrogate a JSON string may carry (``"\\ud800"``, rejected as a reference) as ``\\ud800``."""
    if BAD_TEXT.search(text):
        text = show_bad_text(text)
    return _SURROGATE.sub(lambda m: f"\\u{ord(m.group()):04x}", text)
