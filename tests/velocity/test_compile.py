"""Velocity features in a strategy file: each becomes the optional input velocity.<name>;
bad keys, values and windows are located diagnostics."""

from __future__ import annotations

from pathlib import Path

import pytest

from fengkong import compile_strategy
from fengkong.errors import StrategyFileError

HEAD = """\
strategy: v
version: 1
stage: origination
inputs:
  applicant.phone: {type: str, pii: phone}
  applicant.id_number: {type: str, pii: id_card}
  loan.amount: {type: float, min: 0}
  device.id: {type: str, required: false}
  applicant.age: {type: int}
  ok: {type: bool}
velocity:
"""
GOOD = """\
  apps_phone_7d: {key: applicant.phone, agg: count, window: 7d}
  amount_id_30d: {key: applicant.id_number, agg: sum, value: loan.amount, window: 30d}
  devices_id_24h: {key: applicant.id_number, agg: distinct_count, value: device.id, window: 24h}
"""
RULES = """\
rules:
  - {id: many, when: "velocity.apps_phone_7d > 3", action: refer, reason: VELOCITY}
  - {id: much, when: "velocity.amount_id_30d > 100000", action: refer, reason: VELOCITY_AMOUNT}
  - {id: devices, when: "velocity.devices_id_24h >= 3", action: decline, reason: DEVICES}
"""


def write(tmp_path: Path, velocity: str, rules: str = RULES) -> Path:
    p = tmp_path / "s.yaml"
    p.write_text(HEAD + velocity + rules, "utf-8")
    return p


def test_velocity_fields_are_optional_numeric_inputs(tmp_path: Path) -> None:
    plan = compile_strategy(write(tmp_path, GOOD)).plan
    by_name = {f.name: f for f in plan.fields}
    assert by_name["velocity.apps_phone_7d"].type == "int"
    assert by_name["velocity.amount_id_30d"].type == "float"
    assert not by_name["velocity.devices_id_24h"].required
    assert [(v.name, v.agg, v.window_s, v.key_pii) for v in plan.velocity] == [
        ("apps_phone_7d", "count", 7 * 86400, "phone"),
        ("amount_id_30d", "sum", 30 * 86400, "id_card"),
        ("devices_id_24h", "distinct_count", 86400, "id_card")]


@pytest.mark.parametrize(("velocity", "code", "line"), [
    ("  a: {key: applicant.phon, agg: count, window: 7d}\n", "unknown-field", 12),
    ("  a: {key: ok, agg: count, window: 7d}\n", "velocity-key", 12),
    ("  a: {key: applicant.phone, agg: count, value: loan.amount, window: 7d}\n",
     "velocity-value", 12),
    ("  a: {key: applicant.phone, agg: sum, window: 7d}\n", "velocity-value", 12),
    ("  a: {key: applicant.phone, agg: sum, value: device.id, window: 7d}\n",
     "velocity-value", 12),
    ("  a: {key: applicant.phone, agg: distinct_count, value: loan.amount, window: 7d}\n",
     "velocity-value", 12),
    ("  a: {key: applicant.phone, agg: count, window: 7 days}\n", "velocity-window", 12),
    ("  a: {key: applicant.phone, agg: count, window: 400d}\n", "velocity-window", 12),
    ("  a: {key: applicant.phone, agg: count, window: 0h}\n", "velocity-window", 12),
])
def test_bad_velocity_is_a_located_diagnostic(tmp_path: Path, velocity: str, code: str,
                                              line: int) -> None:
    rules = 'rules:\n  - {id: r, when: "velocity.a > 1", action: refer, reason: R}\n'
    with pytest.raises(StrategyFileError) as e:
        compile_strategy(write(tmp_path, velocity, rules))
    found = [d for d in e.value.diagnostics if d.code == code]
    assert found, e.value.diagnostics
    assert found[0].line == line


def test_an_input_may_not_be_named_velocity(tmp_path: Path) -> None:
    p = tmp_path / "s.yaml"
    p.write_text(HEAD.replace("velocity:\n", "") .replace(
        "  ok: {type: bool}\n", "  ok: {type: bool}\n  velocity.x: {type: int}\n") +
        'rules:\n  - {id: r, when: "velocity.x > 1", action: refer, reason: R}\n', "utf-8")
    with pytest.raises(StrategyFileError) as e:
        compile_strategy(p)
    assert any(d.code == "reserved-name" for d in e.value.diagnostics)


def test_batch_reads_the_backfilled_columns(tmp_path: Path) -> None:
    import datetime as dt

    import polars as pl

    from fengkong import evaluate_batch
    from fengkong.velocity import backfill

    strategy = compile_strategy(write(tmp_path, GOOD))
    t0 = dt.datetime(2026, 1, 1)
    history = pl.DataFrame({
        "applicant.phone": ["13912345678"] * 5, "applicant.id_number": ["11010519491231002X"] * 5,
        "loan.amount": [1000.0] * 5, "device.id": ["a", "b", "c", "a", "d"],
        "applicant.age": [30] * 5, "ok": [True] * 5,
        "at": [t0 + dt.timedelta(hours=i) for i in range(5)]})
    filled = backfill(strategy, history, time_column="at")
    assert filled["velocity.apps_phone_7d"].to_list() == [1, 2, 3, 4, 5]
    assert filled["velocity.devices_id_24h"].to_list() == [1, 2, 3, 3, 4]
    out = evaluate_batch(strategy, filled)
    assert out["decision"].to_list() == ["approve", "approve", "decline", "decline", "decline"]
    # Without the columns the features are null: no rule fires.
    assert set(evaluate_batch(strategy, history)["decision"].to_list()) == {"approve"}
