"""The tenant model as Markdown, kept in docs/emulator.md between two marker comments.

``python -m saleslayer_airflow.emulator tenant-doc`` writes it; ``--check`` (and a test) fails
when the document no longer says what ``default_tenant.yaml`` holds, so the tables and fields a
client may send are never documented by hand.
"""

from __future__ import annotations

from pathlib import Path

from saleslayer_airflow.emulator.tenant import FieldSpec, LinkSpec, TableKind, TableSpec, Tenant

BEGIN = "<!-- default-tenant:begin -->"
END = "<!-- default-tenant:end -->"
REGENERATE = "python -m saleslayer_airflow.emulator tenant-doc"

_SALES_LAYER_TABLE: dict[TableKind, str] = {
    "category": "categories",
    "product": "products",
    "variant": "variants",
    "point_of_sale": "points of sale",
    "custom": "custom entity",
}
"""What each kind of table is in Sales Layer's own words."""

_CONNECTOR_TABLE: dict[TableKind, str] = {
    "category": "`categories`",
    "product": "`products`",
    "variant": "`variants`",
    "point_of_sale": "`points_of_sale`",
    "custom": "any name, `kind: custom_entity`",
}
"""The table key (or kind) a connector file of this project gives a table of each kind."""


class TenantDocError(ValueError):
    """The document cannot take the generated section (its markers are missing)."""


def _code(names: list[str]) -> str:
    return ", ".join(f"`{name}`" for name in names)


def _field_row(tenant: Tenant, spec: FieldSpec, rest: bool) -> str:
    if spec.multilingual:
        columns = [f"{spec.name}_{language}" for language in tenant.languages]
        on_import = f"{_code(columns)}; bare `{spec.name}`: `{tenant.default_language}`"
        kind = "multilingual text"
    else:
        on_import = f"`{spec.name}`"
        kind = "list, comma-separated" if spec.list else "text"
    return f"| {on_import} | {_code([spec.name]) if rest else '-'} | {kind} |"


def _link_row(link: LinkSpec, rest: bool) -> str:
    target = f"`{link.target}` reference"
    kind = f"link to {target}s, comma-separated" if link.many else f"link to one {target}"
    if link.required:
        kind += " (mandatory for a new item)"
    on_rest = "-"
    if rest and link.rest_field:
        ids = "ids, a list" if link.many else "an id"
        on_rest = f"`{link.rest_field}` ({ids}); `{link.field}` read-only"
    elif rest:
        on_rest = f"`{link.field}` (references)"
    return f"| `{link.field}` | {on_rest} | {kind} |"


def _rest_name(table: TableSpec) -> str | None:
    if not table.rest_set:
        return None
    if table.kind == "custom":
        return f"CustomEntities('{table.rest_set}')"
    return table.rest_set


def _table_section(tenant: Tenant, table: TableSpec) -> list[str]:
    rest_set = _rest_name(table)
    rest = rest_set is not None

    def on_rest(*names: str) -> str:
        return _code(list(names)) if rest else "-"

    lines = [
        f"#### `{table.import_name}` ({_SALES_LAYER_TABLE[table.kind]}, "
        f"{f'REST `{rest_set}`' if rest_set else 'no REST set'})",
        "",
        "| On import | On REST | What |",
        "|---|---|---|",
        f"| `{table.ref_field}` or `REF` | {on_rest(table.ref_field)} | reference (mandatory) |",
        f"| `ID` | {on_rest(table.id_field)} | Sales Layer id, server-assigned: names a stored "
        "item |",
        f"| `{table.stat_field}` | {on_rest(table.stat_field)} | status `V`, `I`, `D`, `R`; "
        "`X` deletes |",
    ]
    lines += [_field_row(tenant, spec, rest) for spec in table.fields]
    lines += [_link_row(link, rest) for link in table.links]
    if rest:
        timestamps = on_rest(table.creation_field, table.modify_field)
        lines.append(f"| - | {timestamps} | read-only timestamps |")
    return [*lines, ""]


def _attribute_sets(tenant: Tenant) -> list[str]:
    if not tenant.attribute_sets:
        return [
            "Attribute sets: one, id 1 `Default`, showing every product and variant attribute.",
            "",
        ]
    lines = [
        "| Attribute set | Default | Product attributes | Variant attributes |",
        "|---|---|---|---|",
    ]
    for spec in tenant.attribute_sets:
        lines.append(
            f"| {spec.id} `{spec.title}` | {'yes' if spec.default else 'no'} | "
            f"{_code(list(spec.product_fields))} | {_code(list(spec.variant_fields))} |"
        )
    return [*lines, ""]


def render(tenant: Tenant, source: str = "default_tenant.yaml") -> str:
    """The generated section (markers included) describing ``tenant``, read from ``source``."""
    lines = [
        BEGIN,
        f"<!-- Generated from {source} by `{REGENERATE}`; edit the YAML, not this part. -->",
        "",
        f"Account `{tenant.name}`: languages {_code(list(tenant.languages))} (default "
        f"`{tenant.default_language}`); an item created without a status gets "
        f"`{tenant.new_item_status}`.",
        "",
        "| Table on import | Sales Layer table | Connector file table | REST | Prefix |",
        "|---|---|---|---|---|",
    ]
    for table in tenant.tables:
        rest_set = _rest_name(table)
        rest = f"`{rest_set}`" if rest_set else "none (Import Connector only)"
        lines.append(
            f"| `{table.import_name}` | {_SALES_LAYER_TABLE[table.kind]} | "
            f"{_CONNECTOR_TABLE[table.kind]} | {rest} | `{table.prefix}_` |"
        )
    lines.append("")
    lines += [
        "| Connector code | Only import existing items | Overwrite |",
        "|---|---|---|",
    ]
    for connector in tenant.connectors:
        lines.append(
            f"| `{connector.code}` | {'yes' if connector.only_import_existing else 'no'} | "
            f"{'yes' if connector.overwrite else 'no'} |"
        )
    lines.append("")
    lines += _attribute_sets(tenant)
    for table in tenant.tables:
        lines += _table_section(tenant, table)
    lines.append(END)
    return "\n".join(lines)


def updated(document: str, section: str) -> str:
    """``document`` with its generated section replaced by ``section``."""
    start, end = document.find(BEGIN), document.find(END)
    if start < 0 or end < start:
        raise TenantDocError(
            f"the document has no {BEGIN} ... {END} pair; put both markers, on lines of their "
            "own, where the tenant's tables go"
        )
    return document[:start] + section + document[end + len(END) :]


def write(doc: Path, tenant: Tenant, source: str = "default_tenant.yaml") -> bool:
    """Rewrite the generated section of ``doc``; whether it changed."""
    text = doc.read_text(encoding="utf-8")
    new = updated(text, render(tenant, source))
    if new != text:
        doc.write_text(new, encoding="utf-8")
    return new != text


def is_current(doc: Path, tenant: Tenant, source: str = "default_tenant.yaml") -> bool:
    """Whether ``doc`` already holds the section :func:`render` makes."""
    text = doc.read_text(encoding="utf-8")
    return updated(text, render(tenant, source)) == text
