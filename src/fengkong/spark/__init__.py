"""Deciding a Spark DataFrame with the same compiled plan as the local batch path.

Two paths give the same table:

* **native** — the plan is written as Spark SQL (:mod:`fengkong.spark._sql`): inputs
  checks, features, segments, experiments, scorecards as ``CASE WHEN``, decision tables,
  rules, the outcome and the reason codes. Executors run it in the JVM and need no
  Python, nor fengkong, at all.
* **arrow** — each partition goes to the executors as Arrow record batches
  (``mapInArrow``), is decided by :func:`fengkong.evaluate_batch` — the very batch plan a
  local run uses — and comes back as Arrow: no per-row Python. The strategy travels as
  its pack (every file's text) and is compiled once per executor process, so a cluster
  needs fengkong installed on its workers but no shared file system. This path runs what
  has no exact Spark SQL form (LightGBM models, ``exp``/``log``).

``engine="auto"`` (the default) takes the native path whenever the plan allows it.

PySpark is an optional extra: ``pip install 'fengkong[spark]'``.
"""

from __future__ import annotations

import datetime as dt
import logging
from collections.abc import Iterator, Mapping, Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any, Literal

import polars as pl
import pyarrow as pa

from fengkong.compile import CompiledStrategy, compile_strategy
from fengkong.core import FixedClock
from fengkong.spark._arrow import map_frames, spark_to_arrow
from fengkong.spark._sql import spark_plan, untranslatable
from fengkong.spark._workbench import (
    csi_spark,
    fit_binner_spark,
    psi_spark,
    psi_table_spark,
    summarize_spark,
)

if TYPE_CHECKING:
    from pyspark.sql import DataFrame

__all__ = ["SparkReview", "SparkSimulation", "SparkWorkList", "collections_plan_spark",
           "csi_spark", "evaluate_spark", "fit_binner_spark", "output_schema", "psi_spark",
           "psi_table_spark", "review_spark", "ship", "simulate_spark", "spark_sql",
           "summarize_spark", "tuning_hint", "untranslatable"]

_LIFECYCLE = frozenset({"SparkReview", "SparkSimulation", "SparkWorkList", "collections_plan_spark",
                        "review_spark", "simulate_spark"})


def __getattr__(name: str) -> Any:
    """The lifecycle jobs, imported on first use (their module builds on this one)."""
    if name in _LIFECYCLE:
        from fengkong.spark import _lifecycle

        return getattr(_lifecycle, name)
    msg = f"module {__name__!r} has no attribute {name!r}"
    raise AttributeError(msg)

_ARROW = {"str": pa.string(), "float": pa.float64(), "int": pa.int64(), "bool": pa.bool_(),
          "datetime": pa.timestamp("us", tz="UTC"), "list": pa.list_(pa.string())}
_COMPILED: dict[str, CompiledStrategy] = {}  # per executor process, by pack digest


def _pack(path: Path) -> dict[str, str]:
    """Every text file of the strategy's folder, by relative path (what executors compile)."""
    root = path.parent
    return {p.relative_to(root).as_posix(): p.read_text("utf-8")
            for p in sorted(root.rglob("*")) if p.is_file() and p.suffix in (".yaml", ".yml",
                                                                            ".json", ".txt",
                                                                            ".csv")}


def ship(path: str | Path) -> tuple[dict[str, str], str]:
    """``(files, entry)``: the strategy's folder and every file it reads from outside it
    (a scorecard shared with another strategy, ``../common/card.yaml``), by path relative
    to their common root, and the strategy file's own path under that root."""
    import os

    from fengkong.strategy import load_strategy

    p = Path(path).resolve()
    read = [Path(f).resolve() for f in load_strategy(p, recover=True).source.texts]
    root = Path(os.path.commonpath([p.parent, *(f.parent for f in read)]))
    files = {(p.parent / name).relative_to(root).as_posix(): text
             for name, text in _pack(p).items()}
    files.update({f.relative_to(root).as_posix(): f.read_text("utf-8") for f in read})
    return files, p.relative_to(root).as_posix()


def _compiled(key: str, entry: str, files: dict[str, str]) -> CompiledStrategy:
    found = _COMPILED.get(key)
    if found is None:
        import tempfile

        root = Path(tempfile.mkdtemp(prefix="fengkong-spark-"))
        for name, text in files.items():
            target = root / name
            target.parent.mkdir(parents=True, exist_ok=True)
            target.write_text(text, "utf-8")
        found = _COMPILED[key] = compile_strategy(root / entry)
    return found


def output_schema(strategy: CompiledStrategy, keep: Sequence[tuple[str, pa.DataType]] = ()
                  ) -> pa.Schema:
    """The Arrow schema of the decided table: kept input columns, every decision column, ``error``."""
    fields = [pa.field(name, kind) for name, kind in keep]
    fields += [pa.field(c.name, _ARROW[c.type]) for c in strategy.plan.columns]
    fields.append(pa.field("error", pa.string()))
    return pa.schema(fields)


