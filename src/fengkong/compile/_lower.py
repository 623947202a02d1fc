"""Lower a validated strategy spec to a :class:`~fengkong.compile.ir.Plan`.

Every expression is parsed and type-checked in the scope it runs in: features see
inputs and the features above them; segment conditions see features; experiments
see the segment; scorecards, model inputs and tables see the experiment arms; rules see slot
values (scores, table outputs); the outcome sees rule results. All problems of a
file are collected, each with file, line and column, before anything is raised.
"""

from __future__ import annotations

import hashlib
import math
from collections.abc import Collection, Mapping
from typing import Any

from fengkong.compile import _lightgbm, _lint, _protected, _texts
from fengkong.compile._cells import Cell, CellError, parse_cell
from fengkong.compile.ir import (
    ALTERNATIVE_KINDS,
    CONSENT_RANK,
    SOURCE_CONSENT_CODES,
    SOURCE_FAILURE_CODES,
    SOURCE_STATUSES,
    CharacteristicIR,
    Column,
    ExperimentIR,
    FeatureIR,
    FieldIR,
    ModelIR,
    OutcomeIR,
    Plan,
    RowIR,
    RuleIR,
    ScorecardIR,
    SegmentIR,
    SlotIR,
    SourceIR,
    TableIR,
    VelocityIR,
)
from fengkong.errors import DiagnosticSink
from fengkong.expr import ExprError, Info, check_expression, suggest
from fengkong.expr import ast as t
from fengkong.expr.functions import unify
from fengkong.strategy._load import LoadedStrategy, Path_
from fengkong.strategy._spec import (
    FileConnectorSpec,
    HttpConnectorSpec,
    InputSpec,
    ModelSpec,
    RuleSpec,
    ScorecardSpec,
    SourceSpec,
    TableSpec,
)

_WINDOW_UNITS = {"s": 1, "m": 60, "h": 3600, "d": 86400}
MAX_WINDOW_S = 366 * 86400

RESERVED = frozenset({"segment", "declined", "referred", "flagged", "cap", "limit", "apr", "term",
                      "decision", "experiment", "feature", "points", "component", "table", "rule", "sources", "velocity",
                      "true", "false", "null", "none"})
# Which consent purposes a strategy of each stage may rely on.
STAGE_PURPOSES = {"acquisition": ("acquisition", "marketing"), "origination": ("origination",),
                  "account_management": ("account_management",),
                  "collections": ("collections",)}
DECISIONS = ("approve", "decline", "refer")


