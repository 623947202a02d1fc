"""Monitoring from the decision log: PSI, CSI, approval, rule-hit and early-performance
figures hand-checked on a constructed log, read from SQLite and from PostgreSQL."""

from __future__ import annotations

import datetime as dt
import math
from collections.abc import Iterator
from typing import Any

import orjson
import polars as pl
import pytest

from fengkong.lifecycle import (
    decision_rates,
    early_performance,
    feature_stability,
    live_stability,
    load_decisions,
    monitor,
    rule_hit_rates,
    score_stability,
)
from fengkong.lifecycle._monitor import join_outcomes, split_reference
from fengkong.store import Database, NewDecision, append_decisions

TENANT, STRATEGY = "bank-m", "loans"
JAN, FEB = dt.datetime(2026, 1, 5, tzinfo=dt.UTC), dt.datetime(2026, 2, 3, tzinfo=dt.UTC)
EPS = 1e-4


def _psi(expected: list[float], actual: list[float]) -> float:
    """PSI by hand from bin shares (shares below EPS raised to EPS, as the workbench does)."""
    total = 0.0
    for e, a in zip(expected, actual, strict=True):
        e, a = max(e, EPS), max(a, EPS)
        total += (a - e) * math.log(a / e)
    return total


# January (the reference window): per segment 25 scores of 100 (declined) and 25 of 200
# (approved); x = 1 or 2 like the score; cat half "u", half "v".
# February: segment a 40 x 100 (declined) + 10 x 200; segment b 35 x 100 (30 declined,
# 5 referred) + 15 x 200; x follows the score; cat always "u".
def _plan() -> list[dict[str, Any]]:
    rows: list[dict[str, Any]] = []
    for seg in ("a", "b"):
        for i in range(50):
            high = i % 2 == 0
            rows.append({"when": JAN + dt.timedelta(hours=i), "segment": seg,
                         "score": 200.0 if high else 100.0, "x": 2 if high else 1,
                         "cat": "u" if i < 25 else "v",
                         "outcome": "approve" if high else "decline"})
    for seg, lows, refers in (("a", 40, 0), ("b", 35, 5)):
        for i in range(50):
            high = i >= lows
            outcome = "approve" if high else ("refer" if i < refers else "decline")
            rows.append({"when": FEB + dt.timedelta(hours=i), "segment": seg,
                         "score": 200.0 if high else 100.0, "x": 2 if high else 1,
                         "cat": "u", "outcome": outcome})
    return rows


def _decision(i: int, row: dict[str, Any], *, tenant: str = TENANT, strategy: str = STRATEGY,
              reviewed: bool = False) -> NewDecision:
    hits = {"decline": ["score_min"], "refer": ["borderline"], "approve": []}[row["outcome"]]
    if row["segment"] == "a":
        hits = [*hits, "seg_a_check"]
    record: dict[str, Any] = {
        "inputs": {"application_id": f"A{i}", "applicant": {"x": row["x"], "cat": row["cat"]},
                   "id_token": f"pn{i:06d}"},
        "decision": {"decision": row["outcome"], "segment": row["segment"], "rule_hits": hits,
                     "scores": {"score": row["score"]}, "features": {"double_x": 2 * row["x"]},
                     "evaluated_at": row["when"].isoformat()}}
    if reviewed:
        record = {"human_reviewed": True, "review": {"original_decision_id": f"d{i}"},
                  "decision": record["decision"]}
    return NewDecision(
        id=f"{tenant}-{strategy}-d{i}" + ("-r" if reviewed else ""), tenant_id=tenant,
        request_id=f"{strategy}-r{i}" + ("-r" if reviewed else ""), input_hash="0" * 64,
        strategy_id=strategy, strategy_version="1" if row["when"] < FEB else "2",
        strategy_digest="sha256:x", decided_at=row["when"], segment=row["segment"],
        outcome=row["outcome"], latency_us=10,
        record=orjson.dumps(record, option=orjson.OPT_SORT_KEYS).decode())


@pytest.fixture
def db(database_url: str) -> Iterator[Database]:
    database = Database.connect(database_url)
    database.upgrade()
    plan = _plan()
    items = [_decision(i, r) for i, r in enumerate(plan)]
    items.append(_decision(9000, plan[-1], reviewed=True))  # a reviewer's record: not counted
    items += [_decision(i, r, strategy="other") for i, r in enumerate(plan[:30])]
    items += [_decision(i, r, tenant="bank-z") for i, r in enumerate(plan[:30])]
    with database.writer.begin() as conn:
        append_decisions(conn, items)
    try:
        yield database
    finally:
        database.dispose()


@pytest.fixture
def log(db: Database) -> pl.DataFrame:
    return load_decisions(db, TENANT, STRATEGY, page=7)  # several pages


