"""Contract tests of the emulated Catalog REST API v2 over real HTTP."""

from __future__ import annotations

from typing import Any

import pytest

from tests.emulator.conftest import API_KEY, Api, location_id, php_form

pytestmark = pytest.mark.integration


def create(api: Api, path: str, body: Any, **kwargs: Any) -> int:
    response = api.rest("POST", path, json=body, **kwargs)
    assert response.status_code == 201, response.text
    assert response.content == b""
    return location_id(response)


@pytest.mark.parametrize("headers", [{}, {"X-API-KEY": "wrong"}])
def test_missing_or_wrong_api_key_is_401_problem_details(api: Api, headers: dict[str, str]) -> None:
    response = api.http.get("/catalog/rest/Catalog/Products", headers=headers)
    assert response.status_code == 401
    assert response.headers["content-type"].startswith("application/problem+json")
    problem = response.json()
    assert problem["type"] == "https://api2.saleslayer.com/errors/unauthorized"
    assert problem["status"] == 401 and problem["instance"] == "/catalog/rest/Catalog/Products"
    assert {"title", "detail"} <= set(problem)
    assert API_KEY not in response.text


def test_create_returns_201_location_and_ids_auto_increment(api: Api) -> None:
    response = api.rest("POST", "Categories", json={"cat_ref": "C1", "cat_title": {"en": "Men"}})
    assert response.status_code == 201 and response.content == b""
    assert response.headers["location"] == f"{api.emulator.rest_base_url}Categories(1)"
    assert create(api, "Categories", {"cat_ref": "C2", "cat_parent_id": "1"}) == 2
    brand = api.rest("POST", "CustomEntities('Brands')/", json={"brand_ref": "B1"})
    assert brand.headers["location"].endswith("/CustomEntities('Brands')/Item(1)")


@pytest.mark.parametrize(
    "path",
    [
        "/catalog/rest/Catalog/Products(1)",
        "/rest/Catalog/Products(1)",
        "/catalog/products(1)",
        "/rest/Catalog/PRODUCTS(1)/",
    ],
)
def test_base_paths_and_set_names_are_aliases(api: Api, path: str) -> None:
    create(api, "Products", {"prod_ref": "P1"})
    response = api.http.get(path, headers={"X-API-KEY": API_KEY})
    assert response.status_code == 200 and response.json()["prod_ref"] == "P1"


@pytest.mark.parametrize(
    "path",
    [
        "CustomEntities('Brands')/Item(1)",
        "CustomEntity('Brands')/item(1)",
        "customentities('brands')/ITEM(1)",
    ],
)
def test_custom_entity_paths_and_aliases(api: Api, path: str) -> None:
    create(api, "CustomEntity('Brands')", {"brand_ref": "B1", "brand_website": "acme.example"})
    response = api.rest("GET", path)
    assert response.status_code == 200 and response.json()["brand_website"] == "acme.example"


@pytest.mark.parametrize(
    ("path", "status"),
    [
        ("Shoes", 404),
        ("PointsOfSale", 404),
        ("CustomEntities('Nope')", 404),
        ("CustomEntities", 404),
        ("Products(abc)", 400),
        ("Products(1)/Variants/x", 404),
        ("Products(99)", 404),
    ],
)
def test_unknown_paths_and_keys(api: Api, path: str, status: int) -> None:
    response = api.rest("GET", path)
    assert response.status_code == status
    assert response.json()["status"] == status


