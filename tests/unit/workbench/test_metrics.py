"""Metrics of fengkong.workbench: hand-computed cases and agreement with sklearn / scipy."""

from __future__ import annotations

import math
import re
import time
from pathlib import Path

import numpy as np
import polars as pl
import pytest
from scipy.stats import ks_2samp
from sklearn.metrics import brier_score_loss, roc_auc_score
from sklearn.metrics import roc_curve as sk_roc_curve

from fengkong.workbench._metrics import (
    KS,
    Sample,
    auc,
    bad_rate_by_band,
    brier_score,
    calibration_table,
    csi,
    evaluate,
    evaluate_samples,
    gains_table,
    gini,
    hosmer_lemeshow,
    ks,
    ks_curve,
    lift_table,
    psi,
    psi_interpretation,
    psi_table,
    roc_curve,
)

DOC = Path(__file__).resolve().parents[3] / "docs" / "model-metrics.md"


def _data(n: int = 5000, seed: int = 0, *, ties: bool = True) -> tuple[np.ndarray, np.ndarray]:
    rng = np.random.default_rng(seed)
    y = (rng.random(n) < 0.1).astype(int)
    s = rng.normal(size=n) + 0.8 * y
    if ties:
        s = np.round(s, 1)  # plenty of ties, many mixing bads and goods
    return y, s


# ---------------------------------------------------------------- AUC / Gini


def test_auc_hand_computed():
    # pairs (bad, good): (0.35, 0.1) yes, (0.35, 0.4) no, (0.8, *) yes, yes -> 3/4
    assert auc([0, 0, 1, 1], [0.1, 0.4, 0.35, 0.8]) == 0.75
    assert gini([0, 0, 1, 1], [0.1, 0.4, 0.35, 0.8]) == 0.5


def test_auc_ties_count_one_half():
    # bads at 1 and 2, goods at 1 and 0: (1,1) tie = 0.5, other three pairs concordant
    assert auc([0, 1, 0, 1], [1, 1, 0, 2]) == pytest.approx(3.5 / 4, abs=1e-15)
    # all tied: 0.5 exactly
    assert auc([0, 1, 0, 1], [3, 3, 3, 3]) == 0.5


@pytest.mark.parametrize("weighted", [False, True])
@pytest.mark.parametrize("ties", [False, True])
def test_auc_matches_sklearn(weighted, ties):
    y, s = _data(ties=ties)
    w = np.random.default_rng(1).random(y.shape[0]) if weighted else None
    expected = roc_auc_score(y, s, sample_weight=w)
    assert auc(y, s, w) == pytest.approx(expected, abs=1e-12)
    # scorecard points: lower = riskier
    points = 600 - 50 * s
    assert auc(y, points, w, higher_is_riskier=False) == pytest.approx(expected, abs=1e-12)
    # the wrong direction gives 1 - AUC
    assert auc(y, points, w) == pytest.approx(1 - expected, abs=1e-12)


def test_integer_weights_equal_replicated_rows():
    y, s = _data(400, seed=3)
    w = np.random.default_rng(2).integers(0, 4, size=y.shape[0])
    yr, sr = np.repeat(y, w), np.repeat(s, w)
    assert auc(y, s, w) == pytest.approx(auc(yr, sr), abs=1e-12)
    assert ks(y, s, w).statistic == pytest.approx(ks(yr, sr).statistic, abs=1e-12)


def test_inputs_are_checked():
    with pytest.raises(ValueError, match="binary"):
        auc([0, 2, 1], [0.1, 0.2, 0.3])
    with pytest.raises(ValueError, match="both classes"):
        auc([1, 1, 1], [0.1, 0.2, 0.3])
    with pytest.raises(ValueError, match="NaN"):
        auc([0, 1], [0.1, float("nan")])
    with pytest.raises(ValueError, match="non-negative"):
        auc([0, 1], [0.1, 0.2], [1.0, -1.0])
    # polars Series and booleans are accepted
    assert auc(pl.Series([False, False, True, True]), pl.Series([0.1, 0.4, 0.35, 0.8])) == 0.75


# ---------------------------------------------------------------- KS


def test_ks_hand_computed():
    # riskiest first: 0.8 bad -> 1/2 - 0 ; 0.4 good -> 1/2 - 1/2 ; 0.35 bad -> 1 - 1/2 ; ...
    assert ks([0, 0, 1, 1], [0.1, 0.4, 0.35, 0.8]) == KS(0.5, 0.8)
    stat, threshold = ks([0, 0, 0, 1, 1, 1], [1, 2, 3, 4, 5, 6])
    assert (stat, threshold) == (1.0, 4.0)
    # lower = riskier: the risky side is score <= threshold
    assert ks([0, 0, 0, 1, 1, 1], [6, 5, 4, 3, 2, 1], higher_is_riskier=False) == KS(1.0, 3.0)


