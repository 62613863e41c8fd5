"""The soak: one generated catalog pushed through a transport twice, fault-free and with faults.

Each run gets a fresh emulator (in a thread, or in a subprocess so that client and server do not
share one interpreter lock). The faulty run serves every fault kind of the routes the transport
uses (429, 5xx, slow past the client's timeout, dropped connections, the legacy codes 10/11/14
and failing import jobs for the Import Connector API). When both runs are over and the emulator
is quiet (no request in flight, no import job open), both stores are dumped and compared table by
table by reference (:mod:`saleslayer_airflow.emulator.compare`), and every generated reference
must be held by exactly one live item.

``bench/soak.py`` runs it at scale and prints the figures; ``tests/soak`` runs it small.
"""

from __future__ import annotations

import logging
import socket
import subprocess
import sys
import tempfile
import threading
import time
from collections import Counter
from collections.abc import Callable, Iterator, Sequence
from concurrent.futures import ThreadPoolExecutor
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal

import httpx

from saleslayer_airflow.emulator.compare import TableState, check_references, diff_table
from saleslayer_airflow.emulator.jobs import FAILED_BY_FAULT
from saleslayer_airflow.emulator.soak_catalog import SoakTable, generate
from saleslayer_airflow.exceptions import SalesLayerApiError, SalesLayerTerminalError
from saleslayer_airflow.saleslayer import (
    CATEGORIES,
    PRODUCTS,
    VARIANTS,
    BatchLimits,
    ConnectorApiClient,
    ConnectorApiOptions,
    ConnectorCredentials,
    EntitySet,
    RestCatalogClient,
    RestCredentials,
    RestOptions,
    RetryPolicy,
    SlidingWindowLimiter,
    custom_entity,
)

Transport = Literal["connector_api", "rest"]
EmulatorMode = Literal["thread", "process"]

# The emulator's default tenant (test values, never real ones).
CODE = "CN123TEST"
PRIVATE_KEY = "pk-S3cret-Private-Key-4-tests"
API_KEY = "ak-S3cret-Api-Key-4-tests-0042"

CONNECTOR_FAULTS = ("429", "5xx", "slow", "drop", "error_10", "error_11", "error_14")
REST_FAULTS = ("429", "5xx", "slow", "drop")
_RETRY_LOGGERS = (
    "saleslayer_airflow.saleslayer.connector_api",
    "saleslayer_airflow.saleslayer.rest_api",
)


@dataclass(frozen=True)
class SoakOptions:
    """How a soak runs.

    ``fault_rate`` is shared evenly by the fault kinds of each route the transport uses;
    ``job_failure_rate`` (Import Connector API) is the share of accepted imports whose job ends
    in error; ``retry_after`` is the ``Retry-After`` of fault 429s; ``timeout`` the clients'
    HTTP timeout (slow faults answer ``slow_margin`` seconds later than that). ``retry``: ten
    attempts with short backoff, because retried requests meet faults too: at a sustained 10%
    the clients' default five attempts give up about once in 100,000 operations, which a soak
    of 200,000 items would report as a failure that production never sees at that fault rate.
    """

    items: int = 2_000
    seed: int = 1
    fault_rate: float = 0.1
    job_failure_rate: float = 0.1
    batch: int = 500
    rest_workers: int = 4
    timeout: float = 2.0
    slow_margin: float = 1.0
    retry_after: float = 1.0
    poll_interval: float = 0.05
    emulator: EmulatorMode = "thread"
    rest_limit: int = 100_000
    """Requests per 10 s of both the emulator's REST limit and the client's limiter: raised for
    soaks only (Sales Layer allows 50), so that the run measures faults, not the ceiling."""
    job_resends: int = 10
    retry: RetryPolicy = field(
        default_factory=lambda: RetryPolicy(
            attempts=10, initial=0.05, maximum=2.0, jitter=0.05, max_retry_after=30.0
        )
    )


# ---------------------------------------------------------------------------- emulators


@dataclass
class EmulatorHandle:
    """An emulator started for one run, driven through its admin routes only."""

    base_url: str
    stop: Callable[[], None]
    http: httpx.Client = field(init=False)

    def __post_init__(self) -> None:
        self.http = httpx.Client(base_url=self.base_url, timeout=600)

    @property
    def rest_base_url(self) -> str:
        """The Catalog REST API v2 base."""
        return f"{self.base_url}/catalog/rest/Catalog/"

    def admin(self, method: str, path: str, **kwargs: Any) -> Any:
        """One admin call's JSON answer."""
        response = self.http.request(method, f"/_emulator/{path}", **kwargs)
        response.raise_for_status()
        return response.json()

    def wait_quiet(self, timeout: float = 120.0) -> None:
        """Wait until no API request is in flight and no import job is open (orphans of
        requests a client gave up on finish first)."""
        deadline = time.monotonic() + timeout
        while True:
            busy = self.admin("GET", "stats")["in_flight"] + self.admin("GET", "jobs")["open"]
            if not busy:
                return
            if time.monotonic() > deadline:
                raise TimeoutError(f"the emulator at {self.base_url} is still busy ({busy})")
            time.sleep(0.1)

    def close(self) -> None:
        """Stop the emulator."""
        self.http.close()
        self.stop()


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def _answers(handle: EmulatorHandle) -> bool:
    try:
        handle.admin("GET", "health")
    except httpx.HTTPError:
        return False
    return True


