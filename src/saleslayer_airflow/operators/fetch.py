"""Stage 1: land the raw ERP export in staging, unchanged, with its fingerprint (the stage:
:mod:`saleslayer_airflow.sources.stage`)."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import UTC, date, datetime
from typing import TYPE_CHECKING, Any

from airflow.sdk import Context

from saleslayer_airflow.operators.base import ConnectorStageOperator

if TYPE_CHECKING:
    import jinja2

    from saleslayer_airflow.config.sources import Source
    from saleslayer_airflow.sources.api import Checkpoint


class FetchSourceOperator(ConnectorStageOperator):
    """Fetch the export described by the connector's `source:` section into staging.

    The export lands unchanged in ``<staging base>/<connector>/<run>/landed/`` (see
    :mod:`saleslayer_airflow.staging`) and the task returns, as its XCom, a
    :class:`~saleslayer_airflow.contracts.FetchResult`: the run folder, the fingerprint and
    each landed file (its URI in ``landed/``, name, URL without credentials, size, SHA-256,
    remote mtime, ETag, and its name in ``source.files``).

    **Named files.** A source with ``files: {categories: ..., products: ...}`` lands every named
    file in ``landed/<name>/`` and tags it with ``"file": "<name>"``; the split stage feeds each
    table only the files its ``file:`` names.

    **Unchanged exports.** ``fingerprint`` is a SHA-256 over all the files' sizes and checksums.
    The report of a run that imported its export wholly records it, with what the server said
    about each file (URL, size, mtime, ETag), in ``<base>/<connector>/_state/last_import.json``
    (:mod:`saleslayer_airflow.import_history`). A later run is skipped (AirflowSkipException,
    so the downstream tasks are skipped) when the server says nothing changed since, before any
    download (HTTP: conditional GET answered 304 for every file; FTP/FTPS/SFTP: the same files
    with the same size and mtime), or when it lands the same fingerprint; unless the connector's
    ``force`` or the run's ``force`` param is true. The run that wrote the record is never
    skipped (cleared to run again, it imports again); a run that did not import (a task failed,
    the run was stopped, a dry run) leaves the record as it was.

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
        self, context: Context, event: object = None, first_look: str | None = None
    ) -> dict[str, Any]:
        """Resume after an ``on_missing: wait`` deferral: look for the export again.

        The time of the first look comes in the method kwargs (Airflow's triggerer) or in the
        trigger's event (``dag.test()`` passes only the event).
        """
        if first_look is None and isinstance(event, dict):
            first_look = event.get("first_look")
        return self._import(context, first_look=first_look)

    def _import(self, context: Context, first_look: str | None) -> dict[str, Any]:
        from airflow.sdk.exceptions import AirflowFailException, AirflowSkipException

        from saleslayer_airflow.exceptions import TerminalError
        from saleslayer_airflow.sources.recheck import LookAgainTrigger
        from saleslayer_airflow.sources.stage import (
            FetchStageRequest,
            RunSkipped,
            WaitForExport,
            fetch_stage,
        )

        config = self.connector_config
        request = FetchStageRequest(
            config=config,
            source=self.typed_source(),
            run_id=context["run_id"],
            force=config.force or bool(context["params"].get("force")),
            checkpoint=_checkpoint(context),
            log=self.log,
            first_look=first_look,
        )
        try:
            return fetch_stage(request).to_xcom()
        except RunSkipped as skipped:
            # The report task says why the run was skipped, in these words.
            context["ti"].xcom_push(key="skip_reason", value=str(skipped))
            raise AirflowSkipException(str(skipped)) from None
        except WaitForExport as wait:
            # No worker is held until the next look; the first look's time comes back with it.
            self.defer(
                trigger=LookAgainTrigger(wait.moment, wait.first_look),
                method_name="look_again",
                kwargs={"first_look": wait.first_look},
            )
        except TerminalError as exc:
            raise AirflowFailException(str(exc)) from exc

    def typed_source(self) -> Source:
        """The rendered `source:` section, checked against its model."""
        from pydantic import TypeAdapter

        from saleslayer_airflow.config.sources import Source

        return TypeAdapter(Source).validate_python(self.source)


def _checkpoint(context: Context) -> Checkpoint:
    """Where an API source records its landed pages: Airflow's task state store, so a retry
    resumes; without one (an Airflow without it), memory: no resume."""
    from saleslayer_airflow.sources.fetchers import MemoryCheckpoint

    try:
        store: Checkpoint = context["task_state_store"]
    except KeyError:
        return MemoryCheckpoint()
    return store


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
