"""A second plainly written validate-and-split, of a richer connector shape than reference.py's,
read from CSV, JSON, JSON Lines or XLSX: for the property tests of test_formats.py.

The shape (:func:`connector_yaml`, :data:`COLUMNS`):

- ``categories``: a tree built from a path column (``path``, levels split by a separator): every
  level is an item (``A``, ``A > B``, ...) whose parent is the level above; the deepest level
  takes the ``label`` field (title-cased);
- ``products``: a multi-language name, maybe required (``name_en``, ``name_es``, or with
  another ``language_pattern`` ``en-name``, ``es-name``), a price with
  a decimal comma or dot (``parse_number``), a status trimmed, lower-cased and mapped onto
  ``active``/``inactive``/nothing with an enumeration, a date read with ``parse_date``, a list
  of upper-cased tags, a brand with a default, a constant, and its categories: paths of the
  tree, from the path column itself (read level by level) or from another column (``cats``,
  each one reference), several in a cell with a separator or one;
- ``variants``: an integer stock and their product;
- each table may have ``where:`` filters, and an ``on_duplicate`` policy.

Records are read as the formats define them (CSV: csv module, first physical line of a record;
JSON Lines: one object per non-blank line; JSON: a list of objects, the line a record starts on;
XLSX: openpyxl, the sheet row), and rows a reader cannot use (wrong field counts, broken quoting,
undecodable bytes, lines that are not JSON objects, values beyond the header) become rejects of
every table whose filters they pass (as do merged cells and formulas without a value in a
sheet). JSON values of other types (numbers, booleans, lists, objects, lone surrogates) and
sheet numbers and dates are read as the engine's value rules define them. Then everything is
loops over records and items, in the order a person would do it by hand; nothing of the engine
is imported. The reasons are copied
from the engine's messages (readers/, mapping/, validation/values.py, normalize/), so that the
rejects file can be compared line for line.
"""

from __future__ import annotations

import codecs
import csv
import io
import json
import re
import unicodedata
from dataclasses import dataclass, field
from datetime import datetime, time
from decimal import Decimal
from typing import Any

#: The columns of a tabular export, in order (JSON records hold the same keys).
COLUMNS = (
    "kind",
    "path",
    "label",
    "ref",
    "name_en",
    "name_es",
    "price",
    "status",
    "released",
    "tags",
    "brand",
    "sku",
    "stock",
    "cats",
    "en-name",
    "es-name",
)
TABLE_NAMES = ("categories", "products", "variants")


class Absent:
    """A JSON key the record does not hold."""

    def __repr__(self) -> str:
        return "ABSENT"


ABSENT = Absent()


@dataclass(frozen=True)
class Filter:
    column: str
    equals: tuple[str, ...] | None = None
    empty: bool | None = None
    scalar: bool = False  # `equals: V` rather than a list of one

    def yaml(self) -> str:
        if self.equals is not None and self.scalar:
            return f"{{column: {self.column}, equals: {json.dumps(self.equals[0])}}}"
        if self.equals is not None:
            return f"{{column: {self.column}, equals: {json.dumps(list(self.equals))}}}"
        return f"{{column: {self.column}, empty: {str(self.empty).lower()}}}"


@dataclass(frozen=True)
class Shape:
    """What varies between connectors of the shape."""

    format: str  # csv, json, jsonl, xlsx
    path_separator: str
    categories_separator: str | None  # several paths in a product's cell
    where: dict[str, tuple[Filter, ...]]
    policies: dict[str, str | None]
    name_required: bool
    categories_column: str = "path"  # the path column itself, or another one: cats
    decimal: str = "comma"  # the price's decimal separator
    records_path: str = "data.items"  # json: where the list of records is ('': the document)
    skip_lines: int = 0  # csv, xlsx: lines (rows) before the header
    language_pattern: str = "{column}_{lang}"  # or {lang}-{column}: en-name
    encoding: str = "utf-8"  # csv
    delimiter: str = ","  # csv

    @property
    def links_separator(self) -> str | None:
        """The products' separator between the categories of a cell: only on another column
        than the path column (splitting the path column needs a `list_separator` on the
        categories' path too, which the config requires, and this shape does not model)."""
        return self.categories_separator if self.categories_column != "path" else None


