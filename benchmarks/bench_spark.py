"""Spark's two paths (native Spark SQL, ``mapInArrow``) against the local Polars path.

Two workloads, each over rows written to Parquet first (not timed):

* ``card20`` — a 20-characteristic scorecard (6 bins and a missing bin each) with two
  policy rules, over 20 numeric columns with 2 % nulls: the workload the ≤ 1 CPU-µs/row
  goal is set for;
* ``example`` — the consumer-loan example strategy (features, segments, scorecards per
  segment, a pricing table, 12 rules) over ``generate_applications``.

Each path reads the Parquet file and decides every row with reason codes (the Spark
jobs end in Spark's ``noop`` sink, so no path pays for writing; the local path holds
the decided table in memory). The native path is also measured without reason codes, and
writing the score (and ``error``) only — a nightly rescoring — where Spark prunes
every step the score does not need; the input checks still run. Spark's start-up — the session, then the first Python
worker — is reported apart, as it is paid once per job.

CPU time is the sum over this process and every process below it (the JVM, its Python
workers and the workers' reaped children), read from ``/proc``; CPU-µs/row is that over
the rows. Wall time and rows/s are reported too; on a loaded machine CPU time is the
steadier figure. The session is tuned as docs/spark.md recommends (the JVM compiles
large generated methods, and Spark splits stages whose methods would be too large).

Usage:
    .venv/bin/python benchmarks/bench_spark.py --rows 10000000
    .venv/bin/python benchmarks/bench_spark.py --rows 2000000 --untuned     # without the tuning
    .venv/bin/python benchmarks/bench_spark.py --conf spark.sql.codegen.wholeStage=false
    .venv/bin/python benchmarks/bench_spark.py --quick          # 200,000 rows
"""

from __future__ import annotations

import argparse
import os
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path

import numpy as np
import polars as pl
import yaml
from rich.console import Console
from rich.table import Table

from fengkong import compile_strategy, evaluate_batch
from fengkong.demo import example_strategy_path, generate_applications

_TICK = os.sysconf("SC_CLK_TCK")


def tree_cpu() -> float:
    """CPU seconds of this process and all its descendants (live ones and reaped ones)."""
    parents: dict[int, int] = {}
    times: dict[int, float] = {}
    for entry in os.listdir("/proc"):
        if not entry.isdigit():
            continue
        try:
            with open(f"/proc/{entry}/stat", encoding="ascii", errors="replace") as f:
                stat = f.read()
        except OSError:
            continue
        fields = stat[stat.rindex(")") + 2:].split()
        pid = int(entry)
        parents[pid] = int(fields[1])
        # utime, stime, cutime, cstime (fields 14-17 of stat(5))
        times[pid] = sum(int(x) for x in fields[11:15]) / _TICK
    me = os.getpid()
    total, stack = 0.0, [me]
    children: dict[int, list[int]] = {}
    for pid, parent in parents.items():
        children.setdefault(parent, []).append(pid)
    while stack:
        pid = stack.pop()
        total += times.get(pid, 0.0)
        stack += children.get(pid, [])
    return total


def card20(n: int, work: Path) -> tuple[Path, Path]:
    """The 20-characteristic scorecard strategy and ``n`` rows for it."""
    rng = np.random.default_rng(0)
    cols = {f"x{i:02d}": rng.gamma(2.0, 50.0, n) for i in range(1, 21)}
    frame = pl.DataFrame(cols).with_columns(
        [pl.when(pl.int_range(pl.len()) % 50 == i).then(None).otherwise(pl.col(c)).alias(c)
         for i, c in enumerate(cols)])
    chars = []
    for i, name in enumerate(cols):
        cuts = [25, 50, 100, 150, 250]
        points = [10 + (i % 5), 25, 40, 55, 70, 90 - (i % 7)]
        bins = [{"when": f"< {cuts[0]}", "points": points[0]}]
        bins += [{"when": f"[{a}..{b})", "points": p} for a, b, p in zip(cuts, cuts[1:], points[1:], strict=False)]
        bins.append({"when": f">= {cuts[-1]}", "points": points[-1]})
        chars.append({"name": name, "expr": name, "reason": f"FACTOR_{i + 1:02d}", "missing": 20,
                      "bins": bins})
    spec = {
        "schema_version": 1, "strategy": "card20", "version": 1, "stage": "origination",
        "inputs": {c: {"type": "float", "min": 0, "required": False} for c in cols},
        "use": {"score": "card"},
        "scorecards": {"card": {"base_points": 100, "characteristics": chars}},
        "rules": [{"id": "score_low", "when": "score < 1050", "action": "decline", "reason": "SCORE_TOO_LOW"},
                  {"id": "x01_high", "when": "x01 > 400", "action": "refer", "reason": "FACTOR_01"}],
        "reasons": {f"FACTOR_{i:02d}": {"en": f"Factor {i} scored low.", "zh": f"因素{i}得分较低。"}
                    for i in range(1, 21)},
    }
    strategy = work / "card20" / "strategy.yaml"
    strategy.parent.mkdir(parents=True)
    strategy.write_text(yaml.safe_dump(spec, sort_keys=False), "utf-8")
    source = work / "card20.parquet"
    frame.write_parquet(source, row_group_size=1_000_000)
    return strategy, source


