"""The whitelist of functions expressions may call, with signatures and both implementations.

Each function declares how it types its arguments, the Python code it becomes in the
online backend and the Polars expression it becomes in the batch backend. A
*strict* function returns null when any argument is null; the backends add that
guard, so the implementations below see non-null arguments only.
"""

from __future__ import annotations

import math
import string
from collections.abc import Callable, Sequence
from dataclasses import dataclass

import polars as pl

from fengkong.expr import ast as t
from fengkong.expr.ast import NUMERIC, Info

Typed = tuple[Info, list[t.Node]]
Typer = Callable[[list[t.Node]], "Typed | str"]


@dataclass(frozen=True, slots=True)
class Function:
    """One whitelisted function."""

    name: str
    min_args: int
    max_args: int
    typer: Typer
    py: Callable[[list[str]], str]
    pl: Callable[[list[pl.Expr]], pl.Expr]
    strict: bool = True
    doc: str = ""
    # May give -0.0 in one backend and 0.0 in the other: the backends then make a zero +0.0
    # (only where the result's static range contains zero).
    signed_zero: bool = False


def unify(infos: Sequence[Info]) -> Info | None:
    """The common type of several values (int and float unify to float; null to anything)."""
    types = {i.type for i in infos} - {"null"}
    nullable = any(i.nullable for i in infos)
    lo = min((i.lo for i in infos if i.type != "null"), default=-math.inf)
    hi = max((i.hi for i in infos if i.type != "null"), default=math.inf)
    if not types:
        return Info("null", True)
    if types <= NUMERIC:
        return Info("float" if "float" in types else "int", nullable, lo, hi)
    if len(types) == 1:
        (only,) = types
        values = None
        if only == "str" and all(i.values is not None for i in infos if i.type == "str"):
            values = tuple(sorted({v for i in infos for v in (i.values or ())}))
        return Info(only, nullable, values=values)
    return None


def _widen_all(args: list[t.Node], info: Info) -> list[t.Node]:
    from fengkong.expr._check import widen

    return [widen(a) for a in args] if info.type == "float" else args


def _numeric(*, keep_int: bool, bounds: Callable[[Info], tuple[float, float]] | None = None) -> Typer:
    def typer(args: list[t.Node]) -> Typed | str:
        (a,) = args[:1]
        if a.info.type not in NUMERIC:
            return f"needs a number; got {a.info.type}."
        kind = a.info.type if keep_int else "float"
        lo, hi = bounds(a.info) if bounds else (-math.inf, math.inf)
        return Info(kind, a.info.nullable, lo, hi), _widen_all(args, Info(kind, False))

    return typer


def _nullable_numeric(bounds: Callable[[Info], tuple[float, float]]) -> Typer:
    """A float function that may return null inside its domain (log of 0, exp overflow)."""
    def typer(args: list[t.Node]) -> Typed | str:
        a = args[0]
        if a.info.type not in NUMERIC:
            return f"needs a number; got {a.info.type}."
        lo, hi = bounds(a.info)
        return Info("float", True, lo, hi), _widen_all(args, Info("float", False))

    return typer


def _minmax(args: list[t.Node]) -> Typed | str:
    if any(a.info.type not in NUMERIC for a in args):
        return "needs numbers."
    info = unify([a.info for a in args])
    assert info is not None
    nullable = all(a.info.nullable for a in args)
    return Info(info.type, nullable, info.lo, info.hi), _widen_all(args, info)


def _min_bounds(args: list[t.Node]) -> Typed | str:
    r = _minmax(args)
    if isinstance(r, str):
        return r
    info, xs = r
    req = [a.info for a in args if not a.info.nullable] or [a.info for a in args]
    lo = min(a.info.lo for a in args)
    hi = min(i.hi for i in req) if len(req) == len(args) else max(a.info.hi for a in args)
    return Info(info.type, info.nullable, lo, hi), xs


def _max_bounds(args: list[t.Node]) -> Typed | str:
    r = _minmax(args)
    if isinstance(r, str):
        return r
    info, xs = r
    hi = max(a.info.hi for a in args)
    lo = max(a.info.lo for a in args) if not any(a.info.nullable for a in args) else min(
        a.info.lo for a in args)
    return Info(info.type, info.nullable, lo, hi), xs


