"""Gradient-boosted models: LightGBM trained for the strategy engine's model component.

:class:`GBMModel` is a scikit-learn classifier around ``lightgbm.train`` that only builds
models the engine can run (numerical splits, one output) and exports them with the strategy
``models:`` entry that runs them:

* **Monotone constraints** from binning trends (a fitted :class:`~fengkong.workbench.Binner`'s
  ``trends_``: ``ascending`` event rate -> ``+1`` on the raw score, ``descending`` -> ``-1``,
  anything else ``0``) or from an explicit ``{column: -1 | 0 | 1}`` mapping.
* **Early stopping** on a validation set: ``fit(..., eval_set=(X_val, y_val))`` or a stratified
  ``validation_fraction`` of the training data (seeded by ``random_state``).
* **Categorical columns** (string / categorical / enum columns of a DataFrame) are not given
  to LightGBM as categorical (the engine rejects categorical splits,
  ``model-categorical-split``): each is encoded as the rank of its category's smoothed event
  rate on the training rows (0 = lowest risk). Categories seen fewer than
  ``min_category_count`` times, and categories never seen, share one "other" code; a missing
  value stays missing. The exported input expression reproduces the encoding exactly.
* **Reason codes** use the engine's own attribution (Saabas path attribution, computed by the
  engine's batch scorer on the same model text), so :meth:`GBMModel.reasons` gives the
  reasons a deployed strategy gives.
* :meth:`GBMModel.export` writes the LightGBM text model, the ``models:`` fragment and a
  minimal ``strategy.yaml`` that ``fengkong validate`` accepts; the engine's probability
  equals :meth:`GBMModel.predict_proba` on every record.
"""

from __future__ import annotations

import math
import re
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Protocol, runtime_checkable

import lightgbm as lgb
import numpy as np
import numpy.typing as npt
import polars as pl
import yaml
from sklearn.base import BaseEstimator, ClassifierMixin, clone
from sklearn.model_selection import StratifiedShuffleSplit
from sklearn.utils.multiclass import type_of_target
from sklearn.utils.validation import (
    check_array,
    check_is_fitted,
    column_or_1d,
    validate_data,
)

from fengkong.compile import _lightgbm

__all__ = ["GBMExport", "GBMModel", "monotone_from_trends"]

FloatArray = npt.NDArray[np.float64]
Progress = Callable[[str, int, int], None]

_TREND_SIGN = {"ascending": 1, "descending": -1}
_FIELD_RE = re.compile(r"^[a-z_][a-z0-9_]*(\.[a-z_][a-z0-9_]*)*$")
_IDENT_RE = re.compile(r"^[a-z_][a-z0-9_]*$")
_CODE_RE = re.compile(r"^[A-Z][A-Z0-9_]*$")
_SMOOTHING = 10.0  # pseudo-rows at the overall event rate when ranking categories


@runtime_checkable
class HasTrends(Protocol):
    """Anything with binning trends per column, such as a fitted ``Binner``."""

    @property
    def trends_(self) -> Mapping[str, str]: ...


def monotone_from_trends(trends: Mapping[str, str]) -> dict[str, int]:
    """Monotone constraints on the raw score (log-odds of the event) from binning trends.

    ``ascending`` (the event rate rises with the value) gives ``+1``, ``descending`` gives
    ``-1``; ``peak``, ``valley``, ``none``, ``categorical`` give ``0`` (unconstrained).
    """
    return {column: _TREND_SIGN.get(trend, 0) for column, trend in trends.items()}


@dataclass(frozen=True, slots=True)
class GBMExport:
    """What :meth:`GBMModel.export` wrote."""

    model_file: Path
    fragment_file: Path
    strategy_file: Path
    component: dict[str, Any]  # the ``models:`` entry (file, output, inputs, reasons)


@dataclass(frozen=True, slots=True)
class _Table:
    """Input columns by name: numbers as float64 (NaN = missing), categories as objects."""

    columns: list[str]
    values: dict[str, npt.NDArray[Any]]
    kinds: dict[str, str]  # "int" | "float" | "bool" | "str"
    n: int


