"""The lifecycle report of ``fengkong demo``: one self-contained HTML page for a risk manager."""

from __future__ import annotations

import os
import re
from collections.abc import Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np
import polars as pl

from fengkong.lifecycle import BUCKETS
from fengkong.reports import Page, Raw, cards, frame_table, new_figure, rows_table

if TYPE_CHECKING:
    from fengkong.cli._demo_lifecycle import Lifecycle

_BLUE, _ORANGE, _GREEN, _RED, _GREY = "#1f6fb2", "#e07b22", "#3a9a5b", "#c0392b", "#8a8f98"
_BUCKET_COLOURS = {
    "1-30": "#f4d03f",
    "31-60": "#f39c12",
    "61-90": "#e67e22",
    "90+": "#c0392b",
    "write-off": "#6c3483",
}
_SEGMENTS = ("app", "partner", "branch")


def write_report(run: Lifecycle, path: Path) -> Path:
    """Render the report of ``run`` to ``path`` (atomically) and return the path."""
    page = Page(
        "Credit lifecycle — portfolio report",
        f"fengkong demo · synthetic data (seed {run.seed}) · "
        f"{run.first_simulated:%Y-%m} onwards simulated",
        figure_prefix="lc",
    )
    _overview(page, run)
    _origination(page, run)
    _book(page, run)
    _delinquency(page, run)
    _account_management(page, run)
    _collections(page, run)
    _challenger(page, run)
    _about(page, run)
    tmp = path.with_name(f".{path.name}.tmp")
    tmp.write_text(page.to_html(), encoding="utf-8")
    os.replace(tmp, path)
    return path


# --------------------------------------------------------------------------- helpers


def _p(text: str) -> str:
    from fengkong.reports import escape

    return f"<p>{escape(text)}</p>"


def _skipped(run: Lifecycle, stage: str) -> str:
    for title, why in run.skipped.items():
        if title.startswith(stage):
            return f'<p class="flag">Skipped: {_esc(why)}</p>'
    return ""


def _esc(text: str) -> str:
    from fengkong.reports import escape

    return escape(text)


def _pct(v: float | None, digits: int = 1) -> str:
    return "–" if v is None or v != v else f"{v * 100:.{digits}f} %"


def _money(v: float | None) -> str:
    if v is None or v != v:
        return "–"
    for unit, div in (("bn", 1e9), ("m", 1e6), ("k", 1e3)):
        if abs(v) >= div:
            return f"{v / div:,.1f} {unit}"
    return f"{v:,.0f}"


def _month_labels(months: Sequence[Any]) -> list[str]:
    return [f"{m:%Y-%m}" for m in months]


def _mark_simulated(ax: Any, months: Sequence[Any], first: Any) -> None:
    labels = list(months)
    if first in labels:
        i = labels.index(first)
        ax.axvline(i - 0.5, color=_GREY, linestyle="--", linewidth=1)
        ax.text(
            i - 0.4,
            0.98,
            "simulated →",
            color=_GREY,
            fontsize=8,
            va="top",
            bbox={"facecolor": "white", "edgecolor": "none", "alpha": 0.8, "pad": 1},
            transform=ax.get_xaxis_transform(),
        )


def _thin_ticks(ax: Any, labels: list[str], every: int = 2) -> None:
    ax.set_xticks(range(len(labels)))
    ax.set_xticklabels(
        [t if i % every == 0 else "" for i, t in enumerate(labels)], rotation=45, ha="right"
    )


# --------------------------------------------------------------------------- sections


