"""GBMModel: sklearn conventions, monotone constraints, early stopping, engine-exact export."""

from __future__ import annotations

import datetime as dt
import math
import subprocess
import sys
from pathlib import Path

import numpy as np
import polars as pl
import pytest
from sklearn.base import clone
from sklearn.utils.estimator_checks import parametrize_with_checks

from fengkong import compile_strategy, evaluate, evaluate_batch
from fengkong.compile import _lightgbm
from fengkong.core import FixedClock
from fengkong.workbench import Binner, GBMModel, monotone_from_trends

CLOCK = FixedClock(dt.datetime(2026, 6, 30, 12, 0, tzinfo=dt.UTC))
FAST = {"n_estimators": 60, "learning_rate": 0.1, "num_leaves": 15, "n_jobs": 1, "random_state": 0}


def _credit(n: int, seed: int) -> tuple[pl.DataFrame, np.ndarray]:
    """Numeric (with nulls), int, bool and a string category (with nulls) -> 0/1 outcome."""
    rng = np.random.default_rng(seed)
    score = rng.normal(650, 80, n)
    dti = rng.uniform(0, 1.2, n)
    age = rng.integers(18, 70, n)
    owner = rng.random(n) < 0.4
    channel = rng.choice(["app", "branch", "partner", "kiosk"], n, p=[0.5, 0.3, 0.19, 0.01])
    util = rng.uniform(0, 1, n)
    logit = (-2.0 - 0.015 * (score - 650) + 2.0 * (dti - 0.5) - 0.02 * (age - 40) - 0.4 * owner
             + 0.8 * (channel == "partner") - 0.5 * (channel == "branch")
             + 3.0 * (util - 0.5) ** 2)  # U-shaped
    y = (rng.random(n) < 1 / (1 + np.exp(-logit))).astype(np.int64)
    frame = pl.DataFrame({
        "score": np.where(rng.random(n) < 0.1, np.nan, score),
        "dti": dti, "age": age, "owner": owner,
        "channel": np.where(rng.random(n) < 0.05, None, channel), "util": util,
    }).with_columns(pl.col("score").fill_nan(None))
    return frame, y


@pytest.fixture(scope="module")
def credit() -> tuple[pl.DataFrame, np.ndarray, pl.DataFrame, np.ndarray]:
    x, y = _credit(6000, seed=1)
    xt, yt = _credit(1500, seed=2)
    # Edge records: every column missing, a category never seen in training.
    extra = pl.DataFrame({"score": [None, 650.0, None], "dti": [None, 0.3, 2.5],
                          "age": [None, 30, 99], "owner": [None, True, False],
                          "channel": [None, "zzz_new", "kiosk"], "util": [None, 0.0, 1.0]},
                         schema=xt.schema)
    return x, y, pl.concat([xt, extra]), np.concatenate([yt, [0, 1, 0]])


# -- scikit-learn conventions -----------------------------------------------------------------

@parametrize_with_checks([GBMModel(n_estimators=30, n_jobs=1, random_state=0)])
def test_sklearn_estimator_checks(estimator, check):
    # No check is skipped by us; those needing pandas skip themselves where it is absent.
    check(estimator)


def test_only_binary_targets_and_engine_compatible_parameters():
    x = np.random.default_rng(0).normal(size=(60, 2))
    with pytest.raises(ValueError, match="Only binary classification"):
        GBMModel(**FAST).fit(x, np.arange(60) % 3)
    with pytest.raises(ValueError, match="categorical_feature"):
        GBMModel(**FAST, params={"categorical_feature": [0]}).fit(x, np.arange(60) % 2)
    with pytest.raises(ValueError, match="not_a_column"):
        GBMModel(**FAST, monotone={"not_a_column": 1}).fit(x, np.arange(60) % 2)


# -- monotone constraints -----------------------------------------------------------------

def _partial_dependence(model: GBMModel, x: pl.DataFrame, column: str,
                        grid: np.ndarray) -> np.ndarray:
    """Predicted probability of 200 records as ``column`` moves along ``grid``: (records, grid)."""
    base = x.head(200)
    out = [model.predict_proba(base.with_columns(pl.lit(float(g)).alias(column)))[:, 1]
           for g in grid]
    return np.column_stack(out)


