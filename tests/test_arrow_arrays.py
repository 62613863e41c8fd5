"""Arrow arrays built from NumPy buffers (saleslayer_airflow.arrow_arrays): the same arrays as
``pyarrow.array()`` gives, without importing pandas (which ``pyarrow.array()`` does, 0.3-0.5 s of
a task's CPU); and the split of a CSV export imports no pandas at all."""

from __future__ import annotations

import json
import subprocess
import sys
import textwrap
from pathlib import Path

import numpy as np
import pyarrow as pa
import pytest

from saleslayer_airflow.arrow_arrays import bool_array, int64_array
from tests.conftest import ROOT


@pytest.mark.parametrize("length", [0, 1, 7, 8, 9, 64, 1001])
def test_the_arrays_equal_pyarrows(length: int) -> None:
    rng = np.random.default_rng(length)
    ints = rng.integers(-(2**40), 2**40, size=length * 2)[::2]  # not contiguous
    flags = rng.random(length) > 0.5
    assert int64_array(ints).equals(pa.array(ints, pa.int64()))
    assert bool_array(flags).equals(pa.array(flags, pa.bool_()))
    assert bool_array(list(flags)).to_pylist() == [bool(f) for f in flags]
    assert int64_array(np.arange(length, dtype=np.uint32)).type == pa.int64()


PROBE = textwrap.dedent(
    """
    import json, sys
    from pathlib import Path
    from saleslayer_airflow.config import parse_connector
    from saleslayer_airflow.normalize.engine import LandedFile, split_export
    folder = Path(sys.argv[1])
    config = parse_connector((folder / "c.yaml").read_text(), "c.yaml")
    result = split_export(config, [LandedFile(folder / "e.csv", "e.csv")], folder / "work")
    print(json.dumps({"rows": result.rows_read, "pandas": "pandas" in sys.modules}))
    """
)
CONNECTOR = """\
id: probe
description: a flat export
schedule: null
start_date: 2026-01-01
source: {kind: http, conn_id: erp_http, endpoint: export}
format: {type: csv}
tables:
  products:
    reference: product
    fields:
      prod_title: {column: name, languages: [en]}
  variants:
    reference: sku
    product: product
    fields:
      frmt_price: {column: price, type: number}
"""


def test_splitting_a_csv_export_imports_no_pandas(tmp_path: Path) -> None:
    (tmp_path / "c.yaml").write_text(CONNECTOR, encoding="utf-8")
    rows = [f"P{n // 3},S{n},Name {n // 3},{n}.50" for n in range(3000)]
    text = "product,sku,name_en,price\n" + "\n".join(rows) + "\n"
    (tmp_path / "e.csv").write_text(text, encoding="utf-8")
    done = subprocess.run(
        [sys.executable, "-c", PROBE, str(tmp_path)],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert done.returncode == 0, done.stderr[-3000:]
    assert json.loads(done.stdout.strip().splitlines()[-1]) == {"rows": 3000, "pandas": False}
