"""Push progress for people watching: the published value, and a store that cannot be written
never stops a push. The store here is a small dict-backed stand-in for Airflow's task state
store accessor (the real one is exercised through dag.test() in tests/e2e/test_push_rest.py)."""

from __future__ import annotations

import logging
from typing import Any

from saleslayer_airflow.push.pipeline import TableCounts
from saleslayer_airflow.push.progress import PROGRESS_KEY, ProgressPublisher

log = logging.getLogger(__name__)


class DictStore(dict[str, Any]):
    def set(self, key: str, value: Any) -> None:
        self[key] = value


class BrokenStore:
    calls = 0

    def set(self, key: str, value: Any) -> None:
        self.calls += 1
        raise ConnectionError("supervisor gone")


def test_progress_holds_counts_and_the_final_status() -> None:
    store = DictStore()
    publish = ProgressPublisher(store, "products", log=log)
    counts = TableCounts(items=10, created=3, updated=2, skipped=1, batches_sent=2)
    publish(counts)
    assert store[PROGRESS_KEY]["status"] == "running"
    assert store[PROGRESS_KEY]["items_sent"] == 6 and store[PROGRESS_KEY]["batches_done"] == 2
    publish.finish("pushed", counts)
    assert store[PROGRESS_KEY]["status"] == "pushed" and store[PROGRESS_KEY]["table"] == "products"
    publish.finish("not pushed", None)
    assert "items_sent" not in store[PROGRESS_KEY]


def test_a_broken_store_is_tried_once_and_never_fails_the_push(caplog: Any) -> None:
    store = BrokenStore()
    publish = ProgressPublisher(store, "products", log=log)
    with caplog.at_level(logging.WARNING):
        publish(TableCounts())
        publish(TableCounts())
        publish.finish("pushed", TableCounts())
    assert store.calls == 1
    assert "could not publish push progress" in caplog.text


def test_without_a_store_nothing_is_published() -> None:
    ProgressPublisher(None, "products", log=log)(TableCounts())
