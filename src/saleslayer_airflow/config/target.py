"""`target:` the Sales Layer account written to, and how."""

from __future__ import annotations

from enum import StrEnum
from typing import Final

from pydantic import (
    Field,
    model_validator,
)

from saleslayer_airflow.config.common import (
    ConnId,
    LocatedValueError,
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


OVERWRITE_DEPRECATED: Final = (
    "target.overwrite is deprecated: rename it to target.send_unchanged (same meaning: send "
    "every item, changed or not)"
)


class SalesLayerTarget(StrictModel):
    """The Sales Layer account written to, and how."""

    conn_id: ConnId = Field(
        "saleslayer_default",
        description="Airflow connection of type saleslayer (connector code and private key, "
        "or REST API key).",
    )
    transport: Transport = Transport.CONNECTOR_API
    send_unchanged: bool = Field(
        False,
        description="Send every item, changed or not, instead of only those changed since the "
        "last push (e.g. to repair data edited by hand in Sales Layer). Formerly `overwrite`.",
    )
    # The old name of send_unchanged, kept so existing files load; the loader and `validate`
    # report it (see config.problems.deprecated_keys). Sales Layer's own connectors call
    # something else `overwrite` (fields a row lacks are cleared), hence the rename. Excluded
    # from dumps: the dump a task re-reads must carry the value under one name only.
    overwrite: bool = Field(
        False,
        deprecated=OVERWRITE_DEPRECATED,
        exclude=True,
        repr=False,
        description="Deprecated old name of `send_unchanged` (same meaning): rename the key.",
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

    @model_validator(mode="after")
    def _renamed_overwrite(self) -> SalesLayerTarget:
        given = self.model_fields_set
        if "overwrite" not in given:
            return self
        if "send_unchanged" in given:
            raise LocatedValueError(
                ("overwrite",),
                "target.send_unchanged is given too, and target.overwrite is its deprecated old "
                "name: keep `send_unchanged` and delete this `overwrite:` line",
            )
        # Through __dict__: the model is frozen, and the deprecated attribute warns when read.
        # Afterwards the config equals one written with the new key, so it behaves the same.
        self.__dict__["send_unchanged"] = self.__dict__["overwrite"]
        self.__dict__["overwrite"] = False
        return self
