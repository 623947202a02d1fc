"""Seeded synthetic consumer-loan applications for demos, tests and benchmarks.

The generator produces one row per loan application of a China-flavoured
online lender (app, partner and branch channels; consumption, cash and SME
loans).  Every row carries the applicant's identity and demographics, the
requested loan, a credit-bureau block (null as a whole for *thin-file*
applicants), device and fraud signals, alternative data (telecom,
e-commerce, digital footprint) and a known outcome ``bad`` (90+ days past due
within 12 months).

How the data are made
---------------------
Each applicant has two hidden traits: a *credit quality* ``q`` (standard
normal, partly explained by income, occupation and age) and a *credit hunger*
``h`` (negatively correlated with ``q``).  A small share of applications
(about 1.6 %: 3 % through the partner channel, 1.2 % through the app, 0.3 %
in branches) are *fraud*.
The observed characteristics are noisy functions of these traits: the bureau
score and history, utilisation and inquiries follow ``q`` and ``h``; telecom
tenure, e-commerce spend and social followers follow ``q``; fraud shows up as
emulators, IP/province mismatches, low face-match scores, failed ID checks,
black-list hits and very short telecom tenure.

The outcome is drawn from a latent logistic probability of default whose
log-odds are a monotone function of the observed characteristics (bureau
score, delinquencies, worst days-past-due, utilisation, inquiries,
debt-to-income, age, employment tenure, telecom tenure, e-commerce spend,
multi-lending, fraud signals, occupation, channel) plus the hidden quality
``q`` (which for thin-file applicants stands in for the missing bureau data),
the hidden fraud flag and an unobserved "life event" shock (normal, standard
deviation :data:`LIFE_EVENT_SD`).  The overall bad rate is about 7 %: about
6.5 % with a bureau file and 13 % without.

Gender is a protected attribute: it has no term in the outcome.  Men's
incomes are about 5 % higher, which reaches the outcome only weakly, through
the loan-to-income term; gender also sets the ID number's gender digit and
the choice of given name.

Everything is vectorised NumPy/Polars; one million rows take a few seconds.
The same ``seed`` and ``rows`` always give the same frame.
"""

from __future__ import annotations

import contextlib
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import numpy as np
import polars as pl

__all__ = ["COLUMNS", "generate_applications", "write_applications"]

# --------------------------------------------------------------------------
# Reference lists
# --------------------------------------------------------------------------

CHANNELS = np.array(["app", "partner", "branch"])
CHANNEL_P = np.array([0.55, 0.30, 0.15])

SCENARIOS = np.array(["consumption", "cash", "sme"])
# P(scenario | channel); rows follow CHANNELS.
SCENARIO_P = np.array(
    [
        [0.55, 0.37, 0.08],  # app
        [0.50, 0.42, 0.08],  # partner
        [0.30, 0.28, 0.42],  # branch
    ]
)

OCCUPATIONS = np.array(["salaried", "civil_servant", "self_employed", "student", "other"])
EDUCATIONS = np.array(["high_school", "college", "bachelor", "master_plus"])
MARITAL = np.array(["single", "married", "divorced"])
GENDERS = np.array(["F", "M"])

PROVINCES = np.array(["GD", "ZJ", "JS", "SD", "SC", "HN", "HB", "FJ", "BJ", "SH"])
PROVINCE_P = np.array([0.17, 0.11, 0.11, 0.10, 0.09, 0.08, 0.08, 0.07, 0.09, 0.10])
# GB/T 2260 province prefix of the resident ID number.
PROVINCE_ID_PREFIX = np.array([44, 33, 32, 37, 51, 43, 42, 35, 11, 31])
# Log-income uplift of the province of residence.
PROVINCE_INCOME = np.array([0.15, 0.15, 0.15, 0.02, -0.05, -0.08, -0.03, 0.05, 0.30, 0.30])

TERMS = np.array([3, 6, 12, 24, 36])
# P(term | scenario); rows follow SCENARIOS.
TERM_P = np.array(
    [
        [0.35, 0.35, 0.25, 0.05, 0.00],  # consumption
        [0.05, 0.20, 0.40, 0.25, 0.10],  # cash
        [0.00, 0.05, 0.35, 0.35, 0.25],  # sme
    ]
)

