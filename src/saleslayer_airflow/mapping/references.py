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
from collections.abc import Sequence
from dataclasses import dataclass
from decimal import Decimal
from typing import Any

from saleslayer_airflow.readers.json import MISSING
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


# -- several category paths in one cell, and their titles ----------------------------------------

#: The most levels one cell may give (every path's, a level shared by two paths counted once):
#: the engine orders a row's levels in 10 bits of its ``_order`` (normalize/mapping.py).
MAX_CELL_LEVELS = 1 << 10
#: The code of a reject for a cell of category paths that cannot be read as a tree.
BAD_PATH = "bad_path"


@dataclass(frozen=True, slots=True)
class PathTree:
    """The categories one cell of paths gives, in order of first appearance (a level shared by
    two paths, 'Default Category', once): each level's reference (its path up to it), parent
    (None at the top), whether it is the deepest level of a path (``leaves``: the row's fields
    go there), its own segment (``segments``: 'Tops' for 'Men/Tops') and where it first occurs
    (``slots``: index of the path in the cell, depth in the path)."""

    refs: tuple[str, ...]
    parents: tuple[str | None, ...]
    leaves: tuple[bool, ...]
    segments: tuple[str, ...]
    slots: tuple[tuple[int, int], ...]
    #: each path's levels, as normalised segments
    paths: tuple[tuple[str, ...], ...]
    #: the reference of every path's deepest level, once each, in the order of the paths
    deepest: tuple[str, ...]


def _which(index: int, count: int) -> str:
    return f"path {index + 1} of {count}"


def _split_cell(text: str, separator: str, list_separator: str | None) -> list[list[str]]:
    paths = [text] if list_separator is None else text.split(list_separator)
    return [path.split(separator) for path in paths]


def _stray(level: str, separators: Sequence[tuple[str, str]]) -> str | None:
    """Why ``level`` may not be a level: it holds a declared separator without its spaces
    ('Men>Tops' for ' > '), which an export writes when it loses them; None when it is fine."""
    for separator, name in separators:
        bare = separator.strip()
        if bare and bare != separator and bare in level:
            return (
                f"holds {bare!r}, the {name} {separator!r} without its spaces: fix the export, "
                f"or declare {bare!r} as the {name}"
            )
    return None


def _check_path(
    path: list[str],
    index: int,
    count: int,
    separator: str,
    list_separator: str | None,
) -> None:
    """Raise ValueProblem (``bad_path``) when one path of a cell is empty, has an empty level
    or, in a cell of several, a level holding a separator without its spaces."""
    several = list_separator is not None
    where = f"{_which(index, count)} " if several and count > 1 else ""
    if not any(path):
        raise ValueProblem(
            f"the category paths have an empty {where.strip() or 'path'} (paths are "
            f"separated by {list_separator!r}): remove the stray separator in the export",
            BAD_PATH,
        )
    if not all(path):
        if not several:  # the message of a single path, as before several were possible
            raise ValueProblem(
                f"the category path has an empty level (levels are separated by {separator!r})",
                BAD_PATH,
            )
        raise ValueProblem(
            f"the category {where}{separator.join(path)!r} has an empty level "
            f"{path.index('') + 1} (levels are separated by {separator!r})",
            BAD_PATH,
        )
    if list_separator is None:
        return
    checks = [(separator, "path separator"), (list_separator, "list separator")]
    for depth, level in enumerate(path):
        why = _stray(level, checks)
        if why is not None:
            raise ValueProblem(
                f"level {depth + 1} {level!r} of the category {where}"
                f"{separator.join(path)!r} {why}",
                BAD_PATH,
            )


def _tree(paths: list[list[str]], separator: str) -> PathTree:
    refs: dict[str, int] = {}
    parents: list[str | None] = []
    leaves: list[bool] = []
    segments: list[str] = []
    slots: list[tuple[int, int]] = []
    deepest: dict[str, None] = {}
    for index, path in enumerate(paths):
        above: str | None = None
        for depth, level in enumerate(path):
            ref = level if above is None else f"{above}{separator}{level}"
            at = refs.get(ref)
            if at is None:
                refs[ref] = at = len(parents)
                parents.append(above)
                leaves.append(False)
                segments.append(level)
                slots.append((index, depth))
            if depth == len(path) - 1:
                leaves[at] = True
                deepest[ref] = None
            above = ref
    return PathTree(
        tuple(refs),
        tuple(parents),
        tuple(leaves),
        tuple(segments),
        tuple(slots),
        tuple(tuple(path) for path in paths),
        tuple(deepest),
    )


