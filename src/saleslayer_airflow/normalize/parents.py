"""Parent links must resolve, as joins: the columnar twin of the row engine's check
(tests/oracle/parents.py).

Same iteration (tables by kind, link columns in plan order, repeated until nothing changes), same
questions to ``known_refs`` (each reference asked at most once per target table, in batches of at
most 1000, in the order the row engine asks them), same reasons (rejected parent, another case, a
look-alike, never imported) and the same category cycles, rejected in the same order.
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import TYPE_CHECKING

from saleslayer_airflow.config.tables import TableKind
from saleslayer_airflow.mapping.plan import PARENT_REF, LinkPlan
from saleslayer_airflow.mapping.references import look_alike_difference, look_alike_key
from saleslayer_airflow.normalize.items import Items
from saleslayer_airflow.normalize.results import KnownRefs, no_known_refs

if TYPE_CHECKING:
    import polars as pl

__all__ = ["KnownRefs", "ParentCheck", "no_known_refs"]

_ORDER = [
    TableKind.CATEGORIES,
    TableKind.PRODUCTS,
    TableKind.VARIANTS,
    TableKind.POINTS_OF_SALE,
    TableKind.CUSTOM_ENTITY,
]
_CYCLE_SHOWN = 8
_ASK_BATCH = 1000


class ParentCheck:
    """Resolves every link of every table; rejects items whose parents do not exist."""

    def __init__(self, items: Items, known_refs: KnownRefs) -> None:
        self.items = items
        self.known_refs = known_refs
        self._keys = {t.plan.key: i for i, t in enumerate(items.tables)}
        self._asked: dict[str, set[str]] = {}
        #: refs known from earlier imports: per target table index, or per external name
        self._known_in: dict[int, set[str]] = {}
        self._known_ext: dict[str, set[str]] = {}
        #: per table: look-alike key of every item (computed once, when first needed)
        self._folded: dict[int, pl.DataFrame] = {}

    def run(self) -> None:
        """Reject unresolved links and cycles until the tables are consistent."""
        tables = self.items.tables
        order = sorted(range(len(tables)), key=lambda i: _ORDER.index(tables[i].plan.kind))
        changed = True
        while changed:
            changed = False
            for tbl in order:
                plan = tables[tbl].plan
                for index, column in enumerate(plan.columns):
                    found = next((lk for lk in plan.links if lk.out == column.name), None)
                    if found is not None and self._resolve(tbl, index, found):
                        changed = True
                if plan.kind is TableKind.CATEGORIES and self._cycles(tbl):
                    changed = True

    def _targets(self, tbl: int, column: str, is_list: bool) -> pl.DataFrame:
        """(ref, target) of the table's kept items, in item order then list order."""
        import polars as pl

        frame = self.items.alive(tbl).select("ref", pl.col(column).alias("target"))
        if is_list:
            frame = frame.explode("target")
        return frame.filter(pl.col("target").is_not_null())

    def _resolve(self, tbl: int, index: int, link: LinkPlan) -> bool:
        import polars as pl

        column = self.items.tables[tbl].plan.columns[index].name
        targets = self._targets(tbl, column, link.is_list)
        if targets.height == 0:
            return False
        if link.target_in_import:
            target_tbl = self._keys[link.target]
            known = self._known_in.setdefault(target_tbl, set())
            present = self.items.alive(target_tbl)["ref"]
        else:
            known = self._known_ext.setdefault(link.target, set())
            present = pl.Series("ref", [], dtype=pl.String)
        candidates = targets.filter(~pl.col("target").is_in(present.implode()))
        if known:
            candidates = candidates.filter(
                ~pl.col("target").is_in(pl.Series(list(known), dtype=pl.String).implode())
            )
        if candidates.height == 0:
            return False
        missing = candidates["target"].unique(maintain_order=True).to_list()
        asked = self._asked.setdefault(link.target, set())
        to_ask = [ref for ref in missing if ref not in asked]
        answered: set[str] = set()
        for start in range(0, len(to_ask), _ASK_BATCH):
            batch = to_ask[start : start + _ASK_BATCH]
            answered.update(self.known_refs(link.target, list(batch)))
            asked.update(batch)
        known.update(answered)
        unknown = [ref for ref in missing if ref not in answered]
        if not unknown:
            return False
        broken = (
            candidates.filter(pl.col("target").is_in(pl.Series(unknown, dtype=pl.String).implode()))
            .group_by("ref")
            .agg(pl.col("target").min())
            .sort("ref")
        )
        if broken.height == 0:
            return False
        pairs = list(broken.iter_rows())
        self.items.prefetch(tbl, [ref for ref, _ in pairs])
        source = self.items.tables[tbl].sources[index]
        alike = self._alike_candidates(link, {target for _, target in pairs})
        for ref, target in pairs:
            self.items.reject_item(
                tbl, ref, source, target, self._reason(link, target, alike), "unknown_parent"
            )
        return True

    def _alike_candidates(self, link: LinkPlan, targets: Iterable[str]) -> dict[str, list[str]]:
        """Look-alike key -> the target table's items with that key, sorted (code point order,
        as SQLite's), for the keys of ``targets``: one join instead of a scan per target."""
        import polars as pl

        if not link.target_in_import:
            return {}
        target_tbl = self._keys[link.target]
        keyed = [t for t in targets if not self.items.is_gone(target_tbl, t)]
        if not keyed:
            return {}
        folded = self._folded.get(target_tbl)
        if folded is None:
            folded = _fold(self.items.tables[target_tbl].items)
            self._folded[target_tbl] = folded
        keys = pl.Series("key", sorted({look_alike_key(t) for t in keyed}), dtype=pl.String)
        found = (
            folded.filter(pl.col("key").is_in(keys.implode()))
            .sort(["key", "ref"])
            .group_by("key", maintain_order=True)
            .agg("ref")
        )
        return {key: list(refs) for key, refs in found.iter_rows()}

    def _reason(self, link: LinkPlan, target: str, alike: dict[str, list[str]]) -> str:
        if link.target_in_import:
            target_tbl = self._keys[link.target]
            if self.items.is_gone(target_tbl, target):
                return f"its {link.noun} {target!r} was rejected (see that reject)"
            removed = self.items.tables[target_tbl].removed
            other = next(
                (
                    ref
                    for ref in alike.get(look_alike_key(target), ())
                    if ref != target and ref not in removed
                ),
                None,
            )
            if other is not None and other.lower() == target.lower():
                return (
                    f"its {link.noun} {target!r} is not in this import, but {other!r} is: "
                    "references are case-sensitive in Sales Layer"
                )
            if other is not None:
                return (
                    f"its {link.noun} {target!r} is not in this import, but the look-alike "
                    f"{other!r} is ({look_alike_difference(target, other)}): references must "
                    "match character for character; make both the same in the ERP"
                )
        return (
            f"its {link.noun} {target!r} is neither in this import nor imported before "
            "(references are case-sensitive)"
        )

    def _cycles(self, tbl: int) -> bool:
        import polars as pl

        table = self.items.tables[tbl]
        names = [c.name for c in table.plan.columns]
        if PARENT_REF not in names:
            return False  # a flat category list (no parent, no path): no tree, no cycle
        index = names.index(PARENT_REF)
        frame = (
            self.items.alive(tbl)
            .select("ref", pl.col(PARENT_REF))
            .filter(pl.col(PARENT_REF).is_not_null())
        )
        parent: dict[str, str] = dict(
            zip(frame["ref"].to_list(), frame[PARENT_REF].to_list(), strict=True)
        )
        done: set[str] = set()
        cycles: list[list[str]] = []
        for start in parent:
            path: dict[str, int] = {}
            node: str | None = start
            while node is not None and node not in done and node not in path:
                path[node] = len(path)
                node = parent.get(node)
            if node is not None and node in path:
                cycles.append(list(path)[path[node] :])
            done.update(path)
        if cycles:
            self.items.prefetch(tbl, [ref for cycle in cycles for ref in cycle])
        for cycle in cycles:
            ring = [*cycle, cycle[0]]
            text = " -> ".join(repr(r) for r in ring[:_CYCLE_SHOWN])
            if len(ring) > _CYCLE_SHOWN:
                text += f" -> ... ({len(cycle)} categories)"
            for ref in cycle:
                self.items.reject_item(
                    tbl,
                    ref,
                    table.sources[index],
                    parent[ref],
                    f"the category is part of a parent cycle: {text}; a tree needs a root",
                    "cycle",
                )
        return bool(cycles)


def _fold(items: pl.DataFrame | None) -> pl.DataFrame:
    """(key, ref) for every item: :func:`look_alike_key`, vectorised for ASCII references (NFKC
    leaves ASCII alone and casefolds it to lower case), Python for the others."""
    import polars as pl

    if items is None:
        return pl.DataFrame(schema={"key": pl.String, "ref": pl.String})
    refs = items.select("ref")
    ascii_ = pl.col("ref").str.contains(r"^[\x00-\x7f]*$")
    plain = refs.filter(ascii_).select(pl.col("ref").str.to_lowercase().alias("key"), "ref")
    other = refs.filter(~ascii_)["ref"].to_list()
    rest = pl.DataFrame(
        {"key": [look_alike_key(r) for r in other], "ref": other},
        schema={"key": pl.String, "ref": pl.String},
    )
    return pl.concat([plain, rest], how="vertical")
