"""Differences the property tests of tests/reference found between the engine and the reference
splits, each as the smallest export that showed it, fixed in the engine."""

from __future__ import annotations

import csv
import io
from pathlib import Path

import pyarrow.parquet as pq

from saleslayer_airflow.config.load import parse_connector
from saleslayer_airflow.normalize import engine
from saleslayer_airflow.readers.encoding import resolve_encoding

_CONNECTOR = """\
id: regression
description: one table
schedule: null
start_date: 2026-01-01
source: {kind: http, conn_id: erp_http, endpoint: x.csv}
format: {type: csv, encoding: auto}
tables:
  products:
    reference: ref
    fields: {name: name}
"""


def test_auto_encoding_of_a_cp1252_export_whose_last_byte_is_its_only_non_ascii_one(
    tmp_path: Path,
) -> None:
    # 'café' in cp1252 as the last cell, no line break after it: the single byte 0xE9 ends the
    # file. It was taken for the first byte of a UTF-8 character cut by the end of the sample
    # (detected: utf-8), and the row rejected as "bytes that are not valid utf-8 (\xe9)".
    data = "ref,name\nP1,café".encode("cp1252")
    assert resolve_encoding(io.BytesIO(data), "auto", "e.csv") == ("cp1252", 0)
    # A UTF-8 export cut in the middle of a character is still UTF-8 with a damaged row when
    # its other characters are UTF-8 (the rule for a damaged byte anywhere else).
    damaged = "ref,name\nP1,é\nP2,è\nP3,".encode() + "ü".encode()[:1]
    assert resolve_encoding(io.BytesIO(damaged), "auto", "e.csv") == ("utf-8", 0)

    path = tmp_path / "e.csv"
    path.write_bytes(data)
    result = engine.split_export(
        parse_connector(_CONNECTOR, "regression.yaml"),
        [engine.LandedFile(path, "e.csv")],
        tmp_path / "run",
    )
    with result.rejects_path.open(encoding="utf-8", newline="") as handle:
        assert list(csv.DictReader(handle)) == []
    assert pq.read_table(result.paths["products"]).to_pylist() == [
        {"reference": "P1", "_source_file": "e.csv", "_line": 2, "name": "café"}
    ]
