"""Errors of reading a landed export: the file as a whole cannot be read as the connector declares.

    SalesLayerConnectorError
    └── TerminalError
        └── SourceFileError     empty file, no header, broken JSON, encoding clash, missing sheet

A bad *row* is never an error: it becomes a reject with its line and the run goes on.
"""

from __future__ import annotations

from saleslayer_airflow.exceptions import TerminalError


class SourceFileError(TerminalError):
    """A landed file cannot be read with the connector's `format:`; fix the file or the format."""

    def __init__(self, file: str, detail: str, *, line: int | None = None) -> None:
        self.file = file
        self.line = line
        where = f"{file}:{line}" if line is not None else file
        super().__init__(f"{where}: {detail}")
