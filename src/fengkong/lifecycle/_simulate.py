"""Back-testing (策略仿真): a champion and a challenger strategy over historical applications.

Both strategies run through :func:`fengkong.evaluate_batch`, the engine production uses, over
the same history table with known outcomes. The comparison is vectorised Polars/NumPy:

- **approval**: share of records decided ``approve`` (``refer`` is not an approval);
- **observed bad rate** on each strategy's approved set, over the records whose outcome is
  known (an outcome may be null, e.g. for applications the champion declined);
- **swap-in** (challenger approves, champion does not) and **swap-out** (champion approves,
  challenger does not): counts, observed bad rates where outcomes are known, and the
  **expected bad rate** from the score's calibrated probability of default (below);
- **limit and price changes** on the records both approve;
- **expected profit** per approved record and in total (formula in :class:`Economics`).

How a score becomes a PD
------------------------
For the strategy named by ``pd_from`` (default the challenger), a one-variable logistic
regression ``P(bad) = 1 / (1 + exp(-(a + b * x)))`` is fitted by Newton's method on the
records the *champion* approved whose outcome is known (the booked population, the only one
with outcomes in a real book), separately for each component that filled the score slot
(each scorecard has its own scale). ``x`` is the slot's score, or ``logit(score)`` when the
slot is a model giving a probability. A component with fewer than :data:`MIN_FIT_RECORDS`
such records, or without both goods and bads, uses the fit pooled over all components. The
fitted ``a``, ``b`` and record counts are part of the result (``calibration``), so the
extrapolation to records the champion declined is visible.
"""

from __future__ import annotations

import math
import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import asdict, dataclass, field
from typing import Any, Literal

import numpy as np
import polars as pl
from numpy.typing import NDArray

from fengkong.compile import CompiledStrategy
from fengkong.engine import evaluate_batch
from fengkong.errors import DataError

__all__ = [
    "DECISIONS",
    "MIN_FIT_RECORDS",
    "Calibration",
    "Economics",
    "Simulation",
    "simulate",
]

Progress = Callable[[str, int, int], None]

#: The decisions a strategy gives, plus ``error`` for rows whose inputs were invalid.
DECISIONS: tuple[str, ...] = ("approve", "refer", "decline", "error")

#: Fewest champion-approved records with a known outcome a component's PD fit needs.
MIN_FIT_RECORDS = 200

_SIDES = ("champion", "challenger")


@dataclass(frozen=True)
class Economics:
    """The parameters of the expected profit of one approved loan.

    For a loan with exposure ``EAD`` (the requested amount capped by the limit, or the limit
    times ``utilisation`` when the history has no requested amount), annual rate ``APR``,
    term ``T`` months and probability of default ``PD``::

        revenue = EAD * (APR - funding_rate) * (T + 1) / 24
        profit  = (1 - PD) * revenue - PD * lgd * EAD - cost_per_loan

    ``(T + 1) / 24`` years is the average outstanding share of an equal-principal loan
    repaid over ``T`` months, times ``T / 12`` years. A defaulting loan is taken to earn
    nothing and lose ``lgd`` of its exposure (a simplification that slightly understates
    revenue). ``profit_observed`` puts the known outcome (0 or 1) in place of ``PD`` where
    there is one.
    """

    funding_rate: float = 0.04
    lgd: float = 0.65
    cost_per_loan: float = 150.0
    default_term_months: int = 12
    utilisation: float = 1.0


@dataclass(frozen=True)
class Calibration:
    """The fitted score-to-PD map of one score component (see the module docstring)."""

    component: str
    intercept: float
    slope: float
    transform: Literal["score", "logit"]
    records: int
    bads: int
    pooled: bool

    def pd(self, score: NDArray[np.float64]) -> NDArray[np.float64]:
        """The probability of default for scores (NaN stays NaN)."""
        x = _logit(score) if self.transform == "logit" else score
        return _sigmoid(self.intercept + self.slope * x)


