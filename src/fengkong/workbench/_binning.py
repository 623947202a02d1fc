"""Optimal binning of characteristics against a binary target (WoE, IV, monotonic trends).

Pre-bins (weighted quantiles, or the categories ordered by event rate) are merged by an
exact dynamic programme over contiguous partitions: the partition with the largest
information value whose event rates follow the trend (ascending, descending, peak,
valley or none), with at most ``max_bins`` bins, each holding at least ``min_bin_share``
of the records and ``min_bads`` bads. Missing values and declared special values get bins
of their own. WoE follows Siddiqi: ``ln(share of goods / share of bads)``, higher is
better; IV is ``sum((g% - b%) * WoE)``.
"""

from __future__ import annotations

import itertools
import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any, Literal

import numpy as np
import polars as pl
from sklearn.base import BaseEstimator, TransformerMixin
from sklearn.utils.validation import check_is_fitted, validate_data

from fengkong.workbench._summary import (
    BinSummary,
    FloatArray,
    Special,
    Table,
    merge_summaries,
    specials_for,
    summarize,
    target_weights,
    to_table,
)

Trend = Literal["auto", "ascending", "descending", "peak", "valley", "none"]
TRENDS = ("auto", "ascending", "descending", "peak", "valley", "none")
_PHASES: dict[str, tuple[int, ...]] = {"ascending": (1,), "descending": (-1,), "peak": (1, -1),
                                       "valley": (-1, 1), "none": (0,)}
#: ``auto`` prefers a monotonic trend unless peak/valley adds this share of IV.
AUTO_SHAPE_GAIN = 0.10
IntArray = np.ndarray[Any, np.dtype[np.int64]]


def woe_iv(goods: FloatArray, bads: FloatArray, total_goods: float,
           total_bads: float) -> tuple[FloatArray, FloatArray]:
    """WoE and IV per cell, with a 0.5 pseudo-count for an empty side; empty cells get 0."""
    g = np.asarray(goods, dtype=np.float64)
    b = np.asarray(bads, dtype=np.float64)
    tg, tb = max(total_goods, 0.5), max(total_bads, 0.5)
    with np.errstate(divide="ignore", invalid="ignore"):
        gs = np.where(g > 0, g, 0.5) / tg
        bs = np.where(b > 0, b, 0.5) / tb
        woe = np.log(gs / bs)
        iv = (g / tg - b / tb) * woe
    empty = (g + b) <= 0
    return np.where(empty, 0.0, woe), np.where(empty, 0.0, iv)


