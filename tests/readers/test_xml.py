"""XML exports (readers/xml.py): records chosen by path, attributes, repeated elements as lists,
namespaces by URI, mixed content, line numbers, broken files, entity bombs, encodings, bounded
memory, and the column preflight.

Expected values are computed from the raw text with the standard library's ElementTree (another
parser than lxml) and plain string scans, never with the reader under test.
"""

from __future__ import annotations

import io
import json
import subprocess
import sys
import textwrap
import xml.etree.ElementTree as ET
from pathlib import Path
from typing import Any

import pytest
import yaml

from saleslayer_airflow.config.formats import XmlFormat
from saleslayer_airflow.config.models import ConnectorConfig
from saleslayer_airflow.readers import xml as xml_reader
from saleslayer_airflow.readers.batches import open_batches
from saleslayer_airflow.readers.errors import SourceFileError
from saleslayer_airflow.readers.json import MISSING
from saleslayer_airflow.readers.xml import XmlReader
from saleslayer_airflow.validation.columns import check_columns, read_header

G = "http://base.google.com/ns/1.0"

#: A Google Shopping feed as merchants publish it: RSS 2.0, the `g:` namespace, CDATA HTML
#: descriptions, entities, repeated additional images, an attribute, a multi-line description,
#: an item without a brand, an empty <g:sale_price/>.
FEED = f"""\
<?xml version="1.0" encoding="UTF-8"?>
<rss version="2.0" xmlns:g="{G}">
  <channel>
    <title>Casa Lumen &#8211; Tienda</title>
    <link>https://www.casalumen.example</link>
    <item>
      <g:id>CL-1001</g:id>
      <title>Taza de caf&#233; &amp; plato &#8220;Sevilla&#8221;</title>
      <description><![CDATA[<p>Porcelana <b>pintada a mano</b>.</p>
<ul><li>350&nbsp;ml</li><li>Apta para lavavajillas</li></ul>]]></description>
      <link>https://www.casalumen.example/p/taza-sevilla</link>
      <g:image_link>/media/catalog/product/t/a/taza-sevilla.jpg</g:image_link>
      <g:additional_image_link>/media/catalog/product/t/a/taza-sevilla-2.jpg</g:additional_image_link>
      <g:additional_image_link>/media/catalog/product/t/a/taza-sevilla-3.jpg</g:additional_image_link>
      <g:price unit="EUR">12.90 EUR</g:price>
      <g:sale_price/>
      <g:brand>Casa Lumen</g:brand>
    </item>
    <item>
      <g:id>CL-1002</g:id>
      <title>Jarra &lt;1 L&gt; cer&#225;mica</title>
      <description>Jarra esmaltada.
Hecha en Talavera.</description>
      <g:image_link>/media/catalog/product/j/a/jarra.jpg</g:image_link>
      <g:price unit="EUR">24.50 EUR</g:price>
    </item>
    <item><g:id>CL-1003</g:id><title>Cuenco &#xE9;l&#xE9;gant</title><g:brand>Ñandú</g:brand></item>
  </channel>
</rss>
"""

PATHS = [
    "g:id",
    "title",
    "description",
    "g:image_link",
    "g:additional_image_link",
    "g:price",
    "g:price/@unit",
    "g:sale_price",
    "g:brand",
    "link",
]


def gfmt(**extra: Any) -> XmlFormat:
    return XmlFormat.model_validate(
        {"type": "xml", "record": "/rss/channel/item", "namespaces": {"g": G}} | extra
    )


def rows_of(data: bytes, fmt: XmlFormat, paths: list[str] | None) -> list[Any]:
    return list(XmlReader(io.BytesIO(data), fmt, "feed.xml", paths))


def expected_items(text: str) -> list[dict[str, Any]]:
    """The feed's items by the standard library: one text, a list of texts, or absent."""
    root = ET.fromstring(text.encode())
    out = []
    for item in root.iter("item"):
        record: dict[str, Any] = {}
        for path in PATHS:
            element_path, _, attr = path.partition("/@")
            found = item.findall(element_path.replace("g:", f"{{{G}}}"))
            values = [e.get(attr) for e in found] if attr else [e.text or "" for e in found]
            values = [v for v in values if v is not None]
            if values:
                record[path] = values[0] if len(values) == 1 else values
        out.append(record)
    return out


