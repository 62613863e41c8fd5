"""Shape 7 of issue 13 through Airflow into the emulator: a Magento-like product export whose
values need the transforms people use (a title combining brand and name per language, entity-
encoded HTML descriptions, relative image paths made absolute, prices written 'EUR 12,50', tags
cleaned, a per-language default), imported by the connector file alone.

Expected values are computed in the test from the raw file with the csv module and the standard
library (html.unescape, re), never by the connector's code.
"""

from __future__ import annotations

import csv
import html
import io
import re
from decimal import Decimal
from pathlib import Path
from typing import Any

import pytest

from tests.e2e.conftest import World, catalog, first_day, states, xcom

CONNECTOR = """\
id: shape7_e2e
description: Products whose values need transforms.
schedule: "@daily"
start_date: 2026-11-01
retry_delay: 1s
source:
  kind: ftp
  conn_id: erp_ftp
  path: "/exports/catalog_product_{{ ds_nodash }}.csv"
  stable_for: 0s
format: {type: csv}
tables:
  products:
    reference: sku
    fields:
      prod_title:
        template: '{brand} {name_{lang}}'
        languages: [en, es]
        required: true
      prod_description:
        column: description
        transforms: [{html_unescape: true}, {trim: true}]
      prod_image:
        column: images
        separator: ","
        transforms:
          - {split: {separator: "?", index: 0}}
          - {template: "https://cdn.example.com/media/catalog/product{value}"}
      prod_material:
        column: material
        languages: [en, es]
        default: {en: Unknown, es: Desconocido}
      prod_price:
        column: price
        type: number
        transforms: [{extract: {pattern: '([0-9][0-9.]*,[0-9]+|[0-9]+)'}}, {parse_number: comma}]
      prod_tags:
        column: tags
        separator: "|"
        transforms:
          - {replace: {pattern: '^\\s*#?|\\s+$', with: ''}}
          - {extract: {pattern: '^(\\w+)$', on_no_match: empty}}
          - {case: lower}
target: {conn_id: saleslayer_default, batch_size: 10}
validation: {max_reject_ratio: 0.9}
"""
COLUMNS = ["sku", "brand", "name_en", "name_es", "description", "images", "material_en",
           "material_es", "price", "tags"]  # fmt: skip
ROWS = [
    ["MH01", "Acme", "Chaz Hoodie", "Sudadera Chaz",
     "&lt;p&gt;Caf&eacute; colour &amp; soft&lt;/p&gt;\n&lt;ul&gt;&lt;li&gt;100&#37; cotton"
     "&lt;/li&gt;&lt;/ul&gt;",
     "/m/h/mh01-black.jpg?v=2,/m/h/mh01-back.jpg", "Cotton", "Algodón", "EUR 12,50",
     "#Eco| Sale "],
    ["MH02", "", "Josie Jacket", "Chaqueta Josie", "  Plain text, \"quoted\"  ", "", "", "",
     "EUR 1.234,50", ""],
    ["MH03", "Acme", "", "", "&amp;", "/m/h/mh03.jpg", "Wool", "", "7", "New|50% off"],
    ["MH04", "", "", "Solo español", "x", "", "", "", "EUR 3", ""],
    ["MH05", "Acme", "Gift card", "Tarjeta regalo", "", "", "", "", "on request", ""],
]  # fmt: skip


def _export() -> str:
    out = io.StringIO()
    writer = csv.writer(out, lineterminator="\r\n")
    writer.writerow(COLUMNS)
    writer.writerows(ROWS)
    return out.getvalue()


def _title(brand: str, name: str) -> str | None:
    return " ".join(part for part in (brand, name) if part) or None


def _expected(text: str) -> tuple[dict[str, dict[str, Any]], dict[str, str], int]:
    """The products, the rejected references (-> column) and the number of tags left out (not
    one word) the raw file must give."""
    products: dict[str, dict[str, Any]] = {}
    rejected: dict[str, str] = {}
    left_out = 0
    for row in csv.DictReader(io.StringIO(text)):
        titles = {lang: _title(row["brand"], row[f"name_{lang}"]) for lang in ("en", "es")}
        missing = [lang for lang, title in titles.items() if title is None]
        if missing:
            rejected[row["sku"]] = "{brand} {name_" + missing[0] + "}"
            continue
        found = re.search(r"([0-9][0-9.]*,[0-9]+|[0-9]+)", row["price"])
        if found is None:
            rejected[row["sku"]] = "price"
            continue
        number = Decimal(found.group(1).replace(".", "").replace(",", "."))
        fields: dict[str, Any] = {"prod_title": titles}
        description = html.unescape(row["description"]).strip()
        if description:
            fields["prod_description"] = {"en": description}
        images = [
            "https://cdn.example.com/media/catalog/product" + path.strip().split("?")[0]
            for path in row["images"].split(",")
            if path.strip()
        ]
        if images:
            fields["prod_image"] = images
        defaults = {"en": "Unknown", "es": "Desconocido"}
        fields["prod_material"] = {
            lang: row[f"material_{lang}"] or defaults[lang] for lang in ("en", "es")
        }
        fields["prod_price"] = str(number.normalize()) if number % 1 else str(int(number))
        cleaned = [re.sub(r"^\s*#?|\s+$", "", tag) for tag in row["tags"].split("|")]
        tags = [tag.lower() for tag in cleaned if re.fullmatch(r"\w+", tag)]
        left_out += len([tag for tag in cleaned if tag and not re.fullmatch(r"\w+", tag)])
        if tags:
            fields["prod_tags"] = tags
        products[row["sku"]] = fields
    return products, rejected, left_out


