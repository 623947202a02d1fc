"""LightGBM models: exact scores online and in batch, contributions, reasons, located errors."""

from __future__ import annotations

import datetime as dt
import math
import os
import re
import subprocess
import sys
import textwrap
from pathlib import Path

import lightgbm as lgb
import numpy as np
import polars as pl
import pytest

import fengkong
from fengkong import compile_strategy, evaluate, evaluate_batch
from fengkong.compile import _lightgbm
from fengkong.core import FixedClock
from fengkong.errors import StrategyFileError
from fengkong.strategy import load_strategy
from fengkong.testing import assert_rows_equal

CLOCK = FixedClock(dt.datetime(2026, 6, 30, 12, 0, tzinfo=dt.UTC))
FEATURES = ("score", "dti", "age", "n_loans")
SCHEMA = dict.fromkeys(FEATURES, pl.Float64)
Z = _lightgbm.ZERO_THRESHOLD
PARAMS = {"verbose": -1, "num_threads": 1, "deterministic": True, "force_row_wise": True,
          "seed": 7, "min_data_in_leaf": 5}


def _data(seed: int, n: int = 400) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    rng = np.random.default_rng(seed)
    x = np.column_stack([rng.normal(650, 80, n), rng.uniform(0, 1.2, n),
                         rng.integers(18, 70, n), rng.integers(-2, 4, n)]).astype(float)
    x[rng.random(n) < 0.15, 0] = np.nan
    x[rng.random(n) < 0.10, 1] = np.nan
    x[rng.random(n) < 0.10, 3] = np.nan
    logit = (-0.02 * (np.nan_to_num(x[:, 0], nan=600.0) - 650) + 3 * (np.nan_to_num(x[:, 1]) - 0.5)
             + 0.6 * np.nan_to_num(x[:, 3], nan=1.0) - 0.02 * (x[:, 2] - 40))
    y = (rng.random(n) < 1 / (1 + np.exp(-logit))).astype(int)
    return x, y, logit


def _train(path: Path, *, objective: str = "binary", rounds: int = 100, leaves: int = 15,
           seed: int = 0, **params: object) -> lgb.Booster:
    x, y, logit = _data(seed)
    target = y if objective == "binary" else logit
    categorical = params.pop("categorical_feature", "auto")
    data = lgb.Dataset(x, target, feature_name=list(FEATURES), categorical_feature=categorical)
    booster = lgb.train({"objective": objective, "num_leaves": leaves, **PARAMS, **params}, data,
                        num_boost_round=rounds)
    booster.save_model(str(path))
    return booster


def _strategy(tmp: Path, *, output: str = "probability", file: str = "model.txt",
              inputs: dict[str, str] | None = None, use: str = "{pd: pd_model}",
              more_models: str = "", extra: str = "") -> Path:
    inputs = inputs if inputs is not None else {f: f for f in FEATURES}
    text = textwrap.dedent(f"""\
        strategy: gbm_test
        version: 1
        stage: origination
        inputs:
          score: {{type: float, required: false}}
          dti: {{type: float, required: false}}
          age: {{type: float, required: false}}
          n_loans: {{type: float, required: false}}
          channel: {{type: enum, values: [app, branch], required: false}}
        models:
          pd_model:
            file: {file}
            output: {output}
            inputs: {{{", ".join(f"{k}: {v}" for k, v in inputs.items())}}}
            reasons: {{score: LOW_SCORE, dti: HIGH_DTI, n_loans: MANY_LOANS}}
        """) + textwrap.indent(textwrap.dedent(more_models), "  ") + f"use: {use}\n" + textwrap.dedent(extra)
    path = tmp / "strategy.yaml"
    path.write_text(text, encoding="utf-8")
    return path


def _thresholds(model_file: Path) -> dict[int, list[float]]:
    """Split thresholds per feature, read straight from the text file."""
    out: dict[int, list[float]] = {}
    text = model_file.read_text()
    for feats, thrs in zip(re.findall(r"^split_feature=(.*)$", text, re.M),
                           re.findall(r"^threshold=(.*)$", text, re.M), strict=True):
        for f, t in zip(feats.split(), thrs.split(), strict=True):
            out.setdefault(int(f), []).append(float(t))
    return out


