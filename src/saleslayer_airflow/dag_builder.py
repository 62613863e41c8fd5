"""Materialise a ConnectorPlan as an Airflow DAG: the only place that instantiates operators."""

from __future__ import annotations

from datetime import date, timedelta
from typing import Any

from saleslayer_airflow.config.models import ConnectorConfig
from saleslayer_airflow.docs import render_doc_md, render_task_doc_md
from saleslayer_airflow.plan import ConnectorPlan, Stage, TaskSpec

#: Tag added to every connector DAG, so they can be filtered in the UI.
PACKAGE_TAG = "saleslayer"

#: Group of the Sales Layer table assets in the UI's asset list.
ASSET_GROUP = "saleslayer"


def _schedule(config: ConnectorConfig) -> Any:
    """Cron and presets as an explicit CronTriggerTimetable: a run's `ds` is its own date,
    whatever `[scheduler] create_cron_data_intervals` says."""
    if config.schedule is None or config.schedule in {"@once", "@continuous"}:
        return config.schedule
    from airflow.sdk import CronTriggerTimetable

    return CronTriggerTimetable(config.schedule, timezone=config.timezone)


def _datetime(day: date | None, tz: str) -> Any:
    if day is None:
        return None
    import pendulum

    return pendulum.datetime(day.year, day.month, day.day, tz=tz)


def _params(config: ConnectorConfig) -> dict[str, Any]:
    from airflow.sdk import Param

    return {
        "force": Param(
            config.force,
            type="boolean",
            description="Import even when the export equals the last one imported.",
        ),
        "dry_run": Param(
            config.target.dry_run,
            type="boolean",
            description="Do everything except write to Sales Layer; report what would change.",
        ),
        "export_date": Param(
            None,
            type=["null", "string"],
            format="date",
            description="For runs without a logical date: the date of the export to import "
            "(YYYY-MM-DD). Empty: the run's logical date, else the newest export.",
        ),
    }


def _asset(spec: TaskSpec) -> Any:
    """The Airflow Asset of the Sales Layer table a push writes: an asset event per successful
    push, for lineage and for DAGs scheduled on the table."""
    from airflow.sdk import Asset

    assert spec.asset is not None and spec.table is not None
    return Asset(name=spec.asset.name, uri=spec.asset.uri, group=ASSET_GROUP)


def _operator(spec: TaskSpec, config: ConnectorConfig, dag: Any) -> Any:
    from saleslayer_airflow.operators import (
        FetchSourceOperator,
        ImportReportOperator,
        PushTableOperator,
        ValidateAndSplitOperator,
    )

    common: dict[str, Any] = {
        "task_id": spec.task_id,
        "connector": config.model_dump(mode="json"),
        "doc_md": render_task_doc_md(spec, config),
        "dag": dag,
    }
    if spec.stage is Stage.FETCH:
        return FetchSourceOperator(source=config.source.model_dump(mode="json"), **common)
    if spec.stage is Stage.SPLIT:
        return ValidateAndSplitOperator(**common)
    if spec.stage is Stage.PUSH:
        assert spec.table is not None
        from airflow.sdk import ExceptionRetryPolicy, RetryAction, RetryRule

        # Evaluated on the real exception in the worker: a transient Sales Layer error (429,
        # 5xx, timeouts, codes 10/11/14) is worth Airflow's retries once the client's own
        # backoff gave up; bad credentials, a denied import or a broken state store are not.
        retry_policy = ExceptionRetryPolicy(
            rules=[
                RetryRule(
                    exception="saleslayer_airflow.exceptions.SalesLayerTransientError",
                    action=RetryAction.RETRY,
                    reason="transient Sales Layer error: retried by Airflow",
                ),
                RetryRule(
                    exception="saleslayer_airflow.exceptions.TerminalError",
                    action=RetryAction.FAIL,
                    reason="terminal error (credentials, validation, configuration): not retried",
                ),
            ]
        )
        return PushTableOperator(
            table=spec.table,
            pool=config.target.pool,
            retry_policy=retry_policy,
            outlets=[_asset(spec)],
            **common,
        )
    return ImportReportOperator(trigger_rule="all_done", **common)


def _callbacks(config: ConnectorConfig, outcome: str, alerts: list[Any]) -> Any:
    if not alerts:
        return None
    from saleslayer_airflow.alerts import RunOutcomeNotifier

    return [
        RunOutcomeNotifier(
            connector_id=config.id,
            outcome=outcome,
            alerts=[a.model_dump(mode="json") for a in alerts],
            staging_base=config.staging.base,
        )
    ]


def build_dag(plan: ConnectorPlan, source_file: str) -> Any:
    """The DAG of one connector. ``source_file`` is shown in its docs."""
    from airflow.sdk import DAG

    config = plan.config
    dag = DAG(
        dag_id=config.id,
        description=" ".join(config.description.split())[:200],
        schedule=_schedule(config),
        start_date=_datetime(config.start_date, config.timezone),
        end_date=_datetime(config.end_date, config.timezone),
        catchup=config.catchup,
        max_active_runs=config.max_active_runs,
        tags=sorted({PACKAGE_TAG, *config.tags}),
        doc_md=render_doc_md(plan, source_file),
        params=_params(config),
        on_failure_callback=_callbacks(config, "failed", config.alerting.on_failure),
        on_success_callback=_callbacks(config, "succeeded", config.alerting.on_success),
        default_args={
            "owner": config.owner,
            "retries": config.retries,
            "retry_delay": config.retry_delay,
            "retry_exponential_backoff": 2.0,
            "max_retry_delay": max(config.retry_delay, timedelta(hours=1)),
        },
    )
    tasks = {spec.task_id: _operator(spec, config, dag) for spec in plan.tasks}
    for spec in plan.tasks:
        for upstream in spec.upstream:
            tasks[upstream] >> tasks[spec.task_id]
    return dag
