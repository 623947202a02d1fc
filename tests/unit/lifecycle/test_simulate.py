"""Back-testing: swap sets, rates, limits, PD calibration and profit on a hand-checkable history."""

from __future__ import annotations

import json
import math
from pathlib import Path

import numpy as np
import polars as pl
import pytest

from fengkong import compile_strategy
from fengkong.errors import DataError
from fengkong.lifecycle import Economics, Simulation, simulate, write_simulation
from fengkong.lifecycle._simulate import fit_logistic

# score = 500 + 0 / 10 / 20 points for x < 10 / [10, 20) / >= 20.
_BASE = """\
schema_version: 1
strategy: {name}
version: 1
stage: origination
inputs:
  application_id: {{type: str}}
  channel: {{type: enum, values: [a, b]}}
  x: {{type: int, min: 0, max: 100}}
segments:
  - {{name: seg_a, when: "channel == 'a'"}}
  - {{name: default}}
use: {{score: card, pricing: prices}}
scorecards:
  card:
    base_points: 500
    characteristics:
      - {{name: x, expr: x, reason: LOW_X, missing: 0,
         bins: [{{when: "< 10", points: 0}}, {{when: "[10..20)", points: 10}}, {{when: ">= 20", points: 20}}]}}
tables:
  prices:
    hit_policy: first
    inputs: [score]
    outputs: [limit, apr]
    rows:
{rows}
rules:
{rules}
outcome:
  limit: pricing.limit
  apr: pricing.apr
  term: 12
  decision: "'decline' if declined else 'approve'"
"""

CHAMPION = _BASE.format(
    name="champ",
    rows='      - [">= 520", 1000, 0.10]\n      - ["-", 500, 0.20]',
    rules='  - {id: cut, when: "score < 510", action: decline, reason: SCORE_TOO_LOW}')
CHALLENGER = _BASE.format(
    name="chall",
    rows=('      - [">= 520", 2000, 0.09]\n      - ["[510..520)", 500, 0.20]\n'
          '      - ["-", 300, 0.25]'),
    rules=('  - {id: b_cut, when: "channel == \'b\' and score >= 510 and score < 520", action: decline,'
           ' reason: SCORE_TOO_LOW}'))

# id, channel, x, bad. Champion approves x >= 10; challenger approves everything except
# channel b with 10 <= x < 20.
ROWS = [
    ("r0", "a", 5, 1), ("r1", "a", 5, 0), ("r2", "b", 5, 0), ("r3", "b", 5, None),
    ("r4", "a", 15, 0), ("r5", "b", 15, 1), ("r6", "b", 15, 0), ("r7", "a", 25, 0),
    ("r8", "a", 25, 1), ("r9", "b", 25, 0), ("r10", "b", 25, 0), ("r11", "a", 15, None),
]


def history() -> pl.DataFrame:
    return pl.DataFrame(ROWS, schema={"application_id": pl.String, "channel": pl.String,
                                      "x": pl.Int64, "bad": pl.Int64}, orient="row")


@pytest.fixture
def strategies(tmp_path: Path) -> tuple[Path, Path]:
    a, b = tmp_path / "champion.yaml", tmp_path / "challenger.yaml"
    a.write_text(CHAMPION, encoding="utf-8")
    b.write_text(CHALLENGER, encoding="utf-8")
    return a, b


NO_COST = Economics(funding_rate=0.0, lgd=1.0, cost_per_loan=0.0)


def run(strategies: tuple[Path, Path]) -> Simulation:
    a, b = (compile_strategy(p) for p in strategies)
    return simulate(a, b, history(), segment_by="channel", economics=NO_COST)


def ids(sim: Simulation, swap: str) -> list[str]:
    return sorted(sim.decisions.filter(pl.col("swap") == swap)["application_id"].to_list())


def test_swap_sets_are_exact(strategies: tuple[Path, Path]) -> None:
    sim = run(strategies)
    assert ids(sim, "swap_in") == ["r0", "r1", "r2", "r3"]
    assert ids(sim, "swap_out") == ["r5", "r6"]
    assert ids(sim, "both_approve") == sorted(["r4", "r7", "r8", "r9", "r10", "r11"])
    assert ids(sim, "neither") == []


