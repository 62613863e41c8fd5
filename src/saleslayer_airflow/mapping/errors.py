"""Errors of applying a connector's mapping to a landed file.

SalesLayerConnectorError
└── TerminalError
    └── MappingError        a mapped column is missing or ambiguous in the file
"""

from __future__ import annotations

from saleslayer_airflow.exceptions import TerminalError


class MappingError(TerminalError):
    """The connector's `tables:` mapping does not fit the landed file; fix one or the other."""
