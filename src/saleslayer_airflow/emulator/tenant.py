"""The emulated Sales Layer account: its tables, fields, links, languages and credentials.

Loaded from a YAML file (``default_tenant.yaml`` beside this module when none is given). One model
feeds both APIs: the Import Connector API takes the import names, the REST API the set names.
"""

from __future__ import annotations

from functools import cached_property
from pathlib import Path
from typing import Literal

import yaml
from pydantic import BaseModel, ConfigDict, Field, model_validator

TableKind = Literal["category", "product", "variant", "point_of_sale", "custom"]

STATUSES: frozenset[str] = frozenset({"V", "I", "D", "R"})
"""Writable item statuses; ``X`` (deleted) is reached by deleting."""


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class FieldSpec(_Strict):
    """One attribute of a table. ``name`` is both its "Name on Import" and its REST identifier."""

    name: str = Field(min_length=1, pattern=r"^[A-Za-z][A-Za-z0-9_]*$")
    multilingual: bool = False
    list: bool = False
    """A multi-value field (images, files, tags): comma-separated on import."""


class LinkSpec(_Strict):
    """A link to items of another table.

    ``field`` holds the target reference(s) on import (comma list when ``many``) and is read-only
    on REST reads; ``rest_field`` holds the target id(s) on REST writes and reads. A link without
    ``rest_field`` (custom related-item fields) takes references on REST too.
    """

    field: str = Field(pattern=r"^[A-Za-z][A-Za-z0-9_]*$")
    target: str
    many: bool = False
    rest_field: str | None = Field(default=None, pattern=r"^[A-Za-z][A-Za-z0-9_]*$")
    required: bool = False


class TableSpec(_Strict):
    """One Sales Layer table of the account."""

    import_name: str = Field(pattern=r"^[A-Za-z][A-Za-z0-9_]*$")
    kind: TableKind
    prefix: str = Field(pattern=r"^[a-z][a-z0-9]*$")
    rest_set: str | None = None
    """REST set name (``Products``) or, for custom entities, the denominator (``Brands``)."""
    fields: tuple[FieldSpec, ...] = ()
    links: tuple[LinkSpec, ...] = ()

    @property
    def ref_field(self) -> str:
        """The reference field, e.g. ``prod_ref``."""
        return f"{self.prefix}_ref"

    @property
    def id_field(self) -> str:
        """The server-assigned integer id field, e.g. ``prod_id``."""
        return f"{self.prefix}_id"

    @property
    def stat_field(self) -> str:
        """The status field, e.g. ``prod_stat``."""
        return f"{self.prefix}_stat"

    @property
    def creation_field(self) -> str:
        """The creation timestamp field, e.g. ``prod_creation``."""
        return f"{self.prefix}_creation"

    @property
    def modify_field(self) -> str:
        """The last-change timestamp field, e.g. ``prod_modify``."""
        return f"{self.prefix}_modify"

    @cached_property
    def field_map(self) -> dict[str, FieldSpec]:
        """Plain attributes by name."""
        return {spec.name: spec for spec in self.fields}

    @cached_property
    def link_by_field(self) -> dict[str, LinkSpec]:
        """Links by their reference field name."""
        return {link.field: link for link in self.links}

    @cached_property
    def link_by_rest_field(self) -> dict[str, LinkSpec]:
        """Links by the name REST writes them with (``rest_field``, else ``field``)."""
        return {(link.rest_field or link.field): link for link in self.links}


class ConnectorSpec(_Strict):
    """One Import Connector of the account: its code, private key and import options."""

    code: str = Field(min_length=1)
    private_key: str = Field(min_length=1, repr=False)
    only_import_existing: bool = False
    overwrite: bool = False


class AttributeSetSpec(_Strict):
    """One attribute set (legacy name "family"): which product and variant attributes its
    layouts show. Read-only in the emulator (``AttributeSets`` and ``v2/AttributeSets``)."""

    id: int = Field(ge=1)
    title: str = Field(min_length=1)
    default: bool = False
    product_fields: tuple[str, ...] = ()
    variant_fields: tuple[str, ...] = ()


