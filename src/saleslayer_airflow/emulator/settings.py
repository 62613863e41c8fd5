"""Emulator options and faults, as one pydantic model read from YAML and changed at runtime.

Every behaviour the public Sales Layer docs leave open is a field here, with the stricter reading
as the default (docs/emulator.md lists them all in one place).
"""

from __future__ import annotations

from pathlib import Path
from typing import Any, Literal

import yaml
from pydantic import BaseModel, ConfigDict, Field, model_validator

FaultKind = Literal["ok", "429", "5xx", "slow", "drop", "error_10", "error_11", "error_14"]
"""What one request may get instead of a normal answer (``ok``: no fault)."""

FAULT_ORDER: tuple[FaultKind, ...] = (
    "429",
    "5xx",
    "slow",
    "drop",
    "error_10",
    "error_11",
    "error_14",
)
"""The order in which shares are laid end to end on [0, 1) when one random draw picks a fault."""

LEGACY_FAULTS: frozenset[str] = frozenset({"error_10", "error_11", "error_14"})


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", validate_assignment=True)


class RouteFaults(_Strict):
    """Faults of one route group (``connector_api``, ``tracking`` or ``rest``).

    A request first takes the next entry of ``script`` (if any is left); otherwise one draw of a
    ``random.Random(seed)`` kept for this route picks a fault by the shares below, laid end to end
    in the order 429, 5xx, slow, drop, error_10, error_11, error_14. The same seed and the same
    request sequence give the same faults.
    """

    seed: int = 0
    script: list[FaultKind] = Field(default_factory=list)
    share_429: float = Field(default=0.0, ge=0.0, le=1.0)
    share_5xx: float = Field(default=0.0, ge=0.0, le=1.0)
    share_slow: float = Field(default=0.0, ge=0.0, le=1.0)
    share_drop: float = Field(default=0.0, ge=0.0, le=1.0)
    share_error_10: float = Field(default=0.0, ge=0.0, le=1.0)
    share_error_11: float = Field(default=0.0, ge=0.0, le=1.0)
    share_error_14: float = Field(default=0.0, ge=0.0, le=1.0)
    status_5xx: int = Field(default=503, ge=500, le=599)
    slow_seconds: float = Field(default=5.0, ge=0.0)
    retry_after_seconds: float = Field(default=1, ge=0)
    """``Retry-After`` of fault 429s. HTTP allows whole seconds only; a fraction (``0.2``) is
    sent as written, for quick tests and soaks only (a client must accept decimal seconds)."""
    job_failure_share: float = Field(default=0.0, ge=0.0, le=1.0)
    """Tracking only: the share of accepted imports whose job ends in ``error`` (nothing written);
    drawn from a second ``random.Random(seed)`` so request faults do not shift it."""

    def share(self, kind: FaultKind) -> float:
        """The configured share of one fault kind."""
        value: float = getattr(self, f"share_{kind}")
        return value

    @model_validator(mode="after")
    def _shares_fit(self) -> RouteFaults:
        total = sum(self.share(kind) for kind in FAULT_ORDER)
        if total > 1.0 + 1e-9:
            raise ValueError(f"the fault shares add up to {total:.3f}; they must add up to <= 1")
        return self


class Faults(_Strict):
    """Faults per route group."""

    connector_api: RouteFaults = Field(default_factory=RouteFaults)
    tracking: RouteFaults = Field(default_factory=RouteFaults)
    rest: RouteFaults = Field(default_factory=RouteFaults)

    @model_validator(mode="after")
    def _no_legacy_codes_on_rest(self) -> Faults:
        rest = self.rest
        legacy_shares = (rest.share_error_10, rest.share_error_11, rest.share_error_14)
        if any(legacy_shares) or LEGACY_FAULTS & set(rest.script):
            raise ValueError(
                "faults.rest: legacy error codes 10/11/14 belong to the Import Connector API; "
                "use 429 or 5xx for the REST API"
            )
        return self


class RateLimit(_Strict):
    """The Catalog REST limit: ``requests`` per ``window_seconds`` per API key, sliding window."""

    enabled: bool = True
    requests: int = Field(default=50, ge=1)
    window_seconds: float = Field(default=10.0, gt=0.0)