SURNAMES = list(
    "王李张刘陈杨黄赵吴周徐孙马朱胡郭何林高罗郑梁谢宋唐许韩冯邓曹彭曾肖田董袁潘蒋蔡余杜叶程"
)
# Relative frequencies of the surnames above (roughly the national shares, in %).
SURNAME_W = np.array(
    [7.1, 7.0, 6.8, 5.4, 4.5, 3.1, 2.2, 2.0, 1.9, 1.9, 1.7, 1.5, 1.2, 1.2, 1.2, 1.1, 1.1, 1.1,
     1.0, 0.9, 0.9, 0.9, 0.8, 0.8, 0.8, 0.7, 0.7, 0.7, 0.7, 0.6, 0.6, 0.6, 0.6, 0.6, 0.5,
     0.5, 0.5, 0.5, 0.5, 0.5, 0.5, 0.5, 0.5]
)  # fmt: skip
GIVEN_M = list("伟强磊军洋勇杰涛明超刚平辉鹏华飞鑫波宇浩凯健俊帆帅旭宁龙林阳建国志文斌博晨峰亮成")
GIVEN_F = list("芳娜敏静丽艳娟霞秀玲英燕萍红婷雪琳晶颖慧倩欣怡佳悦梦思雨琪璐洁月莉兰丹妍涵萱")
GIVEN_N = list("子嘉一思欣宇佳晓文雅")  # gender-neutral first characters

ID_WEIGHTS = np.array([7, 9, 10, 5, 8, 4, 2, 1, 6, 3, 7, 9, 10, 5, 8, 4, 2], dtype=np.int64)
ID_CHECK = np.frombuffer(b"10X98765432", dtype=np.uint8)

START_DATE = np.datetime64("2025-01-01", "D")
END_DATE = np.datetime64("2026-06-30", "D")

#: Intercept of the outcome's log-odds, tuned so that the bad rate is about 7 %.
OUTCOME_INTERCEPT = -4.10
#: Standard deviation of the unobserved shock added to the log-odds.
LIFE_EVENT_SD = 1.2

_BUREAU = [
    "bureau.score",
    "bureau.monthly_debt",
    "bureau.inquiries_3m",
    "bureau.inquiries_6m",
    "bureau.delinquencies_12m",
    "bureau.max_dpd_24m",
    "bureau.open_loans",
    "bureau.credit_utilisation",
    "bureau.months_since_first_credit",
    "bureau.bankruptcy",
    "bureau.court_judgements",
]

#: Output columns in order, with their Polars dtypes.
COLUMNS: dict[str, Any] = {
    "application_id": pl.String,
    "applied_at": pl.Date,
    "channel": pl.String,
    "scenario": pl.String,
    "applicant.id_number": pl.String,
    "applicant.phone": pl.String,
    "applicant.name": pl.String,
    "applicant.age": pl.Int64,
    "applicant.gender": pl.String,
    "applicant.occupation": pl.String,
    "applicant.education": pl.String,
    "applicant.marital_status": pl.String,
    "applicant.province": pl.String,
    "applicant.income_monthly": pl.Float64,
    "applicant.employment_months": pl.Int64,
    "applicant.residence_months": pl.Int64,
    "applicant.id_verified": pl.Boolean,
    "applicant.face_match_score": pl.Float64,
    "loan.amount": pl.Float64,
    "loan.term_months": pl.Int64,
    "bureau.score": pl.Int64,
    "bureau.monthly_debt": pl.Float64,
    "bureau.inquiries_3m": pl.Int64,
    "bureau.inquiries_6m": pl.Int64,
    "bureau.delinquencies_12m": pl.Int64,
    "bureau.max_dpd_24m": pl.Int64,
    "bureau.open_loans": pl.Int64,
    "bureau.credit_utilisation": pl.Float64,
    "bureau.months_since_first_credit": pl.Int64,
    "bureau.bankruptcy": pl.Boolean,
    "bureau.court_judgements": pl.Int64,
    "device.is_emulator": pl.Boolean,
    "device.ip_province_mismatch": pl.Boolean,
    "device.loan_apps_count": pl.Int64,
    "blacklist.hit": pl.Boolean,
    "multi_lending.platforms_30d": pl.Int64,
    "telecom.tenure_months": pl.Int64,
    "telecom.monthly_bill": pl.Float64,
    "telecom.real_name_verified": pl.Boolean,
    "ecommerce.spend_12m": pl.Float64,
    "ecommerce.orders_12m": pl.Int64,
    "digital.game_level": pl.Int64,
    "digital.followers": pl.Int64,
    "bad": pl.Int64,
}


# --------------------------------------------------------------------------
# Helpers
# --------------------------------------------------------------------------


