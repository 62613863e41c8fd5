"""A corpus of malformed inputs: each gives the expected rejects or one clear error, never a crash,
and never a row lost without a trace (the balance is checked by ``run_split`` for every table)."""

from __future__ import annotations

import io
import re
import textwrap
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

import pytest

from saleslayer_airflow.mapping.errors import MappingError
from saleslayer_airflow.readers.errors import SourceFileError
from tests.split.conftest import connector_text, run_split

CSV = '{type: csv, delimiter: ",", encoding: auto}'
POS = """\
  points_of_sale:
    reference: ref
    fields:
      name: {column: name, required: true}
      qty: {column: qty, type: integer}
"""
FLAT = """\
  categories:
    reference: path
    path: {column: path}
  products:
    reference: product
    categories: {column: path}
    fields:
      title: title
  variants:
    reference: sku
    product: product
    fields:
      size: size
"""
JPOS = """\
  points_of_sale:
    reference: ref
    fields:
      name: name
"""
TREE = """\
  categories:
    reference: code
    parent: parent
"""


def one_field(spec: str) -> str:
    """A points-of-sale table with reference ``ref`` and one field."""
    return f"  points_of_sale:\n    reference: ref\n    fields:\n      {spec}\n"


def _xlsx(rows: list[list[object]], sheet: str = "Export") -> bytes:
    from openpyxl import Workbook

    book = Workbook()
    ws = book.active
    ws.title = sheet
    for row in rows:
        ws.append(row)
    out = io.BytesIO()
    book.save(out)
    return out.getvalue()


@dataclass
class Case:
    name: str
    data: bytes | Callable[[], bytes]
    tables: str = POS
    fmt: str = CSV
    error: str | None = None  # a regex the error message must match
    rejects: list[tuple[int, str, str]] = field(default_factory=list)  # line, table, reason regex
    out: dict[str, int] | None = None


