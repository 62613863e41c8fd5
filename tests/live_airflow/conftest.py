"""A real Airflow for the live tests: scheduler, dag-processor, api-server and triggerer started
as separate processes in a temporary AIRFLOW_HOME (SQLite + LocalExecutor, the supported local
setup), with the project's dags/ folder, one connector file written by the test, an FTP server
holding five dated exports and the Sales Layer emulator, both started by the test on free ports.

One Airflow start and one backfill serve every test of the folder (package-scoped fixtures,
stopped after the folder's last test, so the rest of the suite does not share the machine with
an idle Airflow): the backfill tests check the runs, the browser test opens one of them.

Nothing is mocked. Each Airflow component runs in a process group of its own, so teardown stops
it with everything it forked (LocalExecutor workers ignore SIGTERM, so a group still alive after a
grace period is killed).
"""

from __future__ import annotations

import contextlib
import csv
import hashlib
import io
import json
import os
import secrets
import signal
import socket
import subprocess
import sys
import time
import warnings
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from datetime import date, timedelta
from importlib.metadata import entry_points
from pathlib import Path
from typing import Any

import httpx
import pytest

from tests.conftest import DAGS
from tests.e2e.conftest import FAST_TRACKING, saleslayer_conn
from tests.live_airflow.rest import USER, AirflowRest
from tests.sources.servers import FtpServer

VENV_BIN = Path(sys.executable).parent
DAG_ID = "products_live"
#: The five days the backfill imports, one export file each.
DAYS = [date(2026, 11, 2) + timedelta(days=n) for n in range(5)]
#: How long Airflow may take to answer its health check (measured here: 20-28 s).
START_TIMEOUT = 180.0
#: How long the five backfill runs may take together (measured here: see the report).
RUNS_TIMEOUT = 300.0
COMPONENTS = ("scheduler", "dag-processor", "api-server", "triggerer")
PLUGIN_CLASS = "saleslayer_airflow.ui.plugin:SalesLayerPlugin"

CONNECTOR = f"""\
id: {DAG_ID}
description: Products from the ERP's dated FTP exports, backfilled by a live Airflow.
schedule: "0 0 * * *"
start_date: {DAYS[0].isoformat()}
# No scheduled runs after the backfilled days: the scheduler must not start runs of its own
# (they would look for exports that do not exist).
end_date: {DAYS[-1].isoformat()}
catchup: false
retries: 0
source:
  kind: ftp
  conn_id: erp_ftp
  path: "/exports/products_{{{{ ds_nodash }}}}.csv"
  stable_for: 0s
format: {{type: csv}}
tables:
  products:
    reference: sku
    fields:
      prod_title: {{column: name, languages: [en], required: true}}
      prod_price: {{column: price, type: number}}
target: {{conn_id: saleslayer_default, batch_size: 5}}
validation: {{max_reject_ratio: 0.0}}
"""


# ------------------------------------------------------------------------------- the exports


def export_rows(day_index: int) -> list[dict[str, str]]:
    """The ERP's product export of day ``day_index`` (0-4): 8 products on the first day; each
    later day renames one product, reprices another and adds a new one (none disappears)."""
    rows = {
        f"SKU-{n:03d}": {"sku": f"SKU-{n:03d}", "name_en": f"Product {n}", "price": f"{10 + n}.50"}
        for n in range(1, 9)
    }
    for day in range(1, day_index + 1):
        renamed, repriced = rows[f"SKU-{day:03d}"], rows[f"SKU-{day + 2:03d}"]
        renamed["name_en"] = f"Product {day} (day {day} edition)"
        repriced["price"] = f"{20 + day}.25"
        new = f"SKU-{100 + day:03d}"
        rows[new] = {"sku": new, "name_en": f"New product {day}", "price": f"{30 + day}.00"}
    return list(rows.values())


def export_csv(day_index: int) -> str:
    """The export file's text."""
    out = io.StringIO()
    writer = csv.DictWriter(out, fieldnames=["sku", "name_en", "price"], lineterminator="\n")
    writer.writeheader()
    writer.writerows(export_rows(day_index))
    return out.getvalue()


def export_name(day: date) -> str:
    return f"products_{day:%Y%m%d}.csv"


