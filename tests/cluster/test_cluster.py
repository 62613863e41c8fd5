"""Twelve connector DAGs (FTP and HTTP sources, two Sales Layer accounts) triggered at once on a
CeleryExecutor Airflow with two workers, PostgreSQL for metadata and state, Redis as the broker
and an S3 bucket (moto) as the staging base. Everything is checked from outside: Airflow's REST
API, the emulators' own records, and the bucket through boto3."""

from __future__ import annotations

import json
from collections import Counter
from datetime import datetime
from itertools import pairwise
from pathlib import Path
from typing import Any

import httpx
import pytest

from tests.cluster.conftest import Runs
from tests.cluster.harness import BUCKET, WORKERS, Cluster
from tests.cluster.workload import ACCOUNTS, BATCH_SIZE, ROWS, expected_products
from tests.e2e.conftest import sent_references

# The cluster's start (about 20-30 s) and the twelve runs (about 70 s) are the first test's setup.
pytestmark = [pytest.mark.integration, pytest.mark.timeout(900)]

TASKS = {"fetch_source", "validate_and_split", "push_products", "report"}


def by_task(runs: Runs, dag_id: str) -> dict[str, dict[str, Any]]:
    return {ti["task_id"]: ti for ti in runs.task_instances[dag_id]}


def test_every_run_succeeds_and_tasks_ran_on_both_workers(cluster: Cluster, runs: Runs) -> None:
    failed = {d: r["state"] for d, r in runs.runs.items() if r["state"] != "success"}
    if failed:
        dag_id = next(iter(failed))
        broken = next(
            (ti for ti in runs.task_instances[dag_id] if ti["state"] == "failed"),
            by_task(runs, dag_id)["report"],
        )
        log = cluster.task_log(
            dag_id, broken["dag_run_id"], broken["task_id"], broken["try_number"]
        )
        pytest.fail(f"runs did not succeed: {failed}\nlog of {broken['task_id']}:\n{log[-3000:]}")
    per_worker: Counter[str] = Counter()
    for dag_id in runs.runs:
        tasks = by_task(runs, dag_id)
        assert set(tasks) == TASKS
        for ti in tasks.values():
            assert ti["state"] == "success", (dag_id, ti["task_id"])
            # No try was lost: one try each (a retry would hide a distributed-staging problem).
            assert ti["try_number"] == 1, (dag_id, ti["task_id"], ti["try_number"])
            per_worker[ti["hostname"]] += 1
    print(f"\ncluster: 12 runs in {runs.seconds:.1f} s; tasks per worker {dict(per_worker)}")
    assert set(per_worker) == set(WORKERS), per_worker
    assert min(per_worker.values()) >= 5, per_worker


def test_reports_balance(cluster: Cluster, runs: Runs) -> None:
    for dag_id, run in runs.runs.items():
        path = f"/dags/{dag_id}/dagRuns/{run['dag_run_id']}/taskInstances/report"
        report = cluster.get(f"{path}/xcomEntries/return_value", deserialize=True)["value"]
        counts = report["tables"]["products"]
        assert counts["read"] == ROWS, (dag_id, counts)
        assert counts["created"] == ROWS - 1 and counts["rejected"] == 1, (dag_id, counts)
        assert counts["failed"] == counts["updated"] == counts["unchanged"] == 0, (dag_id, counts)


def emulator_products(
    cluster: Cluster, account: str, prefix: str = ""
) -> dict[str, dict[str, Any]]:
    """An emulator's products table through its inspection route, over HTTP (the references
    starting with ``prefix`` only)."""
    return emulator_table(cluster, account, "products", prefix)


def emulator_table(
    cluster: Cluster, account: str, table: str, prefix: str = ""
) -> dict[str, dict[str, Any]]:
    url = f"{cluster.emulators[account].base_url}/_emulator/tables/{table}"
    answer = httpx.get(url, timeout=30)
    assert answer.status_code == 200, answer.text
    items = answer.json()["items"]
    return {str(item["ref"]): item for item in items if str(item["ref"]).startswith(prefix)}


#: The twelve connectors' references (the scenario tests' have other prefixes: the emulators
#: hold those too when a scenario test ran first).
TWELVE = "C"


