"""Fingerprints of landed files, and of a whole fetch.

A file's fingerprint is its size, SHA-256, and what the server says about it (remote mtime or
ETag). The fetch's combined fingerprint is a SHA-256 over the files' sizes and checksums only
(plus, for named files, the name in the source's `files:`, which decides the tables a file
feeds): identical bytes are the same import, whatever the file is called on the server today or
when the ERP last touched it. The remote mtime and ETag are recorded per file, for people and
for later stages.
"""

from __future__ import annotations

import hashlib
from collections.abc import Iterable
from datetime import UTC, datetime
from typing import Protocol


class Digest:
    """Size and SHA-256 of a byte stream, fed chunk by chunk (never the whole file at once)."""

    def __init__(self) -> None:
        self._sha = hashlib.sha256()
        self.size = 0

    def update(self, chunk: bytes) -> None:
        """Add the next chunk of the stream."""
        self._sha.update(chunk)
        self.size += len(chunk)

    @property
    def sha256(self) -> str:
        """Hex SHA-256 of everything fed so far."""
        return self._sha.hexdigest()


class _Fingerprinted(Protocol):
    @property
    def size(self) -> int: ...

    @property
    def sha256(self) -> str: ...


def combined_fingerprint(files: Iterable[_Fingerprinted]) -> str:
    """One SHA-256 over every file of the run: sizes and checksums, and the `files:` name of
    named files; independent of their order and of the names on the server."""

    def line(f: _Fingerprinted) -> str:
        named = getattr(f, "file", None)
        return f"{f.size}:{f.sha256}" if named is None else f"{named}={f.size}:{f.sha256}"

    lines = sorted(line(f) for f in files)
    return hashlib.sha256("\n".join(lines).encode("ascii")).hexdigest()


def utc_iso(moment: datetime | None) -> str | None:
    """ISO-8601 in UTC; naive datetimes are taken as UTC (FTP MDTM and SFTP times are UTC)."""
    if moment is None:
        return None
    if moment.tzinfo is None:
        moment = moment.replace(tzinfo=UTC)
    return moment.astimezone(UTC).isoformat()
