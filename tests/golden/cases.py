"""The golden cases: every input whose split outputs are kept in tests/golden/data/<case>/.

A case is a connector, the landed files (bytes made here, or a file of ../shared/realdata), the
``known_refs`` answer and the chunk size. The inputs come from the corpora of the other tests
(imported, not copied: the golden copy is of exactly those inputs, and :func:`fingerprint`
notices when one of them changes) and from generated flat exports written here so that every
reject code of the engine appears in at least one case.
"""

from __future__ import annotations

import hashlib
import io
import textwrap
import zipfile
from collections.abc import Callable, Collection, Sequence
from dataclasses import dataclass
from pathlib import Path
from xml.etree.ElementTree import ParseError, canonicalize

from saleslayer_airflow.config.connector import ConnectorConfig
from saleslayer_airflow.config.load import load_connector, parse_connector
from saleslayer_airflow.normalize.results import no_known_refs
from saleslayer_airflow.readers.json import MAX_DEPTH

ROOT = Path(__file__).resolve().parents[2]
SPLIT_DATA = ROOT / "tests" / "split" / "data"
REALDATA = ROOT.parent / "shared" / "realdata"

KnownRefs = Callable[[str, Sequence[str]], Collection[str]]


@dataclass(frozen=True)
class Input:
    """One landed file: its bytes (made on demand) or a file of ../shared/realdata."""

    name: str
    data: bytes | Callable[[], bytes] | None = None
    realdata: str | None = None  # path relative to ../shared/realdata
    file: str | None = None  # its name in the source's `files:`

    def payload(self) -> bytes:
        if self.realdata is not None:
            return (REALDATA / self.realdata).read_bytes()
        assert self.data is not None, self.name
        return self.data() if callable(self.data) else self.data


@dataclass(frozen=True)
class Case:
    """One golden case: a connector (a file of tests/split/data or a text) and its inputs."""

    name: str  # also the folder of its golden files
    origin: str  # where the input comes from, for a person reading a failure
    inputs: tuple[Input, ...]
    connector_file: str | None = None  # tests/split/data/<name>.yaml
    connector_text: str | None = None
    known: Callable[[], KnownRefs] = lambda: no_known_refs
    chunk_rows: int = 5_000
    realdata: bool = False

    def connector_source(self) -> str:
        if self.connector_file is not None:
            return (SPLIT_DATA / f"{self.connector_file}.yaml").read_text(encoding="utf-8")
        assert self.connector_text is not None, self.name
        return self.connector_text

    def config(self) -> ConnectorConfig:
        if self.connector_file is not None:
            return load_connector(SPLIT_DATA / f"{self.connector_file}.yaml")
        assert self.connector_text is not None, self.name
        return parse_connector(self.connector_text, f"{self.name}.yaml")


def fingerprint(data: bytes) -> str:
    """The sha256 of an input, stable across runs: a workbook (a zip) is hashed by its parts
    minus docProps/core.xml, because openpyxl stamps the time into that part and into the zip
    entries of every workbook it saves, and its XML parts in canonical form (C14N), because
    openpyxl writes ``<v/>`` with lxml installed and ``<v />`` without; a gzip stream without
    the time in its header."""
    if data[:2] == b"\x1f\x8b" and len(data) >= 10:
        return "gzip:" + hashlib.sha256(data[:4] + bytes(4) + data[8:]).hexdigest()
    if data[:4] == b"PK\x03\x04":
        try:
            with zipfile.ZipFile(io.BytesIO(data)) as book:
                digest = hashlib.sha256()
                for name in sorted(book.namelist()):
                    if name == "docProps/core.xml":
                        continue
                    body = book.read(name)
                    if name.endswith((".xml", ".rels")):
                        body = _canonical(body)
                    digest.update(name.encode() + b"\0" + body + b"\0")
                return "zip-c14n:" + digest.hexdigest()
        except zipfile.BadZipFile:
            pass
    return hashlib.sha256(data).hexdigest()


def _canonical(body: bytes) -> bytes:
    try:
        return canonicalize(body.decode("utf-8")).encode("utf-8")
    except (UnicodeDecodeError, ParseError):  # a broken part of a malformed workbook: as it is
        return body


