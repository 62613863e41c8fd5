"""Secrets never leave the emulator; tenant files are checked when loaded."""

from __future__ import annotations

import logging
from pathlib import Path

import pytest
import yaml

from saleslayer_airflow.emulator.server import run_in_thread
from saleslayer_airflow.emulator.tenant import default_tenant_path, load_tenant
from tests.emulator.conftest import API_KEY, PRIVATE_KEY, Api, php_form, sign


@pytest.mark.integration
def test_keys_appear_in_no_answer_and_no_log(api: Api, caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.DEBUG)
    answers = [
        api.set_info(php_form({"products": [{"prod_ref": "P1"}]}), sign(key="wrong")),
        api.set_info(php_form({"products": [{"prod_ref": "P1"}]}), sign()),
        api.set_info(php_form({"nope": [{"REF": "P1"}]}), sign()),
        api.http.get("/rest/Catalog/Products", headers={"X-API-KEY": API_KEY + "x"}),
        api.rest("GET", "Products"),
        api.http.get("/_emulator/settings"),
        api.http.get("/_emulator/stats"),
        api.http.get("/_emulator/tables"),
        api.http.get("/_emulator/tables/products"),
    ]
    for response in answers:
        assert PRIVATE_KEY not in response.text and API_KEY not in response.text
    assert PRIVATE_KEY not in caplog.text and API_KEY not in caplog.text


def test_tenant_repr_hides_keys() -> None:
    tenant = load_tenant()
    assert PRIVATE_KEY not in repr(tenant) and API_KEY not in repr(tenant)
    assert PRIVATE_KEY not in str(tenant.connectors[0])


def _write(tmp_path: Path, change: dict[str, object]) -> Path:
    data = yaml.safe_load(default_tenant_path().read_text())
    data.update(change)
    path = tmp_path / "tenant.yaml"
    path.write_text(yaml.safe_dump(data))
    return path


@pytest.mark.parametrize(
    ("change", "message"),
    [
        ({"default_language": "de"}, "default_language 'de' is not one of the languages"),
        (
            {
                "tables": [
                    {
                        "import_name": "p",
                        "kind": "product",
                        "prefix": "prod",
                        "rest_set": "Products",
                        "links": [{"field": "cat_ref", "target": "nope"}],
                    }
                ]
            },
            "targets unknown table 'nope'",
        ),
        (
            {
                "tables": [
                    {
                        "import_name": "p",
                        "kind": "product",
                        "prefix": "prod",
                        "rest_set": "Products",
                        "fields": [{"name": "prod_ref"}],
                    }
                ]
            },
            "field 'prod_ref' is declared twice",
        ),
        (
            {"tables": [{"import_name": "p", "kind": "product", "prefix": "prod"}]},
            "rest_set is required",
        ),
        ({"colour": "blue"}, "Extra inputs are not permitted"),
    ],
)
def test_bad_tenant_files_are_refused(
    tmp_path: Path, change: dict[str, object], message: str
) -> None:
    with pytest.raises(ValueError, match=None) as info:
        load_tenant(_write(tmp_path, change))
    assert message in str(info.value)


@pytest.mark.integration
def test_a_custom_tenant_file_drives_both_apis(tmp_path: Path) -> None:
    tenant = _write(
        tmp_path,
        {
            "languages": ["de", "en"],
            "default_language": "de",
            "new_item_status": "D",
            "tables": [
                {
                    "import_name": "suppliers",
                    "kind": "custom",
                    "prefix": "sup",
                    "rest_set": "Lieferanten",
                    "fields": [{"name": "sup_name", "multilingual": True}],
                }
            ],
        },
    )
    with run_in_thread(tmp_path / "sl.sqlite", tenant=tenant) as emulator:
        api = Api(emulator)
        api.settings({"tracking": {"steps_to_end": 0}})
        answer = api.set_info(
            php_form(
                {"suppliers": [{"sup_ref": "S1", "sup_name": "Lieferant"}]},
                ref_fields={"suppliers": "sup_ref"},
            )
        ).json()
        assert answer["input_response"]["new_items"] == {"suppliers": 1}
        item = api.rest("GET", "CustomEntities('Lieferanten')/Item(1)").json()
        assert item["sup_name"] == {"de": "Lieferant"} and item["sup_stat"] == "D"
        api.close()


def test_settings_files_are_read_and_checked(tmp_path: Path) -> None:
    from saleslayer_airflow.emulator.settings import load_settings

    good = tmp_path / "settings.yaml"
    good.write_text(
        "rest:\n  patch_status: 200\nfaults:\n  rest:\n    seed: 9\n    share_429: 0.5\n"
    )
    settings = load_settings(good)
    assert settings.rest.patch_status == 200 and settings.faults.rest.share_429 == 0.5
    assert settings.rate_limit.requests == 50  # untouched defaults stay
    bad = tmp_path / "bad.yaml"
    bad.write_text("rest:\n  patch_sttus: 200\n")
    with pytest.raises(ValueError, match="patch_sttus"):
        load_settings(bad)
