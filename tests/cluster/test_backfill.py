"""A backfill on the cluster: a daily connector whose FTP path is templated by ``{{ ds_nodash }}``
(one export per day, the newest day with the newest data) backfilled over three days through the
REST API's backfill endpoint; the scheduler creates the runs, the Celery workers run them, the
state store is PostgreSQL.

First newest day first (``run_backwards``, one run at a time): the older days' data reaches the
push after the newest day's, which is where a rollback would happen; the project refuses it as
``stale``. Then the same days again, reprocessed, all at once in whatever order the scheduler and
the account's one-slot pool give: nothing is sent and the emulator keeps the newest day's data.
"""

from __future__ import annotations

import time
from datetime import date, datetime
from typing import Any

import pytest

from saleslayer_airflow.state.schema import PREFIX
from tests.cluster.harness import Cluster, ClusterError
from tests.cluster.test_cluster import emulator_products
from tests.cluster.workload import BACKFILL_DAG, BACKFILL_ROWS, backfill_rows
from tests.e2e.conftest import sent_references

pytestmark = [pytest.mark.integration, pytest.mark.timeout(600)]

#: Three runs one after the other, each about 12-20 s of task start-up and pushing.
BACKFILL_TIMEOUT = 240.0


def _days(cluster: Cluster) -> list[date]:
    scenario = next(s for s in cluster.scenarios if s.dag_id == BACKFILL_DAG)
    stamps = sorted(name[len("daily_") : -len(".csv")] for name in scenario.files)
    return [datetime.strptime(stamp, "%Y%m%d").date() for stamp in stamps]


def _backfill(cluster: Cluster, days: list[date], **options: Any) -> dict[str, dict[str, Any]]:
    """Create a backfill through the REST API and wait until its runs have finished; returns
    the DAG's runs by logical day."""
    body = {
        "dag_id": BACKFILL_DAG,
        "from_date": f"{days[0].isoformat()}T00:00:00Z",
        "to_date": f"{days[-1].isoformat()}T00:00:00Z",
        **options,
    }
    answer = cluster.api("POST", "/backfills", json=body)
    assert answer.status_code == 200, answer.text
    backfill_id = answer.json()["id"]

    def done() -> dict[str, dict[str, Any]] | None:
        backfill = cluster.get(f"/backfills/{backfill_id}")
        runs = cluster.get(f"/dags/{BACKFILL_DAG}/dagRuns", limit=100)["dag_runs"]
        mine = {r["logical_date"][:10]: r for r in runs if r["run_type"] == "backfill"}
        finished = all(r["state"] in ("success", "failed") for r in mine.values())
        if backfill["completed_at"] and len(mine) == len(days) and finished:
            return mine
        return None

    try:
        result: dict[str, dict[str, Any]] = cluster.wait_for(
            f"backfill {backfill_id}", done, BACKFILL_TIMEOUT
        )
    except ClusterError as exc:
        pytest.fail(str(exc))
    return result


def _push(cluster: Cluster, run: dict[str, Any]) -> dict[str, Any]:
    return cluster.task_instances(BACKFILL_DAG, run["dag_run_id"])["push_products"]


def _sent_b(cluster: Cluster) -> list[str]:
    sent = sent_references(cluster.root / "emulator-b.sqlite", "products")
    return sorted(ref for ref in sent if ref.startswith("B-"))


def _assert_newest_data_held(cluster: Cluster, newest: date) -> None:
    stored = emulator_products(cluster, "b", "B-")
    expected = {row["sku"]: row for row in backfill_rows(newest)}
    assert set(stored) == set(expected)
    for ref, row in expected.items():
        fields = stored[ref]["fields"]
        assert fields["prod_title"] == {"en": row["name_en"]}, ref
        assert float(fields["prod_price"]) == float(row["price"]), ref
    # The state store agrees: every item's data is dated by the newest export.
    dates = cluster.state_query(
        f"SELECT DISTINCT export_date FROM {PREFIX}items "
        "WHERE connector_id = :dag AND table_name = 'products'",
        dag=BACKFILL_DAG,
    )
    assert {d.date() for (d,) in dates} == {newest}


