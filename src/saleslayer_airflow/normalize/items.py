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

CPU: a repeated row that its chunk's aggregate gives back is spilled as its place alone
(:data:`PLACE`: five integers, not its texts; read again only for a reference that turns out to
disagree or duplicate); a flush sorts its rows by part once and writes the parts as slices of one
Arrow table; the spilled frames are read back only in the columns asked for.
"""

from __future__ import annotations

from collections import OrderedDict
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING

from saleslayer_airflow.background import BackgroundWrites
from saleslayer_airflow.config.tables import DuplicatePolicy
from saleslayer_airflow.mapping.plan import OutputColumn, TablePlan
from saleslayer_airflow.mapping.values import Rejected, field_value
from saleslayer_airflow.normalize.contributions import (
    TableChunk,
    check_chunk,
    items_schema,
    rejects_schema,
)
from saleslayer_airflow.normalize.results import TableCounts
from saleslayer_airflow.normalize.results import storable as _storable
from saleslayer_airflow.validation.values import shown

if TYPE_CHECKING:
    from concurrent.futures import Future

    import polars as pl
    import pyarrow as pa

_PHASE = 1 << 40  # insertion keys of the phases after the first start here
#: rows a table buffers (aggregates and repeated rows, every part) before they are filed, and
#: per part at least (a record batch per part and file: too small ones cost more than rows).
#: 1,024 per part keeps the buffers at _FLUSH_ROWS up to 64 parts (1.5 GB of export): a 5M-row
#: export (43 parts) peaked 20 MB lower than with 2,048, in the same time (docs/benchmarks.md)
_FLUSH_ROWS = 65_536
_FLUSH_PART_ROWS = 1_024
_OPEN_FILES = 256  # spill files kept open for reading
_SEED = 0x5A1E5  # of the partitioning hash; any fixed value: parts only live one run


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


def _tagged(rejects: pl.DataFrame, tbl: int, *, kind: int) -> pl.DataFrame:
    """A chunk's rejects (:func:`rejects_schema`) as stored until :meth:`Items.rejects`: after
    their table, and with their kind (0: row rejects, 1: what the contributions gave), which
    orders them within a chunk of the row engine's writes."""
    import polars as pl

    return rejects.select(
        pl.lit(tbl, dtype=pl.Int32).alias("tbl"),
        pl.all(),
        pl.lit(kind, dtype=pl.Int8).alias("_kind"),
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


#: Columns of a repeated row spilled as its place alone (:func:`_aggregate`): its values are
#: its chunk's aggregate row's, found again by ``_seq``.
PLACE = ("_seq", "_file", "_line", "_record", "_order")


def _aggregate(
    plan: TablePlan, frame: pl.DataFrame
) -> tuple[pl.DataFrame, pl.DataFrame, pl.DataFrame]:
    """One chunk's contributions by reference, and the rows the resolution may need again.

    First, the aggregate, in order of first appearance: the first row's place (_file, _line,
    _seq = its _order), the rows (_nrows), per column the value the item would keep (merge: the
    first non-null one; first / reject: the first row's), and for merge whether some row
    disagrees with those values (_bad). Two chunks' aggregates combine the same way (see
    :meth:`Items.resolve`), so memory holds one row per reference and chunk rather than one per
    contribution.

    Then the rows of the references the chunk repeats (a reference once in the chunk is its
    aggregate row): those spilled whole, with their values, and those spilled as their
    :data:`PLACE` alone (``ref`` first, for the partitioning). A row goes as its place when the
    aggregate row gives its values back: under merge, a row whose every value equals the
    aggregate's (nulls included); under first / reject, every row (only the place of a duplicate
    is read again). A chunk of rows that repeat one item's values, the common case, spills a few
    integers per row instead of its texts."""
    import polars as pl

    values = [c.name for c in plan.columns]
    if _unique(frame["ref"]):  # every reference once: nothing to group
        agg = frame.select(
            "ref",
            "_file",
            "_line",
            "_record",
            pl.col("_order").alias("_seq"),
            pl.lit(1, dtype=pl.Int64).alias("_nrows"),
            *values,
            pl.lit(False).alias("_bad"),
        )
        return (
            agg,
            frame.clear(),
            agg.clear().select("ref", *PLACE[:-1], pl.col("_seq").alias("_order")),
        )
    merge = plan.policy is DuplicatePolicy.MERGE and bool(values)
    agg = frame.group_by("ref", maintain_order=True).agg(
        pl.col("_file").first(),
        pl.col("_line").first(),
        pl.col("_record").first(),
        pl.col("_order").first().alias("_seq"),
        pl.len().cast(pl.Int64).alias("_nrows"),
        *(_merged(c) if merge else pl.col(c.name).first() for c in plan.columns),
    )
    if merge:
        agg = _no_empty_lists(plan, agg)
    kept = [pl.col(v).alias(f"_k{i}") for i, v in enumerate(values)] if merge else []
    keyed = frame.join(
        agg.filter(pl.col("_nrows") > 1).select("ref", "_seq", *kept),
        on="ref",
        how="inner",
        maintain_order="left",
    )
    if not merge:
        unmerged = agg.with_columns(pl.lit(False).alias("_bad"))
        return unmerged, frame.clear(), keyed.select("ref", *PLACE)
    # One comparison per column (of lists, the costly ones) gives both: a row differs where
    # both values are set and not equal.
    keyed = keyed.with_columns(
        pl.col(v).eq_missing(pl.col(f"_k{i}")).alias(f"_e{i}") for i, v in enumerate(values)
    )
    same = pl.all_horizontal(pl.col(f"_e{i}") for i in range(len(values)))
    # A collected list never conflicts: its rows add to it.
    scalar = [(i, c.name) for i, c in enumerate(plan.columns) if not c.collect]
    differs = (
        pl.any_horizontal(
            ~pl.col(f"_e{i}") & pl.col(v).is_not_null() & pl.col(f"_k{i}").is_not_null()
            for i, v in scalar
        )
        if scalar
        else pl.lit(False)
    )
    keyed = keyed.with_columns(differs.alias("_differs"), same.alias("_same"))
    bad = keyed.filter(pl.col("_differs"))["ref"].unique()
    return (
        agg.with_columns(pl.col("ref").is_in(bad.implode()).alias("_bad")),
        keyed.filter(~pl.col("_same")).select(frame.columns),
        keyed.select("ref", *PLACE, "_same").filter(pl.col("_same")).drop("_same"),
    )


def _merged(column: OutputColumn) -> pl.Expr:
    """Under merge, a column's value for the rows of a reference (in row order): the first
    non-null value; a collected list: every row's values, in order, each once (an empty list
    where no row has one: :func:`_no_empty_lists` makes it null)."""
    import polars as pl

    if column.collect:
        return pl.col(column.name).explode().drop_nulls().unique(maintain_order=True)
    return pl.col(column.name).drop_nulls().first()


def _no_empty_lists(plan: TablePlan, frame: pl.DataFrame) -> pl.DataFrame:
    """Collected lists no row gave a value to: null, as a list field without values is."""
    import polars as pl

    collected = [c.name for c in plan.columns if c.collect]
    if not collected:
        return frame
    return frame.with_columns(
        pl.when(pl.col(name).list.len() > 0).then(pl.col(name)).alias(name) for name in collected
    )


def _scalars(plan: TablePlan) -> list[str]:
    """The columns whose rows must agree under merge (every one but the collected lists)."""
    return [c.name for c in plan.columns if not c.collect]


def looks_continued(plan: TablePlan, index: int, given: Sequence[object]) -> bool:
    """Whether a row that disagrees on ``plan.columns[index]`` looks like a continuation row:
    its value there is what an empty cell gives (the field's default: its cell was blank) and
    more than half of its values are empty."""
    if index >= len(plan.fields) or plan.fields[index].column is None:
        return False
    blank = field_value(plan.fields[index], None)
    if blank is None or isinstance(blank, Rejected) or given[index] != blank:
        return False
    return sum(value is None for value in given) * 2 > len(given)


def conflict_advice(plan: TablePlan, index: int, given: Sequence[object], first_at: str) -> str:
    """The end of a conflict's reason: what to do about rows that disagree on ``plan.columns
    [index]``. A list field: collect it (the rows of an export that gives one image per row
    are the normal layout, not a broken export); a row that is mostly empty: declare the
    continuation rows; else: the export must agree with itself."""
    column = plan.columns[index]
    if column.is_list and index < len(plan.fields):
        field = plan.fields[index].field
        return (
            f"{first_at} is kept; if each row adds values to this list (an image per row), set "
            f"`collect: true` on field {field!r} of table {plan.key!r}: the values of every row "
            "are then gathered, in order, each once"
        )
    if plan.continuation is None and plan.path is None and looks_continued(plan, index, given):
        return (
            f"{first_at} is kept; this row looks like a continuation row (most of its cells are "
            f"empty, this one took the field's default): declare `continuation: {{key: "
            f"{plan.reference}}}` on table {plan.key!r} so that the empty cells of such rows take "
            "their group's first row's values"
        )
    return f"{first_at} is kept, fix the export so that both agree"


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
        *(
            " + ".join(f.columns) if f.columns else f.column or f"(constant of {f.field})"
            for f in plan.fields
        ),
        *(link.column or (plan.path.column if plan.path else "") for link in plan.links),
        # a category path's titles: the path column, or the parallel one they come from
        *(t.column or (plan.path.column if plan.path else "") for t in plan.titles),
    ]


