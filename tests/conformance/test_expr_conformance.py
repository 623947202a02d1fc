"""Expression conformance: every case of ``expr/*.csv``, in both backends.

A case is a line ``expression;inputs_json;expected_json`` under a ``# heading``
(zen's ``standard.csv`` layout). Input keys are ``name:type``; int inputs are declared
with ``min``/``max`` of ±1e9 and float inputs without a range, as a strategy would.
Each case is run

* through the code generators directly (``_pygen`` online, ``_polars`` batch), once
  with every input declared nullable and, when no input is null, once with every input
  declared required (the generators drop null guards for required inputs);
* through a real strategy: each case becomes a feature of a small strategy file
  (one per input schema), decided with ``evaluate`` for its row and with
  ``evaluate_batch`` for the whole table.

Values must match exactly: ``2`` is not ``2.0``, ``-0.0`` is not ``0.0``.
"""

from __future__ import annotations

import datetime as dt
import functools
import json
import math
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import polars as pl
import pytest

from fengkong import compile_strategy, evaluate, evaluate_batch
from fengkong.core import FixedClock
from fengkong.expr import FUNCTIONS, ExprError, Info, check_expression
from fengkong.expr._polars import DTYPES, pl_expr
from fengkong.expr._pygen import PyContext, py_expr
from fengkong.expr._runtime import NAMESPACE
from fengkong.testing import batch_frame

CASES_DIR = Path(__file__).parent / "expr"
INT_BOUND = 1_000_000_000
TYPES = ("int", "float", "bool", "str", "date")
CLOCK = FixedClock(dt.datetime(2026, 1, 1, tzinfo=dt.UTC))
_PY_TYPES: dict[type, str] = {bool: "bool", int: "int", float: "float", str: "str"}


@dataclass(frozen=True)
class Case:
    """One conformance line."""

    file: str
    line: int
    heading: str
    source: str
    inputs: tuple[tuple[str, str, Any], ...]  # (name, type, value)
    expected: Any
    error: str | None

    @property
    def id(self) -> str:
        return f"{self.file}:{self.line}:{self.source}"

    @property
    def schema(self) -> tuple[tuple[str, str], ...]:
        return tuple(sorted((n, t) for n, t, _ in self.inputs))


def _value(kind: str, raw: Any, where: str) -> Any:
    if raw is None:
        return None
    if kind == "date":
        return dt.date.fromisoformat(raw)
    expected = {"int": int, "float": float, "bool": bool, "str": str}[kind]
    if kind == "float" and type(raw) is int:
        raw = float(raw)
    assert type(raw) is expected, f"{where}: {raw!r} is not {kind}"
    return raw


def _load_cases() -> list[Case]:
    cases: list[Case] = []
    for path in sorted(CASES_DIR.glob("*.csv")):
        heading = ""
        for number, text in enumerate(path.read_text(encoding="utf-8").splitlines(), start=1):
            line = text.strip()
            if not line:
                continue
            if line.startswith("#"):
                heading = line.lstrip("# ").strip()
                continue
            where = f"{path.name}:{number}"
            source, inputs_json, expected_json = line.rsplit(";", 2)
            inputs = []
            for key, raw in json.loads(inputs_json).items():
                name, _, kind = key.partition(":")
                assert kind in TYPES, f"{where}: input `{key}` needs a type suffix"
                inputs.append((name, kind, _value(kind, raw, where)))
            expected = json.loads(expected_json)
            error = expected["error"] if isinstance(expected, dict) else None
            cases.append(Case(path.stem, number, heading, source, tuple(inputs),
                              None if error else expected, error))
    return cases


CASES = _load_cases()
VALUE_CASES = [c for c in CASES if c.error is None]


def _info(kind: str, *, nullable: bool) -> Info:
    if kind == "int":
        return Info("int", nullable, -INT_BOUND, INT_BOUND)
    return Info(kind, nullable)  # type: ignore[arg-type]


def _same(expected: Any, actual: Any) -> bool:
    if expected is None or actual is None:
        return expected is actual
    if type(expected) is not type(actual):
        return False
    if isinstance(expected, float):
        if math.isnan(expected) or math.isnan(actual):
            return False  # NaN must never come out of an expression
        return expected == actual and math.copysign(1, expected) == math.copysign(1, actual)
    return bool(expected == actual)


def _check_value(case: Case, backend: str, actual: Any) -> None:
    assert _same(case.expected, actual), (
        f"{case.id} [{case.heading}] {backend}: expected {case.expected!r}, got {actual!r}")


def _online(node: Any, case: Case) -> Any:
    ctx = PyContext(names={name: f"v{i}" for i, (name, _, _) in enumerate(case.inputs)})
    code = py_expr(node, ctx)
    namespace: dict[str, Any] = {**NAMESPACE, **ctx.consts}
    namespace.update({f"v{i}": value for i, (_, _, value) in enumerate(case.inputs)})
    return eval(code, namespace)  # the code comes from a type-checked tree


