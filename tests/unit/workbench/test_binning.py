"""Binner: hand-computed WoE/IV, the exact optimiser, constraints, special and missing bins,
weights, categories, and summaries that merge to the same bins as one fit."""

from __future__ import annotations

import itertools
import math

import numpy as np
import polars as pl
import pytest

from fengkong.workbench import Binner, BinSummary, merge_summaries
from fengkong.workbench._binning import optimal_partition, woe_iv


def _tiny() -> tuple[pl.DataFrame, np.ndarray]:
    # value: (goods, bads) = 1: (10, 0), 2: (8, 2), 3: (5, 5), 4: (2, 8)
    xs, ys = [], []
    for value, goods, bads in [(1, 10, 0), (2, 8, 2), (3, 5, 5), (4, 2, 8)]:
        xs += [value] * (goods + bads)
        ys += [0] * goods + [1] * bads
    return pl.DataFrame({"x": xs}), np.array(ys)


def test_hand_computed_woe_and_iv() -> None:
    frame, y = _tiny()
    b = Binner(prebins=4, max_bins=4, min_bin_share=0.0, min_bads=0.0,
               monotonic="ascending").fit(frame, y)
    t = b.bin_tables_["x"]
    assert t["bin"].to_list() == ["< 2", "[2..3)", "[3..4)", ">= 4", "missing"]
    assert t["kind"].to_list() == ["normal"] * 4 + ["missing"]
    assert t["goods"].to_list() == [10, 8, 5, 2, 0] and t["bads"].to_list() == [0, 2, 5, 8, 0]
    G, B = 25, 15
    expected_woe = [math.log((10 / G) / (0.5 / B)),  # no bads: 0.5 pseudo-count
                    math.log((8 / G) / (2 / B)), math.log((5 / G) / (5 / B)),
                    math.log((2 / G) / (8 / B)), 0.0]
    assert t["woe"].to_list() == pytest.approx(expected_woe, abs=1e-12)
    expected_iv = [(10 / G - 0) * expected_woe[0], (8 / G - 2 / B) * expected_woe[1],
                   (5 / G - 5 / B) * expected_woe[2], (2 / G - 8 / B) * expected_woe[3], 0.0]
    assert t["iv"].to_list() == pytest.approx(expected_iv, abs=1e-12)
    assert b.iv_["x"] == pytest.approx(sum(expected_iv), abs=1e-12)
    assert t["event_rate"].to_list() == pytest.approx([0, 0.2, 0.5, 0.8, 0])
    assert t["share"].to_list() == pytest.approx([0.25] * 4 + [0])
    assert t["lower"].to_list() == [None, 2, 3, 4, None]
    assert t["upper"].to_list() == [2, 3, 4, None, None]
    assert b.trends_["x"] == "ascending"
    # higher WoE = better; transform maps each value to its bin's WoE
    woe = b.transform(pl.DataFrame({"x": [1.0, 2.0, 2.5, 4.0, 99.0, None]}))[:, 0]
    assert woe.tolist() == pytest.approx([*expected_woe[:2], expected_woe[1], expected_woe[3],
                                          expected_woe[3], 0.0])


def test_trend_that_the_data_contradicts_gives_one_bin_and_a_flag() -> None:
    frame, y = _tiny()
    b = Binner(prebins=4, min_bin_share=0.0, min_bads=0.0, monotonic="descending").fit(frame, y)
    assert b.bin_tables_["x"].filter(pl.col("kind") == "normal").height == 1
    assert any(f.startswith("single-bin") for f in b.flags_["x"])


def _brute_force(g: np.ndarray, bd: np.ndarray, trend: str, max_bins: int, min_count: float,
                 min_bads: float) -> float:
    m, G, B = len(g), float(g.sum()), float(bd.sum())
    best = -math.inf
    for k in range(min(max_bins, m) ):
        for cuts in itertools.combinations(range(1, m), k):
            bounds = [0, *cuts, m]
            gs = np.array([g[a:c].sum() for a, c in itertools.pairwise(bounds)])
            bs = np.array([bd[a:c].sum() for a, c in itertools.pairwise(bounds)])
            if np.any(gs + bs < min_count) or np.any(bs < min_bads):
                continue
            d = np.sign(np.diff(bs / (gs + bs)))
            ok = {"ascending": np.all(d > 0), "descending": np.all(d < 0), "none": True,
                  "peak": np.all(np.diff(d) <= 0) and np.all(d != 0) if d.size else True,
                  "valley": np.all(np.diff(d) >= 0) and np.all(d != 0) if d.size else True}[trend]
            if ok:
                best = max(best, float(woe_iv(gs, bs, G, B)[1].sum()))
    return best


