"""Errors of the fetch stage, each classified as transient (Airflow retries) or terminal.

    SalesLayerConnectorError
    ├── ExportUnchanged                 not a failure: the server says nothing changed (skip)
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
    """The expected export is not on the server (yet). ``on_missing`` decides what happens.

    ``file`` is the name of the missing file when the source declares named files.
    """

    def __init__(self, conn_id: str, where: str, detail: str, *, file: str | None = None) -> None:
        self.conn_id = conn_id
        self.where = where
        self.detail = detail
        self.file = file
        named = f"named file {file!r} " if file else ""
        super().__init__(
            f"export {named}not found: {where} (connection {conn_id!r}): {detail}. Check that "
            "the ERP has published it, that the path or endpoint (and its date template) is "
            "right, and that the connection points at the right server and folder"
        )

    def for_file(self, file: str | None) -> ExportMissingError:
        """The same error, naming the named file it is about (itself when ``file`` is None)."""
        if file is None or self.file == file:
            return self
        return ExportMissingError(self.conn_id, self.where, self.detail, file=file)


class ExportWaitTimeoutError(ExportMissingError):
    """``on_missing: wait`` waited its whole timeout and the export never came."""

    def __init__(self, missing: ExportMissingError, waited: float, timeout: float) -> None:
        self.conn_id, self.where, self.file = missing.conn_id, missing.where, missing.file
        self.detail = missing.detail
        named = f"named file {missing.file!r} at " if missing.file else ""
        TerminalError.__init__(
            self,
            f"gave up waiting for the export after {seconds(waited)} (on_missing.timeout is "
            f"{seconds(timeout)}): {named}{missing.where} (connection {missing.conn_id!r}) is "
            f"still missing; last look: {missing}",
        )


def seconds(value: float) -> str:
    """A duration for messages: '0.6s', '30s', '3600s'."""
    return f"{value:.1f}".removesuffix(".0") + "s"


class ExportUnchanged(SalesLayerConnectorError):
    """Not a failure: the server says the export is the one last imported, so nothing was
    downloaded (HTTP 304; FTP/SFTP size and mtime equal). The fetch operator skips the run."""


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