class ConnectorApiSettings(_Strict):
    """Open points of the Import Connector API (``POST /``)."""

    time_window_seconds: int = Field(default=300, ge=0)
    """A ``time`` older than this is code 13; further in the future it is code 12."""
    reject_reused_unique: bool = True
    """A (code, unique) pair seen before within the time window is code 3 (replay)."""
    unknown_fields: Literal["reject", "ignore"] = "reject"
    max_items_per_call: int = Field(default=50_000, ge=1)
    busy_while_job_running: bool = False
    """When on, a call for a connector whose previous job has not ended gets code 14."""
    denials_name_items: bool = True
    """How a denied call (``result: 2``) words the errors about its items: naming each item
    (``points_of_sale ST-1: ...``, ``products[3]: ...``), or, when off, giving only the reason,
    as the public docs do not promise Sales Layer names them (a client must then bisect)."""


class TrackingSettings(_Strict):
    """How an import job moves ``prepare`` -> ``started`` -> ``end``.

    The job's step is the larger of the number of tracking polls already answered and the seconds
    since it was accepted divided by ``seconds_per_step`` (0 turns time off: polls only). Step 0 is
    ``prepare``, steps between are ``started``, ``steps_to_end`` is ``end`` (the items are written
    then). ``steps_to_end: 0`` writes at once, as does ``input_data_directly=1``.
    """

    steps_to_end: int = Field(default=2, ge=0)
    seconds_per_step: float = Field(default=1.0, ge=0.0)
    tick_seconds: float = Field(default=0.2, gt=0.0)


class RestSettings(_Strict):
    """Open points of the Catalog REST API v2."""

    patch_status: Literal[200, 204] = 204
    top_over_max: Literal["empty", "clamp", "error"] = "empty"
    max_top: int = Field(default=100, ge=1)
    duplicate_ref_on_post: Literal["allow", "reject"] = "allow"
    immutable_fields: Literal["reject", "ignore"] = "reject"
    missing_product_status: Literal[400, 404] = 400
    error_body: Literal["problem", "string"] = "problem"
    check_custom_links: bool = True
    inferred_changelogs: bool = False
    """Serve ``Products/Changelog``, ``Variants/Changelog`` and ``Categories/Changelog`` too;
    only the custom-entity changelog path is confirmed, so they are 404 unless switched on."""
    access: Literal["read_write", "read_only", "disabled"] = "read_write"
    """The account's REST feature: ``read_only`` answers writes 403, ``disabled`` every call
    (after authentication: a wrong key is still 401)."""


class EmulatorSettings(_Strict):
    """Everything the emulator can be told, beyond the tenant model."""

    connector_api: ConnectorApiSettings = Field(default_factory=ConnectorApiSettings)
    tracking: TrackingSettings = Field(default_factory=TrackingSettings)
    rest: RestSettings = Field(default_factory=RestSettings)
    rate_limit: RateLimit = Field(default_factory=RateLimit)
    faults: Faults = Field(default_factory=Faults)
    refuse: dict[str, dict[str, str]] = Field(default_factory=dict)
    """Items refused as Sales Layer refuses data it does not accept: table (import name) ->
    reference -> reason, e.g. ``{products: {P-7: "Invalid value for field prod_price"}}``. An
    Import Connector call holding one is denied whole (``result: 2``, nothing written); a REST
    write of one is answered 400 with the reason. A settings patch's ``refuse`` replaces the
    one set before (``refuse: {}`` lifts every refusal)."""

    def merged(self, patch: dict[str, Any]) -> EmulatorSettings:
        """A copy with ``patch`` (a partial settings mapping) deep-merged over these settings
        (but ``refuse``, which it replaces)."""
        base = self.model_dump()
        if "refuse" in patch:
            base["refuse"] = {}
        return EmulatorSettings.model_validate(_deep_merge(base, patch))


def _deep_merge(base: dict[str, Any], patch: dict[str, Any]) -> dict[str, Any]:
    out = dict(base)
    for key, value in patch.items():
        if isinstance(value, dict) and isinstance(out.get(key), dict):
            out[key] = _deep_merge(out[key], value)
        else:
            out[key] = value
    return out


def load_settings(path: Path | None) -> EmulatorSettings:
    """Settings from a YAML file (every key optional), or the defaults when ``path`` is None."""
    if path is None:
        return EmulatorSettings()
    data = yaml.safe_load(path.read_text(encoding="utf-8")) or {}
    if not isinstance(data, dict):
        raise ValueError(f"{path}: the settings file must hold a mapping at the top level")
    return EmulatorSettings.model_validate(data)
