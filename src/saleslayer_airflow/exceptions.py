"""Errors raised by the Sales Layer connectors.

Every error says what went wrong, where (file, field, connection, table, reference) and what to do
about it. The hierarchy tells retry logic what it may retry::

    SalesLayerConnectorError
    ├── ConnectorConfigError        a connector file is wrong; fix the file (terminal)
    ├── StageNotAvailableError      a pipeline stage this version cannot run yet (terminal)
    └── StateStoreError             the state store cannot be opened or used (terminal)

Terminal errors fail a task at once (Airflow retries cannot help); transient errors (later:
network, rate limits) are retried.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass


class SalesLayerConnectorError(Exception):
    """Base class of every error raised by this package."""


class TerminalError(SalesLayerConnectorError):
    """Retrying cannot help: a person must change a file, a connection or the data."""


@dataclass(frozen=True, order=True)
class Problem:
    """One problem found in a connector file, located by file, line and field path."""

    file: str
    line: int
    field: str
    message: str

    def __str__(self) -> str:
        return f"{self.file}:{self.line}: {self.field}: {self.message}"


class ConnectorConfigError(TerminalError):
    """One or more connector files are invalid; each problem names the file, line and field."""

    def __init__(self, problems: Sequence[Problem]) -> None:
        self.problems: tuple[Problem, ...] = tuple(sorted(problems))
        files = sorted({p.file for p in self.problems})
        head = (
            f"{len(files)} connector file{'s' if len(files) != 1 else ''} could not be loaded "
            f"({len(self.problems)} problem{'s' if len(self.problems) != 1 else ''}); "
            "fix the lines below (check them with `python -m saleslayer_airflow validate PATH`):"
        )
        super().__init__("\n".join([head, *(f"  {p}" for p in self.problems)]))


class StageNotAvailableError(TerminalError):
    """A DAG task asked for a pipeline stage that this version of the package does not provide."""


class StateStoreError(TerminalError):
    """The state store cannot be opened or used; the message says which setting to check."""
