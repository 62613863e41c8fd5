"""Realistic, reproducible ERP exports for the demo and the end-to-end tests.

One seeded generator builds a small apparel company's catalog and store network, then lets it
evolve day by day the way ERP data does: a few prices change, products launch and are
discontinued, stores open and close. Each day's export is produced in the shape one example
connector expects:

- ``apparel_catalog_csv``: the row-per-SKU `;` CSV of ``apparel_catalog_http.yaml``;
- ``stores_csv``: the store directory CSV of ``stores_ftp.yaml``;
- ``erp_items``: the records of the ERP API of ``erp_api_catalog.yaml``.

The same seed and day always give byte-identical files, so tests can compute the expected Sales
Layer state independently from the same files.
"""

from __future__ import annotations

import copy
import csv
import io
import random
from dataclasses import dataclass, replace
from datetime import date, timedelta
from typing import Any

_CATEGORY_TREE = {
    "Men > Tops > Hoodies": ("Hoodies", "Sudaderas"),
    "Men > Tops > T-Shirts": ("T-Shirts", "Camisetas"),
    "Men > Trousers > Jeans": ("Jeans", "Vaqueros"),
    "Women > Tops > Blouses": ("Blouses", "Blusas"),
    "Women > Dresses": ("Dresses", "Vestidos"),
    "Women > Trousers > Chinos": ("Chinos", "Chinos"),
    "Kids > Outerwear > Jackets": ("Jackets", "Chaquetas"),
}
_MATERIALS = ["Cotton", "Organic cotton", "Linen", "Wool blend", "Denim", "Recycled polyester"]
_COLOURS = [("navy", "azul marino"), ("black", "negro"), ("white", "blanco"), ("olive", "oliva")]
_SIZES = ["XS", "S", "M", "L", "XL"]
_BRANDS = [
    ("NORD", "Nordvik", "https://nordvik.example"),
    ("ALMA", "Alma & Co", "https://alma.example"),
    ("TIDE", "Tidewater", "https://tidewater.example"),
]
_CITIES = [
    ("Madrid", "MD", "ES", "28013", 40.4168, -3.7038),
    ("Barcelona", "CT", "ES", "08002", 41.3874, 2.1686),
    ("Lisbon", "LI", "PT", "1100-148", 38.7223, -9.1393),
    ("Paris", "IDF", "FR", "75001", 48.8566, 2.3522),
    ("Lyon", "ARA", "FR", "69002", 45.764, 4.8357),
]


@dataclass(frozen=True)
class Product:
    """One product of the catalog and its variants' shared facts."""

    ref: str
    category: str
    name_en: str
    name_es: str
    brand: int
    material: str
    price_cents: int
    colours: tuple[int, ...]
    launch: date


@dataclass(frozen=True)
class Store:
    """One point of sale."""

    number: str
    name: str
    city: int
    ownership: str
    phone: str