def test_monotone_constraints_hold_on_a_grid(credit):
    x, y, _, _ = credit
    grid = np.linspace(0, 1, 41)
    free = GBMModel(**FAST, validation_fraction=None).fit(x, y)
    pd_free = _partial_dependence(free, x, "util", grid)
    assert (np.diff(pd_free, axis=1) < -1e-12).any()  # U-shaped: not monotone unconstrained
    model = GBMModel(**FAST, validation_fraction=None,
                     monotone={"util": 1, "score": -1, "dti": 1}).fit(x, y)
    assert model.monotone_ == {"score": -1, "dti": 1, "age": 0, "owner": 0, "channel": 0,
                               "util": 1}
    assert (np.diff(_partial_dependence(model, x, "util", grid), axis=1) >= 0).all()
    assert (np.diff(_partial_dependence(model, x, "dti", np.linspace(-0.5, 2, 51)), axis=1)
            >= 0).all()
    assert (np.diff(_partial_dependence(model, x, "score", np.linspace(300, 900, 61)), axis=1)
            <= 0).all()


def test_monotone_constraints_from_binning_trends(credit):
    x, y, _, _ = credit
    assert monotone_from_trends({"a": "ascending", "b": "descending", "c": "peak",
                                 "d": "categorical", "e": "none"}) == {
        "a": 1, "b": -1, "c": 0, "d": 0, "e": 0}
    binner = Binner().fit(x, y)
    model = GBMModel(**FAST, monotone=binner).fit(x, y)
    assert model.monotone_ == {c: monotone_from_trends(binner.trends_).get(c, 0)
                               for c in x.columns}
    assert model.monotone_["score"] == -1 and model.monotone_["dti"] == 1
    pd_dti = _partial_dependence(model, x, "dti", np.linspace(0, 1.2, 31))
    assert (np.diff(pd_dti, axis=1) >= 0).all()
    # An unfitted binner (what `clone` makes of a fitted one) is fitted on the training rows.
    cloned = clone(model).fit(x, y)
    assert cloned.binner_ is not None and cloned.monotone_["score"] == -1


# -- early stopping, weights, categories ---------------------------------------------------

def test_early_stopping_keeps_fewer_trees_on_noise():
    rng = np.random.default_rng(3)
    x = rng.normal(size=(3000, 5))
    y = (rng.random(3000) < 0.2).astype(int)  # pure noise
    model = GBMModel(n_estimators=400, learning_rate=0.1, n_jobs=1, random_state=0,
                     early_stopping_rounds=20).fit(x, y)
    assert model.n_estimators_ < 60
    assert model.n_estimators_ == model.best_iteration_ == model.booster_.num_trees()
    again = GBMModel(n_estimators=400, learning_rate=0.1, n_jobs=1, random_state=0,
                     early_stopping_rounds=20).fit(x, y)
    assert np.array_equal(again.predict_proba(x), model.predict_proba(x))  # seeded split
    full = GBMModel(n_estimators=100, n_jobs=1, validation_fraction=None).fit(x, y)
    assert full.n_estimators_ == 100


def test_explicit_eval_set_drives_early_stopping(credit):
    x, y, xt, yt = credit
    model = GBMModel(n_estimators=2000, learning_rate=0.2, n_jobs=1, random_state=0,
                     early_stopping_rounds=10).fit(x, y, eval_set=(xt, yt))
    assert model.n_estimators_ < 2000
    assert model.best_score_ is not None and model.best_score_ < 0.69


def test_sample_weights_move_the_model(credit):
    x, y, _, _ = credit
    plain = GBMModel(**FAST, validation_fraction=None).fit(x, y)
    heavy = GBMModel(**FAST, validation_fraction=None).fit(x, y, sample_weight=np.where(y == 1, 3.0, 1.0))
    assert heavy.predict_proba(x)[:, 1].mean() > plain.predict_proba(x)[:, 1].mean() + 0.05
    with pytest.raises(ValueError, match="non-zero"):
        GBMModel(**FAST).fit(x, y, sample_weight=np.zeros(len(y)))


def test_categories_are_ranked_by_event_rate(credit):
    x, y, _, _ = credit
    model = GBMModel(**FAST, min_category_count=100).fit(x, y)
    assert model.categorical_ == ["channel"]
    codes = model.category_codes_["channel"]
    assert codes["branch"] < codes["app"] < codes["partner"]  # the simulated risk order
    assert "kiosk" not in codes and model.other_code_["channel"] is not None  # rare: "other"
    enc = model.transform_inputs(pl.DataFrame({c: [None] * 3 for c in x.columns}, schema=x.schema)
                                 .with_columns(pl.Series("channel", ["partner", "zzz", None])))
    i = model.columns_.index("channel")
    assert enc[0, i] == codes["partner"] and enc[1, i] == model.other_code_["channel"]
    assert math.isnan(enc[2, i])