@pytest.mark.parametrize("ties", [False, True])
def test_ks_matches_scipy_ks_2samp(ties):
    y, s = _data(ties=ties)
    expected = ks_2samp(s[y == 1], s[y == 0]).statistic
    stat, threshold = ks(y, s)
    assert stat == pytest.approx(expected, abs=1e-12)
    # the threshold really is where the separation is reached
    risky = s >= threshold
    sep = risky[y == 1].mean() - risky[y == 0].mean()
    assert sep == pytest.approx(stat, abs=1e-12)
    assert ks(y, -s, higher_is_riskier=False).statistic == pytest.approx(expected, abs=1e-12)


def test_roc_curve_matches_sklearn():
    y, s = _data(ties=True)
    w = np.random.default_rng(5).random(y.shape[0])
    fpr, tpr, thr = sk_roc_curve(y, s, sample_weight=w, drop_intermediate=False)
    ours = roc_curve(y, s, w)
    np.testing.assert_allclose(ours["fpr"].to_numpy(), fpr, atol=1e-12)
    np.testing.assert_allclose(ours["tpr"].to_numpy(), tpr, atol=1e-12)
    np.testing.assert_array_equal(ours["threshold"].to_numpy(), thr)


def test_ks_curve_max_is_ks_and_thinning_keeps_it():
    y, s = _data()
    stat, threshold = ks(y, s)
    curve = ks_curve(y, s)
    assert curve["separation"].abs().max() == pytest.approx(stat)
    thin = ks_curve(y, s, max_points=20)
    assert thin.height <= 22
    assert thin["separation"].abs().max() == pytest.approx(stat)
    assert threshold in thin["threshold"].to_list()
    assert curve["population_share"][-1] == pytest.approx(1.0)
    assert curve.columns == ["threshold", "population_share", "cum_bad_share",
                             "cum_good_share", "separation"]


def test_auc_and_ks_on_a_million_rows_are_fast():
    rng = np.random.default_rng(0)
    n = 1_000_000
    y = (rng.random(n) < 0.05).astype(np.int8)
    s = rng.normal(size=n) + y
    auc(y[:1000], s[:1000])  # warm up
    start = time.perf_counter()
    auc(y, s)
    ks(y, s)
    elapsed = time.perf_counter() - start
    # about 0.2 s each on a quiet machine; generous bound for a shared CI runner
    assert elapsed < 3.0


# ---------------------------------------------------------------- tables


def test_gains_table_hand_computed():
    # ten records, scores 1..10 (higher riskier), five bins of two
    y = [0, 0, 0, 0, 1, 0, 0, 1, 1, 1]
    s = list(range(1, 11))
    t = gains_table(y, s, bins=5)
    assert t["bin"].to_list() == [1, 2, 3, 4, 5]
    assert t["max_score"].to_list() == [10, 8, 6, 4, 2]
    assert t["count"].to_list() == [2, 2, 2, 2, 2]
    assert t["bads"].to_list() == [2, 1, 1, 0, 0]
    assert t["bad_rate"].to_list() == [1.0, 0.5, 0.5, 0.0, 0.0]
    assert t["cum_bad_capture"].to_list() == [0.5, 0.75, 1.0, 1.0, 1.0]
    assert t["lift"].to_list() == [2.5, 1.25, 1.25, 0.0, 0.0]  # overall bad rate 0.4
    assert t["cum_lift"].to_list() == pytest.approx([2.5, 1.875, (4 / 6) / 0.4, 1.25, 1.0])
    assert t["cum_good_capture"].to_list() == pytest.approx([0, 1 / 6, 2 / 6, 4 / 6, 1.0])
    # KS at the bin edges only (the exact KS, 0.75 after the top three records, is finer)
    assert t["ks"].to_list() == pytest.approx([0.5, 0.75 - 1 / 6, 1 - 2 / 6, 1 - 4 / 6, 0.0])
    assert ks(y, s).statistic == 0.75
    assert lift_table(y, s, bins=5).equals(t)


def test_gains_table_never_splits_ties_and_follows_direction():
    y, s = _data(ties=True)
    t = gains_table(y, s)
    assert t["count"].sum() == y.shape[0]
    assert t["bads"].sum() == y.sum()
    mins, maxs = t["min_score"].to_list(), t["max_score"].to_list()
    assert all(mins[i] > maxs[i + 1] for i in range(len(mins) - 1))  # disjoint, riskiest first
    points = gains_table(y, -s, higher_is_riskier=False)
    assert points["bads"].to_list() == t["bads"].to_list()


