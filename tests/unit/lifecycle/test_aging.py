"""Ageing the book: simulated months, account-management changes, new accounts."""

from __future__ import annotations

from datetime import date

import polars as pl
import pytest
from polars.testing import assert_frame_equal

from fengkong.lifecycle import Book, age_book, synthetic_book, window_features


@pytest.fixture(scope="module")
def book() -> Book:
    return synthetic_book(8_000, months=18, seed=11)


def _new(n: int, risk: float, segment: str = "partner") -> pl.DataFrame:
    return pl.DataFrame(
        {
            "credit_limit": [4_000.0] * n,
            "apr": [0.21] * n,
            "segment": [segment] * n,
            "sim_risk": [risk] * n,
        }
    )


def test_generator_features_equal_the_history_window(book: Book) -> None:
    feats = window_features(book.history, date(2025, 12, 1))
    acc = book.accounts.select(feats.columns)
    assert_frame_equal(acc, feats, check_exact=False, abs_tol=1e-9)


def test_age_one_month_extends_everything_consistently(book: Book) -> None:
    aged = age_book(book, 1, seed=3)
    assert aged.as_of == date(2026, 2, 1)
    assert aged.accounts.height == book.accounts.height
    new_rows = aged.history.filter(pl.col("month") == date(2026, 1, 1))
    assert new_rows.height == book.accounts.height
    assert_frame_equal(aged.history.filter(pl.col("month") < date(2026, 1, 1)), book.history)
    assert aged.history.select(pl.col("account_id").is_sorted()).item()
    assert aged.accounts.schema == book.accounts.schema
    assert aged.accounts.null_count().sum_horizontal().item() == 0
    # The accounts table is the last month of the history.
    joined = aged.accounts.join(new_rows, on="account_id", suffix="_h")
    for col in ("dpd", "bucket", "balance", "credit_limit", "months_on_book"):
        assert (joined[col] == joined[f"{col}_h"]).all(), col
    feats = window_features(aged.history, date(2026, 1, 1))
    assert_frame_equal(aged.accounts.select(feats.columns), feats)
    # Payments of the new month add up to what the history says was paid.
    paid = (
        aged.payments.filter(pl.col("paid_at") >= pl.datetime(2026, 1, 1))
        .group_by("account_id")
        .agg(pl.col("amount").sum())
    )
    check = new_rows.join(paid, on="account_id", how="left").with_columns(
        pl.col("amount").fill_null(0.0)
    )
    assert (check["amount"] - check["paid_amount"]).abs().max() < 1e-6  # type: ignore[operator]


def test_ageing_is_deterministic_and_rolls_one_cycle_at_a_time(book: Book) -> None:
    a = age_book(book, 3, seed=5)
    b = age_book(book, 3, seed=5)
    assert_frame_equal(a.accounts, b.accounts)
    assert_frame_equal(a.history, b.history)
    assert_frame_equal(a.payments, b.payments)
    before = book.accounts.select("account_id", "dpd", "bucket")
    after = age_book(book, 1, seed=5).accounts.select("account_id", "dpd", "bucket")
    pair = before.join(after, on="account_id", suffix="_1")
    cycle = (pl.col("dpd") + 29) // 30
    cycle1 = (pl.col("dpd_1") + 29) // 30
    assert pair.filter(cycle1 > cycle + 1).height == 0
    # Some roll, some cure, write-off never comes back.
    assert pair.filter(cycle1 == cycle + 1).height > 0
    assert pair.filter((pl.col("dpd") > 0) & (pl.col("dpd_1") == 0)).height > 0
    assert (
        pair.filter((pl.col("bucket") == "write-off") & (pl.col("bucket_1") != "write-off")).height
        == 0
    )


def test_consecutive_months_differ_from_each_other(book: Book) -> None:
    one = age_book(book, 1, seed=0)
    two = age_book(one, 1, seed=0)
    m1 = one.history.filter(pl.col("month") == date(2026, 1, 1))["paid_amount"].to_numpy()
    m2 = two.history.filter(pl.col("month") == date(2026, 2, 1))["paid_amount"].to_numpy()
    assert two.as_of == date(2026, 3, 1)
    assert not (m1 == m2).all()


def test_actions_change_limits_and_prices_but_not_written_off(book: Book) -> None:
    live = book.accounts.filter(pl.col("bucket") == "current").head(50)
    dead = book.accounts.filter(pl.col("bucket") == "write-off").head(5)
    actions = pl.concat([live, dead]).select(
        "account_id",
        (pl.col("credit_limit") + 1_000).alias("new_limit"),
        pl.lit(0.099).alias("new_apr"),
    )
    aged = age_book(book, 1, actions=actions, seed=1).accounts
    got = actions.join(aged, on="account_id")
    live_ids = live["account_id"].implode()
    changed = got.filter(pl.col("account_id").is_in(live_ids))
    assert (changed["credit_limit"] == changed["new_limit"]).all()
    assert (changed["apr"] == 0.099).all()
    frozen = got.filter(~pl.col("account_id").is_in(live_ids)).join(
        book.accounts, on="account_id", suffix="_before"
    )
    assert (frozen["credit_limit"] == frozen["credit_limit_before"]).all()
    assert (frozen["apr"] == frozen["apr_before"]).all()
    untouched = aged.join(book.accounts, on="account_id", suffix="_before").filter(
        ~pl.col("account_id").is_in(actions["account_id"].implode())
    )
    assert (untouched["credit_limit"] == untouched["credit_limit_before"]).all()


def test_new_accounts_open_and_riskier_ones_go_bad_more() -> None:
    base = synthetic_book(500, months=6, seed=2)
    new = pl.concat(
        [
            _new(3_000, 0.3, "branch"),
            _new(3_000, 4.0, "partner").with_columns(opened_at=pl.lit(date(2026, 2, 14))),
        ],
        how="diagonal",
    )
    aged = age_book(base, 8, new_accounts=new, seed=4)
    acc = aged.accounts
    assert acc.height == 6_500
    fresh = acc.filter(pl.col("account_id").str.starts_with("NB"))
    assert fresh.height == 6_000
    assert fresh["account_id"].is_unique().all()
    by_seg = dict(fresh.group_by("segment").agg((pl.col("max_dpd_6m") > 30).mean()).iter_rows())
    assert by_seg["partner"] > 3 * by_seg["branch"]
    hist = aged.history.filter(pl.col("account_id").is_in(fresh["account_id"].implode()))
    first = hist.group_by("account_id").agg(pl.col("month").min(), pl.col("cohort").first())
    assert (first["month"] == first["cohort"]).all()
    assert set(first["month"].unique().to_list()) == {date(2026, 1, 1), date(2026, 2, 1)}
    assert (hist.filter(pl.col("months_on_book") == 0)["due_amount"] == 0).all()
    assert (fresh["months_on_book"].is_in([6, 7])).all()


def test_bad_inputs_are_refused(book: Book) -> None:
    with pytest.raises(ValueError, match="months"):
        age_book(book, 0)
    with pytest.raises(ValueError, match="credit_limit"):
        age_book(book, 1, new_accounts=pl.DataFrame({"apr": [0.1]}))
    with pytest.raises(ValueError, match="opened_at"):
        age_book(
            book, 1, new_accounts=_new(1, 1.0).with_columns(opened_at=pl.lit(date(2025, 1, 1)))
        )
    dup = _new(1, 1.0).with_columns(account_id=pl.lit(book.accounts["account_id"][0]))
    with pytest.raises(ValueError, match="unique"):
        age_book(book, 1, new_accounts=dup)
