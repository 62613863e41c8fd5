"""Templates in connector files reach the run's dates and params, never a connection or a
variable (issue 11, point 11).

Table-driven checks of what `validate` refuses, with `file:line: field: message`; the sandboxed
renderer on its own; and, through Airflow (`dag.test()`), a connector whose path was made hostile
after validation: the fetch fails with a clear message and the secret reaches no server, XCom,
staging file name nor log line.
"""

from __future__ import annotations

import json
import textwrap
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest

from saleslayer_airflow.config import parse_connector
from saleslayer_airflow.config.templates import (
    SCOPE,
    TemplateRenderError,
    check_template,
    render_value,
    run_template_context,
)
from saleslayer_airflow.exceptions import ConnectorConfigError
from tests.e2e.conftest import KEY, World, first_day, states, xcom
from tests.e2e.conftest import world as world  # the FTP + emulator fixture

FTP = """\
id: shop
description: A test connector.
schedule: "@daily"
start_date: 2026-11-01
source:
  kind: ftp
  conn_id: erp_ftp
  path: "/exports/products_{{ ds_nodash }}.csv"
format:
  type: csv
tables:
  products:
    reference: sku
    fields:
      name: name
"""

API = """\
id: shop
description: A test connector.
schedule: "@daily"
start_date: 2026-11-01
source:
  kind: api
  conn_id: erp_http
  endpoint: "api/items/{{ ds }}"
  params: {since: "{{ ds }}"}
  headers: {X-Tenant: acme}
  pagination: {style: page}
format:
  type: jsonl
tables:
  products:
    reference: sku
    fields:
      name: name
"""

NAMED = FTP.replace(
    '  path: "/exports/products_{{ ds_nodash }}.csv"\n',
    '  files:\n    products: "/exports/products_{{ ds_nodash }}.csv"\n',
)


def problems(text: str) -> list[str]:
    with pytest.raises(ConnectorConfigError) as caught:
        parse_connector(text, "connectors/shop.yaml")
    return [str(p) for p in caught.value.problems]


def sub(text: str, old: str, new: str) -> str:
    assert old in text, old
    return text.replace(old, new, 1)


def path(template: str) -> str:
    return sub(FTP, '"/exports/products_{{ ds_nodash }}.csv"', json.dumps(f"/x/{template}.csv"))


def named(template: str) -> str:
    return sub(NAMED, '"/exports/products_{{ ds_nodash }}.csv"', json.dumps(template))


def api(key: str, template: str) -> str:
    old = {"endpoint": '"api/items/{{ ds }}"', "params": '"{{ ds }}"', "headers": "acme"}[key]
    return sub(API, old, json.dumps(template))


# (connector file, "line: field" of the problem, what the message names)
HOSTILE = [
    (path("{{ conn.saleslayer_default.password }}"), "8: source.path", "`conn`"),
    (path("{{ conn.erp_ftp.get_uri() }}"), "8: source.path", "`conn`"),
    (path("{{ var.value.erp_token }}"), "8: source.path", "`var`"),
    (path("{{ var.json.erp }}"), "8: source.path", "`var`"),
    (path("{{ ti.xcom_pull('x') }}"), "8: source.path", "`ti`"),
    (path("{{ task_instance.task_id }}"), "8: source.path", "`task_instance`"),
    (path("{{ dag.dag_id }}"), "8: source.path", "`dag`"),
    (path("{{ task.owner }}"), "8: source.path", "`task`"),
    (path("{{ dag_run.conf }}"), "8: source.path", "`dag_run`"),
    (path("{{ self }}"), "8: source.path", "`self`"),
    (path("{{ range(9) | list }}"), "8: source.path", "`range`"),
    (path("{{ lipsum() }}"), "8: source.path", "`lipsum`"),
    (path("{{ macros.json.dumps(1) }}"), "8: source.path", "`macros.json`"),
    (path("{{ macros[ds] }}"), "8: source.path", "computed key"),
    (path("{{ params.__class__ }}"), "8: source.path", "`__class__`"),
    (path("{{ ds.__class__.__mro__ }}"), "8: source.path", "`__mro__`"),
    (path("{{ params['_x'] }}"), "8: source.path", "`_x`"),
    (path("{{ ds | attr('__len__') }}"), "8: source.path", "'__len__'"),
    (path("{{ params.x | map(attribute='__class__') | list }}"), "8: source.path", "'__class__'"),
    (path("{% include 'x.txt' %}"), "8: source.path", "imports"),
    (path("{% import 'x' as y %}"), "8: source.path", "imports"),
    (named("{{ conn.erp_ftp.password }}"), "9: source.files.products", "`conn`"),
    (api("endpoint", "{{ conn.erp_http.password }}"), "8: source.endpoint", "`conn`"),
    (api("params", "{{ var.value.token }}"), "9: source.params.since", "`var`"),
    (api("headers", "{{ conn.erp_http.login }}"), "10: source.headers.X-Tenant", "`conn`"),
]


