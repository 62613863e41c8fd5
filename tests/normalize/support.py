"""What the tests of the columnar items layer share: the connector their plans come from, helpers
that build a record's contributions, ``both`` (the row engine and the columnar layer fed the
same records, their outputs compared), and the Hypothesis strategy of random exports."""

from __future__ import annotations

import tempfile
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from hypothesis import HealthCheck, settings
from hypothesis import strategies as st

from saleslayer_airflow.mapping.plan import TablePlan
from tests.normalize.items_oracle import (
    Known,
    Outputs,
    Record,
    RowReject,
    assert_same,
    plans_of,
    run_new,
    run_old,
)

CONFIG = """\
id: t
description: t
schedule: null
start_date: 2026-01-01
source: {{kind: http, conn_id: erp_http, endpoint: export.csv}}
format: {{type: csv}}
tables:
  categories:
    reference: cat_ref
    {tree}
    on_duplicate: {p0}
    fields:
      name: cat_name
      pos: {{column: cat_pos, type: integer}}
  products:
    reference: prod_ref
    categories: {{column: prod_cats, separator: ","}}
    on_duplicate: {p1}
    fields:
      title: title
      active: {{column: active, type: boolean}}
      tags: {{column: tags, separator: "|"}}
  variants:
    reference: sku
    product: prod_ref
    on_duplicate: {p2}
    links: {{brands: {{column: brand, separator: ","}}}}
    fields:
      size: size
"""
FILES = ["a.csv", "b.csv", "c.csv"]


def plans(
    p0: str = "merge", p1: str = "merge", p2: str = "merge", *, path: bool = False
) -> list[TablePlan]:
    tree = "path: {column: cat_ref}" if path else "parent: cat_parent"
    return plans_of(CONFIG.format(tree=tree, p0=p0, p1=p1, p2=p2))


def cat(ref: str, parent: str | None = None, name: str | None = "n", pos: int | None = 1) -> Any:
    return (ref, [name, pos, parent])


def prod(
    ref: str,
    cats: list[str] | None = None,
    title: str | None = "t",
    active: bool | None = True,
    tags: list[str] | None = None,
) -> Any:
    return (ref, [title, active, tags, cats])


def var(
    ref: str, product: str | None, brands: list[str] | None = None, size: str | None = "M"
) -> Any:
    return (ref, [size, product, brands])


def both(
    work: Path,
    table_plans: list[TablePlan],
    records: list[Record],
    known: dict[str, set[str]] | None = None,
    *,
    chunk_rows: int = 5_000,
    batch_records: int = 65_536,
    spill: bool = False,
    partitions: int = 1,
    range_span: int = 131_072,
) -> tuple[Outputs, Outputs]:
    """The row engine's outputs and the columnar layer's (in ``work``/old and ``work``/new) for
    the same records, asserted the same; the columnar layer's options are its own (the row
    engine has none of them)."""
    old = run_old(
        table_plans,
        FILES,
        records,
        Known(dict(known or {})),
        work / "old",
        chunk_rows=chunk_rows,
    )
    new = run_new(
        table_plans,
        FILES,
        records,
        Known(dict(known or {})),
        work / "new",
        chunk_rows=chunk_rows,
        batch_records=batch_records,
        spill=spill,
        partitions=partitions,
        range_span=range_span,
    )
    assert_same(old, new)
    return old, new


def examples(count: int) -> settings:
    """Hypothesis settings of the random comparisons: ``count`` examples, no deadline (an
    example spills to disk and runs both engines), large and slow examples welcome."""
    return settings(
        max_examples=count,
        deadline=None,
        suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large],
    )


# Random records: duplicates, conflicts, nulls, lists, paths, missing and cyclic parents, known
# references, several records on one line, several files.
CATS = ["C1", "c1", "\uff231", "C2", "C3", "it's", "a\\b", "é", "Men", "Men > Tops"]
PRODS = ["P1", "p1", "P2", "P3", "=P4", 'say "x"']
SKUS = ["S1", "S2", "s2", "S3"]
OUTSIDE = ["Old", "Nope", "B1", "B2", "\uff221"]


