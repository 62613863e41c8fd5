"""Data and jobs survive a restart; the command line serves and dumps."""

from __future__ import annotations

import json
import os
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path

import httpx
import pytest

from saleslayer_airflow.emulator.server import run_in_thread
from tests.emulator.conftest import API_KEY, BASE_SETTINGS, Api, php_form

pytestmark = pytest.mark.integration


def test_a_restart_in_the_middle_of_a_tracked_import_still_ends_it(data_file: Path) -> None:
    with run_in_thread(data_file, settings=BASE_SETTINGS) as first:
        api = Api(first)
        answer = api.set_info(
            php_form(
                {
                    "catalogue": [{"cat_ref": "C1"}],
                    "products": [{"prod_ref": "P1", "cat_ref": "C1", "prod_title_fr": "Été"}],
                }
            )
        ).json()["input_response"]
        url = answer["status_tracking"]
        assert api.http.get(url).json()["input_status"] == "prepare"
        api.close()
        assert first.dump("products") == []
    with run_in_thread(data_file, settings=BASE_SETTINGS) as second:
        api = Api(second)
        moved = url.replace(first.base_url, second.base_url)
        statuses = [api.http.get(moved).json()["input_status"] for _ in range(2)]
        assert statuses == ["started", "end"]
        product = api.dump("products")["P1"]
        assert product["fields"] == {"prod_title": {"fr": "Été"}}
        assert product["links"]["cat_ref"] == ["C1"]
        api.close()


def test_time_driven_jobs_end_after_a_restart_without_polls(data_file: Path) -> None:
    slow = {"tracking": {"seconds_per_step": 3600}}
    with run_in_thread(data_file, settings=slow) as first:
        Api(first).set_info(php_form({"products": [{"prod_ref": "P1"}]}))
    fast = {"tracking": {"seconds_per_step": 0.01, "tick_seconds": 0.02}}
    with run_in_thread(data_file, settings=fast) as second:
        deadline = time.monotonic() + 10
        while not second.dump("products"):
            assert time.monotonic() < deadline, "the resumed job never ended"
            time.sleep(0.02)


def test_items_ids_and_deletes_persist_across_restarts(data_file: Path) -> None:
    with run_in_thread(data_file, settings=BASE_SETTINGS) as first:
        api = Api(first)
        assert api.rest("POST", "Products", json={"prod_ref": "P1"}).status_code == 201
        assert api.rest("POST", "Products", json={"prod_ref": "P2"}).status_code == 201
        assert api.rest("DELETE", "Products(2)").status_code == 204
        api.close()
    with run_in_thread(data_file, settings=BASE_SETTINGS) as second:
        api = Api(second)
        assert api.rest("GET", "Products(1)").json()["prod_ref"] == "P1"
        assert api.rest("GET", "Products(2)").status_code == 404
        created = api.rest("POST", "Products", json={"prod_ref": "P3"})
        assert created.headers["location"].endswith("Products(3)")
        api.close()


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def test_one_command_serves_and_dump_reads_back(data_file: Path) -> None:
    port = _free_port()
    command = [
        sys.executable,
        "-m",
        "saleslayer_airflow.emulator",
        "--port",
        str(port),
        "--data",
        str(data_file),
    ]
    server = subprocess.Popen(command, stdout=subprocess.PIPE, stderr=subprocess.STDOUT)
    try:
        base = f"http://127.0.0.1:{port}"
        deadline = time.monotonic() + 30
        while True:
            try:
                if httpx.get(f"{base}/_emulator/health").status_code == 200:
                    break
            except httpx.TransportError:
                pass
            assert server.poll() is None, server.stdout.read() if server.stdout else ""
            assert time.monotonic() < deadline, "the emulator did not start"
            time.sleep(0.1)
        created = httpx.post(
            f"{base}/rest/Catalog/Categories",
            json={"cat_ref": "C1", "cat_title": {"es": "Hombre"}},
            headers={"X-API-KEY": API_KEY},
        )
        assert created.status_code == 201
    finally:
        server.send_signal(signal.SIGTERM)
        server.wait(timeout=15)
    dump = subprocess.run(
        [
            sys.executable,
            "-m",
            "saleslayer_airflow.emulator",
            "dump",
            "--data",
            str(data_file),
            "--table",
            "catalogue",
        ],
        capture_output=True,
        text=True,
        check=True,
        env={**os.environ},
    )
    items = json.loads(dump.stdout)["items"]
    assert [(i["ref"], i["fields"]) for i in items] == [("C1", {"cat_title": {"es": "Hombre"}})]
    missing = subprocess.run(
        [
            sys.executable,
            "-m",
            "saleslayer_airflow.emulator",
            "dump",
            "--data",
            str(data_file),
            "--table",
            "nope",
        ],
        capture_output=True,
        text=True,
    )
    assert missing.returncode == 2 and "tables: catalogue" in missing.stderr


def test_inspection_routes(api: Api) -> None:
    api.import_and_wait(php_form({"products": [{"prod_ref": "P1", "prod_title_en": "x"}]}))
    by_set = api.http.get("/_emulator/tables/Products").json()
    assert by_set["table"] == "products" and by_set["items"][0]["ref"] == "P1"
    assert api.http.get("/_emulator/tables/nope").status_code == 404
    tables = api.http.get("/_emulator/tables").json()["tables"]
    assert {t["import_name"]: t["live_items"] for t in tables}["products"] == 1
    answer = api.set_info(php_form({"products": [{"prod_ref": "P2"}]})).json()
    job_id = answer["input_response"]["status_tracking"].rsplit("/", 1)[1]
    job = api.http.get(f"/_emulator/jobs/{job_id}").json()
    assert (
        job["input_status"] == "prepare" and job["polls"] == 0 and job["connector"] == "CN123TEST"
    )
    assert api.http.get("/_emulator/jobs/nope").status_code == 404
