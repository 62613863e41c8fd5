"""Turn pydantic validation errors into `file:line: field: message` problems people can act on.

Pydantic locates an error by a path such as ``("source", "ftp", "pathh")``, which mixes real keys
of the file with union tags. Here each path is walked against the data actually read, so the field
shown is the one a person sees in the file (``source.pathh``), on the line where it stands, with
"did you mean ...?" for misspelt keys and the list of allowed values where there is one.
"""

from __future__ import annotations

import difflib
import types
import typing
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from typing import Any

from pydantic import BaseModel, ValidationError
from pydantic_core import ErrorDetails

from saleslayer_airflow.config.yaml_source import Path_, YamlDocument
from saleslayer_airflow.exceptions import Problem

_MAX_VALUE_SHOWN = 60


def problems_from_validation(
    error: ValidationError, doc: YamlDocument, file: str, model: type[BaseModel]
) -> list[Problem]:
    """One Problem per pydantic error, located in the YAML document."""
    return [_problem(detail, doc, file, model) for detail in error.errors(include_url=False)]


def _problem(detail: ErrorDetails, doc: YamlDocument, file: str, model: type[BaseModel]) -> Problem:
    loc = tuple(detail["loc"])
    ctx = detail.get("ctx") or {}
    err = ctx.get("error")
    subpath = getattr(err, "subpath", ())
    if detail["type"] in {"union_tag_invalid", "union_tag_not_found"}:
        subpath = (*subpath, str(ctx.get("discriminator", "kind")).strip("'"))
    path = _real_path(doc.data, (*loc, *subpath))
    field = _dotted(path) or "(top level)"
    kind = detail["type"]
    message = _message(detail, path, model, doc.data)
    # A missing key has no line of its own: point at the mapping that should hold it.
    line = doc.line_of(path[:-1] if kind in {"missing", "union_tag_not_found"} else path)
    return Problem(file, line, field, message)


def _real_path(data: Any, loc: tuple[str | int, ...]) -> Path_:
    """Keep the parts of ``loc`` that are keys or indexes of the data; drop union tags.

    The last part is kept even when absent from the data: it names a missing field.
    """
    path: list[str | int] = []
    current = data
    for i, part in enumerate(loc):
        last = i == len(loc) - 1
        in_dict = isinstance(current, dict) and part in current
        in_list = isinstance(current, list) and isinstance(part, int) and part < len(current)
        if in_dict or in_list:
            path.append(part)
            current = current[part]
        elif last and not _is_tag(part) and not _is_union_tag(current, part):
            path.append(part)
    return tuple(path)


def _is_tag(part: str | int) -> bool:
    # pydantic names union members like "function-after[...]" or "int"; never a real key here.
    return isinstance(part, str) and ("[" in part or part in {"str", "int", "float", "bool"})


def _is_union_tag(data: Any, part: str | int) -> bool:
    # A tagged union names the member by the discriminator's value, e.g. "ftp" for kind: ftp.
    return isinstance(data, dict) and any(v == part for v in data.values() if isinstance(v, str))


def _dotted(path: Path_) -> str:
    out = ""
    for part in path:
        out += f"[{part}]" if isinstance(part, int) else (f".{part}" if out else str(part))
    return out


def _short(value: Any) -> str:
    text = repr(value)
    return text if len(text) <= _MAX_VALUE_SHOWN else text[: _MAX_VALUE_SHOWN - 3] + "..."


def _data_at(data: Any, path: Path_) -> Any:
    for part in path:
        data = data[part]
    return data


def _message(detail: ErrorDetails, path: Path_, model: type[BaseModel], doc_data: Any) -> str:
    kind = detail["type"]
    ctx = detail.get("ctx") or {}
    if kind == "extra_forbidden":
        allowed = sorted(allowed_keys(model, path[:-1], _data_at(doc_data, path[:-1])))
        key = str(path[-1]) if path else "?"
        hint = difflib.get_close_matches(key, allowed, n=1, cutoff=0.6)
        text = f"unknown key {key!r}"
        if hint:
            text += f"; did you mean {hint[0]!r}?"
        return text + (f" Allowed keys here: {', '.join(allowed)}" if allowed else "")
    if kind == "missing":
        return "required key is missing"
    if kind in {"union_tag_invalid", "union_tag_not_found"}:
        tag = str(ctx.get("discriminator", "kind")).strip("'")
        expected = tag_values(model, path[:-1], tag)
        given = ctx.get("tag")
        if kind == "union_tag_not_found":
            return f"required key {tag!r} is missing; one of: {', '.join(expected)}"
        hint = difflib.get_close_matches(str(given), expected, n=1, cutoff=0.5)
        text = f"{tag} {given!r} is not one of: {', '.join(expected)}"
        return text + (f"; did you mean {hint[0]!r}?" if hint else "")
    if kind == "enum":
        hint = difflib.get_close_matches(str(detail.get("input")), _enum_values(ctx), n=1)
        text = f"{_short(detail.get('input'))} is not allowed; use one of: {ctx.get('expected')}"
        return text + (f"; did you mean {hint[0]!r}?" if hint else "")
    if kind in {"value_error", "assertion_error"}:
        return str(ctx.get("error", detail["msg"]))
    return f"{detail['msg']} (got {_short(detail.get('input'))})"