@pytest.mark.parametrize(
    ("text", "where", "named"), HOSTILE, ids=[f"{n}@{w.split()[1]}" for _, w, n in HOSTILE]
)
def test_validate_refuses_templates_that_reach_beyond_dates_and_params(
    text: str, where: str, named: str
) -> None:
    (problem,) = problems(text)
    assert problem.startswith(f"connectors/shop.yaml:{where}: template "), problem
    assert named in problem
    assert "credentials belong in the Airflow connection named by conn_id" in problem


@pytest.mark.parametrize(
    "template",
    [
        "/exports/products_{{ ds_nodash }}.csv",
        "/exports/{{ logical_date.strftime('%Y/%m/%d') }}/products.csv",
        "/exports/products_{{ macros.ds_add(ds, -1) }}.csv",
        "/exports/{{ macros.ds_format(ds, '%Y-%m-%d', '%d%m%Y') }}.csv",
        "/exports/{{ (macros.datetime(2026, 1, 1) + macros.timedelta(days=1)).year }}.csv",
        "/exports/{{ data_interval_start | ds_nodash }}_{{ data_interval_end | ts_nodash }}.csv",
        "/exports/{{ params.export_date or ds }}.csv",
        "/exports/{{ ts_nodash }}_{{ ts }}_{{ ts_nodash_with_tz }}_{{ run_after | ds }}.csv",
        "{% set day = macros.ds_add(ds, 1) %}/exports/{{ day }}.csv",
        "/exports/{% for part in params.parts %}{{ part }}/{% endfor %}x.csv",
    ],
)
def test_dates_params_and_date_macros_validate(template: str) -> None:
    config = parse_connector(
        FTP.replace('"/exports/products_{{ ds_nodash }}.csv"', json.dumps(template)), "shop.yaml"
    )
    assert config.source.path == template  # type: ignore[union-attr]


def test_the_renderer_gives_no_access_to_airflow_context_even_when_asked() -> None:
    """A template that escaped validation (a file edited after it, a new Airflow context key)
    still reaches nothing: the renderer takes only the allowed names from Airflow's context."""

    class Conn:
        password = "conn-S3cret"

    context: dict[str, Any] = {
        "ds": "2026-11-02",
        "ds_nodash": "20261102",
        "logical_date": datetime(2026, 11, 2, 6, tzinfo=UTC),
        "params": {"export_date": None, "parts": ["a", "b"]},
        "conn": {"erp": Conn()},
        "var": {"value": {"token": "var-S3cret"}},
    }
    names = run_template_context(context)
    assert set(names) == {"ds", "ds_nodash", "logical_date", "params", "macros"}
    source = {
        "path": "/x/{{ ds_nodash }}/{{ macros.ds_add(ds, -1) }}/{{ logical_date | ts_nodash }}",
        "files": {"a": "{% for p in params.parts %}{{ p }}{% endfor %}"},
        "pick": "newest",
        "stable_for": 10,
    }
    assert render_value(source, names) == {
        "path": "/x/20261102/2026-11-01/20261102T060000",
        "files": {"a": "ab"},
        "pick": "newest",
        "stable_for": 10,
    }
    for hostile, why in [
        ("{{ conn.erp.password }}", "uses `conn`"),
        ("{{ var.value.token }}", "uses `var`"),
        ("{{ 'ab' * 100000000 }}", "SecurityError"),
        ("{{ 9 ** 99999 }}", "SecurityError"),
        ("{{ ts }}", "'ts' is undefined"),
    ]:
        with pytest.raises(TemplateRenderError, match=r"^source\.headers\.X: ") as caught:
            render_value({"headers": {"X": hostile}}, names)
        assert why in str(caught.value)
        assert "S3cret" not in str(caught.value)


def test_export_date_sets_ds_and_ds_nodash() -> None:
    from datetime import date

    names = run_template_context({"ds": "2026-11-02", "params": {}}, date(2026, 10, 15))
    assert render_value("{{ ds }}|{{ ds_nodash }}", names) == "2026-10-15|20261015"


