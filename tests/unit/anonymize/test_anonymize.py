"""The lattice search on small hand-made tables whose answers are known."""

from __future__ import annotations

import datetime as dt
from typing import Any

import polars as pl
import pytest

from fengkong.anonymize import (
    AnonymityNotMetError,
    AnonymizationDataError,
    AnonymizationError,
    AnonymizationSpec,
    KAnonymityNotMetError,
    LDiversityNotMetError,
    anonymize,
    check,
)
from fengkong.errors import DataError, FengkongError

AGE_10 = {"type": "bands", "widths": [10]}
AGE_5_10 = {"type": "bands", "widths": [5, 10]}
REGION = {"type": "categorical", "levels": [{"GD": "south", "GX": "south", "BJ": "north",
                                              "TJ": "north"}]}


def spec(**kwargs: Any) -> AnonymizationSpec:
    kwargs.setdefault("max_suppression", 0.0)
    return AnonymizationSpec.model_validate(kwargs)


def levels(result: Any) -> dict[str, int]:
    return {q.column: q.level for q in result.report.quasi_identifiers}


def test_stays_as_is_when_the_table_is_already_anonymous() -> None:
    frame = pl.DataFrame({"age": [30, 30, 40, 40], "bad": [0, 1, 0, 1]})
    result = anonymize(frame, spec(quasi_identifiers={"age": AGE_10}, target="bad", k=2))
    assert levels(result) == {"age": 0}
    assert result.frame["age"].to_list() == [30, 30, 40, 40]  # level 0 keeps the column
    assert result.report.information_loss == 0.0
    assert result.report.k == 2


def test_chooses_the_least_generalisation_that_meets_k() -> None:
    # Exact ages are unique; 5-year bands pair them up; 10-year bands would too, at more loss.
    frame = pl.DataFrame({"age": [20, 21, 26, 27, 31, 33], "bad": [0, 1, 0, 1, 1, 0]})
    result = anonymize(frame, spec(quasi_identifiers={"age": AGE_5_10}, target="bad", k=2))
    assert levels(result) == {"age": 1}
    assert result.frame["age"].to_list() == ["[20, 25)"] * 2 + ["[25, 30)"] * 2 + ["[30, 35)"] * 2
    # Each 5-year band covers 5 of the 13 years from 20 to 33; the last only 3 (30 to 33).
    expected = (4 * 5 / 13 + 2 * 3 / 13) / 6
    assert result.report.information_loss == pytest.approx(expected)


def test_generalises_the_cheaper_quasi_identifier() -> None:
    # Either age to 10-year bands or region to south/north makes pairs; age costs less.
    frame = pl.DataFrame({
        "age": [30, 31, 30, 31, 50, 51, 50, 51],
        "region": ["GD", "GD", "GX", "GX", "BJ", "BJ", "TJ", "TJ"],
        "bad": [0, 1] * 4,
    })
    qis = {"age": {"type": "bands", "widths": [10, 100]}, "region": REGION}
    result = anonymize(frame, spec(quasi_identifiers=qis, target="bad", k=2))
    assert levels(result) == {"age": 1, "region": 0}
    assert check(result.frame, ["age", "region"], k=2, target="bad", l=2).is_anonymous


def test_suppression_keeps_generalisation_low_within_the_cap() -> None:
    ages = [20, 20, 20, 21, 21, 21, 22, 22, 22, 60]  # one outlier
    frame = pl.DataFrame({"age": ages, "bad": [0, 1, 0] * 3 + [1]})
    qis = {"age": {"type": "bands", "widths": [10, 20, 40]}}
    without = anonymize(frame, spec(quasi_identifiers=qis, target="bad", k=3, max_suppression=0))
    assert without.report.suppressed_rows == 0
    assert levels(without)["age"] == 4  # only `*` puts the outlier in a class of 3
    within = anonymize(frame, spec(quasi_identifiers=qis, target="bad", k=3, max_suppression=0.1))
    assert levels(within) == {"age": 0}
    assert within.report.suppressed_rows == 1
    assert within.report.rows_out == 9
    assert 60 not in within.frame["age"].to_list()
    # The suppressed row counts as fully lost: 1 of 10 cells.
    assert within.report.information_loss == pytest.approx(0.1)


def test_suppression_never_exceeds_the_cap() -> None:
    ages = [20, 20, 20, 35, 50, 65]
    frame = pl.DataFrame({"age": ages})
    qis = {"age": {"type": "bands", "widths": [10, 20, 40]}}
    # Three singletons: suppressing them (50 %) is over a 40 % cap, so bands must merge some.
    result = anonymize(frame, spec(quasi_identifiers=qis, k=2, max_suppression=0.4))
    assert result.report.suppressed_rows <= 2
    assert result.report.suppression <= 0.4
    assert check(result.frame, ["age"], k=2).is_anonymous


