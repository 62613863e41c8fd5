"""The typed plan of one connector's DAG, built from its config without touching Airflow.

fetch_source -> validate_and_split -> push_<table> ... -> report

Pushes follow Sales Layer's dependencies: parent categories before the products that sit in them,
products before their variants, and a table before the custom entities that link to it. Points of
sale and unlinked custom entities run alongside. The report runs whatever the pushes did.
"""

from __future__ import annotations

from dataclasses import dataclass
from enum import StrEnum

from saleslayer_airflow.config.models import ConnectorConfig
from saleslayer_airflow.contracts import FETCH_TASK as FETCH_TASK
from saleslayer_airflow.contracts import REPORT_TASK as REPORT_TASK
from saleslayer_airflow.contracts import SPLIT_TASK as SPLIT_TASK
from saleslayer_airflow.contracts import push_task_id as push_task_id
from saleslayer_airflow.tables import KINDS


class Stage(StrEnum):
    """The four stages of an import run."""

    FETCH = "fetch"
    SPLIT = "split"
    PUSH = "push"
    REPORT = "report"


#: URI scheme of the Airflow Assets standing for Sales Layer tables (no provider registers it;
#: Airflow 3.3 keeps unknown schemes as given).
ASSET_SCHEME = "saleslayer"


@dataclass(frozen=True)
class TableAsset:
    """The Airflow Asset standing for one Sales Layer table of one account (connection).

    Stable across connectors: every connector writing ``products`` through ``saleslayer_default``
    updates the same asset, so downstream DAGs scheduled on it run whichever import wrote it.
    """

    name: str
    uri: str


def table_asset(conn_id: str, import_table: str) -> TableAsset:
    """``saleslayer.<conn_id>.<table>``, ``saleslayer://<conn_id>/<table>``."""
    return TableAsset(
        f"{ASSET_SCHEME}.{conn_id}.{import_table}", f"{ASSET_SCHEME}://{conn_id}/{import_table}"
    )


@dataclass(frozen=True)
class TaskSpec:
    """One task of the DAG: its id, stage, upstream task ids, and for pushes the table and the
    asset the push updates."""

    task_id: str
    stage: Stage
    upstream: tuple[str, ...] = ()
    table: str | None = None
    asset: TableAsset | None = None


@dataclass(frozen=True)
class ConnectorPlan:
    """Everything needed to materialise a connector's DAG, in dependency order."""

    config: ConnectorConfig
    tasks: tuple[TaskSpec, ...]

    @property
    def dag_id(self) -> str:
        return self.config.id

    def assets(self) -> dict[str, TableAsset]:
        """The asset each table's push updates, by table key."""
        return {t.table: t.asset for t in self.tasks if t.table is not None and t.asset}

    def push_order(self) -> list[str]:
        """Tables in the order their pushes may start."""
        return [t.table for t in self.tasks if t.stage is Stage.PUSH and t.table is not None]


def _push_dependencies(config: ConnectorConfig) -> dict[str, list[str]]:
    """For each table, the tables whose push must finish first."""
    kinds = config.table_kinds()
    by_kind = {kind: key for key, kind in kinds.items()}
    deps: dict[str, list[str]] = {key: [] for key in kinds}
    for key, kind in kinds.items():
        parent = KINDS[kind].parent_kind
        if parent is not None and parent is not kind and parent in by_kind:
            deps[key].append(by_kind[parent])
        for linked in config.tables[key].links:
            if linked in kinds and linked != key:
                deps[key].append(linked)
    return deps


def _topological(deps: dict[str, list[str]]) -> list[str]:
    """Tables with their dependencies first; file order among equals; cycles are errors."""
    order: list[str] = []
    state: dict[str, str] = {}

    def visit(table: str, trail: tuple[str, ...]) -> None:
        if state.get(table) == "done":
            return
        if state.get(table) == "active":
            cycle = " -> ".join((*trail, table))
            raise ValueError(f"tables link to each other in a cycle: {cycle}")
        state[table] = "active"
        for dep in deps[table]:
            visit(dep, (*trail, table))
        state[table] = "done"
        order.append(table)

    for table in deps:
        visit(table, ())
    return order


def plan_connector(config: ConnectorConfig) -> ConnectorPlan:
    """The DAG's tasks for one connector."""
    deps = _push_dependencies(config)
    tasks = [
        TaskSpec(FETCH_TASK, Stage.FETCH),
        TaskSpec(SPLIT_TASK, Stage.SPLIT, upstream=(FETCH_TASK,)),
    ]
    for table in _topological(deps):
        upstream = tuple(push_task_id(d) for d in deps[table]) or (SPLIT_TASK,)
        asset = table_asset(config.target.conn_id, config.tables[table].import_table(table))
        tasks.append(
            TaskSpec(push_task_id(table), Stage.PUSH, upstream=upstream, table=table, asset=asset)
        )
    pushes = tuple(t.task_id for t in tasks if t.stage is Stage.PUSH)
    tasks.append(TaskSpec(REPORT_TASK, Stage.REPORT, upstream=pushes))
    return ConnectorPlan(config=config, tasks=tuple(tasks))
