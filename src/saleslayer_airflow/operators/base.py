"""What every stage operator shares."""

from __future__ import annotations

from typing import Any

from airflow.sdk import BaseOperator

from saleslayer_airflow import __version__
from saleslayer_airflow.exceptions import StageNotAvailableError


class ConnectorStageOperator(BaseOperator):
    """A task of a connector DAG. Subclasses set ``stage`` and implement :meth:`execute`."""

    stage = "stage"

    def __init__(self, *, connector_id: str, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.connector_id = connector_id

    def _not_available(self) -> StageNotAvailableError:
        # Raised while the stage's implementation is not part of this release: a clear, terminal
        # failure instead of a run that pretends to have imported something.
        return StageNotAvailableError(
            f"connector {self.connector_id!r}: the {self.stage} stage is not available in "
            f"saleslayer-airflow {__version__}; this release validates connector files and "
            "builds their DAGs only"
        )
