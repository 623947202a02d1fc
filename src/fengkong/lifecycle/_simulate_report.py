"""The back-test's outputs: ``decisions.parquet``, ``summary.json`` and ``report.html``."""

from __future__ import annotations

import json
import math
import os
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np
import polars as pl
from matplotlib.axes import Axes
from matplotlib.figure import Figure

from fengkong.lifecycle._simulate import DECISIONS, Simulation
from fengkong.reports import Page, Raw, cards, escape, fmt, frame_table, new_figure, rows_table

__all__ = ["render_report", "write_simulation"]

CHAMPION_COLOUR = "#1f77b4"
CHALLENGER_COLOUR = "#ff7f0e"


def write_simulation(sim: Simulation, out: str | Path) -> dict[str, Path]:
    """Write ``decisions.parquet``, ``summary.json`` and ``report.html`` into ``out``.

    Each file is written to a temporary name and renamed, so a reader never sees half a file.

    Returns
    -------
    dict
        ``{"decisions": path, "summary": path, "report": path}``.
    """
    directory = Path(out)
    directory.mkdir(parents=True, exist_ok=True)
    paths = {"decisions": directory / "decisions.parquet",
             "summary": directory / "summary.json",
             "report": directory / "report.html"}
    _atomic(paths["decisions"], lambda p: sim.decisions.write_parquet(p))
    text = json.dumps(sim.summary(), indent=2, ensure_ascii=False, default=str) + "\n"
    _atomic(paths["summary"], lambda p: p.write_text(text, encoding="utf-8"))
    report = render_report(sim)
    _atomic(paths["report"], lambda p: p.write_text(report, encoding="utf-8"))
    return paths


def _atomic(path: Path, write: Any) -> None:
    tmp = path.with_name(f".{path.name}.tmp")
    try:
        write(tmp)
        os.replace(tmp, path)
    finally:
        tmp.unlink(missing_ok=True)


# --------------------------------------------------------------------------------------------
# Charts
# --------------------------------------------------------------------------------------------


def _groups(sim: Simulation) -> tuple[list[str], list[dict[str, Any]]]:
    rows = sim.by_segment.to_dicts()
    return [*(str(r["segment"]) for r in rows), "all"], [*rows, sim.overall]


def _val(row: dict[str, Any], key: str) -> float:
    v = row.get(key)
    return float(v) if isinstance(v, int | float) and math.isfinite(v) else math.nan


def _paired_bars(ax: Axes, labels: Sequence[str], series: Sequence[tuple[str, str, list[float]]],
                 *, percent: bool) -> None:
    n = len(series)
    height = 0.8 / n
    y = np.arange(len(labels))
    for i, (name, colour, values) in enumerate(series):
        pos = y + (i - (n - 1) / 2) * height
        vals = np.array(values, dtype=float)
        ax.barh(pos, np.nan_to_num(vals), height=height, color=colour, label=name)
        for p, v in zip(pos, vals, strict=True):
            if math.isfinite(v):
                text = f"{100 * v:.1f} %" if percent else f"{v:,.1f}"
                ax.text(v, p, f" {text}", va="center", fontsize=7)
    ax.set_yticks(y, labels)
    ax.invert_yaxis()
    ax.grid(axis="y", visible=False)
    ax.legend(loc="upper left", bbox_to_anchor=(1.01, 1.0))


def approval_figure(sim: Simulation) -> Figure:
    """Approval rate by segment (and overall), champion beside challenger."""
    labels, rows = _groups(sim)
    fig = new_figure(7.0, 0.55 * len(labels) + 1.0)
    ax = fig.add_subplot()
    _paired_bars(ax, labels, [
        ("champion", CHAMPION_COLOUR, [_val(r, "champion_approval_rate") for r in rows]),
        ("challenger", CHALLENGER_COLOUR, [_val(r, "challenger_approval_rate") for r in rows]),
    ], percent=True)
    ax.set_xlabel("approval rate")
    ax.xaxis.set_major_formatter(lambda v, _p: f"{100 * v:.3g} %")
    ax.set_xlim(0, max(1e-9, *(np.nan_to_num([_val(r, k) for r in rows for k in (
        "champion_approval_rate", "challenger_approval_rate")]))) * 1.18)
    ax.set_title("Approval rate by segment")
    return fig


