"""The connectors' memory between runs: what was pushed, when, from which export.

Per connector, table and reference it keeps the hash of the content last applied, the Sales Layer
id when known and the date of the export the data came from. It drives the delta (send only what
changed), the backfill guard (never apply an older export over a newer one) and resumable pushes
(acknowledged batches are not sent again). Which export was imported last, for the "unchanged
export" skip, is in saleslayer_airflow.import_history (written by the report stage).
"""

from __future__ import annotations

from saleslayer_airflow.state.delta import Decision, content_hash, decide
from saleslayer_airflow.state.store import (
    AppliedItem,
    BatchTotals,
    ItemState,
    StateStore,
)

__all__ = [
    "AppliedItem",
    "BatchTotals",
    "Decision",
    "ItemState",
    "StateStore",
    "content_hash",
    "decide",
]
