"""A connector run read the way a person reads it: through Airflow's REST API (the one the UI
calls) and the plugin's web app, both served by Airflow's own API server app in process.

The run goes through dag.test(): an FTP server holds the store directory, with one store whose
name is missing (rejected), and the Sales Layer emulator takes the rest.
"""

from __future__ import annotations

import csv
import io
from typing import Any
from urllib.parse import quote

import pytest

from saleslayer_airflow.normalize.outputs import IGNORED_COLUMNS
from tests.e2e.conftest import KEY, STORES, World, first_day
from tests.sources.servers import PASSWORD
from tests.ui.conftest import bearer, token

DAG_ID = "stores_ui"
BAD_STORE = "ST-BAD1"


def _connector(max_reject_ratio: float = 0.5) -> str:
    text = STORES.format(id=DAG_ID, retries=0, batch_size=7, target="")
    # By default one bad row must not fail the run: it goes to the rejects file.
    return text.replace("max_reject_ratio: 0.0", f"max_reject_ratio: {max_reject_ratio}")


def _with_bad_store(text: str) -> str:
    rows = text.splitlines()
    cells = rows[1].split(",")
    cells[0], cells[1] = BAD_STORE, ""  # store_name is required
    return "\n".join([*rows, ",".join(cells)]) + "\n"


@pytest.fixture
def finished_run(world: World) -> Any:
    world.write_connector(DAG_ID, _connector())
    day, text = first_day()
    world.publish(day, _with_bad_store(text))
    dag_run = world.run(day)
    assert dag_run.state == "success", {ti.task_id: ti.state for ti in dag_run.get_task_instances()}
    return dag_run


def _links(api: Any, run_id: str, task_id: str) -> dict[str, str | None]:
    answer = api.get(
        f"/api/v2/dags/{DAG_ID}/dagRuns/{quote(run_id, safe='')}/taskInstances/{task_id}/links",
        headers=bearer(),
    )
    assert answer.status_code == 200, answer.text
    links: dict[str, str | None] = answer.json()["extra_links"]
    return links


@pytest.mark.integration
def test_links_of_a_run_open_its_report_and_rejects(finished_run: Any, api: Any) -> None:
    run_id = finished_run.run_id
    run_path = f"/saleslayer/runs/{DAG_ID}/{quote(run_id, safe='')}"

    assert _links(api, run_id, "validate_and_split") == {
        "Rejects file": f"{run_path}/rejects",
        "Ignored rows": f"{run_path}/ignored",
    }
    assert _links(api, run_id, "report") == {"Run report": f"{run_path}/report"}
    assert _links(api, run_id, "fetch_source") == {}

    rejects = api.get(f"{run_path}/rejects", headers=bearer())
    assert rejects.status_code == 200, rejects.text
    assert rejects.headers["content-type"].startswith("text/csv")
    rows = list(csv.DictReader(io.StringIO(rejects.text)))
    assert [row["reference"] for row in rows] == [BAD_STORE]

    # every row fed the table: the ignored rows file is its header alone
    ignored = api.get(f"{run_path}/ignored", headers=bearer())
    assert ignored.status_code == 200, ignored.text
    assert ignored.headers["content-type"].startswith("text/csv")
    assert list(csv.reader(io.StringIO(ignored.text))) == [list(IGNORED_COLUMNS)]

    report = api.get(f"{run_path}/report", headers=bearer())
    assert report.status_code == 200, report.text
    assert report.headers["content-type"].startswith("text/plain")
    assert "points_of_sale" in report.text

    # What a person sees holds no secret of the connections the run used.
    for shown in (rejects.text, report.text, str(_links(api, run_id, "report"))):
        assert KEY not in shown and PASSWORD not in shown

    counts = api.get(f"{run_path}/report.json", headers=bearer()).json()
    xcom = api.get(
        f"/api/v2/dags/{DAG_ID}/dagRuns/{quote(run_id, safe='')}/taskInstances/report"
        "/xcomEntries/return_value",
        headers=bearer(),
    ).json()["value"]
    assert counts == xcom  # the file the link opens is the run's XCom summary
    table = counts["tables"]["points_of_sale"]
    assert table["rejected"] == 1 and table["created"] == table["read"] - 1


@pytest.mark.integration
def test_rejects_link_works_when_the_rejects_fail_the_run(world: World, api: Any) -> None:
    world.write_connector(DAG_ID, _connector(max_reject_ratio=0.0))
    day, text = first_day()
    world.publish(day, _with_bad_store(text))
    dag_run = world.run(day)
    states = {ti.task_id: ti.state for ti in dag_run.get_task_instances()}
    assert dag_run.state == "failed" and states["validate_and_split"] == "failed", states

    links = _links(api, dag_run.run_id, "validate_and_split")
    rejects = api.get(str(links["Rejects file"]), headers=bearer())
    assert rejects.status_code == 200
    assert [row["reference"] for row in csv.DictReader(io.StringIO(rejects.text))] == [BAD_STORE]
    # The report could not be written: its link is there, disabled (no URL).
    assert _links(api, dag_run.run_id, "report") == {"Run report": None}


@pytest.mark.integration
def test_run_files_need_an_airflow_login(finished_run: Any, api: Any) -> None:
    url = f"/saleslayer/runs/{DAG_ID}/{quote(finished_run.run_id, safe='')}/report"

    assert api.get(url).status_code == 401
    assert api.get(url, headers={"Authorization": "Bearer not-a-token"}).status_code == 403
    assert api.get(url, headers=bearer(role=None)).status_code == 403  # a user without a role
    # The browser sends the UI's session cookie: that is enough.
    api.cookies.set("_token", token())
    try:
        assert api.get(url).status_code == 200
    finally:
        api.cookies.clear()


@pytest.mark.integration
def test_each_pushed_table_has_an_asset_event(finished_run: Any, api: Any) -> None:
    answer = api.get(
        "/api/v2/assets/events",
        params={"source_dag_id": DAG_ID, "source_run_id": finished_run.run_id},
        headers=bearer(),
    )
    assert answer.status_code == 200, answer.text
    events = answer.json()["asset_events"]
    assert [(e["name"], e["uri"], e["source_task_id"]) for e in events] == [
        (
            "saleslayer.saleslayer_default.points_of_sale",
            "saleslayer://saleslayer_default/points_of_sale",
            "push_points_of_sale",
        )
    ]
    extra = events[0]["extra"]
    # The counts ride on the event: a downstream DAG can tell what this run changed.
    assert extra["dry_run"] is False and extra["connector_id"] == DAG_ID
    assert extra["created"] == extra["changed"] == extra["items"] > 0


@pytest.mark.integration
def test_a_dry_run_says_so_on_its_asset_event(world: World, api: Any) -> None:
    world.write_connector(DAG_ID, _connector())
    day, text = first_day()
    world.publish(day, text)
    dag_run = world.run(day, dry_run=True)
    assert dag_run.state == "success"
    answer = api.get(
        "/api/v2/assets/events",
        params={"source_dag_id": DAG_ID, "source_run_id": dag_run.run_id},
        headers=bearer(),
    )
    (event,) = answer.json()["asset_events"]
    assert event["extra"]["dry_run"] is True and event["extra"]["changed"] == 0
