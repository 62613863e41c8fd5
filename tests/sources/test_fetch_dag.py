"""The fetch task inside a real DAG run (DagBag + dag.test()) against real local servers.

The later stages are marked done without running (see the conftest's FetchRun), so every test
asserts on the fetch_source task instance; tests/e2e runs whole imports.
"""

from __future__ import annotations

import hashlib
import json
from pathlib import Path

import pytest

from tests.sources.conftest import CSV, ConnectorDag
from tests.sources.servers import PASSWORD, FtpServer, HttpServer, SftpServer

pytestmark = pytest.mark.integration


def _uri_path(uri: str) -> Path:
    assert uri.startswith("file://"), uri
    return Path(uri.removeprefix("file://"))


def test_http_export_lands_byte_for_byte_with_its_fingerprint(
    http_server: HttpServer, connector_dag: ConnectorDag, staging: Path
) -> None:
    http_server.state.files["catalog_2026-11-02.csv"] = CSV
    connector_dag.write(
        """
        kind: http
        conn_id: erp_http
        endpoint: "exports/catalog_{{ ds }}.csv"
        """
    )

    run = connector_dag.run("2026-11-02")

    assert run.state == "success"
    xcom = run.xcom
    assert xcom["connector_id"] == connector_dag.dag_id
    assert xcom["run_folder"].startswith(staging.as_uri())
    (landed,) = xcom["files"]
    assert landed["name"] == "catalog_2026-11-02.csv"
    assert _uri_path(landed["path"]).read_bytes() == CSV
    assert landed["path"].startswith(xcom["run_folder"] + "/landed/")
    assert landed["size"] == len(CSV)
    assert landed["sha256"] == hashlib.sha256(CSV).hexdigest()
    assert landed["source"] == f"http://127.0.0.1:{http_server.port}/exports/catalog_2026-11-02.csv"
    assert landed["remote_mtime"] == "2026-11-02T05:30:00+00:00"
    assert landed["etag"].startswith('"')
    assert PASSWORD not in json.dumps(xcom)


def test_ftp_glob_all_lands_every_matching_file_in_name_order(
    ftp_server: FtpServer, ftp_root: Path, connector_dag: ConnectorDag
) -> None:
    (ftp_root / "exports" / "products_b.csv").write_bytes(CSV + b"B-1,Hat\n")
    (ftp_root / "exports" / "products_a.csv").write_bytes(CSV)
    (ftp_root / "exports" / "other.csv").write_bytes(b"ignored")
    connector_dag.write(
        """
        kind: ftp
        conn_id: erp_ftp
        directory: /exports
        pattern: "products_*.csv"
        pick: all
        stable_for: 0.2s
        """
    )

    run = connector_dag.run()

    assert run.state == "success"
    names = [f["name"] for f in run.xcom["files"]]
    assert names == ["products_a.csv", "products_b.csv"]
    for landed in run.xcom["files"]:
        assert (
            _uri_path(landed["path"]).read_bytes()
            == (ftp_root / "exports" / landed["name"]).read_bytes()
        )
        assert landed["source"] == f"ftp://127.0.0.1:{ftp_server.port}/exports/{landed['name']}"
        assert landed["remote_mtime"] is not None


def test_ftps_templated_path(
    ftps_server: FtpServer, ftp_root: Path, connector_dag: ConnectorDag
) -> None:
    (ftp_root / "exports" / "stores_20261102.csv").write_bytes(CSV)
    connector_dag.write(
        """
        kind: ftps
        conn_id: erp_ftps
        path: "/exports/stores_{{ ds_nodash }}.csv"
        stable_for: 0s
        """
    )

    run = connector_dag.run("2026-11-02")

    assert run.state == "success"
    (landed,) = run.xcom["files"]
    assert _uri_path(landed["path"]).read_bytes() == CSV
    assert landed["source"].startswith("ftps://127.0.0.1:")


def test_sftp_newest_file(
    sftp_server: SftpServer, ftp_root: Path, connector_dag: ConnectorDag
) -> None:
    import os

    old, new = ftp_root / "exports" / "z_old.csv", ftp_root / "exports" / "a_new.csv"
    old.write_bytes(b"old\n")
    new.write_bytes(CSV)
    os.utime(old, (1_700_000_000, 1_700_000_000))
    os.utime(new, (1_800_000_000, 1_800_000_000))
    connector_dag.write(
        """
        kind: sftp
        conn_id: erp_sftp
        directory: /exports
        pattern: "*.csv"
        pick: newest
        stable_for: 0s
        """
    )

    run = connector_dag.run()

    assert run.state == "success"
    (landed,) = run.xcom["files"]
    assert landed["name"] == "a_new.csv"
    assert _uri_path(landed["path"]).read_bytes() == CSV
    assert landed["remote_mtime"] == "2027-01-15T08:00:00+00:00"


