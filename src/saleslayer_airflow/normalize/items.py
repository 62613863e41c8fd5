"""Items of one run as columns: duplicate policies, merges and conflicts, rejected items.

The columnar twin of the row engine's ``ItemStore`` (tests/oracle/store.py), with identical
results. Per table, the :class:`~saleslayer_airflow.normalize.contributions.TableChunk` objects
of the mapping layer are gathered, then resolved at once:

- ``first`` / ``reject``: the first contribution of a reference is its item, the later ones are
  duplicates (vectorised); ``reject`` then rejects the item too (:meth:`Items.reject_duplicated`).
- ``merge``: a reference whose rows agree (no non-null value differs from the first non-null
  value of its column) merges without a conflict, vectorised: its item takes the first non-null
  value of each column. Only references whose rows disagree run the row engine's sequential
  algorithm, in Python, so that conflicts and the values kept are the same.

Rejects are stored with an insertion key reproducing the row engine's SQLite ``rowid`` among the
rejects that share (file, line, table), the only order the rejects CSV shows: row rejects and the
duplicates / conflicts in the order of the row engine's chunked writes (a chunk of
``chunk_rows`` records of a file: its row rejects first, then what its contributions gave), then
:meth:`Items.reject_duplicated`, then the parent check's passes.

Memory is bounded by partitions: the chunks' aggregates (and the rows a chunk repeats) are filed
by a hash of the reference into ``partitions`` parts, each part resolved on its own (a reference
lives in one part, so merges, conflicts and duplicates see all of its rows); a part's items are
then filed by ranges of ``_seq`` (the order of first appearance), so that the Parquet writer
reads them back in order one range at a time. With a spill folder the parts are Arrow IPC files
there, so memory holds one part (or one range) at a time, whatever the number of rows.
"""

from __future__ import annotations

from collections import OrderedDict
from collections.abc import Iterable, Iterator, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

from saleslayer_airflow.config.tables import DuplicatePolicy
from saleslayer_airflow.mapping.plan import TablePlan
from saleslayer_airflow.normalize.contributions import (
    TableChunk,
    check_chunk,
    items_schema,
)
from saleslayer_airflow.normalize.results import TableCounts
from saleslayer_airflow.normalize.results import storable as _storable
from saleslayer_airflow.validation.values import shown

if TYPE_CHECKING:
    import polars as pl

#: Columns of the stored rejects frame, in order.
REJECT_FRAME = ("file", "line", "tbl", "ins", "ref", "col", "val", "reason", "code", "remember")
_PHASE = 1 << 40  # insertion keys of the phases after the first start here
#: rows a table buffers (aggregates and repeated rows, every part) before they are filed, and
#: per part at least (a record batch per part and file: too small ones cost more than rows)
_FLUSH_ROWS = 65_536
_FLUSH_PART_ROWS = 2_048
_OPEN_FILES = 256  # spill files kept open for reading
_SEED = 0x5A1E5  # of the partitioning hash; any fixed value: parts only live one run


def reject_schema() -> dict[str, Any]:
    """Column -> polars dtype of the rejects frame (see :data:`REJECT_FRAME`)."""
    import polars as pl

    return {
        "file": pl.Int32,
        "line": pl.Int64,
        "tbl": pl.Int32,
        "ins": pl.Int64,
        "ref": pl.String,
        "col": pl.String,
        "val": pl.String,
        "reason": pl.String,
        "code": pl.String,
        "remember": pl.Boolean,
    }


def _repr_fast(expr: pl.Expr) -> pl.Expr:
    """``repr(text)`` for texts whose repr is ``'text'`` (printable ASCII, no quote or
    backslash); null for the others."""
    import polars as pl

    plain = expr.str.contains(r"^[ !#-&(-\[\]-~]*$")
    return pl.when(plain).then(pl.lit("'") + expr + pl.lit("'")).otherwise(None)


def repr_column(frame: pl.DataFrame, column: str) -> pl.Series:
    """``repr()`` of every text of a column: vectorised for plain texts, Python for the distinct
    others."""
    import polars as pl

    fast = frame.select(_repr_fast(pl.col(column)).alias("r"))["r"]
    need = frame.filter(fast.is_null())[column].unique().to_list()
    if not need:
        return fast
    slow = {text: repr(text) for text in need}
    return frame.select(
        pl.coalesce(fast, pl.col(column).replace_strict(slow, default=None, return_dtype=pl.String))
    ).to_series()