def _sigmoid(x: np.ndarray) -> np.ndarray:
    return np.asarray(1.0 / (1.0 + np.exp(-x)), dtype=np.float64)


def _choice_rows(rng: np.random.Generator, probs: np.ndarray) -> np.ndarray:
    """Draw one category index per row from a row-wise probability matrix."""
    cum = np.cumsum(probs, axis=1)
    cum /= cum[:, -1:]
    u: np.ndarray = rng.random((probs.shape[0],))
    return np.asarray((u[:, None] > cum).sum(axis=1), dtype=np.int64)


def _labels(levels: np.ndarray, codes: np.ndarray) -> pl.Series:
    """Map integer codes to their string labels (fast, via Polars gather)."""
    return pl.Series(levels.tolist(), dtype=pl.String).gather(codes)


def _round_money(x: np.ndarray) -> np.ndarray:
    return np.round(x, 2)


def _write_digits(out: np.ndarray, start: int, values: np.ndarray, width: int) -> None:
    """Write ``values`` as zero-padded ASCII decimal digits into ``out[:, start:start+width]``."""
    rest = values.astype(np.int64, copy=True)
    for col in range(start + width - 1, start - 1, -1):
        out[:, col] = rest % 10 + ord("0")
        rest //= 10


def _ascii_series(name: str, codes: np.ndarray) -> pl.Series:
    """Turn an ``(n, k)`` array of ASCII codes into a string Series."""
    n, k = codes.shape
    raw = np.ascontiguousarray(codes.astype(np.uint8)).view(f"S{k}").reshape(n)
    return pl.Series(name, raw, dtype=pl.Binary).cast(pl.String)


@contextlib.contextmanager
def _steps(total: int, *, enabled: bool) -> Iterator[Callable[[str], None]]:
    """Yield an ``advance(description)`` callable, backed by rich when enabled."""
    if not enabled:
        yield lambda _description: None
        return
    from rich.progress import Progress

    with Progress(transient=False) as progress:
        task = progress.add_task("generating applications", total=total)

        def advance(description: str) -> None:
            progress.update(task, advance=1, description=description)

        yield advance


# --------------------------------------------------------------------------
# Generator
# --------------------------------------------------------------------------


