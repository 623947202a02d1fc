"""A small time-to-live cache for the request path: fresh entries cost a dict look-up,
an entry in the second half of its life is still served while one background refresh
runs, an expired one is never served (the request waits for the load), and concurrent
misses of one key share a single load.

So no value older than ``ttl`` is ever answered: a change made through another server
process (a release, a revoked key) is seen within ``ttl`` seconds, however long the key
went unused, while a busy key is refreshed before it expires and never waits.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Callable, Hashable
from typing import Any, Generic, TypeVar

from starlette.concurrency import run_in_threadpool

K = TypeVar("K", bound=Hashable)
V = TypeVar("V")


class TtlCache(Generic[K, V]):
    """Values loaded by a blocking ``loader`` (run in the thread pool), kept ``ttl`` seconds."""

    def __init__(self, loader: Callable[[K], V], ttl: float, max_size: int = 10_000) -> None:
        self.loader, self.ttl, self.max_size = loader, ttl, max_size
        self._items: dict[K, tuple[float, V]] = {}
        self._loading: dict[K, asyncio.Future[V]] = {}

    async def get(self, key: K) -> V:
        """The value of ``key``: cached (refreshed ahead of expiry), or loaded now."""
        hit = self._items.get(key)
        if hit is not None:
            now = time.monotonic()
            if now < hit[0]:  # not expired
                if now >= hit[0] - self.ttl / 2 and key not in self._loading:
                    self._start_load(key).add_done_callback(_ignore)
                return hit[1]
        pending = self._loading.get(key)
        if pending is None:
            pending = self._start_load(key)
        return await asyncio.shield(pending)

    def _start_load(self, key: K) -> asyncio.Future[V]:
        future = asyncio.ensure_future(self._load(key))
        self._loading[key] = future
        return future

    async def _load(self, key: K) -> V:
        try:
            started = time.monotonic()  # the value is as of (no earlier than) now
            value = await run_in_threadpool(self.loader, key)
            if len(self._items) >= self.max_size:
                self._items.clear()
            self._items[key] = (started + self.ttl, value)
            return value
        finally:
            self._loading.pop(key, None)

    def put(self, key: K, value: V) -> None:
        """Store a value loaded elsewhere."""
        self._items[key] = (time.monotonic() + self.ttl, value)

    def forget(self, key: K | None = None) -> None:
        """Drop one key, or every key."""
        if key is None:
            self._items.clear()
        else:
            self._items.pop(key, None)


def _ignore(future: asyncio.Future[Any]) -> None:
    if not future.cancelled():
        future.exception()  # a failed background refresh keeps the stale value; retried later
