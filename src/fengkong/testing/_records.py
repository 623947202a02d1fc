"""Hypothesis strategies that generate records from a strategy's input schema.

Values are mostly valid, with the edges that break engines mixed in: nulls, NaN,
±inf, -0.0, boundary and just-out-of-range values, extremes, empty and non-ASCII
strings, unknown enum values.
"""

from __future__ import annotations

import datetime as dt
import math
from typing import Any

from hypothesis import strategies as st

from fengkong.compile import CompiledStrategy
from fengkong.compile.ir import FieldIR

_BIG = 2**62


def _int_values(f: FieldIR, *, valid: bool) -> st.SearchStrategy[Any]:
    lo = math.ceil(f.lo) if f.lo is not None else -(2**53)
    hi = math.floor(f.hi) if f.hi is not None else 2**53
    inside = st.integers(lo, hi) if lo <= hi else st.just(lo)
    bounds = st.sampled_from([v for v in (lo, hi, 0, -1, 1) if lo <= v <= hi])
    if valid:
        return st.one_of(inside, inside, bounds)
    edges = st.sampled_from([lo - 1, hi + 1, 2**53, 2**53 + 1, -(2**53) - 1, _BIG, -_BIG])
    return st.one_of(inside, st.integers(lo - 3, lo + 3), st.integers(hi - 3, hi + 3), edges)


def _float_values(f: FieldIR, *, valid: bool) -> st.SearchStrategy[Any]:
    lo = f.lo if f.lo is not None else -1e12
    hi = f.hi if f.hi is not None else 1e12
    inside = st.floats(lo, hi, allow_nan=False, allow_infinity=False)
    special = [v for v in (-0.0, 0.0, 5e-324, 0.5, 2.5, -2.5, 1e-9, lo, hi) if lo <= v <= hi]
    if valid:
        return st.one_of(inside, inside, st.sampled_from(special))
    edges = st.sampled_from([math.nan, math.inf, -math.inf, 1.7976931348623157e308,
                             -1.7976931348623157e308, math.nextafter(lo, -math.inf),
                             math.nextafter(hi, math.inf)])
    return st.one_of(inside, edges, st.floats(allow_nan=True, allow_infinity=True))


def _str_values(f: FieldIR, *, valid: bool) -> st.SearchStrategy[Any]:
    if f.type == "enum":
        values = st.sampled_from(list(f.values or ()))
        if valid:
            return values
        return st.one_of(values, st.sampled_from(["", "APP", " app", "unknown", "中文"]))
    size = f.max_length or 20
    samples = st.sampled_from(["", "a", "é", "İ", "ß", "Σ", "ǅ", "中文姓名", "110105199001011234"])
    if valid:
        return st.one_of(st.text(max_size=size), samples.filter(lambda v: len(v) <= size))
    return st.one_of(st.text(max_size=size + 3), samples)


def _field_values(f: FieldIR, *, valid: bool) -> st.SearchStrategy[Any]:
    if f.type == "int":
        base = _int_values(f, valid=valid)
    elif f.type == "float":
        base = _float_values(f, valid=valid)
    elif f.type == "bool":
        base = st.booleans()
    elif f.type in ("str", "enum"):
        base = _str_values(f, valid=valid)
    else:
        base = st.dates(dt.date(1900, 1, 1), dt.date(2100, 12, 31))
    if f.required and valid:
        return base
    if f.required:
        return st.one_of(base, base, base, base, base, base, base, base, base, st.none())
    return st.one_of(base, base, st.none())


def records(strategy: CompiledStrategy, *, valid_only: bool = False) -> st.SearchStrategy[dict[str, Any]]:
    """Records (flat dicts) for every input field of ``strategy``.

    With ``valid_only``, every record passes input validation. Otherwise two in
    three records are valid (nulls only in optional fields, values in range,
    with boundaries, -0.0 and non-ASCII text); the third kind mixes in what must be
    rejected: missing required fields, NaN, infinities, out-of-range and unknown values.

    Examples
    --------
    >>> from hypothesis import given
    >>> from fengkong import compile_strategy
    >>> from fengkong.demo import example_strategy_path
    >>> strategy = compile_strategy(example_strategy_path())
    >>> @given(records(strategy))
    ... def test_decides(record): ...
    """
    fields = strategy.plan.fields
    valid = st.fixed_dictionaries({f.name: _field_values(f, valid=True) for f in fields})
    if valid_only:
        return valid
    edgy = st.fixed_dictionaries({f.name: _field_values(f, valid=False) for f in fields})
    return st.one_of(valid, valid, edgy)
