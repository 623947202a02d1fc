"""Batch backend: typed expression trees to Polars expressions (same null semantics as
:mod:`fengkong.expr._pygen`)."""

from __future__ import annotations

from collections.abc import Callable

import polars as pl

from fengkong.expr import ast as t
from fengkong.expr.functions import FUNCTIONS, plus_zero

DTYPES: dict[str, pl.DataType] = {
    "int": pl.Int64(), "float": pl.Float64(), "bool": pl.Boolean(), "str": pl.String(),
    "date": pl.Date(), "null": pl.Null(),
}

Resolver = Callable[[str], pl.Expr]


def pl_expr(node: t.Node, resolve: Resolver) -> pl.Expr:
    """A Polars expression for ``node``; ``resolve`` maps a name to its column expression."""
    if isinstance(node, t.Lit):
        return pl.lit(node.value, dtype=DTYPES[node.info.type])
    if isinstance(node, t.Name):
        return resolve(node.name)
    if isinstance(node, t.ToFloat):
        return pl_expr(node.operand, resolve).cast(pl.Float64)
    if isinstance(node, t.Unary):
        inner = pl_expr(node.operand, resolve)
        return -inner if node.op == "neg" else ~inner
    if isinstance(node, t.Arith):
        a, b = pl_expr(node.left, resolve), pl_expr(node.right, resolve)
        if node.op == "+":
            out = a + b
        elif node.op == "-":
            out = a - b
        elif node.op == "*":
            out = a * b
        elif node.right.info.lo <= 0 <= node.right.info.hi:
            out = pl.when(b != 0).then(a / b)
        else:
            out = a / b
        return _finite(node, out)
    if isinstance(node, t.Compare):
        a, b = pl_expr(node.left, resolve), pl_expr(node.right, resolve)
        ops: dict[str, Callable[[pl.Expr, pl.Expr], pl.Expr]] = {
            "<": pl.Expr.lt, "<=": pl.Expr.le, ">": pl.Expr.gt, ">=": pl.Expr.ge,
            "==": pl.Expr.eq, "!=": pl.Expr.ne}
        return ops[node.op](a, b)
    if isinstance(node, t.BoolOp):
        exprs = [pl_expr(v, resolve) for v in node.values]
        out = exprs[0]
        for e in exprs[1:]:
            out = (out & e) if node.op == "and" else (out | e)
        return out
    if isinstance(node, t.In):
        x = pl_expr(node.operand, resolve)
        values = pl.lit(pl.Series(list(node.values), dtype=DTYPES[node.operand.info.type])).implode()
        hit = pl.when(x.is_not_null()).then(x.is_in(values))
        return ~hit if node.negate else hit
    if isinstance(node, t.IfElse):
        dtype = DTYPES[node.info.type]
        return (pl.when(pl_expr(node.cond, resolve))
                .then(pl_expr(node.then, resolve).cast(dtype))
                .otherwise(pl_expr(node.orelse, resolve).cast(dtype)))
    if isinstance(node, t.Call):
        fn = FUNCTIONS[node.func]
        out = fn.pl([pl_expr(a, resolve) for a in node.args])
        if fn.signed_zero and node.info.lo <= 0 <= node.info.hi:
            out = plus_zero(out)
        if node.info.type != "null":
            out = out.cast(DTYPES[node.info.type])
        return out
    msg = f"Cannot compile node {type(node).__name__}."
    raise TypeError(msg)


def _finite(node: t.Node, expr: pl.Expr) -> pl.Expr:
    if node.info.type != "float" or (abs(node.info.lo) < 1e300 and abs(node.info.hi) < 1e300):
        return expr
    return pl.when(expr.is_finite()).then(expr)