@dataclass
class Simulation:
    """What :func:`simulate` returns: the per-record table and the summaries.

    Attributes
    ----------
    decisions
        One row per history record: ``row``, the id column (when there is one), ``segment``
        (the report's grouping), the outcome, each strategy's decision, segment, limit, APR,
        term, score and expected profit, ``pd`` and ``swap``.
    overall
        The metrics for all records (names as in :attr:`by_segment`).
    by_segment
        One row of metrics per segment.
    swap
        Champion decision x challenger decision: count, share, known outcomes, observed and
        expected bad rate.
    calibration
        The score-to-PD fits used for ``pd``.
    """

    decisions: pl.DataFrame
    overall: dict[str, Any]
    by_segment: pl.DataFrame
    swap: pl.DataFrame
    calibration: list[Calibration]
    strategies: dict[str, dict[str, str]]
    economics: Economics
    outcome: str
    segment_by: str
    pd_from: str
    score_slot: dict[str, str]
    seconds: dict[str, float] = field(default_factory=dict)

    def summary(self) -> dict[str, Any]:
        """Everything but the per-record table, JSON-ready."""
        return {
            "strategies": self.strategies,
            "records": self.decisions.height,
            "outcome": self.outcome,
            "segment_by": self.segment_by,
            "pd_from": self.pd_from,
            "score_slot": self.score_slot,
            "economics": asdict(self.economics),
            "overall": self.overall,
            "by_segment": _json_rows(self.by_segment),
            "swap": _json_rows(self.swap),
            "calibration": [asdict(c) for c in self.calibration],
            "seconds": {k: round(v, 3) for k, v in self.seconds.items()},
        }


# --------------------------------------------------------------------------------------------
# Running both strategies
# --------------------------------------------------------------------------------------------


def score_slot(strategy: CompiledStrategy, slot: str | None = None) -> str:
    """The score slot a simulation reads: ``slot`` when given, else the first one."""
    slots = [c[len("score."):] for c in strategy.columns if c.startswith("score.")]
    if slot is None:
        if not slots:
            msg = (f"Strategy `{strategy.strategy_id}` has no scorecard or model slot, so no "
                   "score to turn into a probability of default.")
            raise DataError(msg)
        return slots[0]
    if slot not in slots:
        msg = (f"Strategy `{strategy.strategy_id}` has no score slot `{slot}` "
               f"(it has {', '.join(slots) or 'none'}).")
        raise DataError(msg)
    return slot


def _decide(strategy: CompiledStrategy, history: pl.DataFrame, side: str, slot: str,
            default_term: int) -> pl.DataFrame:
    d = evaluate_batch(strategy, history, reasons=False)  # a back-test compares outcomes
    return d.select(
        pl.col("decision").fill_null("error").alias(f"{side}_decision"),
        pl.col("segment").alias(f"{side}_segment"),
        pl.col("limit").cast(pl.Float64).alias(f"{side}_limit"),
        pl.col("apr").cast(pl.Float64).alias(f"{side}_apr"),
        pl.col("term").cast(pl.Int64).fill_null(default_term).alias(f"{side}_term"),
        pl.col(f"score.{slot}").cast(pl.Float64).alias(f"{side}_score"),
        pl.col(f"component.{slot}").alias(f"{side}_component"),
    )


