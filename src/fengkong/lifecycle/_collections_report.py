"""The collections HTML report: roll rates, flow rates and flow to loss, vintages, kept rate.

One self-contained page (:mod:`fengkong.reports`), every number from the same functions the
tests hold to a hand-computed reference (:mod:`fengkong.lifecycle._collections`,
:mod:`fengkong.lifecycle._ptp`).
"""

from __future__ import annotations

from collections.abc import Callable

import numpy as np
import polars as pl
from matplotlib.figure import Figure

from fengkong.lifecycle._book import BUCKETS
from fengkong.lifecycle._collections import flow_rates, roll_rate_matrix, vintage_curves
from fengkong.lifecycle._ptp import kept_rate
from fengkong.reports import Page, cards, frame_table, new_figure

__all__ = ["collections_report"]

Progress = Callable[[str, int, int], None]


def _heatmap(matrix: pl.DataFrame, title: str) -> Figure:
    rows = [str(b) for b in matrix["from_bucket"]]
    values = matrix.select(list(BUCKETS)).to_numpy()
    fig = new_figure(5.6, 0.5 + 0.42 * max(len(rows), 1))
    ax = fig.add_subplot()
    ax.imshow(values, cmap="Blues", vmin=0, vmax=100, aspect="auto")
    ax.set_xticks(range(len(BUCKETS)), list(BUCKETS))
    ax.set_yticks(range(len(rows)), rows)
    ax.set_xlabel("bucket next month")
    ax.set_ylabel("bucket this month")
    ax.grid(visible=False)
    for (i, j), v in np.ndenumerate(values):
        if v > 0:
            ax.text(j, i, f"{v:.1f}", ha="center", va="center", fontsize=7,
                    color="white" if v > 60 else "#17324d")
    ax.set_title(title)
    return fig


def _flow_figure(flows: pl.DataFrame) -> Figure:
    monthly = flows.filter(pl.col("month").is_not_null())
    fig = new_figure(7.0, 3.0)
    ax = fig.add_subplot()
    months = monthly["month"].to_list()
    for col in [c for c in flows.columns if "→" in c]:
        ax.plot(months, (100 * monthly[col].fill_null(float("nan"))).to_numpy(), marker=".",
                label=col)
    ax.set_ylabel("flow rate, %")
    ax.legend(ncols=3, loc="upper left")
    ax.set_title("Monthly flow rates (share of balance rolling one bucket)")
    fig.autofmt_xdate()
    return fig


def _vintage_figure(v: pl.DataFrame, label: str, max_cohorts: int) -> Figure:
    cohorts = sorted(v["cohort"].unique().to_list())[-max_cohorts:]
    fig = new_figure(7.0, 3.2)
    ax = fig.add_subplot()
    for c in cohorts:
        part = v.filter(pl.col("cohort") == c).sort("months_on_book")
        ax.plot(part["months_on_book"].to_numpy(), part["rate"].to_numpy(), label=str(c)[:7])
    ax.set_xlabel("months on book")
    ax.set_ylabel(f"ever {label} DPD, % of accounts")
    ax.set_title(f"Vintage curves: ever {label} DPD by cohort (last {len(cohorts)} cohorts)")
    if len(cohorts) <= 12:
        ax.legend(ncols=2, loc="upper left")
    return fig


def _kept_figure(kr: pl.DataFrame) -> Figure:
    fig = new_figure(6.0, 2.8)
    ax = fig.add_subplot()
    labels = [str(m)[:7] for m in kr["due_month"]]
    bars = ax.bar(labels, kr["kept_rate"].fill_null(0.0).to_numpy(), color="#2b6cb0")
    decided = (kr["kept"] + kr["broken"]).to_list()
    ax.bar_label(bars, labels=[f"n={d:,}" for d in decided], fontsize=7, padding=2)
    ax.set_ylabel("kept, % of decided promises")
    ax.set_ylim(0, 110)
    ax.set_title("Promise-to-pay kept rate by due month")
    return fig


def _vintage_table(v: pl.DataFrame, max_cohorts: int) -> pl.DataFrame:
    cohorts = sorted(v["cohort"].unique().to_list())[-max_cohorts:]
    wide = (v.filter(pl.col("cohort").is_in(cohorts), pl.col("months_on_book") <= 24)
            .with_columns(pl.col("months_on_book").cast(pl.String).alias("mob"),
                          pl.col("rate").round(2))
            .sort("months_on_book")
            .pivot(on="mob", index="cohort", values="rate").sort("cohort"))
    return wide.with_columns(pl.col("cohort").cast(pl.String).str.slice(0, 7))