def generate_applications(rows: int, *, seed: int = 0, show_progress: bool = False) -> pl.DataFrame:
    """Generate synthetic consumer-loan applications with a known outcome.

    Parameters
    ----------
    rows : int
        Number of applications (``>= 0``).
    seed : int, default 0
        Seed for :func:`numpy.random.default_rng`.  The same ``rows`` and
        ``seed`` always give an identical frame.
    show_progress : bool, default False
        Show a ``rich`` progress bar over the generation steps.

    Returns
    -------
    polars.DataFrame
        One row per application, with the columns and dtypes of
        :data:`COLUMNS` (dotted names such as ``"bureau.score"``).  The
        ``bureau.*`` columns are null together for thin-file applicants
        (about 12 %); ``telecom.*``, ``ecommerce.*`` and ``digital.*`` are
        null by block where that data source did not match.  ``bad`` is 1
        when the loan reached 90+ days past due within 12 months.

    Raises
    ------
    ValueError
        If ``rows`` is negative.

    Examples
    --------
    >>> df = generate_applications(1_000, seed=7)
    >>> df.height
    1000
    """
    if rows < 0:
        msg = f"rows must be >= 0, got {rows}"
        raise ValueError(msg)
    n = int(rows)
    rng = np.random.default_rng(seed)
    cols: dict[str, Any] = {}

    with _steps(7, enabled=show_progress) as advance:
        # ---------------------------------------------------------- basics
        days = int((END_DATE - START_DATE).astype(int)) + 1
        applied_at = START_DATE + np.sort(rng.integers(0, days, n)).astype("timedelta64[D]")
        channel = rng.choice(3, size=n, p=CHANNEL_P)
        scenario = _choice_rows(rng, SCENARIO_P[channel])

        # age: 0.3 % minors (16-17), 0.4 % aged 71-80, the rest 18 + gamma.
        seg = rng.random(n)
        age = 18 + np.round(rng.gamma(2.4, 6.5, n))
        age = np.clip(age, 18, 70)
        age = np.where(seg < 0.003, rng.integers(16, 18, n), age)
        age = np.where(seg > 0.996, rng.integers(71, 81, n), age).astype(np.int64)

        gender = (rng.random(n) < 0.52).astype(np.int64)  # 1 = M
        province = rng.choice(len(PROVINCES), size=n, p=PROVINCE_P)

        # occupation | age, scenario
        occ_p = np.empty((n, 5))
        occ_p[:] = [0.62, 0.09, 0.18, 0.00, 0.11]
        young = age <= 24
        occ_p[young] = [0.45, 0.02, 0.08, 0.35, 0.10]
        occ_p[age >= 61] = [0.15, 0.05, 0.20, 0.00, 0.60]
        occ_p[age < 18] = [0.00, 0.00, 0.00, 0.85, 0.15]
        sme_adult = (scenario == 2) & (age >= 20)
        occ_p[sme_adult] = [0.10, 0.00, 0.82, 0.00, 0.08]
        occupation = _choice_rows(rng, occ_p)

        # education: latent score cut into four levels, capped by age.
        edu_shift = np.array([0.2, 0.9, -0.2, 0.3, -0.6])[occupation]
        edu_shift = edu_shift - 0.4 * (age > 45) - 0.3 * (age > 55)
        edu_latent = rng.standard_normal(n) + edu_shift
        education = np.searchsorted(np.array([-0.45, 0.35, 1.35]), edu_latent)
        education = np.minimum(
            education, np.where(age <= 19, 0, np.where(age <= 21, 1, np.where(age <= 23, 2, 3)))
        )

        # marital status | age, occupation
        p_married = 0.9 * _sigmoid((age - 29) / 3.5) * np.where(occupation == 3, 0.1, 1.0)
        p_divorced = np.where(age > 30, 0.04 + 0.002 * np.minimum(age - 30, 25), 0.0)
        u = rng.random(n)
        marital = np.where(u < p_married, 1, np.where(u < p_married + p_divorced, 2, 0))
        marital = np.where(age < 18, 0, marital)
        advance("demographics")

        # ---------------------------------------------------------- income & stability
        log_income = (
            8.55
            + np.array([0.0, 0.35, 0.35, 0.65])[education]
            + np.array([0.0, 0.10, 0.15, -1.30, -0.30])[occupation]
            - 0.0008 * (np.minimum(age, 65) - 42) ** 2
            + PROVINCE_INCOME[province]
            + 0.05 * gender
        )
        income_noise = rng.standard_normal(n)
        income_sd = np.where(occupation == 2, 0.70, 0.45)
        log_income = log_income + income_sd * income_noise
        income = _round_money(np.clip(np.exp(log_income), 500.0, 500_000.0))

        work_years = np.maximum(age - np.array([18, 22, 20, 18, 18])[occupation], 0)
        employment_months = np.round(
            rng.beta(1.4, 2.8, n) * work_years * 12 + rng.integers(0, 6, n)
        )
        employment_months = np.where(
            occupation == 3, (rng.random(n) < 0.2) * rng.integers(1, 12, n), employment_months
        )
        employment_months = employment_months.astype(np.int64)
        residence_months = np.round(rng.beta(1.2, 2.4, n) * age * 12 + 1).astype(np.int64)

        # hidden traits
        occ_q = np.array([0.2, 0.8, -0.2, -0.3, -0.5])[occupation]
        age_q = np.clip((age - 35) / 10.0, -1.5, 1.5)
        q = (
            0.30 * income_noise + 0.15 * occ_q + 0.12 * age_q + 0.90 * rng.standard_normal(n)
        ) / 0.97
        h = -0.35 * q + 0.94 * rng.standard_normal(n)
        fraud = rng.random(n) < np.array([0.012, 0.030, 0.003])[channel]
        advance("income and hidden traits")

        # ---------------------------------------------------------- identity
        ids = _id_numbers(rng, applied_at, age, gender, province)
        phones = _phones(rng, fraud)
        names = _names(rng, gender)
        advance("identity")

        # ---------------------------------------------------------- bureau
        p_thin = _sigmoid(
            -2.75
            + 1.3 * (age < 23)
            + 0.7 * (age < 26)
            + 1.0 * (occupation == 3)
            + 0.4 * (channel == 1)
            + 0.3 * (occupation == 4)
            + 3.0 * (age < 18)
        )
        thin = rng.random(n) < p_thin
        has_b = ~thin

        score = np.clip(
            np.round(645 + 80 * (0.85 * q + 0.53 * rng.standard_normal(n))), 300, 900
        ).astype(np.int64)
        delinq = rng.poisson(np.exp(-1.9 - 0.9 * q + 0.3 * h)).astype(np.int64)
        has_dpd = (delinq > 0) | (rng.random(n) < _sigmoid(-2.6 - 0.8 * q))
        dpd = np.clip(np.round(np.exp(np.log(12) - 0.5 * q + rng.standard_normal(n))), 1, 180)
        max_dpd = np.where(has_dpd, dpd, 0).astype(np.int64)
        util_mean = _sigmoid(-0.5 - 0.9 * q + 0.3 * h)
        util: np.ndarray = rng.beta(util_mean * 3.0, (1 - util_mean) * 3.0)
        over = rng.random(n) < _sigmoid(-3.5 - 1.2 * q)
        util = np.where(over, util * rng.uniform(1.0, 1.5, n), util)
        util = np.round(np.clip(util, 0.0, 1.5), 4)
        inq3 = rng.poisson(np.exp(0.0 + 0.6 * h - 0.3 * q)).astype(np.int64)
        inq6 = inq3 + rng.poisson(np.exp(-0.2 + 0.5 * h - 0.3 * q)).astype(np.int64)
        open_loans = rng.poisson(np.exp(0.7 + 0.4 * h + 0.1 * age_q)).astype(np.int64)
        dti_ratio = np.exp(
            np.log(0.10)
            + 0.35 * np.log(np.maximum(open_loans, 1))
            + 0.35 * h
            - 0.15 * q
            + 0.5 * rng.standard_normal(n)
        )
        monthly_debt = _round_money(
            np.where(open_loans > 0, income * np.minimum(dti_ratio, 3.0), 0.0)
        )
        history_cap = np.maximum((age - 18) * 12, 6)
        msfc = np.maximum(
            np.round(rng.beta(np.clip(2.0 + 0.6 * q, 0.5, None), 2.0) * history_cap), 1
        ).astype(np.int64)
        bankrupt = rng.random(n) < _sigmoid(-7.0 - 1.2 * q)
        court = rng.poisson(np.exp(-3.6 - 0.8 * q + 0.2 * h)).astype(np.int64)
        advance("credit bureau")

        # ---------------------------------------------------------- device, fraud, multi-lending
        is_emulator = rng.random(n) < np.where(fraud, 0.35, 0.004)
        ip_mismatch = rng.random(n) < np.where(fraud, 0.60, 0.07)
        id_verified = rng.random(n) >= np.where(fraud, 0.25, 0.015)
        face = np.where(fraud, rng.beta(3.0, 3.0, n), rng.beta(18.0, 1.5, n))
        face = np.round(np.clip(face, 0.0, 1.0), 4)
        blacklist = rng.random(n) < np.where(fraud, 0.15, 0.003)
        loan_apps = rng.poisson(np.exp(1.0 + 0.6 * h + 1.0 * fraud)).astype(np.int64)
        platforms = rng.poisson(np.exp(-0.3 + 0.8 * h + 0.8 * fraud)).astype(np.int64)

        # ---------------------------------------------------------- alternative data
        tel_null = rng.random(n) < np.array([0.07, 0.12, 0.05])[channel]
        tel_cap = np.maximum((age - 14) * 12, 6)
        tel_tenure = np.round(rng.beta(np.clip(1.5 + 0.5 * q, 0.3, None), 2.0) * tel_cap) + 1
        new_sim = fraud & (rng.random(n) < 0.5)
        tel_tenure = np.where(new_sim, rng.integers(1, 9, n), tel_tenure).astype(np.int64)
        tel_bill = _round_money(
            np.exp(
                np.log(60.0)
                + 0.3 * np.log(income / 6000.0)
                + 0.1 * h
                + 0.45 * rng.standard_normal(n)
            )
        )
        tel_real_name = rng.random(n) < np.where(fraud, 0.65, 0.975)

        ec_null = rng.random(n) < 0.15 + 0.25 * (age > 50)
        spend = np.exp(np.log(income * 12 * 0.10) + 0.25 * q + 0.8 * rng.standard_normal(n))
        spend = _round_money(np.where(rng.random(n) < 0.03, 0.0, spend))
        avg_order = np.exp(np.log(110.0) + 0.5 * rng.standard_normal(n))
        orders = np.where(spend > 0, np.clip(np.round(spend / avg_order), 1, 2000), 0).astype(
            np.int64
        )

        dig_null = rng.random(n) < 0.35 + 0.20 * (age > 45)
        gamer = rng.random(n) < _sigmoid(0.9 - 0.06 * (age - 30) + 0.3 * h)
        level = np.clip(
            np.round(35 + 10 * h - 0.8 * (age - 30) + 18 * rng.standard_normal(n)), 1, 100
        )
        game_level = np.where(gamer, level, 0).astype(np.int64)
        followers = (
            np.round(np.exp(3.0 + 0.25 * q + 0.3 * (age < 30) + 1.7 * rng.standard_normal(n))) - 1
        )
        followers = np.clip(followers, 0, 5_000_000).astype(np.int64)

        # ---------------------------------------------------------- loan
        amount = np.select(
            [scenario == 0, scenario == 1],
            [
                np.clip(
                    np.exp(
                        np.log(4000.0)
                        + 0.4 * np.log(income / 6000.0)
                        + 0.7 * rng.standard_normal(n)
                    ),
                    1_000,
                    50_000,
                ),
                np.clip(
                    np.exp(np.log(income * 2.5) + 0.6 * rng.standard_normal(n)), 1_000, 100_000
                ),
            ],
            np.clip(
                np.exp(
                    np.log(60_000.0) + 0.3 * np.log(income / 8000.0) + 0.6 * rng.standard_normal(n)
                ),
                10_000,
                200_000,
            ),
        )
        amount = _round_money(np.round(amount / 100.0) * 100.0)
        term = TERMS[_choice_rows(rng, TERM_P[scenario])].astype(np.int64)
        advance("device, alternative data and loan")

        # ---------------------------------------------------------- outcome
        # Log-odds of default: a sum of monotone terms (positive = riskier).
        dti = np.minimum(monthly_debt / np.maximum(income, 1.0), 2.0)
        bureau_terms = {
            "bureau_score": -0.0042 * (score - 645),
            "delinquencies": 0.20 * np.minimum(delinq, 5),
            "max_dpd": 0.10 * np.log1p(max_dpd),
            "utilisation": 0.40 * util,
            "inquiries": 0.04 * np.minimum(inq6, 15),
            "dti": 0.60 * dti,
            "bankruptcy": 1.00 * bankrupt,
            "court": 0.35 * np.minimum(court, 3),
            "history": -0.10 * np.log1p(msfc),
        }
        terms = {
            # thin-file applicants: the unseen credit quality stands in for the bureau
            "bureau": np.where(has_b, sum(bureau_terms.values()), 0.75 - 0.45 * q),
            "hidden_quality": -0.15 * q,
            "age": -0.025 * (np.clip(age, 18, 55) - 35),
            "employment": -0.10 * np.log1p(employment_months),
            "telecom": np.where(tel_null, 0.25, 0.40 - 0.12 * np.log1p(tel_tenure)),
            "ecommerce": np.where(ec_null, 0.20, 0.35 - 0.12 * np.log1p(spend / 100.0)),
            "digital": np.where(
                dig_null, 0.0, 0.05 + 0.006 * game_level - 0.04 * np.log1p(followers)
            ),
            "multi_lending": 0.15 * np.minimum(platforms, 10),
            "loan_apps": 0.03 * np.minimum(loan_apps, 20),
            "emulator": 1.30 * is_emulator,
            "ip_mismatch": 0.35 * ip_mismatch,
            "blacklist": 2.00 * blacklist,
            "face_match": 3.00 * np.maximum(0.80 - face, 0.0),
            "id_unverified": 0.90 * ~id_verified,
            "fraud": 2.00 * fraud,
            "occupation": np.array([0.0, -0.6, 0.25, 0.45, 0.35])[occupation],
            "channel": np.array([0.0, 0.35, -0.15])[channel],
            "loan_to_income": 0.12 * np.log(amount / income),
            # life events nobody observes at application time (job loss, illness, ...)
            "shock": LIFE_EVENT_SD * rng.standard_normal(n),
        }
        logit = OUTCOME_INTERCEPT + sum(terms.values())
        _inspect_terms(terms)
        bad = _draw_outcome(rng, logit)
        advance("outcome")

        # ---------------------------------------------------------- frame
        cols = {
            "applied_at": pl.Series(applied_at, dtype=pl.Date),
            "channel": _labels(CHANNELS, channel),
            "scenario": _labels(SCENARIOS, scenario),
            "applicant.id_number": ids,
            "applicant.phone": phones,
            "applicant.name": names,
            "applicant.age": age,
            "applicant.gender": _labels(GENDERS, gender),
            "applicant.occupation": _labels(OCCUPATIONS, occupation),
            "applicant.education": _labels(EDUCATIONS, education),
            "applicant.marital_status": _labels(MARITAL, marital),
            "applicant.province": _labels(PROVINCES, province),
            "applicant.income_monthly": income,
            "applicant.employment_months": employment_months,
            "applicant.residence_months": residence_months,
            "applicant.id_verified": id_verified,
            "applicant.face_match_score": face,
            "loan.amount": amount,
            "loan.term_months": term,
            "bureau.score": score,
            "bureau.monthly_debt": monthly_debt,
            "bureau.inquiries_3m": inq3,
            "bureau.inquiries_6m": inq6,
            "bureau.delinquencies_12m": delinq,
            "bureau.max_dpd_24m": max_dpd,
            "bureau.open_loans": open_loans,
            "bureau.credit_utilisation": util,
            "bureau.months_since_first_credit": msfc,
            "bureau.bankruptcy": bankrupt,
            "bureau.court_judgements": court,
            "device.is_emulator": is_emulator,
            "device.ip_province_mismatch": ip_mismatch,
            "device.loan_apps_count": loan_apps,
            "blacklist.hit": blacklist,
            "multi_lending.platforms_30d": platforms,
            "telecom.tenure_months": tel_tenure,
            "telecom.monthly_bill": tel_bill,
            "telecom.real_name_verified": tel_real_name,
            "ecommerce.spend_12m": spend,
            "ecommerce.orders_12m": orders,
            "digital.game_level": game_level,
            "digital.followers": followers,
            "bad": bad,
        }
        masks = {
            "_thin": thin,
            "_tel_null": tel_null,
            "_ec_null": ec_null,
            "_dig_null": dig_null,
        }
        frame = pl.DataFrame({**cols, **masks})
        null_blocks = {
            "_thin": _BUREAU,
            "_tel_null": [
                "telecom.tenure_months",
                "telecom.monthly_bill",
                "telecom.real_name_verified",
            ],
            "_ec_null": ["ecommerce.spend_12m", "ecommerce.orders_12m"],
            "_dig_null": ["digital.game_level", "digital.followers"],
        }
        frame = frame.with_columns(
            [
                pl.when(pl.col(mask)).then(None).otherwise(pl.col(c)).alias(c)
                for mask, block in null_blocks.items()
                for c in block
            ]
        )
        frame = frame.with_columns(
            pl.format(
                "A{}", (pl.int_range(1, pl.len() + 1, dtype=pl.Int64)).cast(pl.String).str.zfill(10)
            ).alias("application_id")
        )
        frame = frame.select([pl.col(c).cast(t) for c, t in COLUMNS.items()])
        advance("assembling frame")
    return frame


