"""The lifecycle jobs on Spark: the account review, the collections work list and the back-test.

Each job sends the book's partitions to the executors as Arrow record batches
(``mapInArrow``) and runs the local job's own per-chunk code on them: the strategy travels as
its pack and is compiled once per executor process, as for :func:`fengkong.spark.evaluate_spark`.
What needs the whole book is done from mergeable partials or a Spark aggregation; the
driver receives small tables only, named in each function's docstring.

============================  ===================================  =================================
job                           per account, on the executors        across the book
============================  ===================================  =================================
review                        :func:`review_chunk` (decision,      the summary: per-partition
                              guards, control group, notices)      partials merged on the driver
collections plan              :func:`plan_worklist` (score,        ``rank`` and ``rank_in_channel``:
                              treatment, escalation, contact       a Spark window over account id,
                              guard)                               priority and channel
simulate                      both strategies' decisions, PD,      the PD calibration (fit rows to
                              profit, swap                         the driver), metrics and swap
                                                                   matrix (Spark aggregations)
============================  ===================================  =================================

The results equal the local job's, row for row, with two documented exceptions: collections
ranks accounts of equal priority by ``account_id`` (the local job keeps their table order,
the same on a book ordered by account id), and the back-test's ``row`` numbers records in the
order Spark reads them.
"""

from __future__ import annotations

import datetime as dt
import io
from collections.abc import Callable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np
import polars as pl
import pyarrow as pa

from fengkong.compile import CompiledStrategy, compile_strategy
from fengkong.errors import DataError
from fengkong.lifecycle._collections import (
    DEFAULT_SCHEDULE,
    DEFAULT_TREATMENTS,
    Treatment,
    plan_worklist,
    with_buckets,
)
from fengkong.lifecycle._contact import ContactPolicy, _as_utc
from fengkong.lifecycle._review import (
    NOTICE_SCHEMA,
    ReviewConfig,
    _book_columns,
    _combine,
    _partial_summary,
    review_chunk,
)
from fengkong.lifecycle._simulate import (
    _SIDES,
    DECISIONS,
    Calibration,
    Economics,
    Simulation,
    _add_profit,
    _calibrate,
    _decide,
    _json_rows,
    _nan_to_null,
    score_slot,
)
from fengkong.spark import _compiled, ship
from fengkong.spark._arrow import Batches, map_frames, spark_to_arrow
from fengkong.spark._arrow import Frames as Chunks
from fengkong.spark._arrow import ident as _q

if TYPE_CHECKING:
    from pyspark.sql import Column, DataFrame

__all__ = [
    "SparkReview",
    "SparkSimulation",
    "SparkWorkList",
    "collections_plan_spark",
    "review_spark",
    "simulate_spark",
]

_NOTICE = "_notice."   # prefix of the notice columns riding on the reviewed rows
_BLOCKED = "_blocked."  # prefix of the blocked-contact columns riding on the work list


# --------------------------------------------------------------------------------------------
# Shared plumbing
# --------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class _Shipped:
    """A strategy as the executors get it: its pack, entry file and digest."""

    compiled: CompiledStrategy
    files: dict[str, str]
    entry: str

    @classmethod
    def of(cls, path: str | Path) -> _Shipped:
        """The strategy's folder, and every file it reads from outside it (a scorecard
        shared with another strategy, ``../common/card.yaml``), under their common root."""
        files, entry = ship(path)
        return cls(compile_strategy(Path(path).resolve()), files, entry)

    def on_executor(self) -> CompiledStrategy:
        return _compiled(self.compiled.digest, self.entry, self.files)

    def __getstate__(self) -> dict[str, Any]:  # the compiled plan stays on the driver
        return {"files": self.files, "entry": self.entry, "digest": self.compiled.digest}

    def __setstate__(self, state: dict[str, Any]) -> None:
        compiled = _compiled(state["digest"], state["entry"], state["files"])
        object.__setattr__(self, "compiled", compiled)
        object.__setattr__(self, "files", state["files"])
        object.__setattr__(self, "entry", state["entry"])


def _arrow_type(dtype: Any) -> pa.DataType:
    """The Arrow type a Polars column travels as (Spark has no enum, large or view types)."""
    if isinstance(dtype, type):  # a list's inner type may be the class itself
        dtype = dtype()
    if isinstance(dtype, pl.Enum | pl.Categorical | pl.String):
        return pa.string()
    if isinstance(dtype, pl.List):
        return pa.list_(_arrow_type(dtype.inner))
    if isinstance(dtype, pl.Time):
        return pa.string()
    kind: pa.DataType = pl.Series(dtype=dtype).to_arrow().type
    return kind


