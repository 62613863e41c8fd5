"""How many Import Connector items per second the emulator applies.

    .venv/bin/python bench/emulator_throughput.py                    # 200,000 items
    .venv/bin/python bench/emulator_throughput.py --items 20000 --profile emu.prof
    .venv/bin/python bench/emulator_throughput.py --tracking-steps 2  # tracked, as in the demo

The emulator runs in its own process (``python -m saleslayer_airflow.emulator``, the default
tenant, a new SQLite file, ``tracking.steps_to_end: 0`` so each call is applied as it arrives,
as in ``bench/pipeline.py``; ``--tracking-steps N`` makes each call a tracked job that ends after
N status polls, the way the real service and the demo answer), so its CPU is its own. The items
are shaped like those ``../shared/bench/flat_http.yaml`` pushes: 296 categories (a three-level
tree, parents linked), products (titles and descriptions in two languages, one category), and
five variants per product (``prod_ref`` link, size, colour, price, EAN), each item's reference
under ``REF`` as the push sends it (``reference_field``'s default). They are encoded and
sent by the project's own client (:class:`ConnectorApiClient`: PHP bracket form, signed, one
tracking poll per call), in calls of ``--batch-size`` items. Encoding happens before the clock
starts: the figures are the emulator's.

Two passes over the same references: the first import (every item created), then an update
(every item's title, price and EAN changed). Each pass prints items per second over its wall time
and per second of the emulator process's CPU, and checks the counts the emulator answered; at
the end the live items of its store are counted. Exit code 1 when a check fails.
``--profile FILE`` runs the emulator under cProfile and prints its top functions at the end.
"""

from __future__ import annotations

import argparse
import json
import os
import pstats
import signal
import socket
import subprocess
import sys
import tempfile
import time
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx

from saleslayer_airflow.saleslayer.batching import BatchLimits
from saleslayer_airflow.saleslayer.connector_api import (
    ConnectorApiClient,
    ConnectorApiOptions,
    ImportCounts,
    PlannedCall,
)
from saleslayer_airflow.saleslayer.credentials import ConnectorCredentials
from saleslayer_airflow.saleslayer.form import Row

CODE = "CN123TEST"
PRIVATE_KEY = "pk-S3cret-Private-Key-4-tests"  # the default tenant's test key, not a secret
SIZES = ("XS", "S", "M", "L", "XL")
COLOURS = ("black", "white", "navy", "red", "green", "grey")
VARIANTS_PER_PRODUCT = 5


class BenchError(Exception):
    """The benchmark could not run or the emulator answered something unexpected."""


def category_rows() -> list[Row]:
    """8 x 6 x 5 categories (296), parents before children."""
    rows: list[Row] = []
    for a in range(8):
        top = f"C{a}"
        rows.append({"REF": top, "cat_title": {"en": f"Department {a}", "es": f"Dept {a}"}})
        for b in range(6):
            mid = f"{top}-{b}"
            rows.append({"REF": mid, "cat_parent_ref": top, "cat_title": {"en": f"Family {a}.{b}"}})
            for c in range(5):
                rows.append(
                    {
                        "REF": f"{mid}-{c}",
                        "cat_parent_ref": mid,
                        "cat_title": {"en": f"Line {a}.{b}.{c}", "es": f"Linea {a}.{b}.{c}"},
                    }
                )
    return rows


def leaf_category(product: int) -> str:
    """The leaf category of a product, spread over the 240 leaves."""
    return f"C{product % 8}-{(product // 8) % 6}-{(product // 48) % 5}"


def product_rows(count: int, *, edition: int) -> list[Row]:
    """Products as the flat export's connector sends them; ``edition`` changes the texts."""
    suffix = "" if edition == 0 else f" (rev {edition})"
    return [
        {
            "REF": f"P{p:07d}",
            "cat_ref": [leaf_category(p)],
            "prod_title": {"en": f"Product {p}{suffix}", "es": f"Producto {p}{suffix}"},
            "prod_description": {
                "en": f"A fine product number {p}, made to last.{suffix}",
                "es": f"Un buen producto numero {p}, hecho para durar.{suffix}",
            },
        }
        for p in range(count)
    ]


