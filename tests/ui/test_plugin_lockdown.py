"""The plugin's web app on a real `airflow api-server`, over HTTP (issue 11, point 13): every
route needs the login (FastAPI's openapi.json and docs included), errors show no path, and a
file is served only if it resolves inside the requested DAG's own run folder.

One api-server (with its own AIRFLOW_HOME, SQLite database and simple auth manager user) serves
every test of this module; the staging base it serves is a folder the tests fill.
"""

from __future__ import annotations

import json
import secrets
from collections.abc import Iterator
from pathlib import Path
from urllib.parse import quote

import httpx
import pytest

from saleslayer_airflow import staging
from tests.live_airflow.conftest import USER, LiveAirflow, _airflow_env, free_port

pytestmark = [pytest.mark.integration, pytest.mark.timeout(300)]

RUN_ID = "manual__2026-11-02T06:00:00+00:00"
RUN = quote(RUN_ID, safe="")
SECRET = "another-dags-rejects-S3cret"
#: How long the api-server may take to answer (seen here: 10-20 s after `db migrate`).
START_TIMEOUT = 180.0


def _answers(base_url: str) -> bool:
    try:
        return httpx.get(f"{base_url}/api/v2/monitor/health", timeout=5).status_code == 200
    except httpx.HTTPError:
        return False


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[LiveAirflow]:
    """`airflow api-server` alone (the web app needs no scheduler), serving a staging base."""
    tmp = tmp_path_factory.mktemp("plugin-api-server")
    home = tmp / "airflow-home"
    home.mkdir()
    base = tmp / "staging"
    base.mkdir()
    password = secrets.token_urlsafe(16)
    password_file = home / "passwords.json"
    password_file.write_text(json.dumps({USER: password}), encoding="utf-8")
    port = free_port()
    connectors = tmp / "connectors"
    connectors.mkdir()
    env = _airflow_env(
        home,
        port,
        password_file,
        {"SALESLAYER_STAGING_BASE": base.as_uri(), "SALESLAYER_CONNECTORS_DIR": str(connectors)},
    )
    airflow = LiveAirflow(home, f"http://127.0.0.1:{port}", password, env, None, tmp, base)
    try:
        airflow.cli("db", "migrate", timeout=300)
        airflow.start("api-server", "api-server")
        airflow.wait_for("the api-server", lambda: _answers(airflow.base_url), START_TIMEOUT)
        yield airflow
    finally:
        airflow.stop()


@pytest.fixture(scope="module")
def base(server: LiveAirflow) -> Path:
    """DAG `stores` has one run with a report; DAG `secret_dag`'s run holds what `stores`
    must never serve, reached through links from `stores`' run folder and a linked DAG folder."""
    root = server.staging
    own = root / "stores" / staging.safe_segment(RUN_ID)
    other = root / "secret_dag" / staging.safe_segment(RUN_ID)
    own.mkdir(parents=True)
    other.mkdir(parents=True)
    (own / "report.txt").write_text("stores: read 3\n", encoding="utf-8")
    for name in ("report.txt", "report.json", "rejects.csv"):
        (other / name).write_text(SECRET, encoding="utf-8")
    # A file of stores' run that is a link to secret_dag's file.
    (own / "rejects.csv").symlink_to(other / "rejects.csv")
    # A run folder of stores that is a link to secret_dag's run folder.
    (root / "stores" / "manual__linked").symlink_to(other, target_is_directory=True)
    # A DAG folder that is a link to secret_dag's folder.
    (root / "mirror").symlink_to(root / "secret_dag", target_is_directory=True)
    return root


def get(server: LiveAirflow, path: str, *, login: bool = True) -> httpx.Response:
    headers = {"Authorization": f"Bearer {server.token()}"} if login else {}
    return httpx.get(f"{server.base_url}{path}", headers=headers, timeout=30)


@pytest.mark.parametrize("path", ["/saleslayer/openapi.json", "/saleslayer/docs"])
def test_the_api_description_needs_the_login(server: LiveAirflow, path: str) -> None:
    anonymous = get(server, path, login=False)
    assert anonymous.status_code in (401, 403), anonymous.text
    assert "/runs/" not in anonymous.text
    logged_in = get(server, path)
    assert logged_in.status_code == 200
    if path.endswith(".json"):
        assert "/runs/{dag_id}/{run_id}/{endpoint}" in logged_in.json()["paths"]
    else:
        assert "/saleslayer/openapi.json" in logged_in.text


def test_redoc_is_not_served(server: LiveAirflow) -> None:
    assert get(server, "/saleslayer/redoc", login=False).status_code in (401, 403, 404)
    assert get(server, "/saleslayer/redoc").status_code == 404


def test_a_run_file_needs_the_login_and_is_served_with_it(server: LiveAirflow, base: Path) -> None:
    path = f"/saleslayer/runs/stores/{RUN}/report"
    assert get(server, path, login=False).status_code == 401
    answer = get(server, path)
    assert answer.status_code == 200
    assert answer.text == "stores: read 3\n"


@pytest.mark.parametrize(
    "path",
    [
        f"/saleslayer/runs/stores/{RUN}/rejects",  # a link to another DAG's file
        "/saleslayer/runs/stores/manual__linked/report",  # a link to another DAG's run folder
        f"/saleslayer/runs/mirror/{RUN}/report",  # a DAG folder that links to another DAG's
        f"/saleslayer/runs/stores/{RUN}/report.json",  # not there: must not fall through
    ],
)
def test_links_to_another_dags_run_are_not_served(
    server: LiveAirflow, base: Path, path: str
) -> None:
    answer = get(server, path)
    assert answer.status_code == 404, answer.text
    assert SECRET not in answer.text
    assert answer.json()["detail"].startswith("no such file for this run")


@pytest.mark.parametrize(
    "path",
    [
        "/saleslayer/runs/stores/manual__other/report",
        "/saleslayer/runs/%2E%2E/%2E%2E/report",
        "/saleslayer/runs/stores/%2e%2e/report",
        "/saleslayer/runs/%2Ftmp/x/report",
        "/saleslayer/runs/stores%00/x/report",
        f"/saleslayer/runs/stores/{RUN}%00/report",
        f"/saleslayer/runs/stores/{RUN}/report%00",
        f"/saleslayer/runs/stores/{RUN}/..%2F..%2Fsecret_dag%2F{RUN}%2Freport.txt",
        "/saleslayer/runs/secret_dag%3A/x/report",
    ],
)
def test_errors_show_no_path_and_no_traceback(server: LiveAirflow, base: Path, path: str) -> None:
    answer = get(server, path)
    assert answer.status_code == 404, answer.text
    for shown in (str(base), base.as_uri(), str(server.home), SECRET, "Traceback"):
        assert shown not in answer.text
