"""The push stage without Airflow: `push.stage.push_staged_table` on a staged Parquet table, into
the Sales Layer emulator over HTTP, with a real SQLite state store: the task's result, the
deletions it plans and applies, and the result it hands on when it stops."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest
import yaml

from saleslayer_airflow.config.models import ConnectorConfig
from saleslayer_airflow.contracts import PushStatus, StagedTable, TablePushResult
from saleslayer_airflow.exceptions import DeletionRefused
from saleslayer_airflow.push.progress import ProgressPublisher
from saleslayer_airflow.push.stage import (
    PushStopped,
    TablePushRequest,
    asset_event_extra,
    push_staged_table,
)
from tests.e2e.conftest import FAST_TRACKING, catalog, saleslayer_conn
from tests.stage_log import Lines

DAY = datetime(2026, 11, 2, 6, tzinfo=UTC)
TABLE = "points_of_sale"


class Values:
    """Airflow's task state store as the progress publisher uses it: the last value per key."""

    def __init__(self) -> None:
        self.values: dict[str, Any] = {}

    def set(self, key: str, value: Any) -> None:
        self.values[key] = value


@pytest.fixture
def emulator(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[Any]:
    from saleslayer_airflow.emulator.server import start_in_thread

    running = start_in_thread(tmp_path / "sl.sqlite", settings=FAST_TRACKING)
    monkeypatch.setenv("AIRFLOW_CONN_SALESLAYER_DEFAULT", saleslayer_conn(running.base_url))
    monkeypatch.setenv("SALESLAYER_STATE_URL", f"sqlite:///{tmp_path / 'state.sqlite'}")
    yield running
    running.stop()


def connector(max_ratio: float = 0.5) -> ConnectorConfig:
    return ConnectorConfig.model_validate(
        yaml.safe_load(
            f"""
            id: stage_stores
            description: The push stage alone.
            schedule: "@daily"
            start_date: 2026-11-01
            source: {{kind: http, conn_id: erp_http, endpoint: stores.csv}}
            format: {{type: csv}}
            tables:
              {TABLE}:
                reference: store_number
                fields: {{pos_name: store_name}}
            target:
              conn_id: saleslayer_default
              batch_size: 2
              deletions: {{enabled: true, max_ratio: {max_ratio}}}
            """
        )
    )


def staged(folder: Path, names: dict[str, str]) -> StagedTable:
    import pyarrow as pa
    import pyarrow.parquet as pq

    from saleslayer_airflow.numbers import FIELD_TYPE_KEY

    schema = pa.schema(
        [
            pa.field("reference", pa.string()),
            pa.field("_source_file", pa.string()),
            pa.field("_line", pa.int64()),
            pa.field("pos_name", pa.string(), metadata={FIELD_TYPE_KEY: b"string"}),
        ]
    )
    rows = [
        {"reference": ref, "_source_file": "stores.csv", "_line": n + 2, "pos_name": name}
        for n, (ref, name) in enumerate(names.items())
    ]
    path = folder / "split" / f"{TABLE}.parquet"
    path.parent.mkdir(parents=True, exist_ok=True)
    pq.write_table(pa.Table.from_pylist(rows, schema=schema), path)
    count = len(names)
    return StagedTable(path=path.as_uri(), rows_in=count, rows_out=count, merged=0, rejected=0)


def request(
    config: ConnectorConfig, folder: Path, run_id: str, names: dict[str, str], **kw: Any
) -> TablePushRequest:
    log = Lines()
    return TablePushRequest(
        config=config,
        table=TABLE,
        staged=staged(folder / run_id, names),
        run_folder=(folder / run_id).as_uri(),
        run_id=run_id,
        export_date=kw.pop("export_date", DAY),
        dry_run=kw.pop("dry_run", False),
        progress=kw.pop("progress", ProgressPublisher(None, TABLE, log=log)),
        log=log,
    )


STORES = {"ST-1": "Lisboa", "ST-2": "Porto", "ST-3": "Faro"}


@pytest.mark.integration
def test_pushes_then_deletes_what_the_export_lost(emulator: Any, tmp_path: Path) -> None:
    config = connector()
    values = Values()
    first = push_staged_table(
        request(
            config, tmp_path, "run1", STORES, progress=ProgressPublisher(values, TABLE, log=Lines())
        )
    )

    assert isinstance(first, TablePushResult) and first.status is PushStatus.PUSHED
    assert (first.items, first.created, first.deleted, first.batches_sent) == (3, 3, 0, 2)
    assert {
        ref: row["fields"]["pos_name"] for ref, row in catalog(emulator, TABLE).items()
    } == STORES
    assert values.values["progress"]["status"] == "pushed"
    assert values.values["progress"]["created"] == 3

    later = DAY.replace(day=3)
    kept = {"ST-1": "Lisboa", "ST-3": "Faro"}
    second = push_staged_table(request(config, tmp_path, "run2", kept, export_date=later))

    assert (second.items, second.unchanged, second.created, second.deleted) == (2, 2, 0, 1)
    live = {ref for ref, item in catalog(emulator, TABLE).items() if item["status"] != "X"}
    assert sorted(live) == ["ST-1", "ST-3"]
    assert catalog(emulator, TABLE)["ST-2"]["status"] == "X"  # deleted in Sales Layer
    extra = asset_event_extra("stage_stores", second, dry_run=False)
    assert (
        extra["changed"] == 1 and extra["deleted"] == 1 and extra["connector_id"] == "stage_stores"
    )


@pytest.mark.integration
def test_deletions_past_the_limit_stop_the_push_before_anything_is_sent(
    emulator: Any, tmp_path: Path
) -> None:
    push_staged_table(request(connector(), tmp_path, "run1", STORES))
    renamed = {"ST-1": "Lisboa (renovated)"}

    with pytest.raises(PushStopped) as stopped:
        push_staged_table(
            request(
                connector(max_ratio=0.5), tmp_path, "run2", renamed, export_date=DAY.replace(day=3)
            )
        )

    result = stopped.value.result
    assert isinstance(stopped.value.cause, DeletionRefused)
    assert result.status is PushStatus.NOT_PUSHED
    assert (result.items, result.failed, result.created, result.updated) == (1, 1, 0, 0)
    assert result.error is not None and "target.deletions.max_ratio = 50.0%" in result.error
    assert catalog(emulator, TABLE)["ST-1"]["fields"]["pos_name"] == "Lisboa"  # nothing was sent
    assert len(catalog(emulator, TABLE)) == 3


@pytest.mark.integration
def test_a_dry_run_sends_nothing_and_samples_the_changes(emulator: Any, tmp_path: Path) -> None:
    push_staged_table(request(connector(), tmp_path, "run1", STORES))
    changed = STORES | {"ST-2": "Porto Ribeira"}

    result = push_staged_table(
        request(
            connector(), tmp_path, "run2", changed, dry_run=True, export_date=DAY.replace(day=3)
        )
    )

    assert result.status is PushStatus.DRY_RUN
    assert (result.updated, result.unchanged, result.deleted) == (1, 2, 0)
    (sample,) = result.sample
    assert sample["reference"] == "ST-2"
    assert sample["fields"]["pos_name"] == {"from": "Porto", "to": "Porto Ribeira"}
    assert catalog(emulator, TABLE)["ST-2"]["fields"]["pos_name"] == "Porto"
    assert asset_event_extra("stage_stores", result, dry_run=True)["changed"] == 0
