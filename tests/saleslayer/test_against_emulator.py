"""Contract tests: the clients against the real emulator over real HTTP (127.0.0.1, free port).

The emulator (saleslayer_airflow.emulator) is the server side of the wire contract; these tests
push every table through both transports, read the emulator's state back through its inspection
route (GET /_emulator/tables/<table>) and compare.
"""

from __future__ import annotations

import json
import logging
from collections.abc import Iterator
from typing import Any

import httpx
import pytest

from saleslayer_airflow.exceptions import SalesLayerTerminalError, SalesLayerTransientError
from saleslayer_airflow.saleslayer import (
    CATEGORIES,
    PRODUCTS,
    ConnectorApiClient,
    ConnectorApiOptions,
    ConnectorCredentials,
    RestCatalogClient,
    RestCredentials,
    RestOptions,
    RetryPolicy,
    custom_entity,
)
from saleslayer_airflow.saleslayer.hook import SalesLayerHook
from tests.saleslayer.fakes import API_KEY, CODE, PRIVATE_KEY

server = pytest.importorskip("saleslayer_airflow.emulator.server")

pytestmark = pytest.mark.integration

BRANDS = custom_entity("Brands", "brand")
QUICK = RetryPolicy(attempts=4, initial=0.05, maximum=0.2, jitter=0.05)

CATALOGUE = [
    {"cat_ref": "C-ROOT", "cat_title": {"en": "Catalog", "es": "Catálogo"}},
    {"cat_ref": "C-SHOES", "cat_title": {"en": "Shoes"}, "cat_parent_ref": "C-ROOT"},
    {"cat_ref": "C-BOOTS", "cat_title": {"en": "Boots, tall"}, "cat_parent_ref": "C-SHOES"},
    {"cat_ref": "C-BAGS", "cat_title": {"en": "Bags"}, "cat_parent_ref": "C-ROOT"},
]
BRAND_ROWS = [
    {"brand_ref": "B-ACME", "brand_title": {"en": "Acme"}, "brand_website": "https://acme.test"},
    {"brand_ref": "B-ZETA", "brand_title": {"en": "Zeta", "fr": "Zêta"}},
]
PRODUCT_ROWS = [
    {
        "prod_ref": "P1",
        "prod_title": {"en": "Shoe", "es": "Zapato"},
        "cat_ref": ["C-SHOES", "C-BAGS"],
        "prod_brand": "B-ACME",
        "prod_tags": ["red", "sale"],
        "prod_price": "12.50",
    },
    {"prod_ref": "P2", "prod_title": {"en": "Boot & co"}, "cat_ref": "C-BOOTS"},
]
VARIANT_ROWS = [
    {"frmt_ref": "V1", "prod_ref": "P1", "size": "42", "color": {"en": "Red", "es": "Rojo"}},
    {"frmt_ref": "V2", "prod_ref": "P1", "size": "43"},
    {"frmt_ref": "V3", "prod_ref": "P2", "size": "44", "frmt_ean": "8400000000017"},
]
POS_ROWS = [
    {"pos_ref": "POS1", "pos_name": "Store Madrid", "pos_city": "Madrid", "pos_latitude": "40.4"},
    {"pos_ref": "POS2", "pos_name": "Store Lyon", "pos_description": {"fr": "Centre-ville"}},
]

