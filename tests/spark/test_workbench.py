"""Binning, PSI and CSI of a Spark DataFrame equal the local workbench on the same rows
(Spark in local mode, the data in five partitions; the first session takes a while)."""

from __future__ import annotations

import datetime as dt
from pathlib import Path
from typing import Any

import numpy as np
import polars as pl
import pytest

from fengkong.workbench import Binner, _summary, csi, psi, psi_table, synthetic_credit

pytestmark = [pytest.mark.slow,
              pytest.mark.filterwarnings("ignore::FutureWarning"),
              pytest.mark.filterwarnings("ignore::DeprecationWarning"),
              pytest.mark.filterwarnings("ignore::ResourceWarning")]

COLUMNS = ["bureau_score", "months_on_book", "debt_to_income", "num_inquiries_6m",
           "utilization", "housing", "employment_type", "inquiries_int", "is_online", "region"]
#: Rare regions (well below ``min_category_share``): they share the ``other`` bin.
RARE = ("zeta", "eta", "alpha", "kappa", "beta", "aardvark")
SPLIT = dt.date(2024, 7, 1)


def _data() -> pl.DataFrame:
    """Synthetic credit data: nulls, -999 specials, text columns (one with rare values), an
    int and a bool column, and sample weights that are binary fractions (exact sums)."""
    raw = synthetic_credit(30_011, seed=5)
    rng = np.random.default_rng(5)
    rare = rng.random(raw.height) < 0.004
    region = np.where(rare, rng.choice(RARE[:-1], raw.height), raw["region"].to_numpy())
    region[[29_000, 29_500]] = RARE[-1]  # first seen after other categories
    return raw.select(
        pl.Series("region", region),
        *COLUMNS[:7], "applied_at", "bad",
        pl.col("num_inquiries_6m").cast(pl.Int64).alias("inquiries_int"),
        (pl.col("channel") == "online").alias("is_online"),
        pl.Series("w", rng.integers(1, 9, raw.height) / 4.0),
        pl.Series("w_real", rng.uniform(0.2, 3.0, raw.height)))


@pytest.fixture(scope="module")
def book(spark: Any, tmp_path_factory: pytest.TempPathFactory) -> tuple[Any, pl.DataFrame]:
    """The book as a Spark DataFrame in 5 partitions, and the same rows in the same order."""
    path = Path(tmp_path_factory.mktemp("book")) / "book.parquet"
    _data().write_parquet(path)
    frame = spark.read.parquet(str(path)).repartition(5).cache()
    local = pl.from_arrow(frame.toArrow())
    assert isinstance(local, pl.DataFrame)
    assert frame.rdd.getNumPartitions() == 5
    return frame, local


def _same_fit(got: Binner, want: Binner) -> None:
    assert got.columns_ == want.columns_
    for c in want.columns_:
        g, w = got.bins_[c], want.bins_[c]
        assert (g.kind, g.dtype, g.cuts, g.groups, g.other_categories, g.trend) == \
            (w.kind, w.dtype, w.cuts, w.groups, w.other_categories, w.trend), c
        assert np.array_equal(g.woe, w.woe), c
        assert got.bin_tables_[c].equals(want.bin_tables_[c]), c
        assert got.iv_[c] == want.iv_[c], c
        assert got.flags_[c] == want.flags_[c], c


