"""Acquisition pre-screen: consent guard, offers, and the best prospects under a budget or volume."""

from __future__ import annotations

from itertools import combinations
from pathlib import Path

import numpy as np
import polars as pl
import pytest

from fengkong import compile_strategy
from fengkong.compile import CompiledStrategy
from fengkong.demo import example_strategy_path
from fengkong.errors import DataError
from fengkong.lifecycle import OfferEconomics, prescreen, prospects

EXAMPLE = example_strategy_path().parents[1] / "acquisition" / "strategy.yaml"


@pytest.fixture(scope="module")
def strategy() -> CompiledStrategy:
    return compile_strategy(EXAMPLE)


@pytest.fixture(scope="module")
def book() -> pl.DataFrame:
    return prospects(20_000, seed=3)


def test_example_is_an_acquisition_strategy(strategy: CompiledStrategy) -> None:
    assert strategy.plan.stage == "acquisition"
    assert not [w for w in strategy.warnings if w.severity == "error"]


def test_no_consent_is_never_selected(strategy: CompiledStrategy, book: pl.DataFrame) -> None:
    # Everyone could be contacted (volume = all): only the consent guard keeps anyone out.
    result = prescreen(strategy, book, volume=book.height)
    offers = result.offers.join(book.select("prospect_id", "marketing_consent",
                                            "consent_purpose"), on="prospect_id")
    no_consent = offers.filter(~pl.col("marketing_consent")
                               | (pl.col("consent_purpose") != "credit_offers"))
    assert no_consent.height > 0
    assert not no_consent["selected"].any()
    assert set(no_consent["reason"]) == {"NO_MARKETING_CONSENT",
                                         "CONSENT_PURPOSE_NOT_CREDIT_OFFERS"}
    # where the strategy made an offer, the guard that withdrew it is recorded
    blocked = no_consent.filter(pl.col("decision") == "approve")
    assert blocked.height > 0 and set(blocked["blocked_by"]) == {"marketing_consent"}
    assert result.overall["consent_blocked"] == blocked.height
    # and with consent, every eligible profitable prospect is selected under no real limit
    ok = offers.filter(pl.col("consent_ok") & (pl.col("decision") == "approve")
                       & (pl.col("expected_profit") > 0))
    assert ok["selected"].all()


def test_the_guard_overrides_the_strategy(strategy: CompiledStrategy, book: pl.DataFrame
                                          ) -> None:
    # The best prospect, with consent withdrawn, is not selected even when it alone is asked for.
    first = prescreen(strategy, book, volume=1).offers.filter(pl.col("selected"))
    best = first["prospect_id"][0]
    withdrawn = book.with_columns(
        pl.when(pl.col("prospect_id") == best).then(pl.lit(value=False))
        .otherwise(pl.col("marketing_consent")).alias("marketing_consent"))
    again = prescreen(strategy, withdrawn, volume=1).offers
    row = again.filter(pl.col("prospect_id") == best).row(0, named=True)
    assert not row["selected"] and row["reason"] == "NO_MARKETING_CONSENT"
    assert row["blocked_by"] == "marketing_consent"
    assert again["selected"].sum() == 1


def test_missing_consent_column_is_refused(strategy: CompiledStrategy, book: pl.DataFrame
                                           ) -> None:
    with pytest.raises(DataError, match="marketing_consent"):
        prescreen(strategy, book.drop("marketing_consent"), volume=10)


def test_null_consent_counts_as_none(strategy: CompiledStrategy, book: pl.DataFrame) -> None:
    nulls = book.with_columns(pl.lit(None, dtype=pl.Boolean).alias("marketing_consent"))
    assert not prescreen(strategy, nulls, volume=book.height).offers["selected"].any()


def test_volume_takes_the_most_profitable(strategy: CompiledStrategy, book: pl.DataFrame
                                         ) -> None:
    result = prescreen(strategy, book, volume=500)
    offers = result.offers
    assert offers["selected"].sum() == 500
    candidates = offers.filter(pl.col("rank").is_not_null())
    best = candidates.sort("expected_profit", descending=True).head(500)
    assert set(best["prospect_id"]) == set(offers.filter(pl.col("selected"))["prospect_id"])
    assert set(offers.filter(~pl.col("selected") & pl.col("rank").is_not_null())["reason"]) == {
        "OVER_VOLUME"}


def test_budget_cut_by_value_per_cost(strategy: CompiledStrategy, book: pl.DataFrame) -> None:
    result = prescreen(strategy, book, budget=1_000.0)
    offers = result.offers
    chosen = offers.filter(pl.col("selected"))
    assert chosen["contact_cost"].sum() <= 1_000.0
    assert result.overall["contact_cost"] == pytest.approx(chosen["contact_cost"].sum())
    # a prefix of the ranking by profit per unit of cost
    assert sorted(chosen["rank"].to_list()) == list(range(1, chosen.height + 1))
    worst_in = chosen["value_per_cost"].min()
    rest = offers.filter(pl.col("rank").is_not_null() & ~pl.col("selected"))
    assert rest["value_per_cost"].max() <= worst_in
    # the next one would not have fitted
    nxt = rest.sort("rank").row(0, named=True)
    assert chosen["contact_cost"].sum() + nxt["contact_cost"] > 1_000.0
    assert nxt["reason"] == "OVER_BUDGET"


def test_both_constraints(strategy: CompiledStrategy, book: pl.DataFrame) -> None:
    result = prescreen(strategy, book, budget=1_000_000.0, volume=50)
    assert result.offers["selected"].sum() == 50
    assert result.overall["ranked_by"] == "value_per_cost"


