"""Variants listed on their product's row: the join after every row is read (shape 5, issue 13).

Magento's catalog export names a configurable product's variants in one cell of the product's
row, ``configurable_variations``: ``sku=MH01-XS-Black,size=XS,color=Black|sku=MH01-S-Black,...``;
the variants are rows of their own, before or after it. A variants table declaring
``product: {listed_in: {column: configurable_variations, reference_key: sku, ...}}`` gets its
product links here, once the items are resolved (:meth:`Items.resolve`) and before the parent
check (which then checks the products exist, as for a product column):

- the listings are read from the rows of the products table (its ``where:`` and reference), in a
  second pass over the files it reads, of those few columns only (the main pass keeps nothing of
  a cell that is not a field); they are held as one row per listed variant, read vectorised
  when a cell is plain pairs (``_fast_cell``), in Python otherwise (the tests check both agree);
- a variant listed by one product gets that product; its empty fields named in
  ``listed_in.fields`` take the listed pair's value, converted and checked by the field's rules
  (the variant's own non-empty value wins);
- rejected, with the reason, in the rejects file: a variant listed by two products, a variant
  no product lists (and no ``product.column`` gives one), a variant whose ``product.column``
  names another product than the one listing it, a listed value its field refuses;
- counted per reason in the run's :class:`Ignored` (the report), with the product's row listed in
  ``ignored.csv``: a listed variant that is no item of the variants table (absent from the file,
  or left out by its ``where:``), a listed entry that cannot be read (no reference key,
  malformed pairs).

The counts of what was linked and filled are in the :class:`ChildLinkCounts` returned per table
(logged; the rejects and ignored counts above are what the report shows).
"""

from __future__ import annotations

import dataclasses
import logging
import re
from collections.abc import Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from saleslayer_airflow.config.tables import ChildListing, FieldMapping, FieldType
from saleslayer_airflow.mapping.columns import is_empty
from saleslayer_airflow.mapping.pairs import ascii_class, hex_text, parse_pairs, simple_pairs
from saleslayer_airflow.mapping.plan import PRODUCT_REF, FieldSource, LinkPlan, OutputColumn
from saleslayer_airflow.mapping.references import normalise_reference
from saleslayer_airflow.mapping.values import Rejected, field_value, show_value
from saleslayer_airflow.normalize.cells import PLAIN_REFERENCE
from saleslayer_airflow.normalize.contributions import value_dtype
from saleslayer_airflow.normalize.mapping import map_file
from saleslayer_airflow.normalize.results import Ignored, LandedFile, tables_of_file
from saleslayer_airflow.validation.values import ValueProblem, as_text, shown

if TYPE_CHECKING:
    import polars as pl

    from saleslayer_airflow.config.connector import ConnectorConfig
    from saleslayer_airflow.mapping.plan import TablePlan
    from saleslayer_airflow.normalize.items import Items

log = logging.getLogger(__name__)

_LISTING = "_listing"
#: A reference that is its own normalised form (normalize/cells.py's PLAIN_REFERENCE)
_PLAIN_REFERENCE = re.compile(PLAIN_REFERENCE)


@dataclass
class ChildLinkCounts:
    """What the listings of one variants table did (every rejected variant is also a reject)."""

    #: variants given their product by a product row's listing
    linked: int = 0
    #: empty variant fields filled from a listed pair
    filled: int = 0
    #: variants rejected: listed by two products
    two_products: int = 0
    #: variants rejected: no product lists them and no column gives their product
    no_product: int = 0
    #: variants rejected: their product column names another product than the listing
    disagree: int = 0
    #: variants rejected: a listed value their field refuses
    bad_value: int = 0
    #: listed variants that are no item of the variants table (counted in ``ignored``)
    absent: int = 0
    #: listed entries that cannot be read (counted in ``ignored``)
    unreadable: int = 0


def absent_reason(table: str, column: str) -> str:
    """The counted reason of listed variants that are no item of ``table``."""
    return f"{table}: variants listed in {column} that no row of the table holds"


def unreadable_reason(column: str) -> str:
    """The counted reason of listed entries that cannot be read."""
    return f"entries of {column} that cannot be read as a variant"


