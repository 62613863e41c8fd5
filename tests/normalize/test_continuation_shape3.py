"""Shape 3 of issue 13: continuation rows (a Shopify products CSV). The first row of a Handle
carries the product, the rows after it repeat only the Handle plus a variant and/or an image.

With `continuation: {key: Handle}` the group's empty cells take its first row's values, so
`required` holds on the merged item; an image-only row gives the variants table nothing (counted,
not rejected) and its image still goes to the product. Expected values come from the raw file
(tests/normalize/shopify_export.py, csv module only).
"""

from __future__ import annotations

import csv
import io
import textwrap
from decimal import Decimal
from pathlib import Path

import pytest

from saleslayer_airflow.config import parse_connector
from saleslayer_airflow.config.models import ConnectorConfig
from saleslayer_airflow.exceptions import ConnectorConfigError
from saleslayer_airflow.mapping.plan import build_plans
from saleslayer_airflow.normalize.engine import split_export
from saleslayer_airflow.normalize.mapping import CONTINUED_WITHOUT_REFERENCE
from saleslayer_airflow.normalize.results import LandedFile
from tests.normalize import shopify_export as shop
from tests.split.conftest import Outcome, run_split

HEAD = textwrap.dedent(
    """\
    id: shop
    description: Shopify products CSV
    schedule: null
    start_date: 2026-01-01
    source: {kind: http, conn_id: erp_http, endpoint: export}
    validation: {max_reject_ratio: 1}
    format: {type: csv, delimiter: ",", encoding: auto}
    """
)


def config(tables: str = shop.TABLES) -> ConnectorConfig:
    return parse_connector(HEAD + tables, "shop.yaml")


def split(tmp_path: Path, text: str, tables: str = shop.TABLES, chunk_rows: int = 5_000) -> Outcome:
    tmp_path.mkdir(parents=True, exist_ok=True)
    landed = tmp_path / "products_export.csv"
    landed.write_text(text, encoding="utf-8", newline="")
    return run_split(
        config(tables), [(landed, "products_export.csv")], tmp_path / "work", chunk_rows=chunk_rows
    )


def number(text: str) -> str:
    """A price as the number type stages it (canonical decimal text)."""
    value = Decimal(text).normalize()
    return f"{value:f}"


def by_reference(rows: list[dict[str, object]]) -> dict[str, dict[str, object]]:
    return {str(row["reference"]): row for row in rows}


def test_shopify_groups_import_as_products_and_variants(tmp_path: Path) -> None:
    text = shop.export_text()
    out = split(tmp_path, text)
    rows = shop.rows_of(text)
    products = shop.expected_products(text)
    variants = shop.expected_variants(text)

    got = by_reference(out.tables["products"])
    assert set(got) == set(products)
    for handle, want in products.items():
        assert {k: got[handle][k] for k in want} == want, handle
    got_v = by_reference(out.tables["variants"])
    assert set(got_v) == set(variants)
    for sku, want in variants.items():
        row = got_v[sku]
        assert row["_product_ref"] == want["product"]
        assert row["option"] == want["option"], sku  # filled from the group's first row
        assert row["value"] == want["value"]
        assert row["price"] == number(str(want["price"]))
        assert row["barcode"] == want["barcode"], sku  # never filled: `fill` names Option1 Name

    assert out.rejects == []
    counts = out.result.tables
    assert counts["products"].rows_in == len(rows)
    assert counts["products"].merged == len(rows) - len(products)
    # Image-only rows feed the products only: counted for the variants table, not rejected.
    skipped = shop.image_only_rows(text)
    assert skipped == 3
    assert counts["variants"].rows_in == len(rows) - skipped == len(variants)
    assert counts["variants"].rejected == 0
    ignored = out.result.ignored
    assert ignored.counts[f"variants: {CONTINUED_WITHOUT_REFERENCE}"] == skipped
    # each listed with its line (ignored.csv), the first row of its group being elsewhere
    image_only = [
        line
        for index, (line, row) in enumerate(record_lines(text))
        if not row[8] and index and record_lines(text)[index - 1][1][0] == row[0]
    ]
    listed = [(file, line, table) for file, line, table, _ in ignored.rows if table == "variants"]
    assert listed == [("products_export.csv", line, "variants") for line in image_only]
    assert all("no 'Variant SKU'" in why for *_, why in ignored.rows)


