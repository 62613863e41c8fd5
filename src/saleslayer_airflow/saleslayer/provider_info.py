"""Airflow provider metadata: the ``saleslayer`` connection type and its form.

Airflow 3.2+ reads connection forms declaratively from the provider info (``conn-fields`` and
``ui-field-behaviour``); hook methods building WTForms widgets are deprecated and need
flask-appbuilder, which Airflow 3 no longer installs. Airflow finds this function through the
``apache_airflow_provider`` entry point of the distribution.
"""

from __future__ import annotations

from typing import Any

CONN_TYPE = "saleslayer"
HOOK_NAME = "Sales Layer"
HOOK_CLASS = "saleslayer_airflow.saleslayer.hook.SalesLayerHook"

#: Hidden, relabelled and prefilled fields of the connection form (Python form of the hook).
UI_FIELD_BEHAVIOUR: dict[str, Any] = {
    "hidden_fields": ["schema", "port"],
    "relabeling": {
        "host": "Import Connector API URL",
        "login": "Connector code",
        "password": "Private key",
    },
    "placeholders": {
        "host": "https://api.saleslayer.com (emulator: http://127.0.0.1:8090)",
        "login": "the Import Connector's code, e.g. CN12345H6789C1234",
        "password": "the Import Connector's private key",
        "rest_url": "https://api2.saleslayer.com/catalog/rest/Catalog/",
        "api_key": "the account's REST API key (X-API-KEY)",
        "timeout": "60",
        "account_schema": '{"products": ["prod_ref", "prod_title"]} or /path/schema.json',
    },
}

#: Extra fields of the connection form, stored in the connection's extra.
CONN_FIELDS: dict[str, Any] = {
    "rest_url": {
        "label": "REST base URL",
        "description": "Catalog REST API v2 base URL, up to /Catalog/ (only for the REST "
        "transport).",
        "schema": {"type": ["string", "null"]},
    },
    "api_key": {
        "label": "REST API key",
        "description": "Sent as X-API-KEY to the Catalog REST API (only for the REST transport).",
        "schema": {"type": ["string", "null"], "format": "password"},
    },
    "timeout": {
        "label": "Timeout (seconds)",
        "description": "Seconds to wait for one HTTP request to Sales Layer (default 60).",
        "schema": {"type": ["number", "null"], "minimum": 1},
    },
    "account_schema": {
        "label": "Account schema (optional)",
        "description": "Without a REST API key: the account's tables and fields, as JSON "
        '(e.g. {"products": ["prod_ref", "prod_title", "cat_ref"]}) or a file path, so that '
        "unknown fields are found before anything is sent (README: Sales Layer field check).",
        "schema": {"type": ["string", "null"]},
    },
}


def get_provider_info() -> dict[str, Any]:
    """The provider info Airflow validates against its ``provider_info.schema.json``."""
    return {
        "package-name": "saleslayer-airflow",
        "name": "Sales Layer",
        "description": "Sales Layer import connectors: push ERP data to the Sales Layer PIM.",
        "connection-types": [
            {
                "connection-type": CONN_TYPE,
                "hook-class-name": HOOK_CLASS,
                "hook-name": HOOK_NAME,
                "ui-field-behaviour": {
                    "hidden-fields": UI_FIELD_BEHAVIOUR["hidden_fields"],
                    "relabeling": UI_FIELD_BEHAVIOUR["relabeling"],
                    "placeholders": UI_FIELD_BEHAVIOUR["placeholders"],
                },
                "conn-fields": CONN_FIELDS,
            }
        ],
    }
