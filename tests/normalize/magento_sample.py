"""A small Magento 2 catalog_product export (System > Export > Products), as its CSV really is:
configurable products listing their simple children in configurable_variations, the children
"Not Visible Individually" on rows of their own (some before their parent, some after), a
standalone simple product, attribute values in additional_attributes (key=value pairs, a
multiselect's values joined by '|'), HTML descriptions with entities and line breaks, image
paths relative to the media folder, accents. Shared by the shape 5 and 6 tests."""

from __future__ import annotations

import csv
import io

COLUMNS = [
    "sku",
    "store_view_code",
    "attribute_set_code",
    "product_type",
    "categories",
    "product_websites",
    "name",
    "description",
    "price",
    "visibility",
    "base_image",
    "additional_attributes",
    "configurable_variations",
    "configurable_variation_labels",
]

_HOODIE = (
    "<p>The Chaz Kangeroo Hoodie&#39;s ideal for working out &amp; lounging.</p>\n"
    "<ul>\n<li>Cotton/polyester blend.</li>\n<li>Machine wash &ndash; cold.</li>\n</ul>"
)
_PULLOVER = "<p>Le pull Téton, tricoté à Lyon.\nÉté comme hiver : 100 % laine mérinos.</p>"
_BAG = "<p>The Joust Duffle Bag can&rsquo;t be beat.</p>"

#: (sku, type, name, description, price, visibility, image, additional_attributes, variations)
ROWS = [
    # two children of MH01 before their parent
    (
        "MH01-XS-Black",
        "simple",
        "Chaz Kangeroo Hoodie-XS-Black",
        "",
        "52.00",
        "Not Visible Individually",
        "/m/h/mh01-black_main.jpg",
        "color=Black,size=XS,material=Cotton",
        "",
    ),
    (
        "MH01-S-Black",
        "simple",
        "Chaz Kangeroo Hoodie-S-Black",
        "",
        "52.00",
        "Not Visible Individually",
        "/m/h/mh01-black_main.jpg",
        "color=Black,material=Cotton",
        "",
    ),  # no size: filled from the parent's listing
    (
        "MH01",
        "configurable",
        "Chaz Kangeroo Hoodie",
        _HOODIE,
        "52.00",
        "Catalog, Search",
        "/m/h/mh01-gray_main.jpg",
        "material=Cotton,activity=Gym|Hiking,style_general=Pullover,eco_collection=0",
        "sku=MH01-XS-Black,size=XS,color=Black|sku=MH01-S-Black,size=S,color=Black|"
        "sku=MH01-M-Gray,size=M,color=Gray|sku=MH01-L-Gray,size=L,color=Gray",
    ),
    # after its parent
    (
        "MH01-M-Gray",
        "simple",
        "Chaz Kangeroo Hoodie-M-Gray",
        "",
        "54.00",
        "Not Visible Individually",
        "/m/h/mh01-gray_main.jpg",
        "color=Gray,size=M,material=Cotton",
        "",
    ),
    # MH01-L-Gray is listed but absent from the export
    (
        "24-MB01",
        "simple",
        "Joust Duffle Bag",
        _BAG,
        "34.00",
        "Catalog, Search",
        "/m/b/mb01-blue-0.jpg",
        "activity=Gym|Travel,eco_collection=1,strap_bags=Adjustable",
        "",
    ),
    (
        "MH02",
        "configurable",
        "Teton Pullover Hoodie",
        _PULLOVER,
        "70.00",
        "Catalog, Search",
        "/m/h/mh02-black_main.jpg",
        "material=Wool,activity=Hiking,style_general=Pullover",
        "sku=MH02-S-Black,size=S,color=Black|sku=MH02-M-Red,size=M,color=Red",
    ),
    (
        "MH02-S-Black",
        "simple",
        "Teton Pullover Hoodie-S-Black",
        "",
        "70.00",
        "Not Visible Individually",
        "/m/h/mh02-black_main.jpg",
        "color=Black,size=S,material=Wool",
        "",
    ),
    (
        "MH02-M-Red",
        "simple",
        "Teton Pullover Hoodie-M-Red",
        "",
        "72.50",
        "Not Visible Individually",
        "/m/h/mh02-red_main.jpg",
        "size=M,material=Wool",
        "",
    ),
]


def export_csv() -> str:
    """The export as Magento writes it: comma-delimited, quoted where needed, CRLF lines."""
    out = io.StringIO()
    writer = csv.writer(out)
    writer.writerow(COLUMNS)
    for sku, kind, name, desc, price, visibility, image, attrs, variations in ROWS:
        labels = "size=Size,color=Color" if variations else ""
        writer.writerow(
            [
                sku,
                "",
                "Top",
                kind,
                "Default Category/Men/Tops/Hoodies & Sweatshirts",
                "base",
                name,
                desc,
                price,
                visibility,
                image,
                attrs,
                variations,
                labels,
            ]
        )
    return out.getvalue()


def records(text: str) -> list[dict[str, str]]:
    """The export's rows read back with the csv module (the tests' independent reading)."""
    return list(csv.DictReader(io.StringIO(text, newline="")))


def pairs(cell: str, separator: str = ",") -> dict[str, str]:
    """key=value pairs of a cell, plainly: the tests' own reading, not the package's."""
    found: dict[str, str] = {}
    for part in cell.split(separator):
        if part:
            key, _, value = part.partition("=")
            found[key] = value
    return found
