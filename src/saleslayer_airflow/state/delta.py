"""What to do with one item, given what was applied before: the delta and the backfill guard."""

from __future__ import annotations

import hashlib
import json
from collections.abc import Mapping
from datetime import datetime
from decimal import Decimal, InvalidOperation
from enum import StrEnum
from typing import TYPE_CHECKING, Any

from saleslayer_airflow.numbers import ExactNumber

if TYPE_CHECKING:
    from saleslayer_airflow.state.store import ItemState


class Decision(StrEnum):
    """The fate of one item in one run; the report counts each."""

    CREATE = "created"
    UPDATE = "updated"
    UNCHANGED = "unchanged"
    STALE = "stale"


def _dumps(value: Any) -> str:
    return json.dumps(value, sort_keys=True, ensure_ascii=False, separators=(",", ":"))


def content_hash(fields: Mapping[str, Any]) -> str:
    """A stable hash of an item's fields: key order and list/number formatting do not matter.

    An empty value (``""``, ``[]``: a field sent to clear it) hashes like an absent field, so
    an item empty in the ERP yesterday and today is unchanged and not sent again, and items
    hashed before empty values were sent keep their hash. An exact number that is not whole
    (:class:`ExactNumber`) hashes as a JSON number: the same token a float of that value had.
    """
    kept = {name: value for name, value in fields.items() if not is_empty_value(value)}
    if not any(isinstance(value, ExactNumber) for value in kept.values()):
        canonical = _dumps(kept)
    else:
        canonical = (
            "{"
            + ",".join(
                _dumps(name)
                + ":"
                + (value.hash_token() if isinstance(value, ExactNumber) else _dumps(value))
                for name, value in sorted(kept.items())
            )
            + "}"
        )
    return hashlib.sha256(canonical.encode("utf-8")).hexdigest()


def is_empty_value(value: Any) -> bool:
    # What clears a field when sent: no value, "" or an empty list.
    return value is None or (isinstance(value, str | list) and len(value) == 0)


def same_value(before: Any, after: Any) -> bool:
    """Whether a field's last pushed value (as the state store kept it) equals the new one:
    empty values are all alike, and numbers compare by value (``12.5`` and ``"12.5"``)."""
    if is_empty_value(before) or is_empty_value(after):
        return is_empty_value(before) and is_empty_value(after)
    if isinstance(after, ExactNumber) and isinstance(before, int | float | str):
        if isinstance(before, bool):
            return False
        try:
            return Decimal(repr(before) if isinstance(before, float) else before) == Decimal(after)
        except InvalidOperation:
            return False
    return bool(before == after)


def decide(
    new_hash: str,
    export_date: datetime,
    previous: ItemState | None,
    *,
    send_unchanged: bool = False,
    apply_older_exports: bool = False,
) -> Decision:
    """Create, update, leave alone, or refuse as stale.

    An export dated before the data already applied to the item is *stale*: applying it would
    roll Sales Layer back, whatever order backfill runs finish in. ``apply_older_exports`` lifts
    that guard; ``send_unchanged`` sends unchanged items too.
    """
    if previous is None or previous.deleted:
        return Decision.CREATE
    if previous.export_date > export_date and not apply_older_exports:
        return Decision.STALE
    if previous.content_hash == new_hash and not send_unchanged:
        return Decision.UNCHANGED
    return Decision.UPDATE