def simulate(
    champion: CompiledStrategy,
    challenger: CompiledStrategy,
    history: pl.DataFrame,
    *,
    outcome: str = "bad",
    segment_by: str | None = None,
    id_column: str | None = None,
    amount_column: str | None = "loan.amount",
    economics: Economics | None = None,
    pd_from: Literal["champion", "challenger"] = "challenger",
    score_slots: Mapping[str, str] | None = None,
    progress: Progress | None = None,
) -> Simulation:
    """Back-test ``challenger`` against ``champion`` over ``history``.

    Parameters
    ----------
    champion, challenger
        Compiled strategies (any stage; both read their inputs from ``history``).
    history
        One row per historical application: every input either strategy requires, the
        ``outcome`` column (1 bad, 0 good, null unknown) and optional extra columns.
    outcome
        The outcome column.
    segment_by
        A column of ``history`` to group by; default the champion's segment.
    id_column
        A column carried into :attr:`Simulation.decisions` (default ``application_id``
        when present).
    amount_column
        The requested amount (exposure is ``min(limit, amount)``); when absent from
        ``history`` the exposure is ``limit * economics.utilisation``.
    economics
        The profit parameters (:class:`Economics`).
    pd_from
        Whose score is calibrated into ``pd``.
    score_slots
        ``{"champion": slot, "challenger": slot}`` to pick the score slots (default: each
        strategy's first).
    progress
        Called as ``progress(stage, done, total)``.

    Returns
    -------
    Simulation

    Raises
    ------
    DataError
        If a column is missing, the outcome is not 0/1, or no champion-approved record has
        a known outcome to calibrate the score on.
    """
    econ = economics or Economics()
    total = 5
    step = progress or (lambda _s, _d, _t: None)
    seconds: dict[str, float] = {}
    if outcome not in history.columns:
        msg = f"The history has no outcome column `{outcome}`."
        raise DataError(msg)
    if segment_by is not None and segment_by not in history.columns:
        msg = f"The history has no column `{segment_by}` to segment by."
        raise DataError(msg)
    if id_column is None and "application_id" in history.columns:
        id_column = "application_id"
    if id_column is not None and id_column not in history.columns:
        msg = f"The history has no id column `{id_column}`."
        raise DataError(msg)
    raw = history[outcome]
    if raw.dtype == pl.String:  # e.g. read from CSV as text: "0", "1", "" (unknown)
        raw = raw.str.strip_chars().replace("", None)
    y = raw.cast(pl.Int8, strict=False) if raw.dtype in (pl.String, pl.Boolean) or \
        raw.dtype.is_numeric() else None
    exact = raw.dtype.is_numeric() and not bool(
        raw.drop_nulls().cast(pl.Float64).is_in([0.0, 1.0]).all())
    if y is None or exact or y.null_count() != raw.null_count() or \
            not y.drop_nulls().is_in([0, 1]).all():
        msg = f"The outcome column `{outcome}` must hold 0 (good), 1 (bad) or null (unknown)."
        raise DataError(msg)

    slots = {side: score_slot(s, (score_slots or {}).get(side))
             for side, s in zip(_SIDES, (champion, challenger), strict=True)}
    parts: list[pl.DataFrame] = []
    for i, (side, strategy) in enumerate(zip(_SIDES, (champion, challenger), strict=True)):
        step(f"deciding with the {side}", i, total)
        t0 = time.perf_counter()
        parts.append(_decide(strategy, history, side, slots[side], econ.default_term_months))
        seconds[side] = time.perf_counter() - t0

    step("calibrating the score", 2, total)
    t0 = time.perf_counter()
    base: list[pl.Series] = [pl.Series("row", np.arange(history.height, dtype=np.int64))]
    if id_column is not None:
        base.append(history[id_column])
    frame = pl.DataFrame(base).with_columns(y.alias(outcome)).hstack(parts[0]).hstack(parts[1])
    if amount_column is not None and amount_column in history.columns:
        frame = frame.with_columns(history[amount_column].cast(pl.Float64).alias("_amount"))
    else:
        frame = frame.with_columns(pl.lit(None, dtype=pl.Float64).alias("_amount"))
    seg = history[segment_by].cast(pl.String) if segment_by else frame["champion_segment"]
    frame = frame.with_columns(seg.fill_null("(none)").alias("segment"))

    fit_mask = ((frame["champion_decision"] == "approve") & y.is_not_null()).to_numpy()
    calib, pd_values = _calibrate(frame, pd_from, fit_mask, outcome)
    frame = frame.with_columns(pl.Series("pd", pd_values, nan_to_null=True))
    seconds["calibration"] = time.perf_counter() - t0

    step("comparing", 3, total)
    t0 = time.perf_counter()
    frame = _add_profit(frame, econ, outcome)
    a = pl.col("champion_decision") == "approve"
    b = pl.col("challenger_decision") == "approve"
    frame = frame.with_columns(
        pl.when(a & b).then(pl.lit("both_approve"))
        .when(b).then(pl.lit("swap_in"))
        .when(a).then(pl.lit("swap_out"))
        .otherwise(pl.lit("neither")).alias("swap"))
    keep = ["row", *([id_column] if id_column else []), "segment", outcome, "swap", "pd",
            *(f"{s}_{c}" for s in _SIDES for c in ("decision", "segment", "limit", "apr", "term",
                                                   "score", "component", "ead", "profit",
                                                   "profit_observed"))]
    frame = frame.select(keep)
    metrics = _metric_exprs(outcome)
    overall = _json_rows(frame.select(metrics))[0]
    by_segment = frame.group_by("segment").agg(metrics).sort("segment")
    by_segment = by_segment.with_columns(_nan_to_null(by_segment))
    swap = _swap_matrix(frame, outcome)
    seconds["compare"] = time.perf_counter() - t0
    step("done", total, total)
    strategies = {side: {"id": s.strategy_id, "version": s.version, "digest": s.digest}
                  for side, s in zip(_SIDES, (champion, challenger), strict=True)}
    return Simulation(decisions=frame, overall=overall, by_segment=by_segment, swap=swap,
                      calibration=calib, strategies=strategies, economics=econ, outcome=outcome,
                      segment_by=segment_by or "champion segment", pd_from=pd_from,
                      score_slot=slots, seconds=seconds)


