"""Account management (存量经营): the periodic review of the whole book.

The review runs an ordinary strategy (``stage: account_management``) over every account,
then this job, not the strategy, enforces the compliance guards, the hold-out control group
and the adverse-action notices, so a mistake in a strategy cannot break them.

What the job reads from the strategy
------------------------------------
Every strategy input ``account.<column>`` is read from the book's ``<column>`` (inputs
without the prefix are read from the column of the same name). From the decision:

- ``limit`` and ``apr``: the proposed new limit and APR (null keeps the current one);
- ``table.warning.action`` when the strategy has a table slot ``warning`` with an output
  ``action`` (``freeze``, ``decrease``, ``watch`` or ``none``);
- ``score.<score_slot>``: the behaviour score (default slot ``score``), turned into a
  probability of default for the expected-loss change;
- ``reasons``: the reasons written on adverse-action notices.

Actions and guards
------------------
The proposed action is ``freeze`` (warning says so), ``decrease`` (new limit below the
current), ``increase`` (above), ``watch`` (warning says watch or decrease without room to
decrease), ``price_discount`` (APR lowered, limit unchanged) or ``none``. Then, in order:

============================  ==================================================================
guard                         what the job enforces
============================  ==================================================================
invalid_input                 a row the strategy refused (bad inputs): no action, always named
written_off                   written-off accounts get no action
control_group                 CRC-32 of ``"<salt>:<account_id>"`` mod 10,000 below
                              ``control_share`` x 10,000: no action, ``control`` true
no_increase_recent_dpd        no increase with any DPD now or in the last N months
no_increase_persistent_debt   no increase on a persistent-debt account
no_increase_early_warning     no increase with the early-warning flag or a warning action
no_increase_opt_out           no increase when the customer opted out of increases
no_increase_opt_in_missing    no increase where opt-in is required and not given
affordability_cap             an increase stays within monthly income x ``max_income_multiple``
decrease_floor_balance        a decrease or freeze never takes the limit below the balance
price_never_raised            the review never raises an APR
apr_floor                     a discount never goes below ``apr_floor``
adverse_action_notice         a decrease or freeze not caused by current delinquency (dpd 0)
                              gets a notice with reasons, due within ``notice_days`` days
============================  ==================================================================

Each guard that changed or blocked an action is named in the action's ``guard`` column
(comma-separated, in the order above).
"""

from __future__ import annotations

import math
import time
from collections.abc import Callable, Iterator
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, timedelta
from pathlib import Path
from typing import Final

import polars as pl
import pyarrow.parquet as pq

from fengkong.compile import CompiledStrategy, _hash
from fengkong.core import FixedClock
from fengkong.engine import evaluate_batch

__all__ = [
    "ACTIONS",
    "GUARDS",
    "ReviewConfig",
    "ReviewResult",
    "ReviewRun",
    "behaviour_features",
    "control_mask",
    "review",
    "review_chunk",
    "review_to_files",
    "summarise",
]

Progress = Callable[[str, int, int], None]

ACTIONS: Final = ("increase", "decrease", "freeze", "watch", "price_discount", "none")
GUARDS: Final = (
    "invalid_input",
    "written_off",
    "control_group",
    "no_increase_recent_dpd",
    "no_increase_persistent_debt",
    "no_increase_early_warning",
    "no_increase_opt_out",
    "no_increase_opt_in_missing",
    "affordability_cap",
    "decrease_floor_balance",
    "price_never_raised",
    "apr_floor",
    "adverse_action_notice",
)
#: Reason on a notice when the strategy gave none.
DEFAULT_NOTICE_REASON: Final = "ACCOUNT_REVIEW"

#: Book columns the job itself reads (besides the strategy's inputs).
_JOB_COLUMNS: Final = (
    "account_id", "customer_id", "segment", "credit_limit", "balance", "apr", "dpd",
    "persistent_debt", "early_warning", "opt_out_increase", "opt_in_required", "opt_in",
    "income_monthly",
)
_ACTION_DTYPE: Final = pl.Enum(list(ACTIONS))


