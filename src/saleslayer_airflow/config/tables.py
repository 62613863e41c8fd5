"""`tables:` how source columns map onto Sales Layer tables, their references, links and fields."""

from __future__ import annotations

import difflib
import re
from collections.abc import Sequence
from enum import StrEnum
from typing import Annotated, Literal

from pydantic import (
    ConfigDict,
    Discriminator,
    Field,
    StringConstraints,
    Tag,
    field_validator,
    model_validator,
)

from saleslayer_airflow.config.common import (
    ColumnName,
    ColumnShorthandModel,
    Identifier,
    LocatedValueError,
    StrictModel,
)
from saleslayer_airflow.tables import KINDS
from saleslayer_airflow.tables import TableKind as TableKind  # re-exported: config.tables.TableKind


class FieldType(StrEnum):
    """Value types checked during validation."""

    STRING = "string"
    NUMBER = "number"
    INTEGER = "integer"
    BOOLEAN = "boolean"
    DATE = "date"
    DATETIME = "datetime"
    URL = "url"


class OnEmpty(StrEnum):
    """What an empty cell of a mapped field does to the value Sales Layer has."""

    CLEAR = "clear"
    KEEP = "keep"


def compiled_pattern(pattern: str) -> re.Pattern[str]:
    """A transform's regular expression compiled; ValueError naming the regex error."""
    try:
        return re.compile(pattern)
    except re.error as error:
        raise ValueError(
            f"{pattern!r} is not a valid regular expression: {error}; write it in Python's "
            "`re` syntax (in YAML, single-quote it so that backslashes stay as written)"
        ) from None


def _pattern(value: str) -> str:
    compiled_pattern(value)
    return value


def quoted_template(value: object) -> object:
    """A template YAML read as something else than text: unquoted, ``{brand} {name}`` is a
    mapping (or a syntax error) in YAML, so say how to write it."""
    if isinstance(value, dict | list | set):
        raise ValueError(
            "a template must be quoted in YAML, which otherwise reads its braces as a mapping: "
            "write e.g. template: '{brand} {name}'"
        )
    return value


#: What a value-picking transform does when the value has nothing to pick: `reject` the row (a
#: reject with the value and the reason), leave the field `empty`, or `keep` the value unchanged.
OnNoMatch = Literal["reject", "empty", "keep"]


class ExtractTransform(StrictModel):
    """`extract`: the part of the value a regular expression's group matches (re.search)."""

    pattern: str = Field(description="Regular expression (Python `re`), searched in the value.")
    group: int | str | None = Field(
        None,
        description="The group to keep: a number or a name. Default: 1 when the pattern has a "
        "group, else the whole match.",
    )
    on_no_match: OnNoMatch = Field(
        "reject", description="When the pattern does not match: reject, empty or keep."
    )

    _check_pattern = field_validator("pattern")(_pattern)

    @model_validator(mode="after")
    def _group_exists(self) -> ExtractTransform:
        compiled = compiled_pattern(self.pattern)
        group = self.group
        if isinstance(group, int) and not 0 <= group <= compiled.groups:
            raise ValueError(
                f"group {group} does not exist: the pattern {self.pattern!r} has "
                f"{compiled.groups} group(s) (0 is the whole match)"
            )
        if isinstance(group, str) and group not in compiled.groupindex:
            named = ", ".join(compiled.groupindex) or "none"
            raise ValueError(
                f"group {group!r} is not a named group of the pattern {self.pattern!r} (named "
                f"groups: {named}); name one with (?P<{group}>...)"
            )
        return self

    def chosen_group(self) -> int | str:
        """The group kept: as given, else 1 when the pattern has a group, else 0."""
        if self.group is not None:
            return self.group
        return 1 if compiled_pattern(self.pattern).groups else 0


class ReplaceTransform(StrictModel):
    """`replace`: every match of a regular expression replaced (re.sub)."""

    # `with` is a Python keyword: the attribute is `with_`, the key in every dump is `with`
    # (the DAG passes the config to its tasks as a dump, validated again there)
    model_config = ConfigDict(serialize_by_alias=True)

    pattern: str = Field(description="Regular expression (Python `re`).")
    with_: str = Field(
        alias="with",
        description=r"Replacement text; \1 or \g<name> insert a group ('' deletes the match).",
    )

    _check_pattern = field_validator("pattern")(_pattern)

    @model_validator(mode="after")
    def _groups_exist(self) -> ReplaceTransform:
        try:
            # re compiles the replacement before searching: a bad group fails on any text
            compiled_pattern(self.pattern).sub(self.with_, "")
        except (re.error, IndexError) as error:
            raise ValueError(
                f"the replacement {self.with_!r} does not fit the pattern {self.pattern!r}: "
                f"{error}; groups are \\1 or \\g<name>, a literal backslash is \\\\"
            ) from None
        return self


class SplitTransform(StrictModel):
    """`split`: one element of the value split on a separator."""

    separator: str = Field(min_length=1, description="The text between the elements.")
    index: int = Field(description="Which element, from 0; negative counts from the end (-1).")
    on_missing: OnNoMatch = Field(
        "reject", description="When the value has no such element: reject, empty or keep."
    )


