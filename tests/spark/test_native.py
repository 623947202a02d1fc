"""The native Spark path (the plan as Spark SQL) decides exactly as the local batch path.

Every expression conformance case, every example strategy and a strategy using every
construct the translation knows (experiments, every table hit policy, every function it
translates, dates read from text) are decided by Spark SQL and compared with
``evaluate_batch`` value for value, invalid records included.
"""

from __future__ import annotations

import datetime as dt
import importlib.util
import math
import sys
from pathlib import Path
from typing import Any

import polars as pl
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from fengkong import compile_strategy, evaluate_batch
from fengkong.core import FixedClock
from fengkong.demo import example_strategy_path
from fengkong.expr import check_expression
from fengkong.expr._polars import DTYPES
from fengkong.spark import evaluate_spark, spark_sql, untranslatable
from fengkong.spark._sql import expr_sql, ident
from fengkong.testing import batch_frame, records

pytestmark = [pytest.mark.slow,
              pytest.mark.filterwarnings("ignore::FutureWarning"),
              pytest.mark.filterwarnings("ignore::DeprecationWarning"),
              pytest.mark.filterwarnings("ignore::ResourceWarning")]

ROOT = Path(__file__).parents[2]
KITCHEN = Path(__file__).parent / "data" / "kitchen.yaml"
EXAMPLES = ROOT / "src" / "fengkong" / "examples"
AT = dt.datetime(2026, 6, 30, 12, 0, tzinfo=dt.UTC)
TRANSLATABLE = [KITCHEN, example_strategy_path(), EXAMPLES / "account_management" / "strategy.yaml",
                EXAMPLES / "collections" / "strategy.yaml", EXAMPLES / "simulation" / "challenger.yaml",
                ROOT / "examples" / "sources" / "strategy.yaml"]


def _spark_frame(spark: Any, table: pl.DataFrame, tmp_path: Path, name: str, parts: int = 2) -> Any:
    path = tmp_path / f"{name}.parquet"
    table.write_parquet(path)
    return spark.read.parquet(str(path)).repartition(parts)


def _assert_same(got: pl.DataFrame, expected: pl.DataFrame) -> None:
    got = got.sort("row_id")
    assert got.columns == expected.columns
    assert got.height == expected.height
    for column in expected.columns:
        a, b = got[column].to_list(), expected[column].to_list()
        if a != b:
            diff = [(i, a[i], b[i]) for i in range(len(a)) if a[i] != b[i]][:3]
            pytest.fail(f"column {column} differs (row, spark, local): {diff}")


def _compare(spark: Any, strategy: Path, table: pl.DataFrame, tmp_path: Path, *,
             engine: str = "native", reasons: bool = True) -> pl.DataFrame:
    table = table.with_row_index("row_id")
    frame = _spark_frame(spark, table, tmp_path, "in")
    decided = evaluate_spark(strategy, frame, keep=["row_id"], at=AT, engine=engine,  # type: ignore[arg-type]
                             reasons=reasons)
    got = pl.from_arrow(decided.toArrow())
    assert isinstance(got, pl.DataFrame)
    local = evaluate_batch(compile_strategy(strategy), table.drop("row_id"), clock=FixedClock(AT),
                           reasons=reasons)
    expected = pl.concat([table.select("row_id"), local], how="horizontal")
    _assert_same(got, expected)
    return got


# -- every translatable strategy, on generated records (invalid ones included) ------------
@pytest.mark.parametrize("strategy", TRANSLATABLE, ids=lambda p: p.parent.name)
def test_generated_records_decide_as_locally(spark: Any, strategy: Path, tmp_path: Path) -> None:
    compiled = compile_strategy(strategy)
    assert untranslatable(compiled.plan) == []

    @settings(max_examples=3, deadline=None, database=None, suppress_health_check=list(HealthCheck))
    @given(st.data())
    def check(data: st.DataObject) -> None:
        recs = [r for _ in range(6) for r in data.draw(st.lists(records(compiled), min_size=1, max_size=20))]
        _compare(spark, strategy, batch_frame(compiled, recs), tmp_path)

    check()


