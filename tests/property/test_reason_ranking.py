"""Adverse reasons of a scorecard decision rank the characteristics by points lost.

On synthetic scorecards (random bins and points) with a score cut-off rule, every
declined or referred decision's first reason is the characteristic with the most points
below its maximum (ties: the earlier characteristic), the characteristics follow in that
order, and the cut-off rule's generic code (``SCORE_TOO_LOW``, ``SCORE_BORDERLINE``)
never comes before them: online and in batch.
"""

from __future__ import annotations

import datetime as dt
from pathlib import Path
from typing import Any

import polars as pl
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from fengkong import compile_strategy, evaluate, evaluate_batch
from fengkong.core import FixedClock
from fengkong.explain import catalogue

CLOCK = FixedClock(dt.datetime(2026, 6, 30, 12, 0, tzinfo=dt.UTC))
GENERIC = {"SCORE_TOO_LOW", "SCORE_BORDERLINE"}


@st.composite
def scorecards(draw: Any) -> dict[str, Any]:
    """Characteristics ``x0..xk`` on 0..100 with three bins each, and two cut-offs."""
    k = draw(st.integers(2, 6))
    chars = []
    for _ in range(k):
        t1, t2 = draw(st.integers(1, 50)), draw(st.integers(51, 100))
        chars.append({"bounds": (t1, t2),
                      "points": [draw(st.integers(0, 60)) for _ in range(3)]})
    top = sum(max(c["points"]) for c in chars)
    cut = draw(st.integers(0, top + 10))
    return {"chars": chars, "cut": cut, "borderline": cut + draw(st.integers(0, 40))}


def _yaml(card: dict[str, Any]) -> str:
    n = len(card["chars"])
    inputs = "".join(f"  x{i}: {{type: int, min: 0, max: 100}}\n" for i in range(n))
    chars = ""
    for i, c in enumerate(card["chars"]):
        (t1, t2), (p1, p2, p3) = c["bounds"], c["points"]
        chars += (f"      - {{name: c{i}, expr: x{i}, reason: FACTOR_{i}, missing: 0, bins: ["
                  f"{{when: \"< {t1}\", points: {p1}}}, {{when: \"[{t1}..{t2})\", points: {p2}}}, "
                  f"{{when: \">= {t2}\", points: {p3}}}]}}\n")
    texts = "".join(f"  FACTOR_{i}: {{en: \"Factor {i} was weak.\", zh: \"因素{i}较弱。\"}}\n"
                    for i in range(n))
    return (f"strategy: synthetic\nversion: 1\nstage: origination\ninputs:\n{inputs}"
            f"scorecards:\n  card:\n    characteristics:\n{chars}"
            f"use: {{score: card}}\n"
            f"rules:\n"
            f"  - {{id: score_min, when: \"score < {card['cut']}\", action: decline, "
            f"reason: SCORE_TOO_LOW}}\n"
            f"  - {{id: score_borderline, when: \"score >= {card['cut']} and score < "
            f"{card['borderline']}\", action: refer, reason: SCORE_BORDERLINE}}\n"
            f"outcome:\n  limit: \"1000\"\nreasons:\n{texts}")


def _expected(card: dict[str, Any], record: dict[str, int]) -> list[str]:
    """Characteristic codes by points lost below their maximum, largest first (stable)."""
    lost = []
    for i, c in enumerate(card["chars"]):
        (t1, t2), pts = c["bounds"], c["points"]
        x = record[f"x{i}"]
        got = pts[0] if x < t1 else (pts[1] if x < t2 else pts[2])
        best = max(0, *pts)  # missing and other give 0 points
        lost.append((best - got, i))
    ranked = sorted((v for v in lost if v[0] > 0), key=lambda v: (-v[0], v[1]))
    return [f"FACTOR_{i}" for _, i in ranked]


@settings(max_examples=40, deadline=None, database=None,
          suppress_health_check=[HealthCheck.too_slow, HealthCheck.function_scoped_fixture])
@given(card=scorecards(), data=st.data())
def test_first_adverse_reason_is_the_characteristic_losing_most_points(
        tmp_path: Path, card: dict[str, Any], data: Any) -> None:
    n = len(card["chars"])
    path = tmp_path / "synthetic.yaml"
    path.write_text(_yaml(card), encoding="utf-8")
    compiled = compile_strategy(path)
    assert not [w for w in compiled.warnings if w.code.startswith("reason-")]
    rows = data.draw(st.lists(st.fixed_dictionaries(
        {f"x{i}": st.integers(0, 100) for i in range(n)}), min_size=1, max_size=12))
    batch = evaluate_batch(compiled, pl.DataFrame(rows), clock=CLOCK).to_dicts()
    for record, row in zip(rows, batch, strict=True):
        online = evaluate(compiled, record, clock=CLOCK)
        assert online.reasons == row["reasons"], record
        assert online.decision == row["decision"], record
        if online.decision not in ("decline", "refer"):
            continue
        want = _expected(card, record)
        reasons = online.reasons
        assert 1 <= len(reasons) <= 4
        if want:
            assert reasons[0] == want[0], (record, reasons, want)
            assert reasons[:len(want[:4])] == want[:4], (record, reasons, want)
        else:  # every characteristic at its best: only the cut-off's code explains it
            assert reasons in (["SCORE_TOO_LOW"], ["SCORE_BORDERLINE"]), (record, reasons)
        specific = [r for r in reasons if r not in GENERIC]
        assert reasons[:len(specific)] == specific  # generic codes only after specific ones
        assert all(catalogue().is_generic(r) for r in reasons if r in GENERIC)