def fetch_fingerprint(text: str) -> str:
    """The fetch's combined fingerprint of a run that landed exactly this one file (size and
    SHA-256 of its bytes), computed here independently of the project's code."""
    data = text.encode("utf-8")
    line = f"{len(data)}:{hashlib.sha256(data).hexdigest()}"
    return hashlib.sha256(line.encode("ascii")).hexdigest()


# ------------------------------------------------------------------------------- the servers


def free_port() -> int:
    """A port free now on 127.0.0.1 (Airflow's components need a number, not port 0)."""
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


def tail(path: Path, lines: int = 40) -> str:
    if not path.exists():
        return f"  ({path.name}: no output)"
    text = path.read_text(encoding="utf-8", errors="replace").splitlines()[-lines:]
    return "\n".join(f"  {line}" for line in text)


@dataclass
class LiveAirflow(AirflowRest):
    """A running Airflow and what it talks to; see :func:`live_airflow`."""

    home: Path
    base_url: str
    password: str = field(repr=False)
    env: dict[str, str] = field(repr=False)
    emulator: Any = field(repr=False)
    ftp_root: Path
    staging: Path
    processes: dict[str, subprocess.Popen[bytes]] = field(default_factory=dict)
    _token: str | None = field(default=None, repr=False)

    # -- processes

    def log(self, name: str) -> Path:
        return self.home / "component-logs" / f"{name}.log"

    def start(self, name: str, *args: str) -> None:
        """Start ``airflow <args>`` in a process group of its own, output to its log file."""
        self.log(name).parent.mkdir(exist_ok=True)
        with self.log(name).open("wb") as out:
            self.processes[name] = subprocess.Popen(
                [str(VENV_BIN / "airflow"), *args],
                env=self.env,
                stdout=out,
                stderr=subprocess.STDOUT,
                stdin=subprocess.DEVNULL,
                start_new_session=True,
            )

    def cli(
        self, *args: str, timeout: float = 120.0, retry_when: str | None = None, tries: int = 1
    ) -> subprocess.CompletedProcess[str]:
        """Run one ``airflow`` CLI command against this Airflow; fails the test when it fails.

        A failure whose output contains ``retry_when`` is retried, ``tries`` times in all.
        """
        for attempt in range(1, tries + 1):
            done = subprocess.run(
                [str(VENV_BIN / "airflow"), *args],
                env=self.env,
                capture_output=True,
                text=True,
                timeout=timeout,
                check=False,
            )
            if done.returncode == 0:
                return done
            output = done.stdout + done.stderr
            if attempt == tries or retry_when is None or retry_when not in output:
                break
            warnings.warn(
                f"`airflow {' '.join(args)}` failed with {retry_when!r}; retrying", stacklevel=2
            )
            time.sleep(2)
        pytest.fail(
            f"`airflow {' '.join(args)}` exited {done.returncode} (try {attempt} of {tries}):\n"
            f"{done.stdout[-3000:]}\n{done.stderr[-3000:]}"
        )

    def logs(self) -> str:
        """The tail of every component's output, for failure messages."""
        return "\n".join(f"--- {name}\n{tail(self.log(name))}" for name in self.processes)

    def stop(self) -> None:
        """SIGTERM every component's process group, then SIGKILL what is left after 15 s."""
        for process in self.processes.values():
            _signal_group(process, signal.SIGTERM)
        deadline = time.monotonic() + 15
        for process in self.processes.values():
            with contextlib.suppress(subprocess.TimeoutExpired):
                process.wait(timeout=max(0.1, deadline - time.monotonic()))
        for process in self.processes.values():
            # Forked workers may outlive their parent in the group: always sweep the group.
            _signal_group(process, signal.SIGKILL)
            process.wait(timeout=10)

    # -- the REST API

    def wait_for(self, what: str, check: Callable[[], Any], timeout: float) -> Any:
        """Poll ``check`` every second until it returns something truthy; fail the test with
        the components' log tails when ``timeout`` seconds pass or a component dies."""
        deadline = time.monotonic() + timeout
        while True:
            dead = {n: p.returncode for n, p in self.processes.items() if p.poll() is not None}
            if dead:
                pytest.fail(f"while waiting for {what}, Airflow components exited {dead}:\n"
                            f"{self.logs()}")  # fmt: skip
            result = check()
            if result:
                return result
            if time.monotonic() > deadline:
                pytest.fail(f"{what}: not within {timeout:.0f} s. Component logs:\n{self.logs()}")
            time.sleep(1)


