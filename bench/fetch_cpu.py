"""CPU of the HTTP fetch beside its floor: the same download as bare as Python can do it.

    .venv/bin/python bench/fetch_cpu.py --file .bench/data/flat_1000000.csv [--runs 3]

A ``python -m http.server`` (a subprocess, so its CPU is not counted) publishes the file; this
process alternates ``fetch_http`` (HttpHook, streamed into an ObjectStoragePath staging folder,
size and SHA-256 computed, the checks of the fetch stage) with the floor: one ``requests`` GET
read with ``readinto`` into one reused buffer, hashed with SHA-256 and written to a new file.
User and system CPU (``getrusage``) are printed per run, and the medians.

On a virtual machine the system CPU of writing a new file (the kernel filling fresh page-cache
pages) varies from run to run by a factor of ten whatever writes it: compare the pairs, not one
run. ``bench/pipeline.py``'s fetch_source figure compares with ``fetch_http`` here: it leaves
out Airflow's in-process Execution API (built before the DAG run by ``airflow_launcher.py``)
but still holds the task's own start (rendering, the connection lookup, the first imports)
that this script's warm-up run leaves out.
"""

from __future__ import annotations

import argparse
import hashlib
import os
import resource
import shutil
import socket
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path

CONN_ID = "bench_fetch_cpu"
CHUNK = 1024 * 1024


def _free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


def _wait_for(port: int, timeout: float = 10.0) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        try:
            socket.create_connection(("127.0.0.1", port), timeout=0.5).close()
            return
        except OSError:
            time.sleep(0.05)
    raise SystemExit(f"http.server did not listen on 127.0.0.1:{port} within {timeout:.0f} s")


def _pairs(
    ours: Callable[[int], str], floor: Callable[[int], str]
) -> tuple[tuple[str, Callable[[int], str]], ...]:
    return (("fetch_http", ours), ("floor", floor))


def _cpu() -> tuple[float, float]:
    usage = resource.getrusage(resource.RUSAGE_SELF)
    return usage.ru_utime, usage.ru_stime


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--file", type=Path, required=True, help="the file to publish and fetch")
    parser.add_argument("--runs", type=int, default=3, help="pairs of runs (default 3)")
    args = parser.parse_args()
    export = args.file.resolve()
    if not export.is_file():
        raise SystemExit(f"{export}: no such file (bench/pipeline.py caches exports in .bench/)")

    port = _free_port()
    os.environ[f"AIRFLOW_CONN_{CONN_ID.upper()}"] = f"http://127.0.0.1:{port}/"
    server = subprocess.Popen(
        [sys.executable, "-m", "http.server", str(port), "--bind", "127.0.0.1"],
        cwd=export.parent,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    out = Path(tempfile.mkdtemp(prefix="fetch-cpu-"))
    try:
        _wait_for(port)
        return _measure(export, port, out, args.runs)
    finally:
        server.terminate()
        server.wait(timeout=10)
        shutil.rmtree(out, ignore_errors=True)


def _measure(export: Path, port: int, out: Path, runs: int) -> int:
    import requests
    from airflow.sdk import ObjectStoragePath

    from saleslayer_airflow.config.sources import HttpSource
    from saleslayer_airflow.sources.http import fetch_http

    source = HttpSource.model_validate(
        {"kind": "http", "conn_id": CONN_ID, "endpoint": export.name}
    )
    url = f"http://127.0.0.1:{port}/{export.name}"
    expected = hashlib.sha256()
    with export.open("rb") as handle:
        while block := handle.read(CHUNK):
            expected.update(block)

    def ours(run: int) -> str:
        landed = fetch_http(source, ObjectStoragePath((out / f"ours-{run}").as_uri()))
        return landed[0].sha256

    def floor(run: int) -> str:
        buffer = bytearray(CHUNK)
        view = memoryview(buffer)
        digest = hashlib.sha256()
        with (
            requests.get(url, stream=True, timeout=60) as response,
            (out / f"floor-{run}.csv").open("wb", buffering=0) as target,
        ):
            raw = response.raw._fp  # http.client's response: no urllib3 chunk objects
            assert raw is not None
            while count := raw.readinto(buffer):
                digest.update(view[:count])
                target.write(view[:count])
        return digest.hexdigest()

    ours(-1)  # imports, the connection lookup and the first page-cache pages are not measured
    figures: dict[str, list[tuple[float, float, float]]] = {"fetch_http": [], "floor": []}
    for run in range(runs):
        for name, fetch in _pairs(ours, floor):
            user0, sys0 = _cpu()
            wall0 = time.perf_counter()
            checksum = fetch(run)
            wall = time.perf_counter() - wall0
            user1, sys1 = _cpu()
            if checksum != expected.hexdigest():
                raise SystemExit(f"{name}: SHA-256 {checksum} differs from the file's")
            figures[name].append((wall, user1 - user0, sys1 - sys0))
            print(
                f"{name:10s} run {run + 1}: wall {wall:5.2f} s  user {user1 - user0:5.2f} s  "
                f"system {sys1 - sys0:5.2f} s",
                flush=True,
            )
    size_mb = export.stat().st_size / 1e6
    print(f"\nmedians, {size_mb:.0f} MB")
    for name, rows in figures.items():
        wall, user, system = (statistics.median(column) for column in zip(*rows, strict=True))
        print(f"{name:10s} wall {wall:5.2f} s  user {user:5.2f} s  system {system:5.2f} s")
    return 0


if __name__ == "__main__":
    sys.exit(main())
