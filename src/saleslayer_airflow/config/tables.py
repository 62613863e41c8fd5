"""`tables:` how source columns map onto Sales Layer tables, their references, links and fields."""

from __future__ import annotations

import difflib
from collections.abc import Sequence
from enum import StrEnum
from typing import Annotated, Literal

from pydantic import (
    Field,
    StringConstraints,
    field_validator,
    model_validator,
)

from saleslayer_airflow.config.common import (
    ColumnName,
    ColumnShorthandModel,
    Identifier,
    LocatedValueError,
    StrictModel,
)
from saleslayer_airflow.tables import KINDS
from saleslayer_airflow.tables import TableKind as TableKind  # re-exported: config.tables.TableKind


class FieldType(StrEnum):
    """Value types checked during validation."""

    STRING = "string"
    NUMBER = "number"
    INTEGER = "integer"
    BOOLEAN = "boolean"
    DATE = "date"
    DATETIME = "datetime"
    URL = "url"


class OnEmpty(StrEnum):
    """What an empty cell of a mapped field does to the value Sales Layer has."""

    CLEAR = "clear"
    KEEP = "keep"


class Transform(StrictModel):
    """One declared transform applied to a value, in order. Exactly one key is set."""

    trim: bool | None = None
    case: Literal["lower", "upper", "title"] | None = None
    map: dict[str, str | int | float | bool | None] | None = Field(
        None, description="Value map, e.g. {Y: true, N: false}; unmapped values are rejected."
    )
    parse_number: Literal["dot", "comma"] | None = Field(
        None, description="Decimal separator of the source numbers."
    )
    parse_date: str | None = Field(None, description="strptime format, e.g. '%d/%m/%Y'.")

    @model_validator(mode="after")
    def _exactly_one(self) -> Transform:
        given = [name for name in type(self).model_fields if getattr(self, name) is not None]
        if len(given) != 1:
            raise ValueError(
                "each transform sets exactly one of trim, case, map, parse_number, parse_date "
                f"(this one sets {', '.join(given) or 'none'}); list several transforms instead"
            )
        return self


LanguageCode = Annotated[
    str,
    StringConstraints(pattern=r"^[a-z]{2,3}([_-][A-Za-z0-9]{2,4})?$"),
    Field(description="Language code as used in the column names: en, es, en_US, pt-BR."),
]


class FieldMapping(ColumnShorthandModel):
    """Where one Sales Layer field takes its value. A plain string is short for `column:`."""

    column: ColumnName | None = Field(
        None,
        description="Source column. With `languages`, the base name of one column per language.",
    )
    constant: str | int | float | bool | None = Field(
        None, description="A fixed value for every row instead of a column."
    )
    languages: list[LanguageCode] | None = Field(
        None, description="Multi-language field: one source column per language code."
    )
    language_pattern: str = Field(
        "{column}_{lang}",
        description="How language columns are named: '{column}_{lang}' gives name_en, name_es.",
    )
    separator: str | None = Field(
        None, description="Multi-value field: separator of the values in one cell."
    )
    default: str | int | float | bool | None = Field(None, description="Value for empty cells.")
    type: FieldType = FieldType.STRING
    required: bool = False
    max_length: int | None = Field(None, ge=1)
    enum: list[str] | None = Field(None, description="Allowed values (after transforms).")
    transforms: list[Transform] = Field(default_factory=list)
    on_empty: OnEmpty | None = Field(
        None,
        description="An empty cell (with no `default`): `clear` empties the field in Sales "
        "Layer (the ERP is the source of truth), `keep` leaves the value Sales Layer has. "
        "Unset: the connector's `target.on_empty`.",
    )

    @field_validator("language_pattern")
    @classmethod
    def _pattern_has_placeholders(cls, value: str) -> str:
        if "{lang}" not in value:
            raise ValueError("language_pattern must contain '{lang}', e.g. '{column}_{lang}'")
        return value

    @model_validator(mode="after")
    def _one_origin(self) -> FieldMapping:
        if (self.column is None) == (self.constant is None):
            raise ValueError(
                "set exactly one of `column` (a source column) or `constant` (a fixed value)"
            )
        if self.languages is not None and self.column is None:
            raise ValueError("`languages` needs `column`: the base name of the language columns")
        return self


class ReferenceList(ColumnShorthandModel):
    """A column holding one or several references, e.g. a product's categories."""

    column: ColumnName
    separator: str | None = Field(None, description="Separator when a cell lists several.")
    field: str | None = Field(
        None,
        description="links: Sales Layer's name on import of the link field (default: the "
        "linked table's name).",
    )


class CategoryPath(StrictModel):
    """Build the category tree from a path column such as 'Men > Tops > Hoodies'."""

    column: ColumnName
    separator: str = " > "


class DuplicatePolicy(StrEnum):
    """What happens to a reference seen twice in one table.

    ``first`` keeps the first row and rejects the later ones; ``reject`` rejects every row of the
    reference; ``merge`` treats the rows as one item (a product repeated on each of its SKU rows):
    values that agree or fill an empty cell merge, values that disagree are a conflict (the later
    row is rejected, naming both lines). Every case is reported.
    """

    FIRST = "first"
    REJECT = "reject"
    MERGE = "merge"


class RowFilter(StrictModel):
    """Which source rows feed a table, when one file holds rows for several tables."""

    column: ColumnName
    equals: str | list[str] | None = Field(
        None, description="The cell, as text, equals this value (or one of these values)."
    )
    empty: bool | None = Field(None, description="true: the cell is empty; false: it is not.")

    @model_validator(mode="after")
    def _one_test(self) -> RowFilter:
        if (self.equals is None) == (self.empty is None):
            raise ValueError("a row filter sets exactly one of `equals` or `empty`")
        return self


