"""Stage 1 as plain Python: land a run's export, decide whether it is new, hand it on.

The fetch task (:class:`~saleslayer_airflow.operators.fetch.FetchSourceOperator`) renders the
connector's `source:` and calls :func:`fetch_stage`; this module reads the connector's fetch
last import (:mod:`~saleslayer_airflow.import_history`), lands the export with the fetcher of
its kind (:mod:`~saleslayer_airflow.sources.fetchers`), applies ``on_missing``, compares the
fingerprint with the last import's, cleans old run folders and returns the
:class:`~saleslayer_airflow.contracts.FetchResult`. It writes no record: the report stage of a
run that imported its export wholly does, from that result.

What it cannot do without Airflow it asks for by raising: :class:`RunSkipped` (the task skips the
run, with these words for the report), :class:`WaitForExport` (the task defers until
``moment``, then calls again with ``first_look``); a
:class:`~saleslayer_airflow.exceptions.TerminalError` fails the task at once, anything else is
retried.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import TYPE_CHECKING

from saleslayer_airflow.contracts import FetchResult, LandedFileRecord
from saleslayer_airflow.exceptions import SalesLayerConnectorError

if TYPE_CHECKING:
    from airflow.sdk import ObjectStoragePath

    from saleslayer_airflow.config.models import ConnectorConfig
    from saleslayer_airflow.config.sources import MissingExport, Source
    from saleslayer_airflow.contracts import StageLog
    from saleslayer_airflow.import_history import LastImport, RemoteState
    from saleslayer_airflow.sources.api import Checkpoint
    from saleslayer_airflow.sources.base import LandedFile
    from saleslayer_airflow.sources.errors import ExportMissingError

#: Run folders named in the log when retention keeps what is not a run folder.
_NAMED_NOT_RUNS = 10


class RunSkipped(SalesLayerConnectorError):
    """Not a failure: the run imports nothing (the export is unchanged, or missing and
    ``on_missing`` skips). The message says why, for the task's log and the run's report."""


class WaitForExport(SalesLayerConnectorError):
    """Not a failure: the export is missing and ``on_missing: wait`` has time left: look again
    at ``moment``; ``first_look`` (ISO-8601 UTC) is handed back to :func:`fetch_stage`."""

    def __init__(self, moment: datetime, first_look: str) -> None:
        super().__init__(f"look again at {moment.isoformat()}")
        self.moment = moment
        self.first_look = first_look


@dataclass(frozen=True)
class FetchStageRequest:
    """One attempt of a run's fetch."""

    config: ConnectorConfig
    source: Source
    """The rendered, checked `source:` section."""
    run_id: str
    force: bool
    """Import the export even when it is the one last imported."""
    checkpoint: Checkpoint
    """Where an API source records the pages landed so far, so that a retry resumes."""
    log: StageLog
    first_look: str | None = None
    """When an ``on_missing: wait`` fetch first found the export missing (ISO-8601 UTC)."""


def fetch_stage(request: FetchStageRequest) -> FetchResult:
    """Land the export of ``request`` in the run folder; what landed, or :class:`RunSkipped`,
    :class:`WaitForExport`, a terminal or a transient error."""
    from saleslayer_airflow import staging
    from saleslayer_airflow.import_history import ImportHistory
    from saleslayer_airflow.push.targets import target_account_or_none
    from saleslayer_airflow.sources.errors import ExportUnchanged
    from saleslayer_airflow.sources.fingerprint import combined_fingerprint

    config, run_id, log = request.config, request.run_id, request.log
    base = staging.staging_base_uri(config.staging.base)
    run_folder = staging.run_folder(base, config.id, run_id)
    # Scoped by the target account: re-pointed elsewhere, the connector imports everything.
    account = target_account_or_none(config, log.warning)
    history = ImportHistory(staging.connector_folder(base, config.id), account=account)
    last = history.read()
    # A run that imported this export before (a retry, a run cleared to run again) is never
    # skipped, nor is a forced run.
    compare_with = last if last is not None and last.run_id != run_id else None
    previous = None if request.force or compare_with is None else compare_with.remote()
    started = datetime.now(UTC)
    # Marked before anything lands: retention deletes only folders carrying this marker.
    staging.mark_run_folder(base, config.id, run_id)
    try:
        files = _fetch_or_wait(request, run_folder, last, previous)
    except ExportUnchanged as unchanged:
        since = f" (run {last.run_id!r}, {last.recorded_at})" if last else ""
        raise RunSkipped(
            f"Export unchanged on the server, not downloaded: {unchanged}{since}. Trigger "
            "with param force=true (or set `force: true` in the connector) to import it again"
        ) from None

    fingerprint = combined_fingerprint(files)
    for landed in files:
        log.info(
            "Landed %s%s from %s: %d bytes, sha256 %s, remote mtime %s, ETag %s",
            landed.name, f" (file {landed.file!r})" if landed.file else "", landed.source,
            landed.size, landed.sha256, landed.remote_mtime, landed.etag,
        )  # fmt: skip
    if compare_with is not None and compare_with.fingerprint == fingerprint:
        if not request.force:
            raise RunSkipped(
                f"Export unchanged: fingerprint {fingerprint[:12]} equals that of run "
                f"{compare_with.run_id!r} ({compare_with.recorded_at}); nothing to import. "
                "Trigger with param force=true (or set `force: true` in the connector) to "
                "import it again"
            )
        log.info("Export unchanged since run %s; importing anyway (force)", compare_with.run_id)
    _clean_old_runs(config, base, run_id, log)
    return FetchResult(
        connector_id=config.id,
        run_folder=str(run_folder),
        fingerprint=fingerprint,
        files=tuple(LandedFileRecord.model_validate(f.to_xcom()) for f in files),
        started_at=started,
    )


