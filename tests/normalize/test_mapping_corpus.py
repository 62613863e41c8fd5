"""The mapping layer against the row engine on every connector and export of the test corpora."""

from __future__ import annotations

import json
from datetime import date
from pathlib import Path

import pytest

from saleslayer_airflow.config.load import load_connector, parse_connector
from saleslayer_airflow.demo.exports import write_exports
from saleslayer_airflow.normalize import cells
from saleslayer_airflow.normalize.results import LandedFile
from tests.adversarial.test_hostile_rows import CONNECTOR as HOSTILE_CONNECTOR
from tests.adversarial.test_hostile_rows import ROWS as HOSTILE_ROWS
from tests.adversarial.test_hostile_rows import _export as hostile_export
from tests.normalize.mapping_reference import check_mapping
from tests.split.conftest import connector, connector_text, realdata
from tests.split.test_malformed import CASES, Case, _connector_yaml


@pytest.mark.parametrize("case", CASES, ids=[c.name for c in CASES])
def test_malformed_corpus(case: Case, tmp_path: Path) -> None:
    config = connector_text(_connector_yaml(case))
    data = case.data() if callable(case.data) else case.data
    landed = tmp_path / "export.bin"
    landed.write_bytes(data)
    files = [LandedFile(landed, "export.bin")]
    check_mapping(config, files, (1, 2, 3, 65_536))


REAL = [
    ("akeneo_categories", "akeneo/categories.csv"),
    ("akeneo_product_models", "akeneo/product_models.csv"),
    ("akeneo_products", "akeneo/products.csv"),
    ("akeneo_non_utf8", "akeneo/product_export_with_non_utf8_characters.csv"),
    ("prestashop_stores", "prestashop/store_contacts.csv"),
    ("starbucks_stores", "starbucks/directory.csv"),
    ("saleor", "saleor/populatedb_data.json"),
]


@pytest.mark.parametrize(("name", "relative"), REAL, ids=[r[0] for r in REAL])
def test_real_exports(name: str, relative: str) -> None:
    path = realdata(relative)
    files = [LandedFile(path, path.name)]
    check_mapping(connector(name), files, (7, 65_536))


def test_hostile_rows_export(tmp_path: Path) -> None:
    text, _ = hostile_export(HOSTILE_ROWS)
    path = tmp_path / "stores.csv"
    path.write_text(text, encoding="utf-8")
    config = parse_connector(HOSTILE_CONNECTOR, "hostile_rows.yaml")
    files = [LandedFile(path, "stores.csv")]
    old = check_mapping(config, files, (1, 4, 65_536))
    assert sum(e[0] == "reject" for e in old.events[0]) > 10  # the corpus is hostile indeed


def test_demo_exports_of_the_example_connectors(tmp_path: Path) -> None:
    days = write_exports(tmp_path, 2, date(2026, 3, 1))
    connectors = Path(__file__).resolve().parents[2] / "include" / "connectors"
    for day in days:
        api = tmp_path / f"items_{day.day}.jsonl"
        api.write_text("".join(json.dumps(r) + "\n" for r in day.items()), encoding="utf-8")
        for name, path in (
            ("apparel_catalog_http", day.catalog_csv),
            ("stores_ftp", day.stores_csv),
            ("erp_api_catalog", api),
        ):
            config = load_connector(connectors / f"{name}.yaml")
            files = [LandedFile(path, path.name)]
            old = check_mapping(config, files, (5, 65_536))
            assert old.error is None and any(old.events), name


def test_a_full_cache_of_distinct_values_starts_over(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(cells, "_CACHE_LIMIT", 3)
    text, _ = hostile_export(HOSTILE_ROWS)
    path = tmp_path / "stores.csv"
    path.write_text(text, encoding="utf-8")
    config = parse_connector(HOSTILE_CONNECTOR, "hostile_rows.yaml")
    files = [LandedFile(path, "stores.csv")]
    check_mapping(config, files, (2, 5))
