"""CPU of the push stage per item: deciding a table against the state store, and sending a batch
through the Import Connector API client and checkpointing it.

    .venv/bin/python bench/push_cpu.py decide --items 1000000   # us/item deciding "unchanged"
    .venv/bin/python bench/push_cpu.py send --items 5000         # us/item encode + checkpoint
    .venv/bin/python bench/push_cpu.py decide --rows-path        # the per-row path, to compare
    .venv/bin/python bench/push_cpu.py decide --cold-imports     # first imports timed too

``decide``: a staged variants-like table (reference, parent, two names, a description, an exact
price, a stock, a flag, a list of tags) and a SQLite state store that already holds every item
with the same content; then pushes it again and times the run (0 items sent).

``send``: Import Connector calls of ``--items`` items each, end to end in the process: the
pipeline decides them, encodes the body (PHP bracket form, as Sales Layer takes it) and "posts"
it to an in-process transport answering like Sales Layer, and the state store checkpoints each
call. Printed: the CPU (process time) per item of the whole push of new items
(``us_per_item_whole_push``, the best of ``--rounds``) and of the same items updated (the store
holds other content for them: ``us_per_item_whole_push_update``), and of the encoding (columns
to the body of a call) and checkpoint (``ack_batch`` of columns) alone, measured apart; with
``_per_item_path``, the same for the per-item path (``plan_calls`` of items' fields,
``ack_batch`` of AppliedItems), which REST, dry runs and unusual columns take.
"""

from __future__ import annotations

import argparse
import gc
import json
import tempfile
import time
from collections.abc import Iterable, Iterator
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from saleslayer_airflow.config.tables import TableMapping
from saleslayer_airflow.numbers import FIELD_TYPE_KEY
from saleslayer_airflow.push.items import read_items
from saleslayer_airflow.push.pipeline import OutgoingItem, PushOptions, SentItem, push_table
from saleslayer_airflow.state import AppliedItem, Decision, StateStore, content_hash

TABLE = TableMapping.model_validate(
    {
        "reference": "sku",
        "fields": {
            "frmt_name": {"column": "name", "languages": ["en", "es"]},
            "frmt_description": "description",
            "frmt_price": {"column": "price", "type": "number"},
            "frmt_stock": {"column": "stock", "type": "integer"},
            "frmt_active": {"column": "active", "type": "boolean"},
            "frmt_tags": {"column": "tags", "separator": "|"},
        },
    }
)
DAY = datetime(2026, 12, 1, tzinfo=UTC)


def staged_file(path: Path, items: int, variant: int = 0) -> Path:
    """A staged variants table of ``items`` rows, written as the split stage writes one
    (``variant``: another content for the same references)."""
    import pyarrow as pa
    import pyarrow.parquet as pq

    def typed(name: str, kind: Any, sl_type: str) -> Any:
        return pa.field(name, kind, metadata={FIELD_TYPE_KEY: sl_type.encode()})

    schema = pa.schema(
        [
            pa.field("reference", pa.string()),
            pa.field("_source_file", pa.string()),
            pa.field("_line", pa.int64()),
            typed("frmt_name_en", pa.string(), "string"),
            typed("frmt_name_es", pa.string(), "string"),
            typed("frmt_description", pa.string(), "string"),
            typed("frmt_price", pa.string(), "number"),
            typed("frmt_stock", pa.int64(), "integer"),
            typed("frmt_active", pa.bool_(), "boolean"),
            typed("frmt_tags", pa.list_(pa.string()), "string"),
            pa.field("_product_ref", pa.string()),
        ]
    )
    step = 100_000
    with pq.ParquetWriter(path, schema, compression="zstd") as writer:
        for start in range(0, items, step):
            numbers = range(start, min(start + step, items))
            columns = {
                "reference": [f"SKU{n:08d}" for n in numbers],
                "_source_file": ["export.csv"] * len(numbers),
                "_line": [n + 2 for n in numbers],
                "frmt_name_en": [f"Shirt {n % 997 + variant} size {n % 5}" for n in numbers],
                "frmt_name_es": [f"Camisa {n % 997} talla {n % 5}" for n in numbers],
                "frmt_description": [
                    f'A 15" shirt, cotton ({n % 13})' if n % 10 == 0 else "" for n in numbers
                ],
                "frmt_price": [f"{n % 500 + variant}.{n % 100:02d}" for n in numbers],
                "frmt_stock": [n % 1000 for n in numbers],
                "frmt_active": [n % 7 != 0 for n in numbers],
                "frmt_tags": [["summer", f"t{n % 11}"] if n % 3 else [] for n in numbers],
                "_product_ref": [f"P{n // 5:07d}" for n in numbers],
            }
            writer.write_table(pa.Table.from_pydict(columns, schema=schema))
    return path


