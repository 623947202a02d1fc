"""Unary tests: the cells of decision tables and the bins of scorecards.

A cell tests one value: ``-`` (anything, null included), ``null``, ``< 5``, ``>= 700``,
``[600..700)``, ``720`` (equals), ``'app','partner'`` (one of), ``true``. A null value
matches only ``-`` and ``null``.
"""

from __future__ import annotations

import itertools
import math
import re
from dataclasses import dataclass
from typing import Literal

import polars as pl

from fengkong.expr._polars import DTYPES

_RANGE = re.compile(r"^([\[(])\s*(\S+?)\s*\.\.\s*(\S+?)\s*([\])])$")
_CMP = re.compile(r"^(<=|>=|<|>|==|!=|=)\s*(.+)$")


class CellError(ValueError):
    """A cell cannot be read; the message says why."""


@dataclass(frozen=True, slots=True)
class Cell:
    """A parsed unary test."""

    kind: Literal["any", "null", "range", "set", "not_set"]
    lo: float = -math.inf
    hi: float = math.inf
    lo_closed: bool = False
    hi_closed: bool = False
    values: tuple[object, ...] = ()

    # -- online ------------------------------------------------------------------------
    def py(self, var: str, consts: dict[str, object], *, is_int: bool = False) -> str:
        """Python condition on ``var`` (already known not to be null unless kind is any/null).

        With ``is_int``, whole-number bounds are written as ints: CPython compares an int
        with an int faster than with a float, and the result is the same.
        """
        lit = _literal if is_int else repr
        if self.kind == "any":
            return "True"
        if self.kind == "null":
            return f"{var} is None"
        if self.kind in ("set", "not_set"):
            if len(self.values) == 1:
                op = "==" if self.kind == "set" else "!="
                return f"{var} {op} {self.values[0]!r}"
            name = f"_S{len(consts)}"
            consts[name] = frozenset(self.values)
            return f"{var} {'in' if self.kind == 'set' else 'not in'} {name}"
        parts = []
        if self.lo == self.hi and self.lo_closed and self.hi_closed:
            return f"{var} == {lit(self.lo)}"
        if self.lo != -math.inf:
            parts.append(f"{var} {'>=' if self.lo_closed else '>'} {lit(self.lo)}")
        if self.hi != math.inf:
            parts.append(f"{var} {'<=' if self.hi_closed else '<'} {lit(self.hi)}")
        return " and ".join(parts) or "True"

    # -- batch -------------------------------------------------------------------------
    def pl(self, x: pl.Expr, type_name: str) -> pl.Expr:
        """Polars condition on ``x``; null values give false except for ``-`` and ``null``."""
        if self.kind == "any":
            return pl.lit(value=True)
        if self.kind == "null":
            return x.is_null()
        if self.kind in ("set", "not_set"):
            values = pl.lit(pl.Series(list(self.values), dtype=DTYPES[type_name])).implode()
            hit = x.is_in(values)
            return (hit if self.kind == "set" else ~hit).fill_null(value=False)
        conds: list[pl.Expr] = []
        if self.lo != -math.inf:
            conds.append(x >= self.lo if self.lo_closed else x > self.lo)
        if self.hi != math.inf:
            conds.append(x <= self.hi if self.hi_closed else x < self.hi)
        if not conds:
            return x.is_not_null()
        out = conds[0]
        for c in conds[1:]:
            out = out & c
        return out.fill_null(value=False)

    # -- analysis ------------------------------------------------------------------------
    def covers(self, other: Cell) -> bool:
        """Whether every value ``other`` matches is matched by this cell too."""
        if self.kind == "any":
            return True
        if other.kind == "any":
            return False
        if self.kind == "null" or other.kind == "null":
            return self.kind == other.kind
        if self.kind == "range" and other.kind == "range":
            lo_ok = self.lo < other.lo or (self.lo == other.lo and (self.lo_closed or not other.lo_closed))
            hi_ok = self.hi > other.hi or (self.hi == other.hi and (self.hi_closed or not other.hi_closed))
            return lo_ok and hi_ok
        if self.kind == "set" and other.kind == "set":
            return set(other.values) <= set(self.values)
        if self.kind == "not_set" and other.kind == "set":
            return not set(other.values) & set(self.values)
        if self.kind == "range" and other.kind == "set":
            return all(isinstance(v, int | float) and self.contains(float(v)) for v in other.values)
        return False

    def overlaps(self, other: Cell) -> bool:
        """Whether some value matches both cells."""
        if "any" in (self.kind, other.kind):
            return True
        if "null" in (self.kind, other.kind):
            return self.kind == other.kind
        if self.kind == "range" and other.kind == "range":
            lo, lo_c = max((self.lo, not self.lo_closed), (other.lo, not other.lo_closed))
            hi, hi_c = min((self.hi, self.hi_closed), (other.hi, other.hi_closed))
            return lo < hi or (lo == hi and not lo_c and hi_c)
        if self.kind == "set" and other.kind == "set":
            return bool(set(self.values) & set(other.values))
        if {self.kind, other.kind} == {"range", "set"}:
            rng, st = (self, other) if self.kind == "range" else (other, self)
            return any(isinstance(v, int | float) and rng.contains(float(v)) for v in st.values)
        if "not_set" in (self.kind, other.kind):
            a, b = (self, other) if self.kind == "not_set" else (other, self)
            return not (b.kind == "set" and set(b.values) <= set(a.values))
        return True

    def contains(self, v: float) -> bool:
        """Whether a number matches a range cell."""
        lo_ok = v > self.lo or (self.lo_closed and v == self.lo)
        hi_ok = v < self.hi or (self.hi_closed and v == self.hi)
        return lo_ok and hi_ok


