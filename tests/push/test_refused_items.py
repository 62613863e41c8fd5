"""Items Sales Layer refuses never block their table: the pipeline sets aside the items a denial
names and sends the rest again, or bisects a call whose denial names none; the refused items are
counted failed (balance kept), handed over with their reasons, not recorded (so the next run
sends them again), and the table fails only past ``max_failed_ratio``.

Against a real SQLite state store; ``Refuser`` stands in for Sales Layer's rule (deny the whole
call when it holds a refused item), and the last tests run the real Import Connector transport
against the emulator over HTTP in both of its wordings."""

from __future__ import annotations

import math
from collections.abc import Iterator, Sequence
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest

from saleslayer_airflow.push.pipeline import (
    BISECT_NOTHING_ACCEPTED,
    BatchResult,
    ItemsRefused,
    OutgoingItem,
    PushInterrupted,
    PushOptions,
    Refusal,
    RefusedPastLimit,
    SentItem,
    push_table,
)
from saleslayer_airflow.state import StateStore

DAY = datetime(2026, 11, 5, tzinfo=UTC)


class Refuser:
    """Denies a whole call holding a refused reference, as Sales Layer does; with ``named``
    its errors name the items, otherwise they only give the reasons."""

    def __init__(self, refused: dict[str, str], *, named: bool = True) -> None:
        self.refused = refused
        self.named = named
        self.calls: list[list[str]] = []
        self.accepted: list[list[str]] = []

    def __call__(self, batch: Sequence[SentItem]) -> list[int | None]:
        refs = [s.item.reference for s in batch]
        self.calls.append(refs)
        bad = {ref: self.refused[ref] for ref in refs if ref in self.refused}
        if bad:
            errors = [f"products {r}: {why}" if self.named else why for r, why in bad.items()]
            named = dict(zip(bad, errors, strict=True)) if self.named else None
            raise ItemsRefused("denied (result 2)", errors=errors, reasons=named)
        self.accepted.append(refs)
        return [None] * len(batch)


def items(n: int) -> list[OutgoingItem]:
    return [OutgoingItem(f"P{i:02d}", {"price": i}) for i in range(n)]


@pytest.fixture
def store(tmp_path: Path) -> Iterator[StateStore]:
    opened = StateStore.open(f"sqlite:///{tmp_path / 'state.sqlite'}")
    yield opened
    opened.close()


def options(run: str = "run1", table: str = "products", **kw: Any) -> PushOptions:
    base: dict[str, Any] = {"batch_size": 7, "max_failed_ratio": 0.2}
    return PushOptions(connector_id="shop", table=table, run_id=run, export_date=DAY, **(base | kw))


def recorded(store: StateStore, n: int) -> set[str]:
    return set(store.items("shop", "products", [f"P{i:02d}" for i in range(n)]))


# First and last item of the first call, the middle of the second, the last (odd) call's end.
EDGES = {"P00": "bad price", "P06": "bad link", "P10": "wrong type", "P24": "deleted category"}


def test_named_refusals_are_dropped_and_the_rest_of_each_call_sent_again(
    store: StateStore,
) -> None:
    send = Refuser(EDGES)
    refusals: list[Refusal] = []
    counts = push_table(items(25), store, options(), send, on_refused=refusals.extend)

    assert (counts.items, counts.created, counts.failed, counts.refused) == (25, 21, 4, 4)
    assert {r.reference: r.reason for r in refusals} == {
        ref: f"products {ref}: {why}" for ref, why in EDGES.items()
    }
    assert [r["reference"] for r in counts.refusals] == ["P00", "P06", "P10", "P24"]
    # Each denied call costs exactly one more call: the call less its refused items.
    assert len(send.calls) == 4 + 3
    assert sorted(ref for call in send.accepted for ref in call) == sorted(
        f"P{i:02d}" for i in range(25) if f"P{i:02d}" not in EDGES
    )
    assert recorded(store, 25) == {f"P{i:02d}" for i in range(25)} - set(EDGES)


def test_the_next_run_sends_exactly_the_refused_items_again(store: StateStore) -> None:
    # The share is of the table's items, not of the few sent: 1 of 25 refused again stays
    # under max_failed_ratio though it is 1 of the 4 items sent.
    push_table(items(25), store, options(), Refuser(EDGES))
    still = Refuser({"P10": "wrong type"})
    counts = push_table(items(25), store, options("run2"), still)
    assert still.calls == [["P00", "P06", "P10", "P24"], ["P00", "P06", "P24"]]
    assert (counts.unchanged, counts.created, counts.refused) == (21, 3, 1)
    lifted = Refuser({})
    counts = push_table(items(25), store, options("run3"), lifted)
    assert lifted.calls == [["P10"]] and (counts.unchanged, counts.created) == (24, 1)