@dataclass(frozen=True)
class _Reject:
    """Why a variant is rejected: the reject's column, value, reason and code."""

    col: str
    val: str
    reason: str
    code: str


def link_listed_variants(
    config: ConnectorConfig,
    plans: Sequence[TablePlan],
    files: Sequence[LandedFile],
    items: Items,
    *,
    ignored: Ignored | None = None,
    batch_rows: int = 65_536,
) -> dict[str, ChildLinkCounts]:
    """Give the variants of every table with ``product.listed_in`` their products (see the
    module's docstring); call after :meth:`Items.resolve`, before the parent check. Returns the
    counts per variants table (none without a listing)."""
    found: dict[str, ChildLinkCounts] = {}
    ignored = ignored if ignored is not None else Ignored()
    keys = {plan.key: tbl for tbl, plan in enumerate(plans)}
    for tbl, plan in enumerate(plans):
        link = next((lk for lk in plan.links if lk.out == PRODUCT_REF and lk.listed), None)
        listing = config.tables[plan.key].product_listing()
        if link is None or listing is None or link.target not in keys:
            continue
        counts = ChildLinkCounts()
        if link.column is None:
            # the parent check's rejects of this link name the listing's column, not ''
            index = [c.name for c in plan.columns].index(PRODUCT_REF)
            items.tables[tbl].sources[index] = listing.column
        product_plan = plans[keys[link.target]]
        rows = _listing_cells(config, product_plan, listing, files, batch_rows)
        listed = _Listings(listing, items, ignored, counts, product_plan.key).read(rows)
        _Linker(items, tbl, plan, link, listing, product_plan.key, ignored, counts).run(listed)
        found[plan.key] = counts
        log.info(
            "%s: %d variant(s) linked to the product listing them in %s, %d value(s) filled "
            "from the listing; rejected: %d listed by two products, %d listed by none, %d whose "
            "product column disagrees, %d refused values; %d listed variant(s) absent, %d "
            "unreadable entries",
            plan.key,
            counts.linked,
            listing.column,
            counts.filled,
            counts.two_products,
            counts.no_product,
            counts.disagree,
            counts.bad_value,
            counts.absent,
            counts.unreadable,
        )
    return found


#: Columns of the listings frame: one row per listed variant, in source order
_LISTED = ("child", "parent", "_file", "_line", "_order", "_pos")


def _listing_cells(
    config: ConnectorConfig,
    product_plan: TablePlan,
    listing: ChildListing,
    files: Sequence[LandedFile],
    batch_rows: int,
) -> pl.DataFrame:
    """(ref, _file, _line, _order, listing text) of the products table's rows with a listing."""
    import polars as pl

    # The products table reduced to its reference, filters and the listing cell: the same rows
    # as the main pass (where:, reference rules), nothing else converted.
    spec = FieldMapping(column=listing.column)
    reduced = dataclasses.replace(
        product_plan,
        fields=(FieldSource(_LISTING, _LISTING, listing.column, None, spec),),
        links=(),
        columns=(OutputColumn(_LISTING, FieldType.STRING, False),),
        listing_columns=(),
    )
    files_by_table = {product_plan.key: config.tables[product_plan.key].source_files()}
    frames = []
    for index, landed in enumerate(files):
        if not tables_of_file([reduced], files_by_table, landed.file):
            continue
        mapped = map_file(
            [reduced], files_by_table, landed, index, config.format, batch_rows=batch_rows
        )
        for _tbl, chunk in mapped:
            frames.append(
                chunk.items.select("ref", "_file", "_line", "_order", _LISTING).filter(
                    pl.col(_LISTING).is_not_null()
                )
            )
    if not frames:
        return pl.DataFrame(
            schema={
                "ref": pl.String,
                "_file": pl.Int32,
                "_line": pl.Int64,
                "_order": pl.Int64,
                _LISTING: pl.String,
            }
        )
    return pl.concat(frames, how="vertical").sort("_order")


