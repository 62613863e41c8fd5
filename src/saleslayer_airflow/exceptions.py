"""Errors raised by the Sales Layer connectors.

Every error says what went wrong, where (file, field, connection, table, reference) and what to do
about it. The hierarchy tells retry logic what it may retry::

    SalesLayerConnectorError
    ├── ConnectorConfigError        a connector file is wrong; fix the file (terminal)
    ├── StateStoreError             the state store cannot be opened or used (terminal)
    ├── DeletionRefused             more deletions than target.deletions.max_ratio (terminal)
    └── SalesLayerApiError          a call to Sales Layer failed or cannot be made
        ├── SalesLayerTransientError    retry later: API codes 10/11/14, timeouts, 5xx, 429,
        │   │                           dropped connections, an import still running
        │   └── SalesLayerNoAnswerError the request left but no answer came in time: the
        │                               server may still apply it
        └── SalesLayerTerminalError     fail now (also a TerminalError): bad connector code,
                                        key or signature, validation, REST 400/401/403/404,
                                        a missing or incomplete Airflow connection

Terminal errors fail a task at once (Airflow retries cannot help); transient errors (network,
rate limits, a busy Sales Layer: SalesLayerTransientError) are retried.
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


class StateStoreError(TerminalError):
    """The state store cannot be opened or used; the message says which setting to check."""


class SalesLayerApiError(SalesLayerConnectorError):
    """A call to a Sales Layer API failed, or cannot be made.

    The message names the Airflow connection, the URL (never its query: it holds the signature),
    the table, the API error code and its meaning, and what to check. The attributes carry the
    same facts for code that decides what to do; none of them is a secret.
    """

    def __init__(
        self,
        message: str,
        *,
        conn_id: str | None = None,
        url: str | None = None,
        table: str | None = None,
        code: int | None = None,
        status: int | None = None,
        retry_after: float | None = None,
        detail: str | None = None,
    ) -> None:
        super().__init__(message)
        self.conn_id = conn_id
        self.url = url
        self.table = table
        self.code = code
        self.status = status
        self.retry_after = retry_after
        #: Sales Layer's own words from the answer's body (secrets redacted), when it gave any.
        self.detail = detail


class SalesLayerTransientError(SalesLayerApiError):
    """Retrying later may succeed: Sales Layer is busy, blocked for a while or unreachable, or an
    import is still running. ``retry_after`` holds the seconds the server asked to wait, if any."""


class SalesLayerTerminalError(SalesLayerApiError, TerminalError):
    """Retrying cannot help: fix the Airflow connection (code, key, URL, API key) or the data."""


class DeletionRefused(TerminalError):
    """More items would be deleted than the connector's safety limit allows: nothing was
    deleted or sent. Terminal: retrying the same export gives the same answer."""


class SalesLayerNoAnswerError(SalesLayerTransientError):
    """The request was sent but its answer did not come in time (a read or write timeout): the
    server may still apply it after the client gave up, so a write must not simply be repeated."""
