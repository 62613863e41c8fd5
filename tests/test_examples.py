"""The example connector files validate, agree with the JSON Schema, and the schema is fresh."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import jsonschema
import pytest
import yaml

from saleslayer_airflow.config import find_connector_files, load_connector
from saleslayer_airflow.config.schema import connector_json_schema, connector_json_schema_text
from tests.conftest import EXAMPLES, ROOT

EXAMPLE_FILES = find_connector_files([EXAMPLES])


def _as_editor_sees_it(path: Path) -> Any:
    # YAML editors validate dates as the strings they are written as.
    data = yaml.safe_load(path.read_text(encoding="utf-8"))
    return json.loads(json.dumps(data, default=str))


def test_there_is_an_example_for_each_source_kind_of_the_mission() -> None:
    kinds = {load_connector(path).source.kind for path in EXAMPLE_FILES}
    assert {"http", "ftp", "api"} <= kinds


@pytest.mark.parametrize("path", EXAMPLE_FILES, ids=lambda p: p.name)
def test_example_validates_against_the_model_and_the_json_schema(path: Path) -> None:
    config = load_connector(path)
    assert config.id == path.stem, "example connector ids match their file names"
    data = _as_editor_sees_it(path)
    jsonschema.Draft202012Validator(connector_json_schema()).validate(data)


def test_checked_in_schema_is_fresh() -> None:
    checked_in = (ROOT / "schema" / "connector.schema.json").read_text(encoding="utf-8")
    assert checked_in == connector_json_schema_text(), (
        "schema/connector.schema.json is stale: run `make schema` and commit the result"
    )


def test_schema_rejects_unknown_keys_like_the_model() -> None:
    data = _as_editor_sees_it(EXAMPLES / "stores_ftp.yaml")
    data["source"]["pathh"] = data["source"].pop("path")
    errors = list(jsonschema.Draft202012Validator(connector_json_schema()).iter_errors(data))
    assert errors, "an editor using the schema must flag the misspelt key too"


def test_schema_is_valid_json_schema() -> None:
    schema = json.loads(connector_json_schema_text())
    jsonschema.Draft202012Validator.check_schema(schema)
