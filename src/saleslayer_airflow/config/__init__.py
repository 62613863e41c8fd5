"""The connector file format: models, safe YAML reading, located problems, JSON Schema."""

from __future__ import annotations

from saleslayer_airflow.config.load import (
    LoadResult,
    find_connector_files,
    load_connector,
    load_connectors,
    parse_connector,
)
from saleslayer_airflow.config.models import ConnectorConfig

__all__ = [
    "ConnectorConfig",
    "LoadResult",
    "find_connector_files",
    "load_connector",
    "load_connectors",
    "parse_connector",
]