def connector_yaml(shape: Shape) -> str:
    """The connector file of the shape: keep it in step with :class:`Split`."""
    fmt = {
        "csv": f"{{type: csv, delimiter: {json.dumps(shape.delimiter)}, "
        f"encoding: {shape.encoding}, skip_lines: {shape.skip_lines}}}",
        "json": f"{{type: json, records_path: {json.dumps(shape.records_path)}}}",
        "jsonl": "{type: jsonl}",
        "xlsx": f"{{type: xlsx, skip_lines: {shape.skip_lines}}}",
    }[shape.format]

    def extra(table: str) -> str:
        text = ""
        if shape.where.get(table):
            text += "    where: [" + ", ".join(f.yaml() for f in shape.where[table]) + "]\n"
        if shape.policies.get(table):
            text += f"    on_duplicate: {shape.policies[table]}\n"
        return text

    column = shape.categories_column
    links = (
        f"{{column: {column}, separator: {json.dumps(shape.links_separator)}}}"
        if shape.links_separator
        else f"{{column: {column}}}"
    )
    return (
        "id: catalogue\ndescription: the format property tests' shape\nschedule: null\n"
        "start_date: 2026-01-01\nsource: {kind: http, conn_id: erp_http, endpoint: x}\n"
        f"format: {fmt}\n"
        "tables:\n"
        "  categories:\n    reference: path\n"
        f"    path: {{column: path, separator: {json.dumps(shape.path_separator)}}}\n"
        "    fields: {label: {column: label, transforms: [{case: title}]}}\n"
        + extra("categories")
        + "  products:\n"
        f"    reference: ref\n    categories: {links}\n"
        "    fields:\n"
        "      name: {column: name, languages: [en, es], "
        f"language_pattern: {json.dumps(shape.language_pattern)}, "
        f"required: {str(shape.name_required).lower()}, max_length: 10}}\n"
        "      price: {column: price, type: number, "
        f"transforms: [{{parse_number: {shape.decimal}}}]}}\n"
        "      status:\n        column: status\n        enum: [active]\n"
        "        transforms: [{trim: true}, {case: lower}, "
        "{map: {'on': active, 'off': inactive, gone: null}}]\n"
        "      released: {column: released, type: date, transforms: [{parse_date: '%d/%m/%Y'}]}\n"
        "      tags: {column: tags, separator: ',', max_length: 4, transforms: [{case: upper}]}\n"
        "      brand: {column: brand, default: acme}\n"
        "      origin: {constant: erp}\n" + extra("products") + "  variants:\n"
        "    reference: sku\n    product: ref\n"
        "    fields: {stock: {column: stock, type: integer}}\n" + extra("variants")
    )


# -- texts -------------------------------------------------------------------------------------


def bad_text(text: str) -> str:
    """Undecodable bytes (read as U+DC80-U+DCFF) as \\xff, NUL as \\x00, other lone
    surrogates as \\ud800: how the rejects file writes them."""
    out = []
    for char in text:
        if char == "\x00":
            out.append("\\x00")
        elif "\udc80" <= char <= "\udcff":
            out.append(f"\\x{ord(char) - 0xDC00:02x}")
        elif "\ud800" <= char <= "\udfff":
            out.append(f"\\u{ord(char):04x}")
        else:
            out.append(char)
    return "".join(out)


def staged(value: Any) -> Any:
    """A value as the split stages it: lone surrogates (a JSON "\\ud800") escaped."""
    if isinstance(value, list):
        return [staged(v) for v in value]
    if isinstance(value, str):
        return "".join(bad_text(c) if "\ud800" <= c <= "\udfff" else c for c in value)
    return value


def shown(value: Any) -> str:
    text = str(value)
    return f"{text[:200]}... ({len(text):,} characters)" if len(text) > 200 else text


class Problem(Exception):
    """Why a value cannot be imported; its text is the reason the engine gives."""


def decimal_text(number: Decimal) -> str:
    """Plain notation (no exponent), no trailing fractional zeros, no -0."""
    text = format(number, "f")
    if "." in text:
        text = text.rstrip("0").rstrip(".")
    return "0" if text in ("0", "-0") else text


def digits(number: Decimal) -> int:
    """How many digits the plain notation of a number has, leading and trailing zeros aside
    (at least one)."""
    whole, _, fraction = decimal_text(number).lstrip("-").partition(".")
    return max(len(whole.lstrip("0")) + len(fraction), 1)


def as_text(value: Any) -> str:
    """A JSON value (or a cell) as text: JSON numbers without a spurious '.0', objects and
    lists as compact JSON."""
    if isinstance(value, str):
        return value
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, Decimal):
        return decimal_text(value)
    if isinstance(value, dict | list):
        return json.dumps(value, ensure_ascii=False, separators=(",", ":"))
    return str(value)


def reference_text(value: Any, noun: str) -> str:
    """What a JSON value gives as the text of a reference: strings and whole numbers."""
    if isinstance(value, bool):
        raise Problem(
            f"the {noun} is the JSON boolean {as_text(value)}, not a code; map the column that "
            "holds the reference"
        )
    if isinstance(value, Decimal) and value != value.to_integral_value():
        raise Problem(
            f"the {noun} is the JSON number {value}, which is not a whole number; export the "
            "reference as a JSON string"
        )
    if isinstance(value, dict | list):
        kind = "an object" if isinstance(value, dict) else "a list"
        raise Problem(
            f"the {noun} is {kind} ({shown(as_text(value))}), not a code; map the field of the "
            "record that holds the reference"
        )
    return as_text(value)


_NAMES = {"\t": "TAB", "\n": "LINE FEED", "\r": "CARRIAGE RETURN", "\x0b": "VERTICAL TAB"}


def character(char: str) -> str:
    name = unicodedata.name(char, "") or _NAMES.get(char, "")
    return f"U+{ord(char):04X} {name}" if name else f"U+{ord(char):04X}"


def reference(value: Any, noun: str = "reference") -> str:
    """Trimmed; refused if it holds a character one cannot see or tell from a space; NFC."""
    text = reference_text(value, noun)
    trimmed = text.strip()
    for index, char in enumerate(trimmed):
        category = unicodedata.category(char)
        if char == " " or category not in ("Cc", "Cf", "Cs", "Zs", "Zl", "Zp"):
            continue
        kind = {
            "Cc": "a control character",
            "Cf": "an invisible character",
            "Cs": "a lone surrogate (half of a character, not text)",
        }.get(category, "a space other than the plain space")
        fix = "replace it with a plain space" if kind.startswith("a space") else "remove it"
        position = len(text) - len(text.lstrip()) + index + 1
        raise Problem(
            f"the {noun} {shown(text)!r} holds {kind} {character(char)} at position {position}; "
            f"{fix} in the ERP",
        )
    return unicodedata.normalize("NFC", trimmed)


