"""The HTML model report: one self-contained file a model validator can read.

Everything here works from plain arrays and tables (the numbers the training run
computed); it draws the charts with matplotlib (no pyplot, so no global backend
state) as inline SVG, and escapes every piece of text it puts into the page.
"""

from __future__ import annotations

import itertools
import math
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import polars as pl
from matplotlib.figure import Figure
from numpy.typing import NDArray

from fengkong.reports import Raw as _Raw
from fengkong.reports import SvgFigures, frame_table, page_html, rows_table
from fengkong.reports import anchor as _anchor
from fengkong.reports import escape as _e
from fengkong.reports import fmt as fmt
from fengkong.reports import num as _num
from fengkong.reports import pct as _pct
from fengkong.reports import psi_verdict as _psi_verdict
from fengkong.reports import short as _short
from fengkong.reports import styled as _draw

FloatArray = NDArray[np.float64]

#: Colours of the samples in every chart (train, test, out-of-time) and of goods/bads.
SAMPLE_COLOURS: dict[str, str] = {"train": "#1f77b4", "test": "#ff7f0e", "oot": "#2ca02c"}
GOOD_COLOUR = "#2ca02c"
BAD_COLOUR = "#d62728"
SAMPLE_TITLES: dict[str, str] = {"train": "train", "test": "test", "oot": "out-of-time"}


# --------------------------------------------------------------------------------------------
# What the report shows
# --------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class SampleScores:
    """The scores of one sample (train, test or out-of-time) of one scorecard.

    Attributes
    ----------
    name
        ``"train"``, ``"test"`` or ``"oot"``.
    y
        The outcome, 1 = bad.
    score
        Scorecard points (higher = lower risk).
    proba
        The predicted probability of bad.
    """

    name: str
    y: NDArray[Any]
    score: NDArray[Any]
    proba: NDArray[Any]

    @property
    def n(self) -> int:
        """How many records."""
        return len(self.y)

    @property
    def bads(self) -> int:
        """How many bads."""
        return int(np.asarray(self.y).sum())


@dataclass(frozen=True)
class CharacteristicReport:
    """One candidate characteristic: its binning, IV and whether it was kept.

    Attributes
    ----------
    name
        The column.
    iv
        Information value on the training sample.
    kept
        Whether the scorecard uses it.
    reason
        Why it was kept or dropped.
    flags
        Warnings for the reviewer (e.g. a strong predictor to check for leakage).
    trend
        The event-rate trend of the bins (ascending, descending, peak, valley, …).
    bin_table
        The bins (bin, kind, count, share, goods, bads, event_rate, woe, iv), or None.
    csi
        Characteristic stability index against train, by sample name (``test``, ``oot``).
    """

    name: str
    iv: float
    kept: bool
    reason: str
    flags: tuple[str, ...] = ()
    trend: str = ""
    bin_table: pl.DataFrame | None = None
    csi: Mapping[str, float] = field(default_factory=dict)


@dataclass(frozen=True)
class SegmentReport:
    """One scorecard (one segment, or the whole book when the model is not segmented).

    Attributes
    ----------
    name
        The segment name (``all`` when not segmented).
    condition
        The routing condition in the strategy, or None for the default segment.
    samples
        Scores per sample, train first.
    metrics
        Per sample: ``auc``, ``gini``, ``ks``, ``ks_score`` (score at maximum separation).
    characteristics
        Every candidate, highest IV first.
    points
        The points table (feature, bin, points).
    base_points
        Points every record starts with.
    gains
        The gains/lift table of each sample, by sample name.
    psi
        Score PSI against train, by sample name.
    scorecard_file
        Where the exported card is, relative to the output folder.
    """

    name: str
    condition: str | None
    samples: Sequence[SampleScores]
    metrics: Mapping[str, Mapping[str, float]]
    characteristics: Sequence[CharacteristicReport]
    points: pl.DataFrame
    base_points: float
    gains: Mapping[str, pl.DataFrame] = field(default_factory=dict)
    psi: Mapping[str, float] = field(default_factory=dict)
    scorecard_file: str = ""

    def sample(self, name: str) -> SampleScores | None:
        """The sample of that name, if present."""
        return next((s for s in self.samples if s.name == name), None)


@dataclass(frozen=True)
class FairnessSection:
    """Disparate impact for one protected attribute.

    Attributes
    ----------
    attribute
        The protected column.
    table
        One row per group: group, n, approved/approval_rate, adverse impact ratio and
        whether it passes the four-fifths rule (columns as the fairness function returns them).
    scores
        The scores of each group (for the distribution chart).
    """

    attribute: str
    table: pl.DataFrame
    scores: Mapping[str, NDArray[Any]] = field(default_factory=dict)