@dataclass(frozen=True, slots=True)
class ReviewConfig:
    """Settings of the review job (the strategy holds the credit policy).

    Attributes
    ----------
    control_share
        Share of accounts held out as the control group (0 to 1; 0.05 = 5 %).
    control_salt
        Salt of the control-group hash; change it to draw a new control group.
    dpd_lookback_months
        N in "no increase with any DPD in the last N months": 3, 6 or 12 (reads the book's
        ``max_dpd_<N>m``).
    max_income_multiple
        Hard affordability ceiling: no increase takes the limit above monthly income times
        this (the strategy's own cap may be lower).
    apr_floor
        Lowest APR a discount may give.
    notice_days
        Days from the review date within which an adverse-action notice is due.
    lgd, ccf
        Loss given default, and the credit conversion factor of the undrawn limit, for the
        expected-loss change ``PD x LGD x (EAD_new - EAD_old)`` with
        ``EAD = balance + ccf x max(limit - balance, 0)``.
    score_slot
        Slot of the behaviour score in the strategy.
    base_score, base_odds, pdo
        Scaling of the behaviour score: ``odds(good:bad) = base_odds x 2^((score - base_score) / pdo)``.
    chunk_size
        Accounts per chunk when streaming the book.
    """

    control_share: float = 0.05
    control_salt: str = "account-review"
    dpd_lookback_months: int = 6
    max_income_multiple: float = 6.0
    apr_floor: float = 0.0
    notice_days: int = 30
    lgd: float = 0.45
    ccf: float = 0.5
    score_slot: str = "score"
    base_score: float = 600.0
    base_odds: float = 20.0
    pdo: float = 40.0
    chunk_size: int = 500_000

    def __post_init__(self) -> None:
        if not 0.0 <= self.control_share <= 1.0:
            msg = f"control_share must lie in [0, 1]; got {self.control_share}."
            raise ValueError(msg)
        if self.dpd_lookback_months not in (3, 6, 12):
            msg = f"dpd_lookback_months must be 3, 6 or 12; got {self.dpd_lookback_months}."
            raise ValueError(msg)
        if self.chunk_size < 1 or self.notice_days < 1:
            msg = "chunk_size and notice_days must be positive."
            raise ValueError(msg)
        if self.max_income_multiple < 0 or self.apr_floor < 0 or self.pdo <= 0 or self.base_odds <= 0:
            msg = "max_income_multiple and apr_floor must be >= 0; pdo and base_odds > 0."
            raise ValueError(msg)


# --------------------------------------------------------------------------- control group


def control_mask(account_ids: pl.Series, share: float, salt: str) -> pl.Series:
    """Whether each account is in the hold-out control group.

    CRC-32 of ``"<salt>:<account_id>"`` modulo 10,000, below ``share`` x 10,000: the same
    account is always in (or out of) the group for a given salt, on any machine, and the
    group is the same CRC-32 the engine's experiments use.

    >>> control_mask(pl.Series(["AC1", "AC2"]), 1.0, "s").to_list()
    [True, True]
    """
    bound = round(share * _hash.BUCKETS)
    if bound <= 0:
        return pl.Series("control", [False] * len(account_ids), dtype=pl.Boolean)
    buckets = _hash.buckets(account_ids.cast(pl.String), _hash.prefix_state(salt))
    return (buckets < bound).fill_null(value=False).alias("control")


# --------------------------------------------------------------------------- one chunk


def _inputs(strategy: CompiledStrategy, frame: pl.DataFrame) -> pl.DataFrame:
    exprs = []
    for f in strategy.plan.fields:
        source = f.name.removeprefix("account.")
        if source not in frame.columns:
            msg = f"The book has no column `{source}`, which the strategy reads as `{f.name}`."
            raise ValueError(msg)
        col = pl.col(source)
        if isinstance(frame.schema[source], pl.Enum | pl.Categorical):
            col = col.cast(pl.String)
        exprs.append(col.alias(f.name))
    return frame.select(exprs)


def _book_columns(strategy: CompiledStrategy, config: ReviewConfig) -> list[str]:
    cols = dict.fromkeys(_JOB_COLUMNS)
    cols[f"max_dpd_{config.dpd_lookback_months}m"] = None
    cols["bucket"] = None  # optional: written-off accounts get no action
    for f in strategy.plan.fields:
        cols[f.name.removeprefix("account.")] = None
    return list(cols)


