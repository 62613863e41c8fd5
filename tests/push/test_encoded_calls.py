"""A staged file's Import Connector calls, encoded on columns: one call at a time, call N
checkpointed before call N+1 is sent, and a call failing leaves balanced counts with only the
acknowledged calls recorded."""

from __future__ import annotations

import threading
import time
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import httpx
import pytest

from saleslayer_airflow.push.items import StagedLayout
from saleslayer_airflow.push.pipeline import PushInterrupted, PushOptions, push_table
from saleslayer_airflow.push.transports import ConnectorApiTransport
from saleslayer_airflow.saleslayer import ConnectorApiClient, ConnectorApiOptions
from saleslayer_airflow.saleslayer.credentials import ConnectorCredentials
from saleslayer_airflow.saleslayer.retry import RetryPolicy
from saleslayer_airflow.state import StateStore
from tests.push.test_encoded_columns import REF, TABLE, _Staged, _write

DAY = datetime(2026, 12, 1, tzinfo=UTC)
ITEMS, BATCH = 50, 10


class _SalesLayer:
    """Answers like Sales Layer, slowly, and checks on every call what the store holds."""

    def __init__(self, store: StateStore, *, fail_call: int | None = None) -> None:
        self.store, self.fail_call = store, fail_call
        self.calls = 0
        self.in_flight = self.most_in_flight = 0
        self.recorded_before: list[int] = []
        self.lock = threading.Lock()

    def __call__(self, request: httpx.Request) -> httpx.Response:
        with self.lock:
            self.calls += 1
            number = self.calls
            self.in_flight += 1
            self.most_in_flight = max(self.most_in_flight, self.in_flight)
        try:
            # The calls acknowledged so far must all be checkpointed already.
            self.recorded_before.append(self.store.batch_totals("c", "run", TABLE).batches)
            time.sleep(0.05)
            if number == self.fail_call:
                return httpx.Response(400, json={"error": 0, "message": "no"})
            count = request.content.count(f"%5D%5B{REF}%5D=".encode())
            body = {"input_response": {"result": 1, "new_items": {TABLE: count}}, "error": 0}
            return httpx.Response(200, json=body)
        finally:
            with self.lock:
                self.in_flight -= 1


def _push(tmp_path: Path, answer: _SalesLayer, store: StateStore) -> Any:
    rows = [{"reference": f"R{i:03d}", "name": f"n {i}"} for i in range(ITEMS)]
    layout = StagedLayout({"name": "name"}, {}, frozenset(), frozenset())
    staged = _Staged(_write(tmp_path / "t.parquet", [("name", "string")], rows), layout)
    options = ConnectorApiOptions(retry=RetryPolicy(attempts=1))
    with ConnectorApiClient(
        ConnectorCredentials("http://sl.invalid/", "CN0000", "secret"),
        options=options,
        transport=httpx.MockTransport(answer),
    ) as client:
        transport = ConnectorApiTransport(client, TABLE, REF)
        push_options = PushOptions("c", TABLE, "run", DAY, batch_size=BATCH)
        return push_table(staged, store, push_options, transport, split=transport.split)


def test_each_call_is_checkpointed_before_the_next_is_sent(tmp_path: Path) -> None:
    store = StateStore.open(f"sqlite:///{tmp_path}/state.sqlite")
    answer = _SalesLayer(store)
    counts = _push(tmp_path, answer, store)
    assert counts.created == ITEMS and counts.batches_sent == ITEMS // BATCH
    assert answer.most_in_flight == 1
    assert answer.recorded_before == list(range(ITEMS // BATCH))
    assert len(store.items("c", TABLE, [f"R{i:03d}" for i in range(ITEMS)])) == ITEMS


def test_a_call_failing_in_flight_leaves_balanced_counts(tmp_path: Path) -> None:
    store = StateStore.open(f"sqlite:///{tmp_path}/state.sqlite")
    answer = _SalesLayer(store, fail_call=3)
    with pytest.raises(PushInterrupted) as stopped:
        _push(tmp_path, answer, store)
    counts = stopped.value.counts
    assert (counts.items, counts.created, counts.failed) == (ITEMS, 2 * BATCH, ITEMS - 2 * BATCH)
    assert answer.calls == 3 and answer.recorded_before == [0, 1, 2]
    recorded = store.items("c", TABLE, [f"R{i:03d}" for i in range(ITEMS)])
    assert sorted(recorded) == [f"R{i:03d}" for i in range(2 * BATCH)]
