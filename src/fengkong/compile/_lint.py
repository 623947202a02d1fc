"""Static checks that need the typed plan: table coverage, bin layout, rules that cannot fire.

Codes (stable): ``table-unreachable-row`` (warning), ``table-overlapping-rows`` (error,
``unique`` tables), ``table-no-default`` (warning), ``scorecard-bins-overlap`` (error),
``scorecard-bin-gap`` (warning), ``rule-never-fires`` (warning).
"""

from __future__ import annotations

import math
from typing import TYPE_CHECKING

from fengkong.compile._cells import Cell
from fengkong.expr import Info
from fengkong.expr import ast as t

if TYPE_CHECKING:
    from fengkong.compile._lower import _Lowering
    from fengkong.compile.ir import TableIR
    from fengkong.strategy._load import Path_


def table(lw: _Lowering, path: Path_, ir: TableIR) -> None:
    """Unreachable rows under ``first``, overlaps under ``unique``, a missing catch-all."""
    rows = ir.rows
    for i, row in enumerate(rows):
        for j in range(i):
            earlier = rows[j]
            if ir.hit_policy == "first" and all(
                    a.covers(b) for a, b in zip(earlier.cells, row.cells, strict=True)):
                lw.error((*path, "rows", i), "table-unreachable-row",
                         f"Row {i + 1} can never be hit: row {j + 1} above matches everything it "
                         "matches (first hit wins).", severity="warning")
                break
            if ir.hit_policy == "unique" and all(
                    a.overlaps(b) for a, b in zip(earlier.cells, row.cells, strict=True)):
                lw.error((*path, "rows", i), "table-overlapping-rows",
                         f"Rows {j + 1} and {i + 1} can both match one record, which a `unique` "
                         "table forbids; narrow one of them or use `hit_policy: first`.")
                break
    if ir.hit_policy != "collect" and not any(
            all(c.kind == "any" for c in row.cells) for row in rows):
        lw.error(path, "table-no-default",
                 "No row matches everything (all `-`), so some records may get no outputs (null); "
                 "add a last catch-all row.", severity="warning")


def scorecard_bins(lw: _Lowering, path: Path_, cells: list[Cell], info: Info) -> None:
    """Bins must not overlap; numeric bins should cover the declared range."""
    for i, a in enumerate(cells):
        for j in range(i):
            if a.overlaps(cells[j]):
                lw.error((*path, i), "scorecard-bins-overlap",
                         f"Bin {i + 1} overlaps bin {j + 1}; a value must fall in one bin only.")
    ranges = sorted((c for c in cells if c.kind == "range"), key=lambda c: (c.lo, not c.lo_closed))
    if not ranges or len(ranges) != len(cells):
        return
    reach, reach_closed = info.lo, True
    for c in ranges:
        gap = c.lo > reach or (c.lo == reach and not c.lo_closed and not reach_closed)
        if gap and not (math.isinf(reach) and math.isinf(c.lo)):
            lw.error(path, "scorecard-bin-gap",
                     f"No bin covers values between {reach:g} and {c.lo:g}; they get `other` points.",
                     severity="warning")
            return
        if c.hi > reach or (c.hi == reach and c.hi_closed):
            reach, reach_closed = c.hi, c.hi_closed
    if reach < info.hi or (reach == info.hi and not reach_closed and math.isfinite(reach)):
        lw.error(path, "scorecard-bin-gap",
                 f"No bin covers values above {reach:g}; they get `other` points.", severity="warning")


def can_be_true(node: t.Node) -> bool:
    """False only when the condition is provably never true for the declared ranges."""
    if isinstance(node, t.Lit):
        return node.value is True
    if isinstance(node, t.BoolOp):
        if node.op == "and":
            return all(can_be_true(v) for v in node.values)
        return any(can_be_true(v) for v in node.values)
    if isinstance(node, t.Compare):
        return _compare_possible(node)
    if isinstance(node, t.In) and not node.negate:
        values = node.operand.info.values
        if values is not None:
            return any(v in values for v in node.values)
    return True


def _compare_possible(node: t.Compare) -> bool:
    a, b = node.left.info, node.right.info
    if a.type not in ("int", "float") or b.type not in ("int", "float"):
        if a.values is not None and isinstance(node.right, t.Lit) and node.op == "==":
            return node.right.value in a.values
        return True
    op = node.op
    if op == "<":
        return a.lo < b.hi
    if op == "<=":
        return a.lo <= b.hi
    if op == ">":
        return a.hi > b.lo
    if op == ">=":
        return a.hi >= b.lo
    if op == "==":
        return a.lo <= b.hi and b.lo <= a.hi
    return True
