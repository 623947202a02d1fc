"""Parse an expression and type-check it against declared names, in one pass.

Python's own parser reads the source (so the syntax is exactly Python's); only a
small whitelist of node kinds is accepted, every name must be declared and every
call must name a whitelisted function. The result is a typed tree
(:mod:`fengkong.expr.ast`) that both backends compile.
"""

from __future__ import annotations

import ast as pyast
import difflib
import math
import warnings
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any, cast

from fengkong.expr import ast as t
from fengkong.expr.ast import NUMERIC, SAFE_INT, Info
from fengkong.expr.functions import FUNCTIONS, unify

MAX_SOURCE_CHARS = 4000
MAX_NODES = 400
MAX_DEPTH = 24
MAX_IN_VALUES = 1000


@dataclass(frozen=True, slots=True)
class ExprProblem:
    """A problem found in an expression, with 0-based character offsets into the source."""

    code: str
    message: str
    start: int = 0
    end: int = 0


class ExprError(Exception):
    """Raised by :func:`check_expression`; carries one :class:`ExprProblem`."""

    def __init__(self, problem: ExprProblem) -> None:
        self.problem = problem
        super().__init__(problem.message)


_CMP = {pyast.Lt: "<", pyast.LtE: "<=", pyast.Gt: ">", pyast.GtE: ">=", pyast.Eq: "==",
        pyast.NotEq: "!="}
_ARITH = {pyast.Add: "+", pyast.Sub: "-", pyast.Mult: "*", pyast.Div: "/"}
_CONST_NAMES: dict[str, object] = {"null": None, "None": None, "true": True, "True": True,
                                   "false": False, "False": False}

_FORBIDDEN = {
    pyast.Lambda: "lambdas are not allowed",
    pyast.ListComp: "comprehensions are not allowed",
    pyast.SetComp: "comprehensions are not allowed",
    pyast.DictComp: "comprehensions are not allowed",
    pyast.GeneratorExp: "comprehensions are not allowed",
    pyast.NamedExpr: "assignments are not allowed",
    pyast.Subscript: "indexing is not allowed",
    pyast.Await: "`await` is not allowed",
    pyast.Starred: "unpacking is not allowed",
    pyast.JoinedStr: "f-strings are not allowed",
    pyast.Dict: "dict literals are not allowed",
}


def suggest(name: str, candidates: list[str]) -> str:
    """Return ``" Did you mean `x`?"`` for the closest candidate, or ``""``."""
    close = difflib.get_close_matches(name, candidates, n=1, cutoff=0.6)
    return f" Did you mean `{close[0]}`?" if close else ""


def check_expression(source: str, env: Mapping[str, Info]) -> t.Node:
    """Parse and type-check ``source`` against the names in ``env``.

    Parameters
    ----------
    source
        The expression text, e.g. ``"applicant.age >= 18 and dti < 0.45"``.
    env
        Every name the expression may read, with its static :class:`Info`.

    Returns
    -------
    Node
        The typed tree.

    Raises
    ------
    ExprError
        With a stable code, a message and the character span of the problem.
    """
    if len(source) > MAX_SOURCE_CHARS:
        raise ExprError(ExprProblem("expr-too-long",
                                    f"Expression is longer than {MAX_SOURCE_CHARS} characters."))
    _check_nesting(source)
    text = source.strip()
    lead = len(source) - len(source.lstrip())
    if not text:
        raise ExprError(ExprProblem("expr-empty", "Expression is empty."))
    # Line breaks become spaces (same length, so offsets still point into the source);
    # parser warnings are silenced so that the result never depends on warning filters.
    flat = text.replace("\r", " ").replace("\n", " ")
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            tree = pyast.parse(flat, mode="eval")
    except SyntaxError as exc:
        col = (exc.offset or 1) - 1 + lead  # a character offset for str input
        msg = (exc.msg or "invalid syntax").rstrip(".")
        if "too many nested" in msg:
            raise ExprError(ExprProblem("expr-too-deep", f"Expression nests deeper than {MAX_DEPTH} levels.",
                                        col, col + 1)) from None
        end = "" if msg.endswith("?") else "."
        raise ExprError(ExprProblem("expr-syntax", f"Syntax error: {msg}{end}", col, col + 1)) from None
    except (RecursionError, MemoryError, ValueError) as exc:
        raise ExprError(ExprProblem("expr-too-deep", f"Expression cannot be parsed: {exc}.")) from None
    # Literal values of `in` lists are bounded by MAX_IN_VALUES instead.
    count = sum(1 for n in pyast.walk(tree)) - sum(
        len(n.elts) for n in pyast.walk(tree) if isinstance(n, pyast.Tuple | pyast.List | pyast.Set))
    if count > MAX_NODES:
        raise ExprError(ExprProblem("expr-too-large",
                                    f"Expression has {count} nodes; at most {MAX_NODES} are allowed."))
    return _Checker(text, lead, env).visit(tree.body, 0)


