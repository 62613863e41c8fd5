"""The connector pages (overview, trends, run report) read the way the Airflow UI shows them: real
runs through dag.test() (an FTP server holding the store directory, the Sales Layer emulator),
then the pages fetched from Airflow's own API server app in process, with a viewer's token, and
their numbers compared with what the runs wrote (report XCom, report.json, rejects.csv).

Pages are parsed as HTML (lxml) and read through the ``data-*`` attributes they carry for that.
"""

from __future__ import annotations

import csv
import io
import json
from datetime import timedelta
from typing import Any
from urllib.parse import quote

import pytest
from lxml import html as lxml_html

from saleslayer_airflow.ui.runs_data import TABLE_TERMS
from tests.e2e.conftest import KEY, World, changed_copy, first_day, xcom
from tests.sources.servers import PASSWORD
from tests.ui.conftest import bearer, token

DAG_ID = "stores_pages"
TABLE = "points_of_sale"
BAD_STORE = "ST-BAD1"


def _connector(dry_run: bool = False) -> str:
    from tests.e2e.conftest import STORES

    target = ", dry_run: true" if dry_run else ""
    text = STORES.format(id=DAG_ID, retries=0, batch_size=7, target=target)
    text = text.replace("max_reject_ratio: 0.0", "max_reject_ratio: 0.5")
    return text.replace(
        "description: Store directory", "tags: [stores, daily]\ndescription: Store directory"
    )


def _with_bad_stores(text: str, count: int = 2) -> str:
    rows = text.splitlines()
    extra = []
    for n in range(count):
        cells = rows[1 + n].split(",")
        cells[0], cells[1] = f"{BAD_STORE}{n}", ""  # store_name is required
        extra.append(",".join(cells))
    return "\n".join([*rows, *extra]) + "\n"


@pytest.fixture
def three_runs(world: World) -> list[Any]:
    """Day 1 with two rejected stores, day 2 with changes, day 3 the same export (skipped)."""
    world.write_connector(DAG_ID, _connector())
    day, text = first_day()
    world.publish(day, _with_bad_stores(text))
    first = world.run(day)
    second_day = day + timedelta(days=1)
    world.publish(second_day, _with_bad_stores(changed_copy(text)))
    second = world.run(second_day)
    third_day = day + timedelta(days=2)
    world.publish(third_day, _with_bad_stores(changed_copy(text)))
    third = world.run(third_day)
    for run in (first, second, third):
        assert run.state == "success", run.run_id
    return [first, second, third]


def _page(api: Any, path: str, role: str | None = "viewer") -> Any:
    answer = api.get(path, headers=bearer(role))
    assert answer.status_code == 200, answer.text
    assert answer.headers["content-type"].startswith("text/html")
    assert "frame-ancestors 'self'" in answer.headers["content-security-policy"]
    for secret in (KEY, PASSWORD):
        assert secret not in answer.text
    return lxml_html.fromstring(answer.text)


def _cells(row: Any) -> dict[str, str]:
    return {td.get("data-term"): td.text_content().strip() for td in row.xpath("td[@data-term]")}


@pytest.mark.integration
def test_the_overview_shows_each_connectors_latest_run(three_runs: list[Any], api: Any) -> None:
    last = three_runs[-1]
    page = _page(api, "/saleslayer/pages/connectors")
    rows = page.xpath(f'//tr[@data-dag-id="{DAG_ID}"]')
    assert len(rows) == 1  # the last run was skipped (unchanged export): no table line
    row = rows[0]
    assert row.xpath(".//*[@data-state]")[0].get("data-state") == "success"
    assert row.xpath(".//*[@data-skipped]"), "the last run was skipped as unchanged"
    assert "saleslayer_default" in row.text_content()  # the account, from the latest report
    assert "stores" in row.text_content() and "daily" in row.text_content()
    links = row.xpath(".//a/@href")
    assert f"/dags/{DAG_ID}" in links
    assert f"/saleslayer/pages/runs/{DAG_ID}/{quote(last.run_id, safe='')}" in links
    assert f"/saleslayer/pages/connectors/{DAG_ID}/trends" in links

    # filters: by tag, and by the latest run's state
    assert _page(api, "/saleslayer/pages/connectors?tag=daily").xpath(
        f'//tr[@data-dag-id="{DAG_ID}"]'
    )
    assert not _page(api, "/saleslayer/pages/connectors?tag=nope").xpath(
        f'//tr[@data-dag-id="{DAG_ID}"]'
    )
    assert not _page(api, "/saleslayer/pages/connectors?state=failed").xpath(
        f'//tr[@data-dag-id="{DAG_ID}"]'
    )