#: The keys of a transform, in the order of the message when several or none are set.
TRANSFORM_KEYS = (
    "trim",
    "case",
    "map",
    "parse_number",
    "parse_date",
    "prefix",
    "suffix",
    "template",
    "html_unescape",
    "extract",
    "replace",
    "split",
)


class Transform(StrictModel):
    """One declared transform applied to a value, in order. Exactly one key is set."""

    trim: bool | None = None
    case: Literal["lower", "upper", "title"] | None = None
    map: dict[str, str | int | float | bool | None] | None = Field(
        None, description="Value map, e.g. {Y: true, N: false}; unmapped values are rejected."
    )
    parse_number: Literal["dot", "comma"] | None = Field(
        None, description="Decimal separator of the source numbers."
    )
    parse_date: str | None = Field(None, description="strptime format, e.g. '%d/%m/%Y'.")
    prefix: str | None = Field(None, description="Text put before the value.")
    suffix: str | None = Field(None, description="Text put after the value.")
    template: str | None = Field(
        None,
        description="The value inside a text, e.g. 'https://cdn.example.com/media{value}'; "
        "literal braces are doubled ({{ }}).",
    )
    html_unescape: Literal[True] | None = Field(
        None, description="true: HTML entities become characters (&amp; &eacute; &#233;)."
    )
    extract: ExtractTransform | None = Field(
        None, description="Keep the part a regular expression matches: {pattern, group}."
    )
    replace: ReplaceTransform | None = Field(
        None, description="Replace every match of a regular expression: {pattern, with}."
    )
    split: SplitTransform | None = Field(
        None, description="Keep one element of the value split on a separator: {separator, index}."
    )

    _quoted = field_validator("template", mode="before")(lambda value: quoted_template(value))

    @field_validator("template")
    @classmethod
    def _value_template(cls, value: str | None) -> str | None:
        if value is None:
            return None
        from saleslayer_airflow.mapping.value_templates import parse_template

        names = set(parse_template(value).names)
        if names != {"value"}:
            other = sorted(names - {"value"})
            raise ValueError(
                f"a transform's template places the field's value with {{value}}, and knows no "
                f"other name ({', '.join('{' + n + '}' for n in other) or 'no {value}'} in "
                f"{value!r}); to combine source columns give the field a `template:` instead of "
                "`column:`, and write literal braces as {{ and }}"
            )
        return value

    @model_validator(mode="after")
    def _exactly_one(self) -> Transform:
        given = [name for name in TRANSFORM_KEYS if getattr(self, name) is not None]
        if len(given) != 1:
            raise ValueError(
                f"each transform sets exactly one of {', '.join(TRANSFORM_KEYS)} "
                f"(this one sets {', '.join(given) or 'none'}); list several transforms instead"
            )
        return self


#: A fixed value of a field (a constant, a default).
Scalar = str | int | float | bool

LanguageCode = Annotated[
    str,
    StringConstraints(pattern=r"^[a-z]{2,3}([_-][A-Za-z0-9]{2,4})?$"),
    Field(description="Language code as used in the column names: en, es, en_US, pt-BR."),
]


class PairsFormat(StrictModel):
    """How a key=value cell is written: `color=Red,size=M` is separator ',' and assign '='.

    Keys and values are trimmed of blanks around the separators. A value holding the separator
    cannot be told from the next pair unless the export wraps it in `quote` (Magento's "Fields
    Enclosure": `material="Cotton, Linen"`, a quote inside doubled); there is no escape character.
    """

    separator: str = Field(",", min_length=1, description="Between two pairs.")
    assign: str = Field("=", min_length=1, description="Between a key and its value.")
    quote: str | None = Field(
        None,
        min_length=1,
        max_length=1,
        description="A value wrapped in this character may hold the separator (a doubled "
        "quote inside is one quote). Unset: values are never quoted.",
    )

    @model_validator(mode="after")
    def _distinct(self) -> PairsFormat:
        if self.separator in self.assign or self.assign in self.separator:
            raise ValueError(
                f"pairs: separator {self.separator!r} and assign {self.assign!r} must differ "
                "and neither may contain the other (e.g. separator ',' and assign '=')"
            )
        if self.quote is not None and (
            self.quote in self.separator or self.quote in self.assign or self.quote.isspace()
        ):
            raise ValueError(
                f"pairs: quote {self.quote!r} must be a visible character used neither in the "
                "separator nor in assign, e.g. '\"'"
            )
        return self


