"""Parsing the DAG folder must not import heavy libraries: Airflow re-parses it every 30 s."""

from __future__ import annotations

import json
import subprocess
import sys

from tests.conftest import DAGS, ROOT

HEAVY = ["pandas", "pyarrow", "numpy", "paramiko", "openpyxl", "requests", "asyncssh", "aiohttp"]

# Airflow imports every installed provider's asset URI handlers when a DAG file makes its first
# Asset (the Amazon provider's, installed for S3 staging, imports requests and boto3): a cost any
# DAG with an asset pays, whoever wrote it. The probe pays it first, then counts what parsing the
# connectors imports on top.
PROBE = f"""
import json, sys
from airflow.sdk import Asset
Asset(name="probe", uri="saleslayer://probe/products")
before = set(sys.modules)
from airflow.dag_processing.dagbag import DagBag
bag = DagBag(dag_folder={str(DAGS)!r})
assert not bag.import_errors, bag.import_errors
heavy = [m for m in {HEAVY!r} if m in sys.modules and m not in before]
print(json.dumps({{"dags": len(bag.dag_ids), "heavy": heavy}}))
"""


def test_parsing_the_dag_folder_imports_no_heavy_library() -> None:
    result = subprocess.run(
        [sys.executable, "-c", PROBE], cwd=ROOT, capture_output=True, text=True, timeout=120
    )
    assert result.returncode == 0, result.stderr[-3000:]
    report = json.loads(result.stdout.strip().splitlines()[-1])
    assert report == {"dags": 3, "heavy": []}
