"""The delta on columns: hash a staged table's items and decide them against the state store
with a join, so that only the items to send ever become Python objects.

The content hash is :func:`saleslayer_airflow.state.delta.content_hash` of the fields
:class:`~saleslayer_airflow.push.items.StagedLayout` gives each row, byte for byte (hashes
stored by earlier versions keep matching: an upgrade resends nothing). Its canonical JSON is
built on columns: one ``"<field>":<token>`` fragment per field column (null when the value is
empty: empty values hash like absent fields), joined in field-name order; only the rare values
JSON must escape (quotes, backslashes, control characters), the distinct exact numbers and the
column types without a columnar rule go through Python's ``json``. Then one sha256 per row.

A table is read twice: once for its references and hashes (joined with the state of the
connector's table, loaded in one query), once for the rows to send, in file order, skipping the
row groups that have none. The decisions follow :func:`~saleslayer_airflow.state.delta.decide`
and the pipeline's resume rule (items acknowledged by an earlier attempt of the same run).
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from saleslayer_airflow.numbers import ExactNumber, staged_number
from saleslayer_airflow.push.items import StagedItems, StagedLayout
from saleslayer_airflow.state.delta import Decision
from saleslayer_airflow.state.store import ItemState, StateStore, naive_utc

if TYPE_CHECKING:
    import numpy as np
    import polars as pl

    from saleslayer_airflow.push.pipeline import OutgoingItem, PushOptions

#: Decision codes of the decision column.
APPLIED, CREATE, UPDATE, UNCHANGED, STALE = 0, 1, 2, 3, 4
#: Decision of each code that is sent.
SENT = {CREATE: Decision.CREATE, UPDATE: Decision.UPDATE}
#: Rows read at once.
READ_BATCH = 50_000
#: What JSON escapes in a string (ensure_ascii=False): the rows holding one are encoded by json.
_ESCAPED = r'[\x00-\x1f"\\]'


def _dumps(value: Any) -> str:
    # The encoder of content_hash; keep both alike.
    return json.dumps(value, sort_keys=True, ensure_ascii=False, separators=(",", ":"))


def _is_empty(value: Any) -> bool:
    # read_items' test (``value in (None, "", [])``): such a value is left out or sent empty,
    # and an empty value hashes like an absent field.
    return value is None or value == "" or value == []


def _python_token(value: Any, *, number: bool) -> str | None:
    """The hash token of one staged value, the slow and obviously right way."""
    if _is_empty(value):
        return None
    if number and isinstance(value, str):
        value = staged_number(value)
    elif isinstance(value, float) and value.is_integer():
        value = int(value)
    if isinstance(value, ExactNumber):
        return value.hash_token()
    return _dumps(value)


def _string_tokens(series: pl.Series) -> pl.Series:
    """JSON string tokens of a string column; null where the value is empty."""
    import polars as pl

    quoted = pl.concat_str([pl.lit('"'), series, pl.lit('"')]).alias(series.name)
    tokens = pl.select(
        pl.when(series.is_null() | (series == ""))
        .then(pl.lit(None, dtype=pl.String))
        .otherwise(quoted)
    ).to_series()
    escaped = series.str.contains(_ESCAPED).fill_null(value=False)
    positions = escaped.arg_true()
    if len(positions):
        values = series.gather(positions).to_list()
        tokens = tokens.scatter(positions, [_dumps(value) for value in values])
    return tokens


def _number_tokens(series: pl.Series) -> pl.Series:
    """Tokens of an exact number column (canonical decimal text): each distinct value once."""
    import polars as pl

    distinct = series.drop_nulls().unique().to_list()
    if not distinct:
        return pl.Series(series.name, [None] * len(series), dtype=pl.String)
    tokens = [_python_token(value, number=True) for value in distinct]
    return series.replace_strict(distinct, tokens, default=None, return_dtype=pl.String)


def _list_tokens(series: pl.Series) -> pl.Series:
    """JSON array tokens of a list column of strings, integers or booleans."""
    import polars as pl

    inner = series.dtype.inner  # type: ignore[attr-defined]
    element = pl.element()
    if inner == pl.String:
        text = pl.concat_str([pl.lit('"'), element, pl.lit('"')])
        special = series.list.eval(element.str.contains(_ESCAPED).fill_null(value=False))
        escaped = special.list.any().fill_null(value=False)
    elif inner.is_integer() or inner == pl.Boolean:
        text = element.cast(pl.String)
        escaped = pl.Series([False] * len(series))
    else:
        return _python_tokens(series.to_list(), number=False)
    joined = series.list.eval(
        pl.when(element.is_null()).then(pl.lit("null")).otherwise(text)
    ).list.join(",")
    tokens = pl.select(
        pl.when(series.is_null() | (series.list.len() == 0))
        .then(pl.lit(None, dtype=pl.String))
        .otherwise(pl.concat_str([pl.lit("["), joined, pl.lit("]")]))
    ).to_series()
    positions = escaped.arg_true()
    if len(positions):
        values = series.gather(positions).to_list()
        tokens = tokens.scatter(positions, [_dumps(value) for value in values])
    return tokens


def _python_tokens(values: list[Any], *, number: bool) -> pl.Series:
    import polars as pl

    return pl.Series([_python_token(value, number=number) for value in values], dtype=pl.String)


def _tokens(series: pl.Series, *, number: bool) -> pl.Series:
    """The hash token of each value of a staged column; null where the value is empty."""
    import polars as pl

    dtype = series.dtype
    if dtype == pl.String:
        return _number_tokens(series) if number else _string_tokens(series)
    if dtype.is_integer() or dtype == pl.Boolean:
        return series.cast(pl.String)
    if dtype == pl.Null:
        return pl.Series([None] * len(series), dtype=pl.String)
    if isinstance(dtype, pl.List):
        return _list_tokens(series)
    # Floats (files staged before numbers were exact) and anything unforeseen: row by row.
    return _python_tokens(series.to_list(), number=number)


def canonical_texts(batch: Any, layout: StagedLayout) -> list[str]:
    """The canonical JSON that :func:`content_hash` hashes, for each row of an Arrow record
    batch (or table) of a staged file."""
    import polars as pl

    targets = list(layout.names.values())
    if len(set(targets)) != len(targets):
        # Two columns feed one field (the later wins, as read_items builds the dict): rare
        # enough to take row by row.
        return _canonical_rows(batch, layout)
    frame = pl.from_arrow(batch)
    assert isinstance(frame, pl.DataFrame)
    fragments = [
        pl.concat_str(
            [pl.lit(_dumps(name) + ":"), _tokens(frame[column], number=column in layout.numbers)]
        )
        for column, name in sorted(layout.names.items(), key=lambda pair: pair[1])
    ]
    if not fragments:
        return ["{}"] * batch.num_rows
    body = pl.concat_str(fragments, separator=",", ignore_nulls=True)
    texts = pl.select(pl.concat_str([pl.lit("{"), body.fill_null(""), pl.lit("}")])).to_series()
    return texts.to_list()


def _canonical_rows(batch: Any, layout: StagedLayout) -> list[str]:
    texts = []
    for row in batch.to_pylist():
        kept = {name: value for name, value in layout.fields(row).items() if not _is_empty(value)}
        texts.append(
            "{"
            + ",".join(
                _dumps(name) + ":" + str(_python_token(value, number=False))
                for name, value in sorted(kept.items())
            )
            + "}"
        )
    return texts


def content_digests(batch: Any, layout: StagedLayout) -> list[bytes]:
    """The sha256 digest of each row's content (``content_hash`` is its hex form)."""
    sha256 = hashlib.sha256
    return [sha256(text.encode("utf-8")).digest() for text in canonical_texts(batch, layout)]


