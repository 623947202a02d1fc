"""The account-management review: the example strategy, and every compliance guard the job
enforces after the strategy ran.

The guards are tested against a *reckless* strategy that proposes whatever the test row
asks for (any limit, any APR, any warning action), so each test fails if its guard breaks:
the strategy cannot be relied on to hold the line.
"""

from __future__ import annotations

from datetime import date, timedelta
from pathlib import Path
from typing import Any

import polars as pl
import pytest
from polars.testing import assert_frame_equal

from fengkong import CompiledStrategy, compile_strategy
from fengkong.lifecycle import Book, synthetic_book
from fengkong.lifecycle._review import (
    ACTIONS,
    GUARDS,
    ReviewConfig,
    behaviour_features,
    control_mask,
    review,
    review_chunk,
    review_to_files,
    summarise,
)

EXAMPLE = Path(__file__).resolve().parents[3] / "examples" / "account_management" / "strategy.yaml"
AS_OF = date(2026, 1, 1)
NO_CONTROL = ReviewConfig(control_share=0.0)

# Proposes exactly what the row's `proposed_*` columns say: a strategy that would break every
# rule if the job did not stop it.
RECKLESS = """\
schema_version: 1
strategy: reckless_review
version: 1
stage: account_management
inputs:
  account.account_id: {type: str}
  account.credit_limit: {type: float, min: -1000000, max: 100000000}
  account.proposed_limit: {type: float, min: -1000000, max: 100000000}
  account.proposed_apr: {type: float, min: 0, max: 10}
  account.proposed_warning: {type: str}
  account.months_on_book: {type: int, min: 0, max: 1200}
use: {score: behaviour, warning: warning}
scorecards:
  behaviour:
    base_points: 600
    characteristics:
      - {name: mob, expr: account.months_on_book, reason: SHORT_ACCOUNT_HISTORY, missing: 0,
         bins: [{when: "< 12", points: 0}, {when: ">= 12", points: 40}]}
tables:
  warning:
    hit_policy: first
    inputs: [account.proposed_warning]
    outputs: [action]
    rows:
      - ["-", "account.proposed_warning"]
rules:
  - {id: cut, when: "account.proposed_warning in ('decrease', 'freeze')", action: flag,
     reason: INCOME_DROP}
outcome:
  limit: account.proposed_limit
  apr: account.proposed_apr
"""


@pytest.fixture(scope="module")
def example() -> CompiledStrategy:
    return compile_strategy(EXAMPLE)


@pytest.fixture(scope="module")
def reckless(tmp_path_factory: pytest.TempPathFactory) -> CompiledStrategy:
    path = tmp_path_factory.mktemp("reckless") / "strategy.yaml"
    path.write_text(RECKLESS, encoding="utf-8")
    return compile_strategy(path)


@pytest.fixture(scope="module")
def book() -> Book:
    return synthetic_book(6_000, months=14, seed=11)


def account(**over: Any) -> dict[str, Any]:
    """A clean, good account: every column the job and the example strategy read."""
    row: dict[str, Any] = {
        "account_id": "AC000000001", "customer_id": "pn0000000000000001", "segment": "branch",
        "months_on_book": 36, "credit_limit": 10_000.0, "balance": 2_000.0, "apr": 0.18,
        "utilisation": 0.2, "dpd": 0, "bucket": "current", "max_dpd_3m": 0, "max_dpd_6m": 0,
        "max_dpd_12m": 0, "payments_on_time_12m": 12, "balance_trend_3m": -0.1,
        "income_monthly": 20_000.0, "income_change_pct": 0.0, "external_delinquency_new": False,
        "multi_lending_30d": 0, "utilisation_jump_1m": 0.0, "persistent_debt": False,
        "early_warning": False, "opt_out_increase": False, "opt_in_required": False,
        "opt_in": False, "proposed_limit": 10_000.0, "proposed_apr": 0.18,
        "proposed_warning": "none",
    }
    row.update(over)
    return row


def frame(*rows: dict[str, Any]) -> pl.DataFrame:
    return pl.DataFrame(list(rows), schema_overrides={"dpd": pl.Int16, "max_dpd_6m": pl.Int16})


def one(strategy: CompiledStrategy, config: ReviewConfig = NO_CONTROL, **over: Any) -> dict[str, Any]:
    actions, _ = review_chunk(strategy, frame(account(**over)), as_of=AS_OF, config=config)
    return actions.row(0, named=True)


