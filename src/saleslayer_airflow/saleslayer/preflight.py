"""Check a connector's Sales Layer names against the account before anything is sent.

Sales Layer refuses a call that names an unknown field, but only when that call arrives: a typo
in the products' fields was found after the categories were already imported (a partial
import). Every push task therefore checks ALL the connector's tables first: each table's name on
import, its reference field, every field as the connector sends it (``<field>_<lang>`` per
language), its parent link and its ``links:``, with their targets; it fails with every unknown
name at once, each with its config path (``tables.products.fields.prod_titel``), a "did you
mean" and the account's fields of that table.

Where the account's model comes from, first that applies:

1. the Catalog REST API's ``$metadata`` when the connection has ``rest_url`` and ``api_key``
   (one read per task);
2. the connection's extra ``account_schema``: the model written by hand (see
   :func:`declared_schema` for its shape), as JSON/YAML text, a mapping, or a file path;
3. nothing: the Import Connector API has no documented call that checks names without
   importing (its ``test`` parameter is listed without any stated meaning), so the check is
   skipped with one log line saying how to enable it. Lacking a model is never a failure.
"""

from __future__ import annotations

import difflib
import json
import re
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

from saleslayer_airflow.exceptions import SalesLayerApiError, TerminalError
from saleslayer_airflow.tables import KINDS, TableKind

if TYPE_CHECKING:
    from saleslayer_airflow.config.models import ConnectorConfig
    from saleslayer_airflow.config.tables import TableMapping
    from saleslayer_airflow.contracts import StageLog
    from saleslayer_airflow.saleslayer.hook import SalesLayerHook

#: The connection extra holding a hand-written account model.
SCHEMA_EXTRA = "account_schema"
#: Where the check and the extra are documented (named in messages).
DOCS = "README.md, section 'Sales Layer field check'"

_LANG_SUFFIX = re.compile(r"(.+)_([A-Za-z]{2}(?:-[A-Za-z]{2})?)")
#: Entity titles of the REST ``$metadata`` -> the table kind and its default name on import.
_TITLES: dict[str, TableKind] = {
    "category": TableKind.CATEGORIES,
    "categories": TableKind.CATEGORIES,
    "product": TableKind.PRODUCTS,
    "products": TableKind.PRODUCTS,
    "variant": TableKind.VARIANTS,
    "variants": TableKind.VARIANTS,
    "pointofsale": TableKind.POINTS_OF_SALE,
    "pointsofsale": TableKind.POINTS_OF_SALE,
}
_CUSTOM_TITLE = re.compile(r"CustomEntit(?:y|ies)\('(.*)'\)")


class UnknownSalesLayerNames(TerminalError):
    """The connector names tables, fields or link targets the Sales Layer account does not
    have; nothing was sent. Terminal: the connector file (or the account) must change."""

    def __init__(self, connector_id: str, problems: Sequence[NameProblem], source: str) -> None:
        self.connector_id = connector_id
        self.problems = tuple(problems)
        self.source = source
        tables = sorted({p.table for p in self.problems})
        lines = "\n".join(f"- {p.path}: {p.message}" for p in self.problems)
        super().__init__(
            f"connector {connector_id!r}: {len(self.problems)} name(s) in table(s) "
            f"{', '.join(tables)} are not in the Sales Layer account ({source}); nothing was "
            f"sent:\n{lines}\nFix: correct these names in the connector file (they are Sales "
            "Layer's names on import, case-sensitive; a multi-language field is sent as "
            "<field>_<lang>), or add the fields or tables to the account, then run again"
        )


@dataclass(frozen=True)
class NameProblem:
    """One unknown name: the connector table key, its config path and what is wrong."""

    table: str
    path: str
    message: str


@dataclass(frozen=True)
class AccountField:
    """A field of an account table. ``multilingual`` None: the model does not say."""

    name: str
    multilingual: bool | None = None


@dataclass
class AccountTable:
    """A table of the account: its name on import, the names a table of some kind or a custom
    entity's denominator also find it by, its fields, and its link fields with their target
    (a table name; None when the model does not say)."""

    name: str
    fields: dict[str, AccountField] = field(default_factory=dict)
    links: dict[str, str | None] = field(default_factory=dict)
    kind: TableKind | None = None
    aliases: set[str] = field(default_factory=set)

    def names(self) -> list[str]:
        """Every field and link name, sorted."""
        return sorted(set(self.fields) | set(self.links))

    def shown(self, limit: int = 40) -> str:
        names = self.names()
        more = f", ... ({len(names) - limit} more)" if len(names) > limit else ""
        return ", ".join(names[:limit]) + more