class FieldMapping(ColumnShorthandModel):
    """Where one Sales Layer field takes its value. A plain string is short for `column:`."""

    column: ColumnName | None = Field(
        None,
        description="Source column. With `languages`, the base name of one column per language.",
    )
    constant: str | int | float | bool | None = Field(
        None, description="A fixed value for every row instead of a column."
    )
    template: str | None = Field(
        None,
        min_length=1,
        description="A value combining source columns instead of a column, e.g. "
        "'{brand} {name}' ({{ and }} are literal braces). An empty column is left out with the "
        "text before it; every column empty: the field is empty. With `languages`, {lang} inside "
        "a placeholder is the language code: '{brand} {name_{lang}}'.",
    )
    languages: list[LanguageCode] | None = Field(
        None, description="Multi-language field: one source column per language code."
    )
    language_pattern: str = Field(
        "{column}_{lang}",
        description="How language columns are named: '{column}_{lang}' gives name_en, name_es.",
    )
    separator: str | None = Field(
        None, description="Multi-value field: separator of the values in one cell."
    )
    key: str | None = Field(
        None,
        min_length=1,
        description="Key=value cells (e.g. additional_attributes 'color=Red,size=M'): the "
        "field takes the value of this key of `column`'s cell; absent key: an empty value.",
    )
    pairs: PairsFormat | None = Field(
        None,
        description="With `key`: how the pairs are written (default: ',' and '=').",
    )
    default: Scalar | dict[LanguageCode, Scalar] | None = Field(
        None,
        description="Value for empty cells. A `languages:` field may give one per language: "
        "{en: New, es: Nuevo} (a language left out has no default).",
    )
    type: FieldType = FieldType.STRING
    required: bool = False
    max_length: int | None = Field(None, ge=1)
    enum: list[str] | None = Field(None, description="Allowed values (after transforms).")
    transforms: list[Transform] = Field(default_factory=list)
    on_empty: OnEmpty | None = Field(
        None,
        description="An empty cell (with no `default`): `clear` empties the field in Sales "
        "Layer (the ERP is the source of truth), `keep` leaves the value Sales Layer has. "
        "Unset: the connector's `target.on_empty`.",
    )
    collect: bool = Field(
        False,
        description="List fields (`separator` set): gather the values of every row of one "
        "reference, in row order, each value once, instead of calling rows that differ a "
        "conflict (a product's images, one per row of the export); `required` then holds on "
        "the gathered list.",
    )
    columns: list[ColumnName] | None = Field(
        None,
        description="List fields: take the values from several columns, in this order, each "
        "cell split by `separator`, each value once (e.g. [Image Src, additional_images]). "
        "Instead of `column`.",
    )

    _quoted = field_validator("template", mode="before")(lambda value: quoted_template(value))

    @field_validator("language_pattern")
    @classmethod
    def _pattern_has_placeholders(cls, value: str) -> str:
        if "{lang}" not in value:
            raise ValueError("language_pattern must contain '{lang}', e.g. '{column}_{lang}'")
        return value

    @model_validator(mode="after")
    def _key_of_pairs(self) -> FieldMapping:
        if self.pairs is not None and self.key is None:
            raise ValueError(
                "`pairs` says how the key=value pairs of a cell are written: set `key` (the key "
                "whose value this field takes), or remove `pairs`"
            )
        if self.key is None:
            return self
        if self.column is None:
            raise ValueError(
                f"`key: {self.key}` reads a key=value cell: set `column` (the column holding "
                "the pairs, e.g. additional_attributes)"
            )
        fmt = self.pair_format()
        if self.key != self.key.strip() or fmt.separator in self.key or fmt.assign in self.key:
            raise ValueError(
                f"`key: {self.key!r}` cannot be a key of a pair: keys are trimmed and hold "
                f"neither the separator {fmt.separator!r} nor {fmt.assign!r}"
            )
        return self

    def pair_format(self) -> PairsFormat:
        """The key=value format of a `key` field (`pairs`, or the defaults)."""
        return self.pairs if self.pairs is not None else PairsFormat()

    @model_validator(mode="after")
    def _one_origin(self) -> FieldMapping:
        if self.template is not None:
            self._check_template()
        elif self.columns is not None:
            self._check_columns()
        elif (self.column is None) == (self.constant is None):
            raise ValueError(
                "set exactly one of `column` (a source column) or `constant` (a fixed value), "
                "or `template` (a text combining columns, e.g. '{brand} {name}')"
            )
        if self.languages is not None and self.column is None and self.template is None:
            raise ValueError("`languages` needs `column`: the base name of the language columns")
        self._check_default()
        if self.collect and self.separator is None:
            raise ValueError(
                "`collect: true` gathers the values of a list field: set `separator` (how the "
                "values of one cell are separated, e.g. ','; a JSON array is a list whatever it "
                "is), or remove `collect` from this one-value field"
            )
        return self

    def _check_template(self) -> None:
        """`template:` is the origin of the field, alone, and names columns it can read."""
        from saleslayer_airflow.mapping.value_templates import parse_template

        assert self.template is not None
        given = [
            name
            for name in ("column", "constant", "columns", "key")
            if getattr(self, name) is not None
        ]
        if given:
            raise ValueError(
                f"`template` combines source columns into the value: remove `{given[0]}` (a "
                "field has one origin: `column`, `constant` or `template`)"
            )
        parsed = parse_template(self.template)
        if not parsed.names:
            raise ValueError(
                f"the template {self.template!r} names no column: write each column in braces, "
                "e.g. '{brand} {name}' (for a fixed text use `constant:`)"
            )
        if self.languages is None and parsed.uses_language():
            raise ValueError(
                f"the template {self.template!r} uses {{lang}} but the field declares no "
                "`languages:`; list them (e.g. languages: [en, es]) or name the columns plainly"
            )
        if self.languages is not None and not parsed.uses_language():
            raise ValueError(
                f"the template {self.template!r} of a `languages:` field names no language "
                "column, so every language would get the same value; put {lang} inside a "
                "placeholder, e.g. '{brand} {name_{lang}}', or remove `languages`"
            )

    def _check_default(self) -> None:
        """A per-language `default` belongs to a `languages:` field, and names its languages."""
        if not isinstance(self.default, dict):
            return
        if self.languages is None:
            raise ValueError(
                "`default` gives one value per language, but the field declares no "
                "`languages:`; list them (e.g. languages: [en, es]) or give one default value"
            )
        if not self.default:
            raise ValueError("`default: {}` gives no value; give one per language, or remove it")
        unknown = [lang for lang in self.default if lang not in self.languages]
        if unknown:
            hint = difflib.get_close_matches(unknown[0], self.languages, n=1, cutoff=0.5)
            raise ValueError(
                f"`default` gives a value for {', '.join(map(repr, unknown))}, not a language of "
                f"the field"
                + (f" (did you mean {hint[0]!r}?)" if hint else "")
                + f"; its languages are: {', '.join(self.languages)}"
            )

    def template_columns(self) -> list[str]:
        """The source columns a `template:` field combines (every language's), in order."""
        from saleslayer_airflow.mapping.value_templates import parse_template

        if self.template is None:
            return []
        parsed = parse_template(self.template)
        if self.languages is None:
            return list(parsed.columns)
        names = [c for lang in self.languages for c in parsed.for_language(lang).columns]
        return list(dict.fromkeys(names))

    def default_for(self, lang: str | None) -> Scalar | None:
        """The value for an empty cell of the field (of its ``lang`` column)."""
        if isinstance(self.default, dict):
            return None if lang is None else self.default.get(lang)
        return self.default

    def _check_columns(self) -> None:
        """`columns:` is the origin of a list field, alone."""
        assert self.columns is not None
        given = [
            name for name in ("column", "constant", "languages") if getattr(self, name) is not None
        ]
        if given:
            raise ValueError(
                f"`columns` takes the values from several columns: remove `{given[0]}` (a field "
                "has one origin: `column`, `constant` or `columns`)"
            )
        if self.separator is None:
            raise ValueError(
                "`columns` makes a list field: set `separator` (how the values of one cell are "
                "separated, e.g. ','), or use `column:` for a one-value field"
            )
        if len(self.columns) < 2:
            raise ValueError(
                "`columns` lists at least two columns; for one column write `column:` instead"
            )
        if len(set(self.columns)) != len(self.columns):
            raise ValueError("`columns` names a column twice; list each column once")