class GBMModel(ClassifierMixin, BaseEstimator):  # type: ignore[misc]
    """LightGBM binary classifier for credit risk that the strategy engine can deploy.

    Parameters
    ----------
    n_estimators
        Most boosting rounds; early stopping usually keeps fewer (``n_estimators_``).
    learning_rate, num_leaves, max_depth, min_child_samples, min_child_weight, subsample,
    subsample_freq, colsample_bytree, reg_alpha, reg_lambda
        LightGBM's parameters of the same (scikit-learn API) names.
    monotone
        ``{column: -1 | 0 | 1}``, or a binner with ``trends_`` (see
        :func:`monotone_from_trends`): a fitted one is used as it is, an unfitted one
        (which is also what ``sklearn.base.clone`` makes of a fitted one) is fitted on
        the training rows first (``binner_``). Columns not named are unconstrained.
    categorical
        Columns to encode as categories; ``None`` takes the string, categorical and enum
        columns of a DataFrame (a NumPy array has none).
    min_category_count
        Categories with fewer (weighted) training rows share the "other" code.
    validation_fraction
        Share of the training rows held out (stratified) for early stopping when ``fit`` gets
        no ``eval_set``; ``None`` trains all ``n_estimators`` rounds on every row.
    early_stopping_rounds
        Stop when the validation log-loss has not improved for this many rounds.
    random_state
        Seeds the validation split and LightGBM.
    n_jobs
        LightGBM threads (``None``: LightGBM's default).
    params
        Further LightGBM parameters (must not ask for categorical features or linear trees).
    """

    def __init__(self, *, n_estimators: int = 1000, learning_rate: float = 0.05,
                 num_leaves: int = 31, max_depth: int = -1, min_child_samples: int = 20,
                 min_child_weight: float = 1e-3, subsample: float = 1.0, subsample_freq: int = 0,
                 colsample_bytree: float = 1.0, reg_alpha: float = 0.0, reg_lambda: float = 0.0,
                 monotone: Mapping[str, int] | HasTrends | None = None,
                 categorical: Sequence[str] | None = None, min_category_count: float = 20.0,
                 validation_fraction: float | None = 0.1, early_stopping_rounds: int = 50,
                 random_state: int | None = None, n_jobs: int | None = None,
                 params: Mapping[str, Any] | None = None) -> None:
        self.n_estimators = n_estimators
        self.learning_rate = learning_rate
        self.num_leaves = num_leaves
        self.max_depth = max_depth
        self.min_child_samples = min_child_samples
        self.min_child_weight = min_child_weight
        self.subsample = subsample
        self.subsample_freq = subsample_freq
        self.colsample_bytree = colsample_bytree
        self.reg_alpha = reg_alpha
        self.reg_lambda = reg_lambda
        self.monotone = monotone
        self.categorical = categorical
        self.min_category_count = min_category_count
        self.validation_fraction = validation_fraction
        self.early_stopping_rounds = early_stopping_rounds
        self.random_state = random_state
        self.n_jobs = n_jobs
        self.params = params

    def __sklearn_tags__(self) -> Any:
        tags = super().__sklearn_tags__()
        tags.classifier_tags.multi_class = False
        tags.input_tags.allow_nan = True
        return tags

    # -- fitting --------------------------------------------------------------------------

    def fit(self, X: Any, y: Any, sample_weight: Any = None, *,
            eval_set: tuple[Any, Any] | tuple[Any, Any, Any] | None = None,
            progress: Progress | None = None) -> GBMModel:
        """Fit the model; returns ``self``.

        Parameters
        ----------
        X
            Polars (or pandas) DataFrame, or a 2-D array (columns ``x0..``).
        y
            Binary target; the larger label (``1`` = bad) is the event.
        sample_weight
            Row weights (training and the held-out validation rows).
        eval_set
            ``(X_val, y_val)`` or ``(X_val, y_val, w_val)`` for early stopping; overrides
            ``validation_fraction``.
        progress
            Called as ``progress("boosting", round, n_estimators)``.
        """
        if y is None:
            msg = "GBMModel requires y to be passed, but the target y is None."
            raise ValueError(msg)
        table = self._read(X, reset=True)
        y_arr = column_or_1d(y, warn=True)
        if y_arr.dtype.kind in "fc":
            check_array(y_arr, ensure_2d=False, dtype=None, input_name="y")  # NaN, inf
        if len(y_arr) != table.n:
            msg = f"y has {len(y_arr)} values but X has {table.n} rows."
            raise ValueError(msg)
        y_type = type_of_target(y_arr, input_name="y", raise_unknown=True)
        if y_type != "binary":
            msg = f"Only binary classification is supported. The type of the target is {y_type}."
            raise ValueError(msg)
        self.classes_, y01 = np.unique(y_arr, return_inverse=True)
        if len(self.classes_) < 2:
            msg = ("GBMModel needs both classes in y to fit; y has only one class "
                   f"({self.classes_[0]!r}).")
            raise ValueError(msg)
        target = y01.astype(np.float64)
        weight = self._weights(sample_weight, table.n)

        train_idx = np.arange(table.n)
        valid: tuple[_Table, FloatArray, FloatArray] | None = None
        if eval_set is not None:
            xv, yv, *wv = eval_set
            vt = self._read(xv, reset=False)
            yv_arr = np.ravel(np.asarray(yv))
            known = np.isin(yv_arr, self.classes_)
            if not known.all():
                msg = "eval_set has labels that are not in y."
                raise ValueError(msg)
            yv01 = np.searchsorted(self.classes_, yv_arr).astype(np.float64)
            valid = (vt, yv01, self._weights(wv[0] if wv else None, vt.n))
        elif self.validation_fraction is not None:
            counts = np.bincount(y01)
            n_valid = math.ceil(self.validation_fraction * table.n)
            if counts.min() >= 2 and n_valid >= 2 and table.n - n_valid >= 2:
                split = StratifiedShuffleSplit(n_splits=1, test_size=self.validation_fraction,
                                               random_state=self.random_state)
                tr, va = next(split.split(np.zeros(table.n), y01))
                train_idx = np.sort(tr)
                va = np.sort(va)
                valid = (_subset(table, va), target[va], weight[va])
        train = _subset(table, train_idx)
        self._fit_encoding(train, target[train_idx], weight[train_idx])
        x_train = self._matrix(train)
        self.binner_: Any = None
        spec = self.monotone
        if spec is not None and not isinstance(spec, Mapping) and not isinstance(spec, HasTrends) \
                and hasattr(spec, "fit"):
            # An unfitted binner (also what ``clone`` makes of a fitted one): bin the training
            # rows to find the trends.
            frame = _as_frame(X)
            rows = np.asarray(X)[train_idx] if frame is None else frame[train_idx]
            self.binner_ = clone(spec).fit(rows, y01[train_idx], sample_weight=weight[train_idx])
        self.monotone_ = self._monotone()
        features = self.model_features_
        data = lgb.Dataset(x_train, target[train_idx], weight=weight[train_idx],
                           feature_name=features, categorical_feature=[], free_raw_data=True,
                           params={"verbose": -1})
        valid_sets: list[lgb.Dataset] = []
        callbacks: list[Callable[..., None]] = []
        if valid is not None:
            vt, yv01, wv01 = valid
            valid_sets.append(lgb.Dataset(self._matrix(vt), yv01, weight=wv01, reference=data,
                                          feature_name=features, categorical_feature=[]))
            callbacks.append(lgb.early_stopping(self.early_stopping_rounds, verbose=False))
        if progress is not None:
            total = self.n_estimators

            def report(env: Any) -> None:
                progress("boosting", env.iteration + 1, total)

            callbacks.append(report)
        booster = lgb.train(self._lgb_params(), data, num_boost_round=self.n_estimators,
                            valid_sets=valid_sets, callbacks=callbacks)
        best = booster.best_iteration if valid is not None and booster.best_iteration > 0 else 0
        text = booster.model_to_string(num_iteration=best if best > 0 else None)
        # The booster kept is rebuilt from the text the engine reads, so both see one model.
        self.booster_ = lgb.Booster(model_str=text)
        self.n_estimators_ = self.booster_.num_trees()
        self.best_iteration_ = best if best > 0 else self.n_estimators_
        self.best_score_ = (float(booster.best_score["valid_0"]["binary_logloss"])
                            if valid is not None and booster.best_score else None)
        self._engine: _lightgbm.BatchScorer | None = None
        return self

    def _weights(self, sample_weight: Any, n: int) -> FloatArray:
        if sample_weight is None:
            return np.ones(n, dtype=np.float64)
        w = np.asarray(sample_weight, dtype=np.float64).ravel()
        if len(w) != n:
            msg = f"sample_weight has {len(w)} values but X has {n} rows."
            raise ValueError(msg)
        if not np.all(np.isfinite(w)) or (w < 0).any():
            msg = "sample_weight must be finite and non-negative."
            raise ValueError(msg)
        if not w.sum() > 0:
            msg = "Sample weights must contain at least one non-zero number."
            raise ValueError(msg)
        return w

    def _lgb_params(self) -> dict[str, Any]:
        params: dict[str, Any] = {
            "objective": "binary", "learning_rate": self.learning_rate,
            "num_leaves": self.num_leaves, "max_depth": self.max_depth,
            "min_data_in_leaf": self.min_child_samples,
            "min_sum_hessian_in_leaf": self.min_child_weight,
            "bagging_fraction": self.subsample, "bagging_freq": self.subsample_freq,
            "feature_fraction": self.colsample_bytree, "lambda_l1": self.reg_alpha,
            "lambda_l2": self.reg_lambda, "verbose": -1, "metric": "binary_logloss",
            "deterministic": True, "force_row_wise": True,
        }
        if self.random_state is not None:
            params["seed"] = int(self.random_state)
        if self.n_jobs is not None:
            params["num_threads"] = int(self.n_jobs)
        if any(self.monotone_.values()):
            params["monotone_constraints"] = [self.monotone_.get(c, 0) for c in self.columns_]
            # "advanced" broke the constraints on our test data (LightGBM 4.7); "intermediate"
            # held them and is less strict than "basic".
            params["monotone_constraints_method"] = "intermediate"
        for key, value in (self.params or {}).items():
            if key in ("categorical_feature", "categorical_column", "cat_feature",
                       "linear_tree", "linear_trees", "objective", "num_class"):
                msg = (f"GBMModel does not take the LightGBM parameter {key!r}: the strategy "
                       "engine runs binary models with numerical splits only.")
                raise ValueError(msg)
            params[key] = value
        return params

    def _monotone(self) -> dict[str, int]:
        spec = self.monotone if self.binner_ is None else self.binner_
        if spec is None:
            return dict.fromkeys(self.columns_, 0)
        if isinstance(spec, Mapping):
            given = {str(k): int(v) for k, v in spec.items()}
        elif isinstance(spec, HasTrends):
            given = {c: s for c, s in monotone_from_trends(spec.trends_).items()
                     if c in self.columns_}
        else:
            msg = ("monotone must be a mapping {column: -1|0|1} or a fitted binner with "
                   f"trends_, not {type(spec).__name__}.")
            raise TypeError(msg)
        unknown = sorted(set(given) - set(self.columns_))
        if unknown:
            msg = f"monotone names columns that X does not have: {', '.join(unknown)}."
            raise ValueError(msg)
        bad = sorted(c for c, s in given.items() if s not in (-1, 0, 1))
        if bad:
            msg = f"monotone constraints must be -1, 0 or 1 (columns {', '.join(bad)})."
            raise ValueError(msg)
        return {c: given.get(c, 0) for c in self.columns_}

    # -- input tables ---------------------------------------------------------------------

    def _read(self, X: Any, *, reset: bool) -> _Table:
        """Read X as named columns; on ``reset`` fix the columns, else check them."""
        frame = _as_frame(X)
        if frame is None:
            arr = validate_data(self, X, reset=reset, ensure_all_finite="allow-nan",
                                dtype=np.float64)
            if reset:
                self.columns_ = [f"x{i}" for i in range(arr.shape[1])]
                self.categorical_ = []
                self.input_kinds_ = dict.fromkeys(self.columns_, "float")
                self._set_model_features()
            numbers = {c: arr[:, i] for i, c in enumerate(self.columns_)}
            return _Table(list(self.columns_), numbers, dict(self.input_kinds_), arr.shape[0])
        if reset:
            if frame.width == 0 or frame.height == 0:
                msg = f"Found array with {frame.height} sample(s) and {frame.width} feature(s)."
                raise ValueError(msg)
            self.columns_ = list(frame.columns)
            self.feature_names_in_ = np.asarray(self.columns_, dtype=object)
            self.n_features_in_ = len(self.columns_)
            auto = [c for c, t in frame.schema.items()
                    if t in (pl.String, pl.Categorical) or isinstance(t, pl.Enum)]
            self.categorical_ = list(auto if self.categorical is None else self.categorical)
            unknown = sorted(set(self.categorical_) - set(self.columns_))
            if unknown:
                msg = f"categorical names columns that X does not have: {', '.join(unknown)}."
                raise ValueError(msg)
            self.input_kinds_ = {c: _kind(frame.schema[c], categorical=c in self.categorical_)
                                 for c in self.columns_}
            self._set_model_features()
        missing = [c for c in self.columns_ if c not in frame.columns]
        if missing:
            msg = f"X has no column(s) {', '.join(missing)} that GBMModel was fitted with."
            raise ValueError(msg)
        values: dict[str, npt.NDArray[Any]] = {}
        for c in self.columns_:
            s = frame.get_column(c)
            if c in self.categorical_:
                values[c] = s.cast(pl.String).to_numpy().astype(object)
            else:
                if s.dtype in (pl.String, pl.Categorical) or isinstance(s.dtype, pl.Enum):
                    msg = f"Column {c!r} holds text; name it in `categorical` to encode it."
                    raise ValueError(msg)
                values[c] = s.cast(pl.Float64).fill_nan(None).to_numpy().astype(np.float64)
        return _Table(list(self.columns_), values, dict(self.input_kinds_), frame.height)

    def _set_model_features(self) -> None:
        names: list[str] = []
        for c in self.columns_:
            base = re.sub(r"[^0-9A-Za-z_]", "_", c) or "f"
            name, k = base, 1
            while name in names:
                k += 1
                name = f"{base}_{k}"
            names.append(name)
        self.model_features_ = names

    def _fit_encoding(self, table: _Table, target: FloatArray, weight: FloatArray) -> None:
        """Category -> rank of its smoothed event rate (0 = lowest); rare ones share a code."""
        self.category_codes_: dict[str, dict[str, float]] = {}
        self.other_code_: dict[str, float | None] = {}
        total = float(weight.sum())
        prior = float((weight * target).sum()) / total if total > 0 else 0.5
        for c in self.categorical_:
            col = table.values[c]
            present = np.array([v is not None for v in col], dtype=bool)
            cats: dict[str, tuple[float, float]] = {}
            for v, w, t in zip(col[present], weight[present], target[present], strict=True):
                n, b = cats.get(str(v), (0.0, 0.0))
                cats[str(v)] = (n + w, b + w * t)
            kept = {k: nb for k, nb in cats.items() if nb[0] >= self.min_category_count}
            rare = [nb for k, nb in cats.items() if k not in kept]
            groups: list[tuple[str | None, float, float]] = [(k, n, b) for k, (n, b) in kept.items()]
            if rare:
                groups.append((None, sum(n for n, _ in rare), sum(b for _, b in rare)))
            rates = sorted(groups, key=lambda g: ((g[2] + _SMOOTHING * prior) / (g[1] + _SMOOTHING),
                                                  g[0] is None, g[0] or ""))
            codes: dict[str, float] = {}
            other: float | None = None
            for rank, (k, _, _) in enumerate(rates):
                if k is None:
                    other = float(rank)
                else:
                    codes[k] = float(rank)
            self.category_codes_[c] = codes
            self.other_code_[c] = other

    def _matrix(self, table: _Table) -> FloatArray:
        out = np.empty((table.n, len(self.columns_)), dtype=np.float64)
        for i, c in enumerate(self.columns_):
            col = table.values[c]
            if c in self.categorical_:
                codes, other = self.category_codes_[c], self.other_code_[c]
                fallback = math.nan if other is None else other
                out[:, i] = [math.nan if v is None else codes.get(str(v), fallback) for v in col]
            else:
                out[:, i] = col
        return out

    def transform_inputs(self, X: Any) -> FloatArray:
        """The matrix LightGBM sees: numbers as given (NaN = missing), categories encoded."""
        check_is_fitted(self, "booster_")
        return self._matrix(self._read(X, reset=False))

    # -- prediction -----------------------------------------------------------------------

    def decision_function(self, X: Any) -> FloatArray:
        """Raw score (log-odds of the event), as LightGBM computes it."""
        x = self.transform_inputs(X)
        return np.asarray(self.booster_.predict(x, raw_score=True), dtype=np.float64)

    def predict_proba(self, X: Any) -> FloatArray:
        """``(n, 2)``: probabilities of ``classes_[0]`` and of the event ``classes_[1]``."""
        x = self.transform_inputs(X)
        p = np.asarray(self.booster_.predict(x), dtype=np.float64)
        return np.column_stack([1.0 - p, p])

    def predict(self, X: Any) -> npt.NDArray[Any]:
        """The event class where its probability is above 0.5, else the other class."""
        p = self.predict_proba(X)[:, 1]
        return np.asarray(self.classes_[(p > 0.5).astype(np.intp)])

    # -- contributions and reasons ---------------------------------------------------------

    def _scorer(self) -> _lightgbm.BatchScorer:
        engine = getattr(self, "_engine", None)
        if engine is None:
            model = _lightgbm.parse_model(self.booster_.model_to_string(), file="<GBMModel>")
            engine = _lightgbm.BatchScorer(model)
            self._engine = engine
        return engine

    def contributions(self, X: Any) -> FloatArray:
        """Saabas path attributions ``(n, n_features + 1)``, the bias in the last column.

        Computed by the strategy engine's batch scorer, so they are the contributions a
        deployed strategy records (``contrib.<model>.<feature>``); each row sums to the raw
        score up to float rounding. Same layout as LightGBM's ``pred_contrib`` (TreeSHAP).
        """
        x = self.transform_inputs(X)
        scorer = self._scorer()
        used = scorer.model.used_features
        _, contrib = scorer.score({f: x[:, f] for f in used}, x.shape[0])
        out = np.empty((x.shape[0], x.shape[1] + 1), dtype=np.float64)
        out[:, :-1] = contrib.T
        out[:, -1] = scorer.model.bias
        return out

    def reasons(self, X: Any, top: int = 3,
                codes: Mapping[str, str] | None = None) -> list[list[str]]:
        """Per record, up to ``top`` reasons: the columns that pushed the risk up, largest first.

        As the engine ranks model reasons: features with a positive contribution, largest
        first, ties in column order. With ``codes`` (``{column: reason code}``, as given to
        :meth:`export`) the codes are returned, columns without one skipped and duplicate
        codes dropped; without, the column names.
        """
        contrib = self.contributions(X)[:, :-1]
        return _rank(contrib, self.columns_, top, codes)

    # -- export ---------------------------------------------------------------------------

    def input_expressions(self, fields: Mapping[str, str] | None = None) -> dict[str, str]:
        """Model feature -> engine expression computing it from the strategy's input fields.

        ``fields`` maps a column to the strategy field that holds it (default: the column's
        own name, which must then be a valid field name).
        """
        check_is_fitted(self, "booster_")
        out: dict[str, str] = {}
        for c, feature in zip(self.columns_, self.model_features_, strict=True):
            field = (fields or {}).get(c, c)
            if not _FIELD_RE.match(field):
                msg = (f"Column {c!r} is not a strategy field name (lower-case letters, digits, "
                       "`_` and dots); map it with `fields={column: field}`.")
                raise ValueError(msg)
            out[feature] = (_category_expr(field, self.category_codes_[c], self.other_code_[c])
                            if c in self.categorical_ else field)
        return out

    def to_component(self, file: str, *, reasons: Mapping[str, str] | None = None,
                     fields: Mapping[str, str] | None = None) -> dict[str, Any]:
        """The strategy ``models:`` entry (file, output, inputs, reasons) for this model."""
        check_is_fitted(self, "booster_")
        codes = self.default_reasons() if reasons is None else dict(reasons)
        unknown = sorted(set(codes) - set(self.columns_))
        if unknown:
            msg = f"reasons names columns the model does not have: {', '.join(unknown)}."
            raise ValueError(msg)
        bad = sorted(v for v in codes.values() if not _CODE_RE.match(v) or len(v) > 64)
        if bad:
            msg = f"Reason codes must be upper-case identifiers (A-Z, 0-9, _): {', '.join(bad)}."
            raise ValueError(msg)
        feature = dict(zip(self.columns_, self.model_features_, strict=True))
        return {"file": file, "output": "probability", "inputs": self.input_expressions(fields),
                "reasons": {feature[c]: codes[c] for c in self.columns_ if c in codes}}

    def default_reasons(self) -> dict[str, str]:
        """``{column: "GBM_<COLUMN>"}``: a reason code per column."""
        check_is_fitted(self, "booster_")
        return {c: ("GBM_" + re.sub(r"[^A-Z0-9_]", "_", c.upper()))[:64] for c in self.columns_}

    def export(self, folder: str | Path, *, name: str = "pd_gbm", slot: str = "pd",
               reasons: Mapping[str, str] | None = None,
               reason_texts: Mapping[str, Mapping[str, str]] | None = None,
               fields: Mapping[str, str] | None = None,
               strategy: str | None = None) -> GBMExport:
        """Write ``models/<name>.txt``, ``<name>.models.yaml`` and ``strategy.yaml`` in ``folder``.

        Parameters
        ----------
        name
            The model's name in the strategy (``models.<name>``) and of its files.
        slot
            The slot the minimal strategy binds the model to (its probability).
        reasons
            ``{column: reason code}``; default :meth:`default_reasons`. Columns left out give
            no reason.
        reason_texts
            ``{code: {"en": ..., "zh": ...}}`` added to the strategy's ``reasons:`` (the
            default codes get generic texts naming the column).
        fields
            ``{column: strategy field}`` where a column name is not a valid field name.
        strategy
            The minimal strategy's name (default ``<name>_strategy``).
        """
        check_is_fitted(self, "booster_")
        for what, value in (("name", name), ("slot", slot)):
            if not _IDENT_RE.match(value):
                msg = f"{what} {value!r} must be a lower-case identifier."
                raise ValueError(msg)
        folder = Path(folder)
        (folder / "models").mkdir(parents=True, exist_ok=True)
        model_file = folder / "models" / f"{name}.txt"
        self.booster_.save_model(str(model_file))
        component = self.to_component(f"models/{name}.txt", reasons=reasons, fields=fields)
        fragment_file = folder / f"{name}.models.yaml"
        fragment_file.write_text(_dump({"models": {name: component}}), encoding="utf-8")
        inputs: dict[str, dict[str, Any]] = {}
        for c in self.columns_:
            field = (fields or {}).get(c, c)
            inputs[field] = {"type": self.input_kinds_[c], "required": False}
        doc: dict[str, Any] = {
            "schema_version": 1, "strategy": strategy or f"{name}_strategy", "version": 1,
            "stage": "origination", "inputs": inputs, "models": {name: component},
            "use": {slot: name},
        }
        texts: dict[str, dict[str, str]] = {}
        if reasons is None:  # generated codes get generated texts (the catalogue has none)
            for c, code in self.default_reasons().items():
                texts[code] = {"en": f"{c} raised the estimated risk.",
                               "zh": f"{c}提高了预估风险。"}
        texts.update({k: dict(v) for k, v in (reason_texts or {}).items()})
        if texts:
            doc["reasons"] = texts
        strategy_file = folder / "strategy.yaml"
        strategy_file.write_text(_dump(doc), encoding="utf-8")
        return GBMExport(model_file, fragment_file, strategy_file, component)