def empty(value: Any) -> bool:
    return value is None or value is ABSENT or value == ""


# -- records -----------------------------------------------------------------------------------


@dataclass
class Record:
    line: int
    cells: dict[str, Any]  # by column; ABSENT when the record has no such cell
    problem: tuple[str, str, str] | None = None  # reason, column, value


def _tabular(header: list[str], cells: list[str]) -> dict[str, Any]:
    found: dict[str, Any] = {}
    for index, name in enumerate(header):
        found[name] = cells[index] if index < len(cells) else ABSENT
    return found


def _undecodable(header: list[str], cells: list[str], encoding: str) -> tuple[str, str, str]:
    for index, cell in enumerate(cells):
        for char in cell:
            if char == "\x00":
                reason = (
                    "the value holds a NUL byte (\\x00), which is not text; the export is "
                    "damaged here: fix the row in the ERP"
                )
            elif "\udc80" <= char <= "\udcff":
                reason = (
                    f"bytes that are not valid {encoding} ({bad_text(char)}); check the file's "
                    "encoding (format.encoding) or fix the row in the ERP"
                )
            else:
                continue
            name = header[index] if index < len(header) else f"col_{index + 1}"
            return reason, name, bad_text(cell)
    raise AssertionError("no undecodable text")


def read_csv(data: bytes, encoding: str, delimiter: str, skip_lines: int = 0) -> list[Record]:
    if data.startswith(codecs.BOM_UTF8):
        data, encoding = data[3:], "utf-8"
    elif encoding == "auto":
        # UTF-8 when the bytes are UTF-8, or when its characters outnumber the bytes that are
        # not (a UTF-8 export with a damaged row); cp1252 otherwise
        text = data.decode("utf-8", errors="surrogateescape")
        bad = sum(1 for c in text if "\udc80" <= c <= "\udcff")
        wide = sum(1 for c in text if c > "\x7f") - bad
        encoding = "utf-8" if bad == 0 or wide > bad else "cp1252"
    text = data.decode(encoding, errors="surrogateescape")
    stream = io.StringIO(text, newline="")
    for _ in range(skip_lines):  # lines, whatever they hold (a title, a stray quote)
        stream.readline()
    reader = csv.reader(stream, delimiter=delimiter, strict=True)
    header: list[str] | None = None
    records = []
    end = skip_lines
    while True:
        start = end + 1
        try:
            cells = next(reader)
        except StopIteration:
            break
        except csv.Error as error:
            end = skip_lines + reader.line_num
            if "unexpected end of data" in str(error):
                reason = (
                    f"a quoted value opened in the record starting on line {start} is never "
                    f"closed, so lines {start}-{end} were read as one record; add the missing "
                    "quote in the export"
                )
            else:
                reason = f"the record is not valid CSV ({error}); check the quoting of this line"
            records.append(Record(start, {}, (reason, "", "")))
            continue
        end = skip_lines + reader.line_num
        if not cells:
            continue
        if header is None:
            header = cells
            continue
        record = Record(start, _tabular(header, cells))
        if len(cells) != len(header):
            reason = f"the record has {len(cells)} fields but the header has {len(header)}; " + (
                "a delimiter inside an unquoted value, or a shifted row?"
                if len(cells) > len(header)
                else "fields are missing (a line break inside an unquoted value?)"
            )
            record.problem = (reason, "", delimiter.join(cells))
        elif any(c == "\x00" or "\udc80" <= c <= "\udcff" for cell in cells for c in cell):
            record.problem = _undecodable(header, cells, encoding)
        records.append(record)
    assert header == list(COLUMNS), header
    return records


def _bad_json(text: str) -> tuple[str, str, str] | None:
    for index, char in enumerate(text):
        if char == "\x00" or "\udc80" <= char <= "\udcff":
            start = max(index - 30, 0)
            return (
                "the record holds bytes that are not valid UTF-8 (JSON is always UTF-8); fix "
                "the export",
                "",
                bad_text(text[start : index + 31]),
            )
    return None


def _json_text(data: bytes) -> str:
    if data.startswith(codecs.BOM_UTF8):
        data = data[3:]
    return data.decode("utf-8", errors="surrogateescape")


def read_jsonl(data: bytes) -> list[Record]:
    records = []
    # Lines end with a line feed, a carriage return or both, as text editors count them.
    lines = io.StringIO(_json_text(data), newline="").readlines()
    for number, text in enumerate(lines, start=1):
        if not text.strip():
            continue
        problem = _bad_json(text)
        if problem is None:
            value = text[:200].rstrip("\r\n")
            try:
                obj = json.loads(text, parse_float=Decimal)
            except json.JSONDecodeError as error:
                problem = (
                    f"the line is not valid JSON ({error.msg} at column {error.colno})",
                    "",
                    value,
                )
            else:
                if isinstance(obj, dict):
                    records.append(Record(number, obj))
                    continue
                problem = (f"the line is a JSON {_JSON_KINDS[type(obj)]}, not an object", "", value)
        records.append(Record(number, {}, problem))
    return records


#: What json.loads(parse_float=Decimal) returns, in JSON's words.
_JSON_KINDS = {
    type(None): "null",
    bool: "boolean",
    int: "number",
    Decimal: "number",
    str: "string",
    list: "array",
    dict: "object",
}


