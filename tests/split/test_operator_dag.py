"""ValidateAndSplitOperator inside a real DAG run (dag.test()), fed by a fetch-shaped upstream task.

The fetch stage is built separately; a tiny upstream task returns the XCom it will return,
pointing at a file placed in a staging folder. dag.test() does not raise when a task fails, so
every test asserts the states.
"""

from __future__ import annotations

import csv
import json
from pathlib import Path
from typing import Any

import pyarrow.parquet as pq
import pytest

from tests.split.conftest import connector_text

pytestmark = pytest.mark.integration

SECRET = "s3cr3t-private-key-value"
CONNECTOR = """\
id: split_dag_test
description: split stage through Airflow
schedule: null
start_date: 2026-01-01
source: {kind: http, conn_id: erp_http, endpoint: export.csv}
format: {type: csv, delimiter: ";"}
tables:
  categories:
    reference: category_path
    path: {column: category_path}
  products:
    reference: product_ref
    categories: {column: category_path}
    fields:
      name: {column: product_name, languages: [en, es], required: true}
  variants:
    reference: sku
    product: product_ref
    fields:
      price: {column: price_eur, type: number, transforms: [{parse_number: comma}]}
validation:
  max_reject_ratio: %s
"""
EXPORT = (
    "sku;product_ref;category_path;product_name_en;product_name_es;price_eur\n"
    "S1;P1;Men > Tops;Hoodie;Sudadera;12,50\n"
    "S2;P1;Men > Tops;Hoodie;Sudadera;13,00\n"
    "S3;P2;Men > Shoes;Boot;Bota;abc\n"
    "S4;P3;Women;Dress;Vestido;20\n"
)


DAG_FILE = """\
# A test DAG (airflow dag): a fetch-shaped upstream task, then the split operator.
import json
from datetime import datetime
from pathlib import Path

from airflow.sdk import DAG, task

from saleslayer_airflow.operators.split import ValidateAndSplitOperator

INPUTS = json.loads((Path(__file__).parent / "inputs.json").read_text(encoding="utf-8"))

with DAG("{dag_id}", schedule=None, start_date=datetime(2026, 1, 1)) as dag:

    @task(task_id="fetch_source")
    def fetch_source():
        return INPUTS["fetched"]

    split = ValidateAndSplitOperator(
        task_id="validate_and_split",
        connector=INPUTS["connector"],
        retries=2,  # a threshold failure must not be retried
    )
    fetch_source() >> split
"""


def _run(
    tmp_path: Path, ratio: float, monkeypatch: pytest.MonkeyPatch
) -> tuple[Any, dict[str, Any], Path]:
    monkeypatch.setenv(
        "AIRFLOW_CONN_SALESLAYER_DEFAULT",
        json.dumps({"conn_type": "http", "login": "code", "password": SECRET}),
    )
    run_folder = tmp_path / "staging" / "split_dag_test" / "run1"
    landed = run_folder / "landed" / "export.csv"
    landed.parent.mkdir(parents=True)
    landed.write_text(EXPORT, encoding="utf-8")
    fetched = {
        "connector_id": "split_dag_test",
        "run_folder": run_folder.as_uri(),
        "fingerprint": "abc",
        "files": [
            {
                "path": landed.as_uri(),
                "name": "export.csv",
                "source": "https://erp.example/export.csv",
                "size": landed.stat().st_size,
                "sha256": "0" * 64,
                "remote_mtime": None,
                "etag": None,
            }
        ],
    }
    config = connector_text(CONNECTOR % ratio)
    dag_id = f"split_dag_test_{str(ratio).replace('.', '_')}"
    # dag.test() runs DAGs of a configured bundle: the test DAG is a file in a bundle of its own.
    bundle = tmp_path / "dags"
    bundle.mkdir()
    (bundle / "inputs.json").write_text(
        json.dumps({"fetched": fetched, "connector": config.model_dump(mode="json")}),
        encoding="utf-8",
    )
    (bundle / "split_test_dag.py").write_text(DAG_FILE.format(dag_id=dag_id), encoding="utf-8")
    monkeypatch.setenv(
        "AIRFLOW__DAG_PROCESSOR__DAG_BUNDLE_CONFIG_LIST",
        json.dumps(
            [
                {
                    "name": f"split-tests-{dag_id}",
                    "classpath": "airflow.dag_processing.bundles.local.LocalDagBundle",
                    "kwargs": {"path": str(bundle), "refresh_interval": 0},
                }
            ]
        ),
    )
    from airflow.dag_processing.dagbag import DagBag

    bag = DagBag(dag_folder=str(bundle))
    assert bag.import_errors == {}, bag.import_errors
    dag = bag.dags[dag_id]
    run = dag.test()
    from airflow.models.taskinstance import TaskInstance
    from airflow.models.xcom import XComModel
    from airflow.utils.session import create_session

    with create_session() as session:
        states = {
            ti.task_id: (ti.state, ti.try_number)
            for ti in session.query(TaskInstance).filter_by(dag_id=dag_id, run_id=run.run_id)
        }
        xcoms = {
            x.task_id: XComModel.deserialize_value(x)
            for x in session.query(XComModel).filter_by(
                dag_id=dag_id, run_id=run.run_id, key="return_value"
            )
        }
    return run, {"states": states, "xcoms": xcoms}, run_folder


def test_split_task_writes_tables_rejects_and_summary(
    split_airflow_db: str,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    caplog: pytest.LogCaptureFixture,
) -> None:
    run, seen, run_folder = _run(tmp_path, 0.5, monkeypatch)
    assert run.state == "success", seen["states"]
    assert seen["states"]["validate_and_split"][0] == "success"
    summary = seen["xcoms"]["validate_and_split"]
    assert summary["rows_read"] == 4
    assert summary["rejects_path"].endswith("/split_dag_test/run1/rejects.csv")
    tables = summary["tables"]
    assert {k: v["rows_out"] for k, v in tables.items()} == {
        "categories": 4,  # Men, Men > Tops, Men > Shoes, Women
        "products": 3,
        "variants": 3,
    }
    assert tables["variants"]["rejected"] == 1
    assert tables["products"]["merged"] == 1
    variants = pq.read_table(run_folder / "split" / "variants.parquet").to_pylist()
    assert [v["reference"] for v in variants] == ["S1", "S2", "S4"]
    assert variants[0]["price"] == "12.5" and variants[0]["_product_ref"] == "P1"  # exact text
    with (run_folder / "rejects.csv").open(encoding="utf-8", newline="") as handle:
        rejects = list(csv.DictReader(handle))
    assert [(r["line"], r["table"], r["reference"], r["column"]) for r in rejects] == [
        ("4", "variants", "S3", "price_eur")
    ]
    assert SECRET not in json.dumps(summary)
    assert SECRET not in caplog.text


def test_threshold_fails_the_task_without_retry(
    split_airflow_db: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    run, seen, run_folder = _run(tmp_path, 0.1, monkeypatch)
    assert run.state == "failed"
    state, tries = seen["states"]["validate_and_split"]
    assert state == "failed", state  # not up_for_retry: AirflowFailException
    assert tries == 1
    # The outputs are there for the person who looks into the failure.
    assert (run_folder / "rejects.csv").read_text(encoding="utf-8").count("\n") == 2
