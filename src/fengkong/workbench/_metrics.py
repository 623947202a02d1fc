"""Discrimination, calibration and stability metrics for credit-risk scores.

Plain functions on NumPy arrays (lists and Polars Series work too). ``y`` is the
outcome, 1 = bad (the event), 0 = good; ``sample_weight`` is optional everywhere.

Score direction is explicit: functions whose answer depends on it take
``higher_is_riskier`` (keyword only). It defaults to ``True`` -- the convention of
probabilities of default and of :func:`sklearn.metrics.roc_auc_score`. Scorecard
points (higher = safer) need ``higher_is_riskier=False``; with the wrong direction
the AUC comes out as ``1 - AUC`` and the Gini negative, which is the signal to check.

Everything is vectorised: one stable sort of the scores, then cumulative sums over
groups of tied scores, so ties are handled exactly (a tied bad/good pair counts one
half, as in the Mann-Whitney statistic) and a million rows take a fraction of a second.
See docs/model-metrics.md for the formulas and interpretation thresholds.
"""

from __future__ import annotations

import itertools
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any, NamedTuple

import numpy as np
import numpy.typing as npt
import polars as pl

FloatArray = npt.NDArray[np.float64]

PSI_STABLE = 0.10
"""PSI below this: no significant shift."""
PSI_SIGNIFICANT = 0.25
"""PSI at or above this: significant shift, investigate (and usually redevelop)."""

MISSING_LABEL = "(missing)"


# --------------------------------------------------------------------------- inputs


def _to_numpy(values: Any, name: str) -> npt.NDArray[Any]:
    """A 1-D NumPy array from a NumPy array, list, Polars or pandas Series."""
    if isinstance(values, pl.Series):
        arr = values.to_numpy()
    elif hasattr(values, "to_numpy") and not isinstance(values, np.ndarray):
        arr = np.asarray(values.to_numpy())
    else:
        arr = np.asarray(values)
    if arr.ndim == 2 and 1 in arr.shape:
        arr = arr.reshape(-1)
    if arr.ndim != 1:
        msg = f"{name} must be one-dimensional, got shape {arr.shape}"
        raise ValueError(msg)
    return arr


def _as_float(values: Any, name: str, *, allow_nan: bool = False) -> FloatArray:
    arr = _to_numpy(values, name)
    try:
        out = arr.astype(np.float64, copy=False)
    except (TypeError, ValueError) as exc:
        msg = f"{name} must be numeric"
        raise ValueError(msg) from exc
    if not allow_nan and not np.all(np.isfinite(out)):
        msg = f"{name} contains NaN or infinite values"
        raise ValueError(msg)
    return out


def _as_target(y: Any) -> FloatArray:
    arr = _to_numpy(y, "y")
    if arr.dtype == np.bool_:
        return arr.astype(np.float64)
    out = _as_float(arr, "y")
    if not np.all((out == 0.0) | (out == 1.0)):
        msg = "y must be binary: 1 = bad (event), 0 = good"
        raise ValueError(msg)
    return out


def _as_weight(sample_weight: Any, n: int) -> FloatArray:
    if sample_weight is None:
        return np.ones(n, dtype=np.float64)
    w = _as_float(sample_weight, "sample_weight")
    if w.shape[0] != n:
        msg = f"sample_weight has {w.shape[0]} values for {n} rows"
        raise ValueError(msg)
    if np.any(w < 0):
        msg = "sample_weight must be non-negative"
        raise ValueError(msg)
    return w


def _prepare(
    y: Any, score: Any, sample_weight: Any, *, need_both: bool = True
) -> tuple[FloatArray, FloatArray, FloatArray]:
    yy = _as_target(y)
    s = _as_float(score, "score")
    if s.shape[0] != yy.shape[0]:
        msg = f"y has {yy.shape[0]} values and score {s.shape[0]}"
        raise ValueError(msg)
    w = _as_weight(sample_weight, yy.shape[0])
    if need_both:
        bads = float(np.dot(w, yy))
        goods = float(w.sum()) - bads
        if bads <= 0 or goods <= 0:
            msg = "both classes (bad = 1 and good = 0) need positive weight"
            raise ValueError(msg)
    return yy, s, w


class _Groups(NamedTuple):
    """Tied-score groups, riskiest first, with their weighted bads, goods and counts."""

    score: FloatArray
    bads: FloatArray
    goods: FloatArray