def _slug(text: str) -> str:
    keep = [c.lower() if c.isalnum() else "_" for c in text]
    return "_".join(part for part in "".join(keep).split("_") if part)


# -- real data (tests/split/test_realdata.py) ----------------------------------------------------


def _codes(relative: str, column: str) -> set[str]:
    import csv

    with (REALDATA / relative).open(encoding="utf-8", newline="") as handle:
        return {row[column] for row in csv.DictReader(handle, delimiter=";")}


def _known_categories() -> KnownRefs:
    codes = _codes("akeneo/categories.csv", "code")

    def known(table: str, refs: Sequence[str]) -> Collection[str]:
        return {r for r in refs if r in codes}

    return known


def _known_models_and_categories() -> KnownRefs:
    models = _codes("akeneo/product_models.csv", "code")
    categories = _codes("akeneo/categories.csv", "code")

    def known(table: str, refs: Sequence[str]) -> Collection[str]:
        return {r for r in refs if r in (models if table == "products" else categories)}

    return known


def _real(name: str, connector: str, relative: str, landed: str, **kw: object) -> Case:
    return Case(
        name=name,
        origin=f"tests/split/test_realdata.py: {connector} on ../shared/realdata/{relative}",
        inputs=(Input(landed, realdata=relative),),
        connector_file=connector,
        realdata=True,
        **kw,  # type: ignore[arg-type]
    )


REALDATA_CASES = [
    _real("real_akeneo_categories", "akeneo_categories", "akeneo/categories.csv", "categories.csv"),
    _real(
        "real_akeneo_product_models_known",
        "akeneo_product_models",
        "akeneo/product_models.csv",
        "pm.csv",
        known=_known_categories,
    ),
    _real(
        "real_akeneo_product_models_unknown",
        "akeneo_product_models",
        "akeneo/product_models.csv",
        "pm.csv",
    ),
    _real(
        "real_akeneo_products",
        "akeneo_products",
        "akeneo/products.csv",
        "products.csv",
        known=_known_models_and_categories,
    ),
    _real(
        "real_akeneo_non_utf8",
        "akeneo_non_utf8",
        "akeneo/product_export_with_non_utf8_characters.csv",
        "broken.csv",
    ),
    _real(
        "real_prestashop_stores",
        "prestashop_stores",
        "prestashop/store_contacts.csv",
        "stores.csv",
    ),
    _real("real_starbucks", "starbucks_stores", "starbucks/directory.csv", "directory.csv"),
    _real("real_saleor", "saleor", "saleor/populatedb_data.json", "populatedb_data.json"),
]


# -- the malformed corpus (tests/split/test_malformed.py) ----------------------------------------


def _malformed_cases() -> list[Case]:
    from tests.split import test_malformed as corpus

    cases = []
    for item in corpus.CASES:
        cases.append(
            Case(
                name="malformed_" + _slug(item.name),
                origin=f"tests/split/test_malformed.py: {item.name!r}",
                inputs=(Input("export.bin", item.data),),
                connector_text=corpus._connector_yaml(item),
                # As the corpus runs them: rows in chunks of 2, errors with the default.
                chunk_rows=5_000 if item.error is not None else 2,
            )
        )
    return cases


# -- the hostile corpus (tests/adversarial/) -----------------------------------------------------


def _hostile_file_cases() -> list[Case]:
    from tests.adversarial import test_hostile_files as corpus

    return [
        Case(
            name="hostile_file_" + _slug(item.name),
            origin=f"tests/adversarial/test_hostile_files.py: {item.name!r}",
            inputs=(Input(item.file, item.data),),
            connector_text=corpus.CONNECTOR.format(file=item.file, format=item.format),
        )
        for item in corpus.CASES
    ]


def _hostile_rows_case() -> Case:
    from tests.adversarial import test_hostile_rows as corpus

    def export() -> bytes:
        text, _ = corpus._export(corpus.ROWS)
        return text.encode("utf-8")

    return Case(
        name="hostile_rows",
        origin="tests/adversarial/test_hostile_rows.py: every hostile row in one store export",
        inputs=(Input("stores_20261102.csv", export),),
        connector_text=corpus.CONNECTOR,
    )