def guards(row: dict[str, Any]) -> list[str]:
    return (row["guard"] or "").split(",") if row["guard"] else []


# --------------------------------------------------------------------------- increase guards


def test_reckless_increase_passes_when_nothing_blocks_it(reckless: CompiledStrategy) -> None:
    r = one(reckless, proposed_limit=15_000.0)
    assert (r["action"], r["new_limit"], r["guard"]) == ("increase", 15_000.0, None)


@pytest.mark.parametrize(("over", "guard"), [
    ({"dpd": 5}, "no_increase_recent_dpd"),
    ({"max_dpd_6m": 3}, "no_increase_recent_dpd"),
    ({"persistent_debt": True}, "no_increase_persistent_debt"),
    ({"early_warning": True}, "no_increase_early_warning"),
    ({"proposed_warning": "watch"}, "no_increase_early_warning"),
    ({"opt_out_increase": True}, "no_increase_opt_out"),
    ({"opt_in_required": True, "opt_in": False}, "no_increase_opt_in_missing"),
])
def test_increase_eligibility_guards(reckless: CompiledStrategy, over: dict[str, Any],
                                     guard: str) -> None:
    r = one(reckless, proposed_limit=15_000.0, **over)
    assert r["new_limit"] == 10_000.0
    assert r["action"] != "increase"
    assert r["proposed_action"] in ("increase", "watch")
    assert guard in guards(r)


def test_opt_in_given_allows_the_increase(reckless: CompiledStrategy) -> None:
    r = one(reckless, proposed_limit=15_000.0, opt_in_required=True, opt_in=True)
    assert (r["action"], r["new_limit"]) == ("increase", 15_000.0)


def test_dpd_lookback_follows_the_config(reckless: CompiledStrategy) -> None:
    row = {"proposed_limit": 15_000.0, "max_dpd_12m": 10}
    assert one(reckless, **row)["action"] == "increase"  # 6 months: the old DPD is outside
    r = one(reckless, ReviewConfig(control_share=0.0, dpd_lookback_months=12), **row)
    assert r["action"] == "none" and "no_increase_recent_dpd" in guards(r)


def test_affordability_cap(reckless: CompiledStrategy) -> None:
    cfg = ReviewConfig(control_share=0.0, max_income_multiple=6.0)
    r = one(reckless, cfg, income_monthly=2_000.0, proposed_limit=30_000.0)
    assert (r["action"], r["new_limit"]) == ("increase", 12_000.0)
    assert "affordability_cap" in guards(r)
    # Already above the cap: no increase at all (and never a decrease because of the cap).
    r = one(reckless, cfg, income_monthly=1_000.0, proposed_limit=30_000.0)
    assert (r["action"], r["new_limit"]) == ("none", 10_000.0)
    assert "affordability_cap" in guards(r)
    # Unknown income: nothing is affordable.
    r = one(reckless, cfg, income_monthly=None, proposed_limit=30_000.0)
    assert r["new_limit"] == 10_000.0 and "affordability_cap" in guards(r)


# --------------------------------------------------------------------------- decreases


@pytest.mark.parametrize("warning", ["decrease", "freeze"])
def test_decrease_never_below_the_balance(reckless: CompiledStrategy, warning: str) -> None:
    r = one(reckless, balance=4_321.5, proposed_limit=0.0, proposed_warning=warning)
    assert r["new_limit"] == 4_321.5
    assert r["action"] == ("freeze" if warning == "freeze" else "decrease")
    assert "decrease_floor_balance" in guards(r)


def test_over_limit_account_keeps_its_limit(reckless: CompiledStrategy) -> None:
    r = one(reckless, balance=12_000.0, proposed_limit=5_000.0, proposed_warning="decrease")
    assert r["new_limit"] == 10_000.0 and r["action"] == "watch"
    assert "decrease_floor_balance" in guards(r)


def test_decrease_above_the_balance_is_not_guarded(reckless: CompiledStrategy) -> None:
    r = one(reckless, balance=1_000.0, proposed_limit=6_000.0, proposed_warning="decrease")
    assert (r["action"], r["new_limit"]) == ("decrease", 6_000.0)
    assert "decrease_floor_balance" not in guards(r)


# --------------------------------------------------------------------------- notices


