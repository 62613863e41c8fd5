"""Airflow operators, one per stage of an import run. They own Airflow behaviour only
(templating, XCom, retries, skips); the work itself is plain Python in the stage modules."""

from __future__ import annotations

from saleslayer_airflow.operators.fetch import FetchSourceOperator
from saleslayer_airflow.operators.push import PushTableOperator
from saleslayer_airflow.operators.report import ImportReportOperator
from saleslayer_airflow.operators.split import ValidateAndSplitOperator

__all__ = [
    "FetchSourceOperator",
    "ImportReportOperator",
    "PushTableOperator",
    "ValidateAndSplitOperator",
]
