"""Turn every connector file of a folder into a DAG, for a DAG file in Airflow's dags folder.

A broken connector file never hides the others: the good ones become DAGs, and the problems of the
broken ones (file, line, field, message) surface as one DAG import error of the loader file, which
the Airflow UI shows under "Dag Import Errors". Keys a file still writes under a deprecated name
work, and are logged as warnings naming the file, the line and the new name.
"""

from __future__ import annotations

import logging
import os
import re
from collections.abc import MutableMapping, Sequence
from pathlib import Path
from typing import Any

from saleslayer_airflow.config.load import display_path, find_connector_files, load_connectors
from saleslayer_airflow.exceptions import ConnectorConfigError, Problem

log = logging.getLogger(__name__)

#: Environment variable that points the loader at another folder of connector files.
CONNECTORS_DIR_ENV = "SALESLAYER_CONNECTORS_DIR"


def connectors_dir(default: Path) -> Path:
    """The folder to load: ``$SALESLAYER_CONNECTORS_DIR`` when set, else ``default``."""
    configured = os.environ.get(CONNECTORS_DIR_ENV)
    return Path(configured) if configured else default


def _broken_connectors_dag(problems: Sequence[Problem]) -> Any:
    """A DAG object that Airflow refuses to add to its DagBag, recording our problems instead.

    Airflow validates each DAG of a file separately and turns a validation failure into an import
    error of that file while still adding the file's other DAGs: exactly the isolation wanted here.
    """
    from airflow.sdk import DAG

    class BrokenConnectors(DAG):
        def validate(self) -> None:
            raise ConnectorConfigError(problems)

    return BrokenConnectors(dag_id="saleslayer_broken_connectors", schedule=None)


def _global_name(dag_id: str) -> str:
    return "dag_" + re.sub(r"\W", "_", dag_id)


def load_connector_dags(
    namespace: MutableMapping[str, Any], directory: Path, project_root: Path | None = None
) -> dict[str, Any]:
    """Build one DAG per connector file in ``directory`` into ``namespace`` (a module's globals).

    Files inside ``project_root`` are named relative to it in docs and errors, others by their
    absolute path. Returns the DAGs built, by id. When Airflow runs a task, only that task's DAG
    is built.
    """
    root = project_root if project_root is not None else Path.cwd()
    if not directory.is_dir():
        raise FileNotFoundError(
            f"connector folder {display_path(directory)} does not exist; create it, or set "
            f"{CONNECTORS_DIR_ENV} to the folder that holds the connector *.yaml files"
        )
    from airflow.sdk import get_parsing_context

    from saleslayer_airflow.dag_builder import build_dag
    from saleslayer_airflow.plan import plan_connector

    only = get_parsing_context().dag_id
    result = load_connectors(find_connector_files([directory]), base=root)
    built: dict[str, Any] = {}
    problems = list(result.problems)
    for path, config in result.connectors.items():
        if only is not None and config.id != only:
            continue
        # Logged where the file is parsed (DAG processor log, and the log of each task of
        # this connector): the file still works, so this is a warning, not an import error.
        for deprecation in result.deprecations.get(path, []):
            log.warning("%s", deprecation)
        try:
            plan = plan_connector(config)
        except ValueError as exc:
            problems.append(Problem(display_path(path, root), 1, "tables", str(exc)))
            continue
        dag = build_dag(plan, display_path(path, root))
        built[config.id] = namespace[_global_name(config.id)] = dag
    if problems:
        namespace["saleslayer_broken_connectors"] = _broken_connectors_dag(problems)
    return built