def test_notice_for_a_decrease_not_caused_by_current_delinquency(reckless: CompiledStrategy) -> None:
    rows = frame(account(account_id="A1", proposed_limit=6_000.0, proposed_warning="decrease"),
                 account(account_id="A2", proposed_limit=2_000.0, proposed_warning="freeze"),
                 account(account_id="A3", dpd=40, proposed_limit=2_000.0, proposed_warning="freeze"),
                 account(account_id="A4", proposed_limit=12_000.0))
    actions, notices = review_chunk(reckless, rows, as_of=AS_OF, config=NO_CONTROL)
    assert notices["account_id"].to_list() == ["A1", "A2"]
    assert notices["due_by"].to_list() == [AS_OF + timedelta(days=30)] * 2
    assert (notices["due_by"] - notices["issued_on"]).dt.total_days().max() <= 30
    assert all(len(r) >= 1 for r in notices["reasons"].to_list())
    assert notices["reasons"][0].to_list()[0] == "INCOME_DROP"
    assert notices["action"].cast(pl.String).to_list() == ["decrease", "freeze"]
    assert actions["notice"].to_list() == [True, True, False, False]
    assert ["adverse_action_notice" in (g or "") for g in actions["guard"]] == [True, True, False, False]


def test_notice_days_are_configurable_and_reasons_never_empty(tmp_path: Path) -> None:
    strategy = tmp_path / "s.yaml"  # the reckless strategy without its flag rule: no reasons
    strategy.write_text(RECKLESS.split("rules:")[0] + "outcome:" + RECKLESS.split("outcome:")[1],
                        encoding="utf-8")
    compiled = compile_strategy(strategy)
    rows = frame(account(proposed_limit=6_000.0, proposed_warning="decrease", months_on_book=40))
    _, notices = review_chunk(compiled, rows, as_of=AS_OF,
                              config=ReviewConfig(control_share=0.0, notice_days=14))
    assert notices["due_by"].to_list() == [AS_OF + timedelta(days=14)]
    assert notices["reasons"].to_list() == [["ACCOUNT_REVIEW"]]


# --------------------------------------------------------------------------- price


def test_price_never_raised(reckless: CompiledStrategy) -> None:
    r = one(reckless, proposed_apr=0.30)
    assert (r["new_apr"], r["action"]) == (0.18, "none")
    assert "price_never_raised" in guards(r)


def test_apr_floor(reckless: CompiledStrategy) -> None:
    r = one(reckless, ReviewConfig(control_share=0.0, apr_floor=0.08), proposed_apr=0.01)
    assert (r["new_apr"], r["action"]) == (0.08, "price_discount")
    assert "apr_floor" in guards(r)
    r = one(reckless, ReviewConfig(control_share=0.0, apr_floor=0.08), proposed_apr=0.12)
    assert (r["new_apr"], r["guard"]) == (0.12, None)


def test_identical_risk_inputs_get_the_same_price(example: CompiledStrategy) -> None:
    good = {"months_on_book": 40, "utilisation": 0.1, "payments_on_time_12m": 12,
            "balance_trend_3m": -0.2, "apr": 0.24}
    rows = frame(
        account(account_id="AC000000001", customer_id="pn00000000000000aa", **good),
        account(account_id="AC999999999", customer_id="pn00000000000000bb", **good),
        account(account_id="AC555555555", customer_id="pnffffffffffffffff", **good),
    )
    actions, _ = review_chunk(example, rows, as_of=AS_OF, config=NO_CONTROL)
    assert actions["new_apr"].n_unique() == 1
    assert actions["new_limit"].n_unique() == 1
    assert actions["new_apr"][0] < 0.24  # the best band gets the ladder's discount
    # The other segment prices the same risk on its own ladder, and identically again.
    rows = rows.with_columns(pl.lit("partner").alias("segment"))
    partner, _ = review_chunk(example, rows, as_of=AS_OF, config=NO_CONTROL)
    assert partner["new_apr"].n_unique() == 1


# --------------------------------------------------------------------------- control group


def test_control_group_is_deterministic_and_sized() -> None:
    ids = pl.Series([f"AC{i:09d}" for i in range(20_000)])
    a = control_mask(ids, 0.1, "salt")
    assert a.equals(control_mask(ids, 0.1, "salt"))
    assert 0.09 < a.mean() < 0.11  # type: ignore[operator]
    assert not a.equals(control_mask(ids, 0.1, "other salt"))
    assert control_mask(ids, 0.0, "salt").sum() == 0
    assert control_mask(ids, 1.0, "salt").all()
    # Growing the share only adds accounts: the 5 % group is inside the 10 % group.
    small = control_mask(ids, 0.05, "salt")
    assert (small & ~a).sum() == 0
    # Row order does not matter.
    assert control_mask(ids.reverse(), 0.1, "salt").reverse().equals(a)


