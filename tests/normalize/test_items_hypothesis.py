"""Random contributions (duplicates, conflicts, nulls, lists, paths, missing and cyclic parents,
known references, several records on one line, several files) give the columnar items layer
exactly the row engine's outputs, whatever the chunk sizes."""

from __future__ import annotations

from hypothesis import given
from hypothesis import strategies as st

from tests.normalize.support import RANDOM_EXPORTS, RandomExport, examples


@examples(150)
@given(
    export=RANDOM_EXPORTS,
    chunk_rows=st.sampled_from([1, 2, 3, 5_000]),
    batch_records=st.sampled_from([1, 4, 1_000]),
    spill=st.booleans(),
)
def test_same_outputs_as_the_row_engine(
    export: RandomExport, chunk_rows: int, batch_records: int, spill: bool
) -> None:
    export.check(chunk_rows=chunk_rows, batch_records=batch_records, spill=spill)