class ReferenceList(ColumnShorthandModel):
    """A column holding one or several references, e.g. a product's categories."""

    column: ColumnName
    separator: str | None = Field(None, description="Separator when a cell lists several.")
    field: str | None = Field(
        None,
        description="links: Sales Layer's name on import of the link field (default: the "
        "linked table's name).",
    )


class PathTitle(StrictModel):
    """Each level of a category path gets a title: its own segment of the path ('Tops' for
    'Men > Tops'), in one field, or per language from parallel path columns."""

    field: str = Field(
        min_length=1,
        description="Sales Layer field each level's title goes to, e.g. cat_title (with "
        "`languages`: sent as cat_title_en, cat_title_fr ...).",
    )
    languages: list[LanguageCode] | None = Field(
        None,
        description="One title per language, each from a path column parallel to `column` "
        "named by `language_pattern` (categories_fr), with the same paths and levels.",
    )
    language_pattern: str = Field(
        "{column}_{lang}",
        description="How the parallel path columns are named: '{column}_{lang}' gives "
        "categories_fr for the path column categories.",
    )
    path_language: LanguageCode | None = Field(
        None,
        description="The language of the path column itself (one of `languages`): its titles "
        "come from the path column, the other languages' from their parallel columns.",
    )

    @model_validator(mode="after")
    def _languages_fit(self) -> PathTitle:
        if "{lang}" not in self.language_pattern:
            raise ValueError("title.language_pattern must contain '{lang}', e.g. '{column}_{lang}'")
        if self.languages is None:
            if self.path_language is not None:
                raise ValueError(
                    "title.path_language needs `languages`: list every title language, the "
                    "path column's one included"
                )
            return self
        if not self.languages:
            raise ValueError("title.languages is empty; list the title languages, or remove it")
        if len(set(self.languages)) != len(self.languages):
            raise ValueError("title.languages names a language twice; list each once")
        if self.path_language is not None and self.path_language not in self.languages:
            raise ValueError(
                f"title.path_language {self.path_language!r} is not in title.languages "
                f"({', '.join(self.languages)}); add it there"
            )
        return self

    def outputs(self, column: str) -> list[tuple[str, str | None]]:
        """(staged column, source column) of each title, in order; the source column is None
        when the titles come from the path column itself."""
        if self.languages is None:
            return [(self.field, None)]
        return [
            (
                f"{self.field}_{lang}",
                None
                if lang == self.path_language
                else self.language_pattern.format(column=column, lang=lang),
            )
            for lang in self.languages
        ]