def start_lines(text: str, tag: str) -> list[int]:
    return [n for n, line in enumerate(text.splitlines(), start=1) if line.lstrip().startswith(tag)]


def test_feed_values_lists_attributes_and_lines_match_the_standard_library() -> None:
    rows = rows_of(FEED.encode(), gfmt(), PATHS)
    assert [row.cells for row in rows] == expected_items(FEED)
    assert [row.line for row in rows] == start_lines(FEED, "<item>")
    assert all(row.problem is None for row in rows)
    first, second, third = (row.cells for row in rows)
    # HTML in CDATA stays HTML text, the entity inside it untouched; character references read
    assert first["description"].startswith("<p>Porcelana <b>pintada a mano</b>.</p>\n<ul>")
    assert "350&nbsp;ml" in first["description"]
    assert first["title"] == "Taza de café & plato \u201cSevilla\u201d"
    assert first["g:additional_image_link"] == [
        "/media/catalog/product/t/a/taza-sevilla-2.jpg",
        "/media/catalog/product/t/a/taza-sevilla-3.jpg",
    ]
    assert first["g:sale_price"] == "" and "g:brand" not in second
    assert second["title"] == "Jarra <1 L> cerámica"
    assert second["description"] == "Jarra esmaltada.\nHecha en Talavera."
    assert third == {"g:id": "CL-1003", "title": "Cuenco élégant", "g:brand": "Ñandú"}


def test_a_prefix_matches_by_namespace_uri_and_a_bare_name_only_unprefixed_elements() -> None:
    # the file calls Google's namespace `gg` and has a `g:` of its own for another URI
    text = (
        FEED.replace('xmlns:g="', 'xmlns:x="urn:other" xmlns:gg="')
        .replace("<g:", "<gg:")
        .replace("</g:", "</gg:")
        .replace("<title>Jarra", "<x:title>Otra</x:title><title>Jarra")
    )
    rows = rows_of(text.encode(), gfmt(), ["g:id", "title", "g:image_link"])
    assert [r.cells.get("g:id") for r in rows] == ["CL-1001", "CL-1002", "CL-1003"]
    # <x:title> is another namespace's element: never taken for <title>
    assert rows[1].cells["title"] == "Jarra <1 L> cerámica"


BMECAT = """\
<?xml version="1.0" encoding="ISO-8859-1"?>
<!DOCTYPE BMECAT SYSTEM "bmecat_new_catalog.dtd">
<BMECAT version="2005" xmlns="http://www.bmecat.org/bmecat/2005">
  <HEADER><CATALOG><LANGUAGE>deu</LANGUAGE></CATALOG></HEADER>
  <T_NEW_CATALOG>
    <PRODUCT mode="new">
      <SUPPLIER_PID>4711-B</SUPPLIER_PID>
      <PRODUCT_DETAILS>
        <DESCRIPTION_SHORT lang="deu">Kaffeebecher Größe M</DESCRIPTION_SHORT>
        <DESCRIPTION_SHORT lang="eng">Coffee mug size M</DESCRIPTION_SHORT>
        <DESCRIPTION_LONG lang="deu">Spülmaschinenfest &amp; <b>stapelbar</b></DESCRIPTION_LONG>
      </PRODUCT_DETAILS>
      <MIME_INFO>
        <MIME><MIME_TYPE>image/jpeg</MIME_TYPE><MIME_SOURCE>4711/normal.jpg</MIME_SOURCE></MIME>
        <MIME><MIME_TYPE>image/jpeg</MIME_TYPE><MIME_SOURCE>4711/detail.jpg</MIME_SOURCE></MIME>
      </MIME_INFO>
    </PRODUCT>
    <PRODUCT mode="update">
      <SUPPLIER_PID>4712</SUPPLIER_PID>
      <PRODUCT_DETAILS><DESCRIPTION_SHORT lang="deu">Teekanne</DESCRIPTION_SHORT></PRODUCT_DETAILS>
    </PRODUCT>
  </T_NEW_CATALOG>
</BMECAT>
"""