@dataclass(frozen=True)
class ModelReport:
    """Everything the HTML report shows; :meth:`to_html` renders it.

    Attributes
    ----------
    title
        The page title.
    source
        Where the data came from (a file name).
    target
        The outcome column.
    created
        When the report was made (ISO 8601 text).
    n_rows, n_columns
        Size of the input table.
    split
        How the samples were made (one sentence).
    overall
        Scores of every record by sample, all segments together.
    overall_metrics
        Metrics of ``overall`` by sample.
    segments
        One report per scorecard.
    segment_by
        The segment column, or None.
    excluded
        Columns that were never candidates, with the reason.
    fairness
        One report per protected attribute.
    cutoff
        The approval cut-off score used by the fairness section.
    cutoff_note
        How the cut-off was chosen.
    files
        The exported files (relative path, what it is).
    settings
        Parameters of the run (shown verbatim).
    engine_check
        The result of scoring the test records through the exported strategy.
    """

    title: str
    source: str
    target: str
    created: str
    n_rows: int
    n_columns: int
    split: str
    overall: Sequence[SampleScores]
    overall_metrics: Mapping[str, Mapping[str, float]]
    segments: Sequence[SegmentReport]
    segment_by: str | None = None
    excluded: Sequence[tuple[str, str]] = ()
    fairness: Sequence[FairnessSection] = ()
    cutoff: float | None = None
    cutoff_note: str = ""
    files: Sequence[tuple[str, str]] = ()
    settings: Mapping[str, object] = field(default_factory=dict)
    engine_check: str = ""

    def to_html(self, progress: Callable[[int, int], None] | None = None) -> str:
        """Render the report as one self-contained HTML document (inline SVG charts).

        Parameters
        ----------
        progress
            Called with (charts drawn, charts in all) after each chart.

        Returns
        -------
        str
            The page; no external assets, every text escaped.
        """
        return _Renderer(self, progress).render()

    def chart_count(self) -> int:
        """How many charts :meth:`to_html` draws."""
        per_segment = [1 + 1 + sum(1 for c in seg.characteristics
                                   if c.kept and c.bin_table is not None
                                   and not c.bin_table.is_empty())
                       + (4 if len(self.segments) > 1 else 0) for seg in self.segments]
        fairness = sum(1 + bool(f.scores) for f in self.fairness)
        return 4 + sum(per_segment) + fairness


# --------------------------------------------------------------------------------------------
# Curves (plain NumPy: what the charts plot)
# --------------------------------------------------------------------------------------------


def roc_points(y: NDArray[Any], score: NDArray[Any], *, higher_is_riskier: bool = False
               ) -> tuple[FloatArray, FloatArray]:
    """False- and true-positive rates of every cut-off (tied scores move together).

    Parameters
    ----------
    y
        Outcomes, 1 = bad.
    score
        Scores.
    higher_is_riskier
        False for scorecard points (a low score is risky).

    Returns
    -------
    fpr, tpr
        Starting at (0, 0) and ending at (1, 1).

    Examples
    --------
    >>> fpr, tpr = roc_points(np.array([1, 0, 1, 0]), np.array([1.0, 2.0, 3.0, 4.0]))
    >>> fpr.tolist(), tpr.tolist()
    ([0.0, 0.0, 0.5, 0.5, 1.0], [0.0, 0.5, 0.5, 1.0, 1.0])
    """
    yy = np.asarray(y, dtype=np.float64)
    risk = np.asarray(score, dtype=np.float64)
    if not higher_is_riskier:
        risk = -risk
    order = np.argsort(-risk, kind="mergesort")
    risk, yy = risk[order], yy[order]
    last = np.r_[np.flatnonzero(np.diff(risk)), len(risk) - 1] if len(risk) else np.array([], int)
    tp = np.cumsum(yy)[last]
    fp = np.cumsum(1.0 - yy)[last]
    p, n = (tp[-1], fp[-1]) if len(last) else (0.0, 0.0)
    tpr = np.r_[0.0, tp / p] if p > 0 else np.zeros(len(last) + 1)
    fpr = np.r_[0.0, fp / n] if n > 0 else np.zeros(len(last) + 1)
    return fpr, tpr


def ks_points(y: NDArray[Any], score: NDArray[Any]) -> tuple[FloatArray, FloatArray, FloatArray]:
    """Cumulative shares of bads and goods at or below each distinct score.

    Parameters
    ----------
    y
        Outcomes, 1 = bad.
    score
        Scores (any direction; the KS is the largest gap either way).

    Returns
    -------
    scores, cum_bads, cum_goods
        Distinct scores ascending and the shares of bads and goods scoring at most each.

    Examples
    --------
    >>> s, b, g = ks_points(np.array([1, 1, 0, 0]), np.array([1.0, 2.0, 3.0, 4.0]))
    >>> float(np.max(np.abs(b - g)))
    1.0
    """
    yy = np.asarray(y, dtype=np.float64)
    ss = np.asarray(score, dtype=np.float64)
    order = np.argsort(ss, kind="mergesort")
    ss, yy = ss[order], yy[order]
    if not len(ss):
        empty = np.array([], dtype=np.float64)
        return empty, empty, empty
    last = np.r_[np.flatnonzero(np.diff(ss)), len(ss) - 1]
    bads = np.cumsum(yy)[last]
    goods = np.cumsum(1.0 - yy)[last]
    cb = bads / bads[-1] if bads[-1] > 0 else np.zeros_like(bads)
    cg = goods / goods[-1] if goods[-1] > 0 else np.zeros_like(goods)
    return ss[last], cb, cg


def calibration_points(y: NDArray[Any], proba: NDArray[Any], bins: int = 10
                       ) -> tuple[FloatArray, FloatArray, FloatArray]:
    """Mean predicted and observed bad rate in quantile bins of the predicted probability.

    Parameters
    ----------
    y
        Outcomes, 1 = bad.
    proba
        Predicted probabilities of bad.
    bins
        How many (equal-count) bins.

    Returns
    -------
    predicted, observed, counts
        One value per non-empty bin, in increasing predicted order.
    """
    yy = np.asarray(y, dtype=np.float64)
    pp = np.asarray(proba, dtype=np.float64)
    order = np.argsort(pp, kind="mergesort")
    groups = [g for g in np.array_split(order, bins) if len(g)]
    predicted = np.array([pp[g].mean() for g in groups])
    observed = np.array([yy[g].mean() for g in groups])
    counts = np.array([float(len(g)) for g in groups])
    return predicted, observed, counts