@dataclass
class Decided:
    """Every row of a staged table decided: its code and digest, in file order."""

    codes: np.ndarray
    digests: pl.Series
    has_previous: np.ndarray


def _hashed(staged: StagedItems) -> pl.DataFrame:
    """reference and digest of every row, in file order."""
    import polars as pl

    parts = []
    with staged.open() as parquet:
        layout = staged.layout(parquet.schema_arrow)
        columns = ["reference", *layout.names]
        for batch in parquet.iter_batches(batch_size=READ_BATCH, columns=columns):
            references = pl.Series("reference", batch.column(0)).cast(pl.String)
            digests = pl.Series("digest", content_digests(batch, layout), dtype=pl.Binary)
            parts.append(pl.DataFrame([references, digests]))
    if not parts:
        return pl.DataFrame(schema={"reference": pl.String, "digest": pl.Binary})
    return pl.concat(parts, rechunk=False)


def decide_staged(staged: StagedItems, store: StateStore, options: PushOptions) -> Decided:
    """Decide every row of ``staged`` against the state of its connector's table in one join:
    the rules of :func:`~saleslayer_airflow.state.delta.decide`, plus rows an earlier attempt
    of this run acknowledged (``APPLIED``, not counted again)."""
    import polars as pl

    rows = _hashed(staged)
    state = store.item_states(options.connector_id, options.table, binary_hashes=True)
    state = state.select(
        "reference",
        pl.col("content_hash").alias("previous_digest"),
        "export_date",
        "deleted",
        "run_id",
    )
    joined = rows.join(state, on="reference", how="left", maintain_order="left")
    export_date = naive_utc(options.export_date)
    exists = pl.col("export_date").is_not_null()
    same = (pl.col("previous_digest") == pl.col("digest")).fill_null(value=False)
    applied = pl.lit(value=False)
    if not options.dry_run:
        applied = exists & (pl.col("run_id") == options.run_id).fill_null(value=False) & same
    stale = pl.lit(value=False)
    if not options.apply_older_exports:
        stale = (pl.col("export_date") > export_date).fill_null(value=False)
    unchanged = pl.lit(value=False) if options.overwrite else same
    code = (
        pl.when(applied)
        .then(APPLIED)
        .when(~exists | pl.col("deleted").fill_null(value=False))
        .then(CREATE)
        .when(stale)
        .then(STALE)
        .when(unchanged)
        .then(UNCHANGED)
        .otherwise(UPDATE)
        .cast(pl.Int8)
    )
    decided = joined.select(code.alias("code"), "digest", exists.alias("exists"))
    return Decided(
        decided["code"].to_numpy(),
        decided["digest"],
        decided["exists"].to_numpy(),
    )