# --------------------------------------------------------------------------------------------
# Score -> PD
# --------------------------------------------------------------------------------------------


def _sigmoid(z: NDArray[np.float64]) -> NDArray[np.float64]:
    out: NDArray[np.float64] = 0.5 * (1.0 + np.tanh(0.5 * z))  # stable for large |z|
    return out


def _logit(p: NDArray[np.float64]) -> NDArray[np.float64]:
    q = np.clip(p, 1e-9, 1 - 1e-9)
    out: NDArray[np.float64] = np.log(q / (1 - q))
    return out


def fit_logistic(x: NDArray[np.float64], y: NDArray[np.float64]) -> tuple[float, float]:
    """Maximum-likelihood ``(a, b)`` of ``P(y=1) = sigmoid(a + b x)`` by Newton's method.

    Examples
    --------
    >>> x = np.array([0.0, 0.0, 1.0, 1.0]); y = np.array([0.0, 1.0, 1.0, 1.0])
    >>> a, b = fit_logistic(np.repeat(x, 2), np.array([0., 1., 0., 0., 1., 1., 1., 0.]))
    >>> round(a, 6), round(a + b, 6)  # log-odds 1:3 at x=0 and 3:1 at x=1
    (-1.098612, 1.098612)
    """
    mu, sd = float(x.mean()), float(x.std()) or 1.0
    z = (x - mu) / sd
    rate = float(np.clip(y.mean(), 1e-6, 1 - 1e-6))
    beta = np.array([math.log(rate / (1 - rate)), 0.0])
    for _ in range(50):
        p = _sigmoid(beta[0] + beta[1] * z)
        w = p * (1 - p)
        g = np.array([np.sum(y - p), np.sum((y - p) * z)])
        h = np.array([[np.sum(w), np.sum(w * z)], [np.sum(w * z), np.sum(w * z * z)]])
        try:
            delta = np.linalg.solve(h + 1e-9 * np.eye(2), g)
        except np.linalg.LinAlgError:
            break
        beta = beta + delta
        if float(np.max(np.abs(delta))) < 1e-10:
            break
    return float(beta[0] - beta[1] * mu / sd), float(beta[1] / sd)