def _arrow_schema(schema: Mapping[str, pl.DataType]) -> pa.Schema:
    return pa.schema([pa.field(name, _arrow_type(dtype)) for name, dtype in schema.items()])


def _polars_schema(spark_schema: Any) -> pl.Schema:
    """The Polars schema of a Spark schema (as its Arrow batches arrive on an executor)."""
    fields = [pa.field(f.name, spark_to_arrow(f.dataType)) for f in spark_schema.fields]
    frame = pl.from_arrow(pa.schema(fields).empty_table())
    assert isinstance(frame, pl.DataFrame)
    return frame.schema


def _null_row(schema: pl.Schema) -> pl.DataFrame:
    """One row of nulls in ``schema``: the driver runs the local job on it to check columns."""
    return pl.DataFrame(schema=schema).clear(1)


def _batches(frame: pl.DataFrame, schema: pa.Schema) -> Iterator[pa.RecordBatch]:
    casts = [pl.col(n).cast(pl.String) for n, t in frame.schema.items()
             if isinstance(t, pl.Enum | pl.Categorical | pl.Time)]
    table = frame.with_columns(casts).select(schema.names).to_arrow()
    yield from table.cast(schema).to_batches()


def _attach(main: pl.DataFrame, mask: pl.Series, extra: pl.DataFrame, prefix: str
            ) -> pl.DataFrame:
    """``main`` with ``extra``'s columns (prefixed) on the rows where ``mask`` holds, in order.

    ``extra`` has one row per true ``mask`` row of ``main`` (notices of the reviewed accounts,
    blocked contacts of the work list), so both travel in one Spark table.
    """
    at = pl.Series("_at", mask.fill_null(value=False).arg_true(), dtype=pl.UInt32)
    side = extra.select(pl.all().name.prefix(prefix)).with_columns(at)
    return (main.with_row_index("_at").join(side, on="_at", how="left", maintain_order="left")
            .drop("_at"))


def _map(frame: DataFrame, job: Callable[[Chunks], Batches], schema: pa.Schema) -> DataFrame:
    """``frame.mapInArrow`` over all its columns: ``job`` gets each partition as Polars tables."""
    return map_frames(frame, frame.columns, job, schema)


def _persist(frame: DataFrame) -> DataFrame:
    from pyspark import StorageLevel

    return frame.persist(StorageLevel.MEMORY_AND_DISK)


def _to_polars(frame: DataFrame) -> pl.DataFrame:
    out = pl.from_arrow(frame.toArrow())
    assert isinstance(out, pl.DataFrame)
    return out


def _ipc(frame: pl.DataFrame | None) -> bytes | None:
    if frame is None:
        return None
    buffer = io.BytesIO()
    frame.write_ipc(buffer)
    return buffer.getvalue()


def _from_ipc(data: bytes | None) -> pl.DataFrame | None:
    return None if data is None else pl.read_ipc(io.BytesIO(data))


# --------------------------------------------------------------------------------------------
# review (account management)
# --------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class SparkReview:
    """The review of a Spark book: what :func:`fengkong.lifecycle.review` gives locally.

    Attributes
    ----------
    actions
        One row per account, the columns of the local actions (``action`` is text: Spark
        has no enum type).
    notices
        The adverse-action notices, as locally.
    summary
        The summary by segment, action and control flag (a small Polars table).
    """

    actions: DataFrame
    notices: DataFrame
    summary: pl.DataFrame
    _cached: DataFrame = field(repr=False)

    def __iter__(self) -> Iterator[Any]:
        return iter((self.actions, self.notices, self.summary))

    def unpersist(self) -> None:
        """Free the cached reviewed rows once actions and notices are written."""
        self._cached.unpersist()