def _joined(names: list[tuple[str, pl.Expr]]) -> pl.Expr:
    """Comma-separated names of the guards whose condition holds; null when none."""
    parts = [pl.when(cond).then(pl.lit(name)) for name, cond in names]
    return pl.concat_str(parts, separator=",", ignore_nulls=True).replace("", None)


def review_chunk(strategy: CompiledStrategy, accounts: pl.DataFrame, *, as_of: date,
                 config: ReviewConfig | None = None) -> tuple[pl.DataFrame, pl.DataFrame]:
    """Review one table of accounts: ``(actions, notices)``.

    ``accounts`` has the book's columns (see :mod:`fengkong.lifecycle._book`); the
    strategy's inputs are read from them as described in the module docstring.
    """
    cfg = config or ReviewConfig()
    if accounts.height == 0:
        return _empty_actions(), _empty_notices()
    cols = [c for c in _book_columns(strategy, cfg) if c in accounts.columns]
    missing = set(_JOB_COLUMNS) - set(cols)
    if missing:
        msg = f"The book lacks the column(s) {', '.join(sorted(missing))}."
        raise ValueError(msg)
    frame = accounts.select(cols)
    at = datetime(as_of.year, as_of.month, as_of.day, tzinfo=UTC)
    dec = evaluate_batch(strategy, _inputs(strategy, frame), clock=FixedClock(at))
    score_col = f"score.{cfg.score_slot}"
    warn = (dec["table.warning.action"] if "table.warning.action" in dec.columns
            else pl.Series([None] * dec.height, dtype=pl.String))
    lookback = f"max_dpd_{cfg.dpd_lookback_months}m"
    written_off = (pl.col("bucket") == "write-off") if "bucket" in frame.columns else pl.lit(False)
    work = frame.lazy().with_columns(
        pl.col("segment").cast(pl.String),
        dec["segment"].alias("strategy_segment"),
        dec["limit"].alias("_p_limit"),
        dec["apr"].alias("_p_apr"),
        warn.alias("_warn"),
        (dec[score_col] if score_col in dec.columns
         else pl.Series([None] * dec.height, dtype=pl.Float64)).alias("behaviour_score"),
        dec["reasons"].alias("reasons"),
        dec["error"].alias("error"),
        control_mask(frame["account_id"], cfg.control_share, cfg.control_salt),
        written_off.fill_null(value=False).alias("_wo"),
    )
    old_l, old_a, bal = pl.col("credit_limit"), pl.col("apr"), pl.col("balance")
    p_limit = pl.coalesce(pl.col("_p_limit"), old_l)
    p_apr = pl.coalesce(pl.col("_p_apr"), old_a)
    w = pl.col("_warn")
    proposed = (
        pl.when(w == "freeze").then(pl.lit("freeze"))
        .when(p_limit < old_l).then(pl.lit("decrease"))
        .when(p_limit > old_l).then(pl.lit("increase"))
        .when(w.is_in(["watch", "decrease"])).then(pl.lit("watch"))
        .when(p_apr < old_a).then(pl.lit("price_discount"))
        .otherwise(pl.lit("none"))
    )
    work = work.with_columns(proposed.alias("proposed_action"), p_limit.alias("proposed_limit"),
                             p_apr.alias("proposed_apr"))
    pa_ = pl.col("proposed_action")
    invalid = pl.col("error").is_not_null()
    wo = pl.col("_wo") & ~invalid
    control = pl.col("control") & ~invalid & ~pl.col("_wo")
    inert = invalid | pl.col("_wo") | pl.col("control")  # no action at all
    raising = (pl.col("proposed_limit") > old_l) & ~inert
    blocks = [
        ("no_increase_recent_dpd", (pl.col("dpd") > 0) | (pl.col(lookback) > 0)),
        ("no_increase_persistent_debt", pl.col("persistent_debt")),
        ("no_increase_early_warning",
         pl.col("early_warning") | w.is_in(["freeze", "decrease", "watch"])),
        ("no_increase_opt_out", pl.col("opt_out_increase")),
        ("no_increase_opt_in_missing", pl.col("opt_in_required") & ~pl.col("opt_in")),
    ]
    blocks = [(n, raising & c.fill_null(value=True)) for n, c in blocks]
    blocked = pl.any_horizontal([c for _, c in blocks])
    cap = (pl.col("income_monthly").fill_null(0.0).clip(lower_bound=0.0) * cfg.max_income_multiple)
    cap_hit = raising & ~blocked & (pl.col("proposed_limit") > cap)
    lowering = (pl.col("proposed_limit") < old_l) & ~inert
    floor = pl.min_horizontal(old_l, bal.clip(lower_bound=0.0))
    floor_hit = lowering & (pl.col("proposed_limit") < floor)
    new_limit = (
        pl.when(inert | blocked).then(old_l)
        .when(cap_hit).then(pl.max_horizontal(old_l, (cap / 100).floor() * 100))
        .when(floor_hit).then(floor)
        .otherwise(pl.col("proposed_limit"))
    )
    raised = (pl.col("proposed_apr") > old_a) & ~inert
    apr_low = (pl.col("proposed_apr") < cfg.apr_floor) & (pl.col("proposed_apr") < old_a) & ~inert
    new_apr = (
        pl.when(inert | raised).then(old_a)
        .when(apr_low).then(pl.min_horizontal(old_a, pl.lit(cfg.apr_floor)))
        .otherwise(pl.col("proposed_apr"))
    )
    work = work.with_columns(new_limit.alias("new_limit"), new_apr.alias("new_apr"),
                             (control & (pa_ != "none")).alias("_g_control"),
                             *(c.alias(f"_g_{n}") for n, c in blocks),
                             cap_hit.alias("_g_cap"), floor_hit.alias("_g_floor"),
                             raised.alias("_g_raised"), apr_low.alias("_g_apr_floor"))
    nl, na = pl.col("new_limit"), pl.col("new_apr")
    action = (
        pl.when(inert).then(pl.lit("none"))
        .when(pa_ == "freeze").then(pl.lit("freeze"))
        .when(nl < old_l).then(pl.lit("decrease"))
        .when(nl > old_l).then(pl.lit("increase"))
        .when(pa_.is_in(["watch", "decrease"]) | w.is_in(["watch", "decrease"])).then(pl.lit("watch"))
        .when(na < old_a).then(pl.lit("price_discount"))
        .otherwise(pl.lit("none"))
    ).cast(_ACTION_DTYPE)
    work = work.with_columns(action.alias("action"))
    act = pl.col("action")
    notice = act.is_in(["decrease", "freeze"]) & (pl.col("dpd") == 0)
    guard = _joined([
        ("invalid_input", invalid),
        ("written_off", wo & (pa_ != "none")),
        ("control_group", pl.col("_g_control")),
        *((n, pl.col(f"_g_{n}")) for n, _ in blocks),
        ("affordability_cap", pl.col("_g_cap")),
        ("decrease_floor_balance", pl.col("_g_floor")),
        ("price_never_raised", pl.col("_g_raised")),
        ("apr_floor", pl.col("_g_apr_floor")),
        ("adverse_action_notice", notice),
    ])
    # Expected loss: PD from the behaviour score, EAD = balance + ccf x undrawn.
    log_odds = math.log(cfg.base_odds) + (pl.col("behaviour_score") - cfg.base_score) / cfg.pdo * math.log(2)
    pd_ = (1.0 / (1.0 + log_odds.exp())).fill_null(0.0)
    b0 = bal.clip(lower_bound=0.0)

    def ead(limit: pl.Expr) -> pl.Expr:
        return b0 + cfg.ccf * (limit - b0).clip(lower_bound=0.0)

    actions = work.select(
        "account_id", "customer_id", "segment", "strategy_segment", "action", "proposed_action",
        old_l.alias("old_limit"), nl, (nl - old_l).alias("limit_change"),
        old_a.alias("old_apr"), na, "proposed_limit", "proposed_apr", "behaviour_score",
        pd_.alias("pd"),
        (pd_ * cfg.lgd * (ead(nl) - ead(old_l))).alias("el_change"),
        pl.col("reasons"), guard.alias("guard"), pl.col("control") & ~invalid & ~pl.col("_wo"),
        notice.alias("notice"), "dpd", pl.col("error"),
        pl.lit(as_of).alias("review_date"),
        pl.lit(strategy.strategy_id).alias("strategy_id"),
        pl.lit(str(strategy.version)).alias("strategy_version"),
    ).cast(ACTION_SCHEMA).collect()
    due = as_of + timedelta(days=cfg.notice_days)
    notices = actions.filter(pl.col("notice")).select(
        pl.concat_str(pl.lit(f"AAN-{as_of.isoformat()}-"), pl.col("account_id")).alias("notice_id"),
        "account_id", "customer_id", "segment", "action", "old_limit", "new_limit",
        pl.when(pl.col("reasons").list.len() > 0).then(pl.col("reasons"))
        .otherwise(pl.lit([DEFAULT_NOTICE_REASON], dtype=pl.List(pl.String))).alias("reasons"),
        pl.lit(as_of).alias("issued_on"), pl.lit(due).alias("due_by"),
        pl.lit("adverse_action_notice").alias("guard"),
    ).cast(NOTICE_SCHEMA)
    return actions, notices