def _coalesce(args: list[t.Node]) -> Typed | str:
    info = unify([a.info for a in args])
    if info is None:
        return "arguments have incompatible types: " + ", ".join(a.info.type for a in args) + "."
    nullable = all(a.info.nullable for a in args)
    return Info(info.type, nullable, info.lo, info.hi, info.values), _widen_all(args, info)




def _clip(args: list[t.Node]) -> Typed | str:
    if any(a.info.type not in NUMERIC for a in args):
        return "needs numbers."
    if not all(isinstance(b, t.Lit) for b in args[1:]):
        return "the bounds must be number literals."
    lo, hi = (float(b.value) for b in args[1:])  # type: ignore[attr-defined]
    if lo > hi:
        return "the lower bound is above the upper bound."
    info = unify([a.info for a in args])
    assert info is not None
    a = args[0].info
    return (Info(info.type, a.nullable, max(lo, min(a.lo, hi)), min(hi, max(a.hi, lo))),
            _widen_all(args, info))


def _string(result: str, n: int) -> Typer:
    def typer(args: list[t.Node]) -> Typed | str:
        if any(a.info.type != "str" for a in args[:n]):
            return "needs strings; got " + ", ".join(a.info.type for a in args) + "."
        return Info(result, any(a.info.nullable for a in args)), args  # type: ignore[arg-type]

    return typer


def _dates(n: int) -> Typer:
    def typer(args: list[t.Node]) -> Typed | str:
        if any(a.info.type != "date" for a in args):
            return "needs dates; got " + ", ".join(a.info.type for a in args) + "."
        # date.min to date.max
        return Info("int", any(a.info.nullable for a in args), -3_652_058, 3_652_058), args

    return typer


def _is_null(args: list[t.Node]) -> Typed | str:
    return Info("bool", False), args


def _len_typer(args: list[t.Node]) -> Typed | str:
    if args[0].info.type != "str":
        return f"needs a string; got {args[0].info.type}."
    return Info("int", args[0].info.nullable, 0, 1e9), args


def _pos(i: Info) -> tuple[float, float]:
    return (0.0, i.hi) if i.hi >= 0 else (0.0, math.inf)


def _abs_bounds(i: Info) -> tuple[float, float]:
    lo = 0.0 if i.lo <= 0 <= i.hi else min(abs(i.lo), abs(i.hi))
    return lo, max(abs(i.lo), abs(i.hi))


def _unbounded(i: Info) -> tuple[float, float]:
    return -math.inf, math.inf


def _ceil_floor_py(fn: str) -> Callable[[list[str]], str]:
    return lambda a: f"float(_{fn}({a[0]}))"


# Signed zeros: Python's min(0.0, -0.0) keeps the first argument, Polars may give -0.0,
# and math.floor(-0.0) is the int 0. Functions marked `signed_zero` give +0.0 for a zero
# in both backends: `+ 0` online (IEEE 754: -0.0 + 0 is 0.0), an explicit test in Polars,
# whose scalar-add kernels may treat `x + 0` as `x`.
def plus_zero(e: pl.Expr) -> pl.Expr:
    """``e`` with -0.0 replaced by 0.0."""
    return pl.when(e == 0).then(pl.lit(0.0)).otherwise(e)


_UPPER_ASCII = string.ascii_uppercase
_LOWER_ASCII = string.ascii_lowercase