def _enum_values(ctx: dict[str, Any]) -> list[str]:
    return [
        v.strip().strip("'") for v in str(ctx.get("expected", "")).replace(" or ", ",").split(",")
    ]


# --- deprecated keys: still read, reported so people rename them ----------------------------


@dataclass(frozen=True, order=True)
class Deprecation:
    """A key a connector file still uses under its deprecated name: it works, but should go.

    ``message`` is the field's ``Field(deprecated=...)`` text: it names the key and the fix.
    """

    file: str
    line: int
    field: str
    message: str

    def __str__(self) -> str:
        return f"{self.file}:{self.line}: {self.message}"


def deprecated_keys(doc: YamlDocument, file: str, model: type[BaseModel]) -> list[Deprecation]:
    """Every key of the document that ``model`` declares with ``Field(deprecated=...)``.

    Read from the file's own keys, not the validated model: a deprecated field is folded into
    its new name while validating, so only the file still shows which name was written.
    """
    found: list[Deprecation] = []

    def walk(candidates: list[Any], data: Any, path: Path_) -> None:
        if isinstance(data, dict):
            models = _models(candidates, data)
            for key, value in data.items():
                here = (*path, key)
                for m in models:
                    info = m.model_fields.get(key)
                    if info is not None and info.deprecated:
                        message = info.deprecation_message or f"{_dotted(here)} is deprecated"
                        found.append(Deprecation(file, doc.line_of(here), _dotted(here), message))
                        break
                walk([nxt for tp in candidates for nxt in _step(tp, key)], value, here)
        elif isinstance(data, list):
            for i, item in enumerate(data):
                walk([nxt for tp in candidates for nxt in _step(tp, i)], item, (*path, i))

    walk([model], doc.data, ())
    return sorted(found)


def _models(candidates: list[Any], data: dict[str, Any]) -> list[type[BaseModel]]:
    """The models among ``candidates`` that may describe the mapping ``data``; the members of a
    tagged union are narrowed down by the tags the mapping gives (``kind: ftp``)."""
    models = [
        leaf
        for tp in candidates
        for leaf in _unwrap(tp)
        if isinstance(leaf, type) and issubclass(leaf, BaseModel)
    ]
    if len(models) > 1:
        models = [m for m in models if _tags_match(m, data)] or models
    return models


# --- allowed keys at a path, for "did you mean" --------------------------------------------


def allowed_keys(model: type[BaseModel], path: Path_, data: Any = None) -> set[str]:
    """The keys a mapping at ``path`` (a path of the data) should hold, by walking the model
    types (deprecated keys, which still load, are left out).

    ``data`` is the mapping found at ``path``; it picks the member of a tagged union
    (``kind: ftp`` selects the FTP source's keys).
    """
    candidates: list[Any] = [model]
    for part in path:
        candidates = [nxt for tp in candidates for nxt in _step(tp, part)]
    models = _models(candidates, data if isinstance(data, dict) else {})
    # A deprecated key still loads, but suggesting it would teach the old name.
    return {name for m in models for name, info in m.model_fields.items() if not info.deprecated}


def tag_values(model: type[BaseModel], path: Path_, tag: str) -> list[str]:
    """The values the discriminator ``tag`` may take for the tagged union at ``path``."""
    candidates: list[Any] = [model]
    for part in path:
        candidates = [nxt for tp in candidates for nxt in _step(tp, part)]
    values: list[str] = []
    for tp in candidates:
        for leaf in _unwrap(tp):
            if isinstance(leaf, type) and issubclass(leaf, BaseModel) and tag in leaf.model_fields:
                values += [str(v) for v in typing.get_args(leaf.model_fields[tag].annotation)]
    return values


def _tags_match(model: type[BaseModel], data: dict[str, Any]) -> bool:
    for name, info in model.model_fields.items():
        is_tag = typing.get_origin(info.annotation) is typing.Literal and name in data
        if is_tag and data[name] not in typing.get_args(info.annotation):
            return False
    return True


def _unwrap(tp: Any) -> Iterator[Any]:
    """Yield the concrete types behind Annotated / Optional / Union."""
    origin = typing.get_origin(tp)
    if origin is typing.Annotated:
        yield from _unwrap(typing.get_args(tp)[0])
    elif origin in (typing.Union, types.UnionType):
        for arg in typing.get_args(tp):
            yield from _unwrap(arg)
    else:
        yield tp


def _step(tp: Any, part: str | int) -> Iterable[Any]:
    for leaf in _unwrap(tp):
        origin = typing.get_origin(leaf)
        if isinstance(leaf, type) and issubclass(leaf, BaseModel) and isinstance(part, str):
            info = leaf.model_fields.get(part)
            if info is not None:
                yield info.annotation
        elif origin is dict:
            yield typing.get_args(leaf)[1]
        elif origin is list and isinstance(part, int):
            yield typing.get_args(leaf)[0]
