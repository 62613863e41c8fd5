"""The state of a whole table in one query (``StateStore.item_states``), and checkpoints written
as tuples straight to the driver: on SQLite and on a real PostgreSQL server."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta
from typing import Any

import sqlalchemy as sa
from hypothesis import given, settings
from hypothesis import strategies as st

from saleslayer_airflow.numbers import ExactNumber
from saleslayer_airflow.state import AppliedItem, StateStore
from saleslayer_airflow.state.delta import content_hash
from saleslayer_airflow.state.store import _CONTENT_JSON

DAY = datetime(2026, 11, 5, 10, 30, 15, 123456, tzinfo=UTC)


def _applied(reference: str, **kw: object) -> AppliedItem:
    fields = {"name": f"Item {reference}", "price": 12}
    return AppliedItem(reference, content_hash(fields), DAY, content=fields, **kw)  # type: ignore[arg-type]


def test_item_states_reads_the_connector_table_of_this_account_only(store: StateStore) -> None:
    store.record_applied(
        "shop", "products", "run1", [_applied("P1", saleslayer_id=7), _applied("P2")]
    )
    store.ack_batch(
        "shop",
        "run2",
        "products",
        "k1",
        [
            _applied("P3", deleted=True),
            AppliedItem("P'4\t\\ é", "not-a-hash", DAY - timedelta(days=1)),
        ],
        created=2,
        updated=0,
    )
    store.record_applied("shop", "variants", "run1", [_applied("V1")])
    store.record_applied("other", "products", "run1", [_applied("X1")])
    elsewhere = StateStore(store.engine, account="another-account")
    elsewhere.record_applied("shop", "products", "run1", [_applied("Y1")])

    frame = store.item_states("shop", "products").sort("reference")
    assert frame.columns == [
        "reference",
        "content_hash",
        "export_date",
        "deleted",
        "run_id",
        "saleslayer_id",
    ]
    rows = frame.rows()
    assert [row[0] for row in rows] == ["P'4\t\\ é", "P1", "P2", "P3"]
    naive = DAY.replace(tzinfo=None)
    assert rows[1] == ("P1", _applied("P1").content_hash, naive, False, "run1", 7)
    assert rows[3][3] is True and rows[3][4] == "run2"
    assert rows[0][1:3] == ("not-a-hash", naive - timedelta(days=1))

    binary = store.item_states("shop", "products", binary_hashes=True).sort("reference")
    assert binary["content_hash"].to_list()[0] is None  # not a hex sha256: never equal
    assert binary["content_hash"].to_list()[1] == bytes.fromhex(_applied("P1").content_hash)
    assert store.item_states("shop", "nothing").height == 0
    assert store.item_states("shop", "nothing", binary_hashes=True).schema == binary.schema


def test_checkpoints_read_back_as_written(store: StateStore) -> None:
    """Rows written as tuples read back through SQLAlchemy as before: times, flags, content;
    of a reference given twice in one write, the last wins."""
    first = _applied("P1")
    again = AppliedItem("P1", "b" * 64, DAY + timedelta(hours=1), 9, content={"name": "new"})
    store.ack_batch(
        "shop", "run1", "products", "k", [first, _applied("P2"), again], created=2, updated=0
    )
    states = store.items("shop", "products", ["P1", "P2"])
    assert states["P1"].content_hash == "b" * 64
    assert states["P1"].export_date == (DAY + timedelta(hours=1)).replace(tzinfo=None)
    assert states["P1"].saleslayer_id == 9
    assert states["P1"].content == {"name": "new"}
    assert states["P2"].deleted is False and states["P2"].run_id == "run1"
    store.record_applied("shop", "products", "run2", [_applied("P2", deleted=True)])
    assert store.items("shop", "products", ["P2"])["P2"].deleted is True
    assert store.live_references("shop", "products") == {"P1"}
    with store.engine.connect() as connection:
        updated = connection.execute(
            sa.text("SELECT updated_at FROM slc_items WHERE reference = 'P2'")
        ).scalar_one()
    assert updated is not None


_JSON = st.recursive(
    st.one_of(
        st.none(),
        st.booleans(),
        st.integers(),
        st.floats(),
        st.text(),
        st.sampled_from(["0.1", "-2.50"]).map(ExactNumber),
    ),
    lambda inner: st.one_of(
        st.lists(inner, max_size=3), st.dictionaries(st.text(), inner, max_size=3)
    ),
    max_leaves=12,
)


@settings(max_examples=300, deadline=None)
@given(content=st.dictionaries(st.text(), _JSON, max_size=8))
def test_content_is_stored_as_json_dumps_sorted_writes_it(content: dict[str, Any]) -> None:
    """The content kept of an item is the same text as before the encoder was built once."""
    assert _CONTENT_JSON(content) == json.dumps(content, sort_keys=True)