def _groups(y: FloatArray, s: FloatArray, w: FloatArray, *, higher_is_riskier: bool) -> _Groups:
    # The order inside a group of ties does not matter (groups are summed), so the
    # fast unstable sort is fine.
    order = np.argsort(s)
    if higher_is_riskier:
        order = order[::-1]
    ss = s[order]
    starts = np.flatnonzero(np.concatenate(([True], ss[1:] != ss[:-1])))
    unit = bool(np.all(w == 1.0))
    ws = np.ones(ss.shape[0]) if unit else w[order]
    bad_w = y[order] if unit else ws * y[order]
    if starts.shape[0] == ss.shape[0]:  # no ties: every record is its own group
        return _Groups(ss, bad_w, ws - bad_w)
    bads = np.add.reduceat(bad_w, starts)
    goods = np.add.reduceat(ws, starts) - bads
    return _Groups(ss[starts], bads, goods)


# --------------------------------------------------------------------------- discrimination


def auc(
    y: Any, score: Any, sample_weight: Any = None, *, higher_is_riskier: bool = True
) -> float:
    """Area under the ROC curve: the (weighted) probability that a bad outranks a good.

    Tied bad/good pairs count one half, exactly. Equals
    ``sklearn.metrics.roc_auc_score(y, score, sample_weight=w)`` when
    ``higher_is_riskier`` is true and ``roc_auc_score(y, -score, ...)`` when it is false.

    >>> auc([0, 0, 1, 1], [0.1, 0.4, 0.35, 0.8])
    0.75
    >>> auc([0, 0, 1, 1], [700, 620, 640, 560], higher_is_riskier=False)
    0.75
    """
    yy, s, w = _prepare(y, score, sample_weight)
    g = _groups(yy, s, w, higher_is_riskier=higher_is_riskier)
    cum_bads_before = np.cumsum(g.bads) - g.bads
    concordant = float(np.dot(g.goods, cum_bads_before + 0.5 * g.bads))
    return concordant / (float(g.bads.sum()) * float(g.goods.sum()))


def gini(
    y: Any, score: Any, sample_weight: Any = None, *, higher_is_riskier: bool = True
) -> float:
    """Gini coefficient (accuracy ratio) = 2 * AUC - 1.

    >>> gini([0, 0, 1, 1], [0.1, 0.4, 0.35, 0.8])
    0.5
    """
    return 2.0 * auc(y, score, sample_weight, higher_is_riskier=higher_is_riskier) - 1.0


class KS(NamedTuple):
    """Kolmogorov-Smirnov statistic and the score where it is reached.

    ``threshold`` is the cut-off of maximum separation: records with
    ``score >= threshold`` (``<=`` when lower is riskier) form the risky side.
    """

    statistic: float
    threshold: float


def ks(
    y: Any, score: Any, sample_weight: Any = None, *, higher_is_riskier: bool = True
) -> KS:
    """Maximum distance between the cumulative score distributions of bads and goods.

    ``max |F_bad(t) - F_good(t)|`` over all thresholds: the two-sample KS statistic of
    :func:`scipy.stats.ks_2samp` on the bads' and the goods' scores (weighted when
    ``sample_weight`` is given). Returns ``KS(statistic, threshold)``, a tuple.

    >>> ks([0, 0, 1, 1], [0.1, 0.4, 0.35, 0.8])
    KS(statistic=0.5, threshold=0.8)
    """
    yy, s, w = _prepare(y, score, sample_weight)
    g = _groups(yy, s, w, higher_is_riskier=higher_is_riskier)
    sep = np.cumsum(g.bads) / g.bads.sum() - np.cumsum(g.goods) / g.goods.sum()
    i = int(np.argmax(np.abs(sep)))
    return KS(float(abs(sep[i])), float(g.score[i]))


def _curve(
    y: Any, score: Any, sample_weight: Any, *, higher_is_riskier: bool, max_points: int | None
) -> pl.DataFrame:
    yy, s, w = _prepare(y, score, sample_weight)
    g = _groups(yy, s, w, higher_is_riskier=higher_is_riskier)
    total = float(g.bads.sum() + g.goods.sum())
    tpr = np.cumsum(g.bads) / g.bads.sum()
    fpr = np.cumsum(g.goods) / g.goods.sum()
    share = np.cumsum(g.bads + g.goods) / total
    sep = tpr - fpr
    thr = g.score
    if max_points is not None and thr.shape[0] > max_points:
        keep = np.unique(
            np.concatenate(
                (
                    np.linspace(0, thr.shape[0] - 1, max(max_points - 1, 2)).round().astype(np.int64),
                    [int(np.argmax(np.abs(sep)))],
                )
            )
        )
        thr, tpr, fpr, share, sep = thr[keep], tpr[keep], fpr[keep], share[keep], sep[keep]
    first = np.array([np.inf if higher_is_riskier else -np.inf])
    zero = np.zeros(1)
    return pl.DataFrame(
        {
            "threshold": np.concatenate((first, thr)),
            "population_share": np.concatenate((zero, share)),
            "fpr": np.concatenate((zero, fpr)),
            "tpr": np.concatenate((zero, tpr)),
            "separation": np.concatenate((zero, sep)),
        }
    )


