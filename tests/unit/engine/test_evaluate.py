"""Decisions on ``tests/data/mini.yaml`` for hand-computed records, online and in batch.

mini.yaml in short: segments ``app_salaried`` (channel app and salaried; pricing_prime),
``thin`` (no bureau score; thin_card, skips score_low, adds thin_young) and ``default``;
``main_card`` = 400 + score bin (<550: 10, [550, 700): 60, >=700: 120) + dti (special 0:
30, <0.3: 50, >=0.3: 10, missing 5) + occupation (salaried 40, self_employed/other 20,
student 0); the pricing tables; a collect ``bonus`` (app: 5, age >= 30: 2.5); the
``apr_test`` experiment (80/20 on ``applicant.id_number``, not in ``thin``); limit =
min(pricing.limit, income * 6), capped, rounded down to 100; term 12 if score > 600.
"""

from __future__ import annotations

import collections
import datetime as dt
from pathlib import Path
from typing import Any

import polars as pl
import pytest

from fengkong import compile_strategy, evaluate, evaluate_batch
from fengkong.compile import CompiledStrategy
from fengkong.core import FixedClock
from fengkong.engine import Decision
from fengkong.errors import DataError, EvaluationError, InputValidationError
from fengkong.testing import assert_rows_equal, batch_frame

MINI = Path(__file__).parents[2] / "data" / "mini.yaml"
NOW = dt.datetime(2026, 3, 1, 9, 30, tzinfo=dt.UTC)
CLOCK = FixedClock(NOW)
FAKE_ID = "110105199001011234"  # synthetic ID-card number
FAKE_PHONE = "13800138000"  # synthetic mobile number


@pytest.fixture(scope="module")
def mini() -> CompiledStrategy:
    return compile_strategy(MINI)


def record(**fields: Any) -> dict[str, Any]:
    """A valid default-segment record; keyword names use ``__`` for ``.``."""
    base: dict[str, Any] = {
        "applicant.age": 40, "applicant.income_monthly": 5000.0, "applicant.occupation": "other",
        "channel": "branch", "bureau.score": 720, "bureau.monthly_debt": 500.0,
    }
    base.update({k.replace("__", "."): v for k, v in fields.items()})
    return base


def decide(strategy: CompiledStrategy, rec: dict[str, Any]) -> Decision:
    """The online decision, after checking that batch decides the same row identically."""
    online = evaluate(strategy, rec, clock=CLOCK)
    (row,) = evaluate_batch(strategy, batch_frame(strategy, [rec]), clock=CLOCK).to_dicts()
    assert row.pop("error") is None
    assert_rows_equal(online.to_row(), row)
    return online


# -- segments, scores, pricing ------------------------------------------------------------

def test_prime_app_salaried(mini: CompiledStrategy) -> None:
    d = decide(mini, record(channel="app", applicant__occupation="salaried", applicant__age=35,
                            applicant__income_monthly=10000.0, bureau__monthly_debt=2000.0))
    assert d.segment == "app_salaried"
    assert d.experiments == {"apr_test": "champion"}  # a null key takes the first arm
    assert d.features["dti"] == 0.2
    assert d.points["main_card"] == {"score": 120.0, "dti": 50.0, "occ": 40.0}
    assert d.scores == {"score": 610.0}
    assert d.components == {"score": "main_card", "pricing": "pricing_prime", "bonus": "bonus_tbl"}
    assert d.tables["pricing"] == {"row": 0, "limit": 80000.0, "apr": 0.099}
    assert d.tables["bonus"]["points"] == 7.5
    assert (d.decision, d.limit, d.apr, d.term) == ("approve", 60000.0, 0.099, 12)
    assert d.reasons == []
    assert d.rule_hits == []


def test_segment_routing_takes_the_first_match(mini: CompiledStrategy) -> None:
    # app + salaried and no bureau score: both app_salaried and thin match; the first wins.
    d = decide(mini, record(channel="app", applicant__occupation="salaried", bureau__score=None))
    assert d.segment == "app_salaried"
    assert d.components["score"] == "main_card"
    assert d.features["thin_file"] is True
    d = decide(mini, record(channel="branch", bureau__score=None))
    assert d.segment == "thin"
    assert d.components["score"] == "thin_card"
    d = decide(mini, record(channel="app", applicant__occupation="student"))
    assert d.segment == "default"


