"""The Import Connector API called as the official SDK and the documentation call it, over HTTP:
request forms this project's client never sends (``compression`` in the body, ``test``, rows
keyed by ``ID``, ``ver=1.17``), and the answers such a client reads (tracking at every step,
every problem of a denied call)."""

from __future__ import annotations

import gzip
import json
from collections.abc import Iterator
from typing import Any

import httpx
import pytest

from tests.emulator.conftest import Api, php_form, sign

pytestmark = pytest.mark.integration

ONE_PRODUCT = {"products": [{"prod_ref": "P1", "prod_title_en": "Shoe"}]}
COUNTS_ONE_NEW = {
    "new_items": {"products": 1},
    "updated_items": {"products": 0},
    "deleted_items": {"products": 0},
    "skipped_items": {"products": 0},
    "items_affected": {"products": 1},
}
NO_COUNTS: dict[str, dict[str, int]] = {
    "new_items": {},
    "updated_items": {},
    "deleted_items": {},
    "skipped_items": {},
    "items_affected": {},
}


@pytest.fixture
def raw(api: Api) -> Iterator[httpx.Client]:
    """A client that sends no Accept-Encoding unless a test gives one (httpx adds one)."""
    with httpx.Client(base_url=api.emulator.base_url, timeout=10) as client:
        del client.headers["accept-encoding"]
        yield client


def post_raw(
    client: httpx.Client,
    body: bytes,
    query: dict[str, str] | None = None,
    accept_encoding: str | None = None,
) -> tuple[httpx.Headers, bytes]:
    """POST / and the answer's headers and bytes as they came over the wire (not inflated)."""
    headers = {"Content-Type": "application/x-www-form-urlencoded"}
    if accept_encoding is not None:
        headers["Accept-Encoding"] = accept_encoding
    with client.stream(
        "POST", "/", params=query or sign(), content=body, headers=headers
    ) as response:
        assert response.status_code == 200
        return response.headers, b"".join(response.iter_raw())


def without_time(answer: dict[str, Any]) -> dict[str, Any]:
    assert isinstance(answer.pop("time"), int)
    answer.get("input_response", {}).pop("status_tracking", None)
    return answer


# -- 1. compression in the body, gzip only when Accept-Encoding allows it ----------------------


@pytest.mark.parametrize(
    "body",
    [
        # One table, rows alike, flags after the rows as the SDK orders them (column path).
        php_form(ONE_PRODUCT, input_data_directly="0", compression="1"),
        # Deletes too (row path), compression before another flag.
        php_form(ONE_PRODUCT, {"products": ["OLD1"]}, compression="1", get_affected_ids="0"),
    ],
    ids=["column-path", "row-path"],
)
def test_compression_in_the_body_gzips_the_answer(raw: httpx.Client, body: bytes) -> None:
    headers, data = post_raw(raw, body, accept_encoding="gzip")
    assert headers["content-encoding"] == "gzip"
    assert headers["vary"] == "Accept-Encoding"
    answer = json.loads(gzip.decompress(data))
    assert answer["error"] == 0 and answer["version"] == "1.18"
    assert answer["input_response"]["result"] == 1
    assert answer["input_response"]["new_items"] == {"products": 1}


@pytest.mark.parametrize("accept_encoding", [None, "identity", "gzip;q=0", "br", "*;q=0"])
@pytest.mark.parametrize("where", ["body", "url"])
def test_no_gzip_for_a_client_that_does_not_accept_it(
    raw: httpx.Client, accept_encoding: str | None, where: str
) -> None:
    body = php_form(ONE_PRODUCT, compression="1") if where == "body" else php_form(ONE_PRODUCT)
    query = sign() if where == "body" else sign(compression="1")
    headers, data = post_raw(raw, body, query, accept_encoding)
    assert "content-encoding" not in headers
    assert headers["vary"] == "Accept-Encoding"
    assert headers["content-type"] == "application/json"
    answer = without_time(json.loads(data))
    assert answer == {
        "version": "1.18",
        "action": "update",
        "error": 0,
        "input_response": {"result": 1, "errors": [], **COUNTS_ONE_NEW},
    }


