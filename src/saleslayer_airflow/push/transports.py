"""Send a batch of items to Sales Layer: the bridge from the push pipeline to the API clients."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from saleslayer_airflow.push.pipeline import SentItem


class ConnectorApiTransport:
    """Upserts a batch through the Import Connector API, one table at a time.

    One pipeline batch is one checkpoint; the client is given the same item limit, so a batch
    goes out as one call unless its encoded size exceeds the payload cap.
    """

    def __init__(self, client: Any, import_table: str, reference_field: str) -> None:
        self.client = client
        self.import_table = import_table
        self.reference_field = reference_field

    def __call__(self, batch: Sequence[SentItem]) -> list[int | None]:
        rows = [{self.reference_field: s.item.reference, **s.item.fields} for s in batch]
        self.client.upsert(self.import_table, rows, ref_field=self.reference_field)
        # The Import Connector answers with counts, not ids: ids stay unknown (None).
        return [None] * len(batch)