@pytest.mark.parametrize("trend", ["ascending", "descending", "peak", "valley", "none"])
@pytest.mark.parametrize("seed", range(6))
def test_dynamic_programme_finds_the_best_partition(trend: str, seed: int) -> None:
    rng = np.random.default_rng(seed)
    m = 8
    g = rng.integers(5, 60, m).astype(float)
    bd = rng.integers(0, 25, m).astype(float)
    min_count, min_bads, max_bins = float(g.sum() + bd.sum()) * 0.08, 4.0, 4
    cuts, iv = optimal_partition(g, bd, total_goods=g.sum(), total_bads=bd.sum(), trend=trend,
                                 max_bins=max_bins, min_count=min_count, min_bads=min_bads)
    best = _brute_force(g, bd, trend, max_bins, min_count, min_bads)
    if math.isinf(best):  # nothing feasible: one bin
        assert cuts == []
    else:
        assert iv == pytest.approx(best, abs=1e-12)
        assert len(cuts) + 1 <= max_bins


def _noisy(n: int, seed: int) -> tuple[pl.DataFrame, np.ndarray]:
    rng = np.random.default_rng(seed)
    u = rng.uniform(-3, 3, n)
    v = rng.normal(0, 1, n)
    s = rng.integers(0, 100, n).astype(float)
    s[rng.random(n) < 0.1] = -999.0
    s[rng.random(n) < 0.05] = -1.0
    logit = -2 + 0.6 * u ** 2 - 1.0 + 0.8 * v + 1.2 * (s == -999)
    y = (rng.random(n) < 1 / (1 + np.exp(-logit))).astype(int)
    v[rng.random(n) < 0.05] = np.nan
    return pl.DataFrame({"u": u, "v": v, "s": s}).with_columns(pl.col("v").fill_nan(None)), y


def test_constraints_trends_special_and_missing_bins() -> None:
    frame, y = _noisy(20_000, 0)
    b = Binner(min_bin_share=0.07, min_bads=60, max_bins=6, special_values={"s": [-999, -1]},
               monotonic={"u": "valley", "v": "auto", "s": "auto"}).fit(frame, y)
    for col, table in b.bin_tables_.items():
        normal = table.filter(pl.col("kind") == "normal")
        assert 1 <= normal.height <= 6
        assert (normal["share"] >= 0.07 - 1e-12).all(), col
        assert (normal["bads"] >= 60).all(), col
        rate = normal["event_rate"].to_numpy()
        d = np.sign(np.diff(rate))
        trend = b.trends_[col]
        if trend == "ascending":
            assert np.all(d > 0)
        elif trend == "descending":
            assert np.all(d < 0)
        elif trend == "valley":
            assert np.all(np.diff(d) >= 0) and np.all(d != 0)
        assert table["count"].sum() == pytest.approx(20_000)
        assert table["iv"].sum() == pytest.approx(b.iv_[col])
    assert b.trends_["u"] == "valley"  # U-shaped risk
    assert b.trends_["v"] == "ascending"
    s = b.bin_tables_["s"]
    assert s.filter(pl.col("kind") == "special")["bin"].to_list() == ["-999", "-1"]
    special = s.filter(pl.col("bin") == "-999")
    assert special["count"][0] == float(np.sum(frame["s"].to_numpy() == -999))
    assert special["event_rate"][0] == pytest.approx(float(y[frame["s"].to_numpy() == -999].mean()))
    v_missing = b.bin_tables_["v"].filter(pl.col("kind") == "missing")
    assert v_missing["count"][0] == frame["v"].null_count()
    # special values and nulls are scored in their own bins
    woe = b.transform(pl.DataFrame({"u": [0.0, 0.0], "v": [None, 0.0], "s": [-999.0, -1.0]}))
    assert woe[0, 1] == v_missing["woe"][0]
    assert woe[0, 2] == special["woe"][0]
    assert woe[1, 2] == s.filter(pl.col("bin") == "-1")["woe"][0]


def test_weights_are_duplicated_rows() -> None:
    frame, y = _noisy(3000, 1)
    w = np.random.default_rng(2).integers(0, 4, frame.height)
    rep = np.repeat(np.arange(frame.height), w)
    kw = {"special_values": {"s": [-999, -1]}, "min_bads": 10}
    weighted = Binner(**kw).fit(frame, y, sample_weight=w)  # type: ignore[arg-type]
    repeated = Binner(**kw).fit(frame[rep], y[rep])  # type: ignore[arg-type]
    for col in ("u", "v", "s"):
        a, c = weighted.bin_tables_[col], repeated.bin_tables_[col]
        assert a["bin"].to_list() == c["bin"].to_list()
        for k in ("count", "goods", "bads", "woe", "iv"):
            np.testing.assert_allclose(a[k].to_numpy(), c[k].to_numpy(), rtol=1e-12)


