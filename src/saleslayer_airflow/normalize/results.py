"""What the validate-and-split stage produces, and the small things every part of it shares.

Balance: every source row is counted once in ``rows_read``. For each table, every row that feeds
it (passes its ``where`` filters) is counted in ``rows_in`` and ends as exactly one of: an item
written (``rows_out``), a row merged into an item of the same reference (``merged``), or a reject
(``rejected``, which includes ``conflicts`` and ``duplicates``). A category path counts one input
per level. The engine checks ``rows_in == rows_out + merged + rejected`` for every table before
it writes anything.

Per file, ``rows_read = rows_used + rows_unused``: a row feeds at least one table or none (a row
a reader could not read is judged on the cells it recovered, so it is one or the other). What no
table took (rows that feed no table, rows a table's ``where:`` left out, header columns no table
reads, and whatever another layer counts: a key no field declares...) is counted per reason in
:class:`Ignored`, beside the balance (none of it entered a table); the rows that feed no table are
also listed, the first :data:`IGNORED_ROWS_LISTED`, in ``ignored.csv``.
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
    from saleslayer_airflow.config.tables import RowFilter
    from saleslayer_airflow.mapping.plan import TablePlan

_SURROGATE = re.compile("[\ud800-\udfff]")

BALANCE_RULE = (
    "per table: rows_in = rows_out + merged + rejected (conflicts and duplicates are part of "
    "rejected; a category path counts one input per level); per file: rows_read = rows_used + "
    "rows_unused (rows that fed at least one table, rows that fed none); checked before the "
    "files are written"
)

#: Rows listed in ``ignored.csv`` at most: a file whose rows are mostly filtered on purpose must
#: not bury the rejects' neighbour under millions of lines; the report counts them all.
IGNORED_ROWS_LISTED = 1_000

#: The counted reason of the rows that feed no table (also listed in ``ignored.csv``).
NO_TABLE = "rows that feed no table"
#: The counted reason of the header columns no table reads (their names: per file).
UNREAD_COLUMNS = "columns no table reads"


def describe_where(filters: Sequence[RowFilter]) -> str:
    """A table's ``where:`` as a person reads it: ``product_type = 'configurable' and ...``."""
    parts = []
    for row_filter in filters:
        if row_filter.empty is not None:
            parts.append(f"{row_filter.column} {'is' if row_filter.empty else 'is not'} empty")
        elif isinstance(row_filter.equals, list):
            choices = ", ".join(repr(c) for c in row_filter.equals)
            parts.append(f"{row_filter.column} in ({choices})")
        else:
            parts.append(f"{row_filter.column} = {row_filter.equals!r}")
    return " and ".join(parts) or "every row"


def filtered_reason(table: str, where: str) -> str:
    """The counted reason of the rows of a table's files its ``where:`` left out."""
    return f"{table}: rows its where: left out ({where})"


@dataclass
class Ignored:
    """What of the export no table took, counted per reason: the extension point every layer of
    the split counts into (one instance per run, shared by the mapping layer's mappers).

    - :meth:`count` adds to a reason: ``ignored.count("unknown key 'material' in
      additional_attributes", 12, table="products")`` counts under ``"products: unknown key
      'material' in additional_attributes"``; the report shows every reason with its count.
    - :meth:`row` counts one source row under a reason and lists it (file, line, table, why) in
      ``ignored.csv`` while fewer than :data:`IGNORED_ROWS_LISTED` are listed.

    Reasons are plain text a person reads: keep them short and stable (no value in the reason
    counted, or every value becomes its own reason; put the detail in :meth:`row`'s ``detail``).
    """

    counts: dict[str, int] = field(default_factory=dict)
    #: listed rows: (file, line, table or "", why)
    rows: list[tuple[str, int, str, str]] = field(default_factory=list)
    limit: int = IGNORED_ROWS_LISTED

    @staticmethod
    def key(reason: str, table: str | None = None) -> str:
        return reason if table is None else f"{table}: {reason}"

    def count(self, reason: str, n: int = 1, *, table: str | None = None) -> None:
        """Add ``n`` to ``reason`` (of ``table`` when given); a zero count adds nothing."""
        if n < 0:
            raise ValueError(f"ignored count for {reason!r} is negative ({n}): a bug")
        if n:
            key = self.key(reason, table)
            self.counts[key] = self.counts.get(key, 0) + n

    def row(
        self, reason: str, file: str, line: int, detail: str, *, table: str | None = None
    ) -> None:
        """Count one source row under ``reason`` and list it with ``detail`` (why this row)."""
        self.count(reason, table=table)
        self.listed(file, line, detail, table=table)

    def listed(self, file: str, line: int, detail: str, *, table: str | None = None) -> bool:
        """List a row already counted; False once the list is full."""
        if len(self.rows) >= self.limit:
            return False
        self.rows.append((file, line, table or "", storable(detail)))
        return True

    @property
    def full(self) -> bool:
        return len(self.rows) >= self.limit

    def merge(self, other: Ignored | None) -> None:
        """Add another layer's counts and listed rows (up to the limit)."""
        if other is None or other is self:
            return
        for reason, n in other.counts.items():
            self.counts[reason] = self.counts.get(reason, 0) + n
        room = max(0, self.limit - len(self.rows))
        self.rows.extend(other.rows[:room])


@dataclass(frozen=True)
class FileCounts:
    """One landed file: ``rows_read = rows_used + rows_unused``, and its header columns no table
    reads (None: the format has no header, e.g. JSON)."""

    name: str
    rows_read: int
    rows_used: int
    rows_unused: int
    unread_columns: tuple[str, ...] | None = None


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
    #: per landed file, in order: rows read, used, unused, header columns no table reads
    files: list[FileCounts] = field(default_factory=list)
    #: per table: rows of the files it reads that its ``where:`` left out (never in ``rows_in``)
    filtered: dict[str, int] = field(default_factory=dict)
    #: what no table took, counted per reason; its listed rows are in ``ignored_path``
    ignored: Ignored = field(default_factory=Ignored)
    ignored_path: Path | None = None


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