EXPECTED: dict[str, dict[str, dict[str, Any]]] = {
    "catalogue": {
        "C-ROOT": {"fields": {"cat_title": {"en": "Catalog", "es": "Catálogo"}}, "links": {}},
        "C-SHOES": {
            "fields": {"cat_title": {"en": "Shoes"}},
            "links": {"cat_parent_ref": ["C-ROOT"]},
        },
        "C-BOOTS": {
            "fields": {"cat_title": {"en": "Boots, tall"}},
            "links": {"cat_parent_ref": ["C-SHOES"]},
        },
        "C-BAGS": {
            "fields": {"cat_title": {"en": "Bags"}},
            "links": {"cat_parent_ref": ["C-ROOT"]},
        },
    },
    "brands": {
        "B-ACME": {
            "fields": {"brand_title": {"en": "Acme"}, "brand_website": "https://acme.test"},
            "links": {},
        },
        "B-ZETA": {"fields": {"brand_title": {"en": "Zeta", "fr": "Zêta"}}, "links": {}},
    },
    "products": {
        "P1": {
            "fields": {
                "prod_title": {"en": "Shoe", "es": "Zapato"},
                "prod_tags": ["red", "sale"],
                "prod_price": "12.50",
            },
            "links": {"cat_ref": ["C-SHOES", "C-BAGS"], "prod_brand": ["B-ACME"]},
        },
        "P2": {"fields": {"prod_title": {"en": "Boot & co"}}, "links": {"cat_ref": ["C-BOOTS"]}},
    },
    "product_formats": {
        "V1": {
            "fields": {"size": "42", "color": {"en": "Red", "es": "Rojo"}},
            "links": {"prod_ref": ["P1"]},
        },
        "V2": {"fields": {"size": "43"}, "links": {"prod_ref": ["P1"]}},
        "V3": {
            "fields": {"size": "44", "frmt_ean": "8400000000017"},
            "links": {"prod_ref": ["P2"]},
        },
    },
    "points_of_sale": {
        "POS1": {
            "fields": {"pos_name": "Store Madrid", "pos_city": "Madrid", "pos_latitude": "40.4"},
            "links": {},
        },
        "POS2": {
            "fields": {"pos_name": "Store Lyon", "pos_description": {"fr": "Centre-ville"}},
            "links": {},
        },
    },
}


@pytest.fixture(scope="module")
def emulator(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Any]:
    data = tmp_path_factory.mktemp("sl-emulator") / "sl.sqlite"
    with server.run_in_thread(data) as running:
        yield running


@pytest.fixture
def sl(emulator: Any) -> Any:
    """The module's emulator, emptied and back to default settings for each test."""
    httpx.post(f"{emulator.base_url}/_emulator/reset").raise_for_status()
    return emulator


def _connector(sl: Any, **options: Any) -> ConnectorApiClient:
    opts = ConnectorApiOptions(**{"retry": QUICK, "poll_interval": 0.05, **options})
    return ConnectorApiClient(
        ConnectorCredentials(sl.base_url, CODE, PRIVATE_KEY), conn_id="sl_emulator", options=opts
    )


def _rest(sl: Any, **options: Any) -> RestCatalogClient:
    from saleslayer_airflow.saleslayer import SlidingWindowLimiter

    opts = RestOptions(**{"retry": QUICK, **options})
    return RestCatalogClient(
        RestCredentials(sl.rest_base_url, API_KEY),
        conn_id="sl_emulator",
        options=opts,
        # A limiter of its own: other tests' requests must not slow this one down.
        limiter=SlidingWindowLimiter(opts.max_requests, opts.window),
    )


def _state(sl: Any, table: str) -> dict[str, dict[str, Any]]:
    """A table as the inspection route shows it: live items by reference, fields and links."""
    answer = httpx.get(f"{sl.base_url}/_emulator/tables/{table}", params={"live": "true"})
    answer.raise_for_status()
    return {
        item["ref"]: {
            "fields": item["fields"],
            "links": {k: v for k, v in item["links"].items() if v},
        }
        for item in answer.json()["items"]
    }


def _raw(sl: Any, table: str) -> list[dict[str, Any]]:
    """Every item of a table (deleted ones too) with ids, status, dates, fields and links,
    except the modification date: the emulator touches it on every accepted row."""
    answer = httpx.get(f"{sl.base_url}/_emulator/tables/{table}")
    answer.raise_for_status()
    return [{k: v for k, v in i.items() if k != "modified"} for i in answer.json()["items"]]


def _connector_push(api: ConnectorApiClient) -> dict[str, tuple[int, int]]:
    counts = {}
    for table, rows, ref in [
        ("catalogue", CATALOGUE, "cat_ref"),
        ("brands", BRAND_ROWS, "brand_ref"),
        ("products", PRODUCT_ROWS, "prod_ref"),
        ("product_formats", VARIANT_ROWS, "frmt_ref"),
        ("points_of_sale", POS_ROWS, "pos_ref"),
    ]:
        result = api.upsert(table, rows, ref_field=ref)[table]
        counts[table] = (result.created, result.updated)
    return counts