def optimal_partition(goods: FloatArray, bads: FloatArray, *, total_goods: float,
                      total_bads: float, trend: str, max_bins: int, min_count: float,
                      min_bads: float) -> tuple[list[int], float]:
    """The best contiguous partition of pre-bins: (inner boundaries, IV of the normal bins).

    Exact: a dynamic programme over (bins used, trend phase, last bin) keeps, for every
    last bin, the best partition before it whose last event rate allows the next bin.
    With no feasible partition, one bin.
    """
    m = len(goods)
    if m <= 1:
        return [], float(woe_iv(goods, bads, total_goods, total_bads)[1].sum())
    dirs = _PHASES[trend]
    cg = np.concatenate([[0.0], np.cumsum(goods)])
    cb = np.concatenate([[0.0], np.cumsum(bads)])
    gg = cg[None, :] - cg[:, None]
    bb = cb[None, :] - cb[:, None]
    cnt = gg + bb
    ii, jj = np.indices((m + 1, m + 1))
    valid = (jj > ii) & (cnt >= min_count - 1e-9) & (bb >= min_bads - 1e-9)
    _, ivc = woe_iv(np.maximum(gg, 0), np.maximum(bb, 0), total_goods, total_bads)
    iv = np.where(valid, ivc, -np.inf)
    with np.errstate(divide="ignore", invalid="ignore"):
        rate = np.where(cnt > 0, bb / np.where(cnt > 0, cnt, 1.0), 0.0)
    r_prev, r_next = rate[:, :, None], rate[None, :, :]
    masks = {1: r_next > r_prev, -1: r_next < r_prev,
             0: np.ones((m + 1, m + 1, m + 1), dtype=bool)}
    n_ph = len(dirs)
    value = np.full((n_ph, m + 1, m + 1), -np.inf)
    value[0, 0, :] = iv[0, :]
    hist: list[tuple[IntArray, IntArray]] = []
    best, best_at = -np.inf, (0, 0, 0)
    for p in range(n_ph):
        i = int(np.argmax(value[p, :, m]))
        if value[p, i, m] > best + 1e-12:
            best, best_at = float(value[p, i, m]), (1, p, i)
    for k in range(2, max(1, max_bins) + 1):
        new = np.full_like(value, -np.inf)
        arg_i = np.zeros((n_ph, m + 1, m + 1), dtype=np.int64)
        arg_p = np.zeros((n_ph, m + 1, m + 1), dtype=np.int64)
        for p2 in range(n_ph):
            cand = np.full((m + 1, m + 1), -np.inf)
            for p1 in (p2, p2 - 1):
                if p1 < 0 or not np.isfinite(value[p1]).any():
                    continue
                vals = np.where(masks[dirs[p2]], value[p1][:, :, None], -np.inf)
                a = np.argmax(vals, axis=0)
                v = np.take_along_axis(vals, a[None], axis=0)[0]
                better = v > cand
                cand = np.where(better, v, cand)
                arg_i[p2] = np.where(better, a, arg_i[p2])
                arg_p[p2] = np.where(better, p1, arg_p[p2])
            new[p2] = cand + iv
        value = new
        hist.append((arg_i, arg_p))
        if not np.isfinite(value).any():
            break
        for p in range(n_ph):
            i = int(np.argmax(value[p, :, m]))
            if value[p, i, m] > best + 1e-12:
                best, best_at = float(value[p, i, m]), (k, p, i)
    if not np.isfinite(best):
        return [], float(woe_iv(goods, bads, total_goods, total_bads)[1].sum())
    k, p, i = best_at
    j = m
    cuts: list[int] = []
    while k > 1:
        arg_i, arg_p = hist[k - 2]
        cuts.append(i)
        i, p, j = int(arg_i[p, i, j]), int(arg_p[p, i, j]), i
        k -= 1
    return sorted(cuts), best


@dataclass(frozen=True, slots=True, eq=False)
class ColumnBins:
    """The fitted bins of one characteristic (internal layout, see ``Binner.bins_``).

    Bin codes: normal bins ``0..n-1``; for categorical columns the ``other`` bin next;
    then one bin per special value; the missing bin last.
    """

    column: str
    kind: Literal["numeric", "categorical"]
    dtype: str
    cuts: tuple[float, ...]
    groups: tuple[tuple[str, ...], ...]
    other_categories: tuple[str, ...]
    special_values: tuple[Special, ...]
    woe: FloatArray
    trend: str

    @property
    def n_normal(self) -> int:
        """Number of normal bins."""
        return len(self.cuts) + 1 if self.kind == "numeric" else len(self.groups)

    @property
    def other_code(self) -> int:
        """Code of the ``other`` bin (categorical), else of the first special bin."""
        return self.n_normal

    @property
    def special_start(self) -> int:
        """Code of the first special-value bin."""
        return self.n_normal + (1 if self.kind == "categorical" else 0)

    @property
    def missing_code(self) -> int:
        """Code of the missing bin."""
        return self.special_start + len(self.special_values)

    def codes_numeric(self, x: FloatArray) -> IntArray:
        """Bin code of each value."""
        idx = np.searchsorted(np.asarray(self.cuts, dtype=np.float64), x, side="right")
        idx = idx.astype(np.int64, copy=False)
        for k, s in enumerate(self.special_values):
            idx[x == s] = self.special_start + k
        nan = np.isnan(x)
        if nan.any():
            idx[nan] = self.missing_code
        return idx

    def codes_categorical(self, s: pl.Series) -> IntArray:
        """Bin code of each category (unseen ones go to ``other``)."""
        mapping: dict[str, int] = {}
        for code, group in enumerate(self.groups):
            for c in group:
                mapping[c] = code
        for c in self.other_categories:
            mapping[c] = self.other_code
        for k, v in enumerate(self.special_values):
            mapping[str(v)] = self.special_start + k
        out = s.cast(pl.String).replace_strict(
            list(mapping), list(mapping.values()), default=self.other_code,
            return_dtype=pl.Int64)
        codes = out.fill_null(self.missing_code).to_numpy().astype(np.int64)
        if s.null_count():
            codes[s.is_null().to_numpy()] = self.missing_code
        return codes