def roc_curve(
    y: Any,
    score: Any,
    sample_weight: Any = None,
    *,
    higher_is_riskier: bool = True,
    max_points: int | None = None,
) -> pl.DataFrame:
    """ROC curve points for plotting, one row per distinct score (riskiest first).

    Columns ``threshold`` (records at or beyond it are flagged risky; the first row,
    ``inf``/``-inf``, flags nobody), ``fpr`` (share of goods flagged), ``tpr`` (share of
    bads flagged). ``max_points`` thins the curve for plots (the KS point is kept).

    >>> roc_curve([0, 0, 1, 1], [0.1, 0.4, 0.35, 0.8])["tpr"].to_list()
    [0.0, 0.5, 0.5, 1.0, 1.0]
    """
    return _curve(
        y, score, sample_weight, higher_is_riskier=higher_is_riskier, max_points=max_points
    ).select("threshold", "fpr", "tpr")


def ks_curve(
    y: Any,
    score: Any,
    sample_weight: Any = None,
    *,
    higher_is_riskier: bool = True,
    max_points: int | None = None,
) -> pl.DataFrame:
    """KS curve points for plotting, riskiest first.

    Columns ``threshold``, ``population_share`` (cumulative share of all records),
    ``cum_bad_share`` (= TPR), ``cum_good_share`` (= FPR) and ``separation``
    (``cum_bad_share - cum_good_share``; its maximum absolute value is the KS).
    """
    return _curve(
        y, score, sample_weight, higher_is_riskier=higher_is_riskier, max_points=max_points
    ).select(
        "threshold",
        "population_share",
        pl.col("tpr").alias("cum_bad_share"),
        pl.col("fpr").alias("cum_good_share"),
        "separation",
    )


# --------------------------------------------------------------------------- tables


def _quantile_bins(weights: FloatArray, bins: int) -> npt.NDArray[np.int64]:
    """Bin index (0-based) of each group of tied values, by cumulative weight.

    A group goes to the bin containing its weighted midpoint, so tied values never
    straddle two bins; with heavy ties some bins end up empty (they are dropped).
    """
    total = float(weights.sum())
    mid = (np.cumsum(weights) - 0.5 * weights) / total
    return np.minimum((mid * bins).astype(np.int64), bins - 1)


def gains_table(
    y: Any,
    score: Any,
    sample_weight: Any = None,
    *,
    bins: int = 10,
    higher_is_riskier: bool = True,
) -> pl.DataFrame:
    """Gains and lift by quantile bin of the score (deciles by default), riskiest bin first.

    Records with the same score always share a bin. Columns: ``bin`` (1 = riskiest),
    ``min_score``, ``max_score``, ``count``, ``goods``, ``bads``, ``bad_rate``,
    ``cum_count_share``, ``cum_bads``, ``cum_bad_rate``, ``cum_bad_capture`` (share of
    all bads in this bin and the riskier ones: the gains curve), ``cum_good_capture``,
    ``lift`` (bin bad rate / overall bad rate), ``cum_lift`` and ``ks``
    (``cum_bad_capture - cum_good_capture``). Counts are weighted.
    """
    if bins < 1:
        msg = "bins must be at least 1"
        raise ValueError(msg)
    yy, s, w = _prepare(y, score, sample_weight)
    g = _groups(yy, s, w, higher_is_riskier=higher_is_riskier)
    counts = g.bads + g.goods
    b = _quantile_bins(counts, bins)
    starts = np.flatnonzero(np.concatenate(([True], b[1:] != b[:-1])))
    cnt = np.add.reduceat(counts, starts)
    bad = np.add.reduceat(g.bads, starts)
    lo = np.minimum.reduceat(g.score, starts)
    hi = np.maximum.reduceat(g.score, starts)
    total, total_bad = float(cnt.sum()), float(bad.sum())
    good = cnt - bad
    overall = total_bad / total
    cum_cnt, cum_bad, cum_good = np.cumsum(cnt), np.cumsum(bad), np.cumsum(good)
    rate = bad / cnt
    cum_rate = cum_bad / cum_cnt
    return pl.DataFrame(
        {
            "bin": np.arange(1, cnt.shape[0] + 1, dtype=np.int64),
            "min_score": lo,
            "max_score": hi,
            "count": cnt,
            "goods": good,
            "bads": bad,
            "bad_rate": rate,
            "cum_count_share": cum_cnt / total,
            "cum_bads": cum_bad,
            "cum_bad_rate": cum_rate,
            "cum_bad_capture": cum_bad / total_bad,
            "cum_good_capture": cum_good / float(good.sum()),
            "lift": rate / overall,
            "cum_lift": cum_rate / overall,
            "ks": cum_bad / total_bad - cum_good / float(good.sum()),
        }
    )


