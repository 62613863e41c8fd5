"""``$metadata`` documents (JSON Schema per table) built from the tenant model."""

from __future__ import annotations

from typing import Any

from saleslayer_airflow.emulator.tenant import TableSpec, Tenant

_ENTITY = {
    "category": "Category",
    "product": "Product",
    "variant": "Variant",
    "point_of_sale": "PointOfSale",
}
_ID = {"type": "integer", "minimum": 0, "maximum": 18446744073709552000}


def entity_name(table: TableSpec) -> str:
    """The entity name metadata uses: ``Product``, ``CustomEntity('Brands')``..."""
    if table.kind == "custom":
        return f"CustomEntity('{table.rest_set}')"
    return _ENTITY[table.kind]


def table_schema(tenant: Tenant, table: TableSpec) -> dict[str, Any]:
    """One table as a JSON Schema document, annotated like Sales Layer's own metadata."""
    props: dict[str, Any] = {
        table.id_field: dict(_ID),
        table.ref_field: {"type": "string", "x-custom-type": "reference"},
        table.stat_field: {
            "type": "string",
            "enum": ["V", "I", "D", "R"],
            "x-custom-type": "status",
        },
        table.creation_field: {"type": "string", "format": "date-time", "readOnly": True},
        table.modify_field: {"type": "string", "format": "date-time", "readOnly": True},
    }
    for spec in table.fields:
        if spec.multilingual:
            props[spec.name] = {
                "type": "array",
                "x-cultures": "true",
                "items": {
                    "type": "object",
                    "properties": {
                        "culture": {
                            "type": "string",
                            "enum": list(tenant.languages),
                            "default": tenant.default_language,
                        },
                        "value": {"type": "string"},
                    },
                    "required": ["culture"],
                },
            }
        elif spec.list:
            props[spec.name] = {"type": "string", "x-custom-type": "list"}
        else:
            props[spec.name] = {"type": "string"}
    for link in table.links:
        if link.rest_field:
            props[link.rest_field] = (
                {"type": "array", "items": dict(_ID)} if link.many else dict(_ID)
            )
            props[link.field] = {"type": "string", "readOnly": True}
        else:
            props[link.field] = {"type": "string", "x-custom-type": "reference"}
    name = entity_name(table)
    return {
        "$schema": "https://json-schema.org/draft/2020-12/schema",
        "$id": f"/metadata/emulator/{name}/1.0.0.0",
        "title": name,
        "description": f"{table.import_name} (import name), prefix {table.prefix}_",
        "default": {"culture": tenant.default_language},
        "type": "object",
        "x-storage-object-name": table.import_name,
        "x-storage-object-identifier-attribute": table.id_field,
        "x-storage-object-status-attribute": table.stat_field,
        "properties": props,
    }
