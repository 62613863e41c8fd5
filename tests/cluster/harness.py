"""A distributed Airflow on one machine: CeleryExecutor with Redis as the broker, PostgreSQL as
Airflow's metadata database and as the connectors' state store, staging and task logs on S3
(moto's server), and scheduler, dag-processor, api-server, triggerer and two Celery workers as
separate processes, each with an AIRFLOW_HOME of its own.

The components share nothing but what a real deployment shares: the broker, the two databases,
the bucket, the code (the project's ``dags/`` loader and the package installed in the venv, as an
image would carry them) and the connector files. Connections reach every component as
``AIRFLOW_CONN_*`` variables, as a secrets backend would hand them out.

Used by the cluster tests (tests/cluster/conftest.py) and by ``make cluster`` (scripts/cluster),
which starts the same set for a person to look at. Nothing is mocked: every server is a real
process or a real server thread on 127.0.0.1, on free ports.
"""

from __future__ import annotations

import contextlib
import importlib.util
import json
import os
import secrets
import shutil
import signal
import subprocess
import sys
import time
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import httpx

from tests.cluster.workload import ACCOUNTS, Connector, Scenario, conn_id, pool_name
from tests.live_airflow.conftest import _healthy, _plugins_folder, free_port, tail
from tests.live_airflow.rest import USER, AirflowApiError, AirflowRest

ROOT = Path(__file__).resolve().parents[2]
VENV_BIN = Path(sys.executable).parent
DAGS = ROOT / "dags"
BUCKET = "saleslayer-staging"
#: Separate process groups, started in this order (workers last: they need the API to run tasks).
SERVICES = ("scheduler", "dag-processor", "api-server", "triggerer")
WORKERS = ("worker-a", "worker-b")
#: Task slots per Celery worker: 2 workers x 3 on a 2-core machine.
WORKER_CONCURRENCY = 3
#: The emulator's tracking: each import job ends at the second poll, half a second apart, so a
#: push lasts long enough for overlapping pushes to be seen.
TRACKING = {"tracking": {"steps_to_end": 1, "seconds_per_step": 0.5, "tick_seconds": 0.1}}
#: The emulator's test connector (default tenant file, docs/emulator.md): test values only.
SL_CODE, SL_KEY = "CN123TEST", "pk-S3cret-Private-Key-4-tests"
#: A task whose worker vanished (no heartbeat for this long) is failed by the scheduler and, with
#: retries left, queued again: 300 s by default, 20 s here so the lost-worker test sees its retry
#: within a minute. The task supervisor heartbeats every 5 s ([workers] min_heartbeat_interval), so
#: a live task would have to miss four heartbeats in a row to be taken for lost.
HEARTBEAT_TIMEOUT = 20


class ClusterUnavailable(Exception):
    """Something the cluster needs is not installed here; the message says what."""


class ClusterError(AirflowApiError):
    """Everything is installed but the cluster did not come up (a failure, not a skip)."""


def check_prerequisites() -> None:
    """Raise ClusterUnavailable naming what is missing (tests skip with that reason)."""
    from tests.state.postgres import PostgresUnavailable, find_bin_dir

    missing = []
    if shutil.which("redis-server") is None:
        missing.append("redis-server (Debian package `redis-server`)")
    try:
        find_bin_dir()
    except PostgresUnavailable as exc:
        missing.append(str(exc))
    modules = {
        "airflow.providers.celery": "apache-airflow-providers-celery",
        "airflow.providers.amazon": "apache-airflow-providers-amazon",
        "s3fs": "s3fs",
        "redis": "redis",
        "psycopg2": "psycopg2-binary",
        "moto": "moto[server]",
        "boto3": "boto3",
    }
    for module, package in modules.items():
        try:
            found = importlib.util.find_spec(module) is not None
        except ModuleNotFoundError:
            found = False
        if not found:
            missing.append(f"Python package {package}")
    if not (VENV_BIN / "moto_server").exists():
        missing.append("moto_server (moto[server])")
    if missing:
        raise ClusterUnavailable("missing: " + "; ".join(missing))


# ----------------------------------------------------------------------------- processes