#: Sales Layer's import field for a table's parent link, by kind (Import Connector names).
DEFAULT_PARENT_FIELDS: dict[TableKind, str] = {
    kind: spec.parent_field for kind, spec in KINDS.items() if spec.parent_field is not None
}

#: Sales Layer's import table name, by kind, when `sales_layer_table` is not given.
DEFAULT_IMPORT_TABLES: dict[TableKind, str] = {
    kind: spec.import_table for kind, spec in KINDS.items() if spec.import_table is not None
}


class TableMapping(StrictModel):
    """One Sales Layer table fed by this connector."""

    kind: TableKind | None = Field(
        None,
        description="categories, products, variants, points_of_sale or custom_entity. Implied "
        "when the table's key is one of the first four names.",
    )
    sales_layer_table: str | None = Field(
        None, description="The table's name in Sales Layer when it differs from the key."
    )
    reference: ColumnName = Field(description="Source column holding the item reference.")
    parent: ColumnName | None = Field(
        None, description="categories: column with the parent category's reference."
    )
    path: CategoryPath | None = Field(
        None, description="categories: build the tree from a path column instead."
    )
    categories: ReferenceList | None = Field(
        None, description="products: column with the product's category reference(s)."
    )
    product: ColumnName | None = Field(
        None, description="variants: column with the variant's product reference."
    )
    links: dict[Identifier, ReferenceList] = Field(
        default_factory=dict,
        description="Links by reference to other tables, e.g. {brands: {column: brand_code, "
        "field: prod_brand}}: the key names the linked table, `field` the Sales Layer field.",
    )
    reference_field: str = Field(
        "REF",
        description="Sales Layer's name on import of the item reference (REF works everywhere).",
    )
    parent_field: str | None = Field(
        None,
        description="Sales Layer's name on import of the parent link. Default: cat_parent_ref "
        "(categories), cat_ref (products), prod_ref (variants).",
    )
    fields: dict[str, FieldMapping] = Field(
        default_factory=dict, description="Sales Layer field name -> where its value comes from."
    )
    where: list[RowFilter] = Field(
        default_factory=list,
        description="Only rows passing every filter feed this table (e.g. one model of a JSON "
        "fixture, or the rows whose parent column is set).",
    )
    # Plain strings: check_table_files compares them with the declared names (did you mean).
    file: str | list[str] | None = Field(
        None,
        description="Which named file(s) of the source (`source.files`) feed this table, e.g. "
        "'categories' or [products, prices]. Default: every file the run lands.",
    )
    on_duplicate: DuplicatePolicy | None = Field(
        None,
        description="first, reject or merge. Default: merge when the connector feeds several "
        "tables from one export (a product repeats on each SKU row), first otherwise.",
    )

    @field_validator("file")
    @classmethod
    def _some_file(cls, value: str | list[str] | None) -> str | list[str] | None:
        if value == []:
            raise ValueError(
                "`file: []` names no file; name one or more of the source's `files:`, or remove "
                "`file:` to read every landed file"
            )
        return value

    def source_files(self) -> tuple[str, ...] | None:
        """The named files feeding this table, or None for every landed file."""
        if self.file is None:
            return None
        return (self.file,) if isinstance(self.file, str) else tuple(dict.fromkeys(self.file))

    def import_table(self, key: str) -> str:
        """The table's name in Sales Layer's Import Connector."""
        if self.sales_layer_table:
            return self.sales_layer_table
        return DEFAULT_IMPORT_TABLES.get(self.resolved_kind(key), key)

    def import_parent_field(self, key: str) -> str | None:
        """The Sales Layer field holding the parent link, if the table's kind has one."""
        return self.parent_field or DEFAULT_PARENT_FIELDS.get(self.resolved_kind(key))

    def resolved_kind(self, key: str) -> TableKind:
        """The table's kind, implied by its key when not given."""
        if self.kind is not None:
            return self.kind
        return TableKind(key)

    def check_links(self, key: str) -> None:
        """Parent links must fit the table's kind (called by ConnectorConfig with the key)."""
        kind = self.resolved_kind(key)
        given = {
            name
            for name in ("parent", "path", "categories", "product")
            if getattr(self, name) is not None
        } | ({"links"} if self.links else set())
        if extra := sorted(given - KINDS[kind].links):
            allowed = sorted(KINDS[kind].links) or ["none"]
            raise ValueError(
                f"a {kind.value} table cannot have {', '.join(extra)}; "
                f"its parent links are: {', '.join(allowed)}"
            )
        if kind is TableKind.VARIANTS and self.product is None:
            raise ValueError(
                "a variants table needs `product`: the column of the product reference"
            )
        if self.parent is not None and self.path is not None:
            raise ValueError("give categories either `parent` or `path`, not both")


def check_table_files(tables: dict[str, TableMapping], declared: Sequence[str]) -> None:
    """Every table's `file:` must name a file the source declares under `files:`.

    Raises LocatedValueError at ``tables.<key>.file`` (called by ConnectorConfig, which sees both
    the source and the tables).
    """
    for key, table in tables.items():
        wanted = table.source_files()
        if wanted is None:
            continue
        where = ("tables", key, "file")
        if not declared:
            raise LocatedValueError(
                where,
                f"`file: {', '.join(wanted)}` names a file of the source, but the source declares "
                "no named files; declare them as `source.files: {name: path}` (one name per "
                "export), or remove `file:` to read the single export",
            )
        for name in wanted:
            if name not in declared:
                hint = difflib.get_close_matches(name, declared, n=1, cutoff=0.5)
                raise LocatedValueError(
                    where,
                    f"unknown file {name!r}"
                    + (f"; did you mean {hint[0]!r}?" if hint else ".")
                    + f" The source declares: {', '.join(declared)}",
                )