def test_control_accounts_get_no_action(reckless: CompiledStrategy) -> None:
    rows = frame(*(account(account_id=f"AC{i:05d}", proposed_limit=15_000.0, proposed_apr=0.1)
                   for i in range(400)))
    cfg = ReviewConfig(control_share=0.25)
    actions, _ = review_chunk(reckless, rows, as_of=AS_OF, config=cfg)
    ctl = actions.filter("control")
    assert 60 < ctl.height < 140
    assert ctl["action"].cast(pl.String).unique().to_list() == ["none"]
    assert (ctl["new_limit"] == ctl["old_limit"]).all() and (ctl["new_apr"] == ctl["old_apr"]).all()
    assert all("control_group" in g for g in ctl["guard"])
    assert actions.filter(~pl.col("control"))["action"].cast(pl.String).unique().to_list() == ["increase"]
    expected = control_mask(rows["account_id"], 0.25, cfg.control_salt)
    assert actions["control"].equals(expected)


def test_control_accounts_get_no_notice(reckless: CompiledStrategy) -> None:
    rows = frame(account(proposed_limit=2_000.0, proposed_warning="freeze"))
    actions, notices = review_chunk(reckless, rows, as_of=AS_OF,
                                    config=ReviewConfig(control_share=1.0))
    assert actions["action"][0] == "none" and notices.height == 0


# --------------------------------------------------------------------------- other rows


def test_invalid_and_written_off_rows_get_no_action(reckless: CompiledStrategy) -> None:
    rows = frame(account(account_id="bad", proposed_apr=-1.0, proposed_limit=20_000.0),
                 account(account_id="wo", bucket="write-off", proposed_limit=20_000.0))
    actions, _ = review_chunk(reckless, rows, as_of=AS_OF, config=NO_CONTROL)
    assert actions["action"].cast(pl.String).to_list() == ["none", "none"]
    assert actions["error"][0] is not None
    assert actions["guard"].to_list() == ["invalid_input", "written_off"]
    assert (actions["new_limit"] == actions["old_limit"]).all()


def test_guard_names_are_the_documented_ones(reckless: CompiledStrategy) -> None:
    cases = [account(account_id=f"A{i}", **o) for i, o in enumerate([
        {"dpd": 3, "persistent_debt": True, "opt_out_increase": True, "proposed_limit": 2e4},
        {"proposed_apr": 0.5}, {"balance": 9_000.0, "proposed_limit": 0.0, "proposed_warning": "freeze"}])]
    actions, _ = review_chunk(reckless, frame(*cases), as_of=AS_OF, config=NO_CONTROL)
    seen = {g for gs in actions["guard"].drop_nulls() for g in gs.split(",")}
    assert seen <= set(GUARDS)
    assert actions["guard"][0] == "no_increase_recent_dpd,no_increase_persistent_debt,no_increase_opt_out"


# --------------------------------------------------------------------------- whole book


