"""Whether an export was read in full, per table, and which references its rejected rows held.

Deletions take the staged table for the whole live catalogue: an item missing from it is gone
from the ERP. Two kinds of rows break that reading, and the split stage records both per table:

- a row rejected for a bad value (a latitude ``abc``) still names its item: the export holds it,
  so its reference counts as present. The references are staged beside the table file
  (``split/<table>.rejected_refs.parquet``, one ``reference`` column), never in XCom;
- a row a reader could not read (a :class:`~saleslayer_airflow.readers.records.RowProblem`: an
  unclosed quote that swallowed the lines after it, broken quoting, a cell too large, a field
  count that shifts the columns, bytes that are not text in the file's encoding, a record that
  is no JSON object) may hide any number of references, or hold a wrong one. An export with such
  rows was not read in full: it never drives deletions (:class:`Unreadable` says how many rows
  and where). Only the problems known to stay inside one cell of a row whose extent is sure
  (:data:`CELL_PROBLEMS`) are not, as long as the row's reference itself was read: those rows are
  rejects like a bad value. Any other code, a new one included, counts as unreadable.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass, field

from saleslayer_airflow.mapping.plan import TablePlan
from saleslayer_airflow.mapping.references import visible_form

_BATCH = 50_000

#: Reader problems confined to one cell (a spreadsheet's merged cell, a formula saved without its
#: value): the row's extent and its other cells are sure. Bad bytes are not among them: in some
#: encodings a bad byte swallows the delimiter after it.
CELL_PROBLEMS = frozenset({"merged_cell", "uncached_formula"})


def hides_references(code: str, reference: str) -> bool:
    """Whether a row with the reader problem ``code`` may hide references (or hold a wrong
    one), given the reference the table read from it ('' when none)."""
    return code not in CELL_PROBLEMS or not reference


@dataclass
class Unreadable:
    """The rows of one table's input that could not be read, in source order."""

    rows: int = 0
    files: list[str] = field(default_factory=list)
    first: tuple[str, int, str] | None = None  # file, line, problem code

    def note(self, file: str, line: int, code: str) -> None:
        """Count one unreadable row of ``file`` starting on ``line``."""
        self.rows += 1
        if file not in self.files:
            self.files.append(file)
        if self.first is None:
            self.first = (file, line, code)

    def describe(self) -> str | None:
        """'2 rows of stores.csv could not be read (first: line 20, unclosed quote)'; None when
        every row was read."""
        if not self.rows or self.first is None:
            return None
        file, line, code = self.first
        where = f"line {line}" if len(self.files) == 1 else f"line {line} of {file}"
        noun = "1 row" if self.rows == 1 else f"{self.rows:,} rows"
        lead = "" if self.rows == 1 else "first: "
        return (
            f"{noun} of {', '.join(self.files)} could not be read "
            f"({lead}{where}, {code.replace('_', ' ')})"
        )


def present_forms(ref: str, plan: TablePlan) -> Iterator[str]:
    """The references a rejected row keeps present: its own, as stored and trimmed, and for a
    category path every level above it (the row would have given those items too). More forms
    only keep more items from deletion, never fewer."""
    yield ref
    trimmed = ref.strip()
    if trimmed != ref:
        yield trimmed
    # A reference rejected for an invisible character ('P1' + U+200B) still names the item a
    # person reads in it: the live 'P1' is not deleted because the ERP added a zero-width space.
    visible = visible_form(ref)
    if visible not in (ref, trimmed):
        yield visible
    if plan.path is None:
        return
    sep, listed = plan.path.separator, plan.path.list_separator
    # a cell of several paths is recorded whole: every path's levels stay present
    for path in [ref] if listed is None else ref.split(listed):
        levels: list[str] = []
        for level in path.split(sep):
            if not level.strip():
                break
            levels.append(level.strip())
            yield sep.join(levels)