def test_bmecat_default_namespace_language_tests_and_declared_latin1() -> None:
    data = BMECAT.encode("iso-8859-1")
    fmt = XmlFormat(type="xml", record="//T_NEW_CATALOG/PRODUCT")
    paths = [
        "SUPPLIER_PID",
        "@mode",
        "PRODUCT_DETAILS/DESCRIPTION_SHORT[@lang='deu']",
        'PRODUCT_DETAILS/DESCRIPTION_SHORT[@lang="eng"]',
        "PRODUCT_DETAILS/DESCRIPTION_LONG",
        "MIME_INFO/MIME/MIME_SOURCE",
        "MIME_INFO/MIME[2]/MIME_SOURCE",
    ]
    rows = rows_of(data, fmt, paths)
    assert [r.line for r in rows] == start_lines(BMECAT, "<PRODUCT ")
    assert rows[0].cells == {
        "SUPPLIER_PID": "4711-B",
        "@mode": "new",
        paths[2]: "Kaffeebecher Größe M",
        paths[3]: "Coffee mug size M",
        # mixed content: the inner markup as written, text escaped
        paths[4]: "Spülmaschinenfest &amp; <b>stapelbar</b>",
        paths[5]: ["4711/normal.jpg", "4711/detail.jpg"],
        paths[6]: "4711/detail.jpg",
    }
    assert rows[1].cells == {"SUPPLIER_PID": "4712", "@mode": "update", paths[2]: "Teekanne"}


def test_declared_encoding_overrides_a_wrong_declaration() -> None:
    text = FEED.replace("Ñandú", "Ñandú €")
    data = text.encode("cp1252")  # but the declaration says UTF-8
    rows = rows_of(data, gfmt(encoding="cp1252"), ["g:brand"])
    assert rows[2].cells["g:brand"] == "Ñandú €"
    # without format.encoding, the bytes contradict the declaration: the reading stops there
    rows = rows_of(data, gfmt(), ["g:brand"])
    assert [r.cells for r in rows[:2]] == [{"g:brand": "Casa Lumen"}, {}]
    problem = rows[2].problem
    assert problem is not None and problem.code == "bad_xml"
    assert rows[2].line == start_lines(text, "<item><g:id>CL-1003")[0]
    assert "if the XML declaration names the wrong encoding, set format.encoding" in problem.reason


def broken_feed() -> tuple[str, int]:
    """The feed with its second item's end tag cut (``</ite``), and that line."""
    intact = "</g:price>\n    </item>\n    <item><g:id>CL-1003"
    text = FEED.replace(intact, intact.replace("</item>", "</ite"))
    assert text != FEED
    return text, text.splitlines().index("    </ite") + 1


def test_malformed_mid_file_keeps_the_records_before_and_says_where_it_stopped() -> None:
    text, bad_line = broken_feed()
    rows = rows_of(text.encode(), gfmt(), ["g:id"])
    assert [r.cells for r in rows[:-1]] == [{"g:id": "CL-1001"}]
    last = rows[-1]
    assert last.problem is not None and last.problem.code == "bad_xml"
    assert last.line == bad_line + 1  # libxml2 finds the cut tag where the next one starts
    assert f"not well-formed at line {bad_line + 1}, column" in last.problem.reason
    assert "nothing after this point was read" in last.problem.reason
    second_item = start_lines(text, "<item>")[1]
    assert f"the record that starts on line {second_item} is cut there" in last.problem.reason


def test_a_file_broken_before_its_first_record_fails_as_a_whole() -> None:
    with pytest.raises(SourceFileError, match=r"feed.xml:3: the XML is not well-formed at line 3"):
        rows_of(b'<?xml version="1.0"?>\n<rss>\n<channel<item/></rss>', gfmt(), ["g:id"])
    with pytest.raises(SourceFileError, match="not well-formed"):
        rows_of(b"", gfmt(), ["g:id"])