def _overview(page: Page, run: Lifecycle) -> None:
    items: list[tuple[str, str]] = []
    dec = run.decisions
    if dec is not None and dec.height:
        items.append(("applications decided via the API", f"{dec.height:,}"))
        items.append(("approval rate", _pct(_mean(dec["decision"] == "approve"))))
    hist = run.history
    if hist is not None:
        last = hist["month"].max()
        first = run.first_simulated
        start = hist.filter(pl.col("month") == _prev_month(hist, first))
        end = hist.filter(pl.col("month") == last)
        open_start = start.filter(~pl.col("written_off")).height
        open_end = end.filter(~pl.col("written_off")).height
        items.append(("open accounts", f"{open_start:,} → {open_end:,}"))
        items.append(("balance outstanding", f"{_money(_bal(start))} → {_money(_bal(end))}"))
        items.append(("30+ DPD (share of open accounts)", _pct(_share30(end))))
        wo = hist.filter(
            (pl.col("month") >= first)
            & pl.col("written_off")
            & ~pl.col("written_off").shift(1).over("account_id").fill_null(value=False)
        )
        items.append(
            ("written off while simulated", f"{wo.height:,} ({_money(float(wo['balance'].sum()))})")
        )
    if run.worklist is not None:
        items.append(("collections work list", f"{run.worklist.height:,} accounts"))
    stages = [
        (_ascii(title), f"{sec:.1f} s", "ran")
        for title, sec in run.timings.items()
        if title != "total" and title not in run.skipped
    ] + [(_ascii(title), "–", f"skipped: {why}") for title, why in run.skipped.items()]
    page.add(
        "overview",
        "Overview",
        cards(items),
        _p(
            "One run of the whole credit lifecycle on the embedded default strategy "
            f"({run.strategy.get('id', 'consumer_loan')} v{run.strategy.get('version', '?')}) "
            "with generated data: scorecards trained on past applications, the origination "
            "strategy released through the decision service (upload and four-eyes approval), "
            "new applications decided through its HTTP API, the approved ones booked and the "
            "book aged month by month with simulated repayments, an account-management review, "
            "the collections work list and a challenger back-test. All data are synthetic."
        ),
        rows_table(["stage", "time", "status"], stages, text_columns=[0, 2]),
        "".join(f'<p class="flag">{_esc(n)}</p>' for n in run.notes),
    )


def _ascii(title: str) -> str:
    """A stage title without its Chinese gloss (fonts for it may be missing)."""
    return re.sub(r"\s*\([^)]*[^\x00-\x7f][^)]*\)", "", title)


def _prev_month(hist: pl.DataFrame, first: Any) -> Any:
    before = hist.filter(pl.col("month") < first)["month"]
    return before.max() if before.len() else hist["month"].min()


def _bal(frame: pl.DataFrame) -> float:
    return float(frame.filter(~pl.col("written_off"))["balance"].sum())


def _share30(frame: pl.DataFrame) -> float:
    live = frame.filter(~pl.col("written_off"))
    return _mean(live["dpd"] > 30) if live.height else float("nan")


def _mean(flags: pl.Series) -> float:
    value = flags.cast(pl.Float64).mean()
    return float(value) if isinstance(value, (int, float)) else float("nan")


