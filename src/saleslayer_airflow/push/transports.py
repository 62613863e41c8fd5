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


#: The status field prefix of each standard table kind, for references sent as ``REF``.
_STATUS_PREFIX = {
    "categories": "cat",
    "products": "prod",
    "variants": "frmt",
    "points_of_sale": "pos",
}


def status_field(kind: str, reference_field: str) -> str | None:
    """Sales Layer's status field on import (``prod_stat``...) for a table, from its reference
    field (``prod_ref``) or, with ``REF``, its kind; None when it cannot be known (a custom
    entity sending ``REF``: name its reference field ``<prefix>_ref`` instead)."""
    if reference_field.endswith("_ref"):
        return reference_field.removesuffix("_ref") + "_stat"
    prefix = _STATUS_PREFIX.get(kind)
    return f"{prefix}_stat" if prefix else None


class ConnectorApiDeletions:
    """Deletes a batch of references through the Import Connector API, or, with ``status``,
    gives them that status (an upsert of the reference and the status field only)."""

    def __init__(
        self,
        client: Any,
        import_table: str,
        reference_field: str,
        *,
        status: tuple[str, str] | None = None,
    ) -> None:
        self.client = client
        self.import_table = import_table
        self.reference_field = reference_field
        self.status = status

    def __call__(self, references: Sequence[str]) -> None:
        if self.status is None:
            self.client.delete(self.import_table, references, self.reference_field)
            return
        field_name, value = self.status
        rows = [{self.reference_field: ref, field_name: value} for ref in references]
        self.client.upsert(self.import_table, rows, ref_field=self.reference_field)
