"""Contract tests of the emulated Import Connector API over real HTTP."""

from __future__ import annotations

import gzip
import time

import httpx
import pytest

from tests.emulator.conftest import PRIVATE_KEY, Api, php_form, sign

pytestmark = pytest.mark.integration

APPENDIX_BODY = (
    b"input_data%5Bproducts%5D%5B0%5D%5Bprod_ref%5D=P1"
    b"&input_data%5Bproducts%5D%5B0%5D%5Bprod_title_en%5D=Shoe"
    b"&input_data%5Bproducts%5D%5B0%5D%5Bprod_title_es%5D=Zapato"
    b"&input_data%5Bproducts%5D%5B1%5D%5Bprod_ref%5D=P2"
    b"&input_data%5Bproducts%5D%5B1%5D%5Bprod_title_en%5D=Boot%2C+tall"
    b"&input_data%5Bproducts%5D%5B1%5D%5Bcat_ref%5D=C1%2CC2"
    b"&input_data%5Bproduct_formats%5D%5B0%5D%5Bfrmt_ref%5D=V1"
    b"&input_data%5Bproduct_formats%5D%5B0%5D%5Bprod_ref%5D=P1"
    b"&input_data%5Bproduct_formats%5D%5B0%5D%5Bsize%5D=42"
    b"&delete_data%5Bproducts%5D%5B0%5D%5Bprod_ref%5D=OLD1"
)
CATEGORIES = {"catalogue": [{"cat_ref": "C1"}, {"cat_ref": "C2", "cat_parent_ref": "C1"}]}


def test_the_appendix_request_is_accepted_tracked_and_applied(api: Api) -> None:
    api.import_and_wait(php_form(CATEGORIES))
    answer = api.set_info(APPENDIX_BODY).json()
    assert answer["error"] == 0 and answer["version"] == "1.18"
    response = answer["input_response"]
    assert response["result"] == 1 and response["errors"] == []
    assert response["new_items"] == {"product_formats": 1, "products": 2}
    assert response["updated_items"] == {"product_formats": 0, "products": 0}
    assert response["deleted_items"] == {"product_formats": 0, "products": 0}
    assert response["items_affected"] == {"product_formats": 1, "products": 2}
    url = response["status_tracking"]
    assert url.startswith(api.emulator.base_url + "/")
    # Nothing is written before the job ends.
    assert api.dump("products") == {}
    statuses = [api.http.get(url).json() for _ in range(3)]
    assert [s["input_status"] for s in statuses] == ["prepare", "started", "end"]
    assert [s["input_percent_completion"] for s in statuses] == [0, 50, 100]
    products = api.dump("products")
    assert products["P1"]["fields"]["prod_title"] == {"en": "Shoe", "es": "Zapato"}
    assert products["P2"]["fields"]["prod_title"] == {"en": "Boot, tall"}
    assert products["P2"]["links"]["cat_ref"] == ["C1", "C2"]
    assert api.dump("product_formats")["V1"]["links"]["prod_ref"] == ["P1"]
    assert api.dump("product_formats")["V1"]["fields"]["size"] == "42"
    assert api.dump("catalogue")["C2"]["links"]["cat_parent_ref"] == ["C1"]


@pytest.mark.parametrize(
    ("change", "code"),
    [
        ({"code": "NOPE"}, 2),
        ({"key256": "abc"}, 4),
        ({"key256": None}, 4),
        ({"unique": "x1"}, 3),
        ({"time": "soon"}, 12),
        ({"key256": "0" * 64}, 9),
        ({"ver": "1.99"}, 6),
        ({"compression": "7"}, 8),
    ],
)
def test_signature_problems_get_their_error_code(
    api: Api, change: dict[str, str | None], code: int
) -> None:
    query = {k: v for k, v in {**sign(), **change}.items() if v is not None}
    answer = api.set_info(php_form({"products": [{"prod_ref": "P1"}]}), query)
    assert answer.status_code == 200
    assert answer.json()["error"] == code
    assert api.dump("products") == {}


def test_a_wrong_private_key_is_code_9(api: Api) -> None:
    answer = api.set_info(php_form({"products": [{"prod_ref": "P1"}]}), sign(key="wrong"))
    assert answer.json()["error"] == 9
    assert PRIVATE_KEY not in answer.text


