"""The exported card is scored by the strategy engine exactly as ``predict_score`` scores.

A card is fitted on data with float, whole-number and categorical characteristics,
missing values, special values (-999, -1) and rare categories, exported as a scorecard
component, put in a small strategy and compiled; every test record — including records
exactly on every cut point, special values, nulls and unseen categories — gets the same
score online (``evaluate``) and in batch (``evaluate_batch``) as ``predict_score``, to
the last point.
"""

from __future__ import annotations

import json
import math
from pathlib import Path
from typing import Any

import numpy as np
import polars as pl
import pytest
import yaml

from fengkong import compile_strategy, evaluate, evaluate_batch
from fengkong.strategy._spec import ScorecardSpec
from fengkong.workbench import Binner, Scorecard


def _data(n: int, seed: int) -> tuple[pl.DataFrame, np.ndarray]:
    rng = np.random.default_rng(seed)
    income = rng.lognormal(8.5, 0.6, n)
    age = rng.integers(18, 75, n)
    dpd = rng.integers(0, 6, n)
    months = rng.integers(0, 120, n)
    months[rng.random(n) < 0.08] = -999
    months[rng.random(n) < 0.04] = -1
    ratio = np.round(rng.uniform(0, 1.2, n), 3)
    housing = rng.choice(["own", "rent", "family", "other_housing", "dorm"], n,
                         p=[0.4, 0.35, 0.2, 0.048, 0.002])
    logit = (-2.2 - 0.5 * (np.log(income) - 8.5) - 0.03 * (age - 40) + 0.45 * dpd
             + 0.9 * (months == -999) - 0.01 * np.where(months >= 0, months, 0)
             + 1.5 * (ratio - 0.6) ** 2 + 0.6 * (housing == "rent"))
    y = (rng.random(n) < 1 / (1 + np.exp(-logit))).astype(int)
    frame = pl.DataFrame({
        "income": income, "age": age, "dpd_count": dpd, "months_since_default": months,
        "util_ratio": ratio, "housing": housing})
    miss = rng.random((n, 4)) < 0.03
    frame = frame.with_columns(
        pl.when(pl.Series(miss[:, 0])).then(None).otherwise(pl.col("income")).alias("income"),
        pl.when(pl.Series(miss[:, 1])).then(None).otherwise(pl.col("age")).alias("age"),
        pl.when(pl.Series(miss[:, 2])).then(None).otherwise(pl.col("util_ratio")).alias(
            "util_ratio"),
        pl.when(pl.Series(miss[:, 3])).then(None).otherwise(pl.col("housing")).alias("housing"))
    return frame, y


def _strategy(folder: Path, card: Scorecard, card_file: str) -> Path:
    inputs = card.input_fields()
    doc: dict[str, Any] = {
        "strategy": "roundtrip", "version": 1, "stage": "origination",
        "inputs": inputs,
        "scorecards": {"card": {"file": card_file}},
        "use": {"score": "card"},
    }
    path = folder / "strategy.yaml"
    path.write_text(yaml.safe_dump(doc, sort_keys=False), encoding="utf-8")
    return path


def _edge_records(card: Scorecard) -> pl.DataFrame:
    """One record per cut point (on it, just below it), special value, null and new category."""
    rows: list[dict[str, Any]] = []
    base = {"income": 5000.0, "age": 40, "dpd_count": 1, "months_since_default": 30,
            "util_ratio": 0.5, "housing": "own"}
    for name, bins in card.binner_.bins_.items():
        if bins.kind == "numeric":
            for cut in bins.cuts:
                rows.append({**base, name: cut})
                below = math.nextafter(cut, -math.inf) if card.binner_.dtypes_[name] == "float" \
                    else cut - 1
                rows.append({**base, name: below})
            for v in bins.special_values:
                rows.append({**base, name: v})
        else:
            for group in bins.groups:
                rows.extend({**base, name: c} for c in group)
            rows.extend({**base, name: c} for c in bins.other_categories)
            rows.append({**base, name: "never_seen"})
        rows.append({**base, name: None})
    return pl.DataFrame(rows, schema={"income": pl.Float64, "age": pl.Int64,
                                      "dpd_count": pl.Int64, "months_since_default": pl.Int64,
                                      "util_ratio": pl.Float64, "housing": pl.String})


@pytest.fixture(scope="module")
def fitted() -> tuple[Scorecard, pl.DataFrame, np.ndarray]:
    frame, y = _data(6000, seed=1)
    binner = Binner(special_values={"months_since_default": [-999, -1]}, min_bin_share=0.03,
                    min_category_share=0.01)
    card = Scorecard(binner, pdo=20, base_score=600, base_odds=50).fit(frame, y)
    return card, frame, y


