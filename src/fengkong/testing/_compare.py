"""Compare online decisions with batch rows, exactly."""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from typing import Any

import polars as pl

from fengkong.compile import CompiledStrategy

_DTYPES = {"int": pl.Int64, "float": pl.Float64, "bool": pl.Boolean, "str": pl.String,
           "enum": pl.String, "date": pl.Date}


def batch_frame(strategy: CompiledStrategy, rows: Sequence[Mapping[str, Any]]) -> pl.DataFrame:
    """A DataFrame of ``rows`` typed by the strategy's input schema."""
    schema = {f.name: _DTYPES[f.type] for f in strategy.plan.fields}
    return pl.DataFrame([dict(r) for r in rows], schema=schema, orient="row", strict=False)


def _same(a: Any, b: Any) -> bool:
    if isinstance(a, float) and isinstance(b, float):
        if math.isnan(a) or math.isnan(b):
            return math.isnan(a) and math.isnan(b)
        return a == b and math.copysign(1.0, a) == math.copysign(1.0, b)
    if isinstance(a, list) and isinstance(b, list):
        return len(a) == len(b) and all(_same(x, y) for x, y in zip(a, b, strict=True))
    if type(a) is not type(b) and not (isinstance(a, int | float) and isinstance(b, int | float)):
        return False
    return bool(a == b)


def assert_rows_equal(online: Mapping[str, Any], batch: Mapping[str, Any], *, context: str = "") -> None:
    """Assert two decision rows are identical, column by column (floats to the bit).

    Raises
    ------
    AssertionError
        Naming every column that differs.
    """
    diffs = {k: (online[k], batch.get(k)) for k in online if not _same(online[k], batch.get(k))}
    if diffs:
        lines = "\n".join(f"  {k}: online={a!r} batch={b!r}" for k, (a, b) in diffs.items())
        msg = f"online and batch differ{(' for ' + context) if context else ''}:\n{lines}"
        raise AssertionError(msg)
