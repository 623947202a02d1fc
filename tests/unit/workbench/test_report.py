"""The HTML model report: every section and chart, self-contained, escaped; its curves."""

from __future__ import annotations

import re

import numpy as np
import polars as pl
import pytest

from fengkong.workbench._metrics import auc, gains_table, ks
from fengkong.workbench._report import (
    CharacteristicReport,
    FairnessSection,
    ModelReport,
    SampleScores,
    SegmentReport,
    calibration_points,
    fmt,
    ks_points,
    roc_points,
)

SECTIONS = ("overview", "performance", "characteristics", "stability", "segments", "fairness",
            "points", "deploy")
EVIL = "<script>alert('x')</script>&"


def _sample(name: str, n: int, rng: np.random.Generator) -> SampleScores:
    z = rng.normal(size=n)
    p = 1 / (1 + np.exp(3 - 1.5 * z))
    y = (rng.random(n) < p).astype(np.int64)
    return SampleScores(name, y, np.round(600 - 40 * z), p)


def _metrics(samples: list[SampleScores]) -> dict[str, dict[str, float]]:
    out = {}
    for s in samples:
        k = ks(s.y, s.score, higher_is_riskier=False)
        a = auc(s.y, s.score, higher_is_riskier=False)
        out[s.name] = {"auc": a, "gini": 2 * a - 1, "ks": k.statistic, "ks_score": k.threshold}
    return out


def _bins() -> pl.DataFrame:
    return pl.DataFrame({
        "bin": ["< 1000", "[1000..2000)", ">= 2000", "-999", "missing"],
        "kind": ["normal", "normal", "normal", "special", "missing"],
        "count": [1000.0, 3000.0, 2500.0, 200.0, 300.0],
        "share": [0.14, 0.43, 0.36, 0.03, 0.04],
        "goods": [900.0, 2850.0, 2450.0, 190.0, 280.0],
        "bads": [100.0, 150.0, 50.0, 10.0, 20.0],
        "event_rate": [0.1, 0.05, 0.02, 0.05, 0.066],
        "woe": [-0.8, 0.0, 0.9, 0.0, -0.3],
        "iv": [0.1, 0.0, 0.15, 0.0, 0.01]})


def _segment(name: str, condition: str | None, rng: np.random.Generator) -> SegmentReport:
    samples = [_sample("train", 3000, rng), _sample("test", 1500, rng), _sample("oot", 1000, rng)]
    chars = [
        CharacteristicReport(EVIL, 0.74, kept=True, reason="passed", trend="descending",
                             flags=("strong-predictor: IV 0.74 >= 0.5, check for leakage",),
                             bin_table=_bins(), csi={"test": 0.01, "oot": 0.3}),
        CharacteristicReport("income", 0.2, kept=True, reason="passed", trend="ascending",
                             bin_table=_bins(), csi={"test": 0.02, "oot": 0.05}),
        CharacteristicReport("noise", 0.01, kept=False, reason="low IV: 0.01 < min_iv 0.02",
                             bin_table=_bins()),
    ]
    points = pl.DataFrame({"feature": ["income"] * 3, "bin": ["< 1000", "[1000..2000)", ">= 2000"],
                           "points": [-10.0, 0.0, 25.0]})
    return SegmentReport(
        name=name, condition=condition, samples=samples, metrics=_metrics(samples),
        characteristics=chars, points=points, base_points=600.0,
        gains={s.name: gains_table(s.y, s.score, higher_is_riskier=False) for s in samples},
        psi={"test": 0.004, "oot": 0.13}, scorecard_file=f"scorecards/score_{name}.yaml")


@pytest.fixture(scope="module")
def report() -> ModelReport:
    rng = np.random.default_rng(0)
    segments = [_segment("app", "channel == 'app'", rng), _segment("branch", None, rng)]
    overall = [SampleScores(k, np.concatenate([s.sample(k).y for s in segments]),  # type: ignore[union-attr]
                            np.concatenate([s.sample(k).score for s in segments]),  # type: ignore[union-attr]
                            np.concatenate([s.sample(k).proba for s in segments]))  # type: ignore[union-attr]
               for k in ("train", "test", "oot")]
    fairness = FairnessSection(
        "gender", pl.DataFrame({"group": ["F", "M"], "count": [900, 1600],
                                "approval_rate": [0.7, 0.52],
                                "adverse_impact_ratio": [1.0, 0.74],
                                "four_fifths_pass": [True, False]}),
        {"F": overall[1].score[:900], "M": overall[1].score[900:]})
    report = ModelReport(
        title=f"Report {EVIL}", source="history.parquet", target="bad", created="2026-01-01",
        n_rows=11_000, n_columns=12, split="70/30.", overall=overall,
        overall_metrics=_metrics(overall), segments=segments, segment_by="channel",
        excluded=[("id", "an identifier")], fairness=[fairness], cutoff=580.0,
        cutoff_note="the maximum-KS score", files=[("strategy.yaml", "the strategy")],
        settings={"seed": 42}, engine_check="Checked: the engine scored 2,500 records.")
    return report


