"""The delta hashes a local staged file through Arrow's own file reader (a Python file object
costs a Python call per read); object storage still goes through ``StagedItems.open``. Either
way the digests are the same."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from saleslayer_airflow.config.tables import TableMapping
from saleslayer_airflow.push.columnar import _hashed, _read_natively
from saleslayer_airflow.push.items import StagedItems, read_items
from saleslayer_airflow.state import content_hash

TABLE = TableMapping.model_validate({"reference": "ref", "fields": {"prod_title": "title"}})


def _staged(path: Path) -> Path:
    import pyarrow as pa
    import pyarrow.parquet as pq

    table = pa.table({"reference": ["A", "B", "C"], "prod_title": ['x"', "", None]})
    pq.write_table(table, path, row_group_size=2)
    return path


class _NotLocal:
    """A path on object storage, as far as the delta can tell."""

    protocol = "s3"

    def __init__(self, path: Path) -> None:
        self.local = path

    def open(self, mode: str) -> Any:
        return self.local.open(mode)


def _forbid_open(monkeypatch: pytest.MonkeyPatch) -> None:
    def refuse(self: StagedItems) -> Any:
        raise AssertionError("a local file is read natively")

    monkeypatch.setattr(StagedItems, "open", refuse)


@pytest.mark.parametrize("kind", ["str", "path", "object_storage_local"])
def test_local_files_are_read_natively(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, kind: str
) -> None:
    from airflow.sdk import ObjectStoragePath

    file = _staged(tmp_path / "products.parquet")
    path: Any = {
        "str": str(file),
        "path": file,
        "object_storage_local": ObjectStoragePath(f"file://{file}"),
    }[kind]
    expected = [content_hash(item.fields) for item in read_items(file, "products", TABLE)]
    _forbid_open(monkeypatch)
    staged = read_items(path, "products", TABLE)
    with _read_natively(staged) as parquet:
        assert parquet.metadata.num_rows == 3
    hashed = _hashed(staged)
    assert hashed["reference"].to_list() == ["A", "B", "C"]
    assert hashed["digest"].to_list() == expected


def test_other_paths_are_read_through_their_file_object(tmp_path: Path) -> None:
    file = _staged(tmp_path / "products.parquet")
    expected = [content_hash(item.fields) for item in read_items(file, "products", TABLE)]
    hashed = _hashed(read_items(_NotLocal(file), "products", TABLE))
    assert hashed["digest"].to_list() == expected


def test_digests_of_a_table_larger_than_a_hash_slice(tmp_path: Path) -> None:
    """The texts are hashed a few thousand at a time: every row keeps its own digest, across
    slices and record batches."""
    import pyarrow as pa
    import pyarrow.parquet as pq

    from saleslayer_airflow.push import sha256

    count = sha256.HASH_SLICE * 2 + 7
    table = pa.table(
        {
            "reference": [f"R{n:06d}" for n in range(count)],
            "prod_title": [f'title "{n}"' if n % 3 else "" for n in range(count)],
        }
    )
    pq.write_table(table, tmp_path / "products.parquet", row_group_size=5_000)
    staged = read_items(tmp_path / "products.parquet", "products", TABLE)
    expected = [content_hash(item.fields) for item in staged]
    assert len(set(expected)) == count - count // 3 + 1  # the empty titles hash alike
    for plugin in (True, False):
        sha256.use_plugin(plugin)
        try:
            assert _hashed(staged)["digest"].to_list() == expected
        finally:
            sha256.use_plugin(None)
