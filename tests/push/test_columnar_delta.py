"""The delta decided on columns (a staged file given to ``push_table``) decides, sends, counts and
checkpoints exactly as the per-row path (any other iterable of items) does: random states of
the store (absent, unchanged, changed, deleted, newer export, acknowledged by an earlier attempt
of this run), every option of the delta, and sends that fail part way."""

from __future__ import annotations

import shutil
from collections.abc import Iterator, Sequence
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from hypothesis import HealthCheck, Phase, given, settings
from hypothesis import strategies as st

from saleslayer_airflow.config.tables import TableMapping
from saleslayer_airflow.numbers import FIELD_TYPE_KEY
from saleslayer_airflow.push.items import read_items
from saleslayer_airflow.push.pipeline import (
    OutgoingItem,
    PushInterrupted,
    PushOptions,
    SentItem,
    TableCounts,
    push_table,
)
from saleslayer_airflow.state import AppliedItem, StateStore, content_hash

DAY = datetime(2026, 11, 5, tzinfo=UTC)
RUN = "scheduled__2026-11-05"
TABLE = TableMapping.model_validate(
    {
        "reference": "ref",
        "fields": {
            "prod_title": {"column": "title", "languages": ["en"]},
            "prod_description": "description",
            "prod_price": {"column": "price", "type": "number"},
            "prod_tags": {"column": "tags", "separator": "|"},
        },
    }
)
#: What the store holds for an item before the push.
#: (An earlier attempt of this run acknowledged the same content: the run's file is the same.)
STATES = ("absent", "same", "changed", "deleted", "newer", "same_day", "this_run")


def _staged(path: Path, count: int, seed: int) -> Path:
    import pyarrow as pa
    import pyarrow.parquet as pq

    def typed(name: str, kind: Any, sl_type: str) -> Any:
        return pa.field(name, kind, metadata={FIELD_TYPE_KEY: sl_type.encode()})

    schema = pa.schema(
        [
            pa.field("reference", pa.string()),
            pa.field("_source_file", pa.string()),
            pa.field("_line", pa.int64()),
            typed("prod_title_en", pa.string(), "string"),
            typed("prod_description", pa.string(), "string"),
            typed("prod_price", pa.string(), "number"),
            typed("prod_tags", pa.list_(pa.string()), "string"),
        ]
    )
    rows = [
        {
            "reference": f"P{n:03d}",
            "_source_file": "x.csv",
            "_line": n + 2,
            "prod_title_en": f'Shirt "{n}"',
            "prod_description": "" if (n + seed) % 3 == 0 else f"about {n}",
            "prod_price": f"{n}.5" if (n + seed) % 4 else None,
            "prod_tags": [] if (n + seed) % 5 == 0 else ["a", f"t{n}"],
        }
        for n in range(count)
    ]
    # Small row groups: the pass that reads the rows to send skips the groups without any.
    pq.write_table(pa.Table.from_pylist(rows, schema=schema), path, row_group_size=7)
    return path


def _seed(store: StateStore, items: list[OutgoingItem], states: Sequence[str]) -> None:
    by_run: dict[str, list[AppliedItem]] = {}
    for item, state in zip(items, states, strict=True):
        if state == "absent":
            continue
        digest = content_hash(item.fields)
        changed = {**item.fields, "prod_description": "before"}
        other = content_hash(changed)
        run = RUN if state.startswith("this_run") else "earlier"
        by_run.setdefault(run, []).append(
            AppliedItem(
                item.reference,
                other if state in ("changed", "same_day") else digest,
                {"newer": DAY + timedelta(days=1), "same_day": DAY}.get(
                    state, DAY - timedelta(days=1)
                ),
                saleslayer_id=None,
                deleted=state == "deleted",
                content=changed,
            )
        )
    for run, applied in by_run.items():
        if run == RUN:
            # Acknowledged by an earlier attempt of this run: with its batch, as the push does.
            store.ack_batch(
                "shop", run, "products", "earlier-attempt", applied, created=len(applied), updated=0
            )
        else:
            store.record_applied("shop", "products", run, applied)


class Recorder:
    """Records every batch; fails from the ``fail_on``-th call on."""

    def __init__(self, fail_on: int | None) -> None:
        self.fail_on = fail_on
        self.calls = 0
        self.batches: list[list[tuple[str, str, str, int]]] = []

    def __call__(self, batch: Sequence[SentItem]) -> list[int | None]:
        self.calls += 1
        if self.fail_on is not None and self.calls >= self.fail_on:
            raise ConnectionError(f"call {self.calls} dropped")
        self.batches.append(
            [(s.item.reference, s.decision.value, s.digest, s.cleared) for s in batch]
        )
        return [None] * len(batch)


