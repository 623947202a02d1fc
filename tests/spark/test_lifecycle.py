"""The lifecycle jobs on Spark equal the local jobs, row for row: the account review, the
collections work list and the back-test (Spark in local mode, books in three partitions)."""

from __future__ import annotations

import datetime as dt
import json
from pathlib import Path
from typing import Any

import polars as pl
import pytest
from polars.testing import assert_frame_equal
from typer.testing import CliRunner

from fengkong import compile_strategy
from fengkong.cli._app import app
from fengkong.demo import example_strategy_path, generate_applications
from fengkong.errors import DataError
from fengkong.lifecycle import Book, synthetic_book
from fengkong.lifecycle._collections import plan_worklist
from fengkong.lifecycle._ptp import evaluate_promises
from fengkong.lifecycle._review import ReviewConfig, review
from fengkong.lifecycle._simulate import simulate

pytestmark = [pytest.mark.slow,
              pytest.mark.filterwarnings("ignore::FutureWarning"),
              pytest.mark.filterwarnings("ignore::DeprecationWarning"),
              pytest.mark.filterwarnings("ignore::ResourceWarning")]

EXAMPLES = example_strategy_path().parents[1]
REVIEW = EXAMPLES / "account_management" / "strategy.yaml"
COLLECTIONS = EXAMPLES / "collections" / "strategy.yaml"
CHALLENGER = EXAMPLES / "simulation" / "challenger.yaml"


@pytest.fixture(scope="module")
def book() -> Book:
    return synthetic_book(3_000, months=13, seed=7)


def _spark_frame(spark: Any, table: pl.DataFrame, path: Path, partitions: int = 3) -> Any:
    table.write_parquet(path)
    return spark.read.parquet(str(path)).repartition(partitions)


def _collect(frame: Any) -> pl.DataFrame:
    out = pl.from_arrow(frame.toArrow())
    assert isinstance(out, pl.DataFrame)
    return out


def _as_text(frame: pl.DataFrame, *columns: str) -> pl.DataFrame:
    return frame.with_columns(pl.col(c).cast(pl.String) for c in columns if c in frame.columns)


# --------------------------------------------------------------------------------------------
# review
# --------------------------------------------------------------------------------------------


def _review_book(book: Book) -> pl.DataFrame:
    """The book plus edge rows: nulls in the job's flags and the strategy's inputs, a negative
    balance, a written-off account and an invalid input."""
    accounts = book.accounts
    edge = accounts.head(60).with_columns(pl.col("account_id") + "-E")
    nulls = edge.head(20).with_columns(
        pl.lit(None, dtype=accounts.schema[c]).alias(c)
        for c in ("income_monthly", "opt_in", "persistent_debt", "utilisation", "dpd"))
    odd = edge.slice(20, 20).with_columns(pl.lit(-50.0).alias("balance"),
                                          pl.lit(1e9).alias("credit_limit"))
    invalid = edge.slice(40, 20).with_columns(pl.lit(-5, dtype=accounts.schema["months_on_book"])
                                              .alias("months_on_book"))
    return pl.concat([accounts, nulls, odd, invalid])


def test_review_equals_the_local_review(spark: Any, book: Book, tmp_path: Path) -> None:
    from fengkong.spark._lifecycle import review_spark

    table = _review_book(book)
    config = ReviewConfig(control_share=0.1)
    local = review(compile_strategy(REVIEW), table, as_of=book.as_of, config=config)
    frame = _spark_frame(spark, table, tmp_path / "book.parquet")
    run = review_spark(REVIEW, frame, as_of=book.as_of, config=config)
    actions, notices, summary = run
    got = _collect(actions).sort("account_id")
    want = _as_text(local.actions, "action").sort("account_id")
    assert got.height == table.height
    assert_frame_equal(got, want, check_exact=True)
    assert set(want["action"]) > {"none"} and want["error"].null_count() < want.height
    got_notices = _collect(notices).sort("account_id")
    assert got_notices.height == local.notices.height > 0
    assert_frame_equal(got_notices, _as_text(local.notices, "action").sort("account_id"),
                       check_exact=True)
    assert_frame_equal(summary, local.summary)
    run.unpersist()


# --------------------------------------------------------------------------------------------
# collections
# --------------------------------------------------------------------------------------------


