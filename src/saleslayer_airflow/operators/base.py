"""What every stage operator shares: the connector's checked config, and its run folder."""

from __future__ import annotations

from functools import cached_property
from typing import Any

from airflow.sdk import BaseOperator

from saleslayer_airflow.config.models import ConnectorConfig


class ConnectorStageOperator(BaseOperator):
    """A task of a connector DAG. Subclasses set ``stage`` and implement :meth:`execute`.

    :param connector: the connector's config as plain data (``ConnectorConfig.model_dump(
        mode="json")``); it holds no secret, so it may be serialized with the DAG.
    """

    stage = "stage"

    def __init__(self, *, connector: dict[str, Any], **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.connector = connector

    @cached_property
    def connector_config(self) -> ConnectorConfig:
        """The typed config, checked again at run time (the DAG may come from a serialized copy)."""
        return ConnectorConfig.model_validate(self.connector)

    @property
    def connector_id(self) -> str:
        return str(self.connector["id"])