@contextmanager
def start_emulator(folder: Path, mode: EmulatorMode) -> Iterator[EmulatorHandle]:
    """A fresh emulator with its own data file, in a thread or a subprocess."""
    data = folder / f"sl-{time.monotonic_ns()}.sqlite"
    if mode == "thread":
        from saleslayer_airflow.emulator.server import start_in_thread

        running = start_in_thread(data)
        handle = EmulatorHandle(running.base_url, running.stop)
    else:
        port = _free_port()
        command = [sys.executable, "-m", "saleslayer_airflow.emulator"]
        process = subprocess.Popen(
            [*command, "--port", str(port), "--data", str(data)],
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )

        def stop() -> None:
            process.terminate()
            process.wait(timeout=30)

        handle = EmulatorHandle(f"http://127.0.0.1:{port}", stop)
        deadline = time.monotonic() + 30
        while not _answers(handle):
            if process.poll() is not None or time.monotonic() > deadline:
                handle.close()
                raise RuntimeError(f"the emulator subprocess did not start on port {port}")
            time.sleep(0.1)
    try:
        yield handle
    finally:
        handle.close()


def run_settings(options: SoakOptions, transport: Transport, *, faulty: bool) -> dict[str, Any]:
    """Emulator settings of one run: quick time-driven jobs, the raised REST limit, and, for
    the faulty run, every fault kind of the transport's routes."""
    settings: dict[str, Any] = {
        # Jobs also move on by time, so those of calls a client gave up on (slow faults) end.
        "tracking": {
            "steps_to_end": 2,
            "seconds_per_step": options.poll_interval,
            "tick_seconds": max(options.poll_interval, 0.01),
        },
        "rate_limit": {"enabled": True, "requests": options.rest_limit, "window_seconds": 10},
    }
    if not faulty:
        return settings
    slow = options.timeout + options.slow_margin

    def route(kinds: Sequence[str], seed: int, **extra: Any) -> dict[str, Any]:
        shares = {f"share_{kind}": options.fault_rate / len(kinds) for kind in kinds}
        # Every kind once first (a normal answer between two), however small the run; then
        # the random shares.
        script = [step for kind in kinds for step in (kind, "ok")] if options.fault_rate else []
        return {
            "seed": seed,
            "script": script,
            "slow_seconds": slow,
            "retry_after_seconds": options.retry_after,
            **shares,
            **extra,
        }

    if transport == "connector_api":
        settings["faults"] = {
            "connector_api": route(CONNECTOR_FAULTS, options.seed),
            "tracking": route(
                CONNECTOR_FAULTS, options.seed + 1, job_failure_share=options.job_failure_rate
            ),
        }
    else:
        settings["faults"] = {"rest": route(REST_FAULTS, options.seed + 2)}
    return settings


# ---------------------------------------------------------------------------- retries seen


class RetryLog(logging.Handler):
    """Counts the clients' "attempt n failed, retrying in w s" records by cause, and checks
    that every retry of a 429 waited at least what ``Retry-After`` asked. It reads the record
    :func:`saleslayer_airflow.saleslayer.retry.retrying` logs before each wait (its arguments:
    what, attempt, attempts, wait, error)."""

    def __init__(self) -> None:
        super().__init__(logging.WARNING)
        self.by_cause: Counter[str] = Counter()
        self.retry_after_honoured = 0
        self.retry_after_ignored = 0
        self._lock_counts = threading.Lock()

    def emit(self, record: logging.LogRecord) -> None:
        args = record.args
        if not (isinstance(args, tuple) and len(args) == 5 and "retrying in" in record.msg):
            return
        wait, error = args[3], args[4]
        if not isinstance(error, SalesLayerApiError) or not isinstance(wait, int | float):
            return
        if error.status is not None:
            cause = f"HTTP {error.status}"
        elif error.code is not None:
            cause = f"code {error.code}"
        else:
            cause = "timeout" if "timed out" in str(error) else "connection"
        with self._lock_counts:
            self.by_cause[cause] += 1
            if error.status == 429 and error.retry_after is not None:
                if wait + 1e-6 >= error.retry_after:
                    self.retry_after_honoured += 1
                else:
                    self.retry_after_ignored += 1

    @property
    def total(self) -> int:
        """Retries seen."""
        return sum(self.by_cause.values())