def storable_column(expr: pl.Expr) -> pl.Expr:
    """:func:`_storable` on a text column: only texts holding a NUL change (a polars string
    cannot hold the surrogates that ``_storable`` also escapes)."""
    import polars as pl

    return (
        pl.when(expr.str.contains("\x00", literal=True))
        .then(expr.map_elements(_storable, return_dtype=pl.String, skip_nulls=True))
        .otherwise(expr)
    )


def _differs(values: Sequence[str]) -> pl.Expr:
    """A row holds a non-null value other than its reference's (``_k<i>`` columns)."""
    import polars as pl

    return pl.any_horizontal(
        (pl.col(v) != pl.col(f"_k{i}")).fill_null(False) for i, v in enumerate(values)
    )


def _disagreeing(rows: pl.DataFrame, firsts: pl.DataFrame, values: Sequence[str]) -> pl.Series:
    """References of ``rows`` with a value other than the first non-null value of their
    column in ``firsts`` (one row per reference)."""
    import polars as pl

    joined = rows.select("ref", *values).join(
        firsts.select("ref", *(pl.col(v).alias(f"_k{i}") for i, v in enumerate(values))),
        on="ref",
        how="left",
    )
    return joined.filter(_differs(values))["ref"].unique()


def _aggregate(plan: TablePlan, frame: pl.DataFrame) -> pl.DataFrame:
    """One chunk's contributions by reference, in order of first appearance: the first row's
    place (_file, _line, _seq = its _order), the rows (_nrows), per column the value the item
    would keep (merge: the first non-null one; first / reject: the first row's), and for merge
    whether some row disagrees with those values (_bad). Two chunks' aggregates combine the same
    way (see :meth:`Items.resolve`), so memory holds one row per reference and chunk rather than
    one per contribution."""
    import polars as pl

    values = [c.name for c in plan.columns]
    if _unique(frame["ref"]):  # every reference once: nothing to group
        return frame.select(
            "ref",
            "_file",
            "_line",
            "_record",
            pl.col("_order").alias("_seq"),
            pl.lit(1, dtype=pl.Int64).alias("_nrows"),
            *values,
            pl.lit(False).alias("_bad"),
        )
    merge = plan.policy is DuplicatePolicy.MERGE
    agg = frame.group_by("ref", maintain_order=True).agg(
        pl.col("_file").first(),
        pl.col("_line").first(),
        pl.col("_record").first(),
        pl.col("_order").first().alias("_seq"),
        pl.len().cast(pl.Int64).alias("_nrows"),
        *((pl.col(v).drop_nulls().first() if merge else pl.col(v).first()) for v in values),
    )
    if merge and values and agg.height != frame.height:
        bad = _disagreeing(frame, agg, values)
        return agg.with_columns(pl.col("ref").is_in(bad.implode()).alias("_bad"))
    return agg.with_columns(pl.lit(False).alias("_bad"))


def _unique(refs: pl.Series) -> bool:
    """Whether no reference repeats: distinct hashes prove it, fast; a hash collision only
    sends the caller to its exact (grouping) path."""
    return refs.hash().n_unique() == refs.len()


def _combine(aggs: pl.DataFrame, kept: Sequence[pl.Expr]) -> pl.DataFrame:
    """The chunks' aggregates of a table combined into one row per reference, the values
    chosen by ``kept`` (the chunks are in source order)."""
    import polars as pl

    if _unique(aggs["ref"]):
        return aggs
    return aggs.group_by("ref", maintain_order=True).agg(
        pl.col("_file").first(),
        pl.col("_line").first(),
        pl.col("_record").first(),
        pl.col("_seq").first(),
        pl.col("_nrows").sum(),
        *kept,
        pl.col("_bad").any(),
    )


def _sources(plan: TablePlan) -> list[str]:
    """The reject ``column`` of each plan column, as ``ItemStore`` names it."""
    return [
        *(f.column or f"(constant of {f.field})" for f in plan.fields),
        *(link.column or (plan.path.column if plan.path else "") for link in plan.links),
    ]


@dataclass
class TableItems:
    """One table's resolved items and its counts."""

    plan: TablePlan
    counts: TableCounts = field(default_factory=TableCounts)
    sources: list[str] = field(default_factory=list)
    #: per part, the chunks' aggregates (:func:`_aggregate`) and the rows the chunks repeated
    #: (read again only for the references that repeat and disagree) not yet filed
    pending: dict[tuple[str, int], list[pl.DataFrame]] = field(default_factory=dict)
    pending_rows: int = 0
    #: per chunk with items, its largest ``_order`` and its aggregate rows: where the ``_seq``
    #: ranges are cut (:meth:`Items._cut`), ``range_span`` items at most (give or take a chunk)
    marks: list[tuple[int, int]] = field(default_factory=list)
    #: the largest ``_seq`` of every range but the last (after :meth:`Items.resolve`)
    bounds: list[int] = field(default_factory=list)
    #: :meth:`Items.resolve` done: the items (ref, _file, _line, _seq, _nrows, _dup, then the
    #: plan's columns) are filed by part and ``_seq`` range; removed items are in ``removed``
    resolved: bool = False
    removed: set[str] = field(default_factory=set)
    #: ref -> (file, line, nrows) of the items rejected by later phases, looked up lazily
    _held: dict[str, tuple[int, int, int]] | None = None
    #: refs (as stored) of the table's rejects that orphan their children
    _gone_extra: set[str] = field(default_factory=set)
    _gone_rows: set[str] | None = None