@pytest.mark.parametrize("account", ACCOUNTS)
def test_each_emulator_holds_exactly_its_account_s_products(
    cluster: Cluster, runs: Runs, account: str
) -> None:
    expected = expected_products(account, cluster.connectors)
    stored = emulator_products(cluster, account, TWELVE)
    assert set(stored) == set(expected)
    for ref, fields in expected.items():
        item = stored[ref]
        assert not item["deleted"], ref
        # Sales Layer keeps numbers as text: compared as numbers.
        shown = dict(item["fields"], prod_price=float(item["fields"]["prod_price"]))
        assert shown == fields, ref
    # Nothing was lost or sent twice: each reference exactly once in the import calls the
    # emulator accepted, in ceil(23 / 10) = 3 calls per connector.
    sent = sent_references(cluster.root / f"emulator-{account}.sqlite", "products")
    assert sorted(r for r in sent if r.startswith(TWELVE)) == sorted(expected)
    mine = [c for c in cluster.connectors if c.account == account]
    calls = runs.stats[account]["by_endpoint"].get("POST /", 0)
    assert calls == len(mine) * -(-(ROWS - 1) // BATCH_SIZE), runs.stats[account]


def test_reports_and_rejects_land_in_the_bucket(cluster: Cluster, runs: Runs) -> None:
    s3 = cluster.s3()
    for dag_id in runs.runs:
        keys = cluster.bucket_keys(f"staging/{dag_id}/")
        names = {key.rsplit("/", 1)[-1] for key in keys}
        assert {"report.json", "rejects.csv"} <= names, (dag_id, keys)
        rejects_key = next(k for k in keys if k.endswith("/rejects.csv"))
        rejects = s3.get_object(Bucket=BUCKET, Key=rejects_key)["Body"].read().decode()
        assert f"{dag_id[8:10]}-REJ" in rejects, rejects
        report_key = next(k for k in keys if k.endswith("/report.json"))
        report = json.loads(s3.get_object(Bucket=BUCKET, Key=report_key)["Body"].read())
        assert report["tables"]["products"]["rejected"] == 1
        # Split files live in the bucket too: the push ran on whichever worker, reading them.
        assert any("/split/" in key and key.endswith(".parquet") for key in keys), keys
    # Task logs went to the bucket (remote logging): readable whichever worker wrote them.
    assert len(cluster.bucket_keys("logs/")) >= 4 * len(runs.runs)


def _intervals(runs: Runs, account: str) -> list[tuple[datetime, datetime, str]]:
    found = []
    for connector in (c for c in runs_connectors(runs) if c[1] == account):
        ti = by_task(runs, connector[0])["push_products"]
        start = datetime.fromisoformat(ti["start_date"])
        end = datetime.fromisoformat(ti["end_date"])
        found.append((start, end, connector[0]))
    return sorted(found)


def runs_connectors(runs: Runs) -> list[tuple[str, str]]:
    """(dag_id, account) of each run, from the push task's pool (one pool per account)."""
    return [
        (dag_id, by_task(runs, dag_id)["push_products"]["pool"].removeprefix("saleslayer_"))
        for dag_id in runs.runs
    ]


def test_one_account_never_pushes_twice_at_once_but_accounts_push_in_parallel(
    cluster: Cluster, runs: Runs
) -> None:
    assert {account for _, account in runs_connectors(runs)} == set(ACCOUNTS)
    # The emulator's own view: never two API requests of one account in flight at once.
    assert runs.in_flight_samples > 100
    assert runs.in_flight_highest == dict.fromkeys(ACCOUNTS, 1), runs.in_flight_highest
    # Airflow's view: the pushes of one account (one pool, one slot) never overlap...
    for account in ACCOUNTS:
        pushes = _intervals(runs, account)
        assert len(pushes) == 6
        for (_, end, first), (start, _, second) in pairwise(pushes):
            assert start >= end, f"{first} and {second} pushed to account {account} at once"
    # ...while pushes to different accounts do.
    overlapping = [
        (a[2], b[2])
        for a in _intervals(runs, ACCOUNTS[0])
        for b in _intervals(runs, ACCOUNTS[1])
        if a[0] < b[1] and b[0] < a[1]
    ]
    assert overlapping, "no push of one account ran while the other account's did"


def _files_with(folder: Path, needles: dict[str, str]) -> list[str]:
    found = []
    for path in folder.rglob("*"):
        if not path.is_file() or path.is_symlink():
            continue
        data = path.read_bytes()
        found += [f"{what} in {path}" for what, value in needles.items() if value.encode() in data]
    return found


def test_no_secret_in_logs_xcom_rendered_templates_or_the_bucket(
    cluster: Cluster, runs: Runs
) -> None:
    needles = cluster.secrets()
    assert all(len(value) >= 8 for value in needles.values())
    leaks: list[str] = []
    # Every component's folder: its own output, its task logs (workers), its airflow.cfg.
    for name, home in cluster.homes.items():
        leaks += _files_with(home, needles)
        assert name == "cli" or (home / "component.log").exists(), name
    # Every object in the bucket: task logs (remote logging), landed, split and report files.
    s3 = cluster.s3()
    keys = cluster.bucket_keys()
    # A control: the scan reads the objects' real bytes (a landed export names this product).
    control = b"Product 1 of connector 0"
    assert any(control in s3.get_object(Bucket=BUCKET, Key=k)["Body"].read() for k in keys)
    for key in keys:
        body = s3.get_object(Bucket=BUCKET, Key=key)["Body"].read()
        leaks += [
            f"{what} in s3://{BUCKET}/{key}" for what, v in needles.items() if v.encode() in body
        ]
    # XCom values and rendered templates, as the REST API shows them.
    for dag_id, run in runs.runs.items():
        for ti in runs.task_instances[dag_id]:
            shown = json.dumps(ti.get("rendered_fields"))
            path = f"/dags/{dag_id}/dagRuns/{run['dag_run_id']}/taskInstances/{ti['task_id']}"
            for entry in cluster.get(f"{path}/xcomEntries")["xcom_entries"]:
                value = cluster.get(f"{path}/xcomEntries/{entry['key']}", deserialize=True)
                shown += json.dumps(value)
            shown += cluster.task_log(dag_id, run["dag_run_id"], ti["task_id"], 1)
            leaks += [
                f"{what} in {dag_id}.{ti['task_id']}" for what, v in needles.items() if v in shown
            ]
    assert not leaks, "\n".join(leaks)
