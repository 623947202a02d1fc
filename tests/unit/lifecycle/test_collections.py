"""Collections reports against a hand-computed fixture portfolio, and the daily work list."""

from __future__ import annotations

import datetime as dt
import math
from pathlib import Path

import polars as pl
import pytest

from fengkong import CompiledStrategy, compile_strategy
from fengkong.lifecycle._collections import (
    DEFAULT_TREATMENTS,
    flow_rates,
    plan_worklist,
    roll_rate_matrix,
    transitions,
    vintage_curves,
)
from fengkong.lifecycle._contact import ContactPolicy
from fengkong.lifecycle._ptp import evaluate_promises

ROOT = Path(__file__).resolve().parents[3]
EXAMPLE = ROOT / "examples" / "collections" / "strategy.yaml"
JAN, FEB, MAR = dt.date(2025, 1, 1), dt.date(2025, 2, 1), dt.date(2025, 3, 1)
DEC = dt.date(2024, 12, 1)


def fixture_history() -> pl.DataFrame:
    """Five accounts over three months (the reference numbers below are worked by hand).

    A: current 1000 -> 1-30 1100 -> current 900            cohort Dec
    B: 1-30 2000   -> 31-60 2100 -> 61-90 2200             cohort Dec
    C: current 500 -> current 600 -> current 700           cohort Jan
    D: current 300 -> 1-30 320   -> 31-60 350              cohort Jan
    E: 90+ 5000    -> write-off 5000 -> write-off 5000     cohort Dec
    """
    rows = [
        ("A", JAN, 1, DEC, 1000.0, 0, False), ("A", FEB, 2, DEC, 1100.0, 10, False),
        ("A", MAR, 3, DEC, 900.0, 0, False),
        ("B", JAN, 1, DEC, 2000.0, 15, False), ("B", FEB, 2, DEC, 2100.0, 45, False),
        ("B", MAR, 3, DEC, 2200.0, 75, False),
        ("C", JAN, 0, JAN, 500.0, 0, False), ("C", FEB, 1, JAN, 600.0, 0, False),
        ("C", MAR, 2, JAN, 700.0, 0, False),
        ("D", JAN, 0, JAN, 300.0, 0, False), ("D", FEB, 1, JAN, 320.0, 20, False),
        ("D", MAR, 2, JAN, 350.0, 50, False),
        ("E", JAN, 1, DEC, 5000.0, 100, False), ("E", FEB, 2, DEC, 5000.0, 130, True),
        ("E", MAR, 3, DEC, 5000.0, 160, True),
    ]
    return pl.DataFrame(rows, schema={"account_id": pl.String, "month": pl.Date,
                                      "months_on_book": pl.Int16, "cohort": pl.Date,
                                      "balance": pl.Float64, "dpd": pl.Int16,
                                      "written_off": pl.Boolean}, orient="row")


def _row(matrix: pl.DataFrame, bucket: str) -> dict[str, float]:
    rows = matrix.filter(pl.col("from_bucket").cast(pl.String) == bucket).to_dicts()
    assert len(rows) == 1, bucket
    return rows[0]


def test_transitions_pair_consecutive_months() -> None:
    t = transitions(fixture_history())
    assert len(t) == 10  # 5 accounts x 2 month pairs
    moves = {(r["account_id"], r["month"]): (str(r["from_bucket"]), str(r["to_bucket"]))
             for r in t.to_dicts()}
    assert moves[("E", JAN)] == ("90+", "write-off")
    assert moves[("A", FEB)] == ("1-30", "current")


def test_roll_rate_by_count_equals_hand_computed() -> None:
    m = roll_rate_matrix(fixture_history(), weight="count")
    cur = _row(m, "current")        # A, C, D in Jan; C in Feb: A, D roll
    assert cur["base"] == 4
    assert cur["current"] == pytest.approx(50.0)
    assert cur["1-30"] == pytest.approx(50.0)
    early = _row(m, "1-30")         # B (Jan) -> 31-60, A (Feb) -> current, D (Feb) -> 31-60
    assert early["current"] == pytest.approx(100 / 3)
    assert early["31-60"] == pytest.approx(200 / 3)
    assert _row(m, "31-60")["61-90"] == pytest.approx(100.0)
    assert _row(m, "90+")["write-off"] == pytest.approx(100.0)
    assert _row(m, "write-off")["write-off"] == pytest.approx(100.0)
    assert m.filter(pl.col("from_bucket").cast(pl.String) == "61-90").is_empty()
    buckets = ["current", "1-30", "31-60", "61-90", "90+", "write-off"]
    for total in m.select(pl.sum_horizontal(buckets)).to_series():
        assert total == pytest.approx(100.0)


