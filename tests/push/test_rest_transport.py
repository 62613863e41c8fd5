"""The REST transport and deletions against the emulator over HTTP (no Airflow): ids come back
for the state store, ids the store holds save lookups, only-existing connectors skip unknown
references by name, deletions go by id or set a status; and the helpers that order a category
tree and pick the entity set."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path

import pytest

from saleslayer_airflow.exceptions import TerminalError
from saleslayer_airflow.push.pipeline import OutgoingItem, PushOptions, push_table
from saleslayer_airflow.push.rest_transport import (
    RestDeletions,
    RestTransport,
    parents_first,
    rest_entity,
)
from saleslayer_airflow.saleslayer import RestCatalogClient, RestCredentials, RestOptions
from saleslayer_airflow.saleslayer.entities import CATEGORIES, PRODUCTS
from saleslayer_airflow.state import StateStore

API_KEY = "ak-S3cret-Api-Key-4-tests-0042"  # the emulator's default tenant's test key
DAY = datetime(2026, 11, 5, tzinfo=UTC)


@pytest.fixture
def emulator(tmp_path: Path) -> Iterator[object]:
    from saleslayer_airflow.emulator.server import run_in_thread

    with run_in_thread(
        tmp_path / "sl.sqlite", settings={"rate_limit": {"requests": 10_000}}
    ) as running:
        yield running


@pytest.fixture
def store(tmp_path: Path) -> StateStore:
    return StateStore.open(f"sqlite:///{tmp_path / 'state.sqlite'}")


def client(emulator: object) -> RestCatalogClient:
    rest_url = emulator.rest_base_url  # type: ignore[attr-defined]
    return RestCatalogClient(
        RestCredentials(rest_url, API_KEY),
        options=RestOptions(max_requests=10_000, languages=("en",)),
    )


def categories() -> list[OutgoingItem]:
    # Children before their parents, as a file may list them.
    return [
        OutgoingItem("C3", {"cat_title_en": "Shirts", "cat_parent_ref": "C2"}),
        OutgoingItem("C2", {"cat_title_en": "Tops", "cat_parent_ref": "C1"}),
        OutgoingItem("C1", {"cat_title_en": "Men"}),
        OutgoingItem("C4", {"cat_title_en": "Women"}),
    ]


def test_parents_first_orders_a_tree_and_keeps_the_rest() -> None:
    ordered = [i.reference for i in parents_first(categories(), "cat_parent_ref")]
    assert ordered == ["C1", "C2", "C3", "C4"]
    looped = [
        OutgoingItem("A", {"cat_parent_ref": "B"}),
        OutgoingItem("B", {"cat_parent_ref": "A"}),
    ]
    assert sorted(i.reference for i in parents_first(looped, "cat_parent_ref")) == ["A", "B"]


def test_rest_entity_refuses_what_rest_cannot_write() -> None:
    assert rest_entity("products", "products", "REF", where="x") == PRODUCTS
    brands = rest_entity("custom_entity", "brands", "brand_ref", where="x")
    assert brands.collection == "CustomEntities('brands')" and brands.prefix == "brand"
    with pytest.raises(TerminalError, match="points of sale have no write"):
        rest_entity("points_of_sale", "points_of_sale", "pos_ref", where="connector 'c'")
    with pytest.raises(TerminalError, match="'<prefix>_ref'"):
        rest_entity("custom_entity", "brands", "REF", where="connector 'c'")


def test_ids_are_recorded_and_save_lookups_later(emulator: object, store: StateStore) -> None:
    with client(emulator) as rest:
        send = RestTransport(rest, CATEGORIES, store=store, connector_id="shop", table="cats")
        items = list(parents_first(categories(), "cat_parent_ref"))
        counts = push_table(items, store, PushOptions("shop", "cats", "run1", DAY, 2), send)
    assert counts.created == 4
    dump = {row["ref"]: row for row in emulator.dump("catalogue")}  # type: ignore[attr-defined]
    states = store.items("shop", "cats", dump)
    assert {ref: s.saleslayer_id for ref, s in states.items()} == {
        ref: row["id"] for ref, row in dump.items()
    }
    assert dump["C3"]["links"]["cat_parent_ref"] == ["C2"]

    changed = [*categories()[:3], OutgoingItem("C4", {"cat_title_en": "Women (new)"})]
    with client(emulator) as rest:
        send = RestTransport(rest, CATEGORIES, store=store, connector_id="shop", table="cats")
        counts = push_table(
            parents_first(changed, "cat_parent_ref"),
            store,
            PushOptions("shop", "cats", "run2", DAY, 2),
            send,
        )
        # The changed item's id came from the state store: a PATCH, not one lookup.
        assert (rest.requests, rest.lookups) == (1, 0)
    assert (counts.updated, counts.unchanged) == (1, 3)


def test_only_existing_skips_unknown_references_by_name(
    emulator: object, store: StateStore
) -> None:
    with client(emulator) as rest:
        rest.upsert(CATEGORIES, [{"cat_ref": "C1", "cat_title_en": "old"}])
        send = RestTransport(
            rest, CATEGORIES, store=store, connector_id="shop", table="cats", only_existing=True
        )
        items = [OutgoingItem("C1", {"cat_title_en": "Men"}), OutgoingItem("C9", {})]
        counts = push_table(items, store, PushOptions("shop", "cats", "run1", DAY), send)
    assert (counts.created, counts.skipped) == (1, 1)
    assert set(store.items("shop", "cats", ["C1", "C9"])) == {"C1"}
    assert {row["ref"] for row in emulator.dump("catalogue")} == {"C1"}  # type: ignore[attr-defined]


def test_deletions_by_id_or_by_status(emulator: object, store: StateStore) -> None:
    with client(emulator) as rest:
        send = RestTransport(rest, CATEGORIES, store=store, connector_id="shop", table="cats")
        push_table(categories(), store, PushOptions("shop", "cats", "run1", DAY), send)
    with client(emulator) as rest:
        RestDeletions(rest, CATEGORIES, store=store, connector_id="shop", table="cats")(["C4"])
        RestDeletions(
            rest,
            CATEGORIES,
            store=store,
            connector_id="shop",
            table="cats",
            status=("cat_stat", "I"),
        )(["C3", "NOT-THERE"])
        assert rest.lookups == 1  # only the reference the state store did not know
    dump = {row["ref"]: row for row in emulator.dump("catalogue")}  # type: ignore[attr-defined]
    assert dump["C4"]["status"] == "X" and dump["C3"]["status"] == "I"
    assert dump["C2"]["status"] == "V"
