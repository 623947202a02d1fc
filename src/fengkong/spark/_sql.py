"""The compiled plan as Spark SQL: executors decide with no Python at all.

The batch backend (:mod:`fengkong.compile._batch`) turns a plan into Polars column
expressions; this module writes the same steps as Spark SQL expressions, one
``SELECT`` per step, with the same null semantics:

* inputs are checked and normalised (ranges, enums, lengths, dates read from text,
  NaN as null), and a row with a problem gets the same message in ``error`` and null
  decision columns;
* features, segments, experiment arms (CRC-32 of ``"experiment:key"``, as online),
  scorecards as ``CASE WHEN`` chains over the same bins in the same order, decision
  tables with every hit policy, slots, rules, caps and the outcome;
* reason codes with the online backend's order — the default decline reason, fired
  rules by action, each scorecard slot's characteristics by points lost, then the
  generic summary codes; duplicates dropped, the first ``max_reasons`` kept — built
  with Spark's array functions.

Some plans cannot be written this way and keep the Arrow path: LightGBM models (their
trees run in NumPy), ``exp`` and ``log`` (the JVM's and the C library's results may
differ in the last bit, and a decision must not depend on where it ran), and
experiments keyed by something other than text or whole numbers (Spark and Python
print other values differently, which would move customers between arms).
:func:`untranslatable` says which of these apply.
"""

from __future__ import annotations

import datetime as dt
import math
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass

from fengkong.compile._cells import Cell, chain_cells
from fengkong.compile._online import field_messages
from fengkong.compile.ir import FieldIR, Plan, ScorecardIR, SlotIR, TableIR
from fengkong.explain import catalogue
from fengkong.expr import ast as t
from fengkong.expr.ast import SAFE_INT
from fengkong.expr.functions import FUNCTIONS
from fengkong.spark._arrow import ident

__all__ = ["SparkPlan", "spark_plan", "untranslatable"]

SQL_TYPES = {"int": "BIGINT", "float": "DOUBLE", "bool": "BOOLEAN", "str": "STRING",
             "date": "DATE", "datetime": "TIMESTAMP", "list": "ARRAY<STRING>"}
_EMPTY = "CAST(array() AS ARRAY<STRING>)"
_NULLS = "array(CAST(NULL AS STRING))"  # array_except(xs, this): xs without nulls, each once
_EPOCH = dt.datetime(1970, 1, 1, tzinfo=dt.UTC)
_TWO_52 = "4503599627370496.0D"  # doubles this large are whole numbers already

# Spark type names (``DataType.typeName()``) per input kind.
_INTS = frozenset({"byte", "short", "integer", "long"})
_FLOATS = frozenset({"float", "double", "decimal"})


def _str(value: str) -> str:
    return "'" + value.replace("\\", "\\\\").replace("'", "\\'") + "'"


def _float(value: float) -> str:
    if math.isnan(value):
        return "CAST('NaN' AS DOUBLE)"
    if math.isinf(value):
        return "CAST('Infinity' AS DOUBLE)" if value > 0 else "CAST('-Infinity' AS DOUBLE)"
    text = repr(float(value)) + "D"
    return f"({text})" if text.startswith("-") else text


def _int(value: int) -> str:
    return f"({value}L)" if value < 0 else f"{value}L"


def literal(value: object, kind: str) -> str:
    """``value`` as a Spark SQL literal of the expression language's type ``kind``."""
    if value is None or kind == "null":
        return "NULL"
    if kind == "bool":
        return "TRUE" if value else "FALSE"
    if kind == "int":
        return _int(int(value))  # type: ignore[call-overload]
    if kind == "float":
        return _float(float(value))  # type: ignore[arg-type]
    if kind == "date":
        assert isinstance(value, dt.date)
        return f"DATE '{value.isoformat()}'"
    return _str(str(value))


def _cast(sql: str, kind: str) -> str:
    return sql if kind == "null" else f"CAST({sql} AS {SQL_TYPES[kind]})"


def _plus_zero(sql: str) -> str:
    """``sql`` (a double) with -0.0 made 0.0, as the other backends do."""
    return f"CASE WHEN {sql} = 0 THEN 0.0D ELSE {sql} END"


