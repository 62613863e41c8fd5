"""SHA-256 of every text of a column, as hex: the state store's content hashes.

Vectorised by the ``polars-hash`` plugin (Rust, on the column's buffers: 0.22 s of CPU for a
million texts where ``hashlib`` one row at a time costs 0.57 s). A polars plugin is bound to the
polars it was built against, so it is used only once it has given sha256's answer for a known
text in this process; else (not installed, or refused by this polars) ``hashlib`` hashes row by
row, a few thousand texts at a time. Both give the same hex digests (tests/push/test_sha256.py).
"""

from __future__ import annotations

import hashlib
import logging
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    import polars as pl

log = logging.getLogger(__name__)

#: Texts made Python bytes at once on the hashlib path: their bytes objects reuse the memory the
#: previous ones freed, where a whole batch's would map fresh pages each time.
HASH_SLICE = 4096
#: Bytes of a sha256 digest.
_DIGEST_SIZE = 32
#: A text holding what the canonical JSON can: escapes, non-ASCII, astral characters.
_PROBE = '{"a":"x\\"\\u0001 é €","b":[1,2.50],"c":"😀"}'

_vectorised: bool | None = None


def vectorised() -> bool:
    """Whether the plugin hashes columns here (checked once per process)."""
    global _vectorised
    if _vectorised is None:
        _vectorised = _check_plugin()
    return _vectorised


def use_plugin(enabled: bool | None) -> None:
    """Force the plugin on or off (``None``: check again); for tests and benchmarks."""
    global _vectorised
    _vectorised = enabled


def _check_plugin() -> bool:
    try:
        import polars as pl
        import polars_hash  # noqa: F401  (registers the namespace)

        found = _plugin_hex(pl.Series([_PROBE, None], dtype=pl.String)).to_list()
    except Exception as exc:  # ImportError, or a plugin this polars does not load
        log.debug("sha256 of columns by hashlib: polars-hash unavailable (%s)", exc)
        return False
    expected = hashlib.sha256(_PROBE.encode()).hexdigest()
    if found != [expected, None]:
        log.warning("polars-hash gave %r for a known text; hashing with hashlib instead", found)
        return False
    return True


def _plugin_hex(texts: pl.Series) -> pl.Series:
    import polars as pl
    import polars_hash as plh

    return pl.DataFrame([texts.alias("t")]).select(plh.col("t").chash.sha2_256()).to_series()


def hex_digests(texts: pl.Series) -> pl.Series:
    """The lowercase hex sha256 of each text's UTF-8 bytes (a ``String`` column named
    ``digest``; null for a null text)."""
    if vectorised():
        return _plugin_hex(texts).alias("digest")
    return _hashlib_hex(texts)


def _hashlib_hex(texts: pl.Series) -> pl.Series:
    import numpy as np
    import polars as pl
    import pyarrow as pa

    size = len(texts)
    sha256 = hashlib.sha256
    encoded = texts.cast(pl.Binary)
    # A list comprehension: faster here than map() with a methodcaller (Python 3.11); the
    # digests go back to a column in one buffer (a null text hashes as empty, nulled below).
    digests = b"".join(
        [
            sha256(text or b"").digest()
            for start in range(0, size, HASH_SLICE)
            for text in encoded.slice(start, HASH_SLICE).to_list()
        ]
    )
    offsets = np.arange(0, _DIGEST_SIZE * (size + 1), _DIGEST_SIZE, dtype=np.int64)
    array = pa.LargeBinaryArray.from_buffers(
        pa.large_binary(), size, [None, pa.py_buffer(offsets), pa.py_buffer(digests)]
    )
    hexes = pl.Series("digest", array, dtype=pl.Binary).bin.encode("hex")
    if texts.null_count():
        hexes = pl.select(pl.when(texts.is_not_null()).then(hexes)).to_series()
    return hexes.alias("digest")