def read_json(data: bytes, records_path: str) -> list[Record]:
    """The records of the list at ``data.items`` (or the document itself); a record's line:
    where its text starts."""
    text = _json_text(data)
    document = json.loads(text, parse_float=Decimal)
    count = len(document["data"]["items"] if records_path else document)
    # Walk the list by hand for the lines: after its "[" every record is one JSON value.
    decoder = json.JSONDecoder(parse_float=Decimal)
    at = text.index("[", text.index('"items"')) if records_path else text.index("[")
    records = []
    for _ in range(count):
        at += 1
        while text[at] in " \t\r\n,":
            at += 1
        obj, end = decoder.raw_decode(text, at)
        line = text.count("\n", 0, at) + 1
        raw = text[at:end]
        problem = _bad_json(raw)
        if problem is None and not isinstance(obj, dict):
            problem = (
                f"the record is a JSON {_JSON_KINDS[type(obj)]}, not an object",
                "",
                raw[:200],
            )
        records.append(Record(line, obj if problem is None else {}, problem))
        at = end - 1
    return records


def cell_text(value: Any) -> str:
    """A sheet cell as an export's text: 12.0 is 12, a date its ISO form."""
    if value is None:
        return ""
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, float) and value.is_integer():
        return str(int(value))
    if isinstance(value, datetime):
        return value.date().isoformat() if value.time() == time() else value.isoformat()
    return str(value)


def _hidden_cells(data: bytes) -> dict[int, list[tuple[int, str, str, str]]]:
    """Per sheet row, the cells that read empty although the sheet holds something there: a
    cell of a merged range whose top-left cell holds a value, a formula without a computed
    value. (column, address, reason, value), by column."""
    from openpyxl import load_workbook
    from openpyxl.utils.cell import get_column_letter

    values: Any = load_workbook(io.BytesIO(data), data_only=True).active
    formulas: Any = load_workbook(io.BytesIO(data)).active
    hidden: dict[int, list[tuple[int, str, str, str]]] = {}
    for merged in formulas.merged_cells.ranges:
        top_left = f"{get_column_letter(merged.min_col)}{merged.min_row}"
        if cell_text(values[top_left].value) == "":
            continue
        for row in range(merged.min_row, merged.max_row + 1):
            for col in range(merged.min_col, merged.max_col + 1):
                address = f"{get_column_letter(col)}{row}"
                if address != top_left:
                    reason = (
                        f"{address} is part of merged range {merged.coord}, so it reads empty "
                        f"(only {top_left} holds the value); unmerge the cells in the ERP export"
                    )
                    hidden.setdefault(row, []).append((col, address, reason, ""))
    for cells in formulas.iter_rows():
        for found in cells:
            if found.data_type == "f" and values[found.coordinate].value is None:
                reason = (
                    f"{found.coordinate}: formula {found.value} has no computed value; open and "
                    "save the file in a spreadsheet program, or export values"
                )
                hidden.setdefault(found.row, []).append(
                    (found.column, found.coordinate, reason, str(found.value))
                )
    return {row: sorted(cells) for row, cells in hidden.items()}


def read_xlsx(data: bytes, skip_lines: int = 0) -> list[Record]:
    from openpyxl import load_workbook

    book = load_workbook(io.BytesIO(data), read_only=True, data_only=True)
    sheet: Any = book.active
    rows = [[cell_text(v) for v in row] for row in sheet.iter_rows(values_only=True)]
    book.close()
    hidden = _hidden_cells(data)
    header: list[str] | None = None
    records = []
    for number, cells in enumerate(rows, start=1):
        if number <= skip_lines:
            continue
        if header is None:
            if any(cells):
                header = cells
                while header and header[-1] == "":
                    header.pop()
            continue
        width = len(header)
        empties = [h for h in hidden.get(number, []) if h[0] <= width]
        if not any(cells) and not empties:
            continue
        record = Record(number, _tabular(header, cells))
        extra = [c for c in cells[width:] if c]
        if empties:
            col, _, reason, value = empties[0]
            others = [address for _, address, _, _ in empties[1:]]
            if others:
                more = f" and {len(others) - 5} more" if len(others) > 5 else ""
                reason += f"; {', '.join(others[:5])}{more} of this row read empty too"
            record.problem = (reason, header[col - 1], value)
        elif extra:
            reason = (
                f"the row has values beyond the header's {width} columns; a shifted row "
                "or a column without a header?"
            )
            record.problem = (reason, "", extra[0])
        if not extra:
            record.cells = {k: ("" if v is ABSENT else v) for k, v in record.cells.items()}
        records.append(record)
    assert header == list(COLUMNS), header
    return records


def read(data: bytes, shape: Shape) -> list[Record]:
    if shape.format == "csv":
        return read_csv(data, shape.encoding, shape.delimiter, shape.skip_lines)
    if shape.format == "jsonl":
        return read_jsonl(data)
    if shape.format == "json":
        return read_json(data, shape.records_path)
    return read_xlsx(data, shape.skip_lines)


# -- values ------------------------------------------------------------------------------------


#: grouping (thousands) separators each decimal separator allows besides the other mark
GROUPING = {"comma": ". \u00a0\u202f", "dot": ", \u00a0\u202f'\u2019"}


