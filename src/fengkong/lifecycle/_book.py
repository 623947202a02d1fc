"""The loan book: data model and seeded, vectorised synthetic generators.

Every lifecycle stage (account management, collections, acquisition, back-testing, the
end-to-end demo) reads the same three tables, held together in a :class:`Book`. The
generators below are deterministic for a given seed, vectorised over accounts (a Python loop
runs over *months* only, never over rows) and keep dtypes tight, so a book of one million
revolving accounts with 24 months of history generates in seconds.

Simulation model (what the numbers mean)
----------------------------------------
Each account is a revolving credit product (``card`` or ``credit_line``) with a hidden risk
multiplier ``sim_risk`` (log-normal, higher in the ``partner`` channel, lower in ``branch``).
Month by month an account is in one of eight delinquency states *k*: 0 = current, 1..6 =
number of missed instalment cycles, 7 = written off (absorbing). From current an account
misses a payment with a probability that grows with ``sim_risk``; a delinquent account
either *cures* (pays all arrears, back to current), *stays* (pays one instalment, same
cycle) or *rolls* (pays nothing or a small part, one cycle further). Rolling past six
cycles (180 days past due) is a write-off. Utilisation drifts towards an account-level
target that is correlated with risk; delinquent balances accrue interest and late fees and
see no new spending. Good current accounts occasionally receive a limit increase.

Days past due at the month-end snapshot are ``30 * (k - 1) + lag`` where ``lag`` (3..30)
follows from the account's ``due_day``; so ``k = ceil(dpd / 30)`` and the bucket follows
from dpd exactly (see :func:`bucket_expr`).

Tables
------
``accounts`` — one row per account, the state at the review date (end of the last history
month; ``Book.as_of`` is the day after that month ends):

=============================  ===========  ==============================================
column                         dtype        meaning
=============================  ===========  ==============================================
account_id                     String       ``"AC"`` + 9 digits, unique, sorted
customer_id                    String       pseudonym token ``"pn"`` + 16 hex, never a real id
segment                        Enum         acquisition channel: app / partner / branch
product                        Enum         card / credit_line
opened_at                      Date         day the account was opened
months_on_book                 Int16        month-ends since the opening month (0 = opened
                                            in the last history month); equals history's
                                            ``months_on_book`` in the last month
due_day                        Int8         day of month the instalment falls due (1..28)
credit_limit                   Float64      current limit (multiple of 100)
balance                        Float64      outstanding balance (charged-off amount when
                                            written off)
apr                            Float64      annual percentage rate, fraction (0.18 = 18 %)
utilisation                    Float64      balance / credit_limit (may exceed 1 when
                                            delinquent, interest and fees accrue)
dpd                            Int16        current days past due
bucket                         Enum         current, 1-30, 31-60, 61-90, 90+, write-off
max_dpd_3m / _6m / _12m        Int16        max dpd over the last 3 / 6 / 12 history months
payments_on_time_12m           Int8         months in the last 12 with a due amount that
                                            was paid in full (paid_amount >= due_amount)
balance_trend_3m               Float64      (balance - balance 3 months ago) / max(balance
                                            3 months ago, 1); 0 when younger than 3 months
income_monthly                 Float64      declared monthly income
income_change_pct              Float64      external: change in verified income, fraction
                                            (-0.35 = dropped 35 %)
external_delinquency_new       Boolean      external: a new delinquency at another lender
multi_lending_30d              Int16        external: credit applications elsewhere, 30 d
utilisation_jump_1m            Float64      utilisation - utilisation one month earlier
persistent_debt                Boolean      utilisation >= 0.9 in at least 10 of the last 12
                                            months on an account at least 18 months old
early_warning                  Boolean      flag raised by the lender's early-warning system
opt_out_increase               Boolean      customer opted out of unsolicited limit increases
opt_in_required                Boolean      a limit increase needs the customer's opt-in
opt_in                         Boolean      the customer has opted in
marketing_consent              Boolean      consent to marketing contact
contact_opt_out_sms/call/visit Boolean      customer opted out of that collections channel
timezone                       Enum         IANA zone of the customer (contact hours)
phone_pseudonym                String       ``"ph"`` + 16 hex token, never a real number
behaviour_score                Float64      the lender's existing behaviour score (300..900,
                                            higher = safer); a review job may recompute it
sim_risk                       Float32      SIMULATION GROUND TRUTH: the hidden multiplier on
                                            the odds of missing a payment. Not observable in
                                            real data; never use it as a model input.
sim_util_target                Float32      SIMULATION GROUND TRUTH: long-run utilisation
                                            the account drifts to (used by :func:`age_book`)
=============================  ===========  ==============================================

``history`` — one row per account per month from the opening month (or the start of the
window) to the last month, sorted by (account_id, month); written-off accounts keep a row
each month after the write-off:

==================  =========  =======================================================
account_id          String     joins ``accounts``
month               Date       first day of the month; values describe its month end
months_on_book      Int16      month-ends since the opening month (opening month = 0)
cohort              Date       first day of the opening month (vintage)
credit_limit        Float64    limit at month end
balance             Float64    balance at month end
dpd                 Int16      days past due at month end
bucket              Enum       bucket of ``dpd`` (``write-off`` once written off)
due_amount          Float64    amount due in the month (minimum payment plus arrears;
                               0 in the opening month and after write-off)
paid_amount         Float64    amount paid in the month; equals the sum of ``payments``
written_off         Boolean    written off at or before this month end
==================  =========  =======================================================

``payments`` — one row per individual payment, sorted by (account_id, paid_at):

==========  ===============  ========================================================
account_id  String           joins ``accounts``
paid_at     Datetime(us)     when the payment arrived (naive, the lender's clock),
                             inside the history month it is counted in
amount      Float64          amount in currency units (cents exact), > 0
==========  ===============  ========================================================

:func:`prospects` — one row per prospect for pre-screening (acquisition):

========================  =======  ====================================================
prospect_id               String   ``"PR"`` + 9 digits
customer_id               String   pseudonym token
segment                   Enum     channel: app / partner / branch
product                   Enum     card / credit_line (product of interest)
age                       Int16    years
income_monthly            Float64  declared monthly income
bureau_score              Int16    external bureau score 300..900 (higher = safer)
debt_to_income            Float64  existing monthly debt service / income
existing_accounts         Int8     open credit accounts elsewhere
multi_lending_30d         Int16    credit applications elsewhere, 30 days
delinquencies_24m         Int8     delinquencies elsewhere, 24 months
past_responses            Int8     responses to earlier campaigns
email_opens_90d           Int16    marketing e-mails opened, 90 days
app_visits_30d            Int16    visits to the lender's app, 30 days
months_since_contact      Int16    months since the last marketing contact
marketing_consent         Boolean  consent to marketing contact
consent_purpose           Enum     credit_offers / general / none — the purpose the
                                   consent covers (an offer needs ``credit_offers``)
consent_channel           Enum     sms / email / call / none
timezone                  Enum     IANA zone
sim_bad_prob              Float32  SIMULATION GROUND TRUTH: probability of going bad
                                   within 12 months if booked
sim_response_prob         Float32  SIMULATION GROUND TRUTH: probability of responding
========================  =======  ====================================================
"""

