"""``python -m saleslayer_airflow.demo run``: the demo's import and its checks (scripts/demo).

Set AIRFLOW_HOME (with a migrated metadata database) and AIRFLOW__CORE__DAGS_FOLDER first.
"""

from __future__ import annotations

import argparse
import os
import sys
import time
from collections.abc import Sequence
from datetime import date
from pathlib import Path

ROOT = Path.cwd()


def main(argv: Sequence[str] | None = None) -> int:
    """Parse the arguments, run the demo, print the verdict; 0 when every check held."""
    parser = argparse.ArgumentParser(prog="python -m saleslayer_airflow.demo")
    sub = parser.add_subparsers(dest="command", required=True)
    run = sub.add_parser("run", help="import several days of exports and check Sales Layer")
    run.add_argument("--workdir", type=Path, default=ROOT / ".demo" / "run")
    run.add_argument("--days", type=int, default=3)
    run.add_argument("--first-day", type=date.fromisoformat, default=date(2026, 11, 1))
    run.add_argument("--examples", type=Path, default=ROOT / "include" / "connectors")
    run.add_argument("--dags-folder", type=Path, default=ROOT / "dags")
    run.add_argument(
        "--settings",
        type=Path,
        default=ROOT / "airflow_settings.yaml",
        help="take the servers' ports from this file's connections",
    )
    run.add_argument("--free-ports", action="store_true", help="use free ports instead")
    run.add_argument(
        "--runner",
        choices=["inprocess", "cli"],
        default="inprocess",
        help="inprocess: dag.test() in this process (fast); cli: `airflow dags test` per run",
    )
    args = parser.parse_args(argv)
    if args.days < 1:
        parser.error("--days must be at least 1")

    from saleslayer_airflow.demo.run import ports_from_settings, run_demo
    from saleslayer_airflow.demo.servers import Ports, busy_ports

    ports = Ports() if args.free_ports else ports_from_settings(args.settings)
    started = time.monotonic()

    busy = busy_ports(ports)
    if busy:
        # The connections point wherever the servers listen, so any free port does as well.
        print(f"Ports {busy} of {args.settings.name} are taken; using free ports instead.")
        ports = Ports()
    result = run_demo(
        args.workdir,
        examples=args.examples,
        dags_folder=args.dags_folder,
        days=args.days,
        first_day=args.first_day,
        ports=ports,
        runner=args.runner,
    )
    print(f"\n({time.monotonic() - started:.0f} s)")
    if result.ok:
        print("All checks passed: Sales Layer holds exactly what the exports say, and the re-run "
              "sent nothing.")  # fmt: skip
        return 0
    print("Checks FAILED:", file=sys.stderr)
    for failure in result.failures:
        print(f"  - {failure}", file=sys.stderr)
    home = os.environ.get("AIRFLOW_HOME", "$AIRFLOW_HOME")
    print(f"Task logs: {home}/logs/dag_id=<connector>/; run files: {args.workdir}/staging/",
          file=sys.stderr)  # fmt: skip
    return 1


if __name__ == "__main__":
    sys.exit(main())
