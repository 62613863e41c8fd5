"""The Airflow UI in a real browser (Debian's headless Chromium, driven by Playwright): log in
through the simple auth manager's form, open a finished backfill run of the connector, find the
run's summary in the report task and the extra links of the report and validate_and_split tasks,
and follow each link to the file it serves. Screenshots are saved as test artifacts in
``$TEST_ARTIFACTS_DIR`` (default ``tests/live_airflow/artifacts/``)."""

from __future__ import annotations

import os
import re
from collections.abc import Iterator
from pathlib import Path
from typing import Any
from urllib.parse import quote

import pytest

from tests.live_airflow.conftest import DAG_ID, USER, Backfill, LiveAirflow

# Airflow's start and the backfill (about 100 s here) are part of the first test's setup.
pytestmark = [pytest.mark.integration, pytest.mark.timeout(600)]

CHROMIUM = Path("/usr/bin/chromium")
CHROMIUM_ARGS = [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-dev-shm-usage",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--no-first-run",
]
#: The UI is a single-page app that renders after its API calls: generous waits, no timing
#: assertions.
UI_TIMEOUT_MS = 30_000
LINK_TASKS = ("report", "validate_and_split")


@pytest.fixture(scope="module")
def artifacts() -> Path:
    folder = Path(
        os.environ.get("TEST_ARTIFACTS_DIR") or Path(__file__).resolve().parent / "artifacts"
    )
    folder.mkdir(parents=True, exist_ok=True)
    return folder


@pytest.fixture(scope="module")
def browser() -> Iterator[Any]:
    if not CHROMIUM.exists():
        pytest.skip(f"{CHROMIUM} is absent: install Debian's chromium and chromium-driver")
    from playwright.sync_api import sync_playwright

    with sync_playwright() as playwright:
        launched = playwright.chromium.launch(executable_path=str(CHROMIUM), args=CHROMIUM_ARGS)
        yield launched
        launched.close()


def run_url(airflow: LiveAirflow, run_id: str, suffix: str = "") -> str:
    return f"{airflow.base_url}/dags/{DAG_ID}/runs/{quote(run_id, safe='')}{suffix}"


def log_in(page: Any, airflow: LiveAirflow, artifacts: Path) -> None:
    page.goto(f"{airflow.base_url}/", wait_until="domcontentloaded")
    page.wait_for_selector("input[name=username]", timeout=UI_TIMEOUT_MS)
    page.fill("input[name=username]", USER)
    page.fill("input[name=password]", airflow.password)
    page.screenshot(path=str(artifacts / "01-login.png"))
    page.click("button[type=submit]")
    page.wait_for_url(lambda url: "/auth/login" not in url, timeout=UI_TIMEOUT_MS)


def test_ui_shows_a_finished_run_its_summary_and_links(
    live_airflow: LiveAirflow, backfill: Backfill, browser: Any, artifacts: Path
) -> None:
    finished = [r for r in backfill.runs if r["state"] == "success"]
    assert finished, f"no successful run to open: {[r['state'] for r in backfill.runs]}"
    run_id = finished[-1]["dag_run_id"]
    report = live_airflow.get(
        f"/dags/{DAG_ID}/dagRuns/{run_id}/taskInstances/report/xcomEntries/return_value",
        deserialize=True,
    )["value"]
    counts = report["tables"]["products"]

    context = browser.new_context(viewport={"width": 1400, "height": 900})
    page = context.new_page()
    page.set_default_timeout(UI_TIMEOUT_MS)
    try:
        log_in(page, live_airflow, artifacts)

        # The run page: every task of the run, the run green.
        page.goto(run_url(live_airflow, run_id), wait_until="domcontentloaded")
        for task in ("fetch_source", "validate_and_split", "push_products", "report"):
            page.get_by_role("link", name=task, exact=True).first.wait_for()
        page.screenshot(path=str(artifacts / "02-run.png"), full_page=True)

        # The summary: the report task's log holds the run's table of counts, folded.
        page.goto(run_url(live_airflow, run_id, "/tasks/report"), wait_until="domcontentloaded")
        group = page.get_by_text("Sales Layer import report").first
        group.wait_for()
        group.click()
        row = re.compile(
            rf"products\s+{counts['read']}\s+{counts['created']}\s+{counts['updated']}\s+"
            rf"{counts['unchanged']}\s"
        )
        page.get_by_text(row).first.wait_for()
        page.screenshot(path=str(artifacts / "03-report-summary.png"), full_page=True)

        followed = [
            *follow_links(page, context, live_airflow, run_id, "report", artifacts),
            *follow_links(page, context, live_airflow, run_id, "validate_and_split", artifacts),
        ]
        assert followed, (
            f"neither {' nor '.join(LINK_TASKS)} has an extra link (the REST API lists none)"
        )
    except Exception:
        page.screenshot(path=str(artifacts / "99-failure.png"), full_page=True)
        raise
    finally:
        context.close()