def swap_figure(sim: Simulation) -> Figure:
    """The swap matrix: champion decision (rows) x challenger decision (columns)."""
    present = set(sim.swap["champion_decision"].to_list()) | set(
        sim.swap["challenger_decision"].to_list())
    names = [d for d in DECISIONS if d in present]
    counts = np.zeros((len(names), len(names)))
    notes: dict[tuple[int, int], str] = {}
    for r in sim.swap.iter_rows(named=True):
        i, j = names.index(r["champion_decision"]), names.index(r["challenger_decision"])
        counts[i, j] = r["records"]
        rate = r["bad_rate"]
        notes[i, j] = f"{int(r['records']):,}" + (
            f"\nbad {100 * rate:.1f} %" if rate is not None and math.isfinite(rate) else "")
    fig = new_figure(5.2, 4.2)
    ax = fig.add_subplot()
    ax.imshow(np.log1p(counts), cmap="Blues", aspect="auto")
    top = float(np.log1p(counts).max()) or 1.0
    for (i, j), text in notes.items():
        dark = np.log1p(counts[i, j]) > 0.6 * top
        off = i != j and ((names[i] == "approve") != (names[j] == "approve"))
        ax.text(j, i, text, ha="center", va="center", fontsize=8,
                color="white" if dark else "#222", fontweight="bold" if off else "normal")
    ax.set_xticks(range(len(names)), names)
    ax.set_yticks(range(len(names)), names)
    ax.set_xlabel("challenger decision")
    ax.set_ylabel("champion decision")
    ax.grid(visible=False)
    ax.set_title("Swap matrix (records; observed bad rate)")
    return fig


def bad_rate_figure(sim: Simulation) -> Figure:
    """Bad rates by segment: each strategy's approved set, swap-ins and swap-outs."""
    labels, rows = _groups(sim)
    series = [
        ("champion approved (observed)", CHAMPION_COLOUR, "champion_bad_rate"),
        ("challenger approved (observed)", CHALLENGER_COLOUR, "challenger_bad_rate"),
        ("swap-in (observed)", "#2ca02c", "swap_in_bad_rate"),
        ("swap-in (expected from score)", "#98df8a", "swap_in_expected_bad_rate"),
        ("swap-out (observed)", "#d62728", "swap_out_bad_rate"),
    ]
    used = [s for s in series if any(math.isfinite(_val(r, s[2])) for r in rows)]
    fig = new_figure(9.0, 0.3 * len(labels) * max(len(used), 2) + 1.2)
    ax = fig.add_subplot()
    _paired_bars(ax, labels, [(n, c, [_val(r, k) for r in rows]) for n, c, k in used],
                 percent=True)
    vals = [v for n, c, k in used for v in (_val(r, k) for r in rows) if math.isfinite(v)]
    ax.set_xlim(0, (max(vals) if vals else 0.01) * 1.25)
    ax.xaxis.set_major_formatter(lambda v, _p: f"{100 * v:.3g} %")
    ax.set_xlabel("bad rate")
    ax.set_title("Bad rates by segment")
    return fig


def profit_figure(sim: Simulation) -> Figure:
    """Expected profit by segment (millions), champion beside challenger."""
    labels, rows = _groups(sim)
    fig = new_figure(7.0, 0.55 * len(labels) + 1.0)
    ax = fig.add_subplot()
    _paired_bars(ax, labels, [
        ("champion", CHAMPION_COLOUR, [_val(r, "champion_expected_profit") / 1e6 for r in rows]),
        ("challenger", CHALLENGER_COLOUR,
         [_val(r, "challenger_expected_profit") / 1e6 for r in rows]),
    ], percent=False)
    lo, hi = ax.get_xlim()
    ax.set_xlim(min(lo, 0), hi * 1.15 if hi > 0 else hi)
    ax.axvline(0, color="#444", linewidth=0.8)
    ax.set_xlabel("expected profit (millions)")
    ax.set_title("Expected profit by segment")
    return fig


# --------------------------------------------------------------------------------------------
# Page
# --------------------------------------------------------------------------------------------


def _pct(v: Any) -> str:
    return fmt(v, "rate") if isinstance(v, float) else fmt(v)


def _money(v: Any) -> str:
    return f"{v:,.0f}" if isinstance(v, int | float) and math.isfinite(v) else "–"


def _delta(a: Any, b: Any, kind: str) -> str:
    if not (isinstance(a, int | float) and isinstance(b, int | float)):
        return "–"
    d = float(b) - float(a)
    if kind == "pct":
        return f"{100 * d:+.2f} pt"
    if kind == "bp":
        return f"{10000 * d:+.0f} bp"
    return f"{d:+,.0f}"


