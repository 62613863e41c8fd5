"""A generated catalog for soaks: categories in a tree, a custom entity, products and variants.

The same ``items`` and ``seed`` always give the same rows. Rows are in the shape both clients
take: references and links by reference (``cat_parent_ref``, ``cat_ref`` as a list, a variant's
``prod_ref``, the custom link ``prod_brand``), multilingual values as culture-keyed mappings,
multi-value fields as lists. Texts carry spaces, accents, ``&``, ``=``, ``+`` and quotes, so an
encoding slip shows up as a difference.
"""

from __future__ import annotations

import random
from dataclasses import dataclass
from typing import Any

Row = dict[str, Any]

_WORDS = ("Zapato", "Camisa", "Été", "Bolso & co", "A=B", "Nº 5", "Boot, tall", "It's", "1+1")


@dataclass(frozen=True)
class SoakTable:
    """One generated table: its import name, REST set, field prefix and rows."""

    import_name: str
    rest_set: str
    prefix: str
    custom: bool
    rows: list[Row]

    @property
    def ref_field(self) -> str:
        """The reference field, e.g. ``prod_ref``."""
        return f"{self.prefix}_ref"

    def refs(self) -> list[str]:
        """Every reference of the table, in row order."""
        return [str(row[self.ref_field]) for row in self.rows]


def split_counts(items: int) -> dict[str, int]:
    """How ``items`` are shared: 2% categories, 1% brands, 37% products, the rest variants
    (at least one of each)."""
    if items < 4:
        raise ValueError(f"items={items}: a soak needs at least 4 items (one per table)")
    categories = max(1, items * 2 // 100)
    brands = max(1, items // 100)
    products = max(1, items * 37 // 100)
    return {
        "catalogue": categories,
        "brands": brands,
        "products": products,
        "product_formats": items - categories - brands - products,
    }


def _text(rng: random.Random, label: str, number: int) -> str:
    return f"{label} {number} {rng.choice(_WORDS)}"


def generate(items: int, seed: int) -> list[SoakTable]:
    """The catalog, tables in dependency order (parents before the items linking to them)."""
    rng = random.Random(seed)
    counts = split_counts(items)
    categories: list[Row] = []
    for i in range(counts["catalogue"]):
        row: Row = {
            "cat_ref": f"C{i:06d}",
            "cat_title": {lang: _text(rng, f"Cat-{lang}", i) for lang in ("en", "es", "fr")},
            "cat_description": {"en": _text(rng, "About", i)},
        }
        if i:  # a tree five wide: every parent comes earlier in the list
            row["cat_parent_ref"] = f"C{(i - 1) // 5:06d}"
        categories.append(row)
    brands = [
        {
            "brand_ref": f"B{i:05d}",
            "brand_title": {"en": _text(rng, "Brand", i), "es": _text(rng, "Marca", i)},
            "brand_website": f"https://brand{i}.example/?a=1&b=2",
        }
        for i in range(counts["brands"])
    ]
    products: list[Row] = []
    for i in range(counts["products"]):
        cats = sorted(rng.sample(range(counts["catalogue"]), min(2, counts["catalogue"])))
        products.append(
            {
                "prod_ref": f"P{i:07d}",
                "prod_title": {lang: _text(rng, f"Prod-{lang}", i) for lang in ("en", "es", "fr")},
                "prod_description": {"en": _text(rng, "Long text", i)},
                "prod_tags": [f"t{rng.randrange(20)}", "soak"],
                "prod_price": f"{rng.randrange(100, 99999) / 100:.2f}",
                "cat_ref": [f"C{c:06d}" for c in cats[: 1 + i % 2]],
                "prod_brand": f"B{rng.randrange(counts['brands']):05d}",
            }
        )
    variants = [
        {
            "frmt_ref": f"V{i:07d}",
            "prod_ref": f"P{rng.randrange(counts['products']):07d}",
            "size": str(34 + i % 14),
            "color": {"en": _text(rng, "Color", i), "es": _text(rng, "Color", i)},
            "frmt_price": f"{rng.randrange(100, 99999) / 100:.2f}",
            "frmt_ean": f"{rng.randrange(10**12, 10**13)}",
        }
        for i in range(counts["product_formats"])
    ]
    return [
        SoakTable("catalogue", "Categories", "cat", False, categories),
        SoakTable("brands", "Brands", "brand", True, brands),
        SoakTable("products", "Products", "prod", False, products),
        SoakTable("product_formats", "Variants", "frmt", False, variants),
    ]