def follow_links(
    page: Any, context: Any, airflow: LiveAirflow, run_id: str, task_id: str, artifacts: Path
) -> list[str]:
    """Check that the task's Details tab shows a button for every extra link the REST API
    lists, and that each one serves its file to the logged-in browser. Returns the link names."""
    listed = airflow.get(f"/dags/{DAG_ID}/dagRuns/{run_id}/taskInstances/{task_id}/links")
    links: dict[str, str | None] = listed["extra_links"]
    page.goto(run_url(airflow, run_id, f"/tasks/{task_id}/details"), wait_until="domcontentloaded")
    page.get_by_text("Task ID", exact=True).first.wait_for()
    if links:
        page.get_by_text("Extra Links").first.wait_for()
    page.screenshot(path=str(artifacts / f"04-{task_id}-details.png"), full_page=True)
    for name, url in links.items():
        button = page.get_by_role("link", name=name, exact=True)
        button.wait_for()
        href = button.get_attribute("href")
        assert href == url, f"{task_id}: link {name!r} points at {href!r}, the API says {url!r}"
        # With the browser's own session (its cookie), as a click would fetch it.
        answer = context.request.get(href)
        assert answer.status == 200, f"{name} ({href}): {answer.status} {answer.text()[:300]}"
        body = answer.text()
        if "report" in href.rsplit("/", 1)[-1]:
            assert f"Sales Layer import {DAG_ID} / {run_id}" in body, body[:500]
            shown = context.new_page()
            shown.goto(href)
            shown.screenshot(path=str(artifacts / f"05-{task_id}-{slug(name)}.png"))
            shown.close()
        elif href.endswith("/ignored"):
            assert body.splitlines()[0] == "source_file,line,table,reason", body[:500]
        else:
            assert body.splitlines()[0].startswith("source_file,line,table,reference"), body[:500]
    return list(links)


def slug(text: str) -> str:
    return re.sub(r"\W+", "-", text).strip("-").lower()


def test_the_connector_pages_show_the_runs_numbers(
    live_airflow: LiveAirflow, backfill: Backfill, browser: Any, artifacts: Path
) -> None:
    """The Sales Layer views of the UI: the navigation entry (connectors overview), the DAG's
    trends tab and a run's report tab, each in the UI's frame, their figures checked against
    the runs' report.json (served by the plugin) and XCom."""
    finished = [r for r in backfill.runs if r["state"] == "success"]
    assert finished, f"no successful run to open: {[r['state'] for r in backfill.runs]}"
    latest = max(backfill.runs, key=lambda r: r["run_after"])
    reports = {
        r["dag_run_id"]: live_airflow.get(
            f"/dags/{DAG_ID}/dagRuns/{quote(r['dag_run_id'], safe='')}/taskInstances/report"
            "/xcomEntries/return_value",
            deserialize=True,
        )["value"]
        for r in finished
    }

    context = browser.new_context(viewport={"width": 1400, "height": 1000})
    page = context.new_page()
    page.set_default_timeout(UI_TIMEOUT_MS)
    try:
        log_in(page, live_airflow, artifacts)

        # The navigation entry opens the overview; the connector's row shows its latest run.
        page.goto(f"{live_airflow.base_url}/", wait_until="domcontentloaded")
        page.get_by_role("link", name="Sales Layer").first.click()
        page.wait_for_url(re.compile(r"/plugin/saleslayer-connectors"))
        frame = page.frame_locator("iframe").first
        row = frame.locator(f'tr[data-dag-id="{DAG_ID}"]').first
        row.wait_for()
        assert row.locator("[data-state]").first.get_attribute("data-state") == latest["state"]
        counts = reports[latest["dag_run_id"]]["tables"]["products"]
        for term in ("created", "updated", "unchanged", "rejected"):
            shown = row.locator(f'td[data-term="{term}"]').inner_text()
            assert int(shown) == counts[term], (term, shown, counts)
        page.screenshot(path=str(artifacts / "06-connectors-overview.png"), full_page=True)

        # The DAG's trends tab: one table row per run, the items sent as the reports say.
        page.goto(
            f"{live_airflow.base_url}/dags/{DAG_ID}/plugin/saleslayer-trends",
            wait_until="domcontentloaded",
        )
        frame = page.frame_locator("iframe").first
        frame.locator("#chart-sent svg").wait_for()
        for run_id, report in reports.items():
            line = frame.locator(f'tr[data-run-id="{run_id}"]')
            table = report["tables"]["products"]
            sent = line.locator('td[data-term="sent:products"]').inner_text()
            assert int(sent) == table["created"] + table["updated"] + table["skipped"]
        page.screenshot(path=str(artifacts / "07-connector-trends.png"), full_page=True)

        # A run's report tab: the balance as report.json has it.
        run_id = finished[0]["dag_run_id"]
        page.goto(
            run_url(live_airflow, run_id, "/plugin/saleslayer-report"),
            wait_until="domcontentloaded",
        )
        frame = page.frame_locator("iframe").first
        balance = frame.locator('#balance tr[data-table="products"]')
        balance.wait_for()
        served = context.request.get(
            f"{live_airflow.base_url}/saleslayer/runs/{DAG_ID}/{quote(run_id, safe='')}/report.json"
        )
        assert served.status == 200, served.text()[:300]
        on_file = served.json()["tables"]["products"]
        for term in ("read", "created", "updated", "unchanged", "rejected", "merged", "failed"):
            shown = balance.locator(f'td[data-term="{term}"]').inner_text()
            assert int(shown) == on_file[term], (term, shown, on_file)
        page.screenshot(path=str(artifacts / "08-run-report-tab.png"), full_page=True)
    except Exception:
        page.screenshot(path=str(artifacts / "99-pages-failure.png"), full_page=True)
        raise
    finally:
        context.close()
