"""Values through Airflow into the emulator, as the ERP has them (issue 11, points 2 to 4).

Numbers are never re-interpreted: a price written with the other decimal separator is rejected
with its reason (not multiplied by 100), an integer above 2**53 arrives with every digit, one
above what an integer field carries (2**64) is a rejected row, never a crashed, retried task.
The ERP is the source of truth: a description, price or tag list emptied in the export is
cleared in Sales Layer, counted in the report and shown going empty in a dry run's sample;
a field set to ``on_empty: keep`` keeps its value.
"""

from __future__ import annotations

import csv
from datetime import timedelta
from pathlib import Path
from typing import Any

import pytest

from saleslayer_airflow.emulator.tenant import default_tenant_path
from tests.e2e.conftest import (
    FAST_TRACKING,
    World,
    catalog,
    first_day,
    sent_references,
    states,
    tries,
    xcom,
)

CONNECTOR = """\
id: values_e2e
description: Products whose values must arrive as the ERP has them.
schedule: "@daily"
start_date: 2026-11-01
retries: 2
retry_delay: 1s
source:
  kind: ftp
  conn_id: erp_ftp
  path: "/exports/products_{{ ds_nodash }}.csv"
  stable_for: 0s
format: {type: csv, delimiter: ";"}
tables:
  products:
    reference: ref
    fields:
      prod_title: {column: title, required: true}
      prod_description: description
      prod_material: {column: material, on_empty: keep}
      prod_tags: {column: tags, separator: "|"}
      prod_price: {column: price, type: number, transforms: [{parse_number: comma}]}
%(stock)s
target: {conn_id: saleslayer_default, batch_size: 10}
validation: {max_reject_ratio: 0.9}
"""
STOCK = "      prod_stock: {column: stock, type: integer}"
HEADER = "ref;title;description;material;tags;price;stock\n"


def _publish(world: World, day: Any, rows: str) -> None:
    world.publish_file(f"products_{day:%Y%m%d}.csv", HEADER + rows)


def _run_file(world: World, dag_run: Any, name: str) -> Path:
    from saleslayer_airflow.staging import safe_segment

    folder = world.tmp / "staging" / safe_segment(world.dag_id) / safe_segment(dag_run.run_id)
    return folder / name


def _rejects(world: World, dag_run: Any) -> dict[str, dict[str, str]]:
    """The run's rejects file, by reference."""
    with _run_file(world, dag_run, "rejects.csv").open(encoding="utf-8", newline="") as handle:
        return {row["reference"]: row for row in csv.DictReader(handle)}


def _report_text(world: World, dag_run: Any) -> str:
    return _run_file(world, dag_run, "report.txt").read_text(encoding="utf-8")


def _tenant_with_stock(folder: Path) -> Path:
    """The default emulated account with an integer-like `prod_stock` field on products."""
    text = default_tenant_path().read_text(encoding="utf-8")
    anchor = "      - {name: prod_price}\n"
    assert anchor in text
    path = folder / "tenant.yaml"
    path.write_text(text.replace(anchor, anchor + "      - {name: prod_stock}\n"), "utf-8")
    return path


