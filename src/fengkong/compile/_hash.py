"""Stable experiment assignment: CRC-32 of ``"experiment_id:key"`` into 10,000 buckets.

Online uses :func:`zlib.crc32`; batch runs the same table-driven CRC-32 over the
Arrow string buffers with NumPy, so a customer lands in the same arm either way, on
any machine and any version.
"""

from __future__ import annotations

import zlib

import numpy as np
import polars as pl
import pyarrow as pa

BUCKETS = 10_000


def _crc_table() -> np.ndarray:
    table = np.zeros(256, dtype=np.uint32)
    for i in range(256):
        c = i
        for _ in range(8):
            c = (0xEDB88320 ^ (c >> 1)) if c & 1 else (c >> 1)
        table[i] = c
    return table


_TABLE = _crc_table()


def prefix_state(experiment: str) -> int:
    """CRC-32 of ``"experiment:"``; continue it with the key (``zlib.crc32(key, state)``)."""
    return zlib.crc32(f"{experiment}:".encode())


def bucket(key: object, state: int) -> int:
    """The bucket (0-9,999) of one key."""
    return zlib.crc32(str(key).encode(), state) % BUCKETS


def buckets(keys: pl.Series, state: int) -> pl.Series:
    """Buckets for a column of keys (str or int); null keys give null."""
    strings = keys.cast(pl.String)
    arr = strings.to_arrow()
    if not pa.types.is_large_string(arr.type):
        arr = arr.cast(pa.large_string())
    arr = pa.concat_arrays([arr]) if arr.offset else arr
    n = len(arr)
    out = np.zeros(n, dtype=np.uint32)
    if n:
        bufs = arr.buffers()
        offsets = np.frombuffer(bufs[1], dtype=np.int64, count=n + 1)
        data = np.frombuffer(bufs[2], dtype=np.uint8) if bufs[2] is not None else np.zeros(1, np.uint8)
        starts = offsets[:-1]
        lengths = np.diff(offsets)
        order = np.argsort(-lengths, kind="stable")
        sorted_len = lengths[order]
        sorted_start = starts[order]
        crc = np.full(n, (state ^ 0xFFFFFFFF) & 0xFFFFFFFF, dtype=np.uint32)
        maxlen = int(sorted_len[0]) if n else 0
        # Rows are sorted by length, so the rows still active at byte j are a prefix.
        active = n
        for j in range(maxlen):
            while active and sorted_len[active - 1] <= j:
                active -= 1
            b = data[sorted_start[:active] + j]
            c = crc[:active]
            crc[:active] = _TABLE[(c ^ b) & 0xFF] ^ (c >> 8)
        crc ^= np.uint32(0xFFFFFFFF)
        out[order] = crc % BUCKETS
    result = pl.Series(keys.name, out, dtype=pl.Int64)
    return result.set(strings.is_null(), None) if strings.null_count() else result
