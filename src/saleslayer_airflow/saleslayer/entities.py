"""Entity sets of the Catalog REST API v2: their paths, field prefixes and parent links.

The REST API links items by numeric id, so each link a row carries by reference
(``cat_parent_ref``, a product's ``cat_ref``, a variant's ``prod_ref``) has to be resolved to the
id field the API expects (``cat_parent_id``, ``cat_id``, ``prod_id``).
"""

from __future__ import annotations

from dataclasses import dataclass


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


CATEGORIES = EntitySet("Categories", "cat", "Categories", "Categories({id})")
PRODUCTS = EntitySet("Products", "prod", "Products", "Products({id})")
VARIANTS = EntitySet("Variants", "frmt", "Variants", "Variants({id})")

LINKS: dict[EntitySet, tuple[Link, ...]] = {
    CATEGORIES: (Link("cat_parent_ref", "cat_parent_id", CATEGORIES),),
    PRODUCTS: (Link("cat_ref", "cat_id", CATEGORIES, many=True),),
    VARIANTS: (Link("prod_ref", "prod_id", PRODUCTS),),
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
