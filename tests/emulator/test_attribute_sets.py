"""Attribute sets, read-only: ``AttributeSets`` (typ_* records) and ``v2/AttributeSets``
(layouts), from the tenant model, with the OData options of the other lists."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest
import yaml

from saleslayer_airflow.emulator.server import RunningEmulator, run_in_thread
from saleslayer_airflow.emulator.tenant import Tenant, default_tenant_path
from tests.emulator.conftest import API_KEY, BASE_SETTINGS, Api

pytestmark = pytest.mark.integration

SETS = [
    {
        "id": 3,
        "title": "Shoes",
        "product_fields": ["prod_title", "prod_price"],
        "variant_fields": ["size", "color", "frmt_ean"],
    },
    {"id": 1, "title": "Default", "default": True, "product_fields": ["prod_title"]},
    {"id": 7, "title": "Bags & co", "product_fields": ["prod_material"]},
]


def tenant_with(sets: list[dict[str, Any]]) -> Tenant:
    data = yaml.safe_load(default_tenant_path().read_text(encoding="utf-8"))
    data["attribute_sets"] = sets
    return Tenant.model_validate(data)


@pytest.fixture(scope="module")
def three_sets(tmp_path_factory: pytest.TempPathFactory) -> Iterator[RunningEmulator]:
    data: Path = tmp_path_factory.mktemp("sets") / "sl.sqlite"
    with run_in_thread(data, tenant=tenant_with(SETS), settings=BASE_SETTINGS) as running:
        yield running


@pytest.fixture
def rest(three_sets: RunningEmulator) -> Iterator[httpx.Client]:
    three_sets.reset()
    with httpx.Client(
        base_url=three_sets.rest_base_url, headers={"X-API-KEY": API_KEY}, timeout=10
    ) as client:
        yield client


def test_the_default_tenant_has_one_default_set_with_every_attribute(api: Api) -> None:
    listed = api.rest("GET", "AttributeSets")
    assert listed.status_code == 200
    body = listed.json()
    assert body["@count"] == 1 and "@nextLink" not in body
    [one] = body["value"]
    assert one["typ_id"] == 1 and one["typ_title"] == {"en": "Default"} and one["typ_stat"] == "V"
    assert api.rest("GET", "AttributeSets(1)").json() == one
    v2 = api.rest("GET", "v2/AttributeSets(default)").json()
    assert v2["id"] == 1 and v2["isDefault"] is True
    shown = [
        field["attributeId"]
        for section in v2["productLayout"]["sections"]
        for row in section["rows"]
        for field in row["fields"]
    ]
    assert shown == [
        "prod_title",
        "prod_description",
        "prod_image",
        "prod_tags",
        "prod_material",
        "prod_price",
    ]
    sizes = {
        field["size"]
        for section in v2["variantLayout"]["sections"]
        for row in section["rows"]
        for field in row["fields"]
    }
    assert sizes <= {"quarter", "half", "threeQuarters", "row"}
    assert {s["dividerType"] for s in v2["productLayout"]["sections"]} <= {
        "normal",
        "wide",
        "lineBreak",
    }


def test_v1_list_with_filter_select_orderby_and_paging(rest: httpx.Client) -> None:
    everything = rest.get("AttributeSets").json()
    assert [s["typ_id"] for s in everything["value"]] == [1, 3, 7]
    filtered = rest.get(
        "AttributeSets", params={"$filter": "typ_id gt 1", "$select": "typ_id,typ_title"}
    ).json()
    assert filtered["value"] == [
        {"typ_id": 3, "typ_title": {"en": "Shoes"}},
        {"typ_id": 7, "typ_title": {"en": "Bags & co"}},
    ]
    assert filtered["@count"] == 2
    text = rest.get("AttributeSets", params={"$filter": "startswith(typ_title,'Bag')"}).json()
    assert [s["typ_id"] for s in text["value"]] == [7]
    ordered = rest.get("AttributeSets", params={"$orderby": "typ_id desc", "$top": "2"}).json()
    assert [s["typ_id"] for s in ordered["value"]] == [7, 3]
    assert ordered["@count"] == 3
    # Paging follows @nextLink verbatim until it is absent.
    seen: list[int] = []
    url: str | None = str(rest.base_url.join("AttributeSets?$top=1&$select=typ_id"))
    while url:
        page = rest.get(url).json()
        seen += [s["typ_id"] for s in page["value"]]
        url = page.get("@nextLink")
    assert seen == [1, 3, 7]


def test_v2_list_and_items(rest: httpx.Client) -> None:
    body = rest.get("v2/AttributeSets", params={"$select": "id,name,isDefault"}).json()
    assert body["value"] == [
        {"id": 1, "name": "Default", "isDefault": True},
        {"id": 3, "name": "Shoes", "isDefault": False},
        {"id": 7, "name": "Bags & co", "isDefault": False},
    ]
    shoes = rest.get("v2/AttributeSets(3)").json()
    rows = shoes["variantLayout"]["sections"][0]["rows"]
    assert [[f["attributeId"] for f in row["fields"]] for row in rows] == [
        ["size", "color"],
        ["frmt_ean"],
    ]
    assert rest.get("v2/AttributeSets(default)").json()["id"] == 1
    assert rest.get("v2/AttributeSets('default')").json()["id"] == 1
    named = rest.get("v2/AttributeSets", params={"$filter": "name eq 'Shoes' or id eq 7"}).json()
    assert [s["id"] for s in named["value"]] == [3, 7]
    skipped = rest.get("v2/AttributeSets", params={"$skip": "1", "$top": "1"}).json()
    assert [s["id"] for s in skipped["value"]] == [3] and "@nextLink" in skipped
    # The old base path serves them too.
    old = httpx.get(
        str(rest.base_url).replace("/catalog/rest/Catalog/", "/rest/Catalog/")
        + "v2/AttributeSets(7)",
        headers={"X-API-KEY": API_KEY},
    )
    assert old.status_code == 200 and old.json()["name"] == "Bags & co"


@pytest.mark.parametrize(
    ("path", "params", "status", "text"),
    [
        ("AttributeSets(2)", {}, 404, "Attribute set 2 not found"),
        ("v2/AttributeSets(99)", {}, 404, "Attribute set 99 not found"),
        ("AttributeSets(default)", {}, 400, "Invalid key"),
        ("v2/Products", {}, 404, "only AttributeSets"),
        ("AttributeSets", {"$filter": "typ_nope eq 1"}, 400, "typ_nope"),
        ("v2/AttributeSets", {"$select": "typ_id"}, 400, "typ_id"),
        ("AttributeSets", {"$expand": "Products"}, 400, "Cannot $expand"),
        ("AttributeSets", {"$top": "101"}, 200, ""),
    ],
)
def test_bad_requests_are_problem_details(
    rest: httpx.Client, path: str, params: dict[str, str], status: int, text: str
) -> None:
    response = rest.get(path, params=params)
    assert response.status_code == status, response.text
    if status != 200:
        assert text in response.json()["detail"]
    else:  # $top above 100: the empty page of the default reading, @count still total
        assert response.json()["value"] == [] and response.json()["@count"] == 3


@pytest.mark.parametrize(
    ("method", "path"),
    [
        ("POST", "v2/AttributeSets"),
        ("PATCH", "v2/AttributeSets(3)"),
        ("DELETE", "v2/AttributeSets(3)"),
        ("POST", "AttributeSets"),
    ],
)
def test_writes_are_refused_as_not_emulated(rest: httpx.Client, method: str, path: str) -> None:
    response = rest.request(method, path, json={"name": "X"})
    assert response.status_code == 405
    assert "read-only" in response.json()["detail"]


def test_authentication_and_feature_switch_apply(
    rest: httpx.Client, three_sets: RunningEmulator
) -> None:
    assert httpx.get(three_sets.rest_base_url + "v2/AttributeSets").status_code == 401
    three_sets.update_settings({"rest": {"access": "disabled"}})
    assert rest.get("v2/AttributeSets").status_code == 403


@pytest.mark.parametrize(
    ("sets", "message"),
    [
        ([{"id": 1, "title": "A", "product_fields": ["prod_nope"]}], "prod_nope"),
        ([{"id": 1, "title": "A", "variant_fields": ["prod_title"]}], "variant"),
        ([{"id": 1, "title": "A"}, {"id": 1, "title": "B"}], "share an id"),
        (
            [{"id": 1, "title": "A", "default": True}, {"id": 2, "title": "B", "default": True}],
            "more than one",
        ),
    ],
)
def test_the_tenant_file_is_checked(sets: list[dict[str, Any]], message: str) -> None:
    with pytest.raises(ValueError, match=message):
        tenant_with(sets)