@dataclass
class TableItems:
    """One table's resolved items and its counts."""

    plan: TablePlan
    counts: TableCounts = field(default_factory=TableCounts)
    sources: list[str] = field(default_factory=list)
    #: per kind (see :meth:`Items._hold`), the chunks' aggregates (:func:`_aggregate`), the rows
    #: they repeated and their places (read again only for the references that repeat and
    #: disagree, or duplicate), with their part, not yet filed
    pending: dict[str, list[pl.DataFrame]] = field(default_factory=dict)
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
    #: the items filed by :meth:`Items.resolve` (removed ones included)
    filed: int = 0
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
        #: the rejects of items (later phases), rows of ``rejects_schema(tbl=True)``
        self._later: list[tuple[int, int, int, None, int, str, str, str, str, str]] = []
        self._rejects: pl.DataFrame | None = None

    # -- input ---------------------------------------------------------------------------------

    def add(self, chunk: TableChunk) -> None:
        """Take one chunk of a table's contributions and row rejects (in source order)."""
        table = self.tables[chunk.table]
        check_chunk(chunk, table.plan)
        table.counts.rows_in += chunk.rows_in
        table.counts.rejected += chunk.rejects.height
        if chunk.items.height:
            agg, whole, places = _aggregate(table.plan, chunk.items)
            table.marks.append((int(chunk.items["_order"].max()), agg.height))  # type: ignore[arg-type]
            self._hold(chunk.table, "a", agg)
            self._hold(chunk.table, "r", whole)
            self._hold(chunk.table, "p", places)
        if chunk.rejects.height:
            self._row_rejects.append(_tagged(chunk.rejects, chunk.table, kind=0))

    def _hold(self, tbl: int, kind: str, frame: pl.DataFrame) -> None:
        """Buffer a chunk's aggregates (``a``), repeated rows (``r``) or places of repeated
        rows (``p``, filed without their ``ref``), with their part (``_p``, a hash of the
        reference); file them when the table holds enough."""
        import polars as pl

        if frame.height == 0:
            return
        table = self.tables[tbl]
        if self.partitions > 1:
            part = (pl.col("ref").hash(_SEED) % self.partitions).cast(pl.Int32)
            frame = frame.with_columns(part.alias("_p"))
        table.pending.setdefault(kind, []).append(frame.drop("ref") if kind == "p" else frame)
        table.pending_rows += frame.height
        if table.pending_rows >= max(_FLUSH_ROWS, _FLUSH_PART_ROWS * self.partitions):
            self._flush(tbl)

    def _flush(self, tbl: int) -> None:
        """File the table's buffered rows: one file per kind (one schema), a record batch per
        part. Sorted by part once, the parts are slices of one frame (no frame per part)."""
        import polars as pl

        table = self.tables[tbl]
        for kind, frames in table.pending.items():
            frame = pl.concat(frames, how="vertical")
            if self.partitions == 1:
                self._frames.put(frame, [(f"{kind}{tbl}.0", 0, frame.height)])
                continue
            frame = frame.sort("_p", maintain_order=True)
            runs = frame.select(pl.col("_p").rle()).unnest("_p")
            pieces = []
            offset = 0
            for length, part in runs.iter_rows():
                pieces.append((f"{kind}{tbl}.{part}", offset, length))
                offset += length
            self._frames.put(frame.drop("_p"), pieces)
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
                    aggs = _aggregate(plan, pl.DataFrame(schema=items_schema(plan)))[0]
                if plan.policy is DuplicatePolicy.MERGE:
                    items = self._resolve_merge(tbl, table, aggs, values, part)
                else:
                    items = self._resolve_first(tbl, table, aggs, values, part)
                self._frames.drop(f"r{tbl}.{part}")
                self._frames.drop(f"p{tbl}.{part}")
                del aggs
                self._file_items(tbl, part, items)
            table.resolved = True

    def _file_items(self, tbl: int, part: int, items: pl.DataFrame) -> None:
        """File a part's items (in ``_seq`` order) by ``_seq`` range: range ``r`` of every
        part holds the items whose first row is in the r-th slice of the table's orders."""
        import polars as pl

        table = self.tables[tbl]
        table.filed += items.height
        if not table.bounds or items.height == 0:
            self._frames.put(items, [(f"i{tbl}.{part}.0", 0, items.height)])
            return
        if not items["_seq"].is_sorted():
            items = items.sort("_seq")
        # Range r ends after the last item whose _seq is at most bounds[r]: ranges are slices.
        ends = [
            *items["_seq"].search_sorted(pl.Series(table.bounds, dtype=pl.Int64), side="right"),
            items.height,
        ]
        pieces = []
        start = 0
        for r, end in enumerate(ends):
            pieces.append((f"i{tbl}.{part}.{r}", start, end - start))
            start = end
        self._frames.put(items, pieces)

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
            keys = [f"i{tbl}.{part}.{r}" for r in range(self._ranges(tbl))]
            found = self._frames.get_all(keys, columns)
            if found:
                yield found[0] if len(found) == 1 else pl.concat(found, how="vertical")

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
        """Rejects a chunk's contributions gave (duplicates, conflicts): ``frame`` has the
        columns of a chunk's rejects (:func:`rejects_schema`)."""
        if frame.height:
            self._first_rejects.append(_tagged(frame, tbl, kind=1))

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

        level = _no_empty_lists(
            table.plan, _combine(aggs, [_merged(c) for c in table.plan.columns])
        )
        scalars = _scalars(table.plan)
        if scalars and level.height != aggs.height:
            # A reference in several chunks: its chunks agree when no chunk's first non-null
            # value of a column differs from the reference's.
            cross = _disagreeing(aggs, level, scalars)
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
        chunks' single rows (their aggregate rows, ``aggs``), the rows a chunk repeated, and
        those spilled as their place, with their chunk's aggregate values (under first /
        reject, these are the first row's values: only their places are right)."""
        import polars as pl

        table = self.tables[tbl]
        wanted = refs.implode()
        values = [c.name for c in table.plan.columns]
        mine = aggs.filter(pl.col("ref").is_in(wanted))
        single = mine.filter(pl.col("_nrows") == 1)
        several = mine.filter(pl.col("_nrows") > 1).select("_seq", "ref", *values)
        parts: list[pl.DataFrame] = [
            single.select(
                "ref", "_file", "_line", "_record", pl.col("_seq").alias("_order"), *values
            ),
            *(
                frame.filter(pl.col("ref").is_in(wanted))
                for frame in self._frames.get(f"r{tbl}.{part}")
            ),
            *(
                frame.join(several, on="_seq", how="inner").select(
                    "ref", "_file", "_line", "_record", "_order", *values
                )
                for frame in self._frames.get(f"p{tbl}.{part}")
                if several.height
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
        collected = [c.collect for c in plan.columns]
        held: dict[str, _Held] = {}
        rejects: list[tuple[int, int, int, int, str, str, str, str, str]] = []
        for row in rows.iter_rows():
            ref, file, line, record, order, *given_values = row
            first = held.get(ref)
            if first is None:
                held[ref] = _Held(file, line, order, 1, list(given_values))
                continue
            kept_values = first.values
            conflict = False
            for index, (kept, given) in enumerate(zip(kept_values, given_values, strict=True)):
                if collected[index]:
                    continue
                if kept is not None and given is not None and kept != given:
                    column = names[index]
                    first_at = self.where(first.file, first.line, relative_to=file)
                    reason = (
                        f"conflict: rows of {ref!r} disagree on {column!r}: this row has "
                        f"{shown(given)!r}, {first_at} has {shown(kept)!r}; "
                        + conflict_advice(plan, index, given_values, first_at)
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
                if collected[index] and kept_values[index] is not None and given is not None:
                    kept = kept_values[index]
                    assert isinstance(kept, list) and isinstance(given, list)
                    kept_values[index] = list(dict.fromkeys([*kept, *given]))
                elif kept_values[index] is None and given is not None:
                    kept_values[index] = given
            first.nrows += 1
        items = pl.DataFrame(
            [(ref, h.file, h.line, h.seq, h.nrows, 0, *h.values) for ref, h in held.items()],
            schema=_item_schema(plan),
            orient="row",
        )
        conflicts = pl.DataFrame(rejects, schema=rejects_schema(), orient="row")
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
            (tbl, file, line, None, _PHASE + len(self._later), ref_s, col_s, val_s, reason_s, code)
        )
        if texts[0]:
            table._gone_extra.add(texts[0])

    def rewrite_items(self, tbl: int, change: Callable[[pl.DataFrame], pl.DataFrame]) -> None:
        """Replace the table's filed items by ``change(frame)``, one filed frame at a time: the
        same rows in the same order, with the same columns and dtypes (a pass after
        :meth:`resolve` setting values, e.g. normalize/children.py's product links)."""
        import polars as pl

        assert self.tables[tbl].resolved, "resolve() first"
        for part in range(self.partitions):
            for r in range(self._ranges(tbl)):
                key = f"i{tbl}.{part}.{r}"
                found = self._frames.pop(key)
                if not found:
                    continue
                frame = found[0] if len(found) == 1 else pl.concat(found, how="vertical")
                changed = change(frame)
                if changed.schema != frame.schema or changed.height != frame.height:
                    raise ValueError(f"rewrite_items changed the shape of {key}: a bug")
                self._frames.put(changed, [(key, 0, changed.height)])

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
        """rows_out of every table: its kept items (every item removed was kept before: see
        :meth:`reject_item`)."""
        for table in self.tables:
            table.counts.rows_out = table.filed - len(table.removed)

    def rejects(self) -> pl.DataFrame:
        """Every reject, texts storable, in insertion order: ``rejects_schema(tbl=True)``, its
        ``_order`` the insertion key."""
        import polars as pl

        if self._rejects is not None:
            return self._rejects
        schema = rejects_schema(tbl=True)
        first = [*self._row_rejects, *self._first_rejects]
        if first:
            phase0 = (
                pl.concat(first, how="vertical")
                .with_columns((pl.col("_record") // self.chunk_rows).alias("_chunk"))
                .sort(["_file", "_chunk", "_kind", "_order"], maintain_order=True)
                .with_row_index("_ins")
                .select(
                    *(
                        pl.col("_ins").cast(pl.Int64).alias(name)
                        if name == "_order"
                        else storable_column(pl.col(name)).alias(name)
                        if name in ("ref", "col", "val", "reason")
                        else pl.col(name)
                        for name in schema
                    )
                )
            )
        else:
            phase0 = pl.DataFrame(schema=schema)
        later = pl.DataFrame(self._later, schema=schema, orient="row")
        self._rejects = pl.concat([phase0, later], how="vertical")
        return self._rejects

    def close(self) -> None:
        """Delete the spilled frames."""
        self._frames.close()
        for table in self.tables:
            table.pending = {}


def _item_schema(plan: TablePlan) -> dict[str, pl.DataType]:
    """Column -> polars dtype of a table's items frame."""
    import polars as pl

    schema = items_schema(plan)
    return {
        "ref": pl.String(),
        "_file": pl.Int32(),
        "_line": pl.Int64(),
        "_seq": pl.Int64(),
        "_nrows": pl.Int64(),
        "_dup": pl.Int64(),
        **{c.name: schema[c.name] for c in plan.columns},
    }


@dataclass
class _Held:
    """An item of :meth:`Items._merge_slow` as the row engine's merge builds it."""

    file: int
    line: int
    seq: int
    nrows: int
    #: per plan column, the value kept: a cell of the items frame (text, integer, boolean,
    #: list of texts or None)
    values: list[object]


def _write_ipc(path: Path, schema: pa.Schema, batches: Sequence[pa.RecordBatch]) -> None:
    """An Arrow IPC file of ``batches``, uncompressed: written on the writer thread, the bytes
    cost less than compressing them, and reading them back (the main thread) far less than
    decompressing (1M-row split: 0.6-0.9 s less wall time than lz4, for 2.5x the disk: at most
    1.4x the export's size, and only while the split runs)."""
    import pyarrow as pa

    with pa.OSFile(str(path), "wb") as sink:
        writer = pa.ipc.new_file(sink, schema)
        for batch in batches:
            writer.write_batch(batch)
        writer.close()


class _Frames:
    """Frames filed under keys: in memory, or in Arrow IPC files of a spill folder, one file per
    :meth:`put` and a record batch (or a few) per key in it, read back by key alone (random
    access to the batches: a part's frames are read without reading the other parts'), and by
    column (a column not asked for is neither read nor decompressed)."""

    def __init__(self, folder: Path | None) -> None:
        self.folder = folder
        self._memory: dict[str, list[pl.DataFrame]] = {}
        #: key -> (file, its record batches) of every frame filed under the key
        self._stored: dict[str, list[tuple[Path, list[int]]]] = {}
        #: file -> keys it still holds (deleted at 0)
        self._live: dict[Path, int] = {}
        #: file -> its column names, in order
        self._columns: dict[Path, list[str]] = {}
        self._written = 0
        self._writer = BackgroundWrites()
        #: file -> its write (on the writer thread), waited for before the file is read
        self._writes: dict[Path, Future[object]] = {}
        #: open (file, columns read) and their readers, the least recently used first (read, not
        #: mapped: the pages read are not kept resident)
        self._open: OrderedDict[
            tuple[Path, tuple[int, ...] | None], tuple[pa.OSFile, pa.ipc.RecordBatchFileReader]
        ] = OrderedDict()

    def put(self, frame: pl.DataFrame, pieces: Sequence[tuple[str, int, int]]) -> None:
        """File slices of ``frame`` under their keys: ``(key, offset, length)``."""

        pieces = [piece for piece in pieces if piece[2]]
        if not pieces:
            return
        if self.folder is None:
            for key, offset, length in pieces:
                self._memory.setdefault(key, []).append(frame.slice(offset, length))
            return
        self.folder.mkdir(parents=True, exist_ok=True)
        self._written += 1
        path = self.folder / f"frames_{self._written}.arrow"
        # Plain (large) strings, converted once for every piece: a slice's string views would
        # share, and write, the buffers of the whole frame.
        table = frame.to_arrow()
        self._columns[path] = table.schema.names
        batches: list[pa.RecordBatch] = []
        for key, offset, length in pieces:
            found = table.slice(offset, length).to_batches()
            self._stored.setdefault(key, []).append(
                (path, list(range(len(batches), len(batches) + len(found))))
            )
            batches.extend(found)
        self._live[path] = len(pieces)
        # Written while the caller maps and resolves the next rows; read back after waiting.
        self._writes[path] = self._writer.submit(_write_ipc, path, table.schema, batches)

    def get(self, key: str, columns: Sequence[str] | None = None) -> list[pl.DataFrame]:
        """The frames filed under ``key``, in the order filed; only ``columns`` (in that order)
        when given."""
        return self.get_all([key], columns)

    def get_all(
        self, keys: Sequence[str], columns: Sequence[str] | None = None
    ) -> list[pl.DataFrame]:
        """The frames filed under ``keys``, key after key, each in the order filed; only
        ``columns`` when given. Consecutive ones of one file come as one frame (one conversion
        rather than one per key: the ranges of a part, read together)."""
        import polars as pl
        import pyarrow as pa

        if self.folder is None:
            frames = [frame for key in keys for frame in self._memory.get(key, [])]
            return frames if columns is None else [f.select(columns) for f in frames]
        runs: list[tuple[Path, list[int]]] = []
        for key in keys:
            for path, batches in self._stored.get(key, []):
                if runs and runs[-1][0] == path:
                    runs[-1][1].extend(batches)
                else:
                    runs.append((path, list(batches)))
        found = []
        for path, batches in runs:
            fields = None
            if columns is not None:
                names = self._columns[path]
                fields = tuple(sorted(names.index(c) for c in dict.fromkeys(columns)))
            reader = self._reader(path, fields)
            table = pa.Table.from_batches([reader.get_batch(i) for i in batches])
            if columns is not None:
                table = table.select(list(columns))
            frame = pl.from_arrow(table, rechunk=False)
            assert isinstance(frame, pl.DataFrame)
            found.append(frame)
        return found

    def _reader(self, path: Path, fields: tuple[int, ...] | None) -> pa.ipc.RecordBatchFileReader:
        import pyarrow as pa

        self._writer.wait(self._writes[path])
        found = self._open.get((path, fields))
        if found is not None:
            self._open.move_to_end((path, fields))
            return found[1]
        if len(self._open) >= _OPEN_FILES:
            _, (source, _) = self._open.popitem(last=False)
            source.close()
        source = pa.OSFile(str(path), "rb")
        options = None if fields is None else pa.ipc.IpcReadOptions(included_fields=list(fields))
        reader = pa.ipc.open_file(source, options=options)
        self._open[(path, fields)] = (source, reader)
        return reader

    def _forget(self, path: Path) -> None:
        self._writer.wait(self._writes.pop(path))
        for key in [k for k in self._open if k[0] == path]:
            self._open.pop(key)[0].close()
        self._columns.pop(path, None)
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
        try:
            self._writer.close()
        finally:
            for path in self._live:
                self._forget(path)
            self._stored = {}
            self._live = {}
