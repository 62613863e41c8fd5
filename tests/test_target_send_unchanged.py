"""`target.send_unchanged`, formerly `target.overwrite`: the old key still loads and behaves the
same, says how to rename it wherever files are loaded, and may not be given with the new one."""

from __future__ import annotations

import json
import logging
import warnings
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, cast

import jsonschema
import pytest
import yaml

from saleslayer_airflow.config import load_connector, load_connectors, parse_connector
from saleslayer_airflow.config.models import ConnectorConfig
from saleslayer_airflow.config.schema import connector_json_schema
from saleslayer_airflow.contracts import StagedTable
from saleslayer_airflow.exceptions import ConnectorConfigError
from saleslayer_airflow.plan import plan_connector
from saleslayer_airflow.push.stage import TablePushRequest
from tests.conftest import EXAMPLES
from tests.test_cli import run_cli

EXAMPLE = EXAMPLES / "apparel_catalog_http.yaml"
NEW_LINE = "  send_unchanged: false        # true: send every item, changed or not\n"
FIX = "target.overwrite is deprecated: rename it to target.send_unchanged"


def _write(folder: Path, line: str, name: str = "apparel_catalog_http.yaml") -> Path:
    text = EXAMPLE.read_text(encoding="utf-8")
    assert NEW_LINE in text, "the example sets target.send_unchanged on a line of its own"
    path = folder / name
    path.write_text(text.replace(NEW_LINE, line), encoding="utf-8")
    return path


def _line_of(path: Path, start: str) -> int:
    lines = path.read_text(encoding="utf-8").splitlines()
    return next(n for n, text in enumerate(lines, 1) if text.startswith(start))


@pytest.fixture
def old(tmp_path: Path) -> Path:
    return _write(tmp_path, "  overwrite: true\n")


@pytest.fixture
def new(tmp_path: Path) -> Path:
    (tmp_path / "new").mkdir()
    return _write(tmp_path / "new", "  send_unchanged: true\n")


def _push_options(config: ConnectorConfig) -> Any:
    staged = StagedTable(path="products.parquet", rows_in=1, rows_out=1, merged=0, rejected=0)
    request = TablePushRequest(
        config=config,
        table="products",
        staged=staged,
        run_folder="runs/r1",
        run_id="r1",
        export_date=datetime(2026, 11, 1, tzinfo=UTC),
        dry_run=False,
        progress=cast(Any, None),
        log=cast(Any, None),
    )
    return request.options()


def test_the_old_key_loads_as_the_new_one_and_plans_the_same(old: Path, new: Path) -> None:
    with warnings.catch_warnings():
        # Loading must not read the deprecated attribute (that warns, for code still using it).
        warnings.simplefilter("error", DeprecationWarning)
        from_old, from_new = load_connector(old), load_connector(new)
    assert from_old.target.send_unchanged is True
    assert from_old == from_new
    assert plan_connector(from_old) == plan_connector(from_new)
    # Tasks re-read the connector from this dump: one name only, else it would be refused.
    dumped = from_old.model_dump(mode="json")
    assert dumped == from_new.model_dump(mode="json")
    assert "overwrite" not in dumped["target"] and dumped["target"]["send_unchanged"] is True
    assert ConnectorConfig.model_validate(dumped) == from_old
    assert _push_options(from_old) == _push_options(from_new)
    assert _push_options(from_old).send_unchanged is True


def test_the_old_key_false_stays_false(tmp_path: Path) -> None:
    config = load_connector(_write(tmp_path, "  overwrite: false\n"))
    assert config.target.send_unchanged is False


def test_loading_reports_the_old_key_with_file_line_and_fix(old: Path, new: Path) -> None:
    result = load_connectors([old], base=old.parent)

    assert result.problems == []
    (found,) = result.deprecations[old]
    assert (found.file, found.field) == ("apparel_catalog_http.yaml", "target.overwrite")
    assert found.line == _line_of(old, "  overwrite:")
    assert str(found).startswith(f"apparel_catalog_http.yaml:{found.line}: {FIX} ")
    assert load_connectors([new]).deprecations == {}


