"""Fetch a generated 1 GB export over HTTP and over FTP from local servers, in a fresh process
each, and print the fetching process's peak RSS (the goal: flat, whatever the file size) and the
throughput.

    .venv/bin/python bench/fetch_memory.py [--size-mb 1024]

The servers (the test suite's HTTP server and pyftpdlib) run in this process; the fetch runs in
a child process through the same code the fetch task uses (HttpHook / FTPHook, streamed into an
ObjectStoragePath staging folder), so its RSS is the fetch's alone.
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]

CHILD = r"""
import json, resource, sys, time
from airflow.sdk import ObjectStoragePath
from saleslayer_airflow.config.sources import FtpSource, HttpSource

kind, landed_dir = sys.argv[1], sys.argv[2]
landed = ObjectStoragePath(landed_dir)
before = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
started = time.perf_counter()
if kind == "http":
    from saleslayer_airflow.sources.http import fetch_http
    source = HttpSource.model_validate(
        {"kind": "http", "conn_id": "bench_http", "endpoint": sys.argv[3]}
    )
    files = fetch_http(source, landed)
else:
    from saleslayer_airflow.sources.base import fetch_from_server
    from saleslayer_airflow.sources.ftp import ftp_server
    source = FtpSource.model_validate(
        {"kind": "ftp", "conn_id": "bench_ftp", "path": sys.argv[3], "stable_for": 0}
    )
    with ftp_server("bench_ftp", tls=False) as ftp:
        files = fetch_from_server(ftp, source, landed)
seconds = time.perf_counter() - started
peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
print(json.dumps({"bytes": files[0].size, "seconds": seconds,
                  "rss_before_kb": before, "peak_rss_kb": peak}))
"""


def _child(kind: str, landed: Path, target: str, env: dict[str, str]) -> dict[str, float]:
    done = subprocess.run(
        [sys.executable, "-c", CHILD, kind, landed.as_uri(), target],
        env=env, capture_output=True, text=True, check=True, cwd=ROOT,
    )  # fmt: skip
    return json.loads(done.stdout.strip().splitlines()[-1])  # type: ignore[no-any-return]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--size-mb", type=int, default=1024)
    size = parser.parse_args().size_mb * 1024 * 1024
    sys.path.insert(0, str(ROOT))
    from tests.sources.servers import FtpServer, HttpServer

    env = {
        **os.environ,
        "AIRFLOW_HOME": tempfile.mkdtemp(prefix="bench-airflow-"),
        "AIRFLOW__CORE__LOAD_EXAMPLES": "False",
        "PYTHONWARNINGS": "ignore",
    }
    with tempfile.TemporaryDirectory(prefix="bench-fetch-") as scratch:
        work = Path(scratch)
        exports = work / "ftproot" / "exports"
        exports.mkdir(parents=True)
        block = (b"sku,name,price\n" + b"A" * 1009 + b"\n") * 1024
        with (exports / "big.csv").open("wb") as out:
            left = size
            while left > 0:
                out.write(block[:left])
                left -= len(block)
        http, ftp = HttpServer(), FtpServer(work / "ftproot")
        env["AIRFLOW_CONN_BENCH_HTTP"] = http.conn()
        env["AIRFLOW_CONN_BENCH_FTP"] = ftp.conn()
        try:
            results = {
                "http": _child("http", work / "landed-http", f"big/{size}", env),
                "ftp": _child("ftp", work / "landed-ftp", "/exports/big.csv", env),
            }
        finally:
            http.stop()
            ftp.stop()
    print(f"{'protocol':<9}{'size':>10}{'seconds':>9}{'MB/s':>8}{'RSS before':>12}{'peak RSS':>10}")
    for kind, r in results.items():
        assert r["bytes"] == size, (kind, r)
        print(
            f"{kind:<9}{size / 2**20:>8.0f}MB{r['seconds']:>9.1f}"
            f"{size / 2**20 / r['seconds']:>8.0f}"
            f"{r['rss_before_kb'] / 1024:>10.0f}MB{r['peak_rss_kb'] / 1024:>8.0f}MB"
        )


if __name__ == "__main__":
    main()
