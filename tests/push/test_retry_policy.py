"""The push tasks' Airflow retry policy, on the DAG built from a connector file: transient
Sales Layer errors are retried, terminal ones fail at once, anything else keeps Airflow's
default. (Exercised through dag.test in tests/e2e: test_push_faults, test_push_dry_run_and_
terminal.)"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from saleslayer_airflow.exceptions import (
    SalesLayerTerminalError,
    SalesLayerTransientError,
    StateStoreError,
)
from tests.conftest import DAGS

CONNECTOR = """\
id: policy_check
description: Retry policy check.
schedule: null
start_date: 2026-11-01
source: {kind: http, conn_id: erp_http, endpoint: /stores.csv}
format: {type: csv}
tables:
  points_of_sale:
    reference: store_number
    fields: {pos_name: store_name}
"""


@pytest.fixture
def push_task(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Any:
    from airflow.dag_processing.dagbag import DagBag

    (tmp_path / "policy_check.yaml").write_text(CONNECTOR, encoding="utf-8")
    monkeypatch.setenv("SALESLAYER_CONNECTORS_DIR", str(tmp_path))
    dag = DagBag(dag_folder=str(DAGS)).dags["policy_check"]
    return dag.get_task("push_points_of_sale")


@pytest.mark.parametrize(
    ("error", "action"),
    [
        (SalesLayerTransientError("503 from Sales Layer", conn_id="c"), "retry"),
        (SalesLayerTerminalError("error 9: invalid private key", conn_id="c"), "fail"),
        (StateStoreError("the state store cannot be opened"), "fail"),
        (ValueError("a bug"), "default"),
    ],
)
def test_push_tasks_retry_transient_errors_only(
    push_task: Any, error: BaseException, action: str
) -> None:
    decision = push_task.retry_policy.evaluate(error, try_number=1, max_tries=3)
    assert decision.action.value == action


def test_the_policy_survives_serialisation(push_task: Any) -> None:
    from airflow.sdk.definitions.retry_policy import ExceptionRetryPolicy

    policy = ExceptionRetryPolicy.deserialize(push_task.retry_policy.serialize())
    decision = policy.evaluate(SalesLayerTransientError("x", conn_id="c"), 1, 3)
    assert decision.action.value == "retry"