def test_kitchen_strategy_covers_what_the_translation_knows() -> None:
    plan = compile_strategy(KITCHEN).plan
    assert plan.experiments and {t.aggregate for t in plan.tables.values()} >= {"sum", "max", "count"}
    assert {t.hit_policy for t in plan.tables.values()} >= {"first", "collect"}
    text = KITCHEN.read_text("utf-8")
    for fn in ("min", "max", "coalesce", "is_null", "abs", "round", "floor", "ceil", "clip", "sqrt",
               "len", "lower", "upper", "startswith", "endswith", "contains", "days_between"):
        assert f"{fn}(" in text, fn


def test_dates_read_from_text_are_checked_as_locally(spark: Any, tmp_path: Path) -> None:
    compiled = compile_strategy(KITCHEN)
    recs = [r for seed in range(3) for r in _valid_records(compiled, seed)]
    table = batch_frame(compiled, recs)
    texts = ["1990-02-28", "2024-02-29", "2023-02-29", "2024-1-01", "0000-01-01", "1999-13-01",
             "abcd-ef-gh", "", " 2000-01-01", "9999-12-31", None]
    table = table.with_columns(
        pl.Series("applicant.birth_date", [texts[i % len(texts)] for i in range(table.height)],
                  dtype=pl.String),
        pl.col("applicant.signed_on").cast(pl.String))
    got = _compare(spark, KITCHEN, table, tmp_path)
    assert got["error"].str.contains("valid date").sum() > 0


def _valid_records(compiled: Any, seed: int) -> list[dict[str, Any]]:
    @settings(max_examples=1, deadline=None, database=None, derandomize=True,
              suppress_health_check=list(HealthCheck))
    @given(st.lists(records(compiled, valid_only=True), min_size=10, max_size=10))
    def draw(recs: list[dict[str, Any]]) -> None:
        out.extend(recs)

    out: list[dict[str, Any]] = []
    draw()
    return out[: 10 * (seed + 1)][-10:] if len(out) >= 10 else out


def test_without_reasons(spark: Any, tmp_path: Path) -> None:
    from fengkong.demo import generate_applications

    got = _compare(spark, example_strategy_path(), generate_applications(500, seed=3), tmp_path,
                   reasons=False)
    assert got["reasons"].null_count() == got.height


def test_arrow_and_native_paths_agree(spark: Any, tmp_path: Path) -> None:
    from fengkong.demo import generate_applications

    table = generate_applications(800, seed=5)
    native = _compare(spark, example_strategy_path(), table, tmp_path, engine="native")
    arrow = _compare(spark, example_strategy_path(), table, tmp_path, engine="arrow")
    assert native.sort("row_id").equals(arrow.sort("row_id"))


def test_untranslatable_plans_take_the_arrow_path(spark: Any, tmp_path: Path) -> None:
    mini = ROOT / "tests" / "data" / "mini.yaml"
    assert untranslatable(compile_strategy(mini).plan) == ["the function exp()"]
    compiled = compile_strategy(mini)

    @settings(max_examples=1, deadline=None, database=None, suppress_health_check=list(HealthCheck))
    @given(st.lists(records(compiled), min_size=20, max_size=20))
    def check(recs: list[dict[str, Any]]) -> None:
        _compare(spark, mini, batch_frame(compiled, recs), tmp_path, engine="auto")

    check()
    frame = spark.createDataFrame([(1,)], "x long")
    with pytest.raises(ValueError, match=r"cannot run as Spark SQL: it uses the function exp\(\)"):
        evaluate_spark(mini, frame, engine="native")
    models = ROOT / "tests" / "data" / "mini_model.yaml"
    assert "model `pd_gbm` (LightGBM)" in untranslatable(compile_strategy(models).plan)