def _literal(value: object) -> str:
    """A bound as Python source, whole numbers as ints (exact, and fast against ints)."""
    if isinstance(value, float) and value.is_integer() and abs(value) <= 2**53:
        return repr(int(value))
    return repr(value)


def parse_cell(raw: object, type_name: str, values: tuple[str, ...] | None = None) -> Cell:
    """Read one cell for a column of type ``type_name`` (int, float, str, bool, date).

    Raises
    ------
    CellError
        If the text is not a unary test of that type.
    """
    if raw is None:
        return Cell("null")
    if isinstance(raw, bool):
        return _eq(raw, type_name)
    if isinstance(raw, int | float):
        return _eq(raw, type_name)
    if not isinstance(raw, str):
        msg = f"A cell must be text or a number; got {type(raw).__name__}."
        raise CellError(msg)
    text = raw.strip()
    if text in ("-", "", "*"):
        return Cell("any")
    if text == "null":
        return Cell("null")
    if type_name in ("int", "float"):
        return _numeric_cell(text, type_name)
    if type_name == "bool":
        if text.lower() in ("true", "false"):
            return Cell("set", values=(text.lower() == "true",))
        msg = f"`{text}` is not a bool test; write true, false, null or -."
        raise CellError(msg)
    if type_name == "str":
        negate = False
        if text.startswith("not(") and text.endswith(")"):
            negate, text = True, text[4:-1]
        items = _strings(text)
        if values is not None:
            for item in items:
                if item not in values:
                    msg = f"'{item}' is not one of the declared values {', '.join(map(repr, values))}."
                    raise CellError(msg)
        return Cell("not_set" if negate else "set", values=tuple(items))
    msg = f"Cells cannot test a {type_name} column."
    raise CellError(msg)


def _eq(value: object, type_name: str) -> Cell:
    if type_name in ("int", "float") and isinstance(value, int | float) and not isinstance(value, bool):
        v = float(value)
        return Cell("range", v, v, lo_closed=True, hi_closed=True)
    if type_name == "bool" and isinstance(value, bool):
        return Cell("set", values=(value,))
    msg = f"`{value}` does not fit a {type_name} column."
    raise CellError(msg)


def _number(text: str) -> float:
    try:
        v = float(text.replace("_", ""))
    except ValueError:
        msg = f"`{text}` is not a number."
        raise CellError(msg) from None
    if math.isnan(v):
        msg = "NaN is not a bound."
        raise CellError(msg)
    return v


def _numeric_cell(text: str, type_name: str) -> Cell:
    m = _RANGE.match(text)
    if m:
        lo, hi = _number(m.group(2)), _number(m.group(3))
        if lo > hi:
            msg = f"`{text}`: the lower bound is above the upper bound."
            raise CellError(msg)
        return Cell("range", lo, hi, lo_closed=m.group(1) == "[", hi_closed=m.group(4) == "]")
    m = _CMP.match(text)
    if m:
        op, v = m.group(1), _number(m.group(2))
        if op in ("==", "="):
            return Cell("range", v, v, lo_closed=True, hi_closed=True)
        if op == "!=":
            msg = f"`{text}`: use two rows or a range instead of !=."
            raise CellError(msg)
        return {"<": Cell("range", hi=v), "<=": Cell("range", hi=v, hi_closed=True),
                ">": Cell("range", lo=v), ">=": Cell("range", lo=v, lo_closed=True)}[op]
    try:
        return _eq(_number(text), type_name)
    except CellError:
        msg = (f"`{text}` is not a numeric test; write e.g. `< 600`, `[600..700)`, `720`, "
               "`null` or `-`.")
        raise CellError(msg) from None


def _strings(text: str) -> list[str]:
    items: list[str] = []
    for part in re.findall(r"""\s*('(?:[^'\\]|\\.)*'|"(?:[^"\\]|\\.)*")\s*(?:,|$)""", text):
        items.append(part.strip()[1:-1])
    rebuilt = ",".join(re.findall(r"""('(?:[^'\\]|\\.)*'|"(?:[^"\\]|\\.)*")""", text))
    if not items or rebuilt.replace(" ", "") != text.replace(" ", ""):
        msg = f"`{text}` is not a string test; quote the values: 'app','partner'."
        raise CellError(msg)
    return items


def chain_cells(bins: list[tuple[Cell, float]]) -> list[tuple[Cell, float]]:
    """Bins in the order to test them, each test as cheap as it can be.

    Scorecard bins are disjoint. When range bins are contiguous and sorted, each
    only needs its upper bound once the bins below it have been tried, which halves
    the comparisons; both backends test in this order, so they agree by construction.
    Null values must be handled before the chain.
    """
    if not bins or any(c.kind != "range" for c, _ in bins):
        return bins
    ordered = sorted(bins, key=lambda b: (b[0].lo, not b[0].lo_closed))
    out = [ordered[0]]
    for (prev, _), (cell, points) in itertools.pairwise(ordered):
        contiguous = cell.lo == prev.hi and cell.lo_closed != prev.hi_closed
        if contiguous and (out[-1][0].lo == -math.inf):
            cell = Cell("range", -math.inf, cell.hi, lo_closed=False, hi_closed=cell.hi_closed)
        out.append((cell, points))
    return out
