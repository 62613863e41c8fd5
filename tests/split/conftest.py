"""Helpers of the validate-and-split tests: connector files in data/, a split run, the outputs."""

from __future__ import annotations

import csv
from collections.abc import Callable, Collection, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pyarrow.parquet as pq
import pytest

from saleslayer_airflow.config.connector import ConnectorConfig
from saleslayer_airflow.config.load import load_connector, parse_connector
from saleslayer_airflow.normalize.engine import split_export
from saleslayer_airflow.normalize.results import LandedFile, SplitResult, no_known_refs

DATA = Path(__file__).resolve().parent / "data"
REALDATA = Path(__file__).resolve().parents[2].parent / "shared" / "realdata"


@dataclass
class Outcome:
    """A split run's result, its tables as lists of dicts and its rejects as dicts."""

    result: SplitResult
    tables: dict[str, list[dict[str, Any]]]
    rejects: list[dict[str, str]]


def run_split(
    config: ConnectorConfig,
    files: Sequence[tuple[Path, str]],
    work: Path,
    known_refs: Callable[[str, Sequence[str]], Collection[str]] = no_known_refs,
    chunk_rows: int = 5_000,
) -> Outcome:
    result = split_export(
        config,
        [LandedFile(path, name) for path, name in files],
        work,
        known_refs=known_refs,
        chunk_rows=chunk_rows,
    )
    tables = {key: pq.read_table(path).to_pylist() for key, path in result.paths.items()}
    with result.rejects_path.open(encoding="utf-8", newline="") as handle:
        rejects = list(csv.DictReader(handle))
    for key, counts in result.tables.items():
        # The balance the stage promises, checked again from the outside.
        assert counts.rows_in == counts.rows_out + counts.merged + counts.rejected, key
        assert counts.rows_out == len(tables[key]), key
    return Outcome(result, tables, rejects)


def connector(name: str) -> ConnectorConfig:
    return load_connector(DATA / f"{name}.yaml")


def connector_text(text: str) -> ConnectorConfig:
    return parse_connector(text, "test.yaml")


def realdata(relative: str) -> Path:
    path = REALDATA / relative
    if not REALDATA.is_dir():
        pytest.skip(f"{REALDATA} not present: a clone on its own has no shared/realdata")
    return path


@pytest.fixture(scope="session")
def split_airflow_db(airflow_db: str) -> str:
    """Airflow's metadata DB for dag.test(): the shared session fixture of tests/conftest.py
    (``airflow.utils.db.initdb()`` once per session) is reused rather than run twice."""
    return airflow_db
