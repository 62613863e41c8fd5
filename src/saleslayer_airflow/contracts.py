"""What the stages hand each other through XCom: frozen, versioned, typed.

A connector's run is fetch -> validate and split -> push (one task per table) -> report. Each
stage returns one of these contracts as its XCom (``to_xcom()``, plain JSON) and the next stage
reads it back with ``from_xcom()``, which checks it and says which task's XCom is missing or
malformed instead of failing on a ``KeyError`` deep inside a stage.

Compatibility: XCom outlives upgrades (a push retried after an upgrade reads the summary the
split wrote before it). So every field added after a release has a default, unknown keys are
ignored, and ``version`` says which shape wrote it.
"""

from __future__ import annotations

from collections.abc import Mapping
from datetime import datetime
from enum import StrEnum
from typing import Any, Protocol, Self

from pydantic import BaseModel, ConfigDict, ValidationError

from saleslayer_airflow.exceptions import TerminalError

#: The shape of the contracts written by this version.
CONTRACT_VERSION = 1

FETCH_TASK = "fetch_source"
SPLIT_TASK = "validate_and_split"
REPORT_TASK = "report"

#: Beside ``rejects.csv`` in the run folder: the first rows that fed no table, with why.
IGNORED_FILE = "ignored.csv"


def push_task_id(table: str) -> str:
    """The push task of a connector table."""
    return f"push_{table}"


class StageLog(Protocol):
    """What a stage logs through: the task's logger (``self.log`` of an operator) or any
    :class:`logging.Logger`; messages take %-style arguments."""

    def info(self, msg: str, /, *args: object) -> object: ...

    def warning(self, msg: str, /, *args: object) -> object: ...

    def error(self, msg: str, /, *args: object) -> object: ...


class ContractError(TerminalError):
    """A stage's XCom is missing or is not what the next stage reads: the upstream task did not
    run (or ran a version that wrote another shape). Retrying cannot help."""


class _Contract(BaseModel):
    model_config = ConfigDict(frozen=True, extra="ignore")

    version: int = CONTRACT_VERSION

    def to_xcom(self) -> dict[str, Any]:
        """The JSON value pushed to XCom."""
        return self.model_dump(mode="json")

    @classmethod
    def from_xcom(cls, value: object, *, task_id: str) -> Self:
        """Read the XCom ``value`` of ``task_id``; :class:`ContractError` names what is wrong."""
        if not value:
            raise ContractError(
                f"task {task_id!r} left no result in XCom; it did not run to the end (see its log)"
            )
        if not isinstance(value, Mapping):
            raise ContractError(
                f"the XCom of task {task_id!r} is a {type(value).__name__}, not the "
                f"{cls.__name__} this stage reads"
            )
        try:
            return cls.model_validate(value)
        except ValidationError as exc:
            first = exc.errors()[0]
            where = ".".join(str(p) for p in first["loc"]) or "(top)"
            raise ContractError(
                f"the XCom of task {task_id!r} is not a valid {cls.__name__}: {where}: "
                f"{first['msg']}; clear the run's tasks from {task_id!r} on to run them again"
            ) from None


class LandedFileRecord(_Contract):
    """One landed file of the fetch stage."""

    path: str
    """Its URI in the run folder's ``landed/`` (an ObjectStoragePath URI)."""
    name: str
    """Its name as rejects show it."""
    source: str
    """Where it came from, without credentials."""
    size: int
    sha256: str
    remote_mtime: str | None = None
    """ISO-8601 UTC, when the server told."""
    etag: str | None = None
    file: str | None = None
    """Its name in the source's `files:` (None for a single export or a glob)."""


class FetchResult(_Contract):
    """What the fetch stage landed."""

    connector_id: str
    run_folder: str
    fingerprint: str
    """SHA-256 over every landed file's size and checksum."""
    files: tuple[LandedFileRecord, ...]
    started_at: datetime | None = None
    """When the fetch began: recorded with the import, the watermark from which the next
    incremental API fetch asks for changes. None in results of earlier versions."""


class StagedTable(_Contract):
    """One table as the split stage staged it."""

    path: str
    """The table's Parquet file (an ObjectStoragePath URI)."""
    rows_in: int
    rows_out: int
    merged: int
    rejected: int
    conflicts: int = 0
    duplicates: int = 0
    rejected_refs_path: str | None = None
    """The references of the table's rejected rows (staged only when deletions are on)."""
    unreadable_rows: int = 0
    """Rows of the table's input no reader could read: the export then drives no deletions."""
    unreadable: str | None = None
    """How many, of which file, the first line and why; None when every row was read."""
    filtered: int = 0
    """Rows of the files the table reads that its `where:` left out (never in ``rows_in``)."""


#: Names of a file's unread columns the split summary keeps (it counts them all).
UNREAD_COLUMNS_SHOWN = 100