# -- export: the engine scores exactly as the workbench ------------------------------------

@pytest.fixture(scope="module")
def exported(credit, tmp_path_factory):
    x, y, _, _ = credit
    model = GBMModel(**FAST, monotone={"score": -1, "dti": 1}, min_category_count=100).fit(x, y)
    folder = tmp_path_factory.mktemp("gbm")
    codes = {"score": "LOW_BUREAU_SCORE", "dti": "HIGH_DTI", "age": "YOUNG", "channel": "CHANNEL_RISK",
             "util": "HIGH_UTILISATION"}  # no code for `owner`: it gives no reason
    texts = {c: {"en": f"{c} text", "zh": f"{c} 文本"} for c in codes.values()}
    export = model.export(folder, name="pd_gbm", reasons=codes, reason_texts=texts)
    return model, export, codes


def test_export_writes_a_strategy_that_validates(exported):
    model, export, codes = exported
    assert export.model_file.exists() and export.fragment_file.exists()
    engine_model = _lightgbm.read_model(export.model_file)  # no categorical split in it
    assert engine_model.feature_names == tuple(model.model_features_)
    assert len(engine_model.trees) == model.n_estimators_
    fragment = export.fragment_file.read_text()
    assert "models:" in fragment and "pd_gbm:" in fragment and "is_null(channel)" in fragment
    cli = Path(sys.executable).with_name("fengkong")
    done = subprocess.run([str(cli), "validate", str(export.strategy_file)], capture_output=True,
                          text=True, check=False)
    assert done.returncode == 0, done.stdout + done.stderr
    assert "warning" not in done.stdout + done.stderr
    assert export.component["reasons"] == codes  # feature names are the column names here


def test_engine_probability_reasons_and_contributions_equal_the_workbench(exported, credit):
    model, export, codes = exported
    _, _, xt, _ = credit
    compiled = compile_strategy(export.strategy_file)
    expected = model.predict_proba(xt)[:, 1]
    contrib = model.contributions(xt)
    reasons = model.reasons(xt, top=4, codes=codes)

    batch = evaluate_batch(compiled, xt, clock=CLOCK)
    assert batch["error"].null_count() == batch.height
    assert np.array_equal(batch["score.pd"].to_numpy(), expected)  # bit-exact
    for j, feature in enumerate(model.model_features_):
        assert np.array_equal(batch[f"contrib.pd_gbm.{feature}"].to_numpy(), contrib[:, j])
    assert batch["reasons"].to_list() == reasons

    for i, record in enumerate(xt.to_dicts()):
        decision = evaluate(compiled, record, clock=CLOCK)
        assert decision["score.pd"] == expected[i], record
        assert list(decision.reasons) == reasons[i], record
    # A record with everything missing and one with an unseen category were scored too.
    assert xt.tail(3)["channel"].to_list() == [None, "zzz_new", "kiosk"]


def test_saabas_and_treeshap_both_sum_to_the_raw_score(exported, credit):
    model, _, _ = exported
    _, _, xt, _ = credit
    raw = model.decision_function(xt)
    saabas = model.contributions(xt)
    shap = np.asarray(model.booster_.predict(model.transform_inputs(xt), pred_contrib=True))
    assert np.max(np.abs(saabas.sum(axis=1) - raw)) < 1e-9
    assert np.max(np.abs(shap.sum(axis=1) - raw)) < 1e-9
    assert saabas[:, -1] == pytest.approx(np.full(len(raw), saabas[0, -1]))  # bias: sum of roots
    # They are different attributions of the same score: same sign of the largest driver on
    # most records, not the same numbers (benchmarks/bench_gbm_reasons.py measures it).
    assert not np.allclose(saabas, shap)
    top_s, top_t = saabas[:, :-1].argmax(axis=1), shap[:, :-1].argmax(axis=1)
    assert np.mean(top_s == top_t) > 0.4


def test_reasons_without_codes_name_columns(credit):
    x, y, xt, _ = credit
    model = GBMModel(**FAST).fit(x, y)
    contrib = model.contributions(xt.head(50))[:, :-1]
    for row, names in zip(contrib, model.reasons(xt.head(50), top=2), strict=True):
        positive = [model.columns_[j] for j in np.argsort(-row, kind="stable") if row[j] > 0]
        assert names == positive[:2]
