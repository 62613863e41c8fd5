"""OData ``$filter`` expressions: a small tokenizer, a recursive-descent parser and an evaluator.

Supported: ``eq ne gt ge lt le`` between a property and a literal, ``in (...)``, ``and``, ``or``,
``not``, parentheses, and ``contains``/``startswith``/``endswith(property, 'text')``. Literals:
``'text'`` (``''`` escapes a quote), numbers, ``true``/``false``/``null`` and ISO dates/date-times
(unquoted). Text comparisons are case-sensitive, like references. A multilingual property is
compared in one culture; a multi-valued link (``cat_id``) matches when any of its values does.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

Record = Mapping[str, Any]
Predicate = Callable[[Record, str], bool]
"""A compiled expression: (rendered item, culture) -> matches."""

_TOKEN = re.compile(
    r"""\s*(?:
    (?P<string>'(?:[^']|'')*')
    |(?P<datetime>\d{4}-\d{2}-\d{2}(?:T\d{2}:\d{2}(?::\d{2}(?:\.\d+)?)?(?:Z|[+-]\d{2}:\d{2})?)?)
    |(?P<number>-?\d+(?:\.\d+)?(?![\w-]))
    |(?P<name>[A-Za-z_][A-Za-z0-9_]*)
    |(?P<punct>[(),])
    )""",
    re.VERBOSE,
)
_COMPARE = {"eq", "ne", "gt", "ge", "lt", "le"}
_FUNCTIONS = {"contains", "startswith", "endswith"}
_KEYWORDS = {"and", "or", "not", "in", "true", "false", "null", *_COMPARE, *_FUNCTIONS}


class FilterError(ValueError):
    """The ``$filter`` text cannot be parsed; the message gives the position."""


@dataclass(frozen=True)
class _Token:
    kind: str
    text: str
    pos: int


def _tokens(text: str) -> list[_Token]:
    out: list[_Token] = []
    pos = 0
    while pos < len(text):
        if text[pos:].strip() == "":
            break
        match = _TOKEN.match(text, pos)
        if not match or match.end() == pos:
            raise FilterError(f"unexpected character {text[pos:].lstrip()[:1]!r} at {pos}")
        kind = match.lastgroup or ""
        out.append(_Token(kind, match.group(kind), match.start(kind)))
        pos = match.end()
    return out


def _parse_datetime(text: str) -> datetime:
    value = datetime.fromisoformat(text.replace("Z", "+00:00"))
    return value if value.tzinfo else value.replace(tzinfo=UTC)


@dataclass(frozen=True)
class _Literal:
    value: Any
    is_datetime: bool = False


def _literal_of(token: _Token) -> _Literal:
    if token.kind == "string":
        return _Literal(token.text[1:-1].replace("''", "'"))
    if token.kind == "number":
        return _Literal(float(token.text) if "." in token.text else int(token.text))
    if token.kind == "datetime":
        try:
            return _Literal(_parse_datetime(token.text), is_datetime=True)
        except ValueError as exc:
            raise FilterError(f"invalid date {token.text!r} at {token.pos}") from exc
    if token.kind == "name" and token.text in ("true", "false", "null"):
        return _Literal({"true": True, "false": False, "null": None}[token.text])
    raise FilterError(f"expected a literal at {token.pos}, got {token.text!r}")


def _values(record: Record, prop: str, culture: str) -> list[Any]:
    value = record.get(prop)
    if isinstance(value, dict):
        value = value.get(culture)
    if isinstance(value, list):
        return value or [None]
    return [value]


def _coerce(value: Any, literal: _Literal) -> Any:
    """``value`` in the literal's type, or a sentinel that compares false."""
    target = literal.value
    if value is None or target is None:
        return value
    if literal.is_datetime:
        try:
            return _parse_datetime(str(value))
        except ValueError:
            return _NO_MATCH
    if isinstance(target, bool):
        return value if isinstance(value, bool) else _NO_MATCH
    if isinstance(target, int | float):
        try:
            return float(value)
        except (TypeError, ValueError):
            return _NO_MATCH
    return str(value)


class _NoMatch:
    pass


_NO_MATCH = _NoMatch()


def _compare(op: str, left: Any, right: Any) -> bool:
    if isinstance(left, _NoMatch):
        return op == "ne"
    if op == "eq":
        return bool(left == right)
    if op == "ne":
        return bool(left != right)
    if left is None or right is None:
        return False
    try:
        if op == "gt":
            return bool(left > right)
        if op == "ge":
            return bool(left >= right)
        if op == "lt":
            return bool(left < right)
        return bool(left <= right)
    except TypeError:
        return False