def separated_number(text: str, decimal: str) -> Decimal:
    """A number written with ``decimal`` (comma or dot) as its decimal separator, maybe with
    groups of three digits: with a comma, ``1234,5``, ``1.234,5``, ``1 234``; ``1.234`` alone is
    ambiguous (a thousand, or one and a bit written with a dot). The same mirrored for dot."""
    mark, other = (",", ".") if decimal == "comma" else (".", ",")
    cleaned = text.strip()
    example = "1234,5 or 1.234.567,89" if decimal == "comma" else "1234.5 or 1,234,567.89"
    expected = f"expected a number with {mark!r} as decimal separator, e.g. {example}"
    allowed = "0-9" + re.escape(GROUPING[decimal])
    match = re.fullmatch(rf"([+-]?)([{allowed}]+?)(?:{re.escape(mark)}([0-9]+))?", cleaned)
    whole = match.group(2) if match else ""
    groups: list[str] = []
    grouping = ""
    if whole.isdigit() and whole.isascii():
        groups = [whole]
    else:
        for candidate in GROUPING[decimal]:
            if candidate in whole:
                grouping = candidate
                groups = whole.split(candidate)
                break
        first_ok = bool(groups) and 1 <= len(groups[0]) <= 3 and groups[0].isdigit()
        rest_ok = all(len(g) == 3 and g.isdigit() and g.isascii() for g in groups[1:])
        if not (first_ok and groups[0].isascii() and rest_ok and len(groups) > 1):
            groups = []
    if match is None or not groups:
        raise Problem(f"{shown(text)!r} is not a number: {expected}")
    sign, fraction = match.group(1), match.group(3)
    if grouping == other and fraction is None and len(groups) == 2:
        raise Problem(
            f"{shown(text)!r} is ambiguous: with {mark!r} as decimal separator it reads as a "
            f"whole number with a grouping {other!r}, but it may be a decimal written with "
            f"{other!r}; {expected}"
        )
    return Decimal(sign + "".join(groups) + "." + (fraction or "0"))


def _name(raw: Any) -> str:
    text = as_text(raw)
    if len(text) > 10:
        raise Problem(f"the value is {len(text):,} characters long; the field allows at most 10")
    return text


def _price(raw: Any, decimal: str) -> str:
    if isinstance(raw, Decimal | int) and not isinstance(raw, bool):
        number = Decimal(raw)  # a JSON number: no separators to read
    else:
        number = separated_number(as_text(raw), decimal)
    if digits(number) > 38:
        raise Problem(
            f"{shown(as_text(raw))!r} needs {digits(number):,} digits; number fields carry at "
            "most 38 (integer and decimal digits together), exactly"
        )
    return decimal_text(number)


def _status(raw: Any) -> str | None:
    key = as_text(raw).strip().lower()
    mapped = {"on": "active", "off": "inactive", "gone": None}
    if key not in mapped:
        raise Problem(f"{shown(key)!r} is not in the field's value map (known: on, off, gone)")
    value = mapped[key]
    if value is not None and value != "active":
        raise Problem(f"{value!r} is not one of the allowed values: active")
    return value


def _released(raw: Any) -> str:
    try:
        return datetime.strptime(as_text(raw).strip(), "%d/%m/%Y").date().isoformat()
    except ValueError:
        raise Problem(
            f"{shown(as_text(raw))!r} does not match the date format '%d/%m/%Y'"
        ) from None


def _tags(raw: Any) -> list[str] | None:
    tags = []
    for part in raw if isinstance(raw, list) else as_text(raw).split(","):
        if isinstance(part, str):
            part = part.strip()
        if empty(part):
            continue
        tag = as_text(part).upper()
        if len(tag) > 4:
            raise Problem(f"the value is {len(tag):,} characters long; the field allows at most 4")
        if "," in tag:
            raise Problem(
                f"the list value {shown(tag)!r} holds a comma, which Sales Layer reads as a "
                "separator between list values; remove it or split the value"
            )
        tags.append(tag)
    return tags or None


def _stock(raw: Any) -> int:
    if isinstance(raw, bool):
        raise Problem(f"{raw!r} is a boolean, not a number")
    number = raw
    if isinstance(raw, int):
        number = Decimal(raw)
    if not isinstance(raw, Decimal):
        text = as_text(raw).strip()
        if not re.fullmatch(r"[+-]?([0-9]+(\.[0-9]*)?|\.[0-9]+)([eE][+-]?[0-9]+)?", text):
            raise Problem(
                f"{text!r} is not a number (digits 0-9 with a dot as decimal separator and no "
                "thousands separators; for other formats declare transforms: [{parse_number: "
                "comma}] or [{parse_number: dot}])"
            )
        number = Decimal(text)
    if number != number.to_integral_value():
        raise Problem(f"{as_text(raw)!r} is not a whole number")
    if not -(2**63) <= int(number) < 2**63:
        raise Problem(
            f"{shown(as_text(raw))!r} is outside the range of integer fields "
            f"({-(2**63)} to {2**63 - 1}); declare the field `type: number` to carry up to 38 "
            "digits exactly, or `type: string` for a code"
        )
    return int(number)


#: how each field's non-empty value is read
FIELDS = {
    "name_en": _name,
    "name_es": _name,
    "status": _status,
    "released": _released,
    "tags": _tags,
    "brand": as_text,
    "stock": _stock,
}
#: what an empty cell gives (a default, a constant)
WHEN_EMPTY = {"brand": "acme", "origin": "erp"}


