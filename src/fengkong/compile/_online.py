"""Online backend: the whole plan becomes one generated Python function.

The function takes a record (a flat or nested dict) and the evaluation time and
returns the tuple of output values in :attr:`Plan.columns` order. It is built once
per strategy version; evaluating it allocates little beyond that tuple.
"""

from __future__ import annotations

import datetime as dt
import math
import re
import sys
import zlib
from collections.abc import Callable, Mapping
from types import MappingProxyType
from typing import Any

from fengkong.compile import _hash, _lightgbm
from fengkong.compile._cells import Cell, chain_cells
from fengkong.compile.ir import FieldIR, ModelIR, Plan, ScorecardIR, SlotIR, TableIR
from fengkong.errors import FieldProblem, InputValidationError
from fengkong.explain import catalogue
from fengkong.expr import Info, _runtime
from fengkong.expr._pygen import PyContext, py_expr
from fengkong.expr.ast import SAFE_INT, Lit, Node

OnlineFn = Callable[[Mapping[str, Any], dt.datetime], tuple[Any, ...]]
_DATE = re.compile(r"\d{4}-\d{2}-\d{2}")


def field_messages(f: FieldIR) -> dict[str, str]:
    """Problem messages for one field (shared with the batch backend, so both say the same)."""
    kind = {"int": "an integer", "float": "a number", "bool": "true or false", "str": "a string",
            "enum": "a string", "date": "a date in YYYY-MM-DD form"}[f.type]
    if f.lo is not None and f.hi is not None:
        rng = f"between {f.lo:g} and {f.hi:g}"
    elif f.lo is not None:
        rng = f">= {f.lo:g}"
    elif f.hi is not None:
        rng = f"<= {f.hi:g}"
    else:
        rng = "within ±2**53"
    return {
        "input-missing": f"Field `{f.name}` is required.",
        "input-type": f"Field `{f.name}` must be {kind}.",
        "input-range": f"Field `{f.name}` must be {rng}.",
        "input-not-finite": f"Field `{f.name}` must be a finite number.",
        "input-enum": f"Field `{f.name}` must be one of {', '.join(map(repr, f.values or ()))}.",
        "input-length": f"Field `{f.name}` must be at most {f.max_length} characters.",
        "input-date": f"Field `{f.name}` must be a valid date in YYYY-MM-DD form.",
    }


def _int_bound(value: float) -> str:
    """An int field's bound as source: an int literal when whole (faster int-int compare)."""
    return repr(int(value)) if float(value).is_integer() else repr(value)


def _problem(problems: list[FieldProblem] | None, field: str, code: str,
             message: str) -> list[FieldProblem]:
    problems = problems if problems is not None else []
    problems.append(FieldProblem(field, code, message))
    return problems


def _parse_date(value: str) -> dt.date | None:
    if not _DATE.fullmatch(value):
        return None
    try:
        return dt.date.fromisoformat(value)
    except ValueError:
        return None


