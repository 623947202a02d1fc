"""The stores: record-and-read is atomic (many threads on one key: exact counts), expired
events are evicted, a retry counts once, the embedded store survives a restart, and the
online values equal the point-in-time backfill of the same applications."""

from __future__ import annotations

import asyncio
import datetime as dt
import random
import uuid
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import polars as pl
import pytest

from fengkong.compile.ir import VelocityIR
from fengkong.velocity import (
    EmbeddedStore,
    Observation,
    RedisStore,
    VelocityStore,
    backfill_features,
    epoch_us,
    observations,
)

COUNT = VelocityIR("apps_1h", "phone", "phone", "count", None, 3600)
SUM = VelocityIR("amount_1h", "phone", "phone", "sum", "amount", 3600)
DISTINCT = VelocityIR("devices_1h", "phone", "phone", "distinct_count", "device", 3600)
DAY = VelocityIR("apps_1d", "id", None, "count", None, 86400)
DEV_DAY = VelocityIR("ids_device_1d", "device", None, "distinct_count", "id", 86400)
AMOUNT_ID = VelocityIR("amount_id_1d", "id", None, "sum", "amount", 86400)
FEATURES = (COUNT, SUM, DISTINCT, DAY, DEV_DAY, AMOUNT_ID)
T0 = dt.datetime(2026, 3, 1, 9, 0, tzinfo=dt.UTC)
US = 1_000_000


