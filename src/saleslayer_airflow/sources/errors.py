"""Errors of the fetch stage, each classified as transient (Airflow retries) or terminal.

    SalesLayerConnectorError
    ├── TerminalError
    │   ├── ExportMissingError          the export is not there (the connector's on_missing decides)
    │   │   └── ExportWaitTimeoutError  still not there when `on_missing: wait` gave up
    │   ├── SourceAuthError             credentials refused: fix the Airflow connection
    │   ├── NotAnExportError            an HTML page (or other non-export) came back
    │   ├── SourceRequestError          the server refused the request (4xx): fix the config
    │   └── ApiResponseError            an API page has not the shape the connector describes
    └── TransientFetchError             network, timeout, 5xx, 429, truncated download: retry
        └── FileStillGrowingError       the ERP is still writing the file

Messages name the connection id and the remote path or URL, never a credential.
"""

from __future__ import annotations

from saleslayer_airflow.exceptions import SalesLayerConnectorError, TerminalError


class ExportMissingError(TerminalError):
    """The expected export is not on the server (yet). ``on_missing`` decides what happens."""

    def __init__(self, conn_id: str, where: str, detail: str) -> None:
        self.conn_id = conn_id
        self.where = where
        super().__init__(
            f"export not found: {where} (connection {conn_id!r}): {detail}. Check that the ERP "
            "has published it, that the path or endpoint (and its date template) is right, and "
            "that the connection points at the right server and folder"
        )


class ExportWaitTimeoutError(ExportMissingError):
    """``on_missing: wait`` waited its whole timeout and the export never came."""

    def __init__(self, missing: ExportMissingError, waited: float) -> None:
        self.conn_id, self.where = missing.conn_id, missing.where
        TerminalError.__init__(
            self,
            f"waited {waited:.0f}s (on_missing.timeout) and the export is still missing; "
            f"last look: {missing}",
        )


class SourceAuthError(TerminalError):
    """The server refused the connection's credentials."""

    def __init__(self, conn_id: str, where: str, detail: str) -> None:
        super().__init__(
            f"{where}: the server refused the credentials of connection {conn_id!r} ({detail}); "
            "check the login and password (or key/token) of that Airflow connection"
        )


class NotAnExportError(TerminalError):
    """The server answered with something that is not the export (an HTML error page)."""


class SourceRequestError(TerminalError):
    """The server refused the request for a reason retrying cannot fix (a 4xx answer)."""


class ApiResponseError(TerminalError):
    """A page of a JSON API does not have the shape the connector's `source:` describes."""


class TransientFetchError(SalesLayerConnectorError):
    """A network failure, timeout, 5xx, 429 or truncated download: Airflow retries the task."""


class FileStillGrowingError(TransientFetchError):
    """The file's size kept changing: the ERP is still writing it. Retried later."""
