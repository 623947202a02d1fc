"""Collections (催收): delinquency buckets, roll and flow rates, vintages and the daily work list.

Everything here is vectorised Polars over the whole table; no per-row Python.

Reports (from the monthly ``history`` of the book, one row per account per month):

- :func:`roll_rate_matrix`: share of accounts (or of balance) in each bucket this month
  by the bucket they are in next month; each row sums to 100 %.
- :func:`flow_rates`: per month, the share flowing from each bucket to the next one
  (current → 1-30 → … → 90+ → write-off) and ``flow_to_loss``, their product.
- :func:`vintage_curves`: per cohort (month opened) and months on book, the share of
  accounts ever 30+ (or 90+) days past due.

Work list (:func:`plan_worklist`): the collections strategy (an ordinary strategy with
``stage: collections``) scores every delinquent account (the collection score: the
probability to cure without extra treatment) and picks a treatment per segment and
bucket; the job then escalates broken promises to the next treatment step, keeps
likely self-curers on digital reminders, ranks the accounts by expected incremental
recovery per unit of cost and passes every planned contact through the contact-policy
guard (:mod:`fengkong.lifecycle._contact`).
"""

from __future__ import annotations

import datetime as dt
import itertools
import math
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Literal

import polars as pl

from fengkong.compile import CompiledStrategy
from fengkong.engine import evaluate_batch
from fengkong.lifecycle._book import BUCKETS, bucket_expr
from fengkong.lifecycle._contact import ContactPolicy, _zone_ok, guard_contacts
from fengkong.lifecycle._ptp import escalation_counts

__all__ = [
    "DEFAULT_SCHEDULE",
    "DEFAULT_TREATMENTS",
    "Treatment",
    "WorkList",
    "account_features",
    "cure_probability",
    "fill_from_history",
    "flow_rates",
    "plan_worklist",
    "roll_rate_matrix",
    "transitions",
    "vintage_curves",
    "with_buckets",
]

Progress = Callable[[str, int, int], None]
Weight = Literal["count", "balance"]

def with_buckets(frame: pl.DataFrame) -> pl.DataFrame:
    """``frame`` with its ``bucket`` column (re)computed from ``dpd`` (null: current) and
    ``written_off`` (when present; null: not written off), as the book defines buckets."""
    wo = pl.col("written_off").fill_null(value=False) if "written_off" in frame.columns \
        else None
    return frame.with_columns(bucket=bucket_expr(pl.col("dpd").fill_null(0), wo))


# -- reports ----------------------------------------------------------------------------


def _bucketed(history: pl.DataFrame) -> pl.DataFrame:
    need = {"account_id", "month", "dpd", "balance"}
    missing = need - set(history.columns)
    if missing:
        msg = f"history lacks column(s) {', '.join(sorted(missing))}"
        raise ValueError(msg)
    return with_buckets(history)


def transitions(history: pl.DataFrame) -> pl.DataFrame:
    """Each account's month-to-next-month move: ``account_id, month, from_bucket,
    to_bucket, balance`` (the balance at ``month``, the weight of a balance roll rate).

    Only pairs where the account is in the history in both months count (an account
    that closed or left the book has no next month); a written-off account stays
    written off.
    """
    h = _bucketed(history).select("account_id", "month", "bucket", "balance")
    nxt = h.select("account_id", pl.col("month").dt.offset_by("-1mo").alias("month"),
                   pl.col("bucket").alias("to_bucket"))
    return (h.rename({"bucket": "from_bucket"})
            .join(nxt, on=["account_id", "month"], how="inner")
            .select("account_id", "month", "from_bucket", "to_bucket",
                    pl.col("balance").cast(pl.Float64).fill_null(0.0))
            .sort("month", "account_id"))