def _inspect_terms(terms: dict[str, np.ndarray]) -> None:
    """Hook for calibration scripts: receives the outcome's log-odds terms."""


def _draw_outcome(rng: np.random.Generator, logit: np.ndarray) -> np.ndarray:
    """Draw ``bad`` (0/1) from the log-odds of default."""
    return (rng.random(logit.shape[0]) < _sigmoid(logit)).astype(np.int64)


def _month_day(first: np.datetime64, days: int) -> tuple[np.ndarray, np.ndarray]:
    """Month (1-12) and day of month of ``days`` consecutive dates from ``first``."""
    dates = first + np.arange(days).astype("timedelta64[D]")
    months = dates.astype("datetime64[M]")
    month = months.astype(np.int64) % 12 + 1
    day = (dates - months.astype("datetime64[D]")).astype(np.int64) + 1
    return month, day


def _id_numbers(
    rng: np.random.Generator,
    applied_at: np.ndarray,
    age: np.ndarray,
    gender: np.ndarray,
    province: np.ndarray,
) -> pl.Series:
    """Synthetic 18-character PRC resident ID numbers (GB 11643-1999).

    Layout: 6-digit region code (the hukou province, usually the province of
    residence), 8-digit birth date consistent with ``age`` on ``applied_at``,
    3-digit sequence whose last digit is odd for men and even for women, and
    an ISO 7064 MOD 11-2 check character.
    """
    n = len(age)
    hukou = np.where(rng.random(n) < 0.75, province, rng.choice(len(PROVINCES), size=n))
    region = (
        PROVINCE_ID_PREFIX[hukou] * 10_000 + rng.integers(1, 10, n) * 100 + rng.integers(1, 20, n)
    )

    # Birthday: a random day of a non-leap year; birth year chosen so that the
    # completed age on the application date equals ``age``.  Calendar fields
    # come from small lookup tables (fast compared with datetime64 casts).
    b_month, b_day = _month_day(np.datetime64("2001-01-01", "D"), 365)
    doy = rng.integers(0, 365, n)
    b_month, b_day = b_month[doy], b_day[doy]
    first = applied_at.min() if n else START_DATE
    span = int((applied_at.max() - first).astype(int)) + 1 if n else 1
    offset = (applied_at - first).astype(np.int64)
    a_month, a_day = _month_day(first, span)
    a_year = (first + np.arange(span).astype("timedelta64[D]")).astype("datetime64[Y]").astype(
        np.int64
    ) + 1970
    a_year, a_month, a_day = a_year[offset], a_month[offset], a_day[offset]
    not_yet = (b_month > a_month) | ((b_month == a_month) & (b_day > a_day))
    b_year = a_year - age - not_yet.astype(np.int64)
    birth = b_year * 10_000 + b_month * 100 + b_day

    seq = rng.integers(0, 100, n) * 10 + 2 * rng.integers(0, 5, n) + gender  # odd = male
    codes = np.empty((n, 18), dtype=np.uint8)
    _write_digits(codes, 0, region, 6)
    _write_digits(codes, 6, birth, 8)
    _write_digits(codes, 14, seq, 3)
    codes[:, 17] = ID_CHECK[((codes[:, :17] - ord("0")) @ ID_WEIGHTS) % 11]
    return _ascii_series("applicant.id_number", codes)


