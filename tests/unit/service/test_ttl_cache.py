"""The request-path cache never answers a value older than its ``ttl``.

Regression: it used to serve an expired entry (while refreshing it in the background)
however old it was, so a key revoked, or a release made, through another server process
was still honoured by the first request after a quiet spell longer than the ttl.
"""

from __future__ import annotations

import asyncio

from fengkong.service._cache import TtlCache


def test_an_expired_entry_is_never_served() -> None:
    source = {"k": "old"}
    cache: TtlCache[str, str] = TtlCache(source.__getitem__, ttl=0.2)

    async def run() -> list[str]:
        first = await cache.get("k")
        source["k"] = "new"  # changed elsewhere (another server process)
        await asyncio.sleep(0.3)  # nobody asks for longer than the ttl
        return [first, await cache.get("k")]

    assert asyncio.run(run()) == ["old", "new"]


def test_a_busy_entry_is_refreshed_ahead_and_never_waits() -> None:
    calls: list[str] = []

    def load(key: str) -> int:
        calls.append(key)
        return len(calls)

    cache: TtlCache[str, int] = TtlCache(load, ttl=0.4)

    async def run() -> list[int]:
        seen = [await cache.get("k")]
        await asyncio.sleep(0.25)  # second half of the entry's life
        seen.append(await cache.get("k"))  # the cached value, a refresh starts
        await asyncio.sleep(0.05)
        seen.append(await cache.get("k"))  # the refreshed value
        return seen

    assert asyncio.run(run()) == [1, 1, 2]