@pytest.mark.parametrize(
    ("body", "detail"),
    [
        ({"prod_title": {"en": "x"}}, "Attribute prod_ref is mandatory"),
        ({"prod_ref": "P1", "Prod_title": "x"}, "Invalid attribute name: Prod_title"),
        ([{"prod_ref": "P1"}, {"prod_ref": "P2"}], "Only one item per request; the array holds 2"),
        ({}, "The request body must be a non-empty JSON object"),
        ({"prod_ref": "P1", "cat_id": 77}, "cat_id does not exist or is invalid"),
        ({"prod_ref": "P1", "cat_id": "x"}, "cat_id does not exist or is invalid: 'x'"),
        (
            {"prod_ref": "P1", "prod_stat": "X"},
            "Invalid value for prod_stat: 'X' (use V, I, D or R)",
        ),
        ({"prod_ref": "P1", "prod_title": {"de": "x"}}, "Culture 'de' is not enabled"),
        ({"prod_ref": "P1", "prod_price": {"a": 1}}, "Field prod_price takes a single value"),
        ({"prod_ref": "P1", "prod_brand": "NOPE"}, "prod_brand: reference(s) NOPE not found"),
        ({"prod_ref": "P1", "prod_id": 5}, "Attribute prod_id cannot be changed"),
    ],
)
def test_bad_create_bodies_are_400_problem_details(api: Api, body: Any, detail: str) -> None:
    response = api.rest("POST", "Products", json=body)
    assert response.status_code == 400, response.text
    assert response.json()["detail"].startswith(detail)
    assert next(iter(response.json()["validationFailures"].values()))[0].startswith(detail)


def test_invalid_json_and_bare_string_errors(api: Api) -> None:
    bad = api.rest(
        "POST", "Products", content=b"{nope", headers={"Content-Type": "application/json"}
    )
    assert bad.status_code == 400 and "not valid JSON" in bad.json()["detail"]
    api.settings({"rest": {"error_body": "string"}})
    response = api.rest("POST", "Products", json={"prod_title": "x"})
    assert response.status_code == 400 and response.json() == "Attribute prod_ref is mandatory"


def test_links_by_id_are_validated_and_coerced(api: Api) -> None:
    cat = create(api, "Categories", {"cat_ref": "C1"})
    assert (
        api.rest("POST", "Categories", json={"cat_ref": "C2", "cat_parent_id": 9}).json()["detail"]
        == "cat_parent_id does not exist or is invalid"
    )
    prod = create(api, "Products", {"prod_ref": "P1", "cat_id": [cat, str(cat)]})
    assert create(api, "Products", {"prod_ref": "P2", "cat_id": f"00{cat}"}) == prod + 1
    variant = create(api, "Variants", {"frmt_ref": "V1", "prod_id": f"00{prod}"})
    read = api.rest("GET", f"Variants({variant})").json()
    assert read["prod_id"] == prod and read["prod_ref"] == "P1"
    missing = api.rest("POST", "Variants", json={"frmt_ref": "V2", "prod_id": 999})
    assert (missing.status_code, missing.json()["detail"]) == (400, "Product 999 not found.")
    api.settings({"rest": {"missing_product_status": 404}})
    assert api.rest("POST", "Variants", json={"frmt_ref": "V2", "prod_id": 999}).status_code == 404
    no_parent = api.rest("POST", "Variants", json={"frmt_ref": "V2"})
    assert no_parent.json()["detail"] == "Attribute prod_id is mandatory"
    itself = api.rest("PATCH", f"Categories({cat})", json={"cat_parent_id": cat})
    assert itself.status_code == 400


def test_patch_is_partial_204_by_default_200_when_switched(api: Api) -> None:
    pid = create(
        api, "Products", {"prod_ref": "P1", "prod_title": {"en": "A", "es": "B"}, "prod_price": 10}
    )
    response = api.rest("PATCH", f"Products({pid})", json={"prod_title": {"es": "C"}})
    assert response.status_code == 204
    read = api.rest("GET", f"Products({pid})").json()
    assert read["prod_title"] == {"en": "A", "es": "C"} and read["prod_price"] == "10"
    assert read["prod_modify"] > read["prod_creation"]
    api.settings({"rest": {"patch_status": 200}})
    response = api.rest("PATCH", f"Products({pid})", json={"prod_price": None})
    assert response.status_code == 200 and response.json()["prod_price"] is None
    assert api.rest("PATCH", "Products(99)", json={"prod_price": 1}).status_code == 404


