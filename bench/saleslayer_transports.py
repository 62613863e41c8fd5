"""Benchmark: the two Sales Layer transports against the local emulator, over real HTTP.

- Import Connector API (bulk, by reference): N items (default 100,000 products) in calls of up
  to ``--batch`` items; reports items per second, HTTP requests (posts + tracking polls), calls.
- Catalog REST API v2 (one item per call, by id): a smaller N (default 300: 30 categories, 150
  products, 120 variants) under the client's rate limiter; reports items per second, requests,
  lookups per item, and the busiest 10-second window against the 50-per-10-s ceiling.

The emulator is started in this process on a free port with a fresh database; with
``--api-url`` (and ``--rest-url``) the script runs against a server already running instead.
When the emulator package is not installed, the script says so and exits 0.

    .venv/bin/python bench/saleslayer_transports.py
    .venv/bin/python bench/saleslayer_transports.py --items 20000 --rest-items 150
"""

from __future__ import annotations

import argparse
import importlib.util
import logging
import sys
import tempfile
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import httpx

from saleslayer_airflow.saleslayer import (
    BatchLimits,
    ConnectorApiClient,
    ConnectorApiOptions,
    ConnectorCredentials,
    RestCatalogClient,
    RestCredentials,
    RestOptions,
)

CODE = "CN123TEST"
PRIVATE_KEY = "pk-S3cret-Private-Key-4-tests"  # the emulator's default tenant (test values)
API_KEY = "ak-S3cret-Api-Key-4-tests-0042"


@contextmanager
def emulator(settings: dict[str, Any]) -> Iterator[tuple[str, str] | None]:
    """(Import Connector URL, REST base URL) of an emulator started here with a fresh
    database, or None when the emulator package is not there."""
    if importlib.util.find_spec("saleslayer_airflow.emulator.server") is None:
        yield None
        return
    from saleslayer_airflow.emulator.server import run_in_thread

    with (
        tempfile.TemporaryDirectory(prefix="sl-bench-") as folder,
        run_in_thread(Path(folder) / "sl.sqlite", settings=settings) as running,
    ):
        yield running.base_url, running.rest_base_url


class TimedTransport(httpx.HTTPTransport):
    """The network transport, noting when each request leaves (to find the busiest window)."""

    def __init__(self) -> None:
        super().__init__()
        self.times: list[float] = []
        self._lock = threading.Lock()

    def handle_request(self, request: httpx.Request) -> httpx.Response:
        with self._lock:
            self.times.append(time.monotonic())
        return super().handle_request(request)

    def busiest(self, window: float) -> int:
        times = sorted(self.times)
        best, start = 0, 0
        for end, t in enumerate(times):
            while times[start] <= t - window:
                start += 1
            best = max(best, end - start + 1)
        return best


def bench_connector(api_url: str, items: int, batch: int, poll: float) -> None:
    rows = (
        {
            "prod_ref": f"BENCH-{i:07d}",
            "prod_title": {"en": f"Product {i}", "es": f"Producto {i}"},
            "prod_price": f"{i % 1000}.95",
            "prod_tags": ["bench", f"t{i % 7}"],
        }
        for i in range(items)
    )
    options = ConnectorApiOptions(limits=BatchLimits(max_items=batch), poll_interval=poll)
    creds = ConnectorCredentials(api_url, CODE, PRIVATE_KEY)
    with ConnectorApiClient(creds, conn_id="bench", options=options) as api:
        started = time.perf_counter()
        counts = api.upsert("products", rows, ref_field="prod_ref")["products"]
        elapsed = time.perf_counter() - started
        print(f"Import Connector API, {items:,} products, batches of {batch:,}:")
        print(f"  {elapsed:8.2f} s   {items / elapsed:10,.0f} items/s")
        print(
            f"  {api.requests} HTTP requests ({counts.calls} calls + tracking polls); "
            f"created {counts.created:,}, updated {counts.updated:,}"
        )
        started = time.perf_counter()
        again = api.upsert("products", (dict(r) for r in _same(items)), ref_field="prod_ref")
        elapsed = time.perf_counter() - started
        print(
            f"  re-send unchanged: {elapsed:.2f} s, created {again['products'].created}, "
            f"updated {again['products'].updated}"
        )


