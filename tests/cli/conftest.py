"""Fixtures of the CLI tests: a runner, the mini strategy, input frames and a stand-in pack."""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable
from pathlib import Path

import numpy as np
import polars as pl
import pytest
from typer.testing import CliRunner

from fengkong import CompiledStrategy, compile_strategy
from fengkong.compile.ir import FieldIR

MINI = Path(__file__).resolve().parents[1] / "data" / "mini.yaml"

# A small strategy over the demo data's columns: what `init` and `demo` copy in tests
# that must not depend on the shipped example pack.
STUB_STRATEGY = """\
# A small strategy over the demo data's columns (a stand-in for the example pack in tests).
schema_version: 1
strategy: stub_loan
version: 1
stage: origination
inputs:
  applicant.id_number: {type: str, pii: id_card}
  applicant.age: {type: int, min: 16, max: 100}
  applicant.income_monthly: {type: float, min: 0}
  applicant.occupation: {type: enum, values: [salaried, civil_servant, self_employed, student, other]}
  channel: {type: enum, values: [app, partner, branch]}
  bureau.score: {type: int, min: 300, max: 900, required: false}
  bureau.monthly_debt: {type: float, min: 0, required: false}
features:
  dti: "coalesce(bureau.monthly_debt, 0) / max(applicant.income_monthly, 1)"
segments:
  - {name: thin_file, when: "is_null(bureau.score)", use: {score: thin_card}, skip_rules: [score_low]}
  - {name: app, when: "channel == 'app'"}
  - {name: default}
use: {score: main_card, pricing: pricing_std}
scorecards:
  main_card: {file: scorecards/main.yaml}
  thin_card:
    base_points: 500
    characteristics:
      - {name: age, expr: applicant.age, reason: YOUNG, missing: 0, bins: [{when: "< 25", points: 0}, {when: ">= 25", points: 40}]}
tables:
  pricing_std:
    hit_policy: first
    inputs: [score]
    outputs: [limit, apr]
    rows:
      - [">= 600", 30000, 0.12]
      - ["[520..600)", 10000, 0.18]
      - ["-", 0, null]
  pricing_low:
    hit_policy: first
    inputs: [score]
    outputs: [limit, apr]
    rows:
      - [">= 600", 30000, 0.10]
      - ["-", 0, null]
experiments:
  apr_test: {key: applicant.id_number, arms: {champion: 80, low_apr: 20}, use: {low_apr: {pricing: pricing_low}}}
rules:
  - {id: age_min, when: "applicant.age < 18", action: decline, reason: AGE_BELOW_MIN}
  - {id: dti_max, when: "dti > 0.6", action: decline, reason: DTI_TOO_HIGH}
  - {id: score_low, when: "score < 450", action: decline, reason: SCORE_TOO_LOW}
  - {id: student_refer, when: "applicant.occupation == 'student'", action: refer, reason: STUDENT}
outcome:
  limit: "min(pricing.limit, applicant.income_monthly * 6)"
  apr: pricing.apr
  term: 12
  limit_step: 100
  decision: "'decline' if declined else ('refer' if referred else ('approve' if limit > 0 else 'decline'))"
"""

STUB_SCORECARD = """\
scorecard: main_card
base_points: 300
characteristics:
  - {name: bureau_score, expr: bureau.score, reason: LOW_BUREAU_SCORE, missing: 0, bins: [{when: "< 550", points: 50}, {when: "[550..700)", points: 200}, {when: ">= 700", points: 300}]}
  - {name: dti, expr: dti, reason: HIGH_DTI, missing: 0, bins: [{when: "< 0.3", points: 60}, {when: ">= 0.3", points: 10}]}
"""

FrameBuilder = Callable[..., pl.DataFrame]


@pytest.fixture
def runner() -> CliRunner:
    # Wide enough that Rich and Typer do not wrap messages (and temporary paths) mid-phrase.
    return CliRunner(env={"COLUMNS": "400"})


@pytest.fixture(scope="session")
def mini_path() -> Path:
    return MINI


@pytest.fixture(scope="session")
def mini() -> CompiledStrategy:
    return compile_strategy(MINI)


def _column(field: FieldIR, rows: int, rng: np.random.Generator) -> pl.Series:
    name = field.name
    if field.type == "int":
        lo = int(field.lo) if field.lo is not None else 0
        hi = int(field.hi) if field.hi is not None else 1_000
        return pl.Series(name, rng.integers(lo, hi + 1, rows), dtype=pl.Int64)
    if field.type == "float":
        lo = field.lo if field.lo is not None else -10.0
        hi = min(field.hi, 60_000.0) if field.hi is not None else 60_000.0
        return pl.Series(name, rng.uniform(lo, hi, rows).round(2), dtype=pl.Float64)
    if field.type == "bool":
        return pl.Series(name, rng.random(rows) < 0.05, dtype=pl.Boolean)
    if field.type == "enum":
        return pl.Series(name, rng.choice(list(field.values or ()), rows), dtype=pl.String)
    if field.type == "date":
        start = dt.date(1960, 1, 1)
        return pl.Series(
            name,
            [start + dt.timedelta(days=int(d)) for d in rng.integers(0, 15_000, rows)],
            dtype=pl.Date,
        )
    # Text that looks numeric, with leading zeros: must survive a CSV round trip as text.
    width = min(field.max_length or 18, 18)
    return pl.Series(
        name,
        [f"0{n:0{width - 1}d}"[:width] for n in rng.integers(0, 10 ** (width - 1), rows)],
        dtype=pl.String,
    )


@pytest.fixture
def build_frame() -> FrameBuilder:
    """Build a random input frame for a compiled strategy, with an ``app_id`` column first."""

    def build(strategy: CompiledStrategy, rows: int = 300, *, seed: int = 0) -> pl.DataFrame:
        rng = np.random.default_rng(seed)
        cols = [_column(f, rows, rng) for f in strategy.plan.fields]
        # Optional fields are null in about a tenth of the rows.
        frame = pl.DataFrame(cols).with_columns(
            pl.when(pl.lit(pl.Series(rng.random(rows) < 0.1)))
            .then(None)
            .otherwise(pl.col(f.name))
            .alias(f.name)
            for f in strategy.plan.fields
            if not f.required
        )
        ids = pl.Series("app_id", [f"{i:08d}" for i in range(rows)])
        return frame.insert_column(0, ids)

    return build


@pytest.fixture
def stub_pack(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """Write a stand-in example pack and make ``fengkong.demo.example_pack_dir`` return it."""
    import fengkong.demo

    pack = tmp_path / "pack"
    (pack / "scorecards").mkdir(parents=True)
    (pack / "strategy.yaml").write_text(STUB_STRATEGY, encoding="utf-8")
    (pack / "scorecards" / "main.yaml").write_text(STUB_SCORECARD, encoding="utf-8")
    (pack / "__init__.py").write_text("", encoding="utf-8")  # must not be copied
    monkeypatch.setattr(fengkong.demo, "example_pack_dir", lambda: pack, raising=False)
    return pack