def test_immutable_fields_are_rejected_or_ignored(api: Api) -> None:
    pid = create(api, "Products", {"prod_ref": "P1"})
    for body in ({"prod_ref": "P9"}, {"prod_id": 7}, {"prod_creation": "x"}, {"cat_ref": "C1"}):
        assert api.rest("PATCH", f"Products({pid})", json=body).status_code == 400
    # Sending an unchanged reference or id is not a change.
    same = api.rest("PATCH", f"Products({pid})", json={"prod_ref": "P1", "prod_id": pid})
    assert same.status_code == 204
    api.settings({"rest": {"immutable_fields": "ignore"}})
    assert api.rest("PATCH", f"Products({pid})", json={"prod_ref": "P9"}).status_code == 204
    assert api.rest("GET", f"Products({pid})").json()["prod_ref"] == "P1"


def test_delete_is_204_cascades_and_then_404(api: Api) -> None:
    pid = create(api, "Products", {"prod_ref": "P1"})
    vid = create(api, "Variants", {"frmt_ref": "V1", "prod_id": pid})
    assert api.rest("DELETE", f"Products({pid})").status_code == 204
    assert api.rest("GET", f"Products({pid})").status_code == 404
    assert api.rest("GET", f"Variants({vid})").status_code == 404
    assert api.rest("DELETE", f"Products({pid})").status_code == 404
    assert api.rest("GET", "Products").json()["@count"] == 0
    bid = create(api, "CustomEntities('Brands')", {"brand_ref": "B1"})
    assert api.rest("DELETE", f"CustomEntities('Brands')/Item({bid})").status_code == 204


def test_duplicate_reference_on_post_allowed_or_rejected(api: Api) -> None:
    first = create(api, "Products", {"prod_ref": "P1"})
    assert create(api, "Products", {"prod_ref": "P1"}) == first + 1
    api.settings({"rest": {"duplicate_ref_on_post": "reject"}})
    response = api.rest("POST", "Products", json={"prod_ref": "P1"})
    assert response.status_code == 400 and "already exists" in response.json()["detail"]


def test_multilingual_write_shapes(api: Api) -> None:
    pid = create(api, "Products", {"prod_ref": "P1", "prod_title": "Plain default"})
    api.rest(
        "PATCH",
        f"Products({pid})",
        json={"prod_title": "Hola"},
        headers={"Accept-Language": "es-ES"},
    )
    api.rest(
        "PATCH", f"Products({pid})", json={"prod_title": [{"culture": "fr", "value": "Salut"}]}
    )
    read = api.rest("GET", f"Products({pid})").json()
    assert read["prod_title"] == {"en": "Plain default", "es": "Hola", "fr": "Salut"}
    bad = api.rest("GET", "Products", headers={"Accept-Language": "de"})
    assert bad.status_code == 400


def test_list_fields_and_list_reads(api: Api) -> None:
    pid = create(api, "Products", {"prod_ref": "P1", "prod_image": ["a.jpg", "b.jpg"]})
    assert api.rest("GET", f"Products({pid})").json()["prod_image"] == "a.jpg,b.jpg"
    api.rest("PATCH", f"Products({pid})", json={"prod_image": "c.jpg"})
    assert api.dump("products")["P1"]["fields"]["prod_image"] == ["c.jpg"]


def _seed_products(api: Api, count: int) -> None:
    rows = [
        {"prod_ref": f"P{i:03d}", "prod_title_en": f"Item {i}", "prod_price": str(i)}
        for i in range(count)
    ]
    api.import_and_wait(php_form({"products": rows}))


