"""The demo's import: local servers fed with several days of exports, every example connector run
through Airflow day by day, Sales Layer read back and checked, then the last day run again.

``python -m saleslayer_airflow.demo run`` (called by ``scripts/demo``); :func:`run_demo` is the
same from Python (the tests call it). Exit status 1 when a run fails or a check does not hold.
"""

from __future__ import annotations

import os
import re
import shutil
import time
from collections.abc import Callable, Iterator, Mapping
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import UTC, date, datetime
from pathlib import Path
from typing import Any

import yaml

from saleslayer_airflow.demo.airflow_runs import RunOutcome, run_cli, run_inprocess
from saleslayer_airflow.demo.checks import TableCheck, check_state, import_calls
from saleslayer_airflow.demo.expected import expected_state
from saleslayer_airflow.demo.exports import DayExports, write_exports
from saleslayer_airflow.demo.servers import DemoServers, Ports
from saleslayer_airflow.report.summary import BALANCE_TERMS

#: The order the connectors run in each day (each feeds its own tables; none waits on another).
CONNECTORS = ("stores_ftp", "apparel_catalog_http", "erp_api_catalog")
#: Connector whose last day is also re-imported with force=true: all read, nothing sent.
FORCED_RERUN = "apparel_catalog_http"

Print = Callable[[str], None]


@dataclass
class DemoResult:
    """Everything the demo ran and checked."""

    exports: list[DayExports] = field(default_factory=list)
    runs: list[RunOutcome] = field(default_factory=list)
    checks: list[TableCheck] = field(default_factory=list)
    reruns: list[RunOutcome] = field(default_factory=list)
    calls_during_rerun: int = -1
    failures: list[str] = field(default_factory=list)

    @property
    def ok(self) -> bool:
        """Every run succeeded, every check held and the re-run sent nothing."""
        return not self.failures


def ports_from_settings(path: Path) -> Ports:
    """The ports ``airflow_settings.yaml`` declares for the example connections."""
    connections = {
        entry["conn_id"]: entry
        for entry in yaml.safe_load(path.read_text(encoding="utf-8"))["airflow"]["connections"]
    }

    def port(conn_id: str) -> int:
        entry = connections[conn_id]
        if "conn_port" in entry:
            return int(entry["conn_port"])
        found = re.search(r":(\d+)", str(entry["conn_host"]).split("//")[-1])
        return int(found.group(1)) if found else 0

    return Ports(
        emulator=port("saleslayer_default"),
        ftp=port("erp_ftp"),
        http=port("erp_http"),
        api=port("erp_api"),
    )


def demo_connectors(examples: Path, target: Path) -> list[Path]:
    """Copies of the example connector files, as Airflow will load them for the demo.

    One change: ``stable_for`` (how long the FTP file's size must hold still before it is taken,
    30 s in the example, against an ERP still writing it) is 0 s, because the demo's files are
    complete before the run starts and the demo would otherwise wait 30 s per FTP run.
    """
    target.mkdir(parents=True, exist_ok=True)
    copies = []
    for path in sorted(examples.glob("*.yaml")):
        text = re.sub(r"stable_for: *\S+", "stable_for: 0s", path.read_text(encoding="utf-8"))
        copy = target / path.name
        copy.write_text(text, encoding="utf-8")
        copies.append(copy)
    return copies


@contextmanager
def _environment(values: dict[str, str]) -> Iterator[None]:
    saved = {name: os.environ.get(name) for name in values}
    os.environ.update(values)
    try:
        yield
    finally:
        for name, value in saved.items():
            if value is None:
                os.environ.pop(name, None)
            else:
                os.environ[name] = value


#: Why a connector's fetch skips a run that has nothing new, by connector.
SKIP_REASONS = {
    "erp_api_catalog": "the ERP API has no changes since the last run",
}
_SAME_EXPORT = "the export is the one already imported"


def _summary(outcome: RunOutcome, indent: int) -> str:
    """The run's counts, one line per table (continuation lines indented by ``indent``)."""
    if outcome.skipped:
        return f"skipped: {SKIP_REASONS.get(outcome.dag_id, _SAME_EXPORT)}"
    if outcome.report is None:
        return f"no report (tasks: {outcome.tasks})"
    lines = [
        table_line(table, counts) for table, counts in outcome.report.get("tables", {}).items()
    ]
    return ("\n" + " " * indent).join(lines)


#: Shown even when zero: what the push did is what people look for first.
_ALWAYS_SHOWN = ("created", "updated", "unchanged")


def table_line(table: str, counts: Mapping[str, int]) -> str:
    """One table of a run report as its balance, e.g.
    ``products   1720 rows read = 15 created + 0 updated + 0 unchanged + 15 rejected + 1690
    merged``: created, updated, unchanged, then every other term of the report's balance that
    is not zero, so the line adds up to the rows read (the rows merged into the item of their
    reference, or rejected, are read but never pushed)."""
    terms = [
        f"{int(counts.get(term, 0))} {term}"
        for term in BALANCE_TERMS
        if term in _ALWAYS_SHOWN or counts.get(term)
    ]
    return f"{table:<15} {int(counts['read']):>5} rows read = " + " + ".join(terms)


