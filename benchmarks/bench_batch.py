"""Batch benchmark: rows per second of ``evaluate_batch`` on the example strategy.

1,000,000 applications from ``generate_applications(1_000_000, seed=0)`` (generation is
not timed) are decided three ways:

* ``evaluate_batch`` (Polars, the engine's batch backend), whole frame per call;
* the single-record path, ``evaluate`` in a Python loop over dicts, timed on the first
  20,000 rows and extrapolated to the whole frame (the dict conversion is timed apart);
* a hand-written vectorised NumPy floor of the same strategy (``_numpy_floor.py``: rules,
  both scorecards, segment routing, the five pricing tables, the CRC-32 experiment arm),
  which computes decision, limit, APR, segment, arm and score but no reasons, rule hits,
  points or input checks.

Before timing, the floor must agree with ``evaluate_batch`` on decision, limit, APR,
segment, arm and score for every row, and the single-record path with
``evaluate_batch`` on decision, limit, APR and reasons for every row it is timed on.
Reported: wall rows/s, rows per CPU-second (``time.process_time``, all threads of the
process, i.e. rows/s per core), with the Polars thread count. Also: the median of 20
``compile_strategy(example_strategy_path())`` calls.

Usage:
    .venv/bin/python benchmarks/bench_batch.py                  # 1,000,000 rows
    POLARS_MAX_THREADS=1 .venv/bin/python benchmarks/bench_batch.py
    .venv/bin/python benchmarks/bench_batch.py --rows 100000    # smoke run (< 1 minute)
"""

from __future__ import annotations

import argparse
import datetime as dt
import gc
import json
import resource
import statistics
import sys
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import _harness as h
import _numpy_floor as floor
import numpy as np
import polars as pl

from fengkong import compile_strategy, evaluate, evaluate_batch
from fengkong.core import FixedClock
from fengkong.demo import example_strategy_path, generate_applications

GOAL_ROWS_PER_CPU_S = 2_000_000
GOAL_COMPILE_MS = 200.0
CLOCK = FixedClock(dt.datetime(2026, 1, 1, tzinfo=dt.UTC))


class MismatchError(AssertionError):
    """An implementation disagreed with ``evaluate_batch`` before timing."""