def _empty_actions() -> pl.DataFrame:
    return pl.DataFrame(schema=ACTION_SCHEMA)


def _empty_notices() -> pl.DataFrame:
    return pl.DataFrame(schema=NOTICE_SCHEMA)


_ACTION_COLUMNS: dict[str, pl.DataType] = {
    "account_id": pl.String(), "customer_id": pl.String(), "segment": pl.String(),
    "strategy_segment": pl.String(), "action": _ACTION_DTYPE, "proposed_action": pl.String(),
    "old_limit": pl.Float64(), "new_limit": pl.Float64(), "limit_change": pl.Float64(),
    "old_apr": pl.Float64(), "new_apr": pl.Float64(), "proposed_limit": pl.Float64(),
    "proposed_apr": pl.Float64(), "behaviour_score": pl.Float64(), "pd": pl.Float64(),
    "el_change": pl.Float64(), "reasons": pl.List(pl.String()), "guard": pl.String(),
    "control": pl.Boolean(), "notice": pl.Boolean(), "dpd": pl.Int64(), "error": pl.String(),
    "review_date": pl.Date(), "strategy_id": pl.String(), "strategy_version": pl.String(),
}
_NOTICE_COLUMNS: dict[str, pl.DataType] = {
    "notice_id": pl.String(), "account_id": pl.String(), "customer_id": pl.String(),
    "segment": pl.String(), "action": _ACTION_DTYPE, "old_limit": pl.Float64(),
    "new_limit": pl.Float64(), "reasons": pl.List(pl.String()), "issued_on": pl.Date(),
    "due_by": pl.Date(), "guard": pl.String(),
}
ACTION_SCHEMA: Final = pl.Schema(_ACTION_COLUMNS)
NOTICE_SCHEMA: Final = pl.Schema(_NOTICE_COLUMNS)


