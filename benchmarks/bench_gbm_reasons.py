"""LightGBM reason codes for a 1 M-row book: the engine's batch path vs TreeSHAP.

Fits :class:`fengkong.workbench.GBMModel` on the seeded synthetic credit table (30 numeric
+ 3 categorical characteristics, stratified 70/30 split, random_state 42), exports it, and
measures on the same model:

* ``fengkong.evaluate_batch`` on the exported strategy (probability + Saabas contributions
  + reason codes for every row), rows/s;
* ``GBMModel.reasons`` (the engine's batch scorer without the rest of the strategy), rows/s;
* LightGBM ``Booster.predict`` (probability only), rows/s, for scale;
* LightGBM ``Booster.predict(pred_contrib=True)`` (exact TreeSHAP), rows/s on a sample;
* the engine's probability vs ``predict_proba`` on every holdout row (max abs difference);
* agreement of the top reason (largest positive contribution) between Saabas and TreeSHAP.

Usage::

    .venv/bin/python benchmarks/bench_gbm_reasons.py [--rows 1000000] [--shap-rows 20000]
"""

from __future__ import annotations

import argparse
import tempfile
import time

import numpy as np
import polars as pl

from fengkong import compile_strategy, evaluate_batch
from fengkong.workbench import GBMModel
from fengkong.workbench._datasets import CHARACTERISTICS, synthetic_credit


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rows", type=int, default=1_000_000)
    parser.add_argument("--shap-rows", type=int, default=20_000)
    parser.add_argument("--trees", type=int, default=200)
    args = parser.parse_args(argv)

    t = time.perf_counter()
    data = synthetic_credit(args.rows, seed=0)
    print(f"data: {data.height:,} rows in {time.perf_counter() - t:.1f} s")
    rng = np.random.default_rng(42)
    y_all = data["bad"].to_numpy()
    test = np.zeros(data.height, dtype=bool)
    for label in (0, 1):  # stratified 70/30
        idx = np.flatnonzero(y_all == label)
        test[rng.choice(idx, size=round(0.3 * len(idx)), replace=False)] = True
    x = data.select(CHARACTERISTICS)
    x_train, y_train = x.filter(~test), y_all[~test]
    x_test, y_test = x.filter(test), y_all[test]

    model = GBMModel(n_estimators=args.trees, learning_rate=0.1, num_leaves=31,
                     validation_fraction=0.1, early_stopping_rounds=20, random_state=42,
                     n_jobs=1)
    t = time.perf_counter()
    model.fit(x_train, y_train)
    print(f"fit: {time.perf_counter() - t:.1f} s, {model.n_estimators_} trees "
          f"(of at most {args.trees})")
    p_model = model.predict_proba(x_test)[:, 1]
    from sklearn.metrics import roc_auc_score

    print(f"holdout AUC {roc_auc_score(y_test, p_model):.4f}")

    with tempfile.TemporaryDirectory() as tmp:
        export = model.export(tmp)
        compiled = compile_strategy(export.strategy_file)
        book = data.select(CHARACTERISTICS)  # the whole 1 M-row book
        evaluate_batch(compiled, book.head(20_000))  # warm the scorer cache
        t = time.perf_counter()
        out = evaluate_batch(compiled, book)
        dt = time.perf_counter() - t
        print(f"evaluate_batch with reasons: {book.height:,} rows in {dt:.2f} s = "
              f"{book.height / dt:,.0f} rows/s")
        scores = out["score.pd"].to_numpy()[test]
        print(f"engine probability vs predict_proba, {test.sum():,} holdout rows: "
              f"max |diff| = {np.max(np.abs(scores - p_model)):.3g}, "
              f"bit-identical rows {np.mean(scores == p_model):.4%}")

    t = time.perf_counter()
    saabas = model.contributions(x_test)
    dt = time.perf_counter() - t
    print(f"GBMModel.contributions (engine Saabas): {x_test.height / dt:,.0f} rows/s")
    t = time.perf_counter()
    model.reasons(x_test, top=3)
    dt = time.perf_counter() - t
    print(f"GBMModel.reasons(top=3): {x_test.height / dt:,.0f} rows/s")

    matrix = model.transform_inputs(x_test)
    t = time.perf_counter()
    model.booster_.predict(matrix)
    dt = time.perf_counter() - t
    print(f"LightGBM predict (probability only, no contributions): {x_test.height / dt:,.0f} rows/s")

    sample = x_test.head(args.shap_rows)
    matrix = model.transform_inputs(sample)
    t = time.perf_counter()
    shap = np.asarray(model.booster_.predict(matrix, pred_contrib=True))
    dt = time.perf_counter() - t
    print(f"LightGBM pred_contrib (TreeSHAP): {sample.height / dt:,.0f} rows/s "
          f"({sample.height:,} rows)")
    raw = model.decision_function(sample)
    sa = saabas[: sample.height]
    print(f"sum check: |saabas sum - raw| max {np.max(np.abs(sa.sum(1) - raw)):.2g}, "
          f"|shap sum - raw| max {np.max(np.abs(shap.sum(1) - raw)):.2g}")
    top_s, top_t = sa[:, :-1].argmax(1), shap[:, :-1].argmax(1)
    both_pos = (sa[:, :-1].max(1) > 0) & (shap[:, :-1].max(1) > 0)
    agree = np.mean(top_s[both_pos] == top_t[both_pos])
    in3 = np.mean([top_s[i] in np.argsort(-shap[i, :-1])[:3] for i in np.flatnonzero(both_pos)])
    print(f"top-1 reason agreement Saabas vs TreeSHAP: {agree:.1%} "
          f"(Saabas top-1 within TreeSHAP top-3: {in3:.1%}; {both_pos.sum():,} rows)")
    corr = np.mean([np.corrcoef(sa[i, :-1], shap[i, :-1])[0, 1] for i in range(2_000)])
    print(f"mean per-row correlation of contributions (2,000 rows): {corr:.3f}")
    _ = pl  # polars is the table type throughout
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
