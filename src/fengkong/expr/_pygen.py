"""Online backend: typed expression trees to Python source, compiled once with the plan.

Null semantics (the same in the batch backend, :mod:`fengkong.expr._polars`):

* arithmetic, comparisons, ``not``, ``in`` and strict functions are null when an
  operand is null; ``a / 0`` is null; a float result that is not finite is null;
* ``and`` / ``or`` are three-valued (Kleene): ``null and false`` is false,
  ``null or true`` is true, otherwise null wins;
* ``a if c else b`` takes ``b`` when ``c`` is null; a rule fires only when its
  condition is true.
"""

from __future__ import annotations

import itertools
from collections.abc import Callable
from dataclasses import dataclass, field

from fengkong.expr import ast as t
from fengkong.expr.functions import FUNCTIONS


@dataclass
class PyContext:
    """Names visible to generated code, and constants it needs from the namespace."""

    names: dict[str, str]
    consts: dict[str, object] = field(default_factory=dict)
    _counter: itertools.count[int] = field(default_factory=itertools.count)

    def tmp(self) -> str:
        """A fresh local variable name."""
        return f"_t{next(self._counter)}"

    def const(self, value: object) -> str:
        """A namespace name bound to ``value`` (sets for ``in``)."""
        name = f"_K{len(self.consts)}"
        self.consts[name] = value
        return name


def _bind(ctx: PyContext, code: str) -> tuple[str, str]:
    """A name for the value of ``code``, and code that evaluates it once and binds the name."""
    if code.isidentifier():
        return code, code
    tmp = ctx.tmp()
    return tmp, f"({tmp} := {code})"


def _guard(ctx: PyContext, parts: list[tuple[str, bool]], body: Callable[[list[str]], str]) -> str:
    """Evaluate ``parts`` once each; null if a nullable one is null, else ``body(refs)``."""
    refs: list[str] = []
    checks: list[str] = []
    for code, nullable in parts:
        if not nullable:
            refs.append(code)
            continue
        ref, first = _bind(ctx, code)
        refs.append(ref)
        checks.append(f"{first} is None")
    if not checks:
        return body(refs)
    return f"(None if {' or '.join(checks)} else {body(refs)})"


def py_expr(node: t.Node, ctx: PyContext) -> str:
    """Python source for ``node``; evaluates to the value or ``None``."""
    if isinstance(node, t.Lit):
        return repr(node.value)
    if isinstance(node, t.Name):
        return ctx.names[node.name]
    if isinstance(node, t.ToFloat):
        return _guard(ctx, [(py_expr(node.operand, ctx), node.operand.info.nullable)],
                      lambda r: f"float({r[0]})")
    if isinstance(node, t.Unary):
        op = "-" if node.op == "neg" else "not "
        return _guard(ctx, [(py_expr(node.operand, ctx), node.operand.info.nullable)],
                      lambda r: f"({op}{r[0]})")
    if isinstance(node, t.Arith):
        return _arith(node, ctx)
    if isinstance(node, t.Compare):
        return _guard(ctx, [(py_expr(node.left, ctx), node.left.info.nullable),
                            (py_expr(node.right, ctx), node.right.info.nullable)],
                      lambda r: f"({r[0]} {node.op} {r[1]})")
    if isinstance(node, t.BoolOp):
        return _boolop(node, ctx)
    if isinstance(node, t.In):
        values = ctx.const(frozenset(node.values))
        op = "not in" if node.negate else "in"
        return _guard(ctx, [(py_expr(node.operand, ctx), node.operand.info.nullable)],
                      lambda r: f"({r[0]} {op} {values})")
    if isinstance(node, t.IfElse):
        cond = py_expr(node.cond, ctx)
        test = f"({cond}) is True" if node.cond.info.nullable else cond
        return f"({py_expr(node.then, ctx)} if {test} else {py_expr(node.orelse, ctx)})"
    if isinstance(node, t.Call):
        return _call(node, ctx)
    msg = f"Cannot compile node {type(node).__name__}."
    raise TypeError(msg)


def _arith(node: t.Arith, ctx: PyContext) -> str:
    left, right = py_expr(node.left, ctx), py_expr(node.right, ctx)
    if node.op != "/":
        parts = [(left, node.left.info.nullable), (right, node.right.info.nullable)]
        return _finite(node, _guard(ctx, parts, lambda r: f"({r[0]} {node.op} {r[1]})"))
    # Division: null when either side is null or the divisor is zero; the checks are
    # left out where the static range proves them unnecessary.
    tests = (["is None"] if node.right.info.nullable else []) + (
        ["== 0"] if node.right.info.lo <= 0 <= node.right.info.hi else [])
    divisor, first = _bind(ctx, right) if tests else (right, right)
    conds = [f"{first if k == 0 else divisor} {test}" for k, test in enumerate(tests)]
    dividend = left
    if node.left.info.nullable:
        dividend, bound = _bind(ctx, left)
        conds.append(f"{bound} is None")
    if not conds:
        return _finite(node, f"({dividend} / {divisor})")
    return _finite(node, f"(None if {' or '.join(conds)} else {dividend} / {divisor})")


def _finite(node: t.Node, code: str) -> str:
    """Null out infinities where the static range says one may occur."""
    if node.info.type != "float" or (abs(node.info.lo) < 1e300 and abs(node.info.hi) < 1e300):
        return code
    return f"_finite({code})"


def _boolop(node: t.BoolOp, ctx: PyContext) -> str:
    codes = [py_expr(v, ctx) for v in node.values]
    if not node.info.nullable:
        return "(" + f" {node.op} ".join(codes) + ")"
    stop, other = ("False", "True") if node.op == "and" else ("True", "False")
    refs: list[str] = []
    firsts: list[str] = []
    for code in codes:
        ref, first = _bind(ctx, code)
        refs.append(ref)
        firsts.append(f"{first} is {stop}")
    nulls = " or ".join(f"{r} is None" for r in refs)
    return f"({stop} if {' or '.join(firsts)} else (None if {nulls} else {other}))"


def _call(node: t.Call, ctx: PyContext) -> str:
    code = _call_raw(node, ctx)
    if FUNCTIONS[node.func].signed_zero and node.info.lo <= 0 <= node.info.hi:
        # -0.0 + 0 is 0.0 (see functions.py)
        return f"_plus0({code})" if node.info.nullable else f"({code} + 0)"
    return code


def _call_raw(node: t.Call, ctx: PyContext) -> str:
    fn = FUNCTIONS[node.func]
    if node.func == "coalesce":
        code = py_expr(node.args[-1], ctx)
        for arg in reversed(node.args[:-1]):
            inner = py_expr(arg, ctx)
            if not arg.info.nullable:
                code = inner
                continue
            tmp = ctx.tmp()
            code = f"({tmp} if ({tmp} := {inner}) is not None else {code})"
        return code
    if node.func in ("min", "max") and not any(a.info.nullable for a in node.args):
        return f"{node.func}({', '.join(py_expr(a, ctx) for a in node.args)})"
    if not fn.strict:
        return fn.py([py_expr(a, ctx) for a in node.args])
    return _guard(ctx, [(py_expr(a, ctx), a.info.nullable) for a in node.args], fn.py)
