"""The demo's servers over real sockets: the ERP API pages with a cursor and answers only what
changed since `updated_since`; the FTP and HTTP servers serve the export files; the ports come
from airflow_settings.yaml; the demo's connector copies differ from the examples only in
`stable_for`."""

from __future__ import annotations

import ftplib
import json
import urllib.request
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import yaml

from saleslayer_airflow.demo.run import demo_connectors, ports_from_settings
from saleslayer_airflow.demo.servers import FTP_PASSWORD, FTP_USER, DemoServers, Ports
from tests.conftest import EXAMPLES, ROOT


def _get(url: str) -> Any:
    with urllib.request.urlopen(url, timeout=10) as answer:
        return json.load(answer)


def _records(count: int) -> list[dict[str, Any]]:
    return [{"item_code": f"I-{n}", "title": {"en": f"Item {n}"}} for n in range(count)]


def test_erp_api_pages_by_cursor_and_answers_changes_since(tmp_path: Path) -> None:
    with DemoServers(tmp_path) as servers:
        base = f"http://127.0.0.1:{servers.api_port}/v1/items"
        day1 = datetime(2026, 11, 1, 6, tzinfo=UTC)
        assert servers.api.publish(_records(5), now=day1) == 5

        seen, cursor, pages = [], "", 0
        while True:
            page = _get(f"{base}?status=active&limit=2" + (f"&cursor={cursor}" if cursor else ""))
            pages += 1
            seen += [item["item_code"] for item in page["data"]["items"]]
            cursor = page["data"]["next_cursor"]
            if cursor is None:
                break
        assert pages == 3 and seen == [f"I-{n}" for n in range(5)]

        changed = _records(6)
        changed[2]["title"] = {"en": "Renamed"}
        assert servers.api.publish(changed, now=day1 + timedelta(days=1)) == 2
        since = (day1 + timedelta(hours=1)).strftime("%Y-%m-%dT%H:%M:%SZ")
        page = _get(f"{base}?limit=100&updated_since={since}")
        assert [item["item_code"] for item in page["data"]["items"]] == ["I-2", "I-5"]
        assert page["data"]["next_cursor"] is None
        later = (day1 + timedelta(days=2)).strftime("%Y-%m-%dT%H:%M:%SZ")
        assert _get(f"{base}?updated_since={later}")["data"]["items"] == []


def test_ftp_and_http_serve_the_export_folders(tmp_path: Path) -> None:
    with DemoServers(tmp_path) as servers:
        (servers.http_root / "exports").mkdir()
        (servers.http_root / "exports" / "catalog_2026-11-01.csv").write_text("a;b\n1;2\n")
        (servers.ftp_root / "stores.csv").write_text("x,y\n")
        url = f"http://127.0.0.1:{servers.http_port}/exports/catalog_2026-11-01.csv"
        with urllib.request.urlopen(url, timeout=10) as answer:
            assert answer.read() == b"a;b\n1;2\n"
        ftp = ftplib.FTP()
        ftp.connect("127.0.0.1", servers.ftp.port, timeout=10)
        ftp.login(FTP_USER, FTP_PASSWORD)
        assert ftp.nlst() == ["stores.csv"]
        ftp.quit()
        conns = servers.connections()
        assert json.loads(conns["AIRFLOW_CONN_ERP_FTP"])["port"] == servers.ftp.port
        assert json.loads(conns["AIRFLOW_CONN_SALESLAYER_DEFAULT"])["host"] == (
            servers.emulator.base_url
        )
        # What the demo prints about its servers names no password or key.
        described = "\n".join(servers.describe())
        assert FTP_PASSWORD not in described
        assert json.loads(conns["AIRFLOW_CONN_SALESLAYER_DEFAULT"])["password"] not in described


def test_ports_are_those_of_airflow_settings() -> None:
    ports = ports_from_settings(ROOT / "airflow_settings.yaml")
    settings = yaml.safe_load((ROOT / "airflow_settings.yaml").read_text(encoding="utf-8"))
    declared = {c["conn_id"]: c for c in settings["airflow"]["connections"]}
    assert ports == Ports(
        emulator=int(declared["saleslayer_default"]["conn_host"].rsplit(":", 1)[1]),
        ftp=declared["erp_ftp"]["conn_port"],
        http=declared["erp_http"]["conn_port"],
        api=declared["erp_api"]["conn_port"],
    )
    assert declared["erp_ftp"]["conn_login"] == FTP_USER
    assert declared["erp_ftp"]["conn_password"] == FTP_PASSWORD


def test_demo_connector_copies_change_only_stable_for(tmp_path: Path) -> None:
    copies = demo_connectors(EXAMPLES, tmp_path)
    assert [path.name for path in copies] == sorted(p.name for p in EXAMPLES.glob("*.yaml"))
    for copy in copies:
        original = yaml.safe_load((EXAMPLES / copy.name).read_text(encoding="utf-8"))
        changed = yaml.safe_load(copy.read_text(encoding="utf-8"))
        if "stable_for" in original["source"]:
            assert changed["source"].pop("stable_for") == "0s"
            original["source"].pop("stable_for")
        assert changed == original


def test_busy_ports_names_a_port_already_listened_on() -> None:
    import socket

    from saleslayer_airflow.demo.servers import busy_ports

    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = taken.getsockname()[1]
        assert busy_ports(Ports(ftp=port)) == [port]
    assert busy_ports(Ports()) == []