def _fast_cell(listing: ChildListing) -> str | None:
    """A regex of the listing cells the vectorised reading understands exactly: printable ASCII,
    no blank around a separator, no empty entry, no quote, one-character separators, values
    without `assign` (:func:`~saleslayer_airflow.mapping.pairs.simple_pairs`, entries
    separated). Other cells go through the Python reading, entry by entry."""
    sep = listing.separator
    if len(sep) != 1:
        return None
    if listing.reference_key is None:
        ref = ascii_class(sep)
        entry = f"{ref}(?:{ascii_class(sep, space=True)}*{ref})?"
    else:
        fmt = listing.pair_format()
        if simple_pairs(fmt) is None or sep == fmt.assign:
            return None
        excluded = sep + fmt.separator + fmt.assign
        plain, inner = ascii_class(excluded), ascii_class(excluded, space=True)
        pair = f"{plain}+{hex_text(fmt.assign)}(?:{plain}(?:{inner}*{plain})?)?"
        entry = f"{pair}(?:{hex_text(fmt.separator)}{pair})*"
    return f"^{entry}(?:{hex_text(sep)}{entry})*$"


class _Listings:
    """The listing cells read into one row per listed variant: ``child``, ``parent`` (the
    product's reference), the product row's ``_file``, ``_line``, ``_order``, the entry's
    ``_pos`` in its cell, then ``_v0``... the listed pairs' values of ``listing.fields``."""

    def __init__(
        self,
        listing: ChildListing,
        items: Items,
        ignored: Ignored,
        counts: ChildLinkCounts,
        product_table: str,
    ) -> None:
        self.listing = listing
        self.items = items
        self.ignored = ignored
        self.counts = counts
        self.product_table = product_table
        self.keys = list(listing.fields.values())

    def schema(self) -> dict[str, pl.DataType]:
        import polars as pl

        schema: dict[str, pl.DataType] = {
            "child": pl.String(),
            "parent": pl.String(),
            "_file": pl.Int32(),
            "_line": pl.Int64(),
            "_order": pl.Int64(),
            "_pos": pl.Int64(),
        }
        schema.update({f"_v{i}": pl.String() for i in range(len(self.keys))})
        return schema

    def read(self, rows: pl.DataFrame) -> pl.DataFrame:
        import polars as pl

        pattern = _fast_cell(self.listing)
        fast_rows = rows.clear()
        if pattern is not None:
            fast_rows = rows.filter(pl.col(_LISTING).str.contains(pattern))
        fast, retry = self._fast(fast_rows)
        slow_rows = rows.filter(~pl.col("_order").is_in(fast_rows["_order"].implode()))
        slow_rows = pl.concat(
            [slow_rows, fast_rows.filter(pl.col("_order").is_in(retry.implode()))]
        )
        slow = self._slow(slow_rows.sort("_order"))
        return pl.concat([fast, slow], how="vertical").sort("_order", "_pos")

    def _fast(self, rows: pl.DataFrame) -> tuple[pl.DataFrame, pl.Series]:
        """The cells the fast regex accepts, vectorised; and the ``_order`` of the cells that
        still need the Python reading (a reference key missing, a key twice)."""
        import polars as pl

        listing = self.listing
        entries = (
            rows.with_columns(pl.col(_LISTING).str.split(listing.separator).alias("_e"))
            .with_columns(pl.int_ranges(0, pl.col("_e").list.len()).alias("_pos"))
            .explode("_e", "_pos")
            .with_row_index("_eid")
        )
        base = entries.select(
            "_eid", pl.col("ref").alias("parent"), "_file", "_line", "_order", "_pos"
        )
        if listing.reference_key is None:
            found = base.with_columns(entries["_e"].alias("child"))
            return found.select(list(self.schema())), pl.Series([], dtype=pl.Int64)
        fmt = listing.pair_format()
        pairs = (
            entries.select("_eid", pl.col("_e").str.split(fmt.separator).alias("_p"))
            .explode("_p")
            .select(
                "_eid",
                pl.col("_p").str.splitn(fmt.assign, 2).struct.rename_fields(["k", "v"]),
            )
            .unnest("_p")
        )
        twice = pairs.group_by("_eid", "k").agg(pl.col("v").n_unique().alias("n"))
        bad = twice.filter(pl.col("n") > 1)["_eid"]
        wanted = [listing.reference_key, *self.keys]
        columns = ["child", *(f"_v{i}" for i in range(len(self.keys)))]
        found = base
        for key, name in zip(wanted, columns, strict=True):
            values = pairs.filter(pl.col("k") == key).unique("_eid", keep="first")
            found = found.join(
                values.select("_eid", pl.col("v").alias(name)),
                on="_eid",
                how="left",
                maintain_order="left",
            )
        missing = found.filter(pl.col("child").is_null() | (pl.col("child") == ""))["_eid"]
        retry_eids = pl.concat([bad, missing]).implode()
        retry = found.filter(pl.col("_eid").is_in(retry_eids))["_order"].unique()
        found = found.filter(~pl.col("_order").is_in(retry.implode()))
        return found.select(list(self.schema())), retry

    def _slow(self, rows: pl.DataFrame) -> pl.DataFrame:
        """The other cells, entry by entry in Python: every problem is counted and shown."""
        import polars as pl

        out: list[tuple[object, ...]] = []
        parsed: dict[str, tuple[list[tuple[int, str, tuple[object, ...]]], list[str]]] = {}
        for parent, file, line, order, text in rows.iter_rows():
            entries = parsed.get(text)
            if entries is None:
                entries = parsed[text] = _entries(text, self.listing)
            for pos, child, values in entries[0]:
                out.append((child, parent, file, line, order, pos, *values))
            for problem in entries[1]:
                self.counts.unreadable += 1
                self.ignored.row(
                    unreadable_reason(self.listing.column),
                    self.items.files[file],
                    line,
                    f"product {parent!r}: {problem}",
                    table=self.product_table,
                )
        return pl.DataFrame(out, schema=self.schema(), orient="row")


