"""Parsing of PHP bracket-notation form bodies (``input_data[products][0][prod_ref]=P1``).

Stricter than PHP on purpose, so client encoding bugs surface: a malformed key, an index that is
not a non-negative integer, an empty ``[]`` index, a key given twice, or an unknown top-level name
is refused instead of being silently reshaped.

Besides the rows, a body may carry the flags ``input_data_directly``, ``compression`` and
``test`` (the documentation lets every parameter travel in the URL or in a POST body, and the
official SDK sends ``compression=1`` in the body, next to ``input_data``).
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from urllib.parse import parse_qsl

_KEY = re.compile(r"([^\[\]]+)((?:\[[^\[\]]*\])*)\Z")
_SEGMENT = re.compile(r"\[([^\[\]]*)\]")
_INDEX = re.compile(r"(0|[1-9][0-9]{0,8})\Z")

Rows = dict[str, list[dict[str, str]]]
"""Rows per table, in index order; every value a string."""

IGNORED_FLAGS = frozenset({"get_output_data", "get_affected_ids"})
BODY_FLAGS = frozenset({"input_data_directly", "compression", "test"})
"""Flags read from the body (0 or 1 each)."""


class FormError(ValueError):
    """The body is not a well-formed Import Connector API form; ``code`` is the API's error code
    to answer with (1, or 8 for a ``compression`` that is not 0 or 1)."""

    def __init__(self, message: str, code: int = 1) -> None:
        super().__init__(message)
        self.code = code


@dataclass
class ImportForm:
    """A parsed ``set_info`` body."""

    input_data: Rows = field(default_factory=dict)
    delete_data: Rows = field(default_factory=dict)
    directly: bool = False
    compression: bool | None = None
    """``compression`` given in the body (None: not given there; the URL's then counts)."""
    test: bool = False
    """``test=1`` in the body: only the connection and the signature are to be checked."""


def _decode(body: bytes) -> list[tuple[str, str]]:
    try:
        text = body.decode("utf-8")
    except UnicodeDecodeError as exc:
        raise FormError(f"the body is not UTF-8 ({exc.reason} at byte {exc.start})") from exc
    if not text:
        return []
    try:
        return parse_qsl(
            text, keep_blank_values=True, strict_parsing=True, encoding="utf-8", errors="strict"
        )
    except (ValueError, UnicodeDecodeError) as exc:
        raise FormError(f"the body is not application/x-www-form-urlencoded: {exc}") from exc


def _flag(form: ImportForm, name: str, value: str) -> bool:
    if name not in BODY_FLAGS:
        return name in IGNORED_FLAGS
    if value not in ("0", "1"):
        raise FormError(
            f"{name} must be 0 or 1, not {value!r}", code=8 if name == "compression" else 1
        )
    if name == "input_data_directly":
        form.directly = value == "1"
    elif name == "compression":
        form.compression = value == "1"
    else:
        form.test = value == "1"
    return True


def parse_import_form(body: bytes) -> ImportForm:
    """Parse a ``set_info`` body into rows per table (see the module docstring for refusals)."""
    sections: dict[str, dict[str, dict[int, dict[str, str]]]] = {
        "input_data": {},
        "delete_data": {},
    }
    form = ImportForm()
    for key, value in _decode(body):
        match = _KEY.match(key)
        if not match:
            raise FormError(f"malformed key {key!r}: expected name[table][index][field]")
        name = match.group(1)
        segments = _SEGMENT.findall(match.group(2))
        if not segments and _flag(form, name, value):
            continue
        if name not in sections:
            raise FormError(
                f"unknown parameter {name!r} (expected input_data, delete_data or one of the "
                f"flags {', '.join(sorted(BODY_FLAGS | IGNORED_FLAGS))})"
            )
        if len(segments) != 3:
            if len(segments) == 1:
                raise FormError(
                    f"{key!r}: a table given as one value (a CSV or FTP URL) is not supported by "
                    "the emulator; send the rows"
                )
            raise FormError(f"malformed key {key!r}: expected {name}[table][index][field]")
        table, index, field_name = segments
        if not table or not field_name:
            raise FormError(f"malformed key {key!r}: empty table or field name")
        if not _INDEX.match(index):
            raise FormError(f"malformed key {key!r}: the row index must be a number 0, 1, ...")
        row = sections[name].setdefault(table, {}).setdefault(int(index), {})
        if field_name in row:
            raise FormError(f"{key!r} is given twice")
        row[field_name] = value
    for name, tables in sections.items():
        rows: Rows = {t: [by_index[i] for i in sorted(by_index)] for t, by_index in tables.items()}
        setattr(form, name, rows)
    return form
