"""``fengkong batch --engine spark``: the same plan on a Spark DataFrame."""

from __future__ import annotations

import os
import sys
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import NoReturn

import typer
from rich.console import Console

from fengkong.compile import CompiledStrategy


def session(master: str, app: str = "fengkong") -> object:
    """A Spark session whose Python workers run this interpreter (and so see fengkong)."""
    try:
        from pyspark.sql import SparkSession
    except ImportError:
        msg = "Spark is an optional extra: pip install 'fengkong[spark]' (needs Java 17+)."
        raise typer.BadParameter(msg, param_hint="--engine") from None
    os.environ.setdefault("PYSPARK_PYTHON", sys.executable)
    os.environ.setdefault("PYSPARK_DRIVER_PYTHON", sys.executable)
    # Large strategies generate large methods: the JVM compiles them only with
    # -XX:-DontCompileHugeMethods, and Spark splits a stage whose method would pass 8,000
    # bytes. A very large strategy's fused stage can pass the JVM's 64 KB limit: per-operator
    # code (wholeStage off) splits into small methods at about the same speed (see
    # docs/spark.md, "Tuning").
    return (SparkSession.builder.master(master).appName(app)
            .config("spark.ui.enabled", "false")
            .config("spark.sql.execution.arrow.pyspark.enabled", "true")
            .config("spark.driver.extraJavaOptions", "-XX:-DontCompileHugeMethods")
            .config("spark.executor.extraJavaOptions", "-XX:-DontCompileHugeMethods")
            .config("spark.sql.codegen.hugeMethodLimit", "8000")
            .config("spark.sql.codegen.wholeStage", "false")
            .getOrCreate())


def batch_on_spark(strategy: Path, compiled: CompiledStrategy, input_: Path, output: Path, *,
                   keep: tuple[str, ...], master: str, console: Console, path: str = "auto") -> None:
    """Read ``input_`` with Spark, decide every partition, write Parquet parts to ``output``."""
    from fengkong.spark import evaluate_spark, untranslatable

    why = untranslatable(compiled.plan)
    used = ("native Spark SQL" if path == "native" or (path == "auto" and not why)
            else "Arrow, the local plan per partition" + (f" ({'; '.join(why)})" if why else ""))
    started = time.perf_counter()
    spark = session(master)
    ready = time.perf_counter()
    frame = read_table(spark, input_)
    try:
        decided = evaluate_spark(strategy, frame, keep=keep, engine=path)  # type: ignore[arg-type]
    except ValueError as exc:
        console.print(f"error: {exc}", style="red", markup=False, soft_wrap=True)
        raise typer.Exit(2) from None
    decided.write.mode("overwrite").parquet(str(output))
    done = time.perf_counter()
    console.print(f"Decided {input_} on Spark ({master}; {used}) into {output}/ "
                  f"(Spark start {ready - started:.1f} s, job {done - ready:.1f} s).",
                  markup=False, soft_wrap=True)


def read_table(spark: object, path: Path) -> object:
    """A Parquet file or folder, or a CSV file (header, inferred types), as a Spark DataFrame."""
    reader = spark.read  # type: ignore[attr-defined]
    if path.is_dir() or path.suffix.lower() == ".parquet":
        return reader.parquet(str(path))
    return reader.option("header", "true").option("inferSchema", "true").csv(str(path))


@contextmanager
def spark_failures(fail: Callable[[str], NoReturn], prefix: str = "") -> Iterator[None]:
    """Report an executor's error as ``fail(prefix + its message)``; anything else propagates."""
    try:
        yield
    except Exception as exc:
        message = spark_error(exc)
        if message is None:
            raise
        fail(prefix + message)


def spark_error(exc: Exception) -> str | None:
    """The Python error an executor raised (its last traceback line), or None if not Spark's."""
    try:
        from pyspark.errors import PySparkException
    except ImportError:
        return None
    if not isinstance(exc, PySparkException):
        return None
    lines = [line.strip() for line in str(exc).splitlines() if line.strip()]
    errors = [line for line in lines if line.split(":", 1)[0].endswith(("Error", "Exception"))]
    return (errors[-1] if errors else lines[-1] if lines else type(exc).__name__)[:500]