class _Lowering:
    def __init__(self, loaded: LoadedStrategy, sink: DiagnosticSink, *,
                 pii_tokens: bool = False) -> None:
        self.pii_tokens = pii_tokens
        self.pii_fields: list[FieldIR] = []
        self.loaded = loaded
        self.spec = loaded.spec
        self.sink = sink
        self.src = loaded.source
        self.used_names: set[str] = set()
        # Names whose definition already failed: their uses are not reported again.
        self.failed: set[str] = set(loaded.dropped)
        self.dropped: frozenset[str] = loaded.dropped  # entries set aside at load time
        self.slots_seen: set[str] = set()

    # -- diagnostics ---------------------------------------------------------------------
    def error(self, path: Path_, code: str, message: str, *, severity: str = "error") -> None:
        self.sink.add(self.src.diagnostic(path, code, message, severity=severity))

    def expr(self, path: Path_, source: str, env: Mapping[str, Info],
             later: Mapping[str, str] | None = None) -> t.Node | None:
        """Check one expression; on failure record a located diagnostic and return None."""
        try:
            node = check_expression(source, env)
        except ExprError as exc:
            p = exc.problem
            message = p.message
            if p.code == "unknown-field":
                name = source[p.start:p.end].strip()
                if name in self.failed or name.split(".")[0] in self.failed:
                    return None
                if later and name in later:
                    message = f"`{name}` {later[name]}."
            self.sink.add(self.src.diagnostic(path, p.code, message, offset=p.start))
            return None
        self.used_names.update(t.root_names(node))
        return node

    def expect_type(self, path: Path_, node: t.Node | None, types: set[str], what: str) -> bool:
        if node is None:
            return False
        if node.info.type not in types:
            self.error(path, "type-mismatch", f"{what} must be {' or '.join(sorted(types))}; "
                                              f"this expression is {node.info.type}.")
            return False
        return True

    # -- stages ----------------------------------------------------------------------------
    def fields(self) -> tuple[FieldIR, ...]:
        out = []
        for name, f in self.spec.inputs.items():
            path: Path_ = ("inputs", name)
            if f.type == "enum" and not f.values:
                self.error(path, "enum-without-values", f"Enum field `{name}` needs `values`.")
            if f.type != "enum" and f.values is not None:
                self.error((*path, "values"), "values-not-enum", "`values` applies to enum fields only.")
            if (f.min is not None or f.max is not None) and f.type not in ("int", "float"):
                self.error(path, "range-not-numeric", "`min`/`max` apply to int and float fields only.")
            if f.min is not None and f.max is not None and f.min > f.max:
                self.error((*path, "min"), "range-empty", f"`min` ({f.min:g}) is above `max` ({f.max:g}).")
            if f.max_length is not None and f.type != "str":
                self.error((*path, "max_length"), "length-not-str", "`max_length` applies to str fields only.")
            if f.pii is not None and f.type not in ("str", "enum", "date", "int"):
                self.error((*path, "pii"), "pii-type", "Personal data fields must be str, int, enum or date.")
            if any(part in RESERVED for part in name.split(".")[:1]):
                self.error(path, "reserved-name", f"`{name}` is a reserved name; rename the field.")
            self.protected(name, f)
            values = tuple(f.values) if f.values else None
            if f.pii is not None:
                self.pii_fields.append(
                    FieldIR(name, f.type, f.required, f.min, f.max, values, f.max_length, f.pii))
            if self.pii_tokens and f.pii is not None:
                # The field arrives as a pseudonym: an opaque string, fit only for keys and
                # equality; the raw value's constraints are checked before it is replaced.
                out.append(FieldIR(name, "str", f.required, None, None, None, None, f.pii))
                continue
            out.append(FieldIR(name, f.type, f.required, f.min, f.max, values, f.max_length, f.pii))
        return tuple(out)

    def sources(self, inputs: tuple[FieldIR, ...]) -> tuple[tuple[SourceIR, ...], tuple[FieldIR, ...]]:
        """Check the declared data sources; their fields and status fields join the inputs."""
        out: list[SourceIR] = []
        added: list[FieldIR] = []
        by_name = {f.name: f for f in inputs}
        roots = {f.name.split(".")[0] for f in inputs}
        stage = self.spec.stage
        for name, src in self.spec.sources.items():
            path: Path_ = ("sources", name)
            ok = True
            if name in roots or name in self.spec.features or name in RESERVED:
                self.error(path, "name-collision", f"Source `{name}` collides with an input "
                           f"(`{name}.…`), a feature or a reserved name; inputs a source "
                           "delivers are declared under the source's `fields`.")
                ok = False
            allowed = STAGE_PURPOSES[stage]
            if src.purpose not in allowed:
                self.error((*path, "purpose"), "source-purpose",
                           f"Source `{name}` is for `{src.purpose}`, but this strategy decides "
                           f"`{stage}`: its consent does not cover this use. Use a source whose "
                           f"purpose is {' or '.join(f'`{a}`' for a in allowed)}.")
                ok = False
            need = _consent_needed(src)
            if CONSENT_RANK[src.consent] < CONSENT_RANK[need[0]]:
                self.error((*path, "consent"), "source-consent",
                           f"Source `{name}` needs `{need[0]}` consent ({need[1]}), not "
                           f"`{src.consent}`.")
                ok = False
            if src.data_class == "C3":
                self.error((*path, "data_class"), "c3-data",
                           f"Source `{name}` delivers C3 data (authentication data such as "
                           "passwords, verification codes or biometrics), which no credit "
                           "decision may collect.")
                ok = False
            subject = by_name.get(src.subject)
            if subject is None or subject.pii is None:
                why = "is not an input" if subject is None else "is not personal data (`pii:`)"
                self.error((*path, "subject"), "source-subject",
                           f"`{src.subject}` {why}; `subject` names the personal data input "
                           "(e.g. an ID number) whose consent is checked."
                           + (suggest(src.subject, [f.name for f in inputs if f.pii])
                              if subject is None else ""))
                ok = False
            ok = self.connector(name, src, by_name) and ok
            fields = []
            for fname, fs in src.fields.items():
                fpath: Path_ = (*path, "fields", fname)
                if fs.type == "enum" and not fs.values:
                    self.error(fpath, "enum-without-values", f"Enum field `{fname}` needs `values`.")
                    ok = False
                if (fs.min is not None or fs.max is not None) and fs.type not in ("int", "float"):
                    self.error(fpath, "range-not-numeric",
                               "`min`/`max` apply to int and float fields only.")
                    ok = False
                values = tuple(fs.values) if fs.values else None
                fields.append(FieldIR(f"{name}.{fname}", fs.type, False, fs.min, fs.max, values,
                                      fs.max_length, None, source=name))
            status = FieldIR(f"sources.{name}.status", "enum", False, None, None,
                             SOURCE_STATUSES, None, None, source=name)
            added += [*fields, status]
            if not ok or subject is None or subject.pii is None:
                self.failed.add(name)
                continue
            alternative = src.kind in ALTERNATIVE_KINDS
            out.append(SourceIR(
                name=name, kind=src.kind, purpose=src.purpose, consent=src.consent,
                subject=src.subject, subject_pii=subject.pii, data_class=src.data_class,
                alternative=alternative,
                enabled=bool(src.enabled) if src.enabled is not None else not alternative,
                fields=tuple(fields), connector=src.connector.model_dump(),
                timeout_ms=src.timeout_ms, retries=src.retries,
                retry_backoff_ms=src.retry_backoff_ms, cache_ttl_s=src.cache_ttl_s,
                breaker_failures=src.circuit_breaker.failures,
                breaker_reset_s=src.circuit_breaker.reset_s,
                on_missing_consent=src.on_missing_consent, on_failure=src.on_failure,
                base_dir=str(self.loaded.base_dir)))
        return tuple(out), tuple(added)

    def velocity(self, inputs: tuple[FieldIR, ...]) -> tuple[tuple[VelocityIR, ...], tuple[FieldIR, ...]]:
        """Check the velocity features; each becomes the optional input ``velocity.<name>``.

        Keys and values are request inputs (not source fields): the service computes the
        aggregates before anything is fetched or evaluated.
        """
        out: list[VelocityIR] = []
        added: list[FieldIR] = []
        by_name = {f.name: f for f in inputs if f.source is None}
        raw = {f.name: f for f in self.pii_fields}
        for name, v in self.spec.velocity.items():
            path: Path_ = ("velocity", name)
            ok = True
            key = by_name.get(v.key)
            if key is None:
                self.error((*path, "key"), "unknown-field",
                           f"`{v.key}` is not an input; a velocity key is a request input "
                           f"(phone, ID number, device, IP).{suggest(v.key, list(by_name))}")
                ok = False
            elif key.type not in ("str", "enum", "int", "date"):
                self.error((*path, "key"), "velocity-key",
                           f"A velocity key must be a str, enum, int or date input; `{v.key}` is "
                           f"{key.type}.")
                ok = False
            value = by_name.get(v.value) if v.value is not None else None
            if v.agg == "count" and v.value is not None:
                self.error((*path, "value"), "velocity-value",
                           "`count` counts events and reads no `value`; remove it.")
                ok = False
            elif v.agg != "count" and v.value is None:
                self.error(path, "velocity-value", f"`{v.agg}` needs `value`: the input "
                           f"{'summed' if v.agg == 'sum' else 'whose distinct values are counted'}.")
                ok = False
            elif v.value is not None and value is None:
                self.error((*path, "value"), "unknown-field",
                           f"`{v.value}` is not an input.{suggest(v.value, list(by_name))}")
                ok = False
            elif value is not None:
                kind = raw[value.name].type if value.name in raw else value.type
                allowed = ("int", "float") if v.agg == "sum" else ("str", "enum", "int", "date")
                if kind not in allowed:
                    self.error((*path, "value"), "velocity-value",
                               f"`{v.agg}` needs a {' or '.join(allowed)} value; `{v.value}` "
                               f"is {kind}.")
                    ok = False
            window = _window_seconds(v.window)
            if window is None:
                self.error((*path, "window"), "velocity-window",
                           f"`{v.window}` is not a window: write a whole number and a unit "
                           "(s, m, h, d), e.g. `1h`, `24h`, `7d`, `30d`, at most 366 days.")
                ok = False
            kind_out = "float" if v.agg == "sum" else "int"
            field = FieldIR(f"velocity.{name}", kind_out, False,
                            None if v.agg == "sum" else 0.0, None, None, None, None)
            added.append(field)
            if not ok or key is None or window is None:
                self.failed.add(f"velocity.{name}")
                continue
            out.append(VelocityIR(name, v.key, key.pii, v.agg, v.value, window))
        return tuple(out), tuple(added)

    def connector(self, name: str, src: SourceSpec, inputs: Mapping[str, FieldIR]) -> bool:
        """Connector parameters read request inputs only (sources are independent)."""
        path: Path_ = ("sources", name, "connector")
        conn = src.connector
        params = dict(conn.request)
        if isinstance(conn, FileConnectorSpec):
            params["key"] = conn.key
        ok = True
        for param, field_name in params.items():
            if field_name not in inputs:
                where = (*path, "key") if isinstance(conn, FileConnectorSpec) and param == "key" \
                    else (*path, "request", param)
                self.error(where, "unknown-field",
                           f"`{field_name}` is not an input; a source's parameters come from "
                           f"the request.{suggest(field_name, list(inputs))}")
                ok = False
        if isinstance(conn, HttpConnectorSpec) and not conn.url.startswith(
                ("http://", "https://", "${")):
            self.error((*path, "url"), "source-url", "`url` must start with http:// or https://.")
            ok = False
        if isinstance(conn, FileConnectorSpec):
            file = self.loaded.base_dir / conn.path
            if not file.is_file():
                self.error((*path, "path"), "source-file",
                           f"`{conn.path}` does not exist next to the strategy file.")
                ok = False
            elif file.suffix.lower() not in (".csv", ".jsonl", ".ndjson", ".parquet"):
                self.error((*path, "path"), "source-file",
                           "A lookup file must be .csv, .jsonl, .ndjson or .parquet.")
                ok = False
        return ok

    def source_rules(self, sources: tuple[SourceIR, ...], env: Mapping[str, Info]) -> tuple[RuleIR, ...]:
        """The policy of each source as rules on its status, ahead of the strategy's own.

        ``continue`` still records the reason (a ``flag``); refused or failed sources
        deliver nothing either way.
        """
        out = []
        action = {"refer": "refer", "decline": "decline", "continue": "flag"}
        taken = {r.id for r in self.spec.rules} | {r.id for s in self.spec.segments for r in s.rules}
        for src in sources:
            # Alternative data without consent is dropped (FEATURE_NOT_ENABLED), not refused;
            # a type requirement can only fail where the source asks for more than `general`.
            codes_here = () if src.alternative else tuple(
                c for c in SOURCE_CONSENT_CODES
                if c != "SEPARATE_CONSENT_REQUIRED" or src.consent == "separate"
                if c != "WRITTEN_CONSENT_REQUIRED" or src.consent == "written")
            groups: list[tuple[str, tuple[str, ...], str, str]] = [
                (code.lower(), (code,), code, src.on_missing_consent) for code in codes_here]
            groups.append(("unavailable", SOURCE_FAILURE_CODES, "SOURCE_UNAVAILABLE",
                           src.on_failure))
            for suffix, codes, reason, policy in groups:
                rid = f"source_{src.name}_{suffix}"
                if rid in taken:
                    self.error(("sources", src.name), "duplicate-rule",
                               f"Rule id `{rid}` is taken by the source's policy; rename the rule.")
                    continue
                listed = ", ".join(f"'{c}'" for c in codes)
                node = check_expression(f"{src.status} in ({listed},)", env)
                out.append(RuleIR(rid, node, action[policy], reason, None, None))
        return tuple(out)

    def protected(self, name: str, f: InputSpec) -> None:
        """Refuse prohibited and C3 attributes, declared or revealed by the field's name."""
        path: Path_ = ("inputs", name)
        category, allow_name, reason = f.category, f.allow_name, f.reason
        market = self.spec.market
        if allow_name != (reason is not None):
            self.error((*path, "allow_name" if allow_name else "reason"), "allow-name-reason",
                       "`allow_name: true` needs a `reason`." if allow_name else
                       "`reason` explains `allow_name: true`; add it or remove `reason`.")
        if category is not None and (found := _protected.refusal(category, market)):
            code, why = found
            self.sink.add(self.src.diagnostic(
                path, code, f"Input `{name}` is declared `category: {category}`: it {why}. "
                            "Remove the field.", at_key=True))
            return
        by_name = _protected.category_from_name(name)
        if by_name is None or (allow_name and reason is not None):
            return
        if (found := _protected.refusal(by_name, market)) is not None:
            code, why = found
            self.sink.add(self.src.diagnostic(
                path, code, f"Input `{name}` looks by its name like it {why}. Remove the field, "
                            "or if it holds something else, add `allow_name: true` with a "
                            "`reason`.", at_key=True))

    def features(self, env: dict[str, Info]) -> tuple[FeatureIR, ...]:
        out = []
        names = list(self.spec.features)
        for i, (name, source) in enumerate(self.spec.features.items()):
            path: Path_ = ("features", name)
            if name in env or name in RESERVED:
                self.error(path, "name-collision", f"Feature `{name}` collides with an input field or a reserved name.")
                continue
            later = dict.fromkeys(names[i:], "is defined further down; move it above the feature that reads it")
            node = self.expr(path, source, env, later)
            if node is None:
                self.failed.add(name)
            else:
                if node.info.type == "null":
                    self.error(path, "type-mismatch", "A feature cannot be always null.")
                    continue
                env[name] = node.info
                out.append(FeatureIR(name, node))
        return tuple(out)

    def segments(self, env: Mapping[str, Info]) -> tuple[SegmentIR, ...]:
        segs = self.spec.segments
        if not segs:
            return (SegmentIR("default", None),)
        out = []
        seen: set[str] = set()
        for i, seg in enumerate(segs):
            path: Path_ = ("segments", i)
            if seg.name in seen:
                self.error((*path, "name"), "duplicate-name", f"Segment `{seg.name}` is declared twice.")
            seen.add(seg.name)
            cond = None
            if seg.when is None:
                if i != len(segs) - 1:
                    self.error(path, "segment-default-not-last",
                               f"Segment `{seg.name}` has no `when`, so it catches everyone; only the "
                               "last segment may be the default.")
            else:
                cond = self.expr((*path, "when"), seg.when, env)
                self.expect_type((*path, "when"), cond, {"bool"}, "A segment condition")
            out.append(SegmentIR(seg.name, cond))
        if segs[-1].when is not None:
            self.error(("segments", len(segs) - 1), "router-no-default",
                       "The segment router has no default: add a last segment without `when` "
                       "(e.g. `- {name: default}`) so every applicant is routed.")
        return tuple(out)

    def experiments(self, env: dict[str, Info]) -> tuple[ExperimentIR, ...]:
        out = []
        for name, exp in self.spec.experiments.items():
            path: Path_ = ("experiments", name)
            key = self.expr((*path, "key"), exp.key, env)
            self.expect_type((*path, "key"), key, {"str", "int"}, "An experiment key")
            when = None
            if exp.when is not None:
                when = self.expr((*path, "when"), exp.when, env)
                self.expect_type((*path, "when"), when, {"bool"}, "An experiment condition")
            weights = list(exp.arms.values())
            if any(w <= 0 for w in weights):
                self.error((*path, "arms"), "arm-weight", "Arm weights must be positive.")
                continue
            total = sum(weights)
            acc, bounds = 0.0, []
            for w in weights:
                acc += w
                bounds.append(round(acc / total * 10_000))
            for arm in exp.use:
                if arm not in exp.arms:
                    self.error((*path, "use", arm), "unknown-arm",
                               f"Arm `{arm}` is not declared in `arms`.{suggest(arm, list(exp.arms))}")
            if key is not None:
                out.append(ExperimentIR(name, key, when, tuple(exp.arms), tuple(bounds)))
            env[f"experiment.{name}"] = Info("str", True, values=tuple(exp.arms))
        return tuple(out)

    def scorecard(self, name: str, card: ScorecardSpec, env: Mapping[str, Info]) -> ScorecardIR | None:
        chars = []
        seen: set[str] = set()
        for i, ch in enumerate(card.characteristics):
            path: Path_ = ("scorecards", name, "characteristics", i)
            if ch.name in seen:
                self.error((*path, "name"), "duplicate-name", f"Characteristic `{ch.name}` is declared twice.")
            seen.add(ch.name)
            node = self.expr((*path, "expr"), ch.expr, env)
            if not self.expect_type((*path, "expr"), node, {"int", "float", "str", "bool"},
                                    "A characteristic"):
                continue
            assert node is not None
            kind = node.info.type
            bins: list[tuple[Cell, float]] = []
            for j, b in enumerate(ch.bins):
                try:
                    cell = parse_cell(b.when, kind, node.info.values)
                except CellError as exc:
                    self.error((*path, "bins", j, "when"), "invalid-cell", str(exc))
                    continue
                if cell.kind in ("any", "null"):
                    self.error((*path, "bins", j, "when"), "invalid-cell",
                               "A bin cannot be `-` or `null`; use `missing` and `other`.")
                    continue
                bins.append((cell, b.points))
            specials = []
            for j, sp in enumerate(ch.special):
                vals = tuple(v for v in sp.values)
                ok = all((isinstance(v, int | float) and kind == "float") or
                         (isinstance(v, int | float) and kind == "int" and float(v).is_integer()) or
                         (isinstance(v, str) and kind == "str") for v in vals)
                if not ok:
                    whole = " (whole numbers)" if kind == "int" else ""
                    self.error((*path, "special", j), "type-mismatch",
                               f"Special values must be of the characteristic's type ({kind}{whole}).")
                    continue
                vals = tuple(float(v) if kind == "float" else (int(v) if kind == "int" else v)
                             for v in vals)
                specials.append((vals, sp.points))
            _lint.scorecard_bins(self, (*path, "bins"), [c for c, _ in bins], node.info)
            chars.append(CharacteristicIR(ch.name, node, ch.reason, ch.missing, tuple(specials),
                                          tuple(bins), ch.other))
        return ScorecardIR(name, card.base_points, tuple(chars))

    def table(self, name: str, tbl: TableSpec, env: Mapping[str, Info]) -> TableIR | None:
        path: Path_ = ("tables", name)
        inputs = [self.expr((*path, "inputs", i), src, env) for i, src in enumerate(tbl.inputs)]
        if tbl.hit_policy == "collect" and tbl.aggregate is None:
            self.error((*path, "aggregate"), "collect-needs-aggregate",
                       "A `collect` table needs `aggregate: sum | min | max | count`.")
        if tbl.hit_policy != "collect" and tbl.aggregate is not None:
            self.error((*path, "aggregate"), "aggregate-not-collect", "`aggregate` applies to `collect` tables only.")
        if len(set(tbl.outputs)) != len(tbl.outputs):
            self.error((*path, "outputs"), "duplicate-name", "Output names must be unique.")
        rows: list[RowIR] = []
        bad_cells = False  # coverage lints would be wrong about rows with unreadable cells
        width = len(tbl.inputs) + len(tbl.outputs)
        for r, row in enumerate(tbl.rows):
            rpath: Path_ = (*path, "rows", r)
            if len(row) != width:
                self.error(rpath, "row-width",
                           f"Row has {len(row)} cells; expected {len(tbl.inputs)} input and "
                           f"{len(tbl.outputs)} output cells ({width}).")
                continue
            cells: list[Cell] = []
            for c, (raw, node) in enumerate(zip(row, inputs, strict=False)):
                if node is None:
                    cells.append(Cell("any"))
                    continue
                try:
                    cells.append(parse_cell(raw, node.info.type, node.info.values))
                except CellError as exc:
                    self.error((*rpath, c), "invalid-cell", str(exc))
                    cells.append(Cell("any"))
                    bad_cells = True
            outs: list[t.Node] = []
            for c, raw in enumerate(row[len(tbl.inputs):], start=len(tbl.inputs)):
                node = self._output_cell((*rpath, c), raw, env)
                if node is not None:
                    outs.append(node)
            if len(outs) == len(tbl.outputs):
                rows.append(RowIR(tuple(cells), tuple(outs)))
        if any(n is None for n in inputs) or len(rows) != len(tbl.rows):
            return None
        infos = []
        for k, out_name in enumerate(tbl.outputs):
            info = unify([row.outputs[k].info for row in rows])
            if info is None:
                self.error((*path, "outputs"), "type-mismatch",
                           f"Output `{out_name}` mixes incompatible types across rows.")
                return None
            if tbl.hit_policy == "collect" and tbl.aggregate != "count" and info.type not in ("int", "float"):
                self.error((*path, "outputs"), "type-mismatch", f"Output `{out_name}` must be numeric to {tbl.aggregate}.")
            if tbl.aggregate == "count":
                info = Info("int", False, 0, len(rows))
            may_miss = not any(all(c.kind == "any" for c in row.cells) for row in rows)
            if may_miss and tbl.aggregate != "count":
                info = Info(info.type, True, info.lo, info.hi, info.values)
            infos.append(info)
        ir = TableIR(name, tbl.hit_policy, tbl.aggregate, tuple(inputs), tuple(tbl.outputs),  # type: ignore[arg-type]
                     tuple(infos), tuple(rows))
        if not bad_cells:
            _lint.table(self, path, ir)
        return ir

    def _output_cell(self, path: Path_, raw: Any, env: Mapping[str, Info]) -> t.Node | None:
        if raw is None:
            return t.Lit(Info("null", True), 0, 0, None)
        if isinstance(raw, bool):
            return t.Lit(Info("bool", False), 0, 0, raw)
        if isinstance(raw, int | float):
            if isinstance(raw, float) and not math.isfinite(raw):
                self.error(path, "invalid-cell", "Output numbers must be finite.")
                return None
            kind = "int" if isinstance(raw, int) else "float"
            return t.Lit(Info(kind, False, float(raw), float(raw)), 0, 0, raw)  # type: ignore[arg-type]
        if isinstance(raw, str):
            return self.expr(path, raw, env)
        self.error(path, "invalid-cell", f"An output cell must be a number, bool, null or expression; got {type(raw).__name__}.")
        return None

    def model(self, name: str, spec: ModelSpec, env: Mapping[str, Info]) -> ModelIR | None:
        """Read the model file and check one input expression per model feature."""
        path: Path_ = ("models", name)
        try:
            lgbm = _lightgbm.read_model(self.loaded.base_dir / spec.file)
        except _lightgbm.ModelFileError as exc:
            self.error((*path, "file"), exc.code, exc.message)
            return None
        names = lgbm.feature_names
        ok = True
        for key, code in (("inputs", "model-input-unknown"), ("reasons", "model-reason-unknown")):
            for feat in getattr(spec, key):
                if feat not in names:
                    self.error((*path, key, feat), code, f"Model file `{spec.file}` has no feature "
                                                         f"`{feat}`.{suggest(feat, list(names))}")
                    ok = False
        missing = [f for f in names if f not in spec.inputs]
        if missing:
            listed = ", ".join(f"`{f}`" for f in missing)
            self.error((*path, "inputs"), "model-input-missing",
                       f"Model `{name}` needs an input for feature{'s' if len(missing) > 1 else ''} "
                       f"{listed} of model file `{spec.file}`; add "
                       f"{'them' if len(missing) > 1 else 'it'} under `inputs`.")
            ok = False
        if spec.output == "probability" and lgbm.objective != "binary":
            self.error((*path, "output"), "model-output-unsupported",
                       f"Model file `{spec.file}` has objective `{lgbm.objective}`; only a "
                       "`binary` model gives a probability. Use `output: raw` for its raw score.")
            ok = False
        inputs = []
        for feat in names:
            if feat not in spec.inputs:
                continue
            ipath: Path_ = (*path, "inputs", feat)
            node = self.expr(ipath, spec.inputs[feat], env)
            if self.expect_type(ipath, node, {"int", "float", "bool"}, f"Model input `{feat}`"):
                assert node is not None
                inputs.append(node)
        if not ok or len(inputs) != len(names):
            return None
        reasons = tuple(spec.reasons.get(f) for f in names)
        return ModelIR(name, spec.file, lgbm, tuple(inputs), reasons, spec.output)

    def slots(self, components: dict[str, tuple[str, Any]],
              kinds_wanted: Collection[str]) -> tuple[SlotIR, ...]:
        """Slots of the wanted kinds, from the bindings of the base, the segments and the arms."""
        bindings: dict[str, list[tuple[str | None, str, str, Path_]]] = {}
        base: dict[str, str] = dict(self.spec.use)
        for slot, comp in self.spec.use.items():
            bindings.setdefault(slot, []).append((None, "", comp, ("use", slot)))
        for i, seg in enumerate(self.spec.segments):
            for slot, comp in seg.use.items():
                bindings.setdefault(slot, []).append((None, seg.name, comp, ("segments", i, "use", slot)))
        for exp_name, exp in self.spec.experiments.items():
            for arm, uses in exp.use.items():
                for slot, comp in uses.items():
                    bindings.setdefault(slot, []).append(
                        (exp_name, arm, comp, ("experiments", exp_name, "use", arm, slot)))
        known = set(self.spec.scorecards) | set(self.spec.models) | set(self.spec.tables)
        out = []
        for slot, binds in bindings.items():
            if not any(components.get(c, ("",))[0] in kinds_wanted for _, _, c, _ in binds) and (
                    "table" not in kinds_wanted or any(c in known for _, _, c, _ in binds)):
                continue
            if slot in self.slots_seen:  # a slot of mixed kinds is reported by the first pass
                continue
            self.slots_seen.add(slot)
            self.failed.add(slot)  # until it is built; its uses are then not reported twice
            kinds = set()
            ok = True
            for _, _, comp, path in binds:
                if comp in self.dropped:  # already reported where it is defined
                    ok = False
                    continue
                if comp not in known:
                    self.error(path, "unknown-component",
                               f"No scorecard, model or table is named `{comp}`.{suggest(comp, list(components))}")
                    ok = False
                    continue
                kinds.add("scorecard" if comp in self.spec.scorecards else
                          "model" if comp in self.spec.models else "table")
            if slot in RESERVED:
                self.error(binds[0][3], "reserved-name", f"`{slot}` is a reserved name; choose another slot name.")
                ok = False
            if len(kinds) > 1:
                first, second = sorted(kinds)[:2]
                self.error(binds[0][3], "slot-kind-mismatch",
                           f"Slot `{slot}` is bound to a {first} in one place and a {second} in another.")
                ok = False
            if not ok or not kinds:
                continue
            (kind,) = kinds
            comps: list[Any] = [components.get(c, (None, None))[1] for _, _, c, _ in binds]
            if any(c is None for c in comps):
                continue
            unbound = slot not in base
            if kind == "scorecard":
                lo = min(_score_bounds(c)[0] for c in comps)
                hi = max(_score_bounds(c)[1] for c in comps)
                infos: tuple[Info, ...] = (Info("float", unbound, lo, hi),)
                outputs: tuple[str, ...] = ()
            elif kind == "model":
                bounds = [c.bounds for c in comps if isinstance(c, ModelIR)]
                lo, hi = min(b[0] for b in bounds), max(b[1] for b in bounds)
                infos, outputs = (Info("float", unbound, lo, hi),), ()
            else:
                outputs = comps[0].outputs
                if any(c.outputs != outputs for c in comps):
                    self.error(binds[0][3], "slot-outputs-mismatch",
                               f"Tables bound to slot `{slot}` must have the same outputs "
                               f"({', '.join(outputs)}).")
                    continue
                merged = []
                for k in range(len(outputs)):
                    info = unify([c.output_info[k] for c in comps])
                    if info is None:
                        self.error(binds[0][3], "slot-outputs-mismatch",
                                   f"Output `{outputs[k]}` of slot `{slot}` has different types in different tables.")
                        break
                    merged.append(Info(info.type, info.nullable or unbound, info.lo, info.hi, info.values))
                else:
                    infos = tuple(merged)
                if len(merged) != len(outputs):
                    continue
            choices: tuple[tuple[str | None, str, str], ...] = tuple(
                (e, a, c) for e, a, c, _ in binds if e is not None)
            choices += tuple((None, a, c) for e, a, c, _ in binds if e is None and a)
            out.append(SlotIR(slot, kind, choices, base.get(slot), infos, outputs))
            self.failed.discard(slot)
        return tuple(out)

    def rules(self, env: Mapping[str, Info], segment_names: list[str]) -> tuple[RuleIR, ...]:
        out: list[RuleIR] = []
        ids: set[str] = set()
        skipped: dict[str, set[str]] = {}
        for i, seg in enumerate(self.spec.segments):
            for j, rid in enumerate(seg.skip_rules):
                if rid not in {r.id for r in self.spec.rules}:
                    self.error(("segments", i, "skip_rules", j), "unknown-rule",
                               f"No base rule has id `{rid}`.{suggest(rid, [r.id for r in self.spec.rules])}")
                skipped.setdefault(rid, set()).add(seg.name)
        all_segments = frozenset(segment_names)
        items: list[tuple[Path_, RuleSpec, frozenset[str] | None]] = []
        for i, r in enumerate(self.spec.rules):
            segs = all_segments - skipped[r.id] if r.id in skipped else None
            items.append((("rules", i), r, segs))
        for i, seg in enumerate(self.spec.segments):
            for j, r in enumerate(seg.rules):
                items.append((("segments", i, "rules", j), r, frozenset({seg.name})))
        for path, r, segs in items:
            if r.id in ids:
                self.error((*path, "id"), "duplicate-rule", f"Rule id `{r.id}` is used twice.")
                continue
            ids.add(r.id)
            node = self.expr((*path, "when"), r.when, env)
            if not self.expect_type((*path, "when"), node, {"bool"}, "A rule condition"):
                continue
            assert node is not None
            limit = None
            if r.action == "cap":
                if r.limit is None:
                    self.error(path, "cap-needs-limit", "A `cap` rule needs `limit`.")
                    continue
                limit = self.expr((*path, "limit"), r.limit, env)
                if not self.expect_type((*path, "limit"), limit, {"int", "float"}, "A cap limit"):
                    continue
            elif r.limit is not None:
                self.error((*path, "limit"), "limit-not-cap", "`limit` applies to `cap` rules only.")
            if not _lint.can_be_true(node):
                self.error((*path, "when"), "rule-never-fires",
                           f"Rule `{r.id}` can never fire for the declared input ranges.",
                           severity="warning")
            out.append(RuleIR(r.id, node, r.action, r.reason, limit, segs))
        return tuple(out)

    def outcome(self, env: dict[str, Info]) -> OutcomeIR:
        o = self.spec.outcome
        path: Path_ = ("outcome",)
        nodes: dict[str, t.Node | None] = {}
        for key in ("limit", "apr", "term"):
            src = getattr(o, key)
            if src is None:
                nodes[key] = None
                continue
            node = self.expr((*path, key), src, env)
            nodes[key] = node if self.expect_type((*path, key), node, {"int", "float", "null"},
                                                  f"`outcome.{key}`") else None
        decision = None
        if o.decision is not None:
            env = {**env, "limit": Info("float", True)}
            decision = self.expr((*path, "decision"), o.decision, env)
            if decision is not None and not _decision_leaves_ok(decision):
                self.error((*path, "decision"), "decision-values",
                           "`outcome.decision` must give one of 'approve', 'decline', 'refer' "
                           "(string literals, possibly chosen with `if ... else`).")
                decision = None
        return OutcomeIR(decision, nodes["limit"], nodes["apr"], nodes["term"], o.limit_step,
                         o.max_reasons, o.decline_reason)


