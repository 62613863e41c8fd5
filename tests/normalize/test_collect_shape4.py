"""Shape 4 of issue 13: lists collected across rows (`collect: true`) and columns (`columns:`).

A list field gathers the values of every row of one reference, in row order, each once, instead
of calling rows that differ a conflict; it can take its values from several columns (a main
image and additional images). Scalar fields keep the conflict rule, and a row rejected for a
scalar conflict adds nothing to the list. Expected values are computed from the raw files with
the csv / json modules.
"""

from __future__ import annotations

import csv
import io
import json
import textwrap
from pathlib import Path
from typing import Any

import pytest

from saleslayer_airflow.config import parse_connector
from saleslayer_airflow.config.models import ConnectorConfig
from saleslayer_airflow.exceptions import ConnectorConfigError
from saleslayer_airflow.mapping.plan import build_plans
from saleslayer_airflow.normalize import engine, items
from saleslayer_airflow.normalize.continuation import joined_cells
from saleslayer_airflow.normalize.engine import split_export
from saleslayer_airflow.normalize.results import LandedFile, SplitResult

HEAD = textwrap.dedent(
    """\
    id: magento
    description: catalog_product export
    schedule: null
    start_date: 2026-01-01
    source: {kind: http, conn_id: erp_http, endpoint: export}
    validation: {max_reject_ratio: 1}
    """
)
CSV = 'format: {type: csv, delimiter: ",", encoding: auto}\n'

#: Magento-like rows: one row per store view of a product, a base image and additional images
#: (the base image often listed again), HTML descriptions with entities, a multi-line cell.
MAGENTO = [
    ["sku", "store_view_code", "name", "description", "base_image", "additional_images"],
    [
        "MH01",
        "",
        "Chaz Kangeroo Hoodie",
        "<p>Ideal for cold-weather training &amp; more.</p>\n<p>Fleece.</p>",
        "/m/h/mh01-gray_main.jpg",
        "/m/h/mh01-gray_main.jpg,/m/h/mh01-gray_alt1.jpg",
    ],
    ["MH01", "es", "", "", "", "/m/h/mh01-gray_back.jpg"],
    [
        "MH01",
        "fr",
        "",
        "",
        "/m/h/mh01-gray_main.jpg",
        "/m/h/mh01-gray_alt1.jpg,/m/h/mh01-gray_back.jpg",
    ],
    ["WS03", "", "Layla Tee", "<p>Caf&eacute; &lt;cotton&gt;</p>", "/w/s/ws03-blue.jpg", ""],
    ["MP04", "", "Mañana Pant", "<p>Señal</p>", "", ""],
    ["WS03", "es", "", "", "", "/w/s/ws03-blue_alt.jpg,"],
]

TABLES = textwrap.dedent(
    """\
    tables:
      products:
        reference: sku
        fields:
          name: name
          description: description
          images:
            columns: [base_image, additional_images]
            separator: ","
            collect: true
    """
)


def config(text: str, fmt: str = CSV) -> ConnectorConfig:
    return parse_connector(HEAD + fmt + text, "magento.yaml")


def write_csv(path: Path, rows: list[list[str]]) -> str:
    out = io.StringIO()
    csv.writer(out).writerows(rows)
    path.write_text(out.getvalue(), encoding="utf-8", newline="")
    return out.getvalue()


Tables = dict[str, list[dict[str, Any]]]


def run(
    cfg: ConnectorConfig,
    path: Path,
    work: Path,
    *,
    batch_rows: int = engine.BATCH_ROWS,
    chunk_rows: int = 5_000,
) -> tuple[SplitResult, Tables]:
    import pyarrow.parquet as pq

    files = [LandedFile(path, path.name)]
    result = split_export(cfg, files, work, batch_rows=batch_rows, chunk_rows=chunk_rows)
    tables = {key: pq.read_table(p).to_pylist() for key, p in result.paths.items()}
    return result, tables


def rejects(result: SplitResult) -> list[dict[str, str]]:
    with result.rejects_path.open(encoding="utf-8", newline="") as handle:
        return list(csv.DictReader(handle))


def expected_images(text: str, columns: list[str], separator: str) -> dict[str, list[str] | None]:
    """sku -> every value of ``columns`` over the sku's rows, in order, each once."""
    found: dict[str, list[str]] = {}
    for row in csv.DictReader(io.StringIO(text)):
        mine = found.setdefault(row["sku"], [])
        for column in columns:
            for part in row[column].split(separator):
                if part.strip() and part.strip() not in mine:
                    mine.append(part.strip())
    return {sku: values or None for sku, values in found.items()}


