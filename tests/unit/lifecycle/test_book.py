"""The synthetic loan book: determinism, schema, delinquency consistency, payments."""

from __future__ import annotations

from datetime import date

import polars as pl
import pytest
from polars.testing import assert_frame_equal

from fengkong.lifecycle import BUCKETS, Book, bucket_expr, prospects, synthetic_book


@pytest.fixture(scope="module")
def book() -> Book:
    return synthetic_book(20_000, months=24, seed=7)


def test_same_seed_same_book_and_other_seed_differs() -> None:
    a = synthetic_book(2_000, months=12, seed=3)
    b = synthetic_book(2_000, months=12, seed=3)
    c = synthetic_book(2_000, months=12, seed=4)
    assert_frame_equal(a.accounts, b.accounts)
    assert_frame_equal(a.history, b.history)
    assert_frame_equal(a.payments, b.payments)
    assert not a.accounts["balance"].equals(c.accounts["balance"])


def test_schema(book: Book) -> None:
    acc = book.accounts
    assert acc.height == 20_000
    assert acc["account_id"].is_unique().all()
    assert acc.schema["segment"] == pl.Enum(["app", "partner", "branch"])
    assert acc.schema["bucket"] == pl.Enum(list(BUCKETS))
    assert acc.schema["opened_at"] == pl.Date
    for col in ("dpd", "max_dpd_3m", "max_dpd_6m", "max_dpd_12m", "months_on_book"):
        assert acc.schema[col] == pl.Int16
    for col in ("persistent_debt", "early_warning", "opt_in", "contact_opt_out_call"):
        assert acc.schema[col] == pl.Boolean
    assert acc["customer_id"].str.starts_with("pn").all()
    assert acc["phone_pseudonym"].str.starts_with("ph").all()
    assert acc.null_count().sum_horizontal().item() == 0
    assert list(book.history.columns) == [
        "account_id",
        "month",
        "months_on_book",
        "cohort",
        "credit_limit",
        "balance",
        "dpd",
        "bucket",
        "due_amount",
        "paid_amount",
        "written_off",
    ]
    assert dict(book.payments.schema) == {
        "account_id": pl.String,
        "paid_at": pl.Datetime("us"),
        "amount": pl.Float64,
    }
    assert book.as_of == date(2026, 1, 1)


def test_history_covers_the_window_and_matches_accounts(book: Book) -> None:
    hist = book.history
    assert hist["month"].min() == date(2024, 1, 1)
    assert hist["month"].max() == date(2025, 12, 1)
    assert hist.select(pl.struct("account_id", "month").is_unique().all()).item()
    assert hist.select(pl.col("account_id").is_sorted()).item()
    last = hist.filter(pl.col("month") == pl.col("month").max())
    joined = book.accounts.join(last, on="account_id", suffix="_h")
    assert joined.height == book.accounts.height
    for col in ("dpd", "bucket", "balance", "credit_limit", "months_on_book"):
        assert (joined[col] == joined[f"{col}_h"]).all(), col
    # cohort / months on book agree with the month.
    months_between = (pl.col("month").dt.year() - pl.col("cohort").dt.year()) * 12 + (
        pl.col("month").dt.month() - pl.col("cohort").dt.month()
    )
    assert hist.select((months_between == pl.col("months_on_book")).all()).item()
    assert (book.accounts["opened_at"] < book.as_of).all()


def test_bucket_follows_dpd(book: Book) -> None:
    for frame in (
        book.accounts.with_columns(written_off=pl.col("bucket") == "write-off"),
        book.history,
    ):
        expected = frame.select(bucket_expr(pl.col("dpd"), pl.col("written_off"))).to_series()
        assert (frame["bucket"] == expected).all()
    hist = book.history
    assert (hist.filter(~pl.col("written_off"))["dpd"] <= 180).all()
    assert (hist.filter(pl.col("written_off"))["dpd"] > 180).all()
    acc = book.accounts
    assert (acc["max_dpd_12m"] >= acc["max_dpd_6m"]).all()
    assert (acc["max_dpd_6m"] >= acc["max_dpd_3m"]).all()
    assert (acc["max_dpd_3m"] >= acc["dpd"]).all()


def test_every_bucket_occurs_and_most_accounts_are_current(book: Book) -> None:
    counts = dict(book.accounts.group_by("bucket").len().iter_rows())
    assert set(counts) == set(BUCKETS)
    assert counts["current"] / book.accounts.height > 0.8


