"""A connector id is a DAG id and the name of the connector's staging folder: ids that would make
a folder the web app never serves (``_``: the staging's own folders; ``.``: hidden ones) or an
unsafe one are refused when the file is read, with the line and the fix (issue 11, point 14)."""

from __future__ import annotations

from pathlib import Path

import pytest

from saleslayer_airflow.config import parse_connector
from saleslayer_airflow.exceptions import ConnectorConfigError
from tests.conftest import DAGS, EXAMPLES

TEXT = """\
description: A test connector.
id: {id}
schedule: "@daily"
start_date: 2026-11-01
source: {{kind: ftp, conn_id: erp_ftp, path: /exports/products.csv}}
format: {{type: csv}}
tables:
  products: {{reference: sku, fields: {{name: name}}}}
"""


@pytest.mark.parametrize(
    ("written", "message"),
    [
        ("_stores", "connector id '_stores' starts with '_'"),
        ("__state", "connector id '__state' starts with '_'"),
        ("_state", "start it with a letter or a digit, e.g. 'state'"),
        (".stores", "connector id '.stores' starts with '.'"),
        ('".."', "connector id '..' starts with '.'"),
        ('"stores/../x"', "connector id 'stores/../x' holds '/'"),
        ('"stores x"', "connector id 'stores x' holds ' '"),
        ('"stores:x"', "connector id 'stores:x' holds ':'"),
        ("tiendas_españa", "holds 'ñ'"),
        ('""', "the connector id is empty"),
        ("a" * 201, "longer than 200 characters"),
    ],
)
def test_unsafe_connector_ids_are_refused_with_line_and_fix(written: str, message: str) -> None:
    with pytest.raises(ConnectorConfigError) as caught:
        parse_connector(TEXT.format(id=written), "connectors/x.yaml")
    (problem,) = caught.value.problems
    assert (problem.file, problem.line, problem.field) == ("connectors/x.yaml", 2, "id")
    assert message in problem.message


@pytest.mark.parametrize("written", ["stores", "Stores-2.eu", "0stores", "a_b-c.d"])
def test_ordinary_ids_stay_valid(written: str) -> None:
    assert parse_connector(TEXT.format(id=written), "x.yaml").id == written


def test_the_error_says_why_and_how_to_fix() -> None:
    with pytest.raises(ConnectorConfigError) as caught:
        parse_connector(TEXT.format(id="_stores"), "connectors/x.yaml")
    assert str(caught.value.problems[0]) == (
        "connectors/x.yaml:2: id: connector id '_stores' starts with '_': ids become staging "
        "folder names, where '_' marks the staging's own folders and '.' hidden ones, so its run "
        "files could never be served; start it with a letter or a digit, e.g. 'stores'"
    )


def test_an_id_starting_with_an_underscore_is_a_dag_import_error_naming_the_line(
    connectors_dir: Path,
) -> None:
    """Through Airflow's own DagBag: the file becomes no DAG (its run files could never be
    served), the import error names the file, line and fix, and the other connectors load."""
    from airflow.dag_processing.dagbag import DagBag

    path = connectors_dir / "hidden.yaml"
    path.write_text(TEXT.format(id="_hidden"), encoding="utf-8")

    bag = DagBag(dag_folder=str(DAGS))

    (message,) = bag.import_errors.values()
    assert f"{path}:2: id: connector id '_hidden' starts with '_'" in message
    assert "e.g. 'hidden'" in message
    assert "_hidden" not in bag.dag_ids
    assert sorted(bag.dag_ids) == sorted(p.stem for p in EXAMPLES.glob("*.yaml"))