def test_import_connector_full_upsert_then_unchanged_resend(sl: Any) -> None:
    with _connector(sl) as api:
        first = _connector_push(api)
        assert first == {table: (len(items), 0) for table, items in EXPECTED.items()}
        for table, expected in EXPECTED.items():
            assert _state(sl, table) == expected, table
        before = {table: _raw(sl, table) for table in EXPECTED}
        second = _connector_push(api)
        assert all(created == 0 for created, _ in second.values()), second
        after = {table: _raw(sl, table) for table in EXPECTED}
    assert after == before  # same ids, statuses, fields and links: nothing changed


def test_import_connector_batches_and_deletes(sl: Any) -> None:
    from saleslayer_airflow.saleslayer import BatchLimits

    rows = [{"pos_ref": f"S{i:03d}", "pos_name": f"Store {i}"} for i in range(23)]
    with _connector(sl, limits=BatchLimits(max_items=10)) as api:
        counts = api.upsert("points_of_sale", rows, ref_field="pos_ref")["points_of_sale"]
        assert (counts.created, counts.calls) == (23, 3)
        deleted = api.delete("points_of_sale", ["S000", "S001", "NOPE"], "pos_ref")
    assert deleted["points_of_sale"].deleted == 2
    assert set(_state(sl, "points_of_sale")) == {f"S{i:03d}" for i in range(2, 23)}
    stats = httpx.get(f"{sl.base_url}/_emulator/stats").json()
    assert stats["by_endpoint"]["POST /"] == 4


def test_catalog_rest_full_upsert_then_unchanged_resend(sl: Any) -> None:
    with _rest(sl) as rest:
        counts = rest.push(
            categories=CATALOGUE,
            products=PRODUCT_ROWS,
            variants=VARIANT_ROWS,
            custom_entities={BRANDS: BRAND_ROWS},
        )
        assert {k: (v.created, v.updated) for k, v in counts.items()} == {
            "Categories": (4, 0),
            "CustomEntities('Brands')": (2, 0),
            "Products": (2, 0),
            "Variants": (3, 0),
        }
    for table, expected in EXPECTED.items():
        if table != "points_of_sale":  # no REST write for points of sale
            assert _state(sl, table) == expected, table
    before = {t: _state(sl, t) for t in EXPECTED}
    with _rest(sl) as again:  # an empty cache: every reference is looked up
        counts = again.push(
            categories=CATALOGUE,
            products=PRODUCT_ROWS,
            variants=VARIANT_ROWS,
            custom_entities={BRANDS: BRAND_ROWS},
        )
        assert all(c.created == 0 for c in counts.values())
        assert again.lookups == 4  # one per set: parents were cached by their own set
    assert {t: _state(sl, t) for t in EXPECTED} == before
    assert httpx.get(f"{sl.base_url}/_emulator/stats").json()["total_429"] == 0


def test_items_written_through_one_api_are_found_through_the_other(sl: Any) -> None:
    with _connector(sl) as api:
        _connector_push(api)
    with _rest(sl) as rest:
        ids = rest.resolve(PRODUCTS, ["P1", "P2", "P3"])
        assert set(ids) == {"P1", "P2"}
        counts = rest.upsert(PRODUCTS, [{"prod_ref": "P1", "prod_price": "9.99"}])
        assert (counts.created, counts.updated) == (0, 1)
        gone = rest.delete(PRODUCTS, ["P2"])
        assert gone.deleted == 1
    assert _state(sl, "products")["P1"]["fields"]["prod_price"] == "9.99"
    assert "P2" not in _state(sl, "products")
    assert "V3" not in _state(sl, "product_formats")  # a deleted product takes its variants


def test_rest_lookups_follow_next_link_in_batches(sl: Any) -> None:
    refs = [f"C{i:03d}" for i in range(230)]
    with _connector(sl) as api:
        api.upsert("catalogue", [{"cat_ref": r} for r in refs])
    with _rest(sl, lookup_batch=100) as rest:
        ids = rest.resolve(CATEGORIES, refs)
        assert len(ids) == 230 and len(set(ids.values())) == 230
        assert rest.lookups == 3


def test_wrong_private_key_is_terminal_and_secret_free(sl: Any) -> None:
    creds = ConnectorCredentials(sl.base_url, CODE, "not-the-private-key-123")
    with (
        ConnectorApiClient(creds, conn_id="sl_bad") as api,
        pytest.raises(SalesLayerTerminalError) as caught,
    ):
        api.upsert("products", PRODUCT_ROWS)
    assert caught.value.code in (4, 9)
    assert "not-the-private-key-123" not in str(caught.value)
    assert "connection 'sl_bad'" in str(caught.value)


