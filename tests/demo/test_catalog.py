"""The demo company's exports are reproducible and carry every column the examples map."""

from __future__ import annotations

import csv
import io
from typing import Any

from saleslayer_airflow.config import load_connector
from saleslayer_airflow.config.models import ConnectorConfig, FieldMapping, ReferenceList
from saleslayer_airflow.demo.catalog import DemoCompany, daily_exports
from tests.conftest import EXAMPLES


def mapped_columns(config: ConnectorConfig) -> set[str]:
    """Every source column the connector reads, languages expanded."""
    columns: set[str] = set()

    def field(mapping: FieldMapping) -> None:
        if mapping.column is None:
            return
        if mapping.languages:
            columns.update(
                mapping.language_pattern.format(column=mapping.column, lang=lang)
                for lang in mapping.languages
            )
        else:
            columns.add(mapping.column)

    for table in config.tables.values():
        columns.add(table.reference)
        columns.update(c for c in (table.parent, table.product) if c)
        if table.path:
            columns.add(table.path.column)
        refs: list[ReferenceList] = [*table.links.values()]
        if table.categories:
            refs.append(table.categories)
        columns.update(r.column for r in refs)
        for mapping in table.fields.values():
            field(mapping)
    return columns


def header(text: str, delimiter: str) -> set[str]:
    return set(next(csv.reader(io.StringIO(text), delimiter=delimiter)))


def flatten(record: dict[str, Any], prefix: str = "") -> set[str]:
    keys: set[str] = set()
    for key, value in record.items():
        keys.add(prefix + key)
        if isinstance(value, dict):
            keys |= flatten(value, prefix + key + ".")
    return keys


def test_same_seed_same_bytes() -> None:
    a = daily_exports(3)
    b = daily_exports(3)
    for (day_a, company_a), (day_b, company_b) in zip(a, b, strict=True):
        assert day_a == day_b
        assert company_a.apparel_catalog_csv() == company_b.apparel_catalog_csv()
        assert company_a.stores_csv() == company_b.stores_csv()
        assert company_a.erp_items() == company_b.erp_items()


def test_exports_carry_every_column_the_examples_map() -> None:
    company = DemoCompany()
    apparel = load_connector(EXAMPLES / "apparel_catalog_http.yaml")
    stores = load_connector(EXAMPLES / "stores_ftp.yaml")
    erp = load_connector(EXAMPLES / "erp_api_catalog.yaml")
    assert mapped_columns(apparel) <= header(company.apparel_catalog_csv(), ";")
    assert mapped_columns(stores) <= header(company.stores_csv(), ",")
    assert mapped_columns(erp) <= flatten(company.erp_items()[0])


def test_days_differ_a_little() -> None:
    (_, day1), (_, day2) = daily_exports(2)
    rows1 = set(day1.apparel_catalog_csv().splitlines())
    rows2 = set(day2.apparel_catalog_csv().splitlines())
    changed = len(rows1 ^ rows2)
    assert 0 < changed < len(rows1) * 0.2
    assert {p.ref for p in day2.products} - {p.ref for p in day1.products}, "a launch per day"