def _signal_group(process: subprocess.Popen[bytes], sig: signal.Signals) -> None:
    with contextlib.suppress(ProcessLookupError):
        os.killpg(process.pid, sig)


def _healthy(base_url: str) -> bool:
    try:
        answer = httpx.get(f"{base_url}/api/v2/monitor/health", timeout=5)
    except httpx.HTTPError:
        return False
    if answer.status_code != 200:
        return False
    body = answer.json()
    parts = ("metadatabase", "scheduler", "triggerer", "dag_processor")
    return all((body.get(part) or {}).get("status") == "healthy" for part in parts)


def _plugins_folder(home: Path) -> Path:
    """Airflow's plugins folder. Until pyproject.toml declares the package's `airflow.plugins`
    entry point, a one-line plugin file here loads the same plugin class (Airflow skips a plugin
    whose name is already registered, so both together are harmless)."""
    folder = home / "plugins"
    folder.mkdir()
    if not any(ep.value == PLUGIN_CLASS for ep in entry_points(group="airflow.plugins")):
        (folder / "saleslayer_plugin.py").write_text(
            "from saleslayer_airflow.ui.plugin import SalesLayerPlugin  # noqa: F401\n",
            encoding="utf-8",
        )
    return folder


def _airflow_env(
    home: Path, port: int, password_file: Path, extra: dict[str, str]
) -> dict[str, str]:
    """The components' environment: this process's, minus every Airflow and connector setting
    the test session made for in-process Airflow, plus this Airflow's own."""
    env = {
        key: value
        for key, value in os.environ.items()
        if not key.startswith(("AIRFLOW", "SALESLAYER_"))
    }
    base_url = f"http://127.0.0.1:{port}"
    env.update(
        {
            # Airflow starts its components as `airflow ...` through PATH.
            "PATH": f"{VENV_BIN}{os.pathsep}{env.get('PATH', '')}",
            "AIRFLOW_HOME": str(home),
            "AIRFLOW__CORE__DAGS_FOLDER": str(DAGS),
            "AIRFLOW__CORE__PLUGINS_FOLDER": str(_plugins_folder(home)),
            "AIRFLOW__CORE__LOAD_EXAMPLES": "False",
            "AIRFLOW__CORE__EXECUTOR": "LocalExecutor",
            # Five processes write to one SQLite file: wait for its lock (SQLite's default is
            # 5 s; seen here: `airflow backfill create` failing with "database is locked").
            "AIRFLOW__DATABASE__SQL_ALCHEMY_CONN": f"sqlite:///{home / 'airflow.db'}?timeout=60",
            # Two cores here: a few worker processes, not the default 32.
            "AIRFLOW__CORE__PARALLELISM": "4",
            "AIRFLOW__CORE__EXECUTION_API_SERVER_URL": f"{base_url}/execution/",
            "AIRFLOW__API__HOST": "127.0.0.1",
            "AIRFLOW__API__PORT": str(port),
            "AIRFLOW__API__BASE_URL": base_url,
            "AIRFLOW__API__WORKERS": "1",
            # Every component signs and checks the workers' tokens with the same secret.
            "AIRFLOW__API_AUTH__JWT_SECRET": secrets.token_urlsafe(64),
            "AIRFLOW__CORE__SIMPLE_AUTH_MANAGER_USERS": f"{USER}:admin",
            "AIRFLOW__CORE__SIMPLE_AUTH_MANAGER_PASSWORDS_FILE": str(password_file),
            # Free ports for the log servers too: other Airflows may run on this machine.
            "AIRFLOW__LOGGING__WORKER_LOG_SERVER_PORT": str(free_port()),
            "AIRFLOW__LOGGING__TRIGGER_LOG_SERVER_PORT": str(free_port()),
        }
    )
    env.update(extra)
    return env