def example(n: int, work: Path) -> tuple[Path, Path]:
    """The example strategy and ``n`` generated applications."""
    source = work / "example.parquet"
    chunk = 1_000_000
    parts = [generate_applications(min(chunk, n - i), seed=i) for i in range(0, n, chunk)]
    pl.concat(parts).write_parquet(source, row_group_size=chunk)
    return example_strategy_path(), source


def measure(run: Callable[[], object]) -> tuple[float, float]:
    c0, t0 = tree_cpu(), time.perf_counter()
    run()
    return time.perf_counter() - t0, tree_cpu() - c0


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__,
                                 formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--rows", type=int, default=10_000_000)
    ap.add_argument("--quick", action="store_true", help="200,000 rows")
    ap.add_argument("--master", default="local[2]")
    ap.add_argument("--workloads", default="card20,example")
    ap.add_argument("--untuned", action="store_true",
                    help="leave out the settings docs/spark.md recommends (to measure them)")
    ap.add_argument("--conf", action="append", default=[], metavar="KEY=VALUE",
                    help="another Spark setting, e.g. spark.sql.codegen.wholeStage=false")
    args = ap.parse_args()
    n = 200_000 if args.quick else args.rows
    work = Path(tempfile.mkdtemp(prefix="fengkong-spark-bench-"))
    console = Console()
    builders = {"card20": card20, "example": example}
    workloads = [(w, *builders[w](n, work)) for w in args.workloads.split(",")]

    os.environ["PYSPARK_PYTHON"] = sys.executable
    os.environ["PYSPARK_DRIVER_PYTHON"] = sys.executable
    from pyspark.sql import SparkSession

    from fengkong.spark import evaluate_spark, untranslatable

    start: list[tuple[str, float, float]] = []
    holder: dict[str, object] = {}

    tuning = {} if args.untuned else {
        "spark.driver.extraJavaOptions": "-XX:-DontCompileHugeMethods",
        "spark.executor.extraJavaOptions": "-XX:-DontCompileHugeMethods",
        "spark.sql.codegen.hugeMethodLimit": "8000"}
    extra = dict(kv.split("=", 1) for kv in args.conf)

    def session() -> None:
        builder = (SparkSession.builder.master(args.master)
                   .config("spark.ui.enabled", "false")
                   .config("spark.ui.showConsoleProgress", "false")
                   .config("spark.driver.memory", "6g"))
        for key, value in {**tuning, **extra}.items():
            builder = builder.config(key, value)
        holder["spark"] = builder.getOrCreate()

    start.append(("session", *measure(session)))
    spark = holder["spark"]
    spark.sparkContext.setLogLevel("ERROR")  # type: ignore[attr-defined]

    def first_python() -> None:  # the first task that needs a Python worker
        spark.range(2).rdd.map(lambda r: r).count()  # type: ignore[attr-defined]

    start.append(("first Python worker", *measure(first_python)))

    results: list[tuple[str, str, float, float]] = []
    for name, strategy, source in workloads:
        compiled = compile_strategy(strategy)
        console.print(f"[bold]{name}[/]: {n:,} rows; native translation: "
                      f"{'yes' if not untranslatable(compiled.plan) else untranslatable(compiled.plan)}")
        wall, cpu = measure(lambda compiled=compiled, source=source: evaluate_batch(
            compiled, pl.read_parquet(source)))
        results.append((name, "local Polars (evaluate_batch)", wall, cpu))
        score = next(f"score.{s.name}" for s in compiled.plan.slots if s.kind == "scorecard")
        for engine, reasons, only in (("native", True, None), ("native", False, None),
                                      ("native", False, score), ("arrow", True, None)):
            label = (f"Spark {engine}" + ("" if reasons else ", no reasons")
                     + (f", `{only}` only" if only else ""))

            def job(engine: str = engine, reasons: bool = reasons,  # noqa: FBT001
                    only: str | None = only, source: Path = source, strategy: Path = strategy) -> None:
                frame = spark.read.parquet(str(source))  # type: ignore[attr-defined]
                decided = evaluate_spark(strategy, frame, engine=engine, reasons=reasons)  # type: ignore[arg-type]
                if only is not None:  # Spark prunes every step the column does not need
                    decided = decided.select(f"`{only}`", "error")
                decided.write.format("noop").mode("overwrite").save()

            wall, cpu = measure(job)
            results.append((name, label, wall, cpu))
            console.print(f"  {label}: {wall:.1f} s wall, {cpu / n * 1e6:.2f} CPU-µs/row")
    spark.stop()  # type: ignore[attr-defined]

    table = Table(title=f"Spark paths vs local Polars, {n:,} rows each, master {args.master}")
    for col in ("workload", "path", "wall s", "rows/s", "CPU s", "CPU-µs/row", "CPU vs local"):
        table.add_column(col, justify="left" if col in ("workload", "path") else "right")
    for label, wall, cpu in start:
        table.add_row("start-up", label, f"{wall:.2f}", "—", f"{cpu:.2f}", "—", "—")
    base = {w: cpu for w, p, _, cpu in results if p.startswith("local")}
    for w, p, wall, cpu in results:
        table.add_row(w, p, f"{wall:.2f}", f"{n / wall:,.0f}", f"{cpu:.2f}",
                      f"{cpu / n * 1e6:.2f}", f"{cpu / base[w]:.2f}×")
    console.print(table)


if __name__ == "__main__":
    main()
