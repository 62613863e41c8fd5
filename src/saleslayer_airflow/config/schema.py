"""The JSON Schema of connector files, for editors (checked in as schema/connector.schema.json)."""

from __future__ import annotations

import json
from typing import Any

from saleslayer_airflow.config.models import ConnectorConfig


def connector_json_schema() -> dict[str, Any]:
    """JSON Schema (draft 2020-12) of one connector file."""
    schema = ConnectorConfig.model_json_schema(mode="validation")
    return {"$schema": "https://json-schema.org/draft/2020-12/schema", **schema}


def connector_json_schema_text() -> str:
    """The schema as the checked-in file holds it (stable key order, trailing newline)."""
    return json.dumps(connector_json_schema(), indent=2, ensure_ascii=False) + "\n"
