"""The Redis velocity store: one Lua script per decision, sorted sets per key.

Per feature and key one sorted set, scored by the event's instant in microseconds:
``count`` holds one member per decision, ``sum`` one member ``<decision>|<value>``
per decision, ``distinct_count`` one member per distinct value, scored by its latest
instant. The script evicts what left the window (``ZREMRANGEBYSCORE``), adds the
event (``ZADD``), reads the window (``ZCOUNT``, or the members for a sum) and sets
the key to expire one window after its last event — all in one atomic step, so
concurrent decisions on one key, on any number of servers, see each other.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import redis

from fengkong.velocity._store import Observation

_SCRIPT = """
local now, event = ARGV[1], ARGV[2]
local out = {}
for i, key in ipairs(KEYS) do
  local b = 3 + (i - 1) * 4
  local agg, lo, value, ttl = ARGV[b], ARGV[b + 1], ARGV[b + 2], ARGV[b + 3]
  redis.call('ZREMRANGEBYSCORE', key, '-inf', lo)
  if agg == 'count' then
    redis.call('ZADD', key, now, event)
    out[i] = tostring(redis.call('ZCOUNT', key, '(' .. lo, '+inf'))
  elseif agg == 'sum' then
    redis.call('ZADD', key, now, event .. '|' .. value)
    local total = 0
    for _, m in ipairs(redis.call('ZRANGEBYSCORE', key, '(' .. lo, '+inf')) do
      local v = tonumber(string.match(m, '|([^|]*)$'))
      if v then total = total + v end
    end
    out[i] = string.format('%.17g', total)
  else
    if value ~= '' then redis.call('ZADD', key, 'GT', now, value) end
    out[i] = tostring(redis.call('ZCOUNT', key, '(' .. lo, '+inf'))
  end
  redis.call('PEXPIRE', key, ttl)
end
return out
"""


class RedisStore:
    """Velocity events in Redis (``redis://host:port/db``): shared by every server.

    :meth:`observe` blocks; :meth:`observe_async` runs the same script on an asyncio
    connection, so a server's event loop waits on Redis without a worker thread.
    """

    def __init__(self, url: str, *, prefix: str = "fengkong:velocity:",
                 timeout_s: float = 2.0) -> None:
        self.url = url
        self.prefix = prefix
        self.timeout_s = timeout_s
        self.client: redis.Redis = redis.Redis.from_url(
            url, socket_timeout=timeout_s, socket_connect_timeout=timeout_s)
        self._script: Any = self.client.register_script(_SCRIPT)
        self._async: tuple[Any, Any] | None = None  # (client, script), made in the running loop

    def ping(self) -> bool:
        """Whether Redis answers."""
        return bool(self.client.ping())

    def _call(self, namespace: str, event_id: str, at_us: int,
              items: Sequence[Observation]) -> tuple[list[str], list[str | int]]:
        keys: list[str] = []
        args: list[str | int] = [str(at_us), event_id]
        for o in items:
            f = o.feature
            keys.append(f"{self.prefix}{namespace}:{f.name}:{o.key}")
            value = "" if o.value is None else (repr(o.value) if isinstance(o.value, float)
                                                else o.value)
            # Instants go as integer text: exact, where a Lua number printed is not.
            args += [f.agg, str(at_us - f.window_s * 1_000_000), value,
                     str(f.window_s * 1000 + 60_000)]
        return keys, args

    @staticmethod
    def _values(items: Sequence[Observation], raw: Sequence[Any]) -> list[float | int]:
        return [float(v) if o.feature.agg == "sum" else int(v)
                for o, v in zip(items, raw, strict=True)]

    def observe(self, namespace: str, event_id: str, at_us: int,
                items: Sequence[Observation]) -> list[float | int]:
        """Record and read in one script call (see :class:`~fengkong.velocity.VelocityStore`)."""
        if not items:
            return []
        keys, args = self._call(namespace, event_id, at_us, items)
        return self._values(items, self._script(keys=keys, args=args))

    async def observe_async(self, namespace: str, event_id: str, at_us: int,
                            items: Sequence[Observation]) -> list[float | int]:
        """:meth:`observe` on an asyncio connection (one per store, made on first use)."""
        if not items:
            return []
        if self._async is None:
            import redis.asyncio as aredis

            client = aredis.Redis.from_url(self.url, socket_timeout=self.timeout_s,
                                           socket_connect_timeout=self.timeout_s)
            self._async = (client, client.register_script(_SCRIPT))
        keys, args = self._call(namespace, event_id, at_us, items)
        return self._values(items, await self._async[1](keys=keys, args=args))

    def close(self) -> None:
        """Close the connection pool."""
        self.client.close()

    async def aclose(self) -> None:
        """Close the asyncio connection pool, if one was opened."""
        if self._async is not None:
            await self._async[0].aclose()
            self._async = None
