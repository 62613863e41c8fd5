"""Run one golden case through a split engine and turn its outputs into the golden files.

The golden files of a case (tests/golden/data/<case>/):

- ``input.json``: what was split (connector text, landed files' names and fingerprints, chunk
  size): a changed input makes the comparison meaningless, so it is checked first;
- ``rejects.csv``: the rejects file, byte for byte;
- ``summary.json``: the SplitResult's counts, per-table TableCounts, top_reasons,
  ``unreadable.describe()``, the staged files, each table's Parquet schema and, when deletions
  are on, each table's rejected references (sorted); or the error, for an input that is refused
  as a whole;
- per table, the staged rows in order as canonical JSON Lines (``<table>.jsonl``: every column
  of the Parquet file, in schema order, values as pyarrow's ``to_pylist`` gives them) when they
  take less than :data:`FULL_LIMIT` bytes; otherwise ``<table>.sha256`` (the digest of that
  JSONL and its row count) and ``<table>.head.jsonl`` (its first :data:`HEAD_ROWS` rows).
"""

from __future__ import annotations

import dataclasses
import hashlib
import importlib
import json
import os
from collections.abc import Callable
from pathlib import Path
from typing import Any

from saleslayer_airflow.mapping.errors import MappingError
from saleslayer_airflow.normalize.results import LandedFile, SplitResult
from saleslayer_airflow.readers.errors import SourceFileError
from tests.golden.cases import Case, fingerprint

DATA = Path(__file__).resolve().parent / "data"
FULL_LIMIT = 2 * 1024 * 1024
HEAD_ROWS = 200
#: ``module:function`` of the engine under test; the default is today's engine. The columnar
#: engine can be compared before it is wired in:
#: SALESLAYER_GOLDEN_ENGINE=saleslayer_airflow.normalize.engine:split_export
ENGINE_VARIABLE = "SALESLAYER_GOLDEN_ENGINE"
DEFAULT_ENGINE = "saleslayer_airflow.normalize.engine:split_export"

SplitFunction = Callable[..., SplitResult]


def engine() -> tuple[str, SplitFunction]:
    """The engine named by SALESLAYER_GOLDEN_ENGINE (default: today's)."""
    spec = os.environ.get(ENGINE_VARIABLE) or DEFAULT_ENGINE
    module, _, name = spec.partition(":")
    if not name:
        raise ValueError(f"{ENGINE_VARIABLE}={spec!r}: expected 'package.module:function'")
    function: SplitFunction = getattr(importlib.import_module(module), name)
    return spec, function


def _json(value: Any) -> bytes:
    return (json.dumps(value, ensure_ascii=False, indent=1) + "\n").encode("utf-8")


def _jsonl_line(row: dict[str, Any]) -> bytes:
    # Key order is the Parquet schema's; non-ASCII text as is; NaN would be a bug, so refused.
    text = json.dumps(row, ensure_ascii=False, separators=(",", ":"), allow_nan=False)
    return text.encode("utf-8") + b"\n"


def input_description(case: Case, payloads: list[bytes]) -> dict[str, Any]:
    return {
        "case": case.name,
        "origin": case.origin,
        "connector_sha256": hashlib.sha256(case.connector_source().encode("utf-8")).hexdigest(),
        "files": [
            {"name": i.name, "file": i.file, "fingerprint": fingerprint(p)}
            for i, p in zip(case.inputs, payloads, strict=True)
        ],
        "chunk_rows": case.chunk_rows,
    }


def _schema(path: Path) -> list[list[Any]]:
    import pyarrow.parquet as pq

    schema = pq.read_schema(path)
    return [
        [
            f.name,
            str(f.type),
            f.nullable,
            {k.decode(): v.decode() for k, v in (f.metadata or {}).items()},
        ]
        for f in schema
    ]


def _table_files(key: str, path: Path) -> dict[str, bytes]:
    import pyarrow.parquet as pq

    lines = [_jsonl_line(row) for row in pq.read_table(path).to_pylist()]
    body = b"".join(lines)
    if len(body) < FULL_LIMIT:
        return {f"{key}.jsonl": body}
    digest = {"sha256": hashlib.sha256(body).hexdigest(), "rows": len(lines)}
    return {f"{key}.sha256": _json(digest), f"{key}.head.jsonl": b"".join(lines[:HEAD_ROWS])}


def _relative(path: Path, work: Path) -> str:
    return path.relative_to(work).as_posix()


def _summary(result: SplitResult, work: Path) -> dict[str, Any]:
    import pyarrow.parquet as pq

    return {
        "rows_read": result.rows_read,
        "rows_unused": result.rows_unused,
        "rows_rejected": result.rows_rejected,
        "rejects": result.rejects,
        "tables": {key: dataclasses.asdict(counts) for key, counts in result.tables.items()},
        "top_reasons": [list(reason) for reason in result.top_reasons],
        "unreadable": {key: u.describe() for key, u in result.unreadable.items()},
        "rejected_refs": {
            key: sorted(pq.read_table(path).column("reference").to_pylist())
            for key, path in result.rejected_refs.items()
        },
        "files": {
            "rejects": _relative(result.rejects_path, work),
            "tables": {key: _relative(p, work) for key, p in result.paths.items()},
            "rejected_refs": {key: _relative(p, work) for key, p in result.rejected_refs.items()},
        },
        "schema": {key: _schema(path) for key, path in result.paths.items()},
    }


def run_case(case: Case, scratch: Path, split: SplitFunction) -> dict[str, bytes]:
    """Split the case's inputs with ``split`` in ``scratch``; the golden files it gives, by
    name."""
    inputs = scratch / "input"
    work = scratch / "work"
    inputs.mkdir(parents=True)
    landed = []
    payloads = []
    for index, item in enumerate(case.inputs):
        payload = item.payload()
        payloads.append(payload)
        # One folder per file: names of a case may repeat in principle, and stay as landed.
        path = inputs / str(index) / item.name
        path.parent.mkdir()
        path.write_bytes(payload)
        landed.append(LandedFile(path, item.name, file=item.file))
    files = {"input.json": _json(input_description(case, payloads))}
    del payloads
    try:
        result = split(
            case.config(), landed, work, known_refs=case.known(), chunk_rows=case.chunk_rows
        )
    except (SourceFileError, MappingError) as exc:
        message = str(exc).replace(str(inputs), "<input>").replace(str(work), "<work>")
        files["summary.json"] = _json({"error": {"type": type(exc).__name__, "message": message}})
        return files
    files["rejects.csv"] = result.rejects_path.read_bytes()
    files["summary.json"] = _json(_summary(result, work))
    for key, path in result.paths.items():
        files.update(_table_files(key, path))
    return files


def first_difference(name: str, expected: bytes, got: bytes) -> str:
    """Where two versions of a golden file part ways, for a person: the first differing line."""
    want_lines = expected.split(b"\n")
    got_lines = got.split(b"\n")
    for number in range(1, max(len(want_lines), len(got_lines)) + 1):
        want = want_lines[number - 1] if number <= len(want_lines) else None
        have = got_lines[number - 1] if number <= len(got_lines) else None
        if want != have:
            return (
                f"{name}: first difference at line {number} (golden: {len(want_lines)} lines, "
                f"now: {len(got_lines)}):\n"
                f"  golden: {_cut(want)}\n"
                f"  now:    {_cut(have)}"
            )
    return f"{name}: identical"


def _cut(line: bytes | None, limit: int = 600) -> str:
    if line is None:
        return "(no such line)"
    text = line.decode("utf-8", "backslashreplace")
    return text if len(text) <= limit else f"{text[:limit]}... ({len(text):,} characters)"
