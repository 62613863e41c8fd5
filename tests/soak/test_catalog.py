"""The generated soak catalog: reproducible, parents before children, every link resolvable."""

from __future__ import annotations

import pytest

from saleslayer_airflow.emulator.soak_catalog import generate, split_counts


def test_same_seed_same_catalog_other_seed_other_links() -> None:
    assert generate(500, 3) == generate(500, 3)
    assert generate(500, 3) != generate(500, 4)


def test_counts_add_up_and_links_point_to_earlier_tables() -> None:
    catalog = generate(1_000, 1)
    assert [t.import_name for t in catalog] == [
        "catalogue",
        "brands",
        "products",
        "product_formats",
    ]
    assert sum(len(t.rows) for t in catalog) == 1_000 == sum(split_counts(1_000).values())
    tables = {t.import_name: t for t in catalog}
    cats = tables["catalogue"].refs()
    for position, row in enumerate(tables["catalogue"].rows):
        if position:
            assert cats.index(row["cat_parent_ref"]) < position
    brands, products = set(tables["brands"].refs()), set(tables["products"].refs())
    for row in tables["products"].rows:
        assert set(row["cat_ref"]) <= set(cats) and row["prod_brand"] in brands
        assert set(row["prod_title"]) == {"en", "es", "fr"}
    assert all(row["prod_ref"] in products for row in tables["product_formats"].rows)
    for table in catalog:
        assert len(set(table.refs())) == len(table.rows)


def test_too_small_a_catalog_is_refused() -> None:
    with pytest.raises(ValueError, match="at least 4"):
        generate(3, 1)