@dataclass
class AccountSchema:
    """The account's model: tables by name on import, its languages (empty: not known), and
    where it was read (named in messages)."""

    tables: dict[str, AccountTable]
    languages: tuple[str, ...]
    source: str

    def find(self, name: str, kind: TableKind | None) -> AccountTable | None:
        """The account table a connector table writes to: by name on import, else (case
        aside) by alias, else the only table of its standard kind."""
        if name in self.tables:
            return self.tables[name]
        folded = name.casefold()
        for table in self.tables.values():
            if folded in {a.casefold() for a in table.aliases | {table.name}}:
                return table
        if kind is not None and kind is not TableKind.CUSTOM_ENTITY:
            of_kind = [t for t in self.tables.values() if t.kind is kind]
            if len(of_kind) == 1:
                return of_kind[0]
        return None


# -- the model from the REST $metadata ----------------------------------------------------------


def _multilingual(spec: Mapping[str, Any]) -> bool:
    if str(spec.get("x-cultures", "")).lower() == "true":
        return True
    items = spec.get("items")
    return isinstance(items, Mapping) and "culture" in (items.get("properties") or {})


def _cultures(spec: Mapping[str, Any]) -> list[str]:
    items = spec.get("items")
    culture = (items.get("properties") or {}).get("culture") if isinstance(items, Mapping) else None
    enum = culture.get("enum") if isinstance(culture, Mapping) else None
    return [str(c) for c in enum] if isinstance(enum, list) else []


def _kind_of_title(title: str) -> tuple[TableKind | None, str | None]:
    if match := _CUSTOM_TITLE.fullmatch(title.strip()):
        return TableKind.CUSTOM_ENTITY, match.group(1)
    return _TITLES.get(re.sub(r"[^a-z]", "", title.lower())), None


def schema_from_metadata(documents: Iterable[Mapping[str, Any]], source: str) -> AccountSchema:
    """The account model from the JSON Schemas of a REST ``$metadata`` answer."""
    tables: dict[str, AccountTable] = {}
    languages: list[str] = []
    for doc in documents:
        props = doc.get("properties")
        if not isinstance(props, Mapping):
            continue
        kind, denominator = _kind_of_title(str(doc.get("title") or ""))
        name = str(doc.get("x-storage-object-name") or "")
        if not name:
            spec = KINDS.get(kind) if kind is not None else None
            name = (spec.import_table if spec else None) or denominator or str(doc.get("title"))
        table = tables.setdefault(name, AccountTable(name, kind=kind))
        table.aliases.update(a for a in (denominator, kind.value if kind else None) if a)
        id_field = str(doc.get("x-storage-object-identifier-attribute") or "")
        own_ref = id_field.removesuffix("_id") + "_ref" if id_field.endswith("_id") else None
        for prop, spec in props.items():
            if not isinstance(spec, Mapping) or prop[:1].isupper():
                continue  # navigation collections (Products, Variants...) are not fields
            multilingual = _multilingual(spec)
            if multilingual:
                languages += [c for c in _cultures(spec) if c not in languages]
            if spec.get("x-custom-type") == "reference" and prop != own_ref:
                table.links[prop] = None
            else:
                table.fields[prop] = AccountField(prop, multilingual)
    _standard_links(tables)
    return AccountSchema(tables, tuple(languages), source)


def _standard_links(tables: dict[str, AccountTable]) -> None:
    """Give the standard parent links (which ``$metadata`` lists as plain or id fields) their
    target: a category's parent and a product's categories are categories, a variant's
    product a product."""
    by_kind = {t.kind: t.name for t in tables.values() if t.kind is not None}
    for table in tables.values():
        wanted: dict[str, TableKind] = {}
        if table.kind is TableKind.CATEGORIES:
            wanted = {"cat_parent_ref": TableKind.CATEGORIES, "cat_parent_id": TableKind.CATEGORIES}
        elif table.kind is TableKind.PRODUCTS:
            wanted = {"cat_ref": TableKind.CATEGORIES, "cat_id": TableKind.CATEGORIES}
        elif table.kind is TableKind.VARIANTS:
            wanted = {"prod_ref": TableKind.PRODUCTS, "prod_id": TableKind.PRODUCTS}
        for name, target_kind in wanted.items():
            if name in table.fields or name in table.links:
                table.fields.pop(name, None)
                table.links[name] = by_kind.get(target_kind)


