"""Regenerate the golden copy ONLY for a deliberate behaviour change: it is the reference the
split engine is compared with (issue 12), made with today's engine before it was replaced.

Usage: ``.venv/bin/python -m tests.golden.make_golden [--source-rev REV] [CASE ...]`` writes,
for every case of :mod:`tests.golden.cases` (or only the named ones),
``tests/golden/data/<case>/`` (see :mod:`tests.golden.golden` for the files) and
``tests/golden/data/codes.json``: which reject codes each case produced, and the codes of the
engine's source that no case produces. Needs ../shared/realdata. ``--source-rev HEAD`` runs the
engine of that commit (``git archive``), not the working tree's, so that other work in progress
in the tree does not leak into the golden copy (the copy of issue 12 was made from commit
2a68a6e). ``tests/golden/test_golden.py`` compares an engine with these files.
"""

from __future__ import annotations

import ast
import io
import json
import os
import re
import shutil
import subprocess
import sys
import tarfile
import tempfile
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from tests.golden.cases import REALDATA, ROOT, all_cases
from tests.golden.golden import DATA, engine, run_case

_SOURCE_VARIABLE = "SALESLAYER_GOLDEN_SOURCE"
ENGINE_PACKAGES = ("readers", "mapping", "validation")


def _sources() -> list[Path]:
    """The engine's packages, where the running saleslayer_airflow was imported from."""
    import saleslayer_airflow

    package = Path(saleslayer_airflow.__file__).resolve().parent
    return [package / name for name in ENGINE_PACKAGES]


#: The calls that give a reject its code (as their ``code`` keyword or last argument).
_REJECT_CALLS = frozenset(
    {"ValueProblem", "RowProblem", "_CellProblem", "RowReject", "reject_row", "reject_item",
     "add_reject", "_reject"}
)  # fmt: skip


def _code_of(node: ast.expr, constants: dict[str, str]) -> str | None:
    if isinstance(node, ast.Constant) and isinstance(node.value, str):
        return node.value
    if isinstance(node, ast.Name):
        return constants.get(node.id)
    return None


def source_codes() -> set[str]:
    """The reject codes spelt in today's readers, mapping and validation modules: the literal
    code of every call that makes a reject, the default of RowProblem.code and module constants
    such as BAD_REFERENCE."""
    codes: set[str] = set()
    for folder in _sources():
        for path in sorted(folder.glob("*.py")):
            tree = ast.parse(path.read_text(encoding="utf-8"))
            constants = {
                target.id: node.value.value
                for node in tree.body
                if isinstance(node, ast.Assign)
                and isinstance(node.value, ast.Constant)
                and isinstance(node.value.value, str)
                for target in node.targets
                if isinstance(target, ast.Name)
            }
            for node in ast.walk(tree):
                if (
                    isinstance(node, ast.AnnAssign)
                    and isinstance(node.target, ast.Name)
                    and node.target.id == "code"
                    and node.value is not None
                ):
                    found = _code_of(node.value, constants)
                    if found:
                        codes.add(found)
                if not isinstance(node, ast.Call):
                    continue
                func = node.func
                name = func.attr if isinstance(func, ast.Attribute) else getattr(func, "id", "")
                if name not in _REJECT_CALLS:
                    continue
                args = [k.value for k in node.keywords if k.arg == "code"] or node.args[-1:]
                for arg in args:
                    found = _code_of(arg, constants)
                    if found and re.fullmatch(r"[a-z]+(?:_[a-z]+)*", found):
                        codes.add(found)
    return codes


@contextmanager
def recording_codes() -> Iterator[list[str]]:
    """Every reject code today's engine records while the block runs (ItemStore.add_reject
    is where every reject goes through)."""
    from tests.oracle.store import ItemStore

    seen: list[str] = []
    original = ItemStore.add_reject

    def add_reject(self: ItemStore, *args: Any, **kwargs: Any) -> None:
        seen.append(str(args[7] if len(args) > 7 else kwargs["code"]))
        original(self, *args, **kwargs)

    ItemStore.add_reject = add_reject  # type: ignore[method-assign]
    try:
        yield seen
    finally:
        ItemStore.add_reject = original  # type: ignore[method-assign]


def _engine_is_committed() -> str:
    done = subprocess.run(
        ["git", "status", "--porcelain", "--", *map(str, _sources())],
        cwd=ROOT,
        capture_output=True,
        text=True,
        check=False,
    )
    return done.stdout.strip()