def _and(parts: Sequence[str]) -> str:
    return "(" + " AND ".join(parts) + ")" if len(parts) > 1 else parts[0]


def _or(parts: Sequence[str]) -> str:
    if not parts:
        return "FALSE"
    return "(" + " OR ".join(parts) + ")" if len(parts) > 1 else parts[0]


def _least(parts: Sequence[str], fn: str = "least") -> str:
    """``least``/``greatest`` (nulls ignored), which Spark only takes with two or more."""
    return parts[0] if len(parts) == 1 else f"{fn}({', '.join(parts)})"


def _values(values: Sequence[object], kind: str) -> str:
    return "(" + ", ".join(literal(v, kind) for v in values) + ")"


# -- expressions --------------------------------------------------------------------------
Resolver = Callable[[str], str]


def _floor_ceil(fn: str) -> Callable[[list[str]], str]:
    # Spark's floor/ceil of a double is a BIGINT; beyond 2**52 a double is whole already.
    return lambda a: (f"CASE WHEN abs({a[0]}) < {_TWO_52} THEN CAST({fn}({a[0]}) AS DOUBLE) "
                      f"ELSE {a[0]} END")


# A function missing here (exp, log: the JVM's results differ from the C library's in the
# last bit) makes a plan untranslatable, so it keeps the Arrow path.
_FUNCTIONS: dict[str, Callable[[list[str]], str]] = {
    "min": lambda a: _least(a, "least"),
    "max": lambda a: _least(a, "greatest"),
    "coalesce": lambda a: f"coalesce({', '.join(a)})",
    "is_null": lambda a: f"({a[0]} IS NULL)",
    "abs": lambda a: f"abs({a[0]})",
    "round": lambda a: f"bround({a[0]}, 0)",
    "floor": _floor_ceil("floor"),
    "ceil": _floor_ceil("ceil"),
    # least/greatest skip nulls; clip of null is null.
    "clip": lambda a: f"CASE WHEN {a[0]} IS NOT NULL THEN least(greatest({a[0]}, {a[1]}), {a[2]}) END",
    "sqrt": lambda a: f"CASE WHEN {a[0]} >= 0 THEN sqrt({a[0]}) END",
    "len": lambda a: f"CAST(char_length({a[0]}) AS BIGINT)",
    "lower": lambda a: f"translate({a[0]}, 'ABCDEFGHIJKLMNOPQRSTUVWXYZ', 'abcdefghijklmnopqrstuvwxyz')",
    "upper": lambda a: f"translate({a[0]}, 'abcdefghijklmnopqrstuvwxyz', 'ABCDEFGHIJKLMNOPQRSTUVWXYZ')",
    "startswith": lambda a: f"startswith({a[0]}, {a[1]})",
    "endswith": lambda a: f"endswith({a[0]}, {a[1]})",
    "contains": lambda a: f"contains({a[0]}, {a[1]})",
    "days_between": lambda a: f"CAST(datediff({a[1]}, {a[0]}) AS BIGINT)",
}


