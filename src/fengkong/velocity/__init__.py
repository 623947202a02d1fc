"""Velocity features: sliding-window aggregates per key, online and point in time.

A strategy declares them under ``velocity:``; each is the optional input
``velocity.<name>``. The decision service records each application's event and reads
every window in one atomic step (:class:`EmbeddedStore`, the default, or
:class:`RedisStore`), and stores the values with the inputs, so replay needs no store.
Batch runs and back-tests compute the same values from a history table with
:func:`backfill`. See ``docs/velocity.md``.
"""

from __future__ import annotations

from pathlib import Path

from fengkong.velocity._backfill import backfill, backfill_features
from fengkong.velocity._redis import RedisStore
from fengkong.velocity._store import (
    EmbeddedStore,
    Observation,
    VelocityStore,
    epoch_us,
    observations,
)


def open_store(url: str | None, data_dir: str | Path) -> VelocityStore:
    """The store a URL names: ``redis://…`` / ``rediss://…``, ``sqlite:///FILE``, or
    (None) the embedded default ``<data_dir>/velocity.db``."""
    if url is None or url == "":
        return EmbeddedStore(Path(data_dir) / "velocity.db")
    if url.startswith(("redis://", "rediss://", "unix://")):
        return RedisStore(url)
    if url.startswith("sqlite:///"):
        return EmbeddedStore(url.removeprefix("sqlite:///"))
    msg = f"A velocity store URL starts with redis://, rediss:// or sqlite:///; got {url[:20]!r}."
    raise ValueError(msg)


__all__ = ["EmbeddedStore", "Observation", "RedisStore", "VelocityStore", "backfill",
           "backfill_features", "epoch_us", "observations", "open_store"]
