"""How often Spark's ``exp``/``ln`` differ from Python's ``math.exp``/``math.log``.

Why the native Spark path leaves ``exp`` and ``log`` to the Arrow path: the JVM's
functions and the C library's may differ in the last bit, and a decision must not depend
on where it ran. 300,000 arguments uniform in [-40, 40] for ``exp`` and 100,000 in
[0.0001, 1,000,000] more for ``log`` (seed 1), each computed by Spark and by Python.

Usage:
    .venv/bin/python benchmarks/check_spark_math.py
"""

from __future__ import annotations

import math
import os
import random
import sys
import tempfile
from pathlib import Path

import polars as pl
from rich.console import Console
from rich.table import Table


def main() -> None:
    os.environ["PYSPARK_PYTHON"] = sys.executable
    from pyspark.sql import SparkSession

    rng = random.Random(1)
    xs = [rng.uniform(-40, 40) for _ in range(300_000)] + [rng.uniform(1e-4, 1e6) for _ in range(100_000)]
    path = Path(tempfile.mkdtemp(prefix="fengkong-math-")) / "x.parquet"
    pl.DataFrame({"x": xs}).write_parquet(path)
    spark = (SparkSession.builder.master("local[2]").config("spark.ui.enabled", "false")
             .config("spark.ui.showConsoleProgress", "false").getOrCreate())
    spark.sparkContext.setLogLevel("ERROR")
    out = pl.from_arrow(spark.read.parquet(str(path))
                        .selectExpr("x", "exp(x) AS e", "ln(x) AS l").toArrow())
    assert isinstance(out, pl.DataFrame)
    spark.stop()
    rows = out.rows()
    exp_args = [r for r in rows if -40 <= r[0] <= 40]
    log_args = [r for r in rows if r[0] > 0]
    exp_diff = sum(1 for x, e, _ in exp_args if math.exp(x) != e)
    log_diff = sum(1 for x, _, lg in log_args if math.log(x) != lg)
    table = Table(title="Spark (JVM) against Python (C library), same doubles")
    for col in ("function", "arguments", "results that differ", "share"):
        table.add_column(col, justify="left" if col == "function" else "right")
    table.add_row("exp", f"{len(exp_args):,}", f"{exp_diff:,}", f"{exp_diff / len(exp_args):.1%}")
    table.add_row("log", f"{len(log_args):,}", f"{log_diff:,}", f"{log_diff / len(log_args):.1%}")
    Console().print(table)


if __name__ == "__main__":
    main()