def test_old_and_future_times_are_codes_13_and_12(api: Api) -> None:
    body = php_form({"products": [{"prod_ref": "P1"}]})
    assert api.set_info(body, sign(when=int(time.time()) - 3600)).json()["error"] == 13
    assert api.set_info(body, sign(when=int(time.time()) + 3600)).json()["error"] == 12


def test_a_reused_unique_is_code_3_and_switchable(api: Api) -> None:
    body = php_form({"products": [{"prod_ref": "P1"}]})
    query = sign(unique=4242)
    assert api.set_info(body, query).json()["error"] == 0
    assert api.set_info(body, query).json()["error"] == 3
    api.settings({"connector_api": {"reject_reused_unique": False}})
    assert api.set_info(body, query).json()["error"] == 0


@pytest.mark.parametrize(
    "body",
    [
        b"input_data[products][0]=P1",
        b"input_data[products][x][prod_ref]=P1",
        b"input_data[products][][prod_ref]=P1",
        b"input_data[products][0][prod_ref]=P1&input_data[products][0][prod_ref]=P2",
        b"input_data[products][0][prod_ref]P1",
        b"something[products][0][prod_ref]=P1",
        b"input_data[products][0][prod_ref]=P1&input_data_directly=yes",
        b"input_data[products]=https://erp.example.com/products.csv",
        b"input_data[products[0][prod_ref]=P1",
        b"input_data[products][0][prod_ref]=%FF",
    ],
)
def test_malformed_bodies_are_code_1(api: Api, body: bytes) -> None:
    answer = api.set_info(body).json()
    assert answer["error"] == 1, answer


@pytest.mark.parametrize(
    ("upserts", "needle"),
    [
        ({"shoes": [{"REF": "S1"}]}, "unknown table 'shoes'"),
        ({"products": [{"prod_title_en": "no ref"}]}, "reference prod_ref"),
        ({"products": [{"prod_ref": "P1", "Prod_Title_en": "x"}]}, "unknown field 'Prod_Title_en'"),
        ({"products": [{"prod_ref": "P1", "prod_title_de": "x"}]}, "unknown field 'prod_title_de'"),
        ({"products": [{"prod_ref": "P1", "cat_ref": "NOWHERE"}]}, "'NOWHERE' is not a catalogue"),
        ({"product_formats": [{"frmt_ref": "V1"}]}, "needs prod_ref"),
        ({"product_formats": [{"frmt_ref": "V1", "prod_ref": "A,B"}]}, "takes one reference"),
        ({"catalogue": [{"cat_ref": "C1", "cat_parent_ref": "C1"}]}, "link to itself"),
        ({"products": [{"prod_ref": "P1", "prod_stat": "Q"}]}, "is not one of V, I, D, R, X"),
        ({"products": [{"prod_ref": "P1", "REF": "P2"}]}, "disagree"),
    ],
)
def test_denied_calls_are_result_2_with_errors_and_write_nothing(
    api: Api, upserts: dict[str, list[dict[str, str]]], needle: str
) -> None:
    answer = api.set_info(php_form(upserts)).json()
    assert answer["error"] == 0
    assert answer["input_response"]["result"] == 2
    assert any(needle in e for e in answer["input_response"]["errors"]), answer
    assert "status_tracking" not in answer["input_response"]
    assert api.dump("products") == {} and api.dump("product_formats") == {}


def test_an_empty_call_is_denied(api: Api) -> None:
    answer = api.set_info(b"").json()
    assert answer["input_response"] == {
        "result": 2,
        "errors": ["the call holds no rows in input_data or delete_data"],
    }


def test_more_items_than_the_limit_are_denied(api: Api) -> None:
    api.settings({"connector_api": {"max_items_per_call": 3}})
    rows = [{"prod_ref": f"P{i}"} for i in range(4)]
    answer = api.set_info(php_form({"products": rows})).json()
    assert answer["input_response"]["result"] == 2
    assert "at most 3" in answer["input_response"]["errors"][0]
    assert api.import_and_wait(php_form({"products": rows[:3]}))["input_status"] == "end"


def test_unknown_fields_can_be_ignored(api: Api) -> None:
    api.settings({"connector_api": {"unknown_fields": "ignore"}})
    api.import_and_wait(php_form({"products": [{"prod_ref": "P1", "erp_only": "x"}]}))
    assert api.dump("products")["P1"]["fields"] == {}