@contextmanager
def watching_retries() -> Iterator[RetryLog]:
    """A :class:`RetryLog` on the clients' loggers; their records go nowhere else meanwhile."""
    handler = RetryLog()
    loggers = [logging.getLogger(name) for name in _RETRY_LOGGERS]
    saved = [(lg.propagate, lg.level) for lg in loggers]
    for lg in loggers:
        lg.addHandler(handler)
        lg.propagate = False
        lg.setLevel(logging.WARNING)
    try:
        yield handler
    finally:
        for lg, (propagate, level) in zip(loggers, saved, strict=True):
            lg.removeHandler(handler)
            lg.propagate = propagate
            lg.setLevel(level)


# ---------------------------------------------------------------------------- transports


@dataclass
class PushFigures:
    """What one push did, seen from the client side."""

    seconds: float = 0.0
    client_requests: int = 0
    job_resends: int = 0


def push_connector(url: str, catalog: Sequence[SoakTable], options: SoakOptions) -> PushFigures:
    """Every table through the Import Connector API, in batches of ``options.batch``. A batch
    whose import job ended in error (the emulated job failure: nothing was written) is sent
    again, as the push stage's task retry would."""
    figures = PushFigures()
    client_options = ConnectorApiOptions(
        timeout=options.timeout,
        limits=BatchLimits(max_items=options.batch),
        poll_interval=options.poll_interval,
        tracking_timeout=600.0,
        retry=options.retry,
    )
    credentials = ConnectorCredentials(url, CODE, PRIVATE_KEY)
    started = time.perf_counter()
    with ConnectorApiClient(credentials, conn_id="soak", options=client_options) as client:
        for table in catalog:
            for start in range(0, len(table.rows), options.batch):
                chunk = table.rows[start : start + options.batch]
                for attempt in range(options.job_resends + 1):
                    try:
                        client.upsert(table.import_name, chunk, ref_field=table.ref_field)
                        break
                    except SalesLayerTerminalError as exc:
                        if FAILED_BY_FAULT not in str(exc) or attempt == options.job_resends:
                            raise
                        figures.job_resends += 1
        figures.client_requests = client.requests
    figures.seconds = time.perf_counter() - started
    return figures


def _entity(table: SoakTable) -> EntitySet:
    if table.custom:
        return custom_entity(table.rest_set, table.prefix)
    return {"Categories": CATEGORIES, "Products": PRODUCTS, "Variants": VARIANTS}[table.rest_set]