@dataclass(frozen=True)
class Span:
    """Consecutive rows of the table: their decision codes, and the items to send among them
    (their positions in the span, ascending, with the item's previous state when the pipeline
    needs it: for the fields an update clears, and a dry run's sample)."""

    codes: np.ndarray
    sends: Sequence[tuple[int, OutgoingItem, Decision, str, ItemState | None]]


def spans(
    staged: StagedItems, decided: Decided, store: StateStore, options: PushOptions
) -> Iterator[Span]:
    """The table's rows in file order, a record batch at a time: only the rows to send are read
    into Python (row groups without any are not read at all)."""
    import numpy as np
    import pyarrow as pa

    from saleslayer_airflow.push.pipeline import OutgoingItem

    send_mask = (decided.codes == CREATE) | (decided.codes == UPDATE)
    with staged.open() as parquet:
        layout = staged.layout(parquet.schema_arrow)
        columns = ["reference", *layout.names]
        start = 0
        for group in range(parquet.num_row_groups):
            size = parquet.metadata.row_group(group).num_rows
            if not send_mask[start : start + size].any():
                if size:
                    yield Span(decided.codes[start : start + size], ())
                start += size
                continue
            for batch in parquet.iter_batches(
                batch_size=READ_BATCH, row_groups=[group], columns=columns
            ):
                end = start + batch.num_rows
                mask = send_mask[start:end]
                positions = np.flatnonzero(mask)
                items: list[OutgoingItem] = []
                if len(positions):
                    if len(positions) < batch.num_rows:
                        batch = batch.filter(pa.array(mask))
                    # Read a column at a time (StagedLayout.batch_fields), not a dict per row.
                    references = batch.column(0).to_pylist()
                    fields = layout.batch_fields(batch)
                    items = [
                        OutgoingItem(str(reference), item_fields)
                        for reference, item_fields in zip(references, fields, strict=True)
                    ]
                previous = _previous_states(items, positions + start, decided, store, options)
                codes = decided.codes[start:end]
                digests = decided.digests.gather(positions + start).bin.encode("hex").to_list()
                # Plain Python ints: indexing numpy arrays per item costs more than the rest.
                sent_codes = codes[positions].tolist()
                yield Span(
                    codes,
                    [
                        (position, item, SENT[code], digest, previous.get(item.reference))
                        for position, item, code, digest in zip(
                            positions.tolist(), items, sent_codes, digests, strict=True
                        )
                    ],
                )
                start = end


def _previous_states(
    items: list[OutgoingItem],
    rows: np.ndarray,
    decided: Decided,
    store: StateStore,
    options: PushOptions,
) -> dict[str, ItemState]:
    """The previous state (content included) of the items whose outcome needs it: a dry run's
    sample, and updates that send an empty field (the cleared count)."""
    wanted = [
        item.reference
        for item, row in zip(items, rows, strict=True)
        if decided.has_previous[row]
        and (
            options.dry_run
            or (
                decided.codes[row] == UPDATE
                and any(_is_empty(value) for value in item.fields.values())
            )
        )
    ]
    if not wanted:
        return {}
    return store.items(options.connector_id, options.table, wanted)