def _entries(
    text: str, listing: ChildListing
) -> tuple[list[tuple[int, str, tuple[object, ...]]], list[str]]:
    """The variants one listing cell names (their place in the cell, reference, and pairs'
    values for ``listing.fields``), and a sentence for each entry that cannot be read."""
    entries: list[tuple[int, str, tuple[object, ...]]] = []
    problems: list[str] = []
    fmt = listing.pair_format()
    for pos, part in enumerate(as_text(text).split(listing.separator)):
        if not part.strip():
            continue
        try:
            if listing.reference_key is None:
                raw: object = part
                values: tuple[object, ...] = ()
            else:
                pairs = parse_pairs(part, fmt)
                raw = pairs.get(listing.reference_key)
                if is_empty(raw):
                    raise ValueProblem(
                        f"{shown(part.strip())!r} has no {listing.reference_key}{fmt.assign} "
                        "pair naming the variant",
                        "bad_listing",
                    )
                values = tuple(
                    None if (v := pairs.get(key)) is None else as_text(v)
                    for key in listing.fields.values()
                )
            plain = isinstance(raw, str) and _PLAIN_REFERENCE.fullmatch(raw) is not None
            child = raw if plain else normalise_reference(raw, "variant reference")
        except ValueProblem as problem:
            problems.append(f"{listing.column}: {problem.reason}")
            continue
        if child:
            entries.append((pos, str(child), values))
    return entries, problems


