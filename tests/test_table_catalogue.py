"""The catalogue of table kinds is the one source the stages read."""

from __future__ import annotations

from saleslayer_airflow.config.tables import DEFAULT_IMPORT_TABLES, DEFAULT_PARENT_FIELDS
from saleslayer_airflow.push.transports import status_field
from saleslayer_airflow.saleslayer.entities import LINKS, STANDARD_SETS
from saleslayer_airflow.tables import DEPENDENCY_ORDER, KINDS, TableKind, dependency_rank


def test_every_kind_has_one_entry_in_dependency_order() -> None:
    assert list(KINDS) == list(DEPENDENCY_ORDER) == list(TableKind)


def test_a_parent_kind_comes_first() -> None:
    for kind, spec in KINDS.items():
        if spec.parent_kind is not None and spec.parent_kind is not kind:
            assert dependency_rank(spec.parent_kind) < dependency_rank(kind)


def test_import_names_and_parent_fields_come_from_the_catalogue() -> None:
    assert DEFAULT_IMPORT_TABLES[TableKind.VARIANTS] == "product_formats"
    assert DEFAULT_IMPORT_TABLES[TableKind.CATEGORIES] == "catalogue"
    assert TableKind.CUSTOM_ENTITY not in DEFAULT_IMPORT_TABLES
    assert DEFAULT_PARENT_FIELDS == {
        TableKind.CATEGORIES: "cat_parent_ref",
        TableKind.PRODUCTS: "cat_ref",
        TableKind.VARIANTS: "prod_ref",
    }


def test_rest_entity_sets_and_links_follow_the_catalogue() -> None:
    for kind_value, entity in STANDARD_SETS.items():
        spec = KINDS[TableKind(kind_value)]
        assert entity.name == spec.rest_set
        assert entity.ref_field == f"{spec.prefix}_ref"
        (link,) = LINKS[entity]
        assert link.ref_field == spec.parent_field
        assert spec.parent_kind is not None
        assert link.target.name == KINDS[spec.parent_kind].rest_set


def test_status_fields_by_kind() -> None:
    assert status_field("products", "REF") == "prod_stat"
    assert status_field("points_of_sale", "REF") == "pos_stat"
    assert status_field("custom_entity", "REF") is None
    assert status_field("brands", "brand_ref") == "brand_stat"
