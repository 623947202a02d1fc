"""Fit the small LightGBM model that ``tests/data/mini_model.yaml`` runs.

A binary model on 3,000 synthetic applications (seed 11) over the inputs of the
mini strategy: bureau score (20 % missing), debt-to-income, age, monthly income and
a bankruptcy flag (50 % missing). 40 trees of at most 8 leaves, so the text file
stays small; trained single-threaded and deterministic, so rerunning the script
rewrites the same bytes (the file's SHA-256 is part of the strategy digest).

Usage::

    .venv/bin/python tools/fit_mini_model.py --out tests/data/mini_pd_model.txt
"""

from __future__ import annotations

import argparse
from pathlib import Path

import lightgbm as lgb
import numpy as np

FEATURES = ["bureau_score", "dti", "age", "income", "bankrupt"]
ROWS = 3_000
SEED = 11
PARAMS = {"objective": "binary", "num_leaves": 8, "learning_rate": 0.1, "min_data_in_leaf": 20,
          "verbose": -1, "num_threads": 1, "deterministic": True, "force_row_wise": True,
          "seed": SEED}


def synthetic(rows: int, seed: int) -> tuple[np.ndarray, np.ndarray]:
    """Applications and a default flag whose log-odds fall with score and rise with DTI."""
    rng = np.random.default_rng(seed)
    score = np.round(rng.normal(640, 90, rows).clip(300, 900))
    dti = rng.gamma(2.0, 0.15, rows)
    age = rng.integers(18, 75, rows).astype(float)
    income = np.round(rng.lognormal(9.0, 0.6, rows), 2)
    bankrupt = (rng.random(rows) < 0.05).astype(float)
    logit = (-2.2 - 0.012 * (score - 640) + 2.5 * (dti - 0.3) - 0.015 * (age - 40)
             - 0.3 * np.log(income / 8000) + 2.0 * bankrupt)
    score[rng.random(rows) < 0.2] = np.nan
    bankrupt[rng.random(rows) < 0.5] = np.nan
    y = (rng.random(rows) < 1 / (1 + np.exp(-logit))).astype(int)
    return np.column_stack([score, dti, age, income, bankrupt]), y


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", type=Path, default=Path("tests/data/mini_pd_model.txt"))
    args = parser.parse_args(argv)
    x, y = synthetic(ROWS, SEED)
    booster = lgb.train(PARAMS, lgb.Dataset(x, y, feature_name=FEATURES), num_boost_round=40)
    booster.save_model(str(args.out))
    print(f"wrote {args.out} ({args.out.stat().st_size:,} bytes)")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
