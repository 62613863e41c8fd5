"""A connector's `tables:` compiled into per-table plans: columns, links, duplicate policy."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from saleslayer_airflow.config.connector import ConnectorConfig
from saleslayer_airflow.config.tables import (
    CategoryPath,
    DuplicatePolicy,
    FieldMapping,
    FieldType,
    RowFilter,
    TableKind,
    TableMapping,
)

# The staged link columns, re-exported: the catalogue (tables.py) names them.
from saleslayer_airflow.tables import CATEGORY_REFS as CATEGORY_REFS
from saleslayer_airflow.tables import LINK_PREFIX as LINK_PREFIX
from saleslayer_airflow.tables import PARENT_REF as PARENT_REF
from saleslayer_airflow.tables import PRODUCT_REF as PRODUCT_REF


@dataclass(frozen=True)
class OutputColumn:
    """One column of a table's staged Parquet file (besides reference, _source_file, _line)."""

    name: str
    type: FieldType
    is_list: bool


@dataclass(frozen=True)
class FieldSource:
    """Where one output column of a field takes its value (a multi-language field has several)."""

    field: str
    out: str
    column: str | None
    constant: Any
    spec: FieldMapping


@dataclass(frozen=True)
class LinkPlan:
    """A parent link: the column holding the reference(s) and the table they must exist in."""

    out: str
    column: str | None
    separator: str | None
    is_list: bool
    target: str
    target_in_import: bool
    noun: str
    path_separator: str | None = None


@dataclass(frozen=True)
class TablePlan:
    """Everything needed to turn source rows into one table's items."""

    key: str
    kind: TableKind
    policy: DuplicatePolicy
    reference: str
    path: CategoryPath | None
    where: tuple[RowFilter, ...]
    fields: tuple[FieldSource, ...]
    links: tuple[LinkPlan, ...]
    columns: tuple[OutputColumn, ...]

    def source_columns(self) -> list[str]:
        """Every source column this table reads, in mapping order."""
        names = [self.reference] if self.path is None else [self.path.column]
        names += [f.column for f in self.fields if f.column is not None]
        names += [link.column for link in self.links if link.column is not None]
        return list(dict.fromkeys(names))


def _field_sources(name: str, spec: FieldMapping) -> list[FieldSource]:
    if spec.languages is None:
        return [FieldSource(name, name, spec.column, spec.constant, spec)]
    assert spec.column is not None  # the model requires a column with languages
    return [
        FieldSource(
            name,
            f"{name}_{lang}",
            spec.language_pattern.format(column=spec.column, lang=lang),
            None,
            spec,
        )
        for lang in spec.languages
    ]


def _default_policy(table: TableMapping, several_tables: bool) -> DuplicatePolicy:
    if table.on_duplicate is not None:
        return table.on_duplicate
    # A flat export repeats a product (or brand, or category) on every row of its SKUs.
    if table.path is not None or several_tables:
        return DuplicatePolicy.MERGE
    return DuplicatePolicy.FIRST


def _table_of_kind(config: ConnectorConfig, kind: TableKind) -> str | None:
    for key, found in config.table_kinds().items():
        if found is kind:
            return key
    return None


def _links(
    config: ConnectorConfig, key: str, table: TableMapping, kind: TableKind
) -> list[LinkPlan]:
    links: list[LinkPlan] = []
    if table.parent is not None:
        links.append(LinkPlan(PARENT_REF, table.parent, None, False, key, True, "parent category"))
    if table.path is not None:
        links.append(LinkPlan(PARENT_REF, None, None, False, key, True, "parent category"))
    if table.categories is not None:
        target = _table_of_kind(config, TableKind.CATEGORIES)
        path_sep = None
        if target is not None:
            cat_path = config.tables[target].path
            if cat_path is not None and cat_path.column == table.categories.column:
                path_sep = cat_path.separator
        links.append(
            LinkPlan(
                CATEGORY_REFS,
                table.categories.column,
                table.categories.separator,
                True,
                target or TableKind.CATEGORIES.value,
                target is not None,
                "category",
                path_sep,
            )
        )
    if table.product is not None:
        target = _table_of_kind(config, TableKind.PRODUCTS)
        links.append(
            LinkPlan(
                PRODUCT_REF,
                table.product,
                None,
                False,
                target or TableKind.PRODUCTS.value,
                target is not None,
                "product",
            )
        )
    for name, ref_list in table.links.items():
        target = name if name in config.tables else None
        if target is None and name in {k.value for k in TableKind}:
            target = _table_of_kind(config, TableKind(name))
        links.append(
            LinkPlan(
                f"{LINK_PREFIX}{name}",
                ref_list.column,
                ref_list.separator,
                True,
                target or name,
                target is not None,
                f"{name} item",
            )
        )
    return links


def build_plans(config: ConnectorConfig) -> list[TablePlan]:
    """One plan per table, in file order."""
    plans = []
    several = len(config.tables) > 1
    for key, table in config.tables.items():
        kind = table.resolved_kind(key)
        fields = [src for name, spec in table.fields.items() for src in _field_sources(name, spec)]
        links = _links(config, key, table, kind)
        columns = [OutputColumn(f.out, f.spec.type, f.spec.separator is not None) for f in fields]
        columns += [OutputColumn(link.out, FieldType.STRING, link.is_list) for link in links]
        plans.append(
            TablePlan(
                key=key,
                kind=kind,
                policy=_default_policy(table, several),
                reference=table.reference,
                path=table.path,
                where=tuple(table.where),
                fields=tuple(fields),
                links=tuple(links),
                columns=tuple(columns),
            )
        )
    return plans