def expr_sql(node: t.Node, resolve: Resolver) -> str:
    """Spark SQL for ``node``; ``resolve`` maps a name to its column's SQL."""
    def e(n: t.Node) -> str:
        return expr_sql(n, resolve)

    if isinstance(node, t.Lit):
        return literal(node.value, node.info.type)
    if isinstance(node, t.Name):
        return resolve(node.name)
    if isinstance(node, t.ToFloat):
        return f"CAST({e(node.operand)} AS DOUBLE)"
    if isinstance(node, t.Unary):
        return f"(- {e(node.operand)})" if node.op == "neg" else f"(NOT {e(node.operand)})"
    if isinstance(node, t.Arith):
        a, b = e(node.left), e(node.right)
        if node.info.type == "str":
            return f"concat({a}, {b})"
        if node.op != "/":
            out = f"({a} {node.op} {b})"
        elif node.right.info.lo <= 0 <= node.right.info.hi:
            out = f"CASE WHEN {b} <> 0 THEN {a} / {b} END"
        else:
            out = f"({a} / {b})"
        if node.info.type != "float" or (abs(node.info.lo) < 1e300 and abs(node.info.hi) < 1e300):
            return out
        return f"CASE WHEN abs({out}) < CAST('Infinity' AS DOUBLE) THEN {out} END"
    if isinstance(node, t.Compare):
        op = {"==": "=", "!=": "<>"}.get(node.op, node.op)
        return f"({e(node.left)} {op} {e(node.right)})"
    if isinstance(node, t.BoolOp):
        joiner = " AND " if node.op == "and" else " OR "
        return "(" + joiner.join(e(v) for v in node.values) + ")"
    if isinstance(node, t.In):
        x = e(node.operand)
        hit = (f"({x} IN {_values(node.values, node.operand.info.type)})" if node.values
               else f"CASE WHEN {x} IS NOT NULL THEN FALSE END")  # Spark has no empty IN ()
        return f"(NOT {hit})" if node.negate else hit
    if isinstance(node, t.IfElse):
        kind = node.info.type
        return (f"CASE WHEN {e(node.cond)} THEN {_cast(e(node.then), kind)} "
                f"ELSE {_cast(e(node.orelse), kind)} END")
    if isinstance(node, t.Call):
        if node.func not in _FUNCTIONS:
            msg = f"{node.func}() has no Spark SQL form."
            raise ValueError(msg)
        out = _FUNCTIONS[node.func]([e(a) for a in node.args])
        if FUNCTIONS[node.func].signed_zero and node.info.lo <= 0 <= node.info.hi:
            out = _plus_zero(out)
        return _cast(out, node.info.type)
    msg = f"Cannot translate node {type(node).__name__}."
    raise TypeError(msg)


def cell_sql(cell: Cell, x: str, kind: str) -> str:
    """The condition of a table cell or scorecard bin on ``x``, for a ``CASE WHEN``.

    Null matches ``-`` and ``null`` only: the condition is then null, which ``CASE WHEN``
    (and ``AND`` with a false) treats as false. Every use is inside a ``CASE WHEN``, so no
    ``coalesce`` is spent on it — generated code stays small, which keeps the JVM
    compiling it.
    """
    if cell.kind == "any":
        return "TRUE"
    if cell.kind == "null":
        return f"({x} IS NULL)"
    if cell.kind in ("set", "not_set"):
        hit = f"{x} IN {_values(cell.values, kind)}"
        return f"({hit})" if cell.kind == "set" else f"(NOT ({hit}))"

    def bound(v: float) -> str:
        return _int(int(v)) if kind == "int" and float(v).is_integer() else _float(v)

    conds = []
    if cell.lo != -math.inf:
        conds.append(f"{x} {'>=' if cell.lo_closed else '>'} {bound(cell.lo)}")
    if cell.hi != math.inf:
        conds.append(f"{x} {'<=' if cell.hi_closed else '<'} {bound(cell.hi)}")
    if not conds:
        return f"({x} IS NOT NULL)"
    return f"({' AND '.join(conds)})"


# -- what cannot be translated ----------------------------------------------------------
def _plan_nodes(plan: Plan) -> list[t.Node]:
    nodes: list[t.Node] = [f.node for f in plan.features]
    nodes += [s.cond for s in plan.segments if s.cond is not None]
    for x in plan.experiments:
        nodes += [x.key, *([x.when] if x.when is not None else [])]
    nodes += [c.node for card in plan.scorecards.values() for c in card.characteristics]
    for tbl in plan.tables.values():
        nodes += [*tbl.inputs, *(o for row in tbl.rows for o in row.outputs)]
    for r in plan.rules:
        nodes += [r.node, *([r.limit] if r.limit is not None else [])]
    o = plan.outcome
    nodes += [n for n in (o.decision, o.limit, o.apr, o.term) if n is not None]
    return nodes


def untranslatable(plan: Plan) -> list[str]:
    """Why the plan cannot run as Spark SQL (empty: it can)."""
    why = [f"model `{name}` (LightGBM)" for name in plan.models]
    seen: set[str] = set()
    for root in _plan_nodes(plan):
        for n in t.walk(root):
            if isinstance(n, t.Call) and n.func not in _FUNCTIONS and n.func not in seen:
                seen.add(n.func)
                why.append(f"the function {n.func}()")
    why += [f"experiment `{x.name}` keyed by a {x.key.info.type} value"
            for x in plan.experiments if x.key.info.type not in ("str", "int")]
    return why