def _fetch_or_wait(
    request: FetchStageRequest,
    run_folder: ObjectStoragePath,
    last: LastImport | None,
    previous: dict[str, RemoteState] | None,
) -> list[LandedFile]:
    """Fetch once; on a missing export apply ``on_missing``: fail, skip, or wait."""
    from saleslayer_airflow.config.sources import MissingPolicy
    from saleslayer_airflow.sources.errors import ExportMissingError
    from saleslayer_airflow.sources.fetchers import FetchRequest, fetch_export

    policy = request.source.on_missing
    log = request.log

    def say(message: str) -> None:
        log.info("%s", message)

    fetch = FetchRequest(request.source, run_folder, previous, last, request.checkpoint, log=say)
    try:
        return fetch_export(fetch)
    except ExportMissingError as missing:
        if policy.policy is MissingPolicy.SKIP:
            raise RunSkipped(f"Skipping the run (on_missing: skip): {missing}") from None
        if policy.policy is MissingPolicy.FAIL:
            raise
        raise wait_or_give_up(missing, policy, request.first_look, log) from None


def wait_or_give_up(
    missing: ExportMissingError,
    policy: MissingExport,
    first_look: str | None,
    log: StageLog,
    *,
    now: datetime | None = None,
) -> WaitForExport:
    """The next look of an ``on_missing: wait`` fetch, until ``timeout`` after the first look;
    past it, raise :class:`~saleslayer_airflow.sources.errors.ExportWaitTimeoutError` (or
    :class:`RunSkipped` with ``on_timeout: skip``)."""
    from saleslayer_airflow.sources.errors import ExportWaitTimeoutError, seconds

    now = now or datetime.now(UTC)
    first = datetime.fromisoformat(first_look) if first_look else now
    waited = (now - first).total_seconds()
    timeout = policy.timeout.total_seconds()
    if waited >= timeout:
        gave_up = ExportWaitTimeoutError(missing, waited, timeout)
        if policy.on_timeout == "skip":
            raise RunSkipped(f"Skipping the run (on_missing.on_timeout: skip): {gave_up}")
        raise gave_up
    pause = min(policy.poke_interval.total_seconds(), timeout - waited)
    log.info(
        "Export not there yet (%s); waited %s of %s, looking again in %s "
        "(deferred: no worker is held meanwhile)",
        missing, seconds(waited), seconds(timeout), seconds(pause),
    )  # fmt: skip
    return WaitForExport(now + timedelta(seconds=pause), first.isoformat())


def _clean_old_runs(config: ConnectorConfig, base: str, run_id: str, log: StageLog) -> None:
    """Delete the connector's run folders past ``staging.retention_days`` (never this run's)."""
    from saleslayer_airflow import staging

    days = config.staging.retention_days
    try:
        retention = staging.clean_old_runs(base, config.id, days, keep=run_id)
    except OSError as exc:  # clean-up must never fail an import
        log.warning("Could not clean old run folders: %s", exc)
        return
    if retention.removed:
        log.info(
            "Removed %d run folders older than %d days: %s",
            len(retention.removed), days, ", ".join(retention.removed),
        )  # fmt: skip
    if retention.not_runs:
        names = retention.not_runs
        more = f" and {len(names) - _NAMED_NOT_RUNS} more" if len(names) > _NAMED_NOT_RUNS else ""
        log.info(
            "Not a run folder, kept (retention deletes only folders holding a %s marker of "
            "connector %r; run folders from before the marker existed are kept too, delete "
            "them by hand): %s%s in %s",
            staging.RUN_MARKER, config.id, ", ".join(names[:_NAMED_NOT_RUNS]), more,
            staging.connector_folder(base, config.id),
        )  # fmt: skip
