"""One normalisation of references, for items and for links alike.

An item's reference and every reference pointing at it (a parent, a product, a category, a
`links:` list, each level of a category path) go through :func:`normalise_reference`, so that
``CAT-1 `` in the category export and ``CAT-1`` in a product's category column meet, and two rows
that a person reads as the same reference give one item.

The rule:

* Whitespace at both ends is trimmed: ASCII blanks, tabs, CR/LF and every Unicode space
  (no-break U+00A0, figure U+2007, narrow no-break U+202F, ideographic U+3000, ...). An export
  pads cells; nobody means a trailing space as part of a code.
* What remains is refused, never silently repaired, when it holds a character a person cannot see
  or tell from a plain space: control characters (Cc: tab, newline inside), format characters
  (Cf: zero-width space/joiners, BOM, soft hyphen, bidi marks and overrides), separators other
  than the plain space (a no-break space inside ``ST 01`` looks exactly like ``ST 01``), and a few
  letters drawn as nothing (Hangul fillers, U+034F, the blank braille pattern). Removing them
  quietly would merge items the ERP keeps apart; the ERP is where they must be fixed.
* Plain spaces inside are kept: ``ST 01`` is a legitimate reference.
* The text is put in Unicode NFC: ``e`` + U+0301 (combining acute) and the precomposed ``é`` are
  canonically the same text, drawn the same, typed differently by different systems; a person
  expects one reference. NFC never changes how a reference looks.
* NFKC is *not* applied: it would also fold a fullwidth P (U+FF30) into P, a circled one
  (U+2460) into 1, the ligature U+FB01 into fi or a superscript two into 2: characters that look
  different and that Japanese or Chinese ERPs use on purpose. A fullwidth reference stays one of
  its own; a link that misses an item only by such a character is told so (normalize/parents.py).
* JSON numbers: ``1``, ``1.0``, ``1E0`` and ``"1"`` are the reference ``"1"``. A number with a
  fraction (``1.5``: as a number, ``1.50`` and ``1.5`` are one value but two texts), a float
  beyond what it holds exactly (2**53), NaN or infinite, a boolean, an object or a list is
  refused: export such a reference as a JSON string.
"""

from __future__ import annotations

import math
import unicodedata
from decimal import Decimal
from typing import Any

from saleslayer_airflow.validation.values import ValueProblem, as_text, shown

#: The code of a reject for a reference that cannot be used as it is.
BAD_REFERENCE = "bad_reference"

#: Letters (Lo/Mn/So) that render as nothing and so pass for an empty or absent character.
_BLANK_LETTERS = frozenset("\u034f\u115f\u1160\u2800\u3164\uffa0")
#: The largest integer a float holds exactly: a larger float reference may not be the ERP's.
_EXACT_FLOAT = 2**53


#: Control characters have no Unicode name; these are the ones an export actually carries.
_CONTROL_NAMES = {"\t": "TAB", "\n": "LINE FEED", "\r": "CARRIAGE RETURN", "\x0b": "VERTICAL TAB"}


def _character(char: str) -> str:
    name = unicodedata.name(char, "") or _CONTROL_NAMES.get(char, "")
    code = f"U+{ord(char):04X}"
    return f"{code} {name}" if name else code


def _kind(char: str) -> str | None:
    """How to describe ``char`` if it may not appear in a reference, else None."""
    if char == " ":
        return None
    category = unicodedata.category(char)
    if category == "Cc":
        return "a control character"
    if category == "Cs":
        return "a lone surrogate (half of a character, not text)"
    if category == "Cf" or char in _BLANK_LETTERS:
        return "an invisible character"
    if category in ("Zs", "Zl", "Zp"):
        return "a space other than the plain space"
    return None