def _phones(rng: np.random.Generator, fraud: np.ndarray) -> pl.Series:
    """11-digit mainland mobile numbers starting 13/15/17/18/19.

    Fraudulent applications use virtual-operator 170/171 numbers more often.
    """
    n = len(fraud)
    second = np.array([3, 5, 7, 8, 9])[rng.choice(5, size=n, p=[0.32, 0.25, 0.08, 0.25, 0.10])]
    third = rng.integers(0, 10, n)
    virtual = fraud & (rng.random(n) < 0.4)
    second = np.where(virtual, 7, second)
    third = np.where(virtual, rng.integers(0, 2, n), third)
    rest = rng.integers(0, 100_000_000, n)
    number = 10_000_000_000 + second * 1_000_000_000 + third * 100_000_000 + rest
    codes = np.empty((n, 11), dtype=np.uint8)
    _write_digits(codes, 0, number, 11)
    return _ascii_series("applicant.phone", codes)


def _names(rng: np.random.Generator, gender: np.ndarray) -> pl.Series:
    """Chinese names: a surname plus one or two given-name characters."""
    n = len(gender)
    surname = pl.Series(SURNAMES).gather(
        rng.choice(len(SURNAMES), size=n, p=SURNAME_W / SURNAME_W.sum())
    )
    pool = pl.Series(GIVEN_F + GIVEN_M + GIVEN_N + [""])
    n_f, n_m, n_n = len(GIVEN_F), len(GIVEN_M), len(GIVEN_N)
    own = np.where(gender == 1, n_f + rng.integers(0, n_m, n), rng.integers(0, n_f, n))
    two = rng.random(n) < 0.7
    neutral_first = rng.random(n) < 0.25
    first = np.where(two & neutral_first, n_f + n_m + rng.integers(0, n_n, n), own)
    own2 = np.where(gender == 1, n_f + rng.integers(0, n_m, n), rng.integers(0, n_f, n))
    second = np.where(two, own2, len(pool) - 1)
    frame = pl.DataFrame({"s": surname, "g1": pool.gather(first), "g2": pool.gather(second)})
    return frame.select(pl.concat_str(["s", "g1", "g2"]).alias("applicant.name")).to_series()


# --------------------------------------------------------------------------
# Writing
# --------------------------------------------------------------------------


def write_applications(path: str | Path, rows: int, *, seed: int = 0) -> Path:
    """Generate applications and write them to a Parquet or CSV file.

    Parameters
    ----------
    path : str or pathlib.Path
        Destination; the format follows the extension (``.parquet`` or
        ``.csv``, case-insensitive).  Parent directories are created.
    rows : int
        Number of applications.
    seed : int, default 0
        Seed passed to :func:`generate_applications`.

    Returns
    -------
    pathlib.Path
        The path written.

    Raises
    ------
    ValueError
        If the extension is neither ``.parquet`` nor ``.csv``.
    """
    target = Path(path)
    ext = target.suffix.lower()
    if ext not in {".parquet", ".csv"}:
        msg = f"unsupported file extension {target.suffix!r}: use .parquet or .csv"
        raise ValueError(msg)
    frame = generate_applications(rows, seed=seed)
    target.parent.mkdir(parents=True, exist_ok=True)
    if ext == ".parquet":
        frame.write_parquet(target)
    else:
        frame.write_csv(target)
    return target