def lift_table(
    y: Any,
    score: Any,
    sample_weight: Any = None,
    *,
    bins: int = 10,
    higher_is_riskier: bool = True,
) -> pl.DataFrame:
    """The lift table: the same table as :func:`gains_table` (lift and gains are columns of it)."""
    return gains_table(y, score, sample_weight, bins=bins, higher_is_riskier=higher_is_riskier)


def _fmt(x: float) -> str:
    return f"{x:g}"


def bad_rate_by_band(
    y: Any, score: Any, bands: Sequence[float], sample_weight: Any = None
) -> pl.DataFrame:
    """Bad rate per score band, bands in ascending score order.

    ``bands`` are the cut points ``e0 < e1 < ... < ek``; the bands are ``[e0, e1)``, ...,
    ``[e(k-1), ek)`` plus open ends ``< e0`` and ``>= ek`` (kept only when they hold
    records). Columns: ``band``, ``lower``, ``upper`` (null = open), ``count``, ``share``,
    ``goods``, ``bads``, ``bad_rate`` (null for an empty band).

    >>> t = bad_rate_by_band([1, 1, 0, 0, 0, 1], [450, 520, 560, 610, 650, 480], [500, 600])
    >>> t.select("band", "count", "bad_rate").rows()
    [('< 500', 2.0, 1.0), ('[500, 600)', 2.0, 0.5), ('>= 600', 2.0, 0.0)]
    """
    yy, s, w = _prepare(y, score, sample_weight, need_both=False)
    edges = np.asarray(sorted({float(e) for e in bands}), dtype=np.float64)
    if edges.shape[0] == 0:
        msg = "bands needs at least one cut point"
        raise ValueError(msg)
    idx = np.searchsorted(edges, s, side="right")
    k = edges.shape[0] + 1
    cnt = np.bincount(idx, weights=w, minlength=k)
    bad = np.bincount(idx, weights=w * yy, minlength=k)
    lowers: list[float | None] = [None, *edges.tolist()]
    uppers: list[float | None] = [*edges.tolist(), None]
    labels = [f"< {_fmt(edges[0])}"]
    labels += [f"[{_fmt(a)}, {_fmt(b)})" for a, b in itertools.pairwise(edges)]
    labels.append(f">= {_fmt(edges[-1])}")
    keep = [i for i in range(k) if 0 < i < k - 1 or cnt[i] > 0]
    total = float(cnt.sum())
    return pl.DataFrame(
        {
            "band": [labels[i] for i in keep],
            "lower": [lowers[i] for i in keep],
            "upper": [uppers[i] for i in keep],
            "count": cnt[keep],
            "share": cnt[keep] / total if total > 0 else np.zeros(len(keep)),
            "goods": cnt[keep] - bad[keep],
            "bads": bad[keep],
            "bad_rate": [float(bad[i] / cnt[i]) if cnt[i] > 0 else None for i in keep],
        },
        schema_overrides={"lower": pl.Float64, "upper": pl.Float64, "bad_rate": pl.Float64},
    )


# --------------------------------------------------------------------------- calibration


def _check_proba(p: FloatArray) -> None:
    if np.any((p < 0) | (p > 1)):
        msg = "proba must be probabilities in [0, 1]"
        raise ValueError(msg)


