"""Entity sets of the Catalog REST API v2: their paths, field prefixes and parent links.

The REST API links items by numeric id, so each link a row carries by reference
(``cat_parent_ref``, a product's ``cat_ref``, a variant's ``prod_ref``) has to be resolved to the
id field the API expects (``cat_parent_id``, ``cat_id``, ``prod_id``).
"""

from __future__ import annotations

from dataclasses import dataclass

from saleslayer_airflow.tables import KINDS, TableKind


@dataclass(frozen=True)
class EntitySet:
    """One REST entity set.

    ``collection`` is the path below the base URL that lists and creates items
    (``Products``, ``CustomEntities('Brand')``); ``item_path`` the path of one item, with
    ``{id}`` for its id; ``prefix`` the field prefix (``prod`` -> ``prod_id``, ``prod_ref``).
    """

    name: str
    prefix: str
    collection: str
    item_path: str

    @property
    def id_field(self) -> str:
        """The server-assigned id field, e.g. ``prod_id``."""
        return f"{self.prefix}_id"

    @property
    def ref_field(self) -> str:
        """The reference field, e.g. ``prod_ref``."""
        return f"{self.prefix}_ref"

    def item(self, item_id: int) -> str:
        """The path of one item."""
        return self.item_path.format(id=item_id)


@dataclass(frozen=True)
class Link:
    """A parent link: rows carry ``ref_field`` (references of ``target``); the API wants
    ``id_field``. ``many``: a comma list of references becomes a list of ids."""

    ref_field: str
    id_field: str
    target: EntitySet
    many: bool = False


def _standard(kind: TableKind) -> EntitySet:
    spec = KINDS[kind]
    assert spec.rest_set is not None and spec.prefix is not None
    return EntitySet(spec.rest_set, spec.prefix, spec.rest_set, f"{spec.rest_set}({{id}})")


CATEGORIES = _standard(TableKind.CATEGORIES)
PRODUCTS = _standard(TableKind.PRODUCTS)
VARIANTS = _standard(TableKind.VARIANTS)
#: The standard entity sets by the connector's table kind (value): the kinds with a REST set.
STANDARD_SETS: dict[str, EntitySet] = {
    TableKind.CATEGORIES.value: CATEGORIES,
    TableKind.PRODUCTS.value: PRODUCTS,
    TableKind.VARIANTS.value: VARIANTS,
}


def _parent_link(kind: TableKind, target: EntitySet, id_field: str, *, many: bool = False) -> Link:
    ref_field = KINDS[kind].parent_field
    assert ref_field is not None
    return Link(ref_field, id_field, target, many=many)


LINKS: dict[EntitySet, tuple[Link, ...]] = {
    CATEGORIES: (_parent_link(TableKind.CATEGORIES, CATEGORIES, "cat_parent_id"),),
    PRODUCTS: (_parent_link(TableKind.PRODUCTS, CATEGORIES, CATEGORIES.id_field, many=True),),
    VARIANTS: (_parent_link(TableKind.VARIANTS, PRODUCTS, PRODUCTS.id_field),),
}


def odata_string(text: str) -> str:
    """An OData string literal: single quotes, inner quotes doubled."""
    return "'" + text.replace("'", "''") + "'"


def custom_entity(denominator: str, prefix: str) -> EntitySet:
    """The entity set of a custom entity, addressed by its denominator (display name, e.g.
    ``Brand``) with fields named by its prefix (e.g. ``brand`` -> ``brand_ref``)."""
    if not denominator or not prefix:
        raise ValueError("a custom entity needs its denominator (display name) and field prefix")
    quoted = odata_string(denominator)
    return EntitySet(
        name=f"CustomEntities({quoted})",
        prefix=prefix,
        collection=f"CustomEntities({quoted})",
        # Braces in a display name must survive str.format in item().
        item_path="CustomEntities(" + quoted.replace("{", "{{").replace("}", "}}") + ")/Item({id})",
    )