def test_roll_rate_by_balance_equals_hand_computed() -> None:
    m = roll_rate_matrix(fixture_history(), weight="balance")
    cur = _row(m, "current")        # A 1000 + D 300 roll of 1000 + 500 + 300 + 600
    assert cur["base"] == pytest.approx(2400.0)
    assert cur["1-30"] == pytest.approx(100 * 1300 / 2400)
    assert cur["current"] == pytest.approx(100 * 1100 / 2400)
    early = _row(m, "1-30")         # B 2000 + D 320 roll, A 1100 cures, of 3420
    assert early["31-60"] == pytest.approx(100 * 2320 / 3420)
    assert early["current"] == pytest.approx(100 * 1100 / 3420)


def test_roll_rate_for_one_month() -> None:
    m = roll_rate_matrix(fixture_history(), month=FEB)
    assert _row(m, "current")["current"] == pytest.approx(100.0)   # only C, stays
    assert _row(m, "1-30")["31-60"] == pytest.approx(50.0)         # A cures, D rolls


def test_flow_rates_and_flow_to_loss_equal_hand_computed() -> None:
    f = flow_rates(fixture_history(), weight="count")
    jan = f.filter(pl.col("month") == JAN).to_dicts()[0]
    assert jan["current→1-30"] == pytest.approx(2 / 3)
    assert jan["1-30→31-60"] == pytest.approx(1.0)
    assert jan["31-60→61-90"] is None
    assert jan["90+→write-off"] == pytest.approx(1.0)
    feb = f.filter(pl.col("month") == FEB).to_dicts()[0]
    assert feb["current→1-30"] == pytest.approx(0.0)
    assert feb["1-30→31-60"] == pytest.approx(0.5)
    assert feb["31-60→61-90"] == pytest.approx(1.0)
    pooled = f.filter(pl.col("month").is_null()).to_dicts()[0]
    assert pooled["current→1-30"] == pytest.approx(0.5)
    assert pooled["1-30→31-60"] == pytest.approx(2 / 3)
    assert pooled["61-90→90+"] is None          # nobody was 61-90 with a next month
    assert pooled["flow_to_loss"] is None
    fb = flow_rates(fixture_history(), weight="balance").filter(pl.col("month").is_null())
    assert fb["current→1-30"][0] == pytest.approx(1300 / 2400)
    assert fb["1-30→31-60"][0] == pytest.approx(2320 / 3420)


def test_flow_to_loss_is_the_product_of_the_flow_rates() -> None:
    h = fixture_history()
    # Give the pooled chain a 61-90 -> 90+ step: B goes on to 90+ in April.
    h = pl.concat([h, pl.DataFrame(
        [("B", dt.date(2025, 4, 1), 4, DEC, 2300.0, 105, False)], schema=h.schema, orient="row")])
    pooled = flow_rates(h, weight="count").filter(pl.col("month").is_null()).to_dicts()[0]
    expected = 0.5 * (2 / 3) * 1.0 * 1.0 * 1.0
    assert pooled["flow_to_loss"] == pytest.approx(expected)


def test_vintage_curves_equal_hand_computed() -> None:
    v = vintage_curves(fixture_history(), dpd_over=30)
    got = {(r["cohort"], r["months_on_book"]): (r["accounts"], r["bad"], r["rate"])
           for r in v.to_dicts()}
    assert got[(DEC, 1)] == (3, 1, pytest.approx(100 / 3))    # E
    assert got[(DEC, 2)] == (3, 2, pytest.approx(200 / 3))    # B, E
    assert got[(DEC, 3)] == (3, 2, pytest.approx(200 / 3))
    assert got[(JAN, 0)] == (2, 0, 0.0)
    assert got[(JAN, 1)] == (2, 0, 0.0)                       # D at 20 days is not 30+
    assert got[(JAN, 2)] == (2, 1, pytest.approx(50.0))       # D at 50 days
    v90 = vintage_curves(fixture_history(), dpd_over=90)
    got90 = {(r["cohort"], r["months_on_book"]): r["bad"] for r in v90.to_dicts()}
    assert got90 == {(DEC, 1): 1, (DEC, 2): 1, (DEC, 3): 1, (JAN, 0): 0, (JAN, 1): 0,
                     (JAN, 2): 0}


