"""The Spark backend decides exactly as the local batch path, row for row, nulls and edge
values included (Spark in local mode; the first session takes a while to start)."""

from __future__ import annotations

import datetime as dt
from pathlib import Path
from typing import Any

import polars as pl
import pytest

from fengkong import compile_strategy, evaluate_batch
from fengkong.core import FixedClock
from fengkong.demo import example_strategy_path, generate_applications

pytestmark = [pytest.mark.slow,
              pytest.mark.filterwarnings("ignore::FutureWarning"),
              pytest.mark.filterwarnings("ignore::DeprecationWarning"),
              pytest.mark.filterwarnings("ignore::ResourceWarning")]

AT = dt.datetime(2026, 1, 1, 9, 30, tzinfo=dt.UTC)


def _edges(table: pl.DataFrame) -> pl.DataFrame:
    """Rows with nulls in every optional column and values on the declared bounds."""
    nulls = table.head(50).with_columns(
        [pl.lit(None, dtype=table.schema[c]).alias(c) for c in table.columns
         if c.startswith(("bureau.", "telecom.", "ecommerce.", "digital.", "applicant.education",
                          "applicant.phone", "applicant.name"))])
    bounds = table.slice(50, 50).with_columns(
        pl.lit(16, dtype=table.schema["applicant.age"]).alias("applicant.age"),
        pl.lit(0.0).alias("applicant.income_monthly"),
        pl.lit(300, dtype=table.schema["bureau.score"]).alias("bureau.score"))
    return pl.concat([table, nulls, bounds]).with_row_index("row_id")


def _compare(spark: Any, strategy: Path, table: pl.DataFrame, tmp_path: Path,
             engine: str = "auto") -> None:
    from fengkong.spark import evaluate_spark

    path = tmp_path / "in.parquet"
    table.write_parquet(path)
    frame = spark.read.parquet(str(path)).repartition(3)
    got = pl.from_arrow(evaluate_spark(strategy, frame, keep=["row_id"], at=AT,
                                        engine=engine).toArrow())  # type: ignore[arg-type]
    assert isinstance(got, pl.DataFrame)
    local = evaluate_batch(compile_strategy(strategy), table, clock=FixedClock(AT))
    expected = pl.concat([table.select("row_id"), local], how="horizontal")
    got = got.sort("row_id")
    assert got.columns == expected.columns
    assert got.height == table.height
    for column in expected.columns:
        assert got[column].to_list() == expected[column].to_list(), column


@pytest.mark.parametrize("engine", ["native", "arrow"])
def test_example_strategy_row_for_row(spark: Any, tmp_path: Path, engine: str) -> None:
    table = _edges(generate_applications(4_000, seed=11))
    _compare(spark, example_strategy_path(), table, tmp_path, engine)


@pytest.mark.parametrize("engine", ["native", "arrow"])
def test_invalid_rows_get_the_same_errors(spark: Any, tmp_path: Path, engine: str) -> None:
    table = generate_applications(500, seed=12).with_columns(
        pl.when(pl.int_range(pl.len()) % 7 == 0).then(pl.lit(200))
        .otherwise(pl.col("applicant.age")).alias("applicant.age")).with_row_index("row_id")
    _compare(spark, example_strategy_path(), table, tmp_path, engine)


def test_the_cli_runs_on_spark(tmp_path: Path) -> None:
    from typer.testing import CliRunner

    from fengkong.cli._app import app

    source = tmp_path / "apps.parquet"
    generate_applications(1_000, seed=13).write_parquet(source)
    out = tmp_path / "decided.parquet"
    res = CliRunner().invoke(app, ["batch", str(example_strategy_path()), "--input", str(source),
                                   "--output", str(out), "--engine", "spark", "--master",
                                   "local[2]", "--keep", "application_id"])
    assert res.exit_code == 0, res.output
    decided = pl.read_parquet(out / "*.parquet")
    assert decided.height == 1_000
    assert set(decided["decision"].unique()) <= {"approve", "decline", "refer"}
