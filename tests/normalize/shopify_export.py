"""A small export shaped like Shopify's products CSV, and what it must import as, computed with
the csv module alone (never with the code under test).

Shopify's layout: the first row of a Handle carries the product (Title, Body (HTML), Vendor,
Type, Tags, Option1 Name) and its first variant; each further row repeats only the Handle plus
a variant's columns and/or an image (Image Src); an image-only row has no Variant SKU. A
variant may name its own image (Variant Image).
"""

from __future__ import annotations

import csv
import io
from collections.abc import Iterator
from dataclasses import dataclass, field

HEADER = [
    "Handle",
    "Title",
    "Body (HTML)",
    "Vendor",
    "Type",
    "Tags",
    "Option1 Name",
    "Option1 Value",
    "Variant SKU",
    "Variant Price",
    "Variant Barcode",
    "Image Src",
    "Image Position",
    "Variant Image",
]

_ROWS: list[list[str]] = [
    # classic-tee: three variants, an image-only row, an image repeated by a variant
    [
        "classic-tee",
        "Classic Tee",
        "<p>Soft &amp; light cotton.</p>\n<ul><li>Caf&eacute; colour</li></ul>",
        "Acme Apparel",
        "T-Shirts",
        "summer, cotton,organic",
        "Size",
        "S",
        "TEE-S",
        "19.90",
        "8400000000011",
        "https://cdn.example.com/s/files/tee-front.jpg",
        "1",
        "",
    ],
    [
        "classic-tee",
        "",
        "",
        "",
        "",
        "",
        "",
        "M",
        "TEE-M",
        "19.90",
        "",
        "/s/files/tee-back.jpg",
        "2",
        "https://cdn.example.com/s/files/tee-front.jpg",
    ],
    ["classic-tee", "", "", "", "", "", "", "L", "TEE-L", "21.50", "8400000000035", "", "", ""],
    ["classic-tee", "", "", "", "", "", "", "", "", "", "", "/s/files/tee-detail.jpg", "3", ""],
    # café-mug: one variant (Shopify's "Default Title"), one image
    [
        "cafe-mug",
        "Café Mug",
        "<p>Stoneware &ndash; 350&nbsp;ml</p>",
        "Niño & Co",
        "Mugs",
        "",
        "Title",
        "Default Title",
        "MUG-350",
        "9",
        "",
        "https://cdn.example.com/s/files/mug.jpg",
        "1",
        "",
    ],
    # nino-hoodie: two variants, the second with its own image, and two image-only rows
    [
        "nino-hoodie",
        "Niño Hoodie",
        "<p>Fleece &lt;warm&gt;</p>",
        "Niño & Co",
        "Hoodies",
        "winter",
        "Colour",
        "Rojo",
        "HOOD-RED",
        "45",
        "",
        "/s/files/hoodie-red.jpg",
        "1",
        "",
    ],
    [
        "nino-hoodie",
        "",
        "",
        "",
        "",
        "",
        "",
        "Azul",
        "HOOD-BLUE",
        "45",
        "8400000000097",
        "",
        "",
        "/s/files/hoodie-blue.jpg",
    ],
    ["nino-hoodie", "", "", "", "", "", "", "", "", "", "", "/s/files/hoodie-red.jpg", "2", ""],
    ["nino-hoodie", "", "", "", "", "", "", "", "", "", "", "/s/files/hoodie-back.jpg", "3", ""],
]


def export_text(rows: list[list[str]] | None = None) -> str:
    """The export as Shopify writes it (CRLF lines, quoted where needed)."""
    out = io.StringIO()
    writer = csv.writer(out)
    writer.writerow(HEADER)
    writer.writerows(_ROWS if rows is None else rows)
    return out.getvalue()


def rows_of(text: str) -> list[dict[str, str]]:
    return list(csv.DictReader(io.StringIO(text)))


@dataclass
class Group:
    """The rows of one Handle, in order."""

    handle: str
    rows: list[dict[str, str]] = field(default_factory=list)

    @property
    def first(self) -> dict[str, str]:
        return self.rows[0]


def groups(text: str) -> Iterator[Group]:
    """Contiguous rows with the same Handle."""
    current: Group | None = None
    for row in rows_of(text):
        if current is None or row["Handle"] != current.handle:
            if current is not None:
                yield current
            current = Group(row["Handle"])
        current.rows.append(row)
    if current is not None:
        yield current


def split(cell: str, separator: str = ",") -> list[str]:
    return [part.strip() for part in cell.split(separator) if part.strip()]


def expected_products(text: str) -> dict[str, dict[str, object]]:
    """Handle -> the product's fields: the first row's, and every image of every row (Image Src
    then Variant Image, in row order, each once)."""
    found: dict[str, dict[str, object]] = {}
    for group in groups(text):
        first = group.first
        images: list[str] = []
        for row in group.rows:
            for column in ("Image Src", "Variant Image"):
                for image in split(row[column]):
                    if image not in images:
                        images.append(image)
        found[group.handle] = {
            "title": first["Title"],
            "description": first["Body (HTML)"],
            "vendor": first["Vendor"],
            "type": first["Type"],
            "tags": split(first["Tags"]) or None,
            "images": images or None,
        }
    return found


def expected_variants(text: str) -> dict[str, dict[str, object]]:
    """SKU -> the variant's fields: its own cells; its option's name from the group's first row
    when its own cell is blank (Shopify writes it once)."""
    found: dict[str, dict[str, object]] = {}
    for group in groups(text):
        for row in group.rows:
            if not row["Variant SKU"]:
                continue
            found[row["Variant SKU"]] = {
                "product": group.handle,
                "option": row["Option1 Name"] or group.first["Option1 Name"],
                "value": row["Option1 Value"],
                "price": row["Variant Price"],
                "barcode": row["Variant Barcode"] or None,
            }
    return found


def image_only_rows(text: str) -> int:
    """Rows after the first of their group without a Variant SKU."""
    return sum(1 for g in groups(text) for row in g.rows[1:] if not row["Variant SKU"])


#: the connector's `tables:` for this export (continuation rows, collected images)
TABLES = """\
tables:
  products:
    reference: Handle
    continuation: {key: Handle}
    fields:
      title: {column: Title, required: true}
      description: Body (HTML)
      vendor: Vendor
      type: Type
      tags: {column: Tags, separator: ","}
      images: {columns: [Image Src, Variant Image], separator: ",", collect: true}
  variants:
    reference: Variant SKU
    product: Handle
    continuation: {key: Handle, fill: [Option1 Name]}
    fields:
      option: {column: Option1 Name, required: true}
      value: Option1 Value
      price: {column: Variant Price, type: number}
      barcode: Variant Barcode
"""