# --------------------------------------------------------------------------- summary


def _partial_summary(actions: pl.DataFrame) -> pl.DataFrame:
    ch = pl.col("limit_change")
    return actions.group_by("strategy_segment", "action", "control").agg(
        pl.len().cast(pl.Int64).alias("accounts"),
        ch.clip(lower_bound=0.0).sum().alias("exposure_added"),
        (-ch.clip(upper_bound=0.0)).sum().alias("exposure_removed"),
        pl.col("el_change").sum().alias("el_change"),
        pl.col("notice").sum().cast(pl.Int64).alias("notices"),
        pl.col("guard").is_not_null().sum().cast(pl.Int64).alias("guarded"),
    )


def summarise(actions: pl.DataFrame) -> pl.DataFrame:
    """Counts, exposure added and removed, expected-loss change and notices by segment,
    action and control flag (the strategy's segment; ``control`` rows are the hold-out)."""
    return _combine([_partial_summary(actions)])


def _combine(parts: list[pl.DataFrame]) -> pl.DataFrame:
    if not parts:
        parts = [_partial_summary(_empty_actions())]
    return (
        pl.concat(parts)
        .group_by("strategy_segment", "action", "control")
        .agg(pl.col("accounts", "exposure_added", "exposure_removed", "el_change", "notices",
                    "guarded").sum())
        .rename({"strategy_segment": "segment"})
        .with_columns(pl.col("exposure_added", "exposure_removed", "el_change").round(2),
                      pl.col("action").cast(pl.String))
        .sort("segment", "control", "action")
    )