def test_segment_rules_and_skipped_rules(mini: CompiledStrategy) -> None:
    # thin skips score_low (its score is below 470) and adds thin_young.
    d = decide(mini, record(bureau__score=None, applicant__age=20))
    assert d.segment == "thin"
    assert d.scores["score"] == 380.5 + 5 + 1.5
    assert d.rule_hits == ["thin_young"]
    assert d.decision == "refer"
    # the same age outside thin: thin_young does not run
    d = decide(mini, record(applicant__age=20))
    assert "thin_young" not in d.rule_hits


# -- experiments ------------------------------------------------------------------------------

def test_experiment_arm_is_deterministic(mini: CompiledStrategy) -> None:
    keys = [f"CUST-{i:05d}" for i in range(2000)]
    recs = [record(applicant__id_number=k) for k in keys]
    first = [evaluate(mini, r, clock=CLOCK).experiments["apr_test"] for r in recs]
    again = [evaluate(mini, r, clock=CLOCK).experiments["apr_test"] for r in reversed(recs)]
    assert first == again[::-1]
    batch = evaluate_batch(mini, batch_frame(mini, recs), clock=CLOCK)["experiment.apr_test"]
    assert batch.to_list() == first
    # a batch in another order gives every key the same arm
    shuffled = evaluate_batch(mini, batch_frame(mini, recs[1::2] + recs[::2]), clock=CLOCK)
    assert shuffled["experiment.apr_test"].to_list() == first[1::2] + first[::2]


def test_experiment_arm_shares_follow_weights(mini: CompiledStrategy) -> None:
    recs = [record(applicant__id_number=f"{i:08d}") for i in range(20_000)]
    arms = evaluate_batch(mini, batch_frame(mini, recs), clock=CLOCK)["experiment.apr_test"]
    share = (arms == "low_apr").mean()
    assert 0.18 <= share <= 0.22, share
    assert arms.null_count() == 0
    online = [evaluate(mini, r, clock=CLOCK).experiments["apr_test"] for r in recs]
    assert online == arms.to_list()


def test_experiment_arm_rebinds_the_slot(mini: CompiledStrategy) -> None:
    decisions = [decide(mini, record(applicant__id_number=f"CUST-{i:05d}")) for i in range(40)]
    arms = {d.experiments["apr_test"] for d in decisions}
    assert arms == {"champion", "low_apr"}
    for d in decisions:
        want = "pricing_low" if d.experiments["apr_test"] == "low_apr" else "pricing_std"
        assert d.components["pricing"] == want


def test_records_outside_when_have_no_arm(mini: CompiledStrategy) -> None:
    for i in range(50):
        d = decide(mini, record(bureau__score=None, applicant__id_number=f"CUST-{i}"))
        assert d.segment == "thin"
        assert d.experiments == {"apr_test": None}
        assert d.components["pricing"] == "pricing_std"


# -- limits, caps, declines ---------------------------------------------------------------

def test_cap_lowers_the_limit(mini: CompiledStrategy) -> None:
    # score 720 -> 120, dti 0.4 -> 10, student -> 0: 530; pricing_std row 1: 10000
    d = decide(mini, record(applicant__occupation="student", applicant__income_monthly=1000.0,
                            bureau__monthly_debt=400.0))
    assert d.scores["score"] == 530.0
    assert d.tables["pricing"]["limit"] == 10000.0
    assert d.rule_hits == ["student_cap"]
    assert (d.decision, d.limit, d.apr, d.term) == ("approve", 2000.0, 0.18, 6)


def test_cap_never_raises_the_limit(mini: CompiledStrategy) -> None:
    # income 300: min(10000, 1800) = 1800, below the 2000 cap
    d = decide(mini, record(applicant__occupation="student", applicant__income_monthly=300.0,
                            bureau__monthly_debt=120.0))
    assert d.rule_hits == ["student_cap"]
    assert d.limit == 1800.0
    assert "STUDENT_CAP" in d.reasons


def test_limit_is_rounded_down_to_the_step(mini: CompiledStrategy) -> None:
    # dti 0 (special: 30), other (20), score 720 (120): 570 -> pricing_std row 1: 10000
    d = decide(mini, record(applicant__income_monthly=1234.5, bureau__monthly_debt=0.0))
    assert d.scores["score"] == 570.0
    assert d.limit == 7400.0  # min(10000, 7407) rounded down to 100
    d = decide(mini, record(applicant__income_monthly=1666.65, bureau__monthly_debt=0.0))
    assert d.limit == 9900.0  # 9999.9 -> 9900, never up to 10000


