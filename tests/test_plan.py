"""The Airflow-free plan: task order follows Sales Layer's table dependencies."""

from __future__ import annotations

import pytest

from saleslayer_airflow.config import parse_connector
from saleslayer_airflow.docs import render_doc_md
from saleslayer_airflow.plan import Stage, plan_connector

HEAD = """\
id: shop
description: Test.
schedule: null
start_date: 2026-11-01
source: {kind: sftp, conn_id: erp_sftp, directory: /out, pattern: "*.csv", pick: all}
format: {type: csv}
tables:
"""


def plan_for(tables: str):  # type: ignore[no-untyped-def]
    return plan_connector(parse_connector(HEAD + tables, "shop.yaml"))


def upstream(plan, task_id: str) -> tuple[str, ...]:  # type: ignore[no-untyped-def]
    return next(t.upstream for t in plan.tasks if t.task_id == task_id)


def test_full_catalog_order() -> None:
    plan = plan_for(
        "  variants: {reference: sku, product: parent}\n"
        "  points_of_sale: {reference: store}\n"
        "  products: {reference: parent, categories: cats}\n"
        "  categories: {reference: code, parent: parent_code}\n"
    )
    assert plan.push_order() == ["categories", "products", "variants", "points_of_sale"]
    assert upstream(plan, "push_variants") == ("push_products",)
    assert upstream(plan, "push_products") == ("push_categories",)
    assert upstream(plan, "push_categories") == ("validate_and_split",)
    assert upstream(plan, "push_points_of_sale") == ("validate_and_split",)
    assert [t.stage for t in plan.tasks][:2] == [Stage.FETCH, Stage.SPLIT]
    assert plan.tasks[-1].task_id == "report"
    assert set(upstream(plan, "report")) == {
        "push_categories",
        "push_products",
        "push_variants",
        "push_points_of_sale",
    }


def test_variants_alone_wait_only_for_the_split() -> None:
    # Their products were imported by an earlier run or another connector.
    plan = plan_for("  variants: {reference: sku, product: parent}\n")
    assert upstream(plan, "push_variants") == ("validate_and_split",)


def test_custom_entities_wait_for_the_tables_they_link() -> None:
    plan = plan_for(
        "  suppliers: {kind: custom_entity, reference: code, links: {brands: brand}}\n"
        "  brands: {kind: custom_entity, reference: code}\n"
    )
    assert plan.push_order() == ["brands", "suppliers"]
    assert upstream(plan, "push_suppliers") == ("push_brands",)


def test_link_cycle_is_refused() -> None:
    with pytest.raises(ValueError, match="cycle: a -> b -> a"):
        plan_for(
            "  a: {kind: custom_entity, reference: code, links: {b: b_ref}}\n"
            "  b: {kind: custom_entity, reference: code, links: {a: a_ref}}\n"
        )


def test_doc_md_describes_source_tables_and_target() -> None:
    plan = plan_for(
        "  products:\n    reference: sku\n    fields:\n"
        "      name: {column: name, languages: [en, es]}\n"
        "      tags: {column: tags, separator: '|'}\n"
    )
    doc = render_doc_md(plan, "include/connectors/shop.yaml")
    assert "# shop" in doc
    assert "Defined in `include/connectors/shop.yaml`" in doc
    assert "`sftp` through Airflow connection `erp_sftp`" in doc
    assert "files matching `*.csv`" in doc and "**Pick:** all" in doc
    assert "`manual runs only`" in doc
    assert "| `name` | `name_en`, `name_es` |" in doc
    assert "| `tags` | `tags` (list split on `\\|`) |" in doc
    assert "only items changed since the last push" in doc