# -- the hostile readers (tests/split/test_hostile_readers.py) -----------------------------------

_HEAD = """\
id: {id}
description: golden case
schedule: null
start_date: 2026-01-01
source: {{kind: http, conn_id: erp_http, endpoint: export}}
validation: {{max_reject_ratio: 1}}
"""


_DELETIONS = "target: {conn_id: saleslayer_default, deletions: {enabled: true}}\n"


def _head(case_id: str, extra: str = "") -> str:
    return _HEAD.format(id=case_id) + extra


_HOSTILE_FORMULAS = _head("hostile") + textwrap.dedent(
    """\
    format: {type: csv}
    tables:
      points_of_sale:
        reference: ref
        fields:
          qty: {column: qty, type: integer}
    """
)

_SKU_TABLE = """\
tables:
  products:
    reference: sku
    fields:
      name: name
      family: family
      price: {column: price, type: number}
      size: x
"""


def _deep_json() -> bytes:
    from tests.split import test_hostile_readers as hr

    deep_value = '{"sku": "B", "x": ' + hr.DEEP_OBJECT + "}"
    brackets_in_text = '{"sku": "C", "name": "' + "[" * 500 + '\\"{"}'
    doc = "\n".join(
        [
            '{"skipped": ' + hr.DEEP_LIST + ', "data": [',
            '{"sku": "A", "name": "a"},',
            hr.DEEP_LIST + ",",
            deep_value + ",",
            brackets_in_text + ",",
            "[" * (MAX_DEPTH + 1) + "]" * (MAX_DEPTH + 1) + ",",
            '{"sku": "D", "x": ' + "[" * (MAX_DEPTH - 1) + "]" * (MAX_DEPTH - 1) + "}",
            "]}",
        ]
    )
    return doc.encode()


def _deep_json_lines() -> bytes:
    from tests.split import test_hostile_readers as hr

    lines = [
        '{"sku": "A", "name": "a"}',
        hr.DEEP_LIST,
        '{"sku": "B", "x": ' + hr.DEEP_OBJECT + "}",
        '{"sku": "C"}',
    ]
    return ("\n".join(lines) + "\n").encode()


def _merged_book() -> bytes:
    from tests.split import test_hostile_readers as hr

    return hr._book(
        [
            ["sku", "name", "family", "price"],
            ["A1", "Shoe", "Shoes", 10],
            ["A2", "Boot", None, 12],
            ["A3", "Sock", None, "=D2*2"],
            ["A4", "Hat", "Hats", 5],
            ["A5", "=A4", None, None],
            ["A6", "Belt", None, 3],
            ["A7", "Cap", None, 4, "x"],
            ["A8", "Scarf", "Winter", 1],
            ["A9", "Glove", None, 2],
        ],
        ["C3:C4", "C5:C6", "C9:C10"],
    )


_JSON_SKUS = """\
tables:
  products:
    reference: sku
    fields:
      name: name
"""

HOSTILE_READER_CASES = [
    Case(
        name="hostile_readers_formulas_in_rejects",
        origin="tests/split/test_hostile_readers.py: test_split_rejects_csv_neutralises_formulas",
        inputs=(
            Input(
                "export.csv",
                b'ref,qty\nA,1\nB,"=HYPERLINK(""http://x"",""y"")"\n=1+1,@SUM(A1)\nC,-1.5\n',
            ),
        ),
        connector_text=_HOSTILE_FORMULAS,
    ),
    Case(
        name="hostile_readers_deep_json",
        origin="tests/split/test_hostile_readers.py: deep JSON records, through split_export",
        inputs=(Input("x.json", _deep_json),),
        connector_text=_head("deep_json", "format: {type: json, records_path: data}\n")
        + _JSON_SKUS,
    ),
    Case(
        name="hostile_readers_deep_json_lines",
        origin="tests/split/test_hostile_readers.py: deep JSON Lines, through split_export",
        inputs=(Input("x.jsonl", _deep_json_lines),),
        connector_text=_head("deep_jsonl", "format: {type: jsonl}\n") + _JSON_SKUS,
    ),
    Case(
        name="hostile_readers_xlsx_merged_and_formulas",
        origin="tests/split/test_hostile_readers.py: merged cells and uncomputed formulas, "
        "through split_export",
        inputs=(Input("x.xlsx", _merged_book),),
        connector_text=_head("merged", "format: {type: xlsx}\n" + _DELETIONS)
        + _SKU_TABLE.replace("      size: x\n", ""),
        chunk_rows=3,
    ),
]


