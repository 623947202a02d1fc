"""The contact-policy guard: which planned collection contacts may go ahead.

The guard runs in the job after the strategy chose treatments, so a strategy mistake
cannot break it. A planned contact is blocked, and logged with the first rule that
blocks it, when it is

1. ``third_party``: addressed to anyone but the debtor (``recipient`` other than
   ``debtor``, or a ``phone_pseudonym`` other than the account's);
2. ``opted_out``: on a channel the account opted out of (``contact_opt_out_sms``,
   ``_call``, ``_visit``; an unknown (null) opt-out counts as opted out);
3. ``local_hours``: outside the allowed local hours (default 08:00 to 21:00, start
   included, end excluded) in the account's time zone (an unknown time zone or a
   missing time is blocked: nobody can show it is allowed);
4. ``frequency_cap``: a call attempt beyond the cap (default 7 call attempts in any
   7 days per debt), counting past attempts and the calls allowed earlier in the plan.

Letters (legal notices) are not calls, visits or messages: only the third-party rule
applies to them.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass

import polars as pl

__all__ = ["GUARD_RULES", "ContactPolicy", "GuardResult", "guard_contacts", "local_times"]

#: The rules, in the order they are checked (the first that blocks is logged).
GUARD_RULES: tuple[str, ...] = ("third_party", "opted_out", "local_hours", "frequency_cap")

_OPT_OUT = {"sms": "contact_opt_out_sms", "call": "contact_opt_out_call",
            "visit": "contact_opt_out_visit"}
_UTC = pl.Datetime("us", "UTC")


@dataclass(frozen=True)
class ContactPolicy:
    """Contact limits: allowed local hours, the call frequency cap and its window."""

    start: dt.time = dt.time(8, 0)
    end: dt.time = dt.time(21, 0)
    max_call_attempts: int = 7
    window_days: int = 7
    default_timezone: str = "Asia/Shanghai"
    escalation_window_days: int = 30

    def __post_init__(self) -> None:
        if not self.start < self.end:
            msg = "ContactPolicy: start must be before end"
            raise ValueError(msg)
        if self.max_call_attempts < 0 or self.window_days < 1:
            msg = "ContactPolicy: max_call_attempts >= 0 and window_days >= 1"
            raise ValueError(msg)


@dataclass(frozen=True)
class GuardResult:
    """``allowed``: contacts that may go ahead; ``blocked``: the others, each with
    ``blocked_rule`` (one of :data:`GUARD_RULES`) and ``blocked_detail``; ``checked``: every
    proposed contact in its input order, with ``blocked_rule`` null when allowed."""

    checked: pl.DataFrame
    blocked: pl.DataFrame

    @property
    def allowed(self) -> pl.DataFrame:
        """The contacts that may go ahead (without the rule columns)."""
        return self.checked.filter(pl.col("blocked_rule").is_null()).drop(
            "blocked_rule", "blocked_detail")


def _scatter(n: int, rows: pl.Series, values: pl.Series, name: str) -> pl.Series:
    """A text column of ``n`` nulls with ``values`` written at ``rows``."""
    base = pl.repeat(None, n, dtype=pl.String, eager=True).alias(name)
    return base.scatter(rows, values) if len(rows) else base


def _as_utc(frame: pl.DataFrame, column: str) -> pl.DataFrame:
    """``column`` as a UTC datetime: naive times are read as UTC, text is parsed (CSV)."""
    dtype = frame.schema[column]
    if dtype == pl.String:
        frame = frame.with_columns(pl.col(column).str.to_datetime(time_unit="us"))
        dtype = frame.schema[column]
    if isinstance(dtype, pl.Datetime):
        if dtype.time_zone is None:
            return frame.with_columns(pl.col(column).dt.replace_time_zone("UTC")
                                      .dt.cast_time_unit("us"))
        return frame.with_columns(pl.col(column).dt.convert_time_zone("UTC")
                                  .dt.cast_time_unit("us"))
    return frame.with_columns(pl.col(column).cast(_UTC))


def _zone_ok(zone: str) -> bool:
    try:
        pl.Series([0], dtype=pl.Datetime("us", "UTC")).dt.convert_time_zone(zone)
    except (pl.exceptions.ComputeError, pl.exceptions.InvalidOperationError, TypeError):
        return False
    return True


def local_times(frame: pl.DataFrame, *, at: str = "scheduled_at", tz: str = "timezone"
                ) -> pl.Series:
    """The local wall-clock time of ``at`` (UTC) in each row's time zone (null when unknown).

    One vectorised conversion per distinct time zone (a handful), not per row.
    """
    zones = [z for z in frame[tz].cast(pl.String).unique().to_list()
             if z is not None and _zone_ok(z)]
    expr: pl.Expr = pl.lit(None, dtype=pl.Time)
    zone_col = pl.col(tz).cast(pl.String)
    for zone in zones:
        expr = pl.when(zone_col == zone).then(
            pl.col(at).dt.convert_time_zone(zone).dt.time()).otherwise(expr)
    # with_columns, not select: a bare literal (no known zone, or no rows) must still
    # give one value per row.
    return frame.with_columns(expr.alias("_local"))["_local"].alias("local")


def guard_contacts(proposed: pl.DataFrame, *, accounts: pl.DataFrame | None = None,
                   contacts: pl.DataFrame | None = None,
                   policy: ContactPolicy | None = None) -> GuardResult:
    """Split planned contacts into allowed and blocked (with the blocking rule).

    Parameters
    ----------
    proposed
        ``account_id, channel (sms|call|visit|letter), scheduled_at`` (UTC; naive is read
        as UTC), optionally ``recipient`` (default ``debtor``), ``phone_pseudonym``
        and ``timezone`` (default: the account's).
    accounts
        ``account_id`` with ``timezone``, ``phone_pseudonym`` and the
        ``contact_opt_out_sms/call/visit`` flags (a missing flag column: not opted out).
        ``None``: ``proposed`` carries the account's ``timezone`` and opt-out flags itself
        (the work list does this, sparing a join).
    contacts
        Past attempts ``account_id, channel, attempted_at`` (only ``call`` counts).
    """
    policy = policy or ContactPolicy()
    p = _as_utc(proposed.drop([c for c in ("local_time",) if c in proposed.columns])
                .with_row_index("_row"), "scheduled_at")
    if "recipient" not in p.columns:
        p = p.with_columns(recipient=pl.lit("debtor"))
    if accounts is not None:
        acc_cols = [c for c in ("timezone", "phone_pseudonym", *_OPT_OUT.values())
                    if c in accounts.columns]
        acc = accounts.select("account_id",
                              *[pl.col(c).alias(f"_acc_{c}") for c in acc_cols])
        p = p.join(acc, on="account_id", how="left", maintain_order="left")
    else:
        p = p.with_columns(pl.col(c).alias(f"_acc_{c}") for c in _OPT_OUT.values()
                           if c in p.columns)
    if "timezone" not in p.columns:
        p = p.with_columns(timezone=pl.col("_acc_timezone") if "_acc_timezone" in p.columns
                           else pl.lit(policy.default_timezone))
    elif "_acc_timezone" in p.columns:
        p = p.with_columns(pl.col("timezone").fill_null(pl.col("_acc_timezone")))

    # 1. third party
    third = pl.col("recipient").fill_null("") != "debtor"
    third_detail: pl.Expr = pl.when(third).then(pl.lit("recipient is not the debtor"))
    if "phone_pseudonym" in p.columns and "_acc_phone_pseudonym" in p.columns:
        other_phone = (pl.col("phone_pseudonym").is_not_null()
                       & (pl.col("phone_pseudonym") != pl.col("_acc_phone_pseudonym"))
                       .fill_null(value=True))
        third_detail = pl.when(third).then(pl.lit("recipient is not the debtor")).when(
            other_phone).then(pl.lit("phone is not the debtor's"))
        third = third | other_phone
    # 2. opted-out channel
    opted: pl.Expr = pl.lit(value=False)
    for channel, flag in _OPT_OUT.items():
        if f"_acc_{flag}" in p.columns:
            opted = opted | ((pl.col("channel") == channel)
                             & pl.col(f"_acc_{flag}").fill_null(value=True))
    # 3. local hours
    p = p.with_columns(local_time=local_times(p))
    timed = pl.col("channel") != "letter"
    outside = timed & (pl.col("local_time").is_null()
                       | (pl.col("local_time") < policy.start)
                       | (pl.col("local_time") >= policy.end))
    hours_detail = pl.when(pl.col("local_time").is_null()).then(
        pl.lit("no local time (unknown time zone or time)")).otherwise(
        pl.format("local time {} outside {}-{}", pl.col("local_time").cast(pl.String),
                  pl.lit(policy.start.strftime("%H:%M")), pl.lit(policy.end.strftime("%H:%M"))))
    p = p.with_columns(
        blocked_rule=pl.when(third).then(pl.lit("third_party"))
        .when(opted).then(pl.lit("opted_out"))
        .when(outside).then(pl.lit("local_hours"))
        .otherwise(None))
    # Details are formatted for the blocked rows only.
    bad = p.filter(pl.col("blocked_rule").is_not_null()).with_columns(
        blocked_detail=pl.when(pl.col("blocked_rule") == "third_party").then(third_detail)
        .when(pl.col("blocked_rule") == "opted_out")
        .then(pl.format("opted out of {}", pl.col("channel")))
        .otherwise(hours_detail))
    p = p.with_columns(_scatter(len(p), bad["_row"], bad["blocked_detail"],
                                "blocked_detail"))

    # 4. frequency cap on calls that passed 1-3: past attempts in the window + earlier calls
    calls = p.filter(pl.col("blocked_rule").is_null() & (pl.col("channel") == "call")).select(
        "_row", "account_id", "scheduled_at")
    window = dt.timedelta(days=policy.window_days)
    past = pl.DataFrame(schema={"account_id": pl.String, "attempted_at": _UTC})
    lo, hi = calls["scheduled_at"].min(), calls["scheduled_at"].max()
    if contacts is not None and len(contacts) and lo is not None and hi is not None:
        past = _as_utc(contacts.filter(pl.col("channel") == "call")
                       .select(pl.col("account_id").cast(pl.String), "attempted_at"),
                       "attempted_at")
        past = past.filter(pl.col("attempted_at") > pl.lit(lo) - window,
                           pl.col("attempted_at") <= pl.lit(hi))
    # Only a debt whose planned calls plus its attempts anywhere in the widest window exceed
    # the cap can be over it: the exact per-call windows are worked out for those alone.
    counts = (pl.concat([calls.select(pl.col("account_id").cast(pl.String),
                                      pl.lit(1, dtype=pl.UInt32).alias("_k")),
                         past.select("account_id", pl.lit(0, dtype=pl.UInt32).alias("_k"))])
              .group_by("account_id")
              .agg(pl.len().cast(pl.UInt32).alias("_all"), pl.col("_k").sum().alias("_mine")))
    suspects = counts.filter((pl.col("_all") > policy.max_call_attempts)
                             | (pl.col("_mine") > 1)).select("account_id")
    mine = calls.with_columns(pl.col("account_id").cast(pl.String)).join(
        suspects, on="account_id", how="semi")
    prior = (mine.join(past.join(suspects, on="account_id", how="semi"),
                       on="account_id", how="inner")
             .filter(pl.col("attempted_at") > pl.col("scheduled_at") - window,
                     pl.col("attempted_at") <= pl.col("scheduled_at"))
             .group_by("_row").agg(pl.len().cast(pl.UInt32).alias("_past")))
    # Earlier planned calls of the same debt inside this call's window count too (a
    # blocked one as well: over-counting can only block more, never break the cap).
    earlier = (mine.join(mine.select(pl.col("_row").alias("_r2"), "account_id",
                                     pl.col("scheduled_at").alias("_s2")),
                         on="account_id", how="inner")
               .filter(pl.col("_s2") > pl.col("scheduled_at") - window,
                       (pl.col("_s2") < pl.col("scheduled_at"))
                       | ((pl.col("_s2") == pl.col("scheduled_at"))
                          & (pl.col("_r2") < pl.col("_row"))))
               .group_by("_row").agg(pl.len().cast(pl.UInt32).alias("_earlier")))
    calls = (mine.join(prior, on="_row", how="left")
             .join(earlier, on="_row", how="left")
             .with_columns(_n=pl.col("_past").fill_null(0) + pl.col("_earlier").fill_null(0)))
    over = calls.filter(pl.col("_n") >= policy.max_call_attempts).select(
        "_row", pl.format("{} call attempts in the last {} days (cap {})", pl.col("_n"),
                          pl.lit(policy.window_days), pl.lit(policy.max_call_attempts))
        .alias("_cap_detail"))
    if len(over):  # p is in _row order: write the capped rows in place
        p = p.with_columns(
            p["blocked_rule"].scatter(over["_row"], "frequency_cap"),
            p["blocked_detail"].scatter(over["_row"], over["_cap_detail"]))

    out_cols = [c for c in proposed.columns if c not in ("scheduled_at", "local_time")]
    base = [*out_cols, "scheduled_at", *(["timezone"] if "timezone" not in out_cols else []),
            *(["recipient"] if "recipient" not in out_cols else []), "local_time"]
    checked = p.select(*base, "blocked_rule", "blocked_detail")
    return GuardResult(checked=checked,
                       blocked=checked.filter(pl.col("blocked_rule").is_not_null()))