def push_rest(url: str, catalog: Sequence[SoakTable], options: SoakOptions) -> PushFigures:
    """Every table through the Catalog REST API, one table after the other. Categories go
    through one client (their tree needs parents first); the rows of other tables are split
    among ``rest_workers`` clients in threads, which share one rate limiter as clients of one
    API key do."""
    figures = PushFigures()
    limiter = SlidingWindowLimiter(options.rest_limit * 9 // 10, 10.0)
    client_options = RestOptions(
        timeout=options.timeout,
        retry=options.retry,
        max_requests=limiter.max_requests,
        window=limiter.window,
    )
    credentials = RestCredentials(url, API_KEY)
    lock = threading.Lock()

    def push_part(entity: EntitySet, rows: list[dict[str, Any]]) -> None:
        with RestCatalogClient(
            credentials, conn_id="soak", options=client_options, limiter=limiter
        ) as client:
            try:
                client.upsert(entity, rows)
            finally:
                with lock:
                    figures.client_requests += client.requests

    started = time.perf_counter()
    for table in catalog:
        entity = _entity(table)
        workers = 1 if entity == CATEGORIES else max(1, options.rest_workers)
        size = -(-len(table.rows) // workers)
        parts = [table.rows[i : i + size] for i in range(0, len(table.rows), size)]
        with ThreadPoolExecutor(max_workers=len(parts)) as pool:
            for future in [pool.submit(push_part, entity, part) for part in parts]:
                future.result()
    figures.seconds = time.perf_counter() - started
    return figures


# ---------------------------------------------------------------------------- one run, the soak


@dataclass
class RunResult:
    """One push of the catalog into a fresh emulator, and the state it left."""

    faulty: bool
    push: PushFigures
    states: dict[str, TableState]
    server: dict[str, Any]
    retries: Counter[str]
    retry_after_honoured: int
    retry_after_ignored: int


@dataclass
class SoakResult:
    """A transport's two runs and how their final states compare."""

    transport: Transport
    items: int
    clean: RunResult
    faulty: RunResult
    differences: list[str]
    lost: int
    duplicated: int
    faults_expected: tuple[str, ...]

    @property
    def faults_served(self) -> dict[str, int]:
        """Faults the faulty run's emulator served, by ``<route> <kind>``."""
        return dict(self.faulty.server["faults"])

    @property
    def ok(self) -> bool:
        """Identical states, nothing lost or duplicated, every 429 retry waited as asked."""
        return (
            not self.differences
            and not self.lost
            and not self.duplicated
            and not self.faulty.retry_after_ignored
        )


def run_once(
    transport: Transport,
    catalog: Sequence[SoakTable],
    options: SoakOptions,
    folder: Path,
    *,
    faulty: bool,
) -> RunResult:
    """Push the catalog into a fresh emulator and read back its state and counters."""
    with start_emulator(folder, options.emulator) as emulator, watching_retries() as retries:
        emulator.admin("POST", "settings", json=run_settings(options, transport, faulty=faulty))
        push = push_connector if transport == "connector_api" else push_rest
        url = emulator.base_url if transport == "connector_api" else emulator.rest_base_url
        figures = push(url, catalog, options)
        emulator.wait_quiet(timeout=options.timeout + options.slow_margin + 120)
        states = {
            table.import_name: TableState.of(
                emulator.admin("GET", f"tables/{table.import_name}")["items"]
            )
            for table in catalog
        }
        server = emulator.admin("GET", "stats")
    return RunResult(
        faulty,
        figures,
        states,
        server,
        retries.by_cause,
        retries.retry_after_honoured,
        retries.retry_after_ignored,
    )


def soak(transport: Transport, options: SoakOptions, folder: Path | None = None) -> SoakResult:
    """Run the fault-free and the faulty push of one generated catalog and compare them."""
    catalog = generate(options.items, options.seed)
    with tempfile.TemporaryDirectory(prefix="sl-soak-") as scratch:
        where = folder or Path(scratch)
        clean = run_once(transport, catalog, options, where, faulty=False)
        faulty = run_once(transport, catalog, options, where, faulty=True)
    differences: list[str] = []
    lost = duplicated = 0
    for table in catalog:
        name = table.import_name
        for label, run in (("fault-free", clean), ("faulty", faulty)):
            refs = check_references(name, run.states[name], table.refs())
            lost += len(refs.missing)
            duplicated += len(refs.duplicated)
            differences += [
                f"{label} run: {line}" for line in refs.describe(run.states[name], run.states[name])
            ]
        diff = diff_table(name, clean.states[name], faulty.states[name])
        differences += [
            f"faulty vs fault-free: {line}"
            for line in diff.describe(clean.states[name], faulty.states[name])
            if "duplicated" not in line  # counted above
        ]
    kinds = CONNECTOR_FAULTS if transport == "connector_api" else REST_FAULTS
    return SoakResult(transport, options.items, clean, faulty, differences, lost, duplicated, kinds)


def figures(result: SoakResult) -> list[str]:
    """The figures of a soak as printable lines."""
    lines = [f"== {result.transport}: {result.items:,} items =="]
    for run in (result.clean, result.faulty):
        push = run.push
        label = "with faults" if run.faulty else "fault-free "
        rate = result.items / push.seconds if push.seconds else 0.0
        lines.append(
            f"  {label}: {push.seconds:8.1f} s  {rate:8,.0f} items/s  "
            f"{push.client_requests:,} client requests, {run.server['total']:,} served "
            f"({', '.join(f'{k} {v:,}' for k, v in sorted(run.server['by_route'].items()))})"
        )
        if run.faulty:
            served = ", ".join(f"{k} {v}" for k, v in sorted(run.server["faults"].items()))
            retried = ", ".join(f"{k} {v}" for k, v in sorted(run.retries.items()))
            lines.append(f"    faults served: {sum(run.server['faults'].values()):,} ({served})")
            lines.append(
                f"    failed import jobs re-sent: {push.job_resends}; "
                f"retries {sum(run.retries.values()):,} ({retried})"
            )
            lines.append(
                f"    429 retries that waited Retry-After: {run.retry_after_honoured}, "
                f"that did not: {run.retry_after_ignored}"
            )
        elif run.retries:
            lines.append(f"    retries without faults: {dict(run.retries)}")
    lines.append(
        f"  final states: {'identical' if not result.differences else 'DIFFERENT'}; "
        f"lost {result.lost}, duplicated {result.duplicated}"
    )
    lines += [f"  ! {line}" for line in result.differences[:40]]
    return lines
