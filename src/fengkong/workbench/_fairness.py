"""Disparate-impact report: approval rates, adverse-impact ratios and score distributions
across protected groups.

Protected attributes (gender, age band, region...) are used here, in the modelling
environment, to *measure* the model -- never as model inputs:
:func:`fairness_report` refuses an attribute that is among the model's features.

The four-fifths rule (US EEOC Uniform Guidelines, 29 CFR 1607.4(D)): a group whose
approval rate is below 80 % of the rate of the most favoured group (the reference) shows
adverse impact. It is a screening rule, not a legal conclusion: a failing group calls for
review of the characteristics driving the difference, and a passing one with few
applicants (``small_group``) proves little.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import numpy.typing as npt
import polars as pl

from fengkong.workbench._metrics import (
    MISSING_LABEL,
    _as_float,
    _as_weight,
    _to_frame,
    _to_numpy,
    _weighted_quantiles,
)

FOUR_FIFTHS = 0.8


def _groups_of(group: Any) -> npt.NDArray[np.str_]:
    raw = _to_numpy(group, "group")
    return np.array([MISSING_LABEL if v is None or v != v else str(v) for v in raw.tolist()])


def _approved(approved: Any) -> npt.NDArray[np.float64]:
    raw = _to_numpy(approved, "approved")
    if raw.dtype == np.bool_:
        return raw.astype(np.float64)
    a = _as_float(raw, "approved")
    if not np.all((a == 0.0) | (a == 1.0)):
        msg = "approved must be boolean (True / 1 = approved)"
        raise ValueError(msg)
    return a


def disparate_impact(
    approved: Any,
    group: Any,
    *,
    reference: str | None = None,
    sample_weight: Any = None,
    threshold: float = FOUR_FIFTHS,
    min_count: float = 30.0,
) -> pl.DataFrame:
    """Approval rate and adverse-impact ratio of each group, with the four-fifths verdict.

    ``approved``: booleans (or 0/1), one per applicant; ``group``: the protected attribute
    (null -> ``(missing)``, reported like any group). The reference group defaults to the
    one with the highest approval rate. Columns: ``group``, ``count``, ``approved``,
    ``approval_rate``, ``reference`` (bool), ``adverse_impact_ratio`` (approval rate /
    reference approval rate), ``four_fifths_pass`` (ratio >= ``threshold``),
    ``small_group`` (``count < min_count``: the verdict rests on few applicants).
    Sorted by approval rate, highest first.

    >>> t = disparate_impact([1, 1, 1, 0, 1, 0, 0, 0], ["m", "m", "m", "m", "f", "f", "f", "f"])
    >>> t.select("group", "approval_rate", "adverse_impact_ratio", "four_fifths_pass").rows()
    [('m', 0.75, 1.0, True), ('f', 0.25, 0.3333333333333333, False)]
    """
    a = _approved(approved)
    g = _groups_of(group)
    if a.shape[0] != g.shape[0]:
        msg = f"approved has {a.shape[0]} values and group {g.shape[0]}"
        raise ValueError(msg)
    w = _as_weight(sample_weight, a.shape[0])
    names, inv = np.unique(g, return_inverse=True)
    cnt = np.bincount(inv, weights=w, minlength=names.shape[0])
    app = np.bincount(inv, weights=w * a, minlength=names.shape[0])
    present = cnt > 0
    names, cnt, app = names[present], cnt[present], app[present]
    if names.shape[0] == 0:
        msg = "no applicants with positive weight"
        raise ValueError(msg)
    rate = app / cnt
    labels = [str(n) for n in names.tolist()]
    if reference is None:
        ref = int(np.argmax(rate))
    else:
        if reference not in labels:
            msg = f"reference group {reference!r} is not among the groups"
            raise ValueError(msg)
        ref = labels.index(reference)
    ref_rate = float(rate[ref])
    with np.errstate(invalid="ignore", divide="ignore"):
        air = rate / ref_rate if ref_rate > 0 else np.where(rate > 0, np.inf, 1.0)
    return pl.DataFrame(
        {
            "group": labels,
            "count": cnt,
            "approved": app,
            "approval_rate": rate,
            "reference": [i == ref for i in range(len(labels))],
            "adverse_impact_ratio": air,
            "four_fifths_pass": air >= threshold - 1e-12,  # 0.48 / 0.6 is 4/5, not 0.7999...
            "small_group": cnt < min_count,
        }
    ).sort(["approval_rate", "group"], descending=[True, False])


def score_distribution_by_group(
    score: Any,
    group: Any,
    *,
    sample_weight: Any = None,
    higher_is_riskier: bool = True,
    reference: str | None = None,
) -> pl.DataFrame:
    """Summary of the score distribution of each group.

    Columns: ``group``, ``count``, ``mean``, ``std``, ``p10``, ``p25``, ``median``,
    ``p75``, ``p90`` (weighted), ``mean_difference`` (group mean minus the reference
    group's mean), ``standardized_difference`` (that difference over the pooled standard
    deviation; positive = the group scores *riskier* than the reference, whatever the
    score direction), and ``reference``. The reference defaults to the group with the
    safest mean score.
    """
    s = _as_float(score, "score")
    g = _groups_of(group)
    if s.shape[0] != g.shape[0]:
        msg = f"score has {s.shape[0]} values and group {g.shape[0]}"
        raise ValueError(msg)
    w = _as_weight(sample_weight, s.shape[0])
    names = [str(n) for n in np.unique(g).tolist()]
    qs = np.array([0.10, 0.25, 0.50, 0.75, 0.90])
    rows: list[dict[str, Any]] = []
    for name in names:
        m = (g == name) & (w > 0)
        if not m.any():
            continue
        sw, ss = w[m], s[m]
        mean = float(np.dot(sw, ss) / sw.sum())
        std = float(np.sqrt(np.dot(sw, (ss - mean) ** 2) / sw.sum()))
        q = _weighted_quantiles(ss, sw, qs)
        rows.append(
            {
                "group": name,
                "count": float(sw.sum()),
                "mean": mean,
                "std": std,
                "p10": float(q[0]),
                "p25": float(q[1]),
                "median": float(q[2]),
                "p75": float(q[3]),
                "p90": float(q[4]),
            }
        )
    if not rows:
        msg = "no scores with positive weight"
        raise ValueError(msg)
    means = np.array([r["mean"] for r in rows])
    sign = 1.0 if higher_is_riskier else -1.0
    labels = [r["group"] for r in rows]
    if reference is None:
        ref = int(np.argmin(sign * means))
    else:
        if reference not in labels:
            msg = f"reference group {reference!r} is not among the groups"
            raise ValueError(msg)
        ref = labels.index(reference)
    pooled = float(np.sqrt(np.dot(w, (s - np.dot(w, s) / w.sum()) ** 2) / w.sum()))
    for i, r in enumerate(rows):
        diff = float(means[i] - means[ref])
        r["mean_difference"] = diff
        r["standardized_difference"] = sign * diff / pooled if pooled > 0 else 0.0
        r["reference"] = i == ref
    return pl.DataFrame(rows)


@dataclass(frozen=True)
class FairnessReport:
    """Disparate-impact report over several protected attributes.

    ``approval``: attribute -> :func:`disparate_impact` table; ``scores``: attribute ->
    :func:`score_distribution_by_group` table (when scores were given); ``summary``: one
    row per (attribute, group) with ``attribute``, ``group``, ``count``,
    ``approval_rate``, ``adverse_impact_ratio``, ``four_fifths_pass``, ``small_group``;
    ``passed`` is true when every group of every attribute passes.
    """

    approval: dict[str, pl.DataFrame]
    scores: dict[str, pl.DataFrame] = field(default_factory=dict)
    threshold: float = FOUR_FIFTHS

    @property
    def summary(self) -> pl.DataFrame:
        """All groups of all attributes in one table."""
        parts = [
            t.select(
                pl.lit(attr).alias("attribute"),
                "group",
                "count",
                "approval_rate",
                "adverse_impact_ratio",
                "four_fifths_pass",
                "small_group",
            )
            for attr, t in self.approval.items()
        ]
        return pl.concat(parts) if parts else pl.DataFrame()

    @property
    def passed(self) -> bool:
        """True when no group of any attribute fails the four-fifths rule."""
        return all(bool(t["four_fifths_pass"].all()) for t in self.approval.values())

    @property
    def failures(self) -> list[tuple[str, str]]:
        """``(attribute, group)`` pairs that fail the four-fifths rule."""
        return [
            (attr, str(gname))
            for attr, t in self.approval.items()
            for gname in t.filter(~pl.col("four_fifths_pass"))["group"].to_list()
        ]


def fairness_report(
    protected: Any,
    approved: Any = None,
    *,
    score: Any = None,
    cutoff: float | None = None,
    higher_is_riskier: bool = True,
    attributes: Sequence[str] | None = None,
    model_features: Sequence[str] = (),
    reference: Mapping[str, str] | None = None,
    sample_weight: Any = None,
    threshold: float = FOUR_FIFTHS,
    min_count: float = 30.0,
) -> FairnessReport:
    """The disparate-impact report of one model release.

    ``protected``: a frame (Polars, pandas or a mapping of columns) holding the protected
    attributes, row-aligned with the decisions; ``attributes`` picks its columns
    (default: all). Decisions are ``approved`` or, if that is not given, derived from
    ``score`` and ``cutoff``: approved when the score is on the safe side of the cut-off
    (``score < cutoff`` when ``higher_is_riskier``, else ``score >= cutoff``).
    ``model_features``: the model's inputs; a protected attribute among them is an error.
    ``reference``: attribute -> reference group (default per attribute: highest approval
    rate).
    """
    frame = _to_frame(protected)
    attrs = list(attributes) if attributes is not None else list(frame.columns)
    leaked = sorted(set(attrs) & set(model_features))
    if leaked:
        msg = f"protected attributes used as model features: {', '.join(leaked)}"
        raise ValueError(msg)
    if approved is None:
        if score is None or cutoff is None:
            msg = "give approved, or score and cutoff"
            raise ValueError(msg)
        s = _as_float(score, "score")
        approved = s < cutoff if higher_is_riskier else s >= cutoff
    refs = dict(reference or {})
    approval = {
        a: disparate_impact(
            approved,
            frame[a],
            reference=refs.get(a),
            sample_weight=sample_weight,
            threshold=threshold,
            min_count=min_count,
        )
        for a in attrs
    }
    scores = (
        {
            a: score_distribution_by_group(
                score, frame[a], sample_weight=sample_weight, higher_is_riskier=higher_is_riskier
            )
            for a in attrs
        }
        if score is not None
        else {}
    )
    return FairnessReport(approval, scores, threshold)