# --------------------------------------------------------------------------- whole book


@dataclass(frozen=True, slots=True)
class ReviewResult:
    """An in-memory review: actions, notices and the summary."""

    actions: pl.DataFrame
    notices: pl.DataFrame
    summary: pl.DataFrame


@dataclass(frozen=True, slots=True)
class ReviewRun:
    """A streamed review written to files (see :func:`review_to_files`).

    ``seconds`` is the wall time of the whole run (reading, deciding, writing).
    """

    accounts: int
    notices: int
    summary: pl.DataFrame
    seconds: float
    files: dict[str, Path] = field(default_factory=dict)

    @property
    def accounts_per_second(self) -> float:
        """Accounts reviewed per second of wall time."""
        return self.accounts / self.seconds if self.seconds > 0 else 0.0


Source = pl.DataFrame | pl.LazyFrame | str | Path


def _scan(source: Source) -> pl.LazyFrame:
    if isinstance(source, pl.DataFrame):
        return source.lazy()
    if isinstance(source, pl.LazyFrame):
        return source
    return pl.scan_parquet(source)


def _chunks(source: Source, columns: list[str], chunk_size: int) -> tuple[int, Iterator[pl.DataFrame]]:
    """The number of accounts and an iterator over chunks of them (bounded memory)."""
    lf = _scan(source)
    names = set(lf.collect_schema().names())
    present = [c for c in columns if c in names]
    total = int(lf.select(pl.len()).collect().item())
    lf = lf.select(present)

    def gen() -> Iterator[pl.DataFrame]:
        for start in range(0, total, chunk_size):
            yield lf.slice(start, chunk_size).collect()

    return total, gen()


def review(strategy: CompiledStrategy, accounts: Source, *, as_of: date,
           config: ReviewConfig | None = None, progress: Progress | None = None) -> ReviewResult:
    """Review a book held in memory (or small enough to be): actions, notices, summary."""
    cfg = config or ReviewConfig()
    total, chunks = _chunks(accounts, _book_columns(strategy, cfg), cfg.chunk_size)
    acts, notes, done = [], [], 0
    for chunk in chunks:
        a, n = review_chunk(strategy, chunk, as_of=as_of, config=cfg)
        acts.append(a)
        notes.append(n)
        done += chunk.height
        if progress is not None:
            progress("review", done, total)
    actions = pl.concat(acts) if acts else _empty_actions()
    notices = pl.concat(notes) if notes else _empty_notices()
    return ReviewResult(actions, notices, summarise(actions))


def review_to_files(strategy: CompiledStrategy, accounts: Source, *, as_of: date, out: Path,
                    notices_out: Path | None = None, summary_out: Path | None = None,
                    config: ReviewConfig | None = None,
                    progress: Progress | None = None) -> ReviewRun:
    """Stream the book chunk by chunk; write actions, notices and the summary.

    Memory holds one chunk (``config.chunk_size`` accounts) at a time. ``notices_out``
    defaults to ``notices.parquet`` next to ``out``; ``summary_out`` (a stem: ``.csv`` and
    ``.json`` are written) to ``summary`` next to ``out``.
    """
    cfg = config or ReviewConfig()
    t0 = time.perf_counter()
    out = Path(out)
    out.parent.mkdir(parents=True, exist_ok=True)
    notices_out = Path(notices_out) if notices_out is not None else out.parent / "notices.parquet"
    stem = Path(summary_out) if summary_out is not None else out.parent / "summary"
    total, chunks = _chunks(accounts, _book_columns(strategy, cfg), cfg.chunk_size)
    writers: dict[str, pq.ParquetWriter] = {}
    parts: list[pl.DataFrame] = []
    done = n_notices = 0
    if progress is not None:
        progress("review", 0, total)
    # One background thread writes chunk k while chunk k + 1 is reviewed (Parquet encoding
    # and the engine's NumPy stages release the GIL); at most two chunks are in memory.
    pending: Future[None] | None = None

    def write_both(actions: pl.DataFrame, notices: pl.DataFrame) -> None:
        _write(writers, "actions", out, actions)
        _write(writers, "notices", notices_out, notices)

    try:
        with ThreadPoolExecutor(max_workers=1, thread_name_prefix="review-writer") as pool:
            for chunk in chunks:
                actions, notices = review_chunk(strategy, chunk, as_of=as_of, config=cfg)
                parts.append(_partial_summary(actions))
                if pending is not None:
                    pending.result()
                pending = pool.submit(write_both, actions, notices)
                done += chunk.height
                n_notices += notices.height
                if progress is not None:
                    progress("review", done, total)
            if pending is not None:
                pending.result()
        if "actions" not in writers:
            _write(writers, "actions", out, _empty_actions())
        if "notices" not in writers:
            _write(writers, "notices", notices_out, _empty_notices())
    finally:
        for w in writers.values():
            w.close()
    summary = _combine(parts)
    csv_path, json_path = stem.with_suffix(".csv"), stem.with_suffix(".json")
    summary.write_csv(csv_path)
    summary.write_json(json_path)
    return ReviewRun(done, n_notices, summary, time.perf_counter() - t0,
                     {"actions": out, "notices": notices_out, "summary_csv": csv_path,
                      "summary_json": json_path})