def test_images_from_two_columns_and_every_row(tmp_path: Path) -> None:
    path = tmp_path / "catalog_product.csv"
    text = write_csv(path, MAGENTO)
    result, tables = run(config(TABLES), path, tmp_path / "work")
    got = {row["reference"]: row for row in tables["products"]}
    want = expected_images(text, ["base_image", "additional_images"], ",")
    assert {sku: row["images"] for sku, row in got.items()} == want
    assert want["MH01"] == [
        "/m/h/mh01-gray_main.jpg",
        "/m/h/mh01-gray_alt1.jpg",
        "/m/h/mh01-gray_back.jpg",
    ]
    firsts: dict[str, dict[str, str]] = {}
    for row in csv.DictReader(io.StringIO(text)):
        firsts.setdefault(row["sku"], row)
    assert {sku: row["description"] for sku, row in got.items()} == {
        sku: row["description"] for sku, row in firsts.items()
    }
    assert rejects(result) == []
    counts = result.tables["products"]
    # one table and a collected field: merge is the default (not `first`)
    assert (counts.rows_in, counts.rows_out, counts.merged) == (6, 3, 3)


@pytest.mark.parametrize(
    ("batch_rows", "chunk_rows", "parts", "flush"),
    [(1, 1, 1, 65_536), (2, 1, 3, 1), (4, 3, 2, 2), (65_536, 5_000, 4, 1)],
)
def test_collected_lists_do_not_depend_on_batches_chunks_parts_or_spills(
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    batch_rows: int,
    chunk_rows: int,
    parts: int,
    flush: int,
) -> None:
    """A reference's rows in several batches, chunks, parts and spilled frames: the same list."""
    rows = [MAGENTO[0]]
    for n in range(40):  # 8 products, each on 5 rows scattered through the file
        sku = f"P{n % 8}"
        rows.append(
            [sku, str(n), f"Name {sku}", "", f"/img/{sku}-{n % 3}.jpg", f"/img/x{n % 5}.jpg"]
        )
    path = tmp_path / "catalog_product.csv"
    text = write_csv(path, rows)
    monkeypatch.setattr(engine, "partitions_for", lambda files: parts)
    monkeypatch.setattr(items, "_FLUSH_ROWS", flush)
    monkeypatch.setattr(items, "_FLUSH_PART_ROWS", flush)
    _, tables = run(
        config(TABLES), path, tmp_path / "work", batch_rows=batch_rows, chunk_rows=chunk_rows
    )
    got = {row["reference"]: row["images"] for row in tables["products"]}
    assert got == expected_images(text, ["base_image", "additional_images"], ",")
    assert [row["reference"] for row in tables["products"]] == [f"P{n}" for n in range(8)]


def test_a_row_with_a_scalar_conflict_adds_nothing_to_the_list(tmp_path: Path) -> None:
    rows = [
        MAGENTO[0],
        ["MH01", "", "Hoodie", "", "/a.jpg", ""],
        ["MH01", "es", "Sudadera", "", "/b.jpg", ""],  # a different name: a conflict
        ["MH01", "fr", "", "", "/c.jpg", "/a.jpg"],
    ]
    path = tmp_path / "catalog_product.csv"
    write_csv(path, rows)
    for size in (5_000, 1):
        result, tables = run(
            config(TABLES), path, tmp_path / f"work{size}", batch_rows=size, chunk_rows=size
        )
        (product,) = tables["products"]
        assert product["images"] == ["/a.jpg", "/c.jpg"]
        (reject,) = rejects(result)
        assert reject["line"] == "3"
        assert reject["reason"].startswith("conflict: rows of 'MH01' disagree on 'name'")
        assert reject["reason"].endswith("line 2 is kept, fix the export so that both agree")


def test_a_list_field_that_differs_between_rows_points_to_collect(tmp_path: Path) -> None:
    tables = TABLES.replace("    collect: true\n", "").replace(
        "  products:\n", "  products:\n    on_duplicate: merge\n"
    )
    rows = [
        MAGENTO[0],
        ["MH01", "", "Hoodie", "", "/a.jpg", ""],
        ["MH01", "es", "", "", "/b.jpg", ""],
    ]
    path = tmp_path / "catalog_product.csv"
    write_csv(path, rows)
    result, _ = run(config(tables), path, tmp_path / "work")
    (reject,) = rejects(result)
    assert reject["reason"] == (
        "conflict: rows of 'MH01' disagree on 'images': this row has \"['/b.jpg']\", line 2 "
        "has \"['/a.jpg']\"; line 2 is kept; if each row adds values to this list (an image per "
        "row), set `collect: true` on field 'images' of table 'products': the values of every "
        "row are then gathered, in order, each once"
    )
    assert reject["column"] == "base_image + additional_images"


def test_a_bordered_separator_splits_each_column_on_its_own(tmp_path: Path) -> None:
    """' | ' starts and ends with a blank: joining cells by it could move an occurrence across
    two cells, so each cell is split on its own (exactly as one column would be)."""
    rows = [
        MAGENTO[0],
        ["MH01", "", "Hoodie", "", "/a.jpg |", " | /b.jpg | /c.jpg"],
        ["MH01", "es", "", "", "", "/d.jpg | /a.jpg"],
    ]
    path = tmp_path / "catalog_product.csv"
    text = write_csv(path, rows)
    tables = TABLES.replace('separator: ","', 'separator: " | "')
    _, got = run(config(tables), path, tmp_path / "work")
    want = expected_images(text, ["base_image", "additional_images"], " | ")
    assert (
        got["products"][0]["images"]
        == want["MH01"]
        == ["/a.jpg |", "/b.jpg", "/c.jpg", "/d.jpg", "/a.jpg"]
    )


