"""The README's connector example is a working connector: it validates with the command the
README gives and Airflow builds the DAG it describes. (It cannot rot: change the format, and this
fails until the README follows.)"""

from __future__ import annotations

import re
import subprocess
import sys
from pathlib import Path

from tests.conftest import ROOT

MARKER = "<!-- connector-example:"


def readme_example() -> str:
    text = (ROOT / "README.md").read_text(encoding="utf-8")
    assert text.count(MARKER) == 1, "the README marks exactly one connector example"
    after = text.split(MARKER, 1)[1]
    match = re.search(r"```yaml\n(.*?)```", after, re.DOTALL)
    assert match is not None and after.index("```yaml") < after.index("\n\n"), (
        "the connector example block must follow its marker line"
    )
    return match.group(1)


def test_the_readme_example_validates(tmp_path: Path) -> None:
    path = tmp_path / "example.yaml"
    path.write_text(readme_example(), encoding="utf-8")
    done = subprocess.run(
        [sys.executable, "-m", "saleslayer_airflow", "validate", str(path)],
        capture_output=True,
        text=True,
        cwd=ROOT,
        check=False,
    )
    assert done.returncode == 0, done.stdout + done.stderr
    assert "ok (connector stores_ftp)" in done.stdout


def test_the_readme_example_becomes_the_dag_it_describes(tmp_path: Path) -> None:
    from saleslayer_airflow.dag_loader import load_connector_dags

    (tmp_path / "stores_ftp.yaml").write_text(readme_example(), encoding="utf-8")
    namespace: dict[str, object] = {}
    dags = load_connector_dags(namespace, tmp_path)
    assert "saleslayer_broken_connectors" not in namespace
    dag = dags["stores_ftp"]
    assert {t.task_id for t in dag.tasks} == {
        "fetch_source",
        "validate_and_split",
        "push_points_of_sale",
        "report",
    }
    assert dag.owner == "retail-ops"
    assert set(dag.tags) == {"saleslayer", "points-of-sale", "ftp"}
    (outlet,) = dag.get_task("push_points_of_sale").outlets
    assert outlet.name == "saleslayer.saleslayer_default.points_of_sale"
