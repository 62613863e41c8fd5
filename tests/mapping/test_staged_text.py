"""A text the readers let through (a NUL inside a JSON string) is staged the same whichever way
a value goes: the split's fast path, its value rules, or the row engine of the tests."""

from __future__ import annotations

import json
from pathlib import Path

from saleslayer_airflow.config.load import parse_connector
from saleslayer_airflow.normalize.results import LandedFile
from tests.normalize.mapping_reference import check_mapping

CONNECTOR = """\
id: staged_text
description: texts with a NUL
schedule: null
start_date: 2026-01-01
source: {kind: http, conn_id: erp_http, endpoint: export.jsonl}
format: {type: jsonl}
tables:
  products:
    reference: ref
    fields:
      plain: {column: a}
      trimmed: {column: a, transforms: [{trim: true}]}
      listed: {column: a, separator: "|"}
"""


def test_a_nul_in_a_json_string_is_staged_as_it_is(tmp_path: Path) -> None:
    export = tmp_path / "export.jsonl"
    records = [{"ref": "P1", "a": "x\u0000y"}, {"ref": "P2", "a": "ok|x\u0000"}]
    export.write_text("\n".join(json.dumps(r) for r in records) + "\n", encoding="utf-8")
    config = parse_connector(CONNECTOR, "staged_text.yaml")
    mapped = check_mapping(config, [LandedFile(export, "export.jsonl")], (1, 2))
    assert mapped.error is None
    assert mapped.events == [
        [
            ("item", "P1", 0, 1, ["x\x00y", "x\x00y", ["x\x00y"]]),
            ("item", "P2", 0, 2, ["ok|x\x00", "ok|x\x00", ["ok", "x\x00"]]),
        ]
    ]