def _number_text(value: int | float | Decimal, noun: str) -> str:
    if isinstance(value, bool):
        raise ValueProblem(
            f"the {noun} is the JSON boolean {as_text(value)}, not a code; map the column "
            "that holds the reference",
            BAD_REFERENCE,
        )
    if isinstance(value, Decimal) and not (
        # adjusted(): the power of ten of the first digit; a longer number is no reference
        # (and its text would be megabytes of zeros for 1E+999999999)
        value.is_finite() and value == value.to_integral_value() and value.adjusted() < 1000
    ):
        raise ValueProblem(
            f"the {noun} is the JSON number {shown(str(value))}, which is not a whole "
            "number; export the reference as a JSON string",
            BAD_REFERENCE,
        )
    if isinstance(value, float) and not (
        math.isfinite(value) and value.is_integer() and abs(value) <= _EXACT_FLOAT
    ):
        raise ValueProblem(
            f"the {noun} is the JSON number {value!r}, which is not a whole number a float "
            "holds exactly, so its text is not certain; export the reference as a JSON string",
            BAD_REFERENCE,
        )
    return as_text(value)


def reference_text(value: Any, noun: str = "reference") -> str:
    """A source value as the text of a reference, before trimming; raises ValueProblem for a
    value that is no reference at all (a boolean, a fractional number, an object, a list)."""
    if isinstance(value, str):
        return value
    if isinstance(value, int | float | Decimal):
        return _number_text(value, noun)
    if isinstance(value, dict | list):
        kind = "an object" if isinstance(value, dict) else "a list"
        raise ValueProblem(
            f"the {noun} is {kind} ({shown(as_text(value))}), not a code; map the field of "
            "the record that holds the reference",
            BAD_REFERENCE,
        )
    return as_text(value)


def normalise_reference(value: Any, noun: str = "reference") -> str:
    """The reference ``value`` stands for: trimmed, checked, NFC; '' for a blank value.

    Raises :class:`ValueProblem` (code ``bad_reference``) naming the character and its position
    (1-based, in the value as received) when the reference holds one that may not be there.
    ``noun`` names the reference in that message ("category reference", "category path level").
    """
    text = reference_text(value, noun)
    trimmed = text.strip()
    if trimmed.isprintable():
        # The common case, checked in C: no Cc/Cf/Cs/Zl/Zp, no space but the plain one. ASCII
        # is already NFC.
        if trimmed.isascii():
            return trimmed
        if _BLANK_LETTERS.isdisjoint(trimmed):
            return unicodedata.normalize("NFC", trimmed)
    offset = len(text) - len(text.lstrip())
    for index, char in enumerate(trimmed):
        kind = _kind(char)
        if kind is None:
            continue
        fix = (
            "replace it with a plain space in the ERP"
            if kind.startswith("a space")
            else "remove it in the ERP"
        )
        raise ValueProblem(
            f"the {noun} {shown(text)!r} holds {kind} {_character(char)} at position "
            f"{offset + index + 1}; {fix}",
            BAD_REFERENCE,
        )
    return unicodedata.normalize("NFC", trimmed)


def visible_form(text: str) -> str:
    """``text`` as a person reads it: every character :func:`normalise_reference` refuses
    dropped (a space other than the plain one read as a plain space), trimmed, NFC. Never a
    reference itself: a rejected reference keeps the item it looks like from being deleted."""
    kept = []
    for char in text:
        kind = _kind(char)
        if kind is None:
            kept.append(char)
        elif kind.startswith("a space"):
            kept.append(" ")
    return unicodedata.normalize("NFC", "".join(kept).strip())


def path_levels(value: Any, separator: str, noun: str = "category path level") -> list[str]:
    """The levels of a category path, each normalised like a reference ('' for an empty level:
    the caller decides what an empty level means)."""
    levels = reference_text(value, noun).split(separator)
    return [normalise_reference(level, noun) for level in levels]


def look_alike_key(ref: str) -> str:
    """What two references that a person could take for one another share: their NFKC form,
    case-folded (a fullwidth P1, p1 and P1 have one key). Only for hints in messages; references
    themselves are never folded (see the module's docstring)."""
    return unicodedata.normalize("NFKC", ref).casefold()


def look_alike_difference(wanted: str, found: str) -> str:
    """The first character where two look-alike references differ, for a person."""
    for index, (a, b) in enumerate(zip(wanted, found, strict=False)):
        if a != b:
            return (
                f"character {index + 1} is {a!r} ({_character(a)}) in one and {b!r} "
                f"({_character(b)}) in the other"
            )
    return f"one is {len(wanted)} characters long, the other {len(found)}"
