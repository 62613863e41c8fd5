"""The $filter parser and evaluator, case by case."""

from __future__ import annotations

from typing import Any

import pytest

from saleslayer_airflow.emulator.odata import FilterError, parse_filter

ROW: dict[str, Any] = {
    "prod_id": 12,
    "prod_ref": "O'Neil-1",
    "prod_title": {"en": "Urban Sneakers", "es": "Zapatillas"},
    "prod_price": "9.50",
    "cat_id": [3, 4],
    "prod_description": None,
    "prod_modify": "2026-03-01T10:00:00.000000Z",
}


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("prod_id eq 12", True),
        ("prod_id ne 12", False),
        ("prod_ref eq 'O''Neil-1'", True),
        ("prod_ref eq 'o''neil-1'", False),
        ("prod_ref in ('x', 'O''Neil-1')", True),
        ("prod_id in (1,2)", False),
        ("prod_id gt 11 and prod_id lt 13", True),
        ("prod_id ge 12 and prod_id le 12", True),
        ("prod_id gt 12 or prod_ref eq 'x'", False),
        ("not (prod_id eq 1)", True),
        ("(prod_id eq 1 or prod_id eq 12) and prod_price gt 9", True),
        ("prod_price eq 9.5", True),
        ("prod_price lt 9", False),
        ("contains(prod_title,'Sneak')", True),
        ("contains(prod_title,'sneak')", False),
        ("startswith(prod_ref,'O''N')", True),
        ("endswith(prod_ref,'-1') eq true", True),
        ("contains(prod_title,'Sneak') eq false", False),
        ("cat_id eq 4", True),
        ("cat_id ne 4", False),
        ("cat_id in (7, 3)", True),
        ("prod_description eq null", True),
        ("prod_description ne null", False),
        ("prod_modify gt 2026-01-01T00:00:00Z", True),
        ("prod_modify lt 2026-03-01", False),
        ("prod_modify ge 2026-03-01T10:00:00+00:00", True),
        ("12 eq prod_id", True),
        ("13 gt prod_id", True),
        ("prod_ref gt 5", False),
    ],
)
def test_cases(text: str, expected: bool) -> None:
    assert parse_filter(text).matches(ROW, "en") is expected


def test_multilingual_values_are_read_in_the_culture() -> None:
    flt = parse_filter("prod_title eq 'Zapatillas'")
    assert flt.matches(ROW, "es") and not flt.matches(ROW, "en")
    assert flt.properties == frozenset({"prod_title"})


@pytest.mark.parametrize(
    "text",
    [
        "",
        "prod_id eq",
        "prod_id eq 1 and",
        "prod_id equals 1",
        "prod_id eq 'x",
        "(prod_id eq 1",
        "prod_id eq 1)",
        "contains(prod_title, 3)",
        "contains(prod_title,'x') eq 3",
        "prod_id in 1",
        "eq eq 1",
        "prod_id eq 1 # x",
        "prod_modify gt 2026-13-45",
    ],
)
def test_errors(text: str) -> None:
    with pytest.raises(FilterError):
        parse_filter(text)


@pytest.mark.parametrize(
    ("text", "narrowing"),
    [
        ("prod_ref eq 'a'", ("prod_ref", {"a"})),
        ("prod_ref in ('a','b')", ("prod_ref", {"a", "b"})),
        ("prod_ref eq 'a' or prod_ref in ('b')", ("prod_ref", {"a", "b"})),
        ("prod_price gt 1 and prod_ref in ('a','b')", ("prod_ref", {"a", "b"})),
        ("(prod_ref eq 'a') and prod_id eq 3", ("prod_ref", {"a"})),
        ("prod_ref eq 'a' or prod_id eq 3", None),
        ("not (prod_ref eq 'a')", None),
        ("prod_ref ne 'a'", None),
        ("prod_modify eq 2026-01-01", None),
    ],
)
def test_narrowing_for_index_lookups(text: str, narrowing: tuple[str, set[Any]] | None) -> None:
    found = parse_filter(text).narrowing
    if narrowing is None:
        assert found is None
    else:
        assert found is not None and (found[0], set(found[1])) == narrowing
