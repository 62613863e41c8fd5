"""The connector pages of the Airflow UI, rendered to HTML (Jinja templates in ``templates/``,
autoescaped): the connectors overview, a connector's trends, and a run's report.

They are shown in the Airflow UI as external views (an iframe; see
:mod:`saleslayer_airflow.ui.plugin`), so links to Airflow's own pages open at the top level
and links between these pages stay in the frame. Data comes from
:mod:`saleslayer_airflow.ui.runs_data` and, for a run's files, from staging
(:func:`saleslayer_airflow.ui.files.find_run_file`).
"""

from __future__ import annotations

import json
from collections.abc import Mapping, Sequence
from datetime import datetime
from functools import cache
from typing import TYPE_CHECKING
from urllib.parse import quote

from saleslayer_airflow.ui import charts
from saleslayer_airflow.ui.links import URL_PREFIX, api_base_url, run_file_url
from saleslayer_airflow.ui.rejects_summary import SAMPLES, RejectsSummary
from saleslayer_airflow.ui.runs_data import (
    TABLE_TERMS,
    ConnectorView,
    RunView,
    XComBody,
    table_names,
)

if TYPE_CHECKING:
    import jinja2
    from markupsafe import Markup

#: Run states the overview filters by (``none``: never ran).
STATES = ("success", "failed", "running", "queued", "none")
STAGES = ("fetch", "split", "push", "report")
#: Characters of a changed value a dry run's sample shows.
SHOWN_VALUE = 120


@cache
def _environment() -> jinja2.Environment:
    import jinja2

    env = jinja2.Environment(
        loader=jinja2.PackageLoader("saleslayer_airflow.ui", "templates"),
        autoescape=True,
        trim_blocks=True,
        lstrip_blocks=True,
    )
    env.globals.update(
        when=_when,
        percent=_percent,
        seconds=_seconds,
        shown=_shown,
        legend=lambda names: _markup(charts.legend(names)),
        dag_url=dag_url,
        trends_url=trends_url,
        report_url=report_url,
        overview_url=overview_url(),
        terms=TABLE_TERMS,
    )
    return env


def _markup(html: str) -> Markup:
    from markupsafe import Markup

    # built by charts.py, every text in it escaped
    return Markup(html)


def _root() -> str:
    return api_base_url()


def overview_url() -> str:
    return f"{_root()}{URL_PREFIX}/pages/connectors"


def trends_url(dag_id: str) -> str:
    return f"{_root()}{URL_PREFIX}/pages/connectors/{quote(dag_id, safe='')}/trends"


def report_url(dag_id: str, run_id: str) -> str:
    return f"{_root()}{URL_PREFIX}/pages/runs/{quote(dag_id, safe='')}/{quote(run_id, safe='')}"


def dag_url(dag_id: str) -> str:
    """The DAG's page in the Airflow UI."""
    return f"{_root()}/dags/{quote(dag_id, safe='')}"


def _when(value: datetime | None) -> str:
    return "" if value is None else value.strftime("%Y-%m-%d %H:%M UTC")


def _percent(part: int, whole: int) -> str:
    return "—" if not whole else f"{100 * part / whole:.1f}%"


def _seconds(value: float | None) -> str:
    return "—" if value is None else f"{value:,.1f} s"


def _shown(value: object) -> str:
    text = value if isinstance(value, str) else json.dumps(value, ensure_ascii=False, default=str)
    return text if len(text) <= SHOWN_VALUE else text[: SHOWN_VALUE - 1] + "…"


def overview(
    connectors: Sequence[ConnectorView], *, tag: str | None, state: str | None, all_tags: list[str]
) -> str:
    return (
        _environment()
        .get_template("overview.html")
        .render(
            connectors=connectors,
            tag=tag or "",
            state=state or "",
            all_tags=all_tags,
            states=STATES,
            self_url=overview_url(),
        )
    )


def trends(dag_id: str, runs: Sequence[RunView], *, limit: int) -> str:
    """``runs`` newest first (as read); the charts run oldest to newest, left to right."""
    ordered = list(reversed(runs))
    tables = table_names(ordered)
    columns_sent = [
        charts.Column(
            _label(r),
            {t: float(r.sent(t)) for t in tables},
            failed=r.state == "failed",
            title=r.run_id,
        )
        for r in ordered
    ]
    columns_rate = [
        charts.Column(
            _label(r), {"reject rate": r.reject_rate}, failed=r.state == "failed", title=r.run_id
        )
        for r in ordered
    ]
    columns_stages = [
        charts.Column(
            _label(r),
            dict(r.stage_seconds()),
            failed=r.state == "failed",
            title=r.run_id,
        )
        for r in ordered
    ]
    return (
        _environment()
        .get_template("trends.html")
        .render(
            dag_id=dag_id,
            runs=ordered,
            limit=limit,
            tables=tables,
            stages=STAGES,
            self_url=trends_url(dag_id),
            sent_chart=_markup(
                charts.stacked_bars(columns_sent, tables, label="Items sent per table")
            ),
            reject_chart=_markup(
                charts.line(columns_rate, "reject rate", label="Reject rate", percent=True)
            ),
            stage_chart=_markup(
                charts.stacked_bars(
                    columns_stages, STAGES, label="Run duration per stage", unit=" s"
                )
            ),
        )
    )


def _label(view: RunView) -> str:
    return (view.logical_date or view.run_after).strftime("%m-%d")


def run_report(
    dag_id: str,
    run_id: str,
    *,
    view: RunView | None,
    report: XComBody | None,
    rejects: RejectsSummary | None,
    files: Mapping[str, bool],
) -> str:
    """A run's report: ``report`` is its body (XCom or report.json), ``rejects`` its rejects
    file grouped by reason, ``files`` which run files exist (for the download links)."""
    found_tables = (report or {}).get("tables")
    tables = dict(found_tables) if isinstance(found_tables, Mapping) else {}
    samples: dict[str, list[object]] = {}
    if view is not None:
        for task_id, pushed in view.pushes.items():
            found = pushed.get("sample")
            if isinstance(found, list) and found:
                samples[str(pushed.get("table") or task_id)] = found
    return (
        _environment()
        .get_template("run.html")
        .render(
            dag_id=dag_id,
            run_id=run_id,
            view=view,
            report=report or {},
            tables=tables,
            rejects=rejects if rejects is not None and rejects.rows else None,
            samples=SAMPLES,
            samples_by_table=samples,
            balanced=_balanced,
            has_report=files.get("report.json", False),
            has_rejects=files.get("rejects", False),
            has_ignored=files.get("ignored", False),
            file_url=lambda endpoint: run_file_url(dag_id, run_id, endpoint),
        )
    )


def _balanced(table: Mapping[str, object]) -> bool:
    def count(term: str) -> int:
        value = table.get(term)
        return value if isinstance(value, int) else 0

    return count("read") == sum(count(term) for term in TABLE_TERMS)