def _calibrate(frame: pl.DataFrame, side: str, fit_mask: NDArray[np.bool_], outcome: str
               ) -> tuple[list[Calibration], NDArray[np.float64]]:
    score = frame[f"{side}_score"].to_numpy(allow_copy=True).astype(np.float64)
    score = np.where(np.isfinite(score), score, np.nan)
    y = frame[outcome].fill_null(0).to_numpy().astype(np.float64)
    comp = frame[f"{side}_component"].fill_null("(none)")
    ok = np.isfinite(score)
    finite = score[ok]
    transform: Literal["score", "logit"] = (
        "logit" if finite.size and finite.min() >= 0.0 and finite.max() <= 1.0 else "score")
    x_all = _logit(score) if transform == "logit" else score
    fit = fit_mask & ok
    if not fit.any():
        msg = ("No record the champion approved has a known outcome and a score: nothing to "
               "calibrate the score's probability of default on.")
        raise DataError(msg)
    pooled_bads = int(y[fit].sum())
    a0, b0 = fit_logistic(x_all[fit], y[fit]) if 0 < pooled_bads < int(fit.sum()) else (
        _constant_logit(y[fit]), 0.0)
    pd = np.full(frame.height, np.nan)
    out: list[Calibration] = []
    for name in sorted(comp.unique().to_list()):
        member = (comp == name).to_numpy()
        sel = fit & member
        n, bads = int(sel.sum()), int(y[sel].sum())
        if n >= MIN_FIT_RECORDS and 0 < bads < n:
            a, b = fit_logistic(x_all[sel], y[sel])
            pooled = False
        else:
            a, b, pooled = a0, b0, True
        cal = Calibration(name, a, b, transform, n, bads, pooled)
        out.append(cal)
        pd[member] = _sigmoid(a + b * x_all[member])
    return out, pd


def _constant_logit(y: NDArray[np.float64]) -> float:
    r = float(np.clip(y.mean(), 1e-6, 1 - 1e-6))
    return math.log(r / (1 - r))


# --------------------------------------------------------------------------------------------
# Profit and metrics
# --------------------------------------------------------------------------------------------


def _add_profit(frame: pl.DataFrame, econ: Economics, outcome: str) -> pl.DataFrame:
    exprs: list[pl.Expr] = []
    for s in _SIDES:
        limit = pl.col(f"{s}_limit")
        ead = pl.when(pl.col("_amount").is_not_null()).then(
            pl.min_horizontal(limit, pl.col("_amount"))).otherwise(limit * econ.utilisation)
        approved = pl.col(f"{s}_decision") == "approve"
        exprs.append(pl.when(approved).then(ead).alias(f"{s}_ead"))
    frame = frame.with_columns(exprs)
    exprs = []
    for s in _SIDES:
        ead = pl.col(f"{s}_ead")
        revenue = ead * (pl.col(f"{s}_apr") - econ.funding_rate) * (pl.col(f"{s}_term") + 1) / 24
        observed = pl.coalesce(pl.col(outcome).cast(pl.Float64), pl.col("pd"))
        for name, p in ((f"{s}_profit", pl.col("pd")), (f"{s}_profit_observed", observed)):
            exprs.append(((1 - p) * revenue - p * econ.lgd * ead - econ.cost_per_loan)
                         .alias(name))
    return frame.with_columns(exprs)


