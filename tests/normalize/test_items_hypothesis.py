"""Random contributions (duplicates, conflicts, nulls, lists, paths, missing and cyclic parents,
known references, several records on one line, several files) give the columnar items layer
exactly the row engine's outputs, whatever the chunk sizes."""

from __future__ import annotations

import tempfile
from pathlib import Path
from typing import Any

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from tests.normalize.items_oracle import Known, Record, RowReject, assert_same, run_new, run_old
from tests.normalize.test_items import FILES, plans

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
POLICY = st.sampled_from(["merge", "first", "reject"])
KNOWN = st.fixed_dictionaries(
    {
        "categories": st.sets(st.sampled_from(CATS + OUTSIDE)),
        "products": st.sets(st.sampled_from(PRODS + OUTSIDE)),
        "brands": st.sets(st.sampled_from(OUTSIDE)),
    }
)


@settings(
    max_examples=150,
    deadline=None,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large],
)
@given(
    records=st.lists(RECORD, max_size=40),
    policies=st.tuples(POLICY, POLICY, POLICY),
    path=st.booleans(),
    known=KNOWN,
    chunk_rows=st.sampled_from([1, 2, 3, 5_000]),
    batch_records=st.sampled_from([1, 4, 1_000]),
    spill=st.booleans(),
)
def test_same_outputs_as_the_row_engine(
    records: list[Record],
    policies: tuple[str, str, str],
    path: bool,
    known: dict[str, set[str]],
    chunk_rows: int,
    batch_records: int,
    spill: bool,
) -> None:
    table_plans = plans(*policies, path=path)
    with tempfile.TemporaryDirectory() as scratch:
        work = Path(scratch)
        old = run_old(
            table_plans, FILES, records, Known(known), work / "old", chunk_rows=chunk_rows
        )
        new = run_new(
            table_plans,
            FILES,
            records,
            Known(known),
            work / "new",
            chunk_rows=chunk_rows,
            batch_records=batch_records,
            spill=spill,
        )
        assert_same(old, new)
