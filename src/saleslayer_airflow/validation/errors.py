"""Errors of the validate-and-split stage.

SalesLayerConnectorError
└── TerminalError
    ├── RejectThresholdError    more rows rejected than the connector's `validation:` allows
    └── BalanceError            the counts do not add up: a bug, never retried
"""

from __future__ import annotations

from saleslayer_airflow.exceptions import TerminalError


class RejectThresholdError(TerminalError):
    """Too many rejected rows: the export is probably broken; fix it (or the mapping) and rerun."""


class BalanceError(TerminalError):
    """A table's counts do not balance (rows in != out + merged + rejected); report it as a bug."""
