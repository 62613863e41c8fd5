"""Two Sales Layer accounts, one deployment: connectors of account a and account b with the same
table names (categories, products) and the same references run side by side on the Celery
workers. Each emulator (= account) must hold only its own connector's data, and the state store
(PostgreSQL, read directly) must keep the two accounts' rows apart: a third connector of account
b links one category only account a has (rejected: unknown in b) and one both have (accepted).

The twelve-connector tests (test_cluster.py) already show two accounts pushing in parallel with
disjoint references; this adds the same references in both and the state store's side."""

from __future__ import annotations

import hashlib
from typing import Any

import pytest

from saleslayer_airflow.state.schema import PREFIX
from tests.cluster.harness import BUCKET, Cluster
from tests.cluster.test_cluster import emulator_table
from tests.cluster.workload import (
    ACCOUNTS,
    LATE_DAG,
    LATE_KNOWN,
    LATE_UNKNOWN,
    ONLY_A_CATEGORY,
    TWIN_CATEGORY,
    TWIN_REFS,
    twin_dag,
    twin_rows,
)

pytestmark = [pytest.mark.integration, pytest.mark.timeout(600)]

RUNS_TIMEOUT = 240.0


def account_key(account: str) -> str:
    """The state store's key of an account whose connection has extra ``account`` (computed as
    docs/accounts.md says, not with the package's code)."""
    name = f"cluster-account-{account}"
    return hashlib.sha256("\0".join(["account", name]).encode()).hexdigest()[:16]


def _state_rows(cluster: Cluster) -> list[Any]:
    return cluster.state_query(
        f"SELECT account, connector_id, table_name, reference, content, deleted "
        f"FROM {PREFIX}items WHERE reference LIKE 'T-%' ORDER BY reference, account"
    )


@pytest.fixture(scope="module")
def twin_runs(cluster: Cluster) -> dict[str, dict[str, Any]]:
    """Both twins triggered at once, then the late connector of account b."""
    runs = cluster.wait_runs(cluster.trigger(twin_dag(a) for a in ACCOUNTS), RUNS_TIMEOUT)
    runs |= cluster.wait_runs(cluster.trigger([LATE_DAG]), RUNS_TIMEOUT)
    failed = {d: r["state"] for d, r in runs.items() if r["state"] != "success"}
    assert not failed, f"{failed}\n{cluster.why_failed(runs.values())}"
    return runs


def test_each_account_holds_only_its_own_connector_s_data(
    cluster: Cluster, twin_runs: dict[str, dict[str, Any]]
) -> None:
    for account in ACCOUNTS:
        products = emulator_table(cluster, account, "products", "T-")
        categories = emulator_table(cluster, account, "categories", "T-")
        expected = {row["sku"]: row for row in twin_rows(account)}
        if account == "b":
            expected[LATE_KNOWN] = {"name_en": "Links a category account b has"}
        assert set(products) == set(expected), account
        for ref, row in expected.items():
            assert products[ref]["fields"]["prod_title"] == {"en": row["name_en"]}, (account, ref)
        # Account a's own category never reached b; both have the shared one, with their titles.
        wanted = {TWIN_CATEGORY, ONLY_A_CATEGORY} if account == "a" else {TWIN_CATEGORY}
        assert set(categories) == wanted, account
        title = categories[TWIN_CATEGORY]["fields"]["cat_title"]
        assert title == {"en": f"Category of account {account}"}, account

    # Both twins created everything: account b's store did not know account a's items (same
    # references, pushed at the same time) as unchanged, nor the other way round.
    for account in ACCOUNTS:
        dag_id = twin_dag(account)
        report = cluster.xcom(dag_id, twin_runs[dag_id]["dag_run_id"], "report")
        counts = report["tables"]["products"]
        assert counts["created"] == len(twin_rows(account)), (account, counts)
        assert counts["unchanged"] == counts["rejected"] == 0, (account, counts)


def test_the_state_store_keeps_the_accounts_apart(
    cluster: Cluster, twin_runs: dict[str, dict[str, Any]]
) -> None:
    rows = _state_rows(cluster)
    keys = {account: account_key(account) for account in ACCOUNTS}
    assert keys["a"] != keys["b"]
    by_ref: dict[tuple[str, str], set[tuple[str, str]]] = {}
    for row in rows:
        by_ref.setdefault((row.table_name, row.reference), set()).add(
            (row.account, row.connector_id)
        )
        # Only the two accounts' keys (no legacy, unkeyed rows), each with its own data.
        assert row.account in keys.values(), row
        owner = next(a for a, k in keys.items() if k == row.account)
        if row.table_name == "products" and row.reference in TWIN_REFS:
            assert f"of account {owner}" in row.content, row
    for ref in TWIN_REFS:
        # One row per account for the same table and reference, each under its own connector.
        assert by_ref[("products", ref)] == {
            (keys["a"], twin_dag("a")),
            (keys["b"], twin_dag("b")),
        }, ref
    assert by_ref[("categories", TWIN_CATEGORY)] == {
        (keys["a"], twin_dag("a")),
        (keys["b"], twin_dag("b")),
    }
    assert by_ref[("categories", ONLY_A_CATEGORY)] == {(keys["a"], twin_dag("a"))}
    assert by_ref[("products", LATE_KNOWN)] == {(keys["b"], LATE_DAG)}
    assert ("products", LATE_UNKNOWN) not in by_ref


def test_a_parent_only_the_other_account_has_is_not_known(
    cluster: Cluster, twin_runs: dict[str, dict[str, Any]]
) -> None:
    run_id = twin_runs[LATE_DAG]["dag_run_id"]
    counts = cluster.xcom(LATE_DAG, run_id, "report")["tables"]["products"]
    # The product linking account b's own (shared-reference) category is created; the one
    # linking the category only account a has is rejected at validation: account b's split read
    # account b's known references only, though the row for that reference is in the same table.
    assert (counts["read"], counts["created"], counts["rejected"]) == (2, 1, 1), counts
    keys = cluster.bucket_keys(f"staging/{LATE_DAG}/")
    rejects_key = next(k for k in keys if k.endswith("/rejects.csv"))
    body = cluster.s3().get_object(Bucket=BUCKET, Key=rejects_key)["Body"].read()
    assert LATE_UNKNOWN.encode() in body and ONLY_A_CATEGORY.encode() in body, body
    assert LATE_KNOWN.encode() not in body