def test_without_continuation_the_same_export_is_rejected_row_by_row(tmp_path: Path) -> None:
    """Today's behaviour, kept when the option is off: `required` is checked on each row, an
    image-only row is a variant without a reference, and the images conflict."""
    tables = (
        shop.TABLES.replace("    continuation: {key: Handle}\n", "")
        .replace("    continuation: {key: Handle, fill: [Option1 Name]}\n", "")
        .replace(", collect: true", "")
    )
    text = shop.export_text()
    out = split(tmp_path, text, tables)
    reasons = [(r["table"], code(r["reason"])) for r in out.rejects]
    continuation_rows = sum(len(g.rows) - 1 for g in shop.groups(text))
    assert reasons.count(("products", "required")) == continuation_rows
    assert reasons.count(("variants", "no_reference")) == shop.image_only_rows(text)
    # variants after the first: their Option1 Name is blank and required
    assert reasons.count(("variants", "required")) == 3


def code(reason: str) -> str:
    """The kind of a reject, from its reason (the rejects file has no code column)."""
    if "required field" in reason:
        return "required"
    if "reference is empty" in reason:
        return "no_reference"
    return "conflict" if reason.startswith("conflict:") else reason


@pytest.mark.parametrize("batch_rows", [1, 2, 3, 5])
def test_groups_run_across_batches(tmp_path: Path, batch_rows: int) -> None:
    """Readers hand batches; a group cut by a batch boundary fills from the carried first row."""
    text = shop.export_text()
    landed = tmp_path / "products_export.csv"
    landed.write_text(text, encoding="utf-8", newline="")
    files = [LandedFile(landed, "products_export.csv")]
    whole = split_export(config(), files, tmp_path / "whole")
    cut = split_export(config(), files, tmp_path / "cut", batch_rows=batch_rows, chunk_rows=1)
    assert cut.tables == whole.tables
    for key in whole.paths:
        assert whole.paths[key].read_bytes() == cut.paths[key].read_bytes(), key
    assert cut.rejects == 0


def test_a_group_is_contiguous_and_a_blank_key_groups_nothing(tmp_path: Path) -> None:
    """The same Handle further down starts a new group (filled from its own first row); a row
    with a blank key continues nothing: its blank Title is rejected as required."""
    tables = textwrap.dedent(
        """\
        tables:
          products:
            reference: ref
            continuation: {key: Handle}
            fields:
              title: {column: Title, required: true}
        """
    )
    text = "Handle,ref,Title\nh1,P1,Tee\nh1,P2,\nh2,P3,Mug\nh1,P4,\n,P5,\nh1,P6,Cap\nh1,P7,\n"
    out = split(tmp_path, text, tables)
    titles = {r["reference"]: r["title"] for r in out.tables["products"]}
    assert titles == {"P1": "Tee", "P2": "Tee", "P3": "Mug", "P6": "Cap", "P7": "Cap"}
    assert [(r["line"], r["reference"], code(r["reason"])) for r in out.rejects] == [
        ("5", "P4", "required"),  # h1 again after h2: a new group, its first row blank
        ("6", "P5", "required"),
    ]


def test_filters_see_the_filled_cells(tmp_path: Path) -> None:
    """A continuation row is judged by a table's `where:` on its filled cells: an image row of
    a product of the wanted type feeds that product."""
    tables = textwrap.dedent(
        """\
        tables:
          products:
            reference: Handle
            continuation: {key: Handle}
            where: [{column: Type, equals: Mugs}]
            fields:
              title: {column: Title, required: true}
              images: {column: Image Src, separator: ",", collect: true}
        """
    )
    text = shop.export_text()
    out = split(tmp_path, text, tables)
    mugs = [g for g in shop.groups(text) if g.first["Type"] == "Mugs"]
    assert [r["reference"] for r in out.tables["products"]] == [g.handle for g in mugs]
    assert out.result.tables["products"].rows_in == sum(len(g.rows) for g in mugs)


