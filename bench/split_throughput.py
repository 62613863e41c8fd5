"""Validate-and-split throughput and peak memory on a generated flat ERP export.

    .venv/bin/python bench/split_throughput.py                 # 1,000,000 and 5,000,000 rows
    .venv/bin/python bench/split_throughput.py --rows 200000   # one size

Each size runs in a fresh process (so peak RSS is that run's own): it writes a row-per-SKU CSV
(category path of three levels, products with five variants each, names in two languages), splits
it into categories, products and variants, and prints rows per second and peak RSS. Memory should
stay flat as the row count grows: rows are read in chunks and items live in an on-disk store.
"""

from __future__ import annotations

import argparse
import json
import resource
import subprocess
import sys
import tempfile
import time
from pathlib import Path

CONNECTOR = """\
id: bench_flat_export
description: generated flat export
schedule: null
start_date: 2026-01-01
source: {kind: http, conn_id: erp_http, endpoint: export.csv}
format: {type: csv, delimiter: ";"}
tables:
  categories:
    reference: category_path
    path: {column: category_path}
    fields:
      name: {column: category_name, languages: [en, es]}
  products:
    reference: product_ref
    categories: {column: category_path}
    fields:
      name: {column: product_name, languages: [en, es], required: true, max_length: 255}
      brand: brand
      images: {column: image_urls, separator: ","}
  variants:
    reference: sku
    product: product_ref
    fields:
      size: {column: size, enum: [XS, S, M, L, XL]}
      price: {column: price_eur, type: number, transforms: [{parse_number: comma}]}
      available: {column: in_stock, type: boolean, transforms: [{map: {Y: true, N: false}}]}
"""
SIZES = ["XS", "S", "M", "L", "XL"]


def generate(path: Path, rows: int) -> None:
    """A row-per-SKU export: 5 variants per product, 4 x 5 x 5 = 100 leaf categories."""
    with path.open("w", encoding="utf-8", newline="") as out:
        out.write(
            "sku;product_ref;category_path;category_name_en;category_name_es;product_name_en;"
            "product_name_es;brand;image_urls;size;price_eur;in_stock\n"
        )
        for n in range(rows):
            product = n // 5
            a, b, c = product % 4, (product // 4) % 5, (product // 20) % 5
            path_text = f"Dept {a} > Group {b} > Line {c}"
            out.write(
                f"SKU{n:08d};P{product:07d};{path_text};Line {c};Linea {c};Product {product};"
                f"Producto {product};Brand {product % 37};https://cdn.example.com/p/{product}.jpg;"
                f"{SIZES[n % 5]};{product % 200},{n % 100:02d};{'Y' if n % 3 else 'N'}\n"
            )


def child(rows: int) -> None:
    from saleslayer_airflow.config.load import parse_connector
    from saleslayer_airflow.normalize.engine import split_export
    from saleslayer_airflow.normalize.results import LandedFile

    with tempfile.TemporaryDirectory(prefix="split-bench-") as tmp:
        work = Path(tmp)
        export = work / "export.csv"
        generate(export, rows)
        size = export.stat().st_size
        rss_before = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
        config = parse_connector(CONNECTOR, "bench.yaml")
        start = time.perf_counter()
        result = split_export(config, [LandedFile(export, "export.csv")], work / "out")
        seconds = time.perf_counter() - start
        peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
        print(
            json.dumps(
                {
                    "rows": rows,
                    "file_mb": size / 1e6,
                    "seconds": seconds,
                    "rows_per_s": rows / seconds,
                    "peak_rss_mb": peak / 1024,
                    "rss_after_generate_mb": rss_before / 1024,
                    "out": {k: c.rows_out for k, c in result.tables.items()},
                    "rejected": result.rows_rejected,
                }
            )
        )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rows", type=int, action="append")
    parser.add_argument("--child", action="store_true", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.child:
        child(args.rows[0])
        return
    print(
        f"{'rows':>10} {'file MB':>8} {'seconds':>8} {'rows/s':>9} {'peak RSS MB':>12}  items out"
    )
    for rows in args.rows or [1_000_000, 5_000_000]:
        done = subprocess.run(
            [sys.executable, __file__, "--child", "--rows", str(rows)],
            check=True,
            capture_output=True,
            text=True,
        )
        figures = json.loads(done.stdout.strip().splitlines()[-1])
        print(
            f"{figures['rows']:>10,} {figures['file_mb']:>8.0f} {figures['seconds']:>8.1f} "
            f"{figures['rows_per_s']:>9,.0f} {figures['peak_rss_mb']:>12.0f}  {figures['out']}"
        )


if __name__ == "__main__":
    main()