def test_bad_rate_by_band():
    y = [1, 1, 0, 0, 0, 1, 0]
    s = [450, 520, 560, 610, 650, 480, 700]
    t = bad_rate_by_band(y, s, [500, 600, 700])
    assert t["band"].to_list() == ["< 500", "[500, 600)", "[600, 700)", ">= 700"]
    assert t["count"].to_list() == [2, 2, 2, 1]
    assert t["bad_rate"].to_list() == [1.0, 0.5, 0.0, 0.0]
    assert t["lower"].to_list() == [None, 500, 600, 700]
    # empty open end bands are left out, empty inner bands are kept with a null rate
    t2 = bad_rate_by_band([1, 0], [350, 550], [300, 400, 500, 600])
    assert t2["band"].to_list() == ["[300, 400)", "[400, 500)", "[500, 600)"]
    assert t2["bad_rate"].to_list() == [1.0, None, 0.0]


# ---------------------------------------------------------------- calibration


def test_calibration_table_and_brier():
    y = [0, 0, 1, 0, 1, 1]
    p = [0.1, 0.1, 0.4, 0.4, 0.7, 0.9]
    t = calibration_table(y, p, bins=3)
    assert t["count"].to_list() == [2, 2, 2]
    assert t["bads"].to_list() == [0, 1, 2]
    assert t["mean_predicted"].to_list() == pytest.approx([0.1, 0.4, 0.8])
    assert t["observed_rate"].to_list() == pytest.approx([0.0, 0.5, 1.0])
    assert t["expected_bads"].to_list() == pytest.approx([0.2, 0.8, 1.6])
    assert brier_score(y, p) == pytest.approx(brier_score_loss(y, p))
    w = [1, 2, 3, 1, 2, 3]
    assert brier_score(y, p, w) == pytest.approx(brier_score_loss(y, p, sample_weight=w))


def test_hosmer_lemeshow_hand_computed():
    y = [0, 0, 1, 0, 1, 1, 0, 1]
    p = [0.1, 0.2, 0.3, 0.4, 0.5, 0.6, 0.7, 0.8]
    # four bins of two: O = 0, 1, 2, 1 ; E = 0.3, 0.7, 1.1, 1.5 ; N = 2
    o = np.array([0, 1, 2, 1])
    e = np.array([0.3, 0.7, 1.1, 1.5])
    expected = float(np.sum((o - e) ** 2 / (e * (1 - e / 2))))
    hl = hosmer_lemeshow(y, p, bins=4)
    assert hl.statistic == pytest.approx(expected)
    assert hl.dof == 2
    assert hl.p_value == pytest.approx(math.exp(-expected / 2))  # chi2 sf with 2 dof


def test_hosmer_lemeshow_well_calibrated_passes():
    rng = np.random.default_rng(0)
    p = rng.uniform(0.01, 0.3, size=20000)
    y = (rng.random(p.shape[0]) < p).astype(int)
    assert hosmer_lemeshow(y, p).p_value > 0.01
    assert hosmer_lemeshow(y, np.minimum(p * 1.5, 1)).p_value < 1e-6


# ---------------------------------------------------------------- PSI / CSI


def test_psi_hand_computed():
    # shares (0.5, 0.5) -> (0.25, 0.75)
    expected = (0.25 - 0.5) * math.log(0.25 / 0.5) + (0.75 - 0.5) * math.log(0.75 / 0.5)
    assert psi([1, 1, 2, 2], [1, 2, 2, 2], bins=[1.5]) == pytest.approx(expected)
    assert psi([1, 1, 2, 2], [1, 2, 2, 2], bins=[1.5]) == pytest.approx(0.274653, abs=1e-6)
    assert psi(["a", "a", "b", "b"], ["a", "b", "b", "b"]) == pytest.approx(expected)
    assert psi([1.0, 2.0, 3.0], [1.0, 2.0, 3.0]) == 0.0


def test_psi_quantile_bins_missing_and_empty_bins():
    e = np.arange(1000, dtype=float)
    t = psi_table(e, e)
    assert t.height == 10
    assert t["expected_share"].to_list() == pytest.approx([0.1] * 10)
    # a missing bin appears when either sample has missing values
    a = np.concatenate((e[:900], [np.nan] * 100))
    t = psi_table(e, a)
    assert t["bin"][-1] == "(missing)"
    assert t["actual_share"][-1] == pytest.approx(0.1)
    # an empty bin is floored at epsilon: large but finite
    v = psi([0, 0, 1, 1], [0, 0, 0, 0], bins=[0.5])
    assert v == pytest.approx((1e-4 - 0.5) * math.log(1e-4 / 0.5) + 0.5 * math.log(1 / 0.5))
    # weights
    assert psi([1, 2], [1, 2], bins=[1.5], actual_weight=[1, 3]) == pytest.approx(expected_psi := (
        (0.25 - 0.5) * math.log(0.5) + 0.25 * math.log(1.5)))
    assert expected_psi > 0


