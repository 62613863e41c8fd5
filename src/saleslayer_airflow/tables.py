"""The catalogue of Sales Layer table kinds: one place that every stage reads.

A connector's table has a kind (categories, products, variants, points of sale, custom entity).
The kind decides its name on import, its REST entity set and field prefix, the field carrying its
parent link, which links a connector file may give it, the column of the staged file holding
that link, and the order in which tables are validated and pushed (a parent before its
children). Adding a kind is adding one :class:`KindSpec` here.

The staged files' bookkeeping column names live here too: the split writes them, the push and
the report read them.
"""

from __future__ import annotations

from dataclasses import dataclass
from enum import StrEnum


class TableKind(StrEnum):
    """Sales Layer table kinds; the kind decides which parent links a table may have."""

    CATEGORIES = "categories"
    PRODUCTS = "products"
    VARIANTS = "variants"
    POINTS_OF_SALE = "points_of_sale"
    CUSTOM_ENTITY = "custom_entity"


# -- staged columns ----------------------------------------------------------------------------

#: The item's reference, the landed file and the first line of the row it came from: the first
#: three columns of every staged table.
REFERENCE = "reference"
SOURCE_FILE = "_source_file"
LINE = "_line"
BOOKKEEPING_COLUMNS = (REFERENCE, SOURCE_FILE, LINE)
#: Staged link columns (the references of an item's parents); a link to another table given
#: under `links:` is staged as LINK_PREFIX + its name.
PARENT_REF = "_parent_ref"
CATEGORY_REFS = "_category_refs"
PRODUCT_REF = "_product_ref"
LINK_PREFIX = "_link_"


@dataclass(frozen=True)
class KindSpec:
    """What Sales Layer and the connectors know of one table kind."""

    kind: TableKind
    #: the table's name in the Import Connector API (None: the connector's table key)
    import_table: str | None
    #: the Catalog REST API's entity set (None: no standard set; custom entities are addressed
    #: by their denominator)
    rest_set: str | None
    #: the field prefix (``prod`` -> ``prod_ref``, ``prod_stat``); None for custom entities
    prefix: str | None
    #: Sales Layer's import field holding the parent link, when the kind has a parent
    parent_field: str | None
    #: the parent links a connector file may declare for a table of this kind
    links: frozenset[str]
    #: the staged column holding the parent link given by `parent`/`path`, `categories` or
    #: `product`; None when the kind has no such parent
    parent_column: str | None
    #: the kind of the parent table (None: no parent table)
    parent_kind: TableKind | None

    @property
    def noun(self) -> str:
        """The kind in a sentence: 'points of sale'."""
        return self.kind.value.replace("_", " ")


KINDS: dict[TableKind, KindSpec] = {
    spec.kind: spec
    for spec in (
        KindSpec(
            TableKind.CATEGORIES,
            import_table="catalogue",
            rest_set="Categories",
            prefix="cat",
            parent_field="cat_parent_ref",
            links=frozenset({"parent", "path", "links"}),
            parent_column=PARENT_REF,
            parent_kind=TableKind.CATEGORIES,
        ),
        KindSpec(
            TableKind.PRODUCTS,
            import_table="products",
            rest_set="Products",
            prefix="prod",
            parent_field="cat_ref",
            links=frozenset({"categories", "links"}),
            parent_column=CATEGORY_REFS,
            parent_kind=TableKind.CATEGORIES,
        ),
        KindSpec(
            TableKind.VARIANTS,
            import_table="product_formats",
            rest_set="Variants",
            prefix="frmt",
            parent_field="prod_ref",
            links=frozenset({"product", "links"}),
            parent_column=PRODUCT_REF,
            parent_kind=TableKind.PRODUCTS,
        ),
        KindSpec(
            TableKind.POINTS_OF_SALE,
            import_table="points_of_sale",
            rest_set=None,
            prefix="pos",
            parent_field=None,
            links=frozenset({"links"}),
            parent_column=None,
            parent_kind=None,
        ),
        KindSpec(
            TableKind.CUSTOM_ENTITY,
            import_table=None,
            rest_set=None,
            prefix=None,
            parent_field=None,
            links=frozenset({"links"}),
            parent_column=None,
            parent_kind=None,
        ),
    )
}

#: Kinds in dependency order: a table is validated and pushed after the tables it links to.
DEPENDENCY_ORDER: tuple[TableKind, ...] = tuple(KINDS)

#: The connector table keys that imply their kind (`kind:` may then be left out).
STANDARD_TABLES = frozenset(k.value for k in TableKind if k is not TableKind.CUSTOM_ENTITY)


def kind_spec(kind: TableKind | str) -> KindSpec:
    """The catalogue entry of a kind (given as the enum or its value)."""
    return KINDS[TableKind(kind)]


def dependency_rank(kind: TableKind) -> int:
    """Where a kind comes in :data:`DEPENDENCY_ORDER`."""
    return DEPENDENCY_ORDER.index(kind)
