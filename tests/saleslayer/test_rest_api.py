"""The Catalog REST API client against a stand-in server (fakes.FakeRestApi)."""

from __future__ import annotations

import json
from datetime import UTC, datetime
from email.utils import format_datetime

import httpx
import pytest

from saleslayer_airflow.exceptions import SalesLayerTerminalError, SalesLayerTransientError
from saleslayer_airflow.saleslayer import (
    CATEGORIES,
    PRODUCTS,
    VARIANTS,
    RestCatalogClient,
    custom_entity,
)
from tests.saleslayer.conftest import FakeClock, make_rest_client
from tests.saleslayer.fakes import API_KEY, FakeRestApi

BRANDS = custom_entity("Brand", "brand")

CATS = [
    {"cat_ref": "SHOES-RUN", "cat_title": {"en": "Running"}, "cat_parent_ref": "SHOES"},
    {"cat_ref": "SHOES", "cat_title": {"en": "Shoes"}, "cat_parent_ref": ""},
    {"cat_ref": "SHOES-RUN-TRAIL", "cat_parent_ref": "SHOES-RUN"},
    {"cat_ref": "BAGS"},
]
PRODS = [
    {"prod_ref": "P1", "prod_title": {"en": "Shoe", "es": "Zapato"}, "cat_ref": "SHOES,BAGS"},
    {"prod_ref": "P2", "prod_title": {"en": "Trail"}, "cat_ref": ["SHOES-RUN-TRAIL"]},
]
VARS = [
    {"frmt_ref": "P1-42", "prod_ref": "P1", "size": "42"},
    {"frmt_ref": "P2-43", "prod_ref": "P2", "size": "43"},
]


def _writes(server: FakeRestApi) -> list[tuple[str, str]]:
    return [(r.method, r.url.path) for r in server.requests if r.method != "GET"]


def test_push_creates_in_dependency_order_with_links_resolved_to_ids(
    rest_client: RestCatalogClient, rest_server: FakeRestApi
) -> None:
    counts = rest_client.push(
        categories=CATS,
        products=PRODS,
        variants=VARS,
        custom_entities={BRANDS: [{"brand_ref": "ACME", "brand_title": {"en": "Acme"}}]},
    )
    assert {k: (v.created, v.updated) for k, v in counts.items()} == {
        "Categories": (4, 0),
        "Products": (2, 0),
        "Variants": (2, 0),
        "CustomEntities('Brand')": (1, 0),
    }
    posts = [json.loads(r.content) for r in rest_server.requests if r.method == "POST"]
    refs = [next(v for k, v in p.items() if k.endswith("_ref")) for p in posts]
    # Parents before children, custom entities (products may relate to them), products, variants.
    assert refs == [
        *("SHOES", "SHOES-RUN", "SHOES-RUN-TRAIL", "BAGS"),
        *("ACME", "P1", "P2", "P1-42", "P2-43"),
    ]
    cats = rest_server.by_ref("Categories", "cat_ref")
    prods = rest_server.by_ref("Products", "prod_ref")
    assert "cat_parent_id" not in cats["SHOES"]
    assert cats["SHOES-RUN"]["cat_parent_id"] == cats["SHOES"]["cat_id"]
    assert cats["SHOES-RUN-TRAIL"]["cat_parent_id"] == cats["SHOES-RUN"]["cat_id"]
    assert prods["P1"]["cat_id"] == [cats["SHOES"]["cat_id"], cats["BAGS"]["cat_id"]]
    assert prods["P2"]["cat_id"] == cats["SHOES-RUN-TRAIL"]["cat_id"]
    assert prods["P1"]["prod_title"] == {"en": "Shoe", "es": "Zapato"}
    variants = rest_server.by_ref("Variants", "frmt_ref")
    assert variants["P1-42"]["prod_id"] == prods["P1"]["prod_id"]
    assert "prod_ref" not in variants["P1-42"]  # a parent's ref is read-only on REST
    assert rest_server.by_ref("CustomEntities('Brand')", "brand_ref")["ACME"]["brand_id"]
    # Ids came from Location headers on another host.
    assert rest_client.known_ids(PRODUCTS) == {
        "P1": prods["P1"]["prod_id"],
        "P2": prods["P2"]["prod_id"],
    }