def format_number(v: float) -> str:
    """A bound as cell text that reads back to the same float (whole numbers without .0)."""
    if math.isinf(v):
        return "inf" if v > 0 else "-inf"
    if float(v).is_integer() and abs(v) < 2**53:
        return str(int(v))
    return repr(float(v))


def quote(category: str) -> str:
    """A category as a quoted cell item."""
    if "'" not in category:
        return f"'{category}'"
    if '"' not in category:
        return f'"{category}"'
    msg = f"Category {category!r} holds both quote characters; a scorecard cell cannot name it."
    raise ValueError(msg)


def numeric_labels(cuts: Sequence[float]) -> list[str]:
    """Cell texts of numeric bins: ``< a``, ``[a..b)``, ``>= b``."""
    if not cuts:
        return [">= -inf"]
    f = [format_number(c) for c in cuts]
    return [f"< {f[0]}", *(f"[{a}..{b})" for a, b in itertools.pairwise(f)),
            f">= {f[-1]}"]


def _per_column(value: Any, column: str, default: Any) -> Any:
    if isinstance(value, Mapping):
        return value.get(column, default)
    return value


class Binner(TransformerMixin, BaseEstimator):  # type: ignore[misc]
    """Optimal binning of numeric and categorical characteristics; transform gives WoE.

    Parameters
    ----------
    columns
        Columns to bin (default: all).
    categorical
        Columns to treat as categories (default: text, categorical and enum columns).
    monotonic
        Event-rate trend across bins: ``auto`` (ascending or descending, peak or valley
        only when it adds ``AUTO_SHAPE_GAIN`` of IV), ``ascending``, ``descending``,
        ``peak``, ``valley`` or ``none``; or a dict per column.
    max_bins
        Most normal bins per characteristic (missing and special bins come on top), or
        a dict per column (8 for columns it does not name).
    min_bin_share
        Smallest share of the (weighted) records in a normal bin.
    min_bads
        Fewest (weighted) bads in a normal bin.
    prebins
        Number of quantile pre-bins the optimiser merges.
    special_values
        Values scored in bins of their own (e.g. ``(-999, -1)``), or a dict per column.
    strong_iv
        Characteristics with IV at or above this are flagged in ``flags_`` (never dropped).
    min_iv
        Characteristics below this IV are flagged as weak (a scorecard leaves them out).
    min_category_share
        Categories rarer than this go to the ``other`` bin.
    n_jobs
        Threads for the per-column summaries.
    """

    def __init__(self, *, columns: Sequence[str] | None = None,
                 categorical: Sequence[str] | None = None,
                 monotonic: str | Mapping[str, str] = "auto",
                 max_bins: int | Mapping[str, int] = 8,
                 min_bin_share: float = 0.05, min_bads: float = 5.0, prebins: int = 20,
                 special_values: Sequence[Special] | Mapping[str, Sequence[Special]] = (),
                 strong_iv: float = 0.5, min_iv: float | None = None,
                 min_category_share: float = 0.005, n_jobs: int = 2) -> None:
        self.columns = columns
        self.categorical = categorical
        self.monotonic = monotonic
        self.max_bins = max_bins
        self.min_bin_share = min_bin_share
        self.min_bads = min_bads
        self.prebins = prebins
        self.special_values = special_values
        self.strong_iv = strong_iv
        self.min_iv = min_iv
        self.min_category_share = min_category_share
        self.n_jobs = n_jobs

    def __sklearn_tags__(self) -> Any:
        tags = super().__sklearn_tags__()
        tags.input_tags.allow_nan = True
        tags.target_tags.required = True
        return tags

    # -- input -------------------------------------------------------------------------
    def _table(self, X: Any, y: Any = None, *, reset: bool) -> Table:
        if isinstance(X, pl.DataFrame) or (type(X).__module__.startswith("pandas")
                                           and hasattr(X, "columns")):
            names = [str(c) for c in X.columns]
            if reset:
                self.feature_names_in_ = np.asarray(names, dtype=object)
                self.n_features_in_ = len(names)
                cols = list(self.columns) if self.columns is not None else names
            else:
                cols = list(self.columns_)
                missing = [c for c in cols if c not in names]
                if missing:
                    msg = f"X lacks the fitted columns {missing}."
                    raise ValueError(msg)
            return to_table(X, cols, self.categorical)
        if y is not None:
            X, _ = validate_data(self, X, y, ensure_all_finite="allow-nan", dtype=np.float64,
                                 reset=reset)
        else:
            X = validate_data(self, X, ensure_all_finite="allow-nan", dtype=np.float64,
                              reset=reset)
        names = [f"x{i}" for i in range(X.shape[1])]
        table = to_table(X, names)
        if self.columns is not None and reset:
            keep = [c for c in self.columns if c in names]
            table = Table(keep, {c: table.numeric[c] for c in keep}, {}, table.dtypes, table.n)
        if not reset:
            keep = list(self.columns_)
            table = Table(keep, {c: table.numeric[c] for c in keep}, {}, table.dtypes, table.n)
        return table

    # -- fitting -------------------------------------------------------------------------
    def summarize(self, X: Any, y: Any, sample_weight: Any = None, *,
                  edges: Mapping[str, Sequence[float]] | None = None) -> dict[str, BinSummary]:
        """Mergeable summaries of one chunk (pre-bin edges from the data unless given)."""
        if y is None:
            msg = "requires y to be passed, but the target y is None"
            raise ValueError(msg)
        table = self._table(X, y, reset=True)
        wg, wb = target_weights(y, sample_weight, table.n)
        return summarize(table, wg, wb, prebins=self.prebins,
                         special_values=self.special_values, edges=edges,
                         threads=max(1, self.n_jobs))

    def fit(self, X: Any, y: Any, sample_weight: Any = None) -> Binner:
        """Bin every column of ``X`` against ``y`` (1 = bad)."""
        self._fit_table(X, y, sample_weight)
        return self

    def _fit_table(self, X: Any, y: Any, sample_weight: Any,
                   codes_out: dict[str, np.ndarray[Any, Any]] | None = None) -> Table:
        """Fit (summaries, then the optimiser) and return the table read from ``X``.

        ``codes_out`` receives the pre-bin codes of the numeric columns, for
        :meth:`_woe_table`.
        """
        self._check_params()
        if y is None:
            msg = "requires y to be passed, but the target y is None"
            raise ValueError(msg)
        table = self._table(X, y, reset=True)
        wg, wb = target_weights(y, sample_weight, table.n)
        summaries = summarize(table, wg, wb, prebins=self.prebins,
                              special_values=self.special_values,
                              threads=max(1, self.n_jobs), codes_out=codes_out)
        self._fit_summaries(summaries)
        if codes_out is not None:  # pre-bin code -> fitted bin code, per numeric column
            self._prebin_lut = {c: self._prebin_map(summaries[c]) for c in codes_out}
        return table

    def _prebin_map(self, s: BinSummary) -> IntArray:
        bins = self.bins_[s.column]
        edges = np.asarray(s.edges, dtype=np.float64)
        lower = np.concatenate([[-np.inf], edges])  # lower edge of each pre-bin
        normal = np.searchsorted(np.asarray(bins.cuts, dtype=np.float64), lower, side="right")
        specials = bins.special_start + np.arange(len(s.special_values))
        return np.concatenate([normal, [bins.missing_code], specials]).astype(np.int64)

    def fit_summaries(self, summaries: Mapping[str, BinSummary]
                      | Sequence[Mapping[str, BinSummary]]) -> Binner:
        """Fit from per-column summaries, or from a list of per-chunk summaries (merged)."""
        self._check_params()
        merged = (dict(summaries) if isinstance(summaries, Mapping)
                  else merge_summaries(list(summaries)))
        if not hasattr(self, "n_features_in_"):
            self.n_features_in_ = len(merged)
            self.feature_names_in_ = np.asarray(list(merged), dtype=object)
        return self._fit_summaries(merged)

    def _check_params(self) -> None:
        max_bins = self.max_bins.values() if isinstance(self.max_bins, Mapping) else [self.max_bins]
        if any(m < 1 for m in max_bins) or self.prebins < 1:
            msg = "max_bins and prebins must be at least 1."
            raise ValueError(msg)
        if not 0 <= self.min_bin_share < 1:
            msg = "min_bin_share must be in [0, 1)."
            raise ValueError(msg)
        trends = self.monotonic.values() if isinstance(self.monotonic, Mapping) else [self.monotonic]
        for t in trends:
            if t not in TRENDS:
                msg = f"monotonic must be one of {', '.join(TRENDS)}; got {t!r}."
                raise ValueError(msg)

    def _fit_summaries(self, summaries: Mapping[str, BinSummary]) -> Binner:
        self.columns_ = list(summaries)
        self.bins_: dict[str, ColumnBins] = {}
        self.bin_tables_: dict[str, pl.DataFrame] = {}
        self.iv_: dict[str, float] = {}
        self.trends_: dict[str, str] = {}
        self.flags_: dict[str, list[str]] = {}
        self.dtypes_: dict[str, str] = {}
        for name, s in summaries.items():
            bins = self._fit_column(s)
            table = self._bin_table(s, bins)
            self.bins_[name] = bins
            self.bin_tables_[name] = table
            self.iv_[name] = float(table["iv"].sum())
            self.trends_[name] = bins.trend
            self.dtypes_[name] = s.dtype
            flags: list[str] = []
            iv = self.iv_[name]
            if iv >= self.strong_iv:
                flags.append(f"strong-predictor: IV {iv:.2f} >= {self.strong_iv:g}, "
                             "check for leakage")
            if self.min_iv is not None and iv < self.min_iv:
                flags.append(f"weak: IV {iv:.4f} < {self.min_iv:g}")
            if bins.n_normal == 1:
                flags.append("single-bin: no split meets the constraints")
            self.flags_[name] = flags
        return self

    def _fit_column(self, s: BinSummary) -> ColumnBins:
        total_g = float(s.goods.sum() + s.missing_goods + s.special_goods.sum())
        total_b = float(s.bads.sum() + s.missing_bads + s.special_bads.sum())
        total = total_g + total_b
        max_bins = int(_per_column(self.max_bins, s.column, 8))
        min_count = float(self.min_bin_share) * total
        min_bads = float(self.min_bads)
        if s.kind == "categorical":
            count = s.goods + s.bads
            rare = count < self.min_category_share * total
            if not np.any(~rare & (count > 0)):  # all rare: keep them as categories
                rare = count <= 0
            idx = np.flatnonzero(~rare & (count > 0))
            with np.errstate(divide="ignore", invalid="ignore"):
                rate = s.bads[idx] / count[idx]
            order = idx[np.lexsort((np.asarray(s.categories, dtype=object)[idx].astype(str), rate))]
            cuts, _ = optimal_partition(s.goods[order], s.bads[order], total_goods=total_g,
                                        total_bads=total_b, trend="ascending",
                                        max_bins=max_bins, min_count=min_count,
                                        min_bads=min_bads)
            bounds = [0, *cuts, len(order)]
            groups = tuple(tuple(s.categories[k] for k in order[a:b])
                           for a, b in itertools.pairwise(bounds) if b > a)
            other = tuple(s.categories[k] for k in np.flatnonzero(rare | (count <= 0)))
            gb = [(float(s.goods[order[a:b]].sum()), float(s.bads[order[a:b]].sum()))
                  for a, b in itertools.pairwise(bounds) if b > a]
            other_gb = (float(s.goods[rare].sum()), float(s.bads[rare].sum()))
            goods = np.array([g for g, _ in gb] + [other_gb[0]] + list(s.special_goods)
                             + [s.missing_goods])
            bads = np.array([b for _, b in gb] + [other_gb[1]] + list(s.special_bads)
                            + [s.missing_bads])
            woe, _ = woe_iv(goods, bads, total_g, total_b)
            return ColumnBins(s.column, "categorical", s.dtype, (), groups, other,
                              s.special_values, woe, "categorical")
        # numeric: drop empty pre-bins (their edges carry no information)
        g, b, edges = s.goods, s.bads, list(s.edges)
        keep_edge = [k for k in range(len(edges)) if (g[k] + b[k]) > 0]
        nonempty = [k for k in range(len(g)) if (g[k] + b[k]) > 0]
        if nonempty:
            # boundary between consecutive non-empty pre-bins: the edge just below the upper one
            kept = [edges[k - 1] for k in nonempty[1:]]
            g2, b2 = g[nonempty], b[nonempty]
        else:
            kept, g2, b2 = [], g[:1], b[:1]
        del keep_edge
        trend = str(_per_column(self.monotonic, s.column, "auto"))
        if trend == "auto":
            trend, cuts = self._auto(g2, b2, total_g, total_b, max_bins, min_count, min_bads)
        else:
            cuts, _ = optimal_partition(g2, b2, total_goods=total_g, total_bads=total_b,
                                        trend=trend, max_bins=max_bins, min_count=min_count,
                                        min_bads=min_bads)
        cut_values = tuple(float(kept[c - 1]) for c in cuts)
        bounds = [0, *cuts, len(g2)]
        goods = np.array([g2[a:bb].sum() for a, bb in itertools.pairwise(bounds)]
                         + list(s.special_goods) + [s.missing_goods])
        bads = np.array([b2[a:bb].sum() for a, bb in itertools.pairwise(bounds)]
                        + list(s.special_bads) + [s.missing_bads])
        woe, _ = woe_iv(goods, bads, total_g, total_b)
        n_norm = len(cut_values) + 1
        if n_norm == 1:
            trend = "none"
        elif trend in ("peak", "valley"):
            with np.errstate(divide="ignore", invalid="ignore"):
                r = bads[:n_norm] / (goods[:n_norm] + bads[:n_norm])
            d = np.sign(np.diff(r))
            if np.all(d > 0):
                trend = "ascending"
            elif np.all(d < 0):
                trend = "descending"
        return ColumnBins(s.column, "numeric", s.dtype, cut_values, (), (), s.special_values,
                          woe, trend)

    @staticmethod
    def _auto(g: FloatArray, b: FloatArray, tg: float, tb: float, max_bins: int,
              min_count: float, min_bads: float) -> tuple[str, list[int]]:
        results = {t: optimal_partition(g, b, total_goods=tg, total_bads=tb, trend=t,
                                        max_bins=max_bins, min_count=min_count,
                                        min_bads=min_bads)
                   for t in ("ascending", "descending", "peak", "valley")}
        mono = max(("ascending", "descending"), key=lambda t: results[t][1])
        shape = max(("peak", "valley"), key=lambda t: results[t][1])
        if results[shape][1] > results[mono][1] * (1 + AUTO_SHAPE_GAIN) + 0.005:
            return shape, results[shape][0]
        return mono, results[mono][0]

    def _bin_table(self, s: BinSummary, bins: ColumnBins) -> pl.DataFrame:
        n_norm = bins.n_normal
        labels: list[str] = []
        kinds: list[str] = []
        lowers: list[float | None] = []
        uppers: list[float | None] = []
        cats: list[list[str] | None] = []
        goods: list[float] = []
        bads: list[float] = []
        if bins.kind == "numeric":
            labels += numeric_labels(bins.cuts)
            lo = [-math.inf, *bins.cuts]
            hi = [*bins.cuts, math.inf]
            lowers += [None if math.isinf(v) else v for v in lo]
            uppers += [None if math.isinf(v) else v for v in hi]
            cats += [None] * n_norm
            kinds += ["normal"] * n_norm
            edges = np.asarray(s.edges, dtype=np.float64)
            code = np.searchsorted(np.asarray(bins.cuts), edges, side="right") if edges.size \
                else np.zeros(0, dtype=np.int64)
            pre = np.concatenate([[0], code]) if edges.size else np.zeros(1, dtype=np.int64)
            goods += list(np.bincount(pre, weights=s.goods, minlength=n_norm)[:n_norm])
            bads += list(np.bincount(pre, weights=s.bads, minlength=n_norm)[:n_norm])
        else:
            index = {c: i for i, c in enumerate(s.categories)}
            for group in bins.groups:
                labels.append(",".join(quote(c) for c in group))
                kinds.append("normal")
                cats.append(list(group))
                pos = [index[c] for c in group]
                goods.append(float(s.goods[pos].sum()))
                bads.append(float(s.bads[pos].sum()))
            pos = [index[c] for c in bins.other_categories]
            labels.append("other")
            kinds.append("other")
            cats.append(list(bins.other_categories))
            goods.append(float(s.goods[pos].sum()) if pos else 0.0)
            bads.append(float(s.bads[pos].sum()) if pos else 0.0)
            lowers += [None] * (n_norm + 1)
            uppers += [None] * (n_norm + 1)
        for k, v in enumerate(bins.special_values):
            labels.append(str(v) if isinstance(v, str) else format_number(float(v)))
            kinds.append("special")
            lowers.append(None)
            uppers.append(None)
            cats.append(None)
            goods.append(float(s.special_goods[k]))
            bads.append(float(s.special_bads[k]))
        labels.append("missing")
        kinds.append("missing")
        lowers.append(None)
        uppers.append(None)
        cats.append(None)
        goods.append(s.missing_goods)
        bads.append(s.missing_bads)
        g, b = np.array(goods), np.array(bads)
        tg, tb = float(g.sum()), float(b.sum())
        woe, iv = woe_iv(g, b, tg, tb)
        count = g + b
        total = float(count.sum()) or 1.0
        with np.errstate(divide="ignore", invalid="ignore"):
            rate = np.where(count > 0, b / np.where(count > 0, count, 1.0), 0.0)
        return pl.DataFrame({
            "bin": labels, "kind": kinds,
            "lower": pl.Series(lowers, dtype=pl.Float64),
            "upper": pl.Series(uppers, dtype=pl.Float64),
            "categories": pl.Series(cats, dtype=pl.List(pl.String)),
            "count": count, "share": count / total, "goods": g, "bads": b,
            "event_rate": rate, "woe": woe, "iv": iv})

    # -- transform -----------------------------------------------------------------------
    def _codes(self, table: Table, name: str) -> IntArray:
        bins = self.bins_[name]
        if bins.kind == "categorical":
            if name in table.categorical:
                return bins.codes_categorical(table.categorical[name])
            s = pl.Series(table.numeric[name]).fill_nan(None).cast(pl.String)
            return bins.codes_categorical(s)
        if name in table.numeric:
            return bins.codes_numeric(table.numeric[name])
        msg = f"Column `{name}` was numeric when fitted; got text."
        raise TypeError(msg)

    def _per_column(self, table: Table, out: np.ndarray[Any, Any], *, woe: bool,
                    prebin_codes: Mapping[str, np.ndarray[Any, Any]] | None = None) -> None:
        def one(j: int) -> None:
            name = self.columns_[j]
            if woe and prebin_codes is not None and name in prebin_codes:
                lut = self.bins_[name].woe[self._prebin_lut[name]].astype(out.dtype)
                np.take(lut, prebin_codes[name], out=out[:, j])
                return
            codes = self._codes(table, name)
            if woe:
                np.take(self.bins_[self.columns_[j]].woe.astype(out.dtype), codes, out=out[:, j])
            else:
                out[:, j] = codes

        jobs = range(len(self.columns_))
        if self.n_jobs > 1 and len(self.columns_) > 1 and table.n >= 10_000:
            from concurrent.futures import ThreadPoolExecutor

            with ThreadPoolExecutor(self.n_jobs) as pool:
                list(pool.map(one, jobs))
        else:
            for j in jobs:
                one(j)

    def bin_codes(self, X: Any) -> IntArray:
        """The bin code of every value, shape (n, len(columns_)); see :class:`ColumnBins`."""
        check_is_fitted(self, "bins_")
        table = self._table(X, reset=False)
        out = np.empty((table.n, len(self.columns_)), dtype=np.int64, order="F")
        self._per_column(table, out, woe=False)
        return out

    def _woe_table(self, table: Table, dtype: type[np.floating[Any]] = np.float64,
                   prebin_codes: Mapping[str, np.ndarray[Any, Any]] | None = None,
                   ) -> np.ndarray[Any, Any]:
        out = np.empty((table.n, len(self.columns_)), dtype=dtype, order="F")
        self._per_column(table, out, woe=True, prebin_codes=prebin_codes)
        return out

    def transform(self, X: Any) -> FloatArray:
        """WoE of every value, shape (n, len(columns_))."""
        check_is_fitted(self, "bins_")
        out: FloatArray = self._woe_table(self._table(X, reset=False))
        return out

    def get_feature_names_out(self, input_features: Any = None) -> Any:
        """Names of the WoE columns (the binned columns)."""
        check_is_fitted(self, "bins_")
        return np.asarray(self.columns_, dtype=object)

    def special_values_of(self, column: str) -> tuple[Special, ...]:
        """The declared special values of ``column``."""
        return specials_for(self.special_values, column)