def review_spark(strategy: str | Path, accounts: DataFrame, *, as_of: dt.date,
                 config: ReviewConfig | None = None) -> SparkReview:
    """Review every account of a Spark DataFrame, as :func:`fengkong.lifecycle.review` does.

    Each batch of each partition is reviewed by :func:`~fengkong.lifecycle.review_chunk`,
    the local job's own chunk function: the decision, every guard, the control group and
    the notices are per account, so the rows equal a local run's. The reviewed rows are
    cached (memory and disk) and the summary is merged on the driver from per-partition
    partial summaries (a few rows per segment and action), so the book is read once and
    never collected.

    Parameters
    ----------
    strategy
        The ``stage: account_management`` strategy file (its folder goes to the executors).
    accounts
        The book: one row per account with the columns the local review reads.
    as_of
        The review date.
    config
        The job's settings (``chunk_size`` does not apply: Spark's Arrow batches are the
        chunks).

    Returns
    -------
    SparkReview
        Actions and notices (Spark DataFrames) and the summary; unpacks as
        ``actions, notices, summary``. Call :meth:`SparkReview.unpersist` when done.

    Raises
    ------
    ValueError
        If the book lacks a column the job or the strategy reads (checked on the driver,
        with the local job's message).
    """
    cfg = config or ReviewConfig()
    shipped = _Shipped.of(strategy)
    columns = [c for c in _book_columns(shipped.compiled, cfg) if c in accounts.columns]
    book = accounts.select(*[_q(c) for c in columns])
    probe = _null_row(_polars_schema(book.schema))
    actions, _ = review_chunk(shipped.compiled, probe, as_of=as_of, config=cfg)
    wide_schema = _arrow_schema({**actions.schema,
                                 **{_NOTICE + n: t for n, t in NOTICE_SCHEMA.items()}})

    def run(chunks: Chunks) -> Batches:
        compiled = shipped.on_executor()
        for chunk in chunks:
            a, n = review_chunk(compiled, chunk, as_of=as_of, config=cfg)
            if a.height:
                yield from _batches(_attach(a, a["notice"], n, _NOTICE), wide_schema)

    reviewed = _persist(_map(book, run, wide_schema))
    action_cols = [_q(c) for c in actions.columns]
    actions_df = reviewed.select(*action_cols)
    summary_schema = _arrow_schema(_partial_summary(actions).schema)

    def partial(chunks: Chunks) -> Batches:
        for chunk in chunks:
            yield from _batches(_partial_summary(chunk), summary_schema)

    parts = _to_polars(_map(actions_df, partial, summary_schema))
    summary = _combine([parts] if parts.height else [])
    notices_df = reviewed.filter("notice").select(
        *[reviewed[_q(_NOTICE + c)].alias(c) for c in NOTICE_SCHEMA])
    return SparkReview(actions_df, notices_df, summary, reviewed)


# --------------------------------------------------------------------------------------------
# collections plan
# --------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class SparkWorkList:
    """The collections work list of a Spark book.

    Attributes
    ----------
    worklist
        One row per delinquent account in rank order, the local work list's columns.
    blocked
        Every blocked contact with the rule that blocked it, as locally (``local_time`` is
        text ``HH:MM:SS``: Spark has no time-of-day type).
    """

    worklist: DataFrame
    blocked: DataFrame
    date: dt.date
    strategy_id: str
    strategy_version: str
    strategy_digest: str
    _cached: DataFrame = field(repr=False)

    def __iter__(self) -> Iterator[Any]:
        return iter((self.worklist, self.blocked))

    def unpersist(self) -> None:
        """Free the cached planned rows once the work list is written."""
        self._cached.unpersist()


def _delinquent(accounts: pl.DataFrame) -> bool:
    """Whether the work list plans any of the accounts (bucketed as :func:`plan_worklist` does)."""
    acc = accounts
    if "bucket" not in acc.columns or "written_off" in acc.columns:
        acc = with_buckets(acc)
    return bool(acc.select(~pl.col("bucket").cast(pl.String).is_in(["current", "write-off"])
                           ).to_series().any())


def _call_attempts(contacts: pl.DataFrame, date: dt.date, window_days: int) -> pl.DataFrame:
    """The past call attempts that can count against a contact planned on ``date``.

    A contact planned on ``date`` is scheduled within a day and a half of its midnight UTC
    (any time zone), and only call attempts in the ``window_days`` before it count, so
    attempts outside ``(date - window - 2 days, date + 2 days]`` never matter.
    """
    calls = _as_utc(contacts.filter(pl.col("channel") == "call")
                    .select(pl.col("account_id").cast(pl.String), "channel", "attempted_at"),
                    "attempted_at")
    midnight = dt.datetime(date.year, date.month, date.day, tzinfo=dt.UTC)
    lo = midnight - dt.timedelta(days=window_days + 2)
    hi = midnight + dt.timedelta(days=2)
    return calls.filter(pl.col("attempted_at") > lo, pl.col("attempted_at") <= hi)


