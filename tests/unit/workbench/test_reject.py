"""Reject inference: parcelling and fuzzy augmentation."""

from __future__ import annotations

import numpy as np
import polars as pl
import pytest

from fengkong.workbench._reject import fuzzy_augmentation, parcelling


def _population(seed: int = 0):
    rng = np.random.default_rng(seed)
    na, nr = 2000, 600
    sa = rng.uniform(0, 1, size=na)  # accepted-only model's PD-like score
    ya = (rng.random(na) < 0.05 + 0.3 * sa).astype(int)
    sr = rng.uniform(0.3, 1.2, size=nr)  # rejects are riskier, some beyond the accepted range
    xa = pl.DataFrame({"income": rng.normal(size=na), "age": rng.integers(18, 70, size=na)})
    xr = pl.DataFrame({"income": rng.normal(size=nr), "age": rng.integers(18, 70, size=nr)})
    return xa, ya, xr, sa, sr


def test_parcelling_preserves_weight_and_accepted_rows():
    xa, ya, xr, sa, sr = _population()
    wa = np.full(ya.shape[0], 2.0)
    wr = np.random.default_rng(3).uniform(0.5, 1.5, size=sr.shape[0])
    out = parcelling(xa, ya, xr, sa, sr, sample_weight_accepted=wa, sample_weight_rejected=wr)
    assert out.sample_weight.sum() == pytest.approx(wa.sum() + wr.sum())
    assert out.X.height == xa.height + xr.height
    assert out.X.head(xa.height).equals(xa)
    assert out.X.tail(xr.height).equals(xr)
    np.testing.assert_array_equal(out.y[: ya.shape[0]], ya)
    assert out.rejected.sum() == xr.height and not out.rejected[: xa.height].any()
    assert set(np.unique(out.y)) <= {0, 1}
    assert out.table["accepted"].sum() == pytest.approx(wa.sum())
    assert out.table["rejected"].sum() == pytest.approx(wr.sum())


def test_parcelling_follows_band_bad_rates_exactly():
    # accepted: 4 bands of 5 with 0, 1, 2, 4 bads ; rejects: 10 in each of the top 2 bands
    sa = np.arange(20, dtype=float)
    ya = np.array([0] * 5 + [1, 0, 0, 0, 0] + [1, 1, 0, 0, 0] + [1, 1, 1, 1, 0])
    sr = np.concatenate([np.full(10, 12.0), np.full(10, 30.0)])  # 30: beyond -> riskiest band
    xa, xr = sa.reshape(-1, 1), sr.reshape(-1, 1)
    out = parcelling(xa, ya, xr, sa, sr, bins=4, random_state=1)
    t = out.table
    assert t["accepted_bad_rate"].to_list() == pytest.approx([0.0, 0.2, 0.4, 0.8])
    assert t["rejected"].to_list() == [0, 0, 10, 10]
    assert t["rejected_bads"].to_list() == [0, 0, 4, 8]
    yr = out.y[20:]
    assert yr[:10].sum() == 4 and yr[10:].sum() == 8
    assert isinstance(out.X, np.ndarray) and out.X.shape == (40, 1)
    # rejects are riskier than accepts with the same score: factor 2, capped at 1
    out2 = parcelling(xa, ya, xr, sa, sr, bins=4, rejection_factor=2.0)
    assert out2.table["inferred_bad_rate"].to_list() == pytest.approx([0.0, 0.4, 0.8, 1.0])
    assert out2.table["rejected_bads"].to_list() == [0, 0, 8, 10]
    # seeded: the same labels every time
    again = parcelling(xa, ya, xr, sa, sr, bins=4, random_state=1)
    np.testing.assert_array_equal(again.y, out.y)


def test_parcelling_with_points_direction():
    xa, ya, xr, sa, sr = _population(1)
    out = parcelling(xa, ya, xr, sa, sr, random_state=7)
    points = parcelling(xa, ya, xr, 600 - 100 * sa, 600 - 100 * sr, higher_is_riskier=False,
                        random_state=7)
    np.testing.assert_array_equal(points.y, out.y)
    assert points.table["rejected_bads"].to_list() == out.table["rejected_bads"].to_list()
    # the riskiest band comes last in both; rejects skew risky
    assert out.table["accepted_bad_rate"][-1] > out.table["accepted_bad_rate"][0]
    assert out.y[out.rejected].mean() > ya.mean()


def test_fuzzy_augmentation_weights():
    xa = np.array([[1.0], [2.0], [3.0]])
    ya = np.array([0, 1, 0])
    xr = np.array([[4.0], [5.0]])
    p = np.array([0.2, 0.6])
    out = fuzzy_augmentation(xa, ya, xr, p, sample_weight_rejected=[1.0, 2.0])
    assert out.X.shape == (7, 1)
    np.testing.assert_array_equal(out.X[:, 0], [1, 2, 3, 4, 5, 4, 5])
    np.testing.assert_array_equal(out.y, [0, 1, 0, 1, 1, 0, 0])
    np.testing.assert_allclose(out.sample_weight, [1, 1, 1, 0.2, 1.2, 0.8, 0.8])
    assert out.sample_weight.sum() == pytest.approx(3 + 3)  # total weight preserved
    assert out.rejected.tolist() == [False] * 3 + [True] * 4
    t = out.table
    assert t["bads"].to_list() == pytest.approx([1.0, 1.4])
    assert t["bad_rate"].to_list() == pytest.approx([1 / 3, 1.4 / 3])
    # factor 2 is capped at 1, reject_weight scales the rejects' total
    out2 = fuzzy_augmentation(xa, ya, xr, p, rejection_factor=2.0, reject_weight=0.5)
    np.testing.assert_allclose(out2.sample_weight[3:], [0.2, 0.5, 0.3, 0.0])
    assert out2.sample_weight.sum() == pytest.approx(3 + 0.5 * 2)


def test_fuzzy_augmentation_polars_and_checks():
    xa, ya, xr, _, _ = _population()
    p = np.full(xr.height, 0.25)
    out = fuzzy_augmentation(xa, ya, xr, p)
    assert out.X.height == xa.height + 2 * xr.height
    bad_weight = out.sample_weight[out.rejected & (out.y == 1)].sum()
    assert bad_weight == pytest.approx(0.25 * xr.height)
    with pytest.raises(ValueError, match="probabilities"):
        fuzzy_augmentation(xa, ya, xr, p + 1)
    with pytest.raises(ValueError, match="rejection_factor"):
        fuzzy_augmentation(xa, ya, xr, p, rejection_factor=0)
    with pytest.raises(ValueError, match="same length"):
        parcelling(xa, ya, xr, np.zeros(3), np.zeros(xr.height))
