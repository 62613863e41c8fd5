"""Test settings. Airflow reads its configuration when first imported, so the environment is set
here, before any test module imports it: a throw-away AIRFLOW_HOME, no example DAGs."""

from __future__ import annotations

import os
import shutil
import tempfile
from collections.abc import Iterator
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
_AIRFLOW_HOME = tempfile.mkdtemp(prefix="saleslayer-airflow-test-home-")
os.environ["AIRFLOW_HOME"] = _AIRFLOW_HOME
os.environ["AIRFLOW__CORE__LOAD_EXAMPLES"] = "False"
os.environ["AIRFLOW__CORE__DAGS_FOLDER"] = str(ROOT / "dags")
os.environ["AIRFLOW__CORE__UNIT_TEST_MODE"] = "True"
os.environ.pop("SALESLAYER_CONNECTORS_DIR", None)

import pytest  # noqa: E402

EXAMPLES = ROOT / "include" / "connectors"
DAGS = ROOT / "dags"
REALDATA = ROOT.parent / "shared" / "realdata"


@pytest.fixture(scope="session", autouse=True)
def _airflow_home() -> Iterator[str]:
    yield _AIRFLOW_HOME
    shutil.rmtree(_AIRFLOW_HOME, ignore_errors=True)


@pytest.fixture(scope="session")
def airflow_db(_airflow_home: str) -> str:
    """Airflow's metadata database, created once per session (dag.test() needs it)."""
    from airflow.utils import db

    db.initdb()
    return _airflow_home


@pytest.fixture
def connectors_dir(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """A folder holding copies of the example connectors, loaded by the DAG file instead of
    include/connectors."""
    folder = tmp_path / "connectors"
    shutil.copytree(EXAMPLES, folder)
    monkeypatch.setenv("SALESLAYER_CONNECTORS_DIR", str(folder))
    return folder
