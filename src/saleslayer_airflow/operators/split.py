"""Stage 2: read the landed export, map it onto Sales Layer tables, validate, split."""

from __future__ import annotations

import json
import shutil
import tempfile
from pathlib import Path
from typing import TYPE_CHECKING, Any

from airflow.sdk import Context

from saleslayer_airflow.contracts import (
    FETCH_TASK,
    IGNORED_FILE,
    UNREAD_COLUMNS_SHOWN,
    FetchResult,
    SplitFile,
    SplitSummary,
    StagedTable,
)
from saleslayer_airflow.exceptions import TerminalError
from saleslayer_airflow.operators.base import ConnectorStageOperator, frozen_heap
from saleslayer_airflow.staging import REJECTED_REFS_SUFFIX, REJECTS_FILE, SPLIT
from saleslayer_airflow.ui.links import IgnoredRowsLink, RejectsFileLink

if TYPE_CHECKING:
    from collections.abc import Sequence

    from saleslayer_airflow.normalize.results import LandedFile


def _local_copy(uri: str, into: Path, index: int) -> Path:
    """A local path for a landed file: the file itself when local, else a streamed copy."""
    from airflow.sdk import ObjectStoragePath

    source: Any = ObjectStoragePath(uri)
    if source.protocol in ("file", "local", ""):
        return Path(source.path)
    target = into / f"landed_{index}_{source.name}"
    with source.open("rb") as remote, target.open("wb") as local:
        shutil.copyfileobj(remote, local, 1 << 20)
    return target


def _publish(local: Path, target: Any) -> None:
    target.parent.mkdir(parents=True, exist_ok=True)
    with local.open("rb") as src, target.open("wb") as dst:
        shutil.copyfileobj(src, dst, 1 << 20)


class ValidateAndSplitOperator(ConnectorStageOperator):
    """Write one staged file per table and a rejects file, from the connector's mapping.

    Reads the XCom of ``fetch_source`` (the run folder and the landed files, each tagged with its
    name in the source's `files:` when named; a table with `file:` reads only those), writes
    ``<run_folder>/split/<table>.parquet`` and ``<run_folder>/rejects.csv``, returns a summary
    and fails without retry when the rejects cross the connector's `validation:` threshold.

    For deletions (when on), each table also gets ``split/<table>.rejected_refs.parquet`` (the
    references of its rejected rows: the export holds those items). The summary says how many
    rows of its input could not be read at all (``unreadable_rows``, and ``unreadable``: how
    many, of which file, the first line and why); such an export never drives deletions.

    Nothing disappears: per file, ``rows_read = rows_used + rows_unused``; what no table took
    (rows that feed no table, rows a table's `where:` left out, header columns no table reads,
    and what other layers count) is in the summary's ``ignored``, per reason, and the first
    rows that fed no table in ``<run_folder>/ignored.csv`` (file, line, why).
    """

    stage = "validate-and-split"
    ui_color = "#fdf6e3"
    operator_extra_links = (RejectsFileLink(), IgnoredRowsLink())

    def execute(self, context: Context) -> Any:
        with frozen_heap():
            return self._run(context)

    def _check_columns(self, files: Sequence[LandedFile]) -> None:
        """Fail (MissingColumnsError) when a file's header lacks a column the connector names."""
        from saleslayer_airflow.validation.columns import MissingColumnsError, preflight

        checked = preflight(self.connector_config, [(f.path, f.name, f.file) for f in files])
        for warning in checked.warnings:
            self.log.warning("%s", warning)
        if checked.errors:
            raise MissingColumnsError(self.connector_id, checked.errors)

    def _run(self, context: Context) -> Any:
        from airflow.sdk import ObjectStoragePath
        from airflow.sdk.exceptions import AirflowFailException

        from saleslayer_airflow.normalize.engine import split_export
        from saleslayer_airflow.normalize.results import BALANCE_RULE, LandedFile
        from saleslayer_airflow.push.targets import target_account_or_none
        from saleslayer_airflow.state import StateStore
        from saleslayer_airflow.state.store import LEGACY_ACCOUNT
        from saleslayer_airflow.validation.threshold import check_threshold

        try:
            fetched = FetchResult.from_xcom(
                context["ti"].xcom_pull(task_ids=FETCH_TASK), task_id=FETCH_TASK
            )
        except TerminalError as exc:
            raise AirflowFailException(f"connector {self.connector_id!r}: {exc}") from exc
        if not fetched.files:
            raise AirflowFailException(
                f"connector {self.connector_id!r}: task {FETCH_TASK!r} landed no file; "
                "nothing to validate"
            )
        run_folder = ObjectStoragePath(fetched.run_folder)
        config = self.connector_config
        with tempfile.TemporaryDirectory(prefix="saleslayer-split-") as tmp:
            work = Path(tmp)
            files = [
                LandedFile(_local_copy(f.path, work, i), f.name or f.path, file=f.file)
                for i, f in enumerate(fetched.files)
            ]
            # Every column the connector names, against each file's header (read from its
            # start): a typo fails here, with a suggestion, before any file is read in full.
            try:
                self._check_columns(files)
            except TerminalError as exc:
                raise AirflowFailException(str(exc)) from exc
            # Parents imported by earlier runs (of any connector feeding the table) resolve too,
            # within the account this connector pushes to: another account's are not there.
            account = target_account_or_none(config, self.log.warning)
            store = StateStore.open(account=account or LEGACY_ACCOUNT)
            try:
                result = split_export(
                    config, files, work / "out", known_refs=store.known_references
                )
            except TerminalError as exc:
                raise AirflowFailException(str(exc)) from exc
            finally:
                store.close()
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
                    self.log.warning(
                        "table %s: %s; this export cannot drive deletions",
                        key,
                        unreadable.describe(),
                    )
            rejects_target = run_folder / REJECTS_FILE
            _publish(result.rejects_path, rejects_target)
            ignored_target = None
            if result.ignored_path is not None:
                ignored_target = run_folder / IGNORED_FILE
                _publish(result.ignored_path, ignored_target)
            for reason, count in result.ignored.counts.items():
                self.log.info("not imported: %s: %d", reason, count)
            summary = SplitSummary(
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
            ).to_xcom()
            self.log.info("validate and split summary:\n%s", json.dumps(summary, indent=2))
            try:
                check_threshold(self.connector_id, result, config.validation)
            except TerminalError as exc:
                raise AirflowFailException(str(exc)) from exc
        return summary