def calibration_table(
    y: Any, proba: Any, sample_weight: Any = None, *, bins: int = 10
) -> pl.DataFrame:
    """Predicted against observed bad rate by quantile bin of the predicted probability.

    Bins in ascending order of ``proba`` (tied predictions share a bin). Columns:
    ``bin``, ``min_proba``, ``max_proba``, ``count``, ``bads`` (observed),
    ``expected_bads`` (sum of predicted probabilities), ``mean_predicted``,
    ``observed_rate`` and ``difference`` (``observed_rate - mean_predicted``).
    """
    if bins < 1:
        msg = "bins must be at least 1"
        raise ValueError(msg)
    yy, p, w = _prepare(y, proba, sample_weight, need_both=False)
    _check_proba(p)
    order = np.argsort(p)
    ps, ws, ys = p[order], w[order], yy[order]
    gstart = np.flatnonzero(np.concatenate(([True], ps[1:] != ps[:-1])))
    gw = np.add.reduceat(ws, gstart)
    gb = _quantile_bins(gw, bins)
    row_bin = np.repeat(gb, np.diff(np.append(gstart, ps.shape[0])))
    starts = np.flatnonzero(np.concatenate(([True], row_bin[1:] != row_bin[:-1])))
    cnt = np.add.reduceat(ws, starts)
    bad = np.add.reduceat(ws * ys, starts)
    exp = np.add.reduceat(ws * ps, starts)
    with np.errstate(invalid="ignore", divide="ignore"):
        mean_p = exp / cnt
        obs = bad / cnt
    return pl.DataFrame(
        {
            "bin": np.arange(1, cnt.shape[0] + 1, dtype=np.int64),
            "min_proba": np.minimum.reduceat(ps, starts),
            "max_proba": np.maximum.reduceat(ps, starts),
            "count": cnt,
            "bads": bad,
            "expected_bads": exp,
            "mean_predicted": mean_p,
            "observed_rate": obs,
            "difference": obs - mean_p,
        }
    )


def brier_score(y: Any, proba: Any, sample_weight: Any = None) -> float:
    """Mean squared error of the predicted probability: ``sum w (p - y)^2 / sum w``.

    >>> round(brier_score([0, 1], [0.2, 0.6]), 6)
    0.1
    """
    yy, p, w = _prepare(y, proba, sample_weight, need_both=False)
    _check_proba(p)
    return float(np.dot(w, (p - yy) ** 2) / w.sum())


class HosmerLemeshow(NamedTuple):
    """Hosmer-Lemeshow goodness-of-fit: statistic, degrees of freedom, p-value."""

    statistic: float
    dof: int
    p_value: float


def hosmer_lemeshow(
    y: Any, proba: Any, sample_weight: Any = None, *, bins: int = 10
) -> HosmerLemeshow:
    """Hosmer-Lemeshow statistic over the bins of :func:`calibration_table`.

    ``H = sum_g (O_g - E_g)^2 / (E_g (1 - E_g / N_g))`` with ``O_g`` observed bads,
    ``E_g`` expected bads and ``N_g`` records in bin ``g``; compared with a chi-square
    distribution with ``G - 2`` degrees of freedom. A small p-value (< 0.05) says the
    probabilities are miscalibrated. With weights, N_g are weighted counts (the test
    then is approximate). On a very large sample even tiny deviations are significant:
    read it alongside the calibration table.
    """
    from scipy.stats import chi2  # scipy is heavy: loaded only here

    table = calibration_table(y, proba, sample_weight, bins=bins)
    n = table["count"].to_numpy()
    o = table["bads"].to_numpy()
    e = table["expected_bads"].to_numpy()
    denom = e * (1.0 - e / n)
    with np.errstate(invalid="ignore", divide="ignore"):
        terms = np.where(denom > 0, (o - e) ** 2 / denom, 0.0)
    stat = float(terms.sum())
    dof = max(int(n.shape[0]) - 2, 1)
    return HosmerLemeshow(stat, dof, float(chi2.sf(stat, dof)))


# --------------------------------------------------------------------------- stability


def psi_interpretation(value: float) -> str:
    """``"stable"`` (< 0.1), ``"moderate shift"`` (0.1 - 0.25) or ``"significant shift"``.

    >>> psi_interpretation(0.05), psi_interpretation(0.1), psi_interpretation(0.3)
    ('stable', 'moderate shift', 'significant shift')
    """
    if value < PSI_STABLE:
        return "stable"
    if value < PSI_SIGNIFICANT:
        return "moderate shift"
    return "significant shift"


def _is_numeric(arr: npt.NDArray[Any]) -> bool:
    return arr.dtype.kind in "biuf"


