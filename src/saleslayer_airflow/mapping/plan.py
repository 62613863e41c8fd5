"""A connector's `tables:` compiled into per-table plans: columns, links, duplicate policy."""

from __future__ import annotations

from dataclasses import dataclass, replace
from typing import Any

from saleslayer_airflow.config.connector import ConnectorConfig
from saleslayer_airflow.config.tables import (
    CategoryPath,
    DuplicatePolicy,
    FieldMapping,
    FieldType,
    ProductLink,
    RowFilter,
    TableKind,
    TableMapping,
)
from saleslayer_airflow.mapping.value_templates import ValueTemplate, parse_template

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
    #: a `collect: true` field: the rows of a reference add their values instead of conflicting
    collect: bool = False


@dataclass(frozen=True)
class FieldSource:
    """Where one output column of a field takes its value (a multi-language field has several)."""

    field: str
    out: str
    column: str | None
    constant: Any
    spec: FieldMapping
    #: a field with `columns:`: every column, in order (``column`` is the first)
    columns: tuple[str, ...] = ()
    #: a field with `template:`: the columns it combines and how (``column`` is None)
    template: ValueTemplate | None = None


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
    #: the categories' ``path.list_separator``: a cell holds several paths, linked to each one's
    #: deepest level
    path_list_separator: str | None = None
    #: a variant's product: the regular expression cutting it out of ``column``
    pattern: str | None = None
    #: a variant's product: the products' rows list their variants (normalize/children.py sets
    #: the link after every row is read), so a row without one is not rejected when mapped
    listed: bool = False


@dataclass(frozen=True)
class TitleSource:
    """One title column of a category path's levels: the staged column, and the parallel path
    column its segments come from (None: the path column itself)."""

    out: str
    column: str | None


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
    #: `continuation:` key column, and the source columns its groups fill (empty: none)
    continuation: str | None = None
    fill: tuple[str, ...] = ()
    #: products: the columns of its rows listing the variants (a variants table's
    #: ``product.listed_in``), read by normalize/children.py, not staged
    listing_columns: tuple[str, ...] = ()
    #: a category path's `title:` columns, after the links in ``columns``
    titles: tuple[TitleSource, ...] = ()
    #: the ``fields`` (indices) whose `required:` holds on the merged item rather than on each
    #: row (their rows' specs are optional): normalize/required.py rejects an item none of whose
    #: rows gave a value
    required_on_item: tuple[int, ...] = ()

    def source_columns(self) -> list[str]:
        """Every source column this table reads, in mapping order."""
        names = [self.reference] if self.path is None else [self.path.column]
        for f in self.fields:
            names += f.columns or ([f.column] if f.column is not None else [])
            if f.template is not None:
                names += f.template.columns
        names += [link.column for link in self.links if link.column is not None]
        if self.continuation is not None:
            names.append(self.continuation)
        names += self.listing_columns
        names += [t.column for t in self.titles if t.column is not None]
        return list(dict.fromkeys(names))


def _language_spec(spec: FieldMapping, lang: str) -> FieldMapping:
    """``spec`` as one language's column sees it: its own `default` when they differ."""
    if not isinstance(spec.default, dict):
        return spec
    return spec.model_copy(update={"default": spec.default_for(lang)})


def _field_sources(name: str, spec: FieldMapping) -> list[FieldSource]:
    if spec.template is not None:
        template = parse_template(spec.template)
        if spec.languages is None:
            return [FieldSource(name, name, None, None, spec, template=template)]
        return [
            FieldSource(
                name,
                f"{name}_{lang}",
                None,
                None,
                _language_spec(spec, lang),
                template=template.for_language(lang),
            )
            for lang in spec.languages
        ]
    if spec.columns is not None:
        return [FieldSource(name, name, spec.columns[0], None, spec, tuple(spec.columns))]
    if spec.languages is None:
        return [FieldSource(name, name, spec.column, spec.constant, spec)]
    assert spec.column is not None  # the model requires a column with languages
    return [
        FieldSource(
            name,
            f"{name}_{lang}",
            spec.language_pattern.format(column=spec.column, lang=lang),
            None,
            _language_spec(spec, lang),
        )
        for lang in spec.languages
    ]


