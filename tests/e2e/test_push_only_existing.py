"""A Sales Layer connector set to "only import existing items" (the emulator's CNEXISTING), end
to end through Airflow: the stores Sales Layer does not have are counted as `skipped`, the counts
balance, and they are not recorded as pushed, so the next run sends exactly them again (and
they are imported once they exist), even though the export did not change."""

from __future__ import annotations

import json

import pytest

from saleslayer_airflow.state.schema import PREFIX
from tests.e2e.conftest import KEY, World, catalog, first_day, sent_references, states, xcom

EXISTING_CODE = "CNEXISTING"  # the emulator's default tenant: only_import_existing: true


def stored_refs(world: World) -> set[str]:
    import sqlite3

    with sqlite3.connect(world.tmp / "state.sqlite") as connection:
        return {row[0] for row in connection.execute(f"SELECT reference FROM {PREFIX}items")}


def create_in_saleslayer(world: World, rows: list[dict[str, str]]) -> None:
    """Create stores the way another connector of the account would (CN123TEST creates)."""
    from saleslayer_airflow.saleslayer.connector_api import ConnectorApiClient, ConnectorApiOptions
    from saleslayer_airflow.saleslayer.credentials import ConnectorCredentials

    credentials = ConnectorCredentials(world.emulator.base_url, "CN123TEST", KEY)
    with ConnectorApiClient(credentials, options=ConnectorApiOptions(poll_interval=0)) as api:
        api.upsert("points_of_sale", rows, ref_field="pos_ref")


@pytest.mark.integration
def test_items_sales_layer_does_not_create_are_skipped_and_sent_again(world: World) -> None:
    world.monkeypatch.setenv(
        "AIRFLOW_CONN_SALESLAYER_DEFAULT",
        json.dumps(
            {
                "conn_type": "saleslayer",
                "host": world.emulator.base_url,
                "login": EXISTING_CODE,
                "password": KEY,
            }
        ),
    )
    day, text = first_day()
    lines = text.splitlines()
    header = lines[0].split(",")
    stores = [dict(zip(header, line.split(","), strict=True)) for line in lines[1:]]
    everything = {store["store_number"] for store in stores}
    # The first batch (of 4) exists, the rest does not: every batch is all-new or all-known, so
    # the skipped count names the skipped stores exactly (a mixed batch: see tests/push).
    existing = [store["store_number"] for store in stores[:4]]
    create_in_saleslayer(world, [{"pos_ref": ref, "pos_name": "old name"} for ref in existing])
    world.connector(batch_size=4, target="only_existing: true")
    world.publish(day, text)

    first = world.run(day)
    assert first.state == "success", states(first)
    live = catalog(world.emulator)
    assert set(live) == set(existing), "a connector of existing items created a store"
    assert all(live[ref]["fields"]["pos_name"] != "old name" for ref in existing)
    report = xcom(first, "report")["tables"]["points_of_sale"]
    skipped = len(everything) - len(existing)
    assert report["skipped"] == skipped and report["failed"] == 0, report
    assert report["read"] == report["created"] + report["updated"] + report["skipped"]
    # Only what Sales Layer took is recorded; the skipped stores are not "pushed".
    assert stored_refs(world) == set(existing)

    # The other stores now exist (created elsewhere); the next run sends exactly them again.
    later = everything - set(existing)
    create_in_saleslayer(world, [{"pos_ref": ref, "pos_name": "elsewhere"} for ref in later])
    sent_before = len(sent_references(world.tmp / "sl.sqlite"))
    next_day = day.replace(day=day.day + 1)
    world.publish(next_day, text)
    second = world.run(next_day)
    assert second.state == "success", states(second)
    resent = sent_references(world.tmp / "sl.sqlite")[sent_before:]
    assert sorted(resent) == sorted(later), "exactly the skipped stores are sent again"
    report = xcom(second, "report")["tables"]["points_of_sale"]
    assert (report["skipped"], report["unchanged"]) == (0, len(existing)), report
    assert stored_refs(world) == everything
    live = catalog(world.emulator)
    assert all(live[ref]["fields"]["pos_name"] != "elsewhere" for ref in later)
