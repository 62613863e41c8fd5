"""Shape 8 of issue 13, end to end: a Google Shopping feed (RSS 2.0, the `g:` namespace, CDATA
HTML descriptions, repeated additional images, attributes, entities) imported by a connector file
alone, through Airflow (dag.test, FTP) into the emulator over HTTP; then the next day's feed,
broken mid-file: the items before the break arrive, the break is a reject at its line and
column, and the items after it are not deleted.

Expected references and values are computed from the raw feed with the standard library's
ElementTree, not with the reader under test.
"""

from __future__ import annotations

import csv
import xml.etree.ElementTree as ET
from datetime import timedelta
from typing import Any

import pytest

from saleslayer_airflow import staging
from tests.e2e.conftest import World, catalog, deleted_references, first_day, states, xcom

G = "http://base.google.com/ns/1.0"

CONNECTOR = f"""\
id: xml_feed_e2e
description: Google Shopping feed from FTP into the emulator.
schedule: "@daily"
start_date: 2026-11-01
retries: 0
source:
  kind: ftp
  conn_id: erp_ftp
  path: "/exports/feed_{{{{ ds_nodash }}}}.xml"
  stable_for: 0s
format:
  type: xml
  record: /rss/channel/item
  namespaces: {{g: "{G}"}}
tables:
  categories:
    reference: "g:product_type"
    path: {{column: "g:product_type", separator: " > "}}
  products:
    reference: "g:id"
    categories: {{column: "g:product_type"}}
    fields:
      prod_title: {{column: title, required: true}}
      prod_description: description
      prod_image: {{column: "g:additional_image_link", separator: "|"}}
      prod_price: {{column: "g:price[@currency='EUR']"}}
      prod_material: "g:material"
target: {{conn_id: saleslayer_default, batch_size: 4, deletions: {{enabled: true, max_ratio: 1.0}}}}
validation: {{max_reject_ratio: 0.5}}
"""

ITEM = """\
    <item>
      <g:id>{ref}</g:id>
      <title>{title}</title>
      <description><![CDATA[{html}]]></description>
      <link>https://www.casalumen.example/p/{slug}</link>
      <g:image_link>/media/catalog/product/{slug}.jpg</g:image_link>
{images}      <g:price currency="EUR">{price} EUR</g:price>
      <g:price currency="USD">{usd} USD</g:price>
      <g:product_type>{path}</g:product_type>
{material}    </item>
"""

PRODUCTS = [
    ("CL-1001", "Taza de caf&#233; &amp; plato", "Home &gt; Cocina &gt; Tazas", 3, "Porcelana"),
    ("CL-1002", "Jarra &lt;1 L&gt; cer&#225;mica", "Home &gt; Cocina &gt; Jarras", 1, ""),
    ("CL-1003", "Cuenco &#8220;Sevilla&#8221;", "Home &gt; Cocina &gt; Tazas", 0, "Gres"),
    ("CL-1004", "Mantel de lino", "Home &gt; Textil", 2, "Lino"),
    ("CL-1005", "Servilletas (4 u.)", "Home &gt; Textil", 1, "Algodón"),
    ("CL-1006", "Vela aromática Ñandú", "Home &gt; Decoración", 2, ""),
]


def feed(renamed: dict[str, str] | None = None) -> str:
    """The shop's feed: every product, ``renamed`` titles by reference."""
    items = []
    for number, (ref, title, path, images, material) in enumerate(PRODUCTS):
        slug = ref.lower()
        extra = "".join(
            f"      <g:additional_image_link>/media/catalog/product/{slug}-{n}.jpg"
            "</g:additional_image_link>\n"
            for n in range(2, 2 + images)
        )
        html = (
            f"<p>Hecho a mano en Talavera.</p>\n<ul><li>Ref. {ref}</li>"
            f"<li>{number + 1}&nbsp;unidades</li></ul>"
        )
        items.append(
            ITEM.format(
                ref=ref,
                title=(renamed or {}).get(ref, title),
                html=html,
                slug=slug,
                images=extra,
                price=f"{9 + number}.90",
                usd=f"{11 + number}.50",
                path=path,
                material=f"      <g:material>{material}</g:material>\n" if material else "",
            )
        )
    return (
        '<?xml version="1.0" encoding="UTF-8"?>\n'
        f'<rss version="2.0" xmlns:g="{G}">\n  <channel>\n'
        "    <title>Casa Lumen</title>\n    <link>https://www.casalumen.example</link>\n"
        + "".join(items)
        + "  </channel>\n</rss>\n"
    )


