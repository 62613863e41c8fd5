"""Faults against real local servers, at the protocol-module level (no DAG run, so the errors
can be inspected): each is transient (retry) or terminal, names the connection, the path or URL
and what to check, and never shows the password."""

from __future__ import annotations

import json
import threading
from datetime import timedelta
from pathlib import Path
from typing import Any

import pytest

from saleslayer_airflow.config.sources import ApiSource, FtpSource, HttpSource, SftpSource
from saleslayer_airflow.exceptions import TerminalError
from saleslayer_airflow.sources.api import fetch_api
from saleslayer_airflow.sources.base import fetch_from_server
from saleslayer_airflow.sources.errors import (
    ApiResponseError,
    ExportMissingError,
    FileStillGrowingError,
    NotAnExportError,
    SourceAuthError,
    TransientFetchError,
)
from saleslayer_airflow.sources.ftp import ftp_server as open_ftp
from saleslayer_airflow.sources.http import fetch_http, public_url
from saleslayer_airflow.sources.sftp import sftp_server as open_sftp
from tests.sources.conftest import CSV
from tests.sources.servers import PASSWORD, FtpServer, HttpServer, SftpServer, grow

pytestmark = pytest.mark.integration


@pytest.fixture
def landed(tmp_path: Path) -> Any:
    from airflow.sdk import ObjectStoragePath

    return ObjectStoragePath((tmp_path / "landed").as_uri())


def _http(endpoint: str, **kwargs: Any) -> HttpSource:
    return HttpSource.model_validate(
        {"kind": "http", "conn_id": "erp_http", "endpoint": endpoint, **kwargs}
    )


def _no_secret(exc: BaseException) -> str:
    text = str(exc)
    assert PASSWORD not in text
    assert PASSWORD not in repr(exc)
    return text


# ------------------------------------------------------------------------------------ HTTP


def test_http_redirect_is_followed(http_server: HttpServer, landed: Any) -> None:
    http_server.state.files["c.csv"] = CSV
    (file,) = fetch_http(_http("redirect/c.csv"), landed)
    assert Path(file.path.removeprefix("file://")).read_bytes() == CSV
    assert file.etag and file.remote_mtime is not None


@pytest.mark.parametrize(
    ("endpoint", "error", "words"),
    [
        ("html", NotAnExportError, ["HTML page", "'Maintenance'", "login or error page"]),
        ("empty", ExportMissingError, ["200 with an empty body"]),
        ("exports/none.csv", ExportMissingError, ["404", "published"]),
        ("drop", TransientFetchError, ["connection broke after", "will retry"]),
    ],
)
def test_http_faults(
    http_server: HttpServer, landed: Any, endpoint: str, error: type[Exception], words: list[str]
) -> None:
    with pytest.raises(error) as caught:
        fetch_http(_http(endpoint), landed)
    text = _no_secret(caught.value)
    assert "'erp_http'" in text and f"127.0.0.1:{http_server.port}/{endpoint}" in text
    for word in words:
        assert word in text
    assert isinstance(caught.value, TerminalError) is (error is not TransientFetchError)


