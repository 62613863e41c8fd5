"""The column preflight against every golden case (tests/golden): it never fails an export the
split imports, and it catches, up front, every export the split refuses for a mapped column."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from saleslayer_airflow.readers.errors import SourceFileError
from saleslayer_airflow.validation.columns import preflight
from tests.conftest import REALDATA
from tests.golden.cases import Case, all_cases
from tests.golden.golden import DATA

CASES = all_cases()
#: the split's MappingError messages for a mapped column the file lacks, or holds twice
COLUMN_ERRORS = ("is not in the file", "appears", "occur in none of")


@pytest.mark.parametrize("case", CASES, ids=[c.name for c in CASES])
def test_the_preflight_agrees_with_the_golden_outcome(case: Case, tmp_path: Path) -> None:
    if case.realdata and not REALDATA.is_dir():
        pytest.skip("needs ../shared/realdata")
    summary = json.loads((DATA / case.name / "summary.json").read_text(encoding="utf-8"))
    error = summary.get("error")
    files = []
    for index, landed in enumerate(case.inputs):
        path = tmp_path / f"{index}_{Path(landed.name).name}"
        path.write_bytes(landed.payload())
        files.append((path, landed.name, landed.file))
    config = case.config()
    try:
        checked = preflight(config, files)
    except SourceFileError:
        # the header itself cannot be read: the split refuses the file the same way
        assert error is not None and error["type"] == "SourceFileError", summary
        return
    refused_for_a_column = (
        error is not None
        and error["type"] == "MappingError"
        and any(fragment in error["message"] for fragment in COLUMN_ERRORS)
    )
    if not checked.errors:
        # JSON: a path in none of the first records may still be a mistake the split finds
        assert not refused_for_a_column or checked.warnings, (error, checked.problems)
        return
    assert refused_for_a_column, [str(p) for p in checked.errors]
    for problem in checked.errors:
        assert repr(problem.column) in error["message"], (problem.column, error["message"])