# -- generated flat exports: every feature, and every reject code ---------------------------------


def _csv(rows: Sequence[Sequence[str]], delimiter: str = ";") -> bytes:
    import csv

    out = io.StringIO()
    csv.writer(out, delimiter=delimiter, lineterminator="\n").writerows(rows)
    return out.getvalue().encode("utf-8")


_FLAT = _head(
    "golden_flat", _DELETIONS + 'format: {type: csv, delimiter: ";"}\n'
) + textwrap.dedent(
    """\
    tables:
      categories:
        reference: path
        path: {column: path}
        fields:
          name: {column: cat, languages: [en, es]}
      products:
        reference: product
        where: [{column: kind, equals: [item, ITEM]}]
        categories: {column: path}
        links:
          brands: {column: brand, field: prod_brand}
        fields:
          title: {column: title, languages: [en, es], required: true}
          tags: {column: tags, separator: "|"}
          price: {column: price, type: number, transforms: [{parse_number: comma}]}
          status:
            column: status
            transforms: [{trim: true}, {case: lower}, {map: {active: "yes", inactive: "no"}}]
          origin: {constant: ERP}
      variants:
        reference: sku
        where: [{column: kind, equals: [item, ITEM]}]
        product: product
        fields:
          size: {column: size, enum: [S, M, L]}
          stock: {column: stock, type: integer, default: 0}
          launched: {column: launched, type: date, transforms: [{parse_date: "%d/%m/%Y"}]}
      brands:
        kind: custom_entity
        reference: brand
        where: [{column: kind, equals: brand}]
        fields:
          brand_name: {column: title_en, max_length: 10}
    """
)
_FLAT_COLUMNS = [
    "kind", "path", "cat_en", "cat_es", "product", "title_en", "title_es", "tags", "price",
    "status", "brand", "sku", "size", "stock", "launched",
]  # fmt: skip


def _flat_row(**cells: str) -> list[str]:
    good = {
        "kind": "item", "path": "Men > Tops", "cat_en": "Tops", "cat_es": "Camisetas",
        "product": "P1", "title_en": "Tee", "title_es": "Camiseta", "tags": "red|blue",
        "price": "1.234,5", "status": " Active ", "brand": "ACME", "sku": "S1", "size": "M",
        "stock": "10", "launched": "01/02/2026",
    }  # fmt: skip
    return [(good | cells)[c] for c in _FLAT_COLUMNS]


def _flat_a() -> bytes:
    rows = [
        _FLAT_COLUMNS,
        _flat_row(kind="brand", brand="ACME", title_en="Acme Corp"),
        _flat_row(kind="brand", brand="LONGBRAND", title_en="Much too long a name"),
        _flat_row(),
        _flat_row(sku="S2", size="L", stock=""),  # merges into P1, stock defaults to 0
        _flat_row(sku="S3", title_en="Shirt"),  # products: conflict on title_en
        _flat_row(
            path="Men > Bottoms",
            product="P2",
            title_en="Two\nlines",
            price="12,50",
            status="inactive",
            sku="S4",
            size="XL",
        ),
        _flat_row(path="Women", product="P3", status="unknown", sku="S5"),  # map
        _flat_row(path="Women", product="P4", brand="NOBRAND", sku="S6"),  # unknown brand
        _flat_row(product="P5", sku="S7", launched="2026-02-01"),  # date format
        _flat_row(product="", sku="S8"),  # no product reference
        _flat_row(path=" > ", product="P6", sku="S9"),  # category path of empty levels
        _flat_row(kind="note", product="N1", sku="N1"),  # feeds no table
        ["item", "Men", "short row"],  # field count: unreadable
        _flat_row(product="P7", tags="a, b|c", sku="S10"),  # list separator
        _flat_row(sku="S11", stock="1.5"),  # not a whole number
        _flat_row(kind="ITEM"),  # S1 again, identical: merged
        _flat_row(path="Men >  > Tops", product="P9", sku="S12"),  # empty level
    ]
    return _csv(rows)