def test_a_group_whose_first_row_lacks_the_required_value_is_rejected(tmp_path: Path) -> None:
    """`required` holds on the merged item: when the group's first row has no Title, no row
    gives one, and the item is rejected at its first row's line, with every row merged into it
    (counted as rejected, each one)."""
    rows = [list(r) for r in shop._ROWS]
    rows[5][1] = ""  # nino-hoodie's Title, on the first of its four rows
    text = shop.export_text(rows)
    out = split(tmp_path, text)
    rejected = [(r["line"], r["table"], r["reference"], code(r["reason"])) for r in out.rejects]
    lines = [line for line, row in record_lines(text) if row[0] == "nino-hoodie"]
    products = [r for r in rejected if r[1] == "products"]
    assert products == [(str(lines[0]), "products", "nino-hoodie", "required")]
    reason = next(r["reason"] for r in out.rejects if r["table"] == "products")
    assert reason.startswith(
        "a required field is empty on every row of this item's group ('title'); fill it on one "
        "of the item's rows in the export, or give the field a `default`"
    ), reason
    assert f"the {len(lines) - 1} other row(s) merged into this item are rejected" in reason
    counts = out.result.tables["products"]
    assert counts.rows_in == counts.rows_out + counts.merged + counts.rejected
    assert counts.rejected == len(lines)
    assert "nino-hoodie" not in by_reference(out.tables["products"])
    # its variants follow their product out, each saying why
    orphans = {
        sku for sku, v in shop.expected_variants(text).items() if v["product"] == "nino-hoodie"
    }
    assert {r[2] for r in rejected if r[1] == "variants"} == orphans
    assert all(
        "its product 'nino-hoodie' was rejected" in r[3] for r in rejected if r[1] == "variants"
    )
    assert len(out.tables["variants"]) == len(shop.expected_variants(text)) - len(orphans)


def record_lines(text: str) -> list[tuple[int, list[str]]]:
    """Each record with the physical line it starts on (a quoted cell may hold line breaks)."""
    reader = csv.reader(io.StringIO(text))
    found = []
    start = 1
    for row in reader:
        found.append((start, row))
        start = reader.line_num + 1
    return found[1:]


def test_continuation_needs_merge_and_fill_names_read_columns() -> None:
    cases = {
        "    continuation: {key: Handle}\n": (
            "    continuation: {key: Handle}\n    on_duplicate: first\n",
            "tables.products.on_duplicate: `continuation:` merges the rows of a group",
        ),
        "fill: [Option1 Name]": (
            "fill: [Option1 Nmae]",
            "tables.variants.continuation.fill[0]: column 'Option1 Nmae' is not read by this "
            "table; did you mean 'Option1 Name'?",
        ),
    }
    for old, (new, message) in cases.items():
        with pytest.raises(ConnectorConfigError) as caught:
            config(shop.TABLES.replace(old, new))
        problems = [str(p) for p in caught.value.problems]
        assert len(problems) == 1 and message in problems[0], problems
    with pytest.raises(ConnectorConfigError) as caught:
        config(shop.TABLES.replace("fill: [Option1 Name]", "fill: [Variant SKU]"))
    assert "the reference column 'Variant SKU' is never filled" in str(caught.value)


def test_the_plan_reads_the_key_and_fills_every_other_column_by_default() -> None:
    plans = {plan.key: plan for plan in build_plans(config())}
    products = plans["products"]
    assert products.continuation == "Handle"
    # the reference (the key) and the collected images are each row's own
    assert products.fill == ("Title", "Body (HTML)", "Vendor", "Type", "Tags")
    assert plans["variants"].fill == ("Option1 Name",)
    assert "Handle" in plans["variants"].source_columns()
    assert {"Image Src", "Variant Image"} <= set(products.source_columns())


def test_a_conflict_from_a_default_on_a_blank_row_points_to_continuation(tmp_path: Path) -> None:
    """Without `continuation:`, a blank continuation row takes a field's default and then
    disagrees with the first row: the reject says to declare the continuation rows."""
    tables = textwrap.dedent(
        """\
        tables:
          products:
            reference: Handle
            on_duplicate: merge
            fields:
              title: Title
              vendor: {column: Vendor, default: Unknown}
              type: Type
        """
    )
    text = "Handle,Title,Vendor,Type\ntee,Tee,Acme,Shirts\ntee,,,\n"
    out = split(tmp_path, text, tables)
    (reject,) = out.rejects
    assert reject["reason"] == (
        "conflict: rows of 'tee' disagree on 'vendor': this row has 'Unknown', line 2 has "
        "'Acme'; line 2 is kept; this row looks like a continuation row (most of its cells are "
        "empty, this one took the field's default): declare `continuation: {key: Handle}` on "
        "table 'products' so that the empty cells of such rows take their group's first row's "
        "values"
    )
    # declared, the blank cell takes the first row's value before the default applies
    fixed = split(
        tmp_path / "fixed", text, tables.replace("merge", "merge\n    continuation: {key: Handle}")
    )
    assert fixed.rejects == []
    assert fixed.tables["products"][0]["vendor"] == "Acme"