def _batch(node: Any, case: Case) -> tuple[Any, pl.DataType]:
    if case.inputs:
        frame = pl.DataFrame([pl.Series(name, [value], dtype=DTYPES[kind])
                              for name, kind, value in case.inputs])
    else:
        frame = pl.DataFrame({"row": [0]})
    out = frame.select(pl_expr(node, pl.col).alias("out"))
    assert out.height == 1
    return out["out"][0], out.schema["out"]


@pytest.mark.parametrize("case", CASES, ids=lambda c: c.id)
def test_generators(case: Case) -> None:
    variants = [True] if any(v is None for _, _, v in case.inputs) else [True, False]
    for nullable in variants:
        env = {name: _info(kind, nullable=nullable) for name, kind, _ in case.inputs}
        if case.error is not None:
            with pytest.raises(ExprError) as info:
                check_expression(case.source, env)
            assert info.value.problem.code == case.error, info.value.problem
            continue
        node = check_expression(case.source, env)
        if case.expected is not None:
            want = _PY_TYPES[type(case.expected)]
            assert node.info.type == want, f"{case.id}: static type {node.info.type}, value is {want}"
        else:
            assert node.info.nullable, f"{case.id}: gives null but is typed as never null"
        label = "nullable" if nullable else "required"
        _check_value(case, f"online ({label} inputs)", _online(node, case))
        value, dtype = _batch(node, case)
        _check_value(case, f"batch ({label} inputs)", value)
        if node.info.type != "null":
            assert dtype == DTYPES[node.info.type], f"{case.id}: batch dtype {dtype}"


# -- through a compiled strategy ------------------------------------------------------------

def _strategy_cases() -> list[Case]:
    out = []
    for case in VALUE_CASES:
        node = check_expression(case.source, {n: _info(k, nullable=True) for n, k, _ in case.inputs})
        if node.info.type != "null":  # a feature cannot be always null
            out.append(case)
    return out


STRATEGY_CASES = _strategy_cases()


@functools.cache
def _decide_schema(schema: tuple[tuple[str, str], ...], tmp: Path) -> dict[str, tuple[Any, Any]]:
    """Compile one strategy holding every case of ``schema``; decide each case's row."""
    cases = [c for c in STRATEGY_CASES if c.schema == schema]
    inputs: dict[str, dict[str, Any]] = {}
    for name, kind in schema:
        spec: dict[str, Any] = {"type": kind, "required": False}
        if kind == "int":
            spec.update(min=-INT_BOUND, max=INT_BOUND)
        inputs[name] = spec
    if not inputs:
        inputs["pad"] = {"type": "int", "required": False}
    doc = {"strategy": "conformance", "version": 1, "stage": "origination", "inputs": inputs,
           "features": {f"c{i}": c.source for i, c in enumerate(cases)}}
    path = tmp / ("schema_" + "_".join(f"{n}{k}" for n, k in schema) + ".json")
    path.write_text(json.dumps(doc, ensure_ascii=False), encoding="utf-8")
    strategy = compile_strategy(path)
    rows = [{n: v for n, _, v in c.inputs} for c in cases]
    if not schema:
        rows = [{"pad": None} for _ in cases]
    batch = evaluate_batch(strategy, batch_frame(strategy, rows), clock=CLOCK).to_dicts()
    out = {}
    for i, (case, row, batch_row) in enumerate(zip(cases, rows, batch, strict=True)):
        assert batch_row["error"] is None, batch_row["error"]
        online = evaluate(strategy, row, clock=CLOCK)
        out[case.id] = (online.features[f"c{i}"], batch_row[f"feature.c{i}"])
    return out


@pytest.fixture(scope="module")
def strategy_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return tmp_path_factory.mktemp("conformance")


@pytest.mark.parametrize("case", STRATEGY_CASES, ids=lambda c: c.id)
def test_through_strategy(case: Case, strategy_dir: Path) -> None:
    online, batch = _decide_schema(case.schema, strategy_dir)[case.id]
    _check_value(case, "evaluate", online)
    _check_value(case, "evaluate_batch", batch)


def test_enough_cases() -> None:
    assert len(CASES) >= 120
    headings = {c.heading for c in CASES}
    assert len(headings) >= 15, headings


def test_every_whitelisted_function_has_cases() -> None:
    called = {name for c in VALUE_CASES for name in FUNCTIONS if f"{name}(" in c.source}
    assert called == set(FUNCTIONS), sorted(set(FUNCTIONS) - called)
    with_null_input = {name for c in VALUE_CASES for name in FUNCTIONS
                       if f"{name}(" in c.source and any(v is None for _, _, v in c.inputs)}
    assert with_null_input == set(FUNCTIONS), sorted(set(FUNCTIONS) - with_null_input)