def test_the_message_names_every_allowed_name() -> None:
    with pytest.raises(ValueError, match="uses `conn`") as caught:
        check_template("{{ conn.x.password }}")
    assert SCOPE in str(caught.value)
    for name in ("ds", "ds_nodash", "logical_date", "params", "macros.ds_add"):
        assert name in SCOPE


# ------------------------------------------------------------------- through Airflow


def _task_logs(caplog: pytest.LogCaptureFixture, capfd: pytest.CaptureFixture[str]) -> str:
    return caplog.text + "".join(capfd.readouterr())


def _staged_names(world: World) -> list[str]:
    return [str(p.relative_to(world.tmp)) for p in (world.tmp / "staging").rglob("*")]


@pytest.mark.integration
@pytest.mark.parametrize(
    ("template", "secret", "variable"),
    [
        ("{{ conn.saleslayer_default.password | reverse }}", KEY, None),
        ("{{ var.value.erp_token | reverse }}", "tok-Var-S3cret-42", "erp_token"),
    ],
    ids=["connection-password", "variable"],
)
def test_a_template_edited_past_validation_reaches_no_secret(
    world: World,
    template: str,
    secret: str,
    variable: str | None,
    caplog: pytest.LogCaptureFixture,
    capfd: pytest.CaptureFixture[str],
) -> None:
    """The connector is valid when the DAG is built; its fetch task's path is then made to read
    a secret (reversed, so that Airflow's log masking cannot hide it). The ERP publishes a file
    named after the reversed secret, so Airflow's own renderer would have fetched it and put the
    secret into XCom, staging and the logs. Ours fails the fetch, naming what templates see."""
    day, stores = first_day()
    if variable is not None:
        world.monkeypatch.setenv(f"AIRFLOW_VAR_{variable.upper()}", secret)
    world.connector()
    world.publish(day, stores)
    world.publish_file(f"stores_{secret[::-1]}.csv", stores)
    dag = world.dag()
    fetch = dag.get_task("fetch_source")
    fetch.source["path"] = f"/exports/stores_{template}.csv"

    run = dag.test(logical_date=day)

    assert states(run)["fetch_source"] == "failed"
    assert states(run)["push_points_of_sale"] != "success"
    assert xcom(run, "fetch_source") is None
    logged = _task_logs(caplog, capfd)
    assert "templates in connector files see only the run's dates and params" in logged
    assert "uses `conn`" in logged or "uses `var`" in logged
    staged = _staged_names(world)
    for shown in (secret, secret[::-1]):
        assert shown not in logged
        assert not any(shown in name for name in staged), staged
    assert world.emulator.dump("points_of_sale") == []


@pytest.mark.integration
def test_the_rendered_template_tab_shows_the_rendered_path(
    world: World, caplog: pytest.LogCaptureFixture, capfd: pytest.CaptureFixture[str]
) -> None:
    """A valid connector still imports, and what Airflow stores for its "Rendered Template" tab
    is the path rendered from the run's date: nothing from Airflow's context."""
    from airflow.models.renderedtifields import RenderedTaskInstanceFields
    from airflow.utils.session import create_session

    day, stores = first_day()
    world.connector()
    world.publish(day, stores)

    run = world.run(day)

    assert states(run)["fetch_source"] == "success", _task_logs(caplog, capfd)[-3000:]
    with create_session() as session:
        row = (
            session.query(RenderedTaskInstanceFields)
            .filter_by(dag_id=run.dag_id, run_id=run.run_id, task_id="fetch_source")
            .one()
        )
        rendered = row.rendered_fields
    assert rendered["source"]["path"] == f"/exports/stores_{day:%Y%m%d}.csv"
    assert KEY not in json.dumps(rendered)


def test_validation_of_a_connector_file_on_disk_names_its_line(tmp_path: Path) -> None:
    from saleslayer_airflow.config.load import load_connectors

    path = tmp_path / "shop.yaml"
    path.write_text(
        FTP.replace("{{ ds_nodash }}", "{{ conn.saleslayer_default.password }}"), "utf-8"
    )
    result = load_connectors([path], base=tmp_path)
    assert result.connectors == {}
    (problem,) = result.problems
    assert (problem.file, problem.line, problem.field) == ("shop.yaml", 8, "source.path")
    assert textwrap.shorten(problem.message, 60).startswith("template '/exports/products_{{")
