"""One Airflow DAG per Sales Layer connector file in include/connectors/.

Airflow only parses files that mention both "airflow" and "dag": this docstring does. Everything
heavy is imported inside the functions that need it, so parsing stays light. Set
SALESLAYER_CONNECTORS_DIR to load connector files from another folder.
"""

from __future__ import annotations

from pathlib import Path

from saleslayer_airflow.dag_loader import connectors_dir, load_connector_dags

PROJECT_ROOT = Path(__file__).resolve().parent.parent

load_connector_dags(
    globals(),
    connectors_dir(PROJECT_ROOT / "include" / "connectors"),
    project_root=PROJECT_ROOT,
)
