"""The ``key256`` signature of the Import Connector API and the signed query of one call.

Every call is signed afresh (new ``time`` and ``unique``), so a retried call is never a replay.
"""

from __future__ import annotations

import hashlib
import secrets
import time
from collections.abc import Callable
from dataclasses import dataclass

from saleslayer_airflow.saleslayer.credentials import ConnectorCredentials

#: The API version whose ``set_info`` this client speaks (per-table counts, delete_data).
API_VERSION = "1.18"


def key256(code: str, private_key: str, time_: int, unique: int) -> str:
    """Lower-case hex ``sha256(code + private_key + str(time) + str(unique))``."""
    raw = f"{code}{private_key}{time_}{unique}".encode()
    return hashlib.sha256(raw).hexdigest()


@dataclass(frozen=True)
class SignedQuery:
    """The query parameters of one signed call (the signature is derived, not the key)."""

    code: str
    time: int
    unique: int
    key256: str
    ver: str = API_VERSION

    def params(self, **extra: str) -> dict[str, str]:
        """The query as ``name -> value``, in the order the SDK sends it, plus ``extra``."""
        return {
            "code": self.code,
            "time": str(self.time),
            "unique": str(self.unique),
            "key256": self.key256,
            "ver": self.ver,
            **extra,
        }


def sign(
    credentials: ConnectorCredentials,
    *,
    clock: Callable[[], float] = time.time,
    unique: Callable[[], int] | None = None,
    ver: str = API_VERSION,
) -> SignedQuery:
    """Sign one call now: current unix time and a fresh random ``unique``."""
    now = int(clock())
    nonce = unique() if unique is not None else secrets.randbelow(2**31 - 1) + 1
    return SignedQuery(
        code=credentials.connector_code,
        time=now,
        unique=nonce,
        key256=key256(credentials.connector_code, credentials.private_key, now, nonce),
        ver=ver,
    )