def test_psi_interpretation_thresholds():
    assert psi_interpretation(0.0999) == "stable"
    assert psi_interpretation(0.1) == "moderate shift"
    assert psi_interpretation(0.2499) == "moderate shift"
    assert psi_interpretation(0.25) == "significant shift"


class _FakeBinner:
    """The two members csi uses: columns_ and transform (two bins per column)."""

    columns_ = ("age", "income")

    def transform(self, X):
        return np.column_stack([
            np.where(X["age"].to_numpy() < 30, -0.4, 0.3),
            np.where(X["income"].to_numpy() < 5000, -0.2, 0.5),
        ])


def test_csi_with_and_without_binner():
    exp = pl.DataFrame({"age": [20, 25, 40, 50], "income": [1000, 6000, 7000, 8000],
                        "channel": ["web", "web", "app", "app"]})
    act = pl.DataFrame({"age": [20, 45, 40, 50], "income": [1000, 6000, 7000, 8000],
                        "channel": ["web", "app", "app", "app"]})
    t = csi(exp, act, _FakeBinner())
    rows = dict(zip(t["feature"].to_list(), t["csi"].to_list(), strict=True))
    shift = (0.25 - 0.5) * math.log(0.5) + 0.25 * math.log(1.5)
    assert rows["age"] == pytest.approx(shift)
    assert rows["income"] == pytest.approx(0.0)
    assert t["feature"][0] == "age"  # sorted by csi
    raw = csi(exp, act, columns=["channel", "income"], bins=2)
    rows = dict(zip(raw["feature"].to_list(), raw["csi"].to_list(), strict=True))
    assert rows["channel"] == pytest.approx(shift)
    assert rows["income"] == pytest.approx(0.0)
    assert raw["interpretation"].to_list() == ["significant shift", "stable"]


# ---------------------------------------------------------------- bundles


def test_evaluate_bundles_consistent_values():
    y, s = _data()
    p = 1 / (1 + np.exp(-(s - 2)))
    r = evaluate(y, s, p, bands=[-1, 0, 1])
    assert r["auc"] == pytest.approx(roc_auc_score(y, s))
    assert r["gini"] == pytest.approx(2 * r["auc"] - 1)
    assert (r["ks"], r["ks_threshold"]) == tuple(ks(y, s))
    assert r["n"] == y.shape[0] and r["bad_rate"] == pytest.approx(y.mean())
    assert r["brier"] == pytest.approx(brier_score_loss(y, p))
    assert set(r["hosmer_lemeshow"]) == {"statistic", "dof", "p_value"}
    for key in ("gains", "roc", "ks_curve", "calibration", "bad_rate_by_band"):
        assert isinstance(r[key], pl.DataFrame)
    points = evaluate(y, 600 - 40 * s, higher_is_riskier=False)
    assert points["auc"] == pytest.approx(r["auc"])
    assert "calibration" not in points


def test_evaluate_samples_summary_and_psi():
    y, s = _data(seed=1)
    y2, s2 = _data(seed=2)
    out = evaluate_samples({"train": Sample(y, s), "test": Sample(y2, s2),
                            "oot": Sample(y2, s2 + 0.5)})
    summary = out["summary"]
    assert summary["sample"].to_list() == ["train", "test", "oot"]
    assert summary["psi"][0] == 0.0
    assert summary["psi"][1] < 0.1 < summary["psi"][2]
    assert summary["psi"][2] == pytest.approx(psi(s, s2 + 0.5))
    assert summary["auc"][1] == pytest.approx(roc_auc_score(y2, s2))
    assert out["reference"] == "train"


# ---------------------------------------------------------------- the documentation


def _doc_blocks() -> list[str]:
    text = DOC.read_text(encoding="utf-8")
    return re.findall(r"```python\n(.*?)```", text, flags=re.DOTALL)


def test_docs_examples_run():
    blocks = _doc_blocks()
    assert len(blocks) >= 4
    namespace: dict[str, object] = {}
    for block in blocks:  # one namespace: later blocks build on earlier ones
        exec(compile(block, str(DOC), "exec"), namespace)
