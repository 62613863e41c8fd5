"""Benchmark: how long Airflow takes to parse the DAG folder with 10, 100 and 500 connector files.

Each measurement runs in a fresh Python process (as Airflow's DAG processor does per file), with
generated connector files (copies of the examples under new ids). It reports the time of Airflow's
own DagBag processing of the loader file, which must stay far below `[core] dagbag_import_timeout`
(30 s by default), the time per connector, and the process's peak memory.

    make bench            # or: .venv/bin/python bench/parse_time.py --counts 10 100 500 --repeat 3
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import tempfile
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
EXAMPLES = sorted((ROOT / "include" / "connectors").glob("*.yaml"))

PROBE = """
import json, resource, sys, time
t0 = time.perf_counter()
from airflow.dag_processing.dagbag import DagBag
t1 = time.perf_counter()
bag = DagBag(dag_folder=sys.argv[1])
t2 = time.perf_counter()
assert not bag.import_errors, bag.import_errors
print(json.dumps({
    "dags": len(bag.dag_ids),
    "import_airflow_s": t1 - t0,
    "parse_s": t2 - t1,
    "peak_rss_mb": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024,
}))
"""


def generate(folder: Path, count: int) -> None:
    texts = [p.read_text(encoding="utf-8") for p in EXAMPLES]
    for i in range(count):
        source = EXAMPLES[i % len(EXAMPLES)]
        text = texts[i % len(texts)].replace(f"id: {source.stem}", f"id: {source.stem}_{i:04d}", 1)
        (folder / f"{source.stem}_{i:04d}.yaml").write_text(text, encoding="utf-8")


def measure(count: int, home: str) -> dict[str, float]:
    with tempfile.TemporaryDirectory(prefix="bench-connectors-") as tmp:
        generate(Path(tmp), count)
        env = {
            **os.environ,
            "AIRFLOW_HOME": home,
            "AIRFLOW__CORE__LOAD_EXAMPLES": "False",
            "SALESLAYER_CONNECTORS_DIR": tmp,
        }
        out = subprocess.run(
            [sys.executable, "-c", PROBE, str(ROOT / "dags")],
            env=env,
            capture_output=True,
            text=True,
            check=True,
        ).stdout
        result: dict[str, float] = json.loads(out.strip().splitlines()[-1])
        assert result["dags"] == count, result
        return result


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--counts", type=int, nargs="+", default=[10, 100, 500])
    parser.add_argument("--repeat", type=int, default=3)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory(prefix="bench-airflow-home-") as home:
        print(
            f"{'files':>6} {'parse s (median)':>17} {'ms/connector':>13} "
            f"{'import airflow s':>17} {'peak RSS MB':>12}"
        )
        for count in args.counts:
            runs = [measure(count, home) for _ in range(args.repeat)]
            parse = statistics.median(r["parse_s"] for r in runs)
            print(
                f"{count:>6} {parse:>17.2f} {1000 * parse / count:>13.1f} "
                f"{statistics.median(r['import_airflow_s'] for r in runs):>17.2f} "
                f"{max(r['peak_rss_mb'] for r in runs):>12.0f}"
            )


if __name__ == "__main__":
    main()