def _same(items: int) -> Iterator[dict[str, Any]]:
    for i in range(items):
        yield {
            "prod_ref": f"BENCH-{i:07d}",
            "prod_title": {"en": f"Product {i}", "es": f"Producto {i}"},
            "prod_price": f"{i % 1000}.95",
            "prod_tags": ["bench", f"t{i % 7}"],
        }


def bench_rest(rest_url: str, items: int) -> None:
    cats = max(1, items // 10)
    prods = max(1, items // 2)
    variants = max(0, items - cats - prods)
    log = TimedTransport()
    creds = RestCredentials(rest_url, API_KEY)
    with RestCatalogClient(creds, conn_id="bench", options=RestOptions(), transport=log) as rest:
        started = time.perf_counter()
        rest.push(
            categories=[
                {
                    "cat_ref": f"BC{i}",
                    "cat_title": {"en": f"Cat {i}"},
                    "cat_parent_ref": f"BC{(i - 1) // 3}" if i else "",
                }
                for i in range(cats)
            ],
            products=[
                {
                    "prod_ref": f"BP{i}",
                    "prod_title": {"en": f"Prod {i}"},
                    "cat_ref": f"BC{i % cats}",
                }
                for i in range(prods)
            ],
            variants=[
                {"frmt_ref": f"BV{i}", "prod_ref": f"BP{i % prods}", "size": str(36 + i % 10)}
                for i in range(variants)
            ],
        )
        elapsed = time.perf_counter() - started
        limit, window = rest.options.max_requests, rest.options.window
        print(
            f"Catalog REST API, {items} items ({cats} categories, {prods} products, "
            f"{variants} variants), limiter {limit}/{window:.0f} s:"
        )
        print(f"  {elapsed:8.2f} s   {items / elapsed:10,.2f} items/s")
        print(
            f"  {rest.requests} HTTP requests, {rest.lookups} lookups "
            f"({rest.lookups / items:.3f} per item), {rest.requests / items:.3f} requests/item"
        )
        busiest = log.busiest(window)
        print(
            f"  busiest {window:.0f}-s window: {busiest} requests "
            f"({busiest / 50:.0%} of the 50-per-10-s ceiling)"
        )
    origin = httpx.URL(rest_url).copy_with(path="/_emulator/stats", query=None)
    stats = httpx.get(origin)
    if stats.is_success:  # an emulator: it counted the 429s it had to send
        print(f"  429 answers from the server: {stats.json().get('total_429')}")


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--items", type=int, default=100_000)
    parser.add_argument("--batch", type=int, default=10_000)
    parser.add_argument("--poll", type=float, default=0.2, help="tracking poll interval (s)")
    parser.add_argument("--rest-items", type=int, default=300)
    parser.add_argument("--api-url", help="a running Import Connector API instead of the emulator")
    parser.add_argument("--rest-url", help="a running Catalog REST API base URL")
    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.WARNING)

    def run(api_url: str, rest_url: str) -> None:
        bench_connector(api_url, args.items, args.batch, args.poll)
        if args.rest_items:
            bench_rest(rest_url, args.rest_items)

    if args.api_url:
        run(args.api_url, args.rest_url or args.api_url.rstrip("/") + "/catalog/rest/Catalog/")
        return 0
    with emulator({}) as urls:
        if urls is None:
            print(
                "skipped: the Sales Layer emulator (saleslayer_airflow.emulator.server) is not "
                "installed; pass --api-url/--rest-url to run against a running server"
            )
            return 0
        run(*urls)
    return 0


if __name__ == "__main__":
    sys.exit(main())