def _check_nesting(source: str) -> None:
    """Refuse brackets nested deeper than MAX_DEPTH (outside string literals) before parsing."""
    depth = 0
    quote = ""
    escaped = False
    for i, ch in enumerate(source):
        if quote:
            if escaped:
                escaped = False
            elif ch == "\\":
                escaped = True
            elif ch == quote:
                quote = ""
            continue
        if ch in "'\"":
            quote = ch
        elif ch in "([{":
            depth += 1
            if depth > MAX_DEPTH:
                raise ExprError(ExprProblem("expr-too-deep",
                                            f"Expression nests deeper than {MAX_DEPTH} levels.", i, i + 1))
        elif ch in ")]}":
            depth -= 1


def _char_offset(text: str, byte_col: int | None) -> int:
    """Convert a 1-based UTF-8 byte column from ``ast`` into a 0-based character offset."""
    if not byte_col:
        return 0
    raw = text.encode()[: byte_col - 1]
    return len(raw.decode(errors="ignore"))


class _Checker:
    def __init__(self, text: str, lead: int, env: Mapping[str, Info]) -> None:
        self.text = text
        self.lead = lead
        self.env = env

    # -- helpers -------------------------------------------------------------------------
    def span(self, node: pyast.AST) -> tuple[int, int]:
        start = _char_offset(self.text, getattr(node, "col_offset", 0) + 1) + self.lead
        end_col = getattr(node, "end_col_offset", None)
        end = _char_offset(self.text, end_col + 1) + self.lead if end_col is not None else start + 1
        return start, max(end, start + 1)

    def fail(self, node: pyast.AST, code: str, message: str) -> ExprError:
        s, e = self.span(node)
        return ExprError(ExprProblem(code, message, s, e))

    def source_of(self, node: pyast.AST) -> str:
        s, e = self.span(node)
        return self.text[s - self.lead: e - self.lead]

    # -- dispatch ------------------------------------------------------------------------
    def visit(self, node: pyast.AST, depth: int) -> t.Node:
        if depth > MAX_DEPTH:
            raise self.fail(node, "expr-too-deep", f"Expression nests deeper than {MAX_DEPTH} levels.")
        for kind, why in _FORBIDDEN.items():
            if isinstance(node, kind):
                raise self.fail(node, "expr-forbidden", f"{why.capitalize()} in expressions.")
        method = getattr(self, "visit_" + type(node).__name__, None)
        if method is None:
            raise self.fail(node, "expr-forbidden",
                            f"`{self.source_of(node)}` is not allowed in expressions.")
        return cast(Callable[[Any, int], t.Node], method)(node, depth + 1)

    def visit_Constant(self, node: pyast.Constant, depth: int) -> t.Node:
        s, e = self.span(node)
        v = node.value
        if v is None:
            return t.Lit(Info("null", True), s, e, None)
        if isinstance(v, bool):
            return t.Lit(Info("bool", False), s, e, v)
        if isinstance(v, int):
            if abs(v) > SAFE_INT:
                raise self.fail(node, "expr-literal-range",
                                "Integer literal is outside ±2**53, where integers stop being exact "
                                "in float64.")
            return t.Lit(Info("int", False, v, v), s, e, v)
        if isinstance(v, float):
            if not math.isfinite(v):
                raise self.fail(node, "expr-literal-range", "Number literal must be finite.")
            return t.Lit(Info("float", False, v, v), s, e, v)
        if isinstance(v, str):
            return t.Lit(Info("str", False), s, e, v)
        raise self.fail(node, "expr-forbidden", f"Literal of type {type(v).__name__} is not allowed.")

    def dotted(self, node: pyast.AST) -> str | None:
        if isinstance(node, pyast.Name):
            return node.id
        if isinstance(node, pyast.Attribute):
            base = self.dotted(node.value)
            return None if base is None else f"{base}.{node.attr}"
        return None

    def visit_Name(self, node: pyast.Name, depth: int) -> t.Node:
        return self.lookup(node)

    def visit_Attribute(self, node: pyast.Attribute, depth: int) -> t.Node:
        return self.lookup(node)

    def lookup(self, node: pyast.Name | pyast.Attribute) -> t.Node:
        name = self.dotted(node)
        if name is None:
            raise self.fail(node, "expr-forbidden", "Attribute access is only allowed on declared fields.")
        if any(part.startswith("_") for part in name.split(".")):
            raise self.fail(node, "expr-forbidden",
                            f"`{name}`: names starting with an underscore are not allowed.")
        s, e = self.span(node)
        if name in self.env:
            return t.Name(self.env[name], s, e, name)
        if name in _CONST_NAMES:
            value = _CONST_NAMES[name]
            return t.Lit(Info("null", True) if value is None else Info("bool", False), s, e, value)
        raise self.fail(node, "unknown-field", f"Unknown name `{name}`.{suggest(name, list(self.env))}")

    def visit_UnaryOp(self, node: pyast.UnaryOp, depth: int) -> t.Node:
        operand = self.visit(node.operand, depth)
        s, e = self.span(node)
        i = operand.info
        if isinstance(node.op, pyast.Not):
            self.expect(node.operand, operand, {"bool"}, "`not` needs a bool")
            return t.Unary(Info("bool", i.nullable), s, e, "not", operand)
        if isinstance(node.op, pyast.USub | pyast.UAdd):
            self.expect(node.operand, operand, NUMERIC, "A sign needs a number")
            if isinstance(node.op, pyast.UAdd):
                return operand
            if isinstance(operand, t.Lit) and isinstance(operand.value, int | float):
                v = -operand.value
                return t.Lit(Info(i.type, False, v, v), s, e, v)
            return t.Unary(Info(i.type, i.nullable, -i.hi, -i.lo), s, e, "neg", operand)
        raise self.fail(node, "expr-forbidden", "Bitwise operators are not allowed.")

    def expect(self, src: pyast.AST, node: t.Node, types: set[str] | frozenset[str], what: str) -> None:
        if node.info.type not in types:
            raise self.fail(src, "type-mismatch",
                            f"{what}; `{self.source_of(src)}` is {node.info.type}.")

    def visit_BinOp(self, node: pyast.BinOp, depth: int) -> t.Node:
        op: Any = _ARITH.get(type(node.op))
        if op is None:
            sym = {pyast.Pow: "**", pyast.FloorDiv: "//", pyast.Mod: "%", pyast.BitAnd: "&",
                   pyast.BitOr: "|", pyast.BitXor: "^", pyast.LShift: "<<", pyast.RShift: ">>",
                   pyast.MatMult: "@"}.get(type(node.op), "this operator")
            hint = {"**": " Use exp/log.", "//": " Use floor(a / b).", "&": " Use `and`.",
                    "|": " Use `or`."}.get(sym, "")
            raise self.fail(node, "expr-forbidden", f"`{sym}` is not allowed in expressions.{hint}")
        left = self.visit(node.left, depth)
        right = self.visit(node.right, depth)
        s, e = self.span(node)
        li, ri = left.info, right.info
        nullable = li.nullable or ri.nullable
        if op == "+" and li.type == "str" and ri.type == "str":
            return t.Arith(Info("str", nullable), s, e, "+", left, right)
        self.expect(node.left, left, NUMERIC, f"`{op}` needs numbers")
        self.expect(node.right, right, NUMERIC, f"`{op}` needs numbers")
        lo, hi = _interval(op, li, ri)
        if op == "/":
            nullable = True if ri.lo <= 0 <= ri.hi else nullable
        if li.type == "int" and ri.type == "int" and op != "/" and lo >= -SAFE_INT and hi <= SAFE_INT:
            return t.Arith(Info("int", nullable, lo, hi), s, e, op, left, right)
        left, right = widen(left), widen(right)
        may_overflow = not (abs(lo) < 1e300 and abs(hi) < 1e300)
        return t.Arith(Info("float", nullable or may_overflow, lo, hi), s, e, op, left, right)

    def visit_BoolOp(self, node: pyast.BoolOp, depth: int) -> t.Node:
        values = tuple(self.visit(v, depth) for v in node.values)
        for src, v in zip(node.values, values, strict=True):
            self.expect(src, v, {"bool"}, "`and`/`or` need bools")
        s, e = self.span(node)
        op: Any = "and" if isinstance(node.op, pyast.And) else "or"
        return t.BoolOp(Info("bool", any(v.info.nullable for v in values)), s, e, op, values)

    def visit_Compare(self, node: pyast.Compare, depth: int) -> t.Node:
        s, e = self.span(node)
        left_src: pyast.AST = node.left
        left = self.visit(node.left, depth)
        parts: list[t.Node] = []
        for op, right_src in zip(node.ops, node.comparators, strict=True):
            if isinstance(op, pyast.In | pyast.NotIn):
                parts.append(self.membership(left_src, left, right_src, negate=isinstance(op, pyast.NotIn)))
                left_src, left = right_src, left  # `x in (..) < y` is nonsense; caught below
                continue
            if isinstance(op, pyast.Is | pyast.IsNot):
                raise self.fail(node, "expr-forbidden", "`is` is not allowed; use is_null(x).")
            right = self.visit(right_src, depth)
            parts.append(self.compare(node, _CMP[type(op)], left_src, left, right_src, right))
            left_src, left = right_src, right
        if len(parts) == 1:
            return parts[0]
        return t.BoolOp(Info("bool", any(p.info.nullable for p in parts)), s, e, "and", tuple(parts))

    def compare(self, node: pyast.AST, op: str, lsrc: pyast.AST, left: t.Node, rsrc: pyast.AST,
                right: t.Node) -> t.Node:
        li, ri = left.info, right.info
        if "null" in (li.type, ri.type):
            raise self.fail(node, "type-mismatch",
                            "Comparing with null is always null; use is_null(x) instead.")
        ok = (li.type in NUMERIC and ri.type in NUMERIC) or li.type == ri.type
        if not ok:
            raise self.fail(node, "type-mismatch",
                            f"Cannot compare {li.type} `{self.source_of(lsrc)}` with {ri.type} "
                            f"`{self.source_of(rsrc)}`.")
        if li.type == "bool" and op not in ("==", "!="):
            raise self.fail(node, "type-mismatch", "Bools can only be compared with == and !=.")
        for a, b, bsrc in ((left, right, rsrc), (right, left, lsrc)):
            self.check_enum_literal(a, b, bsrc)
        if li.type != ri.type:
            left, right = widen(left), widen(right)
        s, e = self.span(node)
        return t.Compare(Info("bool", li.nullable or ri.nullable), s, e,
                         cast(Any, op), left, right)

    def check_enum_literal(self, field: t.Node, lit: t.Node, src: pyast.AST) -> None:
        values = field.info.values
        if values is None or not isinstance(lit, t.Lit) or not isinstance(lit.value, str):
            return
        if lit.value not in values:
            raise self.fail(src, "enum-value-unknown",
                            f"'{lit.value}' is not one of the declared values "
                            f"{', '.join(map(repr, values))}.{suggest(lit.value, list(values))}")

    def membership(self, lsrc: pyast.AST, left: t.Node, rsrc: pyast.AST, *, negate: bool) -> t.Node:
        if not isinstance(rsrc, pyast.Tuple | pyast.List | pyast.Set):
            raise self.fail(rsrc, "expr-forbidden", "`in` needs a literal list such as ('a', 'b').")
        if len(rsrc.elts) > MAX_IN_VALUES:
            raise self.fail(rsrc, "expr-too-large", f"`in` lists are limited to {MAX_IN_VALUES} values.")
        values: list[object] = []
        for elt in rsrc.elts:
            item = self.visit(elt, 0)
            if not isinstance(item, t.Lit) or item.value is None:
                raise self.fail(elt, "expr-forbidden", "`in` lists may hold only non-null literals.")
            ok = (item.info.type in NUMERIC and left.info.type in NUMERIC) or item.info.type == left.info.type
            if not ok:
                raise self.fail(elt, "type-mismatch",
                                f"`{self.source_of(elt)}` is {item.info.type} but "
                                f"`{self.source_of(lsrc)}` is {left.info.type}.")
            self.check_enum_literal(left, item, elt)
            values.append(float(item.value) if left.info.type == "float" else item.value)  # type: ignore[arg-type]
        if left.info.type == "int" and any(isinstance(v, float) for v in values):
            left = widen(left)
            values = [float(v) for v in values]  # type: ignore[arg-type]
        s = min(self.span(lsrc)[0], self.span(rsrc)[0])
        e = max(self.span(lsrc)[1], self.span(rsrc)[1])
        return t.In(Info("bool", left.info.nullable), s, e, left, tuple(values), negate)

    def visit_IfExp(self, node: pyast.IfExp, depth: int) -> t.Node:
        cond = self.visit(node.test, depth)
        self.expect(node.test, cond, {"bool"}, "The condition of `if` needs a bool")
        then = self.visit(node.body, depth)
        orelse = self.visit(node.orelse, depth)
        info, (then, orelse) = self.unify_nodes(node, [then, orelse])
        s, e = self.span(node)
        return t.IfElse(info, s, e, cond, then, orelse)

    def unify_nodes(self, node: pyast.AST, nodes: list[t.Node]) -> tuple[Info, list[t.Node]]:
        info = unify([n.info for n in nodes])
        if info is None:
            types = " and ".join(sorted({n.info.type for n in nodes}))
            raise self.fail(node, "type-mismatch", f"Branches have incompatible types: {types}.")
        if info.type == "float":
            nodes = [widen(n) for n in nodes]
        return info, nodes

    def visit_Call(self, node: pyast.Call, depth: int) -> t.Node:
        if node.keywords:
            raise self.fail(node, "expr-forbidden", "Keyword arguments are not allowed.")
        name = self.dotted(node.func)
        fn = FUNCTIONS.get(name or "")
        if fn is None:
            shown = name or self.source_of(node.func)
            raise self.fail(node.func, "unknown-function",
                            f"Unknown function `{shown}`.{suggest(shown, list(FUNCTIONS))}")
        args = [self.visit(a, depth) for a in node.args]
        if not fn.min_args <= len(args) <= fn.max_args:
            want = str(fn.min_args) if fn.min_args == fn.max_args else f"{fn.min_args} to {fn.max_args}"
            raise self.fail(node, "wrong-arity", f"`{fn.name}` takes {want} argument(s); got {len(args)}.")
        result = fn.typer(args)
        if isinstance(result, str):
            raise self.fail(node, "type-mismatch", f"`{fn.name}`: {result}")
        info, args = result
        s, e = self.span(node)
        return t.Call(info, s, e, fn.name, tuple(args))