def test_decline_nulls_limit_apr_and_term(mini: CompiledStrategy) -> None:
    d = decide(mini, record(bureau__bankrupt=True))
    assert d.decision == "decline"
    assert d.tables["pricing"] == {"row": 1, "limit": 10000.0, "apr": 0.18}  # still shown
    assert (d.limit, d.apr, d.term) == (None, None, None)
    assert d.reasons == ["BANKRUPTCY", "OCCUPATION"]


def test_zero_limit_declines_with_the_default_reason(mini: CompiledStrategy) -> None:
    # score 540 -> 10, dti 0.1 -> 50, other -> 20: 480 (not below 470), pricing row 2: limit 0
    d = decide(mini, record(bureau__score=540))
    assert d.scores["score"] == 480.0
    assert d.rule_hits == []
    assert d.decision == "decline"
    assert (d.limit, d.apr, d.term) == (None, None, None)
    # POLICY_DECLINE is a generic summary code: ranked after the factors that explain it
    assert d.reasons == ["LOW_BUREAU_SCORE", "OCCUPATION", "POLICY_DECLINE"]


# -- reasons ------------------------------------------------------------------------------

def test_reasons_rank_declines_then_refers_then_caps_and_stop_at_four(mini: CompiledStrategy) -> None:
    # dti 0.7 and score 400 + 10 + 10 + 0 = 420: two declines; age 20 in app: refer; student: cap
    d = decide(mini, record(applicant__age=20, channel="app", applicant__occupation="student",
                            applicant__income_monthly=1000.0, bureau__monthly_debt=700.0,
                            bureau__score=500))
    assert d.rule_hits == ["dti_max", "score_low", "student_cap", "young_refer"]
    # SCORE_TOO_LOW is generic: the score's own factors rank before it (and fill the list)
    assert d.reasons == ["DTI_TOO_HIGH", "YOUNG", "STUDENT_CAP", "LOW_BUREAU_SCORE"]
    assert d.decision == "decline"


def test_reasons_flag_then_scorecard_by_points_lost(mini: CompiledStrategy) -> None:
    # partner, weird = 3 * 10 - 10 = 20 > 10: flag; score 560 loses 60, self_employed loses 20
    d = decide(mini, record(channel="partner", applicant__occupation="self_employed",
                            bureau__score=560, x__free=10.0))
    assert d.features["weird"] == 20.0
    assert d.rule_hits == ["partner_flag"]
    assert d.reasons == ["PARTNER_REVIEW", "LOW_BUREAU_SCORE", "OCCUPATION"]
    assert d.decision == "approve"


def test_reasons_ties_keep_characteristic_order(mini: CompiledStrategy) -> None:
    # dti 0.4 loses 40 (HIGH_DTI) and student loses 40 (OCCUPATION): a tie, dti comes first
    d = decide(mini, record(applicant__occupation="student", applicant__income_monthly=1000.0,
                            bureau__monthly_debt=400.0))
    assert d.reasons == ["STUDENT_CAP", "HIGH_DTI", "OCCUPATION"]


def test_reasons_are_deduplicated(mini: CompiledStrategy) -> None:
    # thin, age 20 in app: young_refer (YOUNG) and thin_young (THIN_YOUNG) fire; thin_card's
    # age characteristic also gives YOUNG (loses 40), then NOTE (loses 7.75)
    d = decide(mini, record(channel="app", applicant__age=20, bureau__score=None,
                            bureau__monthly_debt=None))
    assert d.segment == "thin"
    assert d.rule_hits == ["young_refer", "thin_young"]
    assert d.reasons == ["YOUNG", "THIN_YOUNG", "NOTE"]
    assert (d.decision, d.limit, d.apr, d.term) == ("refer", 0.0, None, 6)


def test_rule_hits_follow_strategy_order(mini: CompiledStrategy) -> None:
    d = decide(mini, record(applicant__age=17, bureau__bankrupt=True, applicant__occupation="student",
                            bureau__monthly_debt=4000.0))
    assert d.rule_hits == ["age_min", "bankrupt", "dti_max", "student_cap"]
    assert d.reasons[:3] == ["AGE_BELOW_MIN", "BANKRUPTCY", "DTI_TOO_HIGH"]
    assert len(d.reasons) == 4


def test_decision_metadata(mini: CompiledStrategy) -> None:
    d = decide(mini, record())
    assert d.evaluated_at == NOW
    assert d.strategy == {"id": "mini_loan", "version": "3", "digest": mini.digest}
    assert d.to_dict()["evaluated_at"] == NOW.isoformat()


# -- record shapes ------------------------------------------------------------------------