def _records(model_file: Path, n: int, seed: int) -> list[dict[str, float | None]]:
    """Random records made of edge values: thresholds and their neighbours, zeros, nulls."""
    rng = np.random.default_rng(seed)
    thresholds = _thresholds(model_file)
    x, _, _ = _data(seed + 1, n)
    records = []
    for i in range(n):
        rec: dict[str, float | None] = {}
        for f, name in enumerate(FEATURES):
            edges = [t for t in thresholds.get(f, []) if math.isfinite(t)]
            edges += [math.nextafter(t, math.inf) for t in edges] + [math.nextafter(t, -math.inf) for t in edges]
            edges += [0.0, -0.0, Z, -Z, 1e-40, -1e-40, math.nextafter(-Z, -math.inf)]
            pick = rng.random()
            value = x[i, f] if pick < 0.4 else (None if pick < 0.55 else edges[rng.integers(len(edges))])
            rec[name] = None if value is None or math.isnan(value) else float(value)
        records.append(rec)
    return records


def _matrix(records: list[dict[str, float | None]]) -> np.ndarray:
    return np.array([[math.nan if r[f] is None else r[f] for f in FEATURES] for r in records])


def _decide(compiled, records):
    online = [evaluate(compiled, r, clock=CLOCK) for r in records]
    batch = evaluate_batch(compiled, pl.DataFrame(records, schema=SCHEMA), clock=CLOCK)
    for i, (d, row) in enumerate(zip(online, batch.to_dicts(), strict=True)):
        assert row.pop("error") is None
        assert_rows_equal(d.to_row(), row, context=f"record {i}: {records[i]}")
    return online


@pytest.fixture(scope="module")
def binary(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, lgb.Booster]:
    tmp = tmp_path_factory.mktemp("binary")
    return tmp, _train(tmp / "model.txt")


# -- exact scores -----------------------------------------------------------------------------

@pytest.mark.parametrize("output", ["probability", "raw"])
def test_online_equals_batch_equals_lightgbm(binary, output, tmp_path):
    tmp, booster = binary
    compiled = compile_strategy(_strategy(tmp, output=output))
    records = _records(tmp / "model.txt", 600, seed=1)
    online = _decide(compiled, records)
    ours = np.array([d["score.pd"] for d in online])
    reference = booster.predict(_matrix(records), raw_score=output == "raw")
    assert np.max(np.abs(ours - reference)) <= 1e-12
    assert all(d.components == {"pd": "pd_model"} for d in online)


def test_regression_model_gives_its_raw_score(tmp_path):
    booster = _train(tmp_path / "model.txt", objective="regression", rounds=50)
    compiled = compile_strategy(_strategy(tmp_path, output="raw"))
    records = _records(tmp_path / "model.txt", 300, seed=2)
    online = _decide(compiled, records)
    ours = np.array([d["score.pd"] for d in online])
    assert np.max(np.abs(ours - booster.predict(_matrix(records)))) <= 1e-12


def test_trees_with_more_than_64_leaves(tmp_path):
    booster = _train(tmp_path / "model.txt", rounds=20, leaves=120, min_data_in_leaf=1,
                     min_sum_hessian_in_leaf=0.0)
    model = _lightgbm.read_model(tmp_path / "model.txt")
    assert max(len(t.leaf_value) for t in model.trees) > 64  # several bitmask words in batch
    compiled = compile_strategy(_strategy(tmp_path))
    records = _records(tmp_path / "model.txt", 300, seed=3)
    online = _decide(compiled, records)
    ours = np.array([d["score.pd"] for d in online])
    assert np.max(np.abs(ours - booster.predict(_matrix(records)))) <= 1e-12


def test_deep_trees_are_walked_by_a_loop(binary, monkeypatch):
    tmp, booster = binary
    monkeypatch.setattr(_lightgbm, "MAX_INLINE_DEPTH", 0)
    compiled = compile_strategy(_strategy(tmp))
    assert "_lf = " in compiled.online_source
    records = _records(tmp / "model.txt", 200, seed=4)
    online = _decide(compiled, records)
    ours = np.array([d["score.pd"] for d in online])
    assert np.max(np.abs(ours - booster.predict(_matrix(records)))) <= 1e-12


