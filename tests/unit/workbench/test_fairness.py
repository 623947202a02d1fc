"""Disparate-impact report: the four-fifths rule on constructed cases."""

from __future__ import annotations

import numpy as np
import polars as pl
import pytest

from fengkong.workbench._fairness import (
    disparate_impact,
    fairness_report,
    score_distribution_by_group,
)


def _constructed() -> tuple[np.ndarray, np.ndarray]:
    # A: 60 of 100 approved (0.60) ; B: 50 of 100 (0.50) ; C: 20 of 50 (0.40)
    group = np.array(["A"] * 100 + ["B"] * 100 + ["C"] * 50)
    approved = np.concatenate([
        np.arange(100) < 60, np.arange(100) < 50, np.arange(50) < 20,
    ])
    return approved, group


def test_four_fifths_rule_on_a_constructed_case():
    approved, group = _constructed()
    t = disparate_impact(approved, group)
    assert t["group"].to_list() == ["A", "B", "C"]
    assert t["count"].to_list() == [100, 100, 50]
    assert t["approval_rate"].to_list() == pytest.approx([0.6, 0.5, 0.4])
    assert t["reference"].to_list() == [True, False, False]
    assert t["adverse_impact_ratio"].to_list() == pytest.approx([1.0, 0.5 / 0.6, 0.4 / 0.6])
    assert t["four_fifths_pass"].to_list() == [True, True, False]
    assert t["small_group"].to_list() == [False, False, False]


def test_exactly_four_fifths_passes_and_explicit_reference():
    group = ["x"] * 100 + ["y"] * 100
    approved = [i < 60 for i in range(100)] + [i < 48 for i in range(100)]
    t = disparate_impact(approved, group)
    assert t.filter(pl.col("group") == "y")["adverse_impact_ratio"][0] == pytest.approx(0.8)
    assert t["four_fifths_pass"].to_list() == [True, True]  # 0.48 / 0.60 is exactly 4/5
    # with the lower group as reference the ratio of the other is above one
    t = disparate_impact(approved, group, reference="y")
    assert t.filter(pl.col("group") == "x")["adverse_impact_ratio"][0] == pytest.approx(1.25)
    with pytest.raises(ValueError, match="reference group"):
        disparate_impact(approved, group, reference="z")


def test_weights_missing_groups_and_small_groups():
    approved = [1, 0, 1, 1, 0]
    group = ["a", "a", "b", None, None]
    t = disparate_impact(approved, group, sample_weight=[3, 1, 1, 1, 1], min_count=2)
    rows = {r["group"]: r for r in t.iter_rows(named=True)}
    assert rows["a"]["approval_rate"] == 0.75
    assert rows["b"]["approval_rate"] == 1.0 and rows["b"]["reference"]
    assert rows["(missing)"]["approval_rate"] == 0.5
    assert rows["(missing)"]["four_fifths_pass"] is False
    assert rows["b"]["small_group"] is True and rows["a"]["small_group"] is False
    with pytest.raises(ValueError, match="boolean"):
        disparate_impact([2, 0], ["a", "b"])


def test_score_distribution_by_group():
    score = [500, 600, 700, 550, 650, 750, 800]
    group = ["f", "f", "f", "m", "m", "m", "m"]
    t = score_distribution_by_group(score, group, higher_is_riskier=False)
    rows = {r["group"]: r for r in t.iter_rows(named=True)}
    assert rows["f"]["mean"] == 600 and rows["m"]["mean"] == 687.5
    assert rows["f"]["median"] == 600 and rows["m"]["median"] == 650
    assert rows["f"]["count"] == 3
    # points: higher is safer, so "m" (higher mean) is the reference and "f" is riskier
    assert rows["m"]["reference"] and not rows["f"]["reference"]
    assert rows["f"]["mean_difference"] == -87.5
    pooled = float(np.std(score))
    assert rows["f"]["standardized_difference"] == pytest.approx(87.5 / pooled)
    # the same scores read as probabilities-like (higher = riskier): "f" is the safe group
    t2 = score_distribution_by_group(score, group, higher_is_riskier=True)
    assert t2.filter(pl.col("reference"))["group"].to_list() == ["f"]


def test_fairness_report_from_scores_and_cutoff():
    protected = pl.DataFrame({
        "gender": ["f", "f", "f", "f", "m", "m", "m", "m"],
        "age_band": ["18-30", "31-60", "18-30", "31-60", "18-30", "31-60", "18-30", "31-60"],
    })
    points = np.array([520, 610, 640, 700, 600, 620, 650, 690])
    report = fairness_report(protected, score=points, cutoff=600, higher_is_riskier=False,
                             model_features=["income", "age"], min_count=1)
    g = report.approval["gender"]
    assert g.filter(pl.col("group") == "f")["approval_rate"][0] == 0.75
    assert g.filter(pl.col("group") == "m")["approval_rate"][0] == 1.0
    assert g.filter(pl.col("group") == "f")["four_fifths_pass"][0] is False  # 0.75 < 0.8
    a = report.approval["age_band"]
    assert a["approval_rate"].to_list() == [1.0, 0.75]
    assert report.passed is False
    assert report.failures == [("gender", "f"), ("age_band", "18-30")]
    assert report.summary.height == 4
    assert set(report.scores) == {"gender", "age_band"}
    # approvals given directly, every group passes
    ok = fairness_report(protected, approved=[True] * 8, attributes=["gender"])
    assert ok.passed and ok.failures == [] and ok.scores == {}


def test_fairness_report_refuses_protected_model_inputs():
    protected = {"gender": ["f", "m"], "region": ["n", "s"]}
    with pytest.raises(ValueError, match="region"):
        fairness_report(protected, approved=[1, 0], model_features=["income", "region"])
    with pytest.raises(ValueError, match="score and cutoff"):
        fairness_report(protected)