BIG = "x" * (10 * 1024 * 1024)
CASES = [
    Case("empty file", b"", error=r"the file is empty: no header row"),
    Case("header only", b"ref,name,qty\n", out={"points_of_sale": 0}),
    Case("header and blank lines", b"ref,name,qty\n\n\n", out={"points_of_sale": 0}),
    Case(
        "unterminated quote",
        b'ref,name,qty\nA,ok,1\nB,"never closed,2\nC,c,3\n',
        rejects=[
            (
                3,
                "points_of_sale",
                r"opened in the record starting on line 3 is never closed.*lines 3-4",
            )
        ],
        out={"points_of_sale": 1},
    ),
    Case(
        "wrong delimiter",
        b"ref;name;qty\nA;a;1\n",
        error=r"column 'ref' is not in the file.*probably delimited by ';'",
    ),
    Case(
        "missing header row",
        b"A,a,1\nB,b,2\n",
        error=r"column 'ref' is not in the file.*The file's columns are: 'A', 'a', '1'",
    ),
    Case(
        "duplicate mapped column name",
        b"ref,name,name,qty\nA,a,b,1\n",
        error=r"column 'name' appears 2 times in the header \(positions 2, 3\)",
    ),
    Case(
        "duplicate column name that is not mapped",
        b"ref,name,qty,x,x\nA,a,1,p,q\n",
        out={"points_of_sale": 1},
    ),
    Case(
        "column differs only in case",
        b"ref,Name,qty\nA,a,1\n",
        error=r"column 'name' is not in the file \(did you mean 'Name'\?",
    ),
    Case(
        "UTF-8 BOM but declared cp1252",
        b"\xef\xbb\xbfref,name,qty\nA,a,1\n",
        fmt="{type: csv, encoding: cp1252}",
        error=r"starts with a UTF-8 byte-order mark but format.encoding is 'cp1252'",
    ),
    Case(
        "UTF-8 BOM then cp1252 bytes",
        b"\xef\xbb\xbfref,name,qty\nA,caf\xe9,1\nB,b,2\n",
        rejects=[(2, "points_of_sale", r"not valid utf-8 \(\\xe9\)")],
        out={"points_of_sale": 1},
    ),
    Case(
        "NUL byte",
        b"ref,name,qty\nA,a\x00b,1\nB,b,2\n",
        rejects=[(2, "points_of_sale", r"NUL byte")],
        out={"points_of_sale": 1},
    ),
    Case(
        "too many fields",
        b"ref,name,qty\nA,a,1,extra\nB,b,2\n",
        rejects=[(2, "points_of_sale", r"has 4 fields but the header has 3")],
        out={"points_of_sale": 1},
    ),
    Case(
        "too few fields",
        b"ref,name,qty\nA,a\nB,b,2\n",
        rejects=[(2, "points_of_sale", r"has 2 fields but the header has 3")],
        out={"points_of_sale": 1},
    ),
    Case(
        "invalid UTF-8 when declared UTF-8",
        b"ref,name,qty\nA,a,1\nB,\xff\xfe,2\n",
        fmt="{type: csv, encoding: utf-8}",
        rejects=[(3, "points_of_sale", r"not valid utf-8")],
        out={"points_of_sale": 1},
    ),
    Case("cp1252 detected", b"ref,name,qty\nA,caf\xe9,1\n", out={"points_of_sale": 1}),
    Case(
        "multi-line cell keeps later line numbers right",
        b'ref,name,qty\nA,"two\nlines",1\nB,b,x\n',
        rejects=[(4, "points_of_sale", r"'x' is not a number")],
        out={"points_of_sale": 1},
    ),
    Case("CRLF line ends", b"ref,name,qty\r\nA,a,1\r\nB,b,2\r\n", out={"points_of_sale": 2}),
    Case(
        "empty reference",
        b"ref,name,qty\n,a,1\nB,b,2\n",
        rejects=[(2, "points_of_sale", r"the reference is empty")],
        out={"points_of_sale": 1},
    ),
    Case(
        "required field empty",
        b"ref,name,qty\nA,,1\n",
        rejects=[(2, "points_of_sale", r"field 'name': a required field is empty")],
        out={"points_of_sale": 0},
    ),
    Case(
        "not an integer",
        b"ref,name,qty\nA,a,1.5\n",
        rejects=[(2, "points_of_sale", r"'1.5' is not a whole number")],
    ),
    Case(
        "duplicate reference, first wins",
        b"ref,name,qty\nA,a,1\nA,b,2\n",
        rejects=[(3, "points_of_sale", r"repeats the one on line 2, which is kept")],
        out={"points_of_sale": 1},
    ),
    Case(
        "duplicate reference, reject all",
        b"ref,name,qty\nA,a,1\nB,b,1\nA,c,2\n",
        tables=POS.replace(
            "    reference: ref\n", "    reference: ref\n    on_duplicate: reject\n"
        ),
        rejects=[
            (2, "points_of_sale", r"appears on 2 rows"),
            (4, "points_of_sale", r"repeats the one on line 2"),
        ],
        out={"points_of_sale": 1},
    ),
    Case(
        "10 MB single cell over max_length",
        b"ref,name,qty\nA," + BIG.encode() + b",1\nB,b,2\n",
        tables=POS.replace("required: true}", "required: true, max_length: 255}"),
        rejects=[
            (2, "points_of_sale", r"10,485,760 characters long; the field allows at most 255")
        ],
        out={"points_of_sale": 1},
    ),
    Case(
        "10 MB cell in an unmapped column",
        b"ref,name,qty,notes\nA,a,1," + BIG.encode() + b"\n",
        out={"points_of_sale": 1},
    ),
    Case(
        "a flat export feeding four tables",
        b"path,product,title,sku,size\nMen,P1,Tee,S1,M\n",
        tables=FLAT + "\n  orphans:\n    kind: custom_entity\n    reference: sku\n",
        out={"categories": 1, "products": 1, "variants": 1, "orphans": 1},
    ),
    Case(
        "variant row without its product in the table",
        b"path,product,title,sku,size\nMen,P1,Tee,S1,M\nMen,P2,,S2,L\n",
        tables=FLAT.replace("      title: title", "      title: {column: title, required: true}"),
        rejects=[
            (3, "products", r"required field is empty"),
            (3, "variants", r"its product 'P2' was rejected"),
        ],
        out={"categories": 1, "products": 1, "variants": 1},
    ),
    Case(
        "variant of a product in no table at all",
        b"sku,product\nS1,P404\n",
        tables="  variants:\n    reference: sku\n    product: product\n",
        rejects=[(2, "variants", r"its product 'P404' is neither in this import nor imported")],
        out={"variants": 0},
    ),
    Case(
        "category cycle, and a child of the cycle",
        b"code,parent\nroot,\nA,B\nB,A\nC,A\n",
        tables=TREE,
        rejects=[
            (3, "categories", r"parent cycle: 'A' -> 'B' -> 'A'"),
            (4, "categories", r"parent cycle"),
            (5, "categories", r"its parent category 'A' was rejected"),
        ],
        out={"categories": 1},
    ),
    Case(
        "category that is its own parent",
        b"code,parent\nA,A\n",
        tables=TREE,
        rejects=[(2, "categories", r"parent cycle: 'A' -> 'A'")],
        out={"categories": 0},
    ),
    Case(
        "unknown parent category",
        b"code,parent\nA,\nB,Z\n",
        tables=TREE,
        rejects=[(3, "categories", r"parent category 'Z' is neither in this import")],
    ),
    Case(
        "parent differs in case",
        b"code,parent\nShoes,\nB,shoes\n",
        tables=TREE,
        rejects=[(3, "categories", r"'Shoes' is: references are case-sensitive")],
    ),
    Case(
        "enumeration",
        b"ref,kind\nA,CO\nB,XX\n",
        tables=one_field("kind: {column: kind, enum: [CO, LS]}"),
        rejects=[(3, "points_of_sale", r"'XX' is not one of the allowed values: CO, LS")],
    ),
    Case(
        "comma inside a list value",
        b'ref,tags\nA,red|dark blue\nB,"red|blue, navy"\n',
        tables=one_field("tags: {column: tags, separator: '|'}"),
        rejects=[(3, "points_of_sale", r"holds a comma, which Sales Layer reads as a separator")],
    ),
    Case(
        "bad quoting inside a line",
        b'ref,name,qty\nA,"a"b,1\nB,b,2\n',
        rejects=[(2, "points_of_sale", r"not valid CSV")],
        out={"points_of_sale": 1},
    ),
    Case(
        "skip_lines beyond the file",
        b"only one line\n",
        fmt="{type: csv, skip_lines: 5}",
        error=r"fewer than format.skip_lines=5 lines",
    ),
    Case(
        "skip_lines and no header",
        b"exported 2026-11-01\nA,a,1\nB,b,x\n",
        fmt="{type: csv, skip_lines: 1, header: false}",
        tables=POS.replace("reference: ref", "reference: col_1")
        .replace("column: name", "column: col_2")
        .replace("column: qty", "column: col_3"),
        rejects=[(3, "points_of_sale", r"'x' is not a number")],
        out={"points_of_sale": 1},
    ),
    Case(
        "broken JSON document",
        b'[\n {"ref": "A", "name": "a"},\n {"ref": "B", "name": }\n]\n',
        tables=JPOS,
        fmt="{type: json}",
        error=r":3: invalid JSON: Expecting value",
    ),
    Case(
        "JSON records path missing",
        b'{"data": {"things": []}}',
        fmt="{type: json, records_path: data.items}",
        error=r"records_path 'data.items': no key 'items'",
    ),
    Case(
        "JSON record that is not an object",
        b'{"data": [{"ref": "A", "name": "a"}, 42]}',
        tables=JPOS,
        fmt="{type: json, records_path: data}",
        rejects=[(1, "points_of_sale", r"is a JSON number, not an object")],
        out={"points_of_sale": 1},
    ),
    Case(
        "JSON mapped path in no record",
        b'[{"ref": "A", "nom": "a"}]',
        fmt="{type: json}",
        tables=one_field("name: name"),
        error=r"mapped path\(s\) 'name' occur in none of the 1 records",
    ),
    Case(
        "JSON Lines with a broken line",
        b'{"ref": "A", "name": "a"}\n{"ref": "B", "name": \n{"ref": "C", "name": "c"}\n',
        tables=JPOS,
        fmt="{type: jsonl}",
        rejects=[(2, "points_of_sale", r"not valid JSON")],
        out={"points_of_sale": 2},
    ),
    Case(
        "JSON Lines with invalid UTF-8",
        b'{"ref": "A", "name": "a"}\n{"ref": "B", "name": "\xff"}\n',
        tables=JPOS,
        fmt="{type: jsonl}",
        rejects=[(2, "points_of_sale", r"not valid UTF-8")],
        out={"points_of_sale": 1},
    ),
    Case(
        "conflicting product rows in a flat export",
        b"path,product,title,sku,size\nMen,P1,Tee,S1,M\nMen,P1,Shirt,S2,L\nMen,P1,Tee,S3,S\n",
        tables=FLAT,
        rejects=[
            (
                3,
                "products",
                r"rows of 'P1' disagree on 'title': this row has 'Shirt', line 2 has 'Tee'",
            )
        ],
        out={"categories": 1, "products": 1, "variants": 3},
    ),
    Case(
        "category path with an empty level",
        b"path,product,title,sku,size\nMen >  > Tops,P1,Tee,S1,M\n",
        tables=FLAT,
        rejects=[
            (2, "categories", r"empty level"),
            (2, "products", r"its category 'Men >  > Tops' was rejected"),
            (2, "variants", r"its product 'P1' was rejected"),
        ],
        out={"categories": 0, "products": 0, "variants": 0},
    ),
    Case(
        "workbook sheet missing",
        lambda: _xlsx([["ref", "name", "qty"], ["A", "a", 1]]),
        fmt="{type: xlsx, sheet: Stock}",
        error=r"format.sheet 'Stock' does not exist; the sheets are \['Export'\]",
    ),
    Case(
        "workbook with a bad number",
        lambda: _xlsx(
            [["ref", "name", "qty"], ["A", "a", 1], ["B", "b", "lots"], [None, None, None]]
        ),
        fmt="{type: xlsx, sheet: Export}",
        rejects=[(3, "points_of_sale", r"'lots' is not a number")],
        out={"points_of_sale": 1},
    ),
    Case(
        "date in the wrong format",
        b"ref,since\nA,01/02/2026\nB,2026-02-01\n",
        tables=one_field(
            "since: {column: since, type: date, transforms: [{parse_date: '%d/%m/%Y'}]}"
        ),
        rejects=[(3, "points_of_sale", r"'2026-02-01' does not match the date format")],
    ),
    Case(
        "value missing from a value map",
        b"ref,stock\nA,Y\nB,maybe\n",
        tables=one_field(
            "stock: {column: stock, type: boolean, transforms: [{map: {Y: true, N: false}}]}"
        ),
        rejects=[(3, "points_of_sale", r"'maybe' is not in the field's value map")],
    ),
    Case(
        "not a URL",
        b"ref,image\nA,https://cdn.example.com/a.jpg\nB,a.jpg\n",
        tables=one_field("image: {column: image, type: url}"),
        rejects=[(3, "points_of_sale", r"'a.jpg' is not a public http\(s\) URL")],
    ),
]


