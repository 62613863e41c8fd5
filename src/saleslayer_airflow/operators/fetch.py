"""Stage 1: land the raw ERP export in staging, unchanged, with its fingerprint."""

from __future__ import annotations

import time
from collections.abc import Sequence
from datetime import UTC, date, datetime
from typing import TYPE_CHECKING, Any

from airflow.sdk import Context

from saleslayer_airflow.operators.base import ConnectorStageOperator

if TYPE_CHECKING:
    import jinja2

    from saleslayer_airflow.config.sources import ApiSource
    from saleslayer_airflow.sources.base import LandedFile
    from saleslayer_airflow.sources.history import LastFetch


class FetchSourceOperator(ConnectorStageOperator):
    """Fetch the export described by the connector's `source:` section into staging.

    The export lands unchanged in ``<staging base>/<connector>/<run>/landed/`` (see
    :mod:`saleslayer_airflow.staging`) and the task returns, as its XCom::

        {"connector_id": str, "run_folder": "<URI>", "fingerprint": "<sha256 hex>",
         "files": [{"path": "<URI in landed/>", "name": str, "source": "<URL, no credentials>",
                    "size": int, "sha256": str, "remote_mtime": "<ISO-8601 UTC>" | None,
                    "etag": str | None}]}

    **Unchanged exports.** ``fingerprint`` is a SHA-256 over the files' sizes and checksums. The
    fetch that hands an export on records it in ``<base>/<connector>/_state/last_fetch.json``
    (:mod:`saleslayer_airflow.sources.history`); a later run that lands the same fingerprint is
    skipped (AirflowSkipException, so the downstream tasks are skipped) unless the connector's
    ``force`` or the run's ``force`` param is true. A retry of the run that wrote the record is
    never skipped.

    **Missing export** (``source.on_missing``): ``fail`` fails the task at once with the
    connection id, the path or URL and what to check; ``skip`` skips the run; ``wait`` looks
    again every ``poke_interval`` until ``timeout``, then fails (a sensor in poke mode).

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
        """Render ``source`` with ``ds``/``ds_nodash`` set from ``export_date`` when needed."""
        export_date = export_date_for(context)
        if export_date is not None:
            context["ds"] = export_date.isoformat()
            context["ds_nodash"] = export_date.strftime("%Y%m%d")
        super().render_template_fields(context, jinja_env)

    def execute(self, context: Context) -> dict[str, Any]:
        from airflow.sdk.exceptions import AirflowFailException, AirflowSkipException

        from saleslayer_airflow import staging
        from saleslayer_airflow.exceptions import TerminalError
        from saleslayer_airflow.sources.fingerprint import combined_fingerprint
        from saleslayer_airflow.sources.history import FetchHistory

        config = self.connector_config
        run_id = context["run_id"]
        base = staging.staging_base_uri(config.staging.base)
        run_folder = staging.run_folder(base, config.id, run_id)
        history = FetchHistory(staging.connector_folder(base, config.id))
        last = history.read()
        started = datetime.now(UTC)
        try:
            files = self._fetch_or_wait(context, run_folder, last)
        except TerminalError as exc:
            raise AirflowFailException(str(exc)) from exc

        fingerprint = combined_fingerprint(files)
        force = config.force or bool(context["params"].get("force"))
        for landed in files:
            self.log.info(
                "Landed %s from %s: %d bytes, sha256 %s, remote mtime %s, ETag %s",
                landed.name, landed.source, landed.size, landed.sha256,
                landed.remote_mtime, landed.etag,
            )  # fmt: skip
        if last and last.fingerprint == fingerprint and last.run_id != run_id:
            if not force:
                raise AirflowSkipException(
                    f"Export unchanged: fingerprint {fingerprint[:12]} equals that of run "
                    f"{last.run_id!r} ({last.recorded_at}); nothing to import. Trigger with "
                    "param force=true (or set `force: true` in the connector) to import it again"
                )
            self.log.info("Export unchanged since run %s; importing anyway (force)", last.run_id)
        history.record(fingerprint, run_id, started)
        self._clean_old_runs(base, run_id)
        return {
            "connector_id": config.id,
            "run_folder": str(run_folder),
            "fingerprint": fingerprint,
            "files": [f.to_xcom() for f in files],
        }

    def _fetch_or_wait(
        self, context: Context, run_folder: Any, last: LastFetch | None
    ) -> list[LandedFile]:
        """Fetch once; on a missing export apply ``on_missing`` (fail, skip, or poke and wait)."""
        from airflow.sdk.exceptions import AirflowSkipException

        from saleslayer_airflow.config.sources import MissingPolicy
        from saleslayer_airflow.sources.errors import ExportMissingError, ExportWaitTimeoutError

        source = self.typed_source()
        policy = source.on_missing
        started = time.monotonic()
        while True:
            try:
                return self._fetch_once(context, run_folder, last)
            except ExportMissingError as missing:
                if policy.policy is MissingPolicy.SKIP:
                    raise AirflowSkipException(
                        f"Skipping the run (on_missing: skip): {missing}"
                    ) from None
                if policy.policy is MissingPolicy.FAIL:
                    raise
                waited = time.monotonic() - started
                remaining = policy.timeout.total_seconds() - waited
                if remaining <= 0:
                    raise ExportWaitTimeoutError(missing, waited) from None
                pause = min(policy.poke_interval.total_seconds(), remaining)
                self.log.info("Export not there yet (%s); looking again in %.0fs", missing, pause)
                time.sleep(pause)

    def typed_source(self) -> Any:
        """The rendered `source:` section, checked against its model."""
        from pydantic import TypeAdapter

        from saleslayer_airflow.config.sources import Source

        return TypeAdapter(Source).validate_python(self.source)

    def _fetch_once(
        self, context: Context, run_folder: Any, last: LastFetch | None
    ) -> list[LandedFile]:
        from saleslayer_airflow import staging
        from saleslayer_airflow.config.sources import ApiSource, HttpSource, SftpSource
        from saleslayer_airflow.sources.base import fetch_from_server

        source = self.typed_source()
        landed = run_folder / staging.LANDED
        if isinstance(source, ApiSource):
            return self._fetch_api(source, context, run_folder, last)
        _empty(landed)  # leftovers of an earlier attempt of this run
        if isinstance(source, HttpSource):
            from saleslayer_airflow.sources.http import fetch_http

            return fetch_http(source, landed)
        if isinstance(source, SftpSource):
            from saleslayer_airflow.sources.sftp import sftp_server

            with sftp_server(source.conn_id) as sftp:
                return fetch_from_server(sftp, source, landed)
        from saleslayer_airflow.sources.ftp import ftp_server

        with ftp_server(source.conn_id, tls=source.kind == "ftps") as ftp:
            return fetch_from_server(ftp, source, landed)

    def _fetch_api(
        self, source: ApiSource, context: Context, run_folder: Any, last: LastFetch | None
    ) -> list[LandedFile]:
        from saleslayer_airflow import staging
        from saleslayer_airflow.sources.api import fetch_api

        since = None
        if source.incremental:
            since = source.incremental.initial
            if last is not None:
                since = last.started.strftime(source.incremental.format)
            self.log.info("Incremental: %s=%s", source.incremental.param, since)
        try:
            checkpoint: Any = context["task_state_store"]
        except KeyError:  # not provided (an Airflow without the task state store): no resume
            checkpoint = _MemoryCheckpoint()
        landed = run_folder / staging.LANDED
        return fetch_api(
            source,
            landed,
            run_folder / staging.FETCH_PAGES,
            checkpoint,
            since=since,
            log=self.log.info,
        )

    def _clean_old_runs(self, base: str, run_id: str) -> None:
        from saleslayer_airflow import staging

        config = self.connector_config
        try:
            removed = staging.clean_old_runs(
                base, config.id, config.staging.retention_days, keep=run_id
            )
        except OSError as exc:  # clean-up must never fail an import
            self.log.warning("Could not clean old run folders: %s", exc)
            return
        if removed:
            self.log.info(
                "Removed %d run folders older than %d days: %s",
                len(removed), config.staging.retention_days, ", ".join(removed),
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


def _empty(folder: Any) -> None:
    if folder.exists():
        for child in folder.iterdir():
            if child.is_file():
                child.unlink()


class _MemoryCheckpoint(dict[str, Any]):
    """A checkpoint that lives as long as the task attempt (no resume across retries)."""

    def set(self, key: str, value: Any) -> None:
        self[key] = value

    def delete(self, key: str) -> None:
        self.pop(key, None)
