"""Characteristic selection: IV, stability, correlation and VIF filters with their reasons."""

from __future__ import annotations

import math
from typing import ClassVar

import numpy as np
import polars as pl
import pytest
from sklearn.base import clone
from sklearn.utils.estimator_checks import parametrize_with_checks

from fengkong.workbench._selection import Selector, information_value, vif


def test_information_value_hand_computed():
    # bin 0.5: goods 2, bads 1 ; bin -0.7: goods 1, bads 2 ; shares 2/3, 1/3 and 1/3, 2/3
    woe = [0.5, 0.5, 0.5, -0.7, -0.7, -0.7]
    y = [0, 0, 1, 1, 1, 0]
    expected = 2 * (1 / 3) * math.log(2)
    assert information_value(woe, y) == pytest.approx(expected)
    # an empty cell gets 0.5 pseudo-counts: goods 2.5/3.5... bin 1: (2.5, 0.5), bin 2: (1, 2)
    iv = information_value([1, 1, 2, 2, 2], [0, 0, 1, 1, 0])
    g = np.array([2.5, 1]) / 3.5
    b = np.array([0.5, 2]) / 2.5
    assert iv == pytest.approx(float(np.sum((g - b) * np.log(g / b))))
    # weights act as replicated rows
    assert information_value([1, 2, 2], [0, 1, 0], [2, 1, 1]) == pytest.approx(
        information_value([1, 1, 2, 2], [0, 0, 1, 0]))


def test_vif_known_values():
    rng = np.random.default_rng(0)
    x1 = rng.normal(size=2000)
    x2 = 0.6 * x1 + rng.normal(size=2000)
    r = np.corrcoef(x1, x2)[0, 1]
    v = vif(np.column_stack([x1, x2]))
    assert v == pytest.approx([1 / (1 - r**2)] * 2)
    x3 = x1 + x2  # exact linear combination
    v = vif(np.column_stack([x1, x2, x3, rng.normal(size=2000)]))
    assert np.isinf(v[:3]).all() and v[3] < 1.1


