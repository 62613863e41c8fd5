"""The Import Connector transport cuts a batch into the calls its client makes (by item count
and encoded size), so the pipeline can checkpoint each call; and it reports what Sales Layer
skipped. Against the emulator over HTTP where a call is made."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from saleslayer_airflow.push.pipeline import OutgoingItem, SentItem
from saleslayer_airflow.push.transports import ConnectorApiTransport
from saleslayer_airflow.saleslayer import (
    ConnectorApiClient,
    ConnectorApiOptions,
    ConnectorCredentials,
)
from saleslayer_airflow.saleslayer.batching import BatchLimits
from saleslayer_airflow.state import Decision

KEY = "pk-S3cret-Private-Key-4-tests"  # the emulator's default tenant's test key


def batch(n: int) -> list[SentItem]:
    return [
        SentItem(
            OutgoingItem(f"S{i:03d}", {"pos_name": f"Store {i} " + "x" * 80}), Decision.CREATE, ""
        )
        for i in range(n)
    ]


def client(url: str, code: str = "CN123TEST", max_bytes: int = 1024) -> ConnectorApiClient:
    options = ConnectorApiOptions(
        limits=BatchLimits(max_items=1000, max_bytes=max_bytes), poll_interval=0
    )
    return ConnectorApiClient(ConnectorCredentials(url, code, KEY), options=options)


@pytest.fixture
def emulator(tmp_path: Path) -> Iterator[object]:
    from saleslayer_airflow.emulator.server import run_in_thread

    fast = {"tracking": {"steps_to_end": 0, "seconds_per_step": 0}}
    with run_in_thread(tmp_path / "sl.sqlite", settings=fast) as running:
        yield running


def test_split_gives_the_calls_the_client_makes(emulator: object) -> None:
    url = emulator.base_url  # type: ignore[attr-defined]
    with client(url) as api:
        transport = ConnectorApiTransport(api, "points_of_sale", "pos_ref")
        items = batch(20)
        parts = transport.split(items)
        assert len(parts) > 2 and [s for part in parts for s in part] == items
        for part in parts:
            before = api.requests
            result = transport(part)
            # One POST (and its tracking poll) per part: the part is one call.
            assert api.requests - before == 2
            assert list(result.ids) == [None] * len(part) and result.skipped == 0
    assert len(emulator.dump("points_of_sale")) == 20  # type: ignore[attr-defined]


def test_a_batch_within_the_limits_is_one_part() -> None:
    with client("http://127.0.0.1:9", max_bytes=1_000_000) as api:  # no request is made
        transport = ConnectorApiTransport(api, "points_of_sale", "pos_ref")
        assert len(transport.split(batch(50))) == 1


def test_skipped_count_comes_from_sales_layer(emulator: object) -> None:
    url = emulator.base_url  # type: ignore[attr-defined]
    with client(url) as api:
        ConnectorApiTransport(api, "points_of_sale", "pos_ref")(batch(2))
    with client(url, code="CNEXISTING", max_bytes=100_000) as api:
        result = ConnectorApiTransport(api, "points_of_sale", "pos_ref")(batch(5))
    assert result.skipped == 3 and result.skipped_refs is None
