"""Changelogs: every write to an item leaves a record, served at ``<Set>/Changelog`` for
incremental sync (read the changelog, keep the last id, ask for ``id gt <last>`` next time)."""

from __future__ import annotations

from datetime import datetime
from pathlib import Path
from typing import Any

import pytest

from saleslayer_airflow.emulator.server import run_in_thread
from tests.emulator.conftest import API_KEY, BASE_SETTINGS, Api, location_id, php_form

BRANDS = "CustomEntities('Brands')"
CHANGELOG = f"{BRANDS}/Changelog"
INFERRED_ON: dict[str, Any] = {"rest": {"inferred_changelogs": True}}


def _records(api: Api, path: str = CHANGELOG, **params: str) -> list[dict[str, Any]]:
    response = api.rest("GET", path, params=params)
    assert response.status_code == 200, response.text
    return list(response.json()["value"])


def _brief(records: list[dict[str, Any]]) -> list[tuple[str, str, str]]:
    return [(r["action"], r["reference"], r["author_type"]) for r in records]


def _brand(api: Api, ref: str) -> int:
    response = api.rest("POST", f"{BRANDS}/", json={"brand_ref": ref})
    assert response.status_code == 201, response.text
    return location_id(response)


def test_rest_writes_appear_in_order_with_their_actions(api: Api) -> None:
    first = _brand(api, "B1")
    second = _brand(api, "B2")
    patched = api.rest("PATCH", f"{BRANDS}/Item({first})", json={"brand_website": "x.example"})
    assert patched.status_code == 204
    assert api.rest("DELETE", f"{BRANDS}/Item({second})").status_code == 204

    records = _records(api)
    assert _brief(records) == [
        ("create", "B1", "api"),
        ("create", "B2", "api"),
        ("update", "B1", "api"),
        ("delete", "B2", "api"),
    ]
    assert [r["entity_id"] for r in records] == [first, second, first, second]
    ids = [r["id"] for r in records]
    assert ids == sorted(ids) and len(set(ids)) == 4
    assert set(records[0]) == {"id", "entity_id", "reference", "action", "date", "author_type"}
    dates = [datetime.fromisoformat(r["date"].replace("Z", "+00:00")) for r in records]
    assert all(d.utcoffset() is not None and d.utcoffset().total_seconds() == 0 for d in dates)
    assert dates == sorted(dates)


def test_a_refused_write_leaves_no_record(api: Api) -> None:
    _brand(api, "B1")
    refused = api.rest("PATCH", f"{BRANDS}/Item(1)", json={"brand_nope": "x"})
    assert refused.status_code == 400
    assert _brief(_records(api)) == [("create", "B1", "api")]


def test_import_connector_writes_appear_with_their_actions(api: Api) -> None:
    refs = {"brands": "brand_ref"}
    api.import_and_wait(
        php_form(
            {"brands": [{"brand_ref": "ACME"}, {"brand_ref": "BOLT"}]},
            ref_fields=refs,
        )
    )
    api.import_and_wait(
        php_form(
            {"brands": [{"brand_ref": "ACME", "brand_website": "acme.example"}]},
            {"brands": ["BOLT"]},
            ref_fields=refs,
        )
    )
    assert _brief(_records(api)) == [
        ("create", "ACME", "unknown"),
        ("create", "BOLT", "unknown"),
        ("update", "ACME", "unknown"),
        ("delete", "BOLT", "unknown"),
    ]


def test_every_table_keeps_its_own_changelog(api: Api) -> None:
    api.settings(INFERRED_ON)
    api.import_and_wait(
        php_form(
            {
                "catalogue": [{"cat_ref": "C1"}],
                "products": [{"prod_ref": "P1", "cat_ref": "C1"}],
                "product_formats": [{"frmt_ref": "V1", "prod_ref": "P1"}],
            }
        )
    )
    assert api.rest("DELETE", "Products(1)").status_code == 204  # takes its variant along
    assert _brief(_records(api, "Categories/Changelog")) == [("create", "C1", "unknown")]
    assert _brief(_records(api, "Products/Changelog")) == [
        ("create", "P1", "unknown"),
        ("delete", "P1", "api"),
    ]
    assert _brief(_records(api, "Variants/Changelog")) == [
        ("create", "V1", "unknown"),
        ("delete", "V1", "api"),
    ]
    assert _records(api) == []


def test_inferred_set_changelogs_are_off_unless_switched_on(api: Api) -> None:
    for path in ("Products/Changelog", "Variants/Changelog", "Categories/Changelog"):
        response = api.rest("GET", path)
        assert response.status_code == 404
        assert "rest.inferred_changelogs" in response.json()["detail"]
    assert api.rest("GET", "Products(1)/Changelog").status_code == 404
    api.settings(INFERRED_ON)
    assert api.rest("GET", "products/changelog").json()["value"] == []


def test_id_gt_gives_only_newer_records(api: Api) -> None:
    _brand(api, "B1")
    _brand(api, "B2")
    checkpoint = _records(api)[-1]["id"]
    assert _records(api, **{"$filter": f"id gt {checkpoint}"}) == []
    api.rest("PATCH", f"{BRANDS}/Item(1)", json={"brand_website": "w"})
    _brand(api, "B3")
    newer = _records(api, **{"$filter": f"id gt {checkpoint}"})
    assert _brief(newer) == [("update", "B1", "api"), ("create", "B3", "api")]
    assert all(r["id"] > checkpoint for r in newer)


