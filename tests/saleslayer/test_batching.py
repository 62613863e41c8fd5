"""Splitting items into calls by item count and encoded size, alone and through the client."""

from __future__ import annotations

import itertools

import pytest

from saleslayer_airflow.exceptions import SalesLayerTerminalError
from saleslayer_airflow.saleslayer import BatchLimits
from saleslayer_airflow.saleslayer.batching import MAX_ITEMS_PER_CALL, split_batches
from saleslayer_airflow.saleslayer.form import INPUT_DATA, item_fields
from tests.saleslayer.conftest import FakeClock, make_connector_client
from tests.saleslayer.fakes import FakeConnectorApi, parse_form


def _rows(n: int, pad: int = 0) -> list[dict[str, str]]:
    return [{"prod_ref": f"P{i:03d}", "prod_title_en": "x" * pad} for i in range(n)]


def _split(rows: list[dict[str, str]], limits: BatchLimits) -> list[list[dict[str, str]]]:
    batches = split_batches(
        rows,
        limits,
        lambda i, row: item_fields(INPUT_DATA, "products", i, row),
        describe=lambda row: f"item {row['prod_ref']}",
    )
    return [b.items for b in batches]


@pytest.mark.parametrize(
    ("count", "sizes"), [(1, [1]), (10, [10]), (23, [10, 10, 3])], ids=["1", "10", "23"]
)
def test_batches_by_item_count_keep_every_item_once_in_order(count: int, sizes: list[int]) -> None:
    rows = _rows(count)
    batches = _split(rows, BatchLimits(max_items=10))
    assert [len(b) for b in batches] == sizes
    assert [row for batch in batches for row in batch] == rows


def test_batches_by_size_are_as_full_as_the_cap_allows() -> None:
    rows = _rows(23, pad=100)
    limits = BatchLimits(max_items=1000, max_bytes=1024)
    batches = list(
        split_batches(
            rows,
            limits,
            lambda i, row: item_fields(INPUT_DATA, "products", i, row),
            describe=lambda row: row["prod_ref"],
        )
    )
    assert len(batches) > 1
    assert [row for b in batches for row in b.items] == rows
    for batch in batches:
        body = "&".join(batch.parts)
        assert len(body) == batch.size <= limits.max_bytes
        # Each part is encoded at its own position in its own batch.
        assert batch.parts[0].startswith("input_data%5Bproducts%5D%5B0%5D")
    for batch, following in itertools.pairwise(batches):
        next_part = item_fields(INPUT_DATA, "products", len(batch.items), following.items[0])
        assert batch.size + 1 + len(next_part) > limits.max_bytes  # it really was full


def test_a_single_item_over_the_size_cap_is_a_terminal_error_naming_it() -> None:
    rows = [*_rows(2), {"prod_ref": "HUGE", "prod_title_en": "x" * 5000}]
    with pytest.raises(SalesLayerTerminalError) as caught:
        _split(rows, BatchLimits(max_bytes=2048))
    assert "item HUGE" in str(caught.value)
    assert "2,048 bytes" in str(caught.value)


def test_limits_never_exceed_the_api_maximum_per_call() -> None:
    assert BatchLimits(max_items=MAX_ITEMS_PER_CALL).max_items == 50_000
    with pytest.raises(ValueError, match="between 1 and 50000"):
        BatchLimits(max_items=MAX_ITEMS_PER_CALL + 1)
    with pytest.raises(ValueError):
        BatchLimits(max_items=0)


@pytest.mark.parametrize(("count", "calls"), [(1, 1), (10, 1), (23, 3)])
def test_client_sends_one_call_per_batch_and_sums_the_counts(
    count: int, calls: int, connector_server: FakeConnectorApi, clock: FakeClock
) -> None:
    with make_connector_client(connector_server, clock, limits=BatchLimits(max_items=10)) as api:
        counts = api.upsert("products", _rows(count), ref_field="prod_ref")
    posts = connector_server.posts()
    assert len(posts) == calls
    assert counts["products"].created == count
    assert counts["products"].items_sent == count
    assert counts["products"].calls == calls
    for post in posts:
        rows = parse_form(post.content)["input_data"]["products"]
        assert 1 <= len(rows) <= 10
    assert sorted(connector_server.tables["products"]) == [r["prod_ref"] for r in _rows(count)]


def test_client_names_the_oversized_item_by_reference(
    connector_server: FakeConnectorApi, clock: FakeClock
) -> None:
    rows = [*_rows(3), {"prod_ref": "BIG-1", "prod_title_en": "y" * 4000}]
    with (
        make_connector_client(connector_server, clock, limits=BatchLimits(max_bytes=2048)) as api,
        pytest.raises(SalesLayerTerminalError) as caught,
    ):
        api.upsert("products", rows, ref_field="prod_ref")
    assert "table 'products', item #4 (prod_ref 'BIG-1')" in str(caught.value)
    # Batches stream (bounded memory): the full batch before it went, the item never did.
    sent = [parse_form(p.content)["input_data"]["products"] for p in connector_server.posts()]
    assert [row["prod_ref"] for rows in sent for row in rows] == ["P000", "P001", "P002"]