def score_bands(scores: Sequence[NDArray[Any]], n: int = 10) -> FloatArray:
    """Band edges for score distributions: deciles of the first (training) sample.

    Parameters
    ----------
    scores
        Score arrays; the first defines the bands.
    n
        How many bands.

    Returns
    -------
    numpy.ndarray
        Interior edges (n - 1 or fewer when scores tie), increasing.
    """
    base = np.asarray(scores[0], dtype=np.float64)
    if not len(base):
        return np.array([], dtype=np.float64)
    edges = np.unique(np.quantile(base, np.linspace(0, 1, n + 1)[1:-1]))
    return np.asarray(edges, dtype=np.float64)


def band_shares(score: NDArray[Any], edges: FloatArray) -> FloatArray:
    """Share of records in each band ``(-inf, e0), [e0, e1), …, [e_last, inf)``."""
    ss = np.asarray(score, dtype=np.float64)
    counts = np.bincount(np.searchsorted(edges, ss, side="right"), minlength=len(edges) + 1)
    total = counts.sum()
    return np.asarray(counts / total if total else counts.astype(np.float64), dtype=np.float64)


# --------------------------------------------------------------------------------------------
# Charts (inline SVG)
# --------------------------------------------------------------------------------------------

@_draw
def woe_figure(table: pl.DataFrame, name: str) -> Figure:
    """WoE bars per bin with the event rate on a second axis.

    Parameters
    ----------
    table
        A bin table with columns ``bin``, ``woe``, ``event_rate`` and ``count``.
    name
        The characteristic (for the title).

    Returns
    -------
    matplotlib.figure.Figure
    """
    shown = table.filter(pl.col("count") > 0) if "count" in table.columns else table
    labels = [_short(str(b), 22) for b in shown["bin"].to_list()]
    kinds = (shown["kind"].to_list() if "kind" in shown.columns else ["normal"] * shown.height)
    woe = np.nan_to_num(shown["woe"].cast(pl.Float64).to_numpy(), nan=0.0)
    rate = np.nan_to_num(shown["event_rate"].cast(pl.Float64).to_numpy(), nan=0.0)
    # Categorical bin tables have an ``other`` row; numeric bins are ordered (a trend line).
    numeric = "kind" not in table.columns or "other" not in table["kind"].to_list()
    width = max(4.4, min(7.2, 1.2 + 0.55 * len(labels)))
    fig = Figure(figsize=(width, 2.8), layout="constrained")
    ax = fig.add_subplot()
    x = np.arange(len(labels))
    normal = np.array([k == "normal" for k in kinds], dtype=bool)
    colours = [GOOD_COLOUR if w >= 0 else BAD_COLOUR for w in woe]
    bars = ax.bar(x, woe, color=colours, alpha=0.8, width=0.7)
    for bar, is_normal in zip(bars, normal, strict=True):
        if not is_normal:  # special, missing and other bins: hatched
            bar.set_hatch("///")
            bar.set_alpha(0.55)
    ax.axhline(0.0, color="#444", linewidth=0.8)
    ax.set_ylabel("WoE (bars)")
    rotate = len(labels) > 4 or max((len(lab) for lab in labels), default=0) > 12
    ax.set_xticks(x, labels, rotation=30 if rotate else 0, ha="right" if rotate else "center",
                  rotation_mode="anchor" if rotate else "default")
    if (~normal).any() and normal.any():
        ax.axvline(float(np.flatnonzero(~normal)[0]) - 0.5, color="#999", linestyle=":",
                   linewidth=0.8)
    ax.set_title(name)
    ax2 = ax.twinx()
    if numeric and normal.sum() > 1:  # a trend across ordered bins: a line
        ax2.plot(x[normal], 100.0 * rate[normal], color="#333", marker="o", markersize=4,
                 linewidth=1.2)
        ax2.plot(x[~normal], 100.0 * rate[~normal], color="#333", marker="o", markersize=4,
                 linestyle="none")
    else:  # unordered categories: points only
        ax2.plot(x, 100.0 * rate, color="#333", marker="o", markersize=4, linestyle="none")
    ax2.set_ylabel("event rate % (dots)")
    ax2.set_ylim(bottom=0.0, top=max(1e-9, 100.0 * float(rate.max(initial=0.0))) * 1.15)
    ax2.grid(visible=False)
    ax2.spines["right"].set_visible(True)
    return fig


@_draw
def iv_figure(names: Sequence[str], ivs: Sequence[float], kept: Sequence[bool],
              strong_iv: float = 0.5) -> Figure:
    """Horizontal IV bars, highest first; kept in colour, dropped in grey.

    Parameters
    ----------
    names, ivs, kept
        Per characteristic.
    strong_iv
        Where the strong-predictor line is drawn.

    Returns
    -------
    matplotlib.figure.Figure
    """
    order = np.argsort(-np.asarray(ivs, dtype=np.float64), kind="mergesort")
    n = len(order)
    fig = Figure(figsize=(6.8, max(1.6, 0.22 * n + 0.8)), layout="constrained")
    ax = fig.add_subplot()
    y = np.arange(n)
    vals = np.asarray(ivs, dtype=np.float64)[order]
    colours = ["#1f77b4" if kept[i] else "#b0b0b0" for i in order]
    ax.barh(y, vals, color=colours)
    ax.set_yticks(y, [_short(names[i], 28) for i in order])
    ax.invert_yaxis()
    for ref in (0.02, 0.1, 0.3, strong_iv):
        if ref <= max(float(vals.max(initial=0.0)) * 1.1, 0.12):
            ax.axvline(ref, color="#888", linestyle="--", linewidth=0.7)
    ax.set_xlabel("information value (train); dashed: 0.02 weak, 0.1 medium, 0.3 strong, "
                  f"{strong_iv:g} flagged")
    ax.grid(axis="y", visible=False)
    return fig