def test_links_resolve_against_the_store_and_the_same_call(api: Api) -> None:
    api.import_and_wait(php_form({"catalogue": [{"cat_ref": "ROOT"}]}))
    body = php_form(
        {
            "catalogue": [{"cat_ref": "SUB", "cat_parent_ref": "ROOT"}],
            "products": [{"prod_ref": "P1", "cat_ref": "ROOT,SUB"}],
            "brands": [{"brand_ref": "ACME", "brand_title_fr": "Acmé"}],
        },
        ref_fields={"brands": "brand_ref"},
    )
    api.import_and_wait(body)
    api.import_and_wait(php_form({"products": [{"prod_ref": "P1", "prod_brand": "ACME"}]}))
    product = api.dump("products")["P1"]
    assert product["links"] == {"cat_ref": ["ROOT", "SUB"], "prod_brand": ["ACME"]}
    assert api.dump("brands")["ACME"]["fields"]["brand_title"] == {"fr": "Acmé"}


def test_upserts_are_idempotent_and_counted_as_updates(api: Api) -> None:
    body = php_form({"products": [{"prod_ref": "P1", "prod_title_en": "Shoe", "prod_tags": "a,b"}]})
    first = api.import_and_wait(body)
    before = api.dump("products")
    second = api.set_info(body).json()["input_response"]
    assert first["input_response"]["new_items"] == {"products": 1}
    assert second["new_items"] == {"products": 0} and second["updated_items"] == {"products": 1}
    api.import_and_wait(body)
    after = api.dump("products")
    assert after.keys() == before.keys()
    assert (
        after["P1"]["fields"]
        == before["P1"]["fields"]
        == {
            "prod_tags": ["a", "b"],
            "prod_title": {"en": "Shoe"},
        }
    )
    assert after["P1"]["id"] == before["P1"]["id"]


def test_without_overwrite_only_fields_in_the_row_change(api: Api) -> None:
    api.import_and_wait(
        php_form(
            {
                "products": [
                    {
                        "prod_ref": "P1",
                        "prod_title_en": "A",
                        "prod_title_es": "B",
                        "prod_price": "10",
                        "prod_image": "a.jpg",
                    }
                ]
            }
        )
    )
    api.import_and_wait(
        php_form({"products": [{"prod_ref": "P1", "prod_title_es": "C", "prod_image": ""}]})
    )
    assert api.dump("products")["P1"]["fields"] == {
        "prod_price": "10",
        "prod_title": {"en": "A", "es": "C"},
    }


def test_with_overwrite_fields_absent_from_the_row_are_cleared(api: Api) -> None:
    api.import_and_wait(php_form(CATEGORIES))
    api.import_and_wait(
        php_form(
            {
                "products": [
                    {
                        "prod_ref": "P1",
                        "prod_title_en": "A",
                        "prod_title_es": "B",
                        "prod_price": "10",
                        "cat_ref": "C1",
                        "prod_stat": "I",
                    }
                ]
            }
        )
    )
    api.import_and_wait(
        php_form({"products": [{"prod_ref": "P1", "prod_title_es": "C"}]}),
        sign("CNOVERWRITE"),
    )
    product = api.dump("products")["P1"]
    assert product["fields"] == {"prod_title": {"es": "C"}}
    assert product["links"]["cat_ref"] == []
    assert product["status"] == "I"


def test_only_existing_items_are_updated_by_such_a_connector(api: Api) -> None:
    api.import_and_wait(php_form({"products": [{"prod_ref": "P1"}]}))
    answer = api.set_info(
        php_form({"products": [{"prod_ref": "P1", "prod_price": "5"}, {"prod_ref": "NEW"}]}),
        sign("CNEXISTING"),
    ).json()["input_response"]
    assert answer["new_items"] == {"products": 0}
    assert answer["updated_items"] == {"products": 1}
    assert answer["skipped_items"] == {"products": 1}
    status = api.http.get(answer["status_tracking"])
    while status.json()["input_status"] != "end":
        status = api.http.get(answer["status_tracking"])
    products = api.dump("products")
    assert set(products) == {"P1"} and products["P1"]["fields"] == {"prod_price": "5"}


def test_deletes_by_reference_cascade_to_variants(api: Api) -> None:
    api.import_and_wait(
        php_form(
            {
                "products": [{"prod_ref": "P1"}, {"prod_ref": "P2"}],
                "product_formats": [{"frmt_ref": "V1", "prod_ref": "P1"}],
            }
        )
    )
    done = api.import_and_wait(php_form(deletes={"products": ["P1", "GHOST"]}))
    assert done["input_response"]["deleted_items"] == {"products": 1}
    assert done["input_response"]["skipped_items"] == {"products": 1}
    assert set(api.dump("products")) == {"P2"}
    assert api.dump("product_formats") == {}
    everything = api.http.get("/_emulator/tables/products").json()["items"]
    assert [(i["ref"], i["status"], i["deleted"]) for i in everything] == [
        ("P1", "X", True),
        ("P2", "V", False),
    ]