def test_example_on_a_synthetic_book_holds_every_invariant(example: CompiledStrategy,
                                                           book: Book) -> None:
    result = review(example, book.accounts, as_of=book.as_of,
                    config=ReviewConfig(control_share=0.1, chunk_size=2_500))
    a = result.actions.join(book.accounts.select(
        "account_id", "max_dpd_6m", "persistent_debt", "early_warning", "opt_out_increase",
        "opt_in_required", "opt_in", "balance", "income_monthly"), on="account_id")
    assert a.height == book.accounts.height
    assert set(a["action"].cast(pl.String).unique()) <= set(ACTIONS)
    counts = a["action"].value_counts()
    assert {"increase", "decrease", "freeze", "price_discount", "watch", "none"} <= set(
        counts["action"].cast(pl.String))
    inc = a.filter(pl.col("new_limit") > pl.col("old_limit"))
    assert (inc["action"] == "increase").all()
    assert inc.filter((pl.col("dpd") > 0) | (pl.col("max_dpd_6m") > 0) | pl.col("persistent_debt")
                      | pl.col("early_warning") | pl.col("opt_out_increase")
                      | (pl.col("opt_in_required") & ~pl.col("opt_in"))
                      | pl.col("control")).height == 0
    assert (inc["new_limit"] <= inc["income_monthly"] * 6.0 + 1e-6).all()
    dec = a.filter(pl.col("new_limit") < pl.col("old_limit"))
    assert (dec["new_limit"] >= dec["balance"].clip(lower_bound=0.0) - 1e-9).all()
    assert (a["new_apr"] <= a["old_apr"]).all()
    ctl = a.filter("control")
    assert 0.08 < ctl.height / a.height < 0.12
    assert (ctl["action"] == "none").all()
    cut = a.filter(pl.col("action").is_in(["decrease", "freeze"]) & (pl.col("dpd") == 0))
    assert sorted(result.notices["account_id"]) == sorted(cut["account_id"])
    assert (result.notices["due_by"] == book.as_of + timedelta(days=30)).all()
    # The summary adds up to the actions.
    s = result.summary
    assert s["accounts"].sum() == a.height
    assert s["notices"].sum() == result.notices.height
    assert s["exposure_added"].sum() == pytest.approx(inc["limit_change"].sum(), abs=1.0)
    assert s["exposure_removed"].sum() == pytest.approx(-dec["limit_change"].sum(), abs=1.0)
    assert s["el_change"].sum() == pytest.approx(a["el_change"].sum(), abs=1.0)
    assert (s.filter(pl.col("action") == "increase")["el_change"] > 0).all()


def test_streaming_to_files_equals_the_in_memory_review(example: CompiledStrategy, book: Book,
                                                        tmp_path: Path) -> None:
    path = tmp_path / "book.parquet"
    book.accounts.write_parquet(path)
    cfg = ReviewConfig(chunk_size=1_700)
    calls: list[tuple[str, int, int]] = []
    run = review_to_files(example, path, as_of=book.as_of, out=tmp_path / "o" / "actions.parquet",
                          config=cfg, progress=lambda *c: calls.append(c))
    mem = review(example, book.accounts, as_of=book.as_of, config=cfg)
    assert_frame_equal(pl.read_parquet(run.files["actions"]), mem.actions)
    assert_frame_equal(pl.read_parquet(run.files["notices"]), mem.notices)
    assert_frame_equal(run.summary, mem.summary)
    assert_frame_equal(pl.read_csv(run.files["summary_csv"]), mem.summary, check_dtypes=False)
    assert run.accounts == book.accounts.height and run.notices == mem.notices.height
    assert calls[0] == ("review", 0, 6_000) and calls[-1] == ("review", 6_000, 6_000)
    assert len(calls) == 5  # start + 4 chunks


def test_summarise_of_nothing_is_empty() -> None:
    assert summarise(pl.DataFrame(schema=review_chunk.__globals__["ACTION_SCHEMA"])).height == 0


def test_behaviour_features_from_history_match_the_book(book: Book) -> None:
    feats = behaviour_features(book.history, as_of=book.as_of)
    cols = [c for c in feats.columns if c != "account_id"]
    expected = book.accounts.select("account_id", *cols).with_columns(
        pl.col(c).cast(feats.schema[c]) for c in cols)
    assert_frame_equal(feats.sort("account_id"), expected.sort("account_id"), abs_tol=1e-9)


def test_config_is_checked() -> None:
    with pytest.raises(ValueError, match="control_share"):
        ReviewConfig(control_share=1.5)
    with pytest.raises(ValueError, match="dpd_lookback_months"):
        ReviewConfig(dpd_lookback_months=5)


def test_missing_book_column_is_named(example: CompiledStrategy) -> None:
    with pytest.raises(ValueError, match="opt_in"):
        review_chunk(example, frame(account()).drop("opt_in"), as_of=AS_OF)


def test_the_example_decides_the_same_online_and_in_batch(example: CompiledStrategy,
                                                          book: Book) -> None:
    """The service decides one account online with the same plan the review runs in batch."""
    from fengkong import evaluate, evaluate_batch
    from fengkong.lifecycle._review import _inputs

    inputs = _inputs(example, book.accounts.head(300))
    batch = evaluate_batch(example, inputs)
    for record, row in zip(inputs.iter_rows(named=True), batch.iter_rows(named=True), strict=True):
        d = evaluate(example, record)
        assert (d.limit, d.apr, d.segment, list(d.reasons)) == (
            row["limit"], row["apr"], row["segment"], row["reasons"])