@dataclass
class Process:
    """A server process in a process group of its own, its output in one log file."""

    name: str
    log: Path
    popen: subprocess.Popen[bytes]

    @classmethod
    def start(
        cls, name: str, command: list[str], log: Path, env: dict[str, str], cwd: Path
    ) -> Process:
        log.parent.mkdir(parents=True, exist_ok=True)
        with log.open("wb") as out:
            popen = subprocess.Popen(
                command,
                env=env,
                cwd=cwd,
                stdout=out,
                stderr=subprocess.STDOUT,
                stdin=subprocess.DEVNULL,
                # A group of its own: stopping it reaches everything it forked (Celery's pool,
                # the log server, task supervisors) and Ctrl-C in a terminal does not.
                start_new_session=True,
            )
        return cls(name, log, popen)

    def alive(self) -> bool:
        return self.popen.poll() is None

    def signal_group(self, sig: signal.Signals) -> None:
        with contextlib.suppress(ProcessLookupError, PermissionError):
            os.killpg(self.popen.pid, sig)


def stop_processes(processes: Iterable[Process], grace: float = 20.0) -> None:
    """SIGTERM every group, wait up to ``grace`` seconds, then SIGKILL what is left of each group
    (forked children may outlive their parent; a Celery worker's warm shutdown waits for its
    running tasks)."""
    processes = list(processes)
    for process in processes:
        process.signal_group(signal.SIGTERM)
    deadline = time.monotonic() + grace
    for process in processes:
        with contextlib.suppress(subprocess.TimeoutExpired):
            process.popen.wait(timeout=max(0.1, deadline - time.monotonic()))
    for process in processes:
        process.signal_group(signal.SIGKILL)
        with contextlib.suppress(subprocess.TimeoutExpired):
            process.popen.wait(timeout=10)


def wait_until(
    what: str, check: Callable[[], Any], timeout: float, watch: Iterable[Process] = ()
) -> Any:
    """Poll ``check`` until truthy; ClusterError on timeout or when a watched process dies."""
    watched = list(watch)
    deadline = time.monotonic() + timeout
    while True:
        dead = [p for p in watched if not p.alive()]
        if dead:
            logs = "\n".join(f"--- {p.name}\n{tail(p.log)}" for p in dead)
            raise ClusterError(
                f"while waiting for {what}, {[p.name for p in dead]} exited:\n{logs}"
            )
        result = check()
        if result:
            return result
        if time.monotonic() > deadline:
            raise ClusterError(f"{what}: not within {timeout:.0f} s")
        time.sleep(0.5)


# ----------------------------------------------------------------------------- the cluster