def test_unknown_field_is_denied_with_result_2(sl: Any) -> None:
    with _connector(sl) as api, pytest.raises(SalesLayerTerminalError, match="result 2") as caught:
        api.upsert("products", [{"prod_ref": "P9", "prod_colour": "red"}])
    assert "prod_colour" in str(caught.value)


def test_legacy_busy_codes_and_dropped_connections_are_retried(sl: Any) -> None:
    sl.update_settings(
        {"faults": {"connector_api": {"script": ["error_14", "error_10", "drop", "5xx"]}}}
    )
    with _connector(sl, retry=RetryPolicy(attempts=5, initial=0.05, maximum=0.2)) as api:
        counts = api.upsert("catalogue", CATALOGUE[:1])["catalogue"]
    assert counts.created == 1


def test_retries_run_out_into_a_transient_error(sl: Any) -> None:
    sl.update_settings({"faults": {"connector_api": {"script": ["error_11"] * 4}}})
    with _connector(sl) as api, pytest.raises(SalesLayerTransientError, match="error 11"):
        api.upsert("catalogue", CATALOGUE[:1])


def test_a_failed_import_job_is_terminal_and_wrote_nothing(sl: Any) -> None:
    sl.update_settings({"faults": {"tracking": {"job_failure_share": 1.0}}})
    with _connector(sl) as api, pytest.raises(SalesLayerTerminalError, match="ended in error"):
        api.upsert("catalogue", CATALOGUE[:1])
    assert _state(sl, "catalogue") == {}


def test_rest_429_retry_after_is_honoured(sl: Any, caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.WARNING)
    sl.update_settings({"faults": {"rest": {"script": ["429"], "retry_after_seconds": 1}}})
    with _rest(sl) as rest:
        assert rest.upsert(CATEGORIES, CATALOGUE[:1]).created == 1
    assert "retrying in 1.0 s" in caplog.text
    assert API_KEY not in caplog.text


def test_rest_wrong_api_key_is_terminal(sl: Any) -> None:
    rest = RestCatalogClient(RestCredentials(sl.rest_base_url, "wrong-api-key-4567"), conn_id="x")
    with rest, pytest.raises(SalesLayerTerminalError, match="HTTP 401") as caught:
        rest.check()
    assert "wrong-api-key-4567" not in str(caught.value)


def test_rest_ambiguous_post_failures_create_no_duplicates(sl: Any) -> None:
    sl.update_settings(
        {
            "faults": {"rest": {"seed": 7, "share_5xx": 0.3, "share_drop": 0.1}},
            "rate_limit": {"enabled": False},  # the retries are many: do not wait for windows
        }
    )
    quick = RetryPolicy(attempts=8, initial=0.01, maximum=0.05)
    with _rest(sl, retry=quick, max_requests=10_000) as rest:
        rest.push(categories=CATALOGUE, products=PRODUCT_ROWS, custom_entities={BRANDS: BRAND_ROWS})
        retried = rest.requests
    sl.update_settings({"faults": {"rest": {"share_5xx": 0.0, "share_drop": 0.0}}})
    assert httpx.get(f"{sl.base_url}/_emulator/stats").json()["faults"], "no fault was served"
    assert retried > 8 + 4 + 3  # more requests than a clean run: faults were met and retried
    for table in ("catalogue", "products", "brands"):
        refs = [item["ref"] for item in _raw(sl, table)]
        assert len(refs) == len(set(refs)), table
    assert _state(sl, "products") == EXPECTED["products"]


def test_hook_test_connection_against_the_emulator(
    sl: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    conn = {
        "conn_type": "saleslayer",
        "host": sl.base_url,
        "login": CODE,
        "password": PRIVATE_KEY,
        "extra": {"rest_url": sl.rest_base_url, "api_key": API_KEY},
    }
    monkeypatch.setenv("AIRFLOW_CONN_SALESLAYER_EMULATOR", json.dumps(conn))
    ok, message = SalesLayerHook("saleslayer_emulator").test_connection()
    assert ok, message
    monkeypatch.setenv(
        "AIRFLOW_CONN_SALESLAYER_EMULATOR", json.dumps({**conn, "password": "wrong-key-98765"})
    )
    ok, message = SalesLayerHook("saleslayer_emulator").test_connection()
    assert not ok and "wrong-key-98765" not in message