def test_unchanged_export_skips_the_run_unless_forced(
    http_server: HttpServer, connector_dag: ConnectorDag
) -> None:
    http_server.state.files["catalog.csv"] = CSV
    connector_dag.write("kind: http\nconn_id: erp_http\nendpoint: exports/catalog.csv")

    first = connector_dag.run("2026-11-02")
    second = connector_dag.run("2026-11-03")
    forced = connector_dag.run("2026-11-04", force=True)
    http_server.state.files["catalog.csv"] = CSV + b"A-3,Socks\n"
    changed = connector_dag.run("2026-11-05")

    assert first.state == "success"
    assert second.state == "skipped" and second.xcom is None
    assert forced.state == "success"
    assert forced.xcom["fingerprint"] == first.xcom["fingerprint"]
    assert changed.state == "success"
    assert changed.xcom["fingerprint"] != first.xcom["fingerprint"]


def test_connector_force_imports_an_unchanged_export(
    http_server: HttpServer, connector_dag: ConnectorDag
) -> None:
    http_server.state.files["catalog.csv"] = CSV
    connector_dag.write("kind: http\nconn_id: erp_http\nendpoint: exports/catalog.csv", force=True)
    assert connector_dag.run("2026-11-02").state == "success"
    assert connector_dag.run("2026-11-03").state == "success"


@pytest.mark.parametrize(("policy", "expected"), [("fail", "failed"), ("skip", "skipped")])
def test_missing_export_follows_the_policy(
    http_server: HttpServer, connector_dag: ConnectorDag, policy: str, expected: str
) -> None:
    connector_dag.write(
        f"""
        kind: http
        conn_id: erp_http
        endpoint: "exports/catalog_{{{{ ds }}}}.csv"
        on_missing: {{policy: {policy}}}
        """,
        retries=1,
    )
    run = connector_dag.run()
    assert run.state == expected
    assert run.try_number == 1  # a missing export is not retried


def test_wait_policy_picks_up_an_export_published_late(
    http_server: HttpServer, connector_dag: ConnectorDag
) -> None:
    import threading

    connector_dag.write(
        """
        kind: http
        conn_id: erp_http
        endpoint: exports/late.csv
        on_missing: {policy: wait, timeout: 30s, poke_interval: 0.2s}
        """
    )
    publish = threading.Timer(1.0, lambda: http_server.state.files.__setitem__("late.csv", CSV))
    publish.start()
    try:
        run = connector_dag.run()
    finally:
        publish.cancel()
    assert run.state == "success"
    assert http_server.state.requests.count("/exports/late.csv") >= 2


def test_wait_policy_fails_after_its_timeout(
    http_server: HttpServer, connector_dag: ConnectorDag
) -> None:
    connector_dag.write(
        """
        kind: http
        conn_id: erp_http
        endpoint: exports/never.csv
        on_missing: {policy: wait, timeout: 0.6s, poke_interval: 0.2s}
        """,
        retries=1,
    )
    run = connector_dag.run()
    assert run.state == "failed" and run.try_number == 1
    # Deferred between looks; the timer sleeps in one-second steps, so at least two looks.
    assert http_server.state.requests.count("/exports/never.csv") >= 2


def test_terminal_errors_fail_at_once_transient_ones_are_retried(
    http_server: HttpServer, ftp_server: FtpServer, connector_dag: ConnectorDag,
    monkeypatch: pytest.MonkeyPatch,
) -> None:  # fmt: skip
    connector_dag.write("kind: http\nconn_id: erp_http\nendpoint: html", retries=1)
    html = connector_dag.run("2026-11-02")
    connector_dag.write("kind: http\nconn_id: erp_http\nendpoint: drop", retries=1)
    dropped = connector_dag.run("2026-11-03")
    monkeypatch.setenv("AIRFLOW_CONN_ERP_FTP", ftp_server.conn(password="wrong-password"))
    connector_dag.write("kind: ftp\nconn_id: erp_ftp\npath: /exports/x.csv", retries=1)
    refused = connector_dag.run("2026-11-04")

    assert (html.state, html.try_number) == ("failed", 1)
    assert (refused.state, refused.try_number) == ("failed", 1)
    assert (dropped.state, dropped.try_number) == ("failed", 2)  # retried once, dropped again
    assert http_server.state.requests.count("/drop") == 2