def _origination(page: Page, run: Lifecycle) -> None:
    parts: list[str] = []
    dec = run.decisions
    if dec is None or not dec.height:
        page.add("origination", "Origination", _skipped(run, "Decide") or _p("No decisions."))
        return
    by = (
        dec.group_by("channel")
        .agg(
            decided=pl.len(),
            approved=(pl.col("decision") == "approve").sum(),
            referred=(pl.col("decision") == "refer").sum(),
            declined=(pl.col("decision") == "decline").sum(),
            approval_rate=(pl.col("decision") == "approve").mean(),
            avg_limit=pl.col("limit").filter(pl.col("decision") == "approve").mean(),
            avg_apr=pl.col("apr").filter(pl.col("decision") == "approve").mean(),
            bad_rate_approved=pl.col("bad").filter(pl.col("decision") == "approve").mean(),
        )
        .rename({"channel": "segment"})
        .sort("segment")
    )
    fig = new_figure(10, 3.4)
    ax1, ax2 = fig.subplots(1, 2)
    segs = by["segment"].to_list()
    x = np.arange(len(segs))
    bottom = np.zeros(len(segs))
    for col, colour in (("approved", _GREEN), ("referred", _ORANGE), ("declined", _RED)):
        vals = by[col].to_numpy().astype(float)
        ax1.bar(x, vals, bottom=bottom, color=colour, label=col)
        bottom += vals
    ax1.set_xticks(x, segs)
    ax1.set_title("Decisions by segment")
    ax1.legend(frameon=False, fontsize=8)
    months = (
        dec.group_by("month", "channel")
        .agg(rate=(pl.col("decision") == "approve").mean())
        .sort("month")
    )
    labels = sorted(set(months["month"].to_list()))
    for seg, colour in zip(_SEGMENTS, (_BLUE, _ORANGE, _GREEN), strict=True):
        s = months.filter(pl.col("channel") == seg)
        if s.height:
            idx = [labels.index(m) for m in s["month"].to_list()]
            ax2.plot(idx, s["rate"].to_numpy() * 100, marker="o", color=colour, label=seg)
    ax2.set_xticks(range(len(labels)), _month_labels(labels))
    ax2.set_ylabel("approval rate, %")
    ax2.set_ylim(0, 100)
    ax2.set_title("Approval rate by month")
    ax2.legend(frameon=False, fontsize=8)
    parts.append(page.figure(fig, "Decisions and approval rate by segment"))
    parts.append(
        rows_table(
            [
                "segment",
                "decided",
                "approved",
                "referred",
                "declined",
                "approval rate",
                "avg limit",
                "avg APR",
                "bad rate of approved (synthetic outcome)",
            ],
            [
                (
                    r["segment"],
                    r["decided"],
                    r["approved"],
                    r["referred"],
                    r["declined"],
                    _pct(r["approval_rate"]),
                    _money(r["avg_limit"]),
                    _pct(r["avg_apr"], 2),
                    _pct(r["bad_rate_approved"], 2),
                )
                for r in by.iter_rows(named=True)
            ],
        )
    )
    if run.model is not None:
        rows = []
        for seg in run.model["segments"]:
            rows.append(
                (
                    seg["segment"],
                    *(
                        f"{seg.get(f'{k}_{s}', float('nan')):.3f}"
                        for s in ("test", "oot")
                        for k in ("auc", "gini", "ks")
                    ),
                )
            )
        overall = run.model["overall"]
        rows.append(
            (
                "all segments",
                *(
                    f"{overall.get(s, {}).get(k, float('nan')):.3f}"
                    for s in ("test", "oot")
                    for k in ("auc", "gini", "ks")
                ),
            )
        )
        parts.append("<h3>Segment scorecards (workbench)</h3>")
        parts.append(
            _p(
                "Trained on past applications with known outcomes, one card per channel; the "
                "model report with bins, stability and fairness is "
                f"{Path(run.model['report']).relative_to(run.directory)} next to this file."
            )
        )
        parts.append(
            rows_table(
                ["scorecard", "AUC test", "Gini test", "KS test", "AUC OOT", "Gini OOT", "KS OOT"],
                rows,
            )
        )
    else:
        parts.append(_skipped(run, "Train"))
    page.add("origination", "Origination", *parts)


def _monthly_book(hist: pl.DataFrame) -> pl.DataFrame:
    return (
        hist.group_by("month")
        .agg(
            open=(~pl.col("written_off")).sum(),
            balance=pl.col("balance").filter(~pl.col("written_off")).sum(),
            new=(pl.col("months_on_book") == 0).sum(),
            limit=pl.col("credit_limit").filter(~pl.col("written_off")).sum(),
            **{b: (pl.col("bucket") == b).sum() for b in BUCKETS},
        )
        .sort("month")
    )