def test_l_diversity_forces_classes_that_mix_the_target() -> None:
    # k = 2 holds as is, but each age has one outcome only: 10-year bands mix them.
    frame = pl.DataFrame({"age": [30, 30, 31, 31], "bad": [0, 0, 1, 1]})
    qis = {"age": {"type": "bands", "widths": [10]}}
    k_only = anonymize(frame, spec(quasi_identifiers=qis, target="bad", k=2, l=1))
    assert levels(k_only) == {"age": 0}
    diverse = anonymize(frame, spec(quasi_identifiers=qis, target="bad", k=2, l=2))
    assert levels(diverse) == {"age": 1}
    assert diverse.report.l == 2


def test_entropy_l_diversity() -> None:
    # Band [30, 40) holds 1 bad in 4 (exp(entropy) = 1.75 < 2); the whole table 3 in 8 (1.94).
    frame = pl.DataFrame({"age": [30, 31, 32, 33, 40, 41, 42, 43],
                          "bad": [1, 0, 0, 0, 1, 1, 0, 0]})
    qis = {"age": {"type": "bands", "widths": [10]}}
    distinct = anonymize(frame, spec(quasi_identifiers=qis, target="bad", k=2, l=2))
    assert levels(distinct) == {"age": 1}
    with pytest.raises(LDiversityNotMetError):
        anonymize(frame, spec(quasi_identifiers=qis, target="bad", k=2, l=2, diversity="entropy"))
    # Suppressing the less diverse band (half the rows) meets entropy ℓ = 2 at level 1.
    loose = anonymize(frame, spec(quasi_identifiers=qis, target="bad", k=2, l=2,
                                  diversity="entropy", max_suppression=0.5))
    assert levels(loose) == {"age": 1}
    assert loose.report.rows_out == 4
    assert loose.report.l == pytest.approx(2.0)


def test_refuses_k_when_the_table_is_smaller_than_k() -> None:
    frame = pl.DataFrame({"age": [30, 40, 50], "bad": [0, 1, 0]})
    with pytest.raises(KAnonymityNotMetError) as info:
        anonymize(frame, spec(quasi_identifiers={"age": AGE_10}, target="bad", k=5))
    exc = info.value
    assert exc.code == "ANON_K_NOT_MET"
    assert isinstance(exc, AnonymityNotMetError | AnonymizationError | FengkongError)
    assert exc.achievable.k == 3
    assert exc.achievable.suppressed_for_k == 3
    assert "k = 5" in str(exc)


def test_refuses_l_when_the_target_has_one_value() -> None:
    frame = pl.DataFrame({"age": [30, 31, 32, 33, 34, 35], "bad": [0] * 6})
    with pytest.raises(LDiversityNotMetError) as info:
        anonymize(frame, spec(quasi_identifiers={"age": AGE_10}, target="bad", k=2, l=2))
    assert info.value.code == "ANON_L_NOT_MET"
    assert info.value.achievable.l == 1
    assert "`bad`" in str(info.value)


def test_the_whole_table_may_be_suppressed_when_the_cap_allows() -> None:
    frame = pl.DataFrame({"age": [30, 40], "bad": [0, 1]})
    result = anonymize(frame, spec(quasi_identifiers={"age": AGE_10}, target="bad", k=5,
                                   max_suppression=1.0))
    assert result.frame.height == 0
    assert result.report.k is None


def test_empty_table() -> None:
    frame = pl.DataFrame({"age": pl.Series([], dtype=pl.Int64), "bad": pl.Series([], dtype=pl.Int64)})
    result = anonymize(frame, spec(quasi_identifiers={"age": AGE_10}, target="bad"))
    assert result.frame.height == 0
    assert result.report.rows_in == 0


def test_only_declared_columns_are_exported_in_input_order() -> None:
    frame = pl.DataFrame({
        "id_number": ["110105199001011234", "110105199001011235"],
        "score": [600, 700],
        "age": [30, 31],
        "name": ["王伟", "李娜"],
        "bad": [0, 1],
    })
    s = spec(quasi_identifiers={"age": AGE_10}, target="bad", k=2, l=2,
             identifiers=["id_number", "name"], keep=["score"])
    result = anonymize(frame, s)
    assert result.frame.columns == ["score", "age", "bad"]
    assert result.report.dropped_columns == ("id_number", "name")
    assert result.report.exported_columns == ("score", "age", "bad")


