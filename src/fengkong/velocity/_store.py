"""Velocity stores: record one decision's events and read the windows, atomically.

Every velocity feature keeps, per key, the events of the decisions that named the key:
the decision's instant, and the value it reads (summed, or counted once per distinct
value). One decision records its events and reads every window in one atomic step, so
concurrent decisions on the same key see each other: each count is exact. Events older
than the window are evicted as the key is touched (and, in the embedded store, by a
periodic sweep; in Redis idle keys expire).

The window of a decision at instant ``t`` holds the events after ``t - window`` that the
store has seen: its own included, an event exactly one window old not. Events of
decisions racing on one key count in the order the store records them (so each sees
the ones before it, whatever their servers' clocks say).
"""

from __future__ import annotations

import asyncio
import datetime as dt
import math
import sqlite3
import threading
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Protocol

from fengkong.compile.ir import VelocityIR
from fengkong.core import MISSING, field_value

_EPOCH = dt.datetime(1970, 1, 1, tzinfo=dt.UTC)
_US = dt.timedelta(microseconds=1)


def epoch_us(at: dt.datetime) -> int:
    """Microseconds since 1970-01-01 UTC, exactly (a naive time is UTC)."""
    if at.tzinfo is None:
        at = at.replace(tzinfo=dt.UTC)
    return (at - _EPOCH) // _US


@dataclass(frozen=True, slots=True)
class Observation:
    """One feature's event of one decision: the key (as text) and the value it reads.

    ``value`` is a float for ``sum``, text for ``distinct_count``, None for ``count``
    or when the value is missing (the event then adds nothing to a sum or distinct count).
    """

    feature: VelocityIR
    key: str
    value: float | str | None


class VelocityStore(Protocol):
    """Records a decision's events and answers every window, atomically."""

    def observe(self, namespace: str, event_id: str, at_us: int,
                items: Sequence[Observation]) -> list[float | int]:
        """Record the events at ``at_us`` and return each window's aggregate, event included.

        ``event_id`` identifies the decision: recording it again (a retry) counts once.
        """
        ...

    async def observe_async(self, namespace: str, event_id: str, at_us: int,
                            items: Sequence[Observation]) -> list[float | int]:
        """:meth:`observe` for an event loop: it waits without blocking the loop."""
        ...

    def close(self) -> None:
        """Release connections."""
        ...

    async def aclose(self) -> None:
        """Release what :meth:`observe_async` opened."""
        ...


def observations(features: Sequence[VelocityIR], inputs: Mapping[str, Any]
                 ) -> tuple[list[Observation], dict[str, None]]:
    """The events of one decision's (pseudonymised, valid) inputs.

    Returns the observations, and the fields that stay null because their key is missing.
    """
    out: list[Observation] = []
    null: dict[str, None] = {}
    for f in features:
        key = field_value(inputs, f.key)
        if key is MISSING or key is None or key == "":
            null[f.field] = None
            continue
        value: float | str | None = None
        if f.value is not None:
            raw = field_value(inputs, f.value)
            if raw is not MISSING and raw is not None:
                if f.agg == "sum":
                    number = float(raw)
                    value = number if math.isfinite(number) else None
                else:
                    value = raw.isoformat() if isinstance(raw, dt.date) else str(raw)
        out.append(Observation(f, key.isoformat() if isinstance(key, dt.date) else str(key),
                               value))
    return out, null


class EmbeddedStore:
    """Velocity events in a SQLite file: survives restarts, needs no server.

    One transaction (``BEGIN IMMEDIATE``) per decision makes record-and-read atomic
    across threads and across processes sharing the file.
    """

    SWEEP_EVERY = 4096  # decisions between sweeps of keys nobody touches any more

    def __init__(self, path: str | Path) -> None:
        self.path = Path(path)
        self.path.parent.mkdir(parents=True, exist_ok=True)
        self._conn = sqlite3.connect(self.path, isolation_level=None,
                                     check_same_thread=False, timeout=30.0)
        self._lock = threading.Lock()
        self._since_sweep = 0
        with self._lock:
            c = self._conn
            c.execute("PRAGMA journal_mode=WAL")
            c.execute("PRAGMA synchronous=NORMAL")
            c.execute("CREATE TABLE IF NOT EXISTS velocity_events ("
                      "ns TEXT NOT NULL, feature TEXT NOT NULL, key TEXT NOT NULL, "
                      "event TEXT NOT NULL, at INTEGER NOT NULL, num REAL, txt TEXT, "
                      "PRIMARY KEY (ns, feature, key, event)) WITHOUT ROWID")
            c.execute("CREATE INDEX IF NOT EXISTS velocity_events_at "
                      "ON velocity_events (ns, feature, key, at)")

    def observe(self, namespace: str, event_id: str, at_us: int,
                items: Sequence[Observation]) -> list[float | int]:
        """Record and read in one transaction (see :class:`VelocityStore`)."""
        out: list[float | int] = []
        with self._lock:
            c = self._conn
            c.execute("BEGIN IMMEDIATE")
            try:
                for o in items:
                    f = o.feature
                    lo = at_us - f.window_s * 1_000_000
                    where = (namespace, f.name, o.key)
                    c.execute("DELETE FROM velocity_events WHERE ns = ? AND feature = ? "
                              "AND key = ? AND at <= ?", (*where, lo))
                    num = o.value if f.agg == "sum" else None
                    txt = o.value if f.agg == "distinct_count" else None
                    c.execute("INSERT OR IGNORE INTO velocity_events VALUES (?, ?, ?, ?, ?, ?, ?)",
                              (*where, event_id, at_us, num, txt))
                    agg = {"count": "COUNT(*)", "sum": "TOTAL(num)",
                           "distinct_count": "COUNT(DISTINCT txt)"}[f.agg]
                    row = c.execute(f"SELECT {agg} FROM velocity_events WHERE ns = ? "
                                    "AND feature = ? AND key = ? AND at > ?",
                                    (*where, lo)).fetchone()
                    out.append(float(row[0]) if f.agg == "sum" else int(row[0]))
                self._since_sweep += 1
                if self._since_sweep >= self.SWEEP_EVERY:
                    self._since_sweep = 0
                    for o in items:
                        c.execute("DELETE FROM velocity_events WHERE ns = ? AND feature = ? "
                                  "AND at <= ?", (namespace, o.feature.name,
                                                  at_us - o.feature.window_s * 1_000_000))
                c.execute("COMMIT")
            except BaseException:
                c.execute("ROLLBACK")
                raise
        return out

    def events(self) -> int:
        """How many events are kept (all namespaces)."""
        with self._lock:
            return int(self._conn.execute("SELECT COUNT(*) FROM velocity_events").fetchone()[0])

    async def observe_async(self, namespace: str, event_id: str, at_us: int,
                            items: Sequence[Observation]) -> list[float | int]:
        """:meth:`observe` in a worker thread (SQLite has no asyncio interface)."""
        return await asyncio.to_thread(self.observe, namespace, event_id, at_us, items)

    def close(self) -> None:
        """Close the file."""
        with self._lock:
            self._conn.close()

    async def aclose(self) -> None:
        """Nothing to release: the file is closed by :meth:`close`."""