def test_ever_vintage_stays_bad_after_a_cure() -> None:
    h = fixture_history().with_columns(
        dpd=pl.when((pl.col("account_id") == "A") & (pl.col("month") == FEB))
        .then(pl.lit(40, dtype=pl.Int16)).otherwise(pl.col("dpd")))
    ever = {r["months_on_book"]: r["bad"] for r in
            vintage_curves(h).filter(pl.col("cohort") == DEC).to_dicts()}
    now = {r["months_on_book"]: r["bad"] for r in
           vintage_curves(h, ever=False).filter(pl.col("cohort") == DEC).to_dicts()}
    assert ever[3] == 3   # A was 40 days in Feb, current in March: still counted
    assert now[3] == 2


# -- the work list -----------------------------------------------------------------------


@pytest.fixture(scope="module")
def strategy() -> CompiledStrategy:
    return compile_strategy(EXAMPLE)


def accounts(rows: list[dict[str, object]]) -> pl.DataFrame:
    base: dict[str, object] = {
        "segment": "partner", "utilisation": 0.3, "months_on_book": 30,
        "payments_on_time_12m": 12, "timezone": "Asia/Shanghai",
        "contact_opt_out_sms": False, "contact_opt_out_call": False,
        "contact_opt_out_visit": False, "phone_pseudonym": None,
    }
    frame = pl.DataFrame([{**base, **r} for r in rows])
    return frame.with_columns(pl.col("phone_pseudonym").cast(pl.String),
                              pl.col("dpd").cast(pl.Int16),
                              pl.col("payments_on_time_12m").cast(pl.Int8),
                              pl.col("months_on_book").cast(pl.Int16))


DAY = dt.date(2025, 3, 20)
SELF_CURE_SMALL = {"account_id": "S", "dpd": 5, "balance": 300.0}
ROLL_LARGE = {"account_id": "R", "dpd": 75, "balance": 30000.0, "utilisation": 1.05,
              "payments_on_time_12m": 3, "months_on_book": 10}


def test_self_cure_small_ranks_below_likely_roll_large(strategy: CompiledStrategy) -> None:
    wl = plan_worklist(strategy, accounts([SELF_CURE_SMALL, ROLL_LARGE]), date=DAY).worklist
    by = {r["account_id"]: r for r in wl.to_dicts()}
    assert by["S"]["p_cure"] > 0.6 > by["R"]["p_cure"]
    assert by["R"]["rank"] < by["S"]["rank"]
    assert by["R"]["priority"] > by["S"]["priority"]
    assert by["S"]["treatment"] == "sms"
    assert by["R"]["treatment"] in ("agent_call", "field_visit")
    # expected incremental recovery = balance x p_roll x uplift; priority = that / cost
    r = by["R"]
    assert r["expected_recovery"] == pytest.approx(30000 * (1 - r["p_cure"]) * r["uplift"])
    assert r["priority"] == pytest.approx(r["expected_recovery"] / r["cost"])


def test_score_is_the_scorecard_scaled_to_a_probability(strategy: CompiledStrategy) -> None:
    wl = plan_worklist(strategy, accounts([SELF_CURE_SMALL]), date=DAY).worklist
    score, p = wl["collection_score"][0], wl["p_cure"][0]
    # 440 + dpd<8: 60 + 12 on time: 30 + util 0.3: 15 + no broken promise: 20 + 30 mob: 10
    assert score == 575
    assert p == pytest.approx(1 / (1 + 2 ** (-(575 - 500) / 40)))
    assert wl["p_roll"][0] == pytest.approx(1 - p)


