"""The run report: per table, where every item read ended up, balanced and checked in code.

    read = created + updated + unchanged + stale + skipped + rejected + merged + failed

``read`` is the source rows that fed the table (the split stage's ``rows_in``): each became an
item passed on, a row merged into an item of the same reference (a product repeated on each of
its SKU rows), or a rejected row. The push stage accounts for every item passed on: created,
updated, unchanged, stale, skipped (Sales Layer did not create it: the connector only imports
existing items; it is sent again next run) or failed. A table whose push did not run
(its parent table failed, or the run was stopped) counts its items as ``failed``, so a report
always balances and never hides an item.

``deleted`` (items of earlier runs missing from a complete export, removed or given a status when
the connector's deletions are on) is reported beside the balance, for the tables whose push did
deletions: those items were not read. A table whose input had rows that could not be read at all
shows ``deletions: refused`` and why: an export not read in full never drives deletions.

Nothing disappears: per landed file, ``rows read = rows used + rows unused`` (rows that fed at
least one table, rows that fed none), checked in code too; what no table took is counted per
reason under ``ignored`` (rows that feed no table, rows a table's ``where:`` left out, header
columns no table reads, keys or rows another layer of the split set aside), and the first rows
that fed no table are listed in ``ignored.csv`` with file, line and why. These counts are beside
the balance: none of it entered a table.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from saleslayer_airflow.contracts import SplitFile, SplitSummary, TablePushResult

_PUSH_KEYS = ("created", "updated", "unchanged", "stale", "skipped", "failed")
#: The terms that add up to a table's ``read``, in the order reports show them: whatever shows
#: a table's balance takes them from here, so a term added to it shows everywhere.
BALANCE_TERMS = (
    "created",
    "updated",
    "unchanged",
    "stale",
    "skipped",
    "rejected",
    "merged",
    "failed",
)


@dataclass(frozen=True)
class TableReport:
    """One table's line of the report."""

    table: str
    read: int
    created: int
    updated: int
    unchanged: int
    stale: int
    rejected: int
    failed: int
    status: str
    merged: int = 0
    conflicts: int = 0
    deleted: int | None = None
    skipped: int = 0
    error: str | None = None
    #: why the table's deletion pass was refused this run (None: it ran, or deletions are off)
    deletions_refused: str | None = None
    #: field values cleared in Sales Layer because the export had them empty (beside the balance)
    cleared: int = 0
    #: items Sales Layer refused (among ``failed``), and the first few with its reasons
    refused: int = 0
    refusals: tuple[tuple[str, str], ...] = ()
    #: rows of the files the table reads that its ``where:`` left out (beside the balance)
    filtered: int = 0

    @property
    def balanced(self) -> bool:
        return self.read == sum(int(getattr(self, term)) for term in BALANCE_TERMS)