def test_backfill_newest_first_then_in_any_order_never_rolls_data_back(cluster: Cluster) -> None:
    days = _days(cluster)
    newest = days[-1]
    answer = cluster.api("PATCH", f"/dags/{BACKFILL_DAG}", json={"is_paused": False})
    assert answer.status_code == 200, answer.text

    began = time.monotonic()
    runs = _backfill(cluster, days, run_backwards=True, max_active_runs=1)
    first_seconds = time.monotonic() - began
    assert set(runs) == {d.isoformat() for d in days}, runs.keys()
    failed = {d: r["state"] for d, r in runs.items() if r["state"] != "success"}
    assert not failed, f"{failed}\n{cluster.why_failed(runs.values())}"
    # Every run of the DAG is a backfill run (the end date keeps the scheduler's own away).
    every = cluster.get(f"/dags/{BACKFILL_DAG}/dagRuns", limit=100)["dag_runs"]
    assert {r["run_type"] for r in every} == {"backfill"}

    pushes = {day: _push(cluster, runs[day.isoformat()]) for day in days}
    started = sorted(days, key=lambda day: pushes[day]["start_date"])
    assert started == list(reversed(days)), "the backfill did not run newest day first"
    hosts = {ti["hostname"] for ti in pushes.values()}
    for day in days:
        run = runs[day.isoformat()]
        # Each run read its own day's file: the templated path, rendered per run.
        fetch = cluster.task_instances(BACKFILL_DAG, run["dag_run_id"])["fetch_source"]
        assert f"daily_{day.strftime('%Y%m%d')}.csv" in str(fetch["rendered_fields"]), fetch
        counts = cluster.xcom(BACKFILL_DAG, run["dag_run_id"], "report")["tables"]["products"]
        assert counts["read"] == BACKFILL_ROWS, (day, counts)
        if day == newest:
            assert counts["created"] == BACKFILL_ROWS, (day, counts)
        else:
            # Older than what Sales Layer has: refused as stale, nothing sent.
            assert counts["stale"] == BACKFILL_ROWS, (day, counts)
            assert counts["created"] == counts["updated"] == 0, (day, counts)
    _assert_newest_data_held(cluster, newest)
    # Every run's files are still in the bucket: a later run's fetch deletes only folders past
    # the retention (before the fix in staging._modified, an S3 "folder" dated 1970 made every
    # fetch delete the connector's other runs, in-progress ones included).
    for day in days:
        folder = f"staging/{BACKFILL_DAG}/backfill__{day.isoformat()}T00_00_00_00_00/"
        names = {key.rsplit("/", 1)[-1] for key in cluster.bucket_keys(folder)}
        assert {"report.json", f"daily_{day.strftime('%Y%m%d')}.csv"} <= names, (day, names)
    # Only the newest day's items were ever sent, each once.
    assert _sent_b(cluster) == sorted(row["sku"] for row in backfill_rows(newest))

    # The same three days again, reprocessed all at once: whatever order they run in, nothing
    # older overwrites the newest day's data, and nothing is sent again.
    began = time.monotonic()
    again = _backfill(cluster, days, reprocess_behavior="completed", max_active_runs=3)
    second_seconds = time.monotonic() - began
    failed = {d: r["state"] for d, r in again.items() if r["state"] != "success"}
    assert not failed, f"{failed}\n{cluster.why_failed(again.values())}"
    for day in days:
        run = again[day.isoformat()]
        pushed = cluster.xcom(BACKFILL_DAG, run["dag_run_id"], "push_products")
        # Nothing sent: the older days stale again; the newest day's batches were acknowledged
        # under this very run id the first time, so its push resumes after them (and reports
        # them, as a retried run does).
        assert pushed["batches_sent"] == 0, (day, pushed)
        if day == newest:
            assert pushed["batches_resumed"] == 2 and pushed["created"] == BACKFILL_ROWS, pushed
        else:
            assert pushed["stale"] == BACKFILL_ROWS, (day, pushed)
        hosts.add(_push(cluster, run)["hostname"])
    _assert_newest_data_held(cluster, newest)
    assert _sent_b(cluster) == sorted(row["sku"] for row in backfill_rows(newest))
    print(
        f"\nbackfill: 3 days newest first in {first_seconds:.1f} s, reprocessed at once in "
        f"{second_seconds:.1f} s; pushes ran on {sorted(hosts)}"
    )