@pytest.mark.integration
def test_the_overview_shows_the_tables_counts_of_the_latest_report(world: World, api: Any) -> None:
    world.write_connector(DAG_ID, _connector())
    day, text = first_day()
    world.publish(day, _with_bad_stores(text))
    run = world.run(day)
    assert run.state == "success"
    report = xcom(run, "report")
    page = _page(api, "/saleslayer/pages/connectors")
    (row,) = page.xpath(f'//tr[@data-dag-id="{DAG_ID}"][@data-table="{TABLE}"]')
    cells = _cells(row)
    counts = report["tables"][TABLE]
    assert {term: int(cells[term]) for term in ("read", *TABLE_TERMS)} == {
        term: counts[term] for term in ("read", *TABLE_TERMS)
    }
    assert counts["rejected"] == 2
    assert cells["reject_rate"] == f"{100 * 2 / counts['read']:.1f}%"


@pytest.mark.integration
def test_trends_chart_every_run(three_runs: list[Any], api: Any) -> None:
    page = _page(api, f"/saleslayer/pages/connectors/{DAG_ID}/trends")
    rows = page.xpath('//table[@id="runs"]/tbody/tr')
    assert [r.get("data-run-id") for r in rows] == [r.run_id for r in reversed(three_runs)]
    for run, row in zip(reversed(three_runs), rows, strict=True):
        report = xcom(run, "report")
        cells = _cells(row)
        if report.get("skipped"):  # the third run: the same export again
            assert cells["read"] == "0" and cells[f"sent:{TABLE}"] == "0"
            continue
        counts = report["tables"][TABLE]
        assert int(cells[f"sent:{TABLE}"]) == counts["created"] + counts["updated"]
        assert int(cells["rejected"]) == counts["rejected"]
    # one bar per run that sent something, with the figure in its title
    bars = page.xpath('//div[@id="chart-sent"]//*[local-name()="rect"][@data-series]')
    first = xcom(three_runs[0], "report")["tables"][TABLE]
    assert bars[0].get("data-value") == str(first["created"])
    points = page.xpath('//div[@id="chart-rejects"]//*[local-name()="circle"]')
    assert len(points) == 2  # the skipped run read nothing: no rate
    assert len(page.xpath('//div[@id="chart-stages"]//*[local-name()="rect"][@data-series]')) >= 3


@pytest.mark.integration
def test_the_run_report_page_matches_the_run_files(three_runs: list[Any], api: Any) -> None:
    run = three_runs[0]
    base = f"/saleslayer/pages/runs/{DAG_ID}/{quote(run.run_id, safe='')}"
    page = _page(api, base)
    report = json.loads(
        api.get(
            f"/saleslayer/runs/{DAG_ID}/{quote(run.run_id, safe='')}/report.json",
            headers=bearer(),
        ).text
    )
    (row,) = page.xpath(f'//table[@id="balance"]//tr[@data-table="{TABLE}"]')
    cells = _cells(row)
    counts = report["tables"][TABLE]
    assert int(cells["read"]) == counts["read"]
    assert {t: int(cells[t]) for t in TABLE_TERMS} == {t: counts[t] for t in TABLE_TERMS}
    assert "balanced" in row.text_content()

    rejects = api.get(
        f"/saleslayer/runs/{DAG_ID}/{quote(run.run_id, safe='')}/rejects", headers=bearer()
    ).text
    rejected = list(csv.DictReader(io.StringIO(rejects)))
    groups = page.xpath('//table[@id="rejects"]//tr[@data-reason]')
    assert [int(g.get("data-count")) for g in groups] == [len(rejected)] == [2]
    assert "required field" in groups[0].get("data-reason")
    sample_text = page.xpath('//table[@id="rejects"]')[0].text_content()
    for reject in rejected:
        assert reject["reference"] in sample_text and reject["line"] in sample_text
    downloads = page.xpath("//a[@download]/@href")
    assert f"/saleslayer/runs/{DAG_ID}/{quote(run.run_id, safe='')}/rejects" in downloads
    assert f"/saleslayer/runs/{DAG_ID}/{quote(run.run_id, safe='')}/report.json" in downloads


