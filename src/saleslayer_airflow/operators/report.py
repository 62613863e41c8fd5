"""Stage 4: the balanced per-table report of the run."""

from __future__ import annotations

from typing import Any

from airflow.sdk import Context

from saleslayer_airflow.operators.base import ConnectorStageOperator


class ImportReportOperator(ConnectorStageOperator):
    """Sum up the run per table (read = created + updated + unchanged + rejected + stale)."""

    stage = "report"
    ui_color = "#f3e8fd"

    def execute(self, context: Context) -> Any:
        raise self._not_available()
