"""Stage 3: send one table's changed items to Sales Layer."""

from __future__ import annotations

from typing import Any

from airflow.sdk import Context

from saleslayer_airflow.operators.base import ConnectorStageOperator


class PushTableOperator(ConnectorStageOperator):
    """Upsert the staged items of one table, by reference, through the connector's target.

    :param table: the connector's table key (``products``, ``brands``, ...).
    """

    stage = "push"
    ui_color = "#e6f5e6"

    def __init__(self, *, table: str, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.table = table

    def execute(self, context: Context) -> Any:
        raise self._not_available()
