"""Choosing the codec of a text export: declared, or detected from the byte-order mark and bytes."""

from __future__ import annotations

import codecs
from typing import BinaryIO

from saleslayer_airflow.readers.errors import SourceFileError

_SAMPLE_BYTES = 1 << 20
_BOMS = (
    (codecs.BOM_UTF8, "utf-8"),
    (codecs.BOM_UTF32_LE, "utf-32"),
    (codecs.BOM_UTF32_BE, "utf-32"),
    (codecs.BOM_UTF16_LE, "utf-16"),
    (codecs.BOM_UTF16_BE, "utf-16"),
)


def _bom(head: bytes) -> tuple[str, int] | None:
    for bom, codec in _BOMS:
        if head.startswith(bom):
            # utf-16/32 codecs read their own BOM; only utf-8's is skipped by hand.
            return codec, len(bom) if codec == "utf-8" else 0
    return None


def _looks_utf8(sample: bytes, *, whole: bool) -> bool:
    """UTF-8 when the sample decodes, or when valid multi-byte sequences outnumber bad bytes.
    ``whole``: the sample is the whole file, so a sequence cut at its end is a bad byte (not
    the start of a character the next MiB completes): a cp1252 export ending in 'café' with no
    line break after it is not UTF-8."""
    decoder = codecs.getincrementaldecoder("utf-8")("surrogateescape")
    text = decoder.decode(sample, final=whole)
    bad = sum(1 for ch in text if "\udc80" <= ch <= "\udcff")
    if bad == 0:
        return True
    wide = sum(1 for ch in text if ch > "\x7f" and not "\udc80" <= ch <= "\udcff")
    return wide > bad


def resolve_encoding(raw: BinaryIO, declared: str, name: str) -> tuple[str, int]:
    """The codec to read ``raw`` with and how many leading bytes to skip (a UTF-8 BOM).

    ``auto``: a BOM decides; else UTF-8 when the first MiB reads as UTF-8, cp1252 otherwise.
    A declared codec that contradicts a UTF-8 BOM is an error, not a guess.
    """
    head = raw.read(_SAMPLE_BYTES)
    raw.seek(0)
    found = _bom(head)
    if declared == "auto":
        if found is not None:
            return found
        whole = len(head) < _SAMPLE_BYTES
        return ("utf-8", 0) if _looks_utf8(head, whole=whole) else ("cp1252", 0)
    family = codecs.lookup(declared).name
    if found is not None and found[0] == "utf-8":
        if family != "utf-8":
            raise SourceFileError(
                name,
                f"the file starts with a UTF-8 byte-order mark but format.encoding is "
                f"{declared!r}; set encoding: utf-8 (or auto), or export the file in {declared}",
                line=1,
            )
        return "utf-8", found[1]
    return declared, 0
