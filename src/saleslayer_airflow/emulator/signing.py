"""Checks of the Import Connector API signature: ``key256 = sha256(code + key + time + unique)``."""

from __future__ import annotations

import hashlib
import hmac
import re
from collections.abc import Mapping
from dataclasses import dataclass

from saleslayer_airflow.emulator.tenant import ConnectorSpec, Tenant

ERROR_MESSAGES: dict[int, str] = {
    1: "Validation error",
    2: "Invalid connector code",
    3: "Wrong unique key",
    4: "Invalid codification key",
    5: "Incorrect date of last_update",
    6: "API version nonexistent",
    7: "Wrong output mode",
    8: "Invalid compression type",
    9: "Invalid private key",
    10: "Service temporarily blocked",
    11: "Service temporarily unavailable",
    12: "Incorrect date-code",
    13: "Date code has expired",
    14: "Updating data. Try later",
}
"""The API's error codes, as the official SDK lists them."""

SUPPORTED_VERSIONS = frozenset({"1.17", "1.18"})
DEFAULT_VERSION = "1.17"
"""The version the API assumes when a call sends no ``ver`` (call-structure article)."""
_HEX64 = re.compile(r"[0-9a-f]{64}\Z")
_INT = re.compile(r"-?[0-9]{1,18}\Z")


@dataclass(frozen=True)
class SignatureError(Exception):
    """The request is refused with one of the API's error codes."""

    code: int
    detail: str

    def __str__(self) -> str:
        return f"error {self.code} ({ERROR_MESSAGES.get(self.code, '?')}): {self.detail}"


def signature(code: str, private_key: str, time: str, unique: str) -> str:
    """The lower-case hex ``key256`` a client must send."""
    return hashlib.sha256(f"{code}{private_key}{time}{unique}".encode()).hexdigest()


def check_signature(
    query: Mapping[str, str], tenant: Tenant, *, now: float, window: int
) -> ConnectorSpec:
    """The connector a signed query belongs to, or :class:`SignatureError` with the API's code.

    Order of checks: code (2), key256 shape (4), unique shape (3), time shape (12), signature
    (9), time within ``window`` seconds (13 when older, 12 when in the future), ``ver`` (6),
    ``compression`` (8). Replays are checked by the caller once the whole request is accepted.
    """
    connector = tenant.connector(query.get("code", ""))
    if connector is None:
        raise SignatureError(2, "the code parameter names no connector of this account")
    key256 = query.get("key256")
    if key256 is None or not _HEX64.match(key256):
        raise SignatureError(4, "key256 must be 64 lower-case hex digits (sha1 'key' is refused)")
    unique = query.get("unique", "")
    if not _INT.match(unique):
        raise SignatureError(3, "unique must be an integer")
    time = query.get("time", "")
    if not _INT.match(time):
        raise SignatureError(12, "time must be an integer unix time in seconds")
    expected = signature(connector.code, connector.private_key, time, unique)
    if not hmac.compare_digest(expected, key256):
        raise SignatureError(9, "key256 does not match sha256(code + private key + time + unique)")
    age = now - int(time)
    if age > window:
        raise SignatureError(13, f"time is {int(age)} s old; at most {window} s are accepted")
    if -age > window:
        raise SignatureError(12, f"time is {int(-age)} s in the future; check the client clock")
    version = query.get("ver", DEFAULT_VERSION)
    if version not in SUPPORTED_VERSIONS:
        raise SignatureError(6, f"ver must be one of {sorted(SUPPORTED_VERSIONS)}")
    if query.get("compression", "0") not in ("0", "1"):
        raise SignatureError(8, "compression must be 0 or 1")
    return connector