# -- the plan ------------------------------------------------------------------------------
@dataclass(frozen=True)
class SparkPlan:
    """A plan as Spark SQL: the input step, the later steps, and the final column list.

    Each step is a list of ``expression AS name`` items added to the columns before it;
    ``final`` selects the decided table (kept columns, every decision column, ``error``).
    """

    inputs: tuple[str, ...]
    steps: tuple[tuple[str, ...], ...]
    final: tuple[str, ...]

    def query(self, table: str) -> str:
        """One Spark SQL query deciding every row of ``table``."""
        parts = ["step0 AS (\n  SELECT\n    " + ",\n    ".join(self.inputs) + f"\n  FROM {table}\n)"]
        for i, step in enumerate(self.steps, start=1):
            parts.append(f"step{i} AS (\n  SELECT *,\n    " + ",\n    ".join(step)
                         + f"\n  FROM step{i - 1}\n)")
        return ("WITH " + ",\n".join(parts) + "\nSELECT\n  " + ",\n  ".join(self.final)
                + f"\nFROM step{len(self.steps)}")


def spark_plan(plan: Plan, schema: Mapping[str, str], *, keep: Sequence[str] = (),
               at: dt.datetime, reasons: bool = True) -> SparkPlan:
    """Translate ``plan`` for a table whose columns have the Spark types ``schema``
    (``DataType.typeName()`` by column name).

    Raises :class:`ValueError` when the plan cannot be translated (see
    :func:`untranslatable`), when a required column is missing or a column's type does not
    fit its field.
    """
    why = untranslatable(plan)
    if why:
        msg = "The strategy cannot run as Spark SQL: it uses " + "; ".join(why) + "."
        raise ValueError(msg)
    return _Translator(plan, schema).run(keep, at, reasons=reasons)