def nested(flat: dict[str, Any]) -> dict[str, Any]:
    out: dict[str, Any] = {}
    for key, value in flat.items():
        *groups, leaf = key.split(".")
        node = out
        for g in groups:
            node = node.setdefault(g, {})
        node[leaf] = value
    return out


@pytest.mark.parametrize("rec", [
    record(),
    record(channel="app", applicant__occupation="salaried", applicant__id_number="CUST-1"),
    record(bureau__score=None, applicant__age=20, channel="app"),
    record(applicant__age=17, bureau__bankrupt=True),
])
def test_nested_and_flat_records_decide_the_same(mini: CompiledStrategy, rec: dict[str, Any]) -> None:
    flat = evaluate(mini, rec, clock=CLOCK).to_row()
    assert evaluate(mini, nested(rec), clock=CLOCK).to_row() == flat


def test_nested_record_with_any_mapping(mini: CompiledStrategy) -> None:
    rec = nested(record(applicant__id_number="CUST-7"))
    flat = evaluate(mini, rec, clock=CLOCK).to_row()
    ordered = {k: collections.OrderedDict(v) if isinstance(v, dict) else v for k, v in rec.items()}
    assert evaluate(mini, ordered, clock=CLOCK).to_row() == flat


def test_a_record_must_be_a_mapping(mini: CompiledStrategy) -> None:
    with pytest.raises(EvaluationError, match="must be a mapping"):
        evaluate(mini, [("applicant.age", 30)], clock=CLOCK)  # type: ignore[arg-type]


DATED = """\
strategy: dated
version: 1
stage: origination
inputs:
  birth_date: {type: date}
  applied_at: {type: date}
  last_default: {type: date, required: false}
features:
  age_days: "days_between(birth_date, applied_at)"
  since_default: "days_between(last_default, applied_at)"
rules:
  - {id: minor, when: "age_days < 6575", action: decline, reason: MINOR}
  - {id: recent_default, when: "since_default < 365", action: refer, reason: RECENT_DEFAULT}
"""


@pytest.fixture(scope="module")
def dated(tmp_path_factory: pytest.TempPathFactory) -> CompiledStrategy:
    path = tmp_path_factory.mktemp("dated") / "dated.yaml"
    path.write_text(DATED, encoding="utf-8")
    return compile_strategy(path)


def test_dates_from_iso_text_and_date_objects(dated: CompiledStrategy) -> None:
    as_text = {"birth_date": "2008-03-02", "applied_at": "2026-03-01", "last_default": "2025-06-01"}
    as_date = {k: dt.date.fromisoformat(v) for k, v in as_text.items()}
    a = evaluate(dated, as_text, clock=CLOCK)
    b = evaluate(dated, as_date, clock=CLOCK)
    assert a.to_row() == b.to_row()
    assert a.features == {"age_days": 6573, "since_default": 273}
    assert a.rule_hits == ["minor", "recent_default"]
    # batch: a text column and a date column give the same decisions as online
    text_frame = pl.DataFrame([as_text])
    date_frame = pl.DataFrame([as_date])
    assert date_frame.schema["birth_date"] == pl.Date
    for frame in (text_frame, date_frame):
        (row,) = evaluate_batch(dated, frame, clock=CLOCK).to_dicts()
        assert row.pop("error") is None
        assert_rows_equal(a.to_row(), row)


@pytest.mark.parametrize("bad", ["2026-02-30", "01/03/2026", "2026-3-1", "20260301", ""])
def test_invalid_date_text(dated: CompiledStrategy, bad: str) -> None:
    rec = {"birth_date": "1990-01-01", "applied_at": bad}
    with pytest.raises(InputValidationError) as info:
        evaluate(dated, rec, clock=CLOCK)
    assert [(p.field, p.code) for p in info.value.problems] == [("applied_at", "input-date")]
    (row,) = evaluate_batch(dated, pl.DataFrame([rec]), clock=CLOCK).to_dicts()
    assert row["error"] == str(info.value)
    assert row["decision"] is None


def test_invalid_text_in_an_optional_date_is_rejected_in_both_backends(dated: CompiledStrategy) -> None:
    rec = {"birth_date": "1990-01-01", "applied_at": "2026-01-01", "last_default": "2025-13-01"}
    with pytest.raises(InputValidationError) as info:
        evaluate(dated, rec, clock=CLOCK)
    assert [(p.field, p.code) for p in info.value.problems] == [("last_default", "input-date")]
    (row,) = evaluate_batch(dated, pl.DataFrame([rec]), clock=CLOCK).to_dicts()
    assert row["error"] == str(info.value)
    assert row["decision"] is None


# -- input validation never echoes the value ------------------------------------------------