def variant_rows(products: int, count: int, *, edition: int) -> list[Row]:
    """Five variants per product (the last product may get fewer); ``edition`` changes prices."""
    rows: list[Row] = []
    for v in range(count):
        p = v // VARIANTS_PER_PRODUCT % products
        rows.append(
            {
                "REF": f"P{p:07d}-{SIZES[v % VARIANTS_PER_PRODUCT]}-{v:08d}",
                "prod_ref": f"P{p:07d}",
                "size": SIZES[v % VARIANTS_PER_PRODUCT],
                "color": {"en": COLOURS[p % len(COLOURS)]},
                "frmt_price": f"{(v % 9000) / 100 + 5 + edition:.2f}",
                "frmt_ean": f"{8400000000000 + v * 7 + edition:013d}",
            }
        )
    return rows


def free_port() -> int:
    """A port nobody listens on now (the emulator binds it a moment later)."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def process_cpu(pid: int) -> float:
    """User + system CPU seconds of a process so far, from ``/proc``."""
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    ticks = os.sysconf("SC_CLK_TCK")
    return (int(fields[11]) + int(fields[12])) / ticks


@dataclass
class Emulator:
    """An emulator process on 127.0.0.1."""

    process: subprocess.Popen[bytes]
    port: int

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def cpu(self) -> float:
        return process_cpu(self.process.pid)

    def stop(self) -> None:
        # SIGINT: uvicorn shuts down cleanly, so cProfile (when on) writes its file.
        self.process.send_signal(signal.SIGINT)
        try:
            self.process.wait(timeout=30)
        except subprocess.TimeoutExpired:
            self.process.kill()
            self.process.wait()


def start_emulator(workdir: Path, profile: Path | None, tracking_steps: int = 0) -> Emulator:
    """Start the emulator process and wait until it answers."""
    settings = workdir / "settings.yaml"
    settings.write_text(
        json.dumps({"tracking": {"steps_to_end": tracking_steps, "seconds_per_step": 0}}),
        encoding="utf-8",
    )
    port = free_port()
    command = [sys.executable]
    if profile is not None:
        command += ["-m", "cProfile", "-o", str(profile)]
    command += [
        "-m",
        "saleslayer_airflow.emulator",
        "--data",
        str(workdir / "sl.sqlite"),
        "--settings",
        str(settings),
        "--port",
        str(port),
    ]
    log = (workdir / "emulator.log").open("wb")
    process = subprocess.Popen(command, stdout=log, stderr=subprocess.STDOUT)
    emulator = Emulator(process, port)
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise BenchError(
                f"the emulator exited with code {process.returncode}; see {workdir}/emulator.log"
            )
        try:
            httpx.get(f"{emulator.url}/_emulator/stats", timeout=1)
            return emulator
        except httpx.TransportError:
            time.sleep(0.1)
    emulator.stop()
    raise BenchError(f"the emulator did not answer on port {port} within 30 s")


@dataclass
class Pass:
    """Figures of one pass (first import or update)."""

    name: str
    items: int
    calls: int
    wall: float
    emulator_cpu: float
    counts: dict[str, ImportCounts]

    def as_dict(self) -> dict[str, Any]:
        return {
            "pass": self.name,
            "items": self.items,
            "calls": self.calls,
            "wall_s": round(self.wall, 3),
            "emulator_cpu_s": round(self.emulator_cpu, 3),
            "items_per_s_wall": round(self.items / self.wall),
            "items_per_emulator_cpu_s": round(self.items / max(self.emulator_cpu, 1e-9)),
            "counts": {name: vars(c) for name, c in self.counts.items()},
        }


def run_pass(
    name: str, client: ConnectorApiClient, emulator: Emulator, calls: Sequence[PlannedCall]
) -> Pass:
    """Send pre-encoded calls one after another; time them and the emulator's CPU."""
    totals: dict[str, ImportCounts] = {}
    cpu0, wall0 = emulator.cpu(), time.perf_counter()
    for call in calls:
        for table, counts in client.send_planned(call).items():
            totals.setdefault(table, ImportCounts()).add(counts)
    wall, cpu = time.perf_counter() - wall0, emulator.cpu() - cpu0
    items = sum(len(call.positions) for call in calls)
    return Pass(name, items, len(calls), wall, cpu, totals)


def check(figures: Pass, expected: dict[str, int], kind: str) -> list[str]:
    """What the emulator answered that it should not have."""
    problems = []
    for table, count in expected.items():
        got = figures.counts.get(table, ImportCounts())
        value = got.created if kind == "created" else got.updated
        if value != count or got.skipped or got.deleted:
            problems.append(f"{figures.name}: {table}: expected {count} {kind}, got {vars(got)}")
    return problems


