"""Velocity features of a history table, point in time: what the service computed online.

Each row is a decision at its instant ``t`` (``time_column``); its feature is the
aggregate of the events of the same key in ``(t - window, t]`` — the row itself and
the rows before it, never a later one. Rows of one key at the same instant count in
table order, as concurrent decisions do online in the order the store saw them.

``count`` and ``sum`` are a position and a running sum per key, read back one window
earlier with ``join_asof``; ``distinct_count`` joins each row with the rows of its key
inside its window (its cost grows with the events per key and window).
"""

from __future__ import annotations

from typing import Any

import polars as pl

from fengkong.compile.ir import Plan, VelocityIR

_ROW, _T, _KEY, _VAL, _POS, _CUM = "__fk_row", "__fk_t", "__fk_key", "__fk_val", "__fk_pos", "__fk_cum"


def backfill(strategy: Any, history: pl.DataFrame, *,
             time_column: str = "evaluated_at") -> pl.DataFrame:
    """``history`` with one column ``velocity.<name>`` per velocity feature of ``strategy``.

    Parameters
    ----------
    strategy
        A :class:`~fengkong.compile.CompiledStrategy` (or its plan).
    history
        One row per application, with the key and value inputs as columns (dotted names,
        as in batch tables) and ``time_column``; personal data keys as their pseudonyms,
        like the decision log's inputs (or raw throughout: the counts are the same).
    time_column
        The decision instant: a datetime (naive means UTC) column.

    Examples
    --------
    >>> import datetime as dt
    >>> from fengkong.compile.ir import Plan, VelocityIR
    >>> f = VelocityIR("apps_1h", "phone", None, "count", None, 3600)
    >>> t0 = dt.datetime(2026, 1, 1)
    >>> h = pl.DataFrame({"phone": ["a", "a", "b", "a"],
    ...                   "at": [t0, t0 + dt.timedelta(minutes=30), t0,
    ...                          t0 + dt.timedelta(minutes=60)]})
    >>> backfill_features([f], h, time_column="at")["velocity.apps_1h"].to_list()
    [1, 2, 1, 2]
    """
    plan: Plan = strategy if isinstance(strategy, Plan) else strategy.plan
    return backfill_features(plan.velocity, history, time_column=time_column)


def backfill_features(features: tuple[VelocityIR, ...] | list[VelocityIR], history: pl.DataFrame,
                      *, time_column: str = "evaluated_at") -> pl.DataFrame:
    """:func:`backfill` for the given features."""
    if not features:
        return history
    t = pl.col(time_column)
    dtype = history.schema[time_column]
    if isinstance(dtype, pl.Datetime) and dtype.time_zone is None:
        t = t.dt.replace_time_zone("UTC")
    elif not isinstance(dtype, pl.Datetime):
        msg = f"`{time_column}` must be a datetime column, not {dtype}."
        raise TypeError(msg)
    base = history.with_row_index(_ROW).with_columns(t.dt.epoch("us").alias(_T))
    out = history
    for f in features:
        out = out.with_columns(_one(f, base).alias(f.field))
    return out


def _one(f: VelocityIR, base: pl.DataFrame) -> pl.Series:
    key = pl.col(f.key)
    kind = base.schema[f.key]
    keyed = key.cast(pl.String) if kind != pl.String else key
    cols = [pl.col(_ROW), pl.col(_T), keyed.alias(_KEY)]
    if f.value is not None:
        v = pl.col(f.value)
        if f.agg == "sum":
            v = v.cast(pl.Float64)
            v = pl.when(v.is_finite()).then(v)
        elif isinstance(base.schema[f.value], pl.Date | pl.Datetime):
            v = v.dt.to_string("%Y-%m-%d")
        else:
            v = v.cast(pl.String)
        cols.append(v.alias(_VAL))
    ev = base.select(cols).filter(pl.col(_KEY).is_not_null() & (pl.col(_KEY) != ""))
    ev = ev.sort([_KEY, _T, _ROW]).with_columns(
        pl.int_range(1, pl.len() + 1, dtype=pl.Int64).over(_KEY).alias(_POS))
    window = f.window_s * 1_000_000
    lo = ev.select(_ROW, _KEY, (pl.col(_T) - window).alias("__lo")).sort("__lo")
    if f.agg == "distinct_count":
        # The first position inside the window, then the distinct values in [first, own].
        right = ev.group_by(_KEY, _T).agg(pl.col(_POS).max()).sort(_T)
        start = lo.join_asof(right, left_on="__lo", right_on=_T, by=_KEY, strategy="backward",
                             check_sortedness=False)  # sorted on `__lo` and the time above
        ev = ev.join(start.select(_ROW, pl.col(_POS).fill_null(0).alias("__before")), on=_ROW)
        pairs = ev.select(_ROW, _KEY, _POS, "__before").join(
            ev.select(_KEY, pl.col(_POS).alias("__p"), pl.col(_VAL).alias("__v")), on=_KEY)
        counts = pairs.filter((pl.col("__p") > pl.col("__before"))
                              & (pl.col("__p") <= pl.col(_POS))).group_by(_ROW).agg(
            pl.col("__v").drop_nulls().n_unique().cast(pl.Int64).alias("__out"))
        result = ev.select(_ROW).join(counts, on=_ROW, how="left").with_columns(
            pl.col("__out").fill_null(0))
    else:
        if f.agg == "sum":
            ev = ev.with_columns(pl.col(_VAL).fill_null(0.0).cum_sum().over(_KEY).alias(_CUM))
        else:
            ev = ev.with_columns(pl.col(_POS).alias(_CUM))
        right = ev.group_by(_KEY, _T).agg(pl.col(_CUM).sort_by(_POS).last()).sort(_T)
        before = lo.join_asof(right, left_on="__lo", right_on=_T, by=_KEY, strategy="backward",
                             check_sortedness=False)  # sorted on `__lo` and the time above
        result = ev.select(_ROW, _CUM).join(
            before.select(_ROW, pl.col(_CUM).alias("__before")), on=_ROW).select(
            _ROW, (pl.col(_CUM) - pl.col("__before").fill_null(0)).alias("__out"))
    full = base.select(_ROW).join(result, on=_ROW, how="left").sort(_ROW)["__out"]
    return full.cast(pl.Float64 if f.agg == "sum" else pl.Int64)