def _from_revision(revision: str, argv: list[str]) -> int:
    """Run this command again with the engine's source of ``revision`` (``git archive``): the
    golden copy is of a committed engine even while the working tree is being changed."""
    commit = subprocess.run(
        ["git", "rev-parse", "--verify", f"{revision}^{{commit}}"],
        cwd=ROOT,
        capture_output=True,
        text=True,
        check=True,
    ).stdout.strip()
    with tempfile.TemporaryDirectory(prefix="golden-source-") as folder:
        archive = subprocess.run(
            ["git", "archive", commit, "src"], cwd=ROOT, capture_output=True, check=True
        ).stdout
        with tarfile.open(fileobj=io.BytesIO(archive)) as tar:
            tar.extractall(folder, filter="data")
        source = Path(folder) / "src"
        env = os.environ | {
            "PYTHONPATH": os.pathsep.join([str(source), str(ROOT)]),
            _SOURCE_VARIABLE: f"{commit}={source}",
        }
        done = subprocess.run(
            [sys.executable, "-m", "tests.golden.make_golden", *argv], cwd=ROOT, env=env
        )
    return done.returncode


def _engine_source() -> str:
    """Which source the engine runs from: a commit (--source-rev) or the working tree."""
    import saleslayer_airflow

    marker = os.environ.get(_SOURCE_VARIABLE)
    if marker:
        commit, _, folder = marker.partition("=")
        if not Path(saleslayer_airflow.__file__).resolve().is_relative_to(Path(folder).resolve()):
            raise RuntimeError(f"saleslayer_airflow was not imported from {folder}")
        return f"commit {commit}"
    changed = _engine_is_committed()
    if changed:
        print(f"note: the engine's source differs from the last commit:\n{changed}")
        return "working tree (differing from the last commit)"
    return "working tree (as committed)"


def main(argv: list[str]) -> int:
    if argv[:1] == ["--source-rev"]:
        if len(argv) < 2:
            print("--source-rev needs a git revision, e.g. HEAD", file=sys.stderr)
            return 2
        return _from_revision(argv[1], argv[2:])
    spec, split = engine()
    source = _engine_source()
    if not REALDATA.is_dir():
        print(f"{REALDATA} is missing: the golden copy needs the real exports", file=sys.stderr)
        return 2
    cases = all_cases()
    if argv:
        unknown = sorted(set(argv) - {c.name for c in cases})
        if unknown:
            print(f"unknown case(s): {unknown}", file=sys.stderr)
            return 2
        cases = [c for c in cases if c.name in argv]
    DATA.mkdir(exist_ok=True)
    codes_path = DATA / "codes.json"
    by_case: dict[str, list[str]] = (
        json.loads(codes_path.read_text(encoding="utf-8"))["by_case"]
        if argv and codes_path.exists()
        else {}
    )
    for case in cases:
        with tempfile.TemporaryDirectory(prefix="golden-") as scratch, recording_codes() as seen:
            files = run_case(case, Path(scratch), split)
        folder = DATA / case.name
        shutil.rmtree(folder, ignore_errors=True)
        folder.mkdir()
        for name, body in files.items():
            (folder / name).write_bytes(body)
        by_case[case.name] = sorted(set(seen))
        size = sum(len(b) for b in files.values())
        print(f"{case.name}: {len(files)} files, {size:,} bytes, codes {by_case[case.name]}")
    known = {c.name for c in all_cases()}
    for stale in sorted(p for p in DATA.iterdir() if p.is_dir() and p.name not in known):
        shutil.rmtree(stale)
        print(f"removed {stale.name}: no such case any more")
    produced = sorted({code for codes in by_case.values() for code in codes})
    report = {
        "engine": spec,
        "engine_source": source,
        "produced": {
            code: sorted(n for n, codes in by_case.items() if code in codes) for code in produced
        },
        "in_source_not_produced": sorted(source_codes() - set(produced)),
        "by_case": dict(sorted(by_case.items())),
    }
    codes_path.write_text(json.dumps(report, indent=1) + "\n", encoding="utf-8")
    total = sum(p.stat().st_size for p in DATA.rglob("*") if p.is_file())
    print(f"{len(by_case)} cases; codes produced: {', '.join(produced)}")
    print(f"codes in the source that no case produces: {report['in_source_not_produced']}")
    print(f"{DATA}: {total:,} bytes")
    return 0


def _drop_test_airflow_home() -> None:
    """The hostile corpus imports tests/conftest.py, which makes a throw-away AIRFLOW_HOME that
    only pytest's session fixture removes: removed here when run as a command."""
    home = getattr(sys.modules.get("tests.conftest"), "_AIRFLOW_HOME", None)
    if isinstance(home, str):
        shutil.rmtree(home, ignore_errors=True)


if __name__ == "__main__":
    try:
        code = main(sys.argv[1:])
    finally:
        _drop_test_airflow_home()
    sys.exit(code)