def collections_plan_spark(strategy: str | Path, accounts: DataFrame, *, date: dt.date,
                           contacts: pl.DataFrame | None = None,
                           promises: pl.DataFrame | None = None,
                           policy: ContactPolicy | None = None,
                           treatments: Sequence[Treatment] = DEFAULT_TREATMENTS,
                           self_cure_threshold: float = 0.6, score_slot: str = "cure",
                           treatment_slot: str = "treatment",
                           schedule: Mapping[str, dt.time] = DEFAULT_SCHEDULE) -> SparkWorkList:
    """The day's collections work list of a Spark book, as
    :func:`fengkong.lifecycle.plan_worklist` plans it.

    Every batch of every partition runs through :func:`~fengkong.lifecycle.plan_worklist`
    itself: buckets, the strategy's score and treatment, escalation on broken promises,
    digital-only for self-curers, expected recovery, priority and the contact-policy guard
    are all per account (one planned contact per account; the frequency cap counts that
    account's past call attempts). Only the ranking is global: ``rank`` and
    ``rank_in_channel`` come from a Spark window over three narrow columns (account id,
    priority, channel), joined back on ``account_id``, which must therefore be unique (it
    is the book's key). Accounts of equal priority (those without a treatment, say) rank by
    ``account_id``; the local job keeps their table order, which is the same on a book
    ordered by account id.

    Parameters
    ----------
    strategy
        The ``stage: collections`` strategy file.
    accounts
        The book's accounts (Spark), as for the local job.
    date
        The day planned.
    contacts
        Past contact attempts (a Polars table). Only call attempts near ``date`` can count
        against the frequency cap; those travel to the executors with the job.
    promises
        Promise outcomes (a Polars table from :func:`~fengkong.lifecycle.evaluate_promises`),
        sent to the executors with the job (``account_id``, ``status``, ``resolved_on``).
    policy, treatments, self_cure_threshold, score_slot, treatment_slot, schedule
        As for :func:`~fengkong.lifecycle.plan_worklist`.

    Returns
    -------
    SparkWorkList
        Work list (in rank order) and blocked contacts, as Spark DataFrames; unpacks as
        ``worklist, blocked``. Call :meth:`SparkWorkList.unpersist` when done.

    Raises
    ------
    ValueError
        If the strategy lacks the score or treatment slot, or the book a column the job
        needs (checked on the driver with the local job's message).
    """
    from pyspark.sql import Window
    from pyspark.sql import functions as F

    policy = policy or ContactPolicy()
    shipped = _Shipped.of(strategy)
    past = None if contacts is None else _call_attempts(contacts, date, policy.window_days)
    outcomes = None if promises is None else promises.select("account_id", "status",
                                                             "resolved_on")
    past_ipc, outcomes_ipc = _ipc(past), _ipc(outcomes)
    kwargs: dict[str, Any] = {"date": date, "policy": policy, "treatments": tuple(treatments),
                              "self_cure_threshold": self_cure_threshold,
                              "score_slot": score_slot, "treatment_slot": treatment_slot,
                              "schedule": dict(schedule)}

    def plan(compiled: CompiledStrategy, table: pl.DataFrame, side_tables: tuple[
            pl.DataFrame | None, pl.DataFrame | None]) -> pl.DataFrame:
        result = plan_worklist(compiled, table, contacts=side_tables[0],
                               promises=side_tables[1], **kwargs)
        wl = result.worklist.drop("rank", "rank_in_channel")
        return _attach(wl, wl["contact_status"] == "blocked", result.blocked, _BLOCKED)

    # The driver plans a few delinquent accounts: the output schema, and the local job's
    # errors (a missing column, a missing slot) before any executor runs.
    late = accounts
    if "dpd" in accounts.columns:
        late = late.filter(F.coalesce(F.col("dpd"), F.lit(0)) > 0)
    if "written_off" in accounts.columns:
        late = late.filter(~F.coalesce(F.col("written_off"), F.lit(False)))
    probe = _to_polars(late.limit(200))
    if not probe.height:
        probe = _null_row(_polars_schema(accounts.schema))
    wide = plan(shipped.compiled, probe, (past, outcomes))
    wide_schema = _arrow_schema(wide.schema)

    def run(chunks: Chunks) -> Batches:
        # The partition is planned as one table; one without delinquent accounts has no
        # work list rows (the local job plans no contact for it either).
        parts = list(chunks)
        if not parts:
            return
        frame = pl.concat(parts)
        if not _delinquent(frame):
            return
        compiled = shipped.on_executor()
        yield from _batches(plan(compiled, frame, (_from_ipc(past_ipc),
                                                   _from_ipc(outcomes_ipc))), wide_schema)

    planned = _persist(_map(accounts, run, wide_schema))
    key = [F.col("priority").desc_nulls_last(), F.col("account_id").asc_nulls_last()]
    ranks = planned.select(
        F.col("account_id").alias("_id"),
        F.row_number().over(Window.orderBy(*key)).cast("long").alias("rank"),
        F.row_number().over(Window.partitionBy("channel_planned").orderBy(*key))
        .cast("long").alias("rank_in_channel"))
    columns = [c for c in wide.columns if not c.startswith(_BLOCKED)]
    worklist = (planned.join(ranks, planned["account_id"].eqNullSafe(ranks["_id"]))
                .select("rank", "rank_in_channel", *[_q(c) for c in columns])
                .orderBy("rank"))
    blocked_cols = [c for c in wide.columns if c.startswith(_BLOCKED)]
    blocked = planned.filter(F.col(_q(_BLOCKED + "account_id")).isNotNull()
                             & (F.col("contact_status") == "blocked")).select(
        *[F.col(_q(c)).alias(c.removeprefix(_BLOCKED)) for c in blocked_cols])
    c = shipped.compiled
    return SparkWorkList(worklist, blocked, date, c.strategy_id, c.version, c.digest, planned)