@dataclass
class _Parser:
    tokens: list[_Token]
    text: str
    pos: int = 0
    properties: set[str] = field(default_factory=set)
    # For predicates that only match when a property equals one of a few literals: that
    # property and those literals (lets the caller fetch candidates by index).
    narrowing: dict[int, tuple[str, frozenset[Any]]] = field(default_factory=dict)

    def _narrow(self, predicate: Predicate, prop: str, values: frozenset[Any]) -> Predicate:
        self.narrowing[id(predicate)] = (prop, values)
        return predicate

    def peek(self) -> _Token | None:
        return self.tokens[self.pos] if self.pos < len(self.tokens) else None

    def take(self) -> _Token:
        token = self.peek()
        if token is None:
            raise FilterError(f"the expression ends too early: {self.text!r}")
        self.pos += 1
        return token

    def expect(self, text: str) -> None:
        token = self.take()
        if token.text != text:
            raise FilterError(f"expected {text!r} at {token.pos}, got {token.text!r}")

    def at(self, text: str) -> bool:
        token = self.peek()
        return token is not None and token.kind in ("name", "punct") and token.text == text

    def expression(self) -> Predicate:
        parts = [self.conjunction()]
        while self.at("or"):
            self.take()
            parts.append(self.conjunction())
        if len(parts) == 1:
            return parts[0]
        either: Predicate = lambda record, culture: any(  # noqa: E731
            part(record, culture) for part in parts
        )
        narrowed = [self.narrowing.get(id(part)) for part in parts]
        props = {n[0] for n in narrowed if n is not None}
        if None not in narrowed and len(props) == 1:
            values = frozenset().union(*(n[1] for n in narrowed if n is not None))
            return self._narrow(either, props.pop(), values)
        return either

    def conjunction(self) -> Predicate:
        parts = [self.negation()]
        while self.at("and"):
            self.take()
            parts.append(self.negation())
        if len(parts) == 1:
            return parts[0]
        both: Predicate = lambda record, culture: all(  # noqa: E731
            part(record, culture) for part in parts
        )
        for part in parts:
            if id(part) in self.narrowing:
                return self._narrow(both, *self.narrowing[id(part)])
        return both

    def negation(self) -> Predicate:
        if self.at("not"):
            self.take()
            inner = self.negation()
            return lambda record, culture: not inner(record, culture)
        return self.atom()

    def atom(self) -> Predicate:
        if self.at("("):
            self.take()
            inner = self.expression()
            self.expect(")")
            return inner
        token = self.peek()
        if token is not None and token.kind == "name" and token.text in _FUNCTIONS:
            return self.function()
        return self.comparison()

    def property(self) -> str:
        token = self.take()
        if token.kind != "name" or token.text in _KEYWORDS:
            raise FilterError(f"expected a property name at {token.pos}, got {token.text!r}")
        self.properties.add(token.text)
        return token.text

    def function(self) -> Predicate:
        name = self.take().text
        self.expect("(")
        prop = self.property()
        self.expect(",")
        literal = _literal_of(self.take())
        self.expect(")")
        if not isinstance(literal.value, str):
            raise FilterError(f"{name}() takes a quoted text as its second argument")
        needle: str = literal.value
        check: Callable[[str], bool] = {
            "contains": lambda text: needle in text,
            "startswith": lambda text: text.startswith(needle),
            "endswith": lambda text: text.endswith(needle),
        }[name]
        result: Predicate = lambda record, culture: any(  # noqa: E731
            value is not None and check(str(value)) for value in _values(record, prop, culture)
        )
        if self.at("eq") or self.at("ne"):
            op = self.take().text
            flag = _literal_of(self.take()).value
            if not isinstance(flag, bool):
                raise FilterError(f"{name}() can only be compared with true or false")
            inner = result
            wanted = flag if op == "eq" else not flag
            return lambda record, culture: inner(record, culture) == wanted
        return result

    def comparison(self) -> Predicate:
        token = self.peek()
        if token is not None and token.kind == "name" and token.text not in _KEYWORDS:
            prop = self.property()
            return self.operator(prop, swapped=False)
        literal = _literal_of(self.take())
        op_token = self.take()
        if op_token.text not in _COMPARE:
            raise FilterError(f"expected an operator at {op_token.pos}, got {op_token.text!r}")
        prop = self.property()
        flipped = {"gt": "lt", "ge": "le", "lt": "gt", "le": "ge"}.get(op_token.text, op_token.text)
        return self._compare(prop, flipped, literal)

    def operator(self, prop: str, *, swapped: bool) -> Predicate:
        op_token = self.take()
        op = op_token.text
        if op == "in":
            self.expect("(")
            literals = [_literal_of(self.take())]
            while self.at(","):
                self.take()
                literals.append(_literal_of(self.take()))
            self.expect(")")
            checks = [self._compare(prop, "eq", literal) for literal in literals]
            member: Predicate = lambda record, culture: any(  # noqa: E731
                check(record, culture) for check in checks
            )
            return self._narrow(member, prop, frozenset(lit.value for lit in literals))
        if op not in _COMPARE:
            raise FilterError(f"expected an operator after {prop} at {op_token.pos}, got {op!r}")
        literal = _literal_of(self.take())
        compared = self._compare(prop, op, literal)
        if op == "eq" and not literal.is_datetime:
            return self._narrow(compared, prop, frozenset({literal.value}))
        return compared

    @staticmethod
    def _compare(prop: str, op: str, literal: _Literal) -> Predicate:
        def check(record: Record, culture: str) -> bool:
            values = _values(record, prop, culture)
            if op == "ne":
                return all(_compare("ne", _coerce(v, literal), literal.value) for v in values)
            return any(_compare(op, _coerce(v, literal), literal.value) for v in values)

        return check


@dataclass(frozen=True)
class Filter:
    """A compiled ``$filter``; ``properties`` are the property names it reads."""

    text: str
    properties: frozenset[str]
    _predicate: Predicate
    narrowing: tuple[str, frozenset[Any]] | None = None
    """When every match has ``property`` equal to one of ``values``: (property, values)."""

    def matches(self, record: Record, culture: str) -> bool:
        """Whether a rendered item matches (multilingual values read in ``culture``)."""
        return self._predicate(record, culture)


def parse_filter(text: str) -> Filter:
    """Compile a ``$filter`` text, or raise :class:`FilterError`."""
    parser = _Parser(_tokens(text), text)
    if not parser.tokens:
        raise FilterError("$filter is empty")
    predicate = parser.expression()
    rest = parser.peek()
    if rest is not None:
        raise FilterError(f"unexpected {rest.text!r} at {rest.pos}")
    return Filter(
        text, frozenset(parser.properties), predicate, parser.narrowing.get(id(predicate))
    )
