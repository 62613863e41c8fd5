"""Stage 1: land the raw ERP export in staging, unchanged, with its fingerprint."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import UTC, date, datetime, timedelta
from typing import TYPE_CHECKING, Any, NoReturn

from airflow.sdk import Context

from saleslayer_airflow.operators.base import ConnectorStageOperator

if TYPE_CHECKING:
    import jinja2

    from saleslayer_airflow.config.sources import MissingExport
    from saleslayer_airflow.sources.base import LandedFile
    from saleslayer_airflow.sources.errors import ExportMissingError
    from saleslayer_airflow.sources.history import LastFetch, RemoteState


class FetchSourceOperator(ConnectorStageOperator):
    """Fetch the export described by the connector's `source:` section into staging.

    The export lands unchanged in ``<staging base>/<connector>/<run>/landed/`` (see
    :mod:`saleslayer_airflow.staging`) and the task returns, as its XCom::

        {"connector_id": str, "run_folder": "<URI>", "fingerprint": "<sha256 hex>",
         "files": [{"path": "<URI in landed/>", "name": str, "source": "<URL, no credentials>",
                    "size": int, "sha256": str, "remote_mtime": "<ISO-8601 UTC>" | None,
                    "etag": str | None, "file": "<name in source.files>" | None}]}

    **Named files.** A source with ``files: {categories: ..., products: ...}`` lands every named
    file in ``landed/<name>/`` and tags it with ``"file": "<name>"``; the split stage feeds each
    table only the files its ``file:`` names.

    **Unchanged exports.** ``fingerprint`` is a SHA-256 over all the files' sizes and checksums.
    The fetch that hands an export on records it, with what the server said about each file
    (URL, size, mtime, ETag), in ``<base>/<connector>/_state/last_fetch.json``
    (:mod:`saleslayer_airflow.sources.history`). A later run is skipped (AirflowSkipException,
    so the downstream tasks are skipped) when the server says nothing changed, before any
    download (HTTP: conditional GET answered 304 for every file; FTP/FTPS/SFTP: the same files
    with the same size and mtime), or when it lands the same fingerprint; unless the connector's
    ``force`` or the run's ``force`` param is true. A retry of the run that wrote the record is
    never skipped.

    **Missing export** (``source.on_missing``, per file for named files): ``fail`` fails the task
    at once with the connection id, the path or URL (and the file's name) and what to check;
    ``skip`` skips the run; ``wait`` defers the task on a timer (:mod:`sources.recheck`, no
    worker held meanwhile) and looks again every ``poke_interval``, until ``timeout`` after the
    first look, then fails naming the connection, the path and the timeout (or skips the run,
    with ``on_timeout: skip``).

    **Errors.** Terminal errors (credentials refused, an HTML page instead of the export, a
    missing export, a 4xx) fail the task without retries (AirflowFailException); transient ones
    (network, timeout, 5xx, 429, a cut transfer, a file still being written) are raised as they
    are, so Airflow retries the task. API sources resume after the last landed page, through
    Airflow's task state store.

    **Runs without a logical date** (triggered from the API or CLI without one, asset-triggered)
    have no ``ds``/``ds_nodash`` in their template context. This operator adds them before
    rendering: the run's ``export_date`` param when given (it also overrides ``ds`` of runs that
    have a logical date, to import the export of another day), else the date the run was
    triggered (``run_after``, UTC).

    :param source: the `source:` section as plain data; its paths and endpoints are templated
        per run (``exports/products_{{ ds_nodash }}.csv``). (templated)
    """

    stage = "fetch"
    template_fields: Sequence[str] = ("source",)
    template_fields_renderers = {"source": "json"}
    ui_color = "#e8f4fd"

    def __init__(self, *, source: dict[str, Any], **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.source = source

    def render_template_fields(
        self, context: Context, jinja_env: jinja2.Environment | None = None
    ) -> None:
        """Render ``source`` with the run's dates and params only, ``ds``/``ds_nodash`` set from
        ``export_date`` when needed.

        Neither Airflow's context nor its Jinja environment (``jinja_env``) is used: they reach
        every connection and variable (``conn.<id>.password``), and what a path renders goes to
        the ERP server, XCom, staging and the logs. See :mod:`saleslayer_airflow.config.templates`.
        """
        from airflow.sdk.exceptions import AirflowFailException

        from saleslayer_airflow.config.templates import (
            TemplateRenderError,
            render_value,
            run_template_context,
        )

        names = run_template_context(context, export_date_for(context))
        try:
            self.source = render_value(self.source, names, where="source")
        except TemplateRenderError as exc:
            # Retrying cannot help: the connector file must change.
            raise AirflowFailException(f"connector {self.connector_id!r}: {exc}") from None

    def execute(self, context: Context) -> dict[str, Any]:
        return self._import(context, first_look=None)

    def look_again(
        self, context: Context, event: Any = None, first_look: str | None = None
    ) -> dict[str, Any]:
        """Resume after an ``on_missing: wait`` deferral: look for the export again.

        The time of the first look comes in the method kwargs (Airflow's triggerer) or in the
        trigger's event (``dag.test()`` passes only the event).
        """
        if first_look is None and isinstance(event, dict):
            first_look = event.get("first_look")
        return self._import(context, first_look=first_look)

    def _import(self, context: Context, first_look: str | None) -> dict[str, Any]:
        from airflow.sdk.exceptions import AirflowSkipException

        try:
            return self._import_once(context, first_look)
        except AirflowSkipException as skip:
            # The report task says why the run was skipped, in these words.
            context["ti"].xcom_push(key="skip_reason", value=str(skip))
            raise

    def _import_once(self, context: Context, first_look: str | None) -> dict[str, Any]:
        from airflow.sdk.exceptions import AirflowFailException, AirflowSkipException

        from saleslayer_airflow import staging
        from saleslayer_airflow.contracts import FetchResult, LandedFileRecord
        from saleslayer_airflow.exceptions import TerminalError
        from saleslayer_airflow.push.targets import target_account_or_none
        from saleslayer_airflow.sources.errors import ExportUnchanged
        from saleslayer_airflow.sources.fingerprint import combined_fingerprint
        from saleslayer_airflow.sources.history import FetchHistory

        config = self.connector_config
        run_id = context["run_id"]
        base = staging.staging_base_uri(config.staging.base)
        run_folder = staging.run_folder(base, config.id, run_id)
        # Scoped by the target account: re-pointed elsewhere, the connector imports everything.
        account = target_account_or_none(config, self.log.warning)
        history = FetchHistory(staging.connector_folder(base, config.id), account=account)
        last = history.read()
        force = config.force or bool(context["params"].get("force"))
        # A retry of the run that wrote the record is never skipped, nor is a forced run.
        compare_with = last if last is not None and last.run_id != run_id else None
        previous = None if force or compare_with is None else compare_with.remote()
        started = datetime.now(UTC)
        # Marked before anything lands: retention deletes only folders carrying this marker.
        staging.mark_run_folder(base, config.id, run_id)
        try:
            files = self._fetch_or_wait(context, run_folder, last, previous, first_look)
        except ExportUnchanged as unchanged:
            since = f" (run {last.run_id!r}, {last.recorded_at})" if last else ""
            raise AirflowSkipException(
                f"Export unchanged on the server, not downloaded: {unchanged}{since}. Trigger "
                "with param force=true (or set `force: true` in the connector) to import it again"
            ) from None
        except TerminalError as exc:
            raise AirflowFailException(str(exc)) from exc

        fingerprint = combined_fingerprint(files)
        for landed in files:
            self.log.info(
                "Landed %s%s from %s: %d bytes, sha256 %s, remote mtime %s, ETag %s",
                landed.name, f" (file {landed.file!r})" if landed.file else "", landed.source,
                landed.size, landed.sha256, landed.remote_mtime, landed.etag,
            )  # fmt: skip
        if compare_with is not None and compare_with.fingerprint == fingerprint:
            if not force:
                raise AirflowSkipException(
                    f"Export unchanged: fingerprint {fingerprint[:12]} equals that of run "
                    f"{compare_with.run_id!r} ({compare_with.recorded_at}); nothing to import. "
                    "Trigger with param force=true (or set `force: true` in the connector) to "
                    "import it again"
                )
            self.log.info(
                "Export unchanged since run %s; importing anyway (force)", compare_with.run_id
            )
        history.record(fingerprint, run_id, started, files)
        self._clean_old_runs(base, run_id)
        return FetchResult(
            connector_id=config.id,
            run_folder=str(run_folder),
            fingerprint=fingerprint,
            files=tuple(LandedFileRecord.model_validate(f.to_xcom()) for f in files),
        ).to_xcom()

    def _fetch_or_wait(
        self,
        context: Context,
        run_folder: Any,
        last: LastFetch | None,
        previous: dict[str, RemoteState] | None,
        first_look: str | None,
    ) -> list[LandedFile]:
        """Fetch once; on a missing export apply ``on_missing``: fail, skip, or defer on a timer
        and look again (:meth:`look_again`) until ``timeout`` after the first look."""
        from airflow.sdk.exceptions import AirflowSkipException

        from saleslayer_airflow.config.sources import MissingPolicy
        from saleslayer_airflow.sources.errors import ExportMissingError

        policy = self.typed_source().on_missing
        try:
            return self._fetch_once(context, run_folder, last, previous)
        except ExportMissingError as missing:
            if policy.policy is MissingPolicy.SKIP:
                raise AirflowSkipException(
                    f"Skipping the run (on_missing: skip): {missing}"
                ) from None
            if policy.policy is MissingPolicy.FAIL:
                raise
            self._defer_or_give_up(missing, policy, first_look)

    def _defer_or_give_up(
        self, missing: ExportMissingError, policy: MissingExport, first_look: str | None
    ) -> NoReturn:
        """Defer until the next look (the worker is free meanwhile), or raise
        ExportWaitTimeoutError once ``timeout`` has passed since the first look."""
        from saleslayer_airflow.sources.errors import ExportWaitTimeoutError, seconds
        from saleslayer_airflow.sources.recheck import LookAgainTrigger

        now = datetime.now(UTC)
        first = datetime.fromisoformat(first_look) if first_look else now
        waited = (now - first).total_seconds()
        timeout = policy.timeout.total_seconds()
        if waited >= timeout:
            gave_up = ExportWaitTimeoutError(missing, waited, timeout)
            if policy.on_timeout == "skip":
                from airflow.sdk.exceptions import AirflowSkipException

                raise AirflowSkipException(
                    f"Skipping the run (on_missing.on_timeout: skip): {gave_up}"
                ) from None
            raise gave_up from None
        pause = min(policy.poke_interval.total_seconds(), timeout - waited)
        self.log.info(
            "Export not there yet (%s); waited %s of %s, looking again in %s "
            "(deferred: no worker is held meanwhile)",
            missing, seconds(waited), seconds(timeout), seconds(pause),
        )  # fmt: skip
        self.defer(
            trigger=LookAgainTrigger(now + timedelta(seconds=pause), first.isoformat()),
            method_name="look_again",
            kwargs={"first_look": first.isoformat()},
        )

    def typed_source(self) -> Any:
        """The rendered `source:` section, checked against its model."""
        from pydantic import TypeAdapter

        from saleslayer_airflow.config.sources import Source

        return TypeAdapter(Source).validate_python(self.source)

    def _fetch_once(
        self,
        context: Context,
        run_folder: Any,
        last: LastFetch | None,
        previous: dict[str, RemoteState] | None,
    ) -> list[LandedFile]:
        from saleslayer_airflow.sources.fetchers import (
            FetchRequest,
            MemoryCheckpoint,
            fetch_export,
        )

        try:
            checkpoint: Any = context["task_state_store"]
        except KeyError:  # not provided (an Airflow without the task state store): no resume
            checkpoint = MemoryCheckpoint()
        request = FetchRequest(
            self.typed_source(), run_folder, previous, last, checkpoint, log=self.log.info
        )
        return fetch_export(request)

    def _clean_old_runs(self, base: str, run_id: str) -> None:
        from saleslayer_airflow import staging

        config = self.connector_config
        try:
            retention = staging.clean_old_runs(
                base, config.id, config.staging.retention_days, keep=run_id
            )
        except OSError as exc:  # clean-up must never fail an import
            self.log.warning("Could not clean old run folders: %s", exc)
            return
        if retention.removed:
            self.log.info(
                "Removed %d run folders older than %d days: %s",
                len(retention.removed), config.staging.retention_days,
                ", ".join(retention.removed),
            )  # fmt: skip
        if retention.not_runs:
            names = retention.not_runs
            more = f" and {len(names) - 10} more" if len(names) > 10 else ""
            self.log.info(
                "Not a run folder, kept (retention deletes only folders holding a %s marker of "
                "connector %r; run folders from before the marker existed are kept too, delete "
                "them by hand): %s%s in %s",
                staging.RUN_MARKER, config.id, ", ".join(names[:10]), more,
                staging.connector_folder(base, config.id),
            )  # fmt: skip


def export_date_for(context: Context) -> date | None:
    """The date that ``ds`` must render for this run, when it differs from Airflow's own.

    The run's ``export_date`` param when given; else, for a run without a logical date, the date
    it was triggered (``run_after``, UTC); else None (Airflow's ``ds`` stands).
    """
    param = (context.get("params") or {}).get("export_date")
    if param:
        return date.fromisoformat(str(param))
    if "ds" in context:
        return None
    dag_run = context.get("dag_run")
    after = getattr(dag_run, "run_after", None) or datetime.now(UTC)
    return after.astimezone(UTC).date() if after.tzinfo else after.date()