@pytest.mark.parametrize("accept_encoding", ["gzip", "x-gzip", "*", "deflate, gzip;q=0.5"])
def test_gzip_for_every_accept_encoding_that_allows_it(
    raw: httpx.Client, accept_encoding: str
) -> None:
    headers, data = post_raw(raw, php_form(ONE_PRODUCT, compression="1"), None, accept_encoding)
    assert headers["content-encoding"] == "gzip"
    assert json.loads(gzip.decompress(data))["input_response"]["result"] == 1


def test_the_body_says_no_to_compression_asked_in_the_url(raw: httpx.Client) -> None:
    headers, data = post_raw(
        raw, php_form(ONE_PRODUCT, compression="0"), sign(compression="1"), "gzip"
    )
    assert "content-encoding" not in headers
    assert json.loads(data)["input_response"]["result"] == 1


def test_a_compression_in_the_body_that_is_not_0_or_1_is_code_8(api: Api) -> None:
    answer = api.set_info(php_form(ONE_PRODUCT, compression="yes")).json()
    assert without_time(answer) == {
        "version": "1.18",
        "error": 8,
        "error_message": "Invalid compression type: compression must be 0 or 1, not 'yes'",
    }
    assert api.dump("products") == {}


# -- 2. the tracking answer has the same shape at every step -----------------------------------


def test_tracking_answers_carry_input_response_at_every_step(api: Api) -> None:
    accepted = api.set_info(php_form(ONE_PRODUCT)).json()["input_response"]
    polls = [without_time(api.http.get(accepted["status_tracking"]).json()) for _ in range(3)]
    expected = [
        ("prepare", 0, "Import queued"),
        ("started", 50, "Importing"),
        ("end", 100, "Import finished"),
    ]
    assert polls == [
        {
            "version": "1.18",
            "error": 0,
            "input_status": status,
            "input_percent_completion": percent,
            "input_action_message": message,
            "input_response": {"result": 1, "errors": [], **COUNTS_ONE_NEW},
        }
        for status, percent, message in expected
    ]


def test_the_tracking_answer_of_a_failed_job_has_result_2_and_no_counts(api: Api) -> None:
    api.settings({"faults": {"tracking": {"job_failure_share": 1.0}}})
    done = without_time(api.import_and_wait(php_form(ONE_PRODUCT)))
    message = (
        "The import failed (emulated fault faults.tracking.job_failure_share); nothing was written"
    )
    assert done == {
        "version": "1.18",
        "error": 0,
        "input_status": "error",
        "input_percent_completion": 100,
        "input_action_message": message,
        "input_response": {
            "result": 2,
            "errors": [message],
            **{kind: {"products": 0} for kind in COUNTS_ONE_NEW},
        },
    }


# -- 4. test, ID, ver, every problem, delete_data from 1.18 ------------------------------------

TESTING = {
    "version": "1.18",
    "action": "testing",
    "error": 0,
    "input_response": {"result": 0, "errors": [], **NO_COUNTS},
}


@pytest.mark.parametrize(
    ("body", "in_url"),
    [
        (b"", {"test": "1"}),  # the documented form: only the connection and the signature
        (php_form({"shoes": [{"REF": "S1"}]}), {"test": "1"}),  # the body is not read
        (php_form(ONE_PRODUCT, test="1"), {}),  # in the body, next to the data
    ],
    ids=["url-empty-body", "url-bad-body", "in-body"],
)
def test_test_calls_check_the_signature_and_import_nothing(
    api: Api, body: bytes, in_url: dict[str, str]
) -> None:
    # Signed when the test runs: a signature's date expires after 300 s, and a whole suite's
    # collection happens long before its last test.
    assert without_time(api.set_info(body, sign(**in_url)).json()) == TESTING
    assert api.dump("products") == {}
    assert api.http.get("/_emulator/jobs").json() == {"open": 0, "by_status": {}}


