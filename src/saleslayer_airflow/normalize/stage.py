"""Stage 2 as plain Python: read a run's landed export, map, validate and split it, stage the
tables and say what it did.

The split task (:class:`~saleslayer_airflow.operators.split.ValidateAndSplitOperator`) reads the
fetch stage's contract and calls :func:`split_stage`; this module takes a local copy of each
landed file (the files themselves when staging is local), checks every column the connector
names against each file's header, splits the export (:func:`~saleslayer_airflow.normalize.engine.
split_export`, with the parents imported before as known references), publishes the staged
tables, the rejects and the ignored rows to the run folder, and returns the
:class:`~saleslayer_airflow.contracts.SplitSummary`. A
:class:`~saleslayer_airflow.exceptions.TerminalError` (a column missing, a file that cannot be
read, rejects past the connector's ``validation:`` threshold) fails the task without retry.
"""

from __future__ import annotations

import json
import shutil
import tempfile
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

from saleslayer_airflow.contracts import (
    IGNORED_FILE,
    UNREAD_COLUMNS_SHOWN,
    SplitFile,
    SplitSummary,
    StagedTable,
)
from saleslayer_airflow.staging import REJECTED_REFS_SUFFIX, REJECTS_FILE, SPLIT, local_path

if TYPE_CHECKING:
    from collections.abc import Sequence

    from saleslayer_airflow.config.models import ConnectorConfig
    from saleslayer_airflow.contracts import FetchResult, StageLog
    from saleslayer_airflow.normalize.results import LandedFile, SplitResult


@dataclass(frozen=True)
class SplitStageRequest:
    """One run's split."""

    config: ConnectorConfig
    fetched: FetchResult
    """What the fetch stage landed (at least one file)."""
    log: StageLog


def split_stage(request: SplitStageRequest) -> SplitSummary:
    """Split the export of ``request`` into the run folder; its summary, or a terminal error
    (the summary is logged first when the rejects cross the threshold)."""
    from airflow.sdk import ObjectStoragePath

    from saleslayer_airflow.normalize.engine import split_export
    from saleslayer_airflow.normalize.results import LandedFile
    from saleslayer_airflow.push.targets import target_account_or_none
    from saleslayer_airflow.state import StateStore
    from saleslayer_airflow.state.store import LEGACY_ACCOUNT
    from saleslayer_airflow.validation.threshold import check_threshold

    config, fetched, log = request.config, request.fetched, request.log
    run_folder = ObjectStoragePath(fetched.run_folder)
    with tempfile.TemporaryDirectory(prefix="saleslayer-split-") as tmp:
        work = Path(tmp)
        files = [
            LandedFile(_local_copy(f.path, work, i), f.name or f.path, file=f.file)
            for i, f in enumerate(fetched.files)
        ]
        # Every column the connector names, against each file's header (read from its start):
        # a typo fails here, with a suggestion, before any file is read in full.
        _check_columns(config, files, log)
        # Parents imported by earlier runs (of any connector feeding the table) resolve too,
        # within the account this connector pushes to: another account's are not there.
        account = target_account_or_none(config, log.warning)
        store = StateStore.open(account=account or LEGACY_ACCOUNT)
        try:
            result = split_export(config, files, work / "out", known_refs=store.known_references)
        finally:
            store.close()
        summary = _publish_all(config, result, run_folder, log)
        log.info("validate and split summary:\n%s", json.dumps(summary.to_xcom(), indent=2))
        check_threshold(config.id, result, config.validation)
    return summary


def _local_copy(uri: str, into: Path, index: int) -> Path:
    """A local path for a landed file: the file itself when local, else a streamed copy."""
    from airflow.sdk import ObjectStoragePath

    source: Any = ObjectStoragePath(uri)
    local = local_path(source)
    if local is not None:
        return local
    target = into / f"landed_{index}_{source.name}"
    with source.open("rb") as remote, target.open("wb") as copy:
        shutil.copyfileobj(remote, copy, 1 << 20)
    return target


def _check_columns(config: ConnectorConfig, files: Sequence[LandedFile], log: StageLog) -> None:
    """Raise MissingColumnsError when a file's header lacks a column the connector names."""
    from saleslayer_airflow.validation.columns import MissingColumnsError, preflight

    checked = preflight(config, [(f.path, f.name, f.file) for f in files])
    for warning in checked.warnings:
        log.warning("%s", warning)
    if checked.errors:
        raise MissingColumnsError(config.id, checked.errors)


def _publish(local: Path, target: Any) -> None:
    target.parent.mkdir(parents=True, exist_ok=True)
    with local.open("rb") as src, target.open("wb") as dst:
        shutil.copyfileobj(src, dst, 1 << 20)


def _publish_all(
    config: ConnectorConfig, result: SplitResult, run_folder: Any, log: StageLog
) -> SplitSummary:
    """Copy the split's files to the run folder; the summary that names them."""
    from saleslayer_airflow.normalize.results import BALANCE_RULE

    tables: dict[str, StagedTable] = {}
    for key, counts in result.tables.items():
        target = run_folder / SPLIT / f"{key}.parquet"
        _publish(result.paths[key], target)
        refs_target = None
        if key in result.rejected_refs:
            refs_target = run_folder / SPLIT / f"{key}{REJECTED_REFS_SUFFIX}"
            _publish(result.rejected_refs[key], refs_target)
        unreadable = result.unreadable[key]
        tables[key] = StagedTable(
            path=str(target),
            rows_in=counts.rows_in,
            rows_out=counts.rows_out,
            merged=counts.merged,
            rejected=counts.rejected,
            conflicts=counts.conflicts,
            duplicates=counts.duplicates,
            rejected_refs_path=None if refs_target is None else str(refs_target),
            unreadable_rows=unreadable.rows,
            unreadable=unreadable.describe(),
            filtered=result.filtered.get(key, 0),
        )
        if unreadable.rows and config.target.deletions.enabled:
            log.warning(
                "table %s: %s; this export cannot drive deletions", key, unreadable.describe()
            )
    rejects_target = run_folder / REJECTS_FILE
    _publish(result.rejects_path, rejects_target)
    ignored_target = None
    if result.ignored_path is not None:
        ignored_target = run_folder / IGNORED_FILE
        _publish(result.ignored_path, ignored_target)
    for reason, count in result.ignored.counts.items():
        log.info("not imported: %s: %d", reason, count)
    return SplitSummary(
        run_folder=str(run_folder),
        rows_read=result.rows_read,
        rows_unused=result.rows_unused,
        rows_rejected=result.rows_rejected,
        rejects_path=str(rejects_target),
        tables=tables,
        balance=BALANCE_RULE,
        files=tuple(
            SplitFile(
                name=f.name,
                rows_read=f.rows_read,
                rows_used=f.rows_used,
                rows_unused=f.rows_unused,
                unread_count=len(f.unread_columns or ()),
                unread_columns=None
                if f.unread_columns is None
                else f.unread_columns[:UNREAD_COLUMNS_SHOWN],
            )
            for f in result.files
        ),
        ignored=dict(result.ignored.counts),
        ignored_path=None if ignored_target is None else str(ignored_target),
        ignored_listed=len(result.ignored.rows),
    )