BOMB = (
    '<?xml version="1.0"?>\n<!DOCTYPE rss [\n<!ENTITY lol "lol">\n'
    + "".join(
        f'<!ENTITY lol{i} "{("&lol" + str(i - 1) + ";") * 10}">\n' for i in range(1, 10)
    ).replace("&lol0;", "&lol;")
    + f']>\n<rss xmlns:g="{G}"><channel><item><g:id>1</g:id></item>\n'
    "<item><g:id>2</g:id><title>&lol9;</title></item></channel></rss>\n"
)


def test_an_entity_bomb_stops_with_a_clear_reason_in_bounded_memory(tmp_path: Path) -> None:
    path = tmp_path / "bomb.xml"
    path.write_text(BOMB, encoding="utf-8")
    script = textwrap.dedent(
        f"""
        import json, resource
        from pathlib import Path
        from saleslayer_airflow.config.formats import XmlFormat
        from saleslayer_airflow.readers.xml import XmlReader
        fmt = XmlFormat(type="xml", record="//item", namespaces={{"g": "{G}"}})
        before = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss // 1024
        with Path({str(path)!r}).open("rb") as raw:
            rows = [(r.line, r.cells, r.problem and r.problem.reason)
                    for r in XmlReader(raw, fmt, "bomb.xml", ["g:id", "title"])]
        peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss // 1024
        print(json.dumps({{"rows": rows, "grown_mib": peak - before}}))
        """
    )
    done = subprocess.run(
        [sys.executable, "-c", script], capture_output=True, text=True, timeout=120, check=True
    )
    result = json.loads(done.stdout)
    (first, problem) = result["rows"]
    assert first[1] == {"g:id": "1"}
    assert "amplification" in problem[2] and "XML bomb" in problem[2]
    second_item = start_lines(BOMB, "<item><g:id>2")[0]
    assert problem[0] == second_item
    assert f"in the text of an entity used by the record on line {second_item}" in problem[2]
    assert "lollollol" not in done.stdout
    assert result["grown_mib"] < 100, result  # 10**9 'lol's would be 3 GB


def test_an_external_entity_is_never_read_and_its_value_is_a_reject(tmp_path: Path) -> None:
    secret = tmp_path / "secret.txt"
    secret.write_text("TOP-SECRET-42", encoding="utf-8")
    text = (
        f'<?xml version="1.0"?>\n<!DOCTYPE rss [<!ENTITY ext SYSTEM "{secret.as_uri()}">]>\n'
        f'<rss xmlns:g="{G}"><channel>\n<item><g:id>1</g:id><title>Cup &ext;</title></item>\n'
        "<item><g:id>2</g:id><title>Jug</title><link>&ext;</link></item>\n</channel></rss>\n"
    )
    rows = rows_of(text.encode(), gfmt(), ["g:id", "title"])
    assert "TOP-SECRET" not in repr(rows)
    problem = rows[0].problem
    assert problem is not None and problem.code == "xml_entity" and problem.column == "title"
    assert "&ext;" in problem.reason and "never expanded" in problem.reason
    # an entity in an element no column reads harms nothing
    assert rows[1].problem is None and rows[1].cells == {"g:id": "2", "title": "Jug"}


def test_a_record_path_that_matches_nothing_lists_what_is_there() -> None:
    with pytest.raises(SourceFileError) as caught:
        rows_of(FEED.encode(), gfmt(record="/rss/channel/items"), ["g:id"])
    message = str(caught.value)
    assert "no element matches format.record '/rss/channel/items'" in message
    assert "Did you mean '/rss/channel/item'?" in message
    # an absolute path whose parent is there: an export listing no record, not a mistake
    empty = b"<catalog><products>\n</products></catalog>"
    assert rows_of(empty, gfmt(record="/catalog/products/product"), ["sku"]) == []