def _default_policy(table: TableMapping, several_tables: bool) -> DuplicatePolicy:
    if table.on_duplicate is not None:
        return table.on_duplicate
    # Groups of rows and collected lists are one item made of several rows.
    if table.continuation is not None or any(f.collect for f in table.fields.values()):
        return DuplicatePolicy.MERGE
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
        path_sep = path_list = None
        if target is not None:
            cat_path = config.tables[target].path
            if cat_path is not None and cat_path.column == table.categories.column:
                path_sep, path_list = cat_path.separator, cat_path.list_separator
        links.append(
            LinkPlan(
                CATEGORY_REFS,
                table.categories.column,
                # the config checks both agree (check_category_paths): either gives the other
                table.categories.separator or path_list,
                True,
                target or TableKind.CATEGORIES.value,
                target is not None,
                "category",
                path_sep,
                path_list_separator=path_list,
            )
        )
    if table.product is not None:
        target = _table_of_kind(config, TableKind.PRODUCTS)
        link = table.product if isinstance(table.product, ProductLink) else None
        links.append(
            LinkPlan(
                PRODUCT_REF,
                table.product_column(),
                None,
                False,
                target or TableKind.PRODUCTS.value,
                target is not None,
                "product",
                pattern=link.pattern if link is not None else None,
                listed=table.product_listing() is not None,
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
        fields, on_item = _required_on_item(table, fields)
        links = _links(config, key, table, kind)
        columns = [
            OutputColumn(f.out, f.spec.type, f.spec.separator is not None, f.spec.collect)
            for f in fields
        ]
        columns += [OutputColumn(link.out, FieldType.STRING, link.is_list) for link in links]
        titles = (
            [
                TitleSource(out, source)
                for out, source in table.path.title.outputs(table.path.column)
            ]
            if table.path is not None and table.path.title is not None
            else []
        )
        columns += [OutputColumn(title.out, FieldType.STRING, False) for title in titles]
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
                continuation=table.continuation.key if table.continuation else None,
                fill=_filled(table, fields),
                listing_columns=_listing_columns(config, kind),
                titles=tuple(titles),
                required_on_item=on_item,
            )
        )
    return plans


def _required_on_item(
    table: TableMapping, fields: list[FieldSource]
) -> tuple[list[FieldSource], tuple[int, ...]]:
    """The fields with their `required:` moved from the rows to the merged item, and which.

    An item made of several rows is complete when one of its rows gives the value: in a table
    with `continuation:` rows, any required field (the product row may come after an image
    row, a value may sit on a later row of the group); elsewhere, a `collect: true` list (each
    row adds its values). A field with a `default` is never empty: it stays as it is."""
    moved: list[int] = []
    out: list[FieldSource] = []
    for index, source in enumerate(fields):
        spec = source.spec
        grouped = table.continuation is not None or spec.collect
        if grouped and spec.required and spec.default is None:
            moved.append(index)
            source = replace(source, spec=spec.model_copy(update={"required": False}))
        out.append(source)
    return out, tuple(moved)


def _filled(table: TableMapping, fields: list[FieldSource]) -> tuple[str, ...]:
    """The source columns a `continuation:` group fills: those named in `fill`, else every
    column the table reads but its reference, its key and its collected lists (each row brings
    its own values there)."""
    if table.continuation is None:
        return ()
    if table.continuation.fill is not None:
        return tuple(dict.fromkeys(table.continuation.fill))
    own = {table.continuation.key, table.reference}
    for f in fields:
        if f.spec.collect:
            own.update(f.columns or ([f.column] if f.column else []))
    return tuple(name for name in table.read_columns() if name not in own)


def _listing_columns(config: ConnectorConfig, kind: TableKind) -> tuple[str, ...]:
    """A products table reads the cells its rows list the variants in (`listed_in`)."""
    if kind is not TableKind.PRODUCTS:
        return ()
    return tuple(
        dict.fromkeys(
            listing.column
            for table in config.tables.values()
            if (listing := table.product_listing()) is not None
        )
    )
