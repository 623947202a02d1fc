"""Online/batch parity regressions: each case once disagreed between the backends."""

from __future__ import annotations

import datetime as dt
import textwrap

import polars as pl
import pytest

import fengkong
from fengkong.core import FixedClock
from fengkong.errors import InputValidationError, StrategyFileError
from fengkong.testing import assert_rows_equal, batch_frame

CLOCK = FixedClock(dt.datetime(2026, 6, 30, 12, 0, tzinfo=dt.UTC))

HEADER = """
schema_version: 1
strategy: review
version: 1
stage: origination
inputs:
  a: {type: int, required: false}
  x: {type: float, required: false}
  d: {type: date, required: false}
"""


def _compile(tmp_path, body: str):
    p = tmp_path / "s.yaml"
    p.write_text(textwrap.dedent(HEADER) + textwrap.dedent(body))
    return fengkong.compile_strategy(p)


def _parity(cs, record, frame=None):
    frame = batch_frame(cs, [record]) if frame is None else frame
    row = fengkong.evaluate_batch(cs, frame, clock=CLOCK).to_dicts()[0]
    try:
        online = fengkong.evaluate(cs, record, clock=CLOCK).to_row()
    except InputValidationError as exc:
        assert row["error"] == str(exc)
        return
    assert row["error"] is None, f"batch error {row['error']!r}; online accepted {record}"
    assert_rows_equal(online, {k: v for k, v in row.items() if k != "error"}, context=repr(record))


# 1. A collect table with aggregate max/min whose only hit outputs -0.0: online keeps
#    -0.0 (_nn_max/_nn_min, no +0.0 fix-up), batch applies plus_zero -> 0.0.
@pytest.mark.parametrize("agg", ["max", "min"])
def test_collect_minmax_signed_zero(tmp_path, agg):
    cs = _compile(tmp_path, f"""
    use: {{t: t}}
    tables:
      t:
        hit_policy: collect
        aggregate: {agg}
        inputs: [a]
        outputs: [v]
        rows:
          - ["< 5", 1.0]
          - ["-", -0.0]
    outcome: {{limit: "1000.0"}}
    """)
    _parity(cs, {"a": 7})  # online table.t.v = -0.0, batch 0.0


# 2. A date given as text "0000-01-01": online rejects it (date.fromisoformat: year 0),
#    the batch String-column path (str.to_date) accepts it and decides the row.
def test_date_year_zero_string_column(tmp_path):
    cs = _compile(tmp_path, """
    outcome: {limit: "1000.0"}
    """)
    record = {"d": "0000-01-01"}
    frame = pl.DataFrame({"d": pl.Series(["0000-01-01"], dtype=pl.String)})
    with pytest.raises(InputValidationError):
        fengkong.evaluate(cs, record, clock=CLOCK)
    _parity(cs, record, frame)


# 3. A non-integer special value on an int characteristic compiles, works online, but the
#    batch backend crashes building pl.Series([1.5], dtype=Int64). Expected: either the
#    strategy is rejected at compile time, or both backends agree.
def test_int_characteristic_fractional_special(tmp_path):
    try:
        cs = _compile(tmp_path, """
        use: {c: c}
        scorecards:
          c:
            base_points: 0
            characteristics:
              - {name: a, expr: a, reason: A, missing: 0, special: [{values: [1.5], points: 7}],
                 bins: [{when: "< 3", points: 1}, {when: ">= 3", points: 2}]}
        outcome: {limit: "1000.0"}
        """)
    except StrategyFileError:
        return
    _parity(cs, {"a": 2})