def test_nulls_form_their_own_class_below_the_top() -> None:
    frame = pl.DataFrame({"age": [30, 31, None, None], "bad": [0, 1, 0, 1]})
    result = anonymize(frame, spec(quasi_identifiers={"age": AGE_10}, target="bad", k=2))
    assert result.frame["age"].to_list() == ["[30, 40)", "[30, 40)", None, None]


def test_dates_generalise_to_calendar_periods() -> None:
    days = [dt.date(2025, 1, 5), dt.date(2025, 2, 7), dt.date(2025, 4, 1), dt.date(2025, 5, 9)]
    frame = pl.DataFrame({"applied": days, "bad": [0, 1, 1, 0]})
    qis = {"applied": {"type": "date", "levels": ["month", "quarter", "year"]}}
    result = anonymize(frame, spec(quasi_identifiers=qis, target="bad", k=2))
    assert levels(result) == {"applied": 2}
    assert result.frame["applied"].to_list() == ["2025-Q1", "2025-Q1", "2025-Q2", "2025-Q2"]


def test_numbers_and_dates_given_as_text_are_parsed() -> None:
    frame = pl.DataFrame({"age": ["30", " 31", "40", "41"], "day": ["2025-01-01"] * 4,
                          "bad": ["0", "1", "0", "1"]})
    qis = {"age": AGE_10, "day": {"type": "date"}}
    result = anonymize(frame, spec(quasi_identifiers=qis, target="bad", k=2))
    assert levels(result) == {"age": 1, "day": 0}
    assert result.frame["day"].to_list() == [dt.date(2025, 1, 1)] * 4


def test_a_declared_top_level_is_the_top() -> None:
    hierarchy = {"type": "categorical", "levels": [{"a": "ab", "b": "ab", "c": "c"},
                                                    {"ab": "any", "c": "any"}]}
    frame = pl.DataFrame({"x": ["a", "b", "c", "c"]})
    result = anonymize(frame, spec(quasi_identifiers={"x": hierarchy}, k=4))
    assert result.report.quasi_identifiers[0].levels == 3
    assert result.frame["x"].to_list() == ["any"] * 4


@pytest.mark.parametrize(
    ("frame", "qis", "message"),
    [
        (pl.DataFrame({"bad": [0]}), {"age": AGE_10}, "no column `age` (in quasi_identifiers)"),
        (pl.DataFrame({"age": ["x", "30"], "bad": [0, 1]}), {"age": AGE_10},
         "1 value(s) that are not numbers (first in data row 1)"),
        (pl.DataFrame({"age": [True], "bad": [0]}), {"age": AGE_10}, "`bands` needs numbers"),
        (pl.DataFrame({"age": [1], "bad": [0]}), {"age": {"type": "date"}}, "`date` needs dates"),
        (pl.DataFrame({"r": ["GD", "XX", "XX"], "bad": [0, 1, 0]}), {"r": REGION},
         "1 distinct value(s), in 2 row(s), that its hierarchy does not map"),
    ],
)
def test_data_errors_name_the_column_not_the_values(
    frame: pl.DataFrame, qis: dict[str, Any], message: str
) -> None:
    with pytest.raises(AnonymizationDataError) as info:
        anonymize(frame, spec(quasi_identifiers=qis, target="bad", k=1, l=1))
    assert info.value.code == "ANON_DATA_INVALID"
    assert isinstance(info.value, DataError)
    assert message in str(info.value)
    assert "XX" not in str(info.value)


def test_progress_is_reported_to_the_end() -> None:
    frame = pl.DataFrame({"age": [20, 21, 26, 27, 31, 33], "bad": [0, 1, 0, 1, 1, 0]})
    calls: list[tuple[int, int]] = []
    anonymize(frame, spec(quasi_identifiers={"age": AGE_5_10}, target="bad", k=2),
              on_progress=lambda done, total: calls.append((done, total)))
    assert calls[-1] == (4, 4)


def test_report_renders_as_dict_json_text_and_html() -> None:
    frame = pl.DataFrame({"age": [20, 21, 26, 27, 31, 33], "bad": [0, 1, 0, 1, 1, 0]})
    report = anonymize(frame, spec(quasi_identifiers={"age": AGE_5_10}, target="bad",
                                   k=2)).report
    data = report.to_dict()
    assert data["k"] == 2 and data["l"] == 2
    assert data["quasi_identifiers"][0] == {"column": "age", "level": 1, "levels": 4,
                                            "name": "bands of 5", "loss": pytest.approx(
                                                report.information_loss)}
    assert data["class_sizes"] == [{"smallest": 2, "largest": 3, "classes": 3, "rows": 6}]
    assert '"information_loss"' in report.to_json()
    text = report.to_text()
    assert "bands of 5" in text and "information loss" in text
    assert "<table>" in report.to_html() and "bands of 5" in report.to_html()
