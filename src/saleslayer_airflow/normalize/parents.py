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
    import numpy as np
    import numpy.typing as npt
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
_SEED = 0x9A7E5  # of the reference hashes compared; any fixed value


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

    def _present(self, target_tbl: int) -> npt.NDArray[np.uint64]:
        """Hashes of the target table's kept references, sorted (8 bytes an item: the only
        per-item memory of the check; searched, not put in a hash set)."""
        import numpy as np
        import polars as pl

        found = [
            part.select(pl.col("ref").hash(_SEED)).to_series().to_numpy()
            for part in self.items.alive_parts(target_tbl, ["ref"])
        ]
        if not found:
            return np.empty(0, dtype=np.uint64)
        return np.sort(np.concatenate(found))

    def _candidates(self, tbl: int, column: str, link: LinkPlan, known: set[str]) -> pl.DataFrame:
        """(ref, target) of the table's kept items whose target is not a kept item of the
        target table nor known, in item order then list order. The table is read one part at a
        time; the target table's references are compared by hash, then the few targets left are
        the missing ones (a hash can only fail to match a missing target's if the reference is
        missing; a missing target colliding with a present one has odds of about 1 in 2^64 per
        target and table item)."""
        import numpy as np
        import polars as pl

        present = None
        if link.target_in_import:
            present = self._present(self._keys[link.target])
        known_refs = pl.Series(list(known), dtype=pl.String).implode() if known else None
        found = []
        for part in self.items.alive_parts(tbl, ["ref", "_seq", column]):
            frame = part.select("ref", "_seq", pl.col(column).alias("target"))
            if link.is_list:
                frame = frame.explode("target")
            frame = frame.with_row_index("_pos").filter(pl.col("target").is_not_null())
            if present is not None and present.size and frame.height:
                hashes = frame.select(pl.col("target").hash(_SEED)).to_series().to_numpy()
                # Searched in order, distinct (np.unique sorts): each search starts where the
                # last one ended, in the cache, where random ones miss it once the target table
                # outgrows it (5M variants: 5 s, against 0.2 s for 1M).
                distinct, back = np.unique(hashes, return_inverse=True)
                at = np.minimum(np.searchsorted(present, distinct), present.size - 1)
                frame = frame.filter(pl.Series((present[at] != distinct)[back]))
            if known_refs is not None:
                frame = frame.filter(~pl.col("target").is_in(known_refs))
            if frame.height:
                found.append(frame)
        if not found:
            return pl.DataFrame(schema={"ref": pl.String, "target": pl.String})
        return pl.concat(found, how="vertical").sort("_seq", "_pos").select("ref", "target")

    def _resolve(self, tbl: int, index: int, link: LinkPlan) -> bool:
        import polars as pl

        column = self.items.tables[tbl].plan.columns[index].name
        if link.target_in_import:
            target_tbl = self._keys[link.target]
            known = self._known_in.setdefault(target_tbl, set())
        else:
            known = self._known_ext.setdefault(link.target, set())
        candidates = self._candidates(tbl, column, link, known)
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
        keys = pl.Series("key", sorted({look_alike_key(t) for t in keyed}), dtype=pl.String)
        wanted = keys.implode()
        # Every item of the target table (removed ones too), one part at a time.
        folded = [
            _fold(part).filter(pl.col("key").is_in(wanted))
            for part in self.items.item_parts(target_tbl, ["ref"])
        ]
        if not folded:
            return {}
        found = (
            pl.concat(folded, how="vertical")
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
        # The whole tree at once: categories are few (one per path or reference).
        frame = self.items.alive(tbl, ["ref", PARENT_REF]).filter(pl.col(PARENT_REF).is_not_null())
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


def _fold(items: pl.DataFrame) -> pl.DataFrame:
    """(key, ref) for every item: :func:`look_alike_key`, vectorised for ASCII references (NFKC
    leaves ASCII alone and casefolds it to lower case), Python for the others."""
    import polars as pl

    refs = items.select("ref")
    ascii_ = pl.col("ref").str.contains(r"^[\x00-\x7f]*$")
    plain = refs.filter(ascii_).select(pl.col("ref").str.to_lowercase().alias("key"), "ref")
    other = refs.filter(~ascii_)["ref"].to_list()
    rest = pl.DataFrame(
        {"key": [look_alike_key(r) for r in other], "ref": other},
        schema={"key": pl.String, "ref": pl.String},
    )
    return pl.concat([plain, rest], how="vertical")
