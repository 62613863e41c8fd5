"""The real exports in ../shared/realdata, each with its own connector file in data/.

Expected counts and rejects are derived here with the csv/json modules, independently of the
pipeline, then compared exactly with what the stage wrote.
"""

from __future__ import annotations

import csv
import json
from collections import Counter
from decimal import Decimal
from pathlib import Path

from tests.split.conftest import connector, realdata, run_split


def _rows(path: Path, delimiter: str) -> list[dict[str, str]]:
    with path.open(encoding="utf-8", newline="") as handle:
        return list(csv.DictReader(handle, delimiter=delimiter))


def _first_lines(path: Path, delimiter: str) -> list[int]:
    """The first physical line of every record (header excluded)."""
    with path.open(encoding="utf-8", newline="") as handle:
        reader = csv.reader(handle, delimiter=delimiter)
        next(reader)
        lines, end = [], reader.line_num
        for _ in reader:
            lines.append(end + 1)
            end = reader.line_num
    return lines


def test_akeneo_categories(tmp_path: Path) -> None:
    path = realdata("akeneo/categories.csv")
    rows = _rows(path, ";")
    out = run_split(connector("akeneo_categories"), [(path, "categories.csv")], tmp_path)
    assert out.result.rows_read == len(rows) == 168
    assert out.rejects == []
    items = out.tables["categories"]
    assert [i["reference"] for i in items] == [r["code"] for r in rows]
    assert sum(i["_parent_ref"] is None for i in items) == 4
    by_ref = {i["reference"]: i for i in items}
    for row in rows:
        assert by_ref[row["code"]]["_parent_ref"] == (row["parent"] or None)
        assert by_ref[row["code"]]["label_de_DE"] == (row["label-de_DE"] or None)


def _category_codes() -> set[str]:
    return {r["code"] for r in _rows(realdata("akeneo/categories.csv"), ";")}


def test_akeneo_product_models_with_categories_imported_before(tmp_path: Path) -> None:
    path = realdata("akeneo/product_models.csv")
    rows = _rows(path, ";")
    codes = _category_codes()
    asked: list[str] = []

    def known(table: str, refs: list[str]) -> set[str]:
        asked.append(table)
        return {r for r in refs if r in codes}

    out = run_split(connector("akeneo_product_models"), [(path, "pm.csv")], tmp_path, known)
    assert set(asked) == {"categories"}
    assert out.rejects == []
    items = out.tables["products"]
    assert len(items) == len(rows) == 81
    first = items[0]
    assert first["_category_refs"] == rows[0]["categories"].split(",")
    assert first["_line"] == 2
    # Multi-line cells: each item keeps the first line of its record.
    assert [i["_line"] for i in items] == _first_lines(path, ";")


def test_akeneo_product_models_without_state_rejects_every_row_with_a_reason(
    tmp_path: Path,
) -> None:
    path = realdata("akeneo/product_models.csv")
    out = run_split(connector("akeneo_product_models"), [(path, "pm.csv")], tmp_path)
    assert out.tables["products"] == []
    assert len(out.rejects) == 81
    assert all("neither in this import nor imported before" in r["reason"] for r in out.rejects)


def test_akeneo_products_and_variants(tmp_path: Path) -> None:
    path = realdata("akeneo/products.csv")
    rows = _rows(path, ";")
    lines = _first_lines(path, ";")
    models = {r["code"] for r in _rows(realdata("akeneo/product_models.csv"), ";")}
    categories = _category_codes()

    def known(table: str, refs: list[str]) -> set[str]:
        return {r for r in refs if r in (models if table == "products" else categories)}

    out = run_split(connector("akeneo_products"), [(path, "products.csv")], tmp_path, known)
    simple = [r for r in rows if not r["parent"]]
    variants = [(line, r) for line, r in zip(lines, rows, strict=True) if r["parent"]]
    bad_case = [(line, r) for line, r in variants if r["parent"] not in models]
    assert len(simple) == 999 and len(variants) == 240 and len(bad_case) == 18
    assert len(out.tables["products"]) == 999
    assert len(out.tables["variants"]) == 240 - 18
    assert out.result.rows_read == 1239
    expected = [
        {"line": str(line), "table": "variants", "reference": r["sku"], "value": r["parent"]}
        for line, r in bad_case
    ]
    assert [
        {k: rej[k] for k in ("line", "table", "reference", "value")} for rej in out.rejects
    ] == expected
    assert all("case-sensitive" in rej["reason"] for rej in out.rejects)
    assert [i["_line"] for i in out.tables["products"]] == [
        line for line, r in zip(lines, rows, strict=True) if not r["parent"]
    ]