@dataclass(frozen=True)
class RunReport:
    """The whole run: one line per table, plus where the rejects and the report are."""

    connector_id: str
    run_id: str
    dry_run: bool
    tables: tuple[TableReport, ...]
    rejects_path: str | None = None
    notes: tuple[str, ...] = field(default_factory=tuple)
    #: per landed file: rows read, used, unused and header columns no table reads
    files: tuple[SplitFile, ...] = ()
    #: what no table took, per reason, in the split's order
    ignored: tuple[tuple[str, int], ...] = ()
    ignored_path: str | None = None
    ignored_listed: int = 0

    @property
    def succeeded(self) -> bool:
        return all(t.status in {"pushed", "dry run", "nothing to push"} for t in self.tables)

    def as_dict(self) -> dict[str, Any]:
        return {
            "connector_id": self.connector_id,
            "run_id": self.run_id,
            "dry_run": self.dry_run,
            "succeeded": self.succeeded,
            "rejects_path": self.rejects_path,
            "notes": list(self.notes),
            "files": [
                {
                    "name": f.name,
                    "rows_read": f.rows_read,
                    "rows_used": f.rows_used,
                    "rows_unused": f.rows_unused,
                }
                | (
                    {}
                    if f.unread_columns is None
                    else {"unread_count": f.unread_count, "unread_columns": list(f.unread_columns)}
                )
                for f in self.files
            ],
            "ignored": dict(self.ignored),
            "ignored_path": self.ignored_path,
            "ignored_listed": self.ignored_listed,
            "tables": {
                t.table: {
                    "status": t.status,
                    "read": t.read,
                    "created": t.created,
                    "updated": t.updated,
                    "unchanged": t.unchanged,
                    "stale": t.stale,
                    "skipped": t.skipped,
                    "rejected": t.rejected,
                    "failed": t.failed,
                    "merged": t.merged,
                    "conflicts": t.conflicts,
                }
                | ({"cleared": t.cleared} if t.cleared else {})
                | ({"filtered": t.filtered} if t.filtered else {})
                | ({} if t.deleted is None else {"deleted": t.deleted})
                | ({} if t.error is None else {"error": t.error})
                | (
                    {
                        "refused": t.refused,
                        "refusals": [{"reference": r, "reason": why} for r, why in t.refusals],
                    }
                    if t.refused
                    else {}
                )
                | (
                    {}
                    if t.deletions_refused is None
                    else {"deletions": "refused", "deletions_reason": t.deletions_refused}
                )
                for t in self.tables
            },
        }

    def text(self) -> str:
        """The short human summary written to the task log and the report file."""
        head = f"Sales Layer import {self.connector_id} / {self.run_id}" + (
            " (DRY RUN: nothing was written)" if self.dry_run else ""
        )
        cols = ("read", *BALANCE_TERMS) + (
            ("deleted",) if any(t.deleted is not None for t in self.tables) else ()
        )
        width = max([len("table"), *(len(t.table) for t in self.tables)])
        lines = [
            head,
            f"{'table':<{width}} " + " ".join(f"{c:>9}" for c in cols) + "  status",
        ]
        for t in self.tables:
            values = " ".join(f"{getattr(t, c) or 0:>9}" for c in cols)
            lines.append(f"{t.table:<{width}} {values}  {t.status}")
        lines += [f"{t.table}: {t.status}: {t.error}" for t in self.tables if t.error]
        lines += [
            f"{t.table}: deletions refused: {t.deletions_refused}"
            for t in self.tables
            if t.deletions_refused
        ]
        lines += [
            f"{t.table}: {t.cleared} field value(s) "
            + ("would be cleared" if self.dry_run else "cleared")
            + " in Sales Layer (empty in the export; on_empty: keep leaves them)"
            for t in self.tables
            if t.cleared
        ]
        for t in self.tables:
            if t.refused:
                first = "; ".join(f"{ref}: {why}" for ref, why in t.refusals)
                more = (
                    f" (and {t.refused - len(t.refusals)} more)"
                    if t.refused > len(t.refusals)
                    else ""
                )
                lines.append(
                    f"{t.table}: {t.refused} item(s) refused by Sales Layer (counted failed, in "
                    f"the rejects file, sent again next run): {first}{more}"
                )
        if any(t.skipped for t in self.tables):
            lines.append(
                "skipped: items Sales Layer did not create (the connector only imports existing "
                "items); they are sent again next run"
            )
        if self.rejects_path:
            lines.append(f"rejected rows: {self.rejects_path}")
        lines += self._ignored_lines()
        lines += list(self.notes)
        return "\n".join(lines)

    def _ignored_lines(self) -> list[str]:
        """Per file its row balance, then what no table took, per reason."""
        lines = []
        for f in self.files:
            line = (
                f"{f.name}: {f.rows_read} row(s) read = {f.rows_used} fed a table + "
                f"{f.rows_unused} fed none"
            )
            if f.unread_count:
                names = ", ".join(f.unread_columns or ())
                more = (
                    f" and {f.unread_count - len(f.unread_columns or ())} more"
                    if (f.unread_count > len(f.unread_columns or ()))
                    else ""
                )
                line += f"; {f.unread_count} column(s) no table reads: {names}{more}"
            lines.append(line)
        if self.ignored:
            lines.append("not imported (counted per reason, beside the balance):")
            lines += [f"  {reason}: {count}" for reason, count in self.ignored]
        unused = sum(f.rows_unused for f in self.files)
        if unused and self.ignored_path:
            listed = (
                "all listed"
                if self.ignored_listed >= unused
                else f"the first {self.ignored_listed} listed"
            )
            lines.append(
                f"rows that fed no table ({listed}, with line and why): {self.ignored_path}"
            )
        return lines


