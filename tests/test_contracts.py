"""Stage contracts: what one task hands the next through XCom, checked on the way in."""

from __future__ import annotations

import json

import pytest

from saleslayer_airflow.contracts import (
    CONTRACT_VERSION,
    FETCH_TASK,
    SPLIT_TASK,
    ContractError,
    FetchResult,
    PushCounts,
    PushStatus,
    SplitSummary,
    StagedTable,
    TableCounts,
    TablePushResult,
    push_task_id,
)
from saleslayer_airflow.exceptions import TerminalError

#: A split summary as the release before contracts wrote it (no version, no duplicates count).
OLD_SPLIT = {
    "run_folder": "file:///staging/shop/run1",
    "rows_read": 3,
    "rows_unused": 0,
    "rows_rejected": 1,
    "rejects_path": "file:///staging/shop/run1/rejects.csv",
    "tables": {
        "products": {
            "path": "file:///staging/shop/run1/split/products.parquet",
            "rows_in": 3,
            "rows_out": 2,
            "merged": 0,
            "rejected": 1,
            "conflicts": 0,
        }
    },
    "balance": "per table: rows_in = rows_out + merged + rejected",
}


def test_a_summary_written_before_contracts_is_read() -> None:
    summary = SplitSummary.from_xcom(OLD_SPLIT, task_id=SPLIT_TASK)
    staged = summary.tables["products"]
    assert staged.rows_out == 2
    assert staged.duplicates == 0 and staged.unreadable is None
    assert summary.version == CONTRACT_VERSION


def test_round_trip_through_json_keeps_every_field() -> None:
    fetched = FetchResult.model_validate(
        {
            "connector_id": "shop",
            "run_folder": "file:///staging/shop/run1",
            "fingerprint": "ab" * 32,
            "files": [
                {
                    "path": "file:///staging/shop/run1/landed/a.csv",
                    "name": "a.csv",
                    "source": "https://erp.example.com/a.csv",
                    "size": 12,
                    "sha256": "cd" * 32,
                    "remote_mtime": "2026-12-01T10:00:00+00:00",
                    "etag": '"x"',
                    "file": "products",
                }
            ],
        }
    )
    again = FetchResult.from_xcom(json.loads(json.dumps(fetched.to_xcom())), task_id=FETCH_TASK)
    assert again == fetched
    assert again.files[0].file == "products"


def test_unknown_keys_of_a_newer_writer_are_ignored() -> None:
    newer = OLD_SPLIT | {"version": CONTRACT_VERSION + 1, "something_new": [1, 2]}
    assert SplitSummary.from_xcom(newer, task_id=SPLIT_TASK).rows_read == 3


def test_what_no_table_took_rides_the_summary_and_defaults_when_absent() -> None:
    old = SplitSummary.from_xcom(OLD_SPLIT, task_id=SPLIT_TASK)
    assert old.files == () and old.ignored == {} and old.ignored_path is None
    assert old.tables["products"].filtered == 0
    newer = SplitSummary.model_validate(
        OLD_SPLIT
        | {
            "files": [
                {
                    "name": "a.csv",
                    "rows_read": 3,
                    "rows_used": 2,
                    "rows_unused": 1,
                    "unread_count": 1,
                    "unread_columns": ["weight"],
                }
            ],
            "ignored": {"rows that feed no table": 1, "columns no table reads": 1},
            "ignored_path": "file:///staging/shop/run1/ignored.csv",
            "ignored_listed": 1,
        }
    )
    again = SplitSummary.from_xcom(json.loads(json.dumps(newer.to_xcom())), task_id=SPLIT_TASK)
    assert again == newer
    assert again.files[0].unread_columns == ("weight",)
    assert again.ignored["rows that feed no table"] == 1


@pytest.mark.parametrize("value", [None, {}, []])
def test_a_missing_result_names_the_task(value: object) -> None:
    with pytest.raises(ContractError, match="task 'validate_and_split' left no result"):
        SplitSummary.from_xcom(value, task_id=SPLIT_TASK)


def test_a_malformed_result_names_the_task_and_the_field() -> None:
    broken = json.loads(json.dumps(OLD_SPLIT))
    del broken["tables"]["products"]["rows_out"]
    with pytest.raises(ContractError) as caught:
        SplitSummary.from_xcom(broken, task_id=SPLIT_TASK)
    message = str(caught.value)
    assert "'validate_and_split'" in message
    assert "tables.products.rows_out" in message
    assert isinstance(caught.value, TerminalError)  # retrying cannot help


def test_a_result_of_another_shape_is_refused() -> None:
    with pytest.raises(ContractError, match="is a str, not the FetchResult"):
        FetchResult.from_xcom("file:///x", task_id=FETCH_TASK)


def test_contracts_are_frozen() -> None:
    staged = StagedTable.model_validate(OLD_SPLIT["tables"]["products"])  # type: ignore[index]
    with pytest.raises(ValueError, match="frozen"):
        staged.rows_out = 5  # type: ignore[misc]


#: A push task's XCom as the release before one push-result type wrote it (TableCounts.as_dict()
#: plus status and table; ``deleted`` left out when the connector does not delete).
OLD_PUSH = {
    "items": 7,
    "created": 2,
    "updated": 1,
    "unchanged": 3,
    "stale": 0,
    "skipped": 0,
    "failed": 1,
    "refused": 1,
    "refusals": [{"reference": "P9", "reason": "category 12 was deleted"}],
    "cleared": 4,
    "batches_sent": 2,
    "batches_resumed": 0,
    "sample": [],
    "status": "pushed",
    "table": "products",
}


def test_a_push_result_written_before_is_read() -> None:
    pushed = TablePushResult.from_xcom(OLD_PUSH, task_id=push_task_id("products"))
    assert pushed.status is PushStatus.PUSHED and pushed.deleted is None
    assert pushed.refusals[0]["reason"] == "category 12 was deleted"
    assert pushed.counts() == {k: v for k, v in OLD_PUSH.items() if isinstance(v, int)}
    failed = TablePushResult.from_xcom(
        OLD_PUSH | {"status": "failed", "error": "boom", "deleted": 5}, task_id="push_products"
    )
    assert (failed.error, failed.deleted) == ("boom", 5)


def test_push_counts_are_declared_once_and_built_into_the_result() -> None:
    counted = set(PushCounts.model_fields)
    assert counted <= set(TableCounts.model_fields) == counted
    assert set(TablePushResult.model_fields) - counted == {
        "version", "table", "status", "error", "deletions", "deletions_reason",
    }  # fmt: skip

    counts = TableCounts()
    counts.items += 3
    counts.created += 2
    counts.unchanged += 1
    counts.refusals += ({"reference": "P1", "reason": "no"},)
    counts.check_balanced("products")
    result = counts.result("products", PushStatus.DRY_RUN, deletions="refused")

    assert result.model_dump(include=counted) == counts.model_dump()
    assert (result.table, result.status, result.deletions) == ("products", "dry run", "refused")
    again = TablePushResult.from_xcom(json.loads(json.dumps(result.to_xcom())), task_id="p")
    assert again == result
    with pytest.raises(ValueError, match="frozen"):
        result.created = 5  # type: ignore[misc]
    # The counts as plain data leave ``deleted`` out when the connector does not delete.
    assert counts.as_dict()["created"] == 2 and "deleted" not in counts.as_dict()