ALL_AGENT = """\
schema_version: 1
strategy: collections_all_agent
version: 1
stage: collections
inputs:
  account_id: {type: str}
  dpd: {type: int, min: 0}
use: {cure: card, treatment: all_agent}
scorecards:
  card:
    base_points: 500
    pdo: 40
    base_score: 500
    base_odds: 1
    characteristics:
      - name: dpd
        expr: dpd
        missing: 0
        reason: DAYS_PAST_DUE
        bins: [{when: "< 10", points: 100}, {when: ">= 10", points: -100}]
tables:
  all_agent:
    hit_policy: first
    inputs: [dpd]
    outputs: [treatment]
    rows: [["-", "'field_visit'"]]
"""


def test_self_cure_accounts_get_only_digital_reminders(tmp_path: Path) -> None:
    """Even when the strategy asks for a field visit, a likely self-curer gets an SMS."""
    path = tmp_path / "s.yaml"
    path.write_text(ALL_AGENT, encoding="utf-8")
    s = compile_strategy(path)
    wl = plan_worklist(s, accounts([{"account_id": "cure", "dpd": 3, "balance": 9e5},
                                    {"account_id": "roll", "dpd": 40, "balance": 10.0}]),
                       date=DAY).worklist
    by = {r["account_id"]: r for r in wl.to_dicts()}
    digital = {t.name for t in DEFAULT_TREATMENTS if t.digital}
    assert by["cure"]["strategy_treatment"] == "field_visit"
    assert by["cure"]["treatment"] in digital
    assert by["cure"]["treatment_changed_by"] == "self_cure_digital_only"
    assert by["roll"]["treatment"] == "field_visit"
    assert by["roll"]["treatment_changed_by"] is None


def test_self_cure_digital_only_on_a_synthetic_book(strategy: CompiledStrategy) -> None:
    from fengkong.lifecycle import synthetic_book

    book = synthetic_book(20_000, months=12, seed=5)
    wl = plan_worklist(strategy, book.accounts, date=book.as_of).worklist
    assert len(wl) > 0
    assert set(wl["bucket"].unique()) <= {"1-30", "31-60", "61-90", "90+"}
    self_cure = wl.filter(pl.col("p_cure") >= 0.6)
    assert len(self_cure) > 0
    assert set(self_cure["treatment"].unique()) == {"sms"}
    assert wl["rank"].to_list() == list(range(1, len(wl) + 1))
    assert wl["priority"].is_sorted(descending=True)


def test_treatment_per_segment_and_bucket(strategy: CompiledStrategy) -> None:
    weak = {"dpd": 20, "payments_on_time_12m": 2, "utilisation": 1.0, "months_on_book": 3,
            "balance": 5000.0}
    acc = accounts([{**weak, "account_id": "branch1", "segment": "branch"},
                    {**weak, "account_id": "late_branch", "segment": "branch", "dpd": 70},
                    {**weak, "account_id": "late_partner", "segment": "partner", "dpd": 70}])
    by = {r["account_id"]: r for r in plan_worklist(strategy, acc, date=DAY).worklist.to_dicts()}
    assert by["branch1"]["strategy_segment"] == "branch"
    assert by["branch1"]["treatment"] == "agent_call"
    assert by["late_branch"]["treatment"] == "field_visit"
    assert by["late_partner"]["treatment"] == "field_visit"


def test_champion_challenger_on_treatments(strategy: CompiledStrategy) -> None:
    n = 2000
    acc = accounts([{"account_id": f"X{i:05d}", "dpd": 45, "balance": 1000.0,
                     "payments_on_time_12m": 2, "utilisation": 1.0, "months_on_book": 3}
                    for i in range(n)])
    wl = plan_worklist(strategy, acc, date=DAY).worklist
    arms = wl["arm.treatment_test"].value_counts()
    share = dict(zip(arms["arm.treatment_test"], arms["count"], strict=True))
    assert 0.15 < share["challenger"] / n < 0.25
    assert set(wl.filter(pl.col("arm.treatment_test") == "challenger")["treatment"]) == \
        {"robocall"}
    assert set(wl.filter(pl.col("arm.treatment_test") == "champion")["treatment"]) == \
        {"agent_call"}
    again = plan_worklist(strategy, acc, date=DAY).worklist
    assert again.sort("account_id")["arm.treatment_test"].equals(
        wl.sort("account_id")["arm.treatment_test"])