# A hand-written model with LightGBM's missing-value corner cases: a Zero split with a
# negative threshold (default left), a NaN split at threshold 1e-35f (default right), an
# infinite threshold (NaN goes right) and a None split at -1e-35f.
EDGE_MODEL = """\
tree
version=v4
num_class=1
num_tree_per_iteration=1
label_index=0
max_feature_idx=3
objective=binary sigmoid:0.75
feature_names=score dti age n_loans
feature_infos=[-3:3] [-3:3] [-3:3] [-3:3]

Tree=0
num_leaves=3
num_cat=0
split_feature=0 1
split_gain=1 1
threshold=-0.5 1.0000000180025095e-35
decision_type=6 8
left_child=-1 -2
right_child=1 -3
leaf_value=0.5 -0.25 0.125
leaf_weight=1 1 1
leaf_count=1 1 1
internal_value=0 -0.0625
internal_weight=3 2
internal_count=3 2
is_linear=0
shrinkage=1


Tree=1
num_leaves=3
num_cat=0
split_feature=2 3
split_gain=1 1
threshold=inf -1.0000000180025095e-35
decision_type=8 0
left_child=1 -1
right_child=-3 -2
leaf_value=0.5 -0.5 0.25
leaf_weight=1 1 1
leaf_count=1 1 1
internal_value=0 0
internal_weight=3 2
internal_count=3 2
is_linear=0
shrinkage=1


end of trees
"""


def test_missing_value_corner_cases_match_lightgbm(tmp_path):
    (tmp_path / "model.txt").write_text(EDGE_MODEL)
    booster = lgb.Booster(model_str=EDGE_MODEL)
    compiled = compile_strategy(_strategy(tmp_path))
    values = [None, 0.0, -0.0, Z, -Z, math.nextafter(-Z, -1.0), 1e-40, -0.5, -0.6, 1.0, -1.0]
    rng = np.random.default_rng(5)
    records = [dict(zip(FEATURES, (values[i] for i in rng.integers(len(values), size=4)), strict=True))
               for _ in range(400)]
    online = _decide(compiled, records)
    ours = np.array([d["score.pd"] for d in online])
    assert np.max(np.abs(ours - booster.predict(_matrix(records)))) <= 1e-12


# -- contributions and reasons ----------------------------------------------------------------

def test_contributions_add_up_to_the_raw_score(binary):
    tmp, _ = binary
    compiled = compile_strategy(_strategy(tmp, output="raw"))
    bias = _lightgbm.read_model(tmp / "model.txt").bias
    for d in _decide(compiled, _records(tmp / "model.txt", 300, seed=6)):
        contributions = d.contributions["pd_model"]
        assert list(contributions) == list(FEATURES)
        # Exactly, up to the rounding of the telescoped float differences.
        assert math.fsum([bias, *contributions.values()]) == pytest.approx(d["score.pd"], rel=0, abs=1e-12)


def test_contributions_are_the_path_differences(tmp_path):
    (tmp_path / "model.txt").write_text(EDGE_MODEL)
    compiled = compile_strategy(_strategy(tmp_path, output="raw"))
    (d,) = _decide(compiled, [{"score": -0.6, "dti": 1.0, "age": None, "n_loans": 5.0}])
    # Tree 0: score <= -0.5 -> leaf 0.5 (root 0). Tree 1: age missing -> right -> leaf 0.25.
    assert d.contributions["pd_model"] == {"score": 0.5, "dti": 0.0, "age": 0.25, "n_loans": 0.0}
    assert d["score.pd"] == 0.75


STUMPS = """\
tree
version=v4
num_class=1
num_tree_per_iteration=1
label_index=0
max_feature_idx=3
objective=binary sigmoid:1
feature_names=score dti age n_loans
feature_infos=[-3:3] [-3:3] [-3:3] [-3:3]
{trees}
end of trees
"""
STUMP = """
Tree={i}
num_leaves=2
num_cat=0
split_feature={f}
split_gain=1
threshold=0
decision_type=2
left_child=-1
right_child=-2
leaf_value={v} {w}
leaf_weight=1 1
leaf_count=1 1
internal_value=0
internal_weight=2
internal_count=2
is_linear=0
shrinkage=1

"""


def test_reasons_rank_features_that_raise_the_score(tmp_path):
    # One stump per feature: value <= 0 adds `v`, above adds `w`.
    stumps = [(0, 0.5, -0.5), (1, 0.25, -0.25), (2, 1.0, -1.0), (3, 0.5, -0.5)]
    trees = "".join(STUMP.format(i=i, f=f, v=v, w=w) for i, (f, v, w) in enumerate(stumps))
    (tmp_path / "model.txt").write_text(STUMPS.format(trees=trees))
    compiled = compile_strategy(_strategy(tmp_path))
    records = [
        # score and n_loans tie at +0.5 (feature order breaks it); age has no reason code.
        {"score": -1.0, "dti": -1.0, "age": -1.0, "n_loans": -1.0},
        # score lowers the score: not a reason.
        {"score": 1.0, "dti": -1.0, "age": 1.0, "n_loans": -1.0},
        {"score": 1.0, "dti": 1.0, "age": -1.0, "n_loans": 1.0},
    ]
    reasons = [d.reasons for d in _decide(compiled, records)]
    assert reasons == [["LOW_SCORE", "MANY_LOANS", "HIGH_DTI"], ["MANY_LOANS", "HIGH_DTI"], []]