@pytest.mark.parametrize("suffix", [".yaml", ".json"])
def test_engine_scores_every_record_as_predict_score(
        tmp_path: Path, fitted: tuple[Scorecard, pl.DataFrame, np.ndarray], suffix: str) -> None:
    card = fitted[0]
    card_path = card.export(tmp_path / f"scorecards/card{suffix}", name="card")
    strategy = compile_strategy(_strategy(tmp_path, card, f"scorecards/card{suffix}"))
    assert {w.code for w in strategy.warnings} <= {"reason-text-missing"}  # no gaps, overlaps
    test, _ = _data(1500, seed=2)
    records = pl.concat([test, _edge_records(card)], how="vertical_relaxed")
    ours = card.predict_score(records)
    batch = evaluate_batch(strategy, records)
    np.testing.assert_array_equal(batch["score.score"].to_numpy(), ours)
    online = np.array([evaluate(strategy, r)["score.score"] for r in records.to_dicts()])
    np.testing.assert_array_equal(online, ours)
    # points per characteristic agree too, and the probabilities are those of the score
    points = card.points(records)
    for k, name in enumerate(card.features_):
        np.testing.assert_array_equal(batch[f"points.card.{name}"].to_numpy(), points[:, k])
    proba = card.predict_proba(records)[:, 1]
    odds_good = np.exp((ours - card.offset) / card.factor)
    np.testing.assert_allclose(proba, 1 / (1 + odds_good), rtol=1e-12)
    # the file is plain data (no pickles) and a valid scorecard component
    text = card_path.read_text(encoding="utf-8")
    doc = json.loads(text) if suffix == ".json" else yaml.safe_load(text)
    ScorecardSpec.model_validate(doc)


def test_export_cells_and_special_values(fitted: tuple[Scorecard, pl.DataFrame, np.ndarray]) -> None:
    card, _, _ = fitted
    doc = card.to_component(name="card", reasons={"income": "LOW_INCOME"})
    chars = {c["name"]: c for c in doc["characteristics"]}
    assert chars["income"]["reason"] == "LOW_INCOME"
    months = chars["months_since_default"]
    assert [s["values"] for s in months["special"]] == [[-999], [-1]]
    cuts = card.binner_.bins_["months_since_default"].cuts
    whens = [b["when"] for b in months["bins"]]
    assert whens[0] == f"< {int(cuts[0])}" and whens[-1] == f">= {int(cuts[-1])}"
    housing = chars["housing"]
    assert all(b["when"].startswith("'") for b in housing["bins"])
    table = card.binner_.bin_tables_["housing"]
    other = table.filter(pl.col("kind") == "other")
    assert "dorm" in other["categories"][0].to_list()  # rare: scored as `other`
    assert doc["base_points"] == card.base_points_
    assert doc["pdo"] == 20 and doc["base_score"] == 600 and doc["base_odds"] == 50


def test_scaling_formula(fitted: tuple[Scorecard, pl.DataFrame, np.ndarray]) -> None:
    card, frame, _ = fitted
    factor = 20 / math.log(2)
    offset = 600 - factor * math.log(50)
    assert card.base_points_ == round(offset - factor * float(card.intercept_[0]))
    unrounded = Scorecard(card.binner, points_decimals=None).fit(frame, fitted[2])
    woe = unrounded.binner_.transform(frame)
    cols = [unrounded.binner_.columns_.index(f) for f in unrounded.features_]
    logit = unrounded.intercept_[0] + woe[:, cols] @ unrounded.coef_[0]
    np.testing.assert_allclose(unrounded.predict_score(frame), offset - factor * logit,
                               rtol=0, atol=1e-9)


def test_single_bin_characteristic_exports_and_scores_exactly(tmp_path: Path) -> None:
    # one normal bin (max_bins=1) plus a missing bin: the cell is `>= -inf`
    frame, y = _data(3000, seed=3)
    card = Scorecard(Binner(max_bins={"income": 1})).fit(frame, y)
    assert "income" in card.features_
    doc = card.to_component(name="card")
    income = next(c for c in doc["characteristics"] if c["name"] == "income")
    assert [b["when"] for b in income["bins"]] == [">= -inf"]
    card.export(tmp_path / "scorecards/card.yaml", name="card")
    strategy = compile_strategy(_strategy(tmp_path, card, "scorecards/card.yaml"))
    assert {w.code for w in strategy.warnings} <= {"reason-text-missing"}  # no bin lint
    test, _ = _data(500, seed=4)
    test = pl.concat([test, pl.DataFrame({"income": [None, -1e300, 1e300]}, schema={"income": pl.Float64})],
                     how="diagonal_relaxed")
    np.testing.assert_array_equal(evaluate_batch(strategy, test)["score.score"].to_numpy(),
                                  card.predict_score(test))
    online = [evaluate(strategy, r)["score.score"] for r in test.to_dicts()]
    np.testing.assert_array_equal(np.array(online), card.predict_score(test))