class Tenant(_Strict):
    """The whole account model."""

    name: str = "Emulated Sales Layer account"
    languages: tuple[str, ...] = ("en",)
    default_language: str = "en"
    new_item_status: Literal["V", "I", "D"] = "V"
    api_keys: tuple[str, ...] = Field(default=(), repr=False)
    connectors: tuple[ConnectorSpec, ...] = ()
    tables: tuple[TableSpec, ...]
    attribute_sets: tuple[AttributeSetSpec, ...] = ()
    """None given: one default set showing every product and variant attribute."""

    @model_validator(mode="after")
    def _consistent(self) -> Tenant:
        if self.default_language not in self.languages:
            raise ValueError(
                f"default_language {self.default_language!r} is not one of the languages "
                f"{list(self.languages)}"
            )
        names = [t.import_name for t in self.tables]
        if len(set(names)) != len(names):
            raise ValueError(f"two tables share an import name: {names}")
        for table in self.tables:
            self._check_table(table, set(names))
        self._check_attribute_sets()
        return self

    def _check_attribute_sets(self) -> None:
        ids = [s.id for s in self.attribute_sets]
        if len(set(ids)) != len(ids):
            raise ValueError(f"two attribute sets share an id: {ids}")
        if sum(s.default for s in self.attribute_sets) > 1:
            raise ValueError("more than one attribute set is marked default")
        for kind, attr in (("product", "product_fields"), ("variant", "variant_fields")):
            table = next((t for t in self.tables if t.kind == kind), None)
            known = set(table.field_map) if table else set()
            for spec in self.attribute_sets:
                unknown = [name for name in getattr(spec, attr) if name not in known]
                if unknown:
                    raise ValueError(
                        f"attribute set {spec.id}: {attr} names {unknown}, which are not "
                        f"attributes of the {kind} table"
                    )

    def _check_table(self, table: TableSpec, names: set[str]) -> None:
        reserved = {
            table.ref_field,
            table.id_field,
            table.stat_field,
            table.creation_field,
            table.modify_field,
        }
        seen: set[str] = set()
        for name in [f.name for f in table.fields] + [
            n for link in table.links for n in (link.field, link.rest_field) if n
        ]:
            if name in reserved or name in seen:
                raise ValueError(f"table {table.import_name}: field {name!r} is declared twice")
            seen.add(name)
        for link in table.links:
            if link.target not in names:
                raise ValueError(
                    f"table {table.import_name}: link {link.field} targets unknown table "
                    f"{link.target!r}; declare it under tables"
                )
        if table.kind != "point_of_sale" and not table.rest_set:
            raise ValueError(f"table {table.import_name}: rest_set is required for {table.kind}")

    def table(self, import_name: str) -> TableSpec | None:
        """The table with this import name, if any."""
        return self._by_import.get(import_name)

    def rest_table(self, set_name: str, *, custom: bool) -> TableSpec | None:
        """The table served under a REST set name or a custom-entity denominator (any case)."""
        for table in self.tables:
            if (table.kind == "custom") != custom or not table.rest_set:
                continue
            if table.rest_set.lower() == set_name.lower():
                return table
        return None

    def connector(self, code: str) -> ConnectorSpec | None:
        """The Import Connector with this code, if any."""
        for connector in self.connectors:
            if connector.code == code:
                return connector
        return None

    @cached_property
    def _by_import(self) -> dict[str, TableSpec]:
        return {t.import_name: t for t in self.tables}


def default_tenant_path() -> Path:
    """The tenant file shipped with the package."""
    return Path(__file__).with_name("default_tenant.yaml")


def load_tenant(path: Path | None = None) -> Tenant:
    """The tenant model from a YAML file (the shipped default tenant when ``path`` is None)."""
    source = path or default_tenant_path()
    data = yaml.safe_load(source.read_text(encoding="utf-8"))
    if not isinstance(data, dict):
        raise ValueError(f"{source}: the tenant file must hold a mapping at the top level")
    return Tenant.model_validate(data)