@_draw
def roc_figure(samples: Sequence[SampleScores]) -> Figure:
    """ROC curves of each sample with the AUC in the legend."""
    fig = Figure(figsize=(4.2, 3.8), layout="constrained")
    ax = fig.add_subplot()
    for s in samples:
        fpr, tpr = roc_points(s.y, s.score)
        auc = float(np.trapezoid(tpr, fpr)) if len(fpr) > 1 else float("nan")
        ax.plot(fpr, tpr, color=SAMPLE_COLOURS.get(s.name), linewidth=1.4,
                label=f"{SAMPLE_TITLES.get(s.name, s.name)} (AUC {auc:.3f})")
    ax.plot([0, 1], [0, 1], color="#999", linestyle=":", linewidth=0.8)
    ax.set_xlim(0, 1)
    ax.set_ylim(0, 1)
    ax.set_xlabel("false positive rate (goods declined)")
    ax.set_ylabel("true positive rate (bads declined)")
    ax.set_title("ROC")
    ax.legend(loc="lower right")
    return fig


@_draw
def ks_figure(samples: Sequence[SampleScores]) -> Figure:
    """Cumulative bad and good shares by score, one panel per sample, KS marked."""
    fig = Figure(figsize=(3.6 * max(1, len(samples)), 3.2), layout="constrained")
    axes = fig.subplots(1, max(1, len(samples)), squeeze=False, sharey=True)[0]
    for ax, s in zip(axes, samples, strict=False):
        sc, cb, cg = ks_points(s.y, s.score)
        ax.step(sc, 100 * cb, where="post", color=BAD_COLOUR, label="bads")
        ax.step(sc, 100 * cg, where="post", color=GOOD_COLOUR, label="goods")
        if len(sc):
            i = int(np.argmax(np.abs(cb - cg)))
            ks = abs(float(cb[i] - cg[i]))
            ax.vlines(sc[i], 100 * min(cb[i], cg[i]), 100 * max(cb[i], cg[i]), color="#333",
                      linestyle="--", linewidth=1.0)
            ax.annotate(f"KS {100 * ks:.1f} at {sc[i]:g}", (sc[i], 100 * (cb[i] + cg[i]) / 2),
                        xytext=(6, 0), textcoords="offset points", fontsize=8, va="center")
        ax.set_title(SAMPLE_TITLES.get(s.name, s.name))
        ax.set_xlabel("score")
    axes[0].set_ylabel("cumulative share (%)")
    axes[0].legend(loc="upper left")
    return fig


@_draw
def distribution_figure(samples: Sequence[SampleScores]) -> Figure:
    """Score histograms of goods and bads (densities), one panel per sample."""
    fig = Figure(figsize=(3.6 * max(1, len(samples)), 3.0), layout="constrained")
    axes = fig.subplots(1, max(1, len(samples)), squeeze=False, sharex=True)[0]
    all_scores = np.concatenate([np.asarray(s.score, np.float64) for s in samples]) \
        if samples else np.array([0.0])
    edges = histogram_edges(all_scores)
    for ax, s in zip(axes, samples, strict=False):
        y = np.asarray(s.y)
        sc = np.asarray(s.score, dtype=np.float64)
        for mask, colour, label in ((y == 0, GOOD_COLOUR, "goods"), (y == 1, BAD_COLOUR, "bads")):
            if mask.any():
                density, _ = np.histogram(sc[mask], bins=edges, density=True)
                ax.stairs(density, edges, fill=True, alpha=0.4, color=colour,
                          label=label if ax is axes[0] else None)
                ax.stairs(density, edges, color=colour, linewidth=0.8)
        goods, bads = int(np.sum(y == 0)), int(np.sum(y == 1))
        ax.set_title(f"{SAMPLE_TITLES.get(s.name, s.name)}: {goods:,} goods, {bads:,} bads")
        ax.set_xlabel("score")
        ax.set_yticks([])
    axes[0].set_ylabel("density")
    fig.legend(loc="outside upper center", ncols=2)
    return fig


def histogram_edges(values: NDArray[Any], bins: int = 40) -> FloatArray:
    """Histogram edges over the values; whole-number scores get whole-number-wide bins
    centred on the integers (so no bin catches one more integer than its neighbours).

    Examples
    --------
    >>> histogram_edges(np.array([500.0, 520.0]), bins=10).tolist()[:3]
    [499.5, 502.5, 505.5]
    """
    v = np.asarray(values, dtype=np.float64)
    v = v[np.isfinite(v)]
    if not len(v):
        return np.linspace(0.0, 1.0, bins + 1)
    lo, hi = float(v.min()), float(v.max())
    if np.all(v == np.round(v)):
        width = max(1.0, math.ceil((hi - lo + 1) / bins))
        n = math.ceil((hi - lo + 1) / width)
        return np.asarray(lo - 0.5 + width * np.arange(n + 1), dtype=np.float64)
    if hi <= lo:
        hi = lo + 1.0
    return np.linspace(lo, hi, bins + 1)


@_draw
def calibration_figure(samples: Sequence[SampleScores], bins: int = 10) -> Figure:
    """Observed against predicted bad rate by decile of the predicted probability."""
    fig = Figure(figsize=(4.2, 3.8), layout="constrained")
    ax = fig.add_subplot()
    top = 0.0
    for s in samples:
        pred, obs, _ = calibration_points(s.y, s.proba, bins)
        if not len(pred):
            continue
        top = max(top, float(pred.max()), float(obs.max()))
        ax.plot(100 * pred, 100 * obs, marker="o", markersize=3.5, linewidth=1.2,
                color=SAMPLE_COLOURS.get(s.name), label=SAMPLE_TITLES.get(s.name, s.name))
    top = 100 * top * 1.08 or 1.0
    ax.plot([0, top], [0, top], color="#999", linestyle=":", linewidth=0.8, label="perfect")
    ax.set_xlim(0, top)
    ax.set_ylim(0, top)
    ax.set_xlabel("predicted bad rate (%)")
    ax.set_ylabel("observed bad rate (%)")
    ax.set_title("Calibration (deciles of predicted PD)")
    ax.legend(loc="upper left")
    return fig


