"""The connector file format: one YAML file describes one connector, which becomes one DAG.

The models are strict: unknown keys are errors (the loader adds "did you mean ...?"), values are
checked when the file is read, and nothing here may hold a secret. Credentials live only in
Airflow connections, which the file names by ``conn_id``. One module per section of the file:

    connector.py   the whole file (id, schedule, retries, ...)
    sources.py     source:       formats.py   format:       tables.py    tables:
    target.py      target:       settings.py  validation:, alerting:, staging:

``ConnectorConfig.model_json_schema()`` is written to ``schema/connector.schema.json`` so that
editors validate and complete connector files (`make schema`).
"""

from __future__ import annotations

from saleslayer_airflow.config.connector import SCHEDULE_PRESETS, ConnectorConfig
from saleslayer_airflow.config.formats import (
    CsvFormat,
    Format,
    JsonFormat,
    JsonLinesFormat,
    XlsxFormat,
    XmlFormat,
)
from saleslayer_airflow.config.settings import (
    Alert,
    Alerting,
    EmailAlert,
    Staging,
    ValidationSettings,
    WebhookAlert,
)
from saleslayer_airflow.config.sources import (
    ApiSource,
    FtpSource,
    FtpsSource,
    HttpSource,
    Incremental,
    MissingExport,
    MissingPolicy,
    Pagination,
    PaginationStyle,
    PickRule,
    SftpSource,
    Source,
)
from saleslayer_airflow.config.tables import (
    CategoryPath,
    DuplicatePolicy,
    FieldMapping,
    FieldType,
    ReferenceList,
    TableKind,
    TableMapping,
    Transform,
)
from saleslayer_airflow.config.target import (
    DeletionAction,
    Deletions,
    SalesLayerTarget,
    Transport,
)
from saleslayer_airflow.tables import STANDARD_TABLES

__all__ = [
    "SCHEDULE_PRESETS",
    "STANDARD_TABLES",
    "Alert",
    "Alerting",
    "ApiSource",
    "CategoryPath",
    "ConnectorConfig",
    "CsvFormat",
    "DeletionAction",
    "Deletions",
    "DuplicatePolicy",
    "EmailAlert",
    "FieldMapping",
    "FieldType",
    "Format",
    "FtpSource",
    "FtpsSource",
    "HttpSource",
    "Incremental",
    "JsonFormat",
    "JsonLinesFormat",
    "MissingExport",
    "MissingPolicy",
    "Pagination",
    "PaginationStyle",
    "PickRule",
    "ReferenceList",
    "SalesLayerTarget",
    "SftpSource",
    "Source",
    "Staging",
    "TableKind",
    "TableMapping",
    "Transform",
    "Transport",
    "ValidationSettings",
    "WebhookAlert",
    "XlsxFormat",
    "XmlFormat",
]