# --------------------------------------------------------------------------------------------
# simulate (back-test)
# --------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class SparkSimulation:
    """A back-test on Spark.

    Attributes
    ----------
    decisions
        One row per history record (Spark), the local :attr:`Simulation.decisions` columns.
    simulation
        The summaries (overall, by segment, swap matrix, calibration) as a
        :class:`~fengkong.lifecycle.Simulation`; its ``decisions`` holds no data, only the
        record count the report prints (the records are in :attr:`decisions`).
    """

    decisions: DataFrame
    simulation: Simulation
    _cached: DataFrame = field(repr=False)

    def unpersist(self) -> None:
        """Free the cached decisions once they are written."""
        self._cached.unpersist()


def _outcome_check(raw: pl.Series) -> tuple[pl.Series, pl.Series]:
    """The outcome as 0/1/null (Int8) and whether each value is invalid, as the local job
    reads it (text is stripped, an empty text is unknown; numbers must be exactly 0 or 1)."""
    if raw.dtype == pl.String:
        raw = raw.str.strip_chars().replace("", None)
    y = raw.cast(pl.Int8, strict=False)
    bad = raw.is_not_null() & (y.is_null() | ~y.is_in([0, 1]).fill_null(value=False))
    if raw.dtype.is_numeric():
        bad = bad | (raw.is_not_null() & ~raw.cast(pl.Float64).is_in([0.0, 1.0])
                     .fill_null(value=False))
    return y, bad


def _spark_metrics(outcome: str) -> list[Column]:
    """The local back-test's metrics (``_metric_exprs``) as one Spark aggregation."""
    from pyspark.sql import functions as F

    bad = F.col(_q(outcome)).cast("double")
    known = F.col(_q(outcome)).isNotNull()
    pd = F.col("pd")
    a = F.col("champion_decision") == "approve"
    b = F.col("challenger_decision") == "approve"
    both, swap_in, swap_out = a & b, b & ~a, a & ~b

    def mean(x: Column, mask: Column) -> Column:
        return F.avg(F.when(mask, x))

    def rate(mask: Column) -> Column:
        return mean(bad, mask & known)

    def count(mask: Column) -> Column:
        return F.coalesce(F.sum(mask.cast("long")), F.lit(0).cast("long"))

    def total(x: Column) -> Column:
        return F.coalesce(F.sum(x), F.lit(0.0))

    def share(mask: Column) -> Column:
        return F.avg(mask.cast("double"))

    lim_a, lim_b = F.col("champion_limit"), F.col("challenger_limit")
    apr_a, apr_b = F.col("champion_apr"), F.col("challenger_apr")
    profit_a, profit_b = total(F.col("champion_profit")), total(F.col("challenger_profit"))
    columns = [
        F.count(F.lit(1)).cast("long").alias("records"),
        count(known).alias("known_outcomes"),
        share(a).alias("champion_approval_rate"),
        share(b).alias("challenger_approval_rate"),
        share(F.col("champion_decision") == "refer").alias("champion_refer_rate"),
        share(F.col("challenger_decision") == "refer").alias("challenger_refer_rate"),
        count(a).alias("champion_approved"),
        count(b).alias("challenger_approved"),
        rate(a).alias("champion_bad_rate"),
        rate(b).alias("challenger_bad_rate"),
        mean(pd, a).alias("champion_expected_bad_rate"),
        mean(pd, b).alias("challenger_expected_bad_rate"),
        count(swap_in).alias("swap_in"),
        count(swap_in & known).alias("swap_in_known"),
        rate(swap_in).alias("swap_in_bad_rate"),
        mean(pd, swap_in).alias("swap_in_expected_bad_rate"),
        count(swap_out).alias("swap_out"),
        count(swap_out & known).alias("swap_out_known"),
        rate(swap_out).alias("swap_out_bad_rate"),
        mean(pd, swap_out).alias("swap_out_expected_bad_rate"),
        count(both).alias("both_approve"),
        mean(lim_a, both).alias("both_champion_mean_limit"),
        mean(lim_b, both).alias("both_challenger_mean_limit"),
        count(both & (lim_b > lim_a)).alias("limit_increased"),
        count(both & (lim_b < lim_a)).alias("limit_decreased"),
        mean(apr_a, both).alias("both_champion_mean_apr"),
        mean(apr_b, both).alias("both_challenger_mean_apr"),
        count(both & (apr_b > apr_a)).alias("apr_increased"),
        count(both & (apr_b < apr_a)).alias("apr_decreased"),
        total(F.when(a, lim_a)).alias("champion_exposure"),
        total(F.when(b, lim_b)).alias("challenger_exposure"),
        profit_a.alias("champion_expected_profit"),
        profit_b.alias("challenger_expected_profit"),
        (profit_b - profit_a).alias("expected_profit_change"),
        total(F.col("champion_profit_observed")).alias("champion_observed_profit"),
        total(F.col("challenger_profit_observed")).alias("challenger_observed_profit"),
    ]
    return columns