def test_expected_profit_formula(strategy: CompiledStrategy, book: pl.DataFrame) -> None:
    econ = OfferEconomics(funding_rate=0.03, lgd=0.5, utilisation=0.4, horizon_months=24)
    offers = prescreen(strategy, book, volume=10, economics=econ).offers
    r = offers.filter(pl.col("decision") == "approve").row(0, named=True)
    ead = r["limit"] * 0.4
    expected = r["response"] * (ead * (r["apr"] - 0.03) * 2 - r["pd"] * 0.5 * ead) \
        - r["contact_cost"]
    assert r["expected_profit"] == pytest.approx(expected)
    declined = offers.filter(pl.col("decision") == "decline")
    assert declined["expected_profit"].null_count() == declined.height
    assert set(declined.filter(pl.col("consent_ok"))["reason"]) == {"NOT_ELIGIBLE"}


def test_offers_come_from_the_segment_tables(strategy: CompiledStrategy, book: pl.DataFrame
                                             ) -> None:
    offers = prescreen(strategy, book, volume=10).offers
    cost = dict(offers.group_by("segment").agg(pl.col("contact_cost").first()).iter_rows())
    assert cost == {"app": 0.5, "partner": 8.0, "branch": 15.0}
    approved = offers.filter(pl.col("decision") == "approve")
    assert (approved["limit"] >= 1000).all() and approved["apr"].null_count() == 0
    # the model PD and response track the simulation's ground truth
    truth = approved.join(book.select("prospect_id", "sim_bad_prob", "sim_response_prob"),
                          on="prospect_id")
    assert truth.select(pl.corr("pd", "sim_bad_prob")).item() > 0.6
    assert truth.select(pl.corr("response", "sim_response_prob")).item() > 0.6


def _tiny(tmp_path: Path) -> CompiledStrategy:
    """Every prospect eligible; profit and cost set by the prospect's own columns."""
    path = tmp_path / "tiny.yaml"
    path.write_text("""\
schema_version: 1
strategy: tiny
version: 1
stage: acquisition
inputs:
  prospect.prospect_id: {type: str}
  prospect.p: {type: float, min: 0, max: 1}
  prospect.cost: {type: float, min: 0, max: 1000}
  prospect.limit: {type: float, min: 0, max: 1000000}
scorecards:
  risk:
    base_points: 600
    characteristics:
      - {name: p, expr: prospect.p, reason: LOW_P, missing: 0, bins: [{when: ">= 0", points: 0}]}
use: {score: risk, pd: pd_t, propensity: resp_t, offer: offer_t}
tables:
  pd_t: {hit_policy: first, inputs: [score], outputs: [value], rows: [["-", 0.0]]}
  resp_t: {hit_policy: first, inputs: [score], outputs: [value], rows: [["-", "prospect.p"]]}
  offer_t:
    hit_policy: first
    inputs: [score]
    outputs: [limit, apr, contact_cost]
    rows: [["-", "prospect.limit", 0.14, "prospect.cost"]]
outcome:
  limit: offer.limit
  apr: offer.apr
""", encoding="utf-8")
    return compile_strategy(path)


def test_budget_cut_is_the_greedy_prefix_and_volume_is_optimal(tmp_path: Path) -> None:
    strategy = _tiny(tmp_path)
    rng = np.random.default_rng(1)
    n = 12
    frame = pl.DataFrame({
        "prospect_id": [f"P{i:02d}" for i in range(n)],
        "segment": ["app"] * n,
        "p": rng.uniform(0.01, 0.3, n).round(3),
        "cost": rng.uniform(1, 20, n).round(1),
        "limit": rng.choice([10_000.0, 20_000.0, 50_000.0], n),
        "marketing_consent": [True] * n,
    })
    econ = OfferEconomics(funding_rate=0.04, lgd=0.0, utilisation=1.0, horizon_months=12)
    # value = p * limit * 0.10 - cost; volume 4: exactly the best 4 of all 4-subsets
    res = prescreen(strategy, frame, volume=4, economics=econ).offers
    value = (frame["p"] * frame["limit"] * 0.10 - frame["cost"]).to_numpy()
    best = max(combinations(range(n), 4), key=lambda c: value[list(c)].sum())
    assert set(res.filter(pl.col("selected"))["prospect_id"]) == {f"P{i:02d}" for i in best}
    # budget: the ranking by value per cost, cut where the cumulative cost passes the budget
    res = prescreen(strategy, frame, budget=40.0, economics=econ).offers
    order = np.argsort(-value / frame["cost"].to_numpy(), kind="stable")
    cum = np.cumsum(frame["cost"].to_numpy()[order])
    expect = {f"P{i:02d}" for i in order[: int(np.searchsorted(cum, 40.0, side="right"))]}
    assert set(res.filter(pl.col("selected"))["prospect_id"]) == expect


def test_needs_a_constraint(strategy: CompiledStrategy, book: pl.DataFrame) -> None:
    with pytest.raises(DataError, match="budget or a volume"):
        prescreen(strategy, book)
    with pytest.raises(DataError, match="negative"):
        prescreen(strategy, book, volume=-1)


def test_needs_an_acquisition_strategy(book: pl.DataFrame) -> None:
    with pytest.raises(DataError, match="stage: acquisition"):
        prescreen(compile_strategy(example_strategy_path()), book, volume=10)
