"""What the connector DAGs carry for the UI: an Asset per Sales Layer table a push writes (in the
serialized DAG the API server and scheduler read), the extra links, and a doc per task."""

from __future__ import annotations

from typing import Any

import pytest

from saleslayer_airflow.config import load_connector
from saleslayer_airflow.plan import plan_connector, table_asset
from tests.conftest import DAGS, EXAMPLES


def _serialized_tasks(dag_id: str) -> dict[str, dict[str, Any]]:
    """The DAG as Airflow stores it for the API server and scheduler, task by task."""
    from airflow.dag_processing.dagbag import DagBag
    from airflow.serialization.serialized_objects import DagSerialization

    dag = DagBag(dag_folder=str(DAGS)).dags[dag_id]
    encoded = DagSerialization.to_dict(dag)
    tasks = [task["__var"] for task in encoded["dag"]["tasks"]]
    return {task["task_id"]: task for task in tasks}


def _outlets(task: dict[str, Any]) -> list[tuple[str, str, str]]:
    return [(o["__var"]["name"], o["__var"]["uri"], o["__var"]["group"]) for o in task["outlets"]]


def test_each_push_declares_the_asset_of_its_sales_layer_table() -> None:
    tasks = _serialized_tasks("apparel_catalog_http")
    assert {task_id: _outlets(task) for task_id, task in tasks.items() if "outlets" in task} == {
        "push_categories": [
            (
                "saleslayer.saleslayer_default.catalogue",
                "saleslayer://saleslayer_default/catalogue",
                "saleslayer",
            )
        ],
        "push_products": [
            (
                "saleslayer.saleslayer_default.products",
                "saleslayer://saleslayer_default/products",
                "saleslayer",
            )
        ],
        "push_variants": [
            (
                "saleslayer.saleslayer_default.product_formats",
                "saleslayer://saleslayer_default/product_formats",
                "saleslayer",
            )
        ],
    }


@pytest.mark.parametrize("path", sorted(EXAMPLES.glob("*.yaml")), ids=lambda p: p.stem)
def test_assets_follow_the_target_connection_and_import_table(path: Any) -> None:
    config = load_connector(path)
    plan = plan_connector(config)
    assert plan.assets() == {
        key: table_asset(config.target.conn_id, table.import_table(key))
        for key, table in config.tables.items()
    }


def test_a_custom_entity_keeps_its_sales_layer_name() -> None:
    tasks = _serialized_tasks("erp_api_catalog")
    assert _outlets(tasks["push_brands"])[0][1] == "saleslayer://saleslayer_default/brands"


def test_links_are_serialized_by_name_and_xcom_key() -> None:
    tasks = _serialized_tasks("stores_ftp")
    assert tasks["validate_and_split"]["_operator_extra_links"] == {
        "Rejects file": "_link_RejectsFileLink",
        "Ignored rows": "_link_IgnoredRowsLink",
    }
    assert tasks["report"]["_operator_extra_links"] == {"Run report": "_link_RunReportLink"}
    assert "_operator_extra_links" not in tasks["fetch_source"]


def test_every_task_explains_itself() -> None:
    tasks = _serialized_tasks("apparel_catalog_http")
    assert "Rejects file" in tasks["validate_and_split"]["doc_md"]
    assert "Run report" in tasks["report"]["doc_md"]
    assert "`product_formats`" in tasks["push_variants"]["doc_md"]
    assert "saleslayer.saleslayer_default.product_formats" in tasks["push_variants"]["doc_md"]
    assert all(task.get("doc_md") for task in tasks.values())