from __future__ import annotations

import calendar
import os
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from datetime import date
from typing import Any, Final

import numpy as np
import numpy.typing as npt
import polars as pl

__all__ = [
    "BUCKETS",
    "PRODUCTS",
    "SEGMENTS",
    "TIMEZONES",
    "Book",
    "add_months",
    "bucket_expr",
    "month_start",
    "prospects",
    "synthetic_book",
]

SEGMENTS: Final = ("app", "partner", "branch")
PRODUCTS: Final = ("card", "credit_line")
BUCKETS: Final = ("current", "1-30", "31-60", "61-90", "90+", "write-off")
TIMEZONES: Final = (
    "Asia/Shanghai",
    "Asia/Urumqi",
    "Asia/Hong_Kong",
    "Europe/London",
    "America/New_York",
)
CONSENT_PURPOSES: Final = ("credit_offers", "general", "none")
CONSENT_CHANNELS: Final = ("sms", "email", "call", "none")

SEGMENT_DTYPE: Final = pl.Enum(list(SEGMENTS))
PRODUCT_DTYPE: Final = pl.Enum(list(PRODUCTS))
BUCKET_DTYPE: Final = pl.Enum(list(BUCKETS))
TIMEZONE_DTYPE: Final = pl.Enum(list(TIMEZONES))

DEFAULT_AS_OF: Final = date(2026, 1, 1)

#: Delinquency states: 0 current, 1..6 missed cycles, 7 written off.
WRITE_OFF_STATE: Final = 7
_MIN_PAYMENT = 50.0
_MIN_PAYMENT_RATE = 0.03
_LATE_FEE = 25.0
_BURN_IN = 6

# Segment mix and risk shift (log-odds multiplier of missing a payment).
_SEGMENT_P = np.array([0.5, 0.3, 0.2])
_SEGMENT_RISK = np.array([0.0, 0.45, -0.35])
# Baseline monthly transition probabilities at sim_risk == 1, by current state k (0..6).
_P_MISS0 = 0.022
_P_ROLL = np.array([0.0, 0.22, 0.45, 0.62, 0.75, 0.82, 0.88])
_P_CURE = np.array([0.0, 0.55, 0.28, 0.14, 0.07, 0.04, 0.02])


