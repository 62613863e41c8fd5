"""What to do with one item, given what was applied before: the delta and the backfill guard."""

from __future__ import annotations

import hashlib
import json
from collections.abc import Mapping
from datetime import datetime
from enum import StrEnum
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from saleslayer_airflow.state.store import ItemState


class Decision(StrEnum):
    """The fate of one item in one run; the report counts each."""

    CREATE = "created"
    UPDATE = "updated"
    UNCHANGED = "unchanged"
    STALE = "stale"


def content_hash(fields: Mapping[str, Any]) -> str:
    """A stable hash of an item's fields: key order and list/number formatting do not matter."""
    canonical = json.dumps(fields, sort_keys=True, ensure_ascii=False, separators=(",", ":"))
    return hashlib.sha256(canonical.encode("utf-8")).hexdigest()


def decide(
    new_hash: str,
    export_date: datetime,
    previous: ItemState | None,
    *,
    overwrite: bool = False,
    apply_older_exports: bool = False,
) -> Decision:
    """Create, update, leave alone, or refuse as stale.

    An export dated before the data already applied to the item is *stale*: applying it would
    roll Sales Layer back, whatever order backfill runs finish in. ``apply_older_exports`` lifts
    that guard; ``overwrite`` sends unchanged items too.
    """
    if previous is None or previous.deleted:
        return Decision.CREATE
    if previous.export_date > export_date and not apply_older_exports:
        return Decision.STALE
    if previous.content_hash == new_hash and not overwrite:
        return Decision.UNCHANGED
    return Decision.UPDATE