def _write(writers: dict[str, pq.ParquetWriter], key: str, path: Path, frame: pl.DataFrame) -> None:
    table = frame.to_arrow(compat_level=pl.CompatLevel.oldest())
    w = writers.get(key)
    if w is None:
        w = writers[key] = pq.ParquetWriter(path, table.schema, compression="lz4")
    elif table.schema != w.schema:
        table = table.cast(w.schema)
    w.write_table(table)


# --------------------------------------------------------------------------- history


def behaviour_features(history: pl.DataFrame | pl.LazyFrame, *, as_of: date) -> pl.DataFrame:
    """Behaviour features per account from the monthly history (months before ``as_of``).

    Columns: ``account_id``, ``months_on_book``, ``credit_limit``, ``balance``,
    ``utilisation``, ``dpd``, ``max_dpd_3m``, ``max_dpd_6m``, ``max_dpd_12m``,
    ``payments_on_time_12m`` (months with a due amount paid in full), ``balance_trend_3m``
    (relative change over three months; 0 when younger) and ``utilisation_jump_1m``, as the
    book's ``accounts`` table defines them.
    """
    lf = history.lazy() if isinstance(history, pl.DataFrame) else history
    first = date(as_of.year, as_of.month, 1)
    lf = lf.filter(pl.col("month") < first)
    idx = (pl.lit(first.year * 12 + first.month - 1)
           - (pl.col("month").dt.year().cast(pl.Int32) * 12 + pl.col("month").dt.month().cast(pl.Int32) - 1))
    lf = lf.with_columns(idx.alias("_ago"))  # 1 = the last month before as_of
    util = pl.col("balance") / pl.col("credit_limit").clip(lower_bound=1.0)
    last = lf.sort("account_id", "month").group_by("account_id", maintain_order=True).agg(
        pl.col("months_on_book").last().cast(pl.Int64),
        pl.col("credit_limit").last(),
        pl.col("balance").last(),
        util.last().round(4).alias("utilisation"),
        pl.col("dpd").last().cast(pl.Int64),
        *(pl.col("dpd").filter(pl.col("_ago") <= m).max().fill_null(0).cast(pl.Int64)
          .alias(f"max_dpd_{m}m") for m in (3, 6, 12)),
        ((pl.col("due_amount") > 0) & (pl.col("paid_amount") >= pl.col("due_amount") - 0.005)
         & (pl.col("_ago") <= 12)).sum().cast(pl.Int64).alias("payments_on_time_12m"),
        pl.col("balance").filter(pl.col("_ago") == 4).first().alias("_b3"),
        util.last().alias("_ul"),
        util.filter(pl.col("_ago") == 2).first().alias("_u1"),
    )
    util_last = pl.col("_ul")
    return last.with_columns(
        ((pl.col("balance") - pl.col("_b3")) / pl.col("_b3").clip(lower_bound=1.0))
        .round(4).fill_null(0.0).alias("balance_trend_3m"),
        (util_last - pl.col("_u1")).round(4).fill_null(0.0).alias("utilisation_jump_1m"),
    ).drop("_b3", "_u1", "_ul").collect()