@dataclass
class Cluster(AirflowRest):
    """The running cluster; build with :func:`start_cluster`, always :meth:`stop`."""

    root: Path
    connectors: list[Connector]
    #: Scenario connector files (tests/cluster/workload.py), parsed but not among ``connectors``.
    scenarios: list[Scenario] = field(default_factory=list)
    base_url: str = ""
    password: str = field(default="", repr=False)
    env: dict[str, str] = field(default_factory=dict, repr=False)
    homes: dict[str, Path] = field(default_factory=dict)
    processes: dict[str, Process] = field(default_factory=dict)
    services: list[Process] = field(default_factory=list)
    #: Components killed on purpose (no longer watched; still stopped, in case of leftovers).
    lost: list[Process] = field(default_factory=list)
    emulators: dict[str, Any] = field(default_factory=dict, repr=False)
    s3_endpoint: str = ""
    s3_key_id: str = field(default="", repr=False)
    s3_secret: str = field(default="", repr=False)
    postgres: Any = field(default=None, repr=False)
    ftp: Any = field(default=None, repr=False)
    http: Any = field(default=None, repr=False)
    #: Seconds each start-up step took, for the report.
    timings: dict[str, float] = field(default_factory=dict)
    _token: str | None = field(default=None, repr=False)
    _stopped: bool = False

    # -- secrets the tests look for in every log, XCom and rendered template

    def secrets(self) -> dict[str, str]:
        from urllib.parse import quote

        from tests.sources.servers import PASSWORD as FTP_PASSWORD

        found = {
            "Sales Layer private key": SL_KEY,
            "S3 secret key": self.s3_secret,
            "S3 access key id": self.s3_key_id,
            "FTP/HTTP password": FTP_PASSWORD,
        }
        if self.postgres is not None:
            found["database password"] = self.postgres.password
            found["database password (URL-encoded)"] = quote(self.postgres.password, safe="")
        return found

    # -- Airflow

    def start_component(self, name: str, *args: str) -> Process:
        home = self.homes.setdefault(name, self.root / "homes" / name)
        home.mkdir(parents=True, exist_ok=True)
        env = dict(self.env, AIRFLOW_HOME=str(home), CLUSTER_HOSTNAME=name)
        if name in WORKERS:
            # Each worker serves its own task logs while they run, on a port of its own.
            env["AIRFLOW__LOGGING__WORKER_LOG_SERVER_PORT"] = str(free_port())
        process = Process.start(
            name, [str(VENV_BIN / "airflow"), *args], home / "component.log", env, home
        )
        self.processes[name] = process
        return process

    def kill_worker(self, name: str) -> list[int]:
        """SIGKILL a worker as if its machine was lost: the worker's process group and the group
        of every process below it, at once; returns the pids killed.

        The worker's own group is not enough: Airflow 3's task supervisor puts each task process
        in a process group of its own (``os.setpgid`` in ``airflow.sdk.execution_time.supervisor``)
        so it can signal the task's whole tree; killing only the worker's group would leave the
        task running (and pushing) without its supervisor."""
        import psutil

        process = self.processes.pop(name)
        tree = [process.popen.pid]
        with contextlib.suppress(psutil.NoSuchProcess):
            tree += [c.pid for c in psutil.Process(process.popen.pid).children(recursive=True)]
        groups = set()
        for pid in tree:
            with contextlib.suppress(ProcessLookupError):
                groups.add(os.getpgid(pid))
        for group in groups:
            with contextlib.suppress(ProcessLookupError, PermissionError):
                os.killpg(group, signal.SIGKILL)
        process.popen.wait(timeout=30)
        self.lost.append(process)
        return tree

    def state_query(self, sql: str, **params: Any) -> list[Any]:
        """The rows of one query on the connectors' state store (the test's own view of it)."""
        import sqlalchemy as sa

        assert self.postgres is not None
        engine = sa.create_engine(
            self.postgres.url("saleslayer_state", driver="psycopg2"), poolclass=sa.pool.NullPool
        )
        try:
            with engine.connect() as connection:
                return list(connection.execute(sa.text(sql), params))
        finally:
            engine.dispose()

    def cli(self, *args: str, timeout: float = 300.0) -> subprocess.CompletedProcess[str]:
        home = self.homes.setdefault("cli", self.root / "homes" / "cli")
        home.mkdir(parents=True, exist_ok=True)
        env = dict(self.env, AIRFLOW_HOME=str(home), CLUSTER_HOSTNAME="cli")
        done = subprocess.run(
            [str(VENV_BIN / "airflow"), *args],
            env=env,
            cwd=home,
            capture_output=True,
            text=True,
            timeout=timeout,
            check=False,
        )
        if done.returncode != 0:
            raise ClusterError(
                f"`airflow {' '.join(args)}` exited {done.returncode}:\n"
                f"{done.stdout[-3000:]}\n{done.stderr[-3000:]}"
            )
        return done

    def trigger(self, dag_ids: Iterable[str]) -> dict[str, str]:
        """Unpause each DAG and trigger one run of it (no logical date); returns the run ids."""
        run_ids: dict[str, str] = {}
        for dag_id in dag_ids:
            answer = self.api("PATCH", f"/dags/{dag_id}", json={"is_paused": False})
            if answer.status_code != 200:
                raise ClusterError(f"unpause {dag_id}: {answer.status_code} {answer.text}")
            answer = self.api("POST", f"/dags/{dag_id}/dagRuns", json={"logical_date": None})
            if answer.status_code != 200:
                raise ClusterError(f"trigger {dag_id}: {answer.status_code} {answer.text}")
            run_ids[dag_id] = str(answer.json()["dag_run_id"])
        return run_ids

    def wait_runs(self, run_ids: dict[str, str], timeout: float) -> dict[str, dict[str, Any]]:
        """Wait until every run (dag id -> run id) has finished; returns the runs as the API
        shows them, whatever their state."""

        def finished() -> dict[str, dict[str, Any]] | None:
            found = {d: self.get(f"/dags/{d}/dagRuns/{r}") for d, r in run_ids.items()}
            done = all(run["state"] in ("success", "failed") for run in found.values())
            return found if done else None

        result: dict[str, dict[str, Any]] = self.wait_for(
            f"the runs of {sorted(run_ids)} to finish", finished, timeout
        )
        return result

    def task_instances(self, dag_id: str, run_id: str) -> dict[str, dict[str, Any]]:
        found = self.get(f"/dags/{dag_id}/dagRuns/{run_id}/taskInstances")["task_instances"]
        return {str(ti["task_id"]): ti for ti in found}

    def xcom(self, dag_id: str, run_id: str, task_id: str) -> Any:
        path = f"/dags/{dag_id}/dagRuns/{run_id}/taskInstances/{task_id}"
        return self.get(f"{path}/xcomEntries/return_value", deserialize=True)["value"]

    def why_failed(self, runs: Iterable[dict[str, Any]]) -> str:
        """The last lines of the log of each failed task of the failed ``runs`` (as the API
        shows runs), for messages."""
        told = []
        for run in runs:
            if run["state"] == "success":
                continue
            dag_id = run["dag_id"]
            for ti in self.task_instances(dag_id, run["dag_run_id"]).values():
                if ti["state"] in ("failed", "upstream_failed"):
                    log = self.task_log(dag_id, run["dag_run_id"], ti["task_id"], ti["try_number"])
                    told.append(
                        f"--- {dag_id}.{ti['task_id']} ({ti['state']}, try {ti['try_number']} "
                        f"on {ti['hostname']})\n{log[-2500:]}"
                    )
        return "\n".join(told)

    def component_logs(self, lines: int = 30) -> str:
        return "\n".join(f"--- {n}\n{tail(p.log, lines)}" for n, p in self.processes.items())

    def wait_for(self, what: str, check: Callable[[], Any], timeout: float) -> Any:
        try:
            return wait_until(what, check, timeout, [*self.processes.values(), *self.services])
        except ClusterError as exc:
            raise ClusterError(f"{exc}\nComponent logs:\n{self.component_logs()}") from None

    def s3(self) -> Any:
        """A boto3 S3 client on the moto server (the test's own view of the bucket)."""
        import boto3  # type: ignore[import-untyped]  # no stubs installed

        return boto3.client(
            "s3",
            endpoint_url=self.s3_endpoint,
            aws_access_key_id=self.s3_key_id,
            aws_secret_access_key=self.s3_secret,
            region_name="us-east-1",
        )

    def bucket_keys(self, prefix: str = "") -> list[str]:
        keys: list[str] = []
        paginator = self.s3().get_paginator("list_objects_v2")
        for page in paginator.paginate(Bucket=BUCKET, Prefix=prefix):
            keys += [str(item["Key"]) for item in page.get("Contents", [])]
        return keys

    # -- stop

    def stop(self) -> None:
        """Stop everything this cluster started: Airflow first, then the servers; idempotent."""
        if self._stopped:
            return
        self._stopped = True
        # Workers first (they finish or abandon their tasks), then the rest of Airflow.
        workers = [p for n, p in self.processes.items() if n in WORKERS]
        others = [p for n, p in self.processes.items() if n not in WORKERS]
        stop_processes(workers)
        stop_processes(others)
        stop_processes(self.lost, grace=0.1)
        stop_processes(self.services, grace=10)
        for emulator in self.emulators.values():
            with contextlib.suppress(Exception):
                emulator.stop()
        for server in (self.ftp, self.http):
            if server is not None:
                with contextlib.suppress(Exception):
                    server.stop()
        if self.postgres is not None:
            from tests.state.postgres import remove

            remove(self.postgres)


