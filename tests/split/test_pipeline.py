"""Several landed files in one run, batch edges, and the "imported before" hook."""

from __future__ import annotations

from pathlib import Path

import pytest

from tests.split.conftest import connector_text, run_split

FLAT = """\
id: flat
description: flat export
schedule: null
start_date: 2026-01-01
source: {kind: http, conn_id: erp_http, endpoint: export.csv}
format: {type: csv, delimiter: ";"}
tables:
  categories:
    reference: category_path
    path: {column: category_path}
    fields:
      name: {column: category_name, languages: [en, es]}
  products:
    reference: product_ref
    categories: {column: category_path}
    fields:
      name: {column: product_name, languages: [en, es], required: true}
  variants:
    reference: sku
    product: product_ref
    fields:
      size: size
"""
HEADER = (
    "sku;product_ref;category_path;category_name_en;category_name_es;"
    "product_name_en;product_name_es;size\n"
)


def _export(rows: int) -> str:
    lines = [HEADER]
    for n in range(rows):
        p = n // 3
        lines.append(
            f"S{n};P{p};Men > Tops > T{p % 4};Tees {p % 4};Camisetas {p % 4};"
            f"Tee {p};Camiseta {p};{['S', 'M', 'L'][n % 3]}\n"
        )
    return "".join(lines)


@pytest.mark.parametrize("chunk_rows", [1, 7, 23, 5000])
def test_batch_size_does_not_change_the_result(tmp_path: Path, chunk_rows: int) -> None:
    landed = tmp_path / "export.csv"
    landed.write_text(_export(100), encoding="utf-8")
    out = run_split(
        connector_text(FLAT), [(landed, "export.csv")], tmp_path / "w", chunk_rows=chunk_rows
    )
    assert {k: len(v) for k, v in out.tables.items()} == {
        "categories": 2 + 4,
        "products": 34,
        "variants": 100,
    }
    counts = out.result.tables
    assert counts["products"].merged == 100 - 34
    assert counts["categories"].rows_in == 300  # three levels per row
    leaf = next(i for i in out.tables["categories"] if i["reference"] == "Men > Tops > T1")
    assert leaf["_parent_ref"] == "Men > Tops" and leaf["name_es"] == "Camisetas 1"
    root = out.tables["categories"][0]
    assert root["reference"] == "Men" and root["_parent_ref"] is None
    assert out.tables["products"][0]["_category_refs"] == ["Men > Tops > T0"]


def test_files_are_read_in_order_and_rejects_name_their_file(tmp_path: Path) -> None:
    first = tmp_path / "a.csv"
    second = tmp_path / "b.csv"
    first.write_text(HEADER + "S1;P1;Men;Men;Hombre;Tee;Camiseta;M\n", encoding="utf-8")
    second.write_text(
        HEADER + "S2;P1;Men;Men;Hombre;Shirt;Camisa;L\nS1;P1;Men;Men;Hombre;Tee;Camiseta;S\n",
        encoding="utf-8",
    )
    out = run_split(connector_text(FLAT), [(first, "a.csv"), (second, "b.csv")], tmp_path / "w")
    assert out.result.rows_read == 3
    assert [(r["source_file"], r["line"], r["table"]) for r in out.rejects] == [
        ("b.csv", "2", "products"),
        ("b.csv", "3", "variants"),
    ]
    assert "line 2 of a.csv has 'Tee'" in out.rejects[0]["reason"]
    assert "conflict" in out.rejects[1]["reason"]  # a variant repeated under merge
    assert [v["_source_file"] for v in out.tables["variants"]] == ["a.csv", "b.csv"]


def test_known_refs_hook_resolves_parents_imported_before(tmp_path: Path) -> None:
    text = FLAT.split("tables:")[0] + (
        "tables:\n  variants:\n    reference: sku\n    product: product_ref\n"
    )
    landed = tmp_path / "v.csv"
    landed.write_text("sku;product_ref\nS1;OLD\nS2;NEW\n", encoding="utf-8")
    asked: list[tuple[str, list[str]]] = []

    def known(table: str, refs: list[str]) -> set[str]:
        asked.append((table, sorted(refs)))
        return {"OLD"} & set(refs)

    out = run_split(connector_text(text), [(landed, "v.csv")], tmp_path / "w", known)
    assert asked == [("products", ["NEW", "OLD"])]
    assert [v["reference"] for v in out.tables["variants"]] == ["S1"]
    assert [(r["line"], r["value"]) for r in out.rejects] == [("3", "NEW")]


def test_parents_imported_before_come_from_the_state_store(tmp_path: Path) -> None:
    """The split operator's known_refs is StateStore.known_references: a real SQLite store."""
    from datetime import UTC, datetime

    from saleslayer_airflow.state import AppliedItem, StateStore

    store = StateStore.open(f"sqlite:///{tmp_path / 'state.sqlite'}")
    day = datetime(2026, 11, 1, tzinfo=UTC)
    store.record_applied("other_connector", "products", "r", [AppliedItem("OLD", "h", day)])
    text = FLAT.split("tables:")[0] + (
        "tables:\n  variants:\n    reference: sku\n    product: product_ref\n"
    )
    landed = tmp_path / "v.csv"
    landed.write_text("sku;product_ref\nS1;OLD\nS2;NEW\n", encoding="utf-8")
    out = run_split(
        connector_text(text), [(landed, "v.csv")], tmp_path / "w", store.known_references
    )
    assert [v["reference"] for v in out.tables["variants"]] == ["S1"]
    assert [(r["line"], r["value"]) for r in out.rejects] == [("3", "NEW")]