def check_store(emulator: Emulator, expected: dict[str, int]) -> list[str]:
    """Live items per table as the emulator's inspection route counts them."""
    answer = httpx.get(f"{emulator.url}/_emulator/tables", timeout=600).json()
    live = {t["import_name"]: t["live_items"] for t in answer["tables"]}
    return [
        f"store: {table}: expected {count} live items, found {live.get(table)}"
        for table, count in expected.items()
        if live.get(table) != count
    ]


def print_profile(path: Path, top: int) -> None:
    stats = pstats.Stats(str(path))
    print(f"\nemulator profile ({path}), top {top} by cumulative time:")
    stats.sort_stats("cumulative").print_stats(top)
    print(f"top {top} by own time:")
    stats.sort_stats("tottime").print_stats(top)


def bench(
    items: int, batch_size: int, workdir: Path, profile: Path | None, tracking_steps: int = 0
) -> dict[str, Any]:
    products = max(1, items // (VARIANTS_PER_PRODUCT + 1))
    variants = items - products
    emulator = start_emulator(workdir, profile, tracking_steps)
    # The client's limits cut calls by items and bytes; the item count decides here.
    options = ConnectorApiOptions(
        poll_interval=0.05, timeout=600.0, limits=BatchLimits(max_items=batch_size)
    )
    client = ConnectorApiClient(
        ConnectorCredentials(emulator.url, CODE, PRIVATE_KEY), options=options
    )
    problems: list[str] = []
    passes: list[Pass] = []
    try:
        client.upsert("catalogue", category_rows(), ref_field="REF")
        for edition, name, kind in ((0, "first import", "created"), (1, "update", "updated")):
            started = time.perf_counter()
            calls = client.plan_calls(
                "products", product_rows(products, edition=edition), ref_field="REF"
            ) + client.plan_calls(
                "product_formats",
                variant_rows(products, variants, edition=edition),
                ref_field="REF",
            )
            encode = time.perf_counter() - started
            figures = run_pass(name, client, emulator, calls)
            passes.append(figures)
            problems += check(figures, {"products": products, "product_formats": variants}, kind)
            print(
                f"{name:>12}: {figures.items:,} items in {figures.calls} calls: "
                f"{figures.wall:.1f} s wall -> {figures.items / figures.wall:,.0f} items/s; "
                f"emulator CPU {figures.emulator_cpu:.1f} s -> "
                f"{figures.items / max(figures.emulator_cpu, 1e-9):,.0f} items/CPU-s "
                f"(client encoding {encode:.1f} s, not counted)",
                flush=True,
            )
        problems += check_store(emulator, {"catalogue": 296, "products": products})
        problems += check_store(emulator, {"product_formats": variants})
    finally:
        client.close()
        emulator.stop()
    if profile is not None:
        print_profile(profile, 30)
    return {
        "items": items,
        "products": products,
        "variants": variants,
        "batch_size": batch_size,
        "tracking_steps": tracking_steps,
        "passes": [p.as_dict() for p in passes],
        "problems": problems,
    }


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=(__doc__ or "").split("\n\n")[0])
    parser.add_argument("--items", type=int, default=200_000, help="products + variants")
    parser.add_argument("--batch-size", type=int, default=5_000, help="items per import call")
    parser.add_argument("--profile", type=Path, help="run the emulator under cProfile, to FILE")
    parser.add_argument("--out", type=Path, help="write the figures here as JSON")
    parser.add_argument(
        "--tracking-steps",
        type=int,
        default=0,
        help="status polls before a call's job ends (0: applied as it arrives)",
    )
    args = parser.parse_args(argv)
    if args.tracking_steps < 0:
        parser.error("--tracking-steps must be 0 or more")
    with tempfile.TemporaryDirectory(prefix="emulator-throughput-") as tmp:
        result = bench(args.items, args.batch_size, Path(tmp), args.profile, args.tracking_steps)
    if args.out:
        args.out.write_text(json.dumps(result, indent=2), encoding="utf-8")
    for problem in result["problems"]:
        print(f"CHECK FAILED: {problem}", file=sys.stderr)
    return 1 if result["problems"] else 0


if __name__ == "__main__":
    raise SystemExit(main())