def _book(page: Page, run: Lifecycle) -> None:
    hist = run.history
    if hist is None:
        page.add("book", "Book growth", _skipped(run, "Decide"))
        return
    m = _monthly_book(hist)
    labels = _month_labels(m["month"].to_list())
    fig = new_figure(10, 3.4)
    ax1, ax2 = fig.subplots(1, 2)
    ax1.bar(range(len(labels)), m["open"].to_numpy(), color=_BLUE)
    ax1.set_title("Open accounts")
    _thin_ticks(ax1, labels)
    _mark_simulated(ax1, m["month"].to_list(), run.first_simulated)
    ax2.plot(
        range(len(labels)), m["balance"].to_numpy() / 1e6, color=_BLUE, marker=".", label="balance"
    )
    ax2.plot(
        range(len(labels)), m["limit"].to_numpy() / 1e6, color=_GREY, marker=".", label="limits"
    )
    ax2.set_title("Balance and limits (millions)")
    ax2.legend(frameon=False, fontsize=8, loc="upper left")
    _thin_ticks(ax2, labels)
    _mark_simulated(ax2, m["month"].to_list(), run.first_simulated)
    tail = m.tail(run.sizes.months + 1)
    page.add(
        "book",
        "Book growth",
        page.figure(fig, "Open accounts, balance and limits by month"),
        _p(
            "Each month's snapshot at month end. The months before the dashed line are the "
            "generated history the book starts with; after it, the approved applications are "
            "booked and every account pays, misses, cures or rolls as simulated."
        ),
        frame_table(
            tail.select(
                pl.col("month").dt.strftime("%Y-%m"),
                "open",
                "new",
                pl.col("balance").round(0),
                pl.col("limit").round(0),
            ),
            labels={"new": "opened", "balance": "balance", "limit": "total limits"},
        ),
    )


def _roll_series(hist: pl.DataFrame) -> pl.DataFrame:
    order = {b: i for i, b in enumerate(BUCKETS)}
    h = hist.select("account_id", "month", pl.col("bucket").cast(pl.String)).sort(
        "account_id", "month"
    )
    pairs = h.with_columns(
        nxt=pl.col("bucket").shift(-1).over("account_id"),
        nxt_month=pl.col("month").shift(-1).over("account_id"),
    ).drop_nulls("nxt")
    pairs = pairs.with_columns(
        i=pl.col("bucket").replace_strict(order, return_dtype=pl.Int8),
        j=pl.col("nxt").replace_strict(order, return_dtype=pl.Int8),
    )
    return (
        pairs.filter(pl.col("i") < len(BUCKETS) - 1)
        .group_by("nxt_month", "bucket")
        .agg(rate=(pl.col("j") > pl.col("i")).mean(), n=pl.len())
        .rename({"nxt_month": "month"})
        .sort("month")
    )


def _delinquency(page: Page, run: Lifecycle) -> None:
    hist = run.history
    if hist is None:
        page.add("delinquency", "Delinquency", _skipped(run, "Decide"))
        return
    m = _monthly_book(hist)
    labels = _month_labels(m["month"].to_list())
    total = m.select(pl.sum_horizontal(*BUCKETS[:-1])).to_series().to_numpy().astype(float)
    fig = new_figure(10, 3.6)
    ax1, ax2 = fig.subplots(1, 2)
    bottom = np.zeros(len(labels))
    for b in BUCKETS[1:-1]:
        share = m[b].to_numpy() / np.maximum(total, 1) * 100
        ax1.bar(range(len(labels)), share, bottom=bottom, color=_BUCKET_COLOURS[b], label=b)
        bottom += share
    ax1.set_title("Delinquent share of open accounts, %")
    ax1.legend(frameon=False, fontsize=8, ncol=4, loc="upper left")
    _thin_ticks(ax1, labels)
    _mark_simulated(ax1, m["month"].to_list(), run.first_simulated)
    rolls = _roll_series(hist)
    for b, colour in zip(
        BUCKETS[:-1], ("#3a9a5b", "#f4d03f", "#f39c12", "#e67e22", "#c0392b"), strict=True
    ):
        s = rolls.filter(pl.col("bucket") == b)
        idx = [labels.index(f"{d:%Y-%m}") for d in s["month"].to_list()]
        nxt = BUCKETS[BUCKETS.index(b) + 1]
        rate = s["rate"].to_numpy() * 100
        ax2.plot(
            idx, np.where(rate > 0, rate, np.nan), marker=".", color=colour, label=f"{b} → {nxt}"
        )
    ax2.set_yscale("log")
    ticks = [1, 2, 5, 10, 20, 50, 100]
    ax2.set_yticks(ticks, [str(t) for t in ticks])
    ax2.set_ylim(0.8, 100)
    ax2.set_title("Roll rates by month (accounts rolling forward, %)")
    ax2.legend(frameon=False, fontsize=7)
    _thin_ticks(ax2, labels)
    _mark_simulated(ax2, m["month"].to_list(), run.first_simulated)
    parts = [
        page.figure(fig, "Delinquency buckets and roll rates by month"),
        _p(
            "Roll rate: the share of accounts in a bucket at one month end that are one bucket "
            "further the next month end (current → 1-30 is the monthly entry rate)."
        ),
    ]
    tail = m.tail(6).select(
        pl.col("month").dt.strftime("%Y-%m"),
        *[(pl.col(b) / pl.sum_horizontal(*BUCKETS[:-1])).alias(f"{b}_share") for b in BUCKETS[:-1]],
        pl.col("write-off").alias("written_off"),
    )
    heads = {f"{b}_share": f"{b} (of open)" for b in BUCKETS[:-1]}
    heads["written_off"] = "written off (cumulative)"
    parts.append(frame_table(tail, labels=heads))
    if run.roll_matrix is not None:
        parts.append("<h3>Roll-rate matrix (by count, all months)</h3>")
        parts.append(
            _p("Rows: bucket at a month end; columns: bucket one month later (% of the row).")
        )
        rm = run.roll_matrix.with_columns(pl.col("from_bucket").cast(pl.String))
        shares = [c for c in rm.columns if c not in ("from_bucket", "base")]
        rm = rm.select(
            "from_bucket",
            pl.col("base").cast(pl.Int64),
            *((pl.col(c) / 100.0).alias(f"{c}_share") for c in shares),
        )
        names = {f"{c}_share": c for c in shares}
        parts.append(
            frame_table(rm, labels={"from_bucket": "from \\ to", "base": "accounts", **names})
        )
    page.add("delinquency", "Delinquency and roll rates", *parts)