def test_test_calls_are_refused_like_any_call(api: Api) -> None:
    assert api.set_info(b"", sign(key="wrong", test="1")).json()["error"] == 9
    query = sign(test="1", unique=77)
    assert api.set_info(b"", query).json()["error"] == 0
    assert api.set_info(b"", query).json()["error"] == 3  # a replay is a replay
    answer = without_time(api.set_info(b"", sign(test="yes")).json())
    assert answer == {
        "version": "1.18",
        "error": 1,
        "error_message": "Validation error: test must be 0 or 1, not 'yes'",
    }


def _product_id(api: Api, ref: str) -> str:
    return str(api.dump("products")[ref]["id"])


def test_rows_keyed_by_id_update_the_item_with_that_id(api: Api) -> None:
    api.import_and_wait(php_form({"products": [{"prod_ref": "P1"}, {"prod_ref": "P2"}]}))
    p2 = _product_id(api, "P2")
    done = api.import_and_wait(php_form({"products": [{"ID": p2, "prod_title_en": "Boot"}]}))
    assert done["input_response"]["updated_items"] == {"products": 1}
    assert done["input_response"]["new_items"] == {"products": 0}
    products = api.dump("products")
    assert products["P2"]["fields"] == {"prod_title": {"en": "Boot"}}
    assert products["P1"]["fields"] == {}
    # The ID and the item's own reference together are the same item.
    api.import_and_wait(php_form({"products": [{"ID": p2, "prod_ref": "P2", "prod_price": "9"}]}))
    assert api.dump("products")["P2"]["fields"]["prod_price"] == "9"


def test_deletes_keyed_by_id(api: Api) -> None:
    api.import_and_wait(php_form({"products": [{"prod_ref": "P1"}, {"prod_ref": "P2"}]}))
    p1 = _product_id(api, "P1")
    body = php_form(deletes={"products": [p1]}, ref_fields={"products": "ID"})
    done = api.import_and_wait(body)
    assert done["input_response"]["deleted_items"] == {"products": 1}
    assert set(api.dump("products")) == {"P2"}
    # Sent again (a retry whose first answer was lost): nothing left to delete, skipped.
    again = api.import_and_wait(php_form(deletes={"products": [p1]}, ref_fields={"products": "ID"}))
    assert again["input_response"]["deleted_items"] == {"products": 0}
    assert again["input_response"]["skipped_items"] == {"products": 1}


def test_ids_that_name_no_live_item_are_denied_one_message_each(api: Api) -> None:
    api.import_and_wait(php_form({"products": [{"prod_ref": "P1"}, {"prod_ref": "GONE"}]}))
    p1, gone = _product_id(api, "P1"), _product_id(api, "GONE")
    api.import_and_wait(php_form(deletes={"products": ["GONE"]}))
    rows = [{"ID": "999"}, {"ID": gone}, {"ID": "x1"}, {"ID": p1, "prod_ref": "P9"}]
    answer = api.set_info(php_form({"products": rows})).json()["input_response"]
    assert answer == {
        "result": 2,
        "errors": [
            "products[0]: ID 999 names no products item; an ID only updates a live item (new "
            "items are created by their reference, prod_ref or REF)",
            f"products[1]: ID {gone} names a deleted products item; an ID only updates a live "
            "item (new items are created by their reference, prod_ref or REF)",
            "products[2]: ID 'x1' is not a Sales Layer id (a whole number from 1)",
            f"products[3]: ID {p1} is the item prod_ref='P1', but the row gives 'P9'; send the "
            "ID or the reference, or both of the same item",
        ],
    }
    assert set(api.dump("products")) == {"P1"}