@_draw
def stability_figure(samples: Sequence[SampleScores], psi: Mapping[str, float]) -> Figure:
    """Share of records per training score decile, per sample (what the PSI compares)."""
    edges = score_bands([s.score for s in samples])
    labels = _band_labels(edges)
    fig = Figure(figsize=(max(5.0, 0.6 * len(labels) + 2.0), 2.9), layout="constrained")
    ax = fig.add_subplot()
    k = max(1, len(samples))
    width = 0.8 / k
    x = np.arange(len(labels))
    for j, s in enumerate(samples):
        shares = band_shares(s.score, edges)
        label = SAMPLE_TITLES.get(s.name, s.name)
        if s.name in psi:
            label += f" (PSI {psi[s.name]:.3f})"
        ax.bar(x + (j - (k - 1) / 2) * width, 100 * shares, width=width,
               color=SAMPLE_COLOURS.get(s.name), label=label)
    ax.set_xticks(x, labels, rotation=30, ha="right")
    ax.set_ylabel("share of records (%)")
    ax.set_xlabel("score band (deciles of train)")
    fig.legend(loc="outside upper center", ncols=max(1, len(samples)))
    return fig


@_draw
def approval_figure(groups: Sequence[str], rates: Sequence[float], ratios: Sequence[float],
                    attribute: str) -> Figure:
    """Approval rate per group with the adverse impact ratio printed on each bar."""
    fig = Figure(figsize=(max(3.6, 0.9 * len(groups) + 1.6), 2.7), layout="constrained")
    ax = fig.add_subplot()
    x = np.arange(len(groups))
    colours = ["#1f77b4" if (r != r or r >= 0.8) else BAD_COLOUR for r in ratios]
    ax.bar(x, 100 * np.asarray(rates, dtype=np.float64), color=colours, width=0.6)
    for xi, rate, ratio in zip(x, rates, ratios, strict=True):
        if ratio == ratio:
            ax.text(float(xi), 100 * rate, f"AIR {ratio:.3f}", ha="center", va="bottom", fontsize=8)
    ax.set_xticks(x, [_short(g, 14) for g in groups])
    ax.set_ylim(0, 110)
    ax.set_ylabel("approval rate (%)")
    ax.set_title(attribute)
    return fig


@_draw
def group_scores_figure(scores: Mapping[str, NDArray[Any]], attribute: str,
                        cutoff: float | None) -> Figure:
    """Box plots of the score per group, with the cut-off."""
    names = list(scores)
    fig = Figure(figsize=(max(3.6, 0.9 * len(names) + 1.6), 2.7), layout="constrained")
    ax = fig.add_subplot()
    data = [np.asarray(scores[n], dtype=np.float64) for n in names]
    ax.boxplot(data, showfliers=False, widths=0.5)
    ax.set_xticks(np.arange(1, len(names) + 1), [_short(n, 14) for n in names])
    if cutoff is not None:
        ax.axhline(cutoff, color=BAD_COLOUR, linestyle="--", linewidth=0.9, label="cut-off")
        ax.legend(loc="upper right")
    ax.set_ylabel("score")
    ax.set_title(f"score by {attribute}")
    return fig


def _band_labels(edges: FloatArray) -> list[str]:
    if not len(edges):
        return ["all"]
    e = [f"{v:g}" for v in edges]
    return [f"< {e[0]}", *(f"[{a}, {b})" for a, b in itertools.pairwise(e)), f"≥ {e[-1]}"]


# --------------------------------------------------------------------------------------------
# HTML
# --------------------------------------------------------------------------------------------

def points_table(points: pl.DataFrame) -> str:
    """The points table with one block per characteristic (its range shows its weight)."""
    rows = []
    for (feature,), group in points.group_by("feature", maintain_order=True):
        pts = group["points"].cast(pl.Float64).to_list()
        span = f"{min(pts):g} to {max(pts):g}" if pts else ""
        n = group.height
        for i, (b, p) in enumerate(zip(group["bin"].to_list(), pts, strict=True)):
            head = (f'<td class="t" rowspan="{n}"><b>{_e(feature)}</b><br>'
                    f'<span class="note">{_e(span)}</span></td>') if i == 0 else ""
            rows.append(f'<tr>{head}<td class="t">{_e(b)}</td><td>{_e(fmt(p))}</td></tr>')
    return ('<table class="points"><thead><tr><th class="t">characteristic (points range)</th>'
            '<th class="t">bin</th><th>points</th></tr></thead><tbody>'
            + "".join(rows) + "</tbody></table>")


_GAINS_COLUMNS = ("bin", "min_score", "max_score", "count", "bads", "bad_rate",
                  "cum_count_share", "cum_bad_rate", "cum_bad_capture", "cum_good_capture",
                  "lift", "cum_lift", "ks")
_GAINS_LABELS = {"bin": "decile", "min_score": "min score", "max_score": "max score",
                 "count": "records", "bad_rate": "bad rate", "cum_count_share": "cum. records",
                 "cum_bad_rate": "cum. bad rate", "cum_bad_capture": "bads captured",
                 "cum_good_capture": "goods captured", "cum_lift": "cum. lift",
                 "ks": "KS (share)"}

_FAIRNESS_LABELS = {"count": "records", "approval_rate": "approval rate",
                    "adverse_impact_ratio": "adverse impact ratio",
                    "four_fifths_pass": "four-fifths rule", "small_group": "small group"}

