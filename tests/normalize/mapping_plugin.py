"""A pytest plugin: every ``split_export`` call of a test run also compares the mapping layer with
the row engine on the same connector and files.

``.venv/bin/python -m pytest -p tests.normalize.mapping_plugin tests/split tests/adversarial``
runs those suites unchanged; a difference between the two mappings fails the test that made the
call (an AssertionError raised from inside its split).
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import pytest

from saleslayer_airflow.normalize.results import LandedFile
from saleslayer_airflow.validation import pipeline
from tests.normalize.mapping_reference import check_mapping

_original = pipeline.split_export
COMPARED: list[str] = []


def _checked(config: Any, files: Sequence[LandedFile], *args: Any, **kwargs: Any) -> Any:
    check_mapping(config, files, (3, 65_536))
    COMPARED.append(config.id)
    return _original(config, files, *args, **kwargs)


@pytest.fixture(autouse=True)
def _compare_mappings(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(pipeline, "split_export", _checked)
    try:
        from saleslayer_airflow.operators import split

        if hasattr(split, "split_export"):
            monkeypatch.setattr(split, "split_export", _checked)
    except ImportError:  # pragma: no cover - the operators need Airflow
        pass
    for module in ("tests.split.conftest",):
        import importlib

        mod = importlib.import_module(module)
        if hasattr(mod, "split_export"):
            monkeypatch.setattr(mod, "split_export", _checked)


def pytest_terminal_summary(terminalreporter: Any) -> None:
    terminalreporter.write_line(f"mapping layer compared on {len(COMPARED)} split_export calls")
