"""The plugin's web app serves a run's report and rejects file from staging, and nothing else:
no path out of the staging base (``..``, encoded dots, symbolic links, state folders), only the
fixed file names, and only to a logged-in Airflow user."""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

import pytest

from saleslayer_airflow.report.stage import REPORT_TEXT_FILE
from saleslayer_airflow.ui.files import EXTRA_BASES_ENV, RunFileNotFound, find_run_file
from saleslayer_airflow.ui.links import RUN_FILES, run_file_url
from tests.ui.conftest import bearer

RUN_ID = "scheduled__2026-11-01T06:00:00+00:00"
SECRET = "outside-the-staging-base"


@pytest.fixture
def staged(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """A staging base with one run's files, and files outside it that must never be served."""
    base = tmp_path / "deep" / "staging"
    run = base / "stores" / "scheduled__2026-11-01T06_00_00_00_00"
    run.mkdir(parents=True)
    (run / "report.txt").write_text("points_of_sale  read 3\n", encoding="utf-8")
    (run / "report.json").write_text('{"tables": {}}', encoding="utf-8")
    (run / "rejects.csv").write_text("file,line,reference\nx.csv,3,ST-1\n", encoding="utf-8")
    # Files a traversal would reach: beside the base, above it, and a state folder inside it.
    for folder in (tmp_path, tmp_path / "deep", base / "stores" / "_state"):
        folder.mkdir(parents=True, exist_ok=True)
        for name in ("report.txt", "report.json", "rejects.csv"):
            (folder / name).write_text(SECRET, encoding="utf-8")
    outside = tmp_path / "elsewhere" / "run"
    outside.mkdir(parents=True)
    (outside / "report.txt").write_text(SECRET, encoding="utf-8")
    (base / "stores" / "linked").symlink_to(outside, target_is_directory=True)
    (base / "linked_dag").symlink_to(tmp_path / "elsewhere", target_is_directory=True)
    monkeypatch.setenv("SALESLAYER_STAGING_BASE", base.as_uri())
    monkeypatch.delenv(EXTRA_BASES_ENV, raising=False)
    return base


def test_the_link_file_names_are_the_ones_the_tasks_write() -> None:
    from saleslayer_airflow import staging

    assert RUN_FILES["report"][0] == REPORT_TEXT_FILE
    assert RUN_FILES["report.json"][0] == staging.REPORT_FILE
    assert RUN_FILES["rejects"][0] == staging.REJECTS_FILE


def test_link_urls_quote_the_run_id_and_follow_the_api_base_url() -> None:
    assert run_file_url("stores", RUN_ID, "rejects", base_url="") == (
        "/saleslayer/runs/stores/scheduled__2026-11-01T06%3A00%3A00%2B00%3A00/rejects"
    )
    assert run_file_url("stores", "r1", "report", base_url="https://host/airflow/") == (
        "https://host/airflow/saleslayer/runs/stores/r1/report"
    )
    with pytest.raises(ValueError, match="unknown run file"):
        run_file_url("stores", "r1", "../etc/passwd", base_url="")


def test_finds_the_run_files(staged: Path) -> None:
    found = find_run_file("stores", RUN_ID, "rejects")
    assert (
        Path(found.path.path)
        == staged / "stores" / RUN_ID.replace(":", "_").replace("+", "_") / "rejects.csv"
    )
    assert found.media_type.startswith("text/csv")


@pytest.mark.parametrize(
    ("dag_id", "run_id", "endpoint"),
    [
        ("..", "..", "report"),
        ("stores", "..", "report"),
        ("..", "stores", "report"),
        (".", "stores", "report"),
        ("...", "..", "report"),
        ("stores", "_state", "report"),
        ("stores", "", "report"),
        ("stores", "linked", "report"),
        ("linked_dag", "run", "report"),
        ("stores", RUN_ID, "../../report.txt"),
        ("stores", RUN_ID, "report.txt"),
        ("../stores", RUN_ID, "report"),
        ("stores", f"../stores/{RUN_ID}", "report"),
    ],
)
def test_nothing_outside_the_base_is_found(
    staged: Path, dag_id: str, run_id: str, endpoint: str
) -> None:
    with pytest.raises(RunFileNotFound):
        find_run_file(dag_id, run_id, endpoint)


def test_a_base_not_served_says_what_to_configure(
    staged: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    own = tmp_path / "own-base"
    (own / "erp" / "r1").mkdir(parents=True)
    (own / "erp" / "r1" / "report.txt").write_text("own base\n", encoding="utf-8")
    with pytest.raises(RunFileNotFound, match=EXTRA_BASES_ENV):
        find_run_file("erp", "r1", "report")
    monkeypatch.setenv(EXTRA_BASES_ENV, f" {own.as_uri()} ,")
    assert Path(find_run_file("erp", "r1", "report").path.path).read_text() == "own base\n"


def test_a_password_in_a_base_uri_is_not_repeated(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv(EXTRA_BASES_ENV, "s3://key-id:Very-S3cret-Value@bucket/staging")
    from saleslayer_airflow.ui.files import staging_bases

    assert len(staging_bases()) == 2
    from saleslayer_airflow.ui import files

    message = files._shown("s3://key-id:Very-S3cret-Value@bucket/staging")
    assert "Very-S3cret-Value" not in message and "key-id" in message


@pytest.mark.integration
@pytest.mark.parametrize(
    "path",
    [
        "/saleslayer/runs/%2E%2E/%2E%2E/report",
        "/saleslayer/runs/stores/%2E%2E/report",
        "/saleslayer/runs/%2E%2E%2F%2E%2E/x/report",
        "/saleslayer/runs/stores/linked/report",
        "/saleslayer/runs/stores/_state/report",
        "/saleslayer/runs/stores/%2E%2E%2F%2E%2E%2Felsewhere%2Frun/report",
        f"/saleslayer/runs/stores/{RUN_ID}/report.txt",
        f"/saleslayer/runs/stores/{RUN_ID}/..%2Freport.txt",
    ],
)
def test_the_web_app_refuses_paths_out_of_the_base(staged: Path, api: Any, path: str) -> None:
    answer = api.get(path, headers=bearer())
    assert answer.status_code == 404
    assert SECRET not in answer.text


@pytest.mark.integration
def test_the_web_app_serves_each_file(staged: Path, api: Any) -> None:
    run = "scheduled__2026-11-01T06%3A00%3A00%2B00%3A00"
    report = api.get(f"/saleslayer/runs/stores/{run}/report", headers=bearer())
    assert report.status_code == 200
    assert report.text == "points_of_sale  read 3\n"
    assert report.headers["x-content-type-options"] == "nosniff"
    rejects = api.get(f"/saleslayer/runs/stores/{run}/rejects", headers=bearer())
    assert rejects.text.endswith("x.csv,3,ST-1\n")
    assert rejects.headers["content-disposition"].startswith("attachment;")
    assert api.get(f"/saleslayer/runs/stores/{run}/report.json", headers=bearer()).json() == {
        "tables": {}
    }
    missing = api.get("/saleslayer/runs/stores/manual__other/report", headers=bearer())
    assert missing.status_code == 404 and EXTRA_BASES_ENV in missing.json()["detail"]
    assert api.get(f"/saleslayer/runs/stores/{run}/report").status_code == 401


def test_the_plugin_module_stays_light() -> None:
    """Airflow imports plugins in task processes too: no FastAPI app is built there."""
    import subprocess
    import sys

    code = (
        "import sys; import saleslayer_airflow.ui.plugin as p; "
        "assert p.SalesLayerPlugin.fastapi_apps[0]['app']._app is None; "
        "assert 'saleslayer_airflow.ui.app' not in sys.modules; "
        "assert 'airflow.api_fastapi.core_api.security' not in sys.modules"
    )
    env = {**os.environ, "PYTHONPATH": str(Path(__file__).resolve().parents[2])}
    subprocess.run([sys.executable, "-c", code], check=True, env=env)
