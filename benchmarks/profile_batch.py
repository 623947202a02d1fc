"""Where the time of ``evaluate_batch`` goes, stage by stage.

Runs the batch backend's stages one at a time, materialising the frame after each
(``collect``), and times each: input checks, features, segment routing, the
experiment's CRC-32, scorecard points and scores, table rows, slot selection, rules,
outcome, reason codes and rule hits (NumPy) and the final selection. Materialising
between stages stops Polars from fusing them, so the sum is a little above one
``evaluate_batch`` call (printed alongside); the split is what matters. It also times
a one-row call (the fixed cost of building and planning the query, independent of the
number of rows) and, with ``--cprofile``, lists the Python functions a call spends its
time in.

This reads the backend's private ``_Batch`` class, so it may need adjusting when
``src/fengkong/compile/_batch.py`` changes; it never changes the engine.

Usage:
    .venv/bin/python benchmarks/profile_batch.py                # 1,000,000 rows
    .venv/bin/python benchmarks/profile_batch.py --rows 100000 --cprofile
"""

from __future__ import annotations

import argparse
import cProfile
import datetime as dt
import io
import pstats
import statistics
import sys
import time
from typing import Any

import _harness as h
import polars as pl

from fengkong import compile_strategy, evaluate_batch
from fengkong.compile import _batch, _reasons
from fengkong.compile._batch import _Batch
from fengkong.demo import example_strategy_path, generate_applications

NOW = dt.datetime(2026, 1, 1, tzinfo=dt.UTC)


class _Timed(_Batch):
    """The batch backend, materialising and timing the frame after every stage.

    Stage methods are wrapped, not re-implemented, so this follows ``run`` as it
    changes: the input checks are the time from the start of ``run`` to the first
    stage, the final selection the time after the reason codes.
    """

    def __init__(self, plan: Any) -> None:
        super().__init__(plan)
        self.times: list[tuple[str, float, float]] = []
        self.mark = (time.perf_counter(), time.process_time())
        self.slot_input: pl.DataFrame | None = None

    def _lap(self, name: str) -> None:
        t, c = time.perf_counter(), time.process_time()
        self.times.append((name, t - self.mark[0], c - self.mark[1]))
        self.mark = (t, c)

    def _stage(self, name: str, lf: pl.LazyFrame) -> pl.LazyFrame:
        df = lf.collect()
        self._lap(name)
        return df.lazy()

    def run(self, frame: pl.DataFrame, now: dt.datetime) -> pl.DataFrame:
        self.mark = (time.perf_counter(), time.process_time())
        out = super().run(frame, now)
        self._lap("final selection (null out invalid rows, constants)")
        return out

    def features(self, lf: pl.LazyFrame) -> pl.LazyFrame:
        self._lap("input checks and normalisation (error messages for bad rows only)")
        return self._stage("features", super().features(lf))

    def segment(self, lf: pl.LazyFrame) -> pl.LazyFrame:
        return self._stage("segment routing", super().segment(lf))

    def experiments(self, lf: pl.LazyFrame) -> pl.LazyFrame:
        return self._stage("experiment arm (CRC-32 over the key bytes)", super().experiments(lf))

    def slots(self, lf: pl.LazyFrame) -> pl.LazyFrame:
        self.slot_input = lf.collect()
        self._lap("(materialise)")
        return self._stage("scorecards, tables, slot selection, points columns", super().slots(lf))

    def rules(self, lf: pl.LazyFrame) -> pl.LazyFrame:
        return self._stage("rules, decline/refer flags, caps", super().rules(lf))

    def outcome(self, lf: pl.LazyFrame) -> pl.LazyFrame:
        out = self._stage("outcome: limit, decision, APR, term", super().outcome(lf))
        self.mark = (time.perf_counter(), time.process_time())
        return out


