"""Tell people how a run ended: a webhook POST or an e-mail, per the connector's `alerting:`.

The message carries the connector, the run, the outcome, Airflow's reason and, when the report
stage got to write it, the per-table counts. It never carries a secret: the connector file holds
none, webhook URLs and tokens stay in their Airflow connection, and the report holds counts only.
A failing alert is logged and never fails anything else.
"""

from __future__ import annotations

import json
import logging
from collections.abc import Sequence
from typing import Any

from saleslayer_airflow.staging import REPORT_FILE, run_folder, staging_base_uri

log = logging.getLogger(__name__)

_COUNTS = ("read", "created", "updated", "unchanged", "stale", "skipped", "rejected", "failed")


def _run_id(context: Any) -> str:
    if context.get("run_id"):
        return str(context["run_id"])
    dag_run = context.get("dag_run")
    return str(getattr(dag_run, "run_id", "unknown run"))


def read_report(staging_base: str | None, connector_id: str, run_id: str) -> dict[str, Any] | None:
    """The run's report.json, when the report stage wrote one."""
    path = run_folder(staging_base_uri(staging_base), connector_id, run_id) / REPORT_FILE
    try:
        with path.open("r", encoding="utf-8") as handle:
            report: dict[str, Any] = json.load(handle)
            return report
    except (FileNotFoundError, json.JSONDecodeError):
        return None


def alert_message(
    connector_id: str, outcome: str, context: Any, report: dict[str, Any] | None
) -> dict[str, Any]:
    """The JSON body of a webhook alert (the e-mail shows the same facts as text)."""
    run_id = _run_id(context)
    ti = context.get("ti")
    lines = [f"Sales Layer import {connector_id!r}: run {run_id} {outcome}."]
    if context.get("reason"):
        lines.append(f"Reason: {context['reason']}")
    if ti is not None and outcome == "failed":
        lines.append(f"Last task: {ti.task_id}")
    if report:
        for table, row in report.get("tables", {}).items():
            counts = ", ".join(f"{k} {row[k]}" for k in _COUNTS if k in row)
            lines.append(f"{table}: {row.get('status', '')}: {counts}")
    return {
        "connector_id": connector_id,
        "dag_id": connector_id,
        "run_id": run_id,
        "outcome": outcome,
        "reason": context.get("reason"),
        "last_task": getattr(ti, "task_id", None),
        "report": report,
        "text": "\n".join(lines),
    }


class RunOutcomeNotifier:
    """DAG-level callback sending the run's outcome to every alert configured for it.

    A plain callable rather than an Airflow BaseNotifier: it renders no template, and Airflow
    calls DAG callbacks with different DAG objects (the parsed DAG in the DAG processor, a
    serialized one under ``dag.test()``), which BaseNotifier's templating does not all accept.

    :param connector_id: the connector (and DAG) id.
    :param outcome: "failed" or "succeeded".
    :param alerts: the `alerting.on_failure` / `on_success` entries as plain data.
    :param staging_base: the connector's `staging.base`, to find the run's report.
    """

    def __init__(
        self,
        *,
        connector_id: str,
        outcome: str,
        alerts: Sequence[dict[str, Any]],
        staging_base: str | None = None,
    ) -> None:
        self.connector_id = connector_id
        self.outcome = outcome
        self.alerts = list(alerts)
        self.staging_base = staging_base

    def __call__(self, context: Any) -> None:
        self.notify(context)

    def notify(self, context: Any) -> None:
        report = read_report(self.staging_base, self.connector_id, _run_id(context))
        message = alert_message(self.connector_id, self.outcome, context, report)
        for alert in self.alerts:
            try:
                if alert["kind"] == "webhook":
                    self._webhook(alert, message)
                else:
                    self._email(alert, message)
            except Exception as exc:
                # Reported where Airflow logs callbacks; the message names the connection only.
                log.error(
                    "Sales Layer alert %s through connection %r failed: %s: %s",
                    alert["kind"],
                    alert["conn_id"],
                    type(exc).__name__,
                    exc,
                )

    @staticmethod
    def _webhook(alert: dict[str, Any], message: dict[str, Any]) -> None:
        from airflow.providers.http.hooks.http import HttpHook

        hook = HttpHook(method="POST", http_conn_id=alert["conn_id"])
        hook.run(
            alert.get("endpoint", ""),
            json=message,
            headers={"Content-Type": "application/json"},
            extra_options={"timeout": 30},
        )

    @staticmethod
    def _email(alert: dict[str, Any], message: dict[str, Any]) -> None:
        from html import escape

        from airflow.providers.smtp.notifications.smtp import SmtpNotifier

        subject = f"Sales Layer import {message['connector_id']} {message['outcome']}"
        SmtpNotifier(
            to=alert["to"],
            subject=subject,
            html_content=f"<pre>{escape(message['text'])}</pre>",
            smtp_conn_id=alert["conn_id"],
        ).notify({})