def _options(run: str, connector: str = "bench", **kw: Any) -> PushOptions:
    return PushOptions(connector_id=connector, table="variants", run_id=run, export_date=DAY, **kw)


def _rows(items: Iterable[OutgoingItem]) -> Iterator[OutgoingItem]:
    # A plain iterator: push_table takes the per-row path (the one before columns).
    yield from items


def bench_decide(items: int, rows_path: bool, *, warm_imports: bool = True) -> None:
    with tempfile.TemporaryDirectory() as folder:
        path = staged_file(Path(folder, "variants.parquet"), items)
        store = StateStore.open(f"sqlite:///{folder}/state.sqlite")
        staged = read_items(path, "variants", TABLE)
        started = time.perf_counter()
        store.record_applied(
            "bench",
            "variants",
            "seed",
            (
                AppliedItem(item.reference, content_hash(item.fields), DAY, content=item.fields)
                for item in staged
            ),
        )
        print(f"seeded {items:,} items in {time.perf_counter() - started:.1f} s")
        source = _rows(staged) if rows_path else staged
        if warm_imports:
            # What the push task has imported before it pushes (the transport's client, the
            # columnar engine): start-up, not per-item, cost.
            import polars  # noqa: F401

            import saleslayer_airflow.push.encoded  # noqa: F401
        gc.collect()
        gc.freeze()  # as the push task does (operators.base.frozen_heap)
        cpu, wall = time.process_time(), time.perf_counter()
        counts = push_table(source, store, _options("again"), _never_called)
        cpu, wall = time.process_time() - cpu, time.perf_counter() - wall
        assert counts.unchanged == items and counts.items_sent == 0, counts.as_dict()
        print(
            json.dumps(
                {
                    "what": "decide unchanged" + (" (per-row path)" if rows_path else ""),
                    "items": items,
                    "wall_s": round(wall, 2),
                    "cpu_s": round(cpu, 2),
                    "us_per_item_cpu": round(cpu / items * 1e6, 2),
                    "imports_timed": not warm_imports,
                }
            )
        )
        store.close()


def _never_called(batch: Any) -> Any:
    raise AssertionError("nothing should be sent")


def _client(answer_table: str) -> Any:
    import httpx

    from saleslayer_airflow.saleslayer.batching import BatchLimits
    from saleslayer_airflow.saleslayer.connector_api import ConnectorApiClient, ConnectorApiOptions
    from saleslayer_airflow.saleslayer.credentials import ConnectorCredentials

    def answer(request: httpx.Request) -> httpx.Response:
        count = request.content.count(b"%5D%5Bfrmt_ref%5D=")
        body = {
            "input_response": {"result": 1, "new_items": {answer_table: count}},
            "error": 0,
        }
        return httpx.Response(200, json=body)

    return ConnectorApiClient(
        ConnectorCredentials("http://sl.invalid/", "CN0000", "secret"),
        options=ConnectorApiOptions(limits=BatchLimits(max_items=50_000, max_bytes=64 << 20)),
        transport=httpx.MockTransport(answer),
    )