class DemoCompany:
    """The catalog and stores of a demo company, evolving deterministically day by day."""

    def __init__(self, seed: int = 7, products: int = 60, stores: int = 25) -> None:
        self.seed = seed
        rng = random.Random(seed)
        self._next_product = products
        self._next_store = stores
        self.products = [self._new_product(rng, i, date(2026, 1, 1)) for i in range(products)]
        self.stores = [self._new_store(rng, i) for i in range(stores)]

    # --- building blocks ---------------------------------------------------------------

    @staticmethod
    def _new_product(rng: random.Random, number: int, launch: date) -> Product:
        category = rng.choice(sorted(_CATEGORY_TREE))
        leaf_en, leaf_es = _CATEGORY_TREE[category]
        material = rng.choice(_MATERIALS)
        return Product(
            ref=f"AP-{number:05d}",
            category=category,
            name_en=f"{material} {leaf_en.rstrip('s')} {number}",
            name_es=f"{leaf_es.rstrip('s')} de {material.lower()} {number}",
            brand=rng.randrange(len(_BRANDS)),
            material=material,
            price_cents=rng.randrange(1500, 12000, 50),
            colours=tuple(sorted(rng.sample(range(len(_COLOURS)), 2))),
            launch=launch,
        )

    @staticmethod
    def _new_store(rng: random.Random, number: int) -> Store:
        city = rng.randrange(len(_CITIES))
        area = rng.choice(["Centro", "Norte", "Plaza", "Station"])
        return Store(
            number=f"ST-{1000 + number}",
            name=f"{_CITIES[city][0]} {area} {number}",
            city=city,
            ownership=rng.choice(["CO", "CO", "LS", "FR"]),
            phone=f"+34 91{rng.randrange(1000000, 9999999)}",
        )

    def advance(self, day: date) -> None:
        """One day of ERP life: ~2% price changes, a launch, sometimes a discontinuation and a
        store opening or closing. Depends only on the seed and the day."""
        rng = random.Random(f"{self.seed}-{day.isoformat()}")
        for i, product in enumerate(self.products):
            if rng.random() < 0.02:
                step = rng.choice([-500, -250, 250, 500])
                self.products[i] = replace(
                    product, price_cents=max(500, product.price_cents + step)
                )
        self.products.append(self._new_product(rng, self._next_product, day))
        self._next_product += 1
        if rng.random() < 0.3 and len(self.products) > 10:
            self.products.pop(rng.randrange(len(self.products)))
        if rng.random() < 0.2:
            self.stores.append(self._new_store(rng, self._next_store))
            self._next_store += 1

    # --- exports ------------------------------------------------------------------------

    def apparel_catalog_csv(self) -> str:
        """Row-per-SKU export: categories (as a path), products and variants, EN + ES."""
        out = io.StringIO()
        writer = csv.writer(out, delimiter=";", lineterminator="\n")
        writer.writerow(
            [
                "category_path", "category_name_en", "category_name_es", "product_ref",
                "product_name_en", "product_name_es", "product_description_en",
                "product_description_es", "brand", "material", "image_urls", "sku", "size",
                "colour", "price_eur", "ean", "in_stock",
            ]
        )  # fmt: skip
        for product in self.products:
            leaf_en, leaf_es = _CATEGORY_TREE[product.category]
            for colour in product.colours:
                for size_index, size in enumerate(_SIZES):
                    sku = f"{product.ref}-{_COLOURS[colour][0][:3].upper()}-{size}"
                    ean = f"84{int(product.ref[3:]):06d}{colour}{size_index:03d}"
                    writer.writerow(
                        [
                            product.category, leaf_en, leaf_es, product.ref,
                            product.name_en, product.name_es,
                            f"{product.material}, regular fit.",
                            f"{product.material}, corte regular.",
                            _BRANDS[product.brand][1], product.material,
                            f"https://img.example/{product.ref}/front.jpg,"
                            f"https://img.example/{product.ref}/back.jpg",
                            sku, size, _COLOURS[colour][0],
                            f"{product.price_cents // 100},{product.price_cents % 100:02d}",
                            ean[:13], "Y" if (size_index + colour) % 4 else "N",
                        ]
                    )  # fmt: skip
        return out.getvalue()

    def stores_csv(self) -> str:
        """The store directory: one point of sale per row."""
        out = io.StringIO()
        writer = csv.writer(out, lineterminator="\n")
        writer.writerow(
            [
                "store_number", "store_name", "brand", "street_address", "city",
                "state_province", "country", "postcode", "phone_number", "latitude",
                "longitude", "ownership_type",
            ]
        )  # fmt: skip
        for store in self.stores:
            city, region, country, postcode, lat, lon = _CITIES[store.city]
            number = int(store.number[3:])
            writer.writerow(
                [
                    store.number, store.name, "Nordvik", f"Calle Mayor {number % 97 + 1}",
                    city, region, country, postcode, store.phone,
                    f"{lat + (number % 10) / 1000:.4f}", f"{lon - (number % 7) / 1000:.4f}",
                    store.ownership,
                ]
            )  # fmt: skip
        return out.getvalue()

    def erp_items(self) -> list[dict[str, Any]]:
        """The ERP API's item records (nested, multi-language titles)."""
        items = []
        for product in self.products:
            code, name, url = _BRANDS[product.brand]
            leaf = product.category.split(" > ")[-1].upper().replace("-", "")
            items.append(
                {
                    "item_code": product.ref,
                    "category_codes": f"{leaf}|{product.category.split(' > ')[0].upper()}",
                    "title": {
                        "en": product.name_en,
                        "fr": product.name_en.replace("Cotton", "Coton"),
                        "de": product.name_en.replace("Cotton", "Baumwolle"),
                    },
                    "brand": {"code": code, "name": name, "url": url},
                    "weight_g": 200 + int(product.ref[3:]) % 400,
                    "lifecycle": "ACTIVE" if product.price_cents % 7 else "PHASE_OUT",
                    "launch_date": product.launch.isoformat(),
                }
            )
        return items


def daily_exports(
    days: int, first_day: date = date(2026, 11, 1), seed: int = 7
) -> list[tuple[date, DemoCompany]]:
    """The company as it stands at the end of each of ``days`` consecutive days (snapshots)."""
    company = DemoCompany(seed=seed)
    snapshots = []
    for offset in range(days):
        day = first_day + timedelta(days=offset)
        company.advance(day)
        snapshots.append((day, copy.deepcopy(company)))
    return snapshots
