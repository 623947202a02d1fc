"""Typed expression trees: what the parser produces and both backends consume."""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Literal

TypeName = Literal["int", "float", "bool", "str", "date", "null"]
NUMERIC: frozenset[str] = frozenset({"int", "float"})

# Integers an input may carry so that int -> float conversion is exact in both backends.
SAFE_INT = 2**53


@dataclass(frozen=True, slots=True)
class Info:
    """Static facts about an expression: its type, whether it may be null, its value range."""

    type: TypeName
    nullable: bool
    lo: float = -math.inf
    hi: float = math.inf
    values: tuple[str, ...] | None = None  # the allowed values of an enum field

    @property
    def bounded(self) -> bool:
        """Whether the value range is finite on both sides (no overflow to infinity possible)."""
        return math.isfinite(self.lo) and math.isfinite(self.hi)


@dataclass(frozen=True, slots=True)
class Node:
    """Base of every typed node. ``start``/``end`` are 0-based offsets into the source."""

    info: Info
    start: int
    end: int


@dataclass(frozen=True, slots=True)
class Lit(Node):
    """A literal: number, string, bool or null."""

    value: object


@dataclass(frozen=True, slots=True)
class Name(Node):
    """A reference to a declared field, feature or engine variable."""

    name: str


@dataclass(frozen=True, slots=True)
class Unary(Node):
    """``-x`` or ``not x``."""

    op: Literal["neg", "not"]
    operand: Node


@dataclass(frozen=True, slots=True)
class Arith(Node):
    """``a + b``, ``a - b``, ``a * b``, ``a / b`` (null if either side is null or b is 0)."""

    op: Literal["+", "-", "*", "/"]
    left: Node
    right: Node


@dataclass(frozen=True, slots=True)
class Compare(Node):
    """One binary comparison; chains are lowered to ``and`` of comparisons."""

    op: Literal["<", "<=", ">", ">=", "==", "!="]
    left: Node
    right: Node


@dataclass(frozen=True, slots=True)
class BoolOp(Node):
    """``and`` / ``or`` with three-valued (Kleene) logic."""

    op: Literal["and", "or"]
    values: tuple[Node, ...]


@dataclass(frozen=True, slots=True)
class In(Node):
    """``x in (literal, ...)`` or ``x not in (...)``."""

    operand: Node
    values: tuple[object, ...]
    negate: bool


@dataclass(frozen=True, slots=True)
class IfElse(Node):
    """``a if cond else b``: a null condition takes the ``else`` branch."""

    cond: Node
    then: Node
    orelse: Node


@dataclass(frozen=True, slots=True)
class Call(Node):
    """A call to a whitelisted function."""

    func: str
    args: tuple[Node, ...]


@dataclass(frozen=True, slots=True)
class ToFloat(Node):
    """Implicit int -> float widening (inserted by the type checker)."""

    operand: Node


def walk(node: Node) -> list[Node]:
    """Return ``node`` and every node below it, parents first."""
    out: list[Node] = [node]
    i = 0
    while i < len(out):
        n = out[i]
        i += 1
        if isinstance(n, Unary | ToFloat):
            out.append(n.operand)
        elif isinstance(n, Arith | Compare):
            out += (n.left, n.right)
        elif isinstance(n, BoolOp):
            out += n.values
        elif isinstance(n, In):
            out.append(n.operand)
        elif isinstance(n, IfElse):
            out += (n.cond, n.then, n.orelse)
        elif isinstance(n, Call):
            out += n.args
    return out


def root_names(node: Node) -> list[str]:
    """Names an expression reads, in first-use order, without duplicates."""
    seen: dict[str, None] = {}
    for n in walk(node):
        if isinstance(n, Name):
            seen.setdefault(n.name)
    return list(seen)
