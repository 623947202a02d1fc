"""Live monitoring gauges: approval rate and score PSI per strategy and segment.

Computed from the decision log when ``/metrics`` is scraped and the last computation is
older than ``Settings.monitor_ttl`` (in a worker thread, one at a time); a decision request
never reads the database for them. The window is the last ``Settings.monitor_window``
seconds; the score PSI compares it with the strategy's development sample when
``Settings.monitor_reference_dir`` holds ``<strategy id>.parquet`` (scored by the version
that made the newest decision), otherwise with the window before it (period-over-period).
"""

from __future__ import annotations

import asyncio
import datetime as dt
import logging
import math
import time
from pathlib import Path
from typing import TYPE_CHECKING, Any

from fengkong.store import Database, releases, utcnow

if TYPE_CHECKING:
    from fengkong.service._metrics import Metrics
    from fengkong.service._settings import Settings

log = logging.getLogger("fengkong.service.monitoring")

#: Most deployed strategies refreshed per pass.
MAX_STRATEGIES = 200


class LiveMonitor:
    """Refreshes the ``fengkong_monitor_*`` gauges of one app from its decision log."""

    def __init__(self, db: Database, metrics: Metrics, settings: Settings) -> None:
        self.db = db
        self.metrics = metrics
        self.window = dt.timedelta(seconds=settings.monitor_window)
        self.ttl = settings.monitor_ttl
        self.max_records = settings.monitor_max_records
        self.reference_dir: Path | None = settings.monitor_reference_dir
        self.refreshed = -math.inf  # monotonic time of the last refresh
        self._lock = asyncio.Lock()
        # (tenant, strategy, version, file mtime) -> scored reference
        self._references: dict[tuple[str, str, str, float], Any] = {}

    async def maybe_refresh(self) -> None:
        """Refresh in a worker thread when the gauges are older than the TTL (never raises)."""
        if self.ttl < 0 or time.monotonic() - self.refreshed < self.ttl:
            return
        async with self._lock:
            if time.monotonic() - self.refreshed < self.ttl:
                return
            try:
                await asyncio.to_thread(self.refresh)
            except Exception:
                log.exception("monitoring gauges not refreshed")
            finally:
                self.refreshed = time.monotonic()

    def refresh(self, now: dt.datetime | None = None) -> None:
        """Recompute every gauge from the log (blocking)."""
        from fengkong.lifecycle._monitor import live_stability, load_decisions

        now = now or utcnow()
        start = now - self.window
        with self.db.reader.connect() as conn:
            deployed = releases.all_deployments(conn)[:MAX_STRATEGIES]
        values: list[tuple[tuple[str, str, str], int, float, float | None]] = []
        for tenant, sid in deployed:
            recent = load_decisions(self.db, tenant, sid, start=start, end=now,
                                    limit=self.max_records)
            if not recent.height:
                continue
            reference = self._reference(tenant, sid, str(recent["strategy_version"][-1]))
            if reference is None:
                reference = load_decisions(self.db, tenant, sid, start=start - self.window,
                                           end=start, limit=self.max_records)
            for s in live_stability(recent, reference if reference.height else None):
                values.append(((tenant, sid, s.segment), s.n, s.approval_rate, s.score_psi))
        m = self.metrics
        for gauge in (m.monitor_decisions, m.monitor_approval_rate, m.monitor_score_psi):
            gauge.clear()
        for labels, n, rate, psi in values:
            m.monitor_decisions.labels(*labels).set(n)
            m.monitor_approval_rate.labels(*labels).set(rate)
            if psi is not None:
                m.monitor_score_psi.labels(*labels).set(psi)
        m.monitor_refreshed.set(now.timestamp())

    def _reference(self, tenant: str, sid: str, version: str) -> Any:
        """The development sample of ``sid`` scored by ``version``, if one is configured."""
        if self.reference_dir is None:
            return None
        path = self.reference_dir / f"{sid}.parquet"
        if not path.is_file():
            return None
        key = (tenant, sid, version, path.stat().st_mtime)
        found = self._references.get(key)
        if found is None:
            import polars as pl

            from fengkong.lifecycle._monitor import score_reference, stored_strategy

            with self.db.reader.connect() as conn:
                strategy = stored_strategy(conn, tenant, sid, version)
            found = score_reference(pl.read_parquet(path), strategy)
            self._references = {k: v for k, v in self._references.items()
                                if k[:3] != key[:3]}
            self._references[key] = found
        return found