def _account_management(page: Page, run: Lifecycle) -> None:
    s = run.review_summary
    if s is None:
        page.add("account-management", "Account management", _skipped(run, "Account"))
        return
    treated = s.filter(~pl.col("control"))
    by = treated.group_by("segment", "action").agg(pl.col("accounts").sum())
    actions = [
        a
        for a in ("increase", "price_discount", "watch", "decrease", "freeze")
        if a in by["action"].to_list()
    ]
    fig = new_figure(10, 3.2)
    ax1, ax2 = fig.subplots(1, 2)
    segs = sorted(by["segment"].unique().to_list())
    width = 0.8 / max(len(actions), 1)
    colours = {
        "increase": _GREEN,
        "price_discount": _BLUE,
        "watch": _ORANGE,
        "decrease": _RED,
        "freeze": "#6c3483",
    }
    for k, a in enumerate(actions):
        vals = [
            int(by.filter((pl.col("segment") == sg) & (pl.col("action") == a))["accounts"].sum())
            for sg in segs
        ]
        ax1.bar(
            np.arange(len(segs)) + k * width - 0.4 + width / 2,
            vals,
            width,
            label=a,
            color=colours[a],
        )
    ax1.set_xticks(range(len(segs)), segs)
    ax1.set_title("Actions by segment (accounts)")
    ax1.legend(frameon=False, fontsize=8)
    exp = (
        treated.group_by("segment")
        .agg(pl.col("exposure_added", "exposure_removed", "el_change").sum())
        .sort("segment")
    )
    x = np.arange(exp.height)
    ax2.bar(x - 0.2, exp["exposure_added"].to_numpy() / 1e6, 0.4, color=_GREEN, label="added")
    ax2.bar(x + 0.2, -exp["exposure_removed"].to_numpy() / 1e6, 0.4, color=_RED, label="removed")
    ax2.axhline(0, color=_GREY, linewidth=0.8)
    ax2.set_xticks(x, exp["segment"].to_list())
    ax2.set_title("Credit limit exposure (millions)")
    ax2.legend(frameon=False, fontsize=8)
    control = int(s.filter(pl.col("control"))["accounts"].sum())
    page.add(
        "account-management",
        "Account management",
        page.figure(fig, "Account-management actions by segment"),
        _p(
            f"Review of the whole book at {run.first_simulated} with {run.review_strategy}: "
            f"{control:,} accounts held out as the control group, "
            f"{run.review_notices:,} adverse-action notices. Guards (DPD, persistent debt, "
            "early warning, opt-out/opt-in, affordability, floor at the balance) are applied by "
            "the job after the strategy; the new limits and APRs take effect in the first "
            "simulated month."
        ),
        frame_table(
            s.with_columns(pl.col("exposure_added", "exposure_removed", "el_change").round(0)),
            labels={"el_change": "expected loss change", "guarded": "changed by a guard"},
        ),
    )


