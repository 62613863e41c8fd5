"""Soak: the same generated catalog through a transport fault-free and with ~10% faults.

Starts a fresh emulator per run (a subprocess by default, so client and server do not share one
interpreter lock), pushes categories (a tree), a custom entity (brands), products and variants
with multilingual fields and parent links, once without faults and once with every fault kind of
the routes the transport uses, then compares both final states table by table by reference and
checks that no reference is lost or held twice. Prints the figures; exits 1 when the states
differ, a reference is lost or duplicated, or a 429 retry did not wait for Retry-After.

    .venv/bin/python bench/soak.py --items 200000 --transport connector_api --seed 1
    .venv/bin/python bench/soak.py --items 20000 --transport rest --fault-rate 0.1 --seed 1

The REST soak raises the emulator's rate limit and the client's limiter (``--rest-limit``, per
10 s; Sales Layer allows 50) so that it measures faults, not the ceiling: at 50 per 10 s,
200,000 items would take over 11 hours.
"""

from __future__ import annotations

import argparse
import sys
import time

from saleslayer_airflow.emulator.compare import diff_table
from saleslayer_airflow.emulator.soak import SoakOptions, SoakResult, Transport, figures, soak


def cross_check(results: list[SoakResult]) -> list[str]:
    """Differences between the fault-free states the two transports left for one catalog."""
    first, second = results
    lines: list[str] = []
    for table, state in first.clean.states.items():
        other = second.clean.states[table]
        lines += diff_table(table, state, other).describe(state, other)
    return lines


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--items", type=int, default=200_000)
    parser.add_argument("--rest-items", type=int, help="items of the REST soak (default --items)")
    parser.add_argument(
        "--transport", choices=["connector_api", "rest", "both"], default="connector_api"
    )
    parser.add_argument("--fault-rate", type=float, default=0.1)
    parser.add_argument("--job-failure-rate", type=float, help="default: --fault-rate")
    parser.add_argument("--seed", type=int, default=1)
    parser.add_argument("--batch", type=int, default=500, help="items per Import Connector call")
    parser.add_argument("--rest-workers", type=int, default=4, help="REST clients in parallel")
    parser.add_argument("--rest-limit", type=int, default=100_000, help="REST requests per 10 s")
    parser.add_argument("--timeout", type=float, default=2.0, help="client HTTP timeout (s)")
    parser.add_argument("--retry-after", type=float, default=1.0, help="of fault 429s (s)")
    parser.add_argument("--emulator", choices=["process", "thread"], default="process")
    args = parser.parse_args(argv)
    transports: list[Transport] = (
        ["connector_api", "rest"] if args.transport == "both" else [args.transport]
    )
    failed = False
    results: list[SoakResult] = []
    for transport in transports:
        items = args.rest_items if transport == "rest" and args.rest_items else args.items
        options = SoakOptions(
            items=items,
            seed=args.seed,
            fault_rate=args.fault_rate,
            job_failure_rate=(
                args.fault_rate if args.job_failure_rate is None else args.job_failure_rate
            ),
            batch=args.batch,
            rest_workers=args.rest_workers,
            rest_limit=args.rest_limit,
            timeout=args.timeout,
            retry_after=args.retry_after,
            emulator=args.emulator,
        )
        started = time.perf_counter()
        result = soak(transport, options)
        results.append(result)
        for line in figures(result):
            print(line, flush=True)
        took = time.perf_counter() - started
        print(f"  soak wall time (both runs, dumps, comparison): {took:.1f} s")
        missing_kinds = [
            kind
            for kind in result.faults_expected
            if not any(key.endswith(f" {kind}") for key in result.faults_served)
        ]
        if missing_kinds:
            print(f"  note: fault kinds never served (run is too small): {missing_kinds}")
        failed = failed or not result.ok
    if len(results) == 2 and results[0].items == results[1].items:
        # Same catalog through both transports: the fault-free states must agree too.
        differences = cross_check(results)
        verdict = "identical" if not differences else f"{len(differences)} differences"
        print(f"== Import Connector vs REST, fault-free final states: {verdict}")
        for line in differences[:20]:
            print(f"  ! {line}")
        failed = failed or bool(differences)
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