def _comparison(o: dict[str, Any]) -> str:
    def row(label: str, a: str, b: str, kind: str) -> list[object]:
        show = _money if kind == "n" else _pct
        return [label, show(o.get(a)), show(o.get(b)), _delta(o.get(a), o.get(b), kind)]

    rows = [
        row("approval rate", "champion_approval_rate", "challenger_approval_rate", "pct"),
        row("refer rate", "champion_refer_rate", "challenger_refer_rate", "pct"),
        row("approved records", "champion_approved", "challenger_approved", "n"),
        row("observed bad rate of the approved", "champion_bad_rate", "challenger_bad_rate", "pct"),
        row("expected bad rate of the approved", "champion_expected_bad_rate",
            "challenger_expected_bad_rate", "pct"),
        row("exposure (sum of limits)", "champion_exposure", "challenger_exposure", "n"),
        row("mean limit, approved by both", "both_champion_mean_limit",
            "both_challenger_mean_limit", "n"),
        row("mean APR, approved by both", "both_champion_mean_apr", "both_challenger_mean_apr",
            "bp"),
        row("expected profit", "champion_expected_profit", "challenger_expected_profit", "n"),
        row("profit at observed outcomes", "champion_observed_profit",
            "challenger_observed_profit", "n"),
    ]
    return rows_table(["measure", "champion", "challenger", "change"], rows)


_SEGMENT_COLUMNS = {
    "segment": "segment", "records": "records",
    "champion_approval_rate": "approval: champion",
    "challenger_approval_rate": "approval: challenger",
    "champion_bad_rate": "bad rate: champion approved",
    "challenger_bad_rate": "bad rate: challenger approved",
    "swap_in": "swap-in", "swap_in_bad_rate": "swap-in bad rate",
    "swap_in_expected_bad_rate": "swap-in expected bad rate",
    "swap_out": "swap-out", "swap_out_bad_rate": "swap-out bad rate",
    "champion_expected_profit": "expected profit: champion",
    "challenger_expected_profit": "expected profit: challenger",
}

_LIMIT_COLUMNS = {
    "segment": "segment", "both_approve": "approved by both",
    "both_champion_mean_limit": "mean limit: champion",
    "both_challenger_mean_limit": "mean limit: challenger",
    "limit_increased": "limit up", "limit_decreased": "limit down",
    "both_champion_mean_apr": "mean APR: champion",
    "both_challenger_mean_apr": "mean APR: challenger",
    "apr_increased": "APR up", "apr_decreased": "APR down",
    "champion_exposure": "exposure: champion", "challenger_exposure": "exposure: challenger",
}


def _rounded(frame: pl.DataFrame, money: Sequence[str]) -> pl.DataFrame:
    return frame.with_columns(pl.col(c).round(0) for c in money if c in frame.columns)


def render_report(sim: Simulation) -> str:
    """The self-contained HTML report of a back-test."""
    o = sim.overall
    ch, cl = sim.strategies["champion"], sim.strategies["challenger"]
    page = Page("Back-test: champion vs challenger",
                f"{ch['id']} v{ch['version']} vs {cl['id']} v{cl['version']} · "
                f"{sim.decisions.height:,} historical applications", figure_prefix="sim")
    swap_in, swap_out = int(o["swap_in"]), int(o["swap_out"])
    page.add(
        "summary", "Summary",
        cards([
            ("approval: champion → challenger",
             f"{_pct(o['champion_approval_rate'])} → {_pct(o['challenger_approval_rate'])}"),
            ("bad rate of the approved", f"{_pct(o['champion_bad_rate'])} → "
             f"{_pct(o['challenger_bad_rate'])}"),
            ("swap-in (bad rate observed / expected)",
             f"{swap_in:,} ({_pct(o['swap_in_bad_rate'])} / "
             f"{_pct(o['swap_in_expected_bad_rate'])})"),
            ("swap-out (bad rate observed)", f"{swap_out:,} ({_pct(o['swap_out_bad_rate'])})"),
            ("expected profit change", _delta(o["champion_expected_profit"],
                                              o["challenger_expected_profit"], "n")),
        ]),
        f'<p class="note">{o["records"]:,} records, {o["known_outcomes"]:,} with a known '
        f"outcome (<code>{escape(sim.outcome)}</code>). Both strategies ran through "
        "<code>evaluate_batch</code>, the engine production uses. Segments: "
        f"{escape(sim.segment_by)}.</p>",
        _comparison(o),
    )
    page.add("approval", "Approval by segment", page.figure(approval_figure(sim),
                                                             "approval rate by segment"),
             frame_table(_rounded(sim.by_segment, ["champion_expected_profit",
                                                   "challenger_expected_profit"]),
                         columns=list(_SEGMENT_COLUMNS), labels=_SEGMENT_COLUMNS))
    swap = sim.swap.select("champion_decision", "challenger_decision", "records", "share",
                           "known_outcomes", "bad_rate", "expected_bad_rate")
    page.add("swap", "Swap matrix",
             '<p class="note">Swap-in: the challenger approves what the champion referred or '
             "declined. Swap-out: the champion approved what the challenger refers or declines. "
             "Observed bad rates count the records with a known outcome; expected bad rates "
             "are the mean probability of default from the calibrated score (see Method).</p>",
             '<div class="pair">', page.figure(swap_figure(sim), "swap matrix"),
             frame_table(swap, labels={"champion_decision": "champion",
                                       "challenger_decision": "challenger",
                                       "known_outcomes": "known outcomes",
                                       "bad_rate": "observed bad rate",
                                       "expected_bad_rate": "expected bad rate"}), "</div>")
    page.add("bad-rates", "Bad rates", page.figure(bad_rate_figure(sim), "bad rates by segment"))
    page.add("limits", "Limit and price changes",
             '<p class="note">On the records both strategies approve; exposure is the sum of '
             "the limits each strategy approves.</p>", _limits_table(sim))
    page.add("profit", "Expected profit", page.figure(profit_figure(sim),
                                                      "expected profit by segment"),
             _profit_note(sim))
    page.add("method", "Method", _method(sim))
    return page.to_html()


