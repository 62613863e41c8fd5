"""The download is skipped when the server says nothing changed since the last import.

HTTP: conditional GET (If-None-Match / If-Modified-Since from the last import) answered 304.
FTP/SFTP: the same files with the same size and mtime. The servers count what they sent (HTTP
bodies, FTP RETR commands, SFTP files opened), so "not downloaded" is seen from the server.
"""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Any

import pytest

from saleslayer_airflow.config.sources import HttpSource, SftpSource
from saleslayer_airflow.import_history import ImportHistory, RemoteState
from saleslayer_airflow.sources.base import LandedFile, fetch_from_server
from saleslayer_airflow.sources.errors import ExportUnchanged
from saleslayer_airflow.sources.fingerprint import utc_iso
from saleslayer_airflow.sources.http import fetch_http
from saleslayer_airflow.sources.sftp import sftp_server as open_sftp
from tests.sources.conftest import CSV, ConnectorDag
from tests.sources.servers import PASSWORD, FtpServer, HttpServer, SftpServer

pytestmark = pytest.mark.integration


def _previous(files: list[LandedFile]) -> dict[str, RemoteState]:
    return {f.source: RemoteState(f.source, f.size, utc_iso(f.remote_mtime), f.etag) for f in files}


@pytest.fixture
def landed(tmp_path: Path) -> Any:
    from airflow.sdk import ObjectStoragePath

    return ObjectStoragePath((tmp_path / "landed").as_uri())


# ---------------------------------------------------------------------------------------- HTTP


def test_http_304_skips_the_run_without_a_body_unless_forced(
    http_server: HttpServer,
    connector_dag: ConnectorDag,
    caplog: pytest.LogCaptureFixture,
    capfd: pytest.CaptureFixture[str],
) -> None:
    state = http_server.state
    state.files["catalog.csv"] = CSV
    connector_dag.write("kind: http\nconn_id: erp_http\nendpoint: exports/catalog.csv")

    first = connector_dag.run("2026-11-02")
    assert first.state == "success"
    assert state.bodies == ["/exports/catalog.csv"] and state.conditional == []
    etag = first.xcom["files"][0]["etag"]

    second = connector_dag.run("2026-11-03")
    assert second.state == "skipped"
    assert state.bodies == ["/exports/catalog.csv"]  # no body sent
    assert state.not_modified == ["/exports/catalog.csv"]
    assert state.conditional[-1] == {
        "If-None-Match": etag,
        "If-Modified-Since": "Mon, 02 Nov 2026 05:30:00 GMT",
    }
    logged = caplog.text + "".join(capfd.readouterr())
    assert "Export unchanged on the server, not downloaded" in logged
    assert "304 Not Modified since the last import" in logged
    assert PASSWORD not in logged

    forced = connector_dag.run("2026-11-04", force=True)
    assert forced.state == "success"
    assert len(state.conditional) == 1  # a forced run asks unconditionally
    assert len(state.bodies) == 2

    state.files["catalog.csv"] = CSV + b"A-3,Socks\n"
    changed = connector_dag.run("2026-11-05")
    assert changed.state == "success" and len(state.bodies) == 3
    assert changed.xcom["files"][0]["etag"] != etag


def test_http_named_files_one_changed_fetches_both(
    http_server: HttpServer, landed: Any, tmp_path: Path
) -> None:
    state = http_server.state
    state.files.update({"c.csv": b"ref\nC1\n", "p.csv": CSV})
    source = HttpSource.model_validate(
        {
            "kind": "http",
            "conn_id": "erp_http",
            "files": {"categories": "exports/c.csv", "products": "exports/p.csv"},
        }
    )
    first = fetch_http(source, landed)
    previous = _previous(first)
    with pytest.raises(ExportUnchanged) as caught:
        fetch_http(source, landed, previous)
    assert state.bodies == ["/exports/c.csv", "/exports/p.csv"]
    assert PASSWORD not in str(caught.value)

    state.files["p.csv"] = CSV + b"more\n"
    again = fetch_http(source, landed, previous)
    assert [(f.file, f.size) for f in again] == [("categories", 7), ("products", len(CSV) + 5)]
    # products came back with a body; categories answered 304, then was fetched in full.
    assert state.bodies[2:] == ["/exports/p.csv", "/exports/c.csv"]