def expected(text: str) -> dict[str, dict[str, Any]]:
    """Per product reference, what the feed says, read by ElementTree."""
    out: dict[str, dict[str, Any]] = {}
    for item in ET.fromstring(text.encode()).iter("item"):
        ref = item.findtext(f"{{{G}}}id")
        assert ref is not None
        prices = [p.text for p in item.findall(f"{{{G}}}price") if p.get("currency") == "EUR"]
        out[ref] = {
            "title": item.findtext("title"),
            "description": item.findtext("description"),
            "images": [e.text for e in item.findall(f"{{{G}}}additional_image_link")],
            "price": prices[0],
            "material": item.findtext(f"{{{G}}}material"),
            "path": item.findtext(f"{{{G}}}product_type"),
        }
    return out


def levels(path: str) -> list[str]:
    parts = path.split(" > ")
    return [" > ".join(parts[: depth + 1]) for depth in range(len(parts))]


def rejects(world: World, dag_run: Any) -> list[dict[str, str]]:
    folder = staging.run_folder((world.tmp / "staging").as_uri(), world.dag_id, dag_run.run_id)
    with (folder / staging.REJECTS_FILE).open("r", encoding="utf-8", newline="") as handle:
        return list(csv.DictReader(handle))


def live(world: World, table: str) -> set[str]:
    return {ref for ref, item in catalog(world.emulator, table).items() if item["status"] != "X"}


def shown(value: Any) -> Any:
    """A multilingual field as the emulator keeps it: the text of the account's language."""
    return value.get("en") if isinstance(value, dict) else value


@pytest.mark.integration
def test_google_shopping_feed_imports_and_a_broken_feed_keeps_what_it_cannot_read(
    world: World,
) -> None:
    day, _ = first_day()
    world.write_connector("xml_feed_e2e", CONNECTOR)
    text = feed()
    world.publish_file(f"feed_{day:%Y%m%d}.xml", text)

    dag_run = world.run(day)

    assert dag_run.state == "success", states(dag_run)
    want = expected(text)
    products = catalog(world.emulator, "products")
    assert set(products) == set(want)
    for ref, item in products.items():
        fields = item["fields"]
        assert shown(fields["prod_title"]) == want[ref]["title"], ref
        assert shown(fields["prod_description"]) == want[ref]["description"], ref
        assert (fields.get("prod_image") or []) == want[ref]["images"], ref
        assert fields["prod_price"] == want[ref]["price"], ref
        assert shown(fields.get("prod_material")) == want[ref]["material"], ref
    first = products["CL-1001"]["fields"]
    assert shown(first["prod_title"]) == "Taza de café & plato"
    assert shown(first["prod_description"]).startswith("<p>Hecho a mano en Talavera.</p>\n<ul>")
    assert "1&nbsp;unidades" in shown(first["prod_description"])
    assert first["prod_image"] == [f"/media/catalog/product/cl-1001-{n}.jpg" for n in (2, 3, 4)]
    paths = {level for item in want.values() for level in levels(item["path"])}
    assert set(catalog(world.emulator, "catalogue")) == paths
    report = xcom(dag_run, "report")["tables"]
    assert report["products"]["read"] == len(want) == report["products"]["created"]
    assert report["products"]["rejected"] == 0

    # Day 2: CL-1002 renamed; the feed is cut inside CL-1005's <g:id> (a damaged transfer):
    # CL-1005 and CL-1006 cannot be read.
    renamed = feed({"CL-1002": "Jarra grande"})
    cut_at = renamed.index("<g:id>CL-1005") + len("<g:id>CL-10")
    broken = renamed[:cut_at] + "</g:id\n" + renamed[cut_at:]
    broken_line = broken[:cut_at].count("\n") + 1
    day2 = day + timedelta(days=1)
    world.publish_file(f"feed_{day2:%Y%m%d}.xml", broken)

    dag_run = world.run(day2)

    assert dag_run.state == "success", states(dag_run)
    products = catalog(world.emulator, "products")
    assert shown(products["CL-1002"]["fields"]["prod_title"]) == "Jarra grande"
    # what was not read stays: an export not read in full never drives deletions
    assert live(world, "products") == set(want)
    assert deleted_references(world.tmp / "sl.sqlite", "products") == []
    split = xcom(dag_run, "validate_and_split")["tables"]["products"]
    assert split["unreadable_rows"] == 1
    assert f"line {broken_line + 1}, bad xml" in split["unreadable"]
    push = xcom(dag_run, "push_products")
    assert push["deletions"] == "refused" and push["deleted"] == 0
    table = xcom(dag_run, "report")["tables"]["products"]
    assert table["read"] == 5 and table["rejected"] == 1
    assert (table["updated"], table["unchanged"], table["deleted"]) == (1, 3, 0)
    (reject,) = [r for r in rejects(world, dag_run) if r["table"] == "products"]
    assert reject["line"] == str(broken_line + 1)
    assert f"the XML is not well-formed at line {broken_line + 1}, column" in reject["reason"]
    item_line = renamed[: renamed.index("<g:id>CL-1005")].count("\n")  # the <item> line
    assert f"the record that starts on line {item_line} is cut there" in reject["reason"]