def test_history_rolls_one_bucket_at_a_time_cures_and_write_off_is_absorbing(book: Book) -> None:
    pairs = (
        book.history.sort("account_id", "month")
        .with_columns(
            prev=pl.col("dpd").shift(1).over("account_id"),
            prev_wo=pl.col("written_off").shift(1).over("account_id"),
        )
        .drop_nulls("prev")
    )
    cycle = (pl.col("dpd") + 29) // 30
    prev_cycle = (pl.col("prev") + 29) // 30
    moved = pairs.select(
        roll=(cycle == prev_cycle + 1).sum(),
        jump=(cycle > prev_cycle + 1).sum(),
        cure=((pl.col("prev") > 0) & (pl.col("dpd") == 0)).sum(),
        resurrect=(pl.col("prev_wo") & ~pl.col("written_off")).sum(),
    ).row(0, named=True)
    assert moved["roll"] > 0
    assert moved["cure"] > 0
    assert moved["jump"] == 0
    assert moved["resurrect"] == 0


def test_riskier_segment_and_accounts_run_fuller_and_roll_more(book: Book) -> None:
    by_seg = book.accounts.group_by("segment").agg(
        bad=(pl.col("dpd") > 30).mean(), util=pl.col("utilisation").mean()
    )
    rates = {row["segment"]: row for row in by_seg.iter_rows(named=True)}
    assert rates["partner"]["bad"] > rates["app"]["bad"] > rates["branch"]["bad"]
    assert rates["partner"]["util"] > rates["branch"]["util"]
    # The lender's behaviour score ranks the outcome.
    acc = book.accounts.with_columns(bad=pl.col("max_dpd_12m") > 60)
    low = acc.filter(pl.col("behaviour_score") < acc["behaviour_score"].median())["bad"].mean()
    high = acc.filter(pl.col("behaviour_score") >= acc["behaviour_score"].median())["bad"].mean()
    assert isinstance(low, float) and isinstance(high, float)
    assert low > 2 * high


def test_payments_sum_to_paid_amount(book: Book) -> None:
    hist = book.history
    pay = book.payments.with_columns(month=pl.col("paid_at").dt.truncate("1mo").cast(pl.Date))
    sums = pay.group_by("account_id", "month").agg(total=pl.col("amount").sum(), n=pl.len())
    joined = hist.join(sums, on=["account_id", "month"], how="left").with_columns(
        pl.col("total").fill_null(0.0)
    )
    assert (joined["total"] - joined["paid_amount"]).abs().max() < 1e-6  # type: ignore[operator]
    assert sums.height == hist.filter(pl.col("paid_amount") > 0).height
    assert (book.payments["amount"] > 0).all()
    assert book.payments.select(
        (pl.col("paid_at") < pl.lit(book.as_of).cast(pl.Datetime("us"))).all()
    ).item()
    assert book.payments.select(pl.col("account_id").is_sorted()).item()


def test_due_and_paid_are_consistent(book: Book) -> None:
    hist = book.history
    assert (hist["paid_amount"] >= 0).all()
    opening = hist.filter(pl.col("months_on_book") == 0)
    assert (opening["due_amount"] == 0).all()
    # After the month of the write-off nothing more is billed or paid.
    off = hist.filter(pl.col("written_off") & pl.col("written_off").shift(1).over("account_id"))
    assert off.height > 0
    assert (off["due_amount"] == 0).all()
    assert (off["paid_amount"] == 0).all()


def test_sizes_and_small_books() -> None:
    one = synthetic_book(1, months=1, seed=0, as_of=date(2025, 7, 1))
    assert one.accounts.height == 1
    assert one.history["month"].to_list() == [date(2025, 6, 1)]
    with pytest.raises(ValueError):
        synthetic_book(0)


def test_prospects() -> None:
    p = prospects(5_000, seed=1)
    assert p.height == 5_000
    assert p["prospect_id"].is_unique().all()
    assert_frame_equal(p, prospects(5_000, seed=1))
    assert (p.filter(~pl.col("marketing_consent"))["consent_purpose"] == "none").all()
    # Risk features rank the simulated outcome.
    low = p.filter(pl.col("bureau_score") < 600)["sim_bad_prob"].mean()
    high = p.filter(pl.col("bureau_score") >= 700)["sim_bad_prob"].mean()
    assert isinstance(low, float) and isinstance(high, float)
    assert low > 2 * high


def test_a_book_of_several_chunks_is_one_consistent_book() -> None:
    book = synthetic_book(70_000, months=2, seed=5)  # two simulation chunks
    ids = book.accounts["account_id"]
    assert ids.is_unique().all()
    assert ids.is_sorted()
    assert ids[0] == "AC000000001"
    assert ids[-1] == "AC000070000"
    assert book.history.select(pl.col("account_id").is_sorted()).item()
    assert set(book.history["account_id"].unique().to_list()) == set(ids.to_list())
    assert book.payments.select(pl.col("account_id").is_sorted()).item()
