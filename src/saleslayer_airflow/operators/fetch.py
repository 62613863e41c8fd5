"""Stage 1: land the raw ERP export in staging, unchanged, with its fingerprint."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from airflow.sdk import Context

from saleslayer_airflow.operators.base import ConnectorStageOperator


class FetchSourceOperator(ConnectorStageOperator):
    """Fetch the export described by the connector's `source:` section.

    :param source: the `source:` section as plain data; its paths and endpoints are templated
        per run (``exports/products_{{ ds_nodash }}.csv``). (templated)
    """

    stage = "fetch"
    template_fields: Sequence[str] = ("source",)
    template_fields_renderers = {"source": "json"}
    ui_color = "#e8f4fd"

    def __init__(self, *, source: dict[str, Any], **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.source = source

    def execute(self, context: Context) -> Any:
        raise self._not_available()