@dataclass(frozen=True, slots=True)
class Book:
    """A loan book: accounts at the review date, monthly history and individual payments.

    ``as_of`` is the review date: the day after the last history month ends.
    """

    accounts: pl.DataFrame
    history: pl.DataFrame
    payments: pl.DataFrame
    as_of: date = field(default=DEFAULT_AS_OF)


def month_start(day: date) -> date:
    """First day of the month holding ``day``."""
    return day.replace(day=1)


def add_months(day: date, months: int) -> date:
    """``day``'s month start moved by ``months`` (may be negative)."""
    index = day.year * 12 + day.month - 1 + months
    return date(index // 12, index % 12 + 1, 1)


def bucket_expr(dpd: pl.Expr, written_off: pl.Expr | None = None) -> pl.Expr:
    """Delinquency bucket (Enum of :data:`BUCKETS`) from days past due.

    0 → ``current``, 1..30 → ``1-30``, 31..60 → ``31-60``, 61..90 → ``61-90``, above 90 →
    ``90+``; ``write-off`` wherever ``written_off`` is true.
    """
    label = (
        pl.when(dpd <= 0)
        .then(pl.lit("current"))
        .when(dpd <= 30)
        .then(pl.lit("1-30"))
        .when(dpd <= 60)
        .then(pl.lit("31-60"))
        .when(dpd <= 90)
        .then(pl.lit("61-90"))
        .otherwise(pl.lit("90+"))
    )
    if written_off is not None:
        label = pl.when(written_off).then(pl.lit("write-off")).otherwise(label)
    return label.cast(BUCKET_DTYPE)


# --------------------------------------------------------------------------- helpers


def _hex_tokens(rng: np.random.Generator, n: int, prefix: str) -> pl.Series:
    raw = rng.integers(0, 256, size=(n, 8), dtype=np.uint8)
    binary = pl.Series(raw.view("S8").ravel(), dtype=pl.Binary)
    return (prefix + binary.bin.encode("hex")).rename("token")


def _ids(prefix: str, n: int, name: str, *, start: int = 1) -> pl.Series:
    numbers = pl.int_range(start, start + n, eager=False).cast(pl.String).str.zfill(9)
    return pl.select((pl.lit(prefix) + numbers).alias(name)).to_series()


def _month_days(first: date, count: int) -> tuple[npt.NDArray[np.int64], npt.NDArray[np.int64]]:
    """Epoch day of each month start and the month's length, for ``count`` months."""
    starts = [add_months(first, i) for i in range(count)]
    epoch = date(1970, 1, 1)
    days = np.array([(s - epoch).days for s in starts], dtype=np.int64)
    lengths = np.array([calendar.monthrange(s.year, s.month)[1] for s in starts], dtype=np.int64)
    return days, lengths


def _round2(x: npt.NDArray[np.float64]) -> npt.NDArray[np.float64]:
    return np.round(x, 2)


def _util_target(
    rng: np.random.Generator, risk: npt.NDArray[np.float64]
) -> npt.NDArray[np.float64]:
    # Riskier accounts run fuller; a share of transactors keep utilisation low.
    base = rng.beta(2.0, 3.5, size=risk.size)
    lift = 0.25 * np.tanh(np.log(risk))
    transactor = rng.random(risk.size) < 0.2 / np.maximum(risk, 0.5)
    target = np.clip(base + lift, 0.02, 0.98)
    return np.where(transactor, target * 0.25, target)


@dataclass(slots=True)
class _State:
    """Per-account simulation state (all arrays length n)."""

    k: npt.NDArray[np.int8]
    limit: npt.NDArray[np.float64]
    balance: npt.NDArray[np.float64]
    util: npt.NDArray[np.float64]


@dataclass(slots=True)
class _Step:
    due: npt.NDArray[np.float64]
    paid: npt.NDArray[np.float64]


def _step(
    rng: np.random.Generator,
    state: _State,
    *,
    active: npt.NDArray[np.bool_],
    first: npt.NDArray[np.bool_],
    risk: npt.NDArray[np.float64],
    target: npt.NDArray[np.float64],
    apr: npt.NDArray[np.float64],
    increase: bool = True,
) -> _Step:
    """Advance every account one month in place; returns the month's due and paid amounts.

    ``active``: the account exists this month. ``first``: this is its opening month (no
    statement yet; the balance is the first month's spending).
    """
    n = state.k.size
    k = state.k
    u_event = rng.random(n)
    u_amount = rng.random(n)
    noise = rng.normal(0.0, 0.04, n)

    billing = active & ~first & (k < WRITE_OFF_STATE)
    balance = state.balance
    instalment = np.minimum(balance, np.maximum(_MIN_PAYMENT, _MIN_PAYMENT_RATE * balance))
    kk = k.astype(np.int64)
    due = np.where(billing, np.minimum(balance, instalment * (kk + 1)), 0.0)
    due = _round2(due)

    k_idx = np.minimum(kk, 6)
    odds_roll = risk * (_P_ROLL[k_idx] / (1.0 - _P_ROLL[k_idx] + 1e-9))
    p_roll = np.where(k == 0, np.clip(_P_MISS0 * risk, 0.0, 0.6), odds_roll / (1.0 + odds_roll))
    p_cure = np.where(k == 0, 0.0, np.clip(_P_CURE[k_idx] / np.sqrt(risk), 0.0, 0.95))
    p_cure = np.minimum(p_cure, 1.0 - p_roll)
    has_due = billing & (due > 0)
    roll = has_due & (u_event < p_roll)
    cure = has_due & ~roll & (u_event < p_roll + p_cure)
    stay = has_due & ~roll & ~cure & (k > 0)
    current_pay = has_due & ~roll & (k == 0)

    # Amounts paid.
    partial = roll & (u_amount < 0.3)
    paid = np.zeros(n)
    paid = np.where(partial, instalment * u_amount, paid)
    paid = np.where(cure, due, paid)
    paid = np.where(stay, instalment, paid)
    # Current accounts pay the minimum, more, or the full statement (transactors).
    extra = np.clip(u_amount**2 * (1.2 - 0.4 * np.minimum(risk, 2.0)), 0.0, 1.0)
    paid = np.where(current_pay, due + (balance - due) * extra, paid)
    paid = np.minimum(_round2(paid), balance)
    paid = np.where(has_due, paid, 0.0)

    # Next state.
    new_k = kk.copy()
    new_k = np.where(roll, kk + 1, new_k)
    new_k = np.where(cure, 0, new_k)
    new_k = np.where(active, new_k, kk)
    written_now = (new_k >= WRITE_OFF_STATE) & (kk < WRITE_OFF_STATE)
    new_k = np.minimum(new_k, WRITE_OFF_STATE)

    # Balances: current accounts drift towards their utilisation target (new spending);
    # delinquent ones accrue interest and a late fee; written-off balances freeze.
    monthly = apr / 12.0
    drift = state.util + 0.35 * (target - state.util) + noise
    spend_util = np.clip(drift, 0.0, 1.0)
    after_pay = np.maximum(balance - paid, 0.0)
    current_balance = np.minimum(
        np.maximum(spend_util * state.limit, after_pay * (1.0 + monthly)), state.limit
    )
    late_balance = after_pay * (1.0 + monthly) + _LATE_FEE
    new_balance = np.where(new_k == 0, current_balance, late_balance)
    new_balance = np.where(first, spend_util * state.limit, new_balance)
    new_balance = np.where(kk >= WRITE_OFF_STATE, balance, new_balance)
    new_balance = np.where(written_now, late_balance, new_balance)
    new_balance = np.where(active, _round2(new_balance), balance)

    # Occasional limit increase for long-current, low-risk accounts.
    if increase:
        grant = active & (new_k == 0) & (kk == 0) & (rng.random(n) < 0.015 / np.maximum(risk, 0.3))
        state.limit = np.where(grant, np.round(state.limit * 1.2 / 100.0) * 100.0, state.limit)

    state.k = new_k.astype(np.int8)
    state.balance = new_balance
    state.util = np.where(active, new_balance / state.limit, state.util)
    return _Step(due=due, paid=paid)


def _dpd_from_state(
    k: npt.NDArray[np.int8], due_day: npt.NDArray[np.int8]
) -> npt.NDArray[np.int16]:
    lag = 31 - due_day.astype(np.int16)  # 3..30
    kk = k.astype(np.int16)
    dpd = np.where(kk == 0, 0, 30 * (np.minimum(kk, 7) - 1) + lag)
    return dpd.astype(np.int16)


# --------------------------------------------------------------------------- generators


_CHUNK = 65_536
Arr = npt.NDArray[Any]


def synthetic_book(
    n_accounts: int,
    *,
    months: int = 24,
    seed: int = 0,
    as_of: date = DEFAULT_AS_OF,
) -> Book:
    """Generate a seeded synthetic loan book (see the module docstring for every column).

    Accounts are simulated in fixed chunks of 65,536 with independent seeded streams (two
    threads), so the result depends only on the arguments.

    Parameters
    ----------
    n_accounts
        Number of accounts (all open at some point in the window; some written off).
    months
        Months of history ending with the month before ``as_of``.
    seed
        Seed; the same arguments give the same book.
    as_of
        Review date. History covers the ``months`` calendar months before ``as_of``'s month
        start (``as_of`` is normally the first of a month).
    """
    if n_accounts < 1:
        msg = "n_accounts must be at least 1"
        raise ValueError(msg)
    if months < 1:
        msg = "months must be at least 1"
        raise ValueError(msg)
    last_month = add_months(as_of, -1)
    first_month = add_months(last_month, -(months - 1))
    epoch_days, month_len = _month_days(first_month, months)
    starts = list(range(0, n_accounts, _CHUNK))
    streams = np.random.SeedSequence(seed).spawn(len(starts))

    def run(i: int) -> tuple[pl.DataFrame, pl.DataFrame, pl.DataFrame]:
        size = min(_CHUNK, n_accounts - starts[i])
        rng = np.random.default_rng(streams[i])
        part = _chunk(rng, size, months, last_month, epoch_days, month_len)
        return _frames(part, _ids("AC", size, "account_id", start=starts[i] + 1))

    workers = max(1, min(2, os.cpu_count() or 1, len(starts)))
    with ThreadPoolExecutor(max_workers=workers) as pool:
        parts = list(pool.map(run, range(len(starts))))
    accounts, history, payments = (
        pl.concat([p[k] for p in parts], rechunk=False) for k in range(3)
    )
    return Book(accounts=accounts, history=history, payments=payments, as_of=as_of)


def _frames(
    part: dict[str, Arr], account_id: pl.Series
) -> tuple[pl.DataFrame, pl.DataFrame, pl.DataFrame]:
    """The accounts, history and payments tables of one simulated chunk."""
    history = pl.DataFrame(
        {
            "account_id": account_id.gather(pl.Series(part["h_acc"].astype(np.uint32))),
            "month": pl.Series(part["h_month"].astype(np.int32)).cast(pl.Date),
            "months_on_book": part["h_mob"],
            "cohort": pl.Series(part["h_cohort"].astype(np.int32)).cast(pl.Date),
            "credit_limit": part["h_limit"],
            "balance": part["h_balance"],
            "dpd": part["h_dpd"],
            "bucket": pl.Series(part["h_bucket"]).cat.to(BUCKET_DTYPE),
            "due_amount": part["h_due"],
            "paid_amount": part["h_paid"],
            "written_off": part["h_wo"],
        }
    )
    payments = pl.DataFrame(
        {
            "account_id": account_id.gather(pl.Series(part["p_acc"].astype(np.uint32))),
            "paid_at": pl.Series(part["p_time"]).cast(pl.Datetime("us")),
            "amount": part["p_cents"].astype(np.float64) / 100.0,
        }
    )
    columns: dict[str, Any] = {"account_id": account_id}
    for name in _ACCOUNT_COLUMNS[1:]:
        columns[name] = part[name]
    accounts = pl.DataFrame(columns).with_columns(
        pl.col("customer_id").bin.encode("hex").map_batches(lambda s: "pn" + s),
        pl.col("phone_pseudonym").bin.encode("hex").map_batches(lambda s: "ph" + s),
        pl.col("segment").cat.to(SEGMENT_DTYPE),
        pl.col("product").cat.to(PRODUCT_DTYPE),
        pl.col("bucket").cat.to(BUCKET_DTYPE),
        pl.col("timezone").cat.to(TIMEZONE_DTYPE),
        pl.col("opened_at").cast(pl.Date),
    )
    return accounts, history, payments


def _bucket_codes(dpd: Arr, written_off: Arr) -> Arr:
    code = np.searchsorted(np.array([0, 30, 60, 90]), dpd, side="left").astype(np.uint8)
    return np.where(written_off, np.uint8(5), code).astype(np.uint8)


def _chunk(
    rng: np.random.Generator,
    n: int,
    months: int,
    last_month: date,
    epoch_days: Arr,
    month_len: Arr,
) -> dict[str, Arr]:
    """Simulate ``n`` accounts; every output array is local to the chunk."""
    segment = rng.choice(3, size=n, p=_SEGMENT_P).astype(np.uint8)
    product = (rng.random(n) < np.array([0.35, 0.55, 0.25])[segment]).astype(np.uint8)
    z = rng.normal(0.0, 1.0, n)
    risk = np.exp(0.8 * z + _SEGMENT_RISK[segment] - 0.32)
    target = _util_target(rng, risk)
    # Months on book at the last month: a growing book, more young accounts.
    mob_last = np.floor(rng.random(n) ** 1.4 * 72).astype(np.int64)
    income = np.round(np.exp(rng.normal(np.log(9000.0), 0.5, n) - 0.15 * z), -1)
    limit0 = np.clip(
        np.round(income * rng.uniform(0.8, 3.0, n) / np.sqrt(risk) / 100.0) * 100.0,
        500.0,
        200_000.0,
    )
    base_apr = np.where(product == 0, 0.18, 0.15)
    apr = np.round(
        base_apr + 0.03 * np.clip(np.log(risk) + 0.5, 0.0, 4.0) + rng.uniform(0, 0.02, n), 4
    )
    due_day = rng.integers(1, 29, size=n).astype(np.int8)

    # Simulate from the later of opening and (window start - burn-in).
    total = months + _BURN_IN
    open_t = (total - 1) - mob_last  # simulation step of the opening month
    state = _State(
        k=np.zeros(n, dtype=np.int8),
        limit=limit0.astype(np.float64),
        balance=np.zeros(n),
        util=np.clip(target + rng.normal(0, 0.05, n), 0.0, 1.0),
    )
    # Accounts opened before the simulation starts begin with a balance at their target.
    state.balance = np.where(open_t < 0, _round2(state.util * state.limit), 0.0)

    shape = (months, n)
    h_k = np.empty(shape, dtype=np.int8)
    h_limit = np.empty(shape, dtype=np.float64)
    h_balance = np.empty(shape, dtype=np.float64)
    h_due = np.empty(shape, dtype=np.float64)
    h_paid = np.empty(shape, dtype=np.float64)
    for t in range(total):
        active = open_t <= t
        step = _step(
            rng, state, active=active, first=open_t == t, risk=risk, target=target, apr=apr
        )
        row = t - _BURN_IN
        if row >= 0:
            h_k[row] = state.k
            h_limit[row] = state.limit
            h_balance[row] = state.balance
            h_due[row] = step.due
            h_paid[row] = step.paid

    month_idx = np.arange(months, dtype=np.int64)
    mob = mob_last[None, :] - (months - 1 - month_idx)[:, None]  # (months, n)
    exists = mob >= 0
    dpd_hist = np.where(exists, _dpd_from_state(h_k, np.broadcast_to(due_day, shape)), 0)
    wo_hist = h_k >= WRITE_OFF_STATE
    cohort_epoch = _cohort_epoch(last_month, mob_last)

    # History rows in account-major order.
    valid = exists.T
    acc_local = np.broadcast_to(np.arange(n, dtype=np.int64)[:, None], (n, months))[valid]
    m_idx = np.broadcast_to(month_idx[None, :], (n, months))[valid]
    h_paid_flat = h_paid.T[valid]
    out: dict[str, Arr] = {
        "h_acc": acc_local,
        "h_month": epoch_days[m_idx],
        "h_mob": mob.T[valid].astype(np.int16),
        "h_cohort": cohort_epoch[acc_local],
        "h_limit": h_limit.T[valid],
        "h_balance": h_balance.T[valid],
        "h_dpd": dpd_hist.T[valid].astype(np.int16),
        "h_bucket": _bucket_codes(dpd_hist.T[valid], wo_hist.T[valid]),
        "h_due": h_due.T[valid],
        "h_paid": h_paid_flat,
        "h_wo": wo_hist.T[valid],
    }
    out.update(_payments(rng, acc_local, h_paid_flat, epoch_days[m_idx], month_len[m_idx]))

    # Account-level features at the review date.
    def max_dpd(window: int) -> Arr:
        worst: Arr = dpd_hist[-min(window, months) :].max(axis=0).astype(np.int16)
        return worst

    util_hist = np.where(exists, h_balance / h_limit, 0.0)
    w12 = min(12, months)
    on_time = (exists[-w12:] & (h_due[-w12:] > 0) & (h_paid[-w12:] >= h_due[-w12:] - 0.005)).sum(
        axis=0
    )
    balance = h_balance[-1]
    limit = h_limit[-1]
    if months > 3:
        b3 = h_balance[-4]
        trend = np.where(mob_last >= 3, (balance - b3) / np.maximum(b3, 1.0), 0.0)
    else:
        trend = np.zeros(n)
    jump = (
        np.where(mob_last >= 1, util_hist[-1] - util_hist[-2], 0.0) if months > 1 else np.zeros(n)
    )
    high_util = ((util_hist[-w12:] >= 0.9) & exists[-w12:]).sum(axis=0)
    k_last = h_k[-1]
    dpd = dpd_hist[-1].astype(np.int16)
    ext = _externals(rng, risk, k_last)
    out.update(
        {
            "customer_id": rng.integers(0, 256, size=(n, 8), dtype=np.uint8).view("S8").ravel(),
            "segment": segment,
            "product": product,
            "opened_at": (cohort_epoch + rng.integers(0, 28, size=n)).astype(np.int32),
            "months_on_book": mob_last.astype(np.int16),
            "due_day": due_day,
            "credit_limit": limit,
            "balance": balance,
            "apr": apr,
            "utilisation": np.round(balance / limit, 4),
            "dpd": dpd,
            "bucket": _bucket_codes(dpd, k_last >= WRITE_OFF_STATE),
            "max_dpd_3m": max_dpd(3),
            "max_dpd_6m": max_dpd(6),
            "max_dpd_12m": max_dpd(12),
            "payments_on_time_12m": on_time.astype(np.int8),
            "balance_trend_3m": np.round(trend, 4),
            "income_monthly": income,
            "utilisation_jump_1m": np.round(jump, 4),
            "persistent_debt": (high_util >= 10) & (mob_last >= 18),
            **preferences(rng, n, segment),
            "timezone": rng.choice(len(TIMEZONES), size=n, p=_TZ_P).astype(np.uint8),
            "phone_pseudonym": rng.integers(0, 256, size=(n, 8), dtype=np.uint8).view("S8").ravel(),
            "sim_risk": risk.astype(np.float32),
            "sim_util_target": target.astype(np.float32),
        }
    )
    out["behaviour_score"] = _behaviour_score(rng, risk, k_last)
    out.update(ext)
    return out


_TZ_P: Final = (0.86, 0.05, 0.05, 0.02, 0.02)


def _externals(rng: np.random.Generator, risk: Arr, k: Arr) -> dict[str, Arr]:
    """External signals and the early-warning flag, drawn fresh at each review date."""
    n = risk.size
    income_drop = rng.random(n) < np.clip(0.03 * risk, 0.0, 0.5)
    return {
        "income_change_pct": np.round(
            np.where(income_drop, -rng.uniform(0.2, 0.6, n), rng.normal(0.02, 0.05, n)), 4
        ),
        "external_delinquency_new": rng.random(n) < np.clip(0.01 * risk, 0.0, 0.5),
        "multi_lending_30d": rng.poisson(0.3 * risk).astype(np.int16),
        "early_warning": rng.random(n) < np.clip(0.015 * risk + 0.2 * (k > 0), 0.0, 0.9),
    }


def _behaviour_score(rng: np.random.Generator, risk: Arr, k: Arr) -> Arr:
    """The lender's behaviour score: a noisy view of the hidden risk, lower when delinquent."""
    z = np.log(np.maximum(risk, 1e-6)) + 0.32
    noisy = z + rng.normal(0, 0.45, risk.size)
    return np.round(np.clip(620.0 - 60.0 * noisy - 25.0 * np.minimum(k, 7), 300.0, 900.0), 1)


def _cohort_epoch(last_month: date, mob_last: Arr) -> Arr:
    """Epoch day of the opening month start for each account."""
    span = int(mob_last.max()) + 1 if mob_last.size else 1
    table, _ = _month_days(add_months(last_month, -(span - 1)), span)
    # table[i] is the month (span - 1 - i) months before last_month.
    out: Arr = table[(span - 1) - mob_last]
    return out


def _payments(
    rng: np.random.Generator,
    row_account: Arr,
    paid: Arr,
    month_epoch: Arr,
    month_len: Arr,
) -> dict[str, Arr]:
    """One or two payments per paying month, summing exactly (in cents) to the paid amount."""
    paying = np.flatnonzero(paid > 0)
    cents = np.round(paid[paying] * 100.0).astype(np.int64)
    split = (rng.random(paying.size) < 0.15) & (cents >= 2)
    share = rng.uniform(0.2, 0.8, paying.size)
    first_cents = np.where(split, np.maximum(np.floor(cents * share), 1).astype(np.int64), cents)
    second_cents = cents - first_cents
    day_us = 86_400 * 1_000_000
    start = month_epoch[paying] * day_us
    span = month_len[paying] * day_us
    # Single payments anywhere in the month; split ones in the first and second half.
    u1 = rng.random(paying.size)
    u2 = rng.random(paying.size)
    t1 = start + (np.where(split, 0.5 * u1, u1) * span).astype(np.int64)
    t2 = start + ((0.5 + 0.5 * u2) * span).astype(np.int64)
    # Interleave: each paying month gives one or two rows, already in time order.
    counts = 1 + split.astype(np.int64)
    group = np.repeat(np.arange(paying.size), counts)
    ends = np.cumsum(counts)
    second = np.arange(group.size) != (ends - counts)[group]
    return {
        "p_acc": row_account[paying[group]],
        "p_time": np.where(second, t2[group], t1[group]),
        "p_cents": np.where(second, second_cents[group], first_cents[group]),
    }


_ACCOUNT_COLUMNS: Final = (
    "account_id",
    "customer_id",
    "segment",
    "product",
    "opened_at",
    "months_on_book",
    "due_day",
    "credit_limit",
    "balance",
    "apr",
    "utilisation",
    "dpd",
    "bucket",
    "max_dpd_3m",
    "max_dpd_6m",
    "max_dpd_12m",
    "payments_on_time_12m",
    "balance_trend_3m",
    "income_monthly",
    "income_change_pct",
    "external_delinquency_new",
    "multi_lending_30d",
    "utilisation_jump_1m",
    "persistent_debt",
    "early_warning",
    "opt_out_increase",
    "opt_in_required",
    "opt_in",
    "marketing_consent",
    "contact_opt_out_sms",
    "contact_opt_out_call",
    "contact_opt_out_visit",
    "timezone",
    "phone_pseudonym",
    "behaviour_score",
    "sim_risk",
    "sim_util_target",
)


def prospects(n: int, seed: int = 0) -> pl.DataFrame:
    """Generate ``n`` seeded prospects for acquisition pre-screening (columns: module docstring)."""
    if n < 1:
        msg = "n must be at least 1"
        raise ValueError(msg)
    rng = np.random.default_rng(seed)
    segment = rng.choice(3, size=n, p=_SEGMENT_P).astype(np.int8)
    product = (rng.random(n) < np.array([0.35, 0.55, 0.25])[segment]).astype(np.int8)
    z = rng.normal(0.0, 1.0, n) + _SEGMENT_RISK[segment]
    bureau = np.clip(np.round(650.0 - 70.0 * (0.85 * z + rng.normal(0, 0.5, n))), 300, 900)
    income = np.round(np.exp(rng.normal(np.log(8500.0), 0.55, n) - 0.15 * z), -1)
    dti = np.round(np.clip(rng.beta(2.0, 5.0, n) + 0.08 * z, 0.0, 1.5), 4)
    delinquencies = np.clip(rng.poisson(np.exp(z - 1.2)), 0, 20)
    multi = rng.poisson(0.4 * np.exp(0.6 * z)).astype(np.int16)
    logit_bad = -3.0 + 1.0 * z + 0.3 * np.minimum(delinquencies, 5) / 5.0
    bad_prob = 1.0 / (1.0 + np.exp(-logit_bad))
    past = np.clip(rng.poisson(0.6, n), 0, 20)
    opens = rng.poisson(np.exp(rng.normal(0.8, 0.8, n)))
    visits = rng.poisson(np.exp(rng.normal(0.5, 1.0, n)) * np.array([1.5, 0.6, 0.4])[segment])
    since = rng.integers(0, 25, size=n)
    logit_resp = (
        -3.2
        + 0.5 * past
        + 0.08 * np.minimum(opens, 20)
        + 0.1 * np.minimum(visits, 20)
        + 0.25 * z
        - 0.03 * (12 - np.minimum(since, 12))
    )
    response = 1.0 / (1.0 + np.exp(-logit_resp))
    consent = rng.random(n) < 0.65
    purpose = np.where(consent, rng.choice(2, size=n, p=[0.8, 0.2]), 2)
    channel = np.where(consent, rng.choice(3, size=n, p=[0.5, 0.35, 0.15]), 3)
    tz = rng.choice(len(TIMEZONES), size=n, p=[0.86, 0.05, 0.05, 0.02, 0.02])
    return pl.DataFrame(
        {
            "prospect_id": _ids("PR", n, "prospect_id"),
            "customer_id": _hex_tokens(rng, n, "pn"),
            "segment": pl.Series(np.asarray(SEGMENTS)[segment]).cast(SEGMENT_DTYPE),
            "product": pl.Series(np.asarray(PRODUCTS)[product]).cast(PRODUCT_DTYPE),
            "age": np.clip(np.round(rng.normal(36, 10, n)), 18, 80).astype(np.int16),
            "income_monthly": income,
            "bureau_score": bureau.astype(np.int16),
            "debt_to_income": dti,
            "existing_accounts": np.clip(rng.poisson(2.0, n), 0, 30).astype(np.int8),
            "multi_lending_30d": multi,
            "delinquencies_24m": delinquencies.astype(np.int8),
            "past_responses": past.astype(np.int8),
            "email_opens_90d": np.minimum(opens, 500).astype(np.int16),
            "app_visits_30d": np.minimum(visits, 500).astype(np.int16),
            "months_since_contact": since.astype(np.int16),
            "marketing_consent": consent,
            "consent_purpose": pl.Series(np.asarray(CONSENT_PURPOSES)[purpose]).cast(
                pl.Enum(list(CONSENT_PURPOSES))
            ),
            "consent_channel": pl.Series(np.asarray(CONSENT_CHANNELS)[channel]).cast(
                pl.Enum(list(CONSENT_CHANNELS))
            ),
            "timezone": pl.Series(np.asarray(TIMEZONES)[tz]).cast(TIMEZONE_DTYPE),
            "sim_bad_prob": bad_prob.astype(np.float32),
            "sim_response_prob": response.astype(np.float32),
        }
    )


def preferences(rng: np.random.Generator, n: int, segment: np.ndarray) -> dict[str, np.ndarray]:
    """Opt-ins, opt-outs and consents of ``n`` new accounts (in this order of draws)."""
    return {
        "opt_out_increase": rng.random(n) < 0.04,
        "opt_in_required": rng.random(n) < np.array([0.1, 0.3, 0.2])[segment],
        "opt_in": rng.random(n) < 0.35,
        "marketing_consent": rng.random(n) < 0.7,
        "contact_opt_out_sms": rng.random(n) < 0.05,
        "contact_opt_out_call": rng.random(n) < 0.03,
        "contact_opt_out_visit": rng.random(n) < 0.1,
    }
