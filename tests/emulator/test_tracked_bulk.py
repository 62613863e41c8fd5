"""Tracked jobs (not applied at once) take the column path too, with the row path's answers.

A tracked call that :func:`bulk.prepare` takes is answered from that plan when it is accepted and
kept as columns by its job; when the job ends, :func:`bulk.apply_job` plans it again against the
store as it is then (other jobs may have ended meanwhile) and applies it column by column, or row
by row when the column path declines. Each test here runs the same seeded calls twice over HTTP,
the column path on and off (``bulk.prepare`` answering None sends every call down the row path,
as before this path existed), and compares everything a client or a reader of the store sees:
the accept answers, every tracking answer, the items and their changelog, the REST views, the
job records. Jobs are driven by polls only (no background tick), several open at once and
polled in random order, with failing jobs injected by faults and settings changed between a
call's acceptance and its end.
"""

from __future__ import annotations

import json
import random
import sqlite3
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

from saleslayer_airflow.emulator import bulk, importer
from saleslayer_airflow.emulator.form_fast import parse_columns
from saleslayer_airflow.emulator.server import RunningEmulator, run_in_thread
from saleslayer_airflow.emulator.settings import EmulatorSettings
from saleslayer_airflow.emulator.storage import Storage
from saleslayer_airflow.emulator.tenant import load_tenant
from tests.emulator.conftest import Api, php_form, sign
from tests.emulator.test_bulk import _call

pytestmark = pytest.mark.integration

# Poll-driven jobs and no background tick: which job ends when is decided by the test alone.
TRACKED: dict[str, Any] = {
    "tracking": {"steps_to_end": 2, "seconds_per_step": 0, "tick_seconds": 3600}
}

# Changes of the settings a call is checked with, made while jobs are open: the row path checks
# a call once, when it arrives; its job ends the same whatever the settings are then.
SETTINGS_CHANGES: tuple[dict[str, Any], ...] = (
    {"refuse": {"products": {"P1": "refused"}, "catalogue": {"C2": "refused"}}},
    {"refuse": {}},
    {"connector_api": {"unknown_fields": "reject"}},
    {"connector_api": {"unknown_fields": "ignore"}},
    {"connector_api": {"max_items_per_call": 3}},
    {"connector_api": {"max_items_per_call": 50_000}},
    {"tracking": {"steps_to_end": 1}},
    {"tracking": {"steps_to_end": 3}},
)

REST_VIEWS = (
    "Categories",
    "Products",
    "Variants",
    "CustomEntities('Brands')",
    "CustomEntities('Brands')/Changelog",
)


@dataclass
class Paths:
    """How many calls took the column path when accepted (tracked ones, and those applied at
    once), and how many tracked jobs applied column by column when they ended (the others fell
    back to the row path)."""

    accepted: int = 0
    jobs_ended: int = 0
    ended_by_columns: int = 0


@pytest.fixture
def paths(monkeypatch: pytest.MonkeyPatch) -> Paths:
    """Count the calls the column path takes, at acceptance and at a job's end."""
    counted = Paths()
    real_prepare, real_check, real_apply_job = bulk.prepare, bulk.check_tracked, bulk.apply_job
    at_end = [False]

    def check_tracked(*args: Any, **kwargs: Any) -> importer.Counts | None:
        checked = real_check(*args, **kwargs)
        counted.accepted += checked is not None
        return checked

    def prepare(*args: Any, **kwargs: Any) -> bulk.Prepared | None:
        prepared = real_prepare(*args, **kwargs)
        if prepared is not None and at_end[0]:
            counted.ended_by_columns += 1
        elif prepared is not None:
            counted.accepted += 1
        return prepared

    def apply_job(*args: Any, **kwargs: Any) -> Any:
        counted.jobs_ended += 1
        at_end[0] = True
        try:
            return real_apply_job(*args, **kwargs)
        finally:
            at_end[0] = False

    monkeypatch.setattr(bulk, "prepare", prepare)
    monkeypatch.setattr(bulk, "check_tracked", check_tracked)
    monkeypatch.setattr(bulk, "apply_job", apply_job)
    return counted