def _window_seconds(text: str) -> int | None:
    """``7d`` -> 604800; None when it is no window or longer than :data:`MAX_WINDOW_S`."""
    number, unit = text[:-1], text[-1:]
    if unit not in _WINDOW_UNITS or not number.isascii() or not number.isdigit():
        return None
    seconds = int(number) * _WINDOW_UNITS[unit]
    return seconds if 0 < seconds <= MAX_WINDOW_S else None


def _consent_needed(src: SourceSpec) -> tuple[str, str]:
    """The weakest consent type a source may rely on, and why."""
    if src.kind in ("credit_report", "income_asset"):
        return "written", "credit reports and income or asset data need written authorisation"
    if src.kind in ALTERNATIVE_KINDS:
        return "separate", "alternative data needs its own separate consent"
    if src.sensitive:
        return "separate", "sensitive personal information needs separate consent"
    return "general", ""


def _score_bounds(card: ScorecardIR) -> tuple[float, float]:
    lo = card.base_points + sum(
        min([c.missing, c.other, *(p for _, p in c.specials), *(p for _, p in c.bins)])
        for c in card.characteristics)
    hi = card.base_points + sum(c.max_points for c in card.characteristics)
    return lo, hi


def _decision_leaves_ok(node: t.Node) -> bool:
    if isinstance(node, t.IfElse):
        return _decision_leaves_ok(node.then) and _decision_leaves_ok(node.orelse)
    return isinstance(node, t.Lit) and node.value in DECISIONS


