"""Promise to pay: kept, broken, open; kept-rate report against a hand-computed reference."""

from __future__ import annotations

import datetime as dt
from pathlib import Path

import polars as pl
import pytest

from fengkong.lifecycle._ptp import apply_outcomes, escalation_counts, evaluate_promises, kept_rate

D = dt.date
AS_OF = D(2025, 3, 20)


def promises() -> pl.DataFrame:
    return pl.DataFrame(
        [("P1", "A", D(2025, 3, 1), D(2025, 3, 5), 100.0),   # 60 + 50 by 03-07: kept 03-07
         ("P2", "B", D(2025, 3, 1), D(2025, 3, 5), 200.0),   # 150 in time, 100 late: broken
         ("P3", "C", D(2025, 3, 15), D(2025, 3, 18), 50.0),  # deadline 03-21 > as_of: open
         ("P4", "D", D(2025, 2, 1), D(2025, 2, 10), 300.0),  # paid on the last grace day: kept
         ("P5", "A", D(2025, 2, 1), D(2025, 2, 5), 80.0),    # paid before the promise: broken
         ("P6", "E", D(2025, 3, 10), D(2025, 3, 12), 40.0)], # paid after as_of: broken
        schema=["promise_id", "account_id", "promised_on", "due_date", "amount"], orient="row")


def payments() -> pl.DataFrame:
    t = dt.datetime
    return pl.DataFrame(
        [("A", t(2025, 1, 30, 9), 80.0), ("A", t(2025, 3, 2, 9), 60.0),
         ("A", t(2025, 3, 7, 23, 59), 50.0), ("B", t(2025, 3, 4, 10), 150.0),
         ("B", t(2025, 3, 10, 10), 100.0), ("C", t(2025, 3, 16, 10), 20.0),
         ("D", t(2025, 2, 13, 18), 300.0), ("E", t(2025, 3, 25, 10), 40.0)],
        schema=["account_id", "paid_at", "amount"], orient="row")


@pytest.fixture
def outcomes() -> pl.DataFrame:
    return evaluate_promises(promises(), payments(), as_of=AS_OF, grace_days=3)


def test_status_kept_broken_open(outcomes: pl.DataFrame) -> None:
    got = {r["promise_id"]: (r["status"], r["paid"], r["kept_on"], r["resolved_on"])
           for r in outcomes.to_dicts()}
    assert got == {
        "P1": ("kept", 110.0, D(2025, 3, 7), D(2025, 3, 7)),
        "P2": ("broken", 150.0, None, D(2025, 3, 9)),
        "P3": ("open", 20.0, None, None),
        "P4": ("kept", 300.0, D(2025, 2, 13), D(2025, 2, 13)),
        "P5": ("broken", 0.0, None, D(2025, 2, 9)),
        "P6": ("broken", 0.0, None, D(2025, 3, 16)),
    }


def test_grace_days_decide_on_the_boundary() -> None:
    strict = evaluate_promises(promises(), payments(), as_of=AS_OF, grace_days=0)
    status = dict(zip(strict["promise_id"], strict["status"], strict=True))
    assert status["P4"] == "broken"       # paid 02-13, due 02-10, no grace
    assert status["P1"] == "broken"       # 60 by 03-05 only
    with pytest.raises(ValueError, match="grace"):
        evaluate_promises(promises(), payments(), as_of=AS_OF, grace_days=-1)


def test_an_open_promise_turns_kept_when_paid() -> None:
    later = pl.concat([payments(), pl.DataFrame(
        [("C", dt.datetime(2025, 3, 19, 8), 30.0)], schema=payments().schema, orient="row")])
    out = evaluate_promises(promises(), later, as_of=AS_OF)
    assert out.filter(pl.col("promise_id") == "P3")["status"][0] == "kept"


def test_kept_rate_equals_hand_computed(outcomes: pl.DataFrame) -> None:
    r = {x["due_month"]: x for x in kept_rate(outcomes).to_dicts()}
    feb, mar = r[D(2025, 2, 1)], r[D(2025, 3, 1)]
    assert (feb["promises"], feb["kept"], feb["broken"], feb["open"]) == (2, 1, 1, 0)
    assert feb["kept_rate"] == pytest.approx(50.0)
    assert feb["amount_kept_rate"] == pytest.approx(100 * 300 / 380)
    assert (mar["promises"], mar["kept"], mar["broken"], mar["open"]) == (4, 1, 2, 1)
    assert mar["kept_rate"] == pytest.approx(100 / 3)
    assert mar["amount_kept_rate"] == pytest.approx(100 * 100 / 340)
    assert mar["promised"] == pytest.approx(390.0)
    assert mar["paid"] == pytest.approx(280.0)
    overall = kept_rate(outcomes, by=()).to_dicts()[0]
    assert (overall["kept"], overall["broken"], overall["open"]) == (2, 3, 1)
    assert overall["kept_rate"] == pytest.approx(40.0)


def test_escalation_counts_recent_broken_promises(outcomes: pl.DataFrame) -> None:
    esc = {r["account_id"]: (r["broken_promises"], r["open_promise"])
           for r in escalation_counts(outcomes, as_of=AS_OF, window_days=30).to_dicts()}
    # P5 (A) broke on 02-09: older than 30 days before 03-20.
    assert esc == {"A": (0, False), "B": (1, False), "C": (0, True), "D": (0, False),
                   "E": (1, False)}


def test_outcomes_feed_back_into_the_history(outcomes: pl.DataFrame) -> None:
    history = pl.DataFrame({"account_id": ["A", "A", "B", "E"],
                            "month": [D(2025, 2, 1), D(2025, 3, 1), D(2025, 3, 1),
                                      D(2025, 3, 1)],
                            "dpd": [5, 10, 40, 70]})
    h = apply_outcomes(history, outcomes)
    got = {(r["account_id"], r["month"]): (r["promises_made"], r["promises_kept"],
                                           r["promises_broken"]) for r in h.to_dicts()}
    assert got == {("A", D(2025, 2, 1)): (1, 0, 1), ("A", D(2025, 3, 1)): (1, 1, 0),
                   ("B", D(2025, 3, 1)): (1, 0, 1), ("E", D(2025, 3, 1)): (1, 0, 1)}
    assert h.columns[:3] == ["account_id", "month", "dpd"]
    # idempotent: applying again replaces, not duplicates
    assert apply_outcomes(h, outcomes).equals(h)


def test_non_positive_promise_is_refused() -> None:
    bad = promises().with_columns(amount=pl.lit(0.0))
    with pytest.raises(ValueError, match="positive"):
        evaluate_promises(bad, payments(), as_of=AS_OF)


def test_promises_and_payments_read_from_csv_text(tmp_path: Path) -> None:
    promises().write_csv(tmp_path / "p.csv")
    payments().write_csv(tmp_path / "y.csv")
    text = evaluate_promises(pl.read_csv(tmp_path / "p.csv"), pl.read_csv(tmp_path / "y.csv"),
                             as_of=AS_OF)
    typed = evaluate_promises(promises(), payments(), as_of=AS_OF)
    assert text["status"].to_list() == typed["status"].to_list()