def rows_only(monkeypatch: pytest.MonkeyPatch) -> None:
    """Every call down the row path, as before tracked jobs took the column path."""
    for name in ("prepare", "check_tracked"):
        monkeypatch.setattr(bulk, name, lambda *args, **kwargs: None)


@pytest.fixture(scope="module")
def tracked_emulator(tmp_path_factory: pytest.TempPathFactory) -> Iterator[RunningEmulator]:
    data = tmp_path_factory.mktemp("tracked") / "sl.sqlite"
    with run_in_thread(data, settings=TRACKED) as running:
        yield running


@pytest.fixture
def api(tracked_emulator: RunningEmulator) -> Iterator[Api]:
    tracked_emulator.reset()
    client = Api(tracked_emulator)
    yield client
    client.close()


def _unstamped(value: Any) -> Any:
    """A REST answer without what differs from run to run (times, the server's address)."""
    if isinstance(value, dict):
        return {
            key: _unstamped(item)
            for key, item in value.items()
            if key not in ("date", "@readLink") and not key.endswith(("_creation", "_modify"))
        }
    if isinstance(value, list):
        return [_unstamped(item) for item in value]
    return value


def seen_in_store(api: Api) -> dict[str, Any]:
    """What the store holds once every job has ended, as SQLite, REST and job readers see it
    (stamps and job ids left out; of a job's call, the references it names)."""
    with sqlite3.connect(api.emulator.state.storage.path) as connection:
        items = connection.execute(
            "SELECT tbl, id, ref, status, fields, links, deleted FROM items ORDER BY tbl, id"
        ).fetchall()
        log = connection.execute(
            "SELECT tbl, entity_id, ref, action, author FROM changelog ORDER BY id"
        ).fetchall()
        sequences = connection.execute("SELECT * FROM sequences ORDER BY tbl").fetchall()
        jobs = connection.execute(
            "SELECT connector, status, polls, counts, message, will_fail, batch FROM jobs "
            "ORDER BY created, rowid"
        ).fetchall()
    calls = []
    for *job, batch in jobs:
        kept = json.loads(batch)
        upserts = {t: [row["ref"] for row in rows] for t, rows in kept["upserts"].items()}
        calls.append((*job, upserts, kept["deletes"]))
    rest = {path: _unstamped(api.rest("GET", path).json()) for path in REST_VIEWS}
    return {"items": items, "changelog": log, "sequences": sequences, "jobs": calls, "rest": rest}


def _answer(response: dict[str, Any]) -> tuple[dict[str, Any], str | None]:
    response.pop("time", None)
    url = response.get("input_response", {}).pop("status_tracking", None)
    return response, url


def _poll(api: Api, url: str) -> dict[str, Any]:
    status = dict(api.http.get(url).json())
    status.pop("time")
    return status


def run_interleaved(api: Api, seed: int) -> list[Any]:
    """Seeded calls of one table each, tracked: new calls and polls of the open jobs in random
    order, settings changed now and then; every answer and tracking answer, then the store."""
    rng = random.Random(seed)
    api.emulator.reset()
    api.settings(
        {
            "faults": {"tracking": {"job_failure_share": 0.2, "seed": seed}},
            "connector_api": {"unknown_fields": "reject" if seed % 2 else "ignore"},
        }
    )
    seen: list[Any] = []
    open_jobs: list[tuple[int, str]] = []
    calls = 0
    for _ in range(200):
        roll = rng.random()
        if roll < 0.06:
            patch = rng.choice(SETTINGS_CHANGES)
            api.settings(patch)
            seen.append(("settings", patch))
        elif roll < 0.5 or not open_jobs:
            code, form = _call(rng)
            answer, url = _answer(api.set_info(php_form(form.form().input_data), sign(code)).json())
            seen.append(("call", calls, answer))
            if url:
                open_jobs.append((calls, url))
            calls += 1
        else:
            number, url = rng.choice(open_jobs)
            status = _poll(api, url)
            seen.append(("poll", number, status))
            if status["input_status"] in ("end", "error"):
                open_jobs.remove((number, url))
    for number, url in open_jobs:
        status = _poll(api, url)
        while status["input_status"] not in ("end", "error"):
            seen.append(("poll", number, status))
            status = _poll(api, url)
        seen.append(("poll", number, status))
    seen.append(seen_in_store(api))
    return seen