class UnbalancedReportError(AssertionError):
    """A table's counts do not add up: an item went missing, which is a bug to report."""


def _check_files(split_summary: SplitSummary) -> None:
    """Every file's rows are either used or unused, and the files add up to the rows read (a
    summary written before files were counted has none: nothing to check)."""
    for f in split_summary.files:
        if f.rows_read != f.rows_used + f.rows_unused:
            raise UnbalancedReportError(
                f"file {f.name!r}: {f.rows_read} rows read but {f.rows_used} fed a table and "
                f"{f.rows_unused} fed none"
            )
    if split_summary.files and (
        sum(f.rows_read for f in split_summary.files) != split_summary.rows_read
    ):
        raise UnbalancedReportError(
            f"the files' rows read add up to {sum(f.rows_read for f in split_summary.files)}, "
            f"not the {split_summary.rows_read} the split read"
        )


def build_report(
    connector_id: str,
    run_id: str,
    split_summary: SplitSummary,
    pushes: Mapping[str, TablePushResult | None],
    *,
    dry_run: bool = False,
) -> RunReport:
    """Combine the split stage's summary and each table's push result into a checked report.

    ``pushes`` maps each table to its push task's result (its counts, ``status`` and, when it
    stopped, ``error``: why, e.g. a refused deletion), or None when that task produced nothing
    (it failed before counting, or was skipped).
    """
    _check_files(split_summary)
    reports = []
    for table, split in split_summary.tables.items():
        items = split.rows_out
        rejected = split.rejected
        merged = split.merged
        push = pushes.get(table)
        if push is None:
            counts = dict.fromkeys(_PUSH_KEYS, 0) | {"failed": items}
            status = "not pushed" if items else "nothing to push"
        else:
            counts = {key: int(getattr(push, key)) for key in _PUSH_KEYS}
            status = push.status.value
            if push.items != items:
                raise UnbalancedReportError(
                    f"table {table!r}: the split stage passed on {items} items but the push "
                    f"stage accounted for {push.items}"
                )
        report = TableReport(
            table=table,
            read=split.rows_in,
            rejected=rejected,
            merged=merged,
            status=status,
            conflicts=split.conflicts,
            deleted=None if push is None else push.deleted,
            error=None if push is None or not push.error else push.error,
            cleared=0 if push is None else push.cleared,
            refused=0 if push is None else push.refused,
            refusals=()
            if push is None
            else tuple((str(r.get("reference")), str(r.get("reason"))) for r in push.refusals),
            filtered=split.filtered,
            deletions_refused=(
                push.deletions_reason or "the export was not read in full"
                if push is not None and push.deletions == "refused"
                else None
            ),
            **counts,
        )
        if not report.balanced:
            raise UnbalancedReportError(f"table {table!r}: counts do not balance: {report}")
        reports.append(report)
    return RunReport(
        connector_id=connector_id,
        run_id=run_id,
        dry_run=dry_run,
        tables=tuple(reports),
        rejects_path=split_summary.rejects_path,
        files=split_summary.files,
        ignored=tuple(split_summary.ignored.items()),
        ignored_path=split_summary.ignored_path,
        ignored_listed=split_summary.ignored_listed,
    )
