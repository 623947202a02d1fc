"""The k-check: k and ℓ of a table as it is."""

from __future__ import annotations

import math

import polars as pl
import pytest

from fengkong.anonymize import AnonymizationDataError, check

FRAME = pl.DataFrame({
    "age": ["20-29", "20-29", "20-29", "30-39", "30-39", None, None],
    "city": ["GZ"] * 5 + ["SZ", "SZ"],
    "bad": [0, 1, 1, 0, 0, 1, 0],
})


def test_k_and_distinct_l() -> None:
    result = check(FRAME, ["age", "city"], k=3, target="bad", l=2)
    assert (result.rows, result.classes, result.k, result.l) == (7, 3, 2, 1.0)
    assert (result.classes_below_k, result.rows_below_k) == (2, 4)
    assert (result.classes_below_l, result.rows_below_l) == (1, 2)
    assert result.class_sizes == (2, 2, 3)
    assert not result.is_anonymous


def test_entropy_l() -> None:
    result = check(FRAME, ["age"], k=1, target="bad", l=2, diversity="entropy")
    # Classes: 20-29 (1 good, 2 bad), 30-39 (2 good), null (1 and 1).
    assert result.l == pytest.approx(1.0)
    one_third = -(1 / 3 * math.log(1 / 3) + 2 / 3 * math.log(2 / 3))
    assert result.classes_below_l == 2
    assert math.exp(one_third) < 2


def test_without_target_or_quasi_identifiers() -> None:
    assert check(FRAME, ["city"], k=2).l is None
    whole = check(FRAME, [], k=7)
    assert (whole.classes, whole.k, whole.is_anonymous) == (1, 7, True)


def test_empty_table() -> None:
    result = check(FRAME.clear(), ["age"], k=5, target="bad")
    assert (result.classes, result.k, result.l, result.is_anonymous) == (0, None, None, True)


def test_missing_column() -> None:
    with pytest.raises(AnonymizationDataError, match="no column `income`"):
        check(FRAME, ["age", "income"])