def roll_rate_matrix(history: pl.DataFrame, *, weight: Weight = "count",
                     month: dt.date | None = None) -> pl.DataFrame:
    """Roll-rate matrix in percent: one row per ``from_bucket`` present, one column per bucket.

    Parameters
    ----------
    history
        Monthly snapshots (``account_id, month, dpd, balance[, written_off]``).
    weight
        ``count``: share of accounts; ``balance``: share of the balance at the start month.
    month
        Only the move from this month to the next; default: every month pooled.

    Returns
    -------
    polars.DataFrame
        ``from_bucket``, ``base`` (accounts or balance in the row), then one column
        per bucket; each row sums to 100.
    """
    t = transitions(history)
    if month is not None:
        t = t.filter(pl.col("month") == month)
    w = pl.len().cast(pl.Float64) if weight == "count" else pl.col("balance").sum()
    cells = t.group_by("from_bucket", "to_bucket").agg(w.alias("w"))
    base = cells.group_by("from_bucket").agg(pl.col("w").sum().alias("base"))
    cells = cells.join(base, on="from_bucket").with_columns(
        pct=pl.when(pl.col("base") > 0).then(100.0 * pl.col("w") / pl.col("base")).otherwise(0.0))
    wide = (cells.with_columns(pl.col("to_bucket").cast(pl.String))
            .pivot(on="to_bucket", index=["from_bucket", "base"], values="pct"))
    for b in BUCKETS:
        if b not in wide.columns:
            wide = wide.with_columns(pl.lit(0.0).alias(b))
    return (wide.select("from_bucket", "base", *[pl.col(b).fill_null(0.0) for b in BUCKETS])
            .sort("from_bucket"))


def flow_rates(history: pl.DataFrame, *, weight: Weight = "balance") -> pl.DataFrame:
    """Monthly flow rates between consecutive buckets and the flow to loss.

    ``current→1-30`` for month *m* is the share of the accounts (or balance) current at
    *m* that are 1-30 days past due at *m + 1*, and so on to ``90+→write-off``;
    ``flow_to_loss`` is the product of the five: the share of a current balance that
    reaches write-off if every month flowed like this one. The last row (``month``
    null) pools every month.
    """
    t = transitions(history).with_columns(
        w=pl.lit(1.0) if weight == "count" else pl.col("balance"))
    steps = list(itertools.pairwise(BUCKETS))
    cols: list[pl.Expr] = []
    for a, b in steps:
        src = pl.col("from_bucket") == a
        num = pl.col("w").filter(src & (pl.col("to_bucket") == b)).sum()
        den = pl.col("w").filter(src).sum()
        cols.append(pl.when(den > 0).then(num / den).otherwise(None).alias(f"{a}→{b}"))
    monthly = t.group_by("month").agg(cols).sort("month")
    pooled = t.select(cols).select(pl.lit(None, dtype=pl.Date).alias("month"), pl.all())
    out = pl.concat([monthly, pooled], how="vertical_relaxed")
    flow = [pl.col(f"{a}→{b}") for a, b in steps]
    product = flow[0]
    for f in flow[1:]:
        product = product * f
    return out.with_columns(flow_to_loss=product)


def vintage_curves(history: pl.DataFrame, *, dpd_over: int = 30, ever: bool = True
                   ) -> pl.DataFrame:
    """Vintage curves: per cohort and months on book, the share of accounts past due.

    An account counts as bad at a month when it is more than ``dpd_over`` days past due
    (30+: bucket 31-60 or worse; 90+: ``dpd_over=90``, bucket 90+) or written off; with
    ``ever`` (default) once bad it stays bad (the cumulative "ever 30+" curve).
    Denominator: the cohort's accounts observed at that month on book.

    Returns ``cohort, months_on_book, accounts, bad, rate`` (rate in percent).
    """
    h = history
    if "cohort" not in h.columns:
        msg = "history lacks column cohort (the month the account was opened)"
        raise ValueError(msg)
    wo = pl.col("written_off").fill_null(value=False) if "written_off" in h.columns \
        else pl.lit(value=False)
    bad = (pl.col("dpd").fill_null(0) > dpd_over) | wo
    h = h.select("account_id", "cohort", "month", "months_on_book", bad.alias("bad"))
    if ever:
        h = h.sort("account_id", "month").with_columns(
            pl.col("bad").cum_max().over("account_id"))
    return (h.group_by("cohort", "months_on_book")
            .agg(pl.len().alias("accounts"), pl.col("bad").sum().alias("bad"))
            .with_columns(rate=100.0 * pl.col("bad") / pl.col("accounts"))
            .sort("cohort", "months_on_book"))