class CategoryPath(StrictModel):
    """Build the category tree from a path column such as 'Men > Tops > Hoodies'."""

    column: ColumnName
    separator: str = Field(" > ", min_length=1, description="Between the levels of a path.")
    list_separator: str | None = Field(
        None,
        min_length=1,
        description="A cell holds several paths separated by this, e.g. ',' for "
        "'Default Category/Men/Tops,Default Category/Gear': every path builds the tree and "
        "the products on the same column link to every path's deepest level.",
    )
    title: PathTitle | None = Field(
        None,
        description="Give every level a title from its path segment (default: no title; the "
        "row's `fields:` go to the deepest level only).",
    )

    @model_validator(mode="after")
    def _separators_apart(self) -> CategoryPath:
        sep, listed = self.separator, self.list_separator
        if listed is not None and (listed in sep or sep in listed):
            raise ValueError(
                f"path.list_separator {listed!r} and path.separator {sep!r} must not contain one "
                "another, or a cell cannot be split unambiguously; pick two distinct separators"
            )
        return self

    def title_columns(self) -> list[str]:
        """The parallel path columns the titles read (not the path column itself)."""
        if self.title is None:
            return []
        return [source for _, source in self.title.outputs(self.column) if source is not None]


class DuplicatePolicy(StrEnum):
    """What happens to a reference seen twice in one table.

    ``first`` keeps the first row and rejects the later ones; ``reject`` rejects every row of the
    reference; ``merge`` treats the rows as one item (a product repeated on each of its SKU rows):
    values that agree or fill an empty cell merge, values that disagree are a conflict (the later
    row is rejected, naming both lines). Every case is reported.
    """

    FIRST = "first"
    REJECT = "reject"
    MERGE = "merge"


class Continuation(StrictModel):
    """Continuation rows: an item's first row carries its fields, the rows after it repeat only
    the key (a Shopify Handle) and the values of their own (a variant, an extra image)."""

    key: ColumnName = Field(
        description="Column that repeats on every row of a group: contiguous rows with the same "
        "value form one group, its first row carrying the item's fields."
    )
    fill: list[ColumnName] | None = Field(
        None,
        description="Source columns whose empty cells take the group's first row's value. "
        "Default: every column the table reads but its reference and its `collect` fields. "
        "Name the product-level columns only on a variants table (e.g. [Option1 Name]).",
    )


class RowFilter(StrictModel):
    """Which source rows feed a table, when one file holds rows for several tables."""

    column: ColumnName
    equals: str | list[str] | None = Field(
        None, description="The cell, as text, equals this value (or one of these values)."
    )
    empty: bool | None = Field(None, description="true: the cell is empty; false: it is not.")

    @model_validator(mode="after")
    def _one_test(self) -> RowFilter:
        if (self.equals is None) == (self.empty is None):
            raise ValueError("a row filter sets exactly one of `equals` or `empty`")
        return self


class ChildListing(StrictModel):
    """A cell of the product's row listing its variants, e.g. Magento's configurable_variations
    `sku=MH01-XS-Black,size=XS,color=Black|sku=MH01-S-Black,size=S,color=Black`."""

    column: ColumnName = Field(
        description="Column of the products table's rows listing the variants."
    )
    separator: str = Field("|", min_length=1, description="Between two listed variants.")
    reference_key: str | None = Field(
        None,
        min_length=1,
        description="Each listed variant is key=value pairs: the key holding its reference "
        "(e.g. sku). Unset: each listed variant is its reference alone.",
    )
    pairs: PairsFormat | None = Field(
        None,
        description="With `reference_key`: how the pairs are written (default ',' and '=').",
    )
    fields: dict[str, str] = Field(
        default_factory=dict,
        description="Variant field -> key of the listed pairs: fills the variant's field when "
        "its own value is empty, e.g. {size: size, color: color}.",
    )

    @model_validator(mode="after")
    def _pairs_need_a_key(self) -> ChildListing:
        if self.reference_key is None and (self.pairs is not None or self.fields):
            raise ValueError(
                "`pairs` and `fields` read key=value pairs: set `reference_key` (the key "
                "holding the variant's reference, e.g. sku)"
            )
        fmt = self.pair_format()
        if self.reference_key is not None and fmt.separator in self.separator:
            raise ValueError(
                f"the listing's separator {self.separator!r} must differ from the pairs' "
                f"separator {fmt.separator!r} (Magento: '|' between variants, ',' between pairs)"
            )
        return self

    def pair_format(self) -> PairsFormat:
        return self.pairs if self.pairs is not None else PairsFormat()


