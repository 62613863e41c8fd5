"""Send a batch of items to Sales Layer: the bridge from the push pipeline to the API clients."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from saleslayer_airflow.push.encoded import PLACEHOLDER, EncodedBatch, FormEncoding, call_parts
from saleslayer_airflow.push.pipeline import BatchResult, ItemsRefused, SentItem
from saleslayer_airflow.saleslayer.errors import SalesLayerItemsRefused, refusal_reasons
from saleslayer_airflow.tables import KINDS


class ConnectorApiTransport:
    """Upserts a batch through the Import Connector API, one table at a time.

    One call is one checkpoint: :meth:`split` cuts a pipeline batch into the parts the client
    sends in one call each (by item count and encoded size), and the pipeline sends and
    checkpoints each part on its own, so a failure in a later call never makes a retry resend
    an earlier, acknowledged one.

    A call Sales Layer denies because of some of its items (``result: 2``) is raised as
    :class:`~saleslayer_airflow.push.pipeline.ItemsRefused`, naming the items its errors name
    (by position in the call or by reference), for the pipeline to set them aside.

    A staged file's items come encoded on columns (:attr:`form_encoding` tells the pipeline
    how, :class:`~saleslayer_airflow.push.encoded.EncodedBatch`): they are cut by their
    measured sizes and each call's body is their fragments with their index in the call.
    """

    def __init__(self, client: Any, import_table: str, reference_field: str) -> None:
        self.client = client
        self.import_table = import_table
        self.reference_field = reference_field
        #: How the pipeline may encode a staged file's items for this transport.
        self.form_encoding = FormEncoding(import_table, reference_field)
        # The calls split() planned, encoded, until they are sent: items are encoded once.
        self._planned: dict[tuple[str, ...], Any] = {}

    def _rows(self, batch: Sequence[SentItem]) -> list[dict[str, Any]]:
        return [{self.reference_field: s.item.reference, **s.item.fields} for s in batch]

    def split(self, batch: Sequence[SentItem]) -> list[Sequence[SentItem]]:
        """The parts of ``batch`` that go out in one call each."""
        if isinstance(batch, EncodedBatch):
            return [batch.take(range(start, stop)) for start, stop in self._plan(batch)]
        calls = self.client.plan_calls(
            self.import_table, self._rows(batch), ref_field=self.reference_field
        )
        self._planned.clear()
        parts: list[Sequence[SentItem]] = []
        for call in calls:
            part = [batch[position] for position in call.positions]
            self._planned[_key(part)] = call
            parts.append(part)
        return parts

    def _plan(self, batch: EncodedBatch) -> list[tuple[int, int]]:
        """The calls of an encoded batch (its items left to the per-item path encoded first,
        raising the form module's errors as :meth:`split` does for items)."""
        table, ref_field, client = self.import_table, self.reference_field, self.client

        def encode(index: int, fields: dict[str, Any]) -> str:
            row = {ref_field: batch.references[index], **fields}
            return str(
                client.encode_fragment(
                    table, row, index, placeholder=PLACEHOLDER, ref_field=ref_field
                )
            )

        def describe(index: int) -> str:
            row = {ref_field: batch.references[index]}
            return str(client.describe_item(table, index, row, ref_field))

        batch.fill(encode)
        calls: list[tuple[int, int]] = client.plan_sizes(
            table, batch.lengths, batch.holes, describe=describe
        )
        return calls

    def _send_encoded(self, batch: EncodedBatch) -> dict[str, Any]:
        totals: dict[str, Any] = {}
        for start, stop in self._plan(batch):
            fragments: list[str] = batch.fragments[start:stop]  # type: ignore[assignment]
            counts = self.client.send_encoded(self.import_table, call_parts(fragments))
            if not totals:
                totals = counts
                continue
            for name, table_counts in counts.items():
                if name in totals:
                    totals[name].add(table_counts)
                else:
                    totals[name] = table_counts
        return totals

    def __call__(self, batch: Sequence[SentItem]) -> BatchResult:
        encoded = isinstance(batch, EncodedBatch)
        planned = None if encoded else self._planned.pop(_key(batch), None)
        try:
            if isinstance(batch, EncodedBatch):
                counts = self._send_encoded(batch)
            elif planned is not None:
                counts = self.client.send_planned(planned)
            else:
                # A part of a planned call (the rest of a denied one): it fits one call too.
                counts = self.client.upsert(
                    self.import_table, self._rows(batch), ref_field=self.reference_field
                )
        except SalesLayerItemsRefused as denied:
            references = (
                batch.references
                if isinstance(batch, EncodedBatch)
                else [s.item.reference for s in batch]
            )
            raise ItemsRefused(
                str(denied),
                errors=denied.errors,
                reasons=refusal_reasons(denied.errors, self.import_table, references),
            ) from denied
        table_counts = counts.get(self.import_table)
        skipped = int(getattr(table_counts, "skipped", 0) or 0)
        # The Import Connector answers with counts, not ids: ids stay unknown (None).
        return BatchResult([None] * len(batch), skipped=skipped)


def _key(batch: Sequence[SentItem]) -> tuple[str, ...]:
    return tuple(s.item.reference for s in batch)


def status_field(kind: str, reference_field: str) -> str | None:
    """Sales Layer's status field on import (``prod_stat``...) for a table, from its reference
    field (``prod_ref``) or, with ``REF``, its kind; None when it cannot be known (a custom
    entity sending ``REF``: name its reference field ``<prefix>_ref`` instead)."""
    if reference_field.endswith("_ref"):
        return reference_field.removesuffix("_ref") + "_stat"
    prefix = next((s.prefix for k, s in KINDS.items() if k.value == kind), None)
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
