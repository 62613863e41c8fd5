"""Today's split outputs, kept (tests/golden/data/), against the engine's outputs now.

One test per golden case: the case's inputs are split again (by today's engine, or by the one
SALESLAYER_GOLDEN_ENGINE names) and every golden file must come out identical: rejects.csv byte
for byte, the summary (counts, top reasons, unreadable rows, rejected references, schemas) and
every table's rows in order. A failure shows the first differing line of the first file that
differs.
"""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from tests.golden.cases import REALDATA, Case, all_cases
from tests.golden.golden import DATA, engine, first_difference, run_case

CASES = all_cases()


@pytest.mark.parametrize("case", CASES, ids=[c.name for c in CASES])
def test_split_outputs_match_the_golden_copy(case: Case, tmp_path: Path) -> None:
    if case.realdata and not REALDATA.is_dir():
        pytest.skip(f"{REALDATA} not present: a clone on its own has no shared/realdata")
    folder = DATA / case.name
    assert folder.is_dir(), (
        f"no golden copy of {case.name} in {folder}: a new case needs one made with the "
        "reference engine (python -m tests.golden.make_golden CASE)"
    )
    golden = {p.name: p.read_bytes() for p in sorted(folder.iterdir())}
    _, split = engine()
    got = run_case(case, tmp_path, split)

    # The input first: when it changed, the outputs cannot be compared.
    assert got["input.json"] == golden["input.json"], (
        f"the input of {case.name} ({case.origin}) is not the one the golden copy was made "
        "from; " + first_difference("input.json", golden["input.json"], got["input.json"])
    )
    assert sorted(got) == sorted(golden), (
        f"{case.name}: the engine wrote {sorted(got)}, the golden copy has {sorted(golden)}"
        + _error_hint(golden, got)
    )
    leading = [name for name in ("rejects.csv", "summary.json") if name in golden]
    order = leading + sorted(set(golden) - set(leading))
    differing = [name for name in order if got[name] != golden[name]]
    if differing:
        first = differing[0]
        pytest.fail(
            f"{case.name} ({case.origin}): {len(differing)} file(s) differ from the golden "
            f"copy: {differing}\n" + first_difference(first, golden[first], got[first]),
            pytrace=False,
        )


def _error_hint(golden: dict[str, bytes], got: dict[str, bytes]) -> str:
    """The error of the side that raised one, if any."""
    for side, files in (("golden", golden), ("now", got)):
        summary = json.loads(files.get("summary.json", b"{}"))
        if "error" in summary:
            return f"\n{side}: {summary['error']['type']}: {summary['error']['message']}"
    return ""


def test_first_difference_names_the_line() -> None:
    text = first_difference("rejects.csv", b"a\nb\nc\n", b"a\nB\nc\n")
    assert "line 2" in text and "golden: b" in text and "now:    B" in text
    shorter = first_difference("x", b"a\nb", b"a")
    assert "golden: b" in shorter and "now:    (no such line)" in shorter
    assert "identical" in first_difference("x", b"a", b"a")