class _Translator:
    def __init__(self, plan: Plan, schema: Mapping[str, str]) -> None:
        self.plan = plan
        self.schema = schema
        self.names: dict[str, str] = {}
        self.steps: list[tuple[str, ...]] = []

    def col(self, name: str) -> str:
        return ident(self.names[name])

    def e(self, node: t.Node) -> str:
        return expr_sql(node, self.col)

    def add(self, items: Sequence[tuple[str, str]]) -> None:
        if items:
            self.steps.append(tuple(f"{sql} AS {ident(name)}" for sql, name in items))

    # -- inputs ---------------------------------------------------------------------------
    def inputs(self, keep: Sequence[str]) -> tuple[str, ...]:
        missing = [f.name for f in self.plan.fields if f.required and f.name not in self.schema]
        if missing:
            msg = f"The table has no column(s) {', '.join(missing)}, which the strategy requires."
            raise ValueError(msg)
        absent = [k for k in keep if k not in self.schema]
        if absent:
            msg = f"The table has no column(s) {', '.join(absent)} to keep."
            raise ValueError(msg)
        items = [f"{ident(k)} AS {ident('keep.' + k)}" for k in keep]
        problems = []
        valid = []
        for f in self.plan.fields:
            self.names[f.name] = f.name
            value, problem = self.field(f, self.schema.get(f.name))
            items.append(f"{value} AS {ident('_in.' + f.name)}")
            if problem is not None and ident("_raw." + f.name) in problem:
                items.append(f"{ident(f.name)} AS {ident('_raw.' + f.name)}")
            # A row with a problem is decided by nothing: its inputs become null, so no
            # expression sees a value outside its declared range (a zero divisor, say).
            valid.append((f"CASE WHEN `error` IS NULL THEN {ident('_in.' + f.name)} END", f.name))
            if problem is not None:
                problems.append(problem)
        # The checks read the normalised values of the step before (each computed once).
        error = f"concat_ws(' ', {', '.join(problems)})" if problems else "''"
        self.add([(f"nullif({error}, '')", "error")])
        self.add(valid)
        return tuple(items)

    def field(self, f: FieldIR, kind: str | None) -> tuple[str, str | None]:
        """``(value, problem)``: the normalised value (SQL over the table's column) and the
        first problem's message (SQL over ``_in.<name>`` and ``_raw.<name>``), if any."""
        msg = field_messages(f)
        target = "str" if f.type == "enum" else f.type
        if kind is None:
            return f"CAST(NULL AS {SQL_TYPES[target]})", None
        c = ident(f.name)
        raw, norm = ident("_raw." + f.name), ident("_in." + f.name)
        checks: list[tuple[str, str]] = []
        bad_type = ValueError(f"Column `{f.name}` has type {kind}; the strategy declares {f.type}.")
        if kind in ("null", "void"):
            c = f"CAST(NULL AS {SQL_TYPES[target]})"
        elif f.type == "int":
            if kind not in _INTS:
                raise bad_type
            lo = f.lo if f.lo is not None else -SAFE_INT
            hi = f.hi if f.hi is not None else SAFE_INT
            checks.append((f"NOT ({norm} BETWEEN {_float(lo)} AND {_float(hi)})", msg["input-range"]))
            c = f"CAST({c} AS BIGINT)"
        elif f.type == "float":
            if kind in _INTS:
                checks.append((f"NOT ({raw} BETWEEN {_int(-SAFE_INT)} AND {_int(SAFE_INT)})",
                               msg["input-range"]))
            elif kind not in _FLOATS:
                raise bad_type
            c = f"CAST({c} AS DOUBLE)"
            c = f"CASE WHEN NOT isnan({c}) THEN {c} END"
            checks.append((f"abs({norm}) = CAST('Infinity' AS DOUBLE)", msg["input-not-finite"]))
            if f.lo is not None or f.hi is not None:
                lo = f.lo if f.lo is not None else -math.inf
                hi = f.hi if f.hi is not None else math.inf
                checks.append((f"NOT ({norm} BETWEEN {_float(lo)} AND {_float(hi)})", msg["input-range"]))
        elif f.type == "bool":
            if kind != "boolean":
                raise bad_type
        elif f.type in ("str", "enum"):
            if kind not in ("string", "varchar", "char"):
                raise bad_type
            c = f"CAST({c} AS STRING)"
            if f.type == "enum":
                checks.append((f"NOT ({norm} IN {_values(f.values or (), 'str')})", msg["input-enum"]))
            elif f.max_length is not None:
                checks.append((f"char_length({norm}) > {f.max_length}", msg["input-length"]))
        elif f.type == "date":
            if kind == "string":
                c = (f"CASE WHEN {c} RLIKE {_str('^[0-9]{4}-[0-9]{2}-[0-9]{2}$')} "
                     f"AND NOT startswith({c}, '0000') THEN try_to_date({c}, 'yyyy-MM-dd') END")
                checks.append((f"{raw} IS NOT NULL AND {norm} IS NULL", msg["input-date"]))
            elif kind != "date":
                raise bad_type
        # Value checks first (an unreadable date is not a missing one), then presence.
        if f.required:
            checks.append((f"{norm} IS NULL", msg["input-missing"]))
        if not checks:
            return c, None
        # A null condition is false in CASE WHEN, as the other backends' fill_null(False).
        chain = " ".join(f"WHEN {cond} THEN {_str(text)}" for cond, text in checks)
        return c, f"CASE {chain} END"

    # -- stages ----------------------------------------------------------------------------
    def features(self) -> None:
        for f in self.plan.features:
            self.add([(self.e(f.node), f"feature.{f.name}")])
            self.names[f.name] = f"feature.{f.name}"

    def segment(self) -> None:
        segs = self.plan.segments
        if segs[0].cond is None:
            sql = _str(segs[0].name)
        else:
            branches = [f"WHEN {self.e(s.cond)} THEN {_str(s.name)}" for s in segs if s.cond is not None]
            default = next((f" ELSE {_str(s.name)}" for s in segs if s.cond is None), "")
            sql = "CASE " + " ".join(branches) + default + " END"
        self.add([(sql, "segment")])
        self.names["segment"] = "segment"

    def experiments(self) -> None:
        items = []
        for x in self.plan.experiments:
            key = f"CAST({self.e(x.key)} AS STRING)"
            bucket = f"pmod(crc32(CAST(concat({_str(x.name + ':')}, {key}) AS BINARY)), 10000)"
            arms = [f"WHEN {bucket} < {b} THEN {_str(a)}" for a, b in zip(x.arms[:-1], x.bounds[:-1], strict=True)]
            arm = (f"CASE WHEN {key} IS NULL THEN {_str(x.arms[0])} {' '.join(arms)} "
                   f"ELSE {_str(x.arms[-1])} END")
            if x.when is not None:
                arm = f"CASE WHEN {self.e(x.when)} THEN {arm} END"
            items.append((arm, x.column))
            self.names[x.column] = x.column
        self.add(items)

    def scorecard(self, card: ScorecardIR) -> tuple[list[tuple[str, str]], list[tuple[str, str]], str]:
        values, points = [], []
        for c in card.characteristics:
            kind = c.node.info.type
            v = self.e(c.node)
            if not isinstance(c.node, t.Name):  # computed once, read by every bin
                values.append((v, f"_cv.{card.name}.{c.name}"))
                v = ident(f"_cv.{card.name}.{c.name}")
            branches = [f"WHEN {v} IS NULL THEN {_float(c.missing)}"]
            branches += [f"WHEN {v} IN {_values(vals, kind)} THEN {_float(p)}" for vals, p in c.specials]
            branches += [f"WHEN {cell_sql(cell, v, kind)} THEN {_float(p)}"
                         for cell, p in chain_cells(list(c.bins))]
            points.append((f"CASE {' '.join(branches)} ELSE {_float(c.other)} END",
                           f"_pts.{card.name}.{c.name}"))
        score = " + ".join([_float(card.base_points), *(ident(n) for _, n in points)])
        return values, points, score

    def table(self, tbl: TableIR) -> dict[str, str]:
        args = [self.e(n) for n in tbl.inputs]
        conds = []
        for row in tbl.rows:
            parts = [cell_sql(cell, a, node.info.type)
                     for cell, a, node in zip(row.cells, args, tbl.inputs, strict=True) if cell.kind != "any"]
            conds.append(_and(parts) if parts else "TRUE")
        out: dict[str, str] = {}
        if tbl.hit_policy in ("first", "unique"):
            out["row"] = "CASE " + " ".join(f"WHEN {c} THEN {i}L" for i, c in enumerate(conds)) + " END"
            for k, (name, info) in enumerate(zip(tbl.outputs, tbl.output_info, strict=True)):
                kind = "str" if info.type == "null" else info.type
                out[name] = "CASE " + " ".join(
                    f"WHEN {c} THEN {_cast(self.e(row.outputs[k]), kind)}"
                    for c, row in zip(conds, tbl.rows, strict=True)) + " END"
            return out
        out["row"] = "CAST(NULL AS BIGINT)"
        hits = "(" + " + ".join(f"CASE WHEN {c} THEN 1L ELSE 0L END" for c in conds) + ")"
        for k, (name, info) in enumerate(zip(tbl.outputs, tbl.output_info, strict=True)):
            kind = "str" if info.type == "null" else info.type
            if tbl.aggregate == "count":
                out[name] = hits
                continue
            vals = [f"CASE WHEN {c} THEN {_cast(self.e(row.outputs[k]), kind)} END"
                    for c, row in zip(conds, tbl.rows, strict=True)]
            if tbl.aggregate == "sum":
                acc = "(" + " + ".join([literal(0, kind), *(f"coalesce({v}, {literal(0, kind)})" for v in vals)]) + ")"
            else:
                acc = _least(vals, "least" if tbl.aggregate == "min" else "greatest")
            if kind == "float":
                acc = _plus_zero(acc)
            out[name] = f"CASE WHEN {hits} > 0 THEN {_cast(acc, kind)} END"
        return out

    def component(self, slot: SlotIR) -> str:
        def test(exp: str | None, label: str) -> str:
            column = ident(f"experiment.{exp}") if exp is not None else "`segment`"
            return f"coalesce({column} = {_str(label)}, FALSE)"

        base = _str(slot.base) if slot.base is not None else "CAST(NULL AS STRING)"
        if not slot.choices:
            return base
        return ("CASE " + " ".join(f"WHEN {test(exp, label)} THEN {_str(comp)}"
                                   for exp, label, comp in slot.choices) + f" ELSE {base} END")

    def slot(self, slot: SlotIR) -> list[tuple[str, str]]:
        component = ident(f"component.{slot.name}")

        def choose(value: Callable[[str], str], kind: str) -> str:
            whens = " ".join(f"WHEN {component} = {_str(c)} THEN {value(c)}" for c in slot.components)
            return f"CASE {whens} ELSE {_cast('NULL', kind)} END" if whens else _cast("NULL", kind)

        if slot.kind in ("scorecard", "model"):
            self.names[slot.name] = f"score.{slot.name}"
            return [(choose(lambda c: ident(f"_score.{c}"), "float"), f"score.{slot.name}")]
        out = [(choose(lambda c: ident(f"_tbl.{c}.row"), "int"), f"table.{slot.name}.row")]
        for o, info in zip(slot.outputs, slot.info, strict=True):
            kind = "str" if info.type == "null" else info.type
            out.append((choose(lambda c, o=o, kind=kind: _cast(ident(f"_tbl.{c}.{o}"), kind), kind),  # type: ignore[misc]
                        f"table.{slot.name}.{o}"))
            self.names[f"{slot.name}.{o}"] = f"table.{slot.name}.{o}"
        return out

    def slots(self) -> None:
        values, points, scores = [], [], []
        for card in self.plan.scorecards.values():
            v, p, score = self.scorecard(card)
            values += v
            points += p
            scores.append((score, f"_score.{card.name}"))
        self.add(values)
        self.add(points)
        self.add(scores)
        self.add([(self.component(s), f"component.{s.name}") for s in self.plan.slots])
        self.add([item for s in self.plan.slots if s.kind != "table" for item in self.slot(s)])
        self.add([(sql, f"_tbl.{tbl.name}.{k}") for tbl in self.plan.tables.values()
                  for k, sql in self.table(tbl).items()])
        self.add([item for s in self.plan.slots if s.kind == "table" for item in self.slot(s)])
        card_slots = [s for s in self.plan.slots if s.kind == "scorecard"]
        used_points = []
        for card in self.plan.scorecards.values():
            used = _or([f"coalesce({ident('component.' + s.name)} = {_str(card.name)}, FALSE)"
                        for s in card_slots])
            used_points += [(f"CASE WHEN {used} THEN {ident(f'_pts.{card.name}.{c.name}')} END",
                             f"points.{card.name}.{c.name}") for c in card.characteristics]
        self.add(used_points)

    def rules(self) -> None:
        items = []
        for rule in self.plan.rules:
            fired = f"coalesce({self.e(rule.node)}, FALSE)"
            if rule.segments is not None:
                fired = f"(`segment` IN {_values(sorted(rule.segments), 'str')} AND {fired})"
            items.append((fired, rule.column))
        self.add(items)
        flags = []
        for flag, action in (("declined", "decline"), ("referred", "refer"), ("flagged", "flag")):
            flags.append((_or([ident(r.column) for r in self.plan.rules if r.action == action]), f"_{flag}"))
            self.names[flag] = f"_{flag}"
        caps = [f"CASE WHEN {ident(r.column)} THEN CAST({self.e(r.limit)} AS DOUBLE) END"
                for r in self.plan.rules if r.limit is not None]
        flags.append((_least(caps) if caps else "CAST(NULL AS DOUBLE)", "_cap"))
        self.names["cap"] = "_cap"
        self.add(flags)

    def outcome(self) -> None:
        o = self.plan.outcome
        lim = self.float_expr(o.limit)
        lim = f"CASE WHEN `_cap` < {lim} THEN `_cap` ELSE {lim} END"
        if o.limit_step is not None:
            step = _float(o.limit_step)
            floor = _floor_ceil("floor")([f"({lim}) / {step}"])
            lim = _plus_zero(f"({floor}) * {step}")
        self.add([(lim, "_limit")])
        self.names["limit"] = "_limit"
        if o.decision is not None:
            dec = self.e(o.decision)
        else:
            dec = "CASE WHEN `_declined` THEN 'decline' WHEN `_referred` THEN 'refer' ELSE 'approve' END"
        self.add([(f"CAST({dec} AS STRING)", "decision")])
        approved = "NOT coalesce(`decision` = 'decline', FALSE)"
        term_kind = "int" if o.term is not None and o.term.info.type == "int" else "float"
        term = _cast(self.e(o.term), term_kind) if o.term is not None else _cast("NULL", term_kind)
        self.add([(f"CASE WHEN {approved} THEN `_limit` END", "limit"),
                  (f"CASE WHEN {approved} THEN {self.float_expr(o.apr)} END", "apr"),
                  (f"CASE WHEN {approved} THEN {term} END", "term")])

    def float_expr(self, node: t.Node | None) -> str:
        return "CAST(NULL AS DOUBLE)" if node is None else f"CAST({self.e(node)} AS DOUBLE)"

    # -- reasons ---------------------------------------------------------------------------
    def reasons(self) -> str:
        """The online backend's reason list (see :mod:`fengkong.compile._reasons`).

        Candidates are concatenated in order as arrays with a null where a candidate does
        not apply; ``array_except`` with ``[null]`` then keeps the first occurrence of each
        code, in order. Scorecard characteristics are ranked by ``sort_array`` over
        (points lost, position, code) structs. No lambda functions are used: Spark runs
        those interpreted, while these functions are compiled.
        """
        p, o = self.plan, self.plan.outcome
        generic = catalogue().is_generic
        specific: list[str] = []
        summaries: list[str] = []
        default = (f"CASE WHEN coalesce(`decision` = 'decline', FALSE) AND NOT `_declined` "
                   f"THEN {_str(o.decline_reason)} END")
        (summaries if generic(o.decline_reason) else specific).append(default)
        for action in ("decline", "refer", "cap", "flag"):
            for r in p.rules:
                if r.action == action:
                    code = f"CASE WHEN {ident(r.column)} THEN {_str(r.reason)} END"
                    (summaries if generic(r.reason) else specific).append(code)
        blocks = []
        for slot in p.slots:
            if slot.kind != "scorecard":
                continue
            whens = []
            for name in slot.components:
                card = p.scorecards[name]
                items = []
                for i, c in enumerate(card.characteristics):
                    lost = f"{ident(f'_pts.{name}.{c.name}')} - {_float(c.max_points)}"
                    items.append(f"named_struct('lost', CASE WHEN {lost} < 0 THEN {lost} END, 'at', {i}, "
                                 f"'code', CASE WHEN {lost} < 0 THEN {_str(c.reason)} END)")
                whens.append(f"WHEN {ident('component.' + slot.name)} = {_str(name)} "
                             f"THEN sort_array(array({', '.join(items)})).code")
            blocks.append(f"coalesce(CASE {' '.join(whens)} END, {_EMPTY})")
        parts = [f"array({', '.join(specific)})", *blocks]
        if summaries:
            parts.append(f"array({', '.join(summaries)})")
        every = f"concat({', '.join(parts)})" if len(parts) > 1 else parts[0]
        return f"slice(array_except({every}, {_NULLS}), 1, {o.max_reasons})"

    def rule_hits(self) -> str:
        if not self.plan.rules:
            return _EMPTY
        hits = ", ".join(f"CASE WHEN {ident(r.column)} THEN {_str(r.id)} END" for r in self.plan.rules)
        return f"array_except(array({hits}), {_NULLS})"

    # -- the whole plan ----------------------------------------------------------------------
    def run(self, keep: Sequence[str], at: dt.datetime, *, reasons: bool) -> SparkPlan:
        inputs = self.inputs(keep)
        self.features()
        self.segment()
        self.experiments()
        self.slots()
        self.rules()
        self.outcome()
        self.add([(self.reasons() if reasons else _cast("NULL", "list"), "reasons"),
                  (self.rule_hits(), "rule_hits")])
        p = self.plan
        micros = (at.astimezone(dt.UTC) - _EPOCH) // dt.timedelta(microseconds=1)
        consts = {"strategy_id": _str(p.strategy_id), "strategy_version": _str(p.version),
                  "strategy_digest": _str(p.digest), "evaluated_at": f"timestamp_micros({micros}L)"}
        final = [f"{ident('keep.' + k)} AS {ident(k)}" for k in keep]
        for c in p.columns:
            if c.name in consts:
                final.append(f"{consts[c.name]} AS {ident(c.name)}")
            else:
                value = f"CASE WHEN `error` IS NULL THEN {ident(c.name)} END"
                final.append(f"{_cast(value, c.type)} AS {ident(c.name)}")
        final.append("`error`")
        return SparkPlan(inputs, tuple(self.steps), tuple(final))
