"""Acquisition pre-screen (获客): whom to invite to a campaign, with what pre-approved offer.

The strategy is an ordinary strategy (``stage: acquisition``) that reads the prospect table's
columns as ``prospect.<column>`` and fills four slots the job reads:

=====================  ======================================================================
``score``              risk score (any scorecard or model slot; see ``risk_slot``)
``pd``                 a table with output ``value``: probability of default if booked
``propensity``         a table with output ``value``: probability of responding to the offer
``offer``              a table with outputs ``limit``, ``apr``, ``contact_cost``
=====================  ======================================================================

and decides ``approve`` (eligible for a pre-approved offer, at ``limit`` and ``apr``) or
``decline``. The job then, vectorised over the whole list:

1. **Consent guard** (after the strategy, so a strategy mistake cannot break it): a prospect
   without marketing consent (``marketing_consent`` false or null), whose consent does not
   cover credit offers (``consent_purpose`` other than ``credit_offers``, when the column
   exists) or has no consented channel (``consent_channel`` ``none``, when it exists) is
   never selected: its ``reason`` names the missing consent, and where the strategy had made
   an offer (``approve``) ``blocked_by = "marketing_consent"`` records that the guard
   withdrew it.
2. **Expected profit** of contacting an eligible prospect::

       EAD             = limit * utilisation
       margin          = EAD * (apr - funding_rate) * horizon_months / 12
       expected_loss   = pd * lgd * EAD
       expected_profit = response * (margin - expected_loss) - contact_cost

3. **Selection**: candidates are consented, eligible prospects with a positive expected
   profit. Under a **volume** (number of contacts) the best ``volume`` by expected profit are
   taken, which is exactly optimal (each contact uses one unit). Under a **budget** (total
   contact cost) candidates are ranked by expected profit per unit of contact cost and the
   longest prefix within the budget is taken (the greedy knapsack cut: optimal for the
   fractional problem; the 0/1 optimum is higher by less than the profit of the first
   prospect left out). With both, the ranking is per unit of cost and both limits apply.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import asdict, dataclass, field
from typing import Any

import numpy as np
import polars as pl

from fengkong.compile import CompiledStrategy
from fengkong.engine import evaluate_batch
from fengkong.errors import DataError

__all__ = ["PREFIX", "OfferEconomics", "Prescreen", "prescreen"]

Progress = Callable[[str, int, int], None]

#: The strategy reads prospect column ``c`` as ``prospect.c``.
PREFIX = "prospect."

#: Why a prospect was not selected (``reason`` column), most decisive first.
REASONS = {
    "NO_MARKETING_CONSENT": "no consent to marketing contact",
    "CONSENT_PURPOSE_NOT_CREDIT_OFFERS": "consent does not cover credit offers",
    "NO_CONSENTED_CHANNEL": "no channel consented to",
    "NOT_ELIGIBLE": "the strategy declined (see reasons)",
    "NOT_PROFITABLE": "expected profit of contacting is not positive",
    "OVER_VOLUME": "ranked below the volume cut",
    "OVER_BUDGET": "ranked below the budget cut",
}


@dataclass(frozen=True)
class OfferEconomics:
    """Parameters of the expected profit of contacting a prospect (module docstring)."""

    funding_rate: float = 0.04
    lgd: float = 0.65
    utilisation: float = 0.5
    horizon_months: int = 12


@dataclass
class Prescreen:
    """What :func:`prescreen` returns.

    Attributes
    ----------
    offers
        One row per prospect: id, segment, decision, strategy reasons, score, ``pd``,
        ``response``, ``limit``, ``apr``, ``contact_cost``, ``expected_profit``,
        ``value_per_cost``, ``consent_ok``, ``blocked_by``, ``rank`` (among candidates),
        ``selected`` and ``reason`` (why not selected; null when selected).
    by_segment
        Per segment: prospects, eligible, consent-blocked, candidates, selected, contact
        cost, expected responses, expected profit, mean PD and limit of the selected.
    overall
        The same for all prospects, plus the constraint and what it used.
    """

    offers: pl.DataFrame
    by_segment: pl.DataFrame
    overall: dict[str, Any]
    strategy: dict[str, str]
    economics: OfferEconomics
    budget: float | None
    volume: int | None
    seconds: dict[str, float] = field(default_factory=dict)

    def summary(self) -> dict[str, Any]:
        """JSON-ready summary (no per-prospect rows)."""
        return {"strategy": self.strategy, "budget": self.budget, "volume": self.volume,
                "economics": asdict(self.economics), "overall": self.overall,
                "by_segment": self.by_segment.to_dicts(),
                "seconds": {k: round(v, 3) for k, v in self.seconds.items()}}


def _consent_reason(prospects: pl.DataFrame) -> pl.Expr:
    if "marketing_consent" not in prospects.columns:
        msg = ("The prospect list has no `marketing_consent` column: without it no prospect "
               "may be contacted.")
        raise DataError(msg)
    checks: list[pl.Expr] = [
        pl.when(~pl.col("marketing_consent").fill_null(value=False))
        .then(pl.lit("NO_MARKETING_CONSENT"))]
    if "consent_purpose" in prospects.columns:
        checks.append(pl.when(pl.col("consent_purpose").cast(pl.String).fill_null("none")
                              != "credit_offers")
                      .then(pl.lit("CONSENT_PURPOSE_NOT_CREDIT_OFFERS")))
    if "consent_channel" in prospects.columns:
        checks.append(pl.when(pl.col("consent_channel").cast(pl.String).fill_null("none")
                              == "none").then(pl.lit("NO_CONSENTED_CHANNEL")))
    return pl.coalesce(checks)  # the first failed check, null when consent holds


def _column(decisions: pl.DataFrame, name: str, what: str) -> pl.Series:
    if name not in decisions.columns:
        msg = f"The acquisition strategy gives no `{name}` ({what})."
        raise DataError(msg)
    return decisions[name].cast(pl.Float64)


def prescreen(
    strategy: CompiledStrategy,
    prospects: pl.DataFrame,
    *,
    budget: float | None = None,
    volume: int | None = None,
    economics: OfferEconomics | None = None,
    id_column: str = "prospect_id",
    segment_column: str = "segment",
    risk_slot: str = "score",
    progress: Progress | None = None,
) -> Prescreen:
    """Pre-screen a prospect list and choose whom to contact under a budget or a volume.

    Parameters
    ----------
    strategy
        A compiled acquisition strategy (module docstring: slots it must fill).
    prospects
        One row per prospect (e.g. :func:`fengkong.lifecycle.prospects`); must hold
        ``marketing_consent``.
    budget
        Most total contact cost to spend.
    volume
        Most prospects to contact.
    economics
        Profit parameters (:class:`OfferEconomics`).
    id_column, segment_column
        Prospect id and the segment to summarise by.
    risk_slot
        The slot holding the risk score.
    progress
        Called as ``progress(stage, done, total)``.

    Returns
    -------
    Prescreen

    Raises
    ------
    DataError
        If the strategy's stage is not ``acquisition``, neither constraint is given, a constraint is negative, a column is missing, or the
        strategy lacks a slot the job reads.
    """
    if strategy.plan.stage != "acquisition":
        msg = (f"Strategy `{strategy.strategy_id}` is a `{strategy.plan.stage}` strategy; "
               "a pre-screen needs `stage: acquisition`.")
        raise DataError(msg)
    if budget is None and volume is None:
        msg = "Give a budget or a volume (or both) to choose prospects under."
        raise DataError(msg)
    if (budget is not None and not budget >= 0) or (volume is not None and volume < 0):
        msg = "The budget and the volume must not be negative."
        raise DataError(msg)
    for c in (id_column, segment_column):
        if c not in prospects.columns:
            msg = f"The prospect list has no `{c}` column."
            raise DataError(msg)
    econ = economics or OfferEconomics()
    step = progress or (lambda _s, _d, _t: None)
    consent_reason = _consent_reason(prospects)  # checked before any work
    seconds: dict[str, float] = {}

    step("deciding", 0, 3)
    t0 = time.perf_counter()
    decided = evaluate_batch(strategy, prospects.rename({c: PREFIX + c for c in prospects.columns}))
    seconds["strategy"] = time.perf_counter() - t0

    step("ranking", 1, 3)
    t0 = time.perf_counter()
    frame = pl.DataFrame([
        prospects[id_column],
        prospects[segment_column].cast(pl.String).alias("segment"),
        decided["decision"].fill_null("error"),
        decided["segment"].alias("strategy_segment"),
        decided["reasons"],
        _column(decided, f"score.{risk_slot}", "risk score slot").alias("score"),
        _column(decided, "table.pd.value", "a `pd` table slot with output `value`").alias("pd"),
        _column(decided, "table.propensity.value",
                "a `propensity` table slot with output `value`").alias("response"),
        decided["limit"].cast(pl.Float64),
        decided["apr"].cast(pl.Float64),
        _column(decided, "table.offer.contact_cost",
                "an `offer` table slot with output `contact_cost`").fill_null(0.0)
        .alias("contact_cost"),
    ]).with_columns(prospects.select(consent_reason.alias("_consent")).to_series())
    eligible = pl.col("decision") == "approve"
    ead = pl.col("limit") * econ.utilisation
    margin = ead * (pl.col("apr") - econ.funding_rate) * (econ.horizon_months / 12)
    loss = pl.col("pd") * econ.lgd * ead
    frame = frame.with_columns(
        pl.when(eligible).then(pl.col("response") * (margin - loss) - pl.col("contact_cost"))
        .alias("expected_profit"),
        pl.col("_consent").is_null().alias("consent_ok"))
    frame = frame.with_columns(
        (pl.col("expected_profit") / pl.max_horizontal(pl.col("contact_cost"), pl.lit(1e-9)))
        .alias("value_per_cost"))
    candidate = (eligible & pl.col("consent_ok") & (pl.col("expected_profit") > 0)).fill_null(
        value=False)
    key = "value_per_cost" if budget is not None else "expected_profit"
    frame = frame.with_columns(candidate.alias("_candidate"))
    order = frame.select(pl.arg_sort_by(
        [pl.col("_candidate"), pl.col(key).fill_null(-np.inf), pl.col(id_column)],
        descending=[True, True, False])).to_series().to_numpy()
    n_cand = int(frame["_candidate"].sum())
    rank = np.zeros(frame.height, dtype=np.int64)
    rank[order[:n_cand]] = np.arange(1, n_cand + 1)
    cost_sorted = frame["contact_cost"].to_numpy()[order[:n_cand]]
    take = n_cand
    if volume is not None:
        take = min(take, volume)
    if budget is not None:
        within = int(np.searchsorted(np.cumsum(cost_sorted), budget * (1 + 1e-12),
                                     side="right"))
        take = min(take, within)
    selected = np.zeros(frame.height, dtype=bool)
    selected[order[:take]] = True
    cut = "OVER_VOLUME" if volume is not None and take == volume else "OVER_BUDGET"
    frame = frame.with_columns(
        pl.Series("rank", rank).replace(0, None),
        pl.Series("selected", selected))
    frame = frame.with_columns(
        pl.when(pl.col("selected")).then(pl.lit(None, dtype=pl.String))
        .when(pl.col("_consent").is_not_null()).then(pl.col("_consent"))
        .when(~eligible).then(pl.lit("NOT_ELIGIBLE"))
        .when(pl.col("expected_profit") <= 0).then(pl.lit("NOT_PROFITABLE"))
        .otherwise(pl.lit(cut)).alias("reason"),
        pl.when(pl.col("_consent").is_not_null() & eligible).then(pl.lit("marketing_consent"))
        .alias("blocked_by"),
    ).drop("_consent", "_candidate")
    seconds["rank"] = time.perf_counter() - t0

    step("summarising", 2, 3)
    by_segment = frame.group_by("segment").agg(_summary_exprs()).sort("segment")
    overall = frame.select(_summary_exprs()).to_dicts()[0]
    overall.update({"budget": budget, "volume": volume, "ranked_by": key})
    step("done", 3, 3)
    return Prescreen(offers=frame, by_segment=by_segment, overall=overall,
                     strategy={"id": strategy.strategy_id, "version": strategy.version,
                               "digest": strategy.digest},
                     economics=econ, budget=budget, volume=volume, seconds=seconds)


def _summary_exprs() -> list[pl.Expr]:
    sel = pl.col("selected")
    return [
        pl.len().cast(pl.Int64).alias("prospects"),
        (pl.col("decision") == "approve").sum().cast(pl.Int64).alias("eligible"),
        pl.col("blocked_by").is_not_null().sum().cast(pl.Int64).alias("consent_blocked"),
        pl.col("rank").is_not_null().sum().cast(pl.Int64).alias("candidates"),
        sel.sum().cast(pl.Int64).alias("selected"),
        pl.col("contact_cost").filter(sel).sum().alias("contact_cost"),
        pl.col("response").filter(sel).sum().alias("expected_responses"),
        pl.col("expected_profit").filter(sel).sum().alias("expected_profit"),
        pl.col("pd").filter(sel).mean().alias("mean_pd_selected"),
        pl.col("limit").filter(sel).mean().alias("mean_limit_selected"),
    ]