# -- helpers ------------------------------------------------------------------------------

def _as_frame(X: Any) -> pl.DataFrame | None:
    if isinstance(X, pl.DataFrame):
        return X
    if type(X).__module__.split(".")[0] == "pandas" and hasattr(X, "columns"):
        return pl.from_pandas(X)
    return None


def _kind(dtype: Any, *, categorical: bool) -> str:
    if categorical:
        return "str"
    if dtype == pl.Boolean:
        return "bool"
    if dtype.is_integer():
        return "int"
    return "float"


def _subset(table: _Table, idx: npt.NDArray[np.intp]) -> _Table:
    return _Table(table.columns, {c: v[idx] for c, v in table.values.items()}, table.kinds,
                  len(idx))


def _category_expr(field: str, codes: Mapping[str, float], other: float | None) -> str:
    """``null if is_null(f) else (0.0 if f == 'a' else (... else other))``."""
    def lit(v: str) -> str:
        return "'" + v.replace("\\", "\\\\").replace("'", "\\'") + "'"

    expr = "null" if other is None else repr(other)
    for value, code in sorted(codes.items(), key=lambda kv: -kv[1]):
        expr = f"{code!r} if {field} == {lit(value)} else ({expr})"
    return f"null if is_null({field}) else ({expr})"


def _rank(contrib: FloatArray, columns: Sequence[str], top: int,
          codes: Mapping[str, str] | None) -> list[list[str]]:
    labels = list(columns) if codes is None else [codes.get(c, "") for c in columns]
    # Largest first, ties in column order: a stable sort of the negated contributions.
    order = np.argsort(-contrib, axis=1, kind="stable")
    out: list[list[str]] = []
    for row, idx in zip(contrib, order, strict=True):
        picked: list[str] = []
        for j in idx:
            if row[j] <= 0.0 or len(picked) >= top:
                break
            label = labels[j]
            if label and label not in picked:
                picked.append(label)
        out.append(picked)
    return out


def _dump(doc: Mapping[str, Any]) -> str:
    text: str = yaml.safe_dump(dict(doc), sort_keys=False, allow_unicode=True, width=100)
    return text