def field_value(name: str, raw: Any, shape: Shape) -> Any:
    """The value of output column ``name`` for a cell; Problem (without the field's name)."""
    if name == "origin" or empty(raw):
        if name in ("name_en", "name_es") and shape.name_required:
            raise Problem("a required field is empty")
        return WHEN_EMPTY.get(name)
    if name == "price":
        return _price(raw, shape.decimal)
    if name == "label":
        return as_text(raw).title()
    return FIELDS[name](raw)


# -- mapping a record --------------------------------------------------------------------------


@dataclass(frozen=True)
class RowReject:
    ref: str
    column: str
    value: str
    reason: str


def language_column(shape: Shape, lang: str) -> str:
    return shape.language_pattern.replace("{column}", "name").replace("{lang}", lang)


def outputs(table: str, shape: Shape) -> tuple[tuple[str, str], ...]:
    """The output columns of each table: (output name, source column); links last."""
    if table == "categories":
        return (("label", "label"), ("_parent_ref", "path"))
    if table == "variants":
        return (("stock", "stock"), ("_product_ref", "ref"))
    return (
        ("name_en", language_column(shape, "en")),
        ("name_es", language_column(shape, "es")),
        ("price", "price"),
        ("status", "status"),
        ("released", "released"),
        ("tags", "tags"),
        ("brand", "brand"),
        ("origin", "(constant of origin)"),
        ("_category_refs", shape.categories_column),
    )


def _advice(table: str, out: str, given: Any, values: list[Any]) -> str:
    """The end of a conflict's reason: a list field (tags) may collect the rows' values; a row
    whose conflicting value is its field's default (its cell was empty) and most of whose values
    are empty looks like a continuation row (not on a category path)."""
    if out == "tags":
        return (
            "; if each row adds values to this list (an image per row), set `collect: true` on "
            f"field 'tags' of table {table!r}: the values of every row are then gathered, in "
            "order, each once"
        )
    defaulted = out in WHEN_EMPTY and given == WHEN_EMPTY[out]
    if table != "categories" and defaulted and sum(v is None for v in values) * 2 > len(values):
        return (
            "; this row looks like a continuation row (most of its cells are empty, this one took "
            "the field's default): declare "
            f"`continuation: {{key: {REFERENCE_COLUMN[table]}}}` on table {table!r} so that the "
            "empty cells of such rows take their group's first row's values"
        )
    return ", fix the export so that both agree"


REFERENCE_COLUMN = {"categories": "path", "products": "ref", "variants": "sku"}


def path_levels(raw: Any, separator: str, noun: str = "category path level") -> list[str]:
    return [reference(level, noun) for level in reference_text(raw, noun).split(separator)]


def loose_reference(table: str, raw: Any, shape: Shape) -> str:
    """The reference a rejected row is recorded under (so that links to it learn it was
    rejected): normalised as far as it goes."""
    if empty(raw):
        return ""
    try:
        if table != "categories":
            return reference(raw)
        levels = path_levels(raw, shape.path_separator)
        return shape.path_separator.join(levels) if any(levels) else ""
    except Problem:
        return as_text(raw).strip()


def item_reference(table: str, raw: Any, shape: Shape) -> list[str] | RowReject:
    """The reference a record gives ``table`` (a category path: every level's, from the top),
    or why it gives none."""
    column = REFERENCE_COLUMN[table]
    sep = shape.path_separator
    try:
        if empty(raw):
            noun = "category path" if table == "categories" else "reference"
            raise Problem(f"the {noun} is empty; every item needs one")
        if table == "categories":
            levels = path_levels(raw, sep)
            if not any(levels):
                raise Problem("the category path is empty; every item needs one")
            if not all(levels):
                raise Problem(
                    f"the category path has an empty level (levels are separated by {sep!r})"
                )
            refs = [sep.join(levels[: depth + 1]) for depth in range(len(levels))]
        else:
            refs = [reference(raw)]
            if not refs[0]:
                raise Problem("the reference is empty; every item needs one")
    except Problem as problem:
        value = "" if empty(raw) else shown(as_text(raw))
        return RowReject(loose_reference(table, raw, shape), column, value, str(problem))
    if len(refs[-1]) > 512:
        why = f"the reference is {len(refs[-1])} characters long; at most 512 are kept (shorten "
        why += "it in the ERP, or map another column as the reference)"
        return RowReject(refs[-1], column, shown(refs[-1]), why)
    return refs


def category_refs(raw: Any, shape: Shape) -> list[str] | None:
    """A product's categories: paths of the tree, several in a cell with a separator. From the
    path column, a path is read as the categories read it (level by level); from another
    column, it is one reference."""
    if empty(raw):
        return None
    if isinstance(raw, list):
        parts = raw
    elif shape.links_separator:
        parts = reference_text(raw, "category reference").split(shape.links_separator)
    else:
        parts = [raw]
    refs: list[str] = []
    for part in parts:
        if empty(part):
            continue
        if shape.categories_column != "path":
            joined = reference(part, "category reference")
        else:
            levels = path_levels(part, shape.path_separator, "category path level")
            joined = shape.path_separator.join(levels) if any(levels) else ""
        if joined and joined not in refs:
            refs.append(joined)
    return refs or None


