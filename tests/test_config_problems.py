"""Every kind of mistake in a connector file gives `file:line: field: message` with a fix.

Table-driven: each case is a small connector file and the problems it must produce, exactly.
"""

from __future__ import annotations

import textwrap
from dataclasses import dataclass

import pytest

from saleslayer_airflow.config import parse_connector
from saleslayer_airflow.config.models import ConnectorConfig
from saleslayer_airflow.exceptions import ConnectorConfigError

VALID = """\
id: shop
description: A test connector.
schedule: "@daily"
start_date: 2026-11-01
source:
  kind: ftp
  conn_id: erp_ftp
  path: /exports/products_{{ ds_nodash }}.csv
format:
  type: csv
tables:
  products:
    reference: sku
    fields:
      name: name
"""


def variant(old: str, new: str) -> str:
    assert old in VALID, old
    return VALID.replace(old, new, 1)


@dataclass
class Case:
    name: str
    text: str
    expected: list[str]  # "line: field: message fragment"


CASES = [
    Case(
        "misspelt top-level key",
        variant('schedule: "@daily"', 'schedule: "@daily"\nretires: 3'),
        ["4: retires: unknown key 'retires'; did you mean 'retries'?"],
    ),
    Case(
        "misspelt nested key, allowed keys of the FTP source listed",
        variant("  path: /exports", "  pathh: /exports"),
        [
            "8: source.pathh: unknown key 'pathh'; did you mean 'path'? Allowed keys here: "
            "conn_id, directory, files, kind, on_missing, path, pattern, pick, stable_for",
        ],
    ),
    Case(
        "required key missing",
        variant("description: A test connector.\n", ""),
        ["1: description: required key is missing"],
    ),
    Case(
        "unknown source kind",
        variant("kind: ftp", "kind: ftpp"),
        [
            "6: source.kind: kind 'ftpp' is not one of: http, ftp, ftps, sftp, api; "
            "did you mean 'ftp'?"
        ],
    ),
    Case(
        "source kind missing",
        variant("  kind: ftp\n", ""),
        ["5: source.kind: required key 'kind' is missing; one of: http, ftp, ftps, sftp, api"],
    ),
    Case(
        "bad enum value",
        variant("  path: /exports", "  pick: newst\n  path: /exports"),
        [
            "8: source.pick: 'newst' is not allowed; use one of: 'newest' or 'all'; "
            "did you mean 'newest'?"
        ],
    ),
    Case(
        "bad cron expression",
        variant('schedule: "@daily"', 'schedule: "0 25 * * *"'),
        ["3: schedule: invalid cron expression '0 25 * * *'"],
    ),
    Case(
        "unknown preset",
        variant('schedule: "@daily"', 'schedule: "@dayly"'),
        ["3: schedule: unknown schedule preset '@dayly'"],
    ),
    Case(
        "wrong type",
        variant('schedule: "@daily"', 'schedule: "@daily"\nmax_active_runs: lots'),
        ["4: max_active_runs: Input should be a valid integer"],
    ),
    Case(
        "out of range",
        variant('schedule: "@daily"', 'schedule: "@daily"\nretries: -1'),
        ["4: retries: Input should be greater than or equal to 0 (got -1)"],
    ),
    Case(
        "unknown time zone",
        variant('schedule: "@daily"', 'schedule: "@daily"\ntimezone: Europe/Madird'),
        ["4: timezone: unknown time zone 'Europe/Madird'"],
    ),
    Case(
        "end before start",
        variant("start_date: 2026-11-01", "start_date: 2026-11-01\nend_date: 2026-10-01"),
        ["1: (top level): end_date 2026-10-01 is before start_date 2026-11-01"],
    ),
    Case(
        "broken Jinja in a templated path",
        variant("{{ ds_nodash }}", "{{ ds_nodash }"),
        ["8: source.path: invalid Jinja template"],
    ),
    Case(
        "path and glob both given",
        variant("  path: /exports", "  directory: /exports\n  pattern: '*.csv'\n  path: /exports"),
        ["5: source: give either `path` or `directory` + `pattern`, not both"],
    ),
    Case(
        "credential in a header",
        variant(
            "  kind: ftp\n  conn_id: erp_ftp\n  path: /exports/products_{{ ds_nodash }}.csv",
            "  kind: http\n  conn_id: erp\n  endpoint: x.csv\n  headers: {X-Api-Key: abc123}",
        ),
        ["9: source.headers: header 'X-Api-Key' looks like a credential"],
    ),
    Case(
        "unknown encoding",
        variant("  type: csv", "  type: csv\n  encoding: utf-9"),
        ["11: format.encoding: unknown encoding 'utf-9'"],
    ),
    Case(
        "delimiter of two characters",
        variant("  type: csv", "  type: csv\n  delimiter: ';;'"),
        ["11: format.delimiter: String should have at most 1 character"],
    ),
    Case(
        "custom table without kind",
        variant("  products:", "  brands:"),
        ["12: tables.brands: set `kind: custom_entity` for a custom entity"],
    ),
    Case(
        "variants without their product link",
        variant("  products:", "  variants:"),
        ["12: tables.variants: a variants table needs `product`"],
    ),
    Case(
        "parent link that does not fit the table kind",
        variant("    reference: sku", "    reference: sku\n    parent: parent_sku"),
        [
            "12: tables.products: a products table cannot have parent; "
            "its parent links are: categories, links"
        ],
    ),
    Case(
        "field with both column and constant",
        variant("      name: name", "      name: {column: name, constant: x}"),
        ["15: tables.products.fields.name: set exactly one of `column`"],
    ),
    Case(
        "transform with two operations",
        variant(
            "      name: name",
            "      name: {column: name, transforms: [{trim: true, case: lower}]}",
        ),
        ["15: tables.products.fields.name.transforms[0]: each transform sets exactly one of"],
    ),
    Case(
        "batch size over the API maximum",
        "target:\n  batch_size: 60000\n" + VALID,
        ["2: target.batch_size: Input should be less than or equal to 50000"],
    ),
    Case(
        "status deletions without a status",
        "target:\n  deletions: {enabled: true, action: status}\n" + VALID,
        ["2: target.deletions: action `status` needs `status_value`"],
    ),
    Case(
        "duplicate key",
        variant('schedule: "@daily"', 'schedule: "@daily"\nschedule: "@hourly"'),
        ["4: schedule: key given twice (first on line 3)"],
    ),
    Case(
        "YAML syntax error",
        variant("  type: csv", "  type: [csv"),
        ["11: (yaml): invalid YAML"],
    ),
    Case(
        "Python object tag",
        variant("  type: csv", "  type: !!python/object/apply:os.system ['true']"),
        ["10: (yaml): tag 'tag:yaml.org,2002:python/object/apply:os.system' is not allowed"],
    ),
    Case(
        "empty file",
        "",
        ["1: (top level): a connector file is a mapping of keys; this one is empty"],
    ),
    Case(
        "a list, not a mapping",
        "- a\n- b\n",
        ["1: (top level): a connector file is a mapping of keys; this one is a list"],
    ),
]


