"""Sales Layer import connectors for Apache Airflow.

One YAML file per connector in ``include/connectors/`` becomes one Airflow DAG that fetches an ERP
export, validates and splits it per Sales Layer table, pushes the changes and reports.

This module stays import-light on purpose: Airflow imports it every time it parses the DAG folder.
"""

from __future__ import annotations

__version__ = "0.1.0"

__all__ = ["__version__"]
