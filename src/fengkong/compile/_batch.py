"""Batch backend: the plan becomes a chain of Polars expressions over a whole table.

No Python runs per row: inputs are checked and normalised with column expressions,
every expression compiles to a ``pl.Expr`` with the same null semantics as the online
backend, and experiment arms are hashed with vectorised CRC-32. Rows whose inputs are
invalid get their problems in the ``error`` column and null decision columns.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable
from functools import partial
from typing import Any

import numpy as np
import polars as pl

from fengkong.compile import _hash, _lightgbm
from fengkong.compile._cells import chain_cells
from fengkong.compile._online import field_messages
from fengkong.compile._reasons import reason_columns
from fengkong.compile.ir import FieldIR, ModelIR, Plan, ScorecardIR, SlotIR, TableIR
from fengkong.errors import DataError
from fengkong.expr._polars import DTYPES, pl_expr
from fengkong.expr.ast import SAFE_INT, Node
from fengkong.expr.functions import plus_zero

_INTS = (pl.Int8, pl.Int16, pl.Int32, pl.Int64, pl.UInt8, pl.UInt16, pl.UInt32, pl.UInt64)
_FLOATS = (pl.Float32, pl.Float64)


class _Batch:
    def __init__(self, plan: Plan) -> None:
        self.plan = plan
        self.names: dict[str, str] = {}
        # Expressions depend only on the plan and the input schema, so one instance per
        # schema builds them once; later calls skip the Python side of the work.
        self.memo: dict[object, Any] = {}

    def cached(self, key: object, build: Callable[[], Any]) -> Any:
        """``build()`` the first time ``key`` is asked for, the stored result after."""
        if key not in self.memo:
            self.memo[key] = build()
        return self.memo[key]

    def col(self, name: str) -> pl.Expr:
        return pl.col(self.names[name])

    def e(self, node: Node) -> pl.Expr:
        return pl_expr(node, self.col)

    # -- inputs --------------------------------------------------------------------------
    def inputs(self, frame: pl.DataFrame) -> tuple[list[pl.Expr], pl.Expr, pl.Expr]:
        """Normalised input columns, a cheap "row has a problem" flag, and the messages.

        Messages are strings and cost far more than the flag, so callers compute
        them only for the rows the flag marks.
        """
        exprs: list[pl.Expr] = []
        problems: list[pl.Expr] = []
        flags: list[pl.Expr] = []
        missing = [f.name for f in self.plan.fields if f.required and f.name not in frame.columns]
        if missing:
            msg = f"Input has no column {', '.join(f'`{m}`' for m in missing)} (required by the strategy)."
            raise DataError(msg)
        for f in self.plan.fields:
            self.names[f.name] = f.name
            value, problem, flag = self.field(f, frame.schema.get(f.name))
            exprs.append(value.alias(f.name))
            problems.append(problem)
            flags.append(flag)
        error = pl.concat_str(problems, separator=" ", ignore_nulls=True) if problems else pl.lit("")
        bad = pl.any_horizontal(flags) if flags else pl.lit(value=False)
        return exprs, bad.alias("_bad"), pl.when(error != "").then(error).alias("error")

    def field(self, f: FieldIR, dtype: pl.DataType | None) -> tuple[pl.Expr, pl.Expr, pl.Expr]:
        msg = field_messages(f)
        target = DTYPES["str" if f.type == "enum" else f.type]
        if dtype is None:
            c = pl.lit(None, dtype=target)
            return c, pl.lit(None, dtype=pl.String), pl.lit(value=False)
        c = pl.col(f.name)
        checks: list[tuple[pl.Expr, str]] = []
        bad_type = f"Column `{f.name}` has type {dtype}; the strategy declares {f.type}."
        if dtype == pl.Null:
            c = c.cast(target)
        elif f.type == "int":
            if not isinstance(dtype, _INTS):
                raise DataError(bad_type)
            lo = f.lo if f.lo is not None else -SAFE_INT
            hi = f.hi if f.hi is not None else SAFE_INT
            checks.append((~c.is_between(lo, hi), msg["input-range"]))
            c = c.cast(pl.Int64, strict=False)
        elif f.type == "float":
            if isinstance(dtype, _INTS):
                checks.append((~c.is_between(-SAFE_INT, SAFE_INT), msg["input-range"]))
            elif not (isinstance(dtype, (_FLOATS, pl.Decimal))):
                raise DataError(bad_type)
            c = c.cast(pl.Float64)
            c = pl.when(~c.is_nan()).then(c)
            checks.append((c.is_infinite(), msg["input-not-finite"]))
            if f.lo is not None or f.hi is not None:
                lo = f.lo if f.lo is not None else float("-inf")
                hi = f.hi if f.hi is not None else float("inf")
                checks.append((~c.is_between(lo, hi), msg["input-range"]))
        elif f.type == "bool":
            if dtype != pl.Boolean:
                raise DataError(bad_type)
        elif f.type in ("str", "enum"):
            if not isinstance(dtype, pl.String | pl.Categorical | pl.Enum):
                raise DataError(bad_type)
            c = c.cast(pl.String)
            if f.type == "enum":
                checks.append((~c.is_in(pl.lit(pl.Series(list(f.values or ()), dtype=pl.String)).implode()),
                               msg["input-enum"]))
            elif f.max_length is not None:
                checks.append((c.str.len_chars() > f.max_length, msg["input-length"]))
        elif f.type == "date":
            if dtype == pl.String:
                # Year 0 exists for Polars but not for Python's date: both reject it.
                parsed = pl.when(c.str.contains(r"^\d{4}-\d{2}-\d{2}$") & ~c.str.starts_with("0000")).then(
                    c.str.to_date("%Y-%m-%d", strict=False))
                checks.append((c.is_not_null() & parsed.is_null(), msg["input-date"]))
                c = parsed
            elif dtype != pl.Date:
                raise DataError(bad_type)
        # Value checks first (an unreadable date is not a missing one), then presence.
        if f.required:
            checks.append((c.is_null(), msg["input-missing"]))
        if not checks:
            return c, pl.lit(None, dtype=pl.String), pl.lit(value=False)
        conds = [cond.fill_null(value=False) for cond, _ in checks]
        chain: Any = pl.when(conds[0]).then(pl.lit(checks[0][1]))
        for cond, (_, text) in zip(conds[1:], checks[1:], strict=True):
            chain = chain.when(cond).then(pl.lit(text))
        return c, chain.otherwise(pl.lit(None, dtype=pl.String)), pl.any_horizontal(conds)

    # -- stages ----------------------------------------------------------------------------
    def features(self, lf: pl.LazyFrame) -> pl.LazyFrame:
        for f in self.plan.features:
            lf = lf.with_columns(self.e(f.node).alias(f"feature.{f.name}"))
            self.names[f.name] = f"feature.{f.name}"
        return lf

    def segment(self, lf: pl.LazyFrame) -> pl.LazyFrame:
        segs = self.plan.segments
        if segs[0].cond is None:
            expr: pl.Expr = pl.lit(segs[0].name)
        else:
            chain: Any = pl.when(self.e(segs[0].cond)).then(pl.lit(segs[0].name))
            for s in segs[1:]:
                chain = (chain.when(self.e(s.cond)).then(pl.lit(s.name)) if s.cond is not None
                         else chain.otherwise(pl.lit(s.name)))
            expr = chain
        self.names["segment"] = "segment"
        return lf.with_columns(expr.alias("segment"))

    def experiments(self, lf: pl.LazyFrame) -> pl.LazyFrame:
        if not self.plan.experiments:
            return lf
        for e in self.plan.experiments:
            key = self.e(e.key)
            if e.when is not None:  # only records in the experiment are hashed
                key = pl.when(self.e(e.when)).then(key)
            lf = lf.with_columns(key.alias(f"_key.{e.name}"))
        frame = lf.collect()
        cols = []
        for e in self.plan.experiments:
            b = pl.Series(_hash.buckets(frame[f"_key.{e.name}"], _hash.prefix_state(e.name)))
            frame = frame.with_columns(b.alias(f"_bucket.{e.name}"))
            bk = pl.col(f"_bucket.{e.name}")
            arm: Any = pl.when(bk.is_null()).then(pl.lit(e.arms[0]))
            for a, bound in zip(e.arms[:-1], e.bounds[:-1], strict=True):
                arm = arm.when(bk < bound).then(pl.lit(a))
            full = arm.otherwise(pl.lit(e.arms[-1]))
            if e.when is not None:
                full = pl.when(self.e(e.when)).then(full)
            cols.append(full.cast(pl.String).alias(e.column))
            self.names[e.column] = e.column
        return frame.lazy().with_columns(cols)

    def scorecard(self, card: ScorecardIR) -> tuple[list[pl.Expr], pl.Expr]:
        pts: list[pl.Expr] = []
        for c in card.characteristics:
            v = self.e(c.node)
            p: Any = pl.when(v.is_null()).then(pl.lit(c.missing))
            for values, points in c.specials:
                p = p.when(v.is_in(pl.lit(pl.Series(list(values), dtype=DTYPES[c.node.info.type])).implode())).then(pl.lit(points))
            for cell, points in chain_cells(list(c.bins)):
                p = p.when(cell.pl(v, c.node.info.type)).then(pl.lit(points))
            pts.append(p.otherwise(pl.lit(c.other)).cast(pl.Float64))
        names = [f"_pts.{card.name}.{c.name}" for c in card.characteristics]
        cols = [p.alias(n) for p, n in zip(pts, names, strict=True)]
        score: pl.Expr = pl.lit(float(card.base_points))
        for n in names:  # left to right, as online, so float sums agree to the bit
            score = score + pl.col(n)
        return cols, score

    def table(self, tbl: TableIR) -> dict[str, pl.Expr]:
        args = [self.e(n) for n in tbl.inputs]
        conds = []
        for row in tbl.rows:
            cond: pl.Expr = pl.lit(value=True)
            for cell, a, node in zip(row.cells, args, tbl.inputs, strict=True):
                if cell.kind != "any":
                    cond = cond & cell.pl(a, node.info.type)
            conds.append(cond)
        out: dict[str, pl.Expr] = {}
        if tbl.hit_policy in ("first", "unique"):
            row_idx: Any = pl.when(conds[0]).then(pl.lit(0, dtype=pl.Int64))
            for i, cond in enumerate(conds[1:], start=1):
                row_idx = row_idx.when(cond).then(pl.lit(i, dtype=pl.Int64))
            out["row"] = row_idx.otherwise(pl.lit(None, dtype=pl.Int64))
            for k, (name, info) in enumerate(zip(tbl.outputs, tbl.output_info, strict=True)):
                dtype = DTYPES[info.type]
                chain: Any = pl.when(conds[0]).then(self.e(tbl.rows[0].outputs[k]).cast(dtype))
                for cond, row in zip(conds[1:], tbl.rows[1:], strict=True):
                    chain = chain.when(cond).then(self.e(row.outputs[k]).cast(dtype))
                out[name] = chain.otherwise(pl.lit(None, dtype=dtype))
            return out
        out["row"] = pl.lit(None, dtype=pl.Int64)
        hits: pl.Expr = pl.lit(0, dtype=pl.Int64)
        for cond in conds:
            hits = hits + cond.cast(pl.Int64)
        for k, (name, info) in enumerate(zip(tbl.outputs, tbl.output_info, strict=True)):
            dtype = DTYPES[info.type]
            if tbl.aggregate == "count":
                out[name] = hits
                continue
            vals = [pl.when(cond).then(self.e(row.outputs[k]).cast(dtype))
                    for cond, row in zip(conds, tbl.rows, strict=True)]
            if tbl.aggregate == "sum":
                acc: pl.Expr = pl.lit(0, dtype=dtype)
                for v in vals:
                    acc = acc + v.fill_null(pl.lit(0, dtype=dtype))
            else:
                acc = pl.min_horizontal(vals) if tbl.aggregate == "min" else pl.max_horizontal(vals)
            out[name] = pl.when(hits > 0).then(plus_zero(acc).cast(dtype))
        return out

    def slots(self, lf: pl.LazyFrame) -> pl.LazyFrame:
        # Scorecards and their slots first: tables may read scores.
        card_cols: list[pl.Expr] = []
        for card in self.plan.scorecards.values():
            cols, score = self.cached(("card", card.name), partial(self.scorecard, card))
            lf = lf.with_columns(cols)
            card_cols.append(score.alias(f"_score.{card.name}"))
        if card_cols:
            lf = lf.with_columns(card_cols)
        lf = self.models(lf)
        for kind in ("scorecard", "table"):
            if kind == "table":
                tbl_cols = [e.alias(f"_tbl.{tbl.name}.{k}") for tbl in self.plan.tables.values()
                            for k, e in self.cached(("table", tbl.name), partial(self.table, tbl)).items()]
                if tbl_cols:
                    lf = lf.with_columns(tbl_cols)
            slot_cols = [e for s in self.plan.slots
                         if s.kind == kind or (kind, s.kind) == ("scorecard", "model")
                         for e in self.cached(("slot", s.name), partial(self.slot, s))]
            if slot_cols:
                lf = lf.with_columns(slot_cols)
        points = []
        card_slots = [s for s in self.plan.slots if s.kind == "scorecard"]
        for card in self.plan.scorecards.values():
            used: pl.Expr = pl.lit(value=False)
            for s in card_slots:
                used = used | (pl.col(f"component.{s.name}") == card.name).fill_null(value=False)
            points += [pl.when(used).then(pl.col(f"_pts.{card.name}.{c.name}")).alias(f"points.{card.name}.{c.name}")
                       for c in card.characteristics]
        return lf.with_columns(points) if points else lf

    def models(self, lf: pl.LazyFrame) -> pl.LazyFrame:
        """Score the LightGBM models with NumPy, each on the valid rows a slot runs it for.

        Adds ``_score.<model>`` and ``contrib.<model>.<feature>`` (null where the model
        did not run). Trees are summed and contributions accumulated as online does
        (see :mod:`fengkong.compile._lightgbm`); the sigmoid is a Polars expression, as
        ``exp`` is in the expression language, so both backends use the same ``exp``.
        """
        if not self.plan.models:
            return lf
        model_slots = [s for s in self.plan.slots if s.kind == "model"]
        cols: list[pl.Expr] = []
        for m in self.plan.models.values():
            cols += [self.e(m.inputs[f]).cast(pl.Float64).alias(f"_mx.{m.name}.{f}")
                     for f in sorted(m.model.used_features)]
            used: pl.Expr = pl.lit(value=False)
            for s in model_slots:
                if m.name in s.components:
                    used = used | (self.component(s) == m.name).fill_null(value=False)
            cols.append((used & pl.col("error").is_null()).alias(f"_mused.{m.name}"))
        frame = lf.with_columns(cols).collect()
        n = frame.height
        out: list[pl.Series] = []
        scores: list[pl.Expr] = []
        for m in self.plan.models.values():
            rows = np.flatnonzero(frame[f"_mused.{m.name}"].to_numpy())
            inputs = {f: frame[f"_mx.{m.name}.{f}"].to_numpy()[rows]  # null -> NaN
                      for f in m.model.used_features}
            raw, contrib = _lightgbm.BatchScorer.for_model(m.model).score(inputs, len(rows))
            out.append(_scatter(f"_raw.{m.name}", raw, rows, n))
            out += [_scatter(f"contrib.{m.name}.{feat}", contrib[i], rows, n)
                    for i, feat in enumerate(m.features)]
            scores.append(_model_score(m).alias(f"_score.{m.name}"))
        return frame.with_columns(out).lazy().with_columns(scores)

    def component(self, slot: SlotIR) -> pl.Expr:
        """The name of the component ``slot`` runs, per row (as ``component.<slot>``)."""
        out: pl.Expr = pl.lit(slot.base, dtype=pl.String)
        for exp, label, comp in reversed(slot.choices):
            test = (pl.col(f"experiment.{exp}") == label) if exp is not None else (pl.col("segment") == label)
            out = pl.when(test.fill_null(value=False)).then(pl.lit(comp)).otherwise(out)
        return out

    def slot(self, slot: SlotIR) -> list[pl.Expr]:
        def choose(value: Callable[[str], pl.Expr], dtype: pl.DataType, default: pl.Expr | None = None) -> pl.Expr:
            chain: Any = None
            for exp, label, comp in slot.choices:
                test = (pl.col(f"experiment.{exp}") == label) if exp is not None else (pl.col("segment") == label)
                test = test.fill_null(value=False)
                chain = pl.when(test).then(value(comp)) if chain is None else chain.when(test).then(value(comp))
            other = value(slot.base) if slot.base is not None else (
                default if default is not None else pl.lit(None, dtype=dtype))
            return other if chain is None else chain.otherwise(other)

        out = [self.component(slot).cast(pl.String).alias(f"component.{slot.name}")]
        if slot.kind in ("scorecard", "model"):
            out.append(choose(lambda c: pl.col(f"_score.{c}"), pl.Float64()).alias(f"score.{slot.name}"))
            self.names[slot.name] = f"score.{slot.name}"
        else:
            out.append(choose(lambda c: pl.col(f"_tbl.{c}.row"), pl.Int64()).alias(f"table.{slot.name}.row"))
            for o, info in zip(slot.outputs, slot.info, strict=True):
                dtype = DTYPES[info.type]
                out.append(choose(lambda c, o=o, dtype=dtype: pl.col(f"_tbl.{c}.{o}").cast(dtype), dtype)  # type: ignore[misc]
                           .alias(f"table.{slot.name}.{o}"))
                self.names[f"{slot.name}.{o}"] = f"table.{slot.name}.{o}"
        return out

    def rules(self, lf: pl.LazyFrame) -> pl.LazyFrame:
        cols = []
        for rule in self.plan.rules:
            fired = self.e(rule.node).fill_null(value=False)
            if rule.segments is not None:
                fired = pl.col("segment").is_in(pl.lit(pl.Series(sorted(rule.segments), dtype=pl.String)).implode()) & fired
            cols.append(fired.alias(rule.column))
        if cols:
            lf = lf.with_columns(cols)
        flags = []
        for flag, action in (("declined", "decline"), ("referred", "refer"), ("flagged", "flag")):
            fired_cols = [pl.col(r.column) for r in self.plan.rules if r.action == action]
            flags.append((pl.any_horizontal(fired_cols) if fired_cols else pl.lit(value=False)).alias(f"_{flag}"))
            self.names[flag] = f"_{flag}"
        caps = [pl.when(pl.col(r.column)).then(self.e(r.limit).cast(pl.Float64))
                for r in self.plan.rules if r.limit is not None]
        flags.append((pl.min_horizontal(caps) if caps else pl.lit(None, dtype=pl.Float64)).alias("_cap"))
        self.names["cap"] = "_cap"
        return lf.with_columns(flags)

    def outcome(self, lf: pl.LazyFrame) -> pl.LazyFrame:
        o = self.plan.outcome
        lim = self.float_expr(o.limit)
        cap = pl.col("_cap")
        lim = pl.when(cap < lim).then(cap).otherwise(lim)
        if o.limit_step is not None:
            lim = plus_zero((lim / o.limit_step).floor() * o.limit_step)
        lf = lf.with_columns(lim.alias("_limit"))
        self.names["limit"] = "_limit"
        if o.decision is not None:
            dec = self.e(o.decision)
        else:
            dec = (pl.when(pl.col("_declined")).then(pl.lit("decline"))
                   .when(pl.col("_referred")).then(pl.lit("refer")).otherwise(pl.lit("approve")))
        lf = lf.with_columns(dec.cast(pl.String).alias("decision"))
        declined = pl.col("decision") == "decline"
        term_dtype = pl.Int64 if o.term is not None and o.term.info.type == "int" else pl.Float64
        term = self.e(o.term).cast(term_dtype) if o.term is not None else pl.lit(None, dtype=term_dtype)
        return lf.with_columns(
            pl.when(~declined).then(pl.col("_limit")).alias("limit"),
            pl.when(~declined).then(self.float_expr(o.apr)).alias("apr"),
            pl.when(~declined).then(term).alias("term"),
        )

    def float_expr(self, node: Node | None) -> pl.Expr:
        if node is None:
            return pl.lit(None, dtype=pl.Float64)
        return self.e(node).cast(pl.Float64)

    def run(self, frame: pl.DataFrame, now: dt.datetime, *, reasons: bool = True) -> pl.DataFrame:
        exprs, bad, error = self.cached("inputs", lambda: self.inputs(frame))
        base = frame.lazy().select([*exprs, bad]).collect()
        flags = base["_bad"]
        if flags.any():
            rows = flags.arg_true()
            messages = frame[rows].select(error).to_series()
            errors = pl.Series("error", [None] * frame.height, dtype=pl.String).scatter(rows, messages)
        else:
            errors = pl.Series("error", [None] * frame.height, dtype=pl.String)
        lf = base.drop("_bad").with_columns(errors).lazy()
        lf = self.features(lf)
        lf = self.segment(lf)
        lf = self.experiments(lf)
        lf = self.slots(lf)
        lf = self.rules(lf)
        lf = self.outcome(lf)
        p = self.plan
        consts = {"strategy_id": pl.lit(p.strategy_id), "strategy_version": pl.lit(p.version),
                  "strategy_digest": pl.lit(p.digest),
                  "evaluated_at": pl.lit(now, dtype=pl.Datetime("us", "UTC"))}
        frame = lf.collect()
        reason_list, hits = reason_columns(p, frame, with_reasons=reasons)
        lf = frame.with_columns(reason_list, hits).lazy()
        ok = pl.col("error").is_null()
        any_error = frame["error"].null_count() < frame.height
        out = []
        for c in p.columns:
            if c.name in consts:
                out.append(consts[c.name].alias(c.name))
            elif any_error:  # a row with invalid inputs gets no decision
                out.append(pl.when(ok).then(pl.col(c.name)).alias(c.name))
            else:
                out.append(pl.col(c.name))
        out.append(pl.col("error"))
        return lf.select(out).collect()


def _scatter(name: str, values: np.ndarray, rows: np.ndarray, n: int) -> pl.Series:
    full = np.full(n, np.nan)
    full[rows] = values
    return pl.Series(name, full, nan_to_null=True)


def _model_score(m: ModelIR) -> pl.Expr:
    raw = pl.col(f"_raw.{m.name}")
    if m.output != "probability":
        return raw
    # 1 / (1 + exp(-k * raw)), as LightGBM and the online backend compute it.
    k = m.model.sigmoid if m.model.sigmoid is not None else 1.0
    return pl.lit(1.0) / (pl.lit(1.0) + (pl.lit(-k) * raw).exp())


def run_batch(plan: Plan, frame: pl.DataFrame, now: dt.datetime,
              cache: dict[object, Any] | None = None, *, reasons: bool = True) -> pl.DataFrame:
    """Decide every row of ``frame``; see the module docstring.

    ``cache`` (one per compiled strategy) keeps the built expressions per input schema;
    without ``reasons`` the ``reasons`` column is left null (everything else is the same).
    """
    key = tuple((f.name, repr(frame.schema.get(f.name))) for f in plan.fields)
    batch = cache.get(key) if cache is not None else None
    if batch is None:
        batch = _Batch(plan)
        if cache is not None:
            cache[key] = batch
    return batch.run(frame, now, reasons=reasons)
