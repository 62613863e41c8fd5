"""Value templates: ``"{brand} {name}"`` (a field combining source columns) and
``"https://cdn.example.com/media{value}"`` (the ``template`` transform).

Syntax: ``{name}`` is a placeholder (a source column, or ``value`` in a transform); any text but
braces may name it, spaces included (``{Variant SKU}``); ``{{`` and ``}}`` are literal braces. In
the template of a ``languages:`` field, ``{lang}`` inside a placeholder is the language code
(``{name_{lang}}`` reads ``name_en``, ``name_es``).

Empty columns (SQL ``CONCAT_WS`` style): a placeholder whose value is empty is left out together
with the text that separates it from the previous value present; the text before the first
placeholder and after the last is kept when at least one value is present; when every value is
empty the result is no value (so the field's ``default``, ``required`` and ``on_empty`` apply).
``"{brand} {name}"`` gives ``"Acme Hoodie"``, ``"Hoodie"`` (no brand), ``"Acme"`` (no name).

The same rule is written twice, exactly alike: :meth:`ValueTemplate.render` in Python (the row
engine, non-text cells) and :meth:`ValueTemplate.expr` as one polars expression over text columns.
This module imports nothing of the config (the config validates templates with it).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    import polars as pl

#: inside a placeholder of a `languages:` field's template: the language code
LANG = "{lang}"


class TemplateSyntaxError(ValueError):
    """A template that cannot be read; the message says where and how to fix it."""


@dataclass(frozen=True)
class ValueTemplate:
    """A parsed template: ``literals[i]`` is the text before placeholder ``names[i]``; the last
    literal is the text after the last placeholder (``len(literals) == len(names) + 1``)."""

    text: str
    literals: tuple[str, ...]
    names: tuple[str, ...]

    @property
    def columns(self) -> tuple[str, ...]:
        """The placeholders' names, each once, in order of first appearance."""
        return tuple(dict.fromkeys(self.names))

    def uses_language(self) -> bool:
        return any(LANG in name for name in self.names)

    def for_language(self, lang: str) -> ValueTemplate:
        """This template with ``{lang}`` in its placeholders replaced by ``lang``."""
        names = tuple(name.replace(LANG, lang) for name in self.names)
        text = self.literals[0].replace("{", "{{").replace("}", "}}")
        for name, literal in zip(names, self.literals[1:], strict=True):
            text += "{" + name + "}" + literal.replace("{", "{{").replace("}", "}}")
        return ValueTemplate(text, self.literals, names)

    def render(self, values: Sequence[str | None]) -> str | None:
        """The result for the placeholders' ``values`` (aligned with :attr:`names`; None or ''
        for an empty value), or None when every value is empty."""
        out: list[str] = []
        for index, value in enumerate(values):
            if value is None or value == "":
                continue
            # the first value present keeps no separator: only the template's leading text
            out.append(self.literals[index] if out else self.literals[0])
            out.append(value)
        if not out:
            return None
        out.append(self.literals[-1])
        return "".join(out)

    def expr(self, columns: Sequence[pl.Expr]) -> pl.Expr:
        """:meth:`render` as a polars expression over text ``columns`` aligned with
        :attr:`names` (null or '' for an empty value): null where every value is empty."""
        import polars as pl

        present = [col.is_not_null() & (col != "") for col in columns]
        pieces: list[pl.Expr] = []
        for index, col in enumerate(columns):
            if index == 0:
                piece = col
            else:
                before = pl.any_horizontal(present[:index])
                piece = (
                    pl.when(before)
                    .then(pl.concat_str([pl.lit(self.literals[index]), col]))
                    .otherwise(col)
                )
            pieces.append(pl.when(present[index]).then(piece))
        body = pl.concat_str(pieces, ignore_nulls=True)
        whole = pl.concat_str([pl.lit(self.literals[0]), body, pl.lit(self.literals[-1])])
        return pl.when(pl.any_horizontal(present)).then(whole).otherwise(None)


def parse_template(text: str) -> ValueTemplate:
    """The template ``text`` parsed; :class:`TemplateSyntaxError` when a brace is unmatched or a
    placeholder is empty."""
    literals: list[str] = []
    names: list[str] = []
    literal: list[str] = []
    at = 0
    while at < len(text):
        char = text[at]
        if char == "}":
            if text.startswith("}}", at):
                literal.append("}")
                at += 2
                continue
            raise TemplateSyntaxError(
                f"a single '}}' at position {at + 1} of {text!r}; write '}}}}' for a literal brace"
            )
        if char != "{":
            literal.append(char)
            at += 1
            continue
        if text.startswith("{{", at):
            literal.append("{")
            at += 2
            continue
        start = at
        at += 1
        name: list[str] = []
        while True:
            if at >= len(text):
                raise TemplateSyntaxError(
                    f"the '{{' at position {start + 1} of {text!r} is never closed; close the "
                    "placeholder with '}', or write '{{' for a literal brace"
                )
            if text.startswith(LANG, at):
                name.append(LANG)
                at += len(LANG)
            elif text[at] == "{":
                raise TemplateSyntaxError(
                    f"a '{{' inside the placeholder at position {start + 1} of {text!r}; "
                    "only {lang} may appear inside a placeholder"
                )
            elif text[at] == "}":
                at += 1
                break
            else:
                name.append(text[at])
                at += 1
        if not "".join(name).strip():
            raise TemplateSyntaxError(
                f"an empty placeholder at position {start + 1} of {text!r}; name a column "
                "inside the braces, e.g. '{name}', or write '{{}}' for literal braces"
            )
        literals.append("".join(literal))
        literal = []
        names.append("".join(name))
    literals.append("".join(literal))
    return ValueTemplate(text, tuple(literals), tuple(names))