def test_joined_cells_split_like_each_cell() -> None:
    import pyarrow as pa

    a = pa.array(["x||", "p", None, ""])
    b = pa.array(["|y", None, "q||r", ""])
    for separator in (",", "||", " | "):
        joined = joined_cells([a, b], separator, 4)
        for row in range(4):
            cells: list[str | None] = [c[row].as_py() for c in (a, b)]
            want = [part for cell in cells if cell for part in cell.split(separator)]
            assert joined is not None
            got_cell = joined[row] if isinstance(joined, list) else joined[row].as_py()
            got = got_cell if isinstance(got_cell, list) else str(got_cell or "").split(separator)
            assert [p for p in got if p] == [p for p in want if p], (separator, row)


def test_json_arrays_are_collected_from_records(tmp_path: Path) -> None:
    records: list[dict[str, Any]] = [
        {"sku": "A1", "name": "Lámpara", "images": ["/a.jpg", "/b.jpg"], "gallery": "/g1.jpg"},
        {"sku": "A1", "images": ["/b.jpg", "/c.jpg"], "gallery": None},
        {"sku": "B2", "name": "Silla", "images": [], "gallery": "/s.jpg,/s2.jpg"},
        {"sku": "A1", "images": None, "gallery": "/g1.jpg,/g2.jpg"},
    ]
    path = tmp_path / "export.jsonl"
    path.write_text("\n".join(json.dumps(r, ensure_ascii=False) for r in records) + "\n")
    tables = textwrap.dedent(
        """\
        tables:
          products:
            reference: sku
            fields:
              name: name
              images: {columns: [images, gallery], separator: ",", collect: true}
        """
    )
    _, got = run(config(tables, "format: {type: jsonl}\n"), path, tmp_path / "work")
    want: dict[str, list[str]] = {}
    for record in records:
        mine = want.setdefault(str(record["sku"]), [])
        for value in (record["images"], record["gallery"]):
            parts = value if isinstance(value, list) else (value or "").split(",")
            mine += [p for p in parts if p and p not in mine]
    assert {r["reference"]: r["images"] for r in got["products"]} == want


@pytest.mark.parametrize(
    ("field", "message"),
    [
        (
            "{column: tags, collect: true}",
            "`collect: true` gathers the values of a list field: set `separator`",
        ),
        (
            "{columns: [a, b], column: c, separator: ','}",
            "`columns` takes the values from several columns: remove `column`",
        ),
        ("{columns: [a, b]}", "`columns` makes a list field: set `separator`"),
        ("{columns: [a], separator: ','}", "`columns` lists at least two columns"),
        ("{columns: [a, a], separator: ','}", "`columns` names a column twice"),
        (
            "{columns: [a, b], separator: ',', languages: [en]}",
            "`columns` takes the values from several columns: remove `languages`",
        ),
    ],
)
def test_misused_options_fail_at_load(field: str, message: str) -> None:
    text = f"tables:\n  products:\n    reference: sku\n    fields:\n      images: {field}\n"
    with pytest.raises(ConnectorConfigError) as caught:
        config(text)
    (problem,) = caught.value.problems
    assert problem.field == "tables.products.fields.images"
    assert message in problem.message


def test_collect_needs_merge() -> None:
    text = (
        "tables:\n  products:\n    reference: sku\n    on_duplicate: reject\n    fields:\n"
        "      images: {column: img, separator: ',', collect: true}\n"
    )
    with pytest.raises(ConnectorConfigError) as caught:
        config(text)
    (problem,) = caught.value.problems
    assert problem.field == "tables.products.on_duplicate"
    assert "field 'images' collects the values of every row" in problem.message


def test_the_columns_are_read_and_checked_like_any_column() -> None:
    (plan,) = build_plans(config(TABLES))
    assert plan.source_columns() == [
        "sku",
        "name",
        "description",
        "base_image",
        "additional_images",
    ]
    assert [c.collect for c in plan.columns] == [False, False, True]


def test_the_preflight_names_a_misspelt_column_of_columns_and_the_key(tmp_path: Path) -> None:
    """`validate --sample` (and the run, before reading the file) checks `columns:` and the
    `continuation.key` against the header, each at its place in the connector file."""
    from saleslayer_airflow.validation.columns import check_columns, read_header

    path = tmp_path / "catalog_product.csv"
    write_csv(path, MAGENTO[:2])
    text = TABLES.replace("additional_images]", "additional_image]").replace(
        "  products:\n", "  products:\n    continuation: {key: SKU}\n"
    )
    cfg = config(text)
    found = {p.named.field: p.message for p in check_columns(cfg, read_header(path, cfg.format))}
    assert set(found) == {
        "tables.products.continuation.key",
        "tables.products.fields.images.columns[1]",
    }
    assert "Did you mean 'additional_images'?" in found["tables.products.fields.images.columns[1]"]
    assert "Did you mean 'sku'?" in found["tables.products.continuation.key"]
