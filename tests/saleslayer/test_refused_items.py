"""A call Sales Layer denies (``result: 2``) because of some of its items: the client raises
SalesLayerItemsRefused with Sales Layer's errors, and ``refused_positions`` finds the items those
errors name (by position in the call or by reference). Denials about the call itself (a table
Sales Layer does not know, an empty call, too many items) stay plain terminal errors."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from saleslayer_airflow.exceptions import SalesLayerTerminalError
from saleslayer_airflow.saleslayer import ConnectorApiClient, ConnectorApiOptions
from saleslayer_airflow.saleslayer.credentials import ConnectorCredentials
from saleslayer_airflow.saleslayer.errors import (
    SalesLayerItemsRefused,
    denial_concerns_items,
    refusal_reasons,
    refused_positions,
)
from tests.saleslayer.fakes import CODE, PRIVATE_KEY

REFS = ["ST-1", "ST-10", "ST-100", "P 7", "42"]


@pytest.mark.parametrize(
    ("error", "named"),
    [
        ("points_of_sale ST-10: pos_country 'XX' is not a country", {1}),
        ("points_of_sale[3]: unknown field 'pos_colour'", {3}),
        ("Item ST-100.", {2}),
        ("reference 'ST-1' links to category 'C9', which was deleted", {0}),
        ("Invalid value for field pos_latitude", set()),
        # A reference inside a longer one, or the table's index past the call, names nothing.
        ("ST-1000 and XST-1 are unknown", set()),
        ("points_of_sale[7]: out of the call", set()),
        ("item P 7: wrong type", {3}),
        ("item 42: wrong type", {4}),
    ],
)
def test_errors_name_items_by_position_or_reference(error: str, named: set[int]) -> None:
    assert set(refused_positions([error], "points_of_sale", REFS)) == named


def test_each_named_item_keeps_the_first_error_naming_it() -> None:
    errors = ["points_of_sale ST-1: first", "ST-1 and ST-10: second", "no item named here"]
    assert refusal_reasons(errors, "points_of_sale", REFS) == {
        "ST-1": "points_of_sale ST-1: first",
        "ST-10": "ST-1 and ST-10: second",
    }


@pytest.mark.parametrize(
    ("errors", "about_items"),
    [
        (["products P1: cat_ref 'C9' is not a catalogue reference"], True),
        (["Invalid value for field prod_price"], True),
        (["unknown table 'shoes'; the account's tables are: products"], False),
        (["the call holds no rows in input_data or delete_data"], False),
        (["50001 items in one call; at most 50000 are accepted"], False),
        (["more than 50000 items"], False),
        ([], False),
    ],
)
def test_denials_about_the_call_itself_are_not_isolated(
    errors: list[str], about_items: bool
) -> None:
    assert denial_concerns_items(errors) is about_items


@pytest.fixture
def emulator(tmp_path: Path) -> Iterator[Any]:
    from saleslayer_airflow.emulator.server import run_in_thread

    fast = {"tracking": {"steps_to_end": 0, "seconds_per_step": 0}}
    with run_in_thread(tmp_path / "sl.sqlite", settings=fast) as running:
        yield running


def _client(emulator: Any) -> ConnectorApiClient:
    return ConnectorApiClient(
        ConnectorCredentials(emulator.base_url, CODE, PRIVATE_KEY),
        conn_id="sl_emulator",
        options=ConnectorApiOptions(poll_interval=0),
    )


ROWS = [{"prod_ref": "P1"}, {"prod_ref": "P-7"}, {"prod_ref": "P3"}]


@pytest.mark.integration
@pytest.mark.parametrize("named", [True, False])
def test_the_client_raises_the_refusal_with_sales_layers_errors(emulator: Any, named: bool) -> None:
    emulator.update_settings(
        {
            "refuse": {"products": {"P-7": "Invalid value for field prod_price"}},
            "connector_api": {"denials_name_items": named},
        }
    )
    with _client(emulator) as api, pytest.raises(SalesLayerItemsRefused) as caught:
        api.upsert("products", ROWS, ref_field="prod_ref")
    refused = caught.value
    assert refused.code == 2 and "result 2" in str(refused) and "sl_emulator" in str(refused)
    assert all("Invalid value for field prod_price" in e for e in refused.errors)
    refs = [row["prod_ref"] for row in ROWS]
    expected = {"P-7": "products P-7: Invalid value for field prod_price"} if named else {}
    assert refusal_reasons(refused.errors, "products", refs) == expected
    assert emulator.dump("products") == [], "a denied call wrote something"


@pytest.mark.integration
def test_a_denial_of_the_call_itself_is_a_plain_terminal_error(emulator: Any) -> None:
    with _client(emulator) as api, pytest.raises(SalesLayerTerminalError) as caught:
        api.upsert("shoes", [{"REF": "S1"}])
    assert not isinstance(caught.value, SalesLayerItemsRefused)
    assert "unknown table 'shoes'" in str(caught.value)
