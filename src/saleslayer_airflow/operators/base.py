"""What every stage operator shares: the connector's checked config, and its run folder."""

from __future__ import annotations

import gc
from collections.abc import Iterator
from contextlib import contextmanager
from functools import cached_property
from typing import Any

from airflow.sdk import BaseOperator

from saleslayer_airflow.config.models import ConnectorConfig


@contextmanager
def frozen_heap() -> Iterator[None]:
    """Keep the objects alive before a stage (Airflow, SQLAlchemy, pydantic: ~700,000 of them)
    out of the garbage collector's full passes while the stage runs.

    Every full collection walks every tracked object; in a task process most of them are the
    framework's, so a stage that allocates millions of short-lived rows spent a third of its
    CPU re-walking them (docs/benchmarks.md, the garbage-collection finding: 1 M rows, split
    87-100 s -> 65-69 s).

    Only the young generations are collected first: a full pass over that heap costs 0.1-0.3 s
    of CPU per task (0.34 s in ``airflow dags test``, whose one process holds every earlier
    task's objects too) to free a few dozen objects; what old garbage there is stays frozen
    until the stage ends, then goes with the next full collection.
    """
    gc.collect(1)
    gc.freeze()
    try:
        yield
    finally:
        gc.unfreeze()


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