def test_model_reasons_follow_scorecard_reasons(tmp_path):
    (tmp_path / "model.txt").write_text(EDGE_MODEL)
    extra = """\
        scorecards:
          card:
            characteristics:
              - {name: age, expr: age, reason: AGE, missing: 0, bins: [{when: "< 30", points: 1}, {when: ">= 30", points: 10}]}
        rules:
          - {id: high, when: "pd > 0.6", action: refer, reason: PD_HIGH}
        """
    compiled = compile_strategy(_strategy(tmp_path, use="{pd: pd_model, card_score: card}", extra=extra))
    (d,) = _decide(compiled, [{"score": -0.6, "dti": 1.0, "age": None, "n_loans": 5.0}])
    assert d.reasons == ["PD_HIGH", "AGE", "LOW_SCORE"]


def test_model_slots_follow_segments_and_feed_tables(tmp_path):
    _train(tmp_path / "model.txt", rounds=30)
    more_models = """\
        pd_app:
          file: model.txt
          inputs: {score: score, dti: "dti * 2", age: age, n_loans: n_loans}
        """
    extra = """\
        segments:
          - {name: app, when: "channel == 'app'", use: {pd: pd_app}}
          - {name: default}
        tables:
          limits:
            hit_policy: first
            inputs: [pd]
            outputs: [amount]
            rows: [["< 0.3", 5000], ["-", 0]]
        outcome:
          limit: limit_table.amount
        """
    compiled = compile_strategy(_strategy(tmp_path, use="{pd: pd_model, limit_table: limits}",
                                          more_models=more_models, extra=extra))
    records = [{**r, "channel": c} for r, c in zip(_records(tmp_path / "model.txt", 60, seed=7),
                                                   ["app", "branch", None] * 20, strict=True)]
    schema = {**SCHEMA, "channel": pl.String}
    online = [evaluate(compiled, r, clock=CLOCK) for r in records]
    batch = evaluate_batch(compiled, pl.DataFrame(records, schema=schema), clock=CLOCK).to_dicts()
    for d, row in zip(online, batch, strict=True):
        assert row.pop("error") is None
        assert_rows_equal(d.to_row(), row)
        ran = "pd_app" if d.segment == "app" else "pd_model"
        assert d.components["pd"] == ran
        assert set(d.contributions) == {ran}
        assert d.tables["limit_table"]["amount"] == (5000 if d["score.pd"] < 0.3 else 0)
    assert {d.segment for d in online} == {"app", "default"}


def test_lightgbm_is_not_imported_at_runtime(binary):
    tmp, _ = binary
    code = ("import sys, fengkong; c = fengkong.compile_strategy(sys.argv[1]); "
            "fengkong.evaluate(c, {'score': 600.0, 'dti': 0.3, 'age': 30.0, 'n_loans': 1.0}); "
            "assert 'lightgbm' not in sys.modules, 'lightgbm was imported'")
    env = {**os.environ, "PYTHONPATH": str(Path(fengkong.__file__).parent.parent)}
    subprocess.run([sys.executable, "-c", code, str(_strategy(tmp))], check=True, env=env)


# -- digest -----------------------------------------------------------------------------------

def test_digest_changes_with_the_model_file(tmp_path):
    _train(tmp_path / "model.txt", rounds=10)
    path = _strategy(tmp_path)
    first = compile_strategy(path)
    assert first.digest != load_strategy(path).digest
    assert first.plan.digest == first.digest
    assert evaluate(first, dict.fromkeys(FEATURES), clock=CLOCK)["strategy_digest"] == first.digest
    _train(tmp_path / "model.txt", rounds=11)
    assert compile_strategy(path).digest != first.digest


# -- located errors ---------------------------------------------------------------------------

def _errors(path: Path) -> list:
    with pytest.raises(StrategyFileError) as info:
        compile_strategy(path)
    return [d for d in info.value.diagnostics if d.severity == "error"]