def _hostname_module(folder: Path) -> Path:
    """A module for ``[core] hostname_callable``: every component on this one machine would
    report the same host name; each reports its ``CLUSTER_HOSTNAME`` instead, so the task
    instances say which worker ran them."""
    folder.mkdir(parents=True, exist_ok=True)
    (folder / "cluster_hostname.py").write_text(
        "import os\n\n\ndef hostname():\n    return os.environ['CLUSTER_HOSTNAME']\n",
        encoding="utf-8",
    )
    return folder


def _start_redis(cluster: Cluster) -> str:
    folder = cluster.root / "redis"
    folder.mkdir()
    port = free_port()
    command = [
        shutil.which("redis-server") or "redis-server",
        "--bind", "127.0.0.1", "--port", str(port), "--dir", str(folder),
        "--save", "", "--appendonly", "no", "--daemonize", "no",
    ]  # fmt: skip
    process = Process.start("redis", command, folder / "redis.log", dict(os.environ), folder)
    cluster.services.append(process)

    def pong() -> bool:
        import redis

        with contextlib.suppress(redis.exceptions.RedisError):
            return bool(redis.Redis(host="127.0.0.1", port=port, socket_timeout=2).ping())
        return False

    wait_until("redis-server answering PING", pong, 30, [process])
    return f"redis://127.0.0.1:{port}/0"