def test_custom_entities_can_go_last(
    rest_client: RestCatalogClient, rest_server: FakeRestApi
) -> None:
    rest_client.push(
        categories=CATS[3:],
        products=[{"prod_ref": "P1", "cat_ref": "BAGS"}],
        custom_entities={BRANDS: [{"brand_ref": "ACME"}]},
        custom_entities_first=False,
    )
    posts = [json.loads(r.content) for r in rest_server.requests if r.method == "POST"]
    assert [p.get("cat_ref") or p.get("prod_ref") or p["brand_ref"] for p in posts] == [
        "BAGS",
        "P1",
        "ACME",
    ]


def test_a_second_push_patches_and_creates_nothing(
    rest_client: RestCatalogClient, rest_server: FakeRestApi, clock: FakeClock
) -> None:
    rest_client.push(categories=CATS, products=PRODS, variants=VARS)
    before = json.dumps(rest_server.items, sort_keys=True)
    first_requests = len(rest_server.requests)
    # A fresh client (empty cache) must find every item by reference.
    with make_rest_client(rest_server, clock) as again:
        counts = again.push(categories=CATS, products=PRODS, variants=VARS)
    assert {k: (v.created, v.updated) for k, v in counts.items()} == {
        "Categories": (0, 4),
        "Products": (0, 2),
        "Variants": (0, 2),
    }
    assert json.dumps(rest_server.items, sort_keys=True) == before
    second = rest_server.requests[first_requests:]
    assert sorted({r.method for r in second}) == ["GET", "PATCH"]
    patches = [json.loads(r.content) for r in second if r.method == "PATCH"]
    assert len(patches) == 8
    for body in patches:  # references cannot change through REST: never sent on PATCH
        assert not {"cat_ref", "prod_ref", "frmt_ref"} & set(body)


@pytest.mark.parametrize("patch_status", [200, 204])
def test_patch_accepts_any_success_status(
    patch_status: int, rest_server: FakeRestApi, clock: FakeClock
) -> None:
    rest_server.patch_status = patch_status
    with make_rest_client(rest_server, clock) as rest:
        rest.upsert(CATEGORIES, [{"cat_ref": "A"}])
        assert rest.upsert(CATEGORIES, [{"cat_ref": "A", "cat_title": "x"}]).updated == 1


def test_refs_are_resolved_in_batches_following_next_link(
    rest_server: FakeRestApi, clock: FakeClock
) -> None:
    rest_server.page_size = 40
    with make_rest_client(rest_server, clock) as rest:
        rest.upsert(CATEGORIES, [{"cat_ref": f"C{i}"} for i in range(250)])
    with make_rest_client(rest_server, clock) as rest:
        rest_server.requests.clear()
        ids = rest.resolve(CATEGORIES, [f"C{i}" for i in range(250)] + ["MISSING"])
        assert len(ids) == 250 and "MISSING" not in ids
        lookups = rest_server.requests
        # 251 refs in groups of at most 100 (3 groups); pages of 40 -> 3 + 3 + 2 requests.
        assert rest.lookups == len(lookups) == 8
        first = lookups[0].url.params
        assert first["$select"] == "cat_id,cat_ref"
        assert first["$filter"].startswith("cat_ref in ('C0','C1',")
        assert "$skipToken" in lookups[1].url.params
        # A second resolve is served from the cache.
        rest.resolve(CATEGORIES, ["C1", "C2"])
        assert len(rest_server.requests) == 8


def test_next_link_on_another_host_never_receives_the_api_key(
    rest_server: FakeRestApi, clock: FakeClock
) -> None:
    rest_server.page_size = 2
    rest_server.next_link_host = "https://internal.kp.test"
    with make_rest_client(rest_server, clock) as rest:
        rest.upsert(CATEGORIES, [{"cat_ref": f"C{i}"} for i in range(5)])
    with make_rest_client(rest_server, clock) as rest:
        assert len(rest.resolve(CATEGORIES, [f"C{i}" for i in range(5)])) == 5
    assert {r.url.host for r in rest_server.requests} == {"sl.test"}