class ProductLink(StrictModel):
    """Where a variant's product reference comes from besides a plain column: a part of a column
    cut by a pattern, and/or the product rows that list their variants."""

    column: ColumnName | None = Field(
        None, description="Column holding the product reference (or the text `pattern` cuts)."
    )
    pattern: str | None = Field(
        None,
        description="Regular expression taking the product reference out of `column`: the "
        "group named `ref` (or the only group, or the whole match), e.g. "
        "'^(?P<ref>.+)-[^-]+$' gives MH01 for MH01-XS.",
    )
    listed_in: ChildListing | None = Field(
        None,
        description="The rows of the products table list their variants in this cell: each "
        "listed variant gets that row's product (rows in any order).",
    )

    @model_validator(mode="after")
    def _some_origin(self) -> ProductLink:
        if self.pattern is not None and self.column is None:
            raise ValueError("`pattern` cuts the product reference out of `column`: set it")
        if self.column is None and self.listed_in is None:
            raise ValueError(
                "`product:` needs `column` (the product reference, or the text `pattern` cuts) "
                "and/or `listed_in` (the product rows' cell listing their variants)"
            )
        if self.pattern is not None:
            try:
                compiled = re.compile(self.pattern)
            except re.error as exc:
                raise ValueError(
                    f"`pattern` {self.pattern!r} is not a regular expression: {exc}"
                ) from None
            if compiled.groups > 1 and "ref" not in compiled.groupindex:
                raise ValueError(
                    f"`pattern` {self.pattern!r} has {compiled.groups} groups: name the one "
                    "holding the product reference (?P<ref>...)"
                )
        return self


#: Sales Layer's import field for a table's parent link, by kind (Import Connector names).
DEFAULT_PARENT_FIELDS: dict[TableKind, str] = {
    kind: spec.parent_field for kind, spec in KINDS.items() if spec.parent_field is not None
}

#: Sales Layer's import table name, by kind, when `sales_layer_table` is not given.
DEFAULT_IMPORT_TABLES: dict[TableKind, str] = {
    kind: spec.import_table for kind, spec in KINDS.items() if spec.import_table is not None
}


def _product_form(value: object) -> str:
    return "ProductLink[...]" if isinstance(value, dict | ProductLink) else "str[column]"


#: `product: sku` or `product: {column, pattern, listed_in}`: told apart by the value's shape, so
#: that a mistake in one form is reported alone (not with "Input should be a valid string"). The
#: tags look like pydantic's own member names ("[" inside): config/problems.py leaves them out of
#: the field path it shows.
ProductSource = Annotated[
    Annotated[ColumnName, Tag("str[column]")] | Annotated[ProductLink, Tag("ProductLink[...]")],
    Discriminator(_product_form),
]


