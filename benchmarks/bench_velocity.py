"""Velocity features: what six sliding-window aggregates add to one decision.

Six features (count per phone over 1 h and 7 d, sum of the amount per ID over 30 d,
distinct devices per ID over 24 h, distinct IDs per device over 7 d, count per IP over
1 h) on keys drawn from a pool of 2,000 people, so windows hold a realistic few events.
Per decision, as the service does it: the events of the record (``observations``) and
one atomic record-and-read (``observe``) — on Redis over loopback (one Lua script call)
and on the embedded SQLite store (one transaction). ``+ thread hop`` runs the blocking call
in ``asyncio.to_thread``; ``observe_async`` is what the service awaits: an asyncio Redis
connection, or the thread hop for SQLite (so it is not repeated for the embedded store).

Usage:
    .venv/bin/python benchmarks/bench_velocity.py                  # 20,000 decisions each
    .venv/bin/python benchmarks/bench_velocity.py --decisions 2000  # quick
    FENGKONG_BENCH_REDIS=redis://127.0.0.1:6379/0 (default)
"""

from __future__ import annotations

import argparse
import asyncio
import datetime as dt
import os
import random
import statistics
import tempfile
import time
import uuid
from collections.abc import Callable
from pathlib import Path

from fengkong.compile.ir import VelocityIR
from fengkong.velocity import (
    EmbeddedStore,
    Observation,
    RedisStore,
    VelocityStore,
    epoch_us,
    observations,
)

FEATURES = (
    VelocityIR("apps_phone_1h", "applicant.phone", "phone", "count", None, 3600),
    VelocityIR("apps_phone_7d", "applicant.phone", "phone", "count", None, 7 * 86400),
    VelocityIR("amount_id_30d", "applicant.id_number", "id_card", "sum", "loan.amount",
               30 * 86400),
    VelocityIR("devices_id_24h", "applicant.id_number", "id_card", "distinct_count",
               "device.id", 86400),
    VelocityIR("ids_device_7d", "device.id", None, "distinct_count", "applicant.id_number",
               7 * 86400),
    VelocityIR("apps_ip_1h", "device.ip", None, "count", None, 3600),
)


def records(n: int, seed: int = 1) -> list[dict[str, object]]:
    rng = random.Random(seed)
    out = []
    for _ in range(n):
        p = rng.randrange(2000)
        out.append({"applicant.phone": f"tok-phone-{p}", "applicant.id_number": f"tok-id-{p}",
                    "loan.amount": float(rng.randrange(1000, 50000)),
                    "device.id": f"dev-{rng.randrange(2500)}",
                    "device.ip": f"10.0.{rng.randrange(8)}.{rng.randrange(256)}"})
    return out


def run(store: VelocityStore, recs: list[dict[str, object]], *, mode: str) -> list[float]:
    """Latency per decision in µs; ``mode`` is blocking, thread or async."""
    ns = f"bench-{uuid.uuid4().hex[:8]}"
    start = dt.datetime(2026, 1, 1, tzinfo=dt.UTC)
    lat: list[float] = []

    def args(i: int, rec: dict[str, object]) -> tuple[str, str, int, list[Observation]]:
        items, _ = observations(FEATURES, rec)
        return ns, f"d{i}", epoch_us(start + dt.timedelta(seconds=30 * i)), items

    async def loop() -> None:
        for i, rec in enumerate(recs):
            t0 = time.perf_counter_ns()
            if mode == "thread":
                await asyncio.to_thread(lambda i=i, rec=rec: store.observe(*args(i, rec)))
            elif mode == "async":
                await store.observe_async(*args(i, rec))
            else:
                store.observe(*args(i, rec))
            lat.append((time.perf_counter_ns() - t0) / 1000)
        await store.aclose()

    asyncio.run(loop())
    return lat[len(lat) // 10:]  # the first tenth warms up


def pct(vals: list[float], p: float) -> float:
    s = sorted(vals)
    return s[min(len(s) - 1, int(p / 100 * len(s)))]


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--decisions", type=int, default=20_000)
    args = ap.parse_args()
    url = os.environ.get("FENGKONG_BENCH_REDIS", "redis://127.0.0.1:6379/0")
    recs = records(args.decisions)
    rows: list[tuple[str, list[float]]] = []
    with tempfile.TemporaryDirectory() as tmp:
        makers: list[tuple[str, Callable[[], VelocityStore]]] = [
            ("redis (loopback)", lambda: RedisStore(url)),
            ("embedded (SQLite, WAL)", lambda: EmbeddedStore(Path(tmp) / "v.db"))]
        labels = {"blocking": "", "thread": " + thread hop", "async": " observe_async"}
        for name, make in makers:
            modes = ("blocking", "thread", "async") if name.startswith("redis") else ("blocking", "async")
            for mode in modes:
                store = make()
                rows.append((name + labels[mode], run(store, recs, mode=mode)))
                store.close()
    print(f"6 velocity features, {args.decisions:,} decisions per row "
          f"(first 10% dropped as warm-up); µs per decision")
    print(f"{'store':<36} {'p50':>8} {'p90':>8} {'p99':>8} {'mean':>8}")
    for name, lat in rows:
        print(f"{name:<36} {pct(lat, 50):>8.0f} {pct(lat, 90):>8.0f} {pct(lat, 99):>8.0f} "
              f"{statistics.fmean(lat):>8.0f}")


if __name__ == "__main__":
    main()
