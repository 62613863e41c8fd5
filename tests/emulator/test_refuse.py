"""Settings ``refuse``: the emulator refuses chosen items as Sales Layer refuses data it does not
accept. An Import Connector call holding one is denied whole (``result: 2``, nothing written),
its errors naming the items or, with ``denials_name_items: false``, giving only the reasons; a
REST write of one is answered 400 with the reason."""

from __future__ import annotations

from tests.emulator.conftest import Api, php_form

REASON = "Invalid value for field prod_price"
ROWS = [{"prod_ref": "P1"}, {"prod_ref": "P-7"}, {"prod_ref": "P3"}]


def test_a_call_holding_a_refused_item_is_denied_whole_naming_it(api: Api) -> None:
    api.settings({"refuse": {"products": {"P-7": REASON}}})
    answer = api.set_info(php_form({"products": ROWS})).json()
    assert answer["error"] == 0
    assert answer["input_response"] == {"result": 2, "errors": [f"products P-7: {REASON}"]}
    assert api.dump("products") == {}, "a denied call wrote something"

    # The same call without it goes through; a refused reference of another table does not
    # concern this one.
    api.settings({"refuse": {"catalogue": {"P-7": REASON}}})
    assert api.import_and_wait(php_form({"products": ROWS}))["input_status"] == "end"
    assert sorted(api.dump("products")) == ["P-7", "P1", "P3"]


def test_refusals_come_with_the_rule_errors_of_the_same_call(api: Api) -> None:
    api.settings({"refuse": {"products": {"P-7": REASON}}})
    rows = [*ROWS, {"prod_ref": "P4", "cat_ref": "DELETED"}]
    errors = api.set_info(php_form({"products": rows})).json()["input_response"]["errors"]
    assert errors[0] == f"products P-7: {REASON}"
    assert errors[1].startswith("products P4: cat_ref 'DELETED' is not a catalogue reference")


def test_denials_can_give_only_the_reasons(api: Api) -> None:
    api.settings(
        {
            "refuse": {"products": {"P-7": REASON}},
            "connector_api": {"denials_name_items": False},
        }
    )
    rows = [*ROWS, {"prod_ref": "P4", "cat_ref": "DELETED"}, {"prod_ref": "P5", "prod_stat": "Q"}]
    errors = api.set_info(php_form({"products": rows})).json()["input_response"]["errors"]
    # One message per problem, whatever its kind: the row's, the refusal, the link's.
    assert errors[:2] == ["prod_stat='Q' is not one of V, I, D, R, X", REASON]
    assert errors[2].startswith("cat_ref 'DELETED' is not a catalogue reference")
    assert len(errors) == 3
    errors = api.set_info(php_form({"products": rows[:4]})).json()["input_response"]["errors"]
    assert errors[0] == REASON
    assert errors[1].startswith("cat_ref 'DELETED' is not a catalogue reference")
    assert not any("P-7" in e or "P4" in e for e in errors)
    # Denials about the call itself read the same in both modes.
    empty = api.set_info(b"").json()["input_response"]["errors"]
    assert empty == ["the call holds no rows in input_data or delete_data"]


def test_a_rest_write_of_a_refused_item_is_a_400_with_the_reason(api: Api) -> None:
    api.settings({"refuse": {"products": {"P-7": REASON}}})
    api.import_and_wait(php_form({"catalogue": [{"cat_ref": "C1"}]}))
    category = next(iter(api.dump("catalogue").values()))["id"]
    refused = api.rest("POST", "Products", json={"prod_ref": "P-7", "cat_id": category})
    assert refused.status_code == 400, refused.text
    assert REASON in refused.text
    accepted = api.rest("POST", "Products", json={"prod_ref": "P1", "cat_id": category})
    assert accepted.status_code == 201, accepted.text
    assert sorted(api.dump("products")) == ["P1"]