def test_pagination_follows_next_link_verbatim(api: Api) -> None:
    _seed_products(api, 23)
    seen: list[str] = []
    url: str | None = f"{api.emulator.rest_base_url}Products?$top=10&$select=prod_id,prod_ref"
    pages = 0
    while url:
        page = api.http.get(url, headers={"X-API-KEY": API_KEY}).json()
        assert page["@count"] == 23
        seen += [row["prod_ref"] for row in page["value"]]
        assert all(set(row) == {"prod_id", "prod_ref"} for row in page["value"])
        url = page.get("@nextLink")
        pages += 1
    assert pages == 3 and seen == [f"P{i:03d}" for i in range(23)]


def test_skip_top_and_orderby(api: Api) -> None:
    _seed_products(api, 5)
    page = api.rest("GET", "Products", params={"$skip": "3", "$select": "prod_ref"}).json()
    assert [r["prod_ref"] for r in page["value"]] == ["P003", "P004"]
    assert "@nextLink" not in page
    page = api.rest(
        "GET", "Products", params={"$orderby": "prod_ref desc", "$top": "2", "$select": "prod_ref"}
    ).json()
    assert [r["prod_ref"] for r in page["value"]] == ["P004", "P003"]
    assert "$skip=2" in page["@nextLink"]
    clash = api.rest("GET", "Products", params={"$orderby": "prod_ref", "$skipToken": "aWQ6MQ"})
    assert clash.status_code == 400


@pytest.mark.parametrize(
    ("mode", "status", "rows"), [("empty", 200, 0), ("clamp", 200, 100), ("error", 400, None)]
)
def test_top_over_100(api: Api, mode: str, status: int, rows: int | None) -> None:
    _seed_products(api, 101)
    api.settings({"rest": {"top_over_max": mode}})
    response = api.rest("GET", "Products", params={"$top": "500", "$select": "prod_id"})
    assert response.status_code == status
    if rows is not None:
        assert len(response.json()["value"]) == rows and response.json()["@count"] == 101
    default = api.rest("GET", "Products", params={"$select": "prod_id"}).json()
    assert len(default["value"]) == 100 and "@nextLink" in default


@pytest.mark.parametrize(
    ("flt", "expected"),
    [
        ("prod_ref eq 'P001'", ["P001"]),
        ("prod_ref in ('P001','P003','nope')", ["P001", "P003"]),
        ("prod_ref ne 'P000' and prod_price lt 3", ["P001", "P002"]),
        ("prod_price ge 3 or prod_ref eq 'P000'", ["P000", "P003", "P004"]),
        ("prod_id gt 4", ["P004"]),
        ("prod_id le 1", ["P000"]),
        ("contains(prod_title,'em 2')", ["P002"]),
        ("startswith(prod_ref,'P00') and not (prod_id lt 5)", ["P004"]),
        ("prod_modify gt 2000-01-01T00:00:00Z", ["P000", "P001", "P002", "P003", "P004"]),
        ("prod_modify lt 2000-01-01", []),
        ("cat_id eq 1", ["P002"]),
        ("prod_description eq null and prod_ref eq 'P000'", ["P000"]),
    ],
)
def test_filters(api: Api, flt: str, expected: list[str]) -> None:
    _seed_products(api, 5)
    create(api, "Categories", {"cat_ref": "C1"})
    api.rest("PATCH", "Products(3)", json={"cat_id": [1]})
    page = api.rest("GET", "Products", params={"$filter": flt, "$select": "prod_ref"}).json()
    assert [r["prod_ref"] for r in page["value"]] == expected
    assert page["@count"] == len(expected)


@pytest.mark.parametrize(
    "params",
    [
        {"$filter": "nope eq 1"},
        {"$filter": "prod_ref eq"},
        {"$select": "prod_ref,Prod_id"},
        {"$top": "-1"},
        {"$skip": "x"},
        {"$skipToken": "garbage!"},
        {"$search": "x"},
        {"$expand": "Nope"},
        {"$orderby": "nope"},
    ],
)
def test_bad_query_options_are_400(api: Api, params: dict[str, str]) -> None:
    assert api.rest("GET", "Products", params=params).status_code == 400


