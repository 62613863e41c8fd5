"""Credentials of the two Sales Layer APIs, as frozen values whose repr never shows the secret."""

from __future__ import annotations

from dataclasses import dataclass

import httpx

_HIDDEN = "***"


def _check_base_url(url: str, what: str) -> httpx.URL:
    try:
        parsed = httpx.URL(url)
    except httpx.InvalidURL as exc:
        raise ValueError(f"{what} {url!r} is not a valid URL ({exc})") from None
    if parsed.scheme not in ("http", "https") or not parsed.host:
        raise ValueError(
            f"{what} {safe_url(url)!r} must be an absolute http:// or https:// URL with a host "
            "(for example https://api.saleslayer.com)"
        )
    if parsed.userinfo:
        raise ValueError(f"{what} must not carry a user or password; put secrets in their fields")
    return parsed


def safe_url(url: str | httpx.URL) -> str:
    """The URL without its query, fragment and user info: what may appear in logs and errors.

    Signed Import Connector URLs carry the signature in the query, and a tracking URL may carry
    a token, so the query never leaves the client.
    """
    try:
        parsed = httpx.URL(str(url))
    except httpx.InvalidURL:
        return "<invalid URL>"
    port = f":{parsed.port}" if parsed.port is not None else ""
    return f"{parsed.scheme}://{parsed.host}{port}{parsed.path}"


@dataclass(frozen=True)
class ConnectorCredentials:
    """What the Import Connector API (legacy ``set_info``) needs: its URL, the connector code and
    the connector's private key (the secret of the ``key256`` signature)."""

    api_url: str
    connector_code: str
    private_key: str

    def __post_init__(self) -> None:
        _check_base_url(self.api_url, "the Import Connector API URL")
        if not self.connector_code.strip():
            raise ValueError("the connector code is empty; set it as the connection's login")
        if not self.private_key:
            raise ValueError("the private key is empty; set it as the connection's password")

    def __repr__(self) -> str:
        return (
            f"ConnectorCredentials(api_url={safe_url(self.api_url)!r}, "
            f"connector_code={self.connector_code!r}, private_key={_HIDDEN!r})"
        )

    __str__ = __repr__


@dataclass(frozen=True)
class RestCredentials:
    """What the Catalog REST API v2 needs: its base URL (up to ``.../Catalog/``) and the API key
    sent as ``X-API-KEY``."""

    base_url: str
    api_key: str

    def __post_init__(self) -> None:
        _check_base_url(self.base_url, "the REST base URL")
        if not self.api_key:
            raise ValueError("the REST API key is empty; set the connection's extra 'api_key'")
        # One canonical form, so joining paths never doubles or drops a slash.
        object.__setattr__(self, "base_url", self.base_url.rstrip("/") + "/")

    def __repr__(self) -> str:
        return f"RestCredentials(base_url={safe_url(self.base_url)!r}, api_key={_HIDDEN!r})"

    __str__ = __repr__
