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
"""

from __future__ import annotations

from collections.abc import Sequence
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
    #: per chunk, its contributions aggregated by reference (:func:`_aggregate`)
    aggs: list[pl.DataFrame] = field(default_factory=list)
    #: the contributions as received: in memory, or spilled (Arrow IPC files) when the run has a
    #: spill folder; read again only for the references that repeat and disagree
    raw: list[pl.DataFrame] = field(default_factory=list)
    spilled: list[Path] = field(default_factory=list)
    #: after :meth:`Items.resolve`: ref, _file, _line, _seq, _nrows, then the plan's columns,
    #: in order of first appearance; removed items are in ``removed``
    items: pl.DataFrame | None = None
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
    ) -> None:
        self.files = list(files)
        self.chunk_rows = chunk_rows
        self.spill_dir = spill_dir
        self._spills = 0
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
            table.aggs.append(agg)
            if agg.height < chunk.items.height:
                # A reference once in the chunk is its aggregate row; only the rows of the
                # references the chunk repeats are kept, for a conflict or a duplicate.
                repeated = chunk.items.filter(pl.col("ref").is_duplicated())
                if self.spill_dir is None:
                    table.raw.append(repeated)
                else:
                    self.spill_dir.mkdir(parents=True, exist_ok=True)
                    self._spills += 1
                    path = self.spill_dir / f"items_{chunk.table}_{self._spills}.arrow"
                    repeated.write_ipc(path, compression="lz4")
                    table.spilled.append(path)
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
            plan = table.plan
            values = [c.name for c in plan.columns]
            if table.aggs:
                aggs = pl.concat(table.aggs, how="vertical")
            else:
                aggs = _aggregate(plan, pl.DataFrame(schema=items_schema(plan)))
            table.aggs = []
            if plan.policy is DuplicatePolicy.MERGE:
                self._resolve_merge(tbl, table, aggs, values)
            else:
                self._resolve_first(tbl, table, aggs, values)

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
        self, tbl: int, table: TableItems, aggs: pl.DataFrame, values: list[str]
    ) -> None:
        import polars as pl

        plan = table.plan
        level = _combine(aggs, [pl.col(v).first() for v in values]).drop("_bad")
        repeated = level.filter(pl.col("_nrows") > 1)
        if repeated.height:
            later = (
                self.raw_rows(tbl, repeated["ref"], aggs)
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
        table.items = level.select(
            "ref",
            "_file",
            "_line",
            "_seq",
            pl.lit(1, dtype=pl.Int64).alias("_nrows"),
            (pl.col("_nrows") - 1).alias("_dup"),
            *values,
        )

    def _resolve_merge(
        self, tbl: int, table: TableItems, aggs: pl.DataFrame, values: list[str]
    ) -> None:
        import polars as pl

        level = _combine(aggs, [pl.col(v).drop_nulls().first() for v in values])
        if values and level.height != aggs.height:
            # A reference in several chunks: its chunks agree when no chunk's first non-null
            # value of a column differs from the reference's.
            cross = _disagreeing(aggs, level, values)
            level = level.with_columns(pl.col("_bad") | pl.col("ref").is_in(cross.implode()))
        good = level.filter(~pl.col("_bad")).drop("_bad")
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
        bad = level.filter(pl.col("_bad"))["ref"]
        if bad.len() == 0:
            table.items = items
            return
        merged_items, conflicts = self._merge_slow(table, self.raw_rows(tbl, bad, aggs))
        counts.merged += int(merged_items["_nrows"].sum()) - merged_items.height
        counts.conflicts += conflicts.height
        counts.rejected += conflicts.height
        self._phase0(tbl, conflicts)
        table.items = pl.concat([items, merged_items], how="vertical").sort("_seq")

    def raw_rows(self, tbl: int, refs: pl.Series, aggs: pl.DataFrame) -> pl.DataFrame:
        """Every contribution of the references ``refs``, in order: the rows a chunk repeated
        (kept in memory or spilled) and the chunks' single rows (their aggregate rows)."""
        import polars as pl

        table = self.tables[tbl]
        wanted = refs.implode()
        values = [c.name for c in table.plan.columns]
        single = aggs.filter((pl.col("_nrows") == 1) & pl.col("ref").is_in(wanted))
        parts: list[pl.DataFrame] = [
            single.select(
                "ref", "_file", "_line", "_record", pl.col("_seq").alias("_order"), *values
            ),
            *(frame.filter(pl.col("ref").is_in(wanted)) for frame in table.raw),
        ]
        if table.spilled:
            parts.append(pl.scan_ipc(table.spilled).filter(pl.col("ref").is_in(wanted)).collect())
        if not parts:
            return pl.DataFrame(schema=items_schema(table.plan))
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
            if table.plan.policy is not DuplicatePolicy.REJECT or table.items is None:
                continue
            dup = table.items.filter(pl.col("_dup") > 0).select("ref", "_dup")
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
        if table.items is None or not refs:
            return
        if table._held is None:
            table._held = {}
        wanted = pl.Series(list(refs), dtype=pl.String).implode()
        rows = table.items.filter(pl.col("ref").is_in(wanted)).select(
            "ref", "_file", "_line", "_nrows"
        )
        for ref, file, line, nrows in rows.iter_rows():
            table._held[ref] = (int(file), int(line), int(nrows))

    def held(self, tbl: int, ref: str) -> tuple[int, int, int] | None:
        """(file, line, nrows) of a kept item, None when it is not (or no longer) an item."""
        import polars as pl

        table = self.tables[tbl]
        if ref in table.removed or table.items is None:
            return None
        if table._held is None:
            table._held = {}
        found = table._held.get(ref)
        if found is None:
            rows = table.items.filter(pl.col("ref") == ref).select("_file", "_line", "_nrows")
            if rows.height == 0:
                return None
            file, line, nrows = rows.row(0)
            found = (int(file), int(line), int(nrows))
            table._held[ref] = found
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

    def alive(self, tbl: int) -> pl.DataFrame:
        """The table's kept items, in order of first appearance."""
        import polars as pl

        table = self.tables[tbl]
        assert table.items is not None, "resolve() first"
        if not table.removed:
            return table.items
        return table.items.filter(~pl.col("ref").is_in(pl.Series(list(table.removed)).implode()))

    def finish_counts(self) -> None:
        """rows_out of every table: its kept items."""
        for tbl, table in enumerate(self.tables):
            table.counts.rows_out = self.alive(tbl).height

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
        """Delete the spilled contributions."""
        for table in self.tables:
            for path in table.spilled:
                path.unlink(missing_ok=True)
            table.spilled = []
            table.raw = []
