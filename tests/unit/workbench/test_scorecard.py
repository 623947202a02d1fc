"""Scorecard: points tables, selection, flags, consistency of points, probabilities, classes."""

from __future__ import annotations

import numpy as np
import polars as pl
import pytest
from sklearn.metrics import roc_auc_score

from fengkong.workbench import Binner, Scorecard


def _data(n: int, seed: int) -> tuple[pl.DataFrame, np.ndarray]:
    rng = np.random.default_rng(seed)
    a, b, c = rng.normal(size=(3, n))
    noise = rng.normal(size=(4, n))
    grade = rng.choice(["A", "B", "C", "D"], n)
    logit = -2.5 + 1.2 * a - 0.8 * b + 0.5 * (c ** 2 - 1) + np.select(
        [grade == "A", grade == "D"], [-0.8, 0.8], 0.0)
    y = (rng.random(n) < 1 / (1 + np.exp(-logit))).astype(int)
    cols = {"a": a, "b": b, "c": c, "grade": grade,
            **{f"noise{k}": noise[k] for k in range(4)}}
    return pl.DataFrame(cols), y


@pytest.fixture(scope="module")
def train() -> tuple[pl.DataFrame, np.ndarray]:
    return _data(20_000, 0)


def test_points_table_and_score(train: tuple[pl.DataFrame, np.ndarray]) -> None:
    frame, y = train
    card = Scorecard(pdo=20, base_score=600, base_odds=50).fit(frame, y)
    assert set(card.features_) >= {"a", "b", "c", "grade"}
    pts = card.points_
    assert pts.columns == ["feature", "bin", "kind", "woe", "points"]
    assert (pts["points"] == pts["points"].round(0)).all()
    # higher score = lower risk: points rise with WoE within each characteristic
    for feature in card.features_:
        part = pts.filter(pl.col("feature") == feature).sort("woe")
        assert np.all(np.diff(part["points"].to_numpy()) >= 0)
    score = card.predict_score(frame)
    assert np.array_equal(score, card.base_points_ + card.points(frame).sum(axis=1))
    test, yt = _data(10_000, 1)
    assert roc_auc_score(yt, -card.predict_score(test)) > 0.75
    proba = card.predict_proba(test)
    assert np.allclose(proba.sum(axis=1), 1)
    assert roc_auc_score(yt, proba[:, 1]) == pytest.approx(roc_auc_score(yt, -card.predict_score(test)))
    assert np.array_equal(card.predict(test), (proba[:, 1] > 0.5).astype(int))


def test_stepwise_keeps_signal_and_drops_noise(train: tuple[pl.DataFrame, np.ndarray]) -> None:
    frame, y = train
    card = Scorecard(stepwise=True).fit(frame, y)
    assert {"a", "b", "c", "grade"} <= set(card.features_)
    assert not any(f.startswith("noise") for f in card.features_)
    capped = Scorecard(stepwise=True, max_features=2).fit(frame, y)
    assert len(capped.features_) == 2 and set(capped.features_) <= {"a", "b", "c", "grade"}


def test_strong_predictor_is_flagged_and_kept() -> None:
    frame, y = _data(5000, 2)
    rng = np.random.default_rng(3)
    frame = frame.with_columns(pl.Series("leak", y + rng.normal(0, 0.3, len(y))))
    card = Scorecard(Binner(strong_iv=0.5)).fit(frame, y)
    assert "leak" in card.features_
    assert card.binner_.flags_["leak"][0].startswith("strong-predictor")


def test_string_labels_and_weights() -> None:
    frame, y = _data(4000, 4)
    labels = np.where(y == 1, "bad", "good")
    card = Scorecard().fit(frame, labels)
    assert list(card.classes_) == ["bad", "good"]  # sorted; the event is classes_[1]
    with pytest.raises(ValueError, match="two classes"):
        Scorecard().fit(frame, np.zeros(len(y), dtype=int))
    w = np.random.default_rng(5).integers(1, 3, len(y))
    rep = np.repeat(np.arange(len(y)), w)
    weighted = Scorecard(points_decimals=None).fit(frame, y, sample_weight=w)
    repeated = Scorecard(points_decimals=None).fit(frame[rep], y[rep])
    np.testing.assert_allclose(weighted.predict_score(frame), repeated.predict_score(frame),
                               rtol=0, atol=1e-6)


def test_binner_is_cloned_not_fitted_in_place(train: tuple[pl.DataFrame, np.ndarray]) -> None:
    frame, y = train
    binner = Binner(max_bins=5)
    card = Scorecard(binner).fit(frame, y)
    assert not hasattr(binner, "bins_")
    assert card.binner_ is not binner and card.binner_.max_bins == 5


def test_woe_from_fit_time_prebin_codes_equals_transform() -> None:
    rng = np.random.default_rng(8)
    frame, y = _data(3000, 7)
    frame = frame.with_columns(pl.Series("s", np.where(rng.random(3000) < 0.1, -999.0,
                                                       rng.normal(size=3000))))
    frame = frame.with_columns(pl.when(pl.Series(rng.random(3000) < 0.05)).then(None)
                               .otherwise(pl.col("a")).alias("a"))
    binner = Binner(special_values={"s": [-999]})
    codes: dict[str, np.ndarray] = {}
    table = binner._fit_table(frame, y, None, codes)
    assert set(codes) == {"a", "b", "c", "s", "noise0", "noise1", "noise2", "noise3"}
    np.testing.assert_array_equal(binner._woe_table(table, np.float64, codes),
                                  binner.transform(frame))
