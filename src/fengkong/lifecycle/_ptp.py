"""Promise-to-pay (承诺还款) tracking: open, kept or broken, and the kept-rate report.

A promise (``promise_id, account_id, promised_on, due_date, amount``) is

- ``kept`` when the account's payments from ``promised_on`` to ``due_date + grace``
  (both days included) add up to ``amount``; ``kept_on`` is the day they did;
- ``broken`` when ``as_of`` is past ``due_date + grace`` and they did not;
- ``open`` otherwise.

Payments made after ``as_of`` are not known yet and never count. A broken promise moves
the account one treatment step up the ladder (:func:`escalation_counts`, read by the
work list), and the outcomes feed back into the monthly history
(:func:`apply_outcomes`).
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Sequence

import polars as pl

__all__ = ["apply_outcomes", "escalation_counts", "evaluate_promises", "kept_rate"]

_PROMISE_COLS = ("promise_id", "account_id", "promised_on", "due_date", "amount")


def _day(frame: pl.DataFrame, column: str) -> pl.Expr:
    """``column`` as a date; text (from CSV) is parsed first."""
    if frame.schema[column] == pl.String:
        return pl.col(column).str.to_datetime(time_unit="us").dt.date()
    return pl.col(column).cast(pl.Date)


def evaluate_promises(promises: pl.DataFrame, payments: pl.DataFrame, *, as_of: dt.date,
                      grace_days: int = 3) -> pl.DataFrame:
    """Each promise with ``status`` (open/kept/broken), ``paid`` (paid in its window up to
    ``as_of``), ``deadline`` (due date + grace), ``kept_on`` and ``resolved_on`` (the day it
    was kept, or the day after the deadline for a broken one)."""
    missing = set(_PROMISE_COLS) - set(promises.columns)
    if missing:
        msg = f"promises lack column(s) {', '.join(sorted(missing))}"
        raise ValueError(msg)
    if grace_days < 0:
        msg = "grace_days must be >= 0"
        raise ValueError(msg)
    p = promises.with_columns(
        _day(promises, "promised_on"), _day(promises, "due_date"),
        pl.col("amount").cast(pl.Float64),
    ).with_columns(deadline=pl.col("due_date") + pl.duration(days=grace_days))
    if (p["amount"] <= 0).any():
        msg = "a promised amount must be positive"
        raise ValueError(msg)
    pay = payments.select("account_id", _day(payments, "paid_at").alias("paid_on"),
                          pl.col("amount").cast(pl.Float64).alias("paid_amount"))
    pay = pay.filter(pl.col("paid_on") <= as_of)
    window = (p.select("promise_id", "account_id", "promised_on", "deadline", "amount")
              .join(pay, on="account_id", how="inner")
              .filter(pl.col("paid_on") >= pl.col("promised_on"),
                      pl.col("paid_on") <= pl.col("deadline"))
              .sort("promise_id", "paid_on")
              .with_columns(cum=pl.col("paid_amount").cum_sum().over("promise_id")))
    agg = window.group_by("promise_id").agg(
        pl.col("paid_amount").sum().alias("paid"),
        pl.col("paid_on").filter(pl.col("cum") >= pl.col("amount") - 1e-9).min()
        .alias("kept_on"))
    out = p.join(agg, on="promise_id", how="left", maintain_order="left").with_columns(
        pl.col("paid").fill_null(0.0))
    return out.with_columns(
        status=pl.when(pl.col("kept_on").is_not_null()).then(pl.lit("kept"))
        .when(pl.lit(as_of) > pl.col("deadline")).then(pl.lit("broken"))
        .otherwise(pl.lit("open")),
    ).with_columns(
        resolved_on=pl.when(pl.col("status") == "kept").then(pl.col("kept_on"))
        .when(pl.col("status") == "broken").then(pl.col("deadline") + pl.duration(days=1))
        .otherwise(None))


def kept_rate(outcomes: pl.DataFrame, *, by: Sequence[str] = ("due_month",)) -> pl.DataFrame:
    """Kept-rate report from :func:`evaluate_promises`: per group (default: the month of
    the due date), ``promises, kept, broken, open``, ``kept_rate`` = kept / (kept + broken)
    in percent (open promises are not decided yet), ``promised``, ``paid`` and
    ``amount_kept_rate`` = promised amount of kept / of decided promises, in percent.
    Pass ``by=()`` for one overall row."""
    o = outcomes.with_columns(due_month=pl.col("due_date").dt.truncate("1mo"))
    kept = pl.col("status") == "kept"
    decided = pl.col("status") != "open"
    aggs = [
        pl.len().alias("promises"),
        kept.sum().alias("kept"),
        (pl.col("status") == "broken").sum().alias("broken"),
        (pl.col("status") == "open").sum().alias("open"),
        pl.col("amount").sum().alias("promised"),
        pl.col("paid").sum().alias("paid"),
        pl.col("amount").filter(kept).sum().alias("_ka"),
        pl.col("amount").filter(decided).sum().alias("_da"),
    ]
    g = o.group_by(*by).agg(aggs).sort(*by) if by else o.select(aggs)
    return g.with_columns(
        kept_rate=pl.when(pl.col("kept") + pl.col("broken") > 0)
        .then(100.0 * pl.col("kept") / (pl.col("kept") + pl.col("broken"))),
        amount_kept_rate=pl.when(pl.col("_da") > 0).then(100.0 * pl.col("_ka") / pl.col("_da")),
    ).drop("_ka", "_da")


def escalation_counts(outcomes: pl.DataFrame, *, as_of: dt.date, window_days: int = 30
                      ) -> pl.DataFrame:
    """Per account: ``broken_promises`` (broken promises resolved in the ``window_days``
    up to ``as_of``: each moves the account one treatment step) and ``open_promise``."""
    lo = as_of - dt.timedelta(days=window_days)
    return outcomes.group_by("account_id").agg(
        ((pl.col("status") == "broken") & (pl.col("resolved_on") > lo)
         & (pl.col("resolved_on") <= as_of)).sum().cast(pl.Int64).alias("broken_promises"),
        (pl.col("status") == "open").any().alias("open_promise"))


def apply_outcomes(history: pl.DataFrame, outcomes: pl.DataFrame) -> pl.DataFrame:
    """Feed promise outcomes back into the monthly history: ``promises_made`` (by the
    month promised), ``promises_kept`` and ``promises_broken`` (by the month resolved),
    joined on ``account_id, month`` (0 where there were none)."""
    made = (outcomes.group_by("account_id", pl.col("promised_on").dt.truncate("1mo")
                              .alias("month"))
            .agg(pl.len().cast(pl.Int64).alias("promises_made")))
    resolved = (outcomes.filter(pl.col("resolved_on").is_not_null())
                .group_by("account_id", pl.col("resolved_on").dt.truncate("1mo").alias("month"))
                .agg((pl.col("status") == "kept").sum().cast(pl.Int64).alias("promises_kept"),
                     (pl.col("status") == "broken").sum().cast(pl.Int64)
                     .alias("promises_broken")))
    h = history.drop([c for c in ("promises_made", "promises_kept", "promises_broken")
                      if c in history.columns])
    h = h.with_columns(pl.col("month").cast(pl.Date))
    return (h.join(made, on=["account_id", "month"], how="left", maintain_order="left")
            .join(resolved, on=["account_id", "month"], how="left", maintain_order="left")
            .with_columns(pl.col("promises_made", "promises_kept", "promises_broken")
                          .fill_null(0)))