@pytest.mark.integration
def test_numbers_arrive_exact_or_the_row_is_rejected(world: World) -> None:
    from saleslayer_airflow.emulator.server import start_in_thread

    emulator = start_in_thread(
        world.tmp / "stock.sqlite", tenant=_tenant_with_stock(world.tmp), settings=FAST_TRACKING
    )
    world.stopped.append(emulator)
    world.use_emulator(emulator, "state-stock.sqlite")
    world.write_connector("values_e2e", CONNECTOR % {"stock": STOCK})
    day, _ = first_day()
    _publish(
        world,
        day,
        "P1;Shirt;Nice;cotton;a|b;12,50;9007199254740993\n"
        "P2;Hat;Warm;wool;x;12.50;5\n"  # a dot-decimal price in a comma file: never 1250
        "P3;Cap;Cool;wool;y;0,1;18446744073709551616\n"  # 2**64: beyond a 64-bit integer
        "P4;Sock;Soft;wool;z;1.234,5;-0\n",
    )

    dag_run = world.run(day)

    assert dag_run.state == "success", states(dag_run)
    assert set(tries(dag_run).values()) == {1}, tries(dag_run)  # nothing crashed and retried
    products = catalog(emulator, "products")
    assert set(products) == {"P1", "P4"}
    assert products["P1"]["fields"]["prod_price"] == "12.5"
    assert products["P1"]["fields"]["prod_stock"] == "9007199254740993"
    assert products["P4"]["fields"]["prod_price"] == "1234.5"
    assert products["P4"]["fields"]["prod_stock"] == "0"
    rejects = _rejects(world, dag_run)
    assert set(rejects) == {"P2", "P3"}
    assert rejects["P2"]["value"] == "12.50" and rejects["P2"]["column"] == "price"
    assert "',' as decimal separator" in rejects["P2"]["reason"], rejects["P2"]
    assert rejects["P3"]["value"] == "18446744073709551616"
    assert "outside the range of integer fields" in rejects["P3"]["reason"], rejects["P3"]
    report = xcom(dag_run, "report")["tables"]["products"]
    assert (report["read"], report["created"], report["rejected"]) == (4, 2, 2)


@pytest.mark.integration
def test_values_emptied_in_the_erp_are_cleared_unless_kept(world: World) -> None:
    world.write_connector("values_e2e", CONNECTOR % {"stock": ""})
    day, _ = first_day()
    _publish(
        world,
        day,
        "P1;Shirt;Nice;cotton;a|b;12,50;\nP2;Hat;Warm;wool;x;3,5;\nP3;Cap;;;;;\n",
    )
    first = world.run(day)
    assert first.state == "success", states(first)
    before = catalog(world.emulator, "products")
    assert before["P1"]["fields"] == {
        "prod_title": {"en": "Shirt"},
        "prod_description": {"en": "Nice"},
        "prod_material": {"en": "cotton"},
        "prod_tags": ["a", "b"],
        "prod_price": "12.5",
    }

    # Day 2: P1's description, material, tags and price are emptied in the ERP.
    next_day = day + timedelta(days=1)
    emptied = "P1;Shirt;;;;;\nP2;Hat;Warm;wool;x;3,5;\nP3;Cap;;;;;\n"
    _publish(world, next_day, emptied)
    dry = world.run(next_day, dry_run=True)
    assert dry.state == "success", states(dry)
    assert catalog(world.emulator, "products") == before
    predicted = xcom(dry, "push_products")
    [sample] = predicted["sample"]
    assert sample["reference"] == "P1" and sample["action"] == "updated"
    assert sample["fields"] == {
        "prod_description": {"from": "Nice", "to": ""},
        "prod_tags": {"from": ["a", "b"], "to": []},
        "prod_price": {"from": "12.5", "to": ""},
    }
    assert predicted["cleared"] == 3

    sent_before = len(sent_references(world.tmp / "sl.sqlite", "products"))
    real = world.run(next_day.replace(hour=7))
    assert real.state == "success", states(real)
    after = catalog(world.emulator, "products")
    # Cleared, except the material (on_empty: keep); P2 and P3 did not change: not sent.
    assert after["P1"]["fields"] == {
        "prod_title": {"en": "Shirt"},
        "prod_material": {"en": "cotton"},
    }
    assert after["P2"] == before["P2"] and after["P3"] == before["P3"]
    assert sent_references(world.tmp / "sl.sqlite", "products")[sent_before:] == ["P1"]
    report = xcom(real, "report")["tables"]["products"]
    assert (report["updated"], report["unchanged"], report["cleared"]) == (1, 2, 3)
    text = _report_text(world, real)
    assert "products: 3 field value(s) cleared in Sales Layer" in text, text

    # Day 3, the same export: an item empty yesterday and today is unchanged, not re-sent.
    _publish(world, next_day + timedelta(days=1), emptied)
    third = world.run(next_day + timedelta(days=1), force=True)  # the same file: not skipped
    assert third.state == "success", states(third)
    report = xcom(third, "report")["tables"]["products"]
    assert (report["updated"], report["unchanged"], report.get("cleared", 0)) == (0, 3, 0)
