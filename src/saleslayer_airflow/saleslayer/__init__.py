"""Sales Layer API clients: the Import Connector API (bulk, by reference; the default transport)
and the Catalog REST API v2 (one item per call, by id), plus the Airflow hook in
:mod:`saleslayer_airflow.saleslayer.hook` (not imported here, so plain Python users and DAG
parsing do not import Airflow through this package)."""

from __future__ import annotations

from saleslayer_airflow.saleslayer.batching import MAX_ITEMS_PER_CALL, BatchLimits
from saleslayer_airflow.saleslayer.connector_api import (
    ConnectorApiClient,
    ConnectorApiOptions,
    ImportCounts,
    TrackingStatus,
)
from saleslayer_airflow.saleslayer.credentials import ConnectorCredentials, RestCredentials
from saleslayer_airflow.saleslayer.entities import (
    CATEGORIES,
    PRODUCTS,
    VARIANTS,
    EntitySet,
    custom_entity,
)
from saleslayer_airflow.saleslayer.ratelimit import SlidingWindowLimiter
from saleslayer_airflow.saleslayer.rest_api import RestCatalogClient, RestCounts, RestOptions
from saleslayer_airflow.saleslayer.retry import RetryPolicy

__all__ = [
    "CATEGORIES",
    "MAX_ITEMS_PER_CALL",
    "PRODUCTS",
    "VARIANTS",
    "BatchLimits",
    "ConnectorApiClient",
    "ConnectorApiOptions",
    "ConnectorCredentials",
    "EntitySet",
    "ImportCounts",
    "RestCatalogClient",
    "RestCounts",
    "RestCredentials",
    "RestOptions",
    "RetryPolicy",
    "SlidingWindowLimiter",
    "TrackingStatus",
    "custom_entity",
]
