"""What the connector pages show, read from Airflow's metadata database: the connector DAGs
(tagged ``saleslayer``), their runs, the runs' task instances and the XCom the tasks already
write (the report task's summary: the same body as the run's ``report.json``; each push task's
counts and, for a dry run, its sample of changed fields).

A handful of queries per page, whatever the number of connectors and runs: the latest runs per
DAG are picked by a window function in the database, and the task instances and XComs of every
shown run come in one query each (see ``bench/ui_pages.py`` for the figures). Nothing here
checks permissions: the web app passes the DAG ids the user may read
(:mod:`saleslayer_airflow.ui.app`).
"""

from __future__ import annotations

from collections.abc import Collection, Iterable, Mapping, Sequence
from contextlib import AbstractContextManager
from dataclasses import dataclass, field
from datetime import datetime
from typing import TYPE_CHECKING, Any, TypeAlias

from saleslayer_airflow.contracts import FETCH_TASK, REPORT_TASK, SPLIT_TASK, push_task_id
from saleslayer_airflow.report.summary import BALANCE_TERMS

if TYPE_CHECKING:
    from sqlalchemy import Row
    from sqlalchemy.orm import Session

#: A task's XCom as JSON gives it: the report task's body (report.json's), a push task's counts.
#: Read with isinstance checks: it comes from another process, possibly an older release.
XComBody: TypeAlias = Mapping[str, object]

#: The DAG tag every connector DAG carries (dag_builder.PACKAGE_TAG; not imported: the web app
#: must not import the DAG builder and its dependencies).
CONNECTOR_TAG = "saleslayer"
#: The counts of a table's line, in the report's order.
TABLE_TERMS = BALANCE_TERMS
PUSH_PREFIX = push_task_id("")


@dataclass(frozen=True)
class TaskSpan:
    """One task instance of a run: its state and how long it took (None: it did not run)."""

    task_id: str
    state: str | None
    duration: float | None


@dataclass(frozen=True)
class RunView:
    """One connector run as the pages show it."""

    dag_id: str
    run_id: str
    state: str | None
    run_type: str
    run_after: datetime
    logical_date: datetime | None
    start: datetime | None
    end: datetime | None
    tasks: Mapping[str, TaskSpan] = field(default_factory=dict)
    #: the report task's XCom (report.json's body); None when it wrote none
    report: XComBody | None = None
    #: push task id -> its XCom (counts, and a dry run's ``sample``)
    pushes: Mapping[str, XComBody] = field(default_factory=dict)

    @property
    def duration(self) -> float | None:
        if self.start is None or self.end is None:
            return None
        return (self.end - self.start).total_seconds()

    @property
    def skipped_unchanged(self) -> bool:
        """The run imported nothing because the export had not changed (or was missing with
        ``on_missing: skip``): its fetch, and so its report, were skipped."""
        fetch = self.tasks.get(FETCH_TASK)
        return fetch is not None and fetch.state == "skipped"

    @property
    def tables(self) -> dict[str, dict[str, int]]:
        """Per table its counts (``read`` and :data:`TABLE_TERMS`); empty without a report."""
        found = (self.report or {}).get("tables")
        if not isinstance(found, Mapping):
            return {}
        return {
            str(name): {key: _int(counts.get(key)) for key in ("read", *TABLE_TERMS)}
            for name, counts in found.items()
            if isinstance(counts, Mapping)
        }

    @property
    def target(self) -> str | None:
        value = (self.report or {}).get("target")
        return value if isinstance(value, str) and value else None

    @property
    def dry_run(self) -> bool:
        return bool((self.report or {}).get("dry_run"))

    def sent(self, table: str) -> int:
        """Items of ``table`` Sales Layer answered for (created, updated, skipped)."""
        counts = self.tables.get(table, {})
        return counts.get("created", 0) + counts.get("updated", 0) + counts.get("skipped", 0)

    @property
    def read(self) -> int:
        return sum(c["read"] for c in self.tables.values())

    @property
    def rejected(self) -> int:
        return sum(c["rejected"] for c in self.tables.values())

    @property
    def reject_rate(self) -> float | None:
        """Rejected rows over rows read, all tables together; None without a report."""
        read = self.read
        return None if not self.tables or read == 0 else self.rejected / read

    def stage_seconds(self) -> dict[str, float]:
        """Seconds per stage: fetch, split, push (every table's push task, summed), report."""
        stages = {"fetch": 0.0, "split": 0.0, "push": 0.0, "report": 0.0}
        for span in self.tasks.values():
            if span.duration is None:
                continue
            if span.task_id == FETCH_TASK:
                stages["fetch"] += span.duration
            elif span.task_id == SPLIT_TASK:
                stages["split"] += span.duration
            elif span.task_id.startswith(PUSH_PREFIX):
                stages["push"] += span.duration
            elif span.task_id == REPORT_TASK:
                stages["report"] += span.duration
        return stages


