"""Age a loan book month by month: simulated repayments, roll and cure, write-off.

:func:`age_book` moves a :class:`~fengkong.lifecycle.Book` forward by whole months with the
same simulation model :func:`~fengkong.lifecycle.synthetic_book` uses (module docstring of
``fengkong.lifecycle._book``): each account's hidden ``sim_risk`` draws pay / miss / cure,
delinquency rolls one cycle at a time, past 180 days an account is written off. Before the
first month it applies account-management changes (new limits and APRs, e.g. the actions
table of ``fengkong review``) and it opens newly originated accounts (e.g. from approved
decisions) in the month they were booked.

Vectorised over accounts: the only Python loop runs over months.
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import date
from typing import Any, Final

import numpy as np
import numpy.typing as npt
import polars as pl

from fengkong.lifecycle._book import (
    _ACCOUNT_COLUMNS,
    _TZ_P,
    BUCKET_DTYPE,
    PRODUCT_DTYPE,
    SEGMENT_DTYPE,
    TIMEZONE_DTYPE,
    TIMEZONES,
    WRITE_OFF_STATE,
    Book,
    _behaviour_score,
    _bucket_codes,
    _dpd_from_state,
    _externals,
    _month_days,
    _payments,
    _State,
    _step,
    add_months,
    month_start,
    preferences,
)

__all__ = ["NEW_ACCOUNT_COLUMNS", "age_book", "window_features"]

Arr = npt.NDArray[Any]

#: Columns a ``new_accounts`` table may carry (only ``credit_limit`` and ``apr`` are required).
NEW_ACCOUNT_COLUMNS: Final = (
    "account_id",
    "customer_id",
    "segment",
    "product",
    "opened_at",
    "credit_limit",
    "apr",
    "income_monthly",
    "sim_risk",
    "sim_util_target",
)
_DEFAULT_RISK = 1.0
_DEFAULT_UTIL = 0.35
_DEFAULT_INCOME = 9_000.0


def age_book(
    book: Book,
    months: int = 1,
    *,
    actions: pl.DataFrame | None = None,
    new_accounts: pl.DataFrame | None = None,
    seed: int = 0,
    progress: Callable[[str, int, int], None] | None = None,
) -> Book:
    """Simulate ``months`` more months of the book.

    Parameters
    ----------
    book
        The book; its ``as_of`` is the first day of the first month simulated.
    months
        Whole months to add (``as_of`` moves forward by as many months).
    actions
        Account-management changes applied before the first month: ``account_id`` plus
        ``new_limit`` and/or ``new_apr`` (null keeps the current value), as in the actions
        table of ``fengkong review``. Unknown and written-off accounts are ignored.
    new_accounts
        Newly originated accounts: ``credit_limit`` and ``apr`` are required; optional are
        ``account_id`` (default ``"NB<yyyymm><n>"``), ``customer_id``, ``segment`` (default
        ``app``), ``product`` (``card``), ``opened_at`` (default: ``book.as_of``; must fall
        in one of the simulated months), ``income_monthly``, ``sim_risk`` (hidden risk
        multiplier, default 1.0; e.g. the known outcome of the application) and
        ``sim_util_target``. Each opens in the month of ``opened_at``.
    seed
        Seed; combined with ``book.as_of`` so consecutive one-month calls differ.
    progress
        Called as ``progress("age", month, months)`` after each month.

    Returns
    -------
    Book
        Accounts at the new review date, history and payments extended by ``months``.
    """
    if months < 1:
        msg = "months must be at least 1"
        raise ValueError(msg)
    as_of = month_start(book.as_of)
    rng = np.random.default_rng([seed, as_of.toordinal()])
    accounts = book.accounts
    if actions is not None and actions.height:
        accounts = _apply_actions(accounts, actions)
    old_n = accounts.height
    if new_accounts is not None and new_accounts.height:
        accounts = pl.concat(
            [accounts, _new_accounts(new_accounts, as_of, months, rng)], how="diagonal_relaxed"
        )
    n = accounts.height
    if accounts["account_id"].n_unique() != n:
        msg = "account_id values must be unique (a new account reuses an existing id)"
        raise ValueError(msg)

    # Simulation state from the accounts table.
    written_off = (accounts["bucket"] == "write-off").fill_null(value=False).to_numpy()
    dpd0 = accounts["dpd"].fill_null(0).to_numpy().astype(np.int64)
    k = np.where(written_off, WRITE_OFF_STATE, np.ceil(dpd0 / 30.0)).astype(np.int8)
    limit = accounts["credit_limit"].to_numpy().astype(np.float64)
    balance = accounts["balance"].fill_null(0.0).to_numpy().astype(np.float64)
    risk = accounts["sim_risk"].fill_null(_DEFAULT_RISK).to_numpy().astype(np.float64)
    target = accounts["sim_util_target"].fill_null(_DEFAULT_UTIL).to_numpy().astype(np.float64)
    apr = accounts["apr"].to_numpy().astype(np.float64)
    due_day = accounts["due_day"].to_numpy().astype(np.int8)
    open_step = np.full(n, -1, dtype=np.int64)
    if n > old_n:
        opened = accounts["opened_at"].to_numpy()[old_n:].astype("datetime64[M]").astype(np.int64)
        base = np.datetime64(as_of, "M").astype(np.int64)
        open_step[old_n:] = opened - base
    state = _State(
        k=k,
        limit=limit,
        balance=balance,
        util=np.where(limit > 0, balance / np.maximum(limit, 1.0), 0.0),
    )
    epoch_days, month_len = _month_days(as_of, months)
    acc_index = np.arange(n, dtype=np.int64)
    rows: list[dict[str, Arr]] = []
    for m in range(months):
        active = open_step <= m
        step = _step(
            rng,
            state,
            active=active,
            first=open_step == m,
            risk=risk,
            target=target,
            apr=apr,
            increase=False,
        )
        dpd = _dpd_from_state(state.k, due_day)
        wo = state.k >= WRITE_OFF_STATE
        idx = acc_index[active]
        rows.append(
            {
                "acc": idx,
                "month": np.full(idx.size, epoch_days[m]),
                "month_len": np.full(idx.size, month_len[m]),
                "credit_limit": state.limit[idx],
                "balance": state.balance[idx],
                "dpd": dpd[idx],
                "bucket": _bucket_codes(dpd[idx], wo[idx]),
                "due_amount": step.due[idx],
                "paid_amount": step.paid[idx],
                "written_off": wo[idx],
            }
        )
        if progress is not None:
            progress("age", m + 1, months)

    def cat(key: str) -> Arr:
        return np.concatenate([r[key] for r in rows])

    acc = cat("acc")
    ids = accounts["account_id"]
    month_epoch = cat("month")
    month_series = pl.Series(month_epoch.astype(np.int32)).cast(pl.Date)
    opened_month = accounts["opened_at"].dt.truncate("1mo").gather(pl.Series(acc.astype(np.uint32)))
    new_history = pl.DataFrame(
        {
            "account_id": ids.gather(pl.Series(acc.astype(np.uint32))),
            "month": month_series,
            "cohort": opened_month,
        }
    ).with_columns(
        months_on_book=(
            (pl.col("month").dt.year().cast(pl.Int32) - pl.col("cohort").dt.year().cast(pl.Int32))
            * 12
            + pl.col("month").dt.month().cast(pl.Int32)
            - pl.col("cohort").dt.month().cast(pl.Int32)
        ).cast(pl.Int16),
        credit_limit=cat("credit_limit"),
        balance=cat("balance"),
        dpd=cat("dpd").astype(np.int16),
        bucket=pl.Series(cat("bucket")).cat.to(BUCKET_DTYPE),
        due_amount=cat("due_amount"),
        paid_amount=cat("paid_amount"),
        written_off=cat("written_off"),
    )
    history = pl.concat(
        [book.history, new_history.select(book.history.columns)], how="vertical_relaxed"
    ).sort("account_id", "month")
    pay = _payments(rng, acc, cat("paid_amount"), month_epoch, cat("month_len"))
    new_payments = pl.DataFrame(
        {
            "account_id": ids.gather(pl.Series(pay["p_acc"].astype(np.uint32))),
            "paid_at": pl.Series(pay["p_time"]).cast(pl.Datetime("us")),
            "amount": pay["p_cents"].astype(np.float64) / 100.0,
        }
    )
    payments = pl.concat([book.payments, new_payments]).sort(
        "account_id", "paid_at", maintain_order=True
    )

    new_as_of = add_months(as_of, months)
    last_month = add_months(new_as_of, -1)
    feats = window_features(history, last_month)
    ext = _externals(rng, risk, state.k)
    refreshed = accounts.drop([c for c in feats.columns if c != "account_id"]).join(
        feats, on="account_id", how="left", maintain_order="left"
    )
    refreshed = refreshed.with_columns(
        apr=pl.Series(apr),
        behaviour_score=pl.Series(_behaviour_score(rng, risk, state.k)),
        income_change_pct=pl.Series(ext["income_change_pct"]),
        external_delinquency_new=pl.Series(ext["external_delinquency_new"]),
        multi_lending_30d=pl.Series(ext["multi_lending_30d"]),
        early_warning=pl.Series(ext["early_warning"]),
    )
    return Book(
        accounts=refreshed.select(book.accounts.columns),
        history=history,
        payments=payments,
        as_of=new_as_of,
    )


def window_features(history: pl.DataFrame, last_month: date) -> pl.DataFrame:
    """Account features from the monthly history up to ``last_month`` (a month start).

    Returns ``account_id`` and the history-derived columns of the accounts table, defined
    exactly as :func:`~fengkong.lifecycle.synthetic_book` defines them: months_on_book,
    credit_limit, balance, utilisation, dpd, bucket, max_dpd_3m/6m/12m,
    payments_on_time_12m, balance_trend_3m, utilisation_jump_1m, persistent_debt.
    """
    start = add_months(last_month, -11)
    ago = (
        pl.lit(last_month.year * 12 + last_month.month - 1)
        - pl.col("month").dt.year().cast(pl.Int32) * 12
        - pl.col("month").dt.month().cast(pl.Int32)
        + 1
    )
    util = pl.col("balance") / pl.col("credit_limit")
    recent = (
        history.lazy()
        .filter((pl.col("month") >= start) & (pl.col("month") <= last_month))
        .with_columns(_ago=ago, _util=util)
    )
    agg = (
        recent.sort("account_id", "month")
        .group_by("account_id", maintain_order=True)
        .agg(
            pl.col("months_on_book").last(),
            pl.col("credit_limit").last(),
            pl.col("balance").last(),
            pl.col("_util").last().round(4).alias("utilisation"),
            pl.col("dpd").last(),
            pl.col("bucket").last(),
            *(
                pl.col("dpd").filter(pl.col("_ago") < w).max().cast(pl.Int16).alias(f"max_dpd_{w}m")
                for w in (3, 6, 12)
            ),
            ((pl.col("due_amount") > 0) & (pl.col("paid_amount") >= pl.col("due_amount") - 0.005))
            .sum()
            .cast(pl.Int8)
            .alias("payments_on_time_12m"),
            pl.col("balance").filter(pl.col("_ago") == 3).first().alias("_b3"),
            pl.col("_util").filter(pl.col("_ago") == 1).first().alias("_u1"),
            pl.col("_util").last().alias("_u0"),
            (pl.col("_util") >= 0.9).sum().alias("_high"),
        )
        .with_columns(
            balance_trend_3m=(
                (pl.col("balance") - pl.col("_b3")) / pl.col("_b3").clip(lower_bound=1.0)
            )
            .round(4)
            .fill_null(0.0),
            utilisation_jump_1m=(pl.col("_u0") - pl.col("_u1")).round(4).fill_null(0.0),
            persistent_debt=(pl.col("_high") >= 10) & (pl.col("months_on_book") >= 18),
        )
        .drop("_b3", "_u1", "_u0", "_high")
    )
    return agg.collect()


def _apply_actions(accounts: pl.DataFrame, actions: pl.DataFrame) -> pl.DataFrame:
    cols = [c for c in ("new_limit", "new_apr") if c in actions.columns]
    if not cols:
        return accounts
    changes = actions.select("account_id", *cols).unique("account_id", keep="last")
    joined = accounts.join(changes, on="account_id", how="left", maintain_order="left")
    live = pl.col("bucket") != "write-off"
    updates = []
    if "new_limit" in cols:
        updates.append(
            pl.when(live & pl.col("new_limit").is_not_null() & (pl.col("new_limit") > 0))
            .then(pl.col("new_limit").cast(pl.Float64))
            .otherwise(pl.col("credit_limit"))
            .alias("credit_limit")
        )
    if "new_apr" in cols:
        updates.append(
            pl.when(live & pl.col("new_apr").is_not_null())
            .then(pl.col("new_apr").cast(pl.Float64))
            .otherwise(pl.col("apr"))
            .alias("apr")
        )
    return joined.with_columns(updates).drop(cols)


def _new_accounts(
    frame: pl.DataFrame, as_of: date, months: int, rng: np.random.Generator
) -> pl.DataFrame:
    missing = [c for c in ("credit_limit", "apr") if c not in frame.columns]
    if missing:
        msg = f"new_accounts needs columns {missing}"
        raise ValueError(msg)
    n = frame.height
    last = add_months(as_of, months)
    df = frame
    if "account_id" not in df.columns:
        prefix = f"NB{as_of.year:04d}{as_of.month:02d}"
        df = df.with_columns(
            (pl.lit(prefix) + pl.int_range(1, n + 1).cast(pl.String).str.zfill(7)).alias(
                "account_id"
            )
        )
    if "customer_id" not in df.columns:
        raw = rng.integers(0, 256, size=(n, 8), dtype=np.uint8).view("S8").ravel()
        df = df.with_columns(
            ("pn" + pl.Series(raw, dtype=pl.Binary).bin.encode("hex")).alias("customer_id")
        )
    defaults: dict[str, Any] = {
        "segment": "app",
        "product": "card",
        "opened_at": as_of,
        "income_monthly": _DEFAULT_INCOME,
        "sim_risk": _DEFAULT_RISK,
        "sim_util_target": _DEFAULT_UTIL,
    }
    for name, value in defaults.items():
        if name not in df.columns:
            df = df.with_columns(pl.lit(value).alias(name))
        else:
            df = df.with_columns(pl.col(name).fill_null(value))
    df = df.with_columns(
        pl.col("segment").cast(pl.String).cast(SEGMENT_DTYPE),
        pl.col("product").cast(pl.String).cast(PRODUCT_DTYPE),
        pl.col("opened_at").cast(pl.Date),
        pl.col("credit_limit").cast(pl.Float64),
        pl.col("apr").cast(pl.Float64),
        pl.col("income_monthly").cast(pl.Float64),
        pl.col("sim_risk").cast(pl.Float32),
        pl.col("sim_util_target").cast(pl.Float32),
    )
    bad = df.filter((pl.col("opened_at") < as_of) | (pl.col("opened_at") >= last))
    if bad.height:
        msg = f"new_accounts opened_at must fall in {as_of} .. {last} (exclusive)"
        raise ValueError(msg)
    segment = df["segment"].to_physical().to_numpy()
    tz = rng.choice(len(TIMEZONES), size=n, p=_TZ_P).astype(np.uint32)
    zeros_i16 = np.zeros(n, dtype=np.int16)
    extra = pl.DataFrame(
        {
            "months_on_book": zeros_i16,
            "due_day": rng.integers(1, 29, size=n).astype(np.int8),
            "balance": np.zeros(n),
            "utilisation": np.zeros(n),
            "dpd": zeros_i16,
            "bucket": pl.Series(np.zeros(n, dtype=np.uint8)).cat.to(BUCKET_DTYPE),
            **preferences(rng, n, segment),
            "timezone": pl.Series(tz).cat.to(TIMEZONE_DTYPE),
            "phone_pseudonym": "ph"
            + pl.Series(
                rng.integers(0, 256, size=(n, 8), dtype=np.uint8).view("S8").ravel(),
                dtype=pl.Binary,
            ).bin.encode("hex"),
        }
    )
    keep = [c for c in NEW_ACCOUNT_COLUMNS if c in df.columns]
    out = pl.concat([df.select(keep), extra], how="horizontal")
    missing_cols = [c for c in _ACCOUNT_COLUMNS if c not in out.columns]
    # Everything else (history windows, externals, score) is filled after the first month.
    return out.with_columns(pl.lit(None).alias(c) for c in missing_cols)
