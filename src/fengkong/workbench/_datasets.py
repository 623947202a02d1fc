"""Seeded synthetic credit data for tests, examples and benchmarks.

:func:`synthetic_credit` draws a table of historical credit applications with a
known, non-linear relationship to a binary outcome ``bad`` (1 = the loan went
bad). It exists so that the workbench can be tested and benchmarked at scale
(1,000,000 rows in a few seconds) without shipping or downloading data.

What is in the table (all drawn with one ``numpy.random.Generator`` seeded by
``seed``, so the same ``(n, seed)`` always gives the same table):

* 30 numeric characteristics (:data:`NUMERIC_CHARACTERISTICS`) driven by four
  correlated latent factors (credit quality, affordability, stability, recent
  behaviour), so characteristics are correlated as real bureau and application
  data are. Four of them (``aux_01`` .. ``aux_04``) are pure noise.
* 3 categorical characteristics (:data:`CATEGORICAL_CHARACTERISTICS`).
* Effects on the outcome that a straight line does not capture: U-shapes
  (``utilization``, ``num_open_accounts``, ``minutes_to_complete`` are riskiest
  at both ends), thresholds (``debt_to_income`` above 0.45, ``num_inquiries_6m``
  of 4 or more, ``cash_advance_ratio`` above 0.3), a peak
  (``loan_term_months``) and interactions (high ``debt_to_income`` is worse for
  the self-employed; high ``utilization`` is worse in the ``partner`` channel).
* About 2 % missing values (nulls) in every characteristic, at random.
* Special values ``-999`` meaning "no such event / no record", which are not
  missing: ``months_since_last_delinquency`` (never delinquent),
  ``employment_years`` (not stated), ``bureau_score`` (no bureau hit) and
  ``months_on_book`` (new to the lender).
* ``channel`` — the customer segment (``branch``, ``online``, ``partner``).
* ``applied_at`` — application date, uniform over the 24 months from
  2023-01-01, with a mild drift in the later months (for out-of-time tests and
  PSI).
* Protected attributes ``gender``, ``age_band`` and ``region``: they do not
  enter the outcome directly, but are correlated with some characteristics
  (``age_band`` with file length, ``region`` and ``gender`` with income), as
  proxies are in real data — the fairness report has something to find. A model
  must not use them as inputs.
* ``bad`` — the target, 0/1 (Int8), about 5 % ones.

The numeric characteristics are Float64, the categorical ones and the protected
attributes String, ``applied_at`` Date.
"""

from __future__ import annotations

import datetime as _dt
from typing import Any, Final

import numpy as np
import numpy.typing as npt
import polars as pl

__all__ = [
    "CATEGORICAL_CHARACTERISTICS",
    "CHARACTERISTICS",
    "NUMERIC_CHARACTERISTICS",
    "PROTECTED_ATTRIBUTES",
    "SPECIAL_VALUE",
    "synthetic_credit",
]

F64 = npt.NDArray[np.float64]
I64 = npt.NDArray[np.int64]

SPECIAL_VALUE: Final = -999.0
"""The special value used in the columns that have one (not a missing value)."""

NUMERIC_CHARACTERISTICS: Final[tuple[str, ...]] = (
    "bureau_score",
    "income_monthly",
    "debt_to_income",
    "payment_to_income",
    "utilization",
    "revolving_balance",
    "credit_limit_total",
    "months_on_book",
    "age_of_oldest_trade_months",
    "months_since_last_delinquency",
    "num_delinquencies_24m",
    "num_trades_90dpd",
    "num_inquiries_6m",
    "recent_trades_12m",
    "num_open_accounts",
    "cash_advance_ratio",
    "overdraft_days_90d",
    "loan_amount",
    "loan_term_months",
    "employment_years",
    "residence_years",
    "savings_balance",
    "salary_regularity",
    "mobile_tenure_months",
    "email_age_days",
    "minutes_to_complete",
    "aux_01",
    "aux_02",
    "aux_03",
    "aux_04",
)
"""The 30 numeric characteristics, in column order."""

CATEGORICAL_CHARACTERISTICS: Final[tuple[str, ...]] = (
    "housing",
    "employment_type",
    "loan_purpose",
)
"""The 3 categorical characteristics, in column order."""

CHARACTERISTICS: Final[tuple[str, ...]] = NUMERIC_CHARACTERISTICS + CATEGORICAL_CHARACTERISTICS
"""All 33 characteristics a model may use."""

PROTECTED_ATTRIBUTES: Final[tuple[str, ...]] = ("gender", "age_band", "region")
"""Attributes for the fairness report; a model must not use them."""