def test_broken_promise_moves_to_the_next_treatment_step(strategy: CompiledStrategy) -> None:
    rows = [{"account_id": a, "dpd": 50, "balance": 2000.0, "segment": "branch",
             "payments_on_time_12m": 2, "utilisation": 1.0, "months_on_book": 3}
            for a in ("kept", "broke")]
    promises = pl.DataFrame({"promise_id": ["p1", "p2"], "account_id": ["kept", "broke"],
                             "promised_on": [dt.date(2025, 3, 1)] * 2,
                             "due_date": [dt.date(2025, 3, 5)] * 2, "amount": [100.0, 100.0]})
    payments = pl.DataFrame({"account_id": ["kept"], "paid_at": [dt.datetime(2025, 3, 4, 12)],
                             "amount": [100.0]})
    outcomes = evaluate_promises(promises, payments, as_of=DAY)
    wl = plan_worklist(strategy, accounts(rows), date=DAY, promises=outcomes).worklist
    by = {r["account_id"]: r for r in wl.to_dicts()}
    assert by["kept"]["broken_promises"] == 0
    assert by["broke"]["broken_promises"] == 1
    assert by["kept"]["treatment"] == "agent_call"
    assert by["broke"]["treatment"] == "field_visit"       # the next step on the ladder
    assert by["broke"]["treatment_changed_by"] == "broken_promise"


def test_plan_logs_blocked_contacts_with_the_rule(strategy: CompiledStrategy) -> None:
    acc = accounts([{**ROLL_LARGE, "account_id": "optout", "contact_opt_out_visit": True,
                     "contact_opt_out_call": True},
                    {**ROLL_LARGE, "account_id": "nyc", "timezone": "America/New_York"},
                    {**ROLL_LARGE, "account_id": "ok"}])
    late = ContactPolicy(start=dt.time(8), end=dt.time(9, 30))
    res = plan_worklist(strategy, acc, date=DAY, policy=late,
                        schedule={"sms": dt.time(10), "call": dt.time(10),
                                  "visit": dt.time(10), "letter": dt.time(10)})
    rules = dict(zip(res.blocked["account_id"], res.blocked["blocked_rule"], strict=True))
    assert rules == {"optout": "opted_out", "nyc": "local_hours", "ok": "local_hours"}
    assert set(res.worklist["contact_status"]) == {"blocked"}
    ok = plan_worklist(strategy, acc, date=DAY)
    assert dict(zip(ok.worklist["account_id"], ok.worklist["contact_status"], strict=True)) == \
        {"optout": "blocked", "nyc": "scheduled", "ok": "scheduled"}
    nyc = ok.worklist.filter(pl.col("account_id") == "nyc")["scheduled_at"][0]
    assert nyc.astimezone(dt.UTC).hour in (13, 14)   # 09:00 or 10:00 New York


def test_current_and_written_off_accounts_are_not_planned(strategy: CompiledStrategy) -> None:
    acc = accounts([{"account_id": "cur", "dpd": 0, "balance": 1.0},
                    {"account_id": "late", "dpd": 3, "balance": 1.0}])
    wl = plan_worklist(strategy, acc, date=DAY).worklist
    assert wl["account_id"].to_list() == ["late"]
    assert not math.isnan(wl["p_cure"][0])


def test_an_open_promise_gets_a_reminder_not_a_call(strategy: CompiledStrategy) -> None:
    rows = [{"account_id": a, "dpd": 50, "balance": 2000.0, "segment": "branch",
             "payments_on_time_12m": 2, "utilisation": 1.0, "months_on_book": 3}
            for a in ("open", "none")]
    promises = pl.DataFrame({"promise_id": ["p1"], "account_id": ["open"],
                             "promised_on": [dt.date(2025, 3, 18)],
                             "due_date": [dt.date(2025, 3, 25)], "amount": [100.0]})
    payments = pl.DataFrame(schema={"account_id": pl.String, "paid_at": pl.Datetime("us"),
                                    "amount": pl.Float64})
    outcomes = evaluate_promises(promises, payments, as_of=DAY)
    by = {r["account_id"]: r for r in plan_worklist(strategy, accounts(rows), date=DAY,
                                                     promises=outcomes).worklist.to_dicts()}
    assert by["open"]["open_promise"] is True
    assert by["open"]["treatment"] == "sms"
    assert by["open"]["treatment_changed_by"] == "open_promise"
    assert by["none"]["treatment"] == "agent_call"