def _start_moto(cluster: Cluster) -> None:
    folder = cluster.root / "moto"
    folder.mkdir()
    port = free_port()
    command = [str(VENV_BIN / "moto_server"), "-H", "127.0.0.1", "-p", str(port)]
    env = {k: v for k, v in os.environ.items() if not k.startswith("AIRFLOW")}
    process = Process.start("moto", command, folder / "moto.log", env, folder)
    cluster.services.append(process)
    cluster.s3_endpoint = f"http://127.0.0.1:{port}"

    def up() -> bool:
        try:
            return httpx.get(f"{cluster.s3_endpoint}/moto-api/", timeout=2).status_code < 500
        except httpx.HTTPError:
            return False

    wait_until("moto_server answering", up, 60, [process])
    # Any key works on moto; random ones, so the secrets check has something to look for.
    cluster.s3_key_id = "AKIA" + secrets.token_hex(8).upper()
    cluster.s3_secret = secrets.token_urlsafe(30)
    cluster.s3().create_bucket(Bucket=BUCKET)


def _create_databases(server: Any, names: Iterable[str]) -> None:
    import sqlalchemy as sa

    engine = sa.create_engine(
        server.url(driver="psycopg2"), isolation_level="AUTOCOMMIT", poolclass=sa.pool.NullPool
    )
    try:
        with engine.connect() as connection:
            for name in names:
                connection.execute(sa.text(f'CREATE DATABASE "{name}" TEMPLATE template0'))
    finally:
        engine.dispose()


def _saleslayer_conn(base_url: str, account: str) -> str:
    # Both emulators know the same test connector code: the extra `account` keeps their state
    # apart (SalesLayerHook.account_key), as two real accounts' different codes would.
    return json.dumps(
        {
            "conn_type": "saleslayer",
            "host": base_url,
            "login": SL_CODE,
            "password": SL_KEY,
            "extra": {"account": f"cluster-account-{account}"},
        }
    )


