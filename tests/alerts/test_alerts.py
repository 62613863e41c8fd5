"""Alerts reach a real webhook server when a connector's run fails, through Airflow's own DAG
callback machinery (dag.test), and carry no secret."""

from __future__ import annotations

import json
import shutil
import threading
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import pytest

from saleslayer_airflow.alerts import RunOutcomeNotifier, alert_message
from tests.conftest import DAGS, EXAMPLES


class _Receiver(BaseHTTPRequestHandler):
    disable_nagle_algorithm = True
    received: list[dict[str, Any]] = []

    def do_POST(self) -> None:
        body = self.rfile.read(int(self.headers["Content-Length"]))
        type(self).received.append(
            {"path": self.path, "auth": self.headers.get("Authorization"), "body": json.loads(body)}
        )
        self.send_response(204)
        self.end_headers()

    def log_message(self, *args: Any) -> None:
        pass


@pytest.fixture
def webhook(monkeypatch: pytest.MonkeyPatch) -> Iterator[list[dict[str, Any]]]:
    _Receiver.received = []
    server = ThreadingHTTPServer(("127.0.0.1", 0), _Receiver)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    port = server.server_address[1]
    monkeypatch.setenv(
        "AIRFLOW_CONN_PIM_ALERTS_WEBHOOK",
        json.dumps(
            {
                "conn_type": "http",
                "host": "127.0.0.1",
                "port": port,
                "login": "alerts",
                "password": "webhook-token-secret",
            }
        ),
    )
    yield _Receiver.received
    server.shutdown()


def test_failed_run_posts_one_alert_with_the_outcome(
    airflow_db: str, webhook: list[dict[str, Any]], tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    folder = tmp_path / "connectors"
    folder.mkdir()
    shutil.copy(EXAMPLES / "apparel_catalog_http.yaml", folder)
    text = (folder / "apparel_catalog_http.yaml").read_text(encoding="utf-8")
    text = text.replace("retries: 3", "retries: 0").replace("policy: wait", "policy: fail")
    (folder / "apparel_catalog_http.yaml").write_text(text, encoding="utf-8")
    monkeypatch.setenv("SALESLAYER_CONNECTORS_DIR", str(folder))
    monkeypatch.setenv("SALESLAYER_STAGING_BASE", (tmp_path / "staging").as_uri())
    # The source points at a port nobody listens on: the fetch fails, so the run fails.
    monkeypatch.setenv(
        "AIRFLOW_CONN_ERP_HTTP", json.dumps({"conn_type": "http", "host": "127.0.0.1", "port": 9})
    )
    from airflow.dag_processing.dagbag import DagBag

    dag = DagBag(dag_folder=str(DAGS)).dags["apparel_catalog_http"]
    run = dag.test()

    assert run.state == "failed"
    assert len(webhook) == 1, webhook
    body = webhook[0]["body"]
    assert body["connector_id"] == "apparel_catalog_http"
    assert body["outcome"] == "failed"
    assert body["run_id"] == run.run_id
    assert "webhook-token-secret" not in json.dumps(body)
    assert webhook[0]["auth"], "the connection's credentials authenticate the POST"


def test_message_includes_the_report_counts() -> None:
    report = {
        "tables": {
            "products": {"status": "pushed", "read": 10, "created": 2, "unchanged": 8},
        }
    }
    message = alert_message("shop", "succeeded", {"run_id": "r1"}, report)
    assert "products: pushed: read 10, created 2, unchanged 8" in message["text"]
    assert message["report"] == report


def test_a_broken_alert_never_raises(caplog: pytest.LogCaptureFixture) -> None:
    notifier = RunOutcomeNotifier(
        connector_id="shop",
        outcome="failed",
        alerts=[{"kind": "webhook", "conn_id": "no_such_connection", "endpoint": ""}],
    )
    notifier.notify({"run_id": "r1"})
    assert "through connection 'no_such_connection' failed" in caplog.text