def _collections(page: Page, run: Lifecycle) -> None:
    w = run.worklist
    if w is None:
        page.add("collections", "Collections", _skipped(run, "Collections"))
        return
    by = w.group_by("bucket", "treatment").agg(
        accounts=pl.len(),
        balance=pl.col("balance").sum(),
        expected_recovery=pl.col("expected_recovery").sum(),
        cost=pl.col("cost").sum(),
    )
    order = {b: i for i, b in enumerate(BUCKETS)}
    by = (
        by.with_columns(
            _o=pl.col("bucket").replace_strict(order, default=99, return_dtype=pl.Int32)
        )
        .sort("_o", "treatment")
        .drop("_o")
    )
    buckets = [b for b in BUCKETS if b in by["bucket"].to_list()]
    treatments = ["sms", "robocall", "agent_call", "field_visit", "legal"]
    treatments = [t for t in treatments if t in by["treatment"].to_list()] + sorted(
        t for t in by["treatment"].unique().to_list() if t not in treatments
    )
    fig = new_figure(10, 3.2)
    ax1, ax2 = fig.subplots(1, 2)
    bottom = np.zeros(len(buckets))
    palette = [_GREEN, _BLUE, _ORANGE, _RED, "#6c3483", _GREY]
    for k, t in enumerate(treatments):
        vals = np.array(
            [
                int(
                    by.filter((pl.col("bucket") == b) & (pl.col("treatment") == t))[
                        "accounts"
                    ].sum()
                )
                for b in buckets
            ],
            dtype=float,
        )
        ax1.bar(range(len(buckets)), vals, bottom=bottom, label=t, color=palette[k % len(palette)])
        bottom += vals
    ax1.set_xticks(range(len(buckets)), buckets)
    ax1.set_title("Work list: accounts by bucket and treatment")
    ax1.legend(frameon=False, fontsize=8)
    blocked = run.blocked if run.blocked is not None else pl.DataFrame()
    if blocked.height:
        br = blocked.group_by("blocked_rule").len().sort("len")
        ax2.barh(br["blocked_rule"].to_list(), br["len"].to_numpy(), color=_RED)
        ax2.set_title("Contacts blocked by the contact-policy guard")
    else:
        ax2.text(0.5, 0.5, "no contact blocked", ha="center", va="center")
        ax2.set_axis_off()
    status = dict(w.group_by("contact_status").len().iter_rows())
    page.add(
        "collections",
        "Collections",
        page.figure(fig, "Collections work list by bucket and treatment; blocked contacts"),
        cards(
            [
                ("delinquent accounts planned", f"{w.height:,}"),
                ("balance in collections", _money(float(w["balance"].sum()))),
                ("expected incremental recovery", _money(float(w["expected_recovery"].sum()))),
                ("contact cost", _money(float(w["cost"].sum()))),
                (
                    "contacts scheduled / blocked",
                    f"{status.get('scheduled', 0):,} / {status.get('blocked', 0):,}",
                ),
            ]
        ),
        _p(
            f"The work list for {run.collections_date}, planned with "
            f"{run.collections_strategy}: ranked by expected incremental "
            "recovery per unit of cost; likely self-curers get digital reminders only."
        ),
        frame_table(by.with_columns(pl.col("balance", "expected_recovery", "cost").round(0))),
        "<h3>Top of the work list</h3>",
        frame_table(
            w.head(10).select(
                "rank",
                "account_id",
                "bucket",
                "dpd",
                pl.col("balance").round(0),
                pl.col("p_cure").round(3),
                "treatment",
                pl.col("expected_recovery").round(0),
                "contact_status",
            )
        ),
    )