@pytest.mark.parametrize("batch_size", [7, 8, 25])
def test_unnamed_refusals_are_found_by_bisecting_within_log2_calls_each(
    store: StateStore, batch_size: int
) -> None:
    send = Refuser(EDGES, named=False)
    counts = push_table(items(25), store, options(batch_size=batch_size), send)

    assert (counts.created, counts.failed, counts.refused) == (21, 4, 4)
    assert {r["reference"]: r["reason"] for r in counts.refusals} == EDGES
    assert recorded(store, 25) == {f"P{i:02d}" for i in range(25)} - set(EDGES)
    # Every accepted part was checkpointed on its own: no accepted call holds a refused item.
    assert all(not set(call) & set(EDGES) for call in send.accepted)
    calls = math.ceil(25 / batch_size)
    bound = calls + 2 * len(EDGES) * math.ceil(math.log2(batch_size))
    assert len(send.calls) <= bound, (len(send.calls), bound)


def test_every_item_refused_by_name_fails_the_table_with_balanced_counts(
    store: StateStore,
) -> None:
    send = Refuser({f"P{i:02d}": "no" for i in range(9)})
    with pytest.raises(PushInterrupted) as caught:
        push_table(items(9), store, options(max_failed_ratio=0.05), send)
    counts = caught.value.counts
    assert isinstance(caught.value.cause, RefusedPastLimit)
    assert "refused 9 of its 9 items" in str(caught.value.cause)
    assert (counts.items, counts.failed, counts.refused, counts.created) == (9, 9, 9, 0)
    assert send.accepted == [] and recorded(store, 9) == set()
    assert len(send.calls) == 2, "named refusals cost one call per call, not a bisection"


def test_a_denial_of_every_call_naming_no_item_stops_bisecting(store: StateStore) -> None:
    # Whatever the items, every call is refused: after a few single items refused with nothing
    # accepted, the table fails as before, instead of cutting every call down to single items.
    send = Refuser({f"P{i:02d}": "table not enabled" for i in range(200)}, named=False)
    with pytest.raises(PushInterrupted) as caught:
        push_table(items(200), store, options(batch_size=100), send)
    counts = caught.value.counts
    assert isinstance(caught.value.cause, RefusedPastLimit)
    assert "no call was accepted" in str(caught.value.cause)
    assert counts.refused == BISECT_NOTHING_ACCEPTED and counts.failed == 200
    assert len(send.calls) <= 2 * BISECT_NOTHING_ACCEPTED * math.ceil(math.log2(100))
    counts.check_balanced("products")


def test_bisecting_stops_once_the_table_must_fail_anyway(store: StateStore) -> None:
    refused = {f"P{i:02d}": "bad" for i in range(0, 100, 4)}  # one in four
    send = Refuser(refused, named=False)
    with pytest.raises(PushInterrupted) as caught:
        push_table(
            items(100), store, options(batch_size=20, max_failed_ratio=0.05, total_items=100), send
        )
    counts = caught.value.counts
    assert "more than target.max_failed_ratio 0.05" in str(caught.value.cause)
    # Past max(BISECT_NOTHING_ACCEPTED, 5% of 100) refused, the push stopped.
    assert counts.refused == BISECT_NOTHING_ACCEPTED + 1
    assert counts.failed == 100 - counts.created
    # What was accepted before is checkpointed.
    assert recorded(store, 100) == {ref for call in send.accepted for ref in call}
    assert counts.created == len(recorded(store, 100)) > 0


@pytest.mark.parametrize(("ratio", "fails"), [(0.08, False), (0.07, True), (0.0, True)])
def test_the_table_fails_only_past_max_failed_ratio_of_its_items(
    store: StateStore, ratio: float, fails: bool
) -> None:
    send = Refuser({"P03": "bad", "P20": "bad"})  # 2 of the table's 25 items: 8 %
    if not fails:
        counts = push_table(items(25), store, options(max_failed_ratio=ratio), send)
    else:
        with pytest.raises(PushInterrupted) as caught:
            push_table(items(25), store, options(max_failed_ratio=ratio), send)
        assert isinstance(caught.value.cause, RefusedPastLimit)
        counts = caught.value.counts
    assert (counts.created, counts.refused, counts.failed) == (23, 2, 2)
    assert len(recorded(store, 25)) == 23, "the accepted items are checkpointed either way"


def test_a_retried_run_resends_only_the_refused_items(store: StateStore) -> None:
    class DropsThirdCall(Refuser):
        def __call__(self, batch: Sequence[SentItem]) -> list[int | None]:
            if len(self.calls) == 2:
                self.calls.append([])
                raise ConnectionError("dropped")
            return super().__call__(batch)

    first = DropsThirdCall({"P01": "bad"})
    with pytest.raises(PushInterrupted):
        push_table(items(25), store, options(), first)
    acknowledged = {ref for call in first.accepted for ref in call}
    assert acknowledged == {"P00", "P02", "P03", "P04", "P05", "P06"}
    again = Refuser({"P01": "bad"})
    counts = push_table(items(25), store, options(), again)
    assert again.calls[0][0] == "P01", "the refused item was not sent again"
    assert not acknowledged & {ref for call in again.calls for ref in call}
    assert (counts.created, counts.refused, counts.failed) == (24, 1, 1)
    counts.check_balanced("products")


