"""End-to-end benchmark: a flat ERP export of N rows (default 1,000,000) imported through Airflow
into the local Sales Layer emulator, then imported again unchanged and with 1% of it changed.

    .venv/bin/python bench/end_to_end.py --rows 10000          # try it small first (~1 min)
    .venv/bin/python bench/end_to_end.py --out e2e.json        # 1,000,000 rows (~12 min)
    .venv/bin/python bench/end_to_end.py --rows 200000 --profile   # cProfile per DAG run
    .venv/bin/python bench/end_to_end.py --gc-freeze           # extra freeze (see below)

What runs, all on 127.0.0.1: the demo's servers (:class:`DemoServers`: the Sales Layer emulator,
with each Import Connector call applied as it arrives, and an HTTP server publishing the export)
in this process; each DAG run in a fresh child process (``dag.test()``, the tasks in that
process, as ``airflow dags test`` does), against a throw-away Airflow home, state store and
staging folder. The export is row-per-SKU (category path of three levels, products with five
size variants, names and descriptions in English and Spanish, prices with a decimal comma); the
connector has the shape of ``include/connectors/apparel_catalog_http.yaml``.

Runs, one export date each:

1. ``first``: the first import; every category, product and variant is created.
2. ``unchanged``: a new day's export with the same bytes: the fetch's fingerprint skips the run.
3. ``unchanged-forced``: the same again with ``force``: read, validated, split and compared
   with the state store; nothing may be sent.
4. ``changed-1pct``: 1% of the variant rows have a new price: exactly those variants are sent.

Measured per run: wall time of the child process and of the DAG run, each task's time (from its
task instance), rows per second, the child's RSS sampled from ``/proc`` every 0.1 s (peak per
task window, and ``ru_maxrss`` for the whole process), its CPU time and garbage-collection time
per task (``gc.callbacks``), the HTTP requests
the emulator counted (``/_emulator/stats``) and the items it received (its import jobs). After
the runs the emulator's tables are counted and the changed prices checked. Exit status 1 when a
run fails or a check does not hold. The machine is shared: figures vary with its load, which is
recorded beside them (``loadavg``). Figures and findings: docs/benchmarks.md.
"""

from __future__ import annotations

import argparse
import cProfile
import gc
import io
import json
import os
import pstats
import re
import resource
import shutil
import sqlite3
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, timedelta
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
CONNECTOR_ID = "bench_end_to_end"
FIRST_DAY = date(2026, 11, 1)
TABLES = ("categories", "products", "variants")
#: The emulator's import table of each connector table (default tenant).
IMPORT_TABLES = {"categories": "catalogue", "products": "products", "variants": "product_formats"}
TASKS = ("fetch_source", "validate_and_split", *(f"push_{t}" for t in TABLES), "report")
SAMPLE_SECONDS = 0.1
#: Set for a child: profile its DAG run with cProfile into this file (``--profile``).
PROFILE_ENV = "BENCH_E2E_PROFILE"
#: Set for a child: the split task freezes the garbage collector's heap first (``--gc-freeze``).
GC_FREEZE_ENV = "BENCH_E2E_GC_FREEZE"
_TICK = os.sysconf("SC_CLK_TCK")

CONNECTOR = """\
# Written by bench/end_to_end.py; the shape of include/connectors/apparel_catalog_http.yaml.
id: {connector_id}
description: End-to-end benchmark, a row-per-SKU export of {rows} rows.
owner: bench
schedule: "@daily"
timezone: UTC
start_date: 2026-11-01
catchup: false
retries: 0

source:
  kind: http
  conn_id: erp_http
  endpoint: "exports/catalog_{{{{ ds }}}}.csv"

format:
  type: csv
  delimiter: ";"
  encoding: utf-8

tables:
  categories:
    reference: category_path
    path:
      column: category_path
      separator: " > "
    fields:
      cat_title: {{column: category_name, languages: [en, es]}}

  products:
    reference: product_ref
    categories: {{column: category_path}}
    fields:
      prod_title: {{column: product_name, languages: [en, es], required: true, max_length: 255}}
      prod_description: {{column: product_description, languages: [en, es]}}
      prod_material_en: {{column: material, transforms: [{{trim: true}}, {{case: lower}}]}}
      prod_image: {{column: image_urls, separator: ","}}

  variants:
    reference: sku
    product: product_ref
    fields:
      size: {{column: size, enum: [XS, S, M, L, XL]}}
      color_en: {{column: colour, transforms: [{{case: title}}]}}
      frmt_price: {{column: price_eur, type: number, transforms: [{{parse_number: comma}}]}}
      frmt_ean: {{column: ean, max_length: 13}}

target:
  conn_id: saleslayer_default
  transport: connector_api
  batch_size: {batch_size}

validation:
  max_reject_ratio: 0
"""

# ------------------------------------------------------------------------------ the export

