"""Import Connector calls applied in bulk: the paths a large call takes (updates merged in SQLite
without reading the item, or read and written back whole; ids handed out per call; cascades over
many products) give what one item at a time gave."""

from __future__ import annotations

import json
import sqlite3

import pytest

from tests.emulator.conftest import Api, php_form, sign

pytestmark = pytest.mark.integration

REFS = {"brands": "brand_ref"}


def _changelog(api: Api, table: str) -> list[tuple[str, str, int]]:
    records = api.emulator.state.storage.changelog(table)
    return [(r["action"], r["reference"], r["entity_id"]) for r in records]


def test_updates_merged_or_rewritten_end_alike(api: Api) -> None:
    api.import_and_wait(php_form({"catalogue": [{"cat_ref": "C1"}, {"cat_ref": "C2"}]}))
    api.import_and_wait(php_form({"brands": [{"brand_ref": "B1"}]}, ref_fields=REFS))
    first = {
        "prod_title_en": "A",
        "prod_title_es": "B",
        "prod_tags": "t1,t2",
        "prod_price": "10",
        "cat_ref": "C1",
        "prod_brand": "B1",
    }
    api.import_and_wait(
        php_form({"products": [{"prod_ref": p, **first} for p in ("P1", "P2", "P3", "P4")]})
    )
    api.import_and_wait(
        php_form(
            {
                "products": [
                    # merged in SQLite: new culture, new status, one link replaced
                    {"prod_ref": "P1", "prod_title_fr": "F", "prod_stat": "I", "cat_ref": "C2"},
                    # read and rewritten: a culture cleared
                    {"prod_ref": "P2", "prod_title_es": "", "prod_price": "11"},
                    # read and rewritten: the last cultures cleared, a list emptied
                    {"prod_ref": "P3", "prod_title_en": "", "prod_title_es": "", "prod_tags": ","},
                    # merged: a plain value cleared, a link emptied
                    {"prod_ref": "P4", "prod_price": "", "cat_ref": ""},
                ]
            }
        )
    )
    products = api.dump("products")
    assert products["P1"]["fields"] == {
        "prod_price": "10",
        "prod_tags": ["t1", "t2"],
        "prod_title": {"en": "A", "es": "B", "fr": "F"},
    }
    assert products["P1"]["status"] == "I"
    assert products["P1"]["links"] == {"cat_ref": ["C2"], "prod_brand": ["B1"]}
    assert products["P2"]["fields"] == {
        "prod_price": "11",
        "prod_tags": ["t1", "t2"],
        "prod_title": {"en": "A"},
    }
    assert products["P3"]["fields"] == {"prod_price": "10"}
    assert products["P3"]["links"] == {"cat_ref": ["C1"], "prod_brand": ["B1"]}
    assert products["P4"]["fields"] == {
        "prod_tags": ["t1", "t2"],
        "prod_title": {"en": "A", "es": "B"},
    }
    assert products["P4"]["links"] == {"cat_ref": [], "prod_brand": ["B1"]}
    assert [p["status"] for p in products.values()] == ["I", "V", "V", "V"]
    # One update record per item, in the call's order, after the four creates.
    assert _changelog(api, "products")[4:] == [
        ("update", "P1", 1),
        ("update", "P2", 2),
        ("update", "P3", 3),
        ("update", "P4", 4),
    ]
    rest = api.rest("GET", "Products(1)").json()
    assert rest["prod_title"] == {"en": "A", "es": "B", "fr": "F"} and rest["cat_id"] == [2]


def test_ids_follow_the_rows_and_links_reach_items_of_the_same_call(api: Api) -> None:
    api.import_and_wait(php_form({"catalogue": [{"cat_ref": "OLD"}]}))
    api.import_and_wait(
        php_form(
            {
                # the variant comes first and links to a product created further on
                "product_formats": [
                    {"frmt_ref": "V1", "prod_ref": "P2"},
                    {"frmt_ref": "V2", "prod_ref": "P1"},
                ],
                # a child before its parent, both new; one update among the creates
                "catalogue": [
                    {"cat_ref": "KID", "cat_parent_ref": "TOP"},
                    {"cat_ref": "OLD", "cat_parent_ref": "TOP"},
                    {"cat_ref": "TOP"},
                ],
                "products": [
                    {"prod_ref": "P1", "cat_ref": "KID,OLD"},
                    {"prod_ref": "P2", "cat_ref": "TOP"},
                ],
            }
        )
    )
    categories = api.dump("catalogue")
    assert {ref: item["id"] for ref, item in categories.items()} == {"OLD": 1, "KID": 2, "TOP": 3}
    assert categories["KID"]["links"]["cat_parent_ref"] == ["TOP"]
    assert categories["OLD"]["link_ids"]["cat_parent_ref"] == [3]
    products = api.dump("products")
    assert products["P1"]["link_ids"]["cat_ref"] == [2, 1]
    variants = api.dump("product_formats")
    assert variants["V1"]["link_ids"]["prod_ref"] == [products["P2"]["id"]] == [2]
    assert [v["id"] for v in variants.values()] == [1, 2]
    # Creates first (in the call's order), then updates.
    assert _changelog(api, "catalogue") == [
        ("create", "OLD", 1),
        ("create", "KID", 2),
        ("create", "TOP", 3),
        ("update", "OLD", 1),
    ]


def test_many_products_deleted_in_one_call_take_their_variants(api: Api) -> None:
    products = [{"prod_ref": f"P{n}"} for n in range(1, 5)]
    variants = [{"frmt_ref": f"V{p}{k}", "prod_ref": f"P{p}"} for p in (4, 1, 2, 3) for k in (1, 2)]
    api.import_and_wait(php_form({"products": products, "product_formats": variants}))
    done = api.import_and_wait(php_form(deletes={"products": ["P4", "P1", "P3", "NONE"]}))
    assert done["input_response"]["deleted_items"] == {"products": 3}
    assert done["input_response"]["skipped_items"] == {"products": 1}
    assert set(api.dump("products")) == {"P2"}
    assert set(api.dump("product_formats")) == {"V21", "V22"}
    deleted = [r for r in _changelog(api, "product_formats") if r[0] == "delete"]
    assert deleted == [
        ("delete", "V41", 1),
        ("delete", "V42", 2),
        ("delete", "V11", 3),
        ("delete", "V12", 4),
        ("delete", "V31", 7),
        ("delete", "V32", 8),
    ]
    assert [r for r in _changelog(api, "products") if r[0] == "delete"] == [
        ("delete", "P1", 1),
        ("delete", "P3", 3),
        ("delete", "P4", 4),
    ]


def test_an_ended_job_keeps_its_call_in_the_store_but_polls_do_not_read_it(api: Api) -> None:
    answer = api.set_info(php_form({"products": [{"prod_ref": "P1"}]}), sign()).json()
    url = answer["input_response"]["status_tracking"]
    job_id = url.rsplit("/", 1)[1]
    storage = api.emulator.state.storage
    assert storage.job(job_id).batch["upserts"]["products"][0]["ref"] == "P1"  # type: ignore[union-attr]
    while api.http.get(url).json()["input_status"] != "end":
        pass
    assert storage.job(job_id).batch == {}  # type: ignore[union-attr]
    with sqlite3.connect(storage.path) as connection:
        (stored,) = connection.execute("SELECT batch FROM jobs WHERE id = ?", (job_id,)).fetchone()
    assert [row["ref"] for row in json.loads(stored)["upserts"]["products"]] == ["P1"]
