"""The key256 signature and the signed query of the Import Connector API."""

from __future__ import annotations

import itertools

from saleslayer_airflow.saleslayer import ConnectorCredentials
from saleslayer_airflow.saleslayer.signing import key256, sign


def test_key256_matches_a_hand_computed_sha256() -> None:
    # printf '%s' 'CN123TESTmy-private-key17958748302075769958' | sha256sum
    expected = "27d10cc93e8131e01b250e7aea5f893b9153c32788247624eaf1804314a633f2"
    assert key256("CN123TEST", "my-private-key", 1795874830, 2075769958) == expected


def test_signed_query_carries_code_time_unique_signature_and_version() -> None:
    creds = ConnectorCredentials("https://api.saleslayer.com", "CN123TEST", "my-private-key")
    signed = sign(creds, clock=lambda: 1795874830.9, unique=lambda: 2075769958)
    assert signed.params(compression="1") == {
        "code": "CN123TEST",
        "time": "1795874830",
        "unique": "2075769958",
        "key256": "27d10cc93e8131e01b250e7aea5f893b9153c32788247624eaf1804314a633f2",
        "ver": "1.18",
        "compression": "1",
    }
    assert "my-private-key" not in repr(signed)


def test_every_call_is_signed_afresh() -> None:
    creds = ConnectorCredentials("https://api.saleslayer.com", "CN123TEST", "my-private-key")
    ticks = itertools.count(1795874830)
    first, second = (sign(creds, clock=lambda: next(ticks)) for _ in range(2))
    assert first.unique != second.unique or first.time != second.time
    assert first.key256 != second.key256