class TableMapping(StrictModel):
    """One Sales Layer table fed by this connector."""

    kind: TableKind | None = Field(
        None,
        description="categories, products, variants, points_of_sale or custom_entity. Implied "
        "when the table's key is one of the first four names.",
    )
    sales_layer_table: str | None = Field(
        None, description="The table's name in Sales Layer when it differs from the key."
    )
    reference: ColumnName = Field(description="Source column holding the item reference.")
    parent: ColumnName | None = Field(
        None, description="categories: column with the parent category's reference."
    )
    path: CategoryPath | None = Field(
        None, description="categories: build the tree from a path column instead."
    )
    categories: ReferenceList | None = Field(
        None, description="products: column with the product's category reference(s)."
    )
    product: ProductSource | None = Field(
        None,
        description="variants: column with the variant's product reference, or {column, "
        "pattern} to cut it out of a column, or {listed_in} when the product rows list their "
        "variants.",
    )
    links: dict[Identifier, ReferenceList] = Field(
        default_factory=dict,
        description="Links by reference to other tables, e.g. {brands: {column: brand_code, "
        "field: prod_brand}}: the key names the linked table, `field` the Sales Layer field.",
    )
    reference_field: str = Field(
        "REF",
        description="Sales Layer's name on import of the item reference (REF works everywhere).",
    )
    parent_field: str | None = Field(
        None,
        description="Sales Layer's name on import of the parent link. Default: cat_parent_ref "
        "(categories), cat_ref (products), prod_ref (variants).",
    )
    fields: dict[str, FieldMapping] = Field(
        default_factory=dict, description="Sales Layer field name -> where its value comes from."
    )
    where: list[RowFilter] = Field(
        default_factory=list,
        description="Only rows passing every filter feed this table (e.g. one model of a JSON "
        "fixture, or the rows whose parent column is set).",
    )
    # Plain strings: check_table_files compares them with the declared names (did you mean).
    file: str | list[str] | None = Field(
        None,
        description="Which named file(s) of the source (`source.files`) feed this table, e.g. "
        "'categories' or [products, prices]. Default: every file the run lands.",
    )
    on_duplicate: DuplicatePolicy | None = Field(
        None,
        description="first, reject or merge. Default: merge when the connector feeds several "
        "tables from one export (a product repeats on each SKU row), first otherwise.",
    )
    continuation: Continuation | None = Field(
        None,
        description="Rows that continue the row before them (same `key`, the rest mostly "
        "blank): their empty cells take the group's first row's values before the rows are "
        "mapped, and `required` holds on the merged item (a value on any row of the group "
        "will do); a continuation row without this "
        "table's reference (an image-only row on a variants table) feeds other tables only.",
    )

    @model_validator(mode="after")
    def _one_pairs_format_per_column(self) -> TableMapping:
        # The format is the cell's, not the field's: the fields of one column must read it
        # alike (and the keys none of them declares are counted once).
        seen: dict[str, tuple[str, PairsFormat]] = {}
        for name, spec in self.fields.items():
            if spec.key is None or spec.column is None:
                continue
            fmt = spec.pair_format()
            first = seen.setdefault(spec.column, (name, fmt))
            if first[1] != fmt:
                raise LocatedValueError(
                    ("fields", name, "pairs"),
                    f"fields {first[0]!r} and {name!r} read the key=value pairs of column "
                    f"{spec.column!r} with different `pairs:`; a cell has one format: give "
                    "every field of that column the same `pairs:`",
                )
        return self

    @model_validator(mode="after")
    def _grouping_merges(self) -> TableMapping:
        collecting = sorted(name for name, spec in self.fields.items() if spec.collect)
        policy = self.on_duplicate
        if policy is not None and policy is not DuplicatePolicy.MERGE:
            if self.continuation is not None:
                raise LocatedValueError(
                    ("on_duplicate",),
                    f"`continuation:` merges the rows of a group into one item: remove "
                    f"`on_duplicate: {policy.value}` (merge is then the default) or remove "
                    "`continuation:`",
                )
            if collecting:
                raise LocatedValueError(
                    ("on_duplicate",),
                    f"field {collecting[0]!r} collects the values of every row of a reference, "
                    f"which needs the rows merged: remove `on_duplicate: {policy.value}` (merge "
                    "is then the default) or `collect: true`",
                )
        if self.continuation is not None and self.continuation.fill is not None:
            read = self.read_columns()
            for index, name in enumerate(self.continuation.fill):
                if name == self.reference:
                    raise LocatedValueError(
                        ("continuation", "fill", index),
                        f"the reference column {name!r} is never filled: a continuation row "
                        "without a reference gives this table no item; remove it from `fill`",
                    )
                if name not in read:
                    hint = difflib.get_close_matches(name, read, n=1, cutoff=0.6)
                    raise LocatedValueError(
                        ("continuation", "fill", index),
                        f"column {name!r} is not read by this table"
                        + (f"; did you mean {hint[0]!r}?" if hint else ";")
                        + f" `fill` names columns the table reads: {', '.join(read)}",
                    )
        return self

    def read_columns(self) -> list[str]:
        """The source columns this table reads (reference, fields, links, filters), in order."""
        names: list[str] = [self.reference]
        for spec in self.fields.values():
            if spec.template is not None:
                names += spec.template_columns()
            elif spec.columns is not None:
                names += spec.columns
            elif spec.column is not None and spec.languages is not None:
                names += [
                    spec.language_pattern.format(column=spec.column, lang=lang)
                    for lang in spec.languages
                ]
            elif spec.column is not None:
                names.append(spec.column)
        for link in (self.parent, self.product, self.categories, *self.links.values()):
            column = getattr(link, "column", link)
            if isinstance(column, str):
                names.append(column)
        if self.path is not None:
            names.append(self.path.column)
        names += [row_filter.column for row_filter in self.where]
        return list(dict.fromkeys(names))

    @field_validator("file")
    @classmethod
    def _some_file(cls, value: str | list[str] | None) -> str | list[str] | None:
        if value == []:
            raise ValueError(
                "`file: []` names no file; name one or more of the source's `files:`, or remove "
                "`file:` to read every landed file"
            )
        return value

    def source_files(self) -> tuple[str, ...] | None:
        """The named files feeding this table, or None for every landed file."""
        if self.file is None:
            return None
        return (self.file,) if isinstance(self.file, str) else tuple(dict.fromkeys(self.file))

    def import_table(self, key: str) -> str:
        """The table's name in Sales Layer's Import Connector."""
        if self.sales_layer_table:
            return self.sales_layer_table
        return DEFAULT_IMPORT_TABLES.get(self.resolved_kind(key), key)

    def import_parent_field(self, key: str) -> str | None:
        """The Sales Layer field holding the parent link, if the table's kind has one."""
        return self.parent_field or DEFAULT_PARENT_FIELDS.get(self.resolved_kind(key))

    def product_column(self) -> str | None:
        """The column of the variant's product reference (None: only listed by the products)."""
        if isinstance(self.product, ProductLink):
            return self.product.column
        return self.product

    def product_listing(self) -> ChildListing | None:
        """The products table's cell listing this table's variants, if declared."""
        return self.product.listed_in if isinstance(self.product, ProductLink) else None

    def resolved_kind(self, key: str) -> TableKind:
        """The table's kind, implied by its key when not given."""
        if self.kind is not None:
            return self.kind
        return TableKind(key)

    def check_links(self, key: str) -> None:
        """Parent links must fit the table's kind (called by ConnectorConfig with the key)."""
        kind = self.resolved_kind(key)
        given = {
            name
            for name in ("parent", "path", "categories", "product")
            if getattr(self, name) is not None
        } | ({"links"} if self.links else set())
        if extra := sorted(given - KINDS[kind].links):
            allowed = sorted(KINDS[kind].links) or ["none"]
            raise ValueError(
                f"a {kind.value} table cannot have {', '.join(extra)}; "
                f"its parent links are: {', '.join(allowed)}"
            )
        if kind is TableKind.VARIANTS and self.product is None:
            raise ValueError(
                "a variants table needs `product`: the column of the product reference"
            )
        if self.parent is not None and self.path is not None:
            raise ValueError("give categories either `parent` or `path`, not both")
        listing = self.product_listing()
        for name, pair_key in listing.fields.items() if listing is not None else ():
            spec = self.fields.get(name)
            if spec is None:
                known = ", ".join(self.fields) or "none"
                raise ValueError(
                    f"product.listed_in.fields names {name!r}, not a field of this table "
                    f"(its fields: {known}); declare it under `fields:` first"
                )
            if spec.languages is not None or spec.column is None:
                raise ValueError(
                    f"product.listed_in.fields: {name!r} is a constant or multi-language field; "
                    "a listed pair fills a one-column field only"
                )
            if not pair_key.strip():
                raise ValueError(f"product.listed_in.fields: the key of {name!r} is empty")