class _Linker:
    """One variants table's links and fills from its listings, then its rejects."""

    def __init__(
        self,
        items: Items,
        tbl: int,
        plan: TablePlan,
        link: LinkPlan,
        listing: ChildListing,
        product_table: str,
        ignored: Ignored,
        counts: ChildLinkCounts,
    ) -> None:
        self.items = items
        self.tbl = tbl
        self.plan = plan
        self.link = link
        self.listing = listing
        self.product_table = product_table
        self.ignored = ignored
        self.counts = counts
        by_field = {source.field: source for source in plan.fields}
        #: per ``listing.fields`` entry: the field's source and pair key
        self.fills = [(by_field[name], key) for name, key in listing.fields.items()]

    def run(self, listed: pl.DataFrame) -> None:
        import polars as pl

        items = self.items
        # Per variant, its first listing, and another product listing it (if any).
        first = listed.unique("child", keep="first", maintain_order=True)
        other = (
            listed.join(first.select("child", pl.col("parent").alias("_p0")), on="child")
            .filter(pl.col("parent") != pl.col("_p0"))
            .unique("child", keep="first", maintain_order=True)
            .select(
                "child",
                pl.col("parent").alias("_other"),
                pl.col("_file").alias("_ofile"),
                pl.col("_line").alias("_oline"),
            )
        )
        joined_listing = first.join(other, on="child", how="left").rename({"child": "ref"})
        outs = [source.out for source, _ in self.fills]
        converted = [self._converted(i, source, first) for i, (source, _) in enumerate(self.fills)]
        updates: list[pl.DataFrame] = []
        rejects: list[tuple[int, str, _Reject]] = []
        seen: list[pl.Series] = []
        wanted = ["ref", "_file", "_seq", PRODUCT_REF, *outs]
        for part in items.item_parts(self.tbl, ["ref"]):
            seen.append(part["ref"])
        for part in items.alive_parts(self.tbl, wanted):
            frame = part.join(joined_listing, on="ref", how="left", maintain_order="left")
            for index, table in enumerate(converted):
                frame = frame.join(table, on=f"_v{index}", how="left", maintain_order="left")
            update, rejected = self._judge(frame, outs)
            updates.append(update)
            rejects += rejected
        self._absent(listed, seen)
        changes = pl.concat(updates, how="vertical") if updates else None
        if changes is not None and changes.height:
            self.items.rewrite_items(self.tbl, lambda f: _apply(f, changes, outs))
        rejects.sort(key=lambda r: r[0])
        items.prefetch(self.tbl, [ref for _, ref, _ in rejects])
        for _, ref, why in rejects:
            items.reject_item(self.tbl, ref, why.col, why.val, why.reason, why.code)

    def _converted(self, index: int, source: FieldSource, first: pl.DataFrame) -> pl.DataFrame:
        """The distinct listed values of one fill, through the field's rules: ``_v<i>`` ->
        ``_c<i>`` (the value) or ``_r<i>`` (why not, with ``_s<i>`` the value shown)."""
        import polars as pl

        name = f"_v{index}"
        raws = first[name].drop_nulls().unique(maintain_order=True).to_list()
        results = [field_value(source, raw) for raw in raws]
        is_list = source.spec.separator is not None
        dtype = value_dtype(OutputColumn(source.out, source.spec.type, is_list))
        return pl.DataFrame(
            {
                name: pl.Series(raws, dtype=pl.String),
                f"_c{index}": pl.Series(
                    [None if isinstance(r, Rejected) else r for r in results], dtype=dtype
                ),
                f"_r{index}": pl.Series(
                    [r.reason if isinstance(r, Rejected) else None for r in results],
                    dtype=pl.String,
                ),
                f"_k{index}": pl.Series(
                    [r.code if isinstance(r, Rejected) else None for r in results],
                    dtype=pl.String,
                ),
                f"_s{index}": pl.Series(
                    [r.shown if isinstance(r, Rejected) else None for r in results],
                    dtype=pl.String,
                ),
            }
        )

    def _judge(
        self, frame: pl.DataFrame, outs: Sequence[str]
    ) -> tuple[pl.DataFrame, list[tuple[int, str, _Reject]]]:
        """The updates (ref, _parent, _fill_<out>...) of one part's variants, and the rejects
        (by ``_seq``) of those that cannot be linked."""
        import polars as pl

        own = pl.col(PRODUCT_REF)
        parent = pl.col("parent")
        # a fill applies where the variant's own value is empty and the listing gives one
        fills = [
            pl.col(out).is_null() & pl.col(f"_v{i}").is_not_null() & (pl.col(f"_v{i}") != "")
            for i, out in enumerate(outs)
        ]
        refused = [fill & pl.col(f"_r{i}").is_not_null() for i, fill in enumerate(fills)]
        frame = frame.with_columns(
            (parent.is_null() & own.is_null()).alias("_none"),
            pl.col("_other").is_not_null().alias("_two"),
            (parent.is_not_null() & own.is_not_null() & (own != parent)).alias("_disagree"),
            (pl.any_horizontal(refused) if refused else pl.lit(False)).alias("_refused"),
        )
        bad = pl.col("_none") | pl.col("_two") | pl.col("_disagree") | pl.col("_refused")
        rejects = [
            (int(row["_seq"]), str(row["ref"]), self._why(row, outs))
            for row in frame.filter(bad).iter_rows(named=True)
        ]
        good = frame.filter(~bad & parent.is_not_null())
        counts = self.counts
        counts.linked += good.filter(own.is_null()).height
        values = []
        for i, (out, fill) in enumerate(zip(outs, fills, strict=True)):
            value = pl.when(fill).then(pl.col(f"_c{i}")).otherwise(None).alias(f"_fill_{out}")
            values.append(value)
        update = good.select("ref", parent.alias("_parent"), *values)
        counts.filled += sum(int(update[f"_fill_{out}"].is_not_null().sum()) for out in outs)
        return update, rejects

    def _why(self, row: dict[str, Any], outs: Sequence[str]) -> _Reject:
        counts = self.counts
        column = self.listing.column
        file = int(row["_file"])
        if row["_none"]:
            counts.no_product += 1
            none = f" and {self.link.column!r} gives none" if self.link.column else ""
            return _Reject(
                column,
                "",
                f"the variant has no product: no row of the {self.product_table} table lists it "
                f"in {column}{none}; every variant belongs to a product",
                "no_parent",
            )
        first_at = self.items.where(int(row["_file"]), int(row["_line"]), relative_to=file)
        parent = str(row["parent"])
        if row["_two"]:
            counts.two_products += 1
            other_at = self.items.where(int(row["_ofile"]), int(row["_oline"]), relative_to=file)
            return _Reject(
                column,
                str(row["_other"]),
                f"the variant is listed by two products in {column}: {parent!r} ({first_at}) "
                f"and {row['_other']!r} ({other_at}); a variant belongs to one product: fix the "
                "listings in the export",
                "two_parents",
            )
        if row["_disagree"]:
            counts.disagree += 1
            own = str(row[PRODUCT_REF])
            return _Reject(
                self.link.column or column,
                own,
                f"{self.link.column!r} gives the variant the product {own!r}, but product "
                f"{parent!r} lists it in {column} ({first_at}); a variant belongs to one product",
                "parent_conflict",
            )
        counts.bad_value += 1
        assign = self.listing.pair_format().assign
        for i, (_, key) in enumerate(self.fills):
            reason = row[f"_r{i}"]
            if row[outs[i]] is None and reason is not None:
                return _Reject(
                    column,
                    str(row[f"_s{i}"]),
                    f"the pair {key}{assign}{shown(str(row[f'_v{i}']))} product {parent!r} lists "
                    f"for it in {column} ({first_at}) does not fit: {reason}",
                    str(row[f"_k{i}"]),
                )
        raise AssertionError("a refused fill without a reason")  # pragma: no cover

    def _absent(self, listed: pl.DataFrame, seen: list[pl.Series]) -> None:
        """Listed variants that are no item (nor a rejected row) of the table: counted, their
        product's row shown in ``ignored.csv``."""
        import polars as pl

        items = self.items
        column = self.listing.column
        known = pl.concat(seen) if seen else pl.Series([], dtype=pl.String)
        absent = listed.unique("child", keep="first", maintain_order=True).filter(
            ~pl.col("child").is_in(known.implode())
        )
        for child, parent, file, line in absent.select(
            "child", "parent", "_file", "_line"
        ).iter_rows():
            if items.is_gone(self.tbl, child):
                continue  # its row was rejected: that reject says why
            self.counts.absent += 1
            self.ignored.row(
                absent_reason(self.plan.key, column),
                items.files[file],
                line,
                f"product {parent!r} lists the variant {show_value(child)!r} in {column}, "
                f"but no row of the {self.plan.key} table holds it (absent from the export, or "
                "left out by the table's where:)",
                table=None,
            )


def _apply(frame: pl.DataFrame, updates: pl.DataFrame, outs: Sequence[str]) -> pl.DataFrame:
    """The items of ``frame`` with their product links and filled fields from ``updates``."""
    import polars as pl

    joined = frame.join(updates, on="ref", how="left", maintain_order="left")
    changed = joined.with_columns(
        pl.coalesce(pl.col(PRODUCT_REF), pl.col("_parent")).alias(PRODUCT_REF),
        *(pl.coalesce(pl.col(out), pl.col(f"_fill_{out}")).alias(out) for out in outs),
    )
    return changed.select(frame.columns)