# -- the model declared in the connection --------------------------------------------------------


class DeclaredSchemaError(TerminalError):
    """The connection's extra ``account_schema`` cannot be read; the message says why."""


def declared_schema(value: Any, conn_id: str) -> AccountSchema:
    """The account model the connection's extra ``account_schema`` declares.

    Its value is a mapping (or JSON/YAML text of one, or the path of a ``.json``/``.yaml``
    file holding one) in one of two shapes::

        {"products": ["prod_ref", "prod_title", "cat_ref"], "catalogue": [...]}

        {"languages": ["en", "es"],
         "tables": {"products": {"fields": ["prod_ref", "prod_title"],
                                 "links": {"cat_ref": "catalogue", "prod_brand": "brands"}}}}

    Table keys are Sales Layer's names on import (``catalogue``, ``products``,
    ``product_formats``, ``points_of_sale``, a custom entity's name); fields are names on import.
    A declared field also accepts its ``<field>_<lang>`` forms (for the ``languages`` given, or
    any code when none are); ``links`` names each link field's target table.
    """
    where = f"Airflow connection {conn_id!r}, extra {SCHEMA_EXTRA!r}"
    data = _load_declared(value, where)
    if not isinstance(data, Mapping) or not data:
        raise DeclaredSchemaError(f"{where}: expected a mapping of tables (see {DOCS})")
    languages: list[str] = []
    raw_tables: Any = data
    if isinstance(data.get("tables"), Mapping):
        raw_tables = data["tables"]
        raw_languages = data.get("languages") or []
        if not isinstance(raw_languages, list):
            raise DeclaredSchemaError(f"{where}: 'languages' must be a list of codes")
        languages = [str(code) for code in raw_languages]
    tables: dict[str, AccountTable] = {}
    for name, body in raw_tables.items():
        table = AccountTable(str(name))
        fields: Any = body
        links: Any = {}
        if isinstance(body, Mapping):
            fields, links = body.get("fields") or [], body.get("links") or {}
        if not isinstance(fields, list) or not isinstance(links, Mapping):
            raise DeclaredSchemaError(
                f"{where}: table {name!r} must be a list of field names, or "
                "{fields: [names], links: {field: target table}}"
            )
        table.fields = {str(f): AccountField(str(f)) for f in fields}
        table.links = {str(k): None if v is None else str(v) for k, v in links.items()}
        tables[table.name] = table
    return AccountSchema(tables, tuple(languages), f"the schema declared in {where}")


def _load_declared(value: Any, where: str) -> Any:
    if isinstance(value, Mapping):
        return value
    text = str(value).strip()
    if not text.startswith(("{", "[")):
        path = Path(text).expanduser()
        if not path.is_file():
            raise DeclaredSchemaError(
                f"{where}: {text!r} is neither JSON/YAML text nor a readable file"
            )
        text = path.read_text(encoding="utf-8")
    try:
        return json.loads(text)
    except ValueError:
        pass
    import yaml

    try:
        return yaml.safe_load(text)
    except yaml.YAMLError as exc:
        raise DeclaredSchemaError(f"{where}: not valid JSON or YAML ({exc})") from None


# -- the check ----------------------------------------------------------------------------------


def _suggest(name: str, candidates: Iterable[str]) -> str:
    close = difflib.get_close_matches(name, list(candidates), n=3, cutoff=0.75)
    return f"; did you mean {' or '.join(repr(c) for c in close)}?" if close else ""


def _target_name(config: ConnectorConfig, name: str) -> str:
    """The name on import of the table a link of the connector points at (a table key of the
    connector, a kind naming the connector's table of that kind, or a Sales Layer table)."""
    if name in config.tables:
        return config.tables[name].import_table(name)
    if name in {k.value for k in TableKind}:
        kind = TableKind(name)
        for key, mapping in config.tables.items():
            if mapping.resolved_kind(key) is kind:
                return mapping.import_table(key)
        return KINDS[kind].import_table or name
    return name


