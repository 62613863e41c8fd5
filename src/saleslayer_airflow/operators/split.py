"""Stage 2: read the landed export, map it onto Sales Layer tables, validate, split."""

from __future__ import annotations

from typing import Any

from airflow.sdk import Context

from saleslayer_airflow.operators.base import ConnectorStageOperator


class ValidateAndSplitOperator(ConnectorStageOperator):
    """Write one staged file per table and a rejects file, from the connector's mapping."""

    stage = "validate-and-split"
    ui_color = "#fdf6e3"

    def execute(self, context: Context) -> Any:
        raise self._not_available()