def widen(node: t.Node) -> t.Node:
    """Wrap an int node so it is carried as float; other nodes are returned unchanged."""
    if node.info.type != "int":
        return node
    i = node.info
    if isinstance(node, t.Lit):
        v = float(cast(int, node.value))
        return t.Lit(Info("float", False, v, v), node.start, node.end, v)
    return t.ToFloat(Info("float", i.nullable, i.lo, i.hi), node.start, node.end, node)


def _interval(op: str, a: Info, b: Info) -> tuple[float, float]:
    """Bounds of ``a op b`` from the bounds of its operands (interval arithmetic)."""
    with_nan = math.nan
    if op == "+":
        cands = [a.lo + b.lo, a.hi + b.hi]
    elif op == "-":
        cands = [a.lo - b.hi, a.hi - b.lo]
    elif op == "*":
        cands = [_mul(x, y) for x in (a.lo, a.hi) for y in (b.lo, b.hi)]
    else:
        if b.lo <= 0 <= b.hi:
            return -math.inf, math.inf
        cands = [_div(x, y) for x in (a.lo, a.hi) for y in (b.lo, b.hi)]
    cands = [c for c in cands if c == c] or [with_nan]
    if any(c != c for c in cands):
        return -math.inf, math.inf
    return min(cands), max(cands)


def _mul(x: float, y: float) -> float:
    if x == 0 or y == 0:
        return 0.0
    return x * y


def _div(x: float, y: float) -> float:
    if math.isinf(x) and math.isinf(y):
        return math.copysign(math.inf, x * y)
    return x / y