def _fixed(expr: pl.Expr, digits: int) -> pl.Expr:
    """A non-negative number as text with exactly ``digits`` decimals, vectorised."""
    scaled = (expr * 10**digits).round(0).cast(pl.Int64)
    whole = (scaled // 10**digits).cast(pl.String)
    return pl.format("{}.{}", whole, (scaled % 10**digits).cast(pl.String).str.zfill(digits))


def _as_pct(columns: list[str], digits: int = 2) -> list[pl.Expr]:
    """Percent values (already ×100) as text with ``digits`` decimals; null as ``–``."""
    return [pl.format("{} %", _fixed(pl.col(c), digits)).fill_null("–").alias(c)
            for c in columns]


def collections_report(history: pl.DataFrame, *, promises: pl.DataFrame | None = None,
                       title: str = "Collections report", max_cohorts: int = 12,
                       progress: Progress | None = None) -> str:
    """The collections report as one HTML document.

    Parameters
    ----------
    history
        Monthly snapshots (the book's ``history``).
    promises
        Promise outcomes from :func:`~fengkong.lifecycle.evaluate_promises` (optional:
        adds the kept-rate section).
    """
    steps = 5

    def tick(stage: str, i: int) -> None:
        if progress is not None:
            progress(stage, i, steps)

    tick("roll rates", 0)
    by_count = roll_rate_matrix(history, weight="count")
    by_balance = roll_rate_matrix(history, weight="balance")
    tick("flow rates", 1)
    flows = flow_rates(history, weight="balance")
    pooled = flows.filter(pl.col("month").is_null())
    tick("vintages", 2)
    v30 = vintage_curves(history, dpd_over=30)
    v90 = vintage_curves(history, dpd_over=90)
    months = history["month"].n_unique()
    last = history["month"].max()
    latest = history.filter(pl.col("month") == last)
    dq = latest.filter(pl.col("dpd").fill_null(0) > 0)
    if "written_off" in latest.columns:
        dq = dq.filter(~pl.col("written_off").fill_null(value=False))
    ftl = pooled["flow_to_loss"][0] if len(pooled) else None

    page = Page(title, f"{history['account_id'].n_unique():,} accounts · {months} months "
                f"to {last!s}", figure_prefix="col")
    headline = [("accounts", f"{history['account_id'].n_unique():,}"),
                ("delinquent at the last month", f"{len(dq):,}"),
                ("delinquent balance", f"{dq['balance'].sum():,.0f}"),
                ("flow to loss (pooled, balance)",
                 "–" if ftl is None else f"{100 * ftl:.3f} %")]
    kr = None
    if promises is not None:
        kr = kept_rate(promises)
        overall = kept_rate(promises, by=()).to_dicts()[0]
        rate = overall["kept_rate"]
        headline.append(("promises kept", "–" if rate is None else f"{rate:.1f} %"))
    page.add("overview", "Overview", cards(headline),
             "<p class=\"note\">Buckets by days past due: current (0), 1-30, 31-60, 61-90, "
             "90+ (91 or more), write-off. Roll rates pair each account's month with its "
             "next month in the history; accounts that left the book have no next month.</p>")
    tick("charts", 3)
    buckets = list(BUCKETS)
    page.add("roll", "Roll rates",
             "<p>Share of each bucket this month by its bucket next month, all months pooled; "
             "each row sums to 100 %.</p>",
             "<div class=\"pair\">",
             page.figure(_heatmap(by_count, "By count (%)"), "roll-rate matrix by count"),
             page.figure(_heatmap(by_balance, "By balance (%)"), "roll-rate matrix by balance"),
             "</div><h3>By count</h3>",
             frame_table(by_count.with_columns(pl.col("from_bucket").cast(pl.String),
                                               pl.col("base").cast(pl.Int64),
                                               *_as_pct(buckets)),
                         labels={"from_bucket": "bucket this month", "base": "accounts"}),
             "<h3>By balance</h3>",
             frame_table(by_balance.with_columns(pl.col("from_bucket").cast(pl.String),
                                                 pl.col("base").round(0),
                                                 *_as_pct(buckets)),
                         labels={"from_bucket": "bucket this month", "base": "balance"}))
    flow_cols = [c for c in flows.columns if "→" in c] + ["flow_to_loss"]
    flow_view = flows.with_columns(
        pl.col("month").cast(pl.String).fill_null("pooled"),
        *_as_pct([c for c in flow_cols if c != "flow_to_loss"]),
        pl.format("{} %", _fixed(pl.col("flow_to_loss") * 100, 4)).fill_null("–")
        .alias("flow_to_loss"))
    page.add("flow", "Flow rates and flow to loss",
             page.figure(_flow_figure(flows), "monthly flow rates"),
             "<p>Percent of the balance in a bucket that is in the next bucket a month later; "
             "flow to loss is their product (the share of a current balance that reaches "
             "write-off at these rates).</p>",
             "<div class=\"scroll\">", frame_table(flow_view), "</div>")
    page.add("vintage", "Vintage curves",
             page.figure(_vintage_figure(v30, "30+", max_cohorts), "vintage 30+"),
             page.figure(_vintage_figure(v90, "90+", max_cohorts), "vintage 90+"),
             "<h3>Ever 30+ DPD, % of accounts, by months on book</h3><div class=\"scroll\">",
             frame_table(_vintage_table(v30, max_cohorts)), "</div>",
             "<h3>Ever 90+ DPD</h3><div class=\"scroll\">",
             frame_table(_vintage_table(v90, max_cohorts)), "</div>")
    if kr is not None:
        view = kr.with_columns(pl.col("due_month").cast(pl.String).str.slice(0, 7),
                               *_as_pct(["kept_rate", "amount_kept_rate"]),
                               pl.col("promised", "paid").round(0))
        page.add("ptp", "Promises to pay",
                 page.figure(_kept_figure(kr), "kept rate by month"),
                 "<p>Kept rate = kept / (kept + broken); open promises are not decided yet. "
                 "A promise is kept when payments from the promise day to the due date plus "
                 "grace reach the promised amount.</p>", frame_table(view))
    tick("done", steps)
    return page.to_html()