def test_matches_inside_a_record_are_part_of_it_and_elements_outside_are_not_records() -> None:
    text = (
        "<shop><item><sku>A</sku><accessories><item><sku>A-1</sku></item></accessories></item>"
        "<related><item><sku>R</sku></item></related><item><sku>B</sku></item></shop>"
    )
    rows = rows_of(text.encode(), gfmt(record="//item"), ["sku", "accessories/item/sku"])
    assert [r.cells for r in rows] == [
        {"sku": "A", "accessories/item/sku": "A-1"},
        {"sku": "R"},
        {"sku": "B"},
    ]
    rows = rows_of(text.encode(), gfmt(record="/shop/item"), ["sku"])
    assert [r.cells for r in rows] == [{"sku": "A"}, {"sku": "B"}]


def test_a_record_larger_than_the_limit_ends_the_reading(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(xml_reader, "MAX_RECORD_BYTES", 200_000)
    big = "".join(f"<image>/m/{n:06}.jpg</image>\n" for n in range(20_000))
    text = f"<feed>\n<item><sku>A</sku></item>\n<item><sku>B</sku>\n{big}</item>\n</feed>"
    rows = rows_of(text.encode(), gfmt(record="/feed/item"), ["sku"])
    assert rows[0].cells == {"sku": "A"}
    problem = rows[1].problem
    assert problem is not None and problem.code == "bad_xml"
    assert "the record that starts on line 3 is larger than" in problem.reason
    assert len(rows) == 2


@pytest.mark.parametrize(
    "shape",
    [
        '<p id="{i}">\n  <n>x</n>\n</p>\n',
        '<p id="{i}"><n>x</n></p>\n',
        '<p id="{i}"><![CDATA[a\nb]]></p>\n',
        '<p id="{i}"/>\n',
        '<p id="{i}"><n>\n\nx</n>\n</p>\n',
        '  <p id="{i}">text\nmore<n/></p>\n',
    ],
)
def test_line_numbers_past_65535(shape: str) -> None:
    parts, lines, line = ["<r>\n"], [], 2
    for i in range(70_000):
        chunk = shape.format(i=i)
        lines.append(line)
        parts.append(chunk)
        line += chunk.count("\n")
    data = ("".join(parts) + "</r>").encode()
    rows = rows_of(data, gfmt(record="/r/p"), ["@id"])
    assert [r.line for r in rows] == lines


def test_batches_hold_text_lists_and_presence(tmp_path: Path) -> None:
    path = tmp_path / "feed.xml"
    path.write_text(FEED, encoding="utf-8")
    wanted = ["g:id", "g:additional_image_link", "g:sale_price", "g:brand", "nothing/here"]
    (batch,) = list(open_batches(path, gfmt(), "feed.xml", 0, wanted))
    assert batch.lines.to_pylist() == start_lines(FEED, "<item>")
    assert batch.text["g:id"].to_pylist() == ["CL-1001", "CL-1002", "CL-1003"]
    assert batch.objects["g:additional_image_link"][1:] == [MISSING, MISSING]
    assert batch.text["g:sale_price"].to_pylist() == [None, None, None]
    assert batch.present["g:sale_price"].to_pylist() == [True, False, False]
    assert batch.present["g:brand"].to_pylist() == [True, False, True]
    assert batch.present["nothing/here"].to_pylist() == [False, False, False]


def test_memory_stays_flat_as_the_file_grows(tmp_path: Path) -> None:
    item = (
        "<item><g:id>{n}</g:id><title>Producto {n} &amp; más</title>"
        "<description><![CDATA[<p>Texto <b>largo</b> " + "x" * 300 + "</p>]]></description>"
        "<g:additional_image_link>/m/{n}/1.jpg</g:additional_image_link>"
        "<g:additional_image_link>/m/{n}/2.jpg</g:additional_image_link></item>\n"
    )
    script = textwrap.dedent(
        f"""
        import resource, sys
        from pathlib import Path
        from saleslayer_airflow.config.formats import XmlFormat
        from saleslayer_airflow.readers.batches import open_batches
        path = Path(sys.argv[1])
        fmt = XmlFormat(type="xml", record="/rss/channel/item", namespaces={{"g": "{G}"}})
        count = sum(b.num_rows for b in open_batches(
            path, fmt, "f.xml", 0, ["g:id", "title", "g:additional_image_link"], 4096))
        print(count, resource.getrusage(resource.RUSAGE_SELF).ru_maxrss // 1024)
        """
    )
    peaks = {}
    for items in (20_000, 100_000):
        path = tmp_path / f"feed{items}.xml"
        with path.open("w", encoding="utf-8") as out:
            out.write(f'<rss xmlns:g="{G}"><channel>\n')
            for n in range(items):
                out.write(item.format(n=n))
            out.write("</channel></rss>\n")
        done = subprocess.run(
            [sys.executable, "-c", script, str(path)],
            capture_output=True,
            text=True,
            timeout=300,
            check=True,
        )
        count, peak = map(int, done.stdout.split())
        assert count == items
        peaks[items] = peak
    # 5x the file (8 MB -> 42 MB): a parse tree kept whole would add ~200 MiB
    assert peaks[100_000] - peaks[20_000] < 30, peaks


# -- config and the column preflight --------------------------------------------------------------

CONNECTOR = """\
id: feed
description: Google Shopping feed
schedule: null
start_date: 2026-11-01
source: {kind: ftp, conn_id: c, path: /feed.xml}
format: {type: xml, record: /rss/channel/item, namespaces: {g: "GOOGLE"}}
tables:
  products:
    reference: "g:id"
    fields:
      prod_name: title
      prod_image: {column: "IMAGES", separator: "|"}
""".replace("GOOGLE", G)


def connector_text(images: str) -> str:
    return CONNECTOR.replace("IMAGES", images)


def test_preflight_lists_the_paths_of_the_first_records_with_did_you_mean(tmp_path: Path) -> None:
    path = tmp_path / "feed.xml"
    path.write_text(FEED, encoding="utf-8")
    config = ConnectorConfig.model_validate(
        yaml.safe_load(connector_text("g:aditional_image_link"))
    )
    header = read_header(path, config.format)
    assert header.records == 3 and header.complete
    assert {"g:id", "title", "g:price/@unit", "g:additional_image_link"} <= set(header.columns)
    (problem,) = check_columns(config, header)
    assert problem.certain and problem.named.field == "tables.products.fields.prod_image.column"
    assert "Did you mean 'g:additional_image_link'?" in problem.message
    assert "XML paths are element names separated by '/'" in problem.message
    fixed = ConnectorConfig.model_validate(
        yaml.safe_load(connector_text("g:additional_image_link"))
    )
    assert check_columns(fixed, header) == []


@pytest.mark.parametrize(
    ("column", "message"),
    [
        ("h:image", "uses the prefix 'h', which format.namespaces does not declare (declared: g)"),
        ("/rss/channel/item/title", "field paths start at the record; write 'rss/channel/item"),
        ("images//image", "unexpected '/image'"),
        ("image[@type=main]", "a test is written [@attr='value'], [@attr] or [n]"),
    ],
)
def test_a_bad_path_is_a_config_error_at_its_field(column: str, message: str) -> None:
    from saleslayer_airflow.config import parse_connector
    from saleslayer_airflow.exceptions import ConnectorConfigError

    text = connector_text(column)
    with pytest.raises(ConnectorConfigError) as caught:
        parse_connector(text, "feed.yaml")
    shown = str(caught.value)
    assert "feed.yaml:12: tables.products.fields.prod_image.column: XML path" in shown, shown
    assert message in shown, shown


# -- random records against the standard library -------------------------------------------------

_NAMES = ["sku", "name", "image", "price", "ean"]
_WORDS = ["Taza", "café & té", "<b>HTML</b>", "  espacios  ", "línea\nnueva", "", "Ñ €", "a]b'c"]


def _random_feed(rng: Any, records: int) -> str:
    """Records of leaf elements (some repeated, some in a wrapper, some namespaced) with
    attributes, written with random escaping (entities, CDATA) and layout."""

    def text(word: str) -> str:
        if "]]>" not in word and rng.random() < 0.3:
            return f"<![CDATA[{word}]]>"
        return word.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")

    def leaf(tag: str) -> str:
        attrs = "".join(
            f' {a}="{rng.choice(["x", "y", "z"])}"' for a in ("a", "lang") if rng.random() < 0.5
        )
        word = rng.choice(_WORDS)
        return (
            f"<{tag}{attrs}/>"
            if not word and rng.random() < 0.5
            else f"<{tag}{attrs}>{text(word)}</{tag}>"
        )

    out = [f'<?xml version="1.0" encoding="UTF-8"?>\n<feed xmlns:g="{G}">\n']
    for number in range(records):
        children = []
        for _ in range(rng.randint(0, 8)):
            tag = rng.choice(_NAMES)
            where = rng.random()
            if where < 0.2:
                children.append(f"<g:{tag}>{text(rng.choice(_WORDS))}</g:{tag}>")
            elif where < 0.4:
                children.append(
                    f"<wrap>{leaf(tag)}{leaf(tag) if rng.random() < 0.5 else ''}</wrap>"
                )
            else:
                children.append(leaf(tag))
        sep = rng.choice(["", "\n  ", " "])
        out.append(f'<item n="{number}">{sep}' + sep.join(children) + f"{sep}</item>\n")
    out.append("</feed>\n")
    return "".join(out)


def _paths() -> list[str]:
    paths = ["@n"]
    for name in _NAMES:
        paths += [name, f"{name}/@a", f"{name}[@lang='x']", f"{name}[2]", f"wrap/{name}"]
        paths += [f"g:{name}", f"wrap/{name}[@a]/@lang"]
    return paths


def _by_elementtree(text: str, paths: list[str]) -> list[dict[str, Any]]:
    out = []
    for item in ET.fromstring(text.encode()).iter("item"):
        record: dict[str, Any] = {}
        for path in paths:
            element_path, attr = ("", path[1:]) if path.startswith("@") else (path, "")
            if "/@" in path:
                element_path, attr = path.rsplit("/@", 1)
            query = element_path.replace("g:", f"{{{G}}}")
            found = item.findall(query) if element_path else [item]
            values = [e.get(attr) for e in found] if attr else [e.text or "" for e in found]
            values = [v for v in values if v is not None]
            if values:
                record[path] = values[0] if len(values) == 1 else values
        out.append(record)
    return out


@pytest.mark.parametrize("seed", range(12))
def test_random_records_read_as_the_standard_library_reads_them(seed: int, tmp_path: Path) -> None:
    import random

    rng = random.Random(seed)
    text = _random_feed(rng, rng.randint(1, 60))
    paths = _paths()
    expected = _by_elementtree(text, paths)
    fmt = XmlFormat(type="xml", record="/feed/item", namespaces={"g": G})
    assert [r.cells for r in rows_of(text.encode(), fmt, paths)] == expected
    path = tmp_path / "feed.xml"
    path.write_text(text, encoding="utf-8")
    for batch_rows in (1, 7, 65_536):
        got: list[Any] = []
        for batch in open_batches(path, fmt, "feed.xml", 0, paths, batch_rows):
            columns = {
                p: batch.text[p].to_pylist() if p in batch.text else batch.objects[p] for p in paths
            }
            for row in range(batch.num_rows):
                cells = {}
                for p in paths:
                    if batch.present[p][row].as_py():
                        value = columns[p][row]
                        cells[p] = "" if value is None else value
                got.append(cells)
        assert got == expected, batch_rows


def test_safety_limits_end_the_reading_with_their_reason() -> None:
    deep = "<a>" * 300 + "</a>" * 300
    text = f"<feed>\n<item><sku>A</sku></item>\n<item><sku>B</sku>{deep}</item>\n</feed>"
    rows = rows_of(text.encode(), gfmt(record="/feed/item"), ["sku"])
    assert rows[0].cells == {"sku": "A"} and len(rows) == 2
    problem = rows[1].problem
    assert problem is not None and problem.code == "bad_xml" and rows[1].line == 3
    assert "the XML exceeds a safety limit at line 3" in problem.reason
    assert "nested more than 256 levels deep are not read" in problem.reason
