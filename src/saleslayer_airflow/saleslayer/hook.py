"""The Airflow hook of a Sales Layer connection: Airflow Connection -> API clients.

Connection fields: host = Import Connector API URL (``https://api.saleslayer.com``, or
``http://127.0.0.1:8090`` for the emulator), login = connector code, password = the connector's
private key; extra ``rest_url`` and ``api_key`` for the Catalog REST API, optional ``timeout``
(seconds per request), optional ``account`` (see :attr:`SalesLayerHook.account_key`), optional
``account_schema`` (the account's tables and fields, for the name check before a push when the
connection has no REST API key: see :mod:`saleslayer_airflow.saleslayer.preflight`). As an
environment variable::

    AIRFLOW_CONN_SALESLAYER_DEFAULT='{"conn_type": "saleslayer",
        "host": "https://api.saleslayer.com", "login": "CN...", "password": "...",
        "extra": {"rest_url": "https://api2.saleslayer.com/catalog/rest/Catalog/",
                  "api_key": "..."}}'
"""

from __future__ import annotations

import hashlib
from dataclasses import replace
from typing import Any

from airflow.sdk import BaseHook
from airflow.sdk.exceptions import AirflowNotFoundException

from saleslayer_airflow.exceptions import SalesLayerApiError, SalesLayerTerminalError
from saleslayer_airflow.saleslayer.connector_api import ConnectorApiClient, ConnectorApiOptions
from saleslayer_airflow.saleslayer.credentials import ConnectorCredentials, RestCredentials
from saleslayer_airflow.saleslayer.errors import redact
from saleslayer_airflow.saleslayer.provider_info import (
    CONN_TYPE,
    HOOK_NAME,
    UI_FIELD_BEHAVIOUR,
)
from saleslayer_airflow.saleslayer.rest_api import RestCatalogClient, RestOptions
from saleslayer_airflow.saleslayer.retry import RetryPolicy

_HOW = (
    "a connection of type 'saleslayer' with host = Import Connector API URL "
    "(e.g. https://api.saleslayer.com), login = connector code, password = private key, and for "
    "the REST transport extra 'rest_url' and 'api_key'"
)