@pytest.mark.parametrize(
    ("flt", "expected"),
    [
        ("action eq 'create'", ["B1", "B2", "B3"]),
        ("action eq 'update' and entity_id eq 1", ["B1"]),
        ("entity_id ge 2 and entity_id le 2", ["B2", "B2"]),
        ("id lt 3", ["B1", "B2"]),
        ("date gt 2000-01-01T00:00:00Z and action ne 'create'", ["B1", "B2"]),
        ("date lt 2000-01-01", []),
        ("reference eq 'B3'", ["B3"]),
    ],
)
def test_filters(api: Api, flt: str, expected: list[str]) -> None:
    for ref in ("B1", "B2", "B3"):
        _brand(api, ref)
    api.rest("PATCH", f"{BRANDS}/Item(1)", json={"brand_website": "w"})
    api.rest("DELETE", f"{BRANDS}/Item(2)")
    page = api.rest("GET", CHANGELOG, params={"$filter": flt}).json()
    assert [r["reference"] for r in page["value"]] == expected
    assert page["@count"] == len(expected)


def test_orderby_and_skip_paging_follows_next_link(api: Api) -> None:
    for index in range(7):
        _brand(api, f"B{index}")
    newest = _records(api, **{"$orderby": "id desc", "$top": "2"})
    assert [r["reference"] for r in newest] == ["B6", "B5"]

    url: str | None = f"{api.emulator.rest_base_url}{CHANGELOG}?$top=3"
    seen: list[str] = []
    links: list[str] = []
    while url:
        page = api.http.get(url, headers={"X-API-KEY": API_KEY}).json()
        assert page["@count"] == 7
        seen += [r["reference"] for r in page["value"]]
        url = page.get("@nextLink")
        if url:
            links.append(url)
    assert seen == [f"B{i}" for i in range(7)]
    assert len(links) == 2
    assert all("$skip=" in link and "skipToken" not in link for link in links)


def test_top_is_capped_like_other_lists(api: Api) -> None:
    _brand(api, "B1")
    assert len(_records(api, **{"$top": "100"})) == 1
    assert _records(api, **{"$top": "101"}) == []  # rest.top_over_max: empty


@pytest.mark.parametrize(
    ("params", "shown"),
    [
        ({"$select": "id"}, "$select"),
        ({"$expand": "Item"}, "$expand"),
        ({"$skipToken": "aWQ6MQ"}, "$skipToken"),
        ({"$search": "x"}, "$search"),
    ],
)
def test_refused_options_are_problem_400s(api: Api, params: dict[str, str], shown: str) -> None:
    response = api.rest("GET", CHANGELOG, params=params)
    assert response.status_code == 400
    assert response.headers["content-type"].startswith("application/problem+json")
    body = response.json()
    assert body["status"] == 400 and f"Unsupported query option {shown}" in body["detail"]


@pytest.mark.parametrize("params", [{"$filter": "nope eq 1"}, {"$orderby": "nope"}])
def test_unknown_properties_are_400(api: Api, params: dict[str, str]) -> None:
    assert api.rest("GET", CHANGELOG, params=params).status_code == 400


def test_changelog_is_read_only_and_guarded_like_other_routes(api: Api) -> None:
    assert api.rest("POST", CHANGELOG, json={"id": 1}).status_code == 405
    assert api.rest("DELETE", CHANGELOG).status_code == 405
    unauthenticated = api.http.get(f"/catalog/rest/Catalog/{CHANGELOG}")
    assert unauthenticated.status_code == 401
    wrong = api.rest("GET", CHANGELOG, headers={"X-API-KEY": "nope"})
    assert wrong.status_code == 401
    assert API_KEY not in wrong.text
    api.settings({"faults": {"rest": {"script": ["429", "5xx"]}}})
    assert api.rest("GET", CHANGELOG).status_code == 429
    assert api.rest("GET", CHANGELOG).status_code == 503
    assert api.rest("GET", CHANGELOG).status_code == 200
    # A settings change restarts fault scripts, so the script is emptied with the limit change.
    api.settings(
        {"faults": {"rest": {"script": []}}, "rate_limit": {"requests": 1, "window_seconds": 600}}
    )
    assert api.rest("GET", CHANGELOG).status_code == 200
    assert api.rest("GET", CHANGELOG).status_code == 429


def test_admin_reset_empties_the_changelog(api: Api) -> None:
    _brand(api, "B1")
    assert api.http.post("/_emulator/reset").status_code == 200
    assert _records(api) == []
    _brand(api, "B2")
    assert [r["id"] for r in _records(api)] == [1]


@pytest.mark.integration
def test_the_changelog_persists_across_restarts(data_file: Path) -> None:
    with run_in_thread(data_file, settings=BASE_SETTINGS) as first:
        api = Api(first)
        _brand(api, "B1")
        api.rest("DELETE", f"{BRANDS}/Item(1)")
        before = _records(api)
        api.close()
    with run_in_thread(data_file, settings=BASE_SETTINGS) as second:
        api = Api(second)
        assert _records(api) == before
        _brand(api, "B2")
        after = _records(api, **{"$filter": f"id gt {before[-1]['id']}"})
        assert _brief(after) == [("create", "B2", "api")]
        api.close()