def _weighted_quantiles(
    x: FloatArray, w: FloatArray, qs: FloatArray, *, cut: bool = False
) -> FloatArray:
    """Smallest ``x`` whose cumulative weight share reaches ``q`` (the inverted CDF).

    With ``cut`` the smallest ``x`` whose share *before* it is at least ``q``: the cut
    point ``c`` such that a share ``q`` lies below ``c`` (bins are ``[lower, upper)``).
    """
    order = np.argsort(x, kind="stable")
    xs, cw = x[order], np.cumsum(w[order])
    pos = np.searchsorted(cw, qs * cw[-1], side="right" if cut else "left")
    return np.asarray(xs[np.minimum(pos, xs.shape[0] - 1)], dtype=np.float64)


def psi_table(
    expected: Any,
    actual: Any,
    bins: int | Sequence[float] = 10,
    *,
    expected_weight: Any = None,
    actual_weight: Any = None,
    epsilon: float = 1e-4,
) -> pl.DataFrame:
    """The per-bin contributions of :func:`psi`.

    Numeric values: ``bins`` quantile bins of ``expected`` (or explicit cut points
    ``e1 < ... < ek`` giving ``< e1``, ``[e1, e2)``, ..., ``>= ek``); NaN / null go to a
    ``(missing)`` bin. Non-numeric values (strings, categories, booleans): one bin per
    value seen in either sample. Columns: ``bin``, ``expected_count``, ``actual_count``,
    ``expected_share``, ``actual_share``, ``psi`` (this bin's term). Shares below
    ``epsilon`` are raised to ``epsilon`` inside the logarithm so an empty bin gives a
    large but finite term.
    """
    e_raw, a_raw = _to_numpy(expected, "expected"), _to_numpy(actual, "actual")
    we = _as_weight(expected_weight, e_raw.shape[0])
    wa = _as_weight(actual_weight, a_raw.shape[0])
    if e_raw.shape[0] == 0 or a_raw.shape[0] == 0:
        msg = "expected and actual must not be empty"
        raise ValueError(msg)
    labels: list[str]
    if _is_numeric(e_raw) and _is_numeric(a_raw) and e_raw.dtype != np.bool_:
        e = e_raw.astype(np.float64)
        a = a_raw.astype(np.float64)
        e_ok, a_ok = ~np.isnan(e), ~np.isnan(a)
        if isinstance(bins, int):
            if bins < 1:
                msg = "bins must be at least 1"
                raise ValueError(msg)
            if e_ok.any():
                qs = np.arange(1, bins, dtype=np.float64) / bins
                edges = np.unique(_weighted_quantiles(e[e_ok], we[e_ok], qs, cut=True))
                # a cut at the minimum would leave the first bin empty
                edges = edges[edges > e[e_ok].min()]
            else:
                edges = np.empty(0)
        else:
            edges = np.asarray(sorted({float(b) for b in bins}), dtype=np.float64)
        k = edges.shape[0] + 1
        ie = np.where(e_ok, np.searchsorted(edges, np.where(e_ok, e, 0.0), side="right"), k)
        ia = np.where(a_ok, np.searchsorted(edges, np.where(a_ok, a, 0.0), side="right"), k)
        if k == 1:
            labels = ["all"]
        else:
            labels = [f"< {_fmt(edges[0])}"]
            labels += [f"[{_fmt(x)}, {_fmt(z)})" for x, z in itertools.pairwise(edges)]
            labels.append(f">= {_fmt(edges[-1])}")
        labels.append(MISSING_LABEL)
        ec = np.bincount(ie, weights=we, minlength=k + 1)
        ac = np.bincount(ia, weights=wa, minlength=k + 1)
        if ec[k] == 0 and ac[k] == 0:
            ec, ac, labels = ec[:k], ac[:k], labels[:k]
    else:
        es = np.array([MISSING_LABEL if v is None else str(v) for v in e_raw.tolist()])
        as_ = np.array([MISSING_LABEL if v is None else str(v) for v in a_raw.tolist()])
        cats, inv = np.unique(np.concatenate((es, as_)), return_inverse=True)
        ie, ia = inv[: es.shape[0]], inv[es.shape[0] :]
        ec = np.bincount(ie, weights=we, minlength=cats.shape[0])
        ac = np.bincount(ia, weights=wa, minlength=cats.shape[0])
        labels = [str(c) for c in cats.tolist()]
    es_ = ec / ec.sum()
    as2 = ac / ac.sum()
    ef, af = np.maximum(es_, epsilon), np.maximum(as2, epsilon)
    term = (af - ef) * np.log(af / ef)
    return pl.DataFrame(
        {
            "bin": labels,
            "expected_count": ec,
            "actual_count": ac,
            "expected_share": es_,
            "actual_share": as2,
            "psi": term,
        }
    )


