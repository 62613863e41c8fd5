"""The DAG file, parsed by Airflow's own DagBag: one DAG per connector file, and a broken file
shows as one precise import error without hiding the others."""

from __future__ import annotations

import shutil
from datetime import timedelta
from pathlib import Path
from typing import Any

import pytest

from saleslayer_airflow.config import load_connector
from tests.conftest import DAGS, EXAMPLES


def dagbag() -> Any:
    from airflow.dag_processing.dagbag import DagBag

    return DagBag(dag_folder=str(DAGS))


def test_examples_load_with_zero_import_errors() -> None:
    bag = dagbag()
    assert bag.import_errors == {}
    assert sorted(bag.dag_ids) == sorted(p.stem for p in EXAMPLES.glob("*.yaml"))


@pytest.mark.parametrize("path", sorted(EXAMPLES.glob("*.yaml")), ids=lambda p: p.stem)
def test_dag_carries_the_connector_settings(path: Path) -> None:
    config = load_connector(path)
    dag = dagbag().dags[config.id]

    assert dag.timetable.expression == {"@daily": "0 0 * * *"}.get(config.schedule, config.schedule)
    assert dag.start_date.date() == config.start_date
    assert dag.catchup is config.catchup
    assert dag.max_active_runs == config.max_active_runs
    assert set(dag.tags) == {"saleslayer", *config.tags}
    assert dag.default_args["owner"] == config.owner
    assert dag.default_args["retries"] == config.retries
    assert dag.default_args["retry_delay"] == config.retry_delay
    assert dag.default_args["retry_exponential_backoff"] == 2.0
    for task in dag.tasks:
        assert task.owner == config.owner and task.retries == config.retries
    assert config.description.split()[0] in dag.doc_md
    assert f"Defined in `include/connectors/{path.name}`" in dag.doc_md
    assert set(dag.params.keys()) == {"force", "dry_run", "export_date"}
    table_tasks = {f"push_{t}" for t in config.tables}
    assert {t.task_id for t in dag.tasks} == {
        "fetch_source",
        "validate_and_split",
        "report",
    } | table_tasks


def test_push_tasks_follow_sales_layer_dependencies() -> None:
    dag = dagbag().dags["apparel_catalog_http"]
    upstream = {t.task_id: t.upstream_task_ids for t in dag.tasks}
    assert upstream["push_categories"] == {"validate_and_split"}
    assert upstream["push_products"] == {"push_categories"}
    assert upstream["push_variants"] == {"push_products"}
    assert upstream["report"] == {"push_categories", "push_products", "push_variants"}
    assert dag.get_task("report").trigger_rule == "all_done"
    assert dag.get_task("push_products").pool == "saleslayer"


def test_default_max_active_runs_is_one(connectors_dir: Path) -> None:
    text = (connectors_dir / "stores_ftp.yaml").read_text(encoding="utf-8")
    assert "max_active_runs" not in text
    assert dagbag().dags["stores_ftp"].max_active_runs == 1


def test_source_is_templated_per_run() -> None:
    task = dagbag().dags["stores_ftp"].get_task("fetch_source")
    assert "source" in task.template_fields
    assert task.source["path"] == "/exports/stores/stores_{{ ds_nodash }}.csv"


def _break(folder: Path, name: str, old: str, new: str) -> None:
    path = folder / name
    text = path.read_text(encoding="utf-8")
    assert old in text
    path.write_text(text.replace(old, new, 1), encoding="utf-8")


def test_one_broken_file_is_one_import_error_naming_file_and_field(connectors_dir: Path) -> None:
    _break(connectors_dir, "stores_ftp.yaml", "  path:", "  pathh:")

    bag = dagbag()

    assert sorted(bag.dag_ids) == ["apparel_catalog_http", "erp_api_catalog"]
    assert len(bag.import_errors) == 1
    ((where, message),) = bag.import_errors.items()
    assert where.endswith("saleslayer_connectors.py")
    assert "ConnectorConfigError: 1 connector file could not be loaded" in message
    assert f"{connectors_dir / 'stores_ftp.yaml'}:" in message
    assert ": source.pathh: unknown key 'pathh'; did you mean 'path'?" in message


def test_several_broken_files_are_all_named(connectors_dir: Path) -> None:
    _break(connectors_dir, "stores_ftp.yaml", "schedule:", "schedul:")
    _break(connectors_dir, "erp_api_catalog.yaml", "style: cursor", "style: cursors")

    bag = dagbag()

    assert bag.dag_ids == ["apparel_catalog_http"]
    (message,) = bag.import_errors.values()
    assert "2 connector files could not be loaded" in message
    assert "stores_ftp.yaml:" in message and ": schedul: unknown key" in message
    assert "erp_api_catalog.yaml:" in message and ": source.pagination.style: 'cursors'" in message


