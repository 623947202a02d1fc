"""Pseudonymising whole tables: the same tokens, checks and decisions as the service's path."""

from __future__ import annotations

import datetime as dt
from typing import Any

import polars as pl
import pytest

from fengkong import compile_strategy, evaluate
from fengkong.compile.ir import FieldIR
from fengkong.core import FixedClock
from fengkong.demo import example_pack_dir, generate_applications
from fengkong.errors import DataError, InputValidationError
from fengkong.privacy import (
    PseudonymKeys,
    evaluate_batch_pseudonymised,
    is_pseudonym,
    pseudonymise_frame,
    pseudonymise_record,
)

KEYS = PseudonymKeys.generate().rotated()
CLOCK = FixedClock(dt.datetime(2026, 11, 29, 10, 0, tzinfo=dt.UTC))
PHONE = FieldIR("applicant.phone", "str", False, None, None, None, 20, "phone")
ID_NUMBER = FieldIR("applicant.id_number", "str", True, None, None, None, 18, "id_card")
CARD = FieldIR("bank.card_no", "int", False, 0, 10**19, None, None, "bank_card")
BIRTH = FieldIR("applicant.birth_date", "date", False, None, None, None, None, "other")
TIER = FieldIR("applicant.tier", "enum", False, None, None, ("a", "b"), None, "other")
FIELDS = [ID_NUMBER, PHONE, CARD, BIRTH, TIER]
IDS = ["11010519491231002X", "11010519491231002x", "110105194912310021", None,
       "11010519491231002X", "pn1.0123abcd." + "A" * 27]
PHONES = ["+86 138-0013-8000", "13800138000", "12345", "13912345678", None, "13912345678"]
CARDS = [4111111111111111, None, 4111111111111112, 6222020012345671, 6222020012345671, None]
BIRTHS = ["1990-03-07", "1990-02-30", None, "1990-03-07", None, "1990-03-07"]
TIERS = ["a", "b", "c", None, "a", "b"]


def _frame() -> pl.DataFrame:
    return pl.DataFrame({"applicant.id_number": IDS, "applicant.phone": PHONES,
                         "bank.card_no": CARDS, "applicant.birth_date": BIRTHS,
                         "applicant.tier": TIERS, "app": list(range(len(IDS)))},
                        schema_overrides={"bank.card_no": pl.Int64})


def _row_record(row: dict[str, Any]) -> dict[str, Any]:
    return {k: v for k, v in row.items() if v is not None}


def test_every_cell_gets_the_token_and_the_problem_the_service_path_gives() -> None:
    frame = _frame()
    done = pseudonymise_frame(frame, FIELDS, KEYS, scope="bank_a")
    assert done.frame.columns == frame.columns and done.frame["app"].equals(frame["app"])
    for i, row in enumerate(frame.iter_rows(named=True)):
        online, problems = pseudonymise_record(_row_record(row), FIELDS, KEYS, scope="bank_a")
        for f in FIELDS:
            assert done.frame[f.name][i] == online.get(f.name), (i, f.name)
        # Missing required values are the engine's to report (the batch path leaves them to it).
        expected = [p.message for p in problems if p.code != "input-missing"]
        assert done.errors[i] == (" ".join(expected) or None), i
        for f in FIELDS:
            bad = f.name in done.bad and done.bad[f.name][i]
            assert bad == any(p.field == f.name and p.code != "input-missing" for p in problems)
    assert done.frame["applicant.id_number"][0] == KEYS.pseudonym(
        "id_card", "11010519491231002X", scope="bank_a")
    assert done.frame["applicant.id_number"][5] == IDS[5]  # a pseudonym already: kept
    assert done.frame["applicant.phone"][2] is None  # not a mobile number: no token
    assert [done.errors[i] is None for i in range(6)] == [True, False, False, True, True, True]


def test_categorical_and_date_columns_agree_with_text() -> None:
    frame = _frame().with_columns(pl.col("applicant.tier").cast(pl.Categorical),
                                  pl.col("applicant.birth_date").str.to_date(strict=False))
    done = pseudonymise_frame(frame, FIELDS, KEYS, scope="s")
    text = pseudonymise_frame(_frame(), FIELDS, KEYS, scope="s")
    assert done.frame["applicant.tier"].to_list() == text.frame["applicant.tier"].to_list()
    assert done.frame["applicant.birth_date"][0] == text.frame["applicant.birth_date"][0] == \
        KEYS.pseudonym("other", "1990-03-07", scope="s")


