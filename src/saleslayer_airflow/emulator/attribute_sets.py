"""Attribute sets as the Catalog REST API shows them, read-only, from the tenant model.

Two shapes: ``AttributeSets`` (OData list of ``typ_id``, ``typ_title``, ``typ_stat``...) and
``v2/AttributeSets`` (``id``, ``name``, ``isDefault`` and the product and variant layouts:
sections of rows of fields ``{attributeId, size}`` with a ``dividerType``). A tenant without
attribute sets has one default set (id 1) showing every product and variant attribute.
"""

from __future__ import annotations

from typing import Any

from saleslayer_airflow.emulator.tenant import AttributeSetSpec, Tenant

CREATED = "2026-01-01T00:00:00.000000Z"
"""Creation and change time of every attribute set: the emulator never changes them."""

V1_PROPERTIES = frozenset({"typ_id", "typ_title", "typ_stat", "typ_creation", "typ_modify"})
V2_PROPERTIES = frozenset({"id", "name", "isDefault", "productLayout", "variantLayout"})


def attribute_sets(tenant: Tenant) -> list[AttributeSetSpec]:
    """The tenant's attribute sets, or the one default set when it declares none."""
    if tenant.attribute_sets:
        return sorted(tenant.attribute_sets, key=lambda s: s.id)
    fields = {t.kind: tuple(f.name for f in t.fields) for t in tenant.tables}
    return [
        AttributeSetSpec(
            id=1,
            title="Default",
            default=True,
            product_fields=fields.get("product", ()),
            variant_fields=fields.get("variant", ()),
        )
    ]


def v1_record(tenant: Tenant, spec: AttributeSetSpec) -> dict[str, Any]:
    """One set as ``GET AttributeSets`` lists it (multilingual title keyed by culture)."""
    return {
        "typ_id": spec.id,
        "typ_title": {tenant.default_language: spec.title},
        "typ_stat": "V",
        "typ_creation": CREATED,
        "typ_modify": CREATED,
    }


def _layout(fields: tuple[str, ...]) -> dict[str, Any]:
    rows = [
        {"fields": [{"attributeId": name, "size": "half"} for name in fields[i : i + 2]]}
        for i in range(0, len(fields), 2)
    ]
    return {"sections": [{"dividerType": "normal", "rows": rows}] if rows else []}


def v2_record(spec: AttributeSetSpec) -> dict[str, Any]:
    """One set as ``GET v2/AttributeSets`` answers it."""
    return {
        "id": spec.id,
        "name": spec.title,
        "isDefault": spec.default,
        "productLayout": _layout(spec.product_fields),
        "variantLayout": _layout(spec.variant_fields),
    }