def _same(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    return (a == b) | (np.isnan(a) & np.isnan(b))


def check_floor(out: pl.DataFrame, got: dict[str, np.ndarray]) -> None:
    """The NumPy floor must equal ``evaluate_batch`` on every row."""
    problems = []
    decision = np.array(floor.DECISIONS)[got["decision"]]
    if (bad := int((decision != out["decision"].to_numpy()).sum())):
        problems.append(f"decision differs on {bad} rows")
    segment = np.array(floor.SEGMENTS)[got["segment"]]
    if (bad := int((segment != out["segment"].to_numpy()).sum())):
        problems.append(f"segment differs on {bad} rows")
    arm = np.where(got["arm"] == -1, None, np.where(got["arm"] == 1, "low_apr", "champion"))
    if (bad := int((arm != out["experiment.apr_test"].to_numpy()).sum())):
        problems.append(f"experiment arm differs on {bad} rows")
    for name, col in (("limit", "limit"), ("apr", "apr"), ("score", "score.score")):
        if (bad := int((~_same(got[name], out[col].to_numpy())).sum())):
            problems.append(f"{name} differs on {bad} rows")
    if problems:
        raise MismatchError("NumPy floor vs evaluate_batch: " + "; ".join(problems))


def check_single(strategy: Any, records: list[dict[str, Any]], out: pl.DataFrame) -> None:
    """``evaluate`` must equal ``evaluate_batch`` on every row it is timed on."""
    want = out.select("decision", "limit", "apr", "reasons").to_dicts()
    for i, (rec, w) in enumerate(zip(records, want, strict=True)):
        d = evaluate(strategy, rec, clock=CLOCK)
        if (d.decision, d.limit, d.apr, d.reasons) != (w["decision"], w["limit"], w["apr"], w["reasons"]):
            msg = f"evaluate vs evaluate_batch, row {i}: {d!r} != {w}"
            raise MismatchError(msg)


def timed_runs(job: Callable[[], Any], repeats: int) -> dict[str, float]:
    """Wall and process-CPU seconds of ``repeats`` calls; medians and all runs."""
    walls, cpus = [], []
    for _ in range(repeats):
        gc.collect()
        c0, t0 = time.process_time(), time.perf_counter()
        job()
        walls.append(time.perf_counter() - t0)
        cpus.append(time.process_time() - c0)
    return {"wall_s": statistics.median(walls), "cpu_s": statistics.median(cpus),
            "wall_min_s": min(walls), "wall_max_s": max(walls), "repeats": repeats}


def peak_rss_mb() -> float:
    """Peak resident set size of this process so far, MB (Linux reports KB)."""
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--rows", type=int, default=1_000_000)
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--repeats", type=int, default=3, help="timed runs per variant (median reported)")
    ap.add_argument("--loop-rows", type=int, default=20_000,
                    help="rows the single-record loop is timed on (then extrapolated)")
    ap.add_argument("--compile-repeats", type=int, default=20)
    ap.add_argument("--json", help="write raw results here")
    h.add_quiet_options(ap)
    args = ap.parse_args()
    quiet = h.quiet_from(args, smoke=args.rows < 1_000_000)  # smaller runs are smoke runs
    env = h.environment(rows=args.rows, seed=args.seed, polars_threads=pl.thread_pool_size(),
                        quiet_threshold=quiet.threshold)
    print(json.dumps(env, indent=1))

    # compile time: median of N (the first call also pays imports of the lazy parts)
    path = example_strategy_path()
    compile_strategy(path)
    compile_res = h.run_quiet(lambda: _compile_times(path, args.compile_repeats), quiet)
    print(f"compile_strategy: median {compile_res['median_ms']:.1f} ms over {args.compile_repeats}")

    strategy = compile_strategy(path)
    pack = floor.load_pack(path)
    t0 = time.perf_counter()
    frame = generate_applications(args.rows, seed=args.seed)
    gen_s = time.perf_counter() - t0
    rss_frame = peak_rss_mb()
    print(f"generated {frame.height:,} rows in {gen_s:.1f} s (not timed); peak RSS {rss_frame:,.0f} MB")

    # correctness, before timing (this also warms every path up)
    out = evaluate_batch(strategy, frame, clock=CLOCK)
    rss_batch = peak_rss_mb()
    if out["error"].null_count() != out.height:
        raise MismatchError(f"{out.height - out['error'].null_count()} generated rows are invalid")
    check_floor(out, floor.decide(frame, pack))
    loop_rows = min(args.loop_rows, frame.height)
    t0 = time.perf_counter()
    records = frame.head(loop_rows).to_dicts()
    to_dicts_s = time.perf_counter() - t0
    check_single(strategy, records, out.head(loop_rows))
    print(f"correctness: NumPy floor == evaluate_batch on {frame.height:,} rows "
          f"(decision, limit, APR, segment, arm, score); evaluate == evaluate_batch on "
          f"{loop_rows:,} rows (decision, limit, APR, reasons)")
    del out
    gc.collect()

    n = frame.height
    results: dict[str, dict[str, float]] = {}
    jobs: list[tuple[str, Callable[[], Any], int, int]] = [
        ("fengkong: evaluate_batch (Polars)", lambda: evaluate_batch(strategy, frame, clock=CLOCK), n,
         args.repeats),
        ("NumPy floor, hand-written (decision, limit, APR only)", lambda: floor.decide(frame, pack), n,
         args.repeats),
        (f"fengkong: evaluate() per record in a loop ({loop_rows:,} rows, extrapolated)",
         lambda: [evaluate(strategy, r, clock=CLOCK) for r in records], loop_rows, 1),
    ]
    for name, job, rows, repeats in jobs:
        r = h.run_quiet(lambda job=job, repeats=repeats: timed_runs(job, repeats), quiet)
        r["rows"] = rows
        r["rows_per_s"] = rows / r["wall_s"]
        r["rows_per_cpu_s"] = rows / r["cpu_s"]
        r["time_for_all_rows_s"] = n / r["rows_per_s"]
        results[name] = r
        print(f"{name:70s} {r['rows_per_s']:>12,.0f} rows/s  {r['rows_per_cpu_s']:>12,.0f} rows/CPU-s  "
              f"other-load {r['foreign_cpu_share']:.2f}", flush=True)

    batch = results[jobs[0][0]]
    flo = results[jobs[1][0]]
    loop = results[jobs[2][0]]
    threads = pl.thread_pool_size()
    print(f"\n### Batch, example strategy, {n:,} rows (Polars threads: {threads}, "
          f"POLARS_MAX_THREADS={env['POLARS_MAX_THREADS']})\n")
    print("| variant | rows timed | wall s (median) | rows/s | CPU s (median) | rows per CPU-second | "
          f"time for {n:,} rows | other load |")
    print("|---|---:|---:|---:|---:|---:|---:|---:|")
    for name, r in results.items():
        print(f"| {name} | {r['rows']:,} | {r['wall_s']:.3f} | {r['rows_per_s']:,.0f} | {r['cpu_s']:.3f} | "
              f"{r['rows_per_cpu_s']:,.0f} | {r['time_for_all_rows_s']:,.1f} s | "
              f"{h.fmt(r['foreign_cpu_share'])} |")
    print(f"\nThe loop row is timed on {loop_rows:,} rows and extrapolated to {n:,}; turning those "
          f"rows into dicts took a further {to_dicts_s / loop_rows * 1e6:.1f} µs per row (not included).")
    print(f"Peak RSS: {rss_frame:,.0f} MB after generating the frame, {rss_batch:,.0f} MB after "
          "the first evaluate_batch.")
    print("\n### Goals and ratios\n")
    print("| measure | value | target | verdict |")
    print("|---|---:|---:|---|")
    print(f"| evaluate_batch rows per CPU-second (per core) | {batch['rows_per_cpu_s']:,.0f} | "
          f"≥ {GOAL_ROWS_PER_CPU_S:,} | {h.verdict(batch['rows_per_cpu_s'], GOAL_ROWS_PER_CPU_S, at_most=False)} |")
    print(f"| evaluate_batch wall rows/s ({threads} threads) | {batch['rows_per_s']:,.0f} | – | – |")
    print(f"| NumPy floor / evaluate_batch, rows per CPU-second | "
          f"{flo['rows_per_cpu_s'] / batch['rows_per_cpu_s']:.1f}× | – | – |")
    print(f"| NumPy floor / evaluate_batch, wall | {flo['rows_per_s'] / batch['rows_per_s']:.1f}× | – | – |")
    print(f"| evaluate_batch / evaluate loop, wall | {batch['rows_per_s'] / loop['rows_per_s']:.1f}× | – | – |")
    print(f"| compile_strategy, median of {args.compile_repeats} | {compile_res['median_ms']:.1f} ms | "
          f"≤ {GOAL_COMPILE_MS:g} ms | {h.verdict(compile_res['median_ms'], GOAL_COMPILE_MS, at_most=True)} |")
    if args.json:
        Path(args.json).write_text(json.dumps(
            {"env": env, "compile": compile_res, "results": results, "generation_s": gen_s,
             "to_dicts_us_per_row": to_dicts_s / loop_rows * 1e6,
             "peak_rss_mb": {"frame": rss_frame, "after_batch": rss_batch}}, indent=1))
    return 0


def _compile_times(path: Path, repeats: int) -> dict[str, float]:
    times = []
    for _ in range(repeats):
        t0 = time.perf_counter()
        compile_strategy(path)
        times.append((time.perf_counter() - t0) * 1000)
    return {"median_ms": statistics.median(times), "min_ms": min(times), "max_ms": max(times)}


if __name__ == "__main__":
    sys.exit(main())
