"""Characteristic selection: information value, correlation, VIF and stability filters.

:class:`Selector` works on WoE-transformed characteristics (from a fitted ``Binner``, or
a WoE matrix you made yourself) and records in ``report_`` why each one was kept or
dropped. The filters run in this order, each on the survivors of the previous one:

1. **IV**: drop ``iv < min_iv``. Characteristics with ``iv >= strong_iv`` are *flagged*
   (possible leakage: check how the field is filled) and never dropped for being strong.
2. **Stability**: with ``time`` windows, the PSI of each window's WoE distribution
   against the first window; drop when the largest exceeds ``max_psi``.
3. **Correlation**: in order of decreasing IV, drop a characteristic whose absolute
   (weighted Pearson) correlation with an already kept one exceeds ``max_corr`` -- the
   weaker of each correlated pair goes.
4. **VIF**: while some VIF exceeds ``max_vif``, drop the one with the lowest IV among
   those above it, and recompute.

Any threshold set to ``None`` switches its filter off.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import numpy as np
import numpy.typing as npt
import polars as pl
from sklearn.base import BaseEstimator, TransformerMixin
from sklearn.utils import ClassifierTags
from sklearn.utils.validation import validate_data

from fengkong.workbench._metrics import _as_target, _as_weight, _to_frame, _to_numpy, psi

FloatArray = npt.NDArray[np.float64]

_MAX_CATEGORICAL = 64
"""A WoE column with at most this many distinct values is compared bin by bin in PSI."""


def information_value(woe: Any, y: Any, sample_weight: Any = None) -> float:
    """IV of one WoE-coded characteristic: each distinct value is a bin.

    ``IV = sum_i (g_i - b_i) ln(g_i / b_i)`` with ``g_i``/``b_i`` the bin's shares of all
    goods / bads, and a 0.5 pseudo-count in empty cells (the Binner's convention).

    >>> round(information_value([0.5, 0.5, 0.5, -0.7, -0.7, -0.7], [0, 0, 1, 1, 1, 0]), 6)
    0.462098
    """
    x = np.asarray(_to_numpy(woe, "woe"), dtype=np.float64)
    yy = _as_target(y)
    w = _as_weight(sample_weight, yy.shape[0])
    keep = w > 0  # a zero-weight row must not create a bin
    x, yy, w = x[keep], yy[keep], w[keep]
    _, inv = np.unique(x, return_inverse=True)
    goods = np.bincount(inv, weights=w * (1.0 - yy))
    bads = np.bincount(inv, weights=w * yy)
    empty = (goods == 0) | (bads == 0)
    goods = np.where(empty, goods + 0.5, goods)
    bads = np.where(empty, bads + 0.5, bads)
    g, b = goods / goods.sum(), bads / bads.sum()
    return float(np.sum((g - b) * np.log(g / b)))


def _is_frame(x: Any) -> bool:
    # a dict of columns is a frame, a scipy sparse DOK matrix (also a dict) is not
    return (
        isinstance(x, pl.DataFrame) or type(x) is dict or type(x).__module__.startswith("pandas")
    )


def _binary_target(y: Any) -> FloatArray:
    """0/1 from a two-valued target: the larger label is the event (sklearn's pos_label)."""
    arr = _to_numpy(y, "y")
    values = np.unique(arr)
    if values.shape[0] > 2:
        msg = "y must be binary: 1 = bad (event), 0 = good"
        raise ValueError(msg)
    if values.shape[0] == 2 and not set(values.tolist()) <= {0, 1}:
        return np.asarray(arr == values[1], dtype=np.float64)
    return _as_target(arr)


def _weighted_corr(x: FloatArray, w: FloatArray) -> FloatArray:
    mean = w @ x / w.sum()
    xc = x - mean
    cov = (xc * w[:, None]).T @ xc / w.sum()
    sd = np.sqrt(np.diag(cov))
    with np.errstate(invalid="ignore", divide="ignore"):
        corr = cov / np.outer(sd, sd)
    corr = np.where(np.isfinite(corr), corr, 0.0)
    np.fill_diagonal(corr, 1.0)
    return np.asarray(corr, dtype=np.float64)


def vif(x: Any, sample_weight: Any = None) -> FloatArray:
    """Variance inflation factors of the columns of ``x``: ``1 / (1 - R_j^2)``.

    ``R_j^2`` is from regressing column ``j`` on the others; computed as the diagonal of
    the inverse correlation matrix. ``inf`` for a column that is a linear combination of
    the others. Constant columns get 1.
    """
    arr = np.asarray(x, dtype=np.float64)
    if arr.ndim != 2:
        msg = "x must be two-dimensional"
        raise ValueError(msg)
    w = _as_weight(sample_weight, arr.shape[0])
    if arr.shape[1] == 1:
        return np.ones(1)
    corr = _weighted_corr(arr, w)
    try:
        if np.linalg.cond(corr) > 1e12:
            raise np.linalg.LinAlgError
        inv = np.linalg.inv(corr)
    except np.linalg.LinAlgError:
        inv = np.linalg.pinv(corr)
        out = np.diag(inv).copy()
        # columns in an exact linear dependence
        eigval, eigvec = np.linalg.eigh(corr)
        null = eigvec[:, eigval < 1e-10]
        out[np.abs(null).sum(axis=1) > 1e-8] = np.inf
        return np.asarray(out, dtype=np.float64)
    return np.asarray(np.diag(inv).copy(), dtype=np.float64)


def _window_psi(values: FloatArray, windows: npt.NDArray[Any], w: FloatArray) -> tuple[float, str]:
    """Largest PSI of any window against the first one, and the pair it came from."""
    labels = sorted({str(v) for v in windows.tolist()})
    if len(labels) < 2:
        return 0.0, ""
    win = np.array([str(v) for v in windows.tolist()])
    categorical = np.unique(values).shape[0] <= _MAX_CATEGORICAL
    base = win == labels[0]
    e = values[base]
    e = e.round(10).astype(str) if categorical else e
    best, pair = -1.0, ""
    for lab in labels[1:]:
        m = win == lab
        if not m.any():
            continue
        a = values[m]
        a = a.round(10).astype(str) if categorical else a
        p = psi(e, a, expected_weight=w[base], actual_weight=w[m])
        if p > best:
            best, pair = p, f"{labels[0]!r} and {lab!r}"
    return max(best, 0.0), pair


class Selector(TransformerMixin, BaseEstimator):  # type: ignore[misc]
    """Select characteristics by IV, stability, correlation and VIF, with a report.

    Parameters
    ----------
    min_iv
        Drop characteristics with IV below this (0.02: "unpredictive", Siddiqi).
    max_corr
        Of a pair with absolute correlation above this, drop the one with lower IV.
    max_vif
        Drop (lowest IV first) while a VIF exceeds this.
    max_psi
        Drop a characteristic whose PSI between time windows exceeds this.
    strong_iv
        Flag (never drop) characteristics with IV at or above this.

    Fitted attributes: ``features_in_`` (names considered), ``selected_`` (names kept, in
    input order), ``support_`` (boolean mask over ``features_in_``), ``iv_`` (name ->
    IV), ``report_`` (Polars: ``feature``, ``iv``, ``psi``, ``max_corr``, ``vif``,
    ``kept``, ``reason``, ``strong``), ``n_features_in_``.
    """

    def __init__(
        self,
        min_iv: float | None = 0.02,
        max_corr: float | None = 0.7,
        max_vif: float | None = 10.0,
        max_psi: float | None = 0.25,
        strong_iv: float | None = 0.5,
    ) -> None:
        self.min_iv = min_iv
        self.max_corr = max_corr
        self.max_vif = max_vif
        self.max_psi = max_psi
        self.strong_iv = strong_iv

    def fit(
        self,
        X: Any,
        y: Any = None,
        *,
        binner: Any = None,
        iv: Mapping[str, float] | Any = None,
        time: Any = None,
        sample_weight: Any = None,
    ) -> Selector:
        """Run the filters.

        ``X``: the WoE matrix/frame, or -- with ``binner`` (a fitted ``Binner``: has
        ``transform``, ``columns_`` and ``iv_``) -- the raw frame, transformed here.
        ``iv``: a mapping name -> IV, or a fitted Binner; otherwise ``binner.iv_``;
        otherwise computed from the WoE columns and ``y``. ``time``: one window label
        per row (month, quarter...) for the stability filter.
        """
        if binner is None and iv is not None and hasattr(iv, "iv_") and hasattr(iv, "transform"):
            iv_map: dict[str, float] | None = {str(k): float(v) for k, v in iv.iv_.items()}
        elif isinstance(iv, Mapping):
            iv_map = {str(k): float(v) for k, v in iv.items()}
        elif binner is not None:
            iv_map = {str(k): float(v) for k, v in binner.iv_.items()}
        else:
            iv_map = None
        if binner is not None:
            names = [str(c) for c in binner.columns_]
            woe = np.asarray(binner.transform(X), dtype=np.float64)
        elif _is_frame(X):
            frame = _to_frame(X)
            names = list(frame.columns)
            woe = frame.select(pl.all().cast(pl.Float64)).to_numpy()
        else:
            woe = np.asarray(validate_data(self, X, dtype=np.float64), dtype=np.float64)
            names = [f"x{i}" for i in range(woe.shape[1])]
        if woe.ndim != 2 or woe.shape[1] != len(names):
            msg = "X must be two-dimensional with one column per characteristic"
            raise ValueError(msg)
        if woe.shape[1] == 0 or woe.shape[0] == 0:
            msg = "X has no rows or no columns"
            raise ValueError(msg)
        if not np.all(np.isfinite(woe)):
            msg = "X contains NaN or infinite values (WoE columns never do)"
            raise ValueError(msg)
        n = woe.shape[0]
        w = _as_weight(sample_weight, n)
        if not w.sum() > 0:
            msg = "sample_weight sums to zero"
            raise ValueError(msg)
        if iv_map is None:
            if y is None:
                msg = "y is needed to compute IV (or pass iv= or binner=)"
                raise ValueError(msg)
            yy = _binary_target(y)
            if yy.shape[0] != n:
                msg = f"y has {yy.shape[0]} values for {n} rows"
                raise ValueError(msg)
            iv_map = {c: information_value(woe[:, j], yy, w) for j, c in enumerate(names)}
        missing = [c for c in names if c not in iv_map]
        if missing:
            msg = f"no IV for: {', '.join(missing)}"
            raise ValueError(msg)
        ivs = np.array([iv_map[c] for c in names])
        windows = None if time is None else _to_numpy(time, "time")
        if windows is not None and windows.shape[0] != n:
            msg = f"time has {windows.shape[0]} values for {n} rows"
            raise ValueError(msg)

        p = len(names)
        alive = np.ones(p, dtype=bool)
        reason = ["kept"] * p
        psi_v: list[float | None] = [None] * p
        max_corr_v: list[float | None] = [None] * p
        vif_v: list[float | None] = [None] * p
        strong = [self.strong_iv is not None and float(v) >= self.strong_iv for v in ivs]

        # 1. IV
        if self.min_iv is not None:
            for j in range(p):
                if ivs[j] < self.min_iv:
                    alive[j] = False
                    reason[j] = f"low IV: {ivs[j]:.4f} < min_iv {self.min_iv}"
        # 2. stability
        if windows is not None:
            for j in range(p):
                value, pair = _window_psi(woe[:, j], windows, w)
                psi_v[j] = value
                if alive[j] and self.max_psi is not None and value > self.max_psi:
                    alive[j] = False
                    reason[j] = f"unstable: PSI {value:.4f} between windows {pair} > max_psi {self.max_psi}"
        # 3. correlation, strongest first
        order = sorted(range(p), key=lambda j: (-ivs[j], j))
        cand = [j for j in order if alive[j]]
        if cand:
            corr = _weighted_corr(woe[:, cand], w)
            pos = {j: i for i, j in enumerate(cand)}
            kept: list[int] = []
            for j in cand:
                if kept:
                    r = np.abs(corr[pos[j], [pos[k] for k in kept]])
                    top = int(np.argmax(r))
                    max_corr_v[j] = float(r[top])
                    if self.max_corr is not None and r[top] > self.max_corr:
                        alive[j] = False
                        other = names[kept[top]]
                        reason[j] = (
                            f"correlated with {other} (|r| = {r[top]:.3f} > max_corr "
                            f"{self.max_corr}), which has the higher IV"
                        )
                        continue
                kept.append(j)
        # 4. VIF
        while True:
            cand = [j for j in range(p) if alive[j]]
            if len(cand) < 2:
                for j in cand:
                    vif_v[j] = 1.0
                break
            v = vif(woe[:, cand], w)
            for i, j in enumerate(cand):
                vif_v[j] = float(v[i])
            if self.max_vif is None:
                break
            over = [i for i in range(len(cand)) if v[i] > self.max_vif]
            if not over:
                break
            drop_i = min(over, key=lambda i: (ivs[cand[i]], -cand[i]))
            j = cand[drop_i]
            alive[j] = False
            reason[j] = (
                f"VIF {v[drop_i]:.2f} > max_vif {self.max_vif} (lowest IV of the "
                f"{len(over)} characteristics above it)"
            )
        for j in range(p):
            if strong[j]:
                flag = f"strong predictor: IV {ivs[j]:.4f} >= {self.strong_iv}, check for leakage"
                reason[j] = flag if reason[j] == "kept" else f"{reason[j]}; {flag}"

        self.features_in_ = names
        self.n_features_in_ = p
        self.iv_ = {c: float(ivs[j]) for j, c in enumerate(names)}
        self.support_ = alive
        self.selected_ = [c for j, c in enumerate(names) if alive[j]]
        self.report_ = pl.DataFrame(
            {
                "feature": names,
                "iv": ivs.astype(np.float64),
                "psi": psi_v,
                "max_corr": max_corr_v,
                "vif": vif_v,
                "kept": alive.tolist(),
                "reason": reason,
                "strong": strong,
            },
            schema_overrides={"psi": pl.Float64, "max_corr": pl.Float64, "vif": pl.Float64},
        ).sort(["kept", "iv"], descending=[True, True], maintain_order=True)
        return self

    def __sklearn_tags__(self) -> Any:
        tags = super().__sklearn_tags__()
        tags.target_tags.required = False  # y is optional when iv= or binner= is given
        tags.classifier_tags = ClassifierTags(multi_class=False)  # binary targets only
        return tags

    def get_support(self) -> npt.NDArray[np.bool_]:
        """Boolean mask of the kept characteristics over ``features_in_``."""
        from sklearn.utils.validation import check_is_fitted

        check_is_fitted(self, "support_")
        return np.asarray(self.support_, dtype=bool)

    def transform(self, X: Any) -> Any:
        """Keep the selected columns: by name for a frame, by position for an array."""
        mask = self.get_support()
        if isinstance(X, pl.DataFrame):
            return X.select(self.selected_)
        if type(X).__module__.startswith("pandas"):
            return X[self.selected_]
        arr = np.asarray(validate_data(self, X, dtype=None, reset=False))
        return arr[:, mask]

    def get_feature_names_out(self, input_features: Any = None) -> npt.NDArray[np.object_]:
        """Names of the selected characteristics."""
        self.get_support()
        return np.asarray(self.selected_, dtype=object)