def test_lookup_urls_stay_within_the_length_limit(
    rest_server: FakeRestApi, clock: FakeClock
) -> None:
    refs = [f"REF-{i:04d}-" + "x" * 30 for i in range(60)]
    with make_rest_client(rest_server, clock, max_url_length=600) as rest:
        rest.resolve(CATEGORIES, refs)
    assert len(rest_server.requests) > 5
    assert all(len(str(r.url)) <= 600 for r in rest_server.requests)
    wanted = set()
    for request in rest_server.requests:
        wanted |= {v for v in request.url.params["$filter"].split("'") if v.startswith("REF-")}
    assert wanted == set(refs)


def test_quotes_in_references_are_escaped(rest_server: FakeRestApi, clock: FakeClock) -> None:
    with make_rest_client(rest_server, clock) as rest:
        rest.upsert(CATEGORIES, [{"cat_ref": "O'Neil"}])
    with make_rest_client(rest_server, clock) as rest:
        assert rest.upsert(CATEGORIES, [{"cat_ref": "O'Neil", "cat_title": "t"}]).updated == 1
    assert "cat_ref in ('O''Neil')" in rest_server.requests[-2].url.params["$filter"]


def test_a_missing_parent_fails_the_table_before_any_write(
    rest_client: RestCatalogClient, rest_server: FakeRestApi
) -> None:
    with pytest.raises(SalesLayerTerminalError) as caught:
        rest_client.upsert(VARIANTS, [{"frmt_ref": "V1", "prod_ref": "NOPE"}, *VARS])
    message = str(caught.value)
    assert "frmt_ref 'V1' -> prod_ref 'NOPE'" in message
    assert "3 parent reference(s)" in message
    assert _writes(rest_server) == []


def test_a_category_cycle_is_refused(rest_client: RestCatalogClient) -> None:
    rows = [
        {"cat_ref": "A", "cat_parent_ref": "B"},
        {"cat_ref": "B", "cat_parent_ref": "A"},
    ]
    with pytest.raises(SalesLayerTerminalError, match="cycle"):
        rest_client.upsert(CATEGORIES, rows)


def test_languages_fold_flat_columns_into_culture_objects(
    rest_server: FakeRestApi, clock: FakeClock
) -> None:
    with make_rest_client(rest_server, clock, languages=("en", "es")) as rest:
        rest.upsert(
            CATEGORIES,
            [{"cat_ref": "C1", "cat_title_en": "Shoes", "cat_title_es": "Zapatos", "cat_size": 3}],
        )
    body = json.loads(rest_server.requests[-1].content)
    assert body == {"cat_title": {"en": "Shoes", "es": "Zapatos"}, "cat_size": 3, "cat_ref": "C1"}


def test_delete_by_reference_counts_missing_items(
    rest_client: RestCatalogClient, rest_server: FakeRestApi
) -> None:
    rest_client.upsert(CATEGORIES, [{"cat_ref": "A"}, {"cat_ref": "B"}])
    counts = rest_client.delete(CATEGORIES, ["A", "GONE"])
    assert (counts.deleted, counts.missing) == (1, 1)
    assert set(rest_server.by_ref("Categories", "cat_ref")) == {"B"}
    # The cache forgot A: upserting it again creates it.
    assert rest_client.upsert(CATEGORIES, [{"cat_ref": "A"}]).created == 1


def test_a_stale_cached_id_falls_back_to_create(
    rest_client: RestCatalogClient, rest_server: FakeRestApi
) -> None:
    rest_client.upsert(CATEGORIES, [{"cat_ref": "A"}])
    rest_server.items["Categories"].clear()  # deleted behind the client's back
    assert rest_client.upsert(CATEGORIES, [{"cat_ref": "A"}]).created == 1
    assert set(rest_server.by_ref("Categories", "cat_ref")) == {"A"}