def map_record(
    table: str, cells: dict[str, Any], shape: Shape
) -> list[tuple[str, list[Any]]] | RowReject:
    """The items (reference, values) a record gives ``table``, or why it gives none."""
    levels = item_reference(table, cells.get(REFERENCE_COLUMN[table], ABSENT), shape)
    if isinstance(levels, RowReject):
        return levels
    ref = levels[-1]
    values: list[Any] = []
    for out, source in outputs(table, shape):
        raw = cells.get(source, ABSENT)
        try:
            if out == "_parent_ref":
                values.append(None)  # set per level below
            elif out == "_category_refs":
                values.append(category_refs(raw, shape))
            elif out == "_product_ref":
                linked = "" if empty(raw) else reference(raw, "product reference")
                if not linked:
                    why = "the variant has no product reference; every variant belongs to a "
                    return RowReject(ref, source, "", why + "product")
                values.append(linked)
            else:
                try:
                    values.append(field_value(out, raw, shape))
                except Problem as problem:
                    raise Problem(f"field {out!r}: {problem}") from None
        except Problem as problem:
            return RowReject(ref, source, "" if empty(raw) else shown(as_text(raw)), str(problem))
    if table != "categories":
        return [(ref, values)]
    items = []
    for depth, level in enumerate(levels):
        mine = list(values) if depth == len(levels) - 1 else [None] * len(values)
        mine[-1] = levels[depth - 1] if depth else None
        items.append((level, mine))
    return items


# -- the split ---------------------------------------------------------------------------------


class MappingError(Exception):
    """A mapped JSON path that no record of a table holds: the engine's MappingError."""


@dataclass
class Item:
    line: int
    values: list[Any]
    rows: int = 1
    repeats: int = 0


@dataclass
class Outcome:
    tables: dict[str, list[dict[str, Any]]]
    rejects: list[dict[str, str]]
    counts: dict[str, dict[str, int]]
    rows_read: int
    rows_unused: int
    rows_rejected: int


REJECT_COLUMNS = ("source_file", "line", "table", "reference", "column", "value", "reason")


def passes(f: Filter, value: Any) -> bool:
    if f.empty is not None:
        return empty(value) == f.empty
    return ("" if empty(value) else as_text(value)) in (f.equals or ())


@dataclass
class Split:
    file: str
    shape: Shape
    known: dict[str, set[str]]
    policies: dict[str, str] = field(default_factory=dict)
    items: dict[str, dict[str, Item]] = field(default_factory=dict)
    gone: dict[str, set[str]] = field(default_factory=dict)
    counts: dict[str, dict[str, int]] = field(default_factory=dict)
    rejects: list[tuple[int, int, str, str, str, str]] = field(default_factory=list)

    def __post_init__(self) -> None:
        for name in TABLE_NAMES:
            # several tables fed by one export, and a category path: merge by default
            self.policies[name] = self.shape.policies.get(name) or "merge"
            self.items[name], self.gone[name] = {}, set()
            self.counts[name] = dict.fromkeys(
                ("rows_in", "rows_out", "merged", "rejected", "conflicts", "duplicates"), 0
            )

    def reject(self, line: int, table: str, ref: str, col: str, val: str, why: str) -> None:
        self.rejects.append((line, TABLE_NAMES.index(table), ref, col, val, why))

    def reject_row(self, line: int, table: str, r: RowReject) -> None:
        self.counts[table]["rows_in"] += 1
        self.counts[table]["rejected"] += 1
        self.reject(line, table, r.ref, r.column, r.value, r.reason)
        if r.ref:
            self.gone[table].add(bad_text(r.ref))

    def reject_item(self, table: str, ref: str, col: str, val: str, why: str) -> None:
        item = self.items[table].pop(ref)
        if item.rows > 1:
            why += f" (the {item.rows - 1} other row(s) merged into this item are rejected with it)"
        self.counts[table]["rejected"] += item.rows
        self.counts[table]["merged"] -= item.rows - 1
        self.reject(item.line, table, ref, col, val, why)
        self.gone[table].add(ref)

    def add(self, table: str, ref: str, values: list[Any], line: int) -> None:
        counts = self.counts[table]
        counts["rows_in"] += 1
        first = self.items[table].get(ref)
        if first is None:
            self.items[table][ref] = Item(line, values)
            return
        policy = self.policies[table]
        if policy == "merge":
            for index, (kept, given) in enumerate(zip(first.values, values, strict=True)):
                if kept is not None and given is not None and kept != given:
                    out, source = outputs(table, self.shape)[index]
                    counts["conflicts"] += 1
                    counts["rejected"] += 1
                    self.reject(
                        line,
                        table,
                        ref,
                        source,
                        shown(given),
                        f"conflict: rows of {ref!r} disagree on {out!r}: this row has "
                        f"{shown(given)!r}, line {first.line} has {shown(kept)!r}; line "
                        f"{first.line} is kept" + _advice(table, out, given, values),
                    )
                    return
            first.values = [
                g if k is None else k for k, g in zip(first.values, values, strict=True)
            ]
            first.rows += 1
            counts["merged"] += 1
            return
        counts["duplicates"] += 1
        counts["rejected"] += 1
        if policy == "first":
            why = (
                f"reference {ref!r} repeats the one on line {first.line}, which is kept "
                "(on_duplicate: first)"
            )
        else:
            first.repeats += 1
            why = (
                f"reference {ref!r} repeats the one on line {first.line}; this table rejects "
                "every row of a duplicated reference (on_duplicate: reject)"
            )
        self.reject(line, table, ref, REFERENCE_COLUMN[table], ref, why)

    def reject_duplicated(self) -> None:
        for table in TABLE_NAMES:
            for ref, item in list(self.items[table].items()):
                if item.repeats:
                    self.reject_item(
                        table,
                        ref,
                        REFERENCE_COLUMN[table],
                        ref,
                        f"reference {ref!r} appears on {item.repeats + 1} rows; this table "
                        "rejects every row of a duplicated reference (on_duplicate: reject)",
                    )

    def check_parents(self) -> None:
        """Until nothing changes: reject the items whose links point at nothing. The items broken
        at one step are found before any is rejected; they go in order of their reference."""
        links = {
            "categories": ("categories", "parent category", "path"),
            "products": ("categories", "category", self.shape.categories_column),
            "variants": ("products", "product", "ref"),
        }
        changed = True
        while changed:
            changed = False
            for table in TABLE_NAMES:
                target, noun, column = links[table]
                targets, known = self.items[target], self.known.get(target, set())
                broken = {}
                for ref, item in self.items[table].items():
                    value = item.values[-1]
                    listed = value if isinstance(value, list) else [value]
                    missing = [r for r in listed if r is not None]
                    missing = [r for r in missing if r not in targets and r not in known]
                    if missing:
                        broken[ref] = min(missing)
                for ref in sorted(broken):
                    self.reject_item(
                        table, ref, column, broken[ref], self.unknown(target, noun, broken[ref])
                    )
                    changed = True

    def unknown(self, target: str, noun: str, ref: str) -> str:
        if ref in self.gone[target]:
            return f"its {noun} {ref!r} was rejected (see that reject)"

        def key(text: str) -> str:
            return unicodedata.normalize("NFKC", text).casefold()

        alike = sorted(r for r in self.items[target] if r != ref and key(r) == key(ref))
        if alike and alike[0].lower() == ref.lower():
            return (
                f"its {noun} {ref!r} is not in this import, but {alike[0]!r} is: references "
                "are case-sensitive in Sales Layer"
            )
        if alike:
            for index, (a, b) in enumerate(zip(ref, alike[0], strict=False)):
                if a != b:
                    diff = (
                        f"character {index + 1} is {a!r} ({character(a)}) in one and {b!r} "
                        f"({character(b)}) in the other"
                    )
                    break
            else:
                diff = f"one is {len(ref)} characters long, the other {len(alike[0])}"
            return (
                f"its {noun} {ref!r} is not in this import, but the look-alike {alike[0]!r} is "
                f"({diff}): references must match character for character; make both the same "
                "in the ERP"
            )
        return (
            f"its {noun} {ref!r} is neither in this import nor imported before (references "
            "are case-sensitive)"
        )

    def outcome(self, rows_read: int, rows_unused: int) -> Outcome:
        tables = {}
        for table in TABLE_NAMES:
            names = [out for out, _ in outputs(table, self.shape)]
            tables[table] = [
                {"reference": ref, "_source_file": self.file, "_line": item.line}
                | dict(zip(names, map(staged, item.values), strict=True))
                for ref, item in self.items[table].items()
            ]
            self.counts[table]["rows_out"] = len(tables[table])
        rejects = []
        for line, tbl, *texts in sorted(self.rejects, key=lambda r: r[:2]):
            cells = [self.file, str(line), TABLE_NAMES[tbl], *(bad_text(t) for t in texts)]
            cells = [
                "'" + c if c.startswith(("=", "+", "-", "@", "\t", "\r")) else c for c in cells
            ]
            rejects.append(dict(zip(REJECT_COLUMNS, cells, strict=True)))
        lines = {line for line, *_ in self.rejects}
        return Outcome(tables, rejects, self.counts, rows_read, rows_unused, len(lines))