def lower(loaded: LoadedStrategy, sink: DiagnosticSink, *, pii_tokens: bool = False) -> Plan | None:
    """Build the plan; record every problem in ``sink``; None if any is an error."""
    lw = _Lowering(loaded, sink, pii_tokens=pii_tokens)
    spec = loaded.spec
    fields = lw.fields()
    sources, source_fields = lw.sources(fields)
    fields += source_fields
    velocity, velocity_fields = lw.velocity(fields)
    fields += velocity_fields
    env: dict[str, Info] = {f.name: f.info for f in fields}
    source_rules = lw.source_rules(sources, env)
    features = lw.features(env)
    segments = lw.segments(dict(env))
    seg_names = [s.name for s in segments]
    env["segment"] = Info("str", False, values=tuple(seg_names))
    experiments = lw.experiments(env)

    scorecards: dict[str, ScorecardIR] = {}
    tables: dict[str, TableIR] = {}
    components: dict[str, tuple[str, Any]] = {}
    for name, card in spec.scorecards.items():
        if not isinstance(card, ScorecardSpec):
            lw.error(("scorecards", name), "scorecard-file", "Scorecard file was not loaded.")
            continue
        ir = lw.scorecard(name, card, env)
        components[name] = ("scorecard", ir)
        if ir is not None:
            scorecards[name] = ir
    models: dict[str, ModelIR] = {}
    for name, model in spec.models.items():
        if name in components:
            lw.error(("models", name), "duplicate-name", f"`{name}` names both a scorecard and a model.")
            continue
        mir = lw.model(name, model, env)
        components[name] = ("model", mir)
        if mir is not None:
            models[name] = mir
    # Scores are known before tables run, so a table may read a score (score band x DTI).
    card_slots = lw.slots(components, ("scorecard", "model"))
    for slot in card_slots:
        env[slot.name] = slot.info[0]
    for name, tbl in spec.tables.items():
        if name in components:
            lw.error(("tables", name), "duplicate-name",
                     f"`{name}` names both a {components[name][0]} and a table.")
            continue
        tir = lw.table(name, tbl, env)
        components[name] = ("table", tir)
        if tir is not None:
            tables[name] = tir
    table_slots = lw.slots(components, ("table",))
    for slot in table_slots:
        for out_name, info in zip(slot.outputs, slot.info, strict=True):
            env[f"{slot.name}.{out_name}"] = info
    slots = card_slots + table_slots
    used_components = {c for s in slots for c in s.components}
    for name in components if not sink.has_errors else ():
        if name not in used_components:
            kind = components[name][0]
            lw.error((kind + "s", name), "component-unused",
                     f"{kind.capitalize()} `{name}` is not plugged into any slot (`use:`).",
                     severity="warning")
    rules = source_rules + lw.rules(env, seg_names)
    env.update({"declined": Info("bool", False), "referred": Info("bool", False),
                "flagged": Info("bool", False), "cap": Info("float", True)})
    outcome = lw.outcome(env)
    _texts.check(lw, rules, slots)
    for sf in source_fields if not sink.has_errors else ():
        if sf.name not in lw.used_names and not sf.name.startswith("sources."):
            src_name, _, rest = sf.name.partition(".")
            lw.error(("sources", src_name, "fields", rest), "source-field-unused",
                     f"`{sf.name}` is fetched but nothing reads it: collect only what the "
                     "decision needs.", severity="warning")
    for f in features if not sink.has_errors else ():
        if f.name not in lw.used_names:
            lw.error(("features", f.name), "feature-unused",
                     f"Feature `{f.name}` is not used by any segment, rule, scorecard, table or outcome.",
                     severity="warning")
    if sink.has_errors:
        return None
    plan = Plan(
        strategy_id=spec.strategy, version=str(spec.version), stage=spec.stage,
        digest=_digest(loaded.digest, models),
        fields=fields, features=features, segments=segments, experiments=experiments,
        scorecards=scorecards, tables=tables, slots=slots, rules=rules, outcome=outcome,
        columns=(), models=models, pii_fields=tuple(lw.pii_fields),
        sources=sources, source_deadline_ms=spec.source_deadline_ms, velocity=velocity,
    )
    return _with_columns(plan)