def test_status_x_in_input_data_deletes_and_the_first_duplicate_wins(api: Api) -> None:
    api.import_and_wait(php_form({"products": [{"prod_ref": "P1"}]}))
    done = api.import_and_wait(
        php_form(
            {
                "products": [
                    {"prod_ref": "P1", "prod_stat": "X"},
                    {"prod_ref": "P2", "prod_price": "1"},
                    {"prod_ref": "P2", "prod_price": "2"},
                ]
            }
        )
    )
    assert done["input_response"]["deleted_items"] == {"products": 1}
    assert done["input_response"]["skipped_items"] == {"products": 1}
    assert api.dump("products")["P2"]["fields"] == {"prod_price": "1"}
    assert "P1" not in api.dump("products")


def test_input_data_directly_writes_at_once(api: Api) -> None:
    answer = api.set_info(
        php_form({"products": [{"prod_ref": "P1"}]}, input_data_directly="1")
    ).json()["input_response"]
    assert set(api.dump("products")) == {"P1"}
    assert api.http.get(answer["status_tracking"]).json()["input_status"] == "end"


def test_ref_alias_and_bare_multilingual_field(api: Api) -> None:
    api.import_and_wait(php_form({"products": [{"REF": "P1", "prod_title": "Default"}]}))
    assert api.dump("products")["P1"]["fields"] == {"prod_title": {"en": "Default"}}


def test_compression_1_answers_gzip(api: Api) -> None:
    with httpx.Client(base_url=api.emulator.base_url) as raw:
        response = raw.post(
            "/",
            params=sign(compression="1"),
            content=php_form({"products": [{"prod_ref": "P1"}]}),
            headers={"Accept-Encoding": "gzip"},
        )
        assert response.headers["content-encoding"] == "gzip"
        assert response.json()["input_response"]["result"] == 1
        with raw.stream(
            "POST",
            "/",
            params=sign(compression="1"),
            content=b"input_data[products][0][prod_ref]=P2",
        ) as streamed:
            compressed = b"".join(streamed.iter_raw())
    assert gzip.decompress(compressed).startswith(b"{")


def test_a_job_whose_parent_vanished_ends_in_error_and_writes_nothing(api: Api) -> None:
    api.import_and_wait(php_form({"products": [{"prod_ref": "P1"}]}))
    queued = api.set_info(php_form({"product_formats": [{"frmt_ref": "V1", "prod_ref": "P1"}]}))
    api.import_and_wait(php_form(deletes={"products": ["P1"]}), sign(), max_polls=5)
    url = queued.json()["input_response"]["status_tracking"]
    statuses = [api.http.get(url).json() for _ in range(3)]
    assert statuses[-1]["input_status"] == "error"
    assert "'P1' is not a products reference" in statuses[-1]["input_action_message"]
    assert api.dump("product_formats") == {}


def test_busy_connector_is_code_14_when_switched_on(api: Api) -> None:
    api.settings({"connector_api": {"busy_while_job_running": True}})
    first = api.set_info(php_form({"products": [{"prod_ref": "P1"}]})).json()
    assert api.set_info(php_form({"products": [{"prod_ref": "P2"}]})).json()["error"] == 14
    url = first["input_response"]["status_tracking"]
    while api.http.get(url).json()["input_status"] != "end":
        pass
    assert api.set_info(php_form({"products": [{"prod_ref": "P2"}]})).json()["error"] == 0


def test_unknown_tracking_id_is_404(api: Api) -> None:
    response = api.http.get("/status_tracking/nope")
    assert response.status_code == 404 and response.json()["error"] == 1


def test_time_based_tracking_ends_without_polls(api: Api) -> None:
    api.settings({"tracking": {"seconds_per_step": 0.05, "tick_seconds": 0.05}})
    api.set_info(php_form({"products": [{"prod_ref": "P1"}]}))
    deadline = time.monotonic() + 10
    while "P1" not in api.dump("products"):
        assert time.monotonic() < deadline, "the background tick never ended the job"
        time.sleep(0.05)