def _flat_b() -> bytes:
    rows = [
        _FLAT_COLUMNS,
        _flat_row(sku="S20"),  # P1 again, from another file
        _flat_row(sku="S21", title_en="Polo"),  # conflict with line 4 of a.csv
        ["item", "Men", "P1", "too", "few"],
        _flat_row(path="Kids > Tops", product="P8", price="abc", sku="S22"),
        _flat_row(kind="brand", brand="ACME", title_en="Acme Corp"),
        _flat_row(path="Kids > Tops", product="P10", price="1.234", sku="S23"),  # ambiguous
    ]
    return _csv(rows)


_TREE = _head("golden_tree", _DELETIONS + "format: {type: csv}\n") + textwrap.dedent(
    """\
    tables:
      categories:
        reference: code
        parent: parent
        on_duplicate: reject
        where: [{column: type, equals: category}]
        fields:
          title: {column: title, required: true}
      products:
        reference: sku
        on_duplicate: first
        where: [{column: type, equals: product}]
        categories: {column: cats, separator: ","}
        fields:
          name: name
    """
)


def _tree() -> bytes:
    rows = [
        ["type", "code", "parent", "title", "sku", "name", "cats"],
        ["category", "ROOT", "", "Root", "", "", ""],
        ["category", "A", "B", "A", "", "", ""],
        ["category", "B", "C", "B", "", "", ""],
        ["category", "C", "A", "C", "", "", ""],
        ["category", "D", "A", "D", "", "", ""],
        ["category", "E", "E", "E", "", "", ""],
        ["category", "F", "root", "F", "", "", ""],
        ["category", "G", "\uff32\uff2f\uff2f\uff34", "G", "", "", ""],
        ["category", "H", "OLD", "H", "", "", ""],
        ["category", "I", "NOPE", "I", "", "", ""],
        ["category", "DUP", "ROOT", "x1", "", "", ""],
        ["category", "DUP ", "ROOT", "x2", "", "", ""],
        ["category", "J", "ROOT", "", "", "", ""],
        ["category", "K", "DUP", "K", "", "", ""],
        ["category", "K\u200b", "ROOT", "K", "", "", ""],
        ["product", "", "", "", "P1", "One", "ROOT,H,OLD"],
        ["product", "", "", "", "P2", "Two", "D"],
        ["product", "", "", "", "P3", "Three", "MISSING,ROOT"],
        ["product", "", "", "", "P1", "One again", "ROOT"],
        ["product", "", "", "", "P4", "Four", "ROOT,X\u200b"],
        ["product", "", "", "", "P5\u00a0", "Five", "ROOT"],
        ["product", "", "", "", "P5", "Five again", "ROOT"],
        ["product", "", "", "", "X" * 513, "Long", "ROOT"],
        ["product", "", "", "", "P6", "Six", " ROOT , , H "],
        ["other", "", "", "", "", "", ""],
    ]
    return _csv(rows, ",")


def _known_old() -> KnownRefs:
    def known(table: str, refs: Sequence[str]) -> Collection[str]:
        return {r for r in refs if r == "OLD"}

    return known


_JSON = _head("golden_json", "format: {type: json, records_path: payload.items}\n") + (
    textwrap.dedent(
        """\
        tables:
          categories:
            reference: id
            where: [{column: model, equals: category}]
            parent: parent
          products:
            reference: id
            where: [{column: model, equals: product}]
            categories: {column: cats}
            fields:
              name: {column: info.name, required: true}
              tags: {column: tags, separator: ","}
              price: {column: price, type: number}
              flag: {column: flag, type: boolean}
              meta: info.meta
          variants:
            reference: id
            where: [{column: model, equals: variant}]
            product: product
            fields:
              qty: {column: qty, type: integer}
        """
    )
)


