"""What a staged table becomes when pushed (issue 11, points 3 and 4): exact numbers, empty
fields sent to clear them (or left out with ``on_empty: keep``), and a content hash that leaves
items pushed before this change ``unchanged``."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from saleslayer_airflow.config.tables import OnEmpty, TableMapping
from saleslayer_airflow.numbers import FIELD_TYPE_KEY, ExactNumber
from saleslayer_airflow.push.items import read_items
from saleslayer_airflow.saleslayer.form import flatten_row
from saleslayer_airflow.state.delta import content_hash, same_value

TABLE = TableMapping.model_validate(
    {
        "reference": "ref",
        "fields": {
            "prod_description": "description",
            "prod_title": {"column": "title", "languages": ["en", "es"]},
            "prod_material": {"column": "material", "on_empty": "keep"},
            "prod_tags": {"column": "tags", "separator": "|"},
            "prod_price": {"column": "price", "type": "number"},
            "prod_stock": {"column": "stock", "type": "integer"},
        },
    }
)


def _staged(path: Path, rows: list[dict[str, Any]]) -> Path:
    import pyarrow as pa
    import pyarrow.parquet as pq

    def typed(name: str, kind: Any, sl_type: str) -> Any:
        return pa.field(name, kind, metadata={FIELD_TYPE_KEY: sl_type.encode()})

    schema = pa.schema(
        [
            pa.field("reference", pa.string()),
            pa.field("_source_file", pa.string()),
            pa.field("_line", pa.int64()),
            typed("prod_description", pa.string(), "string"),
            typed("prod_title_en", pa.string(), "string"),
            typed("prod_title_es", pa.string(), "string"),
            typed("prod_material", pa.string(), "string"),
            typed("prod_tags", pa.list_(pa.string()), "string"),
            typed("prod_price", pa.string(), "number"),
            typed("prod_stock", pa.int64(), "integer"),
        ]
    )
    full = [{"_source_file": "x.csv", "_line": n + 2} | row for n, row in enumerate(rows)]
    pq.write_table(pa.Table.from_pylist(full, schema=schema), path / "products.parquet")
    return path / "products.parquet"


ROW = {
    "reference": "P1",
    "prod_description": "Nice",
    "prod_title_en": "Shirt",
    "prod_title_es": "Camisa",
    "prod_material": "cotton",
    "prod_tags": ["a", "b"],
    "prod_price": "0.1",
    "prod_stock": 9007199254740993,
}
EMPTY = {"reference": "P2", "prod_title_en": "Hat", "prod_tags": []}


def test_numbers_are_exact_and_empty_fields_clear(tmp_path: Path) -> None:
    path = _staged(tmp_path, [ROW, EMPTY | {"prod_price": "12"}])
    first, second = read_items(path, "products", TABLE)
    assert first.fields["prod_price"] == "0.1" and isinstance(
        first.fields["prod_price"], ExactNumber
    )
    assert first.fields["prod_stock"] == 9007199254740993
    assert second.fields == {
        "prod_description": "",
        "prod_title_en": "Hat",
        "prod_title_es": "",
        "prod_tags": [],
        "prod_price": 12,  # whole: an int, as before
        "prod_stock": "",
    }  # prod_material is on_empty: keep -> left out
    # The Import Connector form carries the exact digits, and "" to clear.
    assert dict(flatten_row("products", first.fields))["prod_stock"] == "9007199254740993"
    assert dict(flatten_row("products", first.fields))["prod_price"] == "0.1"
    assert dict(flatten_row("products", second.fields))["prod_tags"] == ""
    # And JSON (REST client, state store) the exact digits too.
    assert json.loads(json.dumps(first.fields))["prod_price"] == "0.1"


def test_the_connector_default_keep_leaves_empty_fields_out(tmp_path: Path) -> None:
    path = _staged(tmp_path, [EMPTY])
    [item] = read_items(path, "products", TABLE, on_empty=OnEmpty.KEEP)
    assert item.fields == {"prod_title_en": "Hat"}


@pytest.mark.parametrize(
    ("before", "after"),
    [
        # (fields as pushed before numbers were exact and empties sent, the same item now)
        ({"p": 12.5, "t": "x"}, {"t": "x", "p": ExactNumber("12.5"), "d": "", "l": []}),
        ({"p": 12}, {"p": 12}),
        ({"p": 1e-05}, {"p": ExactNumber("0.00001")}),
        ({"p": 0.1}, {"p": ExactNumber("0.1")}),
    ],
)
def test_items_pushed_before_keep_their_hash(before: dict[str, Any], after: dict[str, Any]) -> None:
    assert content_hash(before) == content_hash(after)


def test_a_value_that_was_rounded_before_changes_the_hash() -> None:
    # The float 0.3 is what 0.30000000000000001 became: the exact value is another number, so
    # the item is sent once more, exact this time.
    assert content_hash({"p": 0.3}) != content_hash({"p": ExactNumber("0.30000000000000001")})
    assert content_hash({"p": 9007199254740992}) != content_hash({"p": 9007199254740993})
    assert content_hash({"d": "x"}) != content_hash({"d": ""})


def test_same_value_reads_numbers_by_value_and_empties_alike() -> None:
    assert same_value(12.5, ExactNumber("12.5")) and same_value("12.5", ExactNumber("12.50"))
    assert same_value(None, "") and same_value([], None)
    assert not same_value("x", "") and not same_value(0.3, ExactNumber("0.30000000000000001"))


def test_levels_of_a_category_path_clear_nothing(tmp_path: Path) -> None:
    # "Men" is only the level above "Men > Tops": the export says nothing of its fields.
    import pyarrow as pa
    import pyarrow.parquet as pq

    table = TableMapping.model_validate(
        {
            "reference": "path",
            "path": {"column": "path"},
            "fields": {"cat_title": "name", "cat_description": "text"},
        }
    )
    schema = pa.schema(
        [
            ("reference", pa.string()),
            ("_source_file", pa.string()),
            ("_line", pa.int64()),
            ("cat_title", pa.string()),
            ("cat_description", pa.string()),
            ("_parent_ref", pa.string()),
        ]
    )
    rows = [
        {"reference": "Men", "cat_title": None, "cat_description": None, "_parent_ref": None},
        {"reference": "Men > Tops", "cat_title": "Tops", "_parent_ref": "Men"},
    ]
    full = [{"_source_file": "x.csv", "_line": 2} | row for row in rows]
    pq.write_table(pa.Table.from_pylist(full, schema=schema), tmp_path / "c.parquet")
    level, leaf = read_items(tmp_path / "c.parquet", "categories", table)
    assert level.fields == {}
    assert leaf.fields == {"cat_title": "Tops", "cat_description": "", "cat_parent_ref": "Men"}