# -- the work list -------------------------------------------------------------------------


@dataclass(frozen=True)
class Treatment:
    """One step of the treatment ladder.

    ``uplift`` is the share of the balance at risk (balance × probability to roll) that the
    treatment recovers beyond what the account would pay untreated; ``cost`` is per
    attempt, in the balance's currency.
    """

    name: str
    channel: Literal["sms", "call", "visit", "letter"]
    cost: float
    uplift: float
    digital: bool = False


#: The ladder, mildest first: a broken promise moves an account one step down it.
DEFAULT_TREATMENTS: tuple[Treatment, ...] = (
    Treatment("sms", "sms", 0.05, 0.02, digital=True),
    Treatment("robocall", "call", 0.30, 0.05),
    Treatment("agent_call", "call", 3.0, 0.15),
    Treatment("field_visit", "visit", 40.0, 0.25),
    Treatment("legal", "letter", 300.0, 0.35),
)

#: Local time each channel is scheduled at (the guard still checks it).
DEFAULT_SCHEDULE: Mapping[str, dt.time] = {
    "sms": dt.time(10, 0), "call": dt.time(9, 0), "visit": dt.time(10, 0),
    "letter": dt.time(9, 0)}


@dataclass(frozen=True)
class WorkList:
    """The day's work list and the contacts the guard blocked.

    ``worklist``: one row per delinquent account, ranked (``rank`` 1 first), with its
    score, arm, treatment, expected recovery, cost, priority and scheduled contact
    (``contact_status``: ``scheduled``, ``blocked`` or ``error``). ``blocked``: every
    blocked contact with the guard rule that blocked it.
    """

    worklist: pl.DataFrame
    blocked: pl.DataFrame
    date: dt.date
    strategy_id: str
    strategy_version: str
    strategy_digest: str
    counts: dict[str, int] = field(default_factory=dict)


def cure_probability(strategy: CompiledStrategy, component: str | None, score: pl.Expr
                     ) -> pl.Expr:
    """p_cure from the score of ``component``: a scaled scorecard (``pdo``,
    ``base_score``, ``base_odds``: odds double every ``pdo`` points) or, for a model, its
    value read as a probability."""
    card = strategy.spec.scorecards.get(component or "")
    pdo: float | None = getattr(card, "pdo", None)
    if card is None or pdo is None:
        return score.clip(0.0, 1.0)
    base_score: float = getattr(card, "base_score", None) or 0.0
    base_odds: float = getattr(card, "base_odds", None) or 1.0
    log_odds = math.log(base_odds) + (score - base_score) * (math.log(2.0) / pdo)
    p: pl.Expr = 1.0 / (1.0 + (-log_odds).exp())
    return p


_INPUT_DEFAULTS: Mapping[str, pl.Expr] = {
    "broken_promises": pl.lit(0, dtype=pl.Int64),
}


def _strategy_inputs(strategy: CompiledStrategy, accounts: pl.DataFrame) -> pl.DataFrame:
    names = list(strategy.spec.inputs)
    cols: list[pl.Expr] = []
    for name in names:
        if name in accounts.columns:
            cols.append(pl.col(name))
        elif name == "channel" and "segment" in accounts.columns:
            cols.append(pl.col("segment").alias("channel"))
        elif name in _INPUT_DEFAULTS:
            cols.append(_INPUT_DEFAULTS[name].alias(name))
    return accounts.select(cols)


