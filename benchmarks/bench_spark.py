"""The Spark backend (``mapInArrow``) against the local Polars batch path, side by side.

The example origination strategy over ``generate_applications(N, seed=0)`` written to
Parquet (not timed). Measured: the local path (``fengkong.evaluate_batch`` on the whole
table read from Parquet), Spark's start-up (session creation, reported apart: it is paid
once per job), and the Spark job (read Parquet, decide every partition, write Parquet),
in rows/s (wall time; the JVM and its Python workers are not this process's
children, so their CPU time is not measured here).

Usage:
    .venv/bin/python benchmarks/bench_spark.py --rows 2000000
    .venv/bin/python benchmarks/bench_spark.py --quick
"""

from __future__ import annotations

import argparse
import os
import resource
import sys
import tempfile
import time
from pathlib import Path

import polars as pl
from rich.console import Console
from rich.table import Table

from fengkong import compile_strategy, evaluate_batch
from fengkong.demo import example_strategy_path, generate_applications


def cpu() -> float:
    own = resource.getrusage(resource.RUSAGE_SELF)
    kids = resource.getrusage(resource.RUSAGE_CHILDREN)
    return own.ru_utime + own.ru_stime + kids.ru_utime + kids.ru_stime


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__,
                                 formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--rows", type=int, default=2_000_000)
    ap.add_argument("--quick", action="store_true", help="100,000 rows")
    ap.add_argument("--master", default="local[2]")
    args = ap.parse_args()
    n = 100_000 if args.quick else args.rows
    work = Path(tempfile.mkdtemp(prefix="fengkong-spark-bench-"))
    source = work / "apps.parquet"
    generate_applications(n, seed=0).write_parquet(source)
    strategy = compile_strategy(example_strategy_path())
    rows: list[tuple[str, float, float, float]] = []

    c0, t0 = cpu(), time.perf_counter()
    local = evaluate_batch(strategy, pl.read_parquet(source))
    local.write_parquet(work / "local.parquet")
    rows.append(("local Polars (read, decide, write)", time.perf_counter() - t0, cpu() - c0, n))

    os.environ["PYSPARK_PYTHON"] = sys.executable
    os.environ["PYSPARK_DRIVER_PYTHON"] = sys.executable
    c0, t0 = cpu(), time.perf_counter()
    from pyspark.sql import SparkSession

    spark = (SparkSession.builder.master(args.master).config("spark.ui.enabled", "false")
             .getOrCreate())
    spark.sparkContext.setLogLevel("ERROR")
    rows.append(("Spark start-up (once per job)", time.perf_counter() - t0, cpu() - c0, 0))

    from fengkong.spark import evaluate_spark

    for attempt in ("Spark mapInArrow, first job", "Spark mapInArrow, second job"):
        c0, t0 = cpu(), time.perf_counter()
        frame = spark.read.parquet(str(source))
        evaluate_spark(example_strategy_path(), frame).write.mode("overwrite").parquet(
            str(work / "spark.parquet"))
        rows.append((attempt, time.perf_counter() - t0, cpu() - c0, n))
    spark.stop()
    check = pl.read_parquet(work / "spark.parquet" / "*.parquet")
    assert check.height == n, check.height

    table = Table(title=f"Spark backend vs local, {n:,} applications, master {args.master}")
    for col in ("path", "wall s", "rows/s", "vs local"):
        table.add_column(col, justify="left" if col == "path" else "right")
    base = rows[0][1]
    for name, wall, _, count in rows:
        table.add_row(name, f"{wall:.2f}", f"{count / wall:,.0f}" if count else "—",
                      f"{wall / base:.2f}×" if count else "—")
    Console().print(table)


if __name__ == "__main__":
    main()