def test_load_reads_one_strategy_of_one_tenant(db: Database, log: pl.DataFrame) -> None:
    assert log.height == 200
    assert log["decided_at"].is_sorted()
    assert log["decided_at"].dtype == pl.Datetime("us", "UTC")
    assert set(log["strategy_version"]) == {"1", "2"}
    for c in ("decision_id", "request_id", "segment", "decision", "rule_hits", "score.score",
              "feature.double_x", "applicant.x", "applicant.cat", "application_id"):
        assert c in log.columns, c
    feb = load_decisions(db, TENANT, STRATEGY, start=FEB, end=FEB + dt.timedelta(days=28))
    assert feb.height == 100
    assert load_decisions(db, TENANT, STRATEGY, limit=10)["decided_at"].min() >= FEB


def test_score_psi_against_the_first_window(log: pl.DataFrame) -> None:
    reference, rest = split_reference(log, "month")
    assert reference.height == 100 and rest.height == 100
    table = score_stability(rest, reference, score="score.score", freq="month")
    got = {r["segment"]: r for r in table.iter_rows(named=True)}
    assert set(got) == {"all", "a", "b"}
    assert got["all"]["window"] == dt.date(2026, 2, 1)
    assert got["all"]["n"] == 100
    # reference: 50 % below 200 and 50 % at 200; February: 75 % / 25 %
    assert got["all"]["psi"] == pytest.approx(_psi([0.5, 0.5], [0.75, 0.25]))
    assert got["all"]["psi"] == pytest.approx(0.274653, abs=1e-6)
    # per segment against that segment's reference records (also 50/50)
    assert got["a"]["psi"] == pytest.approx(_psi([0.5, 0.5], [0.8, 0.2]))
    assert got["b"]["psi"] == pytest.approx(_psi([0.5, 0.5], [0.7, 0.3]))
    assert got["a"]["mean_score"] == pytest.approx(120.0)
    assert got["all"]["reference_mean"] == pytest.approx(150.0)


def test_score_psi_against_a_development_sample(log: pl.DataFrame) -> None:
    dev = pl.DataFrame({"score.score": [100.0] * 90 + [200.0] * 10})  # no segment column
    table = score_stability(log, dev, score="score.score", freq="month", by_segment=False)
    assert table["segment"].to_list() == ["all", "all"]
    jan, feb = table["psi"].to_list()
    assert jan == pytest.approx(_psi([0.9, 0.1], [0.5, 0.5]))
    assert feb == pytest.approx(_psi([0.9, 0.1], [0.75, 0.25]))


def test_characteristic_stability(log: pl.DataFrame) -> None:
    reference, rest = split_reference(log, "month")
    table = feature_stability(rest, reference, freq="month")
    csi = dict(zip(table["feature"], table["csi"], strict=True))
    assert set(csi) == {"applicant.x", "applicant.cat", "feature.double_x"}  # no ids, no tokens
    assert csi["applicant.x"] == pytest.approx(_psi([0.5, 0.5], [0.75, 0.25]))
    assert csi["feature.double_x"] == pytest.approx(csi["applicant.x"])
    assert csi["applicant.cat"] == pytest.approx(_psi([0.5, 0.5], [1.0, 0.0]))


def test_approval_and_refer_rates_by_segment(log: pl.DataFrame) -> None:
    rates = decision_rates(log, freq="month")
    got = {(r["window"].month, r["segment"]): r for r in rates.iter_rows(named=True)}
    assert got[(1, "all")]["n"] == 100 and got[(1, "all")]["approval_rate"] == 0.5
    assert got[(1, "a")]["approval_rate"] == 0.5
    feb_all, feb_a, feb_b = got[(2, "all")], got[(2, "a")], got[(2, "b")]
    assert (feb_all["n"], feb_all["approved"], feb_all["declined"], feb_all["referred"]) == \
        (100, 25, 70, 5)
    assert feb_all["approval_rate"] == pytest.approx(0.25)
    assert feb_a["approval_rate"] == pytest.approx(10 / 50)
    assert feb_b["approval_rate"] == pytest.approx(15 / 50)
    assert feb_b["refer_rate"] == pytest.approx(5 / 50)
    assert rates["segment"].to_list()[:3] == ["all", "a", "b"]


def test_rule_hit_rates(log: pl.DataFrame) -> None:
    rules = rule_hit_rates(log, freq="month")
    got = {(r["window"].month, r["segment"], r["rule"]): (r["hits"], r["n"], r["hit_rate"])
           for r in rules.iter_rows(named=True)}
    assert got[(2, "all", "score_min")] == (70, 100, pytest.approx(0.7))
    assert got[(2, "b", "borderline")] == (5, 50, pytest.approx(0.1))
    assert got[(2, "a", "seg_a_check")] == (50, 50, 1.0)
    assert got[(2, "all", "seg_a_check")] == (50, 100, 0.5)
    assert (2, "b", "seg_a_check") not in got