def _connector_yaml(case: Case) -> str:
    return (
        textwrap.dedent(
            """\
        id: corpus
        description: malformed input corpus
        schedule: null
        start_date: 2026-01-01
        source: {kind: http, conn_id: erp_http, endpoint: export}
        validation: {max_reject_ratio: 1}
        """
        )
        + f"format: {case.fmt}\ntables:\n{case.tables}"
    )


def test_corpus_is_large_enough() -> None:
    assert len(CASES) >= 30


@pytest.mark.parametrize("case", CASES, ids=[c.name for c in CASES])
def test_malformed_input(case: Case, tmp_path: Path) -> None:
    config = connector_text(_connector_yaml(case))
    data = case.data() if callable(case.data) else case.data
    landed = tmp_path / "export.bin"
    landed.write_bytes(data)
    if case.error is not None:
        with pytest.raises((SourceFileError, MappingError)) as caught:
            run_split(config, [(landed, "export.bin")], tmp_path / "work")
        assert re.search(case.error, str(caught.value), re.S), str(caught.value)
        return
    out = run_split(config, [(landed, "export.bin")], tmp_path / "work", chunk_rows=2)
    got = [(int(r["line"]), r["table"], r["reason"]) for r in out.rejects]
    assert len(got) == len(case.rejects), got
    for (line, table, reason), (want_line, want_table, pattern) in zip(
        got, case.rejects, strict=True
    ):
        assert (line, table) == (want_line, want_table), got
        assert re.search(pattern, reason), reason
        assert all(r["source_file"] == "export.bin" for r in out.rejects)
    if case.out is not None:
        assert {k: len(v) for k, v in out.tables.items()} == case.out
    # Nothing lost: every row a table received is out, merged or rejected.
    for key, counts in out.result.tables.items():
        rows_in = counts.rows_out + counts.merged + counts.rejected
        assert counts.rows_in == rows_in, key
