"""Encoding one quasi-identifier: labels, codes and cell loss at every level."""

from __future__ import annotations

import datetime as dt

import numpy as np
import polars as pl
import pytest

from fengkong.anonymize import BandsSpec, CategoricalSpec, DateSpec
from fengkong.anonymize._hierarchy import encode_column


def labels(series: pl.Series, spec: BandsSpec | CategoricalSpec | DateSpec) -> list[list[object]]:
    encoded = encode_column(series, spec)
    return [encoded.output(i).to_list() for i in range(len(encoded.levels))]


def test_cut_bands_are_open_at_both_ends() -> None:
    spec = BandsSpec(type="bands", cuts=((3000, 5000, 8000), (5000,)))
    out = labels(pl.Series("income", [1200.5, 3000.0, 7999.99, 8000.0, 25000.0]), spec)
    assert out[1] == ["< 3000", "[3000, 5000)", "[5000, 8000)", ">= 8000", ">= 8000"]
    assert out[2] == ["< 5000", "< 5000", ">= 5000", ">= 5000", ">= 5000"]
    assert out[3] == ["*"] * 5


def test_width_bands_with_an_origin_and_fractions() -> None:
    spec = BandsSpec(type="bands", widths=(0.25, 0.5), origin=0.1)
    out = labels(pl.Series("x", [0.1, 0.36, 0.6]), spec)
    assert out[1] == ["[0.1, 0.35)", "[0.35, 0.6)", "[0.6, 0.85)"]
    assert out[2] == ["[0.1, 0.6)", "[0.1, 0.6)", "[0.6, 1.1)"]


def test_cell_loss_is_the_share_of_the_range_covered() -> None:
    spec = BandsSpec(type="bands", widths=(10,))
    encoded = encode_column(pl.Series("age", [20, 25, 40]), spec)
    as_is, bands, top = encoded.levels
    assert as_is.loss_sum == 0
    # [20, 30) covers 10 of the 20 years from 20 to 40; [40, 50) only the point 40.
    assert bands.ncp[bands.codes].tolist() == [0.5, 0.5, 0.0]
    assert top.ncp.tolist() == [1.0]
    assert top.loss_sum == 3


def test_categorical_loss_counts_the_values_a_group_holds() -> None:
    spec = CategoricalSpec(type="categorical", levels=({"a": "ab", "b": "ab", "c": "c"},))
    encoded = encode_column(pl.Series("x", ["a", "b", "c", None]), spec)
    level = encoded.levels[1]
    assert encoded.output(1).to_list() == ["ab", "ab", "c", None]
    assert level.ncp[level.codes].tolist() == [0.5, 0.5, 0.0, 0.0]
    assert encoded.output(2).to_list() == ["*"] * 4


def test_date_periods() -> None:
    spec = DateSpec(type="date", levels=("month", "quarter", "year"))
    days = pl.Series("d", [dt.date(2024, 12, 31), dt.date(2025, 1, 1), dt.date(2025, 11, 30)])
    out = labels(days, spec)
    assert out[1] == ["2024-12", "2025-01", "2025-11"]
    assert out[2] == ["2024-Q4", "2025-Q1", "2025-Q4"]
    assert out[3] == ["2024", "2025", "2025"]


def test_datetimes_keep_their_time_as_is_and_group_by_date_above() -> None:
    times = pl.Series("t", [dt.datetime(2025, 3, 1, 9), dt.datetime(2025, 3, 1, 17)])
    encoded = encode_column(times, DateSpec(type="date"))
    assert encoded.levels[0].size == 2
    assert encoded.output(1).to_list() == ["2025-03", "2025-03"]


def test_codes_follow_the_values_whatever_the_order() -> None:
    rng = np.random.default_rng(0)
    values = pl.Series("x", rng.choice(["b", "a", "c", None], 50).tolist())
    encoded = encode_column(values, CategoricalSpec(type="categorical",
                                                    levels=({"a": "1", "b": "1", "c": "2"},)))
    codes = encoded.levels[0].codes
    for code in np.unique(codes):
        assert values.filter(pl.Series(codes == code)).n_unique() == 1


def test_nan_joins_the_nulls() -> None:
    encoded = encode_column(pl.Series("x", [1.0, float("nan"), None, -0.0, 0.0]),
                            BandsSpec(type="bands", widths=(1,)))
    assert encoded.levels[0].size == 3  # 1.0, 0.0 (and -0.0), null
    assert encoded.output(0).to_list()[1:3] == [None, None]


@pytest.mark.parametrize("origin", [0.0, 3.0, -7.5])
def test_bands_nest(origin: float) -> None:
    spec = BandsSpec(type="bands", widths=(2.5, 5, 20), origin=origin)
    encoded = encode_column(pl.Series("x", np.linspace(-50, 50, 301)), spec)
    for finer, coarser in zip(encoded.levels, encoded.levels[1:], strict=False):
        pairs = set(zip(finer.codes.tolist(), coarser.codes.tolist(), strict=True))
        assert len({f for f, _ in pairs}) == len(pairs)  # each finer group in one coarser group