def _challenger(page: Page, run: Lifecycle) -> None:
    sim = run.simulation
    if sim is None:
        page.add("challenger", "Champion vs challenger", _skipped(run, "Back-test"))
        return
    seg = sim.by_segment.sort("segment")
    segs = seg["segment"].to_list()
    x = np.arange(len(segs))
    fig = new_figure(10, 3.2)
    ax1, ax2 = fig.subplots(1, 2)
    for ax, metric, title in (
        (ax1, "approval_rate", "Approval rate, %"),
        (ax2, "bad_rate", "Bad rate of approved, %"),
    ):
        ax.bar(
            x - 0.2,
            seg[f"champion_{metric}"].fill_null(0).to_numpy() * 100,
            0.4,
            color=_BLUE,
            label="champion",
        )
        ax.bar(
            x + 0.2,
            seg[f"challenger_{metric}"].fill_null(0).to_numpy() * 100,
            0.4,
            color=_ORANGE,
            label="challenger",
        )
        ax.set_xticks(x, segs)
        ax.set_title(title)
        ax.legend(frameon=False, fontsize=8)
    o: dict[str, Any] = sim.overall
    rows = [
        (
            "approval rate",
            _pct(o.get("champion_approval_rate")),
            _pct(o.get("challenger_approval_rate")),
        ),
        ("approved", f"{o.get('champion_approved', 0):,}", f"{o.get('challenger_approved', 0):,}"),
        (
            "bad rate of approved (observed)",
            _pct(o.get("champion_bad_rate"), 2),
            _pct(o.get("challenger_bad_rate"), 2),
        ),
        ("exposure", _money(o.get("champion_exposure")), _money(o.get("challenger_exposure"))),
        (
            "expected profit",
            _money(o.get("champion_expected_profit")),
            _money(o.get("challenger_expected_profit")),
        ),
    ]
    swaps = (
        f"Swap-in (challenger approves, champion does not): {o.get('swap_in', 0):,} records, "
        f"observed bad rate {_pct(o.get('swap_in_bad_rate'), 2)}; swap-out: "
        f"{o.get('swap_out', 0):,}, bad rate {_pct(o.get('swap_out_bad_rate'), 2)}."
    )
    names = sim.strategies
    page.add(
        "challenger",
        "Champion vs challenger",
        page.figure(fig, "Champion and challenger approval and bad rates by segment"),
        _p(
            f"Back-test on {sim.decisions.height:,} past applications with known outcomes, both "
            f"strategies through the production engine: champion "
            f"{names.get('champion', {}).get('id', '')}, challenger "
            f"{names.get('challenger', {}).get('id', '')}. {swaps}"
        ),
        rows_table(["", "champion", "challenger"], rows),
        Raw(
            _p(
                "The full back-test report (swap matrix, limits and prices, calibration) is "
                "simulation/report.html next to this file."
            )
        ),
    )


def _about(page: Page, run: Lifecycle) -> None:
    s = run.sizes
    files = [
        ("model/report.html", "scorecard model report (workbench)"),
        ("model/strategy.yaml", "the exported scorecard strategy"),
        ("simulation/", "back-test report and Parquet"),
        ("service/", "the decision service's SQLite database and decision log"),
    ]
    page.add(
        "about",
        "About this run",
        rows_table(
            ["setting", "value"],
            [
                ("past applications (training, back-test)", f"{s.history:,}"),
                ("accounts on the book at the start", f"{s.accounts:,}"),
                ("months of history at the start", s.book_months),
                ("months simulated", s.months),
                ("applications decided per month", s.per_month),
                ("seed", run.seed),
                ("total time", f"{run.timings.get('total', 0.0):.1f} s"),
            ],
        ),
        rows_table(["file (next to this report)", "what"], files),
        _p(
            "Synthetic data throughout: the book and its repayments come from "
            "fengkong.lifecycle.synthetic_book / age_book, the applications from "
            "fengkong.demo; an approved application's simulated repayment behaviour follows "
            "its known (synthetic) outcome."
        ),
    )