_ALL: list[Function] = [
    Function("min", 2, 16, _min_bounds, lambda a: f"_nn_min({', '.join(a)})",
             lambda a: pl.min_horizontal(a), strict=False, signed_zero=True,
             doc="Smallest argument, ignoring nulls; null if all are null."),
    Function("max", 2, 16, _max_bounds, lambda a: f"_nn_max({', '.join(a)})",
             lambda a: pl.max_horizontal(a), strict=False, signed_zero=True,
             doc="Largest argument, ignoring nulls; null if all are null."),
    Function("coalesce", 2, 16, _coalesce, lambda a: "", lambda a: pl.coalesce(a), strict=False,
             doc="First non-null argument."),
    Function("is_null", 1, 1, _is_null, lambda a: f"({a[0]} is None)", lambda a: a[0].is_null(),
             strict=False, doc="Whether the argument is null."),
    Function("abs", 1, 1, _numeric(keep_int=True, bounds=_abs_bounds), lambda a: f"abs({a[0]})",
             lambda a: a[0].abs(), doc="Absolute value."),
    # Whole numbers only: rounding to decimals is not exact in binary floating point and
    # the two backends would disagree on ties; write round(x * 100) / 100 instead.
    Function("round", 1, 1, _numeric(keep_int=False, bounds=lambda i: (i.lo - 1, i.hi + 1)),
             lambda a: f"_round({a[0]})", lambda a: a[0].round(0, mode="half_to_even"), signed_zero=True,
             doc="Round half to even to a whole number (float)."),
    Function("floor", 1, 1, _numeric(keep_int=False, bounds=lambda i: (math.floor(i.lo) if math.isfinite(i.lo) else i.lo, i.hi)),
             _ceil_floor_py("floor"), lambda a: a[0].floor(), signed_zero=True, doc="Round down (float)."),
    Function("ceil", 1, 1, _numeric(keep_int=False, bounds=lambda i: (i.lo, math.ceil(i.hi) if math.isfinite(i.hi) else i.hi)),
             _ceil_floor_py("ceil"), lambda a: a[0].ceil(), signed_zero=True, doc="Round up (float)."),
    Function("clip", 3, 3, _clip, lambda a: f"min(max({a[0]}, {a[1]}), {a[2]})",
             lambda a: a[0].clip(a[1], a[2]), signed_zero=True, doc="Limit to [lo, hi]; bounds are literals."),
    Function("log", 1, 1, _nullable_numeric(_unbounded), lambda a: f"_log({a[0]})",
             lambda a: pl.when(a[0] > 0).then(a[0].log()), doc="Natural log; null for x <= 0."),
    Function("exp", 1, 1, _nullable_numeric(lambda i: (0.0, math.inf)), lambda a: f"_exp({a[0]})",
             lambda a: (lambda e: pl.when(e.is_finite()).then(e))(a[0].exp()),
             doc="Exponential; null on overflow."),
    Function("sqrt", 1, 1, _nullable_numeric(_pos), lambda a: f"_sqrt({a[0]})",
             lambda a: pl.when(a[0] >= 0).then(a[0].sqrt()), doc="Square root; null for x < 0."),
    Function("len", 1, 1, _len_typer, lambda a: f"len({a[0]})",
             lambda a: a[0].str.len_chars().cast(pl.Int64), doc="Length of a string in characters."),
    # ASCII letters only: full Unicode case mapping changes with the Unicode version of
    # Python and of Polars, and a decision must replay the same on any version.
    Function("lower", 1, 1, _string("str", 1), lambda a: f"{a[0]}.translate(_LOWER)",
             lambda a: a[0].str.replace_many(list(_UPPER_ASCII), list(_LOWER_ASCII)),
             doc="Lower-case ASCII letters A-Z; other characters are unchanged."),
    Function("upper", 1, 1, _string("str", 1), lambda a: f"{a[0]}.translate(_UPPER)",
             lambda a: a[0].str.replace_many(list(_LOWER_ASCII), list(_UPPER_ASCII)),
             doc="Upper-case ASCII letters a-z; other characters are unchanged."),
    Function("startswith", 2, 2, _string("bool", 2), lambda a: f"{a[0]}.startswith({a[1]})",
             lambda a: a[0].str.starts_with(a[1]), doc="Whether s starts with prefix."),
    Function("endswith", 2, 2, _string("bool", 2), lambda a: f"{a[0]}.endswith({a[1]})",
             lambda a: a[0].str.ends_with(a[1]), doc="Whether s ends with suffix."),
    Function("contains", 2, 2, _string("bool", 2), lambda a: f"({a[1]} in {a[0]})",
             lambda a: a[0].str.contains(a[1], literal=True), doc="Whether s contains a substring."),
    Function("days_between", 2, 2, _dates(2), lambda a: f"({a[1]} - {a[0]}).days",
             lambda a: (a[1] - a[0]).dt.total_days().cast(pl.Int64),
             doc="Whole days from the first date to the second."),
]

FUNCTIONS: dict[str, Function] = {f.name: f for f in _ALL}
