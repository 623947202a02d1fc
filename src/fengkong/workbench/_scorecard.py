"""Points scorecards: logistic regression on WoE, scaled by PDO / base score / base odds.

``factor = pdo / ln 2`` and ``offset = base_score - factor * ln(base_odds)``; the logistic
regression gives ``ln(odds of bad) = b0 + sum(b_j * woe_j)``, so a bin of characteristic
``j`` is worth ``-factor * b_j * woe`` points and ``base_points = offset - factor * b0``.
Points (and base points) are rounded to ``points_decimals``; the score is
``base_points + sum(points)`` added left to right as the strategy engine adds them, and
the probabilities are those of the rounded score, so points, probabilities and the
exported card agree on every record.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

import numpy as np
import polars as pl
from sklearn.base import BaseEstimator, ClassifierMixin, clone
from sklearn.linear_model import LogisticRegression
from sklearn.utils import assert_all_finite
from sklearn.utils.multiclass import check_classification_targets, type_of_target
from sklearn.utils.validation import check_is_fitted, column_or_1d
from threadpoolctl import threadpool_limits  # type: ignore[import-untyped]

from fengkong.workbench._binning import Binner
from fengkong.workbench._summary import FloatArray

#: Rows the stepwise search fits on (a strided sample of larger tables).
STEPWISE_SAMPLE = 100_000
#: From this many rows the regression runs on float32 WoE.
FLOAT32_ROWS = 100_000


def _labels(y: Any) -> np.ndarray[Any, Any]:
    return y.to_numpy() if isinstance(y, pl.Series) else np.asarray(y)


def _logloss(model: LogisticRegression, x: FloatArray, y: FloatArray, w: FloatArray) -> float:
    p = np.clip(model.predict_proba(x)[:, 1], 1e-15, 1 - 1e-15)
    return float(-(w * (y * np.log(p) + (1 - y) * np.log(1 - p))).sum())


class Scorecard(ClassifierMixin, BaseEstimator):  # type: ignore[misc]
    """A points scorecard on binned characteristics (higher score = lower risk).

    Parameters
    ----------
    binner
        The :class:`Binner` to fit (cloned; default ``Binner()``).
    pdo, base_score, base_odds
        Scaling: ``base_score`` points at good:bad odds ``base_odds``; ``pdo`` points
        double the odds.
    C
        Inverse L2 penalty of the logistic regression (the default is almost none).
    stepwise
        Forward selection of characteristics (BIC stopping rule) instead of all of them.
    max_features
        Most characteristics in the card (by IV unless stepwise).
    points_decimals
        Decimals of the points (``None``: unrounded).
    """

    def __init__(self, binner: Binner | None = None, *, pdo: float = 20.0,
                 base_score: float = 600.0, base_odds: float = 50.0, C: float = 1.0e6,
                 stepwise: bool = False, max_features: int | None = None,
                 points_decimals: int | None = 0) -> None:
        self.binner = binner
        self.pdo = pdo
        self.base_score = base_score
        self.base_odds = base_odds
        self.C = C
        self.stepwise = stepwise
        self.max_features = max_features
        self.points_decimals = points_decimals

    def __sklearn_tags__(self) -> Any:
        tags = super().__sklearn_tags__()
        tags.input_tags.allow_nan = True
        tags.classifier_tags.multi_class = False
        return tags

    @property
    def factor(self) -> float:
        """Points per unit of log-odds: ``pdo / ln 2``."""
        return float(self.pdo) / math.log(2.0)

    @property
    def offset(self) -> float:
        """Score at log-odds 0 (even odds): ``base_score - factor * ln(base_odds)``."""
        return float(self.base_score) - self.factor * math.log(float(self.base_odds))

    def fit(self, X: Any, y: Any, sample_weight: Any = None) -> Scorecard:
        """Bin, select, fit the logistic regression and scale the points."""
        if self.pdo <= 0 or self.base_odds <= 0:
            msg = "pdo and base_odds must be positive."
            raise ValueError(msg)
        if y is None:
            msg = "requires y to be passed, but the target y is None"
            raise ValueError(msg)
        labels = column_or_1d(_labels(y), warn=True)
        if labels.dtype.kind in "fc":
            assert_all_finite(labels, input_name="y")
        check_classification_targets(labels)
        if type_of_target(labels, input_name="y") != "binary":
            msg = "Only binary classification is supported: a scorecard separates goods from bads."
            raise ValueError(msg)
        self.classes_ = np.unique(labels)
        if self.classes_.size != 2:
            msg = (f"A scorecard needs exactly two classes (good, bad); got "
                   f"{self.classes_.size} class(es).")
            raise ValueError(msg)
        y01 = (labels == self.classes_[1]).astype(np.float64)
        binner = Binner() if self.binner is None else self.binner
        self.binner_: Binner = clone(binner)
        prebin_codes: dict[str, np.ndarray[Any, Any]] = {}
        table = self.binner_._fit_table(X, y01, sample_weight, prebin_codes)
        self.n_features_in_ = self.binner_.n_features_in_
        if hasattr(self.binner_, "feature_names_in_") and not isinstance(X, np.ndarray):
            self.feature_names_in_ = self.binner_.feature_names_in_
        # Large tables: float32 WoE for the regression (half the memory and time; the
        # coefficients agree to about 1e-7, far below a point). Small ones: float64.
        dtype = np.float32 if table.n >= FLOAT32_ROWS else np.float64
        woe = self.binner_._woe_table(table, dtype, prebin_codes)
        del prebin_codes
        w = (np.ones(len(y01)) if sample_weight is None
             else np.asarray(sample_weight, dtype=np.float64).ravel())
        cols = self.binner_.columns_
        candidates = [j for j in range(len(cols)) if np.ptp(woe[:, j]) > 0
                      and (self.binner_.min_iv is None
                           or self.binner_.iv_[cols[j]] >= self.binner_.min_iv)]
        if self.stepwise:
            chosen = self._forward(woe, y01, w, candidates)
        else:
            chosen = sorted(candidates, key=lambda j: -self.binner_.iv_[cols[j]])
            if self.max_features is not None:
                chosen = chosen[: self.max_features]
            chosen.sort()
        self.features_ = [cols[j] for j in chosen]
        if chosen:
            lr = LogisticRegression(C=self.C, solver="newton-cholesky", max_iter=200)
            x = woe if chosen == list(range(woe.shape[1])) else woe[:, chosen]
            # One BLAS thread: on a busy machine a spinning BLAS pool is many times slower.
            with threadpool_limits(limits=1, user_api="blas"):
                lr.fit(x, y01, sample_weight=sample_weight)
            self.coef_ = lr.coef_.copy()
            self.intercept_ = lr.intercept_.copy()
        else:  # no usable characteristic: the base rate only
            rate = float((w * y01).sum() / max(w.sum(), 1e-300))
            rate = min(max(rate, 1e-9), 1 - 1e-9)
            self.coef_ = np.zeros((1, 0))
            self.intercept_ = np.array([math.log(rate / (1 - rate))])
        self._scale()
        return self

    def _forward(self, woe: FloatArray, y: FloatArray, w: FloatArray,
                 candidates: list[int]) -> list[int]:
        step = max(1, len(y) // STEPWISE_SAMPLE)
        x, yy, ww = woe[::step], y[::step], w[::step]
        n_eff = float(ww.sum())
        chosen: list[int] = []
        rate = float((ww * yy).sum() / max(n_eff, 1e-300))
        rate = min(max(rate, 1e-9), 1 - 1e-9)
        current = float(-(ww * (yy * math.log(rate) + (1 - yy) * math.log(1 - rate))).sum())
        limit = self.max_features if self.max_features is not None else len(candidates)
        remaining = list(candidates)
        while remaining and len(chosen) < limit:
            best, best_j = current, -1
            for j in remaining:
                lr = LogisticRegression(C=self.C, solver="newton-cholesky", max_iter=100)
                with threadpool_limits(limits=1, user_api="blas"):
                    lr.fit(x[:, [*chosen, j]], yy, sample_weight=ww)
                loss = _logloss(lr, x[:, [*chosen, j]], yy, ww)
                if loss < best:
                    best, best_j = loss, j
            if best_j < 0 or 2 * (current - best) < math.log(max(n_eff, 2.0)):
                break
            chosen.append(best_j)
            remaining.remove(best_j)
            current = best
        return sorted(chosen)

    def _round(self, values: FloatArray) -> FloatArray:
        if self.points_decimals is None:
            return values + 0.0
        return np.round(values, int(self.points_decimals)) + 0.0  # + 0.0: no -0.0

    def _scale(self) -> None:
        factor = self.factor
        self.base_points_ = float(self._round(
            np.array([self.offset - factor * float(self.intercept_[0])]))[0])
        self.bin_points_: dict[str, FloatArray] = {}
        rows: dict[str, list[Any]] = {"feature": [], "bin": [], "kind": [], "woe": [],
                                      "points": []}
        for k, name in enumerate(self.features_):
            bins = self.binner_.bins_[name]
            pts = self._round(-factor * float(self.coef_[0, k]) * bins.woe)
            self.bin_points_[name] = pts
            table = self.binner_.bin_tables_[name]
            rows["feature"] += [name] * table.height
            rows["bin"] += table["bin"].to_list()
            rows["kind"] += table["kind"].to_list()
            rows["woe"] += table["woe"].to_list()
            rows["points"] += [float(p) for p in pts]
        self.points_ = pl.DataFrame(rows, schema={"feature": pl.String, "bin": pl.String,
                                                  "kind": pl.String, "woe": pl.Float64,
                                                  "points": pl.Float64})

    # -- prediction ------------------------------------------------------------------------
    def points(self, X: Any) -> FloatArray:
        """Points per record and characteristic, shape (n, len(features_))."""
        check_is_fitted(self, "points_")
        table = self.binner_._table(X, reset=False)
        out = np.empty((table.n, len(self.features_)), dtype=np.float64, order="F")
        for k, name in enumerate(self.features_):  # only the card's characteristics
            np.take(self.bin_points_[name], self.binner_._codes(table, name), out=out[:, k])
        return out

    def predict_score(self, X: Any) -> FloatArray:
        """``base_points + sum(points)``, added left to right as the engine adds them."""
        pts = self.points(X)
        score = np.full(pts.shape[0], float(self.base_points_))
        for k in range(pts.shape[1]):
            score = score + pts[:, k]
        return score

    def decision_function(self, X: Any) -> FloatArray:
        """Log-odds of a bad implied by the (rounded) score."""
        return -(self.predict_score(X) - self.offset) / self.factor

    def predict_proba(self, X: Any) -> FloatArray:
        """(P(good), P(bad)) per record, from the score."""
        z = self.decision_function(X)
        p = np.empty_like(z)
        pos = z >= 0
        p[pos] = 1.0 / (1.0 + np.exp(-z[pos]))
        ez = np.exp(z[~pos])
        p[~pos] = ez / (1.0 + ez)
        return np.column_stack([1.0 - p, p])

    def predict(self, X: Any) -> np.ndarray[Any, Any]:
        """The likelier class."""
        positive = self.decision_function(X) > 0
        return np.asarray(self.classes_[positive.astype(np.int64)])

    # -- export ---------------------------------------------------------------------------
    def to_component(self, *, name: str = "scorecard", version: int | str = 1,
                     reasons: Mapping[str, str] | None = None,
                     expressions: Mapping[str, str] | None = None) -> dict[str, Any]:
        """The card as a strategy-engine scorecard document (a ``ScorecardSpec``).

        ``reasons`` maps columns to reason codes and ``expressions`` columns to engine
        expressions (default: the column as an input field of the same name).
        """
        from fengkong.workbench._export import scorecard_component

        return scorecard_component(self, name=name, version=version, reasons=reasons,
                                   expressions=expressions)

    def export(self, path: str | Path, **kwargs: Any) -> Path:
        """Write :meth:`to_component` as YAML (or JSON for a ``.json`` path)."""
        from fengkong.workbench._export import write_document

        return write_document(self.to_component(**kwargs), path)

    def input_fields(self) -> dict[str, dict[str, Any]]:
        """Strategy ``inputs`` declarations for the card's characteristics."""
        from fengkong.workbench._export import input_fields

        return input_fields(self)

    def selected(self) -> Sequence[str]:
        """The characteristics in the card (same as ``features_``)."""
        check_is_fitted(self, "points_")
        return list(self.features_)
