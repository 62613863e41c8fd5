"""The split stage without Airflow's task machinery: `normalize.stage.split_stage` on a landed
export in a real staging folder and a real state store, and what it publishes, logs and raises."""

from __future__ import annotations

import csv
import json
from pathlib import Path

import pyarrow.parquet as pq
import pytest
import yaml

from saleslayer_airflow.config.models import ConnectorConfig
from saleslayer_airflow.contracts import FetchResult, LandedFileRecord, SplitSummary
from saleslayer_airflow.exceptions import TerminalError
from saleslayer_airflow.normalize.stage import SplitStageRequest, split_stage
from saleslayer_airflow.validation.columns import MissingColumnsError
from tests.stage_log import Lines

EXPORT = "sku,name,price\nA-1,Shirt,10\nA-2,,12\nA-3,Socks,x\nA-1,Shirt,10\n"


def connector(
    validation: str = "{max_reject_ratio: 1}", name_column: str = "name"
) -> ConnectorConfig:
    return ConnectorConfig.model_validate(
        yaml.safe_load(
            f"""
            id: split_stage_shop
            description: The split stage alone.
            schedule: "@daily"
            start_date: 2026-11-01
            source: {{kind: http, conn_id: erp_http, endpoint: products.csv}}
            format: {{type: csv}}
            validation: {validation}
            tables:
              products:
                reference: sku
                fields:
                  prod_name: {{column: {name_column}, required: true}}
                  prod_price: {{column: price, type: number}}
            """
        )
    )


@pytest.fixture
def landed(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> FetchResult:
    monkeypatch.setenv("SALESLAYER_STATE_URL", f"sqlite:///{tmp_path / 'state.sqlite'}")
    run_folder = tmp_path / "staging" / "split_stage_shop" / "run1"
    export = run_folder / "landed" / "products.csv"
    export.parent.mkdir(parents=True)
    export.write_text(EXPORT, encoding="utf-8")
    record = LandedFileRecord(
        path=export.as_uri(),
        name="products.csv",
        source="http://erp/products.csv",
        size=export.stat().st_size,
        sha256="0" * 64,
    )
    return FetchResult(
        connector_id="split_stage_shop",
        run_folder=run_folder.as_uri(),
        fingerprint="1" * 64,
        files=(record,),
    )


def _path(uri: str) -> Path:
    return Path(uri.removeprefix("file://"))


def test_stages_the_tables_and_rejects_in_the_run_folder_and_says_so(landed: FetchResult) -> None:
    log = Lines()

    summary = split_stage(SplitStageRequest(config=connector(), fetched=landed, log=log))

    assert isinstance(summary, SplitSummary)
    assert SplitSummary.from_xcom(summary.to_xcom(), task_id="validate_and_split") == summary
    products = summary.tables["products"]
    staged = pq.read_table(_path(products.path)).to_pylist()
    assert [(row["reference"], row["_line"], row["prod_name"]) for row in staged] == [
        ("A-1", 2, "Shirt")
    ]
    counts = (products.rows_in, products.rows_out, products.rejected, products.duplicates)
    assert counts == (4, 1, 3, 1)
    assert (summary.rows_read, summary.rows_rejected) == (4, 3)
    with _path(summary.rejects_path).open(encoding="utf-8") as handle:
        rejects = list(csv.DictReader(handle))
    assert [(r["line"], r["reference"], r["column"]) for r in rejects] == [
        ("3", "A-2", "name"),
        ("4", "A-3", "price"),
        ("5", "A-1", "sku"),
    ]
    assert _path(summary.rejects_path).parent == _path(landed.run_folder)
    logged = next(line for line in log.lines if line.startswith("validate and split summary:"))
    assert json.loads(logged.split(":", 1)[1])["rows_read"] == 4


def test_a_column_missing_from_the_header_fails_before_the_file_is_read(
    landed: FetchResult,
) -> None:
    request = SplitStageRequest(config=connector(name_column="title"), fetched=landed, log=Lines())

    with pytest.raises(MissingColumnsError, match="title") as raised:
        split_stage(request)

    assert isinstance(raised.value, TerminalError)
    assert not (_path(landed.run_folder) / "split").exists()


def test_rejects_past_the_threshold_fail_after_the_rejects_are_published(
    landed: FetchResult,
) -> None:
    log = Lines()
    request = SplitStageRequest(
        config=connector(validation="{max_reject_ratio: 0.25}"), fetched=landed, log=log
    )

    with pytest.raises(TerminalError, match=r"max_reject_ratio 25\.00%"):
        split_stage(request)

    # What the user needs to fix the export is there, and the summary is in the log.
    assert (_path(landed.run_folder) / "rejects.csv").read_text(encoding="utf-8").count("\n") == 4
    assert any(line.startswith("validate and split summary:") for line in log.lines)
