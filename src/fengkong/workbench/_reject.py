"""Reject inference: give the rejected applicants inferred outcomes, so a model can be
trained on the whole through-the-door population instead of the accepted ones only.

Both methods start from a model fitted on the accepted applicants (the "known good/bad"
model) and its scores for accepted and rejected applicants; they return the accepted
records unchanged plus the rejects with inferred outcomes and weights.

* :func:`parcelling` -- score bands of the accepted population; within each band the
  rejects are randomly split into bads and goods in the band's observed bad rate times
  ``rejection_factor``. Each reject appears once, with its own weight.
* :func:`fuzzy_augmentation` -- every reject appears twice, as a bad with weight
  ``w * p`` and as a good with weight ``w * (1 - p)``, ``p`` its predicted probability of
  default (times ``rejection_factor``, capped at 1). Deterministic.

Assumptions (write them in the model documentation): the accepted-only model ranks the
rejects as well as it ranks the accepts (it is extrapolating into a region with little or
no outcome data); with ``rejection_factor = 1`` the outcomes are "missing at random"
given the score -- a reject has the bad rate of an accepted applicant with the same score,
which is optimistic whenever the past decision used information the model does not have
(overrides, bureau checks, an interview); values between 1.5 and 3 are common for that
reason, and the choice is a judgement to document, not something the data can prove.
Reject inference cannot create information: it mostly stops the new model from treating
rejected regions as unknown; check the result on a later sample of (partly) booked
rejects where one exists.
"""

from __future__ import annotations

import importlib
from dataclasses import dataclass
from typing import Any

import numpy as np
import numpy.typing as npt
import polars as pl

from fengkong.workbench._metrics import (
    _as_float,
    _as_target,
    _as_weight,
    _quantile_bins,
)


@dataclass(frozen=True)
class AugmentedData:
    """Training data of the through-the-door population.

    ``X`` (same type as the inputs: Polars frame or 2-D array), ``y`` (int 0/1),
    ``sample_weight`` (float), ``rejected`` (bool: rows inferred for rejects) and
    ``table`` (per band / summary of the inference, Polars).
    """

    X: Any
    y: npt.NDArray[np.int64]
    sample_weight: npt.NDArray[np.float64]
    rejected: npt.NDArray[np.bool_]
    table: pl.DataFrame


def _n_rows(x: Any) -> int:
    if isinstance(x, pl.DataFrame):
        return x.height
    if type(x).__module__.startswith("pandas"):
        return len(x)
    return int(np.asarray(x).shape[0])


def _stack(parts: list[Any]) -> Any:
    if all(isinstance(p, pl.DataFrame) for p in parts):
        return pl.concat(parts, how="vertical_relaxed")
    if all(type(p).__module__.startswith("pandas") for p in parts):
        pd = importlib.import_module("pandas")  # only when the caller already uses pandas
        return pd.concat(parts, ignore_index=True)
    arrays = [np.asarray(p) for p in parts]
    if any(a.ndim != 2 for a in arrays):
        msg = "X_accepted and X_rejected must be two-dimensional"
        raise ValueError(msg)
    return np.vstack(arrays)


def _check_factor(rejection_factor: float) -> None:
    if not rejection_factor > 0:
        msg = "rejection_factor must be positive"
        raise ValueError(msg)