class _Checker:
    def __init__(self, config: ConnectorConfig, schema: AccountSchema) -> None:
        self.config, self.schema = config, schema
        self.problems: list[NameProblem] = []

    def add(self, table: str, path: str, message: str) -> None:
        self.problems.append(NameProblem(table, path, message))

    def run(self) -> list[NameProblem]:
        for key, mapping in self.config.tables.items():
            self.table(key, mapping)
        return self.problems

    def table(self, key: str, mapping: TableMapping) -> None:
        import_name = mapping.import_table(key)
        account = self.schema.find(import_name, mapping.resolved_kind(key))
        if account is None:
            path = f"tables.{key}" + (".sales_layer_table" if mapping.sales_layer_table else "")
            known = sorted(self.schema.tables)
            self.add(
                key,
                path,
                f"Sales Layer table {import_name!r} is not in the account"
                f"{_suggest(import_name, known)} The account's tables: {', '.join(known)}",
            )
            return
        if mapping.reference_field != "REF":
            self.field_name(key, f"tables.{key}.reference_field", mapping.reference_field, account)
        for name, spec in mapping.fields.items():
            path = f"tables.{key}.fields.{name}"
            if spec.languages is None:
                self.field_name(key, path, name, account)
            else:
                self.languages(key, path, name, list(spec.languages), account)
        if mapping.path is not None and mapping.path.title is not None:
            # every level's title (path.title) is a field like the others
            title, path = mapping.path.title, f"tables.{key}.path.title"
            if title.languages is None:
                self.field_name(key, path, title.field, account)
            else:
                self.languages(key, path, title.field, list(title.languages), account)
        self.parent(key, mapping, account)
        for link, ref_list in mapping.links.items():
            self.link(key, f"tables.{key}.links.{link}", ref_list.field or link, link, account)

    def known(self, name: str, account: AccountTable) -> bool:
        if name in account.fields or name in account.links:
            return True
        # A multi-language field sent as <field>_<lang>, as the Import Connector takes it.
        match = _LANG_SUFFIX.fullmatch(name)
        if match is None:
            return False
        base, lang = match.groups()
        spec = account.fields.get(base)
        return (
            spec is not None
            and spec.multilingual is not False
            and (not self.schema.languages or lang in self.schema.languages)
        )

    def field_name(self, key: str, path: str, name: str, account: AccountTable) -> None:
        if not self.known(name, account):
            self.unknown(key, path, name, account)

    def unknown(self, key: str, path: str, name: str, account: AccountTable) -> None:
        self.add(
            key,
            path,
            f"table {account.name!r} has no field {name!r}{_suggest(name, account.names())} "
            f"Its fields: {account.shown()}",
        )

    def languages(
        self, key: str, path: str, name: str, languages: list[str], account: AccountTable
    ) -> None:
        spec = account.fields.get(name)
        if spec is None:
            sent = ", ".join(f"{name}_{lang}" for lang in languages)
            self.add(
                key,
                path,
                f"table {account.name!r} has no multi-language field {name!r} (sent as {sent})"
                f"{_suggest(name, account.names())} Its fields: {account.shown()}",
            )
            return
        if spec.multilingual is False:
            self.add(
                key,
                path,
                f"field {name!r} of table {account.name!r} is not multi-language in the "
                f"account: remove `languages` (one column) or use a multi-language field",
            )
            return
        wrong = [
            lang
            for lang in languages
            if self.schema.languages and lang not in self.schema.languages
        ]
        for lang in wrong:
            self.add(
                key,
                f"{path}.languages",
                f"per-language field {name}_{lang!s} is not in table {account.name!r}: the "
                f"account's languages are {', '.join(self.schema.languages)}"
                f"{_suggest(lang, self.schema.languages)}",
            )

    def parent(self, key: str, mapping: TableMapping, account: AccountTable) -> None:
        kind = mapping.resolved_kind(key)
        given = next(
            (n for n in ("parent", "path", "categories", "product") if getattr(mapping, n)), None
        )
        parent_kind = KINDS[kind].parent_kind
        if given is None or parent_kind is None:
            return
        link_field = mapping.import_parent_field(key)
        if link_field is None:
            return
        path = f"tables.{key}." + ("parent_field" if mapping.parent_field else given)
        target = key if parent_kind is kind else parent_kind.value
        self.link(key, path, link_field, target, account)

    def link(
        self, key: str, path: str, link_field: str, target: str, account: AccountTable
    ) -> None:
        if link_field not in account.links and link_field not in account.fields:
            self.add(
                key,
                path,
                f"table {account.name!r} has no link field {link_field!r}"
                f"{_suggest(link_field, account.links or account.names())} Its link fields: "
                f"{', '.join(sorted(account.links)) or 'none'}",
            )
            return
        target_name = _target_name(self.config, target)
        target_kind = TableKind(target) if target in {k.value for k in TableKind} else None
        if target in self.config.tables:
            target_kind = self.config.tables[target].resolved_kind(target)
        found = self.schema.find(target_name, target_kind)
        if found is None:
            known = sorted(self.schema.tables)
            self.add(
                key,
                path,
                f"link {link_field!r} targets table {target_name!r}, which is not in the "
                f"account{_suggest(target_name, known)} The account's tables: {', '.join(known)}",
            )
            return
        expected = account.links.get(link_field)
        if expected is not None and self.schema.find(expected, None) is not found:
            self.add(
                key,
                path,
                f"link {link_field!r} of table {account.name!r} targets {expected!r} in the "
                f"account, not {target_name!r}: point the link at the {expected!r} table or "
                "use the link field that targets it",
            )