def test_binning_equals_the_local_fit(book: tuple[Any, pl.DataFrame]) -> None:
    from pyspark.sql import functions as F

    from fengkong.spark._workbench import summarize_spark

    frame, local = book
    # `aardvark` is not in the first partition: merged summaries meet it late
    late = frame.where(F.col("region") == RARE[-1]).select(F.spark_partition_id()).collect()
    assert late and 0 not in {r[0] for r in late}
    settings: dict[str, Any] = {"special_values": (-999,), "max_bins": 6,
                                "categorical": ["is_online"]}
    theirs = Binner(**settings).summarize(local.select(COLUMNS), local["bad"], local["w"])
    mine = summarize_spark(frame, "bad", COLUMNS, weight="w", binner=Binner(**settings))
    assert list(mine) == COLUMNS
    for c, s in theirs.items():
        m = mine[c]
        assert (m.kind, m.dtype, m.edges, m.categories) == (s.kind, s.dtype, s.edges,
                                                            s.categories), c
        assert np.array_equal(m.goods, s.goods) and np.array_equal(m.bads, s.bads), c
        assert np.array_equal(m.special_goods, s.special_goods), c
        assert np.array_equal(m.special_bads, s.special_bads), c
        assert (m.missing_goods, m.missing_bads) == (s.missing_goods, s.missing_bads), c
    want = Binner(**settings).fit(local.select(COLUMNS), local["bad"], local["w"])
    got = Binner(**settings).fit_summaries(mine)
    _same_fit(got, want)
    assert len(got.bins_["bureau_score"].cuts) >= 2  # a real split, not a trivial one
    assert got.bins_["region"].other_categories == want.bins_["region"].other_categories
    assert set(got.bins_["region"].other_categories) == set(RARE)
    # the WoE of every row agrees too
    assert np.array_equal(got.transform(local.select(COLUMNS)),
                          want.transform(local.select(COLUMNS)))


def test_strided_pre_bin_sample_picks_the_same_rows(book: tuple[Any, pl.DataFrame],
                                                    monkeypatch: pytest.MonkeyPatch) -> None:
    from fengkong.spark._workbench import summarize_spark

    frame, local = book
    columns = ["debt_to_income", "utilization", "bureau_score"]
    full = Binner(special_values=(-999,)).summarize(local.select(columns), local["bad"])
    # every 13th row (not a divisor of the partition sizes), as the local fit samples
    # books of over 200,000 rows
    monkeypatch.setattr(_summary, "QUANTILE_SAMPLE", 2_300)
    want = Binner(special_values=(-999,)).fit(local.select(columns), local["bad"])
    sampled = Binner(special_values=(-999,)).summarize(local.select(columns), local["bad"])
    assert all(sampled[c].edges != full[c].edges for c in columns)  # the sample matters
    mine = summarize_spark(frame, "bad", columns, binner=Binner(special_values=(-999,)))
    for c in columns:
        assert mine[c].edges == sampled[c].edges, c
    _same_fit(Binner(special_values=(-999,)).fit_summaries(mine), want)


def test_real_valued_weights_agree_to_rounding(book: tuple[Any, pl.DataFrame]) -> None:
    from fengkong.spark._workbench import fit_binner_spark

    frame, local = book
    columns = ["bureau_score", "debt_to_income", "housing"]
    want = Binner(special_values=(-999,)).fit(local.select(columns), local["bad"],
                                              local["w_real"])
    got = fit_binner_spark(frame, "bad", columns, weight="w_real", special_values=(-999,))
    for c in columns:
        assert got.bins_[c].cuts == want.bins_[c].cuts, c
        assert got.bins_[c].groups == want.bins_[c].groups, c
        np.testing.assert_allclose(got.bins_[c].woe, want.bins_[c].woe, rtol=1e-9, atol=1e-12)
        np.testing.assert_allclose(got.bin_tables_[c]["count"].to_numpy(),
                                   want.bin_tables_[c]["count"].to_numpy(), rtol=1e-12)
        assert got.iv_[c] == pytest.approx(want.iv_[c], rel=1e-9)


def test_psi_equals_the_local_psi(book: tuple[Any, pl.DataFrame]) -> None:
    from pyspark.sql import functions as F

    from fengkong.spark._workbench import psi_spark, psi_table_spark

    frame, local = book
    before, after = F.col("applied_at") < F.lit(SPLIT), F.col("applied_at") >= F.lit(SPLIT)
    e_frame, a_frame = frame.where(before), frame.where(after)
    e = local.filter(pl.col("applied_at") < SPLIT)
    a = local.filter(pl.col("applied_at") >= SPLIT)
    cases: list[tuple[str, int]] = [("debt_to_income", 7), ("is_online", 10)]  # text: in csi
    for column, bins in cases:
        want = psi_table(e[column], a[column], bins, expected_weight=e["w"],
                         actual_weight=a["w"])
        got = psi_table_spark(e_frame, a_frame, column, bins, weight="w")
        assert got.equals(want), column
    cuts = [0.9, 0.1, 0.5, 0.5]  # cut points in any order, repeated
    value = psi_spark(e_frame, a_frame, "utilization", cuts)
    assert value == psi(e["utilization"], a["utilization"], cuts)
    assert value > 0.0


