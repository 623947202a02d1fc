"""Helpers that generated online code calls; each mirrors one Polars construct exactly."""

from __future__ import annotations

import math
import string
from typing import Any


def nn_min(*args: Any) -> Any:
    """``min`` ignoring nulls; null when every argument is null (as ``pl.min_horizontal``)."""
    vals = [a for a in args if a is not None]
    return min(vals) if vals else None


def nn_max(*args: Any) -> Any:
    """``max`` ignoring nulls; null when every argument is null (as ``pl.max_horizontal``)."""
    vals = [a for a in args if a is not None]
    return max(vals) if vals else None


def finite(x: float | None) -> float | None:
    """Null for a non-finite float, so that NaN and infinity never travel further."""
    return x if x is not None and x - x == 0.0 else None


def safe_log(x: float) -> float | None:
    """Natural logarithm; null outside its domain."""
    return math.log(x) if x > 0 else None


def safe_exp(x: float) -> float | None:
    """Exponential; null when it overflows."""
    try:
        return math.exp(x)
    except OverflowError:
        return None


def safe_sqrt(x: float) -> float | None:
    """Square root; null for a negative argument."""
    return math.sqrt(x) if x >= 0 else None


def half_even(x: float) -> float:
    """Round half to even to a whole number, as the batch backend does."""
    return float(round(x))


def plus0(x: Any) -> Any:
    """``x + 0`` (which turns -0.0 into 0.0), null staying null."""
    return None if x is None else x + 0


NAMESPACE: dict[str, Any] = {
    "_plus0": plus0,
    "_nn_min": nn_min,
    "_nn_max": nn_max,
    "_finite": finite,
    "_log": safe_log,
    "_exp": safe_exp,
    "_sqrt": safe_sqrt,
    "_round": half_even,
    "_floor": math.floor,
    "_ceil": math.ceil,
    "_LOWER": str.maketrans(string.ascii_uppercase, string.ascii_lowercase),
    "_UPPER": str.maketrans(string.ascii_lowercase, string.ascii_uppercase),
}