def _push(items: Any, store: StateStore, options: PushOptions, send: Recorder) -> TableCounts:
    try:
        return push_table(items, store, options, send)
    except PushInterrupted as stopped:
        return stopped.counts


def _rows(items: Any) -> Iterator[OutgoingItem]:
    yield from items


def _dump(store: StateStore) -> list[tuple[Any, ...]]:
    import sqlalchemy as sa

    with store.engine.connect() as connection:
        rows = connection.execute(
            sa.text(
                "SELECT reference, content_hash, content, export_date, deleted, run_id "
                "FROM slc_items ORDER BY reference"
            )
        )
        return [tuple(row) for row in rows]


@settings(
    max_examples=50,
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture],
    phases=[Phase.explicit, Phase.reuse, Phase.generate, Phase.shrink],
)
@given(
    count=st.integers(0, 40),
    seed=st.integers(0, 60),
    states=st.lists(st.sampled_from(STATES), min_size=40, max_size=40),
    send_unchanged=st.booleans(),
    older=st.booleans(),
    dry_run=st.booleans(),
    batch_size=st.integers(1, 6),
    fail_on=st.sampled_from([None, 1, 2, 3]),
)
def test_columns_and_rows_decide_alike(
    tmp_path_factory: pytest.TempPathFactory,
    count: int,
    seed: int,
    states: list[str],
    send_unchanged: bool,
    older: bool,
    dry_run: bool,
    batch_size: int,
    fail_on: int | None,
) -> None:
    folder = tmp_path_factory.mktemp("delta")
    staged = read_items(_staged(folder / "products.parquet", count, seed), "products", TABLE)
    items = list(staged)
    seeded = StateStore.open(f"sqlite:///{folder / 'seed.sqlite'}")
    if dry_run:  # a dry run acknowledges no batch: no attempt of it left any
        states = [state.replace("this_run", "same") for state in states]
    _seed(seeded, items, states[:count])
    seeded.close()
    options = PushOptions(
        connector_id="shop",
        table="products",
        run_id=RUN,
        export_date=DAY,
        batch_size=batch_size,
        send_unchanged=send_unchanged,
        apply_older_exports=older,
        dry_run=dry_run,
        chunk_size=4,
    )
    outcomes = []
    for name, source in (("rows", _rows(staged)), ("columns", staged)):
        shutil.copy(folder / "seed.sqlite", folder / f"{name}.sqlite")
        store = StateStore.open(f"sqlite:///{folder / f'{name}.sqlite'}")
        send = Recorder(fail_on)
        counts = _push(source, store, options, send)
        outcomes.append((counts.as_dict(), send.batches, _dump(store)))
        store.close()
    rows, columns = outcomes
    assert columns[0] == rows[0]
    assert columns[1] == rows[1]
    assert columns[2] == rows[2]


def test_an_unchanged_table_is_decided_without_reading_its_rows_again(tmp_path: Path) -> None:
    """Row groups without an item to send are never read by the second pass."""
    staged = read_items(_staged(tmp_path / "products.parquet", 30, 1), "products", TABLE)
    store = StateStore.open(f"sqlite:///{tmp_path / 'state.sqlite'}")
    _seed(store, list(staged), ["same"] * 29 + ["changed"])
    send = Recorder(None)
    counts = push_table(staged, store, PushOptions("shop", "products", "run2", DAY), send)
    assert (counts.unchanged, counts.updated, counts.items) == (29, 1, 30)
    assert [[ref for ref, *_ in batch] for batch in send.batches] == [["P029"]]


def test_the_store_is_read_beside_the_hashing(tmp_path: Path) -> None:
    """The delta reads the store on a thread of its own while it hashes the staged rows, and
    decides as if it had read it first."""
    import threading

    store = StateStore.open(f"sqlite:///{tmp_path / 'state.sqlite'}")
    staged = read_items(_staged(tmp_path / "products.parquet", 30, 1), "products", TABLE)
    _seed(store, list(staged), ["same"] * 20 + ["changed"] * 5 + ["absent"] * 5)
    readers: set[str] = set()
    original = store.decision_states

    def recorded(*args: Any, **kwargs: Any) -> Any:
        readers.add(threading.current_thread().name)
        return original(*args, **kwargs)

    store.decision_states = recorded  # type: ignore[method-assign]
    options = PushOptions(connector_id="shop", table="products", run_id=RUN, export_date=DAY)
    counts = push_table(staged, store, options, Recorder(None))
    assert (counts.unchanged, counts.updated, counts.created) == (20, 5, 5)
    assert len(readers) == 1 and threading.current_thread().name not in readers
    store.close()