def _swap(decisions: DataFrame, outcome: str, records: int) -> pl.DataFrame:
    """The swap matrix (as the local ``_swap_matrix``) from a Spark aggregation."""
    from pyspark.sql import functions as F

    known = F.col(_q(outcome)).isNotNull()
    counts = _to_polars(decisions.groupBy("champion_decision", "challenger_decision").agg(
        F.count(F.lit(1)).cast("long").alias("records"),
        F.sum(known.cast("long")).alias("known_outcomes"),
        F.avg(F.when(known, F.col(_q(outcome)).cast("double"))).alias("bad_rate"),
        F.avg("pd").alias("expected_bad_rate")))
    grid = pl.DataFrame({"champion_decision": [a for a in DECISIONS for _ in DECISIONS],
                         "challenger_decision": [b for _ in DECISIONS for b in DECISIONS]})
    out = grid.join(counts, on=["champion_decision", "challenger_decision"], how="left",
                    maintain_order="left")
    out = out.with_columns(pl.col("records").fill_null(0), pl.col("known_outcomes").fill_null(0))
    out = out.filter((pl.col("records") > 0) | pl.col("champion_decision").is_in(DECISIONS[:3])
                     & pl.col("challenger_decision").is_in(DECISIONS[:3]))
    return out.with_columns((pl.col("records") / max(records, 1)).alias("share"))


def _sufficient(fit: pl.DataFrame, components: list[str], lo: float | None, hi: float | None,
                side: str, outcome: str) -> tuple[pl.DataFrame, np.ndarray[Any, Any]]:
    """A small table on which the local ``_calibrate`` fits exactly what it fits on the
    whole history: the fit rows (champion-approved, known outcome, finite score, in record
    order), then, outside the fit, one row per score component and the score's finite range
    (which decides between a score and a logit fit)."""
    score, comp = f"{side}_score", f"{side}_component"
    extra: list[tuple[float | None, str]] = [(None, c) for c in components]
    first = components[0] if components else "(none)"
    extra += [(v, first) for v in (lo, hi) if v is not None]
    rest = pl.DataFrame({score: [v for v, _ in extra], comp: [c for _, c in extra]},
                        schema={score: pl.Float64, comp: pl.String}).with_columns(
        pl.lit(None, dtype=pl.Int8).alias(outcome))
    table = pl.concat([fit.select(score, comp, outcome), rest.select(score, comp, outcome)])
    mask = np.zeros(table.height, dtype=bool)
    mask[:fit.height] = True
    return table, mask


def _pd(frame: pl.DataFrame, side: str, calibration: list[Calibration]) -> pl.Series:
    """``pd`` of each record from the fitted calibrations, as the local job computes it."""
    score = frame[f"{side}_score"].to_numpy(allow_copy=True).astype(np.float64)
    score = np.where(np.isfinite(score), score, np.nan)
    comp = frame[f"{side}_component"].fill_null("(none)")
    pd = np.full(frame.height, np.nan)
    for cal in calibration:
        member = (comp == cal.component).to_numpy()
        pd[member] = cal.pd(score[member])
    return pl.Series("pd", pd, nan_to_null=True)