def test_expand_variants_adds_counts(api: Api) -> None:
    pid = create(api, "Products", {"prod_ref": "P1"})
    create(api, "Variants", {"frmt_ref": "V1", "prod_id": pid})
    create(api, "Variants", {"frmt_ref": "V2", "prod_id": pid})
    page = api.rest("GET", "Products", params={"$expand": "Variants", "$select": "prod_ref"}).json()
    assert page["value"][0]["Variants@count"] == 2
    assert [v["frmt_ref"] for v in page["value"][0]["Variants"]] == ["V1", "V2"]


def test_metadata_documents(api: Api) -> None:
    whole = api.rest("GET", "$metadata").json()
    assert [s["title"] for s in whole["value"]] == [
        "Category",
        "Product",
        "Variant",
        "PointOfSale",
        "CustomEntity('Brands')",
    ]
    product = api.rest("GET", "Products/$metadata").json()["value"][0]
    assert product["properties"]["prod_title"]["items"]["properties"]["culture"]["enum"] == [
        "en",
        "es",
        "fr",
    ]
    assert product["properties"]["cat_id"]["type"] == "array"
    custom = api.rest("GET", "CustomEntities/$metadata").json()["value"]
    assert [s["title"] for s in custom] == ["CustomEntity('Brands')"]
    one = api.rest("GET", "CustomEntities('Brands')/$metadata").json()["value"]
    assert one[0]["properties"]["brand_ref"]["x-custom-type"] == "reference"
    assert api.rest("POST", "$metadata", json={}).status_code == 405


def test_both_apis_share_one_store(api: Api) -> None:
    api.import_and_wait(
        php_form(
            {"catalogue": [{"cat_ref": "C1"}], "products": [{"prod_ref": "P1", "cat_ref": "C1"}]}
        )
    )
    page = api.rest("GET", "Products", params={"$filter": "prod_ref eq 'P1'"}).json()
    assert page["value"][0]["cat_id"] == [1] and page["value"][0]["cat_ref"] == "C1"
    vid = create(
        api,
        "Variants",
        {"frmt_ref": "V1", "prod_id": page["value"][0]["prod_id"], "color": {"es": "Rojo"}},
    )
    assert api.dump("product_formats")["V1"]["links"]["prod_ref"] == ["P1"]
    api.import_and_wait(php_form({"product_formats": [{"frmt_ref": "V1", "color_en": "Red"}]}))
    assert api.rest("GET", f"Variants({vid})").json()["color"] == {"es": "Rojo", "en": "Red"}
    api.import_and_wait(php_form(deletes={"product_formats": ["V1"]}))
    assert api.rest("GET", f"Variants({vid})").status_code == 404


def test_request_counter_route(api: Api) -> None:
    api.rest("GET", "Products")
    api.rest("GET", "Products")
    api.rest("POST", "Products", json={"prod_ref": "P1"})
    api.set_info(php_form({"products": [{"prod_ref": "P2"}]}))
    stats = api.http.get("/_emulator/stats").json()
    assert stats["by_endpoint"]["GET Products"] == 2
    assert stats["by_endpoint"]["POST Products"] == 1
    assert stats["by_route"]["rest"] == 3 and stats["by_route"]["connector_api"] == 1
    assert stats["total"] == 4 and stats["total_429"] == 0
    assert stats["by_status"]["rest 201"] == 1


def test_lookups_by_reference_see_duplicates_and_ids(api: Api) -> None:
    first = create(api, "Products", {"prod_ref": "P1"})
    second = create(api, "Products", {"prod_ref": "P1"})
    create(api, "Products", {"prod_ref": "P2"})
    page = api.rest("GET", "Products", params={"$filter": "prod_ref in ('P1','x')"}).json()
    assert [r["prod_id"] for r in page["value"]] == [first, second]
    by_id = api.rest("GET", "Products", params={"$filter": f"prod_id eq {second}.0"}).json()
    assert [r["prod_id"] for r in by_id["value"]] == [second]