def _metric_exprs(outcome: str) -> list[pl.Expr]:
    bad = pl.col(outcome).cast(pl.Float64)
    known = pl.col(outcome).is_not_null()
    pd = pl.col("pd")
    a = pl.col("champion_decision") == "approve"
    b = pl.col("challenger_decision") == "approve"
    both = a & b
    swap_in = b & ~a
    swap_out = a & ~b

    def rate(mask: pl.Expr) -> pl.Expr:
        return bad.filter(mask & known).mean()

    def count(mask: pl.Expr) -> pl.Expr:
        return mask.sum().cast(pl.Int64)

    exprs = [
        pl.len().cast(pl.Int64).alias("records"),
        count(known).alias("known_outcomes"),
        a.mean().alias("champion_approval_rate"),
        b.mean().alias("challenger_approval_rate"),
        (pl.col("champion_decision") == "refer").mean().alias("champion_refer_rate"),
        (pl.col("challenger_decision") == "refer").mean().alias("challenger_refer_rate"),
        count(a).alias("champion_approved"),
        count(b).alias("challenger_approved"),
        rate(a).alias("champion_bad_rate"),
        rate(b).alias("challenger_bad_rate"),
        pd.filter(a).mean().alias("champion_expected_bad_rate"),
        pd.filter(b).mean().alias("challenger_expected_bad_rate"),
        count(swap_in).alias("swap_in"),
        count(swap_in & known).alias("swap_in_known"),
        rate(swap_in).alias("swap_in_bad_rate"),
        pd.filter(swap_in).mean().alias("swap_in_expected_bad_rate"),
        count(swap_out).alias("swap_out"),
        count(swap_out & known).alias("swap_out_known"),
        rate(swap_out).alias("swap_out_bad_rate"),
        pd.filter(swap_out).mean().alias("swap_out_expected_bad_rate"),
        count(both).alias("both_approve"),
        pl.col("champion_limit").filter(both).mean().alias("both_champion_mean_limit"),
        pl.col("challenger_limit").filter(both).mean().alias("both_challenger_mean_limit"),
        count(both & (pl.col("challenger_limit") > pl.col("champion_limit")))
        .alias("limit_increased"),
        count(both & (pl.col("challenger_limit") < pl.col("champion_limit")))
        .alias("limit_decreased"),
        pl.col("champion_apr").filter(both).mean().alias("both_champion_mean_apr"),
        pl.col("challenger_apr").filter(both).mean().alias("both_challenger_mean_apr"),
        count(both & (pl.col("challenger_apr") > pl.col("champion_apr"))).alias("apr_increased"),
        count(both & (pl.col("challenger_apr") < pl.col("champion_apr"))).alias("apr_decreased"),
        pl.col("champion_limit").filter(a).sum().alias("champion_exposure"),
        pl.col("challenger_limit").filter(b).sum().alias("challenger_exposure"),
        pl.col("champion_profit").sum().alias("champion_expected_profit"),
        pl.col("challenger_profit").sum().alias("challenger_expected_profit"),
        (pl.col("challenger_profit").sum() - pl.col("champion_profit").sum())
        .alias("expected_profit_change"),
        pl.col("champion_profit_observed").sum().alias("champion_observed_profit"),
        pl.col("challenger_profit_observed").sum().alias("challenger_observed_profit"),
    ]
    return exprs


def _swap_matrix(frame: pl.DataFrame, outcome: str) -> pl.DataFrame:
    bad = pl.col(outcome).cast(pl.Float64)
    grid = pl.DataFrame({"champion_decision": [a for a in DECISIONS for _ in DECISIONS],
                         "challenger_decision": [b for _ in DECISIONS for b in DECISIONS]})
    counts = frame.group_by("champion_decision", "challenger_decision").agg(
        pl.len().cast(pl.Int64).alias("records"),
        pl.col(outcome).is_not_null().sum().cast(pl.Int64).alias("known_outcomes"),
        bad.filter(pl.col(outcome).is_not_null()).mean().alias("bad_rate"),
        pl.col("pd").mean().alias("expected_bad_rate"))
    out = grid.join(counts, on=["champion_decision", "challenger_decision"], how="left",
                    maintain_order="left")
    out = out.with_columns(pl.col("records").fill_null(0), pl.col("known_outcomes").fill_null(0))
    out = out.filter((pl.col("records") > 0) | pl.col("champion_decision").is_in(DECISIONS[:3])
                     & pl.col("challenger_decision").is_in(DECISIONS[:3]))
    n = max(frame.height, 1)
    return out.with_columns((pl.col("records") / n).alias("share"))


def _nan_to_null(frame: pl.DataFrame) -> list[pl.Expr]:
    return [pl.col(c).fill_nan(None) for c, t in frame.schema.items() if t.is_float()]


def _json_rows(frame: pl.DataFrame) -> list[dict[str, Any]]:
    rows = frame.to_dicts()
    for row in rows:
        for k, v in row.items():
            if isinstance(v, float) and not math.isfinite(v):
                row[k] = None
    return rows


def metric_names() -> Sequence[str]:
    """The metric columns of :attr:`Simulation.by_segment`, in order."""
    return [e.meta.output_name() for e in _metric_exprs("bad")]