@pytest.fixture(scope="package")
def live_airflow(tmp_path_factory: pytest.TempPathFactory) -> Iterator[LiveAirflow]:
    """A running Airflow (4 components) with one connector DAG, its FTP server and emulator."""
    from saleslayer_airflow.emulator.server import start_in_thread

    tmp = tmp_path_factory.mktemp("live-airflow")
    home = tmp / "airflow-home"
    home.mkdir()
    connectors = tmp / "connectors"
    connectors.mkdir()
    (connectors / f"{DAG_ID}.yaml").write_text(CONNECTOR, encoding="utf-8")
    ftp_root = tmp / "ftproot"
    (ftp_root / "exports").mkdir(parents=True)
    for number, day in enumerate(DAYS):
        (ftp_root / "exports" / export_name(day)).write_text(export_csv(number), encoding="utf-8")

    ftp = FtpServer(ftp_root)
    emulator = start_in_thread(tmp / "saleslayer.sqlite", settings=FAST_TRACKING)
    password = secrets.token_urlsafe(16)
    password_file = home / "passwords.json"
    password_file.write_text(json.dumps({USER: password}), encoding="utf-8")
    port = free_port()
    staging = tmp / "staging"
    env = _airflow_env(
        home,
        port,
        password_file,
        {
            "SALESLAYER_CONNECTORS_DIR": str(connectors),
            "SALESLAYER_STAGING_BASE": staging.as_uri(),
            "SALESLAYER_STATE_URL": f"sqlite:///{tmp / 'state.sqlite'}",
            "AIRFLOW_CONN_ERP_FTP": ftp.conn(),
            "AIRFLOW_CONN_SALESLAYER_DEFAULT": saleslayer_conn(emulator.base_url),
        },
    )
    airflow = LiveAirflow(
        home, f"http://127.0.0.1:{port}", password, env, emulator, ftp_root, staging
    )
    try:
        airflow.cli("db", "migrate", timeout=300)
        for component in COMPONENTS:
            airflow.start(component, component)
        airflow.wait_for(
            f"Airflow's health check at {airflow.base_url}/api/v2/monitor/health",
            lambda: _healthy(airflow.base_url),
            START_TIMEOUT,
        )
        answer = airflow.api(
            "POST", "/pools", json={"name": "saleslayer", "slots": 2, "include_deferred": False}
        )
        assert answer.status_code == 201, answer.text
        airflow.wait_for(f"DAG {DAG_ID} parsed", lambda: _dag_parsed(airflow), START_TIMEOUT)
        yield airflow
    finally:
        airflow.stop()
        emulator.stop()
        ftp.stop()


def _dag_parsed(airflow: LiveAirflow) -> bool:
    errors = airflow.get("/importErrors")["import_errors"]
    if errors:
        pytest.fail(f"the DAG folder has import errors: {errors}")
    return airflow.api("GET", f"/dags/{DAG_ID}").status_code == 200


# ------------------------------------------------------------------------------- the backfill


@dataclass(frozen=True)
class Backfill:
    """The finished runs of the backfill, one per day, in day order."""

    runs: list[dict[str, Any]]


def _finished_runs(airflow: LiveAirflow) -> list[dict[str, Any]] | None:
    runs = airflow.get(f"/dags/{DAG_ID}/dagRuns", limit=50, order_by="logical_date")["dag_runs"]
    backfilled = [r for r in runs if r["run_type"] == "backfill"]
    finished = all(r["state"] in {"success", "failed"} for r in backfilled)
    if len(backfilled) == len(DAYS) and finished:
        return backfilled
    return None


@pytest.fixture(scope="package")
def backfill(live_airflow: LiveAirflow) -> Backfill:
    """Unpause the connector, backfill the five days through `airflow backfill create` and wait
    until every run has finished (whatever its state: the tests say which)."""
    answer = live_airflow.api("PATCH", f"/dags/{DAG_ID}", json={"is_paused": False})
    assert answer.status_code == 200, answer.text
    # The CLI writes the backfill and its runs to the metadata database while the scheduler
    # writes too; on SQLite it may meet "database is locked", in which case Airflow removes the
    # partial backfill so that it can be retried (airflow.models.backfill._create_backfill).
    live_airflow.cli(
        "backfill",
        "create",
        "--dag-id",
        DAG_ID,
        "--from-date",
        DAYS[0].isoformat(),
        "--to-date",
        DAYS[-1].isoformat(),
        "--max-active-runs",
        "1",
        retry_when="database is locked",
        tries=4,
    )
    runs = live_airflow.wait_for(
        f"the {len(DAYS)} backfill runs of {DAG_ID} to finish",
        lambda: _finished_runs(live_airflow),
        RUNS_TIMEOUT,
    )
    return Backfill(runs=runs)
