"""Stage 2: read the landed export, map it onto Sales Layer tables, validate, split."""

from __future__ import annotations

from typing import Any

from airflow.sdk import Context

from saleslayer_airflow.operators.base import ConnectorStageOperator


class ValidateAndSplitOperator(ConnectorStageOperator):
    """Write one staged file per table and a rejects file, from the connector's mapping.

    :param format: the `format:` section as plain data.
    :param tables: the `tables:` section as plain data.
    :param validation: the `validation:` section as plain data.
    """

    stage = "validate-and-split"
    ui_color = "#fdf6e3"

    def __init__(
        self,
        *,
        format: dict[str, Any],
        tables: dict[str, Any],
        validation: dict[str, Any],
        **kwargs: Any,
    ) -> None:
        super().__init__(**kwargs)
        self.format = format
        self.tables = tables
        self.validation = validation

    def execute(self, context: Context) -> Any:
        raise self._not_available()