class Items:
    """Items and rejects of every table of one run, as columns."""

    def __init__(
        self,
        plans: Sequence[TablePlan],
        files: Sequence[str],
        *,
        chunk_rows: int = 5_000,
        spill_dir: Path | None = None,
        partitions: int = 1,
        range_span: int = 65_536,
    ) -> None:
        self.files = list(files)
        self.chunk_rows = chunk_rows
        self.spill_dir = spill_dir
        self.partitions = max(1, partitions)
        self.range_span = max(1, range_span)
        self._frames = _Frames(spill_dir)
        self.tables = [TableItems(plan, sources=_sources(plan)) for plan in plans]
        self._row_rejects: list[pl.DataFrame] = []
        self._first_rejects: list[pl.DataFrame] = []
        self._later: list[tuple[int, int, int, int, str, str, str, str, str, bool]] = []
        self._rejects: pl.DataFrame | None = None

    # -- input ---------------------------------------------------------------------------------

    def add(self, chunk: TableChunk) -> None:
        """Take one chunk of a table's contributions and row rejects (in source order)."""
        import polars as pl

        table = self.tables[chunk.table]
        check_chunk(chunk, table.plan)
        table.counts.rows_in += chunk.rows_in
        table.counts.rejected += chunk.rejects.height
        if chunk.items.height:
            agg = _aggregate(table.plan, chunk.items)
            table.marks.append((int(chunk.items["_order"].max()), agg.height))  # type: ignore[arg-type]
            self._hold(chunk.table, "a", agg)
            if agg.height < chunk.items.height:
                # A reference once in the chunk is its aggregate row; only the rows of the
                # references the chunk repeats are kept, for a conflict or a duplicate.
                self._hold(chunk.table, "r", chunk.items.filter(pl.col("ref").is_duplicated()))
        if chunk.rejects.height:
            self._row_rejects.append(
                chunk.rejects.select(
                    pl.col("_file").alias("file"),
                    pl.col("_line").alias("line"),
                    pl.lit(chunk.table, dtype=pl.Int32).alias("tbl"),
                    pl.col("_record"),
                    pl.lit(0, dtype=pl.Int8).alias("_kind"),
                    pl.col("_order"),
                    "ref",
                    "col",
                    "val",
                    "reason",
                    "code",
                    pl.lit(True).alias("remember"),
                )
            )

    def _parts(self, frame: pl.DataFrame) -> dict[int, pl.DataFrame]:
        """``frame``'s rows by part (a hash of the reference), each in ``frame``'s order."""
        import polars as pl

        if self.partitions == 1:
            return {0: frame}
        parts = frame.with_columns(
            (pl.col("ref").hash(_SEED) % self.partitions).cast(pl.Int32).alias("_p")
        ).partition_by("_p", as_dict=True, include_key=False, maintain_order=True)
        return {int(key[0]): part for key, part in parts.items()}

    def _hold(self, tbl: int, kind: str, frame: pl.DataFrame) -> None:
        """Buffer a chunk's aggregates (``a``) or repeated rows (``r``) by part; file them
        when the table holds enough."""
        table = self.tables[tbl]
        for part, piece in self._parts(frame).items():
            table.pending.setdefault((kind, part), []).append(piece)
        table.pending_rows += frame.height
        if table.pending_rows >= max(_FLUSH_ROWS, _FLUSH_PART_ROWS * self.partitions):
            self._flush(tbl)

    def _flush(self, tbl: int) -> None:
        import polars as pl

        table = self.tables[tbl]
        for kind in ("a", "r"):  # one file per kind (one schema), a record batch per part
            self._frames.put(
                (f"{kind}{tbl}.{part}", pl.concat(pieces, how="vertical"))
                for (of, part), pieces in table.pending.items()
                if of == kind
            )
        table.pending = {}
        table.pending_rows = 0

    # -- messages ------------------------------------------------------------------------------

    def where(self, file: int, line: int, *, relative_to: int | None = None) -> str:
        """'line 12', or 'line 12 of b.csv' when it is another file than ``relative_to``."""
        if relative_to is None or relative_to == file:
            return f"line {line}"
        return f"line {line} of {self.files[file]}"

    def _where_expr(self, file: str, line: str, relative_to: str) -> pl.Expr:
        import polars as pl

        names = dict(enumerate(self.files))
        at = pl.lit("line ") + pl.col(line).cast(pl.String)
        other = at + pl.lit(" of ") + pl.col(file).replace_strict(names, return_dtype=pl.String)
        return pl.when(pl.col(file) == pl.col(relative_to)).then(at).otherwise(other)

    # -- resolution ----------------------------------------------------------------------------

    def resolve(self) -> None:
        """Apply every table's duplicate policy (merge, conflicts, duplicates)."""
        import polars as pl

        for tbl, table in enumerate(self.tables):
            self._flush(tbl)
            self._cut(tbl)
            plan = table.plan
            values = [c.name for c in plan.columns]
            for part in range(self.partitions):
                found = self._frames.pop(f"a{tbl}.{part}")
                if found:
                    aggs = pl.concat(found, how="vertical", rechunk=False)
                    del found
                else:
                    aggs = _aggregate(plan, pl.DataFrame(schema=items_schema(plan)))
                if plan.policy is DuplicatePolicy.MERGE:
                    items = self._resolve_merge(tbl, table, aggs, values, part)
                else:
                    items = self._resolve_first(tbl, table, aggs, values, part)
                self._frames.drop(f"r{tbl}.{part}")
                del aggs
                self._file_items(tbl, part, items)
            table.resolved = True

    def _file_items(self, tbl: int, part: int, items: pl.DataFrame) -> None:
        """File a part's items (in ``_seq`` order) by ``_seq`` range: range ``r`` of every
        part holds the items whose first row is in the r-th slice of the table's orders."""
        import polars as pl

        table = self.tables[tbl]
        if not table.bounds or items.height == 0:
            self._frames.put([(f"i{tbl}.{part}.0", items)])
            return
        bounds = pl.Series(table.bounds, dtype=pl.Int64)
        keyed = items.with_columns(
            bounds.search_sorted(items["_seq"], side="left").cast(pl.Int32).alias("_r")
        )
        pieces = keyed.partition_by("_r", as_dict=True, include_key=False, maintain_order=True)
        self._frames.put((f"i{tbl}.{part}.{int(key[0])}", piece) for key, piece in pieces.items())

    def _cut(self, tbl: int) -> None:
        """Cut the table's ``_seq`` ranges after the chunk that brings a range to
        ``range_span`` items (counted from the chunks' aggregates: at least the items)."""
        table = self.tables[tbl]
        table.bounds = []
        rows = 0
        for high, count in table.marks[:-1]:
            rows += count
            if rows >= self.range_span:
                table.bounds.append(high)
                rows = 0

    def _ranges(self, tbl: int) -> int:
        """How many ``_seq`` ranges the table's items are filed by."""
        return len(self.tables[tbl].bounds) + 1

    def item_parts(self, tbl: int, columns: Sequence[str] | None = None) -> Iterator[pl.DataFrame]:
        """The table's items (removed ones included), one part at a time, each in ``_seq``
        order."""
        import polars as pl

        assert self.tables[tbl].resolved, "resolve() first"
        for part in range(self.partitions):
            found = [
                frame
                for r in range(self._ranges(tbl))
                for frame in self._frames.get(f"i{tbl}.{part}.{r}", columns)
            ]
            if found:
                yield pl.concat(found, how="vertical")

    def item_ranges(self, tbl: int, columns: Sequence[str] | None = None) -> Iterator[pl.DataFrame]:
        """The table's kept items, one ``_seq`` range at a time: all of them in order."""
        import polars as pl

        assert self.tables[tbl].resolved, "resolve() first"
        wanted = None if columns is None else list(dict.fromkeys(["ref", "_seq", *columns]))
        for r in range(self._ranges(tbl)):
            found = [
                frame
                for part in range(self.partitions)
                for frame in self._frames.get(f"i{tbl}.{part}.{r}", wanted)
            ]
            if not found:
                continue
            # Not rechunked: the sort gathers the pieces into one frame, the only copy.
            frame = pl.concat(found, how="vertical", rechunk=False)
            del found
            if frame.n_chunks() > 1:
                frame = frame.sort("_seq")
            frame = self._kept(tbl, frame)
            yield frame if columns is None else frame.select(columns)

    def _kept(self, tbl: int, frame: pl.DataFrame) -> pl.DataFrame:
        import polars as pl

        removed = self.tables[tbl].removed
        if not removed:
            return frame
        return frame.filter(
            ~pl.col("ref").is_in(pl.Series(list(removed), dtype=pl.String).implode())
        )

    def alive_parts(self, tbl: int, columns: Sequence[str] | None = None) -> Iterator[pl.DataFrame]:
        """The table's kept items, one part at a time, each in ``_seq`` order."""
        wanted = None if columns is None else list(dict.fromkeys(["ref", *columns]))
        for frame in self.item_parts(tbl, wanted):
            kept = self._kept(tbl, frame)
            yield kept if columns is None else kept.select(columns)

    def _phase0(self, tbl: int, frame: pl.DataFrame) -> None:
        """Rejects a chunk's contributions gave (duplicates, conflicts): ``frame`` has _file,
        _line, _record, _order, ref, col, val, reason, code."""
        import polars as pl

        if frame.height == 0:
            return
        self._first_rejects.append(
            frame.select(
                pl.col("_file").alias("file"),
                pl.col("_line").alias("line"),
                pl.lit(tbl, dtype=pl.Int32).alias("tbl"),
                pl.col("_record"),
                pl.lit(1, dtype=pl.Int8).alias("_kind"),
                pl.col("_order"),
                "ref",
                "col",
                "val",
                "reason",
                "code",
                pl.lit(False).alias("remember"),
            )
        )

    def _resolve_first(
        self, tbl: int, table: TableItems, aggs: pl.DataFrame, values: list[str], part: int
    ) -> pl.DataFrame:
        import polars as pl

        plan = table.plan
        level = _combine(aggs, [pl.col(v).first() for v in values]).drop("_bad")
        repeated = level.filter(pl.col("_nrows") > 1)
        if repeated.height:
            later = (
                self.raw_rows(tbl, repeated["ref"], aggs, part)
                .join(
                    repeated.select(
                        "ref",
                        "_seq",
                        pl.col("_file").alias("_ffile"),
                        pl.col("_line").alias("_fline"),
                    ),
                    on="ref",
                    how="inner",
                    maintain_order="left",
                )
                .filter(pl.col("_order") != pl.col("_seq"))
            )
            counts = table.counts
            counts.duplicates += later.height
            counts.rejected += later.height
            shown_ref = repr_column(later, "ref")
            first_at = later.select(self._where_expr("_ffile", "_fline", "_file")).to_series()
            if plan.policy is DuplicatePolicy.REJECT:
                tail = (
                    "; this table rejects every row of a duplicated reference "
                    "(on_duplicate: reject)"
                )
            else:
                tail = ", which is kept (on_duplicate: first)"
            reason = pl.lit("reference ") + shown_ref + pl.lit(" repeats the one on ") + first_at
            self._phase0(
                tbl,
                later.select(
                    "_file",
                    "_line",
                    "_record",
                    "_order",
                    "ref",
                    pl.lit(plan.reference).alias("col"),
                    pl.col("ref").alias("val"),
                    (reason + pl.lit(tail)).alias("reason"),
                    pl.lit("duplicate").alias("code"),
                ),
            )
        return level.select(
            "ref",
            "_file",
            "_line",
            "_seq",
            pl.lit(1, dtype=pl.Int64).alias("_nrows"),
            (pl.col("_nrows") - 1).alias("_dup"),
            *values,
        )

    def _resolve_merge(
        self, tbl: int, table: TableItems, aggs: pl.DataFrame, values: list[str], part: int
    ) -> pl.DataFrame:
        import polars as pl

        level = _combine(aggs, [pl.col(v).drop_nulls().first() for v in values])
        if values and level.height != aggs.height:
            # A reference in several chunks: its chunks agree when no chunk's first non-null
            # value of a column differs from the reference's.
            cross = _disagreeing(aggs, level, values)
            level = level.with_columns(pl.col("_bad") | pl.col("ref").is_in(cross.implode()))
        bad = level.filter(pl.col("_bad"))["ref"]
        good = (level.filter(~pl.col("_bad")) if bad.len() else level).drop("_bad")
        counts = table.counts
        counts.merged += int(good["_nrows"].sum() or 0) - good.height
        items = good.select(
            "ref",
            "_file",
            "_line",
            "_seq",
            "_nrows",
            pl.lit(0, dtype=pl.Int64).alias("_dup"),
            *values,
        )
        if bad.len() == 0:
            return items
        merged_items, conflicts = self._merge_slow(table, self.raw_rows(tbl, bad, aggs, part))
        counts.merged += int(merged_items["_nrows"].sum()) - merged_items.height
        counts.conflicts += conflicts.height
        counts.rejected += conflicts.height
        self._phase0(tbl, conflicts)
        return pl.concat([items, merged_items], how="vertical").sort("_seq")

    def raw_rows(self, tbl: int, refs: pl.Series, aggs: pl.DataFrame, part: int) -> pl.DataFrame:
        """Every contribution of the references ``refs`` (all of part ``part``), in order: the
        rows a chunk repeated and the chunks' single rows (their aggregate rows, ``aggs``)."""
        import polars as pl

        table = self.tables[tbl]
        wanted = refs.implode()
        values = [c.name for c in table.plan.columns]
        single = aggs.filter((pl.col("_nrows") == 1) & pl.col("ref").is_in(wanted))
        parts: list[pl.DataFrame] = [
            single.select(
                "ref", "_file", "_line", "_record", pl.col("_seq").alias("_order"), *values
            ),
            *(
                frame.filter(pl.col("ref").is_in(wanted))
                for frame in self._frames.get(f"r{tbl}.{part}")
            ),
        ]
        return pl.concat(parts, how="vertical").sort("_order", maintain_order=True)

    def _merge_slow(
        self, table: TableItems, rows: pl.DataFrame
    ) -> tuple[pl.DataFrame, pl.DataFrame]:
        """``ItemStore._merge``, row by row, for the references whose rows disagree."""
        import polars as pl

        plan = table.plan
        names = [c.name for c in plan.columns]
        held: dict[str, list[Any]] = {}  # ref -> [file, line, seq, nrows, values]
        rejects: list[tuple[Any, ...]] = []
        for row in rows.iter_rows():
            ref, file, line, record, order, *given_values = row
            first = held.get(ref)
            if first is None:
                held[ref] = [file, line, order, 1, list(given_values)]
                continue
            kept_values = first[4]
            conflict = False
            for index, (kept, given) in enumerate(zip(kept_values, given_values, strict=True)):
                if kept is not None and given is not None and kept != given:
                    column = names[index]
                    first_at = self.where(first[0], first[1], relative_to=file)
                    reason = (
                        f"conflict: rows of {ref!r} disagree on {column!r}: this row has "
                        f"{shown(given)!r}, {first_at} has {shown(kept)!r}; {first_at} is kept, "
                        "fix the export so that both agree"
                    )
                    rejects.append(
                        (
                            file,
                            line,
                            record,
                            order,
                            ref,
                            table.sources[index],
                            shown(given),
                            reason,
                            "conflict",
                        )
                    )
                    conflict = True
                    break
            if conflict:
                continue
            for index, given in enumerate(given_values):
                if kept_values[index] is None and given is not None:
                    kept_values[index] = given
            first[3] += 1
        schema = items_schema(plan)
        item_schema: dict[str, Any] = {
            "ref": pl.String,
            "_file": pl.Int32,
            "_line": pl.Int64,
            "_seq": pl.Int64,
            "_nrows": pl.Int64,
            "_dup": pl.Int64,
            **{n: schema[n] for n in names},
        }
        items = pl.DataFrame(
            [(ref, h[0], h[1], h[2], h[3], 0, *h[4]) for ref, h in held.items()],
            schema=item_schema,
            orient="row",
        )
        conflicts = pl.DataFrame(
            rejects,
            schema={
                "_file": pl.Int32,
                "_line": pl.Int64,
                "_record": pl.Int64,
                "_order": pl.Int64,
                "ref": pl.String,
                "col": pl.String,
                "val": pl.String,
                "reason": pl.String,
                "code": pl.String,
            },
            orient="row",
        )
        return items, conflicts

    def reject_duplicated(self) -> None:
        """on_duplicate: reject — the first row of each duplicated reference goes as well."""
        import polars as pl

        for tbl, table in enumerate(self.tables):
            if table.plan.policy is not DuplicatePolicy.REJECT or not table.resolved:
                continue
            found = [
                part.filter(pl.col("_dup") > 0)
                for part in self.item_parts(tbl, ["ref", "_seq", "_dup"])
            ]
            if not found:
                continue
            dup = pl.concat(found, how="vertical").sort("_seq").select("ref", "_dup")
            self.prefetch(tbl, dup["ref"].to_list())
            for ref, count in dup.iter_rows():
                self.reject_item(
                    tbl,
                    ref,
                    table.plan.reference,
                    ref,
                    f"reference {ref!r} appears on {count + 1} rows; this table rejects every "
                    "row of a duplicated reference (on_duplicate: reject)",
                    "duplicate",
                )

    # -- later rejects -------------------------------------------------------------------------

    def prefetch(self, tbl: int, refs: Sequence[str]) -> None:
        """Look up (file, line, nrows) of many items at once before rejecting them."""
        import polars as pl

        table = self.tables[tbl]
        if not table.resolved or not refs:
            return
        if table._held is None:
            table._held = {}
        wanted = pl.Series(list(refs), dtype=pl.String).implode()
        for part in self.item_parts(tbl, ["ref", "_file", "_line", "_nrows"]):
            rows = part.filter(pl.col("ref").is_in(wanted))
            for ref, file, line, nrows in rows.iter_rows():
                table._held[ref] = (int(file), int(line), int(nrows))

    def held(self, tbl: int, ref: str) -> tuple[int, int, int] | None:
        """(file, line, nrows) of a kept item, None when it is not (or no longer) an item."""
        import polars as pl

        table = self.tables[tbl]
        if ref in table.removed or not table.resolved:
            return None
        if table._held is None:
            table._held = {}
        found = table._held.get(ref)
        if found is None:
            for part in self.item_parts(tbl, ["ref", "_file", "_line", "_nrows"]):
                rows = part.filter(pl.col("ref") == ref)
                if rows.height:
                    _, file, line, nrows = rows.row(0)
                    found = (int(file), int(line), int(nrows))
                    table._held[ref] = found
                    break
        return found

    def reject_item(self, tbl: int, ref: str, col: str, val: str, reason: str, code: str) -> None:
        """Remove a kept item (every row merged into it) and record why."""
        found = self.held(tbl, ref)
        if found is None:
            return
        file, line, nrows = found
        if nrows > 1:
            reason += f" (the {nrows - 1} other row(s) merged into this item are rejected with it)"
        table = self.tables[tbl]
        table.removed.add(ref)
        table.counts.rejected += nrows
        table.counts.merged -= nrows - 1
        texts = [_storable(t) for t in (ref, col, val, reason)]
        ref_s, col_s, val_s, reason_s = texts
        self._rejects = None
        self._later.append(
            (file, line, tbl, _PHASE + len(self._later), ref_s, col_s, val_s, reason_s, code, True)
        )
        if texts[0]:
            table._gone_extra.add(texts[0])

    def is_gone(self, tbl: int, ref: str) -> bool:
        """Whether a reject of the table named ``ref`` (so that its children are orphans)."""
        import polars as pl

        table = self.tables[tbl]
        if ref in table._gone_extra:
            return True
        if table._gone_rows is None:
            refs: set[str] = set()
            for frame in self._row_rejects:
                mine = frame.filter(pl.col("tbl") == tbl).select(storable_column(pl.col("ref")))
                refs.update(mine.to_series().to_list())
            refs.discard("")
            table._gone_rows = refs
        return ref in table._gone_rows

    # -- results -------------------------------------------------------------------------------

    def alive(self, tbl: int, columns: Sequence[str] | None = None) -> pl.DataFrame:
        """The table's kept items, in order of first appearance, all at once: for small tables
        (categories) and tests; the stage reads :meth:`item_ranges` or :meth:`alive_parts`."""
        import polars as pl

        found = list(self.item_ranges(tbl, columns))
        if not found:
            table = self.tables[tbl]
            empty = pl.DataFrame(schema=_item_schema(table.plan))
            return empty if columns is None else empty.select(columns)
        return pl.concat(found, how="vertical")

    def finish_counts(self) -> None:
        """rows_out of every table: its kept items."""
        for tbl, table in enumerate(self.tables):
            table.counts.rows_out = sum(p.height for p in self.alive_parts(tbl, ["ref"]))

    def rejects(self) -> pl.DataFrame:
        """Every reject (:data:`REJECT_FRAME`), texts storable, in insertion order."""
        import polars as pl

        if self._rejects is not None:
            return self._rejects
        first = [*self._row_rejects, *self._first_rejects]
        if first:
            phase0 = (
                pl.concat(first, how="vertical")
                .with_columns((pl.col("_record") // self.chunk_rows).alias("_chunk"))
                .sort(["file", "_chunk", "_kind", "_order"], maintain_order=True)
                .with_row_index("ins")
                .select(
                    "file",
                    "line",
                    "tbl",
                    pl.col("ins").cast(pl.Int64),
                    *(storable_column(pl.col(c)).alias(c) for c in ("ref", "col", "val")),
                    storable_column(pl.col("reason")).alias("reason"),
                    "code",
                    "remember",
                )
            )
        else:
            phase0 = pl.DataFrame(schema=reject_schema())
        later = pl.DataFrame(self._later, schema=reject_schema(), orient="row")
        self._rejects = pl.concat([phase0, later], how="vertical")
        return self._rejects

    def close(self) -> None:
        """Delete the spilled frames."""
        self._frames.close()
        for table in self.tables:
            table.pending = {}


def _item_schema(plan: TablePlan) -> dict[str, Any]:
    """Column -> polars dtype of a table's items frame."""
    import polars as pl

    schema = items_schema(plan)
    return {
        "ref": pl.String,
        "_file": pl.Int32,
        "_line": pl.Int64,
        "_seq": pl.Int64,
        "_nrows": pl.Int64,
        "_dup": pl.Int64,
        **{c.name: schema[c.name] for c in plan.columns},
    }


class _Frames:
    """Frames filed under keys: in memory, or in Arrow IPC files of a spill folder, one file per
    :meth:`put` and a record batch (or a few) per key in it, read back by key alone (random
    access to the batches: a part's frames are read without reading the other parts')."""

    def __init__(self, folder: Path | None) -> None:
        self.folder = folder
        self._memory: dict[str, list[pl.DataFrame]] = {}
        #: key -> (file, its record batches) of every frame filed under the key
        self._stored: dict[str, list[tuple[Path, list[int]]]] = {}
        #: file -> keys it still holds (deleted at 0)
        self._live: dict[Path, int] = {}
        self._written = 0
        #: open files and their readers, the least recently used first (read, not mapped: the
        #: pages read are not kept resident)
        self._open: OrderedDict[Path, tuple[Any, Any]] = OrderedDict()

    def put(self, frames: Iterable[tuple[str, pl.DataFrame]]) -> None:
        """File the frames (all of one schema; taken one at a time) under their keys."""
        import pyarrow as pa

        if self.folder is None:
            for key, frame in frames:
                if frame.height:
                    self._memory.setdefault(key, []).append(frame)
            return
        self.folder.mkdir(parents=True, exist_ok=True)
        self._written += 1
        path = self.folder / f"frames_{self._written}.arrow"
        keys = 0
        # lz4: cheaper than writing the uncompressed bytes (measured), and fast to read back.
        options = pa.ipc.IpcWriteOptions(compression="lz4")
        index = 0
        writer = None
        with pa.OSFile(str(path), "wb") as sink:
            for key, frame in frames:
                if frame.height == 0:
                    continue
                keys += 1
                # Plain (large) strings: a piece's string views would share, and write, the
                # buffers of every piece.
                table = frame.to_arrow()
                if writer is None:
                    writer = pa.ipc.new_file(sink, table.schema, options=options)
                batches = table.to_batches()
                for batch in batches:
                    writer.write_batch(batch)
                self._stored.setdefault(key, []).append(
                    (path, list(range(index, index + len(batches))))
                )
                index += len(batches)
            if writer is not None:
                writer.close()
        if keys:
            self._live[path] = keys
        else:
            path.unlink(missing_ok=True)

    def get(self, key: str, columns: Sequence[str] | None = None) -> list[pl.DataFrame]:
        import polars as pl
        import pyarrow as pa

        if self.folder is None:
            frames = self._memory.get(key, [])
            return frames if columns is None else [f.select(columns) for f in frames]
        found = []
        for path, batches in self._stored.get(key, []):
            reader = self._reader(path)
            table = pa.Table.from_batches([reader.get_batch(i) for i in batches])
            if columns is not None:
                table = table.select(list(columns))
            frame = pl.from_arrow(table, rechunk=False)
            assert isinstance(frame, pl.DataFrame)
            found.append(frame)
        return found

    def _reader(self, path: Path) -> Any:
        import pyarrow as pa

        found = self._open.get(path)
        if found is not None:
            self._open.move_to_end(path)
            return found[1]
        if len(self._open) >= _OPEN_FILES:
            _, (source, _) = self._open.popitem(last=False)
            source.close()
        source = pa.OSFile(str(path), "rb")
        reader = pa.ipc.open_file(source)
        self._open[path] = (source, reader)
        return reader

    def _forget(self, path: Path) -> None:
        found = self._open.pop(path, None)
        if found is not None:
            found[0].close()
        path.unlink(missing_ok=True)

    def pop(self, key: str) -> list[pl.DataFrame]:
        found = self.get(key)
        self.drop(key)
        return found

    def drop(self, key: str) -> None:
        self._memory.pop(key, None)
        for path, _ in self._stored.pop(key, []):
            self._live[path] -= 1
            if self._live[path] == 0:
                del self._live[path]
                self._forget(path)

    def close(self) -> None:
        self._memory = {}
        for path in self._live:
            self._forget(path)
        self._stored = {}
        self._live = {}