def _json_doc() -> bytes:
    records = [
        '{"model": "category", "id": "C1", "parent": null}',
        '{"model": "category", "id": 2, "parent": "C1"}',
        '{"model": "category", "id": 3.0, "parent": 2}',
        '{"model": "product", "id": 10, "cats": ["C1", "3"], "info": {"name": "Ten", '
        '"meta": {"a": 1.5, "b": [1, 2E0], "c": "\u00e9"}}, "tags": ["x", "y"], "price": 12.50, '
        '"flag": true}',
        '{"model": "product", "id": 1.5, "info": {"name": "x"}}',
        '{"model": "product", "id": true, "info": {"name": "t"}}',
        '{"model": "product", "id": {"a": 1}, "info": {"name": "o"}}',
        '{"model": "product", "id": "P11", "info": {"name": ""}, "price": 1E+2}',
        '{"model": "product", "id": "P12", "info": {"name": "Twelve"}, "tags": ["a,b"]}',
        '{"model": "product", "id": "P13", "info": {"name": "n"}, "price": "1e400"}',
        '{"model": "product", "id": "P14", "info": {"name": "f"}, "flag": "maybe"}',
        '{"model": "product", "id": "P15", "info": {"name": "p", "meta": [1, {"k": null}]}, '
        '"price": 0.1, "flag": "yes", "cats": "C1"}',
        '{"model": "variant", "id": "V1", "product": 10, "qty": 3}',
        '{"model": "variant", "id": "V2", "product": null}',
        '{"model": "variant", "id": "V3", "product": "P11", "qty": 9007199254740993}',
        '{"model": "variant", "id": "V4", "product": 10, "qty": 18446744073709551616}',
        '{"model": "variant", "id": "V5", "product": 10, "qty": "7"}',
        "42",
        '{"model": "other", "id": "O1"}',
    ]
    return ('{"payload": {"count": 19, "items": [\n' + ",\n".join(records) + "\n]}}").encode()


_JSONL = _head("golden_jsonl", _DELETIONS + "format: {type: jsonl}\n") + textwrap.dedent(
    """\
    tables:
      points_of_sale:
        reference: code
        where: [{column: closed, empty: true}]
        fields:
          name: {column: name, transforms: [{case: title}]}
          opened: {column: opened, type: datetime}
          site: {column: site, type: url}
          note: {column: note, default: none}
    """
)


def _jsonl() -> bytes:
    lines = [
        b'{"code": "S1", "name": "main street", "opened": "2026-01-02T10:00:00", '
        b'"site": "https://shop.example.com/s1", "closed": null, "note": "x"}',
        b'{"code": "S2", "name": "closed one", "closed": true}',
        b'{"code": "S3", "name": "bad date", "opened": "yesterday"}',
        b'{"code": "S4", "name": "bad url", "site": "ftp://x"}',
        b'{"code": "S5", "name": ',
        b'{"code": "S6", "name": "caf\xe9"}',
        b"[1, 2]",
        b"",
        b'{"code": "S7", "name": "empty closed", "closed": ""}',
        b'{"code": " S1 ", "name": "again"}',
    ]
    return b"\n".join(lines) + b"\n"


_XLSX = _head("golden_xlsx", "format: {type: xlsx, sheet: Stock, skip_lines: 1}\n") + (
    textwrap.dedent(
        """\
        tables:
          products:
            reference: ref
            fields:
              name: {column: name, languages: [en, fr]}
              price: {column: price, type: number}
              qty: {column: qty, type: integer}
              since: {column: since, type: date}
              active: {column: active, type: boolean}
              color: {column: color, enum: [red, blue]}
        """
    )
)


def _workbook() -> bytes:
    from datetime import datetime

    from openpyxl import Workbook

    book = Workbook()
    first = book.active
    assert first is not None
    first.title = "Notes"
    first.append(["not this sheet"])
    sheet = book.create_sheet("Stock")
    rows: list[list[object]] = [
        ["Exported by the ERP"],
        ["ref", "name_en", "name_fr", "price", "qty", "since", "active", "color"],
        ["A1", "Shoe", "Chaussure", 10.5, 3, datetime(2026, 1, 2), True, "red"],
        ["A2", "Boot", None, 0.1 + 0.2, 2.0, datetime(2026, 1, 3, 12, 30), False, "blue"],
        ["A3", "Sock", "Chaussette", 1, 2.5, None, None, None],
        ["A4", "Hat", None, None, None, None, None, "green"],
        ["A5", "Belt", None, None, None, "not a date", None, None],
        [None, None, None, None, None, None, None, None],
        [12345, "Numbered", None, "1e3", "7", "2026-03-04", "yes", None],
        ["A6", "Scarf", None, None, None, None, "maybe", None],
    ]
    for row in rows:
        sheet.append(row)
    out = io.BytesIO()
    book.save(out)
    return out.getvalue()