def test_api_resumes_after_the_last_landed_page_on_retry(
    http_server: HttpServer, connector_dag: ConnectorDag
) -> None:
    http_server.state.records = [
        {"id": i, "updated_at": f"2026-11-0{1 + i % 3}T00:00:00Z"} for i in range(10)
    ]
    http_server.state.fail_once.add("/api/page/items?limit=3&page=3")
    connector_dag.write(
        """
        kind: api
        conn_id: erp_http
        endpoint: api/page/items
        records_path: data.items
        pagination: {style: page, page_size: 3}
        """,
        retries=1,
        fmt="jsonl",
    )

    run = connector_dag.run()

    assert run.state == "success" and run.try_number == 2
    pages = [q["page"][0] for q in http_server.state.api_log("page")]
    assert pages == ["1", "2", "3", "3", "4"]  # attempt 2 starts at the page that failed
    (landed,) = run.xcom["files"]
    lines = _uri_path(landed["path"]).read_text(encoding="utf-8").splitlines()
    assert [json.loads(line)["id"] for line in lines] == list(range(10))
    assert not (_uri_path(run.xcom["run_folder"]) / "fetch_pages").exists()


def _incremental_api(http_server: HttpServer, connector_dag: ConnectorDag) -> None:
    """One record on the server; a connector asking for the records changed since its last
    import (from 2026-01-01 at first), skipping the run when there are none."""
    http_server.state.records = [{"id": 1, "updated_at": "2026-10-01T00:00:00Z"}]
    connector_dag.write(
        """
        kind: api
        conn_id: erp_http
        endpoint: api/cursor/items
        records_path: data.items
        pagination: {style: cursor, cursor_path: data.next_cursor, page_size: 2}
        incremental: {param: updated_since, initial: "2026-01-01T00:00:00Z"}
        on_missing: {policy: skip}
        """,
        fmt="jsonl",
    )


def test_api_incremental_asks_for_changes_since_the_last_fetch(
    http_server: HttpServer, connector_dag: ConnectorDag
) -> None:
    _incremental_api(http_server, connector_dag)

    first = connector_dag.run("2026-11-02")
    second = connector_dag.run("2026-11-03")

    assert first.state == "success"
    assert second.state == "skipped"  # nothing changed since: no records, on_missing skip
    sent = [q["updated_since"][0] for q in http_server.state.api_log("cursor")]
    assert sent[0] == "2026-01-01T00:00:00Z"
    assert sent[1] > "2026-01-01T00:00:00Z" and sent[1].endswith("Z")


def test_api_incremental_asks_again_since_the_last_import_after_a_run_that_did_not_import(
    http_server: HttpServer, connector_dag: ConnectorDag
) -> None:
    _incremental_api(http_server, connector_dag)
    imported = connector_dag.run("2026-11-02")
    http_server.state.records.append({"id": 2, "updated_at": "2099-01-01T00:00:00Z"})

    # The changes are fetched, but the run imports nothing: its report (run for real, the
    # split marked done without a result) records no import.
    not_imported = connector_dag.run("2026-11-03", mark_success=r"^(validate_and_split|push_.*)$")
    after = connector_dag.run("2026-11-04")

    assert imported.state == "success" and not_imported.state == "success"
    assert not_imported.states["report"] == "skipped"
    assert after.state == "success"
    sent = [q["updated_since"][0] for q in http_server.state.api_log("cursor")]
    # The run after asks again from the start of the last imported fetch, not of the run that
    # did not import: the changes it fetched are not lost.
    assert sent[0] == "2026-01-01T00:00:00Z"
    assert sent[2] == sent[1] > sent[0]


def test_run_without_logical_date_renders_ds_from_export_date_or_trigger_date(
    http_server: HttpServer, connector_dag: ConnectorDag
) -> None:
    from datetime import UTC, datetime

    today = datetime.now(UTC).date().isoformat()
    http_server.state.files["catalog_2026-10-15.csv"] = CSV
    http_server.state.files[f"catalog_{today}.csv"] = CSV + b"today\n"
    connector_dag.write('kind: http\nconn_id: erp_http\nendpoint: "exports/catalog_{{ ds }}.csv"')

    chosen = connector_dag.run(None, export_date="2026-10-15")
    fallback = connector_dag.run(None)

    assert chosen.state == "success"
    assert chosen.xcom["files"][0]["name"] == "catalog_2026-10-15.csv"
    assert fallback.state == "success"
    assert fallback.xcom["files"][0]["name"] == f"catalog_{today}.csv"