def _maybe(values: list[Any]) -> st.SearchStrategy[Any]:
    return st.one_of(st.none(), st.sampled_from(values))


def _refs(pool: list[str]) -> st.SearchStrategy[list[str] | None]:
    return st.one_of(
        st.none(), st.lists(st.sampled_from(pool), min_size=1, max_size=3, unique=True)
    )


TEXTS = ["n", "m", "=x", "-1", "\x00z", "x" * 300]
CATEGORY = st.tuples(
    st.sampled_from(CATS),
    st.tuples(_maybe(TEXTS), _maybe([1, 2, -7]), _maybe(CATS + OUTSIDE)).map(list),
)
PRODUCT = st.tuples(
    st.sampled_from(PRODS),
    st.tuples(
        _maybe(["t", "u", "@v"]),
        _maybe([True, False]),
        st.one_of(st.none(), st.lists(st.sampled_from(["a", "b"]), min_size=1, max_size=2)),
        _refs(CATS + OUTSIDE),
    ).map(list),
)
VARIANT = st.tuples(
    st.sampled_from(SKUS),
    st.tuples(_maybe(["M", "L"]), _maybe(PRODS + OUTSIDE), _refs(OUTSIDE)).map(list),
)
REJECT = st.builds(
    RowReject,
    st.sampled_from(["", "C1", "P1", "S1", "Old", "=bad", "\x00", "Men > ", " C2"]),
    st.sampled_from(["col", "=c"]),
    st.sampled_from(["v", "+1", ""]),
    st.sampled_from(["bad value", "another reason", "\tweird"]),
    st.sampled_from(["bad_value", "empty_required", "bad_reference"]),
)


def _outcome(items: st.SearchStrategy[Any], most: int) -> st.SearchStrategy[Any]:
    return st.one_of(st.none(), REJECT, st.lists(items, min_size=1, max_size=most))


RECORD = st.builds(
    lambda file, line, c, p, v: Record(
        file,
        line,
        {tbl: out for tbl, out in enumerate((c, p, v)) if out is not None},
    ),
    st.integers(0, 2),
    st.integers(1, 6),
    _outcome(CATEGORY, 3),
    _outcome(PRODUCT, 1),
    _outcome(VARIANT, 1),
)
RECORDS = st.lists(RECORD, max_size=40)
POLICY = st.sampled_from(["merge", "first", "reject"])
POLICIES = st.tuples(POLICY, POLICY, POLICY)
KNOWN = st.fixed_dictionaries(
    {
        "categories": st.sets(st.sampled_from(CATS + OUTSIDE)),
        "products": st.sets(st.sampled_from(PRODS + OUTSIDE)),
        "brands": st.sets(st.sampled_from(OUTSIDE)),
    }
)


@dataclass(frozen=True)
class RandomExport:
    """One random comparison's input: the records, the three tables' ``on_duplicate``,
    categories by path (or by parent), and the references the target already holds."""

    records: list[Record]
    policies: tuple[str, str, str]
    path: bool
    known: dict[str, set[str]]

    def check(self, *, chunk_rows: int, **columnar: Any) -> None:
        """``both`` on this export (``columnar``: the columnar layer's options), in a scratch
        folder of its own: Hypothesis runs every example in one call of the test, whose
        tmp_path they would share."""
        with tempfile.TemporaryDirectory() as scratch:
            both(
                Path(scratch),
                plans(*self.policies, path=self.path),
                self.records,
                self.known,
                chunk_rows=chunk_rows,
                **columnar,
            )


RANDOM_EXPORTS = st.builds(
    RandomExport, records=RECORDS, policies=POLICIES, path=st.booleans(), known=KNOWN
)
