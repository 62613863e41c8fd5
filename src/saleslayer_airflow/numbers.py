"""Exact decimal numbers on their way from the staged files to Sales Layer.

A ``number`` field is staged as its canonical decimal text (``"12.5"``, never a binary float that
would round ``0.1 + 0.2`` or ``9007199254740993``). When it is pushed, a whole number travels as
a Python ``int`` (exact at any size, in JSON and in the Import Connector form alike) and any
other as an :class:`ExactNumber`: a ``str`` holding the exact digits, so every encoder on the way
(the form encoding, ``json.dumps`` of the REST client and of the state store) writes those digits
and nothing else, while the content hash still reads it as a number (:meth:`hash_token`).
"""

from __future__ import annotations

import math
from decimal import Decimal, InvalidOperation

#: Parquet field metadata of every staged field column: its Sales Layer type (``number``...),
#: which the Arrow type does not tell for number columns (exact decimal text, not float64).
FIELD_TYPE_KEY = b"saleslayer:type"


class ExactNumber(str):
    """A decimal number that is not whole, as its canonical text (``"12.5"``, ``"-0.001"``)."""

    __slots__ = ()

    def hash_token(self) -> str:
        """The JSON number token hashing this value.

        The token a float of the same value had (``repr``), when that float is exactly this
        number: items hashed before numbers were exact keep their hash, so they stay
        ``unchanged``; otherwise the exact digits (the old hash held a rounded value, so the
        item is rightly sent once more, exact this time).
        """
        as_float = float(self)
        if math.isfinite(as_float) and Decimal(repr(as_float)) == Decimal(self):
            return repr(as_float)
        return str.__str__(self)


def staged_number(text: str) -> int | ExactNumber:
    """A staged number column's text as the value pushed: ``int`` when whole, else exact text."""
    try:
        number = Decimal(text)
    except InvalidOperation:
        raise ValueError(f"{text!r} is not a staged decimal number") from None
    if number == number.to_integral_value():
        return int(number)
    return ExactNumber(text)