def bench_send(items: int, repeat: int, rounds: int) -> None:
    from saleslayer_airflow.push.encoded import FormEncoding, call_parts, encode_rows
    from saleslayer_airflow.push.pipeline import batch_key
    from saleslayer_airflow.push.transports import ConnectorApiTransport
    from saleslayer_airflow.state.store import AppliedColumns

    total = items * repeat
    with tempfile.TemporaryDirectory() as folder:
        parts_file = staged_file(Path(folder, "parts.parquet"), total)
        every = list(read_items(parts_file, "variants", TABLE))
        store = StateStore.open(f"sqlite:///{folder}/state.sqlite")
        client = _client("variants")
        transport = ConnectorApiTransport(client, "variants", "frmt_ref")
        # Warm up (imports, first calls), then keep the heap out of the collector's full passes
        # as the push task does (operators.base.frozen_heap).
        warm = read_items(staged_file(Path(folder, "warm.parquet"), 200), "variants", TABLE)
        push_table(warm, store, _options("warm", "warm"), transport, split=transport.split)
        gc.collect()
        gc.freeze()
        spent: dict[str, float] = dict.fromkeys(["encode", "ack", "encode_items", "ack_items"], 0.0)
        staged = read_items(parts_file, "variants", TABLE)
        with staged.open() as parquet:
            layout = staged.layout(parquet.schema_arrow)
            columns = ["reference", *layout.names]
            batches = list(parquet.iter_batches(batch_size=items, columns=columns))
        for round_, batch in enumerate(batches):
            # The columns' path: encode a call's items on columns, cut and join the body ...
            cpu = time.process_time()
            encoded = encode_rows(batch, layout, FormEncoding("variants", "frmt_ref"))
            assert encoded is not None
            [(start, stop)] = client.plan_sizes(
                "variants", encoded.lengths, encoded.holes, describe=str
            )
            body = "&".join(call_parts(encoded.fragments[start:stop])).encode("ascii")  # type: ignore[arg-type]
            spent["encode"] += time.process_time() - cpu
            assert body
            chunk = every[round_ * items : (round_ + 1) * items]
            references = [item.reference for item in chunk]
            digests = [content_hash(item.fields) for item in chunk]
            # ... and checkpoint it, content pre-encoded.
            cpu = time.process_time()
            store.ack_batch(
                "bench",
                f"run{round_}",
                "variants",
                f"key{round_}",
                AppliedColumns(references, digests, encoded.contents, DAY),
                created=len(references),
                updated=0,
            )
            spent["ack"] += time.process_time() - cpu
            # The per-item path, on the same items.
            sent = [
                SentItem(item, Decision.CREATE, d) for item, d in zip(chunk, digests, strict=True)
            ]
            cpu = time.process_time()
            [planned] = client.plan_calls("variants", transport._rows(sent), ref_field="frmt_ref")
            body = "&".join(planned.parts).encode("ascii")
            spent["encode_items"] += time.process_time() - cpu
            applied = [
                AppliedItem(s.item.reference, s.digest, DAY, None, content=s.item.fields)
                for s in sent
            ]
            cpu = time.process_time()
            store.ack_batch(
                "bench-items",
                f"run{round_}",
                "variants",
                batch_key("variants", sent),
                applied,
                created=len(applied),
                updated=0,
            )
            spent["ack_items"] += time.process_time() - cpu
        # The whole push from a staged file, one call per ``items``, as the push task does it:
        # decide on columns, encode, post, checkpoint. New items, then the same items updated.
        whole, update = [], []
        changed = read_items(
            staged_file(Path(folder, "changed.parquet"), total, variant=1), "variants", TABLE
        )
        for round_ in range(rounds):
            connector = f"whole{round_}"
            options = _options("new", connector, batch_size=items)
            cpu = time.process_time()
            counts = push_table(
                read_items(parts_file, "variants", TABLE),
                store,
                options,
                transport,
                split=transport.split,
            )
            whole.append(time.process_time() - cpu)
            assert counts.created == total and counts.batches_sent == repeat, counts.as_dict()
            options = _options("changed", connector, batch_size=items)
            cpu = time.process_time()
            counts = push_table(changed, store, options, transport, split=transport.split)
            update.append(time.process_time() - cpu)
            assert counts.updated == total and counts.batches_sent == repeat, counts.as_dict()
        gc.unfreeze()

        def per_item(seconds: float) -> float:
            return round(seconds / total * 1e6, 2)

        print(
            json.dumps(
                {
                    "what": "Import Connector calls + checkpoints",
                    "items_per_call": items,
                    "calls": repeat,
                    "us_per_item_encode": per_item(spent["encode"]),
                    "us_per_item_checkpoint": per_item(spent["ack"]),
                    "us_per_item_encode_and_checkpoint": per_item(spent["encode"] + spent["ack"]),
                    "us_per_item_whole_push": per_item(min(whole)),
                    "us_per_item_whole_push_rounds": [per_item(t) for t in whole],
                    "us_per_item_whole_push_update": per_item(min(update)),
                    "us_per_item_whole_push_update_rounds": [per_item(t) for t in update],
                    "us_per_item_encode_per_item_path": per_item(spent["encode_items"]),
                    "us_per_item_checkpoint_per_item_path": per_item(spent["ack_items"]),
                }
            )
        )
        client.close()
        store.close()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("what", choices=["decide", "send"])
    parser.add_argument("--items", type=int, default=None)
    parser.add_argument("--rows-path", action="store_true", help="decide row by row (before)")
    parser.add_argument(
        "--cold-imports",
        action="store_true",
        help="decide: time the first imports of polars and the transport's modules too",
    )
    parser.add_argument("--repeat", type=int, default=5, help="calls timed (send)")
    parser.add_argument("--rounds", type=int, default=3, help="whole pushes timed (send)")
    args = parser.parse_args()
    if args.what == "decide":
        bench_decide(args.items or 1_000_000, args.rows_path, warm_imports=not args.cold_imports)
    else:
        bench_send(args.items or 5_000, args.repeat, args.rounds)


if __name__ == "__main__":
    main()