def simulate_spark(champion: str | Path, challenger: str | Path, history: DataFrame, *,
                   outcome: str = "bad", segment_by: str | None = None,
                   id_column: str | None = None, amount_column: str | None = "loan.amount",
                   economics: Economics | None = None,
                   pd_from: str = "challenger",
                   score_slots: Mapping[str, str] | None = None,
                   progress: Callable[[str, int, int], None] | None = None
                   ) -> SparkSimulation:
    """Back-test a challenger against the champion over a Spark history, as
    :func:`fengkong.lifecycle.simulate` does.

    Per record, on the executors: both strategies' decisions, the outcome check, the
    segment, then (second pass) ``pd``, exposure, profit and swap. Across the history:

    - the score-to-PD calibration is one logistic fit over all champion-approved records
      with a known outcome: those records' ``row``, score, component and outcome (four
      narrow columns) come to the driver as Arrow, with the score's range and the list of
      components from Spark aggregations, and the local fit runs on them;
    - the metrics (overall and by segment) and the swap matrix are Spark aggregations.

    ``row`` numbers the records in the order Spark reads them (partition by partition),
    which need not be the file's order: carry an id column (``id_column``) to join on.

    Parameters
    ----------
    champion, challenger
        The two strategy files.
    history
        Historical applications with their outcome (Spark).
    outcome, segment_by, id_column, amount_column, economics, pd_from, score_slots, progress
        As for :func:`fengkong.lifecycle.simulate`.

    Returns
    -------
    SparkSimulation
        The per-record decisions (Spark, cached; call :meth:`SparkSimulation.unpersist`
        when done) and the summaries.

    Raises
    ------
    DataError
        As the local job: a missing column, an outcome other than 0/1/null, or nothing to
        calibrate on.
    """
    import time

    from pyspark import TaskContext
    from pyspark.sql import functions as F

    econ = economics or Economics()
    step = progress or (lambda _s, _d, _t: None)
    seconds: dict[str, float] = {}
    if pd_from not in _SIDES:
        msg = f"pd_from must be champion or challenger; got {pd_from!r}."
        raise ValueError(msg)
    present = history.columns
    if outcome not in present:
        msg = f"The history has no outcome column `{outcome}`."
        raise DataError(msg)
    if segment_by is not None and segment_by not in present:
        msg = f"The history has no column `{segment_by}` to segment by."
        raise DataError(msg)
    if id_column is None and "application_id" in present:
        id_column = "application_id"
    if id_column is not None and id_column not in present:
        msg = f"The history has no id column `{id_column}`."
        raise DataError(msg)
    kind = _polars_schema(history.select(_q(outcome)).schema)[outcome]
    if not (kind in (pl.String, pl.Boolean) or kind.is_numeric()):
        msg = f"The outcome column `{outcome}` must hold 0 (good), 1 (bad) or null (unknown)."
        raise DataError(msg)
    sides = (_Shipped.of(champion), _Shipped.of(challenger))
    slots = {side: score_slot(s.compiled, (score_slots or {}).get(side))
             for side, s in zip(_SIDES, sides, strict=True)}
    fields = {f.name for s in sides for f in s.compiled.plan.fields}
    amount = amount_column if amount_column is not None and amount_column in present else None
    wanted = [*fields, outcome, segment_by, id_column, amount]
    columns = [c for c in dict.fromkeys(w for w in wanted if w) if c in present]
    source = history.select(*[_q(c) for c in columns])

    def first_pass(compiled: tuple[CompiledStrategy, CompiledStrategy], table: pl.DataFrame,
                   part: int, start: int) -> pl.DataFrame:
        y, bad = _outcome_check(table[outcome])
        base: list[pl.Series] = [
            pl.Series("_part", [part] * table.height, dtype=pl.Int64),
            pl.Series("_pos", np.arange(start, start + table.height, dtype=np.int64))]
        if id_column is not None:
            base.append(table[id_column])
        frame = pl.DataFrame(base).with_columns(y.alias(outcome), bad.alias("_bad"))
        for side, strategy in zip(_SIDES, compiled, strict=True):
            frame = frame.hstack(_decide(strategy, table, side, slots[side],
                                         econ.default_term_months))
        frame = frame.with_columns(
            (table[amount].cast(pl.Float64) if amount else
             pl.Series([None] * table.height, dtype=pl.Float64)).alias("_amount"))
        seg = table[segment_by].cast(pl.String) if segment_by else frame["champion_segment"]
        return frame.with_columns(seg.fill_null("(none)").alias("segment"))

    step("deciding with both strategies", 0, 5)
    t0 = time.perf_counter()
    probe_table = _null_row(_polars_schema(source.schema))
    probe = first_pass((sides[0].compiled, sides[1].compiled), probe_table, 0, 0)
    first_schema = _arrow_schema(probe.schema)

    def decide(chunks: Chunks) -> Batches:
        compiled = (sides[0].on_executor(), sides[1].on_executor())
        context = TaskContext.get()
        part = context.partitionId() if context is not None else 0
        start = 0
        for chunk in chunks:
            frame = first_pass(compiled, chunk, part, start)
            start += chunk.height
            yield from _batches(frame, first_schema)

    decided = _persist(_map(source, decide, first_schema))
    score, comp = f"{pd_from}_score", f"{pd_from}_component"
    finite = F.col(score).isNotNull() & ~F.isnan(score) & (F.abs(score) != float("inf"))
    per_part = _to_polars(decided.groupBy("_part").agg(
        F.count(F.lit(1)).cast("long").alias("n"), F.sum(F.col("_bad").cast("long")).alias("bad"),
        F.min(F.when(finite, F.col(score))).alias("lo"),
        F.max(F.when(finite, F.col(score))).alias("hi"))).sort("_part")
    seconds["champion"] = seconds["challenger"] = (time.perf_counter() - t0) / 2
    if per_part.height and int(per_part["bad"].sum()):
        msg = f"The outcome column `{outcome}` must hold 0 (good), 1 (bad) or null (unknown)."
        raise DataError(msg)
    records = int(per_part["n"].sum()) if per_part.height else 0
    offsets = dict(zip(per_part["_part"].to_list(),
                       (per_part["n"].cum_sum() - per_part["n"]).to_list(), strict=True))

    step("calibrating the score", 2, 5)
    t0 = time.perf_counter()
    components = sorted(r[0] for r in decided.select(
        F.coalesce(F.col(comp), F.lit("(none)"))).distinct().collect())
    fit = _to_polars(decided.filter(
        (F.col("champion_decision") == "approve") & F.col(_q(outcome)).isNotNull() & finite)
        .select("_part", "_pos", score, comp, _q(outcome))).sort("_part", "_pos")
    lo, hi = per_part["lo"].min(), per_part["hi"].max()
    table, mask = _sufficient(fit, components, lo if isinstance(lo, float) else None,
                              hi if isinstance(hi, float) else None, pd_from, outcome)
    calibration, _ = _calibrate(table, pd_from, mask, outcome)
    seconds["calibration"] = time.perf_counter() - t0

    step("comparing", 3, 5)
    t0 = time.perf_counter()
    keep = ["row", *([id_column] if id_column else []), "segment", outcome, "swap", "pd",
            *(f"{s}_{c}" for s in _SIDES for c in ("decision", "segment", "limit", "apr", "term",
                                                   "score", "component", "ead", "profit",
                                                   "profit_observed"))]

    def second_pass(frame: pl.DataFrame) -> pl.DataFrame:
        frame = frame.with_columns(
            (pl.col("_pos") + pl.col("_part").replace_strict(offsets, default=0,
                                                            return_dtype=pl.Int64))
            .alias("row"), _pd(frame, pd_from, calibration))
        frame = _add_profit(frame, econ, outcome)
        a = pl.col("champion_decision") == "approve"
        b = pl.col("challenger_decision") == "approve"
        return frame.with_columns(
            pl.when(a & b).then(pl.lit("both_approve"))
            .when(b).then(pl.lit("swap_in"))
            .when(a).then(pl.lit("swap_out"))
            .otherwise(pl.lit("neither")).alias("swap")).select(keep)

    final_schema = _arrow_schema(second_pass(probe).schema)

    def compare(chunks: Chunks) -> Batches:
        for chunk in chunks:
            yield from _batches(second_pass(chunk), final_schema)

    decisions = _persist(_map(decided, compare, final_schema))
    metrics = _spark_metrics(outcome)
    overall = _json_rows(_to_polars(decisions.agg(*metrics)))[0]
    decided.unpersist()
    by_segment = _to_polars(decisions.groupBy("segment").agg(*metrics)).sort("segment")
    by_segment = by_segment.with_columns(_nan_to_null(by_segment))
    swap = _swap(decisions, outcome, records)
    seconds["compare"] = time.perf_counter() - t0
    step("done", 5, 5)
    strategies = {side: {"id": s.compiled.strategy_id, "version": s.compiled.version,
                         "digest": s.compiled.digest} for side, s in zip(_SIDES, sides,
                                                                          strict=True)}
    # The report reads the record count from ``decisions.height``: a column of nulls
    # (no buffers) carries it; the records themselves stay in Spark.
    count_only = pl.select(pl.repeat(None, records, dtype=pl.Null, eager=True).alias("row"))
    sim = Simulation(decisions=count_only, overall=overall, by_segment=by_segment, swap=swap,
                     calibration=calibration, strategies=strategies, economics=econ,
                     outcome=outcome, segment_by=segment_by or "champion segment",
                     pd_from=pd_from, score_slot=slots, seconds=seconds)
    return SparkSimulation(decisions, sim, decisions)