def plan_worklist(strategy: CompiledStrategy, accounts: pl.DataFrame, *, date: dt.date,
                  contacts: pl.DataFrame | None = None,
                  promises: pl.DataFrame | None = None,
                  policy: ContactPolicy | None = None,
                  treatments: Sequence[Treatment] = DEFAULT_TREATMENTS,
                  self_cure_threshold: float = 0.6,
                  score_slot: str = "cure", treatment_slot: str = "treatment",
                  schedule: Mapping[str, dt.time] = DEFAULT_SCHEDULE,
                  progress: Progress | None = None) -> WorkList:
    """The day's collections work list.

    Parameters
    ----------
    strategy
        A compiled ``stage: collections`` strategy with a score slot (``score_slot``,
        a scorecard scaled by ``pdo``/``base_score``/``base_odds``, or a model giving a
        probability to cure) and a table slot ``treatment_slot`` whose ``treatment``
        output names a step of ``treatments``.
    accounts
        One row per account (the book's ``accounts`` table): ``account_id``, ``dpd``,
        ``balance``, ``timezone``, the ``contact_opt_out_*`` flags and the strategy's
        inputs (``channel`` is read from ``segment`` when absent). Accounts that are
        current or written off are left out.
    date
        The day planned (contacts are scheduled on this local date).
    contacts
        Past contact attempts (``account_id, channel, attempted_at``) for the frequency cap.
    promises
        Promise outcomes from :func:`~fengkong.lifecycle.evaluate_promises`: broken
        promises move an account one treatment step per promise (within the policy's
        escalation window) and feed the ``broken_promises`` strategy input.
    self_cure_threshold
        Accounts with p_cure at or above it get digital reminders only (enforced after
        the strategy, recorded in ``treatment_changed_by``). So do accounts with an open
        promise (not yet due plus grace): a reminder, no call, until it is kept or broken.
    progress
        Called with (stage, done, total) as the job advances.
    """
    policy = policy or ContactPolicy()
    ladder = {t.name: i for i, t in enumerate(treatments)}
    total_steps = 5

    def tick(stage: str, done: int) -> None:
        if progress is not None:
            progress(stage, done, total_steps)

    acc = accounts
    if "bucket" not in acc.columns or "written_off" in acc.columns:
        acc = with_buckets(acc)
    acc = acc.with_columns(pl.col("bucket").cast(pl.String))
    acc = acc.filter(~pl.col("bucket").is_in(["current", "write-off"]))
    if promises is not None:
        esc = escalation_counts(promises, as_of=date, window_days=policy.escalation_window_days)
        acc = (acc.drop([c for c in ("broken_promises", "open_promise") if c in acc.columns])
               .join(esc, on="account_id", how="left")
               .with_columns(pl.col("broken_promises").fill_null(0),
                             pl.col("open_promise").fill_null(value=False)))
    else:
        acc = acc.with_columns(
            broken_promises=pl.col("broken_promises").fill_null(0)
            if "broken_promises" in acc.columns else pl.lit(0, dtype=pl.Int64),
            open_promise=pl.lit(value=False))
    tick("scoring", 0)

    decided = evaluate_batch(strategy, _strategy_inputs(strategy, acc))
    arm_cols = [c for c in decided.columns if c.startswith("experiment.")]
    score_col, comp_col = f"score.{score_slot}", f"component.{score_slot}"
    treat_col = f"table.{treatment_slot}.treatment"
    for c in (score_col, treat_col):
        if c not in decided.columns:
            msg = f"the strategy has no `{c}` output (slots: score_slot={score_slot!r}, " \
                  f"treatment_slot={treatment_slot!r})"
            raise ValueError(msg)
    components = [c for c in decided[comp_col].unique().to_list() if c is not None] \
        if comp_col in decided.columns else []
    p_cure: pl.Expr = pl.lit(None, dtype=pl.Float64)
    for comp in components:
        p_cure = pl.when(pl.col(comp_col) == comp).then(
            cure_probability(strategy, comp, pl.col(score_col))).otherwise(p_cure)
    if not components:
        p_cure = cure_probability(strategy, None, pl.col(score_col))
    acc = pl.concat([acc, decided.select(
        pl.col("segment").alias("strategy_segment"),
        pl.col(score_col).alias("collection_score"),
        p_cure.alias("p_cure"),
        pl.col(treat_col).alias("strategy_treatment"),
        *[pl.col(c).alias("arm." + c.removeprefix("experiment.")) for c in arm_cols],
        pl.col("error").alias("input_error"))], how="horizontal")
    tick("treatments", 1)

    # Escalation (one step per broken promise), then digital-only for likely self-curers.
    names = [t.name for t in treatments]
    step0 = pl.col("strategy_treatment").replace_strict(ladder, default=None,
                                                       return_dtype=pl.Int64)
    last = len(treatments) - 1
    step = pl.min_horizontal(step0 + pl.col("broken_promises").cast(pl.Int64), pl.lit(last))
    digital = [i for i, t in enumerate(treatments) if t.digital]
    first_digital = digital[0] if digital else 0
    self_cure = pl.col("p_cure") >= self_cure_threshold
    acc = acc.with_columns(step_escalated=step, step0=step0)
    is_digital = pl.col("step_escalated").is_in(digital) if digital else pl.lit(value=False)
    waiting = pl.col("open_promise").fill_null(value=False)
    acc = acc.with_columns(
        step=pl.when((self_cure | waiting) & ~is_digital)
        .then(pl.lit(first_digital, dtype=pl.Int64))
        .otherwise(pl.col("step_escalated")))
    acc = acc.with_columns(
        treatment=pl.col("step").replace_strict(dict(enumerate(names)), default=None,
                                                return_dtype=pl.String),
        treatment_changed_by=pl.when(pl.col("step0").is_null()).then(None)
        .when(self_cure & ~is_digital).then(pl.lit("self_cure_digital_only"))
        .when(waiting & ~is_digital).then(pl.lit("open_promise"))
        .when(pl.col("step_escalated") != pl.col("step0")).then(pl.lit("broken_promise"))
        .otherwise(None))
    by_step: dict[int, Treatment] = dict(enumerate(treatments))
    acc = acc.with_columns(
        channel_planned=pl.col("step").replace_strict(
            {i: t.channel for i, t in by_step.items()}, default=None, return_dtype=pl.String),
        cost=pl.col("step").replace_strict(
            {i: t.cost for i, t in by_step.items()}, default=None, return_dtype=pl.Float64),
        uplift=pl.col("step").replace_strict(
            {i: t.uplift for i, t in by_step.items()}, default=None, return_dtype=pl.Float64),
    ).drop("step0", "step_escalated")
    acc = acc.with_columns(
        p_roll=1.0 - pl.col("p_cure"),
        expected_recovery=pl.col("balance").cast(pl.Float64) * (1.0 - pl.col("p_cure"))
        * pl.col("uplift"),
    ).with_columns(priority=pl.col("expected_recovery") / pl.col("cost"))
    tick("ranking", 2)

    acc = acc.sort("priority", descending=True, nulls_last=True, maintain_order=True)
    acc = acc.with_columns(rank=pl.int_range(1, pl.len() + 1, dtype=pl.Int64),
                           rank_in_channel=pl.int_range(1, pl.len() + 1, dtype=pl.Int64)
                           .over("channel_planned"))
    tick("contact guard", 3)

    # Propose one contact per account at the channel's local time, and guard them all.
    tz = pl.col("timezone") if "timezone" in acc.columns else pl.lit(policy.default_timezone)
    flags = [c for c in acc.columns if c.startswith("contact_opt_out_")]
    proposed = (acc.filter(pl.col("treatment").is_not_null())
                .select("account_id", pl.col("channel_planned").alias("channel"),
                        tz.alias("timezone"), "treatment", *flags)
                .with_columns(local_time=pl.col("channel").replace_strict(
                    dict(schedule), default=policy.start, return_dtype=pl.Time),
                              recipient=pl.lit("debtor")))
    proposed = _local_to_utc(proposed, date)
    guard = guard_contacts(proposed, contacts=contacts, policy=policy)
    verdict = guard.checked.select(
        "scheduled_at",
        pl.when(pl.col("blocked_rule").is_null()).then(pl.lit("scheduled"))
        .otherwise(pl.lit("blocked")).alias("contact_status"), "blocked_rule")
    if len(proposed) == len(acc):  # every account has a treatment: same rows, same order
        acc = pl.concat([acc, verdict], how="horizontal")
    else:
        acc = acc.join(pl.concat([proposed.select("account_id"), verdict], how="horizontal"),
                       on="account_id", how="left", maintain_order="left").with_columns(
            contact_status=pl.col("contact_status").fill_null(pl.lit("error")))
    tick("assembling", 4)

    keep = ["rank", "rank_in_channel", "account_id", "bucket", "dpd", "balance",
            "strategy_segment", "collection_score", "p_cure", "p_roll",
            "strategy_treatment", "treatment", "treatment_changed_by", "channel_planned",
            "cost", "uplift", "expected_recovery", "priority", "broken_promises",
            "open_promise", "scheduled_at", "contact_status", "blocked_rule",
            *[c for c in acc.columns if c.startswith("arm.")], "input_error"]
    wl = acc.select([c for c in keep if c in acc.columns])
    tick("done", total_steps)
    counts = dict(zip(*wl["contact_status"].value_counts(sort=True)
                      .select(pl.col("contact_status"), pl.col("count")).to_dict(as_series=False)
                      .values(), strict=True))
    return WorkList(worklist=wl, blocked=guard.blocked, date=date,
                    strategy_id=strategy.strategy_id, strategy_version=strategy.version,
                    strategy_digest=strategy.digest, counts=counts)


