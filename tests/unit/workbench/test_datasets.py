"""The synthetic credit table: shape, bad rate, missing and special values, determinism."""

from __future__ import annotations

import datetime as dt

import numpy as np
import polars as pl
import pytest

from fengkong.workbench._datasets import (
    CATEGORICAL_CHARACTERISTICS,
    CHARACTERISTICS,
    NUMERIC_CHARACTERISTICS,
    PROTECTED_ATTRIBUTES,
    SPECIAL_VALUE,
    synthetic_credit,
)

N = 200_000


@pytest.fixture(scope="module")
def table() -> pl.DataFrame:
    return synthetic_credit(N, seed=0)


def test_shape_and_columns(table: pl.DataFrame) -> None:
    assert len(NUMERIC_CHARACTERISTICS) == 30
    assert len(CATEGORICAL_CHARACTERISTICS) == 3
    assert len(set(CHARACTERISTICS)) == 33
    assert table.columns == [*CHARACTERISTICS, "channel", "applied_at", *PROTECTED_ATTRIBUTES, "bad"]
    assert table.shape == (N, 39)
    for name in NUMERIC_CHARACTERISTICS:
        assert table.schema[name] == pl.Float64, name
    for name in (*CATEGORICAL_CHARACTERISTICS, "channel", *PROTECTED_ATTRIBUTES):
        assert table.schema[name] == pl.String, name
    assert table.schema["applied_at"] == pl.Date
    assert table.schema["bad"] == pl.Int8


def test_bad_rate_is_about_five_percent(table: pl.DataFrame) -> None:
    assert set(table["bad"].unique().to_list()) == {0, 1}
    assert 0.04 <= float(table["bad"].mean()) <= 0.06  # type: ignore[arg-type]


def test_missing_share_is_about_two_percent_in_every_characteristic(table: pl.DataFrame) -> None:
    shares = table.select(CHARACTERISTICS).null_count().row(0)
    for name, nulls in zip(CHARACTERISTICS, shares, strict=True):
        assert 0.015 <= nulls / N <= 0.025, (name, nulls / N)
    others = table.select("channel", "applied_at", *PROTECTED_ATTRIBUTES, "bad").null_count().row(0)
    assert sum(others) == 0
    # nulls, not NaN
    assert table.select(pl.col(NUMERIC_CHARACTERISTICS).is_nan().sum()).sum_horizontal().item() == 0


def test_special_values_in_a_few_columns(table: pl.DataFrame) -> None:
    with_special = {
        name for name in NUMERIC_CHARACTERISTICS if (table[name] == SPECIAL_VALUE).any()
    }
    assert with_special == {
        "bureau_score",
        "months_on_book",
        "months_since_last_delinquency",
        "employment_years",
    }
    # the special value is informative: no bureau hit is riskier than the average
    no_hit = table.filter(pl.col("bureau_score") == SPECIAL_VALUE)["bad"].mean()
    assert no_hit > table["bad"].mean()  # type: ignore[operator]


def test_segments_dates_and_protected_attributes(table: pl.DataFrame) -> None:
    assert sorted(table["channel"].unique().to_list()) == ["branch", "online", "partner"]
    assert table["applied_at"].min() == dt.date(2023, 1, 1)
    assert table["applied_at"].max() <= dt.date(2024, 12, 31)  # type: ignore[operator]
    months = table["applied_at"].dt.strftime("%Y-%m").n_unique()
    assert months == 24
    assert sorted(table["gender"].unique().to_list()) == ["F", "M"]
    assert sorted(table["age_band"].unique().to_list()) == ["18-25", "26-35", "36-45", "46-55", "56+"]
    assert table["region"].n_unique() == 5


def test_effects_are_there_and_not_all_linear(table: pl.DataFrame) -> None:
    bad = table["bad"].to_numpy()
    score = table["bureau_score"].fill_null(SPECIAL_VALUE).to_numpy()
    hit = score != SPECIAL_VALUE
    # strong monotone predictor: lower bureau score, more bads
    low, high = np.quantile(score[hit], [0.2, 0.8])
    assert bad[hit & (score < low)].mean() > 3 * bad[hit & (score > high)].mean()
    # U-shape: both ends of utilisation are riskier than the middle
    util = table["utilization"].fill_null(-1.0).to_numpy()
    middle = bad[(util > 0.3) & (util < 0.5)].mean()
    assert bad[util == 0.0].mean() > middle
    assert bad[util > 0.9].mean() > middle
    # noise columns carry nothing
    aux = table["aux_01"].fill_null(0.0).to_numpy()
    assert abs(bad[aux > 0].mean() - bad[aux <= 0].mean()) < 0.005


def test_deterministic_per_seed() -> None:
    a = synthetic_credit(5_000, seed=7)
    b = synthetic_credit(5_000, seed=7)
    c = synthetic_credit(5_000, seed=8)
    assert a.equals(b)
    assert not a.equals(c)


def test_rejects_empty() -> None:
    with pytest.raises(ValueError):
        synthetic_credit(0)
