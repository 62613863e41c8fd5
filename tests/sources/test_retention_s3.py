"""Retention on object storage: an S3 staging base served by moto's server on 127.0.0.1 (a real
S3 API over HTTP), reached through an Airflow connection as a deployment does. A run folder past
retention goes with every object under it; a run folder that is not this connector's, and the
run being imported, stay. Object stores have no folder times: the age is the marker's."""

from __future__ import annotations

import json
import socket
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest

from saleslayer_airflow import staging

BUCKET = "staging-bucket"
CONN = "retention_s3"

pytestmark = pytest.mark.integration


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


@pytest.fixture
def s3(monkeypatch: pytest.MonkeyPatch) -> Iterator[Any]:
    """moto's S3 server, a bucket, and the Airflow connection to it; yields a boto3 client."""
    server_module = pytest.importorskip("moto.server", reason="moto[server] is not installed")
    boto3 = pytest.importorskip("boto3", reason="boto3 (the Amazon provider) is not installed")
    port = _free_port()
    server = server_module.ThreadedMotoServer(ip_address="127.0.0.1", port=port, verbose=False)
    server.start()
    endpoint = f"http://127.0.0.1:{port}"
    keys = {"aws_access_key_id": "testing", "aws_secret_access_key": "testing"}
    client = boto3.client("s3", endpoint_url=endpoint, region_name="us-east-1", **keys)
    client.create_bucket(Bucket=BUCKET)
    monkeypatch.setenv(
        f"AIRFLOW_CONN_{CONN.upper()}",
        json.dumps(
            {
                "conn_type": "aws",
                "login": "testing",
                "password": "testing",
                "extra": {"endpoint_url": endpoint, "region_name": "us-east-1"},
            }
        ),
    )
    try:
        yield client
    finally:
        server.stop()


def _keys(client: Any, prefix: str) -> list[str]:
    found = client.list_objects_v2(Bucket=BUCKET, Prefix=prefix).get("Contents", [])
    return sorted(item["Key"] for item in found)


def _run(base: str, connector: str, run_id: str, created: datetime) -> None:
    """A run folder as the fetch stage makes it, its marker dated ``created``, with files."""
    folder = staging.mark_run_folder(base, connector, run_id)
    marker = {"connector_id": connector, "run_id": run_id, "created": created.isoformat()}
    with (folder / staging.RUN_MARKER).open("w", encoding="utf-8") as handle:
        json.dump(marker, handle)
    with (folder / "landed" / "export.csv").open("w", encoding="utf-8") as handle:
        handle.write("ref\nA\n")
    with (folder / "split" / "products.parquet").open("wb") as handle:
        handle.write(b"PAR1")


def test_a_run_folder_past_retention_goes_whole_on_s3(s3: Any) -> None:
    base = f"s3://{CONN}@{BUCKET}/staging"
    now = datetime.now(UTC)
    old, recent = now - timedelta(days=30), now - timedelta(days=1)
    _run(base, "shop", "scheduled__2026-10-01", old)
    _run(base, "shop", "scheduled__2026-10-02", old)  # this run's own folder: kept
    _run(base, "shop", "scheduled__2026-11-30", recent)
    _run(base, "shop", "scheduled__2026-10-01T06", recent)  # the old one's name is its prefix
    _run(base, "other", "scheduled__2026-10-01", old)  # another connector's: not looked at
    s3.put_object(Bucket=BUCKET, Key="staging/shop/notes/keep.txt", Body=b"mine")

    retention = staging.clean_old_runs(base, "shop", 14, keep="scheduled__2026-10-02", now=now)

    assert retention.removed == ["scheduled__2026-10-01"]
    assert retention.not_runs == ["notes"]
    assert _keys(s3, "staging/shop/scheduled__2026-10-01/") == []
    assert _keys(s3, "staging/shop/scheduled__2026-10-02/") == [
        "staging/shop/scheduled__2026-10-02/.saleslayer-run",
        "staging/shop/scheduled__2026-10-02/landed/export.csv",
        "staging/shop/scheduled__2026-10-02/split/products.parquet",
    ]
    assert len(_keys(s3, "staging/shop/scheduled__2026-11-30/")) == 3
    assert len(_keys(s3, "staging/shop/scheduled__2026-10-01T06/")) == 3
    assert len(_keys(s3, "staging/other/")) == 3
    assert _keys(s3, "staging/shop/notes/") == ["staging/shop/notes/keep.txt"]
