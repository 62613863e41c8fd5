"""Parent links must resolve: within this import, or to items imported before; no category cycles.

Runs after every row is stored (a parent may come after its children in the file), and repeats
until nothing changes: rejecting a category orphans its children, which are rejected in turn.
"""

from __future__ import annotations

from saleslayer_airflow.mapping.plan import PARENT_REF, LinkPlan
from saleslayer_airflow.mapping.references import look_alike_difference, look_alike_key
from saleslayer_airflow.normalize.results import KnownRefs
from saleslayer_airflow.tables import TableKind, dependency_rank
from tests.oracle.store import ItemStore, _chunks

_CYCLE_SHOWN = 8


def _targets_sql(tbl: int, index: int, link: LinkPlan) -> str:
    if link.is_list:
        return (
            f"SELECT i.ref AS ref, j.value AS target FROM items_{tbl} i, "
            f"json_each(i.vals, '$[{index}]') j"
        )
    return (
        f"SELECT ref, json_extract(vals, '$[{index}]') AS target FROM items_{tbl} "
        f"WHERE json_extract(vals, '$[{index}]') IS NOT NULL"
    )


class ParentCheck:
    """Resolves every link of every table of a store; rejects items whose parents do not exist."""

    def __init__(self, store: ItemStore, known_refs: KnownRefs) -> None:
        self.store = store
        self.known_refs = known_refs
        self._keys = {t.plan.key: i for i, t in enumerate(store.tables)}
        self._asked: dict[str, set[str]] = {}
        self._folded: set[int] = set()

    def run(self) -> None:
        """Reject unresolved links and cycles until the tables are consistent."""
        order = sorted(
            range(len(self.store.tables)),
            key=lambda i: dependency_rank(self.store.tables[i].plan.kind),
        )
        changed = True
        while changed:
            changed = False
            for tbl in order:
                plan = self.store.tables[tbl].plan
                for index, link in enumerate(plan.columns):
                    found = next((lk for lk in plan.links if lk.out == link.name), None)
                    if found is not None and self._resolve(tbl, index, found):
                        changed = True
                if plan.kind is TableKind.CATEGORIES and self._cycles(tbl):
                    changed = True

    def _present(self, link: LinkPlan) -> str:
        if link.target_in_import:
            target = self._keys[link.target]
            return f"SELECT ref FROM items_{target} UNION ALL SELECT ref FROM known_{target}"
        return "SELECT ref FROM known_ext WHERE tbl = :name"

    def _ensure_ext(self) -> None:
        self.store.db.execute(
            "CREATE TABLE IF NOT EXISTS known_ext (tbl TEXT, ref TEXT, PRIMARY KEY (tbl, ref))"
        )

    def _resolve(self, tbl: int, index: int, link: LinkPlan) -> bool:
        db = self.store.db
        self._ensure_ext()
        targets = _targets_sql(tbl, index, link)
        present = self._present(link)
        params = {"name": link.target}
        missing = [
            row[0]
            for row in db.execute(
                f"SELECT DISTINCT target FROM ({targets}) WHERE target NOT IN ({present})", params
            )
        ]
        if not missing:
            return False
        asked = self._asked.setdefault(link.target, set())
        to_ask = [ref for ref in missing if ref not in asked]
        known: set[str] = set()
        for batch in _chunks(to_ask, 1000):
            known.update(self.known_refs(link.target, list(batch)))
            asked.update(batch)
        if known:
            if link.target_in_import:
                rows = [(ref,) for ref in known]
                db.executemany(
                    f"INSERT OR IGNORE INTO known_{self._keys[link.target]} VALUES (?)", rows
                )
            else:
                rows2 = [(link.target, ref) for ref in known]
                db.executemany("INSERT OR IGNORE INTO known_ext VALUES (?, ?)", rows2)
        unknown = [ref for ref in missing if ref not in known]
        if not unknown:
            return False
        db.execute("CREATE TEMP TABLE IF NOT EXISTS unknown (ref TEXT PRIMARY KEY)")
        db.execute("DELETE FROM unknown")
        db.executemany("INSERT OR IGNORE INTO unknown VALUES (?)", [(r,) for r in unknown])
        broken = db.execute(
            f"SELECT ref, MIN(target) FROM ({targets}) WHERE target IN (SELECT ref FROM unknown) "
            "GROUP BY ref"
        ).fetchall()
        for ref, target in broken:
            self.store.reject_item(
                tbl,
                ref,
                self.store.tables[tbl].sources[index],
                target,
                self._reason(link, target),
                "unknown_parent",
            )
        return bool(broken)

    def _reason(self, link: LinkPlan, target: str) -> str:
        if link.target_in_import:
            target_tbl = self._keys[link.target]
            gone = self.store.db.execute(
                f"SELECT 1 FROM gone_{target_tbl} WHERE ref = ?", (target,)
            ).fetchone()
            if gone:
                return f"its {link.noun} {target!r} was rejected (see that reject)"
            other = self._look_alike(target_tbl, target)
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

    def _look_alike(self, tbl: int, target: str) -> str | None:
        """An item of table ``tbl`` a person could take for ``target`` (another case, fullwidth
        letters, ...). The keys are computed once per table, in SQL-sized batches, so that many
        broken links cost one pass over the table rather than one scan each."""
        db = self.store.db
        if tbl not in self._folded:
            self._folded.add(tbl)
            db.execute(f"CREATE TEMP TABLE folded_{tbl} (key TEXT, ref TEXT)")
            cursor = db.execute(f"SELECT ref FROM items_{tbl}")
            while batch := cursor.fetchmany(10_000):
                db.executemany(
                    f"INSERT INTO folded_{tbl} VALUES (?, ?)",
                    [(look_alike_key(ref), ref) for (ref,) in batch],
                )
            db.execute(f"CREATE INDEX temp.folded_{tbl}_key ON folded_{tbl} (key)")
        found = db.execute(
            f"SELECT f.ref FROM folded_{tbl} f JOIN items_{tbl} i ON i.ref = f.ref "
            "WHERE f.key = ? AND f.ref != ? ORDER BY f.ref LIMIT 1",
            (look_alike_key(target), target),
        ).fetchone()
        return None if found is None else str(found[0])

    def _cycles(self, tbl: int) -> bool:
        plan = self.store.tables[tbl].plan
        names = [c.name for c in plan.columns]
        if PARENT_REF not in names:
            return False  # a flat category list (no parent, no path): no tree, no cycle
        index = names.index(PARENT_REF)
        parent = dict(
            self.store.db.execute(
                f"SELECT ref, json_extract(vals, '$[{index}]') FROM items_{tbl} "
                f"WHERE json_extract(vals, '$[{index}]') IS NOT NULL"
            ).fetchall()
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
        for cycle in cycles:
            ring = [*cycle, cycle[0]]
            text = " -> ".join(repr(r) for r in ring[:_CYCLE_SHOWN])
            if len(ring) > _CYCLE_SHOWN:
                text += f" -> ... ({len(cycle)} categories)"
            for ref in cycle:
                self.store.reject_item(
                    tbl,
                    ref,
                    self.store.tables[tbl].sources[index],
                    parent[ref],
                    f"the category is part of a parent cycle: {text}; a tree needs a root",
                    "cycle",
                )
        return bool(cycles)