def test_akeneo_broken_encoding_rejects_the_two_damaged_rows(tmp_path: Path) -> None:
    path = realdata("akeneo/product_export_with_non_utf8_characters.csv")
    raw = path.read_bytes()
    physical = raw.split(b"\n")
    # Independent: the physical lines holding bytes that are not UTF-8, or NUL (no multi-line
    # cells in this file: record line == physical line).
    damaged = []
    for number, line in enumerate(physical, start=1):
        try:
            line.decode("utf-8")
        except UnicodeDecodeError:
            damaged.append(number)
            continue
        if b"\x00" in line:
            damaged.append(number)
    out = run_split(connector("akeneo_non_utf8"), [(path, "broken.csv")], tmp_path)
    assert damaged == [11, 15]
    assert [int(r["line"]) for r in out.rejects] == damaged
    assert out.rejects[0]["column"] == "description-en_US-print"
    assert out.rejects[0]["value"] == "A\\xffeneo T-Shirt with short sleeve"
    assert "\\x00" in out.rejects[1]["value"]
    assert len(out.tables["products"]) == 112 - 2


def test_prestashop_stores(tmp_path: Path) -> None:
    path = realdata("prestashop/store_contacts.csv")
    rows = _rows(path, ";")
    out = run_split(connector("prestashop_stores"), [(path, "stores.csv")], tmp_path)
    assert out.rejects == []
    items = out.tables["points_of_sale"]
    assert [i["reference"] for i in items] == [r["Store ID"] for r in rows]
    assert items[0]["hours"] == rows[0]["hours"].split(",")
    assert len(items[0]["hours"]) == 7
    assert Decimal(items[0]["latitude"]) == Decimal(rows[0]["latitude"])  # exact, not a float


def test_starbucks_directory(tmp_path: Path) -> None:
    path = realdata("starbucks/directory.csv")
    rows = _rows(path, ",")
    lines = _first_lines(path, ",")
    allowed = {"Company Owned", "Licensed", "Joint Venture", "Franchise"}
    seen: dict[str, int] = {}
    expected = []
    for line, row in zip(lines, rows, strict=True):
        if row["Ownership Type"] not in allowed:
            expected.append((line, "Ownership Type", row["Ownership Type"]))
        elif row["Store Number"] in seen:
            expected.append((line, "Store Number", row["Store Number"]))
        else:
            seen[row["Store Number"]] = line
    out = run_split(connector("starbucks_stores"), [(path, "directory.csv")], tmp_path)
    assert len(rows) == 25_600
    assert [(int(r["line"]), r["column"], r["value"]) for r in out.rejects] == expected
    assert len(expected) == 2
    assert len(out.tables["points_of_sale"]) == 25_600 - 2
    assert Counter(r["table"] for r in out.rejects) == {"points_of_sale": 2}
    names = {i["name"] for i in out.tables["points_of_sale"]}
    assert "Phạm Ngọc Thạch" in names  # many scripts survive


def test_saleor_fixture_feeds_four_tables(tmp_path: Path) -> None:
    path = realdata("saleor/populatedb_data.json")
    objects = json.loads(path.read_text(encoding="utf-8"))
    models = Counter(o["model"] for o in objects)
    out = run_split(connector("saleor"), [(path, "populatedb_data.json")], tmp_path)
    assert out.rejects == []
    assert out.result.rows_read == len(objects) == 721
    assert len(out.tables["categories"]) == models["product.category"] == 16
    assert len(out.tables["products"]) == models["product.product"] == 32
    assert len(out.tables["variants"]) == models["product.productvariant"] == 73
    assert len(out.tables["points_of_sale"]) == models["warehouse.warehouse"] == 1
    fed = 16 + 32 + 73 + 1
    assert out.result.rows_unused == 721 - fed
    categories = {o["pk"]: o for o in objects if o["model"] == "product.category"}
    for item in out.tables["categories"]:
        parent = categories[int(item["reference"])]["fields"]["parent"]
        assert item["_parent_ref"] == (None if parent is None else str(parent))
    variant = next(o for o in objects if o["model"] == "product.productvariant")
    first = out.tables["variants"][0]
    assert first["_product_ref"] == str(variant["fields"]["product"])
    assert first["sku"] == variant["fields"]["sku"]