def path_tree(
    value: object,
    separator: str,
    list_separator: str | None,
    noun: str = "category path level",
) -> PathTree:
    """The tree of one cell of category paths (several, split by ``list_separator``, when it is
    set), every level normalised like a reference.

    Raises :class:`ValueProblem`: code ``no_reference`` for a cell without any level,
    ``bad_path`` for an empty path or level (``Men//Tops``, a trailing separator, blanks only)
    or a level holding a separator without its spaces, each naming the path, the level and the
    separator; ``bad_reference`` for a level that cannot be a reference."""
    text = reference_text(value, noun)
    raw_paths = _split_cell(text, separator, list_separator)
    paths = [[normalise_reference(level, noun) for level in path] for path in raw_paths]
    if not any(any(path) for path in paths):
        raise ValueProblem("the category path is empty; every item needs one", "no_reference")
    for index, path in enumerate(paths):
        _check_path(path, index, len(paths), separator, list_separator)
    tree = _tree(paths, separator)
    # One path is bounded by the reference's length (512 characters); a cell of several is not.
    if list_separator is not None and len(tree.refs) > MAX_CELL_LEVELS:
        raise ValueProblem(
            f"the category paths give {len(tree.refs):,} categories in one cell; at most "
            f"{MAX_CELL_LEVELS:,} are read from a cell (split the cell over several rows)",
            BAD_PATH,
        )
    return tree


def loose_paths(value: object, separator: str, list_separator: str | None) -> str:
    """The reference a rejected cell of paths is recorded under: every path normalised as far
    as it goes (an empty level kept), joined again by the separators; '' for a blank cell.
    Raises ValueProblem when a level cannot be a reference."""
    text = reference_text(value)
    paths = [
        [normalise_reference(level) for level in path]
        for path in _split_cell(text, separator, list_separator)
    ]
    if not any(any(path) for path in paths):
        return ""
    joined = [separator.join(path) for path in paths]
    return joined[0] if list_separator is None else list_separator.join(joined)


def path_link_refs(
    value: object, separator: str, list_separator: str, noun: str = "category path level"
) -> list[str]:
    """The categories a product's cell of several paths links to: every path's deepest level.
    A cell the categories reject is linked as a whole (:func:`loose_paths`), the reference
    their reject is recorded under, so the product learns its categories were rejected."""
    try:
        return list(path_tree(value, separator, list_separator, noun).deepest)
    except ValueProblem as problem:
        if problem.code == "no_reference":
            return []
        loose = loose_paths(value, separator, list_separator)
        return [loose] if loose else []


def path_titles(
    tree: PathTree,
    value: object,
    separator: str,
    list_separator: str | None,
    names: tuple[str, str],
) -> tuple[str | None, ...]:
    """Each level's title from a path column parallel to the one ``tree`` was read from
    (``categories_fr`` beside ``categories``): its segment at the same place. None for every
    level when the cell is empty (no title in that language from this row).

    Raises ValueProblem (``bad_title``) naming both columns and values when the cell does not
    have the same paths and levels, holds an empty segment, or gives one category two titles.
    ``names``: (path column, parallel column)."""
    if value is None or value == "" or value is MISSING:
        return (None,) * len(tree.refs)
    text = reference_text(value, "category title")
    main, other = names
    paths = [
        [level.strip() for level in path] for path in _split_cell(text, separator, list_separator)
    ]
    shape = [len(path) for path in tree.paths]
    if [len(path) for path in paths] != shape:
        join = list_separator or ""
        want = join.join(separator.join(path) for path in tree.paths)
        raise ValueProblem(
            f"the titles in {other!r} ({shown(text)!r}) do not match the paths in {main!r} "
            f"({shown(want)!r}): levels per path {[len(p) for p in paths]} there, {shape} "
            "here; both columns need the same paths and levels",
            "bad_title",
        )
    for index, titled in enumerate(paths):
        if not all(titled):
            raise ValueProblem(
                f"the titles in {other!r} ({shown(text)!r}) have an empty level in "
                f"{_which(index, len(paths))} (levels are separated by {separator!r})",
                "bad_title",
            )
    titles: list[str | None] = [
        unicodedata.normalize("NFC", paths[index][depth]) for index, depth in tree.slots
    ]
    # a level shared by two paths takes one title: the cell must give it the same in both
    position = {ref: at for at, ref in enumerate(tree.refs)}
    for index, path in enumerate(tree.paths):
        above: str | None = None
        for depth, level in enumerate(path):
            ref = level if above is None else f"{above}{separator}{level}"
            at = position[ref]
            given = unicodedata.normalize("NFC", paths[index][depth])
            if given != titles[at]:
                raise ValueProblem(
                    f"the titles in {other!r} ({shown(text)!r}) give the category {ref!r} two "
                    f"titles, {titles[at]!r} and {given!r}; give it one",
                    "bad_title",
                )
            above = ref
    return tuple(titles)