_DEPTS = [("Women", "Mujer"), ("Men", "Hombre"), ("Kids", "Infantil"), ("Home", "Hogar"),
          ("Sport", "Deporte"), ("Outdoor", "Exterior"), ("Beauty", "Belleza"),
          ("Accessories", "Accesorios")]  # fmt: skip
_GROUPS = ["Tops", "Bottoms", "Outerwear", "Footwear", "Basics", "Essentials"]
_LINES = [("Classic", "Clasica"), ("Premium", "Premium"), ("Eco", "Eco"), ("Urban", "Urbana"),
          ("Studio", "Estudio")]  # fmt: skip
_NOUNS = [("Shirt", "Camisa"), ("Jacket", "Chaqueta"), ("Trousers", "Pantalon"),
          ("Sweater", "Jersey"), ("Dress", "Vestido"), ("Boots", "Botas")]  # fmt: skip
_MATERIALS = ["Cotton", " Organic Cotton", "Linen", "Wool Blend ", "Denim", "Recycled Polyester"]
_COLOURS = ["navy", "black", "white", "olive"]
_SIZES = ["XS", "S", "M", "L", "XL"]
VARIANTS_PER_PRODUCT = len(_SIZES)
HEADER = (
    "category_path;category_name_en;category_name_es;product_ref;product_name_en;"
    "product_name_es;product_description_en;product_description_es;brand;material;image_urls;"
    "sku;size;colour;price_eur;ean;in_stock\n"
)


def is_changed(row: int) -> bool:
    """The variant rows whose price the 1%-changed export raises: one row in every hundred."""
    return row % 100 == 37