_HOUSING: Final = ("own", "mortgage", "rent", "other")
_EMPLOYMENT: Final = ("salaried", "self_employed", "contractor", "retired", "unemployed")
_PURPOSE: Final = (
    "debt_consolidation",
    "car",
    "home_improvement",
    "education",
    "medical",
    "travel",
    "other",
)
_CHANNEL: Final = ("branch", "online", "partner")
_GENDER: Final = ("F", "M")
_AGE_BAND: Final = ("18-25", "26-35", "36-45", "46-55", "56+")
_REGION: Final = ("north", "south", "east", "west", "central")

_START: Final = _dt.date(2023, 1, 1)
_DAYS: Final = 730  # 24 months
_MISSING_SHARE: Final = 0.02
# Calibrated so that the bad rate is about 5 % (see tests/unit/workbench/test_datasets.py).
_INTERCEPT: Final = -8.25


def _sigmoid(x: F64) -> F64:
    out: F64 = 0.5 * (1.0 + np.tanh(0.5 * x))
    return out


def _pick(rng: np.random.Generator, n: int, probs: F64) -> I64:
    """Draw category codes row by row from per-row probabilities (n, k) — vectorised."""
    cum = np.cumsum(probs, axis=1)
    cum /= cum[:, -1:]
    u = rng.random(n)[:, None]
    codes: I64 = np.minimum((u > cum).sum(axis=1), probs.shape[1] - 1).astype(np.int64)
    return codes


def _choice(rng: np.random.Generator, n: int, probs: tuple[float, ...]) -> I64:
    """Draw category codes with the same probabilities for every row."""
    p = np.asarray(probs, dtype=np.float64)
    codes: I64 = rng.choice(len(p), size=n, p=p / p.sum()).astype(np.int64)
    return codes


def _labels(labels: tuple[str, ...], codes: I64) -> pl.Series:
    return pl.Series(values=list(labels), dtype=pl.String).gather(codes)


