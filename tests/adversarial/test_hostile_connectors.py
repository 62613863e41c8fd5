"""Hostile connector files: each is refused by `validate` with `file:line: field: message` and a
fix, never a traceback, and never reaches Airflow as a DAG.

Table-driven: every case is a whole connector file, the line and field the problem must be
reported at, and a fragment of the message. The `validate` command runs as users run it
(``python -m saleslayer_airflow validate FILE``), in a subprocess, so a crash anywhere in the
loader shows as a traceback on stderr and fails the case.
"""

from __future__ import annotations

import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path

import pytest

BASE = """\
id: {id}
description: Hostile connector file.
schedule: "@daily"
start_date: 2026-11-01
source:
  kind: http
  conn_id: erp_http
  endpoint: "{path}"
format: {{type: csv}}
tables:
  products:
    reference: sku
    fields:
      name: name
target: {{conn_id: saleslayer_default{target}}}
{extra}"""


def connector(
    *,
    id: str = "hostile",
    path: str = "/export_{{ ds_nodash }}.csv",
    target: str = "",
    extra: str = "",
) -> str:
    return BASE.format(id=id, path=path, target=target, extra=extra)


@dataclass(frozen=True)
class Case:
    name: str
    text: str
    line: int
    field: str
    fragment: str


TEMPLATE_REFUSED = "only the run's dates and params"

CASES = [
    # Templates that reach secrets, objects or the interpreter.
    Case(
        "connection password",
        connector(path="/x?k={{ conn.saleslayer_default.password }}"),
        8,
        "source.endpoint",
        TEMPLATE_REFUSED,
    ),
    Case(
        "connection URI",
        connector(path="/x/{{ conn.erp_http.get_uri() }}"),
        8,
        "source.endpoint",
        TEMPLATE_REFUSED,
    ),
    Case(
        "variable",
        connector(path="/x/{{ var.value.erp_token }}"),
        8,
        "source.endpoint",
        TEMPLATE_REFUSED,
    ),
    Case(
        "variable as JSON",
        connector(path="/x/{{ var.json.settings.key }}"),
        8,
        "source.endpoint",
        TEMPLATE_REFUSED,
    ),
    Case(
        "task instance",
        connector(path="/x/{{ ti.xcom_pull('fetch_source') }}"),
        8,
        "source.endpoint",
        TEMPLATE_REFUSED,
    ),
    Case(
        "dunder escape",
        connector(path="/x/{{ ''.__class__.__mro__[1].__subclasses__() }}"),
        8,
        "source.endpoint",
        TEMPLATE_REFUSED,
    ),
    Case(
        "dag object", connector(path="/x/{{ dag.fileloc }}"), 8, "source.endpoint", TEMPLATE_REFUSED
    ),
    Case(
        "environment through macros",
        connector(path="/x/{{ macros.os.environ }}"),
        8,
        "source.endpoint",
        TEMPLATE_REFUSED,
    ),
    Case(
        "template syntax error",
        connector(path="/x/{{ ds_nodash "),
        8,
        "source.endpoint",
        "invalid Jinja template",
    ),
    # Ids that cannot be a DAG and a staging folder.
    Case("id starting with an underscore", connector(id="_hidden"), 1, "id", "_"),
    Case("id climbing out of the staging base", connector(id="../evil"), 1, "id", "e.g. 'evil'"),
    Case("id with a slash", connector(id="a/b"), 1, "id", "holds '/'"),
    # Structure.
    Case("misspelt key", connector(extra="retires: 3\n"), 16, "retires", "did you mean 'retries'"),
    Case("duplicate key", connector(extra="schedule: null\n"), 16, "schedule", "given twice"),
    Case(
        "python object tag",
        connector(extra="owner: !!python/object/apply:os.system ['id']\n"),
        16,
        "(yaml)",
        "is not allowed",
    ),
    Case(
        "credential in a header",
        connector().replace("  endpoint:", "  headers: {Authorization: Bearer abc}\n  endpoint:"),
        8,
        "source.headers",
        "secrets",
    ),
    Case(
        "batch size beyond the API limit",
        connector(target=", batch_size: 1000000000"),
        15,
        "target.batch_size",
        "50000",
    ),
    Case(
        "deletions allowed to wipe everything",
        connector(target=", deletions: {enabled: true, max_ratio: 1.5}"),
        15,
        "target.deletions.max_ratio",
        "1",
    ),
]


def _billion_laughs() -> str:
    lines = ['a: &a ["x","x","x","x","x","x","x","x","x","x"]']
    for level in range(1, 9):
        prev = chr(ord("a") + level - 1)
        this = chr(ord("a") + level)
        lines.append(f"{this}: &{this} [*{prev},*{prev},*{prev},*{prev},*{prev},*{prev},*{prev}]")
    return connector(extra="x-bomb:\n" + "\n".join("  " + line for line in lines) + "\n")


CASES.append(Case("alias expansion bomb", _billion_laughs(), 17, "(yaml)", "expands to more than"))


def _validate(path: Path) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "saleslayer_airflow", "validate", str(path)],
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )


@pytest.mark.parametrize("case", CASES, ids=[c.name for c in CASES])
def test_hostile_connector_file_is_refused_with_its_line(case: Case, tmp_path: Path) -> None:
    path = tmp_path / "hostile.yaml"
    path.write_text(case.text, encoding="utf-8")
    done = _validate(path)
    output = done.stdout + done.stderr
    assert done.returncode == 1, output
    assert "Traceback" not in output, output
    problems = [line for line in done.stdout.splitlines() if line.startswith(f"{path}:")]
    assert problems, output
    located = [p for p in problems if p.startswith(f"{path}:{case.line}:")]
    assert located, f"expected a problem at line {case.line}:\n{output}"
    assert any(case.field in p and case.fragment in p for p in located), output
