"""The run report balances per table, or refuses to be written."""

from __future__ import annotations

import pytest

from saleslayer_airflow.contracts import SplitSummary, TablePushResult
from saleslayer_airflow.report.summary import UnbalancedReportError, build_report


def _staged(rows_in: int, rows_out: int, merged: int, rejected: int, conflicts: int) -> dict:
    path = "file:///staging/shop/run/split/t.parquet"
    return {
        "path": path,
        "rows_in": rows_in,
        "rows_out": rows_out,
        "merged": merged,
        "rejected": rejected,
        "conflicts": conflicts,
    }


def P(table: str, counts: dict) -> TablePushResult:
    """A push task's result as its XCom holds it."""
    return TablePushResult.model_validate({"table": table, "status": "pushed"} | counts)


SPLIT = SplitSummary.model_validate(
    {
        "run_folder": "file:///staging/shop/run",
        "rows_read": 130,
        "rows_unused": 0,
        "rows_rejected": 3,
        "rejects_path": "file:///staging/shop/run/rejects.csv",
        "tables": {
            "categories": _staged(10, 10, 0, 0, 0),
            "products": _staged(123, 100, 20, 3, 1),
            "variants": _staged(17, 17, 0, 0, 0),
        },
    }
)


def test_balanced_report_with_a_table_not_pushed() -> None:
    report = build_report(
        "shop",
        "run1",
        SPLIT,
        {
            "categories": P(
                "categories", {"items": 10, "created": 2, "unchanged": 8, "status": "pushed"}
            ),
            "products": P("products", {"items": 100, "updated": 5, "unchanged": 90, "stale": 5}),
            "variants": None,
        },
    )
    rows = report.as_dict()["tables"]
    assert rows["products"] == {
        "status": "pushed",
        "read": 123,
        "created": 0,
        "updated": 5,
        "unchanged": 90,
        "stale": 5,
        "skipped": 0,
        "rejected": 3,
        "failed": 0,
        "merged": 20,
        "conflicts": 1,
    }
    assert rows["variants"]["failed"] == 17 and rows["variants"]["status"] == "not pushed"
    assert not report.succeeded
    text = report.text()
    assert "products" in text and "rejected rows: file:///staging/shop/run/rejects.csv" in text


def test_push_that_lost_an_item_is_refused() -> None:
    with pytest.raises(UnbalancedReportError, match="'products'"):
        build_report(
            "shop",
            "run1",
            SPLIT,
            {"products": P("products", {"items": 99, "created": 99})},
        )


def test_counts_that_do_not_add_up_are_refused() -> None:
    with pytest.raises(UnbalancedReportError, match="do not balance"):
        build_report(
            "shop", "run1", SPLIT, {"categories": P("categories", {"items": 10, "created": 3})}
        )


def test_skipped_items_balance_and_are_explained() -> None:
    report = build_report(
        "shop",
        "run1",
        SPLIT,
        {
            "categories": P(
                "categories", {"items": 10, "updated": 4, "skipped": 6, "status": "pushed"}
            ),
            "products": P("products", {"items": 100, "unchanged": 100}),
            "variants": P("variants", {"items": 17, "skipped": 17}),
        },
    )
    rows = report.as_dict()["tables"]
    assert (rows["categories"]["skipped"], rows["categories"]["updated"]) == (6, 4)
    assert rows["variants"]["read"] == 17 and rows["variants"]["skipped"] == 17
    assert report.succeeded
    text = report.text()
    assert "skipped" in text.splitlines()[1]
    assert "only imports existing items" in text
    # Skipped items are part of the balance: dropping them unbalances the report.
    with pytest.raises(UnbalancedReportError, match="do not balance"):
        build_report(
            "shop", "run1", SPLIT, {"variants": P("variants", {"items": 17, "updated": 0})}
        )


def test_a_refused_table_shows_why() -> None:
    reason = "connector 'shop', table 'categories': 9 of the 10 items pushed before (90.0%) ..."
    report = build_report(
        "shop",
        "run1",
        SPLIT,
        {
            "categories": P(
                "categories", {"items": 10, "failed": 10, "status": "not pushed", "error": reason}
            ),
            "products": P("products", {"items": 100, "unchanged": 100}),
            "variants": P("variants", {"items": 17, "unchanged": 17}),
        },
    )
    assert not report.succeeded
    assert report.as_dict()["tables"]["categories"]["error"] == reason
    assert "error" not in report.as_dict()["tables"]["products"]
    assert f"categories: not pushed: {reason}" in report.text()