def _local_to_utc(frame: pl.DataFrame, date: dt.date) -> pl.DataFrame:
    """``scheduled_at`` (UTC) from ``date`` + ``local_time`` in each row's ``timezone``.

    One vectorised conversion per distinct time zone (a handful), not per row; rows keep
    their order. An unknown time zone gives a null time, which the guard blocks.
    """
    naive = pl.lit(date).dt.combine(pl.col("local_time"))
    zone_col = pl.col("timezone").cast(pl.String)
    expr: pl.Expr = pl.lit(None, dtype=pl.Datetime("us", "UTC"))
    for zone in frame["timezone"].cast(pl.String).unique().to_list():
        if zone is None or not _zone_ok(zone):
            continue
        expr = pl.when(zone_col == zone).then(
            naive.dt.replace_time_zone(zone, ambiguous="earliest", non_existent="null")
            .dt.convert_time_zone("UTC")).otherwise(expr)
    return frame.with_columns(scheduled_at=expr)


def account_features(history: pl.DataFrame) -> pl.DataFrame:
    """Per account, from its last 12 history months: ``payments_on_time_12m`` (months with
    an amount due that was paid in full) and ``max_dpd_12m``; plus ``dpd``, ``balance`` and
    ``months_on_book`` of its last month (for an accounts table that lacks them)."""
    last12 = history.sort("account_id", "month").group_by("account_id", maintain_order=True
                                                         ).tail(12)
    return last12.group_by("account_id", maintain_order=True).agg(
        ((pl.col("due_amount") > 0) & (pl.col("paid_amount") >= pl.col("due_amount")))
        .sum().cast(pl.Int64).alias("payments_on_time_12m"),
        pl.col("dpd").max().alias("max_dpd_12m"),
        pl.col("dpd").last(), pl.col("balance").last(), pl.col("months_on_book").last())


def fill_from_history(accounts: pl.DataFrame, history: pl.DataFrame) -> pl.DataFrame:
    """``accounts`` with the columns of :func:`account_features` it lacks, from ``history``."""
    feats = account_features(history)
    missing = [c for c in feats.columns if c != "account_id" and c not in accounts.columns]
    if not missing:
        return accounts
    return accounts.join(feats.select("account_id", *missing), on="account_id", how="left",
                         maintain_order="left")