def split(data: bytes, name: str, shape: Shape, known: dict[str, set[str]]) -> Outcome:
    """The reference split of one export of the shape."""
    run = Split(name, shape, known)
    records = read(data, shape)
    unused = 0
    fed = dict.fromkeys(TABLE_NAMES, 0)
    unseen = {
        "categories": {"path", "label"},
        "products": {"ref", language_column(shape, "en"), language_column(shape, "es")}
        | {"price", "status", "released", "tags"}
        | {"brand", shape.categories_column},
        "variants": {"sku", "stock", "ref"},
    }
    for record in records:
        cells = record.cells
        feeds = [
            t
            for t in TABLE_NAMES
            if all(passes(f, cells.get(f.column, ABSENT)) for f in shape.where.get(t, ()))
        ]
        unused += not feeds
        for table in feeds:
            fed[table] += 1
            if record.problem is not None:
                reason, column, value = record.problem
                raw = cells.get(REFERENCE_COLUMN[table], ABSENT)
                ref = loose_reference(table, raw, shape)
                run.reject_row(record.line, table, RowReject(ref, column, value, reason))
                continue
            unseen[table] -= {k for k in unseen[table] if cells.get(k, ABSENT) is not ABSENT}
            mapped = map_record(table, cells, shape)
            if isinstance(mapped, RowReject):
                run.reject_row(record.line, table, mapped)
                continue
            for ref, values in mapped:
                run.add(table, ref, values, record.line)
    if shape.format in ("json", "jsonl"):
        for table in TABLE_NAMES:
            if fed[table] and unseen[table]:
                raise MappingError(
                    f"{name}: table {table!r}: the mapped path(s) "
                    f"{', '.join(sorted(map(repr, unseen[table])))} occur in none of the "
                    f"{fed[table]:,} records; check the spelling (paths are dotted, case included)"
                )
    run.reject_duplicated()
    run.check_parents()
    return run.outcome(len(records), unused)