def synthetic_credit(n: int = 1_000_000, seed: int = 0) -> pl.DataFrame:
    """Draw ``n`` synthetic credit applications with a known outcome ``bad``.

    Seeded and vectorised: the same ``(n, seed)`` gives the same table, and one
    million rows take a few seconds. See the module docstring for the columns.
    """
    if n < 1:
        msg = f"n must be at least 1, got {n}"
        raise ValueError(msg)
    rng = np.random.default_rng(seed)

    # --- latent factors (correlated) and the segment ---------------------------------
    cov = np.array(
        [
            [1.0, 0.35, 0.30, 0.45],
            [0.35, 1.0, 0.25, 0.20],
            [0.30, 0.25, 1.0, 0.15],
            [0.45, 0.20, 0.15, 1.0],
        ]
    )
    latent = rng.standard_normal((n, 4)) @ np.linalg.cholesky(cov).T
    quality, afford, stable, behave = latent[:, 0], latent[:, 1], latent[:, 2], latent[:, 3]
    channel = _choice(rng, n, (0.35, 0.45, 0.20))
    day = rng.integers(0, _DAYS, n)
    late = day >= _DAYS - 183  # the last six months drift a little
    quality = quality - 0.15 * late

    # --- protected attributes, correlated with the latent factors (proxies) ---------
    age_band = np.clip(np.floor(2.0 + 1.1 * stable + 0.9 * rng.standard_normal(n)), 0, 4).astype(np.int64)
    region = _choice(rng, n, (0.22, 0.18, 0.20, 0.25, 0.15))
    region_income = np.array([0.10, -0.25, 0.0, 0.05, 0.20])[region]
    gender = (rng.random(n) < _sigmoid(0.05 + 0.25 * afford)).astype(np.int64)  # 1 = M
    afford = afford + 0.35 * region_income

    def noise(scale: float = 1.0) -> F64:
        return scale * rng.standard_normal(n)

    # --- numeric characteristics ----------------------------------------------------
    bureau_score = np.clip(660.0 + 65.0 * quality + noise(30.0), 300.0, 850.0).round()
    income_monthly = np.round(np.exp(8.3 + 0.45 * afford + 0.1 * gender + noise(0.25)), 2)
    debt_to_income = np.clip(0.32 - 0.10 * afford - 0.04 * quality + noise(0.11), 0.0, 1.5).round(4)
    loan_amount = np.round(np.exp(9.2 + 0.35 * afford + noise(0.55)), -1)
    loan_term_months = np.array([12.0, 24.0, 36.0, 48.0, 60.0])[
        _choice(rng, n, (0.12, 0.23, 0.33, 0.20, 0.12))
    ]
    payment_to_income = np.clip(
        loan_amount / loan_term_months * (1.0 + 0.012 * loan_term_months) / income_monthly, 0.0, 3.0
    ).round(4)
    utilization = np.clip(_sigmoid(-0.3 - 1.1 * quality + 0.4 * behave + noise(0.8)) * 1.1, 0.0, 1.2)
    utilization = np.where(rng.random(n) < 0.06, 0.0, utilization).round(4)  # unused lines
    credit_limit_total = np.round(np.exp(8.6 + 0.45 * afford + 0.3 * stable + noise(0.5)), -1)
    revolving_balance = np.round(utilization * credit_limit_total, 2)
    age_of_oldest_trade_months = np.clip(110.0 + 60.0 * stable + 30.0 * age_band - 60.0 + noise(30.0), 0.0, 480.0).round()
    months_on_book = np.clip(40.0 + 25.0 * stable + noise(20.0), 0.0, 240.0).round()
    new_to_lender = rng.random(n) < 0.10
    months_on_book = np.where(new_to_lender, SPECIAL_VALUE, months_on_book)
    delinquency_rate = np.exp(-1.3 - 0.9 * quality - 0.5 * behave)
    num_delinquencies_24m = rng.poisson(delinquency_rate).astype(np.float64)
    never = (num_delinquencies_24m == 0) & (rng.random(n) < 0.85)
    months_since_last_delinquency = np.where(
        never, SPECIAL_VALUE, np.clip(np.round(rng.exponential(18.0 + 10.0 * np.clip(quality + 2.0, 0.0, None), n)), 0.0, 120.0)
    )
    num_trades_90dpd = rng.poisson(np.exp(-2.6 - 1.0 * quality - 0.4 * behave)).astype(np.float64)
    num_inquiries_6m = rng.poisson(np.exp(0.3 - 0.45 * behave - 0.2 * quality)).astype(np.float64)
    recent_trades_12m = rng.poisson(np.exp(0.2 - 0.3 * behave + 0.1 * afford)).astype(np.float64)
    num_open_accounts = rng.poisson(np.exp(1.5 + 0.25 * stable + 0.15 * afford)).astype(np.float64)
    cash_advance_ratio = np.clip(_sigmoid(-2.2 - 0.9 * behave - 0.4 * quality + noise(0.7)), 0.0, 1.0).round(4)
    overdraft_days_90d = np.clip(
        rng.poisson(np.exp(0.4 - 0.8 * behave - 0.3 * afford)).astype(np.float64), 0.0, 90.0
    )
    employment_years = np.clip(np.round(4.0 + 4.0 * stable + 2.0 * age_band + noise(2.5), 1), 0.0, 45.0)
    residence_years = np.clip(np.round(3.0 + 3.0 * stable + noise(2.5), 1), 0.0, 40.0)
    savings_balance = np.round(np.exp(7.0 + 0.8 * afford + 0.4 * quality + noise(1.0)), 2)
    salary_regularity = np.clip(_sigmoid(1.5 + 0.8 * stable + 0.5 * behave + noise(0.8)), 0.0, 1.0).round(3)
    mobile_tenure_months = np.clip(np.round(36.0 + 20.0 * stable + noise(18.0)), 0.0, 240.0)
    email_age_days = np.clip(np.round(np.exp(6.5 + 0.5 * stable + 0.3 * behave + noise(0.8))), 0.0, 9000.0)
    minutes_to_complete = np.clip(np.round(np.exp(2.3 + noise(0.6)), 1), 0.5, 240.0)
    aux = [noise() for _ in range(4)]

    # --- categorical characteristics ------------------------------------------------
    housing_logits = np.stack(
        [0.6 * stable + 0.3 * afford, 0.3 + 0.3 * afford + 0.2 * stable, 0.5 - 0.4 * stable, -1.5 + 0.0 * stable],
        axis=1,
    )
    housing = _pick(rng, n, np.exp(housing_logits))
    employment_logits = np.stack(
        [
            1.8 + 0.4 * stable,
            0.2 + 0.0 * stable,
            0.0 - 0.2 * stable,
            -1.0 + 0.9 * (age_band - 3.0),
            -1.6 - 0.6 * afford,
        ],
        axis=1,
    )
    employment = _pick(rng, n, np.exp(employment_logits))
    purpose = _choice(rng, n, (0.30, 0.18, 0.15, 0.08, 0.07, 0.07, 0.15))

    # --- the outcome: non-linear effects on the log-odds ----------------------------
    bs = np.where(rng.random(n) < 0.04, SPECIAL_VALUE, bureau_score)  # no bureau hit: 4 %
    bs_effect = np.where(bs == SPECIAL_VALUE, 1.3, -1.25 * (bureau_score - 660.0) / 65.0)
    dti = debt_to_income
    self_employed = employment == 1
    logit = (
        _INTERCEPT
        + bs_effect
        + 1.1 * np.clip(dti - 0.45, 0.0, None) / 0.1 * (1.0 + 0.6 * self_employed)  # threshold, interaction
        + 0.9 * (np.log(income_monthly) - 8.3) ** 2 * (income_monthly < 4000.0) - 0.25 * (np.log(income_monthly) - 8.3)
        + 2.0 * (utilization - 0.45) ** 2 * (1.0 + 0.8 * (channel == 2))  # U-shape, interaction
        + 0.7 * (utilization == 0.0)
        + 0.85 * (num_inquiries_6m >= 4)  # threshold
        + 0.30 * np.minimum(num_delinquencies_24m, 4.0)
        + 0.45 * np.minimum(num_trades_90dpd, 3.0)
        + 0.9 * (cash_advance_ratio > 0.3)  # threshold
        + 0.06 * (num_open_accounts - 4.5) ** 2 / 2.0  # U-shape
        + 0.35 * ((loan_term_months == 36.0) | (loan_term_months == 48.0))  # peak
        + 0.25 * (np.log(minutes_to_complete) - 2.3) ** 2  # U-shape: bots and stragglers
        + 0.012 * overdraft_days_90d
        - 0.45 * (salary_regularity - 0.8)
        - 0.004 * np.where(months_on_book == SPECIAL_VALUE, 0.0, months_on_book)
        + 0.3 * new_to_lender
        + np.array([-0.35, -0.2, 0.25, 0.35])[housing]
        + np.array([-0.15, 0.2, 0.25, -0.1, 0.9])[employment]
        + np.array([0.15, -0.2, -0.25, 0.1, 0.3, 0.4, 0.05])[purpose]
        + np.array([-0.15, 0.2, 0.05])[channel]
        + 0.25 * late
        + noise(2.3)  # what the lender cannot see
    )
    bad = (rng.random(n) < _sigmoid(logit)).astype(np.int8)

    # --- special values, missing values and assembly --------------------------------
    employment_years = np.where(rng.random(n) < 0.03, SPECIAL_VALUE, employment_years)
    numeric: dict[str, npt.NDArray[np.floating[Any]]] = {
        "bureau_score": bs,
        "income_monthly": income_monthly,
        "debt_to_income": debt_to_income,
        "payment_to_income": payment_to_income,
        "utilization": utilization,
        "revolving_balance": revolving_balance,
        "credit_limit_total": credit_limit_total,
        "months_on_book": months_on_book,
        "age_of_oldest_trade_months": age_of_oldest_trade_months,
        "months_since_last_delinquency": months_since_last_delinquency,
        "num_delinquencies_24m": num_delinquencies_24m,
        "num_trades_90dpd": num_trades_90dpd,
        "num_inquiries_6m": num_inquiries_6m,
        "recent_trades_12m": recent_trades_12m,
        "num_open_accounts": num_open_accounts,
        "cash_advance_ratio": cash_advance_ratio,
        "overdraft_days_90d": overdraft_days_90d,
        "loan_amount": loan_amount,
        "loan_term_months": loan_term_months,
        "employment_years": employment_years,
        "residence_years": residence_years,
        "savings_balance": savings_balance,
        "salary_regularity": salary_regularity,
        "mobile_tenure_months": mobile_tenure_months,
        "email_age_days": email_age_days,
        "minutes_to_complete": minutes_to_complete,
        "aux_01": aux[0].round(4),
        "aux_02": aux[1].round(4),
        "aux_03": aux[2].round(4),
        "aux_04": aux[3].round(4),
    }
    columns: list[pl.Series] = []
    for name in NUMERIC_CHARACTERISTICS:
        values = np.asarray(numeric[name], dtype=np.float64)
        mask = rng.random(n) < _MISSING_SHARE
        values = np.where(mask, np.nan, values)
        columns.append(pl.Series(name, values, dtype=pl.Float64, nan_to_null=True))
    for name, labels, codes in (
        ("housing", _HOUSING, housing),
        ("employment_type", _EMPLOYMENT, employment),
        ("loan_purpose", _PURPOSE, purpose),
    ):
        mask = rng.random(n) < _MISSING_SHARE
        series = _labels(labels, codes).alias(name)
        columns.append(pl.select(pl.when(pl.Series(mask)).then(None).otherwise(series).alias(name)).to_series())
    columns.append(_labels(_CHANNEL, channel).alias("channel"))
    dates = np.datetime64(_START, "D") + day.astype("timedelta64[D]")
    columns.append(pl.Series("applied_at", dates).cast(pl.Date))
    columns.append(_labels(_GENDER, gender).alias("gender"))
    columns.append(_labels(_AGE_BAND, age_band).alias("age_band"))
    columns.append(_labels(_REGION, region).alias("region"))
    columns.append(pl.Series("bad", bad, dtype=pl.Int8))
    return pl.DataFrame(columns)