def evaluate_spark(strategy: str | Path, frame: DataFrame, *, keep: Sequence[str] = (),
                   at: dt.datetime | None = None, reasons: bool = True,
                   engine: Literal["auto", "native", "arrow"] = "auto") -> DataFrame:
    """Decide every row of a Spark DataFrame; the result has the local batch's columns.

    Parameters
    ----------
    strategy
        The strategy file (its folder is shipped to the executors).
    frame
        One column per input field, named as in the strategy (``applicant.age``).
    keep
        Input columns copied to the output first (an application id to join on).
    at
        The decision time of every row (default: now, fixed for the whole job, so every
        partition decides at the same instant as a local batch would).
    reasons
        As for :func:`fengkong.evaluate_batch`.
    engine
        ``native`` (Spark SQL; an error if the plan has something it cannot express, see
        :func:`untranslatable`), ``arrow`` (``mapInArrow`` into the local batch plan) or
        ``auto``: native when possible.
    """
    if engine not in ("auto", "native", "arrow"):
        msg = f"engine must be auto, native or arrow; got {engine!r}."
        raise ValueError(msg)
    path = Path(strategy)
    local = compile_strategy(path)
    when = at or dt.datetime.now(dt.UTC)
    if engine == "native" or (engine == "auto" and not untranslatable(local.plan)):
        return _native(local, frame, keep, when, reasons=reasons)
    return _arrow(local, path, frame, keep, when, reasons=reasons)


def spark_sql(strategy: str | Path, table: str, schema: Mapping[str, str] | None = None, *,
              keep: Sequence[str] = (), at: dt.datetime | None = None, reasons: bool = True) -> str:
    """The Spark SQL query that decides every row of ``table`` (what the native path runs).

    ``schema`` maps input columns to Spark type names (``long``, ``double``, ``string``,
    ``date``, ``boolean``...); by default each field has its declared type. ``at`` is the
    decision time written into the query (default: now).
    """
    plan = compile_strategy(Path(strategy)).plan
    declared = {"int": "long", "float": "double", "bool": "boolean", "str": "string",
                "enum": "string", "date": "date"}
    types = dict(schema) if schema is not None else {f.name: declared[f.type] for f in plan.fields}
    sql = spark_plan(plan, types, keep=keep, at=at or dt.datetime.now(dt.UTC), reasons=reasons)
    return sql.query(table)


_HINTED: set[str] = set()  # Spark applications already told how to tune
_log = logging.getLogger("fengkong.spark")


def tuning_hint(spark: Any) -> str | None:
    """What the session lacks for the native path to run compiled, or None if nothing.

    Without ``-XX:-DontCompileHugeMethods`` (driver or executor Java options) or
    ``spark.sql.codegen.hugeMethodLimit`` at 8,000 or less, the JVM interprets the large
    methods a strategy generates: 3-4 times the CPU (docs/spark.md, "Tuning").
    """
    limit = int(spark.conf.get("spark.sql.codegen.hugeMethodLimit", "65535"))
    conf = spark.sparkContext.getConf()
    java = " ".join(conf.get(k, "") or "" for k in ("spark.driver.extraJavaOptions",
                                                     "spark.executor.extraJavaOptions"))
    if limit <= 8000 or "-XX:-DontCompileHugeMethods" in java:
        return None
    return ("The native Spark path runs 3-4 times slower in this session: the JVM does not "
            "compile the large methods a strategy generates. Set "
            "spark.sql.codegen.hugeMethodLimit=8000, or add -XX:-DontCompileHugeMethods to "
            "spark.executor.extraJavaOptions (see docs/spark.md, \"Tuning\").")


def _native(local: CompiledStrategy, frame: DataFrame, keep: Sequence[str], when: dt.datetime,
            *, reasons: bool) -> DataFrame:
    spark = frame.sparkSession
    app = spark.sparkContext.applicationId
    if app not in _HINTED:
        _HINTED.add(app)
        hint = tuning_hint(spark)
        if hint is not None:
            _log.warning(hint)
    types = {f.name: f.dataType.typeName() for f in frame.schema.fields}
    sql = spark_plan(local.plan, types, keep=keep, at=when, reasons=reasons)
    out = frame.selectExpr(*sql.inputs)
    for step in sql.steps:
        out = out.selectExpr("*", *step)
    return out.selectExpr(*sql.final)


def _arrow(local: CompiledStrategy, path: Path, frame: DataFrame, keep: Sequence[str],
           when: dt.datetime, *, reasons: bool) -> DataFrame:
    files, entry = ship(path)
    key = local.digest
    in_schema = frame.schema
    kept = [(c, spark_to_arrow(in_schema[c].dataType)) for c in keep]
    schema = output_schema(local, kept)
    names = [f.name for f in local.plan.fields]
    missing = [n for n in names if n not in frame.columns and not _optional(local, n)]
    if missing:
        msg = f"The table has no column(s) {', '.join(missing)}, which the strategy requires."
        raise ValueError(msg)
    columns = [c for c in frame.columns if c in set(names) | set(keep)]

    def decide(tables: Iterator[pl.DataFrame]) -> Iterator[pa.RecordBatch]:
        compiled = _compiled(key, entry, files)
        clock = FixedClock(when)
        for table in tables:
            out = _decide(compiled, table, keep, clock, reasons)
            yield from out.to_arrow().cast(schema).to_batches()

    return map_frames(frame, columns, decide, schema)


def _decide(compiled: CompiledStrategy, table: pl.DataFrame, keep: Sequence[str],
            clock: FixedClock, reasons: bool) -> pl.DataFrame:  # noqa: FBT001
    from fengkong.engine import evaluate_batch

    decided = evaluate_batch(compiled, table, clock=clock, reasons=reasons)
    if keep:
        decided = pl.concat([table.select(list(keep)), decided], how="horizontal")
    return decided


def _optional(strategy: CompiledStrategy, name: str) -> bool:
    return any(f.name == name and not f.required for f in strategy.plan.fields)