def test_bad_tables_are_refused_with_the_column_named(spark: Any) -> None:
    frame = spark.createDataFrame([(30, "x")], "`applicant.age` string, other string")
    with pytest.raises(ValueError, match=r"no column\(s\) .*applicant.income_monthly"):
        evaluate_spark(example_strategy_path(), frame, engine="native")
    compiled = compile_strategy(example_strategy_path())
    cols = ", ".join(f"`{f.name}` string" for f in compiled.plan.fields if f.required)
    frame = spark.createDataFrame([], cols)
    with pytest.raises(ValueError, match=r"Column `applicant.age` has type string; the strategy declares int"):
        evaluate_spark(example_strategy_path(), frame, engine="native")
    with pytest.raises(ValueError, match="engine must be"):
        evaluate_spark(example_strategy_path(), frame, engine="gpu")  # type: ignore[arg-type]


def test_the_query_text_runs_on_a_table(spark: Any, tmp_path: Path) -> None:
    from fengkong.demo import generate_applications

    table = generate_applications(300, seed=8).with_row_index("row_id")
    _spark_frame(spark, table, tmp_path, "apps").createOrReplaceTempView("apps")
    schema = {f.name: f.dataType.typeName() for f in spark.table("apps").schema.fields}
    query = spark_sql(example_strategy_path(), "apps", schema, keep=["row_id"], at=AT)
    assert ("CASE WHEN" in query and "crc32" not in query.lower()) or "experiment" in query
    got = pl.from_arrow(spark.sql(query).toArrow())
    assert isinstance(got, pl.DataFrame)
    local = evaluate_batch(compile_strategy(example_strategy_path()), table.drop("row_id"),
                           clock=FixedClock(AT))
    _assert_same(got, pl.concat([table.select("row_id"), local], how="horizontal"))


# -- the expression language, case by case ------------------------------------------------
def _conformance() -> Any:
    path = ROOT / "tests" / "conformance" / "test_expr_conformance.py"
    spec = importlib.util.spec_from_file_location("expr_conformance_cases", path)
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = module  # its dataclasses look their module up
    spec.loader.exec_module(module)
    return module


def test_every_expression_case_as_spark_sql(spark: Any, tmp_path: Path) -> None:
    conf = _conformance()
    columns: list[pl.Series] = [pl.Series("pad", [0], dtype=pl.Int64)]
    selects: list[str] = []
    expected: list[Any] = []
    refused = set()
    for i, case in enumerate(conf.VALUE_CASES):
        env = {name: conf._info(kind, nullable=True) for name, kind, _ in case.inputs}
        node = check_expression(case.source, env)
        columns += [pl.Series(f"c{i}.{name}", [value], dtype=DTYPES[kind])
                    for name, kind, value in case.inputs]
        try:
            sql = expr_sql(node, lambda name, i=i: ident(f"c{i}.{name}"))
        except ValueError:
            refused.add(case.source.split("(")[0])
            continue
        selects.append(f"{sql} AS `out{len(expected)}`")
        expected.append(case)
    assert {"exp", "log"} <= {r.strip() for r in refused}
    assert len(expected) >= 280
    path = tmp_path / "cases.parquet"
    pl.DataFrame(columns).write_parquet(path)
    row = pl.from_arrow(spark.read.parquet(str(path)).selectExpr(*selects).toArrow())
    assert isinstance(row, pl.DataFrame)
    failures = []
    for k, case in enumerate(expected):
        value = row[f"out{k}"][0]
        if not conf._same(case.expected, value):
            failures.append(f"{case.id}: expected {case.expected!r}, got {value!r}")
    assert not failures, "\n".join(failures)


def test_signed_zero_and_infinity_literals() -> None:
    from fengkong.spark._sql import literal

    assert literal(-0.0, "float") == "(-0.0D)"
    assert literal(math.inf, "float") == "CAST('Infinity' AS DOUBLE)"
    assert literal("it's \\ here", "str") == "'it\\'s \\\\ here'"
    assert literal(dt.date(2024, 2, 29), "date") == "DATE '2024-02-29'"
    assert literal(-3, "int") == "(-3L)"