def _limits_table(sim: Simulation) -> str:
    rows: list[list[object]] = []
    for r in [*sim.by_segment.to_dicts(), {**sim.overall, "segment": "all"}]:
        rows.append([
            str(r["segment"]), r["both_approve"], _money(r["both_champion_mean_limit"]),
            _money(r["both_challenger_mean_limit"]), r["limit_increased"], r["limit_decreased"],
            _pct(r["both_champion_mean_apr"]), _pct(r["both_challenger_mean_apr"]),
            r["apr_increased"], r["apr_decreased"], _money(r["champion_exposure"]),
            _money(r["challenger_exposure"])])
    return rows_table(list(_LIMIT_COLUMNS.values()), rows)


def _profit_note(sim: Simulation) -> str:
    e = sim.economics
    return (
        '<p class="note">Per approved loan, with exposure <code>EAD</code> = min(limit, '
        "requested amount) (the limit × utilisation without a requested amount), APR, term "
        "<code>T</code> months and probability of default <code>PD</code>: "
        "<code>revenue = EAD × (APR − funding rate) × (T + 1) / 24</code>, "
        "<code>profit = (1 − PD) × revenue − PD × LGD × EAD − cost per loan</code>. "
        f"Funding rate {100 * e.funding_rate:.2f} %, LGD {100 * e.lgd:.0f} %, cost per loan "
        f"{e.cost_per_loan:,.0f}, utilisation {100 * e.utilisation:.0f} %, term when the "
        f"strategy gives none {e.default_term_months} months. “Profit at observed outcomes” "
        "uses the known outcome (0 or 1) in place of PD where there is one.</p>")


def _method(sim: Simulation) -> str:
    rows: list[list[object]] = [
        [c.component, c.records, c.bads, c.intercept, c.slope, c.transform,
         Raw("pooled fit" if c.pooled else "own fit")]
        for c in sim.calibration]
    idents = rows_table(["", "strategy", "version", "digest", "score slot"], [
        [side, s["id"], s["version"], s["digest"][:23] + "…", sim.score_slot[side]]
        for side, s in sim.strategies.items()], text_columns=[0, 1, 3, 4])
    timing = ", ".join(f"{k} {v:.2f} s" for k, v in sim.seconds.items())
    return (
        idents
        + f"<p>Probability of default from the <b>{escape(sim.pd_from)}</b>'s score: per score "
        "component, a logistic regression <code>PD = 1 / (1 + exp(−(a + b·x)))</code> fitted on "
        "the records the champion approved that have a known outcome (the booked population); "
        "components with too few such records, or no goods or no bads, use the pooled fit. "
        "Records the champion declined are scored by extrapolation: compare their expected and "
        "observed bad rates where outcomes exist.</p>"
        + rows_table(["component", "fit records", "fit bads", "a", "b", "x", ""], rows)
        + f'<p class="note">Time: {escape(timing)}.</p>')