def _line_of(path: Path, needle: str) -> int:
    return next(i for i, line in enumerate(path.read_text().splitlines(), start=1) if needle in line)


def test_missing_input_is_a_located_error(binary):
    tmp, _ = binary
    path = _strategy(tmp, inputs={"score": "score", "dti": "dti", "age": "age"})
    (d,) = _errors(path)
    assert d.code == "model-input-missing"
    assert "`n_loans`" in d.message and "model.txt" in d.message
    assert (d.file, d.line) == (str(path), _line_of(path, "    inputs:"))
    assert d.column is not None


def test_unknown_and_mistyped_inputs(binary):
    tmp, _ = binary
    path = _strategy(tmp, inputs={"score": "score", "dti": "dti", "age": "channel", "n_loans": "n_loans",
                                  "n_loan": "n_loans"})
    codes = sorted(d.code for d in _errors(path))
    assert codes == ["model-input-unknown", "type-mismatch"]


def test_missing_model_file_is_a_located_error(tmp_path):
    path = _strategy(tmp_path, file="nowhere.txt")
    (d,) = _errors(path)
    assert d.code == "model-file-not-found"
    assert "nowhere.txt" in d.message
    line = _line_of(path, "file: nowhere.txt")
    assert (d.line, d.column) == (line, path.read_text().splitlines()[line - 1].index("nowhere") + 1)


@pytest.mark.parametrize(("content", "code"), [
    ("not a model\n", "model-file-invalid"),
    (EDGE_MODEL.replace("end of trees\n", ""), "model-file-invalid"),
    (EDGE_MODEL.replace("left_child=1 -1", "left_child=0 -1"), "model-file-invalid"),
    (EDGE_MODEL.replace("threshold=-0.5", "threshold=abc"), "model-file-invalid"),
    (EDGE_MODEL.replace("num_class=1", "num_class=3"), "model-unsupported"),
    (EDGE_MODEL.replace("is_linear=0\nshrinkage=1\n\n\nTree=1", "is_linear=1\nshrinkage=1\n\n\nTree=1"),
     "model-unsupported"),
])
def test_unusable_model_file_is_a_located_error(tmp_path, content, code):
    (tmp_path / "model.txt").write_text(content)
    path = _strategy(tmp_path)
    (d,) = _errors(path)
    assert d.code == code
    assert "model.txt" in d.message
    assert d.line == _line_of(path, "file: model.txt")


def test_categorical_model_is_rejected(tmp_path):
    rng = np.random.default_rng(0)
    x = rng.integers(0, 5, size=(300, 4)).astype(float)
    data = lgb.Dataset(x, (x[:, 2] == 2).astype(int), feature_name=list(FEATURES),
                       categorical_feature=["age"])
    params = {**PARAMS, "objective": "binary", "num_leaves": 4, "min_data_per_group": 5, "cat_smooth": 1}
    lgb.train(params, data, num_boost_round=2).save_model(str(tmp_path / "model.txt"))
    assert "num_cat=1" in (tmp_path / "model.txt").read_text()
    (d,) = _errors(_strategy(tmp_path))
    assert d.code == "model-categorical-split"
    assert "`age`" in d.message and "model.txt" in d.message


def test_probability_needs_a_binary_model(tmp_path):
    _train(tmp_path / "model.txt", objective="regression", rounds=5)
    (d,) = _errors(_strategy(tmp_path, output="probability"))
    assert d.code == "model-output-unsupported"
    assert "output: raw" in d.message


def test_unknown_reason_feature(binary):
    tmp, _ = binary
    path = _strategy(tmp)
    path.write_text(path.read_text().replace("n_loans: MANY_LOANS", "n_loan: MANY_LOANS"))
    (d,) = _errors(path)
    assert d.code == "model-reason-unknown"
    assert "`n_loans`" in d.message  # the suggestion


def test_slot_cannot_mix_a_model_and_a_scorecard(binary):
    tmp, _ = binary
    path = _strategy(tmp, extra="""\
        scorecards:
          card:
            characteristics:
              - {name: age, expr: age, reason: AGE, missing: 0, bins: [{when: "< 30", points: 1}, {when: ">= 30", points: 10}]}
        segments:
          - {name: young, when: "age < 30", use: {pd: card}}
          - {name: default}
        """)
    codes = [d.code for d in _errors(path)]
    assert codes == ["slot-kind-mismatch"]