def test_overall_rates_are_exact(strategies: tuple[Path, Path]) -> None:
    o = run(strategies).overall
    assert o["records"] == 12 and o["known_outcomes"] == 10
    assert o["champion_approval_rate"] == pytest.approx(8 / 12)
    assert o["challenger_approval_rate"] == pytest.approx(10 / 12)
    # champion approved r4..r11, outcomes known for 7 of them, bads r5 and r8
    assert o["champion_bad_rate"] == pytest.approx(2 / 7)
    # challenger approved r0-r4, r7-r11: known r0 r1 r2 r4 r7 r8 r9 r10, bads r0 r8
    assert o["challenger_bad_rate"] == pytest.approx(2 / 8)
    assert (o["swap_in"], o["swap_in_known"]) == (4, 3)
    assert o["swap_in_bad_rate"] == pytest.approx(1 / 3)
    assert (o["swap_out"], o["swap_out_known"]) == (2, 2)
    assert o["swap_out_bad_rate"] == pytest.approx(1 / 2)
    assert o["both_approve"] == 6
    assert (o["limit_increased"], o["limit_decreased"]) == (4, 0)
    assert (o["apr_increased"], o["apr_decreased"]) == (0, 4)
    assert o["both_champion_mean_limit"] == pytest.approx((500 * 2 + 1000 * 4) / 6)
    assert o["both_challenger_mean_limit"] == pytest.approx((500 * 2 + 2000 * 4) / 6)
    assert o["champion_exposure"] == 500 * 4 + 1000 * 4
    assert o["challenger_exposure"] == 300 * 4 + 500 * 2 + 2000 * 4


def test_by_segment_is_exact(strategies: tuple[Path, Path]) -> None:
    seg = {r["segment"]: r for r in run(strategies).by_segment.to_dicts()}
    assert set(seg) == {"a", "b"}
    a, b = seg["a"], seg["b"]
    assert (a["records"], a["swap_in"], a["swap_out"]) == (6, 2, 0)
    assert a["swap_in_bad_rate"] == pytest.approx(1 / 2)
    assert a["swap_out_bad_rate"] is None
    assert a["champion_bad_rate"] == pytest.approx(1 / 3)  # r4 r7 r8 known, r8 bad
    assert (b["records"], b["swap_in"], b["swap_in_known"], b["swap_out"]) == (6, 2, 1, 2)
    assert b["swap_in_bad_rate"] == 0.0
    assert b["swap_out_bad_rate"] == pytest.approx(1 / 2)


def test_swap_matrix(strategies: tuple[Path, Path]) -> None:
    swap = run(strategies).swap
    cells = {(r["champion_decision"], r["challenger_decision"]): r["records"]
             for r in swap.to_dicts()}
    assert cells[("decline", "approve")] == 4
    assert cells[("approve", "decline")] == 2
    assert cells[("approve", "approve")] == 6
    assert sum(cells.values()) == 12
    row = swap.filter((pl.col("champion_decision") == "approve")
                      & (pl.col("challenger_decision") == "decline")).row(0, named=True)
    assert row["bad_rate"] == pytest.approx(1 / 2)


def test_pd_calibration_and_expected_bad_rate(strategies: tuple[Path, Path]) -> None:
    sim = run(strategies)
    # Fitted on the champion-approved with outcomes: score 510 -> 1/3 bad, 520 -> 1/4; the
    # two-point logistic fit is exact, odds 1:2 and 1:3, so at 500 the odds are 3:4.
    (cal,) = sim.calibration
    assert cal.pooled and cal.records == 7 and cal.bads == 2
    pd = dict(zip(sim.decisions["application_id"], sim.decisions["pd"], strict=True))
    assert pd["r4"] == pytest.approx(1 / 3, abs=1e-7)
    assert pd["r7"] == pytest.approx(1 / 4, abs=1e-7)
    assert pd["r0"] == pytest.approx(3 / 7, abs=1e-7)
    assert sim.overall["swap_in_expected_bad_rate"] == pytest.approx(3 / 7, abs=1e-7)
    assert sim.overall["swap_out_expected_bad_rate"] == pytest.approx(1 / 3, abs=1e-7)