@pytest.fixture(params=["embedded", "redis"])
def store(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[VelocityStore]:
    if request.param == "embedded":
        s: VelocityStore = EmbeddedStore(tmp_path / "velocity.db")
    else:
        s = RedisStore(request.getfixturevalue("redis_url"))
    yield s
    s.close()


def ns() -> str:
    return f"test-{uuid.uuid4().hex}"


def obs(phone: str, amount: float | None, device: str | None) -> list[Observation]:
    return [Observation(COUNT, phone, None), Observation(SUM, phone, amount),
            Observation(DISTINCT, phone, device)]


def test_window_sum_distinct_and_eviction(store: VelocityStore) -> None:
    n = ns()
    at = epoch_us(T0)
    assert store.observe(n, "e1", at, obs("p", 100.0, "d1")) == [1, 100.0, 1]
    assert store.observe(n, "e2", at + 10 * US, obs("p", 50.5, "d1")) == [2, 150.5, 1]
    assert store.observe(n, "e3", at + 20 * US, obs("p", None, "d2")) == [3, 150.5, 2]
    assert store.observe(n, "e4", at + 20 * US, obs("other", 1.0, None)) == [1, 1.0, 0]
    # Exactly one window after e1: e1 has left, e2 and e3 are still in.
    assert store.observe(n, "e5", at + 3600 * US, obs("p", 1.0, "d3")) == [3, 51.5, 3]
    # Long after: everything before has expired.
    assert store.observe(n, "e6", at + 3 * 3600 * US, obs("p", 2.0, "d3")) == [1, 2.0, 1]


def test_a_retry_counts_once(store: VelocityStore) -> None:
    n = ns()
    at = epoch_us(T0)
    assert store.observe(n, "same", at, obs("p", 10.0, "d")) == [1, 10.0, 1]
    assert store.observe(n, "same", at, obs("p", 10.0, "d")) == [1, 10.0, 1]


def test_concurrent_decisions_on_one_key_see_each_other(store: VelocityStore) -> None:
    n = ns()
    at = epoch_us(T0)
    total = 200

    def one(i: int) -> list[float | int]:
        return store.observe(n, f"e{i}", at, obs("hot", 1.0, f"d{i % 7}"))

    with ThreadPoolExecutor(16) as pool:
        results = list(pool.map(one, range(total)))
    counts = sorted(int(r[0]) for r in results)
    assert counts == list(range(1, total + 1))  # every decision saw a distinct count
    assert sorted(float(r[1]) for r in results) == [float(i) for i in range(1, total + 1)]
    last = store.observe(n, "final", at + total, obs("hot", 0.0, "d0"))
    assert last == [total + 1, float(total), 7]


def test_the_event_loop_path_records_and_reads_the_same_and_exactly(store: VelocityStore) -> None:
    """``observe_async`` (what the service awaits) sees what ``observe`` sees, and decisions
    awaited together on one key still each get a distinct count."""
    n = ns()
    at = epoch_us(T0)
    total = 100

    async def scenario() -> tuple[list[float | int], list[list[float | int]]]:
        first = await store.observe_async(n, "a1", at, obs("q", 10.0, "d1"))
        together = await asyncio.gather(*(store.observe_async(n, f"e{i}", at + US, obs("hot", 1.0, f"d{i % 5}"))
                                          for i in range(total)))
        await store.aclose()
        return first, together

    first, together = asyncio.run(scenario())
    assert first == [1, 10.0, 1]
    assert store.observe(n, "a2", at + 2 * US, obs("q", 5.0, "d2")) == [2, 15.0, 2]
    assert sorted(int(r[0]) for r in together) == list(range(1, total + 1))
    assert store.observe(n, "last", at + 3 * US, obs("hot", 0.0, "d0")) == [total + 1, float(total), 5]


def test_embedded_store_survives_a_restart(tmp_path: Path) -> None:
    s = EmbeddedStore(tmp_path / "v.db")
    at = epoch_us(T0)
    s.observe("n", "e1", at, obs("p", 5.0, "d"))
    s.close()
    again = EmbeddedStore(tmp_path / "v.db")
    assert again.observe("n", "e2", at + US, obs("p", 5.0, "d")) == [2, 10.0, 1]
    again.close()


def test_embedded_store_sweeps_keys_nobody_touches(tmp_path: Path) -> None:
    s = EmbeddedStore(tmp_path / "v.db")
    s.SWEEP_EVERY = 3
    at = epoch_us(T0)
    s.observe("n", "e1", at, obs("gone", 1.0, "d"))
    s.observe("n", "e2", at + 7200 * US, obs("p", 1.0, "d"))
    s.observe("n", "e3", at + 7200 * US + 1, obs("p", 1.0, "d"))
    assert s.events() == 6  # the sweep ran: the idle key's 3 events are gone
    s.close()


def history(n: int, seed: int) -> pl.DataFrame:
    """Applications in time order, some at the same instant, keys from a small pool."""
    rng = random.Random(seed)
    at = T0
    rows = []
    for _ in range(n):
        at += dt.timedelta(seconds=rng.choice([0, 0, 1, 30, 600, 1800, 3600, 7200]))
        rows.append({"phone": rng.choice(["p1", "p2", "p3", None]),
                     "id": rng.choice(["i1", "i2", "i3", "i4"]),
                     "device": rng.choice(["d1", "d2", "d3", "d4", "d5", None]),
                     "amount": rng.choice([None, 1000, 2500, 300, 50000]),
                     "evaluated_at": at})
    return pl.DataFrame(rows, schema={"phone": pl.String, "id": pl.String, "device": pl.String,
                                      "amount": pl.Int64,
                                      "evaluated_at": pl.Datetime("us", "UTC")})


def test_backfill_equals_the_online_values(store: VelocityStore) -> None:
    frame = history(600, seed=7)
    n = ns()
    online: dict[str, list[object]] = {f.field: [] for f in FEATURES}
    for i, row in enumerate(frame.iter_rows(named=True)):
        items, null = observations(FEATURES, row)
        values = store.observe(n, f"app-{i}", epoch_us(row["evaluated_at"]), items)
        got = {**null, **{o.feature.field: v for o, v in zip(items, values, strict=True)}}
        for f in FEATURES:
            online[f.field].append(got[f.field])
    batch = backfill_features(FEATURES, frame, time_column="evaluated_at")
    for f in FEATURES:
        assert batch[f.field].to_list() == online[f.field], f.name
    # The naive loop as a third opinion, for the count.
    rows = frame.to_dicts()
    for i, r in enumerate(rows):
        if r["phone"] is None:
            continue
        lo = r["evaluated_at"] - dt.timedelta(hours=1)
        expect = sum(1 for q in rows[:i + 1] if q["phone"] == r["phone"] and q["evaluated_at"] > lo)
        assert online[COUNT.field][i] == expect