class SalesLayerHook(BaseHook):
    """Builds Sales Layer API clients from an Airflow connection.

    :param saleslayer_conn_id: the connection id (default ``saleslayer_default``).
    """

    conn_name_attr = "saleslayer_conn_id"
    default_conn_name = "saleslayer_default"
    conn_type = CONN_TYPE
    hook_name = HOOK_NAME

    def __init__(self, saleslayer_conn_id: str = default_conn_name, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.saleslayer_conn_id = saleslayer_conn_id
        self._conn: Any = None

    def __repr__(self) -> str:
        return f"SalesLayerHook(saleslayer_conn_id={self.saleslayer_conn_id!r})"

    @classmethod
    def get_ui_field_behaviour(cls) -> dict[str, Any]:
        """Hidden, relabelled and prefilled fields of the connection form."""
        return {key: value.copy() for key, value in UI_FIELD_BEHAVIOUR.items()}

    # ------------------------------------------------------------------ connection

    def _fail(self, problem: str) -> SalesLayerTerminalError:
        return SalesLayerTerminalError(
            f"Airflow connection {self.saleslayer_conn_id!r}: {problem}; define {_HOW} (in the "
            f"UI, with `airflow connections add`, or as AIRFLOW_CONN_"
            f"{self.saleslayer_conn_id.upper()})",
            conn_id=self.saleslayer_conn_id,
        )

    def _connection(self) -> Any:
        """The Airflow connection, fetched once per hook (each fetch may be a secrets-backend
        or API-server round trip)."""
        if self._conn is None:
            try:
                self._conn = self.get_connection(self.saleslayer_conn_id)
            except AirflowNotFoundException:
                raise self._fail("is not defined") from None
        return self._conn

    def _extra(self) -> dict[str, Any]:
        extra = self._connection().extra_dejson
        return dict(extra) if isinstance(extra, dict) else {}

    def extra_options(self) -> dict[str, Any]:
        """The connection's extra as a dict (it holds the REST API key: never log it)."""
        return self._extra()

    def _api_url(self, conn: Any) -> str:
        host = str(conn.host or "").strip()
        if not host:
            raise self._fail("has no host (the Import Connector API URL)")
        if "://" in host:
            return host
        scheme = str(conn.schema or "https").strip() or "https"
        port = f":{conn.port}" if conn.port else ""
        return f"{scheme}://{host}{port}"

    def connector_credentials(self) -> ConnectorCredentials:
        """The Import Connector API credentials of the connection."""
        conn = self._connection()
        if not conn.login:
            raise self._fail("has no login (the connector code)")
        if not conn.password:
            raise self._fail("has no password (the connector's private key)")
        try:
            return ConnectorCredentials(self._api_url(conn), conn.login, conn.password)
        except ValueError as exc:
            raise self._fail(redact(str(exc), [conn.password])) from None

    def rest_credentials(self) -> RestCredentials:
        """The Catalog REST API credentials of the connection (extra ``rest_url``,
        ``api_key``)."""
        extra = self._extra()
        rest_url, api_key = extra.get("rest_url"), extra.get("api_key")
        if not rest_url:
            raise self._fail(
                "has no extra 'rest_url' (the Catalog REST API base URL, e.g. "
                "https://api2.saleslayer.com/catalog/rest/Catalog/)"
            )
        if not api_key:
            raise self._fail("has no extra 'api_key' (the REST API key)")
        try:
            return RestCredentials(str(rest_url), str(api_key))
        except ValueError as exc:
            raise self._fail(redact(str(exc), [str(api_key)])) from None

    @property
    def account_key(self) -> str:
        """A short key of the Sales Layer account this connection writes to, for the state
        store; read from the connection alone (no network) and never revealing a secret.

        - extra ``account`` when set: a name of the user's choosing (e.g. the company name)
          for connections that reach the same account through different connector codes or
          API keys; it makes them share known references;
        - else the Import Connector API URL and the connector code (the login): a connector
          belongs to exactly one account, so connections with the same code share a key;
        - else (REST only) the REST URL and a SHA-256 of the API key (a key is issued per
          account; it is random and long, so its plain hash reveals nothing).

        The private key is never part of it: rotating it keeps the account's state. A
        different key means another account: its state starts empty.
        """
        conn = self._connection()
        extra = self._extra()
        label = str(extra.get("account") or "").strip()
        if label:
            parts = ["account", label]
        elif conn.login:
            host = self._api_url(conn) if str(conn.host or "").strip() else ""
            parts = ["connector_api", host.rstrip("/").lower(), str(conn.login).strip()]
        elif extra.get("api_key"):
            secret = hashlib.sha256(str(extra["api_key"]).encode()).hexdigest()
            rest_url = str(extra.get("rest_url") or "").rstrip("/").lower()
            parts = ["rest", rest_url, secret]
        else:
            raise self._fail(
                "names no Sales Layer account: it has no login (the connector code), no extra "
                "'api_key' and no extra 'account'"
            )
        return hashlib.sha256("\0".join(parts).encode()).hexdigest()[:16]

    def _timeout(self) -> float | None:
        value = self._extra().get("timeout")
        if value in (None, ""):
            return None
        try:
            timeout = float(value)
        except (TypeError, ValueError):
            raise self._fail(f"extra 'timeout' is {value!r}, not a number of seconds") from None
        if timeout <= 0:
            raise self._fail(f"extra 'timeout' is {value!r}; it must be positive")
        return timeout

    # ------------------------------------------------------------------ clients

    def get_connector_api_client(
        self, options: ConnectorApiOptions | None = None, **kwargs: Any
    ) -> ConnectorApiClient:
        """A client of the Import Connector API (bulk upsert/delete by reference).

        ``options`` default to the connection's ``timeout``; ``kwargs`` go to the client
        (``transport``, ``clock``, ``sleep``).
        """
        options = options or ConnectorApiOptions()
        if (timeout := self._timeout()) is not None:
            options = replace(options, timeout=timeout)
        return ConnectorApiClient(
            self.connector_credentials(),
            conn_id=self.saleslayer_conn_id,
            options=options,
            **kwargs,
        )

    def get_rest_client(
        self, options: RestOptions | None = None, **kwargs: Any
    ) -> RestCatalogClient:
        """A client of the Catalog REST API v2 (``kwargs`` go to the client: ``transport``,
        ``limiter``, ``clock``, ``sleep``)."""
        options = options or RestOptions()
        if (timeout := self._timeout()) is not None:
            options = replace(options, timeout=timeout)
        return RestCatalogClient(
            self.rest_credentials(), conn_id=self.saleslayer_conn_id, options=options, **kwargs
        )

    def get_conn(self) -> ConnectorApiClient:
        """The Import Connector API client (the default transport)."""
        return self.get_connector_api_client()

    def test_connection(self, **kwargs: Any) -> tuple[bool, str]:
        """Check the credentials against Sales Layer without changing anything: a signed empty
        import call and, when configured, one REST read. Returns ``(ok, message)``; the message
        never holds a secret."""
        once = RetryPolicy(attempts=1)
        messages = []
        try:
            with self.get_connector_api_client(ConnectorApiOptions(retry=once), **kwargs) as api:
                messages.append(api.check())
            extra = self._extra()
            if extra.get("rest_url") or extra.get("api_key"):
                with self.get_rest_client(RestOptions(retry=once), **kwargs) as rest:
                    messages.append(rest.check())
        except SalesLayerApiError as exc:
            return False, str(exc)
        except Exception as exc:  # the UI shows the message; it must not hold a secret
            conn = self._connection()
            secrets = [conn.password or "", str(self._extra().get("api_key") or "")]
            return False, redact(f"{type(exc).__name__}: {exc}", secrets)
        return True, "; ".join(messages)


__all__ = ["SalesLayerHook"]