@pytest.mark.parametrize(("column", "values"), [
    ("applicant.phone", [13800138000] * 6),
    ("bank.card_no", ["4111111111111111"] * 6),
    ("applicant.birth_date", [1.5] * 6),
])
def test_a_column_of_the_wrong_type_is_a_data_error_naming_the_column(column: str,
                                                                      values: list[Any]) -> None:
    frame = _frame().with_columns(pl.Series(column, values))
    with pytest.raises(DataError, match=f"`{column}`") as info:
        pseudonymise_frame(frame, FIELDS, KEYS)
    assert str(values[0]) not in str(info.value)


def test_absent_and_all_null_columns() -> None:
    frame = pl.DataFrame({"applicant.phone": pl.Series([None, None], dtype=pl.Null)})
    done = pseudonymise_frame(frame, FIELDS, KEYS)
    assert done.frame.schema["applicant.phone"] == pl.String
    assert done.errors.to_list() == [None, None] and done.bad == {}


# -- deciding --------------------------------------------------------------------------------

@pytest.fixture(scope="module")
def service_strategy() -> Any:
    return compile_strategy(example_pack_dir() / "strategy.yaml", pii_tokens=True)


@pytest.fixture(scope="module")
def book() -> pl.DataFrame:
    return generate_applications(400, seed=7)


def test_decisions_equal_the_service_paths_row_by_row(service_strategy: Any,
                                                      book: pl.DataFrame) -> None:
    pii = [f.name for f in service_strategy.plan.pii_fields]
    bad_rows = {3: ("applicant.id_number", "110105194912310021"),  # wrong check character
                5: ("applicant.phone", "12345"),
                8: ("applicant.id_number", None)}  # required: missing
    for row, (name, value) in bad_rows.items():
        book = book.with_columns(book[name].scatter(row, value))
    out = evaluate_batch_pseudonymised(service_strategy, book, KEYS, scope="bank_a", clock=CLOCK,
                                       keep=["application_id", *pii])
    assert out.columns == ["application_id", *pii, *service_strategy.columns, "error"]
    for i, row in enumerate(book.iter_rows(named=True)):
        record = _row_record({k: v for k, v in row.items() if k in {
            f.name for f in service_strategy.plan.fields}})
        inputs, problems = pseudonymise_record(record, service_strategy.plan.pii_fields, KEYS,
                                               scope="bank_a")
        for name in pii:
            assert out[name][i] == inputs.get(name)
        try:
            online = evaluate(service_strategy, inputs, clock=CLOCK)
        except InputValidationError as e:
            problems.extend(e.problems)
            online = None
        if problems:
            assert out["decision"][i] is None and out["error"][i], i
            assert out["strategy_id"][i] == service_strategy.strategy_id
            first = {p.field: p.message for p in reversed(problems)}  # the service keeps the first
            for field, message in first.items():
                assert message in out["error"][i]
                assert out["error"][i].count(f"`{field}`") == 1  # reported once
            continue
        assert online is not None and out["error"][i] is None
        assert (out["decision"][i], out["segment"][i], out["experiment.apr_test"][i]) == (
            online.decision, online.segment, online.to_dict()["experiments"].get("apr_test")), i
    assert set(bad_rows) <= {i for i, e in enumerate(out["error"]) if e is not None}


def test_no_identifier_in_clear_anywhere_in_the_output(service_strategy: Any,
                                                       book: pl.DataFrame) -> None:
    pii = [f.name for f in service_strategy.plan.pii_fields]
    out = evaluate_batch_pseudonymised(service_strategy, book, KEYS, scope="bank_a", clock=CLOCK,
                                       keep=pii)
    text = str(out.rows())
    for name in pii:
        for value in book[name].drop_nulls().unique().to_list():
            assert value not in text
        assert all(is_pseudonym(t) for t in out[name].drop_nulls())


def test_the_strategy_must_be_compiled_for_tokens(book: pl.DataFrame) -> None:
    raw = compile_strategy(example_pack_dir() / "strategy.yaml")
    with pytest.raises(ValueError, match="pii_tokens=True"):
        evaluate_batch_pseudonymised(raw, book, KEYS)