def test_the_arrow_path_ships_files_outside_the_strategy_folder(spark: Any, tmp_path: Path) -> None:
    from fengkong.demo import generate_applications
    from fengkong.spark import ship

    challenger = EXAMPLES / "simulation" / "challenger.yaml"
    files, entry = ship(challenger)
    assert entry == "simulation/challenger.yaml"
    assert any(name.startswith("consumer_loan/scorecards/") for name in files)
    _compare(spark, challenger, generate_applications(300, seed=9), tmp_path, engine="arrow")


def test_the_cli_prints_the_query_and_refuses_what_it_cannot_translate(tmp_path: Path) -> None:
    from typer.testing import CliRunner

    from fengkong.cli._app import app

    res = CliRunner().invoke(app, ["spark-sql", str(example_strategy_path()), "--table", "risk.apps",
                                   "--keep", "application_id", "--at", "2026-12-01T02:00:00+08:00"])
    assert res.exit_code == 0, res.output
    assert res.output.startswith("WITH step0 AS (")
    assert "FROM risk.apps" in res.output and "timestamp_micros(1796061600000000L)" in res.output
    res = CliRunner().invoke(app, ["spark-sql", str(EXAMPLES / "acquisition" / "strategy.yaml"),
                                   "--table", "t"])
    assert res.exit_code == 1
    assert "cannot run as Spark SQL: it uses the function exp()" in res.output
    res = CliRunner().invoke(app, ["spark-sql", str(example_strategy_path()), "--table", "t",
                                   "--at", "2026-12-01T02:00:00"])
    assert res.exit_code == 2 and "time zone" in res.output


def test_the_cli_batch_says_which_path_ran_and_keeps_no_identifier_in_clear(spark: Any,
                                                                            tmp_path: Path) -> None:
    from typer.testing import CliRunner

    from fengkong.cli._app import app
    from fengkong.demo import generate_applications

    source = tmp_path / "apps.parquet"
    generate_applications(500, seed=21).write_parquet(source)
    runs = {}
    for path in ("auto", "arrow"):
        out = tmp_path / f"decided-{path}.parquet"
        res = CliRunner().invoke(app, ["batch", str(example_strategy_path()), "--input", str(source),
                                       "--output", str(out), "--engine", "spark", "--master",
                                       "local[2]", "--keep", "application_id", "--spark-path", path])
        assert res.exit_code == 0, res.output
        runs[path] = (res.output, pl.read_parquet(out / "*.parquet").sort("application_id"))
    assert "native Spark SQL" in runs["auto"][0]
    assert "Arrow, the local plan per partition" in runs["arrow"][0]
    assert runs["auto"][1].drop("evaluated_at").equals(runs["arrow"][1].drop("evaluated_at"))
    res = CliRunner().invoke(app, ["batch", str(example_strategy_path()), "--input", str(source),
                                   "--output", str(tmp_path / "x.parquet"), "--engine", "spark",
                                   "--keep", "applicant.id_number"])
    assert res.exit_code == 2
    assert "personal data" in res.output and not (tmp_path / "x.parquet").exists()


def test_an_untuned_session_is_told_how_to_run_the_native_path_compiled(spark: Any) -> None:
    from fengkong.spark import tuning_hint

    key = "spark.sql.codegen.hugeMethodLimit"
    before = spark.conf.get(key, None)  # a CLI test's session builder may have set it
    try:
        spark.conf.unset(key)  # the test session's JVM options are not tuned either
        hint = tuning_hint(spark)
        assert hint is not None and "spark.sql.codegen.hugeMethodLimit=8000" in hint
        spark.conf.set(key, "8000")
        assert tuning_hint(spark) is None
    finally:
        if before is None:
            spark.conf.unset(key)
        else:
            spark.conf.set(key, before)