def _huge_cell() -> bytes:
    from saleslayer_airflow.readers.csv import FIELD_SIZE_LIMIT

    return b"ref,name\nA,a\nB," + b"x" * (FIELD_SIZE_LIMIT + 1) + b"\nC,c\n"


_NAMED = _head("golden_named", "").replace(
    "source: {kind: http, conn_id: erp_http, endpoint: export}",
    "source:\n  kind: sftp\n  conn_id: erp_sftp\n"
    "  files: {categories: /out/cat.csv, products: /out/prod.csv, extra: /out/extra.csv, "
    "other: /out/other.csv}",
) + textwrap.dedent(
    """\
    format: {type: csv}
    tables:
      categories:
        reference: ref
        parent: parent
        file: categories
        fields:
          title: title
      products:
        reference: sku
        file: [products, extra]
        categories: category
        fields:
          name: name
    """
)

GENERATED_CASES = [
    Case(
        name="generated_flat_two_files",
        origin="generated here: a flat export in two files feeding four tables (path, languages, "
        "lists, transforms, constants, links, where, merge and conflicts, deletions on)",
        inputs=(Input("a.csv", _flat_a), Input("b.csv", _flat_b)),
        connector_text=_FLAT,
        chunk_rows=3,
    ),
    Case(
        name="generated_tree_and_duplicates",
        origin="generated here: a category tree (cycles, look-alikes, unknown and known parents, "
        "on_duplicate reject) and products (on_duplicate first, category lists)",
        inputs=(Input("tree.csv", _tree),),
        connector_text=_TREE,
        known=_known_old,
        chunk_rows=4,
    ),
    Case(
        name="generated_json_records",
        origin="generated here: a JSON document (records_path, nested paths, JSON numbers as "
        "references, lists, objects as text, exact numbers)",
        inputs=(Input("export.json", _json_doc),),
        connector_text=_JSON,
    ),
    Case(
        name="generated_json_lines",
        origin="generated here: JSON Lines (empty filter, datetimes, URLs, broken lines)",
        inputs=(Input("export.jsonl", _jsonl),),
        connector_text=_JSONL,
        chunk_rows=2,
    ),
    Case(
        name="generated_xlsx_workbook",
        origin="generated here: a workbook (named sheet, skip_lines, typed cells, languages)",
        inputs=(Input("stock.xlsx", _workbook),),
        connector_text=_XLSX,
    ),
    Case(
        name="generated_cell_too_large",
        origin="generated here: a CSV cell over the reader's field size limit",
        inputs=(Input("big.csv", _huge_cell),),
        connector_text=_head("golden_big", "format: {type: csv}\n")
        + "tables:\n  points_of_sale:\n    reference: ref\n    fields:\n      name: name\n",
    ),
    Case(
        name="generated_named_files",
        origin="generated here: tables reading only the files their `file:` names",
        inputs=(
            Input("cat.csv", b"ref,parent,title\nC1,,Shirts\nC2,C1,Oxford\n", file="categories"),
            Input(
                "prod.csv", b"sku,name,category\nP1,Oxford shirt,C2\nP2,Tee,C9\n", file="products"
            ),
            Input("extra.csv", b"sku,name,category\nP3,Sock,C1\n", file="extra"),
            Input("other.csv", b"whatever,else\n1,2\n", file="other"),
        ),
        connector_text=_NAMED,
    ),
]


def all_cases() -> list[Case]:
    """Every golden case, in a stable order; names are unique."""
    cases = [
        *REALDATA_CASES,
        *_malformed_cases(),
        *_hostile_file_cases(),
        _hostile_rows_case(),
        *HOSTILE_READER_CASES,
        *GENERATED_CASES,
    ]
    names = [c.name for c in cases]
    doubled = sorted({n for n in names if names.count(n) > 1})
    if doubled:
        raise ValueError(f"golden case names must be unique: {doubled}")
    return cases