@pytest.mark.parametrize(
    ("ver", "stated"), [("1.17", "1.17"), (None, "1.17"), ("1.18", "1.18"), ("1.99", "1.17")]
)
def test_error_answers_state_the_version_the_call_asked_for(
    api: Api, ver: str | None, stated: str
) -> None:
    def query(**extra: str) -> dict[str, str]:
        signed = sign(**extra)
        if ver is None:
            del signed["ver"]
        else:
            signed["ver"] = ver
        return signed

    refused = api.set_info(php_form(ONE_PRODUCT), query(key256="0" * 64)).json()
    assert (refused["error"], refused["version"]) == (9, stated)  # the signature comes first
    malformed = api.set_info(b"input_data[products][x][prod_ref]=P1", query()).json()
    expected_code = 6 if ver == "1.99" else 1
    assert (malformed["error"], malformed["version"]) == (expected_code, stated)
    api.settings({"faults": {"connector_api": {"script": ["error_10"]}}})
    fault = api.set_info(php_form(ONE_PRODUCT), query()).json()
    assert (fault["error"], fault["version"]) == (10, stated)


def test_legacy_fault_codes_on_tracking_state_the_tracking_version(api: Api) -> None:
    query = sign()
    query["ver"] = "1.17"
    url = api.set_info(php_form(ONE_PRODUCT), query).json()["input_response"]["status_tracking"]
    api.settings({"faults": {"tracking": {"script": ["error_11"]}}})
    assert without_time(api.http.get(url).json()) == {
        "version": "1.18",
        "error": 11,
        "error_message": "Service temporarily unavailable: emulated fault",
    }
    assert api.http.get(url).json()["version"] == "1.18"


def test_a_denial_states_the_version_of_the_call(api: Api) -> None:
    query = sign()
    query["ver"] = "1.17"
    answer = api.set_info(php_form({"shoes": [{"REF": "S1"}]}), query).json()
    assert answer["version"] == "1.17" and answer["input_response"]["result"] == 2


def test_every_problem_of_a_call_gets_its_message(api: Api) -> None:
    api.settings({"connector_api": {"max_items_per_call": 3}})
    body = php_form(
        {
            "shoes": [{"REF": "S1"}],
            "products": [
                {"prod_ref": "P1", "prod_colour": "red"},
                {"prod_ref": "P2", "cat_ref": "NOWHERE"},
            ],
            "product_formats": [{"frmt_ref": "V1"}],
        }
    )
    answer = api.set_info(body).json()["input_response"]
    assert answer == {
        "result": 2,
        "errors": [
            "4 items in one call; at most 3 are accepted",
            "unknown table 'shoes'; the account's tables are: catalogue, products, "
            "product_formats, points_of_sale, brands",
            "products[0]: unknown field 'prod_colour' (check the Name on Import; names are "
            "case-sensitive and multilingual fields take a _<language> suffix)",
            "products P2: cat_ref 'NOWHERE' is not a catalogue reference of the account nor of "
            "this call",
            "product_formats V1: a new item needs prod_ref (its products reference)",
        ],
    }
    assert api.dump("products") == {}


def test_delete_data_needs_version_1_18(api: Api) -> None:
    api.import_and_wait(php_form({"products": [{"prod_ref": "P1"}, {"prod_ref": "P2"}]}))
    query = sign()
    query["ver"] = "1.17"
    answer = api.set_info(php_form(deletes={"products": ["P1"]}), query).json()
    assert without_time(answer) == {
        "version": "1.17",
        "action": "update",
        "error": 0,
        "input_response": {
            "result": 2,
            "errors": [
                "delete_data needs API version 1.18, and this call is version 1.17 (the "
                "version assumed without ver): send ver=1.18, or delete with the status X in "
                "input_data"
            ],
        },
    }
    assert set(api.dump("products")) == {"P1", "P2"}
    # Under 1.17, the documented way: status X in input_data.
    query = sign()
    query["ver"] = "1.17"
    api.import_and_wait(php_form({"products": [{"prod_ref": "P1", "prod_stat": "X"}]}), query)
    assert set(api.dump("products")) == {"P2"}
    api.import_and_wait(php_form(deletes={"products": ["P2"]}))  # 1.18
    assert api.dump("products") == {}