def _woe_frame(n: int = 4000, seed: int = 0):
    rng = np.random.default_rng(seed)
    latent = rng.normal(size=n)
    y = (rng.random(n) < 1 / (1 + np.exp(-(-2.5 + 1.2 * latent)))).astype(int)
    def coarse(v):  # WoE columns have a handful of distinct values
        return np.clip(np.round(v * 2) / 2, -2, 2)

    strong = coarse(-latent + 0.3 * rng.normal(size=n))              # high IV
    twin = coarse(-latent + 0.6 * rng.normal(size=n))                # |r| ~ 0.85 with strong
    noise = np.where(rng.random(n) < 0.5, 0.1, -0.1)                 # IV ~ 0
    window = np.where(np.arange(n) < n // 2, "2024-01", "2024-02")
    drift = coarse(-0.5 * latent + 0.5 * rng.normal(size=n) + np.where(window == "2024-02", 1.0, 0.0))
    fine = coarse(-0.5 * latent + 0.8 * rng.normal(size=n))
    frame = pl.DataFrame({"strong": strong, "twin": twin, "noise": noise, "drift": drift,
                          "fine": fine})
    return frame, y, window


def test_selector_report_says_why():
    X, y, window = _woe_frame()
    sel = Selector(strong_iv=0.5, max_vif=None).fit(X, y, time=window)
    report = {r["feature"]: r for r in sel.report_.iter_rows(named=True)}
    assert report["noise"]["kept"] is False
    assert report["noise"]["reason"].startswith("low IV")
    assert report["drift"]["kept"] is False
    assert report["drift"]["reason"].startswith("unstable: PSI")
    assert report["drift"]["psi"] > 0.25
    assert report["twin"]["kept"] is False
    assert "correlated with strong" in report["twin"]["reason"]
    assert report["twin"]["max_corr"] > 0.7
    assert report["strong"]["kept"] is True and report["strong"]["strong"] is True
    assert "strong predictor" in report["strong"]["reason"]
    assert report["fine"]["kept"] is True and report["fine"]["reason"] == "kept"
    assert sel.selected_ == ["strong", "fine"]
    assert sel.support_.tolist() == [True, False, False, False, True]
    assert sel.report_.columns == ["feature", "iv", "psi", "max_corr", "vif", "kept",
                                   "reason", "strong"]
    assert sel.iv_["strong"] == pytest.approx(information_value(X["strong"], y))
    assert sel.transform(X).columns == ["strong", "fine"]
    assert sel.transform(X.to_numpy()).shape == (X.height, 2)
    assert list(sel.get_feature_names_out()) == ["strong", "fine"]


def test_strong_predictor_is_flagged_never_dropped_for_strength():
    X, y, _ = _woe_frame()
    sel = Selector(min_iv=0.02, strong_iv=0.1, max_corr=None, max_vif=None).fit(
        X.select("strong", "fine"), y)
    assert sel.selected_ == ["strong", "fine"]
    assert all(sel.report_["strong"].to_list())


def test_vif_filter_drops_lowest_iv_offender():
    rng = np.random.default_rng(1)
    n = 3000
    a, b = rng.normal(size=n), rng.normal(size=n)
    c = a + b + 0.05 * rng.normal(size=n)
    X = np.column_stack([a, b, c])
    iv = {"x0": 0.30, "x1": 0.10, "x2": 0.20}
    sel = Selector(max_corr=None, max_vif=10).fit(X, iv=iv)
    report = {r["feature"]: r for r in sel.report_.iter_rows(named=True)}
    assert report["x1"]["kept"] is False
    assert report["x1"]["reason"].startswith("VIF")
    assert sel.selected_ == ["x0", "x2"]
    assert report["x0"]["vif"] < 10 and report["x2"]["vif"] < 10


class _FakeBinner:
    """What Selector uses of a fitted Binner: columns_, iv_, transform."""

    columns_ = ("a", "b")
    iv_: ClassVar[dict[str, float]] = {"a": 0.25, "b": 0.01}

    def transform(self, X):
        return np.column_stack([np.where(X["a"].to_numpy() > 0, 0.4, -0.3),
                                np.where(X["b"].to_numpy() > 0, 0.1, -0.1)])


def test_selector_with_a_binner_or_an_iv_mapping():
    rng = np.random.default_rng(0)
    raw = pl.DataFrame({"a": rng.normal(size=200), "b": rng.normal(size=200),
                        "name": ["x"] * 200})
    sel = Selector().fit(raw, binner=_FakeBinner())
    assert sel.selected_ == ["a"]
    assert sel.iv_ == {"a": 0.25, "b": 0.01}
    assert sel.transform(raw).columns == ["a"]  # works on the raw frame by name
    woe = pl.DataFrame(_FakeBinner().transform(raw), schema=["a", "b"], orient="row")
    assert Selector().fit(woe, iv=_FakeBinner()).selected_ == ["a"]
    assert Selector().fit(woe, iv={"a": 0.25, "b": 0.5}).selected_ == ["a", "b"]
    with pytest.raises(ValueError, match="no IV for: b"):
        Selector().fit(woe, iv={"a": 0.25})
    with pytest.raises(ValueError, match="y is needed"):
        Selector().fit(woe)


def test_selector_is_a_sklearn_estimator():
    sel = Selector(max_corr=0.5)
    assert sel.get_params()["max_corr"] == 0.5
    other = clone(sel).set_params(max_vif=5.0)
    assert other.get_params()["max_vif"] == 5.0 and other.max_corr == 0.5
    X, y, _ = _woe_frame(500)
    out = Selector().fit_transform(X, y)
    assert isinstance(out, pl.DataFrame)


@parametrize_with_checks([Selector()])
def test_sklearn_estimator_checks(estimator, check):
    # all pass; two are skipped by sklearn itself here: pandas is not installed and
    # SCIPY_ARRAY_API is not set
    check(estimator)
