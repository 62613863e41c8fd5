"""`target:` the Sales Layer account written to, and how."""

from __future__ import annotations

from enum import StrEnum

from pydantic import (
    Field,
    model_validator,
)

from saleslayer_airflow.config.common import (
    ConnId,
    StrictModel,
)
from saleslayer_airflow.config.tables import OnEmpty


class Transport(StrEnum):
    """How upserts reach Sales Layer."""

    CONNECTOR_API = "connector_api"
    REST = "rest"


class DeletionAction(StrEnum):
    """What happens to items missing from a complete export."""

    DELETE = "delete"
    STATUS = "status"


class Deletions(StrictModel):
    """Opt-in clean-up of items that disappeared from an always-complete export."""

    enabled: bool = False
    action: DeletionAction = DeletionAction.DELETE
    status_value: str | None = Field(None, description="With action status: the status to set.")
    max_ratio: float = Field(
        0.05, ge=0, le=1, description="Refuse when more than this share of the items would go."
    )

    @model_validator(mode="after")
    def _status_needs_value(self) -> Deletions:
        if self.action is DeletionAction.STATUS and not self.status_value:
            raise ValueError("action `status` needs `status_value`, e.g. status_value: 'I'")
        return self


class SalesLayerTarget(StrictModel):
    """The Sales Layer account written to, and how."""

    conn_id: ConnId = Field(
        "saleslayer_default",
        description="Airflow connection of type saleslayer (connector code and private key, "
        "or REST API key).",
    )
    transport: Transport = Transport.CONNECTOR_API
    overwrite: bool = Field(
        False, description="Send every item, not only those changed since the last push."
    )
    only_existing: bool = Field(
        False, description="Update existing items only; never create (Sales Layer's own option)."
    )
    dry_run: bool = Field(False, description="Do everything but write; report what would change.")
    on_empty: OnEmpty = Field(
        OnEmpty.CLEAR,
        description="Default of every field's `on_empty`: `clear` sends a field empty in the "
        "export as empty, which clears it in Sales Layer; `keep` leaves the value there.",
    )
    apply_older_exports: bool = Field(
        False,
        description="Let an export dated before the data already applied overwrite it "
        "(off: backfills never roll Sales Layer back).",
    )
    batch_size: int = Field(1000, ge=1, le=50_000, description="Items per call (API max 50,000).")
    max_payload_mb: float = Field(8, gt=0, le=100, description="Payload size cap per call.")
    max_failed_ratio: float = Field(
        0.05,
        ge=0,
        le=1,
        description="Share of a table's items Sales Layer may refuse (each is set aside with "
        "its reason and sent again next run, the rest is pushed) before the table's push task "
        "fails; like validation.max_reject_ratio. 0: any refused item fails the task.",
    )
    pool: str = Field("saleslayer", description="Airflow pool bounding pushes per account.")
    deletions: Deletions = Field(default_factory=Deletions)