def test_summaries_of_chunks_merge_to_the_same_bins() -> None:
    frame, y = _noisy(9000, 3)
    binner = Binner(special_values={"s": [-999, -1]}, min_bads=20)
    whole = binner.summarize(frame, y)
    edges = {c: whole[c].edges for c in whole}
    chunks = [binner.summarize(frame[a:a + 3000], y[a:a + 3000], edges=edges)
              for a in range(0, 9000, 3000)]
    merged = merge_summaries(chunks)
    assert isinstance(merged["u"], BinSummary)
    np.testing.assert_allclose(merged["u"].goods, whole["u"].goods)
    np.testing.assert_allclose(merged["s"].special_bads, whole["s"].special_bads)
    from_chunks = Binner(special_values={"s": [-999, -1]}, min_bads=20).fit_summaries(chunks)
    direct = Binner(special_values={"s": [-999, -1]}, min_bads=20).fit(frame, y)
    for col in ("u", "v", "s"):
        assert from_chunks.bin_tables_[col].equals(direct.bin_tables_[col])
    np.testing.assert_array_equal(from_chunks.transform(frame), direct.transform(frame))
    with pytest.raises(ValueError, match="different pre-bin edges"):
        chunks[0]["u"].merge(binner.summarize(frame[:100], y[:100])["u"])


def test_categories_ordered_by_event_rate_rare_ones_in_other() -> None:
    rng = np.random.default_rng(4)
    n = 20_000
    cat = rng.choice(["a", "b", "c", "d", "rare1", "rare2"], n,
                     p=[0.3, 0.3, 0.2, 0.196, 0.002, 0.002])
    rate = {"a": 0.02, "b": 0.08, "c": 0.15, "d": 0.3, "rare1": 0.5, "rare2": 0.0}
    y = (rng.random(n) < np.vectorize(rate.get)(cat)).astype(int)
    cat = np.where(rng.random(n) < 0.02, None, cat)
    frame = pl.DataFrame({"cat": cat.tolist()}, schema={"cat": pl.String})
    b = Binner(min_category_share=0.01).fit(frame, y)
    t = b.bin_tables_["cat"]
    assert b.trends_["cat"] == "categorical"
    normal = t.filter(pl.col("kind") == "normal")
    assert [c for cs in normal["categories"].to_list() for c in cs] == ["a", "b", "c", "d"]
    assert np.all(np.diff(normal["event_rate"].to_numpy()) > 0)
    other = t.filter(pl.col("kind") == "other")
    assert sorted(other["categories"][0].to_list()) == ["rare1", "rare2"]
    woe = b.transform(pl.DataFrame({"cat": ["rare1", "never_seen", None, "a"]}))[:, 0]
    assert woe[0] == woe[1] == other["woe"][0]
    assert woe[2] == t.filter(pl.col("kind") == "missing")["woe"][0]
    assert woe[3] == normal["woe"][0]


def test_strong_predictors_are_flagged_never_dropped() -> None:
    rng = np.random.default_rng(5)
    y = (rng.random(5000) < 0.1).astype(int)
    leak = y + rng.normal(0, 0.1, 5000)
    frame = pl.DataFrame({"leak": leak, "noise": rng.normal(size=5000)})
    b = Binner(strong_iv=0.5, min_iv=0.1).fit(frame, y)
    assert b.iv_["leak"] > 3
    assert b.flags_["leak"][0].startswith("strong-predictor: IV")
    assert "leak" in b.columns_ and b.transform(frame).shape == (5000, 2)
    assert any(f.startswith("weak") for f in b.flags_["noise"])


def test_numpy_input_names_columns_x0_and_rejects_bad_targets() -> None:
    rng = np.random.default_rng(6)
    x = rng.normal(size=(500, 2))
    y = (x[:, 0] + rng.normal(size=500) > 1).astype(int)
    b = Binner().fit(x, y)
    assert b.columns_ == ["x0", "x1"] and b.transform(x).shape == (500, 2)
    with pytest.raises(ValueError, match="binary"):
        Binner().fit(x, np.arange(500) % 3)
    with pytest.raises(ValueError, match="monotonic"):
        Binner(monotonic="sideways").fit(x, y)


def test_only_rare_categories_are_kept_as_categories() -> None:
    rng = np.random.default_rng(9)
    cats = [f"c{k}" for k in range(400)]  # each about 0.25 % of the records
    frame = pl.DataFrame({"cat": rng.choice(cats, 20_000).tolist()})
    y = (rng.random(20_000) < 0.1).astype(int)
    t = Binner(min_category_share=0.01).fit(frame, y).bin_tables_["cat"]
    assert t.filter(pl.col("kind") == "normal").height >= 1
    assert t.filter(pl.col("kind") == "other")["count"][0] == 0
