"""Command line: check connector files, write their JSON Schema, show the DAGs Airflow builds.

    python -m saleslayer_airflow validate include/connectors          # every problem, exit 1 if any
    python -m saleslayer_airflow validate CONNECTOR.yaml --sample export.csv   # + its columns
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
from typing import TYPE_CHECKING, Any, TextIO

if TYPE_CHECKING:
    from saleslayer_airflow.config.connector import ConnectorConfig

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
    # Printed even with --quiet: the file works today, but the old name will not forever.
    deprecations = [d for found in result.deprecations.values() for d in found]
    for deprecation in deprecations:
        print(deprecation, file=out)
    for path, config in result.connectors.items():
        if not args.quiet:
            print(f"{display_path(path)}: ok (connector {config.id})", file=out)
    bad = len(result.failed_files)
    renames = f"; {len(deprecations)} deprecated key(s) to rename" if deprecations else ""
    print(
        f"validate: {len(files)} file(s) checked, {len(files) - bad} valid, "
        f"{bad} with problems ({len(result.problems)} problem(s)){renames}",
        file=err,
    )
    code = EXIT_PROBLEMS if result.problems or missing else EXIT_OK
    if args.sample:
        if len(files) != 1:
            print("validate: --sample checks one connector file; name exactly one", file=err)
            return EXIT_USAGE
        checked = result.connectors.get(files[0])
        if checked is None:
            print(
                "validate: the connector file has problems; its columns were not checked", file=err
            )
            return code
        sampled = _check_samples(files[0], checked, args.sample, args.quiet, out, err)
        code = sampled if sampled != EXIT_OK else code
    return code


def _samples(
    config: ConnectorConfig, given: Sequence[str], err: TextIO
) -> list[tuple[Path, str | None]] | None:
    """``--sample FILE`` / ``--sample NAME=FILE`` as (path, name in `source.files`), or None
    (and a message) when they do not fit the connector."""
    declared = list(config.source.named_files())
    samples: list[tuple[Path, str | None]] = []
    for text in given:
        name, sep, rest = text.partition("=")
        if sep and name in declared:
            samples.append((Path(rest), name))
        elif sep and not Path(text).exists() and name.isidentifier():
            listed = ", ".join(declared) or "none (the source reads a single export)"
            print(
                f"validate: --sample {text}: {name!r} is not a file the source declares; "
                f"its `files:` are: {listed}",
                file=err,
            )
            return None
        elif len(declared) > 1:
            print(
                f"validate: --sample {text}: the connector reads several named files "
                f"({', '.join(declared)}); give each as --sample NAME=FILE",
                file=err,
            )
            return None
        else:
            samples.append((Path(text), declared[0] if declared else None))
    for path, _ in samples:
        if not path.is_file():
            print(f"{path}: no such file", file=err)
            return None
    return samples


def _check_samples(
    connector: Path,
    config: ConnectorConfig,
    given: Sequence[str],
    quiet: bool,
    out: TextIO,
    err: TextIO,
) -> int:
    """The column preflight of each sample against the connector: exit 1 on a problem."""
    from saleslayer_airflow.config.load import display_path
    from saleslayer_airflow.config.yaml_source import parse_yaml
    from saleslayer_airflow.exceptions import Problem, TerminalError
    from saleslayer_airflow.validation.columns import check_columns, read_header

    samples = _samples(config, given, err)
    if samples is None:
        return EXIT_USAGE
    shown = display_path(connector)
    doc = parse_yaml(connector.read_text(encoding="utf-8"))
    errors = warnings = 0
    for path, name in samples:
        try:
            header = read_header(path, config.format, display_path(path))
        except TerminalError as exc:  # the split would fail on it the same way
            print(f"{shown}:{doc.line_of(('format',))}: format: {exc}", file=out)
            errors += 1
            continue
        found_here = check_columns(config, header, file=name)
        for problem in found_here:
            line = doc.line_of(problem.named.path)
            found = Problem(shown, line, problem.named.field, problem.message)
            if problem.certain:
                errors += 1
                print(found, file=out)
            else:
                warnings += 1
                print(f"{found} (warning)", file=out)
        if not quiet and not found_here:
            print(f"{display_path(path)}: ok (every column {shown} names is there)", file=out)
    print(
        f"validate: {len(samples)} sample file(s) checked against {shown}: "
        f"{errors} column problem(s), {warnings} warning(s)",
        file=err,
    )
    return EXIT_PROBLEMS if errors else EXIT_OK


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
    validate.add_argument(
        "--sample",
        action="append",
        metavar="[NAME=]FILE",
        help="also check every column the connector names against this export's header "
        "(read from its start only); NAME=FILE for a named file of `source.files`. Repeatable.",
    )
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