def _sent(outcome: RunOutcome) -> int:
    if outcome.report is None:
        return 0
    return sum(
        int(c["created"]) + int(c["updated"]) for c in outcome.report.get("tables", {}).values()
    )


Runner = Callable[[str, date, dict[str, Any] | None], RunOutcome]


def run_demo(
    workdir: Path,
    *,
    examples: Path,
    dags_folder: Path,
    days: int = 3,
    first_day: date = date(2026, 11, 1),
    ports: Ports | None = None,
    runner: str = "inprocess",
    out: Print = print,
) -> DemoResult:
    """Run the demo in ``workdir`` (emptied first) and return what ran and what was checked."""
    if workdir.exists():
        shutil.rmtree(workdir)
    workdir.mkdir(parents=True)
    exports = write_exports(workdir, days, first_day)
    demo_connectors(examples, workdir / "connectors")
    staging = workdir / "staging"
    result = DemoResult(exports=exports)
    with DemoServers(workdir, ports or Ports()) as servers:
        out("Servers on 127.0.0.1:")
        for line in servers.describe():
            out(f"  {line}")
        env = {
            **servers.connections(),
            "SALESLAYER_CONNECTORS_DIR": str(workdir / "connectors"),
            "SALESLAYER_STAGING_BASE": staging.as_uri(),
            "SALESLAYER_STATE_URL": f"sqlite:///{workdir / 'state.sqlite'}",
        }

        def run(dag_id: str, day: date, conf: dict[str, Any] | None = None) -> RunOutcome:
            logical = datetime(day.year, day.month, day.day, 6, tzinfo=UTC)
            if runner == "cli":
                return run_cli(dag_id, logical, workdir / "airflow-runs.log", staging, conf)
            return run_inprocess(dag_id, logical, dags_folder, staging, conf)

        with _environment(env):
            how = "airflow dags test" if runner == "cli" else "dag.test(), as airflow dags test"
            out(f"\nImporting {days} days of exports, each connector through Airflow ({how}):")
            _import_days(servers, run, result, out)
            out("\nSales Layer read back from the emulator, checked against the export files:")
            _check(servers.emulator.base_url, result, out)
            out(f"\nThe last day ({exports[-1].day}) again: nothing may be sent to Sales Layer")
            _rerun_last_day(servers.emulator.base_url, run, result, out)
    return result


def _import_days(servers: DemoServers, run: Runner, result: DemoResult, out: Print) -> None:
    for export in result.exports:
        changed = servers.api.publish(export.items())
        out(f"day {export.day}  (the ERP API now has {changed} new or changed items)")
        for dag_id in CONNECTORS:
            started = time.monotonic()
            outcome = run(dag_id, export.day, None)
            result.runs.append(outcome)
            seconds = time.monotonic() - started
            out(f"  {dag_id:<22} {outcome.state:<8} {seconds:4.1f}s  {_summary(outcome, 41)}")
            if outcome.state != "success":
                result.failures.append(
                    f"{dag_id} {export.day}: run {outcome.state}, tasks {outcome.tasks}"
                )


def _check(emulator_url: str, result: DemoResult, out: Print) -> None:
    result.checks = check_state(emulator_url, expected_state(result.exports))
    out(f"  {'connector':<22} {'table':<16} {'expected':>8} {'arrived':>8} {'matching':>8}  check")
    for check in result.checks:
        verdict = "OK" if check.ok else "FAIL"
        out(f"  {check.connector:<22} {check.table:<16} {check.expected:>8} "
            f"{check.present:>8} {check.matching:>8}  {verdict}")  # fmt: skip
        for problem in check.problems:
            out(f"      {problem}")
        if not check.ok:
            result.failures.append(f"check {check.connector}/{check.table} failed")


def _rerun_last_day(emulator_url: str, run: Runner, result: DemoResult, out: Print) -> None:
    last = result.exports[-1].day
    before = import_calls(emulator_url)
    reruns: list[tuple[str, dict[str, Any] | None]] = [(dag_id, None) for dag_id in CONNECTORS]
    reruns.append((FORCED_RERUN, {"force": True}))
    for dag_id, conf in reruns:
        outcome = run(dag_id, last, conf)
        result.reruns.append(outcome)
        label = f"{dag_id} (force)" if conf else dag_id
        out(f"  {label:<30} {outcome.state:<8}  {_summary(outcome, 43)}")
        if outcome.state != "success" or _sent(outcome):
            result.failures.append(
                f"re-run of {label}: {outcome.state}, sent {_sent(outcome)} items"
            )
    result.calls_during_rerun = import_calls(emulator_url) - before
    out(f"  Import Connector calls during the re-runs: {result.calls_during_rerun}")
    if result.calls_during_rerun:
        result.failures.append(
            f"the re-run made {result.calls_during_rerun} Import Connector calls"
        )
