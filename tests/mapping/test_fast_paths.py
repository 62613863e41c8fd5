"""The split's fast paths (polars predicates over a whole text column, normalize/cells.py) give,
row by row, exactly what the value rules (mapping/values.py) give for the same text: its value,
or its reason, code and shown value (Hypothesis)."""

from __future__ import annotations

import pyarrow as pa
from hypothesis import given, settings
from hypothesis import strategies as st

from saleslayer_airflow.config.load import parse_connector
from saleslayer_airflow.mapping.plan import TablePlan, build_plans
from saleslayer_airflow.normalize.cells import Rule, convert_all, rules_of

CONNECTOR = """\
id: fast_paths
description: every fast path
schedule: null
start_date: 2026-01-01
source: {kind: http, conn_id: erp_http, endpoint: export.csv}
format: {type: csv, delimiter: ";"}
tables:
  categories:
    reference: cat
    parent: parent
  products:
    reference: ref
    categories: {column: cats, separator: ","}
    links:
      stores: {column: stores}
    fields:
      text: {column: a}
      short: {column: a, max_length: 3, enum: ["1", "12", "abc", "abcd"]}
      price: {column: a, type: number}
      priced: {column: a, type: number, enum: ["1", "1.5"], required: true}
      qty: {column: a, type: integer}
      flag: {column: a, type: boolean}
      day: {column: a, type: date}
  variants:
    reference: sku
    product: ref
"""
PLANS: list[TablePlan] = build_plans(parse_connector(CONNECTOR, "fast.yaml"))

TRICKY = st.sampled_from(
    [
        "", " ", "0", "-0", "-0.0", "00", "1", "+1", "1.0", "1.5", "1.50", ".5", "1e3", "1E-2",
        "12", "-12", "1,5", "9" * 18, "9" * 19, "9" * 22, "1." + "1" * 16, "9223372036854775807",
        "abc", "abcd", "ABC", " abc", "abc ", "a b", "a\tb", "P\u200b1", "\u00e9", "e\u0301",
        "true", "True", "TRUE", "yes", "Y", "n", "No", "false", "2026-01-31", "x" * 512,
        "x" * 513, "A,B", "A,,B", "A,A", " A, B", "\u0661", "\uff11", "~", "!a!",
    ]
)  # fmt: skip
CELLS = st.lists(st.one_of(TRICKY, st.text(max_size=8), st.none()), min_size=1, max_size=30)


def _check(rule: Rule, cells: list[str | None]) -> None:
    (outcome,) = convert_all([(rule, pa.array(cells, pa.string()))], len(cells))
    columns = {name: series.to_list() for name, series in outcome.items()}
    for row, cell in enumerate(cells):
        wanted = rule.python(cell)
        got = columns["v"][row]
        assert got == wanted[0], (rule.column, cell, got, wanted)
        if "reason" in columns:
            failure = tuple(columns[name][row] for name in ("reason", "code", "shown"))
            assert failure == wanted[1:4], (rule.column, cell)
        else:
            assert wanted[1] is None, (rule.column, cell, wanted)


@settings(max_examples=150, deadline=None)
@given(first=CELLS, second=CELLS)
def test_fast_paths_agree_with_the_value_rules(
    first: list[str | None], second: list[str | None]
) -> None:
    for plan in PLANS:
        ref_rule, rules = rules_of(plan)
        for rule in [ref_rule, *rules]:
            # two batches: the second reuses the distinct values the first looked up
            _check(rule, first)
            _check(rule, second)


def test_every_kind_of_rule_has_a_fast_path() -> None:
    """The test above would prove nothing of a fast path that no rule takes."""
    import polars as pl

    taken = 0
    for plan in PLANS:
        ref_rule, rules = rules_of(plan)
        for rule in [ref_rule, *rules]:
            taken += rule.fast(pl.col("x")) is not None
    assert taken == 3 + 7 + 3