def _digest(spec_digest: str, models: Mapping[str, ModelIR]) -> str:
    """The spec digest, extended by the content of every model file the plan runs.

    Model files are not part of the spec (scorecard files are inlined into it), so
    retraining a model must change the digest decisions record. Without models the
    spec digest is kept as is.
    """
    if not models:
        return spec_digest
    parts = [spec_digest, *(f"model {name} sha256:{m.model.sha256}" for name, m in sorted(models.items()))]
    return "sha256:" + hashlib.sha256("\n".join(parts).encode()).hexdigest()


def _with_columns(plan: Plan) -> Plan:
    cols = [Column("strategy_id", "str"), Column("strategy_version", "str"),
            Column("strategy_digest", "str"), Column("evaluated_at", "datetime"),
            Column("decision", "str"), Column("segment", "str"),
            Column("limit", "float"), Column("apr", "float"), Column("term", _term_type(plan)),
            Column("reasons", "list"), Column("rule_hits", "list")]
    cols += [Column(e.column, "str") for e in plan.experiments]
    for slot in plan.slots:
        cols.append(Column(f"component.{slot.name}", "str"))
        if slot.kind in ("scorecard", "model"):
            cols.append(Column(f"score.{slot.name}", "float"))
        else:
            cols.append(Column(f"table.{slot.name}.row", "int"))
            cols += [Column(f"table.{slot.name}.{o}", _col_type(i))
                     for o, i in zip(slot.outputs, slot.info, strict=True)]
    for card in plan.scorecards.values():
        cols += [Column(f"points.{card.name}.{c.name}", "float") for c in card.characteristics]
    for model in plan.models.values():
        cols += [Column(f"contrib.{model.name}.{f}", "float") for f in model.features]
    cols += [Column(f"feature.{f.name}", _col_type(f.node.info)) for f in plan.features]
    return Plan(**{**plan.__dict__, "columns": tuple(cols)})


def _col_type(info: Info) -> str:
    return "str" if info.type == "null" else info.type


def _term_type(plan: Plan) -> str:
    node = plan.outcome.term
    return "int" if node is not None and node.info.type == "int" else "float"


def lower_or_raise(loaded: LoadedStrategy, *,
                   pii_tokens: bool = False) -> tuple[Plan, DiagnosticSink]:
    """Lower, raising :class:`~fengkong.errors.StrategyFileError` on any error."""
    sink = DiagnosticSink(file=loaded.source.file, items=list(loaded.diagnostics))
    plan = lower(loaded, sink, pii_tokens=pii_tokens)
    sink.raise_for_errors()
    assert plan is not None
    return plan, sink
