"""Back-test benchmark: champion vs challenger over 1,000,000 historical applications.

``fengkong simulate``'s library call, timed end to end from a Parquet file on disk:

* **read**: the history's columns both strategies need, plus the outcome, from Parquet;
* **simulate**: :func:`fengkong.lifecycle.simulate` — both strategies through
  ``fengkong.evaluate_batch`` (the production engine, all output columns, reason codes
  included), the score-to-PD calibration, profit, swap sets and every metric overall and
  by segment;
* **write**: ``decisions.parquet``, ``summary.json`` and ``report.html`` (four charts).

Data: ``fengkong.demo.generate_applications(rows, seed=0)`` (known outcome ``bad``),
written once to Parquet. Strategies: the example origination strategy
(``examples/consumer_loan/strategy.yaml``) as champion and
``examples/simulation/challenger.yaml`` (lower cut-offs; higher limit and lower price in the
best standard band) as challenger. Goal: the whole back-test ≤ 15 s.

Usage:
    .venv/bin/python benchmarks/bench_simulate.py                  # 1,000,000 rows, 3 runs
    .venv/bin/python benchmarks/bench_simulate.py --rows 100000 --runs 1
"""

from __future__ import annotations

import argparse
import os
import statistics
import tempfile
import time
from pathlib import Path

import polars as pl

from fengkong import compile_strategy
from fengkong.demo import example_strategy_path, generate_applications
from fengkong.lifecycle import simulate, write_simulation

CHAMPION = example_strategy_path()
CHALLENGER = CHAMPION.parents[1] / "simulation" / "challenger.yaml"
GOAL_S = 15.0


def _cpu() -> float:
    t = os.times()
    return t.user + t.system


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--rows", type=int, default=1_000_000)
    parser.add_argument("--runs", type=int, default=3)
    parser.add_argument("--data", type=Path, default=None,
                        help="Parquet history to reuse (default: generated into a temp dir)")
    args = parser.parse_args()

    tmp = Path(tempfile.mkdtemp(prefix="fk-bench-sim-"))
    data = args.data or tmp / "applications.parquet"
    if not data.exists():
        t0 = time.perf_counter()
        generate_applications(args.rows, seed=0).write_parquet(data)
        print(f"generated {args.rows:,} applications in {time.perf_counter() - t0:.1f} s")
    champion, challenger = compile_strategy(CHAMPION), compile_strategy(CHALLENGER)
    wanted = sorted({f.name for f in (*champion.plan.fields, *challenger.plan.fields)} | {"bad"})

    # Warm-up on a slice (expression building is cached per strategy and input schema).
    simulate(champion, challenger, pl.read_parquet(data, columns=wanted, n_rows=10_000))

    rows: list[dict[str, float]] = []
    for run in range(args.runs):
        t0, c0 = time.perf_counter(), _cpu()
        history = pl.read_parquet(data, columns=wanted)
        t1 = time.perf_counter()
        sim = simulate(champion, challenger, history)
        t2 = time.perf_counter()
        write_simulation(sim, tmp / f"sim{run}")
        t3, c3 = time.perf_counter(), _cpu()
        rows.append({"read": t1 - t0, "champion": sim.seconds["champion"],
                     "challenger": sim.seconds["challenger"],
                     "calibrate+compare": sim.seconds["calibration"] + sim.seconds["compare"],
                     "simulate": t2 - t1, "write": t3 - t2, "total": t3 - t0,
                     "cpu": c3 - c0})
    load = os.getloadavg()[0]
    n = history.height
    print(f"\nBack-test, {n:,} applications, {args.runs} runs, "
          f"{os.cpu_count()} CPUs, Polars threads {pl.thread_pool_size()}, "
          f"load average (1 min) at the end {load:.2f}")
    print(f"champion {champion.strategy_id} v{champion.version}, challenger "
          f"{challenger.strategy_id} v{challenger.version}")
    print("\n| stage | median s | min s | max s |")
    print("|---|---:|---:|---:|")
    for key in ("read", "champion", "challenger", "calibrate+compare", "simulate", "write",
                "total", "cpu"):
        vals = [r[key] for r in rows]
        label = "CPU s (whole run)" if key == "cpu" else key
        print(f"| {label} | {statistics.median(vals):.2f} | {min(vals):.2f} | {max(vals):.2f} |")
    total = statistics.median(r["total"] for r in rows)
    verdict = "met" if total <= GOAL_S else "MISSED"
    print(f"\ntotal (median) {total:.2f} s for {n:,} applications = "
          f"{n / total:,.0f} applications/s; goal ≤ {GOAL_S:.0f} s: {verdict}")
    o = sim.overall
    print(f"approval {100 * o['champion_approval_rate']:.2f} % -> "
          f"{100 * o['challenger_approval_rate']:.2f} %, swap-in {o['swap_in']:,}, "
          f"swap-out {o['swap_out']:,}")


if __name__ == "__main__":
    main()