@pytest.mark.parametrize("seed", range(6))
def test_interleaved_tracked_jobs_answer_and_write_what_the_row_path_does(
    api: Api, seed: int, paths: Paths, monkeypatch: pytest.MonkeyPatch
) -> None:
    columnwise = run_interleaved(api, seed)
    # The column path did the work: most tracked calls it was given, most of their jobs' ends.
    assert paths.accepted >= 15, paths
    assert paths.ended_by_columns >= 8, paths
    rows_only(monkeypatch)
    rowwise = run_interleaved(api, seed)
    assert len(columnwise) == len(rowwise)
    for number, (got, expected) in enumerate(zip(columnwise, rowwise, strict=True)):
        assert got == expected, number


def test_a_job_is_answered_as_planned_when_accepted_and_counted_again_at_its_end(
    api: Api, paths: Paths, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Two calls of the same new items, both accepted before either ends: both answer "new";
    the one that ends second finds the items there and ends counting them as updated."""

    def run() -> list[Any]:
        api.emulator.reset()
        rows = [{"prod_ref": f"P{n}", "prod_title_en": f"T{n}"} for n in range(4)]
        first, one = _answer(api.set_info(php_form({"products": rows})).json())
        renamed = [{**row, "prod_title_en": row["prod_title_en"] + "!"} for row in rows]
        second, two = _answer(api.set_info(php_form({"products": renamed})).json())
        assert one is not None and two is not None
        ends = [_poll(api, two) for _ in range(3)] + [_poll(api, one) for _ in range(3)]
        return [first, second, ends, seen_in_store(api)]

    columnwise = run()
    assert (paths.accepted, paths.jobs_ended, paths.ended_by_columns) == (2, 2, 2)
    answers = [columnwise[0]["input_response"], columnwise[1]["input_response"]]
    assert [a["new_items"] for a in answers] == [{"products": 4}, {"products": 4}]
    ends = columnwise[2]
    assert ends[2]["input_response"]["new_items"] == {"products": 4}
    assert ends[5]["input_response"]["new_items"] == {"products": 0}
    assert ends[5]["input_response"]["updated_items"] == {"products": 4}
    assert json.loads(columnwise[3]["items"][0][4]) == {"prod_title": {"en": "T0"}}
    rows_only(monkeypatch)
    assert run() == columnwise


def test_a_job_whose_link_target_went_meanwhile_fails_in_the_row_paths_words(
    api: Api, paths: Paths, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A job accepted on the column path whose category is deleted before it ends: planned
    again then, the column path declines, the row path refuses it, nothing is written."""

    def run() -> list[Any]:
        api.emulator.reset()
        api.settings({"tracking": {"steps_to_end": 0}})
        api.set_info(php_form({"catalogue": [{"cat_ref": "C1"}, {"cat_ref": "C2"}]}))
        api.settings({"tracking": {"steps_to_end": 2}})
        rows = [{"prod_ref": "P1", "cat_ref": "C1"}, {"prod_ref": "P2", "cat_ref": "C2"}]
        accepted, url = _answer(api.set_info(php_form({"products": rows})).json())
        assert url is not None
        api.settings({"tracking": {"steps_to_end": 0}})
        api.set_info(php_form(deletes={"catalogue": ["C1"]}))
        return [accepted, [_poll(api, url) for _ in range(3)], seen_in_store(api)]

    columnwise = run()
    assert (paths.accepted, paths.jobs_ended, paths.ended_by_columns) == (2, 1, 0)
    assert columnwise[0]["input_response"]["new_items"] == {"products": 2}
    end = columnwise[1][-1]
    assert end["input_status"] == "error"
    assert "cat_ref 'C1' is not a catalogue reference" in end["input_action_message"]
    assert columnwise[2]["rest"]["Products"]["value"] == []
    rows_only(monkeypatch)
    assert run() == columnwise


def _accept_then_restart(data: Path, settings: dict[str, Any], seed: int) -> list[Any]:
    """Seeded tracked calls accepted (none polled), the emulator stopped and started again on
    the same file, then every job polled to its end."""
    rng = random.Random(seed)
    seen: list[Any] = []
    urls: list[str] = []
    with run_in_thread(data, settings=settings) as first:
        api = Api(first)
        api.settings({"connector_api": {"unknown_fields": "ignore"}})
        for _ in range(60):
            code, form = _call(rng)
            answer, url = _answer(api.set_info(php_form(form.form().input_data), sign(code)).json())
            seen.append(answer)
            if url:
                urls.append(url.removeprefix(first.base_url))
        api.close()
    with run_in_thread(data, settings=settings) as second:
        api = Api(second)
        for url in urls:
            status = _poll(api, url)
            while status["input_status"] not in ("end", "error"):
                status = _poll(api, url)
            seen.append(status)
        seen.append(seen_in_store(api))
        api.close()
    return seen


@pytest.mark.parametrize("seed", range(2))
def test_jobs_open_across_a_restart_end_as_on_the_row_path(
    tmp_path: Path, seed: int, paths: Paths, monkeypatch: pytest.MonkeyPatch
) -> None:
    settings = {**TRACKED, "faults": {"tracking": {"job_failure_share": 0.2}}}
    columnwise = _accept_then_restart(tmp_path / "columns.sqlite", settings, seed)
    assert paths.accepted >= 8 and paths.ended_by_columns >= 5, paths
    rows_only(monkeypatch)
    assert _accept_then_restart(tmp_path / "rows.sqlite", settings, seed) == columnwise


def test_an_open_job_keeps_its_references_and_columns(
    api: Api, paths: Paths, monkeypatch: pytest.MonkeyPatch
) -> None:
    """What readers of the job records find (``tests/e2e/conftest.py``: ``sent_references``)
    in an open job of either path: the references of its call."""
    stored: list[dict[str, Any]] = []
    for take_rows in (False, True):
        if take_rows:
            rows_only(monkeypatch)
        api.emulator.reset()
        rows = [{"prod_ref": "P1", "prod_title_en": "a"}, {"prod_ref": "P2", "prod_title_en": "b"}]
        _, url = _answer(api.set_info(php_form({"products": rows})).json())
        assert url is not None
        job = api.emulator.state.storage.job(url.rsplit("/", 1)[1])
        assert job is not None and job.status == "prepare"
        stored.append(job.batch)
    columns, rows_batch = stored
    read: Callable[[dict[str, Any]], list[str]] = lambda b: [  # noqa: E731
        row["ref"] for row in b["upserts"]["products"]
    ]
    assert read(columns) == read(rows_batch) == ["P1", "P2"]
    assert columns["columns"] == {
        "names": ["prod_ref", "prod_title_en"],
        "values": [["P1", "P2"], ["a", "b"]],
    }
    assert "columns" not in rows_batch
    assert paths.accepted == 1


def test_a_tracked_call_is_checked_and_counted_as_prepare_would(tmp_path: Path) -> None:
    """:func:`bulk.check_tracked` (no items' JSON built) declines the calls :func:`bulk.prepare`
    declines and answers its counts, on random calls against a store they fill."""
    tenant, settings = load_tenant(), EmulatorSettings()
    store = Storage(tmp_path / "sl.sqlite")
    rng = random.Random(7)
    taken = 0
    for number in range(300):
        code, form = _call(rng)
        connector = tenant.connector(code)
        assert connector is not None
        with store.transaction():
            prepared = bulk.prepare(tenant, store, settings, connector, form)
            checked = bulk.check_tracked(tenant, store, settings, connector, form)
            assert checked == (None if prepared is None else prepared.counts), (number, form)
            if prepared is not None:
                prepared.apply(store)
                taken += 1
    assert taken >= 50, taken
    emptied = parse_columns(php_form({"products": [{"prod_ref": "P1", "prod_tags": ",,"}]}))
    assert emptied is not None
    connector = tenant.connector("CN123TEST")
    assert connector is not None
    assert bulk.check_tracked(tenant, store, settings, connector, emptied) is None
    kept = parse_columns(php_form({"products": [{"prod_ref": "P1", "prod_tags": ",a,"}]}))
    assert kept is not None
    assert bulk.check_tracked(tenant, store, settings, connector, kept) is not None