_SECTIONS = (
    ("overview", "Overview"),
    ("performance", "Performance"),
    ("characteristics", "Characteristics"),
    ("stability", "Stability"),
    ("segments", "Segments"),
    ("fairness", "Fairness"),
    ("points", "Points"),
    ("deploy", "Deploy"),
)


class _Renderer:
    def __init__(self, report: ModelReport,
                 progress: Callable[[int, int], None] | None = None) -> None:
        self.r = report
        self.charts = SvgFigures()
        self.progress = progress
        self.total = report.chart_count() if progress is not None else 0

    def chart(self, fig: Figure, alt: str) -> str:
        svg = self.charts.svg(fig, alt)
        if self.progress is not None:
            self.total = max(self.total, self.charts.count)
            self.progress(self.charts.count, self.total)
        return svg

    def render(self) -> str:
        r = self.r
        body = [
            self.overview(),
            self.performance(),
            self.characteristics(),
            self.stability(),
            self.segments(),
            self.fairness(),
            self.points(),
            self.deploy(),
        ]
        subtitle = (f"{r.source} · target {r.target} · {r.n_rows:,} rows · "
                    f"{len(r.segments)} scorecard{'s' if len(r.segments) != 1 else ''} · {r.created}")
        return page_html(r.title, subtitle, _SECTIONS, body)

    # -- sections ---------------------------------------------------------------------------

    def overview(self) -> str:
        r = self.r
        test = r.overall_metrics.get("test") or next(iter(r.overall_metrics.values()), {})
        cards = [
            ("records", f"{r.n_rows:,}"),
            ("bad rate", _pct(sum(s.bads for s in r.overall) / max(1, sum(s.n for s in r.overall)))),
            ("test AUC", f"{test.get('auc', float('nan')):.3f}"),
            ("test Gini", f"{test.get('gini', float('nan')):.3f}"),
            ("test KS", f"{100 * test.get('ks', float('nan')):.1f}"),
            ("scorecards", str(len(r.segments))),
        ]
        if "oot" in r.overall_metrics:
            cards.insert(3, ("out-of-time AUC", f"{r.overall_metrics['oot'].get('auc', 0):.3f}"))
        card_html = "".join(f"<div class=\"card\"><b>{_e(v)}</b><span>{_e(k)}</span></div>"
                            for k, v in cards)
        rows = []
        for s in r.overall:
            rows.append((SAMPLE_TITLES.get(s.name, s.name), s.n, s.n - s.bads, s.bads,
                         s.bads / s.n if s.n else float("nan")))
        total_n = sum(s.n for s in r.overall)
        total_b = sum(s.bads for s in r.overall)
        rows.append(("total", total_n, total_n - total_b, total_b,
                     total_b / total_n if total_n else float("nan")))
        samples = rows_table(("sample", "records", "goods", "bads", "bad rate"), rows)
        seg_rows = []
        for seg in r.segments:
            train = seg.sample("train")
            test_s = seg.sample("test")
            oot = seg.sample("oot")
            seg_rows.append((
                seg.name, seg.condition or ("every record" if len(r.segments) == 1
                                             else "(default: every other record)"),
                *(x.n if x else None for x in (train, test_s, oot)),
                sum(x.bads for x in seg.samples) / max(1, sum(x.n for x in seg.samples)),
                sum(c.kept for c in seg.characteristics)))
        seg_table = rows_table(("segment", "routing condition", "train", "test", "out-of-time",
                                "bad rate", "characteristics"), seg_rows, text_columns=2)
        excluded = ""
        if r.excluded:
            excluded = ("<h3>Columns not used as characteristics</h3>"
                        + rows_table(("column", "reason"), r.excluded, text_columns=2))
        settings = "<p class=settings>" + " · ".join(
            f"<code>{_e(k)}</code> {_e(_fmt_setting(v))}" for k, v in r.settings.items()) + "</p>"
        return (
            '<section id="overview"><h2>Overview</h2>'
            f"{card_html and '<div class=cards>' + card_html + '</div>'}"
            f"<p>Data <code>{_e(r.source)}</code>: {r.n_rows:,} rows, {r.n_columns:,} columns; "
            f"outcome <code>{_e(r.target)}</code> (1 = bad). {_e(r.split)}</p>"
            f"<h3>Samples</h3>{samples}"
            f"<h3>Scorecards</h3>{seg_table}{excluded}"
            f"<h3>Settings</h3>{settings}</section>")

    def performance(self) -> str:
        r = self.r
        parts = ['<section id="performance"><h2>Performance</h2>']
        if len(r.segments) > 1:
            parts.append("<p class=note>All segments together (each record scored by its "
                         "segment's card; the cards share one points scale). Per-segment curves "
                         "are under <a href=\"#segments\">Segments</a>.</p>")
        parts.append(self.metrics_table(r.overall_metrics, r.overall))
        parts.append(self.curves(r.overall, "all records"))
        gains = r.segments[0].gains if len(r.segments) == 1 else {}
        if gains:
            parts.append(self.gains(gains))
        parts.append("</section>")
        return "".join(parts)

    def metrics_table(self, metrics: Mapping[str, Mapping[str, float]],
                      samples: Sequence[SampleScores]) -> str:
        rows = []
        for s in samples:
            m = metrics.get(s.name, {})
            rows.append((SAMPLE_TITLES.get(s.name, s.name), s.n, s.bads,
                         s.bads / s.n if s.n else None, _num(m.get("auc"), 3),
                         _num(m.get("gini"), 3),
                         _num(None if m.get("ks") is None else 100 * float(m["ks"]), 1),
                         m.get("ks_score")))
        return rows_table(("sample", "records", "bads", "bad rate", "AUC", "Gini", "KS (×100)",
                           "score at max KS"), rows)

    def curves(self, samples: Sequence[SampleScores], what: str) -> str:
        return (
            "<h3>ROC and calibration</h3>"
            + self.chart(roc_figure(samples), f"ROC curves, {what}")
            + self.chart(calibration_figure(samples), f"Calibration, {what}")
            + "<h3>KS: cumulative bads and goods by score</h3>"
            + self.chart(ks_figure(samples), f"KS curves, {what}")
            + "<h3>Score distributions of goods and bads</h3>"
            + self.chart(distribution_figure(samples), f"Score distributions, {what}"))

    def gains(self, gains: Mapping[str, pl.DataFrame]) -> str:
        parts = ["<h3>Gains and lift by score decile (riskiest first)</h3>",
                 "<p class=note>Capture = share of all bads (goods) at or below the band; "
                 "lift = the band's bad rate / the sample's.</p>"]
        for name, table in gains.items():
            parts.append(f"<h4>{_e(SAMPLE_TITLES.get(name, name))}</h4>"
                         + '<div class="scroll">' + frame_table(
                             table, columns=_GAINS_COLUMNS, labels=_GAINS_LABELS) + "</div>")
        return "".join(parts)

    def characteristics(self) -> str:
        parts = ['<section id="characteristics"><h2>Characteristics</h2>',
                 "<p class=note>Binned on the training sample. WoE = ln(share of goods / share "
                 "of bads): positive bins are better than average. IV: &lt; 0.02 useless, "
                 "0.02–0.1 weak, 0.1–0.3 medium, &gt; 0.3 strong; a very high IV is flagged "
                 "for a leakage check, never dropped silently.</p>"]
        for seg in self.r.segments:
            if len(self.r.segments) > 1:
                parts.append(f'<h3 id="chars-{_anchor(seg.name)}">Segment {_e(seg.name)}</h3>')
            parts.append(self.iv_ranking(seg))
            parts.append(self.bin_tables(seg))
        parts.append("</section>")
        return "".join(parts)

    def iv_ranking(self, seg: SegmentReport) -> str:
        chars = sorted(seg.characteristics, key=lambda c: -c.iv)
        if not chars:
            return "<p>No candidate characteristics.</p>"
        rows = []
        for i, c in enumerate(chars, 1):
            flags = _Raw("".join(f'<span class="flag">⚑ {_e(f)}</span><br>' for f in c.flags))
            status = _Raw('<span class="pass">kept</span>' if c.kept else "dropped")
            rows.append((str(i), c.name, c.iv, status, c.reason, c.trend, flags))
        table = rows_table(("rank", "characteristic", "IV", "status", "reason", "trend",
                            "flags"), rows, text_columns=(1, 3, 4, 5, 6))
        fig = self.chart(iv_figure([c.name for c in chars], [c.iv for c in chars],
                                   [c.kept for c in chars]), f"IV ranking, segment {seg.name}")
        return f"<h4>IV ranking</h4>{fig}{table}"

    def bin_tables(self, seg: SegmentReport) -> str:
        parts = ["<h4>Bins</h4>"]
        for c in sorted(seg.characteristics, key=lambda c: (not c.kept, -c.iv)):
            if c.bin_table is None or c.bin_table.is_empty():
                continue
            status = "kept" if c.kept else "dropped"
            summary = f"{c.name} — IV {c.iv:.4f}, {status}"
            if c.trend:
                summary += f", {c.trend}"
            table = frame_table(
                c.bin_table,
                columns=["bin", "kind", "count", "share", "goods", "bads", "event_rate", "woe",
                         "iv"],
                labels={"event_rate": "event rate", "iv": "IV"})
            flags = "".join(f'<p class="flag">⚑ {_e(f)}</p>' for f in c.flags)
            # Charts for the characteristics in the card; the dropped ones keep their table.
            fig = (self.chart(woe_figure(c.bin_table, c.name), f"WoE by bin of {c.name}")
                   if c.kept else f'<p class="note">Dropped: {_e(c.reason)}</p>')
            open_ = " open" if c.kept else ""
            parts.append(f"<details{open_} id=\"bins-{_anchor(seg.name)}-{_anchor(c.name)}\">"
                         f"<summary>{_e(summary)}</summary>{flags}"
                         f'<div class="pair">{fig}<div class="scroll">{table}</div></div>'
                         "</details>")
        return "".join(parts)

    def stability(self) -> str:
        r = self.r
        parts = ['<section id="stability"><h2>Stability</h2>',
                 "<p class=note>PSI = Σ (actual% − expected%) · ln(actual% / expected%) over "
                 "training score deciles (train is expected). Below 0.1 stable, 0.1–0.25 "
                 "watch, above 0.25 shifted. CSI is the same index per characteristic over its "
                 "bins.</p>"]
        for seg in r.segments:
            if len(r.segments) > 1:
                parts.append(f"<h3>Segment {_e(seg.name)}</h3>")
            psi_rows = [(f"train → {SAMPLE_TITLES.get(k, k)}", v, _Raw(_psi_verdict(v)))
                        for k, v in seg.psi.items()]
            if psi_rows:
                parts.append(rows_table(("score PSI", "PSI", "verdict"), psi_rows))
            parts.append(self.chart(stability_figure(seg.samples, seg.psi),
                                    f"Score stability, segment {seg.name}"))
            later = [s.name for s in seg.samples if s.name != "train"]
            csi_rows = [(c.name, *(c.csi.get(k) for k in later),
                         _Raw(_psi_verdict(max((c.csi.get(k, 0.0) for k in later), default=0.0))))
                        for c in sorted(seg.characteristics, key=lambda c: -c.iv) if c.kept]
            if csi_rows and later:
                parts.append("<h4>CSI per characteristic (kept)</h4>" + rows_table(
                    ("characteristic", *(f"train → {SAMPLE_TITLES.get(k, k)}" for k in later),
                     "verdict"), csi_rows))
        parts.append("</section>")
        return "".join(parts)

    def segments(self) -> str:
        r = self.r
        parts = ['<section id="segments"><h2>Segments</h2>']
        if len(r.segments) == 1:
            parts.append("<p>One scorecard for every record (no segment column).</p>")
        else:
            parts.append(f"<p>One scorecard per value of <code>{_e(r.segment_by)}</code>; "
                         "the strategy routes each record to its segment's card, the first "
                         "matching condition wins, the last segment takes every other record "
                         "(including missing and unseen values).</p>")
            for seg in r.segments:
                parts.append(f'<h3 id="seg-{_anchor(seg.name)}">{_e(seg.name)}</h3>')
                parts.append(f"<p>Routing: <code>{_e(seg.condition or 'default')}</code>; card "
                             f"<code>{_e(seg.scorecard_file)}</code>; "
                             f"{sum(c.kept for c in seg.characteristics)} characteristics.</p>")
                parts.append(self.metrics_table(seg.metrics, seg.samples))
                parts.append(self.chart(roc_figure(seg.samples), f"ROC, segment {seg.name}"))
                parts.append(self.chart(calibration_figure(seg.samples),
                                        f"Calibration, segment {seg.name}"))
                parts.append(self.chart(ks_figure(seg.samples), f"KS, segment {seg.name}"))
                parts.append(self.chart(distribution_figure(seg.samples),
                                        f"Score distributions, segment {seg.name}"))
                if seg.gains:
                    parts.append(self.gains(seg.gains))
        parts.append("</section>")
        return "".join(parts)

    def fairness(self) -> str:
        r = self.r
        parts = ['<section id="fairness"><h2>Fairness</h2>']
        if not r.fairness:
            parts.append("<p>No protected attributes were given (<code>--protected</code>); "
                         "no disparate-impact analysis.</p></section>")
            return "".join(parts)
        cut = "–" if r.cutoff is None else f"{r.cutoff:g}"
        parts.append(
            f"<p>Protected attributes are never characteristics of the model; they are used "
            f"only here. Approval means score ≥ {_e(cut)} ({_e(r.cutoff_note)}). Adverse impact "
            f"ratio (AIR) = a group's approval rate / the reference group's; the four-fifths "
            f"rule asks for AIR ≥ 0.8. Computed on the test and out-of-time records.</p>")
        for f in r.fairness:
            parts.append(f"<h3>{_e(f.attribute)}</h3>")
            t = f.table
            group_col = next((c for c in ("group", f.attribute) if c in t.columns), t.columns[0])
            rate_col = next((c for c in t.columns if "approval_rate" in c or c == "rate"), None)
            air_col = next((c for c in t.columns if "impact" in c or c in ("air", "ratio")), None)
            pass_col = next((c for c in t.columns if "four_fifths" in c or "pass" in c), None)
            row_class = None
            if pass_col is not None:
                row_class = ["" if v is None or v else "fail" for v in t[pass_col].to_list()]
            parts.append(frame_table(t, row_class=row_class, labels=_FAIRNESS_LABELS))
            if pass_col is not None:
                failing = [str(g) for g, ok in zip(t[group_col].to_list(), t[pass_col].to_list(),
                                                   strict=True) if ok is False]
                parts.append(
                    f'<p class="fail">Below four-fifths: {_e(", ".join(failing))}.</p>'
                    if failing else '<p class="pass">Every group passes the four-fifths rule.</p>')
            if rate_col is not None and air_col is not None:
                parts.append(self.chart(approval_figure(
                    [str(g) for g in t[group_col].to_list()],
                    [float(v) if v is not None else float("nan") for v in t[rate_col].to_list()],
                    [float(v) if v is not None else float("nan") for v in t[air_col].to_list()],
                    f.attribute), f"Approval rate by {f.attribute}"))
            if f.scores:
                parts.append(self.chart(group_scores_figure(f.scores, f.attribute, r.cutoff),
                                        f"Score by {f.attribute}"))
        parts.append("</section>")
        return "".join(parts)

    def points(self) -> str:
        parts = ['<section id="points"><h2>Points</h2>',
                 "<p class=note>score = base points + the points of each characteristic's bin. "
                 "Higher score = lower risk.</p>"]
        for seg in self.r.segments:
            title = f"Segment {seg.name}: " if len(self.r.segments) > 1 else ""
            parts.append(f"<h3>{_e(title)}base points {seg.base_points:g}</h3>")
            parts.append(points_table(seg.points))
        parts.append("</section>")
        return "".join(parts)

    def deploy(self) -> str:
        r = self.r
        files = rows_table(("file", "what it is"), r.files, text_columns=2)
        check = f"<p>{_e(r.engine_check)}</p>" if r.engine_check else ""
        return (
            '<section id="deploy"><h2>Deploy</h2>'
            "<p>The exported files are a fengkong strategy: no pickles, readable YAML, "
            "validated by compiling them before they were written.</p>"
            f"{files}{check}"
            "<pre>fengkong validate model/strategy.yaml\n"
            "fengkong batch model/strategy.yaml --input new_applications.parquet "
            "--output scores.parquet\n"
            "fengkong decide model/strategy.yaml --input record.json</pre>"
            "<p>To put the card into an existing strategy, copy <code>scorecards/*.yaml</code> "
            "next to it and reference them under <code>scorecards:</code> (and the segment "
            "routing under <code>segments:</code>); add the policy rules and cut-offs there. "
            "Deploy through a release (four-eyes approval) in the decision service.</p>"
            "</section>")


def _fmt_setting(v: object) -> str:
    if isinstance(v, list | tuple):
        return ", ".join(str(x) for x in v) or "–"
    return "–" if v is None else str(v)
