"""Command line: check connector files, write their JSON Schema, show the DAGs Airflow builds.

    python -m saleslayer_airflow validate include/connectors          # every problem, exit 1 if any
    python -m saleslayer_airflow schema --output schema/connector.schema.json
    python -m saleslayer_airflow dags --dags-folder dags               # what Airflow parses

Exit status: 0 all good, 1 problems found, 2 wrong usage or nothing to check.
"""

from __future__ import annotations

import argparse
import os
import sys
from collections.abc import Sequence
from pathlib import Path
from typing import Any, TextIO

EXIT_OK, EXIT_PROBLEMS, EXIT_USAGE = 0, 1, 2


def _validate(args: argparse.Namespace, out: TextIO, err: TextIO) -> int:
    from saleslayer_airflow.config.load import display_path, find_connector_files, load_connectors

    paths = [Path(p) for p in args.paths]
    missing = [p for p in paths if not p.exists()]
    for path in missing:
        print(f"{path}: no such file or folder", file=err)
    files = find_connector_files([p for p in paths if p.exists()])
    if not files:
        print("validate: no connector files (*.yaml, *.yml) to check", file=err)
        return EXIT_USAGE
    result = load_connectors(files)
    for problem in result.problems:
        print(problem, file=out)
    for path, config in result.connectors.items():
        if not args.quiet:
            print(f"{display_path(path)}: ok (connector {config.id})", file=out)
    bad = len(result.failed_files)
    print(
        f"validate: {len(files)} file(s) checked, {len(files) - bad} valid, "
        f"{bad} with problems ({len(result.problems)} problem(s))",
        file=err,
    )
    return EXIT_PROBLEMS if result.problems or missing else EXIT_OK


def _schema(args: argparse.Namespace, out: TextIO, err: TextIO) -> int:
    from saleslayer_airflow.config.schema import connector_json_schema_text

    text = connector_json_schema_text()
    if args.output is None:
        out.write(text)
        return EXIT_OK
    target = Path(args.output)
    if args.check:
        current = target.read_text(encoding="utf-8") if target.exists() else ""
        if current != text:
            print(f"{target} is stale; regenerate it with `make schema`", file=err)
            return EXIT_PROBLEMS
        print(f"{target} is up to date", file=err)
        return EXIT_OK
    target.parent.mkdir(parents=True, exist_ok=True)
    target.write_text(text, encoding="utf-8")
    print(f"wrote {target}", file=err)
    return EXIT_OK


def _describe_schedule(dag: Any) -> str:
    expression = getattr(dag.timetable, "expression", None)
    if expression is None:
        return (
            "manual runs only"
            if dag.timetable.__class__.__name__ == "NullTimetable"
            else (type(dag.timetable).__name__)
        )
    from cron_descriptor import get_description

    zone = getattr(dag.timetable, "timezone", "UTC")
    return f"{expression} ({getattr(zone, 'name', zone)}): {get_description(expression)}"


def _dags(args: argparse.Namespace, out: TextIO, err: TextIO) -> int:
    folder = Path(args.dags_folder or os.environ.get("AIRFLOW__CORE__DAGS_FOLDER") or "dags")
    from airflow.dag_processing.dagbag import DagBag

    bag = DagBag(dag_folder=str(folder))
    for dag_id in sorted(bag.dag_ids):
        dag = bag.dags[dag_id]
        print(f"DAG {dag_id}", file=out)
        print(f"  schedule     {_describe_schedule(dag)}", file=out)
        print(
            f"  start        {dag.start_date:%Y-%m-%d}, catchup {dag.catchup}, "
            f"max_active_runs {dag.max_active_runs}",
            file=out,
        )
        print(
            f"  owner        {dag.default_args.get('owner')}, "
            f"retries {dag.default_args.get('retries')}, tags {', '.join(sorted(dag.tags))}",
            file=out,
        )
        print("  tasks", file=out)
        for task in dag.topological_sort():  # type: ignore[no-untyped-call]
            after = ", ".join(sorted(task.upstream_task_ids))
            line = f"    {task.task_id:<28} {type(task).__name__:<28} "
            print((line + (f"after {after}" if after else "")).rstrip(), file=out)
    for file, error in sorted(bag.import_errors.items()):
        print(f"IMPORT ERROR in {file}:\n{error}", file=out)
    print(
        f"dags: {len(bag.dag_ids)} DAG(s), {len(bag.import_errors)} import error(s) in {folder}",
        file=err,
    )
    return EXIT_PROBLEMS if bag.import_errors else EXIT_OK


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="python -m saleslayer_airflow",
        description="Sales Layer import connectors for Apache Airflow.",
    )
    commands = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")

    validate = commands.add_parser(
        "validate",
        help="check connector files",
        description="Check connector files and print each problem as file:line: field: message.",
    )
    validate.add_argument("paths", nargs="+", metavar="PATH", help="files, or folders of *.yaml")
    validate.add_argument("-q", "--quiet", action="store_true", help="print problems only")
    validate.set_defaults(run=_validate)

    schema = commands.add_parser("schema", help="print or write the connector JSON Schema")
    schema.add_argument("--output", "-o", help="write to this file instead of stdout")
    schema.add_argument(
        "--check", action="store_true", help="with --output: fail if the file differs"
    )
    schema.set_defaults(run=_schema)

    dags = commands.add_parser(
        "dags", help="parse the DAG folder with Airflow and show each DAG and its tasks"
    )
    dags.add_argument("--dags-folder", help="default: $AIRFLOW__CORE__DAGS_FOLDER, else ./dags")
    dags.set_defaults(run=_dags)
    return parser


def main(
    argv: Sequence[str] | None = None, out: TextIO = sys.stdout, err: TextIO = sys.stderr
) -> int:
    parser = build_parser()
    try:
        args = parser.parse_args(argv)
    except SystemExit as exc:
        return int(exc.code or 0)
    code: int = args.run(args, out, err)
    return code