def test_validate_prints_the_deprecation_and_still_exits_zero(old: Path) -> None:
    result = run_cli("validate", "--quiet", old.name, cwd=old.parent)

    assert result.returncode == 0, result.stdout + result.stderr
    line = _line_of(old, "  overwrite:")
    assert f"{old.name}:{line}: {FIX}" in result.stdout
    assert "1 deprecated key(s) to rename" in result.stderr


class _Records(logging.Handler):
    def __init__(self) -> None:
        super().__init__(logging.DEBUG)
        self.records: list[logging.LogRecord] = []

    def emit(self, record: logging.LogRecord) -> None:
        self.records.append(record)


def test_the_dag_loader_logs_the_deprecation_as_a_warning(old: Path) -> None:
    from saleslayer_airflow.dag_loader import load_connector_dags

    # On the logger itself: Airflow's logging setup keeps records away from pytest's caplog.
    logger, handler = logging.getLogger("saleslayer_airflow.dag_loader"), _Records()
    logger.addHandler(handler)
    try:
        built = load_connector_dags({}, old.parent, project_root=old.parent)
    finally:
        logger.removeHandler(handler)

    assert list(built) == ["apparel_catalog_http"]
    warned = [r for r in handler.records if r.levelno == logging.WARNING and FIX in r.getMessage()]
    assert len(warned) == 1
    assert warned[0].getMessage().startswith(f"{old.name}:{_line_of(old, '  overwrite:')}: ")


def test_both_keys_are_a_problem_of_the_old_one(tmp_path: Path) -> None:
    path = _write(tmp_path, "  send_unchanged: true\n  overwrite: true\n")

    with pytest.raises(ConnectorConfigError) as caught:
        load_connector(path, base=tmp_path)

    (problem,) = caught.value.problems
    assert (problem.file, problem.field) == (path.name, "target.overwrite")
    assert problem.line == _line_of(path, "  overwrite:")
    assert "target.send_unchanged is given too" in problem.message
    assert "delete this `overwrite:` line" in problem.message


def test_both_keys_are_refused_even_when_they_agree() -> None:
    text = EXAMPLE.read_text(encoding="utf-8").replace(
        NEW_LINE, "  send_unchanged: false\n  overwrite: false\n"
    )
    with pytest.raises(ConnectorConfigError, match=r"target\.overwrite: target\.send_unchanged"):
        parse_connector(text, "both.yaml")


def test_a_bad_old_value_is_named_under_the_old_key(tmp_path: Path) -> None:
    path = _write(tmp_path, "  overwrite: sometimes\n")
    with pytest.raises(ConnectorConfigError) as caught:
        load_connector(path, base=tmp_path)
    assert [p.field for p in caught.value.problems] == ["target.overwrite"]


def test_misspellings_suggest_the_new_key_not_the_old_one(tmp_path: Path) -> None:
    path = _write(tmp_path, "  send_unchanges: true\n")
    with pytest.raises(ConnectorConfigError) as caught:
        load_connector(path, base=tmp_path)
    (problem,) = caught.value.problems
    assert "did you mean 'send_unchanged'?" in problem.message
    assert "overwrite" not in problem.message


def test_the_schema_shows_the_new_key_and_marks_the_old_one_deprecated(old: Path) -> None:
    schema = connector_json_schema()
    target = schema["$defs"]["SalesLayerTarget"]["properties"]
    assert target["send_unchanged"]["type"] == "boolean"
    assert "deprecated" not in target["send_unchanged"]
    assert target["overwrite"]["deprecated"] is True
    # Editors still accept a file written with the old key (they show it struck through).
    data = json.loads(json.dumps(yaml.safe_load(old.read_text(encoding="utf-8")), default=str))
    jsonschema.Draft202012Validator(schema).validate(data)


def test_code_reading_the_old_attribute_is_warned() -> None:
    config = load_connector(EXAMPLE)
    with pytest.warns(DeprecationWarning, match="rename it to target.send_unchanged"):
        _ = config.target.overwrite
