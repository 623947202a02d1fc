"""SegmentedScorecard: one card per segment in one call, exported as a routing strategy that
`fengkong validate --strict` accepts and the engine scores exactly as the workbench."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import numpy as np
import polars as pl
import pytest
import yaml

from fengkong import compile_strategy, evaluate, evaluate_batch
from fengkong.workbench import Binner, Scorecard, SegmentedScorecard


def _data(n: int, seed: int) -> tuple[pl.DataFrame, np.ndarray]:
    rng = np.random.default_rng(seed)
    channel = rng.choice(["app", "branch", "partner", "kiosk"], n, p=[0.45, 0.3, 0.24, 0.01])
    income = rng.lognormal(8.5, 0.5, n)
    dpd = rng.integers(0, 5, n)
    purpose = rng.choice(["car", "home", "cash"], n)
    # the effect of income differs by channel: one card cannot fit all segments
    slope = np.select([channel == "app", channel == "branch"], [-1.5, -0.2], -0.8)
    logit = -2.3 + slope * (np.log(income) - 8.5) + 0.4 * dpd + 0.5 * (purpose == "cash")
    y = (rng.random(n) < 1 / (1 + np.exp(-logit))).astype(int)
    return pl.DataFrame({"channel": channel, "income": income, "dpd": dpd,
                         "purpose": purpose}), y


@pytest.fixture(scope="module")
def model() -> SegmentedScorecard:
    frame, y = _data(30_000, 0)
    return SegmentedScorecard(Scorecard(Binner(min_bads=10)), segment_by="channel",
                              min_segment_size=1000).fit(frame, y)


def test_one_card_per_large_segment_and_routing(model: SegmentedScorecard) -> None:
    assert sorted(model.scorecards_) == ["app", "branch", "partner"]  # kiosk: too small
    assert model.sizes_["kiosk"] < 1000
    test, _ = _data(2000, 1)
    score = model.predict_score(test)
    seg = test["channel"].to_numpy()
    for value, card in model.scorecards_.items():
        mask = seg == value
        np.testing.assert_array_equal(score[mask], card.predict_score(test.filter(pl.Series(mask)).drop("channel")))
    kiosk = seg == "kiosk"
    np.testing.assert_array_equal(
        score[kiosk], model.fallback_.predict_score(test.filter(pl.Series(kiosk)).drop("channel")))
    assert model.scorecards_["app"].binner_.iv_["income"] > model.scorecards_["branch"].binner_.iv_["income"]


def test_exported_strategy_validates_and_routes_exactly(model: SegmentedScorecard,
                                                        tmp_path: Path) -> None:
    path = model.export_strategy(tmp_path / "model", strategy="loans_by_channel")
    doc = yaml.safe_load(path.read_text(encoding="utf-8"))
    assert [s.get("when") for s in doc["segments"]] == [
        "channel == 'app'", "channel == 'branch'", "channel == 'partner'", None]
    assert doc["use"] == {"score": "score_all"}
    assert sorted(p.name for p in (tmp_path / "model" / "scorecards").iterdir()) == [
        "score_all.yaml", "score_app.yaml", "score_branch.yaml", "score_partner.yaml"]
    result = subprocess.run([sys.executable, "-m", "fengkong.cli", "validate", "--strict",
                             str(path)], capture_output=True, text=True, check=False)
    assert result.returncode == 0, result.stdout + result.stderr
    strategy = compile_strategy(path)
    test, _ = _data(1500, 2)
    test = pl.concat([test, pl.DataFrame({"channel": [None, "unknown"], "income": [None, 1e9],
                                          "dpd": [None, 0], "purpose": [None, "boat"]},
                                         schema=test.schema)])
    ours = model.predict_score(test)
    batch = evaluate_batch(strategy, test)
    np.testing.assert_array_equal(batch["score.score"].to_numpy(), ours)
    online = [evaluate(strategy, r)["score.score"] for r in test.to_dicts()]
    np.testing.assert_array_equal(np.array(online), ours)
    comp = batch["component.score"].to_list()
    seg = test["channel"].to_list()
    assert all(c == (f"score_{s}" if s in model.scorecards_ else "score_all")
               for c, s in zip(comp, seg, strict=True))