@pytest.mark.parametrize("case", CASES, ids=lambda c: c.name)
def test_problem_is_located_and_explained(case: Case) -> None:
    with pytest.raises(ConnectorConfigError) as caught:
        parse_connector(case.text, "shop.yaml")
    got = [str(p) for p in caught.value.problems]
    for expected in case.expected:
        assert any(line.startswith(f"shop.yaml:{expected}") for line in got), (
            f"expected a problem starting with shop.yaml:{expected}\ngot:\n" + "\n".join(got)
        )
    assert len(got) == len(case.expected), "\n".join(got)


def test_valid_base_file_is_valid() -> None:
    config = parse_connector(VALID, "shop.yaml")
    assert isinstance(config, ConnectorConfig)
    assert config.max_active_runs == 1 and config.retries == 2


def test_all_problems_of_a_file_are_reported_at_once() -> None:
    text = variant('schedule: "@daily"', 'schedul: "@daily"\nretries: many')
    text = text.replace("  type: csv", "  type: csv\n  delimter: ';'")
    with pytest.raises(ConnectorConfigError) as caught:
        parse_connector(text, "shop.yaml")
    fields = [p.field for p in caught.value.problems]
    assert fields == ["schedule", "schedul", "retries", "format.delimter"]


def test_durations_accept_human_units() -> None:
    config = parse_connector(
        variant('schedule: "@daily"', 'schedule: "@daily"\nretry_delay: 90s'), "x"
    )
    assert config.retry_delay.total_seconds() == 90
    config = parse_connector(
        variant('schedule: "@daily"', 'schedule: "@daily"\nretry_delay: 2h'), "x"
    )
    assert config.retry_delay.total_seconds() == 7200


def test_field_shorthand_equals_the_long_form() -> None:
    short = parse_connector(VALID, "x").tables["products"].fields["name"]
    long = parse_connector(variant("      name: name", "      name: {column: name}"), "x")
    assert short == long.tables["products"].fields["name"]


def test_error_message_lists_every_problem_with_its_location() -> None:
    with pytest.raises(ConnectorConfigError) as caught:
        parse_connector(textwrap.dedent(variant("kind: ftp", "kind: ftpp")), "dir/shop.yaml")
    message = str(caught.value)
    assert message.startswith("1 connector file could not be loaded (1 problem)")
    assert "dir/shop.yaml:6: source.kind:" in message