def psi(
    expected: Any,
    actual: Any,
    bins: int | Sequence[float] = 10,
    *,
    expected_weight: Any = None,
    actual_weight: Any = None,
    epsilon: float = 1e-4,
) -> float:
    """Population stability index of ``actual`` against ``expected`` (the reference).

    ``PSI = sum_i (a_i - e_i) ln(a_i / e_i)`` over bins, ``e_i``/``a_i`` the shares of the
    two samples in bin ``i`` (see :func:`psi_table` for the binning). Below 0.1 stable,
    0.1-0.25 a moderate shift, 0.25 and above a significant shift
    (:func:`psi_interpretation`). Direction-free: no ``higher_is_riskier`` needed.

    >>> round(psi([1, 1, 2, 2], [1, 2, 2, 2], bins=[1.5]), 4)
    0.2747
    """
    table = psi_table(
        expected,
        actual,
        bins,
        expected_weight=expected_weight,
        actual_weight=actual_weight,
        epsilon=epsilon,
    )
    return float(table["psi"].sum())


# --------------------------------------------------------------------------- frames


def _to_frame(x: Any) -> pl.DataFrame:
    """A Polars frame from Polars, pandas (if installed) or a 2-D array (``x0..xN``)."""
    if isinstance(x, pl.DataFrame):
        return x
    if isinstance(x, Mapping):
        return pl.DataFrame(dict(x))
    if type(x).__module__.startswith("pandas"):
        return pl.from_pandas(x)
    arr = np.asarray(x)
    if arr.ndim != 2:
        msg = f"X must be two-dimensional, got shape {arr.shape}"
        raise ValueError(msg)
    return pl.DataFrame({f"x{i}": arr[:, i] for i in range(arr.shape[1])})


def _column_values(frame: pl.DataFrame, name: str) -> npt.NDArray[Any]:
    col = frame[name]
    if col.dtype.is_numeric():
        return col.cast(pl.Float64).fill_null(float("nan")).to_numpy()
    return col.cast(pl.String).to_numpy()


def csi(
    expected: Any,
    actual: Any,
    binner: Any = None,
    *,
    columns: Sequence[str] | None = None,
    bins: int = 10,
    expected_weight: Any = None,
    actual_weight: Any = None,
) -> pl.DataFrame:
    """Characteristic stability index: the PSI of each characteristic between two samples.

    With a fitted ``binner`` (anything with ``transform`` and ``columns_``, e.g. the
    workbench ``Binner``) the characteristic's own bins are compared: both samples are
    transformed to WoE and each distinct WoE value is one bin. Without one, numeric
    columns get ``bins`` quantile bins of ``expected`` and other columns one bin per
    value. Returns ``feature``, ``csi``, ``interpretation``, sorted by ``csi`` descending.
    """
    ef, af = _to_frame(expected), _to_frame(actual)
    rows: list[tuple[str, float]] = []
    if binner is not None:
        names = list(columns) if columns is not None else list(binner.columns_)
        ew = np.asarray(binner.transform(ef), dtype=np.float64)
        aw = np.asarray(binner.transform(af), dtype=np.float64)
        index = {c: i for i, c in enumerate(binner.columns_)}
        for name in names:
            i = index[name]
            rows.append(
                (
                    name,
                    psi(
                        ew[:, i].round(10).astype(str),
                        aw[:, i].round(10).astype(str),
                        expected_weight=expected_weight,
                        actual_weight=actual_weight,
                    ),
                )
            )
    else:
        names = list(columns) if columns is not None else [c for c in ef.columns if c in af.columns]
        for name in names:
            rows.append(
                (
                    name,
                    psi(
                        _column_values(ef, name),
                        _column_values(af, name),
                        bins,
                        expected_weight=expected_weight,
                        actual_weight=actual_weight,
                    ),
                )
            )
    return pl.DataFrame(
        {
            "feature": [r[0] for r in rows],
            "csi": [r[1] for r in rows],
            "interpretation": [psi_interpretation(r[1]) for r in rows],
        },
        schema={"feature": pl.String, "csi": pl.Float64, "interpretation": pl.String},
    ).sort("csi", descending=True, maintain_order=True)


# --------------------------------------------------------------------------- bundles


