"""An SFTP connection dropped mid-transfer: a transient error naming the connection, then a retry
that lands the whole file. The asyncssh server aborts the SSH connection once a read reaches
past N bytes of the file (one time only), as a network cut or a server restart would."""

from __future__ import annotations

import hashlib
from pathlib import Path
from typing import Any

import pytest

from saleslayer_airflow.config.sources import SftpSource
from saleslayer_airflow.exceptions import TerminalError
from saleslayer_airflow.sources.base import fetch_from_server
from saleslayer_airflow.sources.errors import TransientFetchError
from saleslayer_airflow.sources.sftp import sftp_server as open_sftp
from tests.sources.conftest import ConnectorDag
from tests.sources.servers import PASSWORD, SftpServer

pytestmark = pytest.mark.integration

#: Large enough for paramiko to need many reads (it asks for 32 KiB at a time).
BIG = b"sku,name\n" + b"".join(f"S{n:07d},Item number {n}\n".encode() for n in range(40_000))


def test_dropped_connection_is_transient_and_names_the_connection(
    sftp_server: SftpServer, ftp_root: Path, tmp_path: Path
) -> None:
    from airflow.sdk import ObjectStoragePath

    (ftp_root / "exports" / "big.csv").write_bytes(BIG)
    sftp_server.drop_after["big.csv"] = 200_000
    source = SftpSource.model_validate(
        {"kind": "sftp", "conn_id": "erp_sftp", "path": "/exports/big.csv", "stable_for": 0}
    )
    landed = ObjectStoragePath((tmp_path / "landed").as_uri())

    with pytest.raises(TransientFetchError) as caught, open_sftp("erp_sftp") as server:
        fetch_from_server(server, source, landed)

    assert sftp_server.dropped == ["big.csv"]
    assert not isinstance(caught.value, TerminalError)
    text = str(caught.value)
    assert f"sftp://127.0.0.1:{sftp_server.port}/exports/big.csv: the SFTP connection broke" in text
    assert "connection 'erp_sftp'" in text
    assert "will retry" in text
    assert PASSWORD not in text and PASSWORD not in repr(caught.value)


def test_the_retry_lands_the_complete_file(
    sftp_server: SftpServer, ftp_root: Path, connector_dag: ConnectorDag
) -> None:
    (ftp_root / "exports" / "big.csv").write_bytes(BIG)
    sftp_server.drop_after["big.csv"] = 200_000
    connector_dag.write(
        "kind: sftp\nconn_id: erp_sftp\npath: /exports/big.csv\nstable_for: 0s", retries=1
    )

    run = connector_dag.run("2026-11-02")

    assert sftp_server.dropped == ["big.csv"]
    assert run.state == "success" and run.try_number == 2
    (landed,) = run.xcom["files"]
    data: Any = Path(landed["path"].removeprefix("file://")).read_bytes()
    assert data == BIG
    assert landed["sha256"] == hashlib.sha256(BIG).hexdigest()
    assert sftp_server.opened == ["big.csv", "big.csv"]