def _outcomes(log: pl.DataFrame) -> pl.DataFrame:
    """January: the 50 approved all observed, 5 bad. February: 20 of 25 observed, 4 bad."""
    approved = log.filter(pl.col("decision") == "approve").sort("decided_at")
    jan = approved.filter(pl.col("decided_at") < FEB)["decision_id"].to_list()
    feb = approved.filter(pl.col("decided_at") >= FEB)["decision_id"].to_list()
    ids = jan + feb[:20]
    bad = [1] * 5 + [0] * 45 + [1] * 4 + [0] * 16
    observed = [dt.datetime(2026, 4, 1)] * 50 + [dt.datetime(2026, 5, 1)] * 20
    return pl.DataFrame({"decision_id": ids, "bad": bad, "observed_at": observed})


def test_early_performance_by_band_and_month(log: pl.DataFrame) -> None:
    joined = join_outcomes(log, _outcomes(log))
    perf = early_performance(joined, score="score.score", edges=[150.0])
    rows = {(r["month"].month, r["band"]): r for r in perf.iter_rows(named=True)}
    jan, feb = rows[(1, ">= 150")], rows[(2, ">= 150")]
    assert (jan["decisions"], jan["count"], jan["pending"], jan["bads"]) == (50, 50, 0, 5)
    assert jan["bad_rate"] == pytest.approx(0.1)
    assert (feb["decisions"], feb["count"], feb["pending"], feb["bads"]) == (25, 20, 5, 4)
    assert feb["bad_rate"] == pytest.approx(0.2)
    assert (1, "< 150") not in rows  # no approved decision scored below 150
    # outcomes observed after as_of are not known yet
    early = join_outcomes(log, _outcomes(log), as_of=dt.datetime(2026, 4, 15, tzinfo=dt.UTC))
    perf2 = early_performance(early, score="score.score", edges=[150.0])
    feb2 = perf2.filter(pl.col("month") == dt.date(2026, 2, 1)).row(0, named=True)
    assert (feb2["count"], feb2["pending"]) == (0, 25)


def test_outcomes_join_on_application_id(log: pl.DataFrame) -> None:
    out = pl.DataFrame({"application_id": ["A0", "A1"], "bad": [1, 0]})
    joined = join_outcomes(log, out)
    assert joined.filter(pl.col("bad").is_not_null()).height == 2
    with pytest.raises(KeyError, match="bad"):
        join_outcomes(log, pl.DataFrame({"decision_id": ["x"]}))
    with pytest.raises(KeyError, match="join"):
        join_outcomes(log, pl.DataFrame({"loan": ["x"], "bad": [1]}))


def test_live_stability(log: pl.DataFrame) -> None:
    reference, recent = split_reference(log, "month")
    got = {s.segment: s for s in live_stability(recent, reference)}
    assert got["all"].n == 100
    assert got["all"].approval_rate == pytest.approx(0.25)
    assert got["all"].score_psi == pytest.approx(_psi([0.5, 0.5], [0.75, 0.25]))
    assert got["a"].approval_rate == pytest.approx(0.2)
    assert got["a"].score_psi == pytest.approx(_psi([0.5, 0.5], [0.8, 0.2]))
    assert all(s.score_psi is None for s in live_stability(recent, None))
    assert live_stability(recent.head(0), reference) == []


def test_monitor_report_renders(log: pl.DataFrame) -> None:
    steps: list[str] = []
    report = monitor(log, tenant=TENANT, strategy=STRATEGY, outcomes=_outcomes(log),
                     progress=lambda s, _d, _t: steps.append(s), min_count=10)
    assert steps[-1] == "done"
    assert report.score == "score.score"
    assert "first month" in report.reference_note
    assert report.scores.filter(pl.col("segment") == "all")["psi"][0] == pytest.approx(
        0.274653, abs=1e-6)
    assert report.performance.height > 0
    html = report.to_html()
    for key in ("overview", "approval", "score-stability", "feature-stability", "rules",
                "performance"):
        assert f'<section id="{key}">' in html
    assert html.count("<svg") == 6
    assert "<script" not in html
    assert "pn0000" not in html  # pseudonym tokens are not characteristics
    assert "0.275" in html


def test_monitor_report_of_an_empty_log(log: pl.DataFrame) -> None:
    report = monitor(log.head(0), tenant=TENANT, strategy=STRATEGY)
    html = report.to_html()
    assert "No decisions in the period" in html
    assert report.decisions == 0