class _Gen:
    def __init__(self, plan: Plan) -> None:
        self.plan = plan
        self.lines: list[str] = []
        self.ctx = PyContext(names={})
        self.ns: dict[str, Any] = dict(_runtime.NAMESPACE)
        self.ns.update({"_problem": _problem, "_InputError": InputValidationError,
                        "_parse_date": _parse_date, "_date": dt.date, "_Mapping": Mapping,
                        "_EMPTY": MappingProxyType({}), "_ABSENT": object(),
                        "_crc": zlib.crc32, "_lgb_sigmoid": _lightgbm.sigmoid, "_NAN": math.nan})
        self.n = 0

    def fresh(self, stem: str) -> str:
        self.n += 1
        return f"{stem}{self.n}"

    def emit(self, indent: int, line: str) -> None:
        self.lines.append("    " * indent + line)

    def const(self, value: object) -> str:
        name = self.fresh("_C")
        self.ns[name] = value
        return name

    def expr(self, node: Node) -> str:
        code = py_expr(node, self.ctx)
        self.ns.update(self.ctx.consts)
        return code

    def truth(self, node: Node) -> str:
        code = self.expr(node)
        return f"({code}) is True" if node.info.nullable else code

    # -- inputs --------------------------------------------------------------------------
    def inputs(self) -> None:
        fields = self.plan.fields
        variables = [self.fresh("i") for _ in fields]
        for f, var in zip(fields, variables, strict=True):
            self.ctx.names[f.name] = var
        groups = {f.name.split(".")[0] for f in fields if "." in f.name}
        self.emit(1, "g = r.get")
        # Records come flat ({"applicant.age": 30}) or nested ({"applicant": {"age": 30}});
        # nested ones are read in place, a dotted key standing in for a missing nested one.
        self.emit(1, f"if r.keys().isdisjoint({self.const(frozenset(groups))}):")
        for f, var in zip(fields, variables, strict=True):
            self.emit(2, f"{var} = g({f.name!r})")
        self.emit(1, "else:")
        prefixes: dict[str, str] = {}
        for f in fields:
            parts = f.name.split(".")
            for depth in range(1, len(parts)):
                prefix = ".".join(parts[:depth])
                if prefix in prefixes:
                    continue
                parent = prefixes.get(".".join(parts[:depth - 1])) if depth > 1 else "r"
                var = prefixes[prefix] = self.fresh("grp")
                self.emit(2, f"{var} = {parent}.get({parts[depth - 1]!r})")
                self.emit(2, f"if not isinstance({var}, _Mapping): {var} = _EMPTY")
        for f, var in zip(fields, variables, strict=True):
            parts = f.name.split(".")
            if len(parts) == 1:
                self.emit(2, f"{var} = g({f.name!r})")
                continue
            group = prefixes[".".join(parts[:-1])]
            self.emit(2, f"{var} = {group}.get({parts[-1]!r}, _ABSENT)")
            self.emit(2, f"if {var} is _ABSENT: {var} = g({f.name!r})")
        self.emit(1, "_p = None")
        for f, var in zip(fields, variables, strict=True):
            self.field(f, var)
        self.emit(1, "if _p is not None: raise _InputError(_p)")

    def field(self, f: FieldIR, v: str) -> None:
        msg = {k: self.const(m) for k, m in field_messages(f).items()}
        name = repr(f.name)

        def bad(indent: int, code: str) -> None:
            text = msg[code]
            if code == "input-type":  # the type's name, never the value
                text = f"{text}[:-1] + '; got a value of type ' + type({v}).__name__ + '.'"
            self.emit(indent, f"_p = _problem(_p, {name}, {code!r}, {text})")

        def missing(indent: int) -> None:
            if f.required:
                bad(indent, "input-missing")
            else:
                self.emit(indent, "pass")
        lo = f.lo if f.lo is not None else -SAFE_INT
        hi = f.hi if f.hi is not None else SAFE_INT
        if f.type == "int":
            self.emit(1, f"if type({v}) is not int:")
            self.emit(2, f"if {v} is None:")
            missing(3)
            self.emit(2, "else:")
            bad(3, "input-type")
            self.emit(1, f"elif not ({_int_bound(lo)} <= {v} <= {_int_bound(hi)}):")
            bad(2, "input-range")
        elif f.type == "float":
            # Fast path: a float inside the range (finite bounds exclude NaN and infinity).
            lo_f = float(f.lo) if f.lo is not None else -sys.float_info.max
            hi_f = float(f.hi) if f.hi is not None else sys.float_info.max
            self.emit(1, f"if type({v}) is float and {lo_f!r} <= {v} <= {hi_f!r}: pass")
            self.emit(1, f"elif type({v}) is int and -{SAFE_INT} <= {v} <= {SAFE_INT} "
                         f"and {lo_f!r} <= {v} <= {hi_f!r}: {v} = float({v})")
            self.emit(1, f"elif {v} is None or (type({v}) is float and {v} != {v}):")
            self.emit(2, f"{v} = None")
            missing(2)
            self.emit(1, f"elif type({v}) is float and {v} - {v} != 0.0:")
            bad(2, "input-not-finite")
            self.emit(1, f"elif type({v}) is float or type({v}) is int:")
            bad(2, "input-range")
            self.emit(1, "else:")
            bad(2, "input-type")
        elif f.type == "bool":
            self.emit(1, f"if type({v}) is not bool:")
            self.emit(2, f"if {v} is None:")
            missing(3)
            self.emit(2, "else:")
            bad(3, "input-type")
        elif f.type in ("str", "enum"):
            self.emit(1, f"if type({v}) is not str:")
            self.emit(2, f"if {v} is None:")
            missing(3)
            self.emit(2, "else:")
            bad(3, "input-type")
            if f.type == "enum":
                self.emit(1, f"elif {v} not in {self.const(frozenset(f.values or ()))}:")
                bad(2, "input-enum")
            elif f.max_length is not None:
                self.emit(1, f"elif len({v}) > {f.max_length}:")
                bad(2, "input-length")
        elif f.type == "date":
            self.emit(1, f"if type({v}) is not _date:")
            self.emit(2, f"if {v} is None:")
            missing(3)
            self.emit(2, f"elif type({v}) is str:")
            self.emit(3, f"{v} = _parse_date({v})")
            self.emit(3, f"if {v} is None:")
            bad(4, "input-date")
            self.emit(2, "else:")
            bad(3, "input-type")

    # -- body ----------------------------------------------------------------------------
    def features(self) -> None:
        for feat in self.plan.features:
            var = self.fresh("f")
            self.emit(1, f"{var} = {self.expr(feat.node)}")
            self.ctx.names[feat.name] = var

    def segment(self) -> None:
        segs = self.plan.segments
        self.ctx.names["segment"] = "seg"
        first = True
        for s in segs:
            if s.cond is None:
                if first:
                    self.emit(1, f"seg = {s.name!r}")
                else:
                    self.emit(1, "else:")
                    self.emit(2, f"seg = {s.name!r}")
                break
            self.emit(1, f"{'if' if first else 'elif'} {self.truth(s.cond)}:")
            self.emit(2, f"seg = {s.name!r}")
            first = False

    def experiments(self) -> None:
        for e in self.plan.experiments:
            var = self.fresh("e")
            self.ctx.names[e.column] = var
            self.emit(1, f"{var} = None")
            indent = 1
            if e.when is not None:
                self.emit(1, f"if {self.truth(e.when)}:")
                indent = 2
            key = self.fresh("k")
            self.emit(indent, f"{key} = {self.expr(e.key)}")
            self.emit(indent, f"if {key} is None: {var} = {e.arms[0]!r}")
            self.emit(indent, "else:")
            state = _hash.prefix_state(e.name)
            to_bytes = f"{key}.encode()" if e.key.info.type == "str" else f"str({key}).encode()"
            self.emit(indent + 1, f"{key} = _crc({to_bytes}, {state}) % {_hash.BUCKETS}")
            for i, (arm, bound) in enumerate(zip(e.arms, e.bounds, strict=True)):
                if i == len(e.arms) - 1:
                    self.emit(indent + 1, f"{'else' if i else 'if True'}: {var} = {arm!r}")
                else:
                    self.emit(indent + 1, f"{'elif' if i else 'if'} {key} < {bound}: {var} = {arm!r}")

    def slots(self) -> None:
        unset = [self.points_var(card.name, c.name) for card in self.plan.scorecards.values()
                 for c in card.characteristics]
        unset += [self.points_var(model.name, f, "contrib") for model in self.plan.models.values()
                  for f in model.features]
        for k in range(0, len(unset), 32):  # one chained assignment per 32 names
            self.emit(1, " = ".join(unset[k:k + 32]) + " = None")
        for slot in self.plan.slots:
            self.slot(slot)

    def points_var(self, card: str, char: str, group: str = "points") -> str:
        key = f"{group}.{card}.{char}"
        if key not in self.ctx.names:
            self.ctx.names[key] = self.fresh("pt")
        return self.ctx.names[key]

    def slot(self, slot: SlotIR) -> None:
        names = self.slot_vars(slot)
        first = True
        for exp, label, comp in slot.choices:
            test = (f"{self.ctx.names[f'experiment.{exp}']} == {label!r}" if exp is not None
                    else f"seg == {label!r}")
            self.emit(1, f"{'if' if first else 'elif'} {test}:")
            self.component(slot, comp, names, 2)
            first = False
        indent = 1
        if not first:
            self.emit(1, "else:")
            indent = 2
        if slot.base is not None:
            self.component(slot, slot.base, names, indent)
        else:
            for var in names.values():
                self.emit(indent, f"{var} = {'[]' if var.startswith('sr') else 'None'}")
        if slot.kind in ("scorecard", "model"):
            self.ctx.names[slot.name] = names["score"]
        else:
            for out in slot.outputs:
                self.ctx.names[f"{slot.name}.{out}"] = names[out]

    def slot_vars(self, slot: SlotIR) -> dict[str, str]:
        names = {"component": self.fresh("cmp")}
        if slot.kind in ("scorecard", "model"):
            names["score"] = self.fresh("sc")
            names["reasons"] = self.fresh("sr")
        else:
            names["row"] = self.fresh("tr")
            for out in slot.outputs:
                names[out] = self.fresh("to")
        self.slot_names[slot.name] = names
        return names

    slot_names: dict[str, dict[str, str]]

    def component(self, slot: SlotIR, comp: str, names: dict[str, str], indent: int) -> None:
        self.emit(indent, f"{names['component']} = {comp!r}")
        if slot.kind == "scorecard":
            self.scorecard(self.plan.scorecards[comp], names, indent)
        elif slot.kind == "model":
            self.model(self.plan.models[comp], names, indent)
        else:
            self.table(self.plan.tables[comp], names, indent, slot.info)

    def scorecard(self, card: ScorecardIR, names: dict[str, str], indent: int) -> None:
        pts = []
        for c in card.characteristics:
            v = self.fresh("cv")
            p = self.points_var(card.name, c.name)
            pts.append(p)
            self.emit(indent, f"{v} = {self.expr(c.node)}")
            tests = [f"{v} is None: {p} = {c.missing!r}"] if c.node.info.nullable else []
            tests += [f"{v} in {self.const(frozenset(values))}: {p} = {points!r}"
                      for values, points in c.specials]
            tests += [f"{cell.py(v, self.ns, is_int=c.node.info.type == 'int')}: {p} = {points!r}"
                      for cell, points in chain_cells(list(c.bins))]
            for k, test in enumerate(tests):
                self.emit(indent, f"{'if' if k == 0 else 'elif'} {test}")
            self.emit(indent, f"else: {p} = {c.other!r}" if tests else f"{p} = {c.other!r}")
        total = " + ".join([repr(float(card.base_points)), *pts])
        self.emit(indent, f"{names['score']} = {total}")
        # Adverse reasons: characteristics that lost points, most points lost first
        # (a stable sort keeps characteristic order among equal losses).
        loss = self.fresh("ls")
        codes = self.const(tuple(c.reason for c in card.characteristics))
        self.emit(indent, f"{loss} = [" + ", ".join(
            f"{c.max_points!r} - {p}" for c, p in zip(card.characteristics, pts, strict=True)) + "]")
        self.emit(indent, f"{names['reasons']} = [{codes}[i] for i in sorted((i for i in "
                          f"range({len(pts)}) if {loss}[i] > 0), key={loss}.__getitem__, reverse=True)]")

    def model(self, m: ModelIR, names: dict[str, str], indent: int) -> None:
        lgbm = m.model
        zeroing, zero_fill = _lightgbm.needs_zeroing(lgbm), _lightgbm.needs_zero_fill(lgbm)
        xn: dict[int, str] = {}
        xz: dict[int, str] = {}
        # Only features some split reads are computed; missing becomes NaN (see _lightgbm).
        for f in sorted(lgbm.used_features):
            node, v = m.inputs[f], self.fresh("mx")
            code = self.expr(node)
            if node.info.nullable:
                self.emit(indent, f"{v} = {code}")
                to_float = "" if node.info.type == "float" else "float"
                self.emit(indent, f"{v} = _NAN if {v} is None else {to_float}({v})")
            else:
                self.emit(indent, f"{v} = {code if node.info.type == 'float' else f'float({code})'}")
            if f in zeroing:
                z = repr(_lightgbm.ZERO_THRESHOLD)
                self.emit(indent, f"if -{z} <= {v} <= {z}: {v} = 0.0")
            xn[f] = xz[f] = v
            if f in zero_fill and node.info.nullable:
                xz[f] = self.fresh("mz")
                self.emit(indent, f"{xz[f]} = {v} if {v} == {v} else 0.0")
        raw = self.fresh("mr")
        contrib = [self.points_var(m.name, f, "contrib") for f in m.features]
        self.emit(indent, " = ".join([raw, *contrib, "0.0"]))
        for tree in lgbm.trees:
            self.lines += _lightgbm.online_tree(tree, xn, xz, raw, contrib, indent, self.const)
        if m.output == "probability":
            self.emit(indent, f"{names['score']} = _lgb_sigmoid({lgbm.sigmoid!r}, {raw})")
        else:
            self.emit(indent, f"{names['score']} = {raw}")
        # Reasons: features that pushed the score up, most first (ties in feature order).
        # One test per coded feature: cheaper than filtering a tuple of all of them.
        out = names["reasons"]
        self.emit(indent, f"{out} = []")
        for i, (c, r) in enumerate(zip(contrib, m.reasons, strict=True)):
            if r is not None:
                self.emit(indent, f"if {c} > 0.0: {out}.append((-{c}, {i}, {r!r}))")
        if any(r is not None for r in m.reasons):
            self.emit(indent, f"if {out}: {out}.sort(); {out} = [c for _, _, c in {out}]")

    def table(self, tbl: TableIR, names: dict[str, str], indent: int,
              infos: tuple[Info, ...]) -> None:
        args = []
        for node in tbl.inputs:
            a = self.fresh("ta")
            self.emit(indent, f"{a} = {self.expr(node)}")
            args.append((a, node.info.nullable))
        conds = [self.row_condition(row.cells, args, [n.info.type == "int" for n in tbl.inputs])
                 for row in tbl.rows]
        outs = [names[o] for o in tbl.outputs]
        if tbl.hit_policy in ("first", "unique"):
            for i, (row, cond) in enumerate(zip(tbl.rows, conds, strict=True)):
                self.emit(indent, f"{'if' if i == 0 else 'elif'} {cond}:")
                self.emit(indent + 1, f"{names['row']} = {i}")
                for var, node, info in zip(outs, row.outputs, infos, strict=True):
                    self.emit(indent + 1, f"{var} = {self.as_type(node, info.type)}")
            self.emit(indent, "else:")
            self.emit(indent + 1, f"{names['row']} = None")
            for var in outs:
                self.emit(indent + 1, f"{var} = None")
            return
        # collect
        self.emit(indent, f"{names['row']} = None")
        hit = self.fresh("hit")
        self.emit(indent, f"{hit} = 0")
        agg = tbl.aggregate
        for var, info in zip(outs, infos, strict=True):
            zero = "0.0" if info.type == "float" else "0"
            self.emit(indent, f"{var} = {zero if agg in ('sum', 'count') else 'None'}")
        for row, cond in zip(tbl.rows, conds, strict=True):
            self.emit(indent, f"if {cond}:")
            self.emit(indent + 1, f"{hit} += 1")
            for var, node, info in zip(outs, row.outputs, infos, strict=True):
                if agg == "count":
                    self.emit(indent + 1, f"{var} += 1")
                    continue
                val = self.fresh("cv")
                self.emit(indent + 1, f"{val} = {self.as_type(node, info.type)}")
                if agg == "sum":
                    self.emit(indent + 1, f"if {val} is not None: {var} = {var} + {val}")
                else:
                    self.emit(indent + 1, f"{var} = _nn_{agg}({var}, {val})")
        if agg != "count":
            self.emit(indent, f"if not {hit}: " + "; ".join(f"{v} = None" for v in outs))
        if agg in ("min", "max"):  # min(0.0, -0.0) keeps either zero; both backends give +0.0
            for var in outs:
                self.emit(indent, f"{var} = _plus0({var})")

    def row_condition(self, cells: tuple[Cell, ...], args: list[tuple[str, bool]],
                      ints: list[bool]) -> str:
        parts = []
        for cell, (var, nullable), is_int in zip(cells, args, ints, strict=True):
            if cell.kind == "any":
                continue
            cond = cell.py(var, self.ns, is_int=is_int)
            if nullable and cell.kind != "null":
                cond = f"{var} is not None and {cond}"
            parts.append(f"({cond})")
        return " and ".join(parts) or "True"

    def rules(self) -> dict[str, list[str]]:
        by_action: dict[str, list[str]] = {"decline": [], "refer": [], "cap": [], "flag": []}
        self.rule_vars: list[str] = []
        caps = []
        for rule in self.plan.rules:
            var = self.fresh("h")
            cond = self.truth(rule.node)
            if rule.segments is not None:
                cond = f"seg in {self.const(rule.segments)} and {cond}"
            self.emit(1, f"{var} = {cond}")
            self.rule_vars.append(var)
            by_action[rule.action].append(var)
            if rule.limit is not None:
                caps.append((var, rule.limit))
        for flag, action in (("declined", "decline"), ("referred", "refer"), ("flagged", "flag")):
            self.emit(1, f"{flag} = {' or '.join(by_action[action]) or 'False'}")
            self.ctx.names[flag] = flag
        self.emit(1, f"capped = {' or '.join(v for v, _ in caps) or 'False'}")
        # The lowest limit of the cap rules that fired (null limits ignored).
        self.emit(1, "cap = None")
        for var, limit in caps:
            value = self.fresh("cp")
            self.emit(1, f"if {var}:")
            self.emit(2, f"{value} = {self.float_expr(limit)}")
            self.emit(2, f"if {value} is not None and (cap is None or {value} < cap): cap = {value}")
        self.ctx.names["cap"] = "cap"
        return by_action

    def outcome(self, by_action: dict[str, list[str]]) -> None:
        o = self.plan.outcome
        self.emit(1, f"lim = {self.float_expr(o.limit)}")
        self.emit(1, "if cap is not None and lim is not None and cap < lim: lim = cap")
        if o.limit_step is not None:
            self.emit(1, f"if lim is not None: lim = float(_floor(lim / {o.limit_step!r})) * {o.limit_step!r} + 0.0")
        self.ctx.names["limit"] = "lim"
        if o.decision is not None:
            self.emit(1, f"dec = {self.expr(o.decision)}")
        else:
            self.emit(1, "dec = 'decline' if declined else ('refer' if referred else 'approve')")
        self.emit(1, f"apr = {self.float_expr(o.apr)}")
        term = "None" if o.term is None else self.expr(o.term)
        if o.term is not None and o.term.info.type == "float":
            term = self.float_expr(o.term)
        self.emit(1, f"term = {term}")
        self.emit(1, "if dec == 'decline': lim = apr = term = None")
        # reasons, most decisive first; generic summary codes (a score below a cut-off)
        # after the specific factors (rules, then the score's characteristics)
        self.emit(1, "rs = []")
        generic = catalogue().is_generic
        any_fired = {"decline": "declined", "refer": "referred", "cap": "capped", "flag": "flagged"}
        for summaries in (False, True):
            if generic(o.decline_reason) == summaries:
                self.emit(1, f"if dec == 'decline' and not declined: rs.append({o.decline_reason!r})")
            # Rules of an action are only looked at when one of them fired.
            for action in ("decline", "refer", "cap", "flag"):
                pairs = [(r, v) for r, v in zip(self.plan.rules, self.rule_vars, strict=True)
                         if r.action == action and generic(r.reason) == summaries]
                if pairs:
                    self.emit(1, f"if {any_fired[action]}:")
                    for rule, var in pairs:
                        self.emit(2, f"if {var}: rs.append({rule.reason!r})")
            if summaries:
                break
            for kind in ("scorecard", "model"):
                for slot in self.plan.slots:
                    if slot.kind == kind:
                        self.emit(1, f"rs += {self.slot_names[slot.name]['reasons']}")
        self.emit(1, f"rs = list(dict.fromkeys(rs))[:{o.max_reasons}]")
        self.emit(1, "hits = []")
        if self.plan.rules:
            self.emit(1, "if declined or referred or capped or flagged:")
            for rule, var in zip(self.plan.rules, self.rule_vars, strict=True):
                self.emit(2, f"if {var}: hits.append({rule.id!r})")

    def float_expr(self, node: Node | None) -> str:
        if node is None:
            return "None"
        return self.as_type(node, "float")

    def as_type(self, node: Node, target: str) -> str:
        """Code for ``node`` converted to ``target`` (int values of a float column become float)."""
        code = self.expr(node)
        if target != "float" or node.info.type != "int":
            return code
        if isinstance(node, Lit):
            return repr(float(node.value))  # type: ignore[arg-type]
        if not node.info.nullable:
            return f"float({code})"
        tmp = self.fresh("_w")
        return f"(None if ({tmp} := {code}) is None else float({tmp}))"

    def result(self) -> None:
        p = self.plan
        values: dict[str, str] = {
            "strategy_id": repr(p.strategy_id), "strategy_version": repr(p.version),
            "strategy_digest": repr(p.digest), "evaluated_at": "_now", "decision": "dec",
            "segment": "seg", "limit": "lim", "apr": "apr", "term": "term", "reasons": "rs",
            "rule_hits": "hits"}
        for e in p.experiments:
            values[e.column] = self.ctx.names[e.column]
        for slot in p.slots:
            names = self.slot_names[slot.name]
            values[f"component.{slot.name}"] = names["component"]
            if slot.kind in ("scorecard", "model"):
                values[f"score.{slot.name}"] = names["score"]
            else:
                values[f"table.{slot.name}.row"] = names["row"]
                for o in slot.outputs:
                    values[f"table.{slot.name}.{o}"] = names[o]
        for card in p.scorecards.values():
            for c in card.characteristics:
                values[f"points.{card.name}.{c.name}"] = self.points_var(card.name, c.name)
        for model in p.models.values():
            for feat in model.features:
                values[f"contrib.{model.name}.{feat}"] = self.points_var(model.name, feat, "contrib")
        for f in p.features:
            values[f"feature.{f.name}"] = self.ctx.names[f.name]
        self.emit(1, "return (" + ", ".join(values[c.name] for c in p.columns) + ",)")

    def build(self) -> tuple[OnlineFn, str]:
        self.slot_names = {}
        self.emit(0, "def _decide(r, _now):")
        self.inputs()
        self.features()
        self.segment()
        self.experiments()
        self.slots()
        by_action = self.rules()
        self.outcome(by_action)
        self.result()
        source = "\n".join(self.lines)
        code = compile(source, f"<fengkong plan {self.plan.strategy_id} v{self.plan.version}>", "exec")
        namespace = dict(self.ns)
        exec(code, namespace)  # the source is generated from a type-checked tree, never user text
        return namespace["_decide"], source


def build_online(plan: Plan) -> tuple[OnlineFn, str]:
    """Generate and compile the online function for ``plan``; also return its source."""
    return _Gen(plan).build()