def parcelling(
    X_accepted: Any,
    y_accepted: Any,
    X_rejected: Any,
    score_accepted: Any,
    score_rejected: Any,
    *,
    bins: int = 10,
    higher_is_riskier: bool = True,
    rejection_factor: float = 1.0,
    sample_weight_accepted: Any = None,
    sample_weight_rejected: Any = None,
    random_state: int | np.random.Generator | None = 0,
) -> AugmentedData:
    """Parcelling: infer rejects' outcomes band by band from the accepted bad rates.

    Score bands are ``bins`` quantile bins of the accepted scores (tied scores share a
    band; rejects outside the accepted range fall into the end bands). In a band with
    accepted bad rate ``r``, rejects are shuffled (``random_state``) and the first ones,
    up to a weight of ``min(1, rejection_factor * r)`` of the band's reject weight
    (rounded to whole records), are labelled bad, the rest good. Each reject keeps its
    weight, so the total weight is ``sum(accepted weights) + sum(rejected weights)``.

    ``table``: ``band``, ``min_score``, ``max_score``, ``accepted``, ``accepted_bad_rate``,
    ``rejected``, ``inferred_bad_rate`` (the target) and ``rejected_bads`` (weight given
    the label bad).
    """
    _check_factor(rejection_factor)
    if bins < 1:
        msg = "bins must be at least 1"
        raise ValueError(msg)
    ya = _as_target(y_accepted)
    sa = _as_float(score_accepted, "score_accepted")
    sr = _as_float(score_rejected, "score_rejected")
    na, nr = ya.shape[0], sr.shape[0]
    if sa.shape[0] != na or _n_rows(X_accepted) != na:
        msg = "X_accepted, y_accepted and score_accepted must have the same length"
        raise ValueError(msg)
    if _n_rows(X_rejected) != nr:
        msg = "X_rejected and score_rejected must have the same length"
        raise ValueError(msg)
    wa = _as_weight(sample_weight_accepted, na)
    wr = _as_weight(sample_weight_rejected, nr)
    rng = np.random.default_rng(random_state)

    # bands over the accepted scores, riskiest last: work in "risk" units
    ra = sa if higher_is_riskier else -sa
    rr = sr if higher_is_riskier else -sr
    order = np.argsort(ra)
    ras = ra[order]
    starts = np.flatnonzero(np.concatenate(([True], ras[1:] != ras[:-1])))
    gw = np.add.reduceat(wa[order], starts)
    gband = _quantile_bins(gw, bins)
    band_a = np.empty(na, dtype=np.int64)
    band_a[order] = np.repeat(gband, np.diff(np.append(starts, na)))
    used = np.unique(gband)
    remap = {int(b): i for i, b in enumerate(used.tolist())}
    band_a = np.array([remap[int(b)] for b in band_a.tolist()], dtype=np.int64)
    k = used.shape[0]
    # upper edge (risk units) of each band = its largest accepted value
    upper = np.array([ra[band_a == b].max() for b in range(k)])
    band_r = np.minimum(np.searchsorted(upper, rr, side="left"), k - 1)

    cnt_a = np.bincount(band_a, weights=wa, minlength=k)
    bad_a = np.bincount(band_a, weights=wa * ya, minlength=k)
    rate = np.divide(bad_a, cnt_a, out=np.zeros(k), where=cnt_a > 0)
    target = np.minimum(1.0, rejection_factor * rate)

    yr = np.zeros(nr, dtype=np.int64)
    cnt_r = np.bincount(band_r, weights=wr, minlength=k)
    for b in range(k):
        idx = np.flatnonzero(band_r == b)
        if idx.shape[0] == 0:
            continue
        idx = idx[rng.permutation(idx.shape[0])]
        cw = np.cumsum(wr[idx])
        goal = target[b] * cw[-1]
        # label bad the shortest prefix whose weight is nearest the goal
        n_bad = int(np.argmin(np.abs(np.concatenate(([0.0], cw)) - goal)))
        yr[idx[:n_bad]] = 1
    bad_r = np.bincount(band_r, weights=wr * yr, minlength=k)

    sign = 1.0 if higher_is_riskier else -1.0
    lo = np.array([ra[band_a == b].min() for b in range(k)]) * sign
    hi = upper * sign
    table = pl.DataFrame(
        {
            "band": np.arange(1, k + 1, dtype=np.int64),
            "min_score": np.minimum(lo, hi),
            "max_score": np.maximum(lo, hi),
            "accepted": cnt_a,
            "accepted_bad_rate": rate,
            "rejected": cnt_r,
            "inferred_bad_rate": target,
            "rejected_bads": bad_r,
        }
    )
    return AugmentedData(
        X=_stack([X_accepted, X_rejected]),
        y=np.concatenate((ya.astype(np.int64), yr)),
        sample_weight=np.concatenate((wa, wr)),
        rejected=np.concatenate((np.zeros(na, dtype=bool), np.ones(nr, dtype=bool))),
        table=table,
    )


def fuzzy_augmentation(
    X_accepted: Any,
    y_accepted: Any,
    X_rejected: Any,
    proba_rejected: Any,
    *,
    rejection_factor: float = 1.0,
    reject_weight: float = 1.0,
    sample_weight_accepted: Any = None,
    sample_weight_rejected: Any = None,
) -> AugmentedData:
    """Fuzzy augmentation: each reject becomes a weighted bad and a weighted good.

    ``proba_rejected``: the accepted-only model's probability of default for each reject.
    With ``p = min(1, rejection_factor * proba)`` and ``w`` the reject's weight times
    ``reject_weight``, the reject is added as ``(x, bad, w * p)`` and ``(x, good,
    w * (1 - p))``: the two copies carry the reject's full weight, so the total weight is
    ``sum(accepted weights) + reject_weight * sum(rejected weights)``. Rows: the accepted
    ones, then all rejects as bads, then all rejects as goods.

    ``table``: one row per population (``accepted``, ``rejected``) with ``count``,
    ``weight``, ``bads`` (weight labelled bad) and ``bad_rate``.
    """
    _check_factor(rejection_factor)
    if not reject_weight >= 0:
        msg = "reject_weight must be non-negative"
        raise ValueError(msg)
    ya = _as_target(y_accepted)
    pr = _as_float(proba_rejected, "proba_rejected")
    if np.any((pr < 0) | (pr > 1)):
        msg = "proba_rejected must be probabilities in [0, 1]"
        raise ValueError(msg)
    na, nr = ya.shape[0], pr.shape[0]
    if _n_rows(X_accepted) != na:
        msg = "X_accepted and y_accepted must have the same length"
        raise ValueError(msg)
    if _n_rows(X_rejected) != nr:
        msg = "X_rejected and proba_rejected must have the same length"
        raise ValueError(msg)
    wa = _as_weight(sample_weight_accepted, na)
    wr = _as_weight(sample_weight_rejected, nr) * reject_weight
    p = np.minimum(1.0, rejection_factor * pr)
    w_bad, w_good = wr * p, wr * (1.0 - p)
    acc_w = float(wa.sum())
    rej_w = float(wr.sum())
    table = pl.DataFrame(
        {
            "population": ["accepted", "rejected"],
            "count": [float(na), float(nr)],
            "weight": [acc_w, rej_w],
            "bads": [float(np.dot(wa, ya)), float(w_bad.sum())],
            "bad_rate": [
                float(np.dot(wa, ya)) / acc_w if acc_w > 0 else None,
                float(w_bad.sum()) / rej_w if rej_w > 0 else None,
            ],
        },
        schema_overrides={"bad_rate": pl.Float64},
    )
    return AugmentedData(
        X=_stack([X_accepted, X_rejected, X_rejected]),
        y=np.concatenate(
            (ya.astype(np.int64), np.ones(nr, dtype=np.int64), np.zeros(nr, dtype=np.int64))
        ),
        sample_weight=np.concatenate((wa, w_bad, w_good)),
        rejected=np.concatenate((np.zeros(na, dtype=bool), np.ones(2 * nr, dtype=bool))),
        table=table,
    )
