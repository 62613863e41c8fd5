"""Every format as batches: the adapter over the record readers gives exactly their rows.

The inputs are the tests' own corpora: the malformed inputs of tests/split/test_malformed.py, the
hostile files of tests/adversarial/test_hostile_files.py (CSV, JSON, JSON Lines, XLSX), and the
real exports of ../shared/realdata when present. CSV cases go through the fast path where it is
proven and the csv-module reader elsewhere: the same comparison holds for both.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import yaml
from pydantic import TypeAdapter

from saleslayer_airflow.config.formats import Format
from saleslayer_airflow.readers.batches import open_batches
from saleslayer_airflow.readers.json import MISSING
from tests.readers.compare import Fmt, reference, same_as_reference

_FORMAT: TypeAdapter[Any] = TypeAdapter(Format)


def _fmt(text: str) -> Fmt:
    fmt: Fmt = _FORMAT.validate_python(yaml.safe_load(text))
    return fmt


def _corpus() -> Iterator[tuple[str, bytes, str]]:
    from tests.adversarial import test_hostile_files as hostile
    from tests.split import test_malformed as malformed

    for case in malformed.CASES:
        data = case.data() if callable(case.data) else case.data
        if len(data) > 5_000_000:
            continue  # the 10 MiB cell: read by test_malformed itself
        yield f"malformed/{case.name}", data, case.fmt
    for hostile_case in hostile.CASES:
        if len(hostile_case.data) > 5_000_000:
            continue
        yield f"hostile/{hostile_case.name}", hostile_case.data, hostile_case.format


CORPUS = list(_corpus())


def _paths(value: Any, prefix: str = "") -> Iterator[str]:
    """Dotted paths into a JSON record: every key, and the keys of nested objects."""
    if isinstance(value, dict):
        for key, inner in value.items():
            path = f"{prefix}{key}"
            yield path
            yield from _paths(inner, f"{path}.")


def _wanted(path: Path, fmt: Fmt) -> list[list[str] | None]:
    """Columns to ask for: all (None) and a few (tabular); JSON: every path seen, and one that
    no record holds."""
    found = reference(path, fmt)
    if isinstance(found, str):
        return [None, ["x"]]
    columns, rows = found
    if columns is not None:
        return [None, [*list(reversed(columns))[:2], "not a column"]]
    paths: dict[str, None] = {}
    for row in rows:
        paths.update(dict.fromkeys(_paths(row.cells)))
    return [[*paths, "no.such.path"]]


def test_the_corpus_holds_every_format() -> None:
    kinds = {yaml.safe_load(fmt)["type"] for _, _, fmt in CORPUS}
    assert kinds == {"csv", "json", "jsonl", "xlsx"}, kinds
    assert len(CORPUS) >= 60


@pytest.mark.parametrize(("name", "data", "fmt"), CORPUS, ids=[c[0] for c in CORPUS])
def test_corpus_file_as_batches(name: str, data: bytes, fmt: str, tmp_path: Path) -> None:
    path = tmp_path / "export.bin"
    path.write_bytes(data)
    parsed = _fmt(fmt)
    for wanted in _wanted(path, parsed):
        for batch_rows in (1, 3, 65_536):
            same_as_reference(path, parsed, wanted, batch_rows)


def test_json_values_keep_their_kind(tmp_path: Path) -> None:
    path = tmp_path / "x.jsonl"
    path.write_text(
        '{"sku": "A", "price": 1.10, "tags": ["a"], "f": {"p": "X"}, "e": ""}\n'
        '{"sku": "B", "price": null, "f": {}}\n'
        "not json\n"
        '{"sku": "C", "price": 2, "e": "\\ud800"}\n',
        encoding="utf-8",
    )
    reader = open_batches(path, _fmt("{type: jsonl}"), "x.jsonl", 0, ["sku", "price", "f.p", "e"])
    (batch,) = list(reader)
    assert batch.text["sku"].to_pylist() == ["A", "B", None, "C"]
    price = batch.objects["price"]
    assert [str(price[0]), price[1], price[2], price[3]] == ["1.10", None, MISSING, 2]
    assert batch.text["f.p"].to_pylist() == ["X", None, None, None]
    assert batch.present["f.p"].to_pylist() == [True, False, False, False]
    assert batch.present["price"].to_pylist() == [True, True, False, True]
    # a lone surrogate (legal in a JSON string) is no Arrow text: the raw value is kept
    assert batch.objects["e"] == ["", MISSING, MISSING, "\ud800"]
    assert batch.problem_code.to_pylist() == [None, None, "bad_json", None]
    assert batch.lines.to_pylist() == [1, 2, 3, 4]


REALDATA_FORMATS = {
    "saleor/populatedb_data.json": "{type: json}",
    "akeneo/categories.csv": '{type: csv, delimiter: ";", encoding: auto}',
    "akeneo/product_export_with_non_utf8_characters.csv": '{type: csv, delimiter: ";"}',
    "prestashop/store_contacts.csv": '{type: csv, delimiter: ";", encoding: auto}',
}


@pytest.mark.parametrize("relative", sorted(REALDATA_FORMATS))
def test_realdata_as_batches(relative: str) -> None:
    from tests.conftest import REALDATA

    path = REALDATA / relative
    if not path.is_file():
        pytest.skip(f"{path} not present")
    fmt = _fmt(REALDATA_FORMATS[relative])
    for wanted in _wanted(path, fmt):
        for batch_rows in (7, 65_536):
            same_as_reference(path, fmt, wanted, batch_rows)