def test_unparseable_yaml_does_not_hide_the_others(connectors_dir: Path) -> None:
    (connectors_dir / "zz_garbage.yaml").write_text("id: [unclosed\n", encoding="utf-8")
    bag = dagbag()
    assert len(bag.dag_ids) == 3
    (message,) = bag.import_errors.values()
    assert "zz_garbage.yaml:2: (yaml): invalid YAML" in message


def test_missing_connector_folder_is_an_import_error_with_the_fix(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("SALESLAYER_CONNECTORS_DIR", str(tmp_path / "nowhere"))
    bag = dagbag()
    assert bag.dag_ids == []
    (message,) = bag.import_errors.values()
    assert "does not exist; create it, or set SALESLAYER_CONNECTORS_DIR" in message


def test_drafts_starting_with_underscore_are_ignored(connectors_dir: Path) -> None:
    (connectors_dir / "_draft.yaml").write_text("not: a connector\n", encoding="utf-8")
    bag = dagbag()
    assert bag.import_errors == {} and len(bag.dag_ids) == 3


def test_retry_delay_doubles_up_to_an_hour(connectors_dir: Path) -> None:
    dag = dagbag().dags["apparel_catalog_http"]
    assert dag.default_args["max_retry_delay"] == timedelta(hours=1)


def test_only_the_running_dag_is_built_when_a_task_runs(monkeypatch: pytest.MonkeyPatch) -> None:
    # Airflow sets these variables when it parses the file to run one task of one DAG.
    monkeypatch.setenv("_AIRFLOW_PARSING_CONTEXT_DAG_ID", "stores_ftp")
    monkeypatch.setenv("_AIRFLOW_PARSING_CONTEXT_TASK_ID", "fetch_source")
    assert dagbag().dag_ids == ["stores_ftp"]


def test_connector_folder_outside_the_project_is_named_absolutely(connectors_dir: Path) -> None:
    shutil.copy(connectors_dir / "stores_ftp.yaml", connectors_dir / "copy.yaml")
    (message,) = dagbag().import_errors.values()
    assert str(connectors_dir / "copy.yaml") in message


@pytest.mark.integration
def test_import_error_reaches_airflows_database_as_the_ui_shows_it(
    connectors_dir: Path, tmp_path: Path
) -> None:
    """Through Airflow's CLI against a real metadata DB: the error the UI lists, and the DAGs."""
    import os
    import subprocess
    import sys

    _break(connectors_dir, "erp_api_catalog.yaml", "  records_path:", "  record_path:")
    env = {
        **os.environ,
        "AIRFLOW_HOME": str(tmp_path / "home"),
        "PYTHONWARNINGS": "ignore::UserWarning",
        "AIRFLOW__LOGGING__LOGGING_LEVEL": "CRITICAL",
    }
    airflow = str(Path(sys.executable).with_name("airflow"))

    def run(*args: str) -> str:
        done = subprocess.run(
            [airflow, *args], env=env, capture_output=True, text=True, timeout=300
        )
        return done.stdout + done.stderr

    run("db", "migrate")
    run("dags", "reserialize")
    errors = run("dags", "list-import-errors", "--output", "json")
    assert "saleslayer_connectors.py" in errors
    assert "erp_api_catalog.yaml:" in errors
    assert "source.record_path: unknown key 'record_path'; did you mean 'records_path'?" in errors
    listed = run("dags", "list", "--output", "json")
    assert '"apparel_catalog_http"' in listed and '"stores_ftp"' in listed
    assert '"erp_api_catalog"' not in listed


def test_timezone_applies_to_schedule_and_start_date(connectors_dir: Path) -> None:
    _break(connectors_dir, "stores_ftp.yaml", 'schedule: "@daily"', 'schedule: "30 5 * * 1-5"')
    _break(connectors_dir, "stores_ftp.yaml", "start_date:", "timezone: Europe/Madrid\nstart_date:")
    dag = dagbag().dags["stores_ftp"]
    assert dag.timetable.expression == "30 5 * * 1-5"
    assert str(getattr(dag.timetable.timezone, "name", dag.timetable.timezone)) == "Europe/Madrid"
    # Airflow keeps start_date in UTC: midnight in Madrid is 23:00 UTC the day before.
    assert dag.start_date.isoformat() == "2026-10-31T23:00:00+00:00"


def test_manual_only_connector_has_no_schedule(connectors_dir: Path) -> None:
    _break(connectors_dir, "stores_ftp.yaml", 'schedule: "@daily"', "schedule: null")
    dag = dagbag().dags["stores_ftp"]
    assert type(dag.timetable).__name__ == "NullTimetable"