def test_online_problems_name_fields_but_never_values(mini: CompiledStrategy) -> None:
    rec = record(applicant__age=FAKE_ID, applicant__income_monthly=FAKE_PHONE, channel=FAKE_PHONE,
                 device__note=f"call me on {FAKE_PHONE}, my ID is {FAKE_ID}!",
                 bureau__score=int(FAKE_ID), applicant__id_number=int(FAKE_ID),
                 applicant__birth_date=FAKE_ID)
    del rec["applicant.occupation"]
    with pytest.raises(InputValidationError) as info:
        evaluate(mini, rec, clock=CLOCK)
    exc = info.value
    problems = {(p.field, p.code) for p in exc.problems}
    assert problems == {
        ("applicant.age", "input-type"), ("applicant.income_monthly", "input-type"),
        ("channel", "input-enum"), ("device.note", "input-length"),
        ("bureau.score", "input-range"), ("applicant.id_number", "input-type"),
        ("applicant.birth_date", "input-date"), ("applicant.occupation", "input-missing"),
    }
    text = " ".join([str(exc), repr(exc), *map(str, exc.args), *(repr(p) for p in exc.problems)])
    for secret in (FAKE_ID, FAKE_PHONE, FAKE_ID[:12], FAKE_PHONE[3:]):
        assert secret not in text
    for p in exc.problems:
        assert f"`{p.field}`" in p.message
    assert exc.code == "input-invalid"


def test_batch_error_column_never_echoes_values(mini: CompiledStrategy) -> None:
    good = record()
    bad = record(channel=FAKE_PHONE, device__note=f"{FAKE_ID} {FAKE_PHONE} " * 3,
                 bureau__score=int(FAKE_ID), applicant__income_monthly=None)
    frame = batch_frame(mini, [good, bad])
    out = evaluate_batch(mini, frame, clock=CLOCK)
    errors = out["error"].to_list()
    assert errors[0] is None
    assert errors[1] is not None
    for secret in (FAKE_ID, FAKE_PHONE):
        assert secret not in errors[1]
    for field in ("channel", "device.note", "bureau.score", "applicant.income_monthly"):
        assert f"`{field}`" in errors[1]
    assert out["decision"].to_list()[1] is None
    with pytest.raises(InputValidationError) as info:
        evaluate(mini, bad, clock=CLOCK)
    assert errors[1] == str(info.value)


def test_batch_column_type_error_never_echoes_values(mini: CompiledStrategy) -> None:
    frame = batch_frame(mini, [record()]).with_columns(pl.lit(FAKE_ID).alias("applicant.age"))
    with pytest.raises(DataError) as info:
        evaluate_batch(mini, frame, clock=CLOCK)
    assert "`applicant.age`" in str(info.value)
    assert FAKE_ID not in str(info.value)
    with pytest.raises(DataError, match=r"applicant\.occupation"):
        evaluate_batch(mini, batch_frame(mini, [record()]).drop("applicant.occupation"), clock=CLOCK)


def test_valid_pii_values_do_not_leak_into_errors_of_other_fields(mini: CompiledStrategy) -> None:
    rec = record(applicant__id_number=FAKE_ID, applicant__age=200)
    with pytest.raises(InputValidationError) as info:
        evaluate(mini, rec, clock=CLOCK)
    assert [(p.field, p.code) for p in info.value.problems] == [("applicant.age", "input-range")]
    assert FAKE_ID not in str(info.value)
    assert "200" not in str(info.value)


# -- slots named like their component --------------------------------------------------------

SAME_NAME = """\
strategy: same_name
version: 1
stage: origination
inputs:
  score: {type: int, min: 300, max: 900}
tables:
  pricing:
    hit_policy: first
    inputs: [score]
    outputs: [limit]
    rows:
      - [">= 600", 30000]
      - ["-", 0]
use: {pricing: pricing}
rules:
  - {id: no_limit, when: "pricing.limit < 1", action: decline, reason: NO_LIMIT}
outcome:
  limit: pricing.limit
"""


def test_a_slot_named_like_its_table_still_decides(tmp_path: Path) -> None:
    path = tmp_path / "same.yaml"
    path.write_text(SAME_NAME, encoding="utf-8")
    strategy = compile_strategy(path)
    low = evaluate(strategy, {"score": 400}, clock=CLOCK)
    assert low.decision == "decline"
    assert low.rule_hits == ["no_limit"]
    high = evaluate(strategy, {"score": 700}, clock=CLOCK)
    assert (high.decision, high.limit) == ("approve", 30000.0)
