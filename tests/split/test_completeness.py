"""What the split stage tells deletions: per table, the references its rejected rows still name
(staged beside the table file) and the rows of its input that could not be read at all."""

from __future__ import annotations

import textwrap
from pathlib import Path

import pyarrow.parquet as pq

from saleslayer_airflow.validation.completeness import Unreadable, hides_references
from tests.split.conftest import Outcome, connector_text, run_split

POS = """\
  points_of_sale:
    reference: ref
    fields:
      name: {column: name, required: true}
      lat: {column: lat, type: number}
"""
FLAT = """\
  categories:
    reference: path
    path: {column: path}
  products:
    reference: product
    categories: {column: path}
    fields:
      title: {column: title, required: true}
"""


def split(tmp_path: Path, tables: str, data: str, fmt: str = "{type: csv}") -> Outcome:
    text = textwrap.dedent(
        """\
        id: completeness
        description: completeness for deletions
        schedule: null
        start_date: 2026-01-01
        source: {kind: http, conn_id: erp_http, endpoint: export}
        target: {conn_id: saleslayer_default, deletions: {enabled: true}}
        validation: {max_reject_ratio: 1}
        """
    ) + (f"format: {fmt}\ntables:\n{tables}")
    tmp_path.mkdir(parents=True, exist_ok=True)
    landed = tmp_path / "export.csv"
    landed.write_text(data, encoding="utf-8")
    return run_split(connector_text(text), [(landed, "export.csv")], tmp_path / "work")


def rejected_refs(out: Outcome, table: str) -> set[str]:
    path = out.result.rejected_refs[table]
    return set(pq.read_table(path).column("reference").to_pylist())


def test_rejected_rows_name_their_references_and_a_clean_file_is_read_in_full(
    tmp_path: Path,
) -> None:
    data = "ref,name,lat\nS1,One,1.5\n  S2 ,Two,abc\nS3,,2\n,Nobody,3\nS4,Four,4\n"
    out = split(tmp_path, POS, data)
    assert [r["reference"] for r in out.tables["points_of_sale"]] == ["S1", "S4"]
    # The reference as the table file would hold it (trimmed), and no empty reference.
    assert {"S2", "S3"} <= rejected_refs(out, "points_of_sale")
    assert "" not in rejected_refs(out, "points_of_sale")
    unreadable = out.result.unreadable["points_of_sale"]
    assert unreadable.rows == 0 and unreadable.describe() is None


def test_an_unclosed_quote_makes_the_export_unreadable_for_every_table_it_feeds(
    tmp_path: Path,
) -> None:
    data = 'path,product,title\nMen,P1,Shirt\nMen > Tops,P2,"Coat\nWomen,P3,Dress\nKids,P4,Hat\n'
    out = split(tmp_path, FLAT, data)
    for table in ("categories", "products"):
        unreadable = out.result.unreadable[table]
        assert unreadable.rows == 1
        assert (
            unreadable.describe()
            == "1 row of export.csv could not be read (line 3, unclosed quote)"
        )
    assert [r["reference"] for r in out.tables["products"]] == ["P1"]


def test_a_rejected_category_path_keeps_every_level_it_names(tmp_path: Path) -> None:
    tables = """\
  categories:
    reference: path
    path: {column: path}
    fields:
      label: {column: label, required: true}
"""
    out = split(tmp_path, tables, "path,label\nMen > Tops > Shirts,\nWomen,Women\n")
    # The row would have given all three levels: none of them is missing from the export.
    assert [r["reference"] for r in out.tables["categories"]] == ["Women"]
    assert rejected_refs(out, "categories") == {"Men", "Men > Tops", "Men > Tops > Shirts"}
    assert out.result.unreadable["categories"].rows == 0


def test_field_count_and_bad_json_rows_are_unreadable(tmp_path: Path) -> None:
    out = split(tmp_path, POS, "ref,name,lat\nS1,One,1\nS2,Two,2,extra\nS3,Three,3\n")
    assert out.result.unreadable["points_of_sale"].describe() == (
        "1 row of export.csv could not be read (line 3, field count)"
    )
    jsonl = '{"ref": "S1", "name": "One"}\n{"ref": "S2", "name": \n{"ref": "S3", "name": "x"}\n'
    out = split(
        tmp_path / "j",
        POS.replace("lat: {column: lat, type: number}\n", ""),
        jsonl,
        fmt="{type: jsonl}",
    )
    assert "(line 2, bad json)" in str(out.result.unreadable["points_of_sale"].describe())


def test_the_description_names_every_file_and_the_first_line() -> None:
    unreadable = Unreadable()
    for file, line, code in (("a.csv", 7, "bad_quoting"), ("b.csv", 2, "bad_encoding")):
        unreadable.note(file, line, code)
    assert unreadable.describe() == (
        "2 rows of a.csv, b.csv could not be read (first: line 7 of a.csv, bad quoting)"
    )


def test_only_a_cell_problem_under_a_readable_reference_leaves_the_export_whole() -> None:
    assert not hides_references("uncached_formula", "P1")
    assert not hides_references("merged_cell", "P1")
    assert hides_references("merged_cell", "")  # the merged cell was the reference
    for code in ("unclosed_quote", "bad_quoting", "field_count", "bad_encoding", "some_new"):
        assert hides_references(code, "P1"), code


def test_a_reference_rejected_for_an_invisible_character_keeps_the_item_it_looks_like(
    tmp_path: Path,
) -> None:
    data = "ref,name,lat\nS1\u200b,One,1\nS\u00a02,Two,2\nS3,Three,3\n"
    out = split(tmp_path, POS, data)
    assert [r["reference"] for r in out.tables["points_of_sale"]] == ["S3"]
    # Both rows are rejected (bad_reference), yet the live S1 and 'S 2' are not deletable.
    assert {"S1", "S 2"} <= rejected_refs(out, "points_of_sale")