def evaluate(
    y: Any,
    score: Any,
    proba: Any = None,
    *,
    higher_is_riskier: bool = True,
    sample_weight: Any = None,
    bins: int = 10,
    bands: Sequence[float] | None = None,
    max_curve_points: int | None = 1000,
) -> dict[str, Any]:
    """Every metric of one sample in a dict.

    Scalars (plain ``float``/``int``, JSON-ready): ``n``, ``weight``, ``bads``,
    ``bad_rate``, ``auc``, ``gini``, ``ks``, ``ks_threshold``, ``higher_is_riskier``;
    with ``proba`` also ``brier``, ``hosmer_lemeshow`` (statistic, dof, p_value) and
    ``mean_predicted``. Tables (Polars): ``gains`` (= lift table), ``roc``, ``ks_curve``
    (thinned to ``max_curve_points``), ``bad_rate_by_band`` when ``bands`` are given,
    ``calibration`` with ``proba``.
    """
    yy, s, w = _prepare(y, score, sample_weight)
    kw: dict[str, Any] = {"higher_is_riskier": higher_is_riskier}
    k = ks(yy, s, w, **kw)
    a = auc(yy, s, w, **kw)
    bads = float(np.dot(w, yy))
    out: dict[str, Any] = {
        "n": int(yy.shape[0]),
        "weight": float(w.sum()),
        "bads": bads,
        "bad_rate": bads / float(w.sum()),
        "higher_is_riskier": higher_is_riskier,
        "auc": a,
        "gini": 2.0 * a - 1.0,
        "ks": k.statistic,
        "ks_threshold": k.threshold,
        "gains": gains_table(yy, s, w, bins=bins, **kw),
        "roc": roc_curve(yy, s, w, max_points=max_curve_points, **kw),
        "ks_curve": ks_curve(yy, s, w, max_points=max_curve_points, **kw),
    }
    if bands is not None:
        out["bad_rate_by_band"] = bad_rate_by_band(yy, s, bands, w)
    if proba is not None:
        p = _as_float(proba, "proba")
        out["calibration"] = calibration_table(yy, p, w, bins=bins)
        out["brier"] = brier_score(yy, p, w)
        hl = hosmer_lemeshow(yy, p, w, bins=bins)
        out["hosmer_lemeshow"] = {"statistic": hl.statistic, "dof": hl.dof, "p_value": hl.p_value}
        out["mean_predicted"] = float(np.dot(w, p) / w.sum())
    return out


@dataclass(frozen=True)
class Sample:
    """One evaluation sample (train, test, out-of-time...): outcomes, scores, probabilities."""

    y: Any
    score: Any
    proba: Any = None
    sample_weight: Any = None


def evaluate_samples(
    samples: Mapping[str, Sample],
    *,
    reference: str | None = None,
    higher_is_riskier: bool = True,
    bins: int = 10,
    bands: Sequence[float] | None = None,
    max_curve_points: int | None = 1000,
) -> dict[str, Any]:
    """:func:`evaluate` on each sample plus the score PSI of each against ``reference``.

    ``reference`` defaults to the first sample (usually ``"train"``). Returns
    ``{"samples": {name: evaluate(...)}, "summary": DataFrame}``; the summary has one
    row per sample: ``sample``, ``n``, ``bad_rate``, ``auc``, ``gini``, ``ks``,
    ``ks_threshold``, ``psi`` (score PSI vs the reference, 0 for itself),
    ``psi_interpretation``.
    """
    if not samples:
        msg = "samples must not be empty"
        raise ValueError(msg)
    ref = reference if reference is not None else next(iter(samples))
    if ref not in samples:
        msg = f"reference sample {ref!r} is not among the samples"
        raise ValueError(msg)
    results = {
        name: evaluate(
            smp.y,
            smp.score,
            smp.proba,
            higher_is_riskier=higher_is_riskier,
            sample_weight=smp.sample_weight,
            bins=bins,
            bands=bands,
            max_curve_points=max_curve_points,
        )
        for name, smp in samples.items()
    }
    r = samples[ref]
    psis = {
        name: psi(
            r.score,
            smp.score,
            bins,
            expected_weight=r.sample_weight,
            actual_weight=smp.sample_weight,
        )
        for name, smp in samples.items()
    }
    summary = pl.DataFrame(
        {
            "sample": list(results),
            "n": [results[n]["n"] for n in results],
            "bad_rate": [results[n]["bad_rate"] for n in results],
            "auc": [results[n]["auc"] for n in results],
            "gini": [results[n]["gini"] for n in results],
            "ks": [results[n]["ks"] for n in results],
            "ks_threshold": [results[n]["ks_threshold"] for n in results],
            "psi": [psis[n] for n in results],
            "psi_interpretation": [psi_interpretation(psis[n]) for n in results],
        }
    )
    return {"samples": results, "summary": summary, "reference": ref}