@pytest.fixture(scope="module")
def page(report: ModelReport) -> str:
    return report.to_html()


def test_every_section_is_there(page: str) -> None:
    for key in SECTIONS:
        assert f'<section id="{key}">' in page
        assert f'href="#{key}"' in page
    for text in ("IV ranking", "Gains and lift", "CSI per characteristic", "Below four-fifths: M",
                 "base points 600", "scorecards/score_app.yaml", "Checked: the engine"):
        assert text in page


def test_every_chart_is_inline_svg(report: ModelReport, page: str) -> None:
    labels = re.findall(r'<svg role="img" aria-label="([^"]*)"', page)
    for needed in ("ROC curves, all records", "Calibration, all records", "KS curves",
                   "Score distributions", "IV ranking, segment app", "WoE by bin of income",
                   "Score stability, segment branch", "Approval rate by gender",
                   "Score by gender", "ROC, segment branch"):
        assert any(label.startswith(needed) for label in labels), needed
    assert len(labels) == report.chart_count()  # what the progress bar counts
    # Two segments × two kept characteristics: four WoE charts; dropped ones only a table.
    assert sum(label.startswith("WoE by bin of") for label in labels) == 4
    assert not any("noise" in label for label in labels)
    assert "<?xml" not in page and "<!DOCTYPE svg" not in page


def test_self_contained_and_escaped(page: str) -> None:
    assert "<script" not in page  # the characteristic named <script> is escaped everywhere
    assert "&lt;script&gt;" in page
    assert not re.search(r'(src|href)="(https?:)?//', page)
    assert "<link" not in page and "<img" not in page
    # Ids (e.g. the clip paths of the charts) are unique across all the inline SVGs.
    ids = re.findall(r'\bid="([^"]+)"', page)
    assert len(ids) == len(set(ids))


@pytest.mark.slow
def test_report_is_reproducible(report: ModelReport, page: str) -> None:
    # No timestamps or random ids from matplotlib: the same report renders the same page.
    assert "dc:date" not in page
    assert report.to_html() == page


def test_roc_points_agree_with_auc() -> None:
    rng = np.random.default_rng(1)
    s = _sample("test", 2000, rng)
    fpr, tpr = roc_points(s.y, s.score)
    assert np.trapezoid(tpr, fpr) == pytest.approx(auc(s.y, s.score, higher_is_riskier=False))
    assert (fpr[0], tpr[0], fpr[-1], tpr[-1]) == (0.0, 0.0, 1.0, 1.0)


def test_ks_points_agree_with_ks() -> None:
    rng = np.random.default_rng(2)
    s = _sample("test", 2000, rng)
    _, cb, cg = ks_points(s.y, s.score)
    assert float(np.max(np.abs(cb - cg))) == pytest.approx(
        ks(s.y, s.score, higher_is_riskier=False).statistic)


def test_calibration_points_are_decile_means() -> None:
    y = np.array([0, 0, 1, 1] * 5)
    p = np.linspace(0.0, 1.0, 20)
    pred, obs, counts = calibration_points(y, p, bins=4)
    assert counts.tolist() == [5.0] * 4
    assert pred == pytest.approx([p[i:i + 5].mean() for i in range(0, 20, 5)])
    assert obs == pytest.approx([y[i:i + 5].mean() for i in range(0, 20, 5)])


@pytest.mark.parametrize(("value", "column", "text"), [
    (0.0512, "bad_rate", "5.12 %"), (1.5, "lift", "1.5000"), (1234.0, "count", "1,234"),
    (float("nan"), "woe", "–"), (True, "kept", "yes"), (-0.25, "woe", "-0.2500"),
])
def test_cell_formats(value: object, column: str, text: str) -> None:
    assert fmt(value, column) == text