@dataclass(frozen=True)
class ConnectorView:
    """One connector DAG on the overview: what it is and its latest run."""

    dag_id: str
    tags: tuple[str, ...]
    paused: bool
    next_run: datetime | None
    schedule: str | None
    last: RunView | None

    @property
    def target(self) -> str | None:
        return None if self.last is None else self.last.target


def _int(value: object) -> int:
    return value if isinstance(value, int) and not isinstance(value, bool) else 0


def _session() -> AbstractContextManager[Session]:
    from airflow.utils.session import create_session

    return create_session()


def connectors(permitted: Collection[str] | None) -> list[ConnectorView]:
    """The connector DAGs among ``permitted`` (None: every one), with their latest run, ordered
    by DAG id."""
    from airflow.models.dag import DagModel, DagTag
    from sqlalchemy import select

    with _session() as session:
        query = (
            select(
                DagModel.dag_id,
                DagModel.is_paused,
                DagModel.next_dagrun_create_after,
                DagModel.timetable_summary,
            )
            .join(DagTag, DagTag.dag_id == DagModel.dag_id)
            .where(DagTag.name == CONNECTOR_TAG, DagModel.is_stale.is_(False))
            .order_by(DagModel.dag_id)
        )
        if permitted is not None:
            query = query.where(DagModel.dag_id.in_(list(permitted)))
        rows = session.execute(query).all()
        ids = [row.dag_id for row in rows]
        tags: dict[str, list[str]] = {dag_id: [] for dag_id in ids}
        if ids:
            for dag_id, name in session.execute(
                select(DagTag.dag_id, DagTag.name).where(DagTag.dag_id.in_(ids))
            ):
                tags[dag_id].append(name)
        latest = {run.dag_id: run for run in _latest_runs(session, ids, per_dag=1)}
    return [
        ConnectorView(
            dag_id=row.dag_id,
            tags=tuple(sorted(tags[row.dag_id])),
            paused=bool(row.is_paused),
            next_run=None if row.is_paused else row.next_dagrun_create_after,
            schedule=row.timetable_summary,
            last=latest.get(row.dag_id),
        )
        for row in rows
    ]


def keep(
    found: Iterable[ConnectorView], *, tag: str | None = None, state: str | None = None
) -> list[ConnectorView]:
    """The connectors with ``tag`` among their tags and whose latest run is in ``state``
    (``none``: never ran); unset: no filter."""
    kept = list(found)
    if tag:
        kept = [c for c in kept if tag in c.tags]
    if state:
        kept = [
            c
            for c in kept
            if (c.last is None and state == "none")
            or (c.last is not None and c.last.state == state)
        ]
    return kept


def runs(dag_id: str, limit: int = 30) -> list[RunView]:
    """The latest ``limit`` runs of one DAG, newest first."""
    with _session() as session:
        return _latest_runs(session, [dag_id], per_dag=limit)


def run(dag_id: str, run_id: str) -> RunView | None:
    """One run, with its push tasks' XComs (None: no such run)."""
    from airflow.models.dagrun import DagRun
    from sqlalchemy import select

    with _session() as session:
        found = session.execute(
            select(*_run_columns()).where(DagRun.dag_id == dag_id, DagRun.run_id == run_id)
        ).one_or_none()
        if found is None:
            return None
        return _with_details(session, [found], pushes=True)[0]