class SplitFile(BaseModel):
    """One landed file as the split read it: ``rows_read = rows_used + rows_unused``."""

    model_config = ConfigDict(frozen=True, extra="ignore")

    name: str
    rows_read: int
    rows_used: int
    """Rows that fed at least one table."""
    rows_unused: int
    """Rows that fed no table (counted under ``ignored``, the first listed in ignored.csv)."""
    unread_count: int = 0
    """Header columns no table reads."""
    unread_columns: tuple[str, ...] | None = None
    """Their names, the first :data:`UNREAD_COLUMNS_SHOWN` (a 5,000-column export must not
    swell the XCom); None for a format without a header (JSON)."""


class SplitSummary(_Contract):
    """What the validate-and-split stage staged, with its counts."""

    run_folder: str
    rows_read: int
    rows_unused: int
    rows_rejected: int
    rejects_path: str
    tables: dict[str, StagedTable]
    balance: str = ""
    """The balance rule the counts obey, for a person reading the XCom."""
    files: tuple[SplitFile, ...] = ()
    """Per landed file, in order (empty from a summary written before files were counted)."""
    ignored: dict[str, int] = {}
    """What no table took, counted per reason (rows that feed no table, rows a `where:` left
    out, columns no table reads, keys no field declares...): beside the balance."""
    ignored_path: str | None = None
    """ignored.csv in the run folder: the first rows that fed no table, with file, line, why."""
    ignored_listed: int = 0
    """Rows listed in ignored.csv (at most a cap; ``ignored`` counts them all)."""


class PushStatus(StrEnum):
    """How one table's push ended."""

    PUSHED = "pushed"
    DRY_RUN = "dry run"
    FAILED = "failed"
    NOT_PUSHED = "not pushed"
    NOTHING_TO_PUSH = "nothing to push"


class PushCounts(BaseModel):
    """One table's push counts, declared once: :class:`TableCounts` adds them up while the push
    runs, :class:`TablePushResult` hands them on.

    ``items = created + updated + unchanged + stale + skipped + failed``; ``skipped`` counts items
    Sales Layer did not create (only existing items are imported); ``failed`` counts items not
    sent (the push stopped) and, among them, ``refused`` those Sales Layer refused (the first few,
    with their reasons, in ``refusals``); ``deleted`` counts items of earlier runs missing from
    this export (outside that sum: they were not read), None when the connector does not delete.
    """

    model_config = ConfigDict(extra="ignore")

    items: int = 0
    created: int = 0
    updated: int = 0
    unchanged: int = 0
    stale: int = 0
    skipped: int = 0
    failed: int = 0
    refused: int = 0
    refusals: tuple[dict[str, str], ...] = ()
    cleared: int = 0
    """Field values cleared in Sales Layer (sent empty; outside the item sum)."""
    deleted: int | None = None
    batches_sent: int = 0
    batches_resumed: int = 0
    sample: tuple[dict[str, Any], ...] = ()
    """A dry run's sample of changed fields."""

    @property
    def items_sent(self) -> int:
        """The items Sales Layer answered for: accepted (created, updated, skipped) or refused."""
        return self.created + self.updated + self.skipped + self.refused

    def counts(self) -> dict[str, int]:
        """The integer counts, for an asset event."""
        return {
            name: value
            for name, value in self.model_dump().items()
            if isinstance(value, int) and not isinstance(value, bool) and name != "version"
        }


class TableCounts(PushCounts):
    """The counts of a table's push while it runs (the push adds to them batch by batch);
    :meth:`result` turns them into the task's :class:`TablePushResult`."""

    model_config = ConfigDict(frozen=False)

    def check_balanced(self, table: str) -> None:
        """Refuse to report counts that do not add up: a lost item is a bug, never a rounding."""
        total = (
            self.created + self.updated + self.unchanged + self.stale + self.skipped + self.failed
        )
        if total != self.items:
            raise AssertionError(
                f"table {table!r}: counts do not balance: {self.items} items but "
                f"created {self.created} + updated {self.updated} + unchanged {self.unchanged} "
                f"+ stale {self.stale} + skipped {self.skipped} + failed {self.failed} = {total}"
            )

    def as_dict(self) -> dict[str, Any]:
        """The counts as plain data (``deleted`` only when the connector deletes)."""
        return self.model_dump(exclude_none=True)

    def result(self, table: str, status: PushStatus, **outcome: str | None) -> TablePushResult:
        """The task's result: these counts, the table, its status and ``outcome`` (``error``,
        ``deletions``, ``deletions_reason``)."""
        return TablePushResult.model_validate(
            self.model_dump() | {"table": table, "status": status} | outcome
        )


class TablePushResult(_Contract, PushCounts):
    """What one table's push did: its :class:`PushCounts`, how it ended, and why it stopped."""

    table: str
    status: PushStatus
    error: str | None = None
    """Why the push stopped (never a secret: the clients redact them)."""
    deletions: str | None = None
    """``refused`` when the export could not drive deletions; ``deletions_reason`` says why."""
    deletions_reason: str | None = None