def _staged(world: World, dag_run: Any, name: str) -> Path:
    from saleslayer_airflow.staging import safe_segment

    folder = world.tmp / "staging" / safe_segment(world.dag_id) / safe_segment(dag_run.run_id)
    return folder / name


@pytest.mark.integration
def test_a_magento_like_export_imports_with_transforms_alone(world: World) -> None:
    world.write_connector("shape7_e2e", CONNECTOR)
    day, _ = first_day()
    text = _export()
    world.publish_file(f"catalog_product_{day:%Y%m%d}.csv", text)
    products, rejected, left_out = _expected(text)
    assert len(products) == 3 and len(rejected) == 2 and left_out == 1  # every outcome

    dag_run = world.run(day)

    assert dag_run.state == "success", states(dag_run)
    got = catalog(world.emulator, "products")
    assert set(got) == set(products)
    for ref, fields in products.items():
        assert got[ref]["fields"] == fields, ref
    # spot checks written out by hand, so that the computation above cannot hide a mistake
    assert got["MH01"]["fields"]["prod_description"]["en"] == (
        "<p>Café colour & soft</p>\n<ul><li>100% cotton</li></ul>"
    )
    assert got["MH02"]["fields"]["prod_title"] == {"en": "Josie Jacket", "es": "Chaqueta Josie"}
    assert got["MH02"]["fields"]["prod_price"] == "1234.5"
    assert got["MH03"]["fields"]["prod_title"] == {"en": "Acme", "es": "Acme"}
    assert got["MH03"]["fields"]["prod_material"] == {"en": "Wool", "es": "Desconocido"}
    assert got["MH03"]["fields"]["prod_tags"] == ["new"]

    with _staged(world, dag_run, "rejects.csv").open(encoding="utf-8", newline="") as handle:
        rejects = {row["reference"]: row for row in csv.DictReader(handle)}
    assert {ref: row["column"] for ref, row in rejects.items()} == rejected
    assert "required field is empty" in rejects["MH04"]["reason"], rejects["MH04"]
    assert rejects["MH05"]["value"] == "on request"
    assert "does not match the pattern" in rejects["MH05"]["reason"], rejects["MH05"]
    report = xcom(dag_run, "report")["tables"]["products"]
    assert (report["read"], report["created"], report["rejected"]) == (5, 3, 2)
    # the tag `on_no_match: empty` left out is not a reject, but the split counts it
    ignored = xcom(dag_run, "validate_and_split")["ignored"]
    reason = "products: field 'prod_tags': values left empty by transforms[1] (extract, "
    assert {k: v for k, v in ignored.items() if k.startswith(reason)} == {
        reason + "on_no_match: empty)": left_out
    }


@pytest.mark.integration
def test_a_misspelt_template_column_stops_the_run_before_anything_is_sent(
    world: World, capfd: pytest.CaptureFixture[str]
) -> None:
    world.write_connector("shape7_e2e", CONNECTOR.replace("{name_{lang}}", "{Name_{lang}}"))
    day, _ = first_day()
    world.publish_file(f"catalog_product_{day:%Y%m%d}.csv", _export())

    dag_run = world.run(day)

    assert dag_run.state == "failed", states(dag_run)
    ran = states(dag_run)
    assert (ran["fetch_source"], ran["validate_and_split"]) == ("success", "failed"), ran
    assert ran["push_products"] in {"upstream_failed", "skipped"}, ran
    assert catalog(world.emulator, "products") == {}
    logs = "".join(capfd.readouterr())
    # the column preflight names both languages' columns, where the template is, and the fix
    assert "('Name_en', 'Name_es')" in logs
    assert (
        "tables.products.fields.prod_title.template: table 'products' reads column 'Name_en' "
        "(named in the template '{brand} {Name_{lang}}'), which is not in the header of"
    ) in logs
    assert "Did you mean 'name_en'?" in logs and "Did you mean 'name_es'?" in logs