def test_a_post_retried_after_an_ambiguous_failure_creates_no_duplicate(
    rest_client: RestCatalogClient, rest_server: FakeRestApi
) -> None:
    def created_but_503(request: httpx.Request) -> httpx.Response:
        rest_server.faults.clear()
        rest_server.handle(request)  # the server did create it...
        return httpx.Response(503)  # ...but the answer was lost

    rest_client.resolve(CATEGORIES, ["A"])
    rest_server.faults = [created_but_503]
    counts = rest_client.upsert(CATEGORIES, [{"cat_ref": "A"}])
    assert counts.created == 1
    assert len(rest_server.items["Categories"]) == 1


@pytest.mark.parametrize(
    ("status", "transient", "hint"),
    [
        (400, False, "fix the field names"),
        (401, False, "extra 'api_key'"),
        (403, False, "REST writes are disabled"),
        (404, False, "REST base URL"),
        (409, True, "conflict"),
        (429, True, "rate limit"),
        (500, True, "retried"),
        (503, True, "retried"),
    ],
)
def test_http_errors_are_classified_with_hints(
    status: int, transient: bool, hint: str, rest_server: FakeRestApi, clock: FakeClock
) -> None:
    rest_server.faults = [httpx.Response(status, json="Invalid attribute name: Cat_title")] * 3
    with make_rest_client(rest_server, clock) as rest, pytest.raises(Exception) as caught:
        rest.upsert(CATEGORIES, [{"cat_ref": "A"}])
    error = caught.value
    assert type(error) is (SalesLayerTransientError if transient else SalesLayerTerminalError)
    message = str(error)
    assert f"HTTP {status}" in message and hint in message
    assert "Invalid attribute name: Cat_title" in message
    assert "connection 'saleslayer_test'" in message
    assert "http://sl.test:8090/catalog/rest/Catalog/Categories" in message
    assert "$filter" not in message
    assert len(rest_server.requests) == (3 if transient else 1)


def test_unauthorized_answer_names_the_problem_detail(
    rest_server: FakeRestApi, clock: FakeClock
) -> None:
    from saleslayer_airflow.saleslayer import RestCatalogClient, RestCredentials

    rest = RestCatalogClient(
        RestCredentials("http://sl.test:8090/catalog/rest/Catalog", "wrong-api-key-77"),
        conn_id="x",
        transport=rest_server.transport(),
        clock=clock,
        sleep=clock.sleep,
    )
    with rest, pytest.raises(SalesLayerTerminalError) as caught:
        rest.check()
    assert "Unauthorized; Missing or invalid API key" in str(caught.value)
    assert "wrong-api-key-77" not in str(caught.value)


@pytest.mark.parametrize("header", ["seconds", "date"])
def test_retry_after_is_honoured_in_seconds_or_as_a_date(
    header: str, rest_server: FakeRestApi, clock: FakeClock
) -> None:
    value = (
        "12"
        if header == "seconds"
        else format_datetime(datetime.fromtimestamp(clock.now + 30, UTC), usegmt=True)
    )
    rest_server.faults = [httpx.Response(429, headers={"Retry-After": value})]
    with make_rest_client(rest_server, clock) as rest:
        assert rest.upsert(CATEGORIES, [{"cat_ref": "A"}]).created == 1
    waited = sum(clock.sleeps)
    assert waited >= (12 if header == "seconds" else 29)
    assert waited <= (24 if header == "seconds" else 60)


def test_every_request_carries_the_api_key_and_passes_the_limiter(
    rest_server: FakeRestApi, clock: FakeClock
) -> None:
    with make_rest_client(rest_server, clock, max_requests=5, window=10.0) as rest:
        rest.upsert(CATEGORIES, [{"cat_ref": f"C{i}"} for i in range(12)])
        assert rest.requests == 13  # one lookup, twelve creates
    assert all(r.headers["X-API-KEY"] == API_KEY for r in rest_server.requests)
    # 13 requests at 5 per 10 s on the simulated clock: two full windows waited.
    assert clock.now - 1_795_874_830.0 == pytest.approx(20.0)


def test_check_reads_one_category(rest_client: RestCatalogClient, rest_server: FakeRestApi) -> None:
    assert "accepted the API key" in rest_client.check()
    (request,) = rest_server.requests
    assert request.url.params["$top"] == "1"