def _airflow_env(cluster: Cluster, broker: str, port: int, pythonpath: Path) -> dict[str, str]:
    """What every component shares: this process's environment without Airflow or connector
    settings (pytest's in-process Airflow has its own), plus the cluster's."""
    assert cluster.postgres is not None and cluster.ftp is not None and cluster.http is not None
    env = {
        key: value
        for key, value in os.environ.items()
        if not key.startswith(("AIRFLOW", "SALESLAYER_", "AWS_", "PYTHONPATH"))
    }
    metadata = cluster.postgres.url("airflow", driver="psycopg2")
    base_url = f"http://127.0.0.1:{port}"
    password_file = cluster.root / "passwords.json"
    password_file.write_text(json.dumps({USER: cluster.password}), encoding="utf-8")
    aws = {
        "conn_type": "aws",
        "login": cluster.s3_key_id,
        "password": cluster.s3_secret,
        "extra": {"endpoint_url": cluster.s3_endpoint, "region_name": "us-east-1"},
    }
    state = {
        "conn_type": "postgres",
        "host": cluster.postgres.host,
        "port": cluster.postgres.port,
        "login": cluster.postgres.user,
        "password": cluster.postgres.password,
        "schema": "saleslayer_state",
    }
    env.update(
        {
            "PATH": f"{VENV_BIN}{os.pathsep}{env.get('PATH', '')}",
            "PYTHONPATH": str(pythonpath),
            "AIRFLOW__CORE__HOSTNAME_CALLABLE": "cluster_hostname.hostname",
            "AIRFLOW__CORE__DAGS_FOLDER": str(DAGS),
            "AIRFLOW__CORE__PLUGINS_FOLDER": str(_plugins_folder(cluster.root)),
            "AIRFLOW__CORE__LOAD_EXAMPLES": "False",
            "AIRFLOW__CORE__EXECUTOR": "CeleryExecutor",
            "AIRFLOW__CORE__PARALLELISM": str(2 * WORKER_CONCURRENCY),
            "AIRFLOW__DATABASE__SQL_ALCHEMY_CONN": metadata,
            "AIRFLOW__CELERY__BROKER_URL": broker,
            "AIRFLOW__CELERY__RESULT_BACKEND": "db+" + metadata,
            "AIRFLOW__CELERY__WORKER_CONCURRENCY": str(WORKER_CONCURRENCY),
            # A lost worker's task is found by its missing heartbeats, not by Celery: with
            # task_acks_late (the provider's default) its message stays unacknowledged in Redis
            # until the visibility timeout (24 h by default), and must stay so: a shorter timeout
            # redelivers long pushes that are still running. See HEARTBEAT_TIMEOUT.
            "AIRFLOW__SCHEDULER__TASK_INSTANCE_HEARTBEAT_TIMEOUT": str(HEARTBEAT_TIMEOUT),
            "AIRFLOW__SCHEDULER__TASK_INSTANCE_HEARTBEAT_TIMEOUT_DETECTION_INTERVAL": "2",
            "AIRFLOW__CORE__EXECUTION_API_SERVER_URL": f"{base_url}/execution/",
            "AIRFLOW__API__HOST": "127.0.0.1",
            "AIRFLOW__API__PORT": str(port),
            "AIRFLOW__API__BASE_URL": base_url,
            "AIRFLOW__API__WORKERS": "1",
            "AIRFLOW__API_AUTH__JWT_SECRET": secrets.token_urlsafe(64),
            "AIRFLOW__CORE__SIMPLE_AUTH_MANAGER_USERS": f"{USER}:admin",
            "AIRFLOW__CORE__SIMPLE_AUTH_MANAGER_PASSWORDS_FILE": str(password_file),
            "AIRFLOW__LOGGING__WORKER_LOG_SERVER_PORT": str(free_port()),
            "AIRFLOW__LOGGING__TRIGGER_LOG_SERVER_PORT": str(free_port()),
            # Task logs go to the bucket too: the api-server then shows a finished task's log
            # whichever worker ran it (two workers cannot share one log-server port here).
            "AIRFLOW__LOGGING__REMOTE_LOGGING": "True",
            "AIRFLOW__LOGGING__REMOTE_BASE_LOG_FOLDER": f"s3://{BUCKET}/logs",
            "AIRFLOW__LOGGING__REMOTE_LOG_CONN_ID": "staging_s3",
            # Staging and state reachable from every worker (docs/deployment.md).
            "SALESLAYER_CONNECTORS_DIR": str(cluster.root / "connectors"),
            "SALESLAYER_STAGING_BASE": f"s3://staging_s3@{BUCKET}/staging",
            "SALESLAYER_STATE_CONN_ID": "saleslayer_state",
            "AIRFLOW_CONN_SALESLAYER_STATE": json.dumps(state),
            "AIRFLOW_CONN_STAGING_S3": json.dumps(aws),
            "AIRFLOW_CONN_ERP_FTP": cluster.ftp.conn(),
            "AIRFLOW_CONN_ERP_HTTP": cluster.http.conn(),
        }
    )
    for account, emulator in cluster.emulators.items():
        env[f"AIRFLOW_CONN_{conn_id(account).upper()}"] = _saleslayer_conn(
            emulator.base_url, account
        )
    return env


