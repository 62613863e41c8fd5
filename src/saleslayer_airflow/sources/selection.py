"""Which remote files a run takes: a templated path, or a folder, a glob and a pick rule.

Servers answer listings differently: pyftpdlib's NLST gives bare names, vsftpd's full paths,
some servers add '.' and '..' or sub-folders. Everything is normalised to bare names first.
"""

from __future__ import annotations

import fnmatch
import posixpath
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import UTC, datetime

from saleslayer_airflow.config.sources import PickRule


@dataclass(frozen=True)
class RemoteFile:
    """A file on the server: its full path, and what the listing says about it."""

    path: str
    size: int | None = None
    mtime: datetime | None = None

    @property
    def name(self) -> str:
        """The bare file name."""
        return posixpath.basename(self.path)


def bare_names(entries: Iterable[str]) -> list[str]:
    """Names from a listing that may hold bare names or full paths; drops '.', '..' and ''."""
    names = {posixpath.basename(e.rstrip("/")) for e in entries}
    return sorted(n for n in names if n not in {"", ".", ".."})


def join(directory: str, name: str) -> str:
    """The full remote path of ``name`` in ``directory``."""
    return posixpath.join(directory or "/", name)


def matching(names: Iterable[str], pattern: str) -> list[str]:
    """Names matching a glob, case-sensitively (ERP servers are), in name order."""
    return sorted(n for n in names if fnmatch.fnmatchcase(n, pattern))


_OLDEST = datetime.min.replace(tzinfo=UTC)


def _aware(moment: datetime | None) -> datetime:
    if moment is None:
        return _OLDEST
    return moment if moment.tzinfo else moment.replace(tzinfo=UTC)


def choose(files: Iterable[RemoteFile], pick: PickRule) -> list[RemoteFile]:
    """``all``: every file, in name order. ``newest``: the one with the latest mtime; ties and
    unknown mtimes go to the last name (dated names sort by date)."""
    ordered = sorted(files, key=lambda f: f.name)
    if pick is PickRule.ALL or not ordered:
        return ordered
    return [max(ordered, key=lambda f: (_aware(f.mtime), f.name))]