def _run_columns() -> list[Any]:
    """The columns of a run :class:`RunView` shows."""
    from airflow.models.dagrun import DagRun

    return [
        DagRun.dag_id,
        DagRun.run_id,
        DagRun._state.label("state"),
        DagRun.run_type,
        DagRun.run_after,
        DagRun.logical_date,
        DagRun.start_date,
        DagRun.end_date,
    ]


def _latest_runs(session: Session, dag_ids: Sequence[str], *, per_dag: int) -> list[RunView]:
    """The ``per_dag`` latest runs (by ``run_after``) of each DAG, newest first per DAG."""
    from airflow.models.dagrun import DagRun
    from sqlalchemy import func, select

    if not dag_ids:
        return []
    rank = (
        func.row_number()
        .over(partition_by=DagRun.dag_id, order_by=(DagRun.run_after.desc(), DagRun.id.desc()))
        .label("rank")
    )
    ranked = select(*_run_columns(), rank).where(DagRun.dag_id.in_(list(dag_ids))).subquery()
    rows = session.execute(
        select(ranked).where(ranked.c.rank <= per_dag).order_by(ranked.c.dag_id, ranked.c.rank)
    ).all()
    return _with_details(session, rows, pushes=False)


def _with_details(session: Session, rows: Sequence[Row[Any]], *, pushes: bool) -> list[RunView]:
    """Runs with their task instances and the report's XCom (and the pushes' when asked)."""
    from airflow.models.taskinstance import TaskInstance
    from airflow.models.xcom import XComModel
    from sqlalchemy import or_, select

    if not rows:
        return []
    dag_ids = sorted({row.dag_id for row in rows})
    run_ids = sorted({row.run_id for row in rows})
    wanted = {(row.dag_id, row.run_id) for row in rows}
    tasks: dict[tuple[str, str], dict[str, TaskSpan]] = {key: {} for key in wanted}
    for dag_id, run_id, task_id, state, duration in session.execute(
        select(
            TaskInstance.dag_id,
            TaskInstance.run_id,
            TaskInstance.task_id,
            TaskInstance.state,
            TaskInstance.duration,
        ).where(
            TaskInstance.dag_id.in_(dag_ids),
            TaskInstance.run_id.in_(run_ids),
            TaskInstance.map_index == -1,
        )
    ):
        if (dag_id, run_id) in wanted:
            tasks[(dag_id, run_id)][task_id] = TaskSpan(task_id, state, duration)
    which = XComModel.task_id == REPORT_TASK
    if pushes:
        which = or_(which, XComModel.task_id.like(f"{PUSH_PREFIX}%"))
    reports: dict[tuple[str, str], XComBody] = {}
    pushed: dict[tuple[str, str], dict[str, XComBody]] = {key: {} for key in wanted}
    for row in session.execute(
        select(XComModel.dag_id, XComModel.run_id, XComModel.task_id, XComModel.value).where(
            XComModel.dag_id.in_(dag_ids),
            XComModel.run_id.in_(run_ids),
            XComModel.key == "return_value",
            XComModel.map_index == -1,
            which,
        )
    ):
        key = (row.dag_id, row.run_id)
        if key not in wanted:
            continue
        value = XComModel.deserialize_value(row)
        if not isinstance(value, Mapping):
            continue
        if row.task_id == REPORT_TASK:
            reports[key] = value
        else:
            pushed[key][row.task_id] = value
    return [
        RunView(
            dag_id=row.dag_id,
            run_id=row.run_id,
            state=row.state,
            run_type=str(row.run_type),
            run_after=row.run_after,
            logical_date=row.logical_date,
            start=row.start_date,
            end=row.end_date,
            tasks=tasks[(row.dag_id, row.run_id)],
            report=reports.get((row.dag_id, row.run_id)),
            pushes=pushed[(row.dag_id, row.run_id)],
        )
        for row in rows
    ]


def table_names(views: Iterable[RunView]) -> list[str]:
    """Every table the runs reported, in order of first appearance."""
    return list(dict.fromkeys(name for view in views for name in view.tables))