def test_json_records_fill_their_values_of_any_type(tmp_path: Path) -> None:
    """JSON Lines records: a blank key continues nothing, absent keys and nulls are empty, and
    a number or a list is carried as it is (across batches too)."""
    import json

    records = [
        {"handle": "h1", "title": "Lámpara", "weight": 1.5, "tags": ["a", "b"]},
        {"handle": "h1", "title": None},
        {"handle": "h1", "weight": 2},  # its own weight: a conflict with the first row's
        {"handle": "h2", "title": "Silla", "weight": 3},
        {"handle": "h2"},
    ]
    path = tmp_path / "export.jsonl"
    path.write_text("\n".join(json.dumps(r, ensure_ascii=False) for r in records) + "\n")
    tables = textwrap.dedent(
        """\
        tables:
          products:
            reference: handle
            continuation: {key: handle}
            fields:
              title: {column: title, required: true}
              weight: {column: weight, type: number}
              tags: {column: tags, separator: ","}
        """
    )
    cfg = parse_connector(
        HEAD.replace('{type: csv, delimiter: ",", encoding: auto}', "{type: jsonl}") + tables,
        "s.yaml",
    )
    for batch_rows in (1, 2, 65_536):
        result = split_export(
            cfg,
            [LandedFile(path, "export.jsonl")],
            tmp_path / f"w{batch_rows}",
            batch_rows=batch_rows,
        )
        import pyarrow.parquet as pq

        got = {r["reference"]: r for r in pq.read_table(result.paths["products"]).to_pylist()}
        assert {k: (v["title"], v["weight"], v["tags"]) for k, v in got.items()} == {
            "h1": ("Lámpara", "1.5", ["a", "b"]),
            "h2": ("Silla", "3", None),
        }
        counts = result.tables["products"]
        assert (counts.rows_in, counts.merged, counts.conflicts) == (5, 2, 1), batch_rows


def test_a_required_value_on_a_later_row_of_the_group_completes_the_item(tmp_path: Path) -> None:
    """The value of a required field may sit on any row of the group: the first row's blank
    Title is not a reject when a later row of the same Handle gives it (before, each filled row
    was checked on its own and the first was rejected)."""
    rows = [list(r) for r in shop._ROWS]
    first = next(i for i, r in enumerate(rows) if r[0] == "nino-hoodie")
    title = rows[first][1]
    rows[first][1] = ""
    rows[first + 2][1] = title  # the third row of the group carries the Title
    text = shop.export_text(rows)
    out = split(tmp_path, text)
    assert [r for r in out.rejects if r["table"] == "products"] == []
    assert by_reference(out.tables["products"])["nino-hoodie"]["title"] == title


def test_a_required_collected_list_holds_on_the_merged_item(tmp_path: Path) -> None:
    """`required` on a collected list (without continuation rows): a product whose first row has
    no image but a later row has one is kept with the later images; a product with no image on
    any row is rejected once, at its first line, with its other rows."""
    tables = textwrap.dedent(
        """\
        tables:
          products:
            reference: ref
            fields:
              images: {column: image, separator: "|", collect: true, required: true}
        """
    )
    text = "ref,image\nP1,\nP1,a.jpg\nP2,\nP1,b.jpg|a.jpg\nP2,\nP3,c.jpg\n"
    out = split(tmp_path, text, tables)
    images = {r["reference"]: r["images"] for r in out.tables["products"]}
    assert images == {"P1": ["a.jpg", "b.jpg"], "P3": ["c.jpg"]}
    assert [(r["line"], r["reference"], r["column"]) for r in out.rejects] == [("4", "P2", "image")]
    (reason,) = [r["reason"] for r in out.rejects]
    assert reason.startswith("a required field is empty on every row of this item ('images')")
    counts = out.result.tables["products"]
    assert (counts.rows_in, counts.rows_out, counts.merged, counts.rejected) == (6, 2, 2, 2)


def test_required_on_each_row_outside_grouped_items(tmp_path: Path) -> None:
    """A required scalar of a table without continuation rows is still checked on each row: a
    row without it is rejected even when another row of the reference has it (it would be a
    conflict-free merge, but the row itself is broken)."""
    tables = textwrap.dedent(
        """\
        tables:
          products:
            reference: ref
            on_duplicate: merge
            fields:
              title: {column: title, required: true}
              images: {column: image, separator: "|", collect: true}
        """
    )
    text = "ref,title,image\nP1,Tee,a.jpg\nP1,,b.jpg\n"
    out = split(tmp_path, text, tables)
    assert [(r["line"], r["reference"], code(r["reason"])) for r in out.rejects] == [
        ("3", "P1", "required")
    ]
    assert {r["reference"]: r["images"] for r in out.tables["products"]} == {"P1": ["a.jpg"]}