def _collections_inputs(book: Book) -> tuple[pl.DataFrame, pl.DataFrame, pl.DataFrame]:
    """Accounts (ordered by id, with unknown and invalid time zones and a null opt-out),
    promise outcomes and past calls that hit the frequency cap."""
    day = book.as_of
    late = book.accounts.filter(pl.col("dpd") > 0, pl.col("bucket") != "write-off")
    odd = late["account_id"].head(30)
    accounts = book.accounts.with_columns(
        pl.when(pl.col("account_id").is_in(odd.head(10).implode())).then(pl.lit(None))
        .when(pl.col("account_id").is_in(odd.slice(10, 10).implode())).then(pl.lit("Mars/Base"))
        .otherwise(pl.col("timezone").cast(pl.String)).alias("timezone"),
        pl.when(pl.col("account_id").is_in(odd.slice(20, 10).implode())).then(None)
        .otherwise(pl.col("contact_opt_out_sms")).alias("contact_opt_out_sms"),
    ).sort("account_id")
    ids = late["account_id"].slice(40, 40)
    promises = pl.DataFrame({"promise_id": [f"P{i}" for i in range(len(ids))], "account_id": ids,
                             "promised_on": [day - dt.timedelta(days=25)] * len(ids),
                             "due_date": [day - dt.timedelta(days=20)] * len(ids),
                             "amount": [50.0] * len(ids)})
    outcomes = evaluate_promises(promises, book.payments, as_of=day, grace_days=3)
    at = dt.datetime.combine(day, dt.time(3)) - dt.timedelta(days=1)
    callers = late["account_id"].slice(80, 5)
    contacts = pl.DataFrame({"account_id": [a for a in callers for _ in range(7)],
                             "channel": ["call"] * 35, "attempted_at": [at] * 35})
    return accounts, outcomes, contacts


def test_collections_plan_equals_the_local_plan(spark: Any, book: Book, tmp_path: Path) -> None:
    from fengkong.spark._lifecycle import collections_plan_spark

    accounts, outcomes, contacts = _collections_inputs(book)
    local = plan_worklist(compile_strategy(COLLECTIONS), accounts, date=book.as_of,
                          contacts=contacts, promises=outcomes)
    frame = _spark_frame(spark, accounts, tmp_path / "accounts.parquet")
    run = collections_plan_spark(COLLECTIONS, frame, date=book.as_of, contacts=contacts,
                                 promises=outcomes)
    worklist, blocked = run
    got = _collect(worklist)
    assert got["rank"].to_list() == list(range(1, got.height + 1))  # written in rank order
    want = local.worklist
    assert_frame_equal(got.sort("account_id"), want.sort("account_id"), check_exact=True)
    assert want["treatment_changed_by"].drop_nulls().n_unique() >= 2
    got_blocked = _collect(blocked).sort("account_id")
    want_blocked = _as_text(local.blocked, "local_time").sort("account_id")
    assert set(want_blocked["blocked_rule"]) >= {"local_hours", "frequency_cap"}
    assert_frame_equal(got_blocked, want_blocked, check_exact=True)
    run.unpersist()


# --------------------------------------------------------------------------------------------
# simulate
# --------------------------------------------------------------------------------------------


def _history() -> pl.DataFrame:
    table = generate_applications(3_000, seed=17)
    unknown = pl.int_range(pl.len()) % 9 == 0
    return table.with_columns(pl.when(unknown).then(None).otherwise(pl.col("bad")).alias("bad"),
                              (pl.int_range(pl.len()) % 3).cast(pl.String).alias("region"))


def test_simulate_equals_the_local_back_test(spark: Any, tmp_path: Path) -> None:
    from fengkong.spark._lifecycle import simulate_spark

    table = _history()
    local = simulate(compile_strategy(example_strategy_path()), compile_strategy(CHALLENGER),
                     table, segment_by="region")
    frame = _spark_frame(spark, table, tmp_path / "history.parquet")
    run = simulate_spark(example_strategy_path(), CHALLENGER, frame, segment_by="region")
    got = _collect(run.decisions)
    # `row` numbers records in Spark's reading order: a permutation of the local numbers.
    assert sorted(got["row"].to_list()) == list(range(table.height))
    assert_frame_equal(got.drop("row").sort("application_id"),
                       local.decisions.drop("row").sort("application_id"))
    sim = run.simulation
    assert sim.decisions.height == table.height
    assert sim.overall == pytest.approx(local.overall, nan_ok=True)
    assert local.overall["swap_in"] > 0
    assert_frame_equal(sim.by_segment, local.by_segment)
    assert sim.by_segment.height == 3
    assert_frame_equal(sim.swap, local.swap)
    assert [(c.component, c.records, c.bads, c.pooled, c.transform) for c in sim.calibration] \
        == [(c.component, c.records, c.bads, c.pooled, c.transform) for c in local.calibration]
    for mine, theirs in zip(sim.calibration, local.calibration, strict=True):
        assert (mine.intercept, mine.slope) == pytest.approx((theirs.intercept, theirs.slope))
    run.unpersist()