def test_http_401_names_the_connection(
    http_server: HttpServer, landed: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    http_server.state.files["c.csv"] = CSV
    monkeypatch.setenv("AIRFLOW_CONN_ERP_HTTP", http_server.conn(login=False))
    with pytest.raises(SourceAuthError) as caught:
        fetch_http(_http("private/c.csv"), landed)
    assert "401" in _no_secret(caught.value) and "connection 'erp_http'" in str(caught.value)
    monkeypatch.setenv("AIRFLOW_CONN_ERP_HTTP", http_server.conn())
    assert fetch_http(_http("private/c.csv"), landed)[0].size == len(CSV)


def test_http_timeout_is_transient(http_server: HttpServer, landed: Any) -> None:
    http_server.state.slow_seconds = 2.0
    with pytest.raises(
        TransientFetchError, match=r"no answer within 1s.*raise the source's `timeout`"
    ):
        fetch_http(_http("slow", timeout="1s"), landed)


def test_credentials_in_a_url_never_reach_xcom_or_messages() -> None:
    assert (
        public_url(f"https://erp:{PASSWORD}@h.example:8443/x?y=1") == "https://h.example:8443/x?y=1"
    )


# ------------------------------------------------------------------------------------- FTP


def _ftp(**kwargs: Any) -> FtpSource:
    return FtpSource.model_validate(
        {"kind": "ftp", "conn_id": "erp_ftp", "stable_for": 0, **kwargs}
    )


def test_ftp_wrong_password_is_terminal_and_names_the_connection(
    ftp_server: FtpServer, landed: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("AIRFLOW_CONN_ERP_FTP", ftp_server.conn(password="not-" + PASSWORD))
    with pytest.raises(SourceAuthError) as caught, open_ftp("erp_ftp", tls=False):
        pass
    text = _no_secret(caught.value)
    assert "connection 'erp_ftp'" in text and "530" in text and "login and password" in text


def test_ftp_cut_transfer_is_transient(ftp_server: FtpServer, ftp_root: Path, landed: Any) -> None:
    (ftp_root / "exports" / "cut.csv").write_bytes(CSV * 100)
    ftp_server.truncate.add("cut.csv")
    with (
        pytest.raises(TransientFetchError, match="the transfer was cut") as caught,
        open_ftp("erp_ftp", tls=False) as ftp,
    ):
        fetch_from_server(ftp, _ftp(path="/exports/cut.csv"), landed)
    assert f"{len(CSV) * 100}" in str(caught.value)


def test_ftp_file_still_growing_is_transient(
    ftp_server: FtpServer, ftp_root: Path, landed: Any
) -> None:
    path = ftp_root / "exports" / "growing.csv"
    path.write_bytes(CSV)
    stop = threading.Event()
    writer = grow(path, stop)
    try:
        with pytest.raises(FileStillGrowingError) as caught, open_ftp("erp_ftp", tls=False) as ftp:
            fetch_from_server(ftp, _ftp(path="/exports/growing.csv", stable_for="0.2s"), landed)
    finally:
        stop.set()
        writer.join()
    assert "growing.csv" in str(caught.value) and "stable_for" in str(caught.value)
    with open_ftp("erp_ftp", tls=False) as ftp:  # once the writer stops, the file is taken
        (file,) = fetch_from_server(
            ftp, _ftp(path="/exports/growing.csv", stable_for="0.2s"), landed
        )
    assert file.size == path.stat().st_size


@pytest.mark.parametrize(
    ("source", "detail"),
    [
        ({"path": "/exports/missing.csv"}, "no such file"),
        ({"directory": "/exports", "pattern": "x_*.csv"}, "no file matches"),
        ({"directory": "/nowhere", "pattern": "*.csv"}, "the folder does not exist"),
    ],
)
def test_ftp_missing_export(
    ftp_server: FtpServer, landed: Any, source: dict[str, str], detail: str
) -> None:
    with pytest.raises(ExportMissingError) as caught, open_ftp("erp_ftp", tls=False) as ftp:
        fetch_from_server(ftp, _ftp(**source), landed)
    assert detail in str(caught.value) and "connection 'erp_ftp'" in str(caught.value)


def test_ftp_closed_port_is_transient(landed: Any, monkeypatch: pytest.MonkeyPatch) -> None:
    import socket

    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    monkeypatch.setenv(
        "AIRFLOW_CONN_ERP_FTP",
        json.dumps(
            {
                "conn_type": "ftp",
                "host": "127.0.0.1",
                "port": port,
                "login": "u",
                "password": PASSWORD,
            }
        ),
    )
    with (
        pytest.raises(TransientFetchError, match="ConnectionRefusedError") as caught,
        open_ftp("erp_ftp", tls=False),
    ):
        pass
    _no_secret(caught.value)


def test_ftps_untrusted_certificate_is_terminal(
    ftps_server: FtpServer, monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    empty = tmp_path / "empty.pem"
    empty.write_text("")
    monkeypatch.setenv("SSL_CERT_FILE", str(empty))
    with (
        pytest.raises(TerminalError, match="certificate is not trusted"),
        open_ftp("erp_ftps", tls=True),
    ):
        pass


# ------------------------------------------------------------------------------------ SFTP


def test_sftp_wrong_password_and_missing_file(
    sftp_server: SftpServer, landed: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    source = SftpSource.model_validate(
        {"kind": "sftp", "conn_id": "erp_sftp", "path": "/exports/none.csv", "stable_for": 0}
    )
    with pytest.raises(ExportMissingError, match="no such file"), open_sftp("erp_sftp") as sftp:
        fetch_from_server(sftp, source, landed)
    monkeypatch.setenv("AIRFLOW_CONN_ERP_SFTP", sftp_server.conn(password="not-" + PASSWORD))
    with pytest.raises(SourceAuthError) as caught, open_sftp("erp_sftp"):
        pass
    assert "connection 'erp_sftp'" in _no_secret(caught.value)


# ------------------------------------------------------------------------------------- API


class _Memory(dict[str, Any]):
    def set(self, key: str, value: Any) -> None:
        self[key] = json.loads(json.dumps(value))  # what a JSON store would give back

    def delete(self, key: str) -> None:
        self.pop(key, None)


def _api(style: str, **pagination: Any) -> ApiSource:
    records_path = {
        "page": "data.items",
        "offset": "data.items",
        "cursor": "data.items",
        "next_link": "items",
        "link_header": "",
        "offsite": "items",
    }[style]
    return ApiSource.model_validate(
        {"kind": "api", "conn_id": "erp_http", "endpoint": f"api/{style}/items",
         "records_path": records_path,
         "pagination": {"style": style, "page_size": 3, **pagination}}
    )  # fmt: skip


@pytest.mark.parametrize(
    ("style", "pagination"),
    [
        ("page", {}),
        ("offset", {}),
        ("cursor", {"cursor_path": "data.next_cursor"}),
        ("next_link", {"next_link_path": "next"}),
        ("link_header", {}),
    ],
)
@pytest.mark.parametrize("count", [1, 3, 10])
def test_every_pagination_style_lands_every_record_once(
    http_server: HttpServer,
    landed: Any,
    tmp_path: Path,
    style: str,
    pagination: dict[str, str],
    count: int,
) -> None:
    from airflow.sdk import ObjectStoragePath

    http_server.state.records = [{"id": i, "updated_at": "x", "name": "é"} for i in range(count)]
    (file,) = fetch_api(
        _api(style, **pagination),
        landed,
        ObjectStoragePath((tmp_path / "pages").as_uri()),
        _Memory(),
        log=lambda _: None,
    )
    lines = Path(file.path.removeprefix("file://")).read_text(encoding="utf-8").splitlines()
    assert [json.loads(line)["id"] for line in lines] == list(range(count))
    assert json.loads(lines[0])["name"] == "é"


def test_api_resume_after_a_failed_page_and_fault_classes(
    http_server: HttpServer, landed: Any, tmp_path: Path
) -> None:
    from airflow.sdk import ObjectStoragePath

    pages = ObjectStoragePath((tmp_path / "pages").as_uri())
    http_server.state.records = [{"id": i} for i in range(7)]
    http_server.state.fail_once.add("/api/cursor/items?limit=3&cursor=c3")
    checkpoint = _Memory()
    source = _api("cursor", cursor_path="data.next_cursor")
    with pytest.raises(TransientFetchError, match="500"):
        fetch_api(source, landed, pages, checkpoint, log=lambda _: None)
    assert checkpoint["api_pages"]["pages"] == 1
    (file,) = fetch_api(source, landed, pages, checkpoint, log=lambda _: None)
    assert [q.get("cursor") for q in http_server.state.api_log("cursor")] == [
        None,
        ["c3"],
        ["c3"],
        ["c6"],
    ]
    assert len(Path(file.path.removeprefix("file://")).read_text().splitlines()) == 7
    assert "api_pages" not in checkpoint

    with pytest.raises(ApiResponseError, match=r"records_path 'data\.items'"):
        fetch_api(
            _api("next_link").model_copy(update={"records_path": "data.items"}),
            landed,
            pages,
            _Memory(),
        )
    offsite = _api("next_link", next_link_path="next").model_copy(
        update={"endpoint": "api/offsite/items"}
    )
    with pytest.raises(ApiResponseError, match="another host"):
        fetch_api(offsite, landed, pages, _Memory(), log=lambda _: None)
    http_server.state.records = []
    with pytest.raises(ExportMissingError, match="no records"):
        fetch_api(_api("page"), landed, pages, _Memory(), log=lambda _: None)


def test_stable_for_default_is_ten_seconds() -> None:
    assert _ftp(path="/x").stable_for == timedelta(0)
    assert FtpSource.model_validate(
        {"kind": "ftp", "conn_id": "c", "path": "/x"}
    ).stable_for == timedelta(seconds=10)