def check_names(config: ConnectorConfig, schema: AccountSchema) -> list[NameProblem]:
    """Every unknown table, field (as sent, one per language) and link target of every table
    of ``config``, in file order."""
    return _Checker(config, schema).run()


# -- where the model comes from, and the push's entry point --------------------------------------


def account_schema(
    hook: SalesLayerHook, config: ConnectorConfig, log: StageLog
) -> AccountSchema | None:
    """The account model, from the first source the connection offers (see the module doc);
    None when it offers none (logged once, with how to enable the check)."""
    from saleslayer_airflow.config.target import Transport

    conn_id = hook.saleslayer_conn_id
    extra = hook.extra_options()
    declared = extra.get(SCHEMA_EXTRA)
    if extra.get("rest_url") and extra.get("api_key"):
        from saleslayer_airflow.saleslayer.rest_api import RestOptions

        source = f"the Catalog REST API's $metadata, connection {conn_id!r}"
        try:
            with hook.get_rest_client(RestOptions()) as rest:
                documents = rest.metadata()
                if any(
                    m.resolved_kind(k) is TableKind.CUSTOM_ENTITY for k, m in config.tables.items()
                ):
                    # Sales Layer documents custom entities under their own metadata path.
                    documents += rest.metadata("CustomEntities/$metadata")
        except SalesLayerApiError as exc:
            if config.target.transport is Transport.REST:
                raise  # the push needs this API anyway: its error says what to fix
            # The Import Connector can still import: a REST outage or a stale API key must
            # not stop it. The error names the connection, never the key (clients redact it).
            log.warning(
                "Sales Layer field check of connector %r: the REST API's $metadata could not "
                "be read (%s); %s",
                config.id,
                exc,
                f"using the extra {SCHEMA_EXTRA!r} instead"
                if declared
                else "the check is skipped this run",
            )
            if not declared:
                return None
        else:
            return schema_from_metadata(_unique(documents), source)
    if declared:
        return declared_schema(declared, conn_id)
    log.warning(
        "Sales Layer field check skipped for connector %r: connection %r has no REST API "
        "(extras 'rest_url' and 'api_key') and no extra %r, and the Import Connector API has no "
        "documented call that checks names without importing; set one of them to have unknown "
        "fields found before anything is sent (%s)",
        config.id,
        conn_id,
        SCHEMA_EXTRA,
        DOCS,
    )
    return None


def _unique(documents: list[dict[str, Any]]) -> list[dict[str, Any]]:
    seen: set[str] = set()
    out = []
    for doc in documents:
        key = str(doc.get("$id") or doc.get("title") or id(doc))
        if key not in seen:
            seen.add(key)
            out.append(doc)
    return out


def check_account_names(config: ConnectorConfig, log: StageLog) -> None:
    """Check every table of ``config`` against its target account before anything is sent.

    :raises UnknownSalesLayerNames: some names are not in the account (terminal).
    """
    from saleslayer_airflow.saleslayer.hook import SalesLayerHook

    hook = SalesLayerHook(saleslayer_conn_id=config.target.conn_id)
    schema = account_schema(hook, config, log)
    if schema is None:
        return
    problems = check_names(config, schema)
    if problems:
        raise UnknownSalesLayerNames(config.id, problems, schema.source)
    log.info(
        "Sales Layer names of connector %r checked against %s: %d table(s), all known",
        config.id,
        schema.source,
        len(config.tables),
    )


__all__ = [
    "SCHEMA_EXTRA",
    "AccountField",
    "AccountSchema",
    "AccountTable",
    "DeclaredSchemaError",
    "NameProblem",
    "UnknownSalesLayerNames",
    "account_schema",
    "check_account_names",
    "check_names",
    "declared_schema",
    "schema_from_metadata",
]
