"""``evaluate_batch(..., reasons=False)``: the same decisions, only the reasons left out."""

from __future__ import annotations

import datetime as dt

from fengkong import compile_strategy, evaluate_batch
from fengkong.core import FixedClock
from fengkong.demo import example_strategy_path, generate_applications


def test_everything_but_the_reasons_is_the_same() -> None:
    strategy = compile_strategy(example_strategy_path())
    table = generate_applications(3_000, seed=5)
    clock = FixedClock(dt.datetime(2026, 1, 1, tzinfo=dt.UTC))
    full = evaluate_batch(strategy, table, clock=clock)
    lean = evaluate_batch(strategy, table, clock=clock, reasons=False)
    assert lean.columns == full.columns
    assert lean["reasons"].null_count() == lean.height
    assert full["reasons"].list.len().sum() > 0
    assert lean.drop("reasons").equals(full.drop("reasons"))