def test_profit_formula(strategies: tuple[Path, Path]) -> None:
    sim = run(strategies)
    r7 = sim.decisions.filter(pl.col("application_id") == "r7").row(0, named=True)
    # EAD = limit (no requested amount), revenue = EAD * APR * (12 + 1) / 24, lgd 1, no cost
    revenue = 1000 * 0.10 * 13 / 24
    assert r7["champion_profit"] == pytest.approx(0.75 * revenue - 0.25 * 1000, abs=1e-6)
    revenue = 2000 * 0.09 * 13 / 24
    assert r7["challenger_profit"] == pytest.approx(0.75 * revenue - 0.25 * 2000, abs=1e-6)
    # observed profit uses the outcome (r7 is good)
    assert r7["challenger_profit_observed"] == pytest.approx(revenue)
    r0 = sim.decisions.filter(pl.col("application_id") == "r0").row(0, named=True)
    assert r0["champion_profit"] is None  # the champion declined it
    total = sim.decisions["challenger_profit"].sum()
    assert sim.overall["challenger_expected_profit"] == pytest.approx(total)


def test_requested_amount_caps_exposure(strategies: tuple[Path, Path]) -> None:
    a, b = (compile_strategy(p) for p in strategies)
    h = history().with_columns(pl.lit(800.0).alias("loan.amount"))
    sim = simulate(a, b, h, economics=NO_COST)
    r7 = sim.decisions.filter(pl.col("application_id") == "r7").row(0, named=True)
    assert (r7["champion_ead"], r7["challenger_ead"]) == (800.0, 800.0)


def test_default_segment_is_the_champions(strategies: tuple[Path, Path]) -> None:
    a, b = (compile_strategy(p) for p in strategies)
    sim = simulate(a, b, history())
    assert set(sim.by_segment["segment"]) == {"seg_a", "default"}
    assert sim.segment_by == "champion segment"


def test_bad_inputs(strategies: tuple[Path, Path]) -> None:
    a, b = (compile_strategy(p) for p in strategies)
    with pytest.raises(DataError, match="no outcome column"):
        simulate(a, b, history().drop("bad"))
    with pytest.raises(DataError, match="0 \\(good\\), 1 \\(bad\\)"):
        simulate(a, b, history().with_columns(pl.lit(2).alias("bad")))
    with pytest.raises(DataError, match="0 \\(good\\), 1 \\(bad\\)"):
        simulate(a, b, history().with_columns(pl.lit(0.5).alias("bad")))
    with pytest.raises(DataError, match="0 \\(good\\), 1 \\(bad\\)"):
        simulate(a, b, history().with_columns(pl.lit("x").alias("bad")))
    with pytest.raises(DataError, match="segment by"):
        simulate(a, b, history(), segment_by="nope")
    with pytest.raises(DataError, match="nothing to calibrate"):
        simulate(a, b, history().with_columns(pl.lit(None, dtype=pl.Int64).alias("bad")))


def test_fit_logistic_recovers_parameters() -> None:
    rng = np.random.default_rng(0)
    x = rng.normal(600, 50, 200_000)
    p = 1 / (1 + np.exp(-(8.0 - 0.018 * x)))
    y = (rng.random(x.size) < p).astype(float)
    a, b = fit_logistic(x, y)
    assert a == pytest.approx(8.0, abs=0.3) and b == pytest.approx(-0.018, abs=5e-4)


def test_write_simulation(strategies: tuple[Path, Path], tmp_path: Path) -> None:
    sim = run(strategies)
    paths = write_simulation(sim, tmp_path / "sim")
    assert pl.read_parquet(paths["decisions"]).height == 12
    summary = json.loads(paths["summary"].read_text("utf-8"))
    assert summary["overall"]["swap_in"] == 4
    assert summary["strategies"]["champion"]["id"] == "champ"
    assert all(v is None or not isinstance(v, float) or math.isfinite(v)
               for v in summary["overall"].values())
    html = paths["report"].read_text("utf-8")
    for title in ("Swap matrix", "Approval by segment", "Bad rates", "Expected profit", "Method"):
        assert f">{title}</h2>" in html
    assert html.count("<svg") == 4
    assert not list((tmp_path / "sim").glob(".*.tmp"))
