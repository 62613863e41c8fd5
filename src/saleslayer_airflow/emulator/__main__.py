"""Command line: ``python -m saleslayer_airflow.emulator`` (serve), ``... dump`` (read back) and
``... tenant-doc`` (the tenant's tables into docs/emulator.md)."""

from __future__ import annotations

import argparse
import json
import sqlite3
import sys
from collections.abc import Sequence
from pathlib import Path

DEFAULT_DOC = Path("docs/emulator.md")


def _fail(message: str) -> int:
    """Say what is wrong on one line (no traceback) and give the usage-error exit code."""
    print(f"error: {message}", file=sys.stderr)
    return 2


def _data_problem(data: Path, *, must_exist: bool) -> str | None:
    """What keeps ``--data`` from being the emulator's SQLite file, with what to pass instead."""
    if data.is_dir():
        return (
            f"--data {data} is a folder; pass the emulator's SQLite file, e.g. "
            f"--data {data / 'sl.sqlite'} (created if missing)"
        )
    if must_exist and not data.exists():
        return f"no emulator data file at {data}; pass the --data the emulator ran with"
    folder = data.parent
    if not folder.is_dir():
        return (
            f"--data {data}: the folder {folder} does not exist; create it, or pass a file in an "
            "existing folder"
        )
    return None


def _unusable(data: Path, exc: sqlite3.Error) -> str:
    return (
        f"--data {data} cannot be used as the emulator's SQLite file ({exc}); pass a file the "
        "emulator made, or a new path"
    )


def _tune_gc() -> None:
    """Collect garbage rarely in the emulator's own process (only there: tests that run the
    emulator in a thread keep their collector as it is).

    A 5,000-item import call builds some 100,000 small dicts and lists that live until the call
    is answered and are then freed by reference counting. With the default thresholds (700) the
    collector runs over them again and again while they are alive, and promotes them into the
    old generations, whose full scans took a third of the CPU of applying the call. With a
    collection every 100,000 allocations a call is applied as fast as with the collector off
    (measured), cycles are still collected, and what was built at start-up (the app, the tenant,
    pydantic models: nothing that becomes garbage) is frozen out of every scan.
    """
    import gc

    gc.collect()
    gc.freeze()
    gc.set_threshold(100_000, 20, 20)


def _serve(args: argparse.Namespace) -> int:
    from saleslayer_airflow.emulator.server import make_server

    problem = _data_problem(args.data, must_exist=False)
    if problem:
        return _fail(problem)
    try:
        server, state = make_server(
            args.data,
            tenant=args.tenant,
            settings=args.settings,
            host=args.host,
            port=args.port,
            log_level="info",
        )
    except sqlite3.Error as exc:
        return _fail(_unusable(args.data, exc))
    _tune_gc()
    print(
        f"Sales Layer emulator on http://{args.host}:{args.port} "
        f"(REST: /catalog/rest/Catalog/, data: {args.data})",
        flush=True,
    )
    try:
        server.run()
    finally:
        state.close()
    return 0


def _dump(args: argparse.Namespace) -> int:
    from saleslayer_airflow.emulator.catalog import dump_table
    from saleslayer_airflow.emulator.storage import Storage
    from saleslayer_airflow.emulator.tenant import load_tenant

    problem = _data_problem(args.data, must_exist=True)
    if problem:
        return _fail(problem)
    tenant = load_tenant(args.tenant)
    table = tenant.table(args.table) or tenant.rest_table(args.table, custom=False)
    table = table or tenant.rest_table(args.table, custom=True)
    if table is None:
        names = ", ".join(t.import_name for t in tenant.tables)
        print(f"error: no table {args.table!r}; tables: {names}", file=sys.stderr)
        return 2
    try:
        storage = Storage(args.data)
    except sqlite3.Error as exc:
        return _fail(_unusable(args.data, exc))
    try:
        items = dump_table(tenant, storage, table)
    finally:
        storage.close()
    if args.live:
        items = [i for i in items if not i["deleted"]]
    json.dump(
        {"table": table.import_name, "items": items}, sys.stdout, indent=2, ensure_ascii=False
    )
    print()
    return 0


def _tenant_doc(args: argparse.Namespace) -> int:
    from saleslayer_airflow.emulator import tenant_doc
    from saleslayer_airflow.emulator.tenant import default_tenant_path, load_tenant

    doc: Path = args.doc
    if not doc.is_file():
        return _fail(f"no document at {doc}; run from the repository root or pass --doc")
    source = args.tenant or default_tenant_path()
    tenant = load_tenant(source)
    try:
        if args.check:
            if tenant_doc.is_current(doc, tenant, source.name):
                return 0
            print(
                f"{doc} is out of date with {source.name}; run: {tenant_doc.REGENERATE}",
                file=sys.stderr,
            )
            return 1
        changed = tenant_doc.write(doc, tenant, source.name)
    except tenant_doc.TenantDocError as exc:
        return _fail(f"{doc}: {exc}")
    print(f"{doc}: {'updated' if changed else 'already up to date'} from {source.name}")
    return 0


def build_parser() -> argparse.ArgumentParser:
    """The emulator's argument parser."""
    parser = argparse.ArgumentParser(
        prog="python -m saleslayer_airflow.emulator",
        description="A local Sales Layer (Import Connector API + Catalog REST API v2).",
    )
    parser.add_argument("--data", type=Path, default=Path("sl.sqlite"), help="SQLite file")
    parser.add_argument("--tenant", type=Path, default=None, help="tenant YAML file")
    parser.add_argument("--settings", type=Path, default=None, help="settings YAML file")
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, default=8090)
    sub = parser.add_subparsers(dest="command")
    dump = sub.add_parser("dump", help="print one table as JSON")
    dump.add_argument("--data", type=Path, default=argparse.SUPPRESS, help="SQLite file")
    dump.add_argument("--tenant", type=Path, default=argparse.SUPPRESS, help="tenant YAML file")
    dump.add_argument("--table", required=True, help="import name, REST set or denominator")
    dump.add_argument("--live", action="store_true", help="leave deleted items out")
    doc = sub.add_parser(
        "tenant-doc", help="write the tenant's tables and fields into docs/emulator.md"
    )
    doc.add_argument("--tenant", type=Path, default=argparse.SUPPRESS, help="tenant YAML file")
    doc.add_argument("--doc", type=Path, default=DEFAULT_DOC, help=f"default: {DEFAULT_DOC}")
    doc.add_argument("--check", action="store_true", help="exit 1 when the document is out of date")
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    """Run the emulator CLI."""
    args = build_parser().parse_args(argv)
    if args.command == "dump":
        return _dump(args)
    if args.command == "tenant-doc":
        return _tenant_doc(args)
    return _serve(args)


if __name__ == "__main__":
    raise SystemExit(main())