def staged(plan: Any, frame: pl.DataFrame) -> tuple[list[tuple[str, float, float]], dict[str, float]]:
    """Stage times of one run, and the parts of the slot stage timed on their own."""
    b = _Timed(plan)
    original = _batch.reason_columns

    def timed_reasons(p: Any, df: pl.DataFrame) -> Any:
        b.mark = (time.perf_counter(), time.process_time())
        r = original(p, df)
        b._lap("reason codes and rule_hits (NumPy, list columns)")
        return r

    # Inside the reason stage: the per-row "first k distinct codes" pass and the
    # building of the list[str] columns, timed by wrapping the module's helpers.
    parts: dict[str, float] = {"first_distinct": 0.0, "list_series": 0.0}
    helpers = {name: getattr(_reasons, name) for name in ("_first_distinct", "_list_series")}

    def timed(name: str, fn: Any) -> Any:
        def wrapper(*a: Any, **k: Any) -> Any:
            t0 = time.perf_counter()
            try:
                return fn(*a, **k)
            finally:
                parts[name.strip("_")] += time.perf_counter() - t0
        return wrapper

    _batch.reason_columns = timed_reasons  # type: ignore[assignment]
    for name, fn in helpers.items():
        setattr(_reasons, name, timed(name, fn))
    try:
        b.run(frame, NOW)
    finally:
        _batch.reason_columns = original  # type: ignore[assignment]
        for name, fn in helpers.items():
            setattr(_reasons, name, fn)
    times = [t for t in b.times if t[0] != "(materialise)"]
    # Inside the slot stage: every scorecard and every table on every row, alone.
    base = b.slot_input
    assert base is not None
    t0 = time.perf_counter()
    lf = base.lazy()
    scores = []
    for card in plan.scorecards.values():
        cols, score = b.scorecard(card)
        lf = lf.with_columns(cols)
        scores.append(score.alias(f"_score.{card.name}"))
    scored = lf.with_columns(scores).collect()
    parts["scorecards"] = time.perf_counter() - t0
    t0 = time.perf_counter()
    for name in ("score",):  # tables read the slot's score
        b.names[name] = f"_score.{next(iter(plan.scorecards))}"
    cols = [e.alias(f"_tbl.{t.name}.{k}") for t in plan.tables.values() for k, e in b.table(t).items()]
    scored.lazy().with_columns(cols).collect()
    parts["tables"] = time.perf_counter() - t0
    return times, parts


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--rows", type=int, default=1_000_000)
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--repeats", type=int, default=3)
    ap.add_argument("--cprofile", action="store_true")
    h.add_quiet_options(ap)
    args = ap.parse_args()
    quiet = h.quiet_from(args, smoke=args.rows < 1_000_000)  # smaller runs are smoke runs
    strategy = compile_strategy(example_strategy_path())
    frame = generate_applications(args.rows, seed=args.seed)
    one = frame.head(1)
    evaluate_batch(strategy, frame)  # warm-up
    staged(strategy.plan, one)

    def job() -> dict[str, float]:
        runs = [staged(strategy.plan, frame) for _ in range(args.repeats)]
        res: dict[str, float] = {}
        for i, (name, _, _) in enumerate(runs[0][0]):
            res[f"wall|{name}"] = statistics.median(r[0][i][1] for r in runs)
            res[f"cpu|{name}"] = statistics.median(r[0][i][2] for r in runs)
        for part in runs[0][1]:
            res[f"part|{part}"] = statistics.median(r[1][part] for r in runs)
        walls = []
        for _ in range(args.repeats):
            t0 = time.perf_counter()
            evaluate_batch(strategy, frame)
            walls.append(time.perf_counter() - t0)
        res["whole"] = statistics.median(walls)
        fixed = []
        for _ in range(10):
            t0 = time.perf_counter()
            evaluate_batch(strategy, one)
            fixed.append(time.perf_counter() - t0)
        res["fixed"] = statistics.median(fixed)
        return res

    res = h.run_quiet(job, quiet)
    names = [k.split("|", 1)[1] for k in res if k.startswith("wall|")]
    total = sum(res[f"wall|{n}"] for n in names)
    total_cpu = sum(res[f"cpu|{n}"] for n in names)
    print(f"#### evaluate_batch by stage, {frame.height:,} rows, Polars threads: {pl.thread_pool_size()}\n")
    print("| stage | wall s | CPU s | share of wall |")
    print("|---|---:|---:|---:|")
    for n in names:
        print(f"| {n} | {res[f'wall|{n}']:.3f} | {res[f'cpu|{n}']:.3f} | {res[f'wall|{n}'] / total:.0%} |")
    print(f"| **sum of stages** | **{total:.3f}** | **{total_cpu:.3f}** | 100% |")
    print(f"\nInside the slot stage, timed alone on the same rows: every scorecard's points and "
          f"score on every row {res['part|scorecards']:.3f} s; every table on every row "
          f"{res['part|tables']:.3f} s (wall). Inside the reason stage: the first-distinct-codes "
          f"pass {res['part|first_distinct']:.3f} s, building the two list[str] columns "
          f"{res['part|list_series']:.3f} s; the rest (rule columns to code arrays, per-card argsort "
          "of point losses) is the remainder.")
    print(f"\nOne evaluate_batch call on the same rows: {res['whole']:.3f} s wall. "
          f"On one row: {res['fixed'] * 1000:.0f} ms (the fixed cost of building and planning "
          f"the query). Other load: {h.fmt(res['foreign_cpu_share'])}.")
    if args.cprofile:
        prof = cProfile.Profile()
        prof.enable()
        evaluate_batch(strategy, frame)
        prof.disable()
        s = io.StringIO()
        pstats.Stats(prof, stream=s).sort_stats("tottime").print_stats(15)
        print("\ncProfile of one evaluate_batch call (Python-side time; Polars work shows "
              "as `collect`):\n")
        print(s.getvalue())
    return 0


if __name__ == "__main__":
    sys.exit(main())