def start_cluster(
    root: Path,
    chosen: list[Connector],
    start_timeout: float = 240.0,
    scenarios: list[Scenario] | None = None,
    extra_env: dict[str, str] | None = None,
) -> Cluster:
    """Start the servers and Airflow with ``chosen`` connector files (and the ``scenarios``'
    files, their exports on the FTP server); returns once the API is healthy, both workers are
    registered with the broker and every DAG is parsed. ``extra_env`` adds or overrides settings
    of every Airflow component (bench/parse_scale.py: the dag-processor's stats interval).

    On any failure everything started so far is stopped again before the error propagates.
    """
    from saleslayer_airflow.emulator.server import start_in_thread
    from tests.sources.servers import FtpServer, HttpServer
    from tests.state.postgres import start_postgres

    check_prerequisites()
    cluster = Cluster(root=root, connectors=chosen, scenarios=list(scenarios or []))
    cluster.password = secrets.token_urlsafe(16)
    try:
        began = time.monotonic()
        broker = _start_redis(cluster)
        cluster.postgres = start_postgres()
        _create_databases(cluster.postgres, ["airflow", "saleslayer_state"])
        _start_moto(cluster)
        for account in ACCOUNTS:
            cluster.emulators[account] = start_in_thread(
                root / f"emulator-{account}.sqlite", settings=TRACKING
            )
        (root / "ftproot" / "exports").mkdir(parents=True)
        cluster.ftp = FtpServer(root / "ftproot")
        cluster.http = HttpServer()
        (root / "connectors").mkdir()
        for connector in chosen:
            (root / "connectors" / f"{connector.dag_id}.yaml").write_text(
                connector.yaml(), encoding="utf-8"
            )
            if connector.source == "ftp":
                (root / "ftproot" / "exports" / connector.export_name).write_text(
                    connector.export_csv(), encoding="utf-8"
                )
            else:
                cluster.http.state.files[connector.export_name] = connector.export_csv().encode()
        for scenario in cluster.scenarios:
            (root / "connectors" / f"{scenario.dag_id}.yaml").write_text(
                scenario.yaml(), encoding="utf-8"
            )
            for name, text in scenario.files.items():
                (root / "ftproot" / "exports" / name).write_text(text, encoding="utf-8")
        cluster.timings["servers"] = time.monotonic() - began

        port = free_port()
        cluster.base_url = f"http://127.0.0.1:{port}"
        cluster.env = _airflow_env(cluster, broker, port, _hostname_module(root / "pylib"))
        cluster.env.update(extra_env or {})
        began = time.monotonic()
        cluster.cli("db", "migrate", timeout=600)
        cluster.timings["db migrate"] = time.monotonic() - began

        began = time.monotonic()
        for name in SERVICES:
            cluster.start_component(name, name)
        for name in WORKERS:
            cluster.start_component(
                name, "celery", "worker", "--celery-hostname", f"{name}@cluster",
                "--queues", "default", "--concurrency", str(WORKER_CONCURRENCY),
            )  # fmt: skip
        cluster.wait_for(
            "Airflow's health check", lambda: _healthy(cluster.base_url), start_timeout
        )
        cluster.timings["healthy"] = time.monotonic() - began
        for account in ACCOUNTS:
            answer = cluster.api(
                "POST",
                "/pools",
                json={"name": pool_name(account), "slots": 1, "include_deferred": False},
            )
            if answer.status_code != 201:
                raise ClusterError(f"pool {pool_name(account)}: {answer.text}")
        cluster.wait_for(
            "both Celery workers online", lambda: _workers_online(cluster), start_timeout
        )
        cluster.timings["workers online"] = time.monotonic() - began
        cluster.wait_for("every DAG parsed", lambda: _dags_parsed(cluster), start_timeout)
        cluster.timings["dags parsed"] = time.monotonic() - began
        return cluster
    except BaseException:
        cluster.stop()
        raise


def _workers_online(cluster: Cluster) -> bool:
    """Both workers answer Celery's ping through the broker."""
    from celery import Celery  # type: ignore[import-untyped]  # no stubs installed

    app = Celery(broker=cluster.env["AIRFLOW__CELERY__BROKER_URL"])
    try:
        answers = app.control.ping(timeout=2.0) or []
    except Exception:
        return False
    finally:
        app.close()
    names = {name for answer in answers for name in answer}
    return all(f"{worker}@cluster" in names for worker in WORKERS)


def _dags_parsed(cluster: Cluster) -> bool:
    errors = cluster.get("/importErrors")["import_errors"]
    if errors:
        raise ClusterError(f"the DAG folder has import errors: {errors}")
    wanted = {c.dag_id for c in cluster.connectors} | {s.dag_id for s in cluster.scenarios}
    listed: set[str] = set()
    offset = 0
    # Pages of 100: the API caps `limit` at [api] maximum_page_limit (100 by default).
    while True:
        page = cluster.get("/dags", limit=100, offset=offset, order_by="dag_id")["dags"]
        listed |= {d["dag_id"] for d in page}
        offset += len(page)
        if len(page) < 100:
            return listed >= wanted