def category_of(product: int) -> tuple[str, str, str]:
    """(path, leaf name EN, leaf name ES): 8 x 6 x 5 = 240 leaf categories."""
    dept = _DEPTS[product % 8]
    group = _GROUPS[(product // 8) % 6]
    line = _LINES[(product // 48) % 5]
    return f"{dept[0]} > {group} > {line[0]}", line[0], line[1]


def write_export(path: Path, rows: int, *, changed: bool) -> None:
    """A row-per-SKU export of ``rows`` variant rows; products repeat identically on each of
    their rows (the split stage would report any disagreement as a conflict)."""
    path.parent.mkdir(parents=True, exist_ok=True)
    with path.open("w", encoding="utf-8", newline="") as out:
        out.write(HEADER)
        lines: list[str] = []
        for n in range(rows):
            product, size_index = divmod(n, VARIANTS_PER_PRODUCT)
            cat_path, leaf_en, leaf_es = category_of(product)
            noun_en, noun_es = _NOUNS[product % 6]
            material = _MATERIALS[(product // 6) % 6]
            ref = f"P{product:07d}"
            cents = 1000 + (product * 37) % 9000 + size_index * 100
            if changed and is_changed(n):
                cents += 100
            lines.append(
                f"{cat_path};{leaf_en};{leaf_es};{ref};{noun_en} {product};"
                f"{noun_es} {product};{noun_en} in {material.strip().lower()}, regular fit, "
                f"model {product};{noun_es} de {material.strip().lower()}, corte regular, "
                f"modelo {product};Brand {product % 37};{material};"
                f"https://img.example/{ref}/front.jpg,https://img.example/{ref}/back.jpg;"
                f"{ref}-{_SIZES[size_index]};{_SIZES[size_index]};{_COLOURS[product % 4]};"
                f"{cents // 100},{cents % 100:02d};84{n:011d};{'Y' if n % 7 else 'N'}\n"
            )
            if len(lines) >= 10_000:
                out.writelines(lines)
                lines.clear()
        out.writelines(lines)


@dataclass(frozen=True)
class Expected:
    """What the export holds: items per table, and how many variants the 1% run changes."""

    categories: int
    products: int
    variants: int
    changed: int

    @classmethod
    def of(cls, rows: int) -> Expected:
        """Counted from the generator's own rules, independently of the product's split."""
        products = -(-rows // VARIANTS_PER_PRODUCT)
        paths: set[str] = set()
        for product in range(min(products, 240)):  # the tree repeats after 240 products
            parts = category_of(product)[0].split(" > ")
            paths.update(" > ".join(parts[: i + 1]) for i in range(len(parts)))
        changed = sum(1 for n in range(rows) if is_changed(n))
        return cls(len(paths), products, rows, changed)

    def items(self) -> dict[str, int]:
        """Items per connector table."""
        return {"categories": self.categories, "products": self.products, "variants": self.variants}


@dataclass(frozen=True)
class RunPlan:
    """One DAG run of the benchmark."""

    name: str
    day: date
    conf: dict[str, Any] | None
    changed: bool
    same_as_before: bool


def run_plans() -> list[RunPlan]:
    """The four runs, each importing the export of its own day."""
    return [
        RunPlan("first", FIRST_DAY, None, changed=False, same_as_before=False),
        RunPlan("unchanged", FIRST_DAY + timedelta(1), None, changed=False, same_as_before=True),
        RunPlan("unchanged-forced", FIRST_DAY + timedelta(2), {"force": True}, False, True),
        RunPlan("changed-1pct", FIRST_DAY + timedelta(3), None, changed=True, same_as_before=False),
    ]


# ------------------------------------------------------------------------ the child process


def child(dag_id: str, day: str, conf: str, out: Path) -> None:
    """Run the DAG once with ``dag.test()`` in this process; write states, times and XComs."""
    from airflow.dag_processing.dagbag import DagBag
    from airflow.models.xcom import XComModel
    from airflow.utils.session import create_session

    bag = DagBag(dag_folder=str(ROOT / "dags"))
    if dag_id not in bag.dags:
        raise SystemExit(f"Airflow built no DAG {dag_id!r}; import errors: {bag.import_errors}")
    logical = datetime.fromisoformat(day).replace(hour=6, tzinfo=UTC)
    if os.environ.get(GC_FREEZE_ENV):
        freeze_before_split()
    pauses = GcPauses()
    gc.callbacks.append(pauses)
    profile_to = os.environ.get(PROFILE_ENV)
    profiler = cProfile.Profile() if profile_to else None
    if profiler is not None:
        profiler.enable()
    dag_run = bag.dags[dag_id].test(logical_date=logical, run_conf=json.loads(conf) or None)
    if profiler is not None and profile_to:
        profiler.disable()
        profiler.dump_stats(profile_to)
    tasks = {
        ti.task_id: {
            "state": str(ti.state),
            "start": ti.start_date.timestamp() if ti.start_date else None,
            "end": ti.end_date.timestamp() if ti.end_date else None,
        }
        for ti in dag_run.get_task_instances()
    }
    with create_session() as session:
        rows = session.query(XComModel).filter_by(
            dag_id=dag_id, run_id=dag_run.run_id, key="return_value"
        )
        xcoms = {row.task_id: XComModel.deserialize_value(row) for row in rows}
    gc.callbacks.remove(pauses)
    usage = resource.getrusage(resource.RUSAGE_SELF)
    body = {
        "gc": {"pauses": pauses.pauses, "objects_at_end": len(gc.get_objects())},
        "state": str(dag_run.state),
        "run_id": dag_run.run_id,
        "tasks": tasks,
        "xcoms": {k: v for k, v in xcoms.items() if k != "fetch_source"},
        "maxrss_kb": usage.ru_maxrss,
        "cpu_s": usage.ru_utime + usage.ru_stime,
    }
    out.write_text(json.dumps(body, default=str), encoding="utf-8")


def freeze_before_split() -> None:
    """``--gc-freeze``: the split task calls ``gc.freeze()`` before it starts, so full
    collections no longer walk the objects the process already holds (Airflow's). It measured
    the change before the product made it: the split and push stages now freeze the heap
    themselves (``operators.base.frozen_heap``), so this option only nests a second freeze."""
    from saleslayer_airflow.operators.split import ValidateAndSplitOperator

    execute = ValidateAndSplitOperator.execute

    def frozen_execute(self: ValidateAndSplitOperator, context: Any) -> Any:
        gc.collect()
        gc.freeze()
        try:
            return execute(self, context)
        finally:
            gc.unfreeze()

    ValidateAndSplitOperator.execute = frozen_execute  # type: ignore[method-assign]


class GcPauses:
    """A ``gc.callbacks`` hook: every garbage collection's generation, start and length.

    Full (generation 2) collections walk every tracked object of the process, and a task
    process holds Airflow's own objects too: their cost grows with the heap, not with the work.
    """

    def __init__(self) -> None:
        #: [generation, unix start, seconds]
        self.pauses: list[tuple[int, float, float]] = []
        self._started = 0.0

    def __call__(self, phase: str, info: dict[str, int]) -> None:
        if phase == "start":
            self._started = time.time()
        else:
            self.pauses.append((info["generation"], self._started, time.time() - self._started))


def gc_in(pauses: Sequence[Sequence[float]], start: float, end: float) -> dict[str, float]:
    """Garbage collection within ``[start, end]``: seconds (all generations), full collections."""
    inside = [p for p in pauses if start <= p[1] <= end]
    return {
        "gc_s": round(sum(p[2] for p in inside), 2),
        "gc_full": sum(1 for p in inside if p[0] == 2),
        "gc_full_s": round(sum(p[2] for p in inside if p[0] == 2), 2),
    }


# ------------------------------------------------------------------------ sampling /proc


class ProcessSampler(threading.Thread):
    """Samples a process's RSS and CPU time from ``/proc`` until it ends (no psutil)."""

    def __init__(self, pid: int) -> None:
        super().__init__(name=f"sampler-{pid}", daemon=True)
        self.pid = pid
        #: (unix time, RSS in KiB, CPU seconds)
        self.samples: list[tuple[float, int, float]] = []
        self._done = threading.Event()

    def run(self) -> None:
        while not self._done.is_set():
            sample = self._read()
            if sample is None:
                return
            self.samples.append(sample)
            self._done.wait(SAMPLE_SECONDS)

    def _read(self) -> tuple[float, int, float] | None:
        try:
            status = Path(f"/proc/{self.pid}/status").read_text()
            stat = Path(f"/proc/{self.pid}/stat").read_text()
        except OSError:
            return None
        rss = next((int(line.split()[1]) for line in status.splitlines()
                    if line.startswith("VmRSS:")), 0)  # fmt: skip
        # Fields after the command name (which may hold spaces): utime, stime are 14th, 15th.
        ticks = stat.rsplit(")", 1)[1].split()
        cpu = (int(ticks[11]) + int(ticks[12])) / _TICK
        return time.time(), rss, cpu

    def stop(self) -> None:
        self._done.set()
        self.join(timeout=5)

    def window(self, start: float, end: float) -> tuple[int, int, float]:
        """(RSS at start KiB, peak RSS KiB, CPU seconds) over ``[start, end]``."""
        inside = [s for s in self.samples if start <= s[0] <= end]
        before = [s for s in self.samples if s[0] < start]
        after = [s for s in self.samples if s[0] > end]
        first = before[-1] if before else (inside[0] if inside else None)
        last = after[0] if after else (inside[-1] if inside else None)
        if first is None or last is None:
            return 0, 0, 0.0
        peak = max([s[1] for s in inside] + [first[1]])
        return first[1], peak, last[2] - first[2]


# --------------------------------------------------------------------------- the emulator


def emulator_items(db: Path, since: float, until: float) -> dict[str, dict[str, int]]:
    """Items the emulator received in import calls accepted in ``[since, until]``, per import
    table: upserts received, and how many it created and updated."""
    query = """
        SELECT t.key, SUM(json_array_length(t.value)) FROM jobs, json_each(jobs.batch, '$.upserts')
        AS t WHERE jobs.created BETWEEN ? AND ? GROUP BY t.key
    """
    counts_query = """
        SELECT t.key, SUM(t.value) FROM jobs, json_each(jobs.counts, ?) AS t
        WHERE jobs.created BETWEEN ? AND ? GROUP BY t.key
    """
    out: dict[str, dict[str, int]] = {}
    with sqlite3.connect(f"file:{db}?mode=ro", uri=True) as conn:
        for table, n in conn.execute(query, (since, until)):
            out.setdefault(table, {})["received"] = int(n)
        for key, label in (("$.new_items", "created"), ("$.updated_items", "updated")):
            for table, n in conn.execute(counts_query, (key, since, until)):
                out.setdefault(table, {})[label] = int(n)
    return out


def emulator_live(db: Path) -> dict[str, int]:
    """Live (not deleted) items per import table, counted in the emulator's store."""
    with sqlite3.connect(f"file:{db}?mode=ro", uri=True) as conn:
        rows = conn.execute("SELECT tbl, count(*) FROM items WHERE deleted = 0 GROUP BY tbl")
        return {str(table): int(n) for table, n in rows}


def emulator_prices(db: Path, refs: Sequence[str]) -> dict[str, Any]:
    """``frmt_price`` of the given variants as the emulator stores them."""
    prices: dict[str, Any] = {}
    with sqlite3.connect(f"file:{db}?mode=ro", uri=True) as conn:
        for start in range(0, len(refs), 500):
            chunk = list(refs[start : start + 500])
            marks = ",".join("?" * len(chunk))
            rows = conn.execute(
                "SELECT ref, fields FROM items WHERE tbl = 'product_formats' AND deleted = 0 "
                f"AND ref IN ({marks})",
                chunk,
            )
            for ref, fields in rows:
                prices[str(ref)] = json.loads(fields).get("frmt_price")
    return prices


# ------------------------------------------------------------------------------ the runs


@dataclass
class RunFigures:
    """What one run measured and whether its checks held."""

    name: str
    day: str
    state: str
    process_s: float
    dag_run_s: float
    rows: int
    maxrss_mb: float
    cpu_s: float
    emulator_cpu_s: float
    requests: dict[str, Any]
    received: dict[str, dict[str, int]]
    tasks: dict[str, dict[str, Any]] = field(default_factory=dict)
    report: dict[str, Any] = field(default_factory=dict)
    loadavg: tuple[float, float] = (0.0, 0.0)
    problems: list[str] = field(default_factory=list)
    profile: list[str] = field(default_factory=list)
    gc: dict[str, float] = field(default_factory=dict)

    @property
    def rows_per_s(self) -> float:
        """Export rows per second of the DAG run (first task start to last task end)."""
        return self.rows / self.dag_run_s if self.dag_run_s else 0.0

    def as_dict(self) -> dict[str, Any]:
        """JSON-ready."""
        return {
            "name": self.name,
            "export_date": self.day,
            "state": self.state,
            "process_s": round(self.process_s, 2),
            "dag_run_s": round(self.dag_run_s, 2),
            "rows": self.rows,
            "rows_per_s": round(self.rows_per_s, 1),
            "peak_rss_mb": round(self.maxrss_mb, 1),
            "cpu_s": round(self.cpu_s, 2),
            "gc": self.gc,
            "emulator_process_cpu_s": round(self.emulator_cpu_s, 2),
            "requests": self.requests,
            "emulator_received": self.received,
            "tasks": self.tasks,
            "report": self.report,
            "loadavg_1min_before_after": self.loadavg,
            "problems": self.problems,
        } | ({"profile_top": self.profile} if self.profile else {})


class Bench:
    """The servers, the Airflow home and the runs of one benchmark."""

    def __init__(
        self, work: Path, rows: int, batch_size: int, profile: bool = False, gc_freeze: bool = False
    ) -> None:
        self.work, self.rows, self.batch_size = work, rows, batch_size
        self.profile, self.gc_freeze = profile, gc_freeze
        self.expected = Expected.of(rows)
        self.exports = work / "http" / "exports"
        self.staging = work / "staging"
        self.home = work / "airflow-home"
        self.log = work / "runs.log"

    def environment(self, connections: dict[str, str]) -> dict[str, str]:
        """The child processes' environment: throw-away Airflow home, state and staging."""
        connectors = self.work / "connectors"
        connectors.mkdir(exist_ok=True)
        (connectors / f"{CONNECTOR_ID}.yaml").write_text(
            CONNECTOR.format(
                connector_id=CONNECTOR_ID, rows=f"{self.rows:,}", batch_size=self.batch_size
            ),
            encoding="utf-8",
        )
        self.home.mkdir(exist_ok=True)
        return {
            **os.environ,
            **connections,
            "AIRFLOW_HOME": str(self.home),
            "AIRFLOW__CORE__DAGS_FOLDER": str(ROOT / "dags"),
            "AIRFLOW__CORE__LOAD_EXAMPLES": "False",
            "SALESLAYER_CONNECTORS_DIR": str(connectors),
            "SALESLAYER_STAGING_BASE": self.staging.as_uri(),
            "SALESLAYER_STATE_URL": f"sqlite:///{self.work / 'state.sqlite'}",
            "PYTHONWARNINGS": "ignore",
        } | ({GC_FREEZE_ENV: "1"} if self.gc_freeze else {})

    def migrate(self, env: dict[str, str]) -> None:
        """``airflow db migrate`` in the throw-away home."""
        airflow = Path(sys.executable).with_name("airflow")
        with self.log.open("ab") as log:
            subprocess.run([str(airflow), "db", "migrate"], env=env, stdout=log,
                           stderr=subprocess.STDOUT, check=True)  # fmt: skip

    def export(self, plan: RunPlan) -> float:
        """Write the run's export where the HTTP server publishes it; seconds taken."""
        started = time.perf_counter()
        path = self.exports / f"catalog_{plan.day.isoformat()}.csv"
        previous = self.exports / f"catalog_{(plan.day - timedelta(1)).isoformat()}.csv"
        if plan.same_as_before and previous.exists():
            shutil.copyfile(previous, path)
        else:
            write_export(path, self.rows, changed=plan.changed)
        return time.perf_counter() - started

    def run(self, plan: RunPlan, env: dict[str, str], emulator: Any, db: Path) -> RunFigures:
        """One DAG run in a child process, sampled; figures and checks."""
        result_file = self.work / f"run-{plan.name}.json"
        emulator.state.stats.reset()
        load_before = os.getloadavg()[0]
        own_cpu = _own_cpu()
        started = time.time()
        command = [sys.executable, __file__, "--child", CONNECTOR_ID, plan.day.isoformat(),
                   json.dumps(plan.conf or {}), str(result_file)]  # fmt: skip
        profile = self.work / f"profile-{plan.name}.prof"
        if self.profile:
            env = {**env, PROFILE_ENV: str(profile)}
        with self.log.open("ab") as log:
            log.write(f"\n===== run {plan.name}: {' '.join(command)}\n".encode())
            log.flush()
            child_process = subprocess.Popen(
                command, env=env, stdout=log, stderr=subprocess.STDOUT, cwd=ROOT
            )
            sampler = ProcessSampler(child_process.pid)
            sampler.start()
            returncode = child_process.wait()
            sampler.stop()
        ended = time.time()
        stats = emulator.stats()
        emulator_cpu = _own_cpu() - own_cpu
        if returncode != 0 or not result_file.exists():
            raise BenchError(f"run {plan.name}: the child exited {returncode}; see {self.log}")
        body = json.loads(result_file.read_text(encoding="utf-8"))
        figures = RunFigures(
            name=plan.name,
            day=plan.day.isoformat(),
            state=body["state"],
            process_s=ended - started,
            dag_run_s=_dag_run_seconds(body["tasks"]),
            rows=self.rows,
            maxrss_mb=body["maxrss_kb"] / 1024,
            cpu_s=body["cpu_s"],
            emulator_cpu_s=emulator_cpu,
            requests={
                "total": stats["total"],
                "by_endpoint": stats["by_endpoint"],
                "by_status": stats["by_status"],
            },
            received=emulator_items(db, started, ended),
            report=body["xcoms"].get("report") or {},
            loadavg=(load_before, os.getloadavg()[0]),
        )
        figures.gc = gc_in(body["gc"]["pauses"], 0, float("inf")) | {
            "tracked_objects_at_end": body["gc"]["objects_at_end"]
        }
        for task_id in TASKS:
            task = body["tasks"].get(task_id, {})
            start, end = task.get("start"), task.get("end")
            entry: dict[str, Any] = {"state": task.get("state")}
            if start and end:
                rss_start, rss_peak, cpu = sampler.window(start, end)
                entry |= gc_in(body["gc"]["pauses"], start, end)
                entry |= {"seconds": round(end - start, 2), "cpu_s": round(cpu, 2),
                          "rss_start_mb": round(rss_start / 1024, 1),
                          "rss_peak_mb": round(rss_peak / 1024, 1)}  # fmt: skip
            xcom = body["xcoms"].get(task_id)
            if task_id.startswith("push_") and isinstance(xcom, dict):
                entry |= {k: xcom.get(k) for k in ("created", "updated", "unchanged", "stale",
                                                   "failed", "batches_sent")}  # fmt: skip
            figures.tasks[task_id] = entry
        figures.problems = self.check(plan, figures)
        if self.profile and profile.exists():
            figures.profile = profile_summary(profile)
        return figures

    def check(self, plan: RunPlan, figures: RunFigures) -> list[str]:
        """What must hold for this run: its state, what was sent, what the emulator received."""
        problems: list[str] = []
        if figures.state != "success":
            states = {t: task.get("state") for t, task in figures.tasks.items()}
            problems.append(f"DAG run ended {figures.state}: {states}")
            problems.extend(f"error in the log: {line}" for line in self.errors(plan.name))
            return problems
        skipped = plan.same_as_before and not plan.conf
        states = {t: figures.tasks[t]["state"] for t in TASKS}
        want_state = "skipped" if skipped else "success"
        wrong = {t: s for t, s in states.items() if s != want_state and t != "report"}
        if wrong:
            problems.append(f"tasks not {want_state}: {wrong}")
        expected = self.expected.items()
        sent = {t: 0 for t in TABLES}
        if plan.name == "first":
            sent = dict(expected)
        elif plan.changed:
            sent["variants"] = self.expected.changed
        for table in TABLES:
            received = figures.received.get(IMPORT_TABLES[table], {}).get("received", 0)
            if received != sent[table]:
                problems.append(
                    f"{table}: the emulator received {received}, expected {sent[table]}"
                )
            if skipped:
                continue
            counts = (figures.report.get("tables") or {}).get(table, {})
            reported = int(counts.get("created", 0)) + int(counts.get("updated", 0))
            if reported != sent[table]:
                problems.append(f"{table}: the report says {reported} sent, expected {sent[table]}")
            if int(counts.get("rejected", 0)) or int(counts.get("failed", 0)):
                problems.append(f"{table}: rejected or failed items: {counts}")
            out = int(counts.get("read", 0)) - int(counts.get("merged", 0))
            if out != expected[table]:
                problems.append(f"{table}: {out} items after the split, expected {expected[table]}")
        if skipped and figures.requests["total"]:
            problems.append(f"{figures.requests['total']} API requests during a skipped run")
        return problems

    def errors(self, run: str, limit: int = 3) -> list[str]:
        """The first exception lines the run wrote to the log (what to look at first)."""
        text = self.log.read_text(encoding="utf-8", errors="replace")
        section = text.rsplit(f"===== run {run}:", 1)[-1]
        found = [
            line.strip()
            for line in section.splitlines()
            if re.match(r"^[\w.]+(Error|Exception): ", line.strip())
        ]
        return list(dict.fromkeys(found))[:limit]

    def final_checks(self, db: Path) -> tuple[dict[str, int], list[str]]:
        """The emulator's tables hold every item once, with the changed prices."""
        live = emulator_live(db)
        problems = [
            f"emulator table {IMPORT_TABLES[t]} holds {live.get(IMPORT_TABLES[t], 0)} items, "
            f"expected {n}"
            for t, n in self.expected.items().items()
            if live.get(IMPORT_TABLES[t], 0) != n
        ]
        changed = [n for n in range(self.rows) if is_changed(n)]
        refs = [f"P{n // VARIANTS_PER_PRODUCT:07d}-{_SIZES[n % VARIANTS_PER_PRODUCT]}"
                for n in changed]  # fmt: skip
        prices = emulator_prices(db, refs)
        wrong = 0
        for n, ref in zip(changed, refs, strict=True):
            product, size_index = divmod(n, VARIANTS_PER_PRODUCT)
            cents = 1000 + (product * 37) % 9000 + size_index * 100 + 100
            try:
                ok = abs(float(prices.get(ref)) - cents / 100) < 1e-9  # type: ignore[arg-type]
            except (TypeError, ValueError):
                ok = False
            wrong += not ok
        if wrong:
            problems.append(f"{wrong} of {len(refs)} changed variants lack their new price")
        return live, problems


class BenchError(Exception):
    """A benchmark step could not run (not a failed check); the message says where to look."""


def profile_summary(path: Path, top: int = 25) -> list[str]:
    """The functions of a profile that took the most time of their own, one line each (the
    full listing is written beside it, ``.txt``)."""
    listing = io.StringIO()
    stats = pstats.Stats(str(path), stream=listing)
    stats.sort_stats("tottime").print_stats(top)
    text = listing.getvalue()
    path.with_suffix(".txt").write_text(text, encoding="utf-8")
    lines = text.splitlines()
    start = next((i for i, line in enumerate(lines) if line.lstrip().startswith("ncalls")), 0)
    return [line.rstrip() for line in lines[start : start + top + 1] if line.strip()]


def _own_cpu() -> float:
    usage = resource.getrusage(resource.RUSAGE_SELF)
    return usage.ru_utime + usage.ru_stime


def _dag_run_seconds(tasks: dict[str, dict[str, Any]]) -> float:
    starts = [t["start"] for t in tasks.values() if t.get("start")]
    ends = [t["end"] for t in tasks.values() if t.get("end")]
    return max(ends) - min(starts) if starts and ends else 0.0


# ------------------------------------------------------------------------------ output


def print_run(figures: RunFigures) -> None:
    """One run's figures as a small table."""
    requests = figures.requests
    posts = requests["by_endpoint"].get("POST /", 0)
    received = {t: figures.received.get(IMPORT_TABLES[t], {}).get("received", 0) for t in TABLES}
    print(
        f"\n{figures.name} (export {figures.day}): {figures.state}, DAG run "
        f"{figures.dag_run_s:.1f} s ({figures.process_s:.1f} s with Airflow start-up), "
        f"{figures.rows_per_s:,.0f} rows/s, peak RSS {figures.maxrss_mb:.0f} MB, "
        f"CPU {figures.cpu_s:.0f} s (of it garbage collection {figures.gc.get('gc_s', 0):.0f} s"
        f"; emulator process {figures.emulator_cpu_s:.0f} s), "
        f"load {figures.loadavg[0]:.1f}->{figures.loadavg[1]:.1f}"
    )
    print(
        f"  requests to the emulator: {requests['total']} ({posts} import calls); items "
        f"received: {received}"
    )
    print(f"  {'task':<20}{'state':<10}{'seconds':>8}{'CPU s':>7}{'GC s':>6}{'RSS start':>10}"
          f"{'RSS peak':>9}  sent (created+updated) / unchanged / batches")  # fmt: skip
    for task_id, task in figures.tasks.items():
        line = f"  {task_id:<20}{task.get('state') or '-':<10}"
        if "seconds" in task:
            line += (f"{task['seconds']:>8.1f}{task['cpu_s']:>7.1f}{task['gc_s']:>6.1f}"
                     f"{task['rss_start_mb']:>8.0f}MB"
                     f"{task['rss_peak_mb']:>7.0f}MB")  # fmt: skip
        if task.get("batches_sent") is not None:
            sent = int(task.get("created") or 0) + int(task.get("updated") or 0)
            line += f"  {sent:,} / {int(task.get('unchanged') or 0):,} / {task['batches_sent']}"
        print(line)
    for problem in figures.problems:
        print(f"  CHECK FAILED: {problem}")
    if figures.profile:
        print("  profile (own time, top functions):")
        for line in figures.profile[:13]:
            print(f"    {line[:150]}")


def make_workdir(path: Path | None) -> Path:
    """The benchmark's folder: ``path`` (emptied first), or a new temporary one."""
    if path is None:
        return Path(tempfile.mkdtemp(prefix="bench-e2e-"))
    if path.exists():
        shutil.rmtree(path)
    path.mkdir(parents=True)
    return path


def code_version() -> str:
    """The commit measured, and how many files of the shared working tree differ from it."""
    try:
        head = subprocess.run(
            ["git", "-C", str(ROOT), "rev-parse", "--short", "HEAD"],
            capture_output=True,
            text=True,
            check=True,
        ).stdout.strip()
        changed = subprocess.run(
            ["git", "-C", str(ROOT), "status", "--porcelain"],
            capture_output=True,
            text=True,
            check=True,
        ).stdout.splitlines()
    except (OSError, subprocess.CalledProcessError):
        return "unknown (not a git checkout)"
    return f"{head} + {len(changed)} uncommitted files" if changed else head


def bench(
    work: Path, rows: int, batch_size: int, profile: bool = False, gc_freeze: bool = False
) -> dict[str, Any]:
    """Start the servers, run the four runs, check the emulator; the figures as JSON data."""
    from saleslayer_airflow.demo.servers import DemoServers

    setup = Bench(work, rows, batch_size, profile, gc_freeze)
    expected = setup.expected
    results_code = code_version()
    print(f"code: {results_code}")
    print(
        f"{rows:,} rows -> {expected.categories} categories, {expected.products:,} products, "
        f"{expected.variants:,} variants; batch size {batch_size:,}; work folder {work}"
    )
    results: dict[str, Any] = {
        "rows": rows,
        "batch_size": batch_size,
        "gc_freeze_before_split": gc_freeze,
        "expected_items": expected.items(),
        "changed_variants": expected.changed,
        "date": datetime.now(UTC).isoformat(timespec="seconds"),
        "machine": {"cpus": os.cpu_count(), "python": sys.version.split()[0]},
        "code": results_code,
        "runs": [],
    }
    with DemoServers(work) as servers:
        # Each call applied as it arrives: one POST and one tracking poll per batch, no waits.
        servers.emulator.update_settings({"tracking": {"steps_to_end": 0, "seconds_per_step": 0}})
        db = work / "saleslayer.sqlite"
        setup.exports = servers.http_root / "exports"
        env = setup.environment(servers.connections())
        started = time.perf_counter()
        setup.migrate(env)
        print(f"airflow db migrate: {time.perf_counter() - started:.1f} s")
        for plan in run_plans():
            seconds = setup.export(plan)
            size = (setup.exports / f"catalog_{plan.day.isoformat()}.csv").stat().st_size
            results["export_mb"] = round(size / 1e6, 1)
            print(f"\nexport {plan.day}: {size / 1e6:.0f} MB written in {seconds:.1f} s")
            figures = setup.run(plan, env, servers.emulator, db)
            print_run(figures)
            results["runs"].append(figures.as_dict())
        live, problems = setup.final_checks(db)
    results["emulator_live_items"] = live
    results["final_problems"] = problems
    print(f"\nemulator tables after the runs: {live}")
    for problem in problems:
        print(f"CHECK FAILED: {problem}")
    results["ok"] = not problems and not any(r["problems"] for r in results["runs"])
    return results


def main(argv: Sequence[str] | None = None) -> int:
    """Parse the arguments, run the benchmark (or, with --child, one DAG run)."""
    args_list = list(sys.argv[1:] if argv is None else argv)
    if args_list[:1] == ["--child"]:
        child(args_list[1], args_list[2], args_list[3], Path(args_list[4]))
        return 0
    parser = argparse.ArgumentParser(description=(__doc__ or "").split("\n\n")[0])
    parser.add_argument("--rows", type=int, default=1_000_000, help="variant rows of the export")
    parser.add_argument("--batch-size", type=int, default=5_000, help="items per import call")
    parser.add_argument("--out", type=Path, help="write the figures here as JSON")
    parser.add_argument("--workdir", type=Path, help="work here (emptied first, kept)")
    parser.add_argument("--keep", action="store_true", help="keep the temporary work folder")
    parser.add_argument(
        "--profile",
        action="store_true",
        help="profile each DAG run with cProfile (slower: for finding hot spots, not figures)",
    )
    parser.add_argument(
        "--gc-freeze",
        action="store_true",
        help="measure the proposed fix: gc.freeze() before the split task (product untouched)",
    )
    args = parser.parse_args(args_list)
    if args.rows < 100:
        parser.error("--rows must be at least 100 (1% of the rows change)")
    work = make_workdir(args.workdir)
    ok = False
    try:
        results = bench(work, args.rows, args.batch_size, args.profile, args.gc_freeze)
        if args.out:
            args.out.write_text(json.dumps(results, indent=1) + "\n", encoding="utf-8")
            print(f"figures written to {args.out}")
        ok = bool(results["ok"])
    except BenchError as exc:
        print(f"benchmark failed: {exc}", file=sys.stderr)
        return 2
    finally:
        # A failed run keeps its files (runs.log holds every task's log) to look at.
        if args.workdir is None and ok and not args.keep:
            shutil.rmtree(work, ignore_errors=True)
        else:
            print(f"(files in {work})")
    print("all checks held" if ok else "CHECKS FAILED")
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