def test_history_keeps_what_the_server_said_about_each_file(tmp_path: Path) -> None:
    from datetime import UTC, datetime

    from airflow.sdk import ObjectStoragePath

    from saleslayer_airflow.contracts import FetchResult, LandedFileRecord

    history = ImportHistory(ObjectStoragePath(tmp_path.as_uri()))
    file = LandedFile("p", "n", "ftp://h:21/x.csv", 3, "s", datetime(2026, 11, 2, tzinfo=UTC))
    fetched = FetchResult(
        connector_id="c",
        run_folder="r",
        fingerprint="f",
        files=(LandedFileRecord.model_validate(file.to_xcom()),),
        started_at=datetime.now(UTC),
    )
    history.record_import(fetched, "run1")
    last = history.read()
    assert last is not None
    assert last.remote() == {
        "ftp://h:21/x.csv": RemoteState("ftp://h:21/x.csv", 3, "2026-11-02T00:00:00+00:00", None)
    }
    # A record written before per-file states existed still reads (with none).
    record = json.loads(history.path.read_text())
    del record["files"]
    history.path.write_text(json.dumps(record))
    old = history.read()
    assert old is not None and old.files == () and old.fingerprint == "f"


# -------------------------------------------------------------------------------- FTP and SFTP


def test_ftp_same_size_and_mtime_skips_without_retr(
    ftp_server: FtpServer, ftp_root: Path, connector_dag: ConnectorDag
) -> None:
    export = ftp_root / "exports" / "stores.csv"
    export.write_bytes(CSV)
    os.utime(export, (1_800_000_000, 1_800_000_000))
    connector_dag.write("kind: ftp\nconn_id: erp_ftp\npath: /exports/stores.csv\nstable_for: 0s")

    assert connector_dag.run("2026-11-02").state == "success"
    assert ftp_server.retrieved == ["/exports/stores.csv"]

    assert connector_dag.run("2026-11-03").state == "skipped"
    assert ftp_server.retrieved == ["/exports/stores.csv"]  # no RETR

    # Touched but identical: downloaded (the mtime changed), then skipped by its fingerprint.
    os.utime(export, (1_800_000_100, 1_800_000_100))
    assert connector_dag.run("2026-11-04").state == "skipped"
    assert len(ftp_server.retrieved) == 2

    assert connector_dag.run("2026-11-05", force=True).state == "success"
    assert len(ftp_server.retrieved) == 3


def test_sftp_same_size_and_mtime_raises_unchanged_before_opening(
    sftp_server: SftpServer, ftp_root: Path, landed: Any
) -> None:
    export = ftp_root / "exports" / "stores.csv"
    export.write_bytes(CSV)
    os.utime(export, (1_800_000_000, 1_800_000_000))
    source = SftpSource.model_validate(
        {"kind": "sftp", "conn_id": "erp_sftp", "path": "/exports/stores.csv", "stable_for": 0}
    )
    with open_sftp("erp_sftp") as server:
        first = fetch_from_server(server, source, landed)
        with pytest.raises(ExportUnchanged) as caught:
            fetch_from_server(server, source, landed, _previous(first))
    assert sftp_server.opened == ["stores.csv"]
    text = str(caught.value)
    assert "same size and modification time as the last import" in text
    assert "connection 'erp_sftp'" in text and PASSWORD not in text

    export.write_bytes(CSV + b"x\n")  # size changed
    with open_sftp("erp_sftp") as server:
        (again,) = fetch_from_server(server, source, landed, _previous(first))
    assert again.size == len(CSV) + 2 and sftp_server.opened == ["stores.csv", "stores.csv"]

    # A different set of files (here: a previous import of two) is never "unchanged".
    extra = {"sftp://elsewhere/x.csv": RemoteState("sftp://elsewhere/x.csv", 1, None, None)}
    with open_sftp("erp_sftp") as server:
        fetch_from_server(server, source, landed, {**_previous([again]), **extra})
    assert len(sftp_server.opened) == 3