@pytest.mark.integration
def test_a_skipped_run_says_why(three_runs: list[Any], api: Any) -> None:
    run = three_runs[-1]
    page = _page(api, f"/saleslayer/pages/runs/{DAG_ID}/{quote(run.run_id, safe='')}")
    (said,) = page.xpath('//*[@id="skipped"]')
    assert "unchanged" in said.text_content()


@pytest.mark.integration
def test_a_dry_run_shows_its_sample_of_changes(world: World, api: Any) -> None:
    world.write_connector(DAG_ID, _connector(dry_run=True))
    day, text = first_day()
    world.publish(day, text)
    run = world.run(day)
    assert run.state == "success"
    page = _page(api, f"/saleslayer/pages/runs/{DAG_ID}/{quote(run.run_id, safe='')}")
    assert "dry run" in page.text_content()
    (delta,) = page.xpath(f'//table[@data-table="{TABLE}"]')
    pushed = xcom(run, f"push_{TABLE}")
    first = pushed["sample"][0]
    assert first["reference"] in delta.text_content()
    assert "pos_name" in delta.text_content()


@pytest.mark.integration
def test_pages_need_a_login_and_the_right_to_read_runs(
    three_runs: list[Any], api: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    run_page = f"/saleslayer/pages/runs/{DAG_ID}/{quote(three_runs[0].run_id, safe='')}"
    trends = f"/saleslayer/pages/connectors/{DAG_ID}/trends"
    for path in ("/saleslayer/pages/connectors", trends, run_page):
        assert api.get(path).status_code == 401
    for path in (trends, run_page):
        assert api.get(path, headers=bearer(role=None)).status_code == 403
    # a user without a role may log in, and reads no connector
    nothing = _page(api, "/saleslayer/pages/connectors", role=None)
    assert not nothing.xpath("//tr[@data-dag-id]")
    # The cookie the UI holds (the pages are shown in a frame of the UI) is enough.
    api.cookies.set("_token", token())
    try:
        assert api.get(trends).status_code == 200
    finally:
        api.cookies.clear()

    # A per-DAG policy (the simple auth manager has none; this stands for FAB's or Keycloak's):
    # a user who may not read this DAG's runs sees no row of it and gets 403 on its pages.
    from airflow.api_fastapi.app import get_auth_manager

    manager = get_auth_manager()
    allowed = manager.is_authorized_dag

    def deny_this_dag(**kwargs: Any) -> bool:
        details = kwargs.get("details")
        if details is not None and details.id == DAG_ID:
            return False
        return bool(allowed(**kwargs))

    monkeypatch.setattr(manager, "is_authorized_dag", deny_this_dag)
    page = _page(api, "/saleslayer/pages/connectors")
    assert not page.xpath(f'//tr[@data-dag-id="{DAG_ID}"]')
    for path in (trends, run_page):
        assert api.get(path, headers=bearer()).status_code == 403


@pytest.mark.integration
def test_a_page_of_an_unknown_run_is_a_404_without_a_path(world: World, api: Any) -> None:
    answer = api.get(f"/saleslayer/pages/runs/{DAG_ID}/no_such_run", headers=bearer())
    assert answer.status_code == 404
    assert str(world.tmp) not in answer.text
    assert api.get("/saleslayer/pages/runs/..%2Fetc/x", headers=bearer()).status_code == 404


def test_the_plugin_adds_the_pages_to_the_ui_below_the_api_base_url(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """A navigation entry, a DAG tab and a DAG run tab, each in a frame of the UI (url_route),
    with the placeholders the UI fills in, below `[api] base_url`'s path."""
    from saleslayer_airflow.ui import plugin

    monkeypatch.setenv("AIRFLOW__API__BASE_URL", "https://example.test/airflow/")
    views = {v["destination"]: v for v in plugin._external_views()}
    assert views["nav"]["href"] == "https://example.test/airflow/saleslayer/pages/connectors"
    assert views["dag"]["href"].endswith("/saleslayer/pages/connectors/{DAG_ID}/trends")
    assert views["dag_run"]["href"].endswith("/saleslayer/pages/runs/{DAG_ID}/{RUN_ID}")
    assert all(v["url_route"] for v in views.values())
    assert len({v["url_route"] for v in views.values()}) == 3