def test_csi_equals_the_local_csi(book: tuple[Any, pl.DataFrame]) -> None:
    from pyspark.sql import functions as F

    from fengkong.spark._workbench import csi_spark, fit_binner_spark

    frame, local = book
    e_frame = frame.where(F.col("applied_at") < F.lit(SPLIT))
    a_frame = frame.where(F.col("applied_at") >= F.lit(SPLIT))
    e = local.filter(pl.col("applied_at") < SPLIT)
    a = local.filter(pl.col("applied_at") >= SPLIT)
    binner = fit_binner_spark(e_frame, "bad", COLUMNS[:6], special_values=(-999,))
    want = csi(e, a, binner, expected_weight=e["w"], actual_weight=a["w"])
    got = csi_spark(e_frame, a_frame, binner, weight="w")
    assert got.equals(want)
    assert got.height == 6
    plain = ["bureau_score", "housing", "is_online", "inquiries_int"]
    assert csi_spark(e_frame, a_frame, columns=plain).equals(csi(e, a, columns=plain))


def test_errors_name_the_column(spark: Any, book: tuple[Any, pl.DataFrame]) -> None:
    from fengkong.spark._workbench import fit_binner_spark, psi_spark

    frame, _ = book
    with pytest.raises(ValueError, match="`no_such` is not in the frame"):
        fit_binner_spark(frame, "bad", ["bureau_score", "no_such"])
    with pytest.raises(ValueError, match="target column `outcome` is not in the frame"):
        fit_binner_spark(frame, "outcome", ["bureau_score"])
    with pytest.raises(TypeError, match="Column `applied_at` has type date"):
        fit_binner_spark(frame, "bad", ["applied_at"])
    with pytest.raises(ValueError, match="Give either a binner or its settings"):
        fit_binner_spark(frame, "bad", ["bureau_score"], binner=Binner(), max_bins=3)
    gaps = spark.createDataFrame([(1.0, 1), (2.0, None), (3.0, 0), (4.0, 1)], "x double, y int")
    with pytest.raises(ValueError, match="target column `y` has 1 missing values"):
        fit_binner_spark(gaps, "y")
    three = spark.createDataFrame([(1.0, 1), (2.0, 2), (3.0, 0)], "x double, y int")
    with pytest.raises(ValueError, match="target column `y` must be binary"):
        fit_binner_spark(three, "y")
    negative = spark.createDataFrame([(1.0, 1, 1.0), (2.0, 0, -1.0)], "x double, y int, w double")
    with pytest.raises(ValueError, match="weight column `w` has 1 values"):
        fit_binner_spark(negative, "y", weight="w")
    text = spark.createDataFrame([("a",), ("b",)], "x string")
    numbers = spark.createDataFrame([(1.0,), (2.0,)], "x double")
    with pytest.raises(TypeError, match="Column `x` holds numbers in one sample"):
        psi_spark(numbers, text, "x")
    with pytest.raises(ValueError, match="`score` is not in the frame"):
        psi_spark(numbers, numbers, "score")


def test_two_labels_are_read_over_the_whole_frame(spark: Any) -> None:
    """A 1/2 target (2 = bad) in partitions that each hold one label only."""
    from fengkong.spark._workbench import fit_binner_spark

    rows = [(float(i % 50), 2 if i % 50 > 35 else 1) for i in range(400)]
    frame = spark.createDataFrame(sorted(rows, key=lambda r: r[1]), "x double, y int") \
        .coalesce(1).repartitionByRange(2, "y")
    local = pl.from_arrow(frame.toArrow())
    assert isinstance(local, pl.DataFrame)
    want = Binner(min_bads=1).fit(local.select("x"), local["y"])
    got = fit_binner_spark(frame, "y", min_bads=1)
    _same_fit(got, want)
    assert got.bins_["x"].cuts  # the partitions each saw one label; the split is still found