def test_items_refused_within_an_accepted_batch_are_not_recorded(store: StateStore) -> None:
    # The REST transport writes item by item: it answers the batch, naming the refused ones.
    def send(batch: Sequence[SentItem]) -> BatchResult:
        refs = [s.item.reference for s in batch]
        return BatchResult(
            [i for i, _ in enumerate(refs)],
            refused={ref: "HTTP 400: bad" for ref in refs if ref in {"P00", "P05"}},
        )

    counts = push_table(items(7), store, options(max_failed_ratio=0.5), send)
    assert (counts.created, counts.refused, counts.failed) == (5, 2, 2)
    assert recorded(store, 7) == {f"P{i:02d}" for i in range(7)} - {"P00", "P05"}
    assert store.items("shop", "products", ["P06"])["P06"].saleslayer_id == 6


def test_the_report_keeps_the_first_reasons_only(store: StateStore) -> None:
    refused = {f"P{i:02d}": f"reason {i}" for i in range(8)}
    handed: list[Refusal] = []
    with pytest.raises(PushInterrupted) as caught:
        push_table(items(8), store, options(), Refuser(refused), on_refused=handed.extend)
    assert len(caught.value.counts.refusals) == 5 and len(handed) == 8


# -- the real Import Connector transport against the emulator ---------------------------------


@pytest.fixture
def emulator(tmp_path: Path) -> Iterator[Any]:
    from saleslayer_airflow.emulator.server import run_in_thread

    fast = {"tracking": {"steps_to_end": 0, "seconds_per_step": 0}}
    with run_in_thread(tmp_path / "sl.sqlite", settings=fast) as running:
        yield running


@pytest.mark.integration
@pytest.mark.parametrize("named", [True, False])
def test_the_import_connector_transport_isolates_refused_items(
    emulator: Any, store: StateStore, named: bool
) -> None:
    from saleslayer_airflow.push.transports import ConnectorApiTransport
    from saleslayer_airflow.saleslayer import (
        ConnectorApiClient,
        ConnectorApiOptions,
        ConnectorCredentials,
    )

    refused = {"S00": "Invalid value for field pos_latitude", "S12": "Invalid value for pos_zip"}
    emulator.update_settings(
        {"refuse": {"points_of_sale": refused}, "connector_api": {"denials_name_items": named}}
    )
    stores = [OutgoingItem(f"S{i:02d}", {"pos_name": f"Store {i}"}) for i in range(13)]
    credentials = ConnectorCredentials(
        emulator.base_url, "CN123TEST", "pk-S3cret-Private-Key-4-tests"
    )
    with ConnectorApiClient(credentials, options=ConnectorApiOptions(poll_interval=0)) as api:
        transport = ConnectorApiTransport(api, "points_of_sale", "pos_ref")
        counts = push_table(
            stores,
            store,
            options(table="points_of_sale", batch_size=5),
            transport,
            split=transport.split,
        )
    assert (counts.created, counts.refused, counts.failed) == (11, 2, 2)
    reasons = {r["reference"]: r["reason"] for r in counts.refusals}
    assert set(reasons) == set(refused)
    assert all(refused[ref] in reason for ref, reason in reasons.items())
    in_sales_layer = {row["ref"] for row in emulator.dump("points_of_sale")}
    assert in_sales_layer == {s.reference for s in stores} - set(refused)


@pytest.mark.integration
def test_the_rest_transport_sets_aside_items_answered_400(emulator: Any, store: StateStore) -> None:
    from saleslayer_airflow.push.rest_transport import RestTransport
    from saleslayer_airflow.saleslayer import RestCatalogClient, RestCredentials, RestOptions
    from saleslayer_airflow.saleslayer.entities import CATEGORIES

    emulator.update_settings(
        {
            "rate_limit": {"requests": 10_000},
            "refuse": {"catalogue": {"C2": "Invalid value for field cat_title"}},
        }
    )
    categories = [OutgoingItem(f"C{i}", {"cat_title_en": f"Category {i}"}) for i in range(5)]
    credentials = RestCredentials(emulator.rest_base_url, "ak-S3cret-Api-Key-4-tests-0042")
    options_ = RestOptions(max_requests=10_000, languages=("en",))
    with RestCatalogClient(credentials, options=options_) as api:
        send = RestTransport(api, CATEGORIES, store=store, connector_id="shop", table="catalogue")
        counts = push_table(categories, store, options(table="catalogue", batch_size=5), send)
    assert (counts.created, counts.refused, counts.failed) == (4, 1, 1)
    (refusal,) = counts.refusals
    assert refusal["reference"] == "C2" and "Invalid value for field cat_title" in refusal["reason"]
    assert "connection" not in refusal["reason"], "the reason carries the client's place text"
    assert set(store.items("shop", "catalogue", [f"C{i}" for i in range(5)])) == {
        "C0",
        "C1",
        "C3",
        "C4",
    }
    assert {row["ref"] for row in emulator.dump("catalogue")} == {"C0", "C1", "C3", "C4"}
