"""Named files: each table reads only the landed files its `file:` names (no real data needed)."""

from __future__ import annotations

from pathlib import Path

import pytest

from saleslayer_airflow.mapping.errors import MappingError
from saleslayer_airflow.mapping.plan import build_plans
from saleslayer_airflow.normalize.engine import split_export
from saleslayer_airflow.normalize.results import LandedFile, tables_of_file
from tests.split.conftest import connector_text, run_split

CONNECTOR = """\
id: named
description: one export per table
schedule: null
start_date: 2026-01-01
source:
  kind: sftp
  conn_id: erp_sftp
  files: {{categories: /out/cat.csv, products: /out/prod.csv, extra: /out/extra.csv}}
format: {{type: csv}}
tables:
  categories:
    reference: ref
    parent: parent
    file: categories
    fields:
      title: title
  products:
    reference: sku
    file: {products_file}
    categories: category
    fields:
      name: name
"""


def _files(tmp_path: Path) -> list[tuple[Path, str, str | None]]:
    cat = tmp_path / "cat.csv"
    cat.write_text("ref,parent,title\nC1,,Shirts\nC2,C1,Oxford\n", encoding="utf-8")
    prod = tmp_path / "prod.csv"
    prod.write_text("sku,name,category\nP1,Oxford shirt,C2\nP2,Tee,C1\n", encoding="utf-8")
    extra = tmp_path / "extra.csv"
    extra.write_text("sku,name,category\nP3,Sock,C1\n", encoding="utf-8")
    return [(cat, "cat.csv", "categories"), (prod, "prod.csv", "products"), (extra, "x", "extra")]


def test_each_table_reads_only_its_named_files(tmp_path: Path) -> None:
    config = connector_text(CONNECTOR.format(products_file="products"))
    files = _files(tmp_path)
    result = split_export(
        config, [LandedFile(p, n, file=f) for p, n, f in files], tmp_path / "work"
    )
    assert result.rows_read == 2 + 2 + 1
    assert result.rows_unused == 1  # extra.csv feeds no table
    assert {k: (c.rows_in, c.rows_out) for k, c in result.tables.items()} == {
        "categories": (2, 2),
        "products": (2, 2),
    }
    assert result.rejects == 0


def test_a_table_may_read_several_named_files(tmp_path: Path) -> None:
    config = connector_text(CONNECTOR.format(products_file="[products, extra]"))
    out = run_split(config, [(p, n) for p, n, _ in _files(tmp_path)], tmp_path / "w0")
    # run_split passes no names: unnamed files feed only the tables without `file:` (none here).
    assert out.result.rows_unused == 5
    result = split_export(
        config,
        [LandedFile(p, n, file=f) for p, n, f in _files(tmp_path)],
        tmp_path / "work",
    )
    assert result.tables["products"].rows_out == 3
    assert result.rows_unused == 0


def test_without_routing_a_table_would_read_the_other_file(tmp_path: Path) -> None:
    """The routing is what makes this work: the same files fed to every table fail to map."""
    config = connector_text(
        CONNECTOR.format(products_file="products").replace("    file: categories\n", "")
    )
    files = [LandedFile(p, n, file=f) for p, n, f in _files(tmp_path)[:2]]
    with pytest.raises(MappingError, match=r"prod\.csv"):
        split_export(config, files, tmp_path / "work")


def test_tables_of_file() -> None:
    config = connector_text(CONNECTOR.format(products_file="[products, extra]"))
    plans = build_plans(config)
    by_table = {k: t.source_files() for k, t in config.tables.items()}
    keys = [p.key for p in plans]
    assert [keys[i] for i in tables_of_file(plans, by_table, "categories")] == ["categories"]
    assert [keys[i] for i in tables_of_file(plans, by_table, "extra")] == ["products"]
    assert tables_of_file(plans, by_table, None) == []
    assert tables_of_file(plans, {}, None) == [0, 1]  # no `file:` anywhere: every file