def test_simulate_rejects_a_bad_outcome_as_locally(spark: Any, tmp_path: Path) -> None:
    from fengkong.spark._lifecycle import simulate_spark

    table = _history().head(300).with_columns(
        pl.when(pl.int_range(pl.len()) == 250).then(2).otherwise(pl.col("bad")).alias("bad"))
    with pytest.raises(DataError, match="must hold 0") as local:
        simulate(compile_strategy(example_strategy_path()), compile_strategy(CHALLENGER), table)
    frame = _spark_frame(spark, table, tmp_path / "history.parquet")
    with pytest.raises(DataError) as remote:
        simulate_spark(example_strategy_path(), CHALLENGER, frame)
    assert str(remote.value) == str(local.value)


# --------------------------------------------------------------------------------------------
# the commands
# --------------------------------------------------------------------------------------------


def test_review_command_on_spark(spark: Any, book: Book, tmp_path: Path) -> None:
    source = tmp_path / "book.parquet"
    book.accounts.write_parquet(source)
    out = tmp_path / "run" / "actions.parquet"
    res = CliRunner().invoke(app, ["review", str(REVIEW), "--accounts", str(source), "--as-of",
                                   book.as_of.isoformat(), "--out", str(out), "--engine",
                                   "spark", "--master", "local[2]"])
    assert res.exit_code == 0, res.output
    assert "3,000 accounts reviewed on Spark" in res.output
    actions = pl.read_parquet(out / "*.parquet")
    notices = pl.read_parquet(out.parent / "notices.parquet" / "*.parquet")
    summary = pl.read_csv(out.parent / "summary.csv")
    assert actions.height == 3_000 and actions["account_id"].n_unique() == 3_000
    assert notices.height == actions["notice"].sum() == summary["notices"].sum() > 0
    assert len(json.loads((out.parent / "summary.json").read_text())) == summary.height


def test_review_command_names_a_missing_column(spark: Any, book: Book, tmp_path: Path) -> None:
    source = tmp_path / "book.parquet"
    book.accounts.drop("balance").write_parquet(source)
    args = ["review", str(REVIEW), "--accounts", str(source), "--as-of",
            book.as_of.isoformat(), "--out", str(tmp_path / "a.parquet")]
    local = CliRunner().invoke(app, args)
    remote = CliRunner().invoke(app, [*args, "--engine", "spark", "--master", "local[2]"])
    assert "balance" in remote.output and "Traceback" not in remote.output
    assert "Java" not in remote.output and "Py4J" not in remote.output
    assert (remote.exit_code, remote.output) == (local.exit_code, local.output) != (0, "")


def test_collections_command_on_spark(spark: Any, book: Book, tmp_path: Path) -> None:
    accounts, _, contacts = _collections_inputs(book)
    paths = {"accounts": tmp_path / "accounts.parquet", "contacts": tmp_path / "contacts.parquet"}
    accounts.write_parquet(paths["accounts"])
    contacts.write_parquet(paths["contacts"])
    out, blocked = tmp_path / "worklist.parquet", tmp_path / "blocked.parquet"
    res = CliRunner().invoke(app, ["collections", "plan", "--accounts", str(paths["accounts"]),
                                   "--contacts", str(paths["contacts"]), "--date",
                                   book.as_of.isoformat(), "--out", str(out), "--blocked",
                                   str(blocked), "--engine", "spark", "--master", "local[2]"])
    assert res.exit_code == 0, res.output
    wl = pl.read_parquet(out / "*.parquet").sort("rank")
    late = accounts.filter(pl.col("dpd") > 0, pl.col("bucket") != "write-off")
    assert wl.height == late.height
    assert wl["rank"].to_list() == list(range(1, wl.height + 1))
    assert wl["priority"].drop_nulls().is_sorted(descending=True)
    assert f"{wl.height:,} delinquent accounts" in res.output
    assert "frequency_cap" in res.output
    assert pl.read_parquet(blocked / "*.parquet").height == (wl["contact_status"] == "blocked").sum()


def test_simulate_command_on_spark(spark: Any, tmp_path: Path) -> None:
    source = tmp_path / "history.parquet"
    _history().write_parquet(source)
    out = tmp_path / "sim"
    res = CliRunner().invoke(app, ["simulate", "--champion", str(example_strategy_path()),
                                   "--challenger", str(CHALLENGER), "--history", str(source),
                                   "--out", str(out), "--engine", "spark", "--master",
                                   "local[2]"])
    assert res.exit_code == 0, res.output
    assert "swap-in" in res.output and "3,000" in res.output
    decisions = pl.read_parquet(out / "decisions.parquet" / "*.parquet")
    summary = json.loads((out / "summary.json").read_text("utf-8"))
    assert decisions.height == summary["records"] == 3_000
    assert summary["overall"]["swap_in"] == (decisions["swap"] == "swap_in").sum() > 0
    assert (out / "report.html").read_text("utf-8").count("<svg") == 4