def check_product_listings(tables: dict[str, TableMapping]) -> None:
    """A variants table whose product rows list it (`product.listed_in`) needs a products table
    in the connector: its rows hold the listing. Raises LocatedValueError at
    ``tables.<key>.product.listed_in``."""
    kinds = {key: table.resolved_kind(key) for key, table in tables.items()}
    for key, table in tables.items():
        if table.product_listing() is None:
            continue
        if TableKind.PRODUCTS not in kinds.values():
            raise LocatedValueError(
                ("tables", key, "product", "listed_in"),
                "`listed_in` reads the rows of the products table, and this connector has none; "
                "add a products table (its `where:` choosing the product rows, e.g. "
                "product_type = configurable), or give `product: COLUMN`",
            )


def check_category_paths(tables: dict[str, TableMapping]) -> None:
    """A category path's titles must not be mapped twice, and a products table reading the path
    column must split its cells the way the categories do (a list separator on one side only
    would build categories named with the separator inside).

    Raises LocatedValueError at ``tables.<key>.path.title`` or
    ``tables.<key>.categories.separator`` (called by ConnectorConfig, which sees every table).
    """
    paths: dict[str, CategoryPath] = {}
    for key, table in tables.items():
        path = table.path
        if path is None:
            continue
        paths[path.column] = path
        if path.title is None:
            continue
        mapped = {
            out
            for name, spec in table.fields.items()
            for out in (
                [name] if spec.languages is None else [f"{name}_{lang}" for lang in spec.languages]
            )
        }
        if twice := [out for out, _ in path.title.outputs(path.column) if out in mapped]:
            raise LocatedValueError(
                ("tables", key, "path", "title"),
                f"{', '.join(twice)} is set both by `path.title` (every level's segment) and by "
                "`fields:` (the deepest level's row value); remove it from one of them",
            )
    for key, table in tables.items():
        listing = table.categories
        if listing is None or table.resolved_kind(key) is not TableKind.PRODUCTS:
            continue
        path = paths.get(listing.column)
        if path is None or listing.separator is None:
            continue
        if path.list_separator is None:
            # The products would link to paths the categories never build, and the categories
            # would be named with the separator inside: refused rather than imported wrongly.
            raise LocatedValueError(
                ("tables", key, "categories", "separator"),
                f"this table splits {listing.column!r} by {listing.separator!r} into several "
                "category paths, but the categories table reads each cell of it as one path; "
                f"add `list_separator: {listing.separator!r}` to its `path:` (every path then "
                "builds the tree), or remove `separator:` here",
            )
        if listing.separator != path.list_separator:
            raise LocatedValueError(
                ("tables", key, "categories", "separator"),
                f"the categories read {listing.column!r} as paths separated by "
                f"{path.list_separator!r} (path.list_separator), this table splits it by "
                f"{listing.separator!r}; remove `separator:` here (the path's list separator "
                "is used) or make both the same",
            )


def check_table_files(tables: dict[str, TableMapping], declared: Sequence[str]) -> None:
    """Every table's `file:` must name a file the source declares under `files:`.

    Raises LocatedValueError at ``tables.<key>.file`` (called by ConnectorConfig, which sees both
    the source and the tables).
    """
    for key, table in tables.items():
        wanted = table.source_files()
        if wanted is None:
            continue
        where = ("tables", key, "file")
        if not declared:
            raise LocatedValueError(
                where,
                f"`file: {', '.join(wanted)}` names a file of the source, but the source declares "
                "no named files; declare them as `source.files: {name: path}` (one name per "
                "export), or remove `file:` to read the single export",
            )
        for name in wanted:
            if name not in declared:
                hint = difflib.get_close_matches(name, declared, n=1, cutoff=0.5)
                raise LocatedValueError(
                    where,
                    f"unknown file {name!r}"
                    + (f"; did you mean {hint[0]!r}?" if hint else ".")
                    + f" The source declares: {', '.join(declared)}",
                )
