"""Optimal binning and PSI/CSI of a Spark DataFrame, equal to the local workbench.

Statistics that must see the whole book are computed from small mergeable partials: each
partition goes to the executors as Arrow (``mapInArrow``), is summarised with the local
workbench code (:class:`fengkong.workbench.BinSummary` per characteristic, or histogram
counts per bin), and only these summaries travel back to the driver, which merges them in
partition order and finishes with the local code (``Binner.fit_summaries``,
:func:`fengkong.workbench.psi_table`).

Exactness. The result equals the local workbench on the same rows in the frame's order
(partition by partition, as ``frame.toArrow()`` returns them):

* Pre-bin edges are the local ones: the local binner places them on a strided sample of
  every ``n // QUANTILE_SAMPLE``-th row; the same rows are picked here by their global
  position (a first pass counts the rows of each partition), and the driver runs the local
  quantile code on them.
* PSI quantile bins are the exact weighted quantiles of the expected sample, found from its
  distinct values and their summed weights (a native Spark aggregation).
* Counts are sums of weights. Unweighted, or with weights that are exact binary fractions
  (0.5, 0.25, whole numbers), every sum is exact and the result is identical bit for bit.
  With arbitrary real weights, sums over partitions round in a different order than one
  sum over the whole column: counts, WoE and IV then agree to about 1e-12 relative, and
  bins and edges agree unless two candidate partitions tie within that rounding.

The frame is read several times (binning: a count, the pre-bin sample, the summaries).
It must give the same rows in the same partitions each time, as a table or files do; cache
it (``frame.cache()``) if it is expensive to compute. A frame that changes between the
passes is detected and refused.
"""

from __future__ import annotations

import pickle
from collections.abc import Callable, Iterator, Mapping, Sequence
from typing import TYPE_CHECKING, Any

import numpy as np
import polars as pl
import pyarrow as pa

from fengkong.spark._arrow import map_frames
from fengkong.workbench import _summary
from fengkong.workbench._binning import Binner
from fengkong.workbench._metrics import (
    MISSING_LABEL,
    _weighted_quantiles,
    psi_interpretation,
    psi_table,
)
from fengkong.workbench._summary import (
    BinSummary,
    FloatArray,
    binary_target,
    merge_summaries,
    quantile_edges,
    specials_for,
    summarize,
    to_table,
)

if TYPE_CHECKING:
    from pyspark.sql import DataFrame

__all__ = ["csi_spark", "fit_binner_spark", "psi_spark", "psi_table_spark", "summarize_spark"]

_PARTS_ARROW = pa.schema([pa.field("pid", pa.int64()), pa.field("payload", pa.binary())])


# -- plumbing ------------------------------------------------------------------------------
def _partition_id() -> int:
    from pyspark import TaskContext

    context = TaskContext.get()
    return 0 if context is None else int(context.partitionId())


def _emit(pid: int, payload: Any) -> pa.RecordBatch:
    return pa.RecordBatch.from_pylist(
        [{"pid": pid, "payload": pickle.dumps(payload, protocol=pickle.HIGHEST_PROTOCOL)}],
        schema=_PARTS_ARROW)


def _run(frame: DataFrame, names: Sequence[str],
         work: Callable[[int, Iterator[pl.DataFrame]], Any]) -> list[tuple[int, Any]]:
    """Run ``work(partition id, polars batches)`` on every partition; results by partition.

    Only ``names`` travel to the executors, as ``c0, c1, ...`` (Spark reads dots in column
    names as struct fields); the batches carry the real names again.
    """
    def each(tables: Iterator[pl.DataFrame]) -> Iterator[pa.RecordBatch]:
        pid = _partition_id()
        yield _emit(pid, work(pid, (t for t in tables if t.height)))

    rows = map_frames(frame, list(dict.fromkeys(names)), each, _PARTS_ARROW).collect()
    out = [(int(r["pid"]), pickle.loads(bytes(r["payload"]))) for r in rows]
    return sorted(out, key=lambda item: item[0])


def _require(frame: DataFrame, names: Sequence[str], what: str) -> None:
    missing = [n for n in names if n not in frame.columns]
    if missing:
        listed = ", ".join(f"`{n}`" for n in missing)
        msg = f"The {what} {listed} {'is' if len(missing) == 1 else 'are'} not in the frame."
        raise ValueError(msg)


def _kind(frame: DataFrame, name: str) -> str:
    """``num`` (integers, floats, booleans), ``str`` (text) or ``other``, from the schema."""
    from pyspark.sql import types as T

    kind = frame.schema[name].dataType
    if isinstance(kind, T.StringType | T.VarcharType | T.CharType):
        return "str"
    if isinstance(kind, T.BooleanType | T.ByteType | T.ShortType | T.IntegerType
                  | T.LongType | T.FloatType | T.DoubleType):
        return "num"
    return "other"


def _is_number(frame: DataFrame, name: str) -> bool:
    """Numbers as the local PSI sees them (booleans are categories there)."""
    from pyspark.sql import types as T

    kind = frame.schema[name].dataType
    return isinstance(kind, T.NumericType)


def _weights(table: pl.DataFrame, weight: str | None) -> FloatArray:
    if weight is None:
        return np.ones(table.height)
    w: FloatArray = table.get_column(weight).cast(pl.Float64).to_numpy()
    return w


# -- binning -------------------------------------------------------------------------------
def _check_weight(weight: str | None, bad: int, total: float) -> None:
    if weight is None:
        return
    if bad:
        msg = (f"The weight column `{weight}` has {bad} values that are missing, negative or "
               "not finite; sample weights must be finite and not negative.")
        raise ValueError(msg)
    if not total > 0:
        msg = f"The weight column `{weight}` must contain at least one non-zero number."
        raise ValueError(msg)


def _scan(frame: DataFrame, target: str, weight: str | None) -> tuple[dict[int, int], Any]:
    """Rows per partition and the target's labels, with the target and weights checked."""
    names = [target] if weight is None else [target, weight]

    def work(_pid: int, batches: Iterator[pl.DataFrame]) -> dict[str, Any]:
        rows = missing = bad = 0
        total = 0.0
        labels: list[Any] = []
        for t in batches:
            y = t.get_column(target)
            gone = y.is_null()
            if y.dtype.is_float():
                gone = gone | y.is_nan().fill_null(value=True)
            missing += int(gone.sum())
            labels.append(np.unique(y.filter(~gone).to_numpy()))
            rows += t.height
            if weight is not None:
                w = t.get_column(weight).cast(pl.Float64).to_numpy()
                ok = np.isfinite(w) & (w >= 0)
                bad += int((~ok).sum())
                total += float(w[ok].sum())
        found = np.unique(np.concatenate(labels)) if labels else None
        return {"rows": rows, "missing": missing, "bad": bad, "total": total, "labels": found}

    parts = _run(frame, names, work)
    counts = {pid: p["rows"] for pid, p in parts}
    if not sum(counts.values()):
        msg = "The frame has no rows to bin."
        raise ValueError(msg)
    missing = sum(p["missing"] for _, p in parts)
    if missing:
        msg = (f"The target column `{target}` has {missing} missing values; drop the records "
               "whose outcome is not known yet.")
        raise ValueError(msg)
    _check_weight(weight, sum(p["bad"] for _, p in parts), sum(p["total"] for _, p in parts))
    found = [p["labels"] for _, p in parts if p["labels"] is not None and p["labels"].size]
    labels = np.unique(np.concatenate(found))
    if labels.size > 2:
        shown = ", ".join(repr(v) for v in labels.tolist()[:5])
        msg = (f"The target column `{target}` must be binary, 1 = bad and 0 = good; it holds "
               f"{labels.size} distinct values ({shown}{', ...' if labels.size > 5 else ''}).")
        raise ValueError(msg)
    return counts, labels


def _goods_bads(table: pl.DataFrame, target: str, weight: str | None,
                labels: Any) -> tuple[FloatArray, FloatArray]:
    """(weight of goods, weight of bads) per row, the target read as over the whole frame."""
    y = table.get_column(target).to_numpy()
    # the whole frame's labels appended, so 0/1 versus "larger label = bad" is decided
    # as one local read of the whole target column decides it
    yb = binary_target(np.concatenate([y, labels.astype(y.dtype, copy=False)]))[:y.shape[0]]
    if weight is None:
        return 1.0 - yb, yb
    w = _weights(table, weight)
    return w * (1.0 - yb), w * yb


def _canonical(summary: BinSummary) -> BinSummary:
    """Categories in the order one local summary has them (sorted)."""
    if summary.kind != "categorical":
        return summary
    order = sorted(range(len(summary.categories)), key=lambda i: summary.categories[i])
    pos = np.asarray(order, dtype=np.int64)
    return BinSummary(summary.column, summary.kind, summary.dtype, summary.goods[pos],
                      summary.bads[pos], categories=tuple(summary.categories[i] for i in order),
                      missing_goods=summary.missing_goods, missing_bads=summary.missing_bads,
                      special_values=summary.special_values, special_goods=summary.special_goods,
                      special_bads=summary.special_bads)


def _columns(frame: DataFrame, target: str, columns: Sequence[str] | None,
             weight: str | None, categorical: Sequence[str] | None) -> list[str]:
    _require(frame, [target], "target column")
    if weight is not None:
        _require(frame, [weight], "weight column")
        if _kind(frame, weight) != "num":
            msg = f"The weight column `{weight}` must hold numbers."
            raise TypeError(msg)
    if columns is None:
        cols = [c for c in frame.columns if c not in (target, weight)]
    else:
        cols = [str(c) for c in columns]
        _require(frame, cols, "column" if len(cols) == 1 else "columns")
    if not cols:
        msg = "There are no columns to bin."
        raise ValueError(msg)
    forced = set(categorical or ())
    for c in cols:
        if c not in forced and _kind(frame, c) == "other":
            msg = (f"Column `{c}` has type {frame.schema[c].dataType.simpleString()}; expected "
                   "numbers or text.")
            raise TypeError(msg)
    return cols


def summarize_spark(frame: DataFrame, target: str, columns: Sequence[str] | None = None, *,
                    weight: str | None = None, binner: Binner | None = None,
                    edges: Mapping[str, Sequence[float]] | None = None,
                    ) -> dict[str, BinSummary]:
    """The merged binning summaries of a Spark DataFrame, as the local ``Binner`` makes them.

    Equal to ``binner.summarize(X, y, sample_weight, edges=edges)`` on the frame's rows in
    their order (see the module notes on exactness). Three passes over the frame: rows
    per partition (and the target's labels), the strided sample the pre-bin edges are
    placed on (skipped when ``edges`` covers every numeric column), and the per-partition
    summaries, merged on the driver.

    Parameters
    ----------
    frame
        The book: the characteristics, the target and, optionally, a weight column.
    target
        The outcome column: 0/1 (or two labels, the larger one = bad), no missing values.
    columns
        Columns to summarise (default: ``binner.columns``, else every column but
        ``target`` and ``weight``).
    weight
        A column of sample weights (finite, not negative).
    binner
        Supplies ``prebins``, ``special_values`` and ``categorical`` (default ``Binner()``).
    edges
        Fixed pre-bin edges per numeric column, as for ``Binner.summarize``.

    Returns
    -------
    dict[str, BinSummary]
        One summary per column, in column order.

    Raises
    ------
    ValueError
        For a column that is not in the frame, a target with missing values or more than
        two labels, invalid weights, an empty frame, or a frame whose partitions changed
        between the passes.
    TypeError
        For a column that is neither numbers nor text.
    """
    binner = Binner() if binner is None else binner
    binner._check_params()
    wanted = columns if columns is not None else binner.columns
    cols = _columns(frame, target, wanted, weight, binner.categorical)
    counts, labels = _scan(frame, target, weight)
    forced = set(binner.categorical or ())
    numeric = [c for c in cols if c not in forced and _kind(frame, c) == "num"]
    cuts: dict[str, tuple[float, ...]] = {
        c: tuple(float(e) for e in edges[c]) for c in numeric if edges is not None and c in edges}
    todo = [c for c in numeric if c not in cuts]
    names = [*cols, target] if weight is None else [*cols, target, weight]
    categorical = list(binner.categorical) if binner.categorical is not None else None
    specials = {c: [float(v) for v in specials_for(binner.special_values, c)
                    if not isinstance(v, str)] for c in numeric}
    if todo:
        cuts |= _prebin_edges(frame, names, todo, counts, labels, target, weight, specials,
                              binner.prebins)
    prebins, special_values = binner.prebins, binner.special_values

    def work(_pid: int, batches: Iterator[pl.DataFrame]) -> tuple[int, dict[str, BinSummary]
                                                                  | None]:
        rows = 0
        acc: dict[str, BinSummary] | None = None
        for t in batches:
            rows += t.height
            wg, wb = _goods_bads(t, target, weight, labels)
            part = summarize(to_table(t, cols, categorical), wg, wb, prebins=prebins,
                             special_values=special_values, edges=cuts, threads=1)
            acc = part if acc is None else merge_summaries([acc, part])
        return rows, acc

    parts = _run(frame, names, work)
    _same_rows(counts, {pid: p[0] for pid, p in parts})
    merged = merge_summaries([p[1] for _, p in parts if p[1] is not None])
    return {c: _canonical(merged[c]) for c in cols}


def _same_rows(before: Mapping[int, int], now: Mapping[int, int]) -> None:
    if {k: v for k, v in before.items() if v} != {k: v for k, v in now.items() if v}:
        msg = ("The frame gave other rows on a second read (a nondeterministic source or "
               "shuffle); cache it (frame.cache()) or write it out and read it back.")
        raise ValueError(msg)


def _prebin_edges(frame: DataFrame, names: Sequence[str], todo: Sequence[str],
                  counts: Mapping[int, int], labels: Any, target: str, weight: str | None,
                  specials: Mapping[str, Sequence[float]], prebins: int,
                  ) -> dict[str, tuple[float, ...]]:
    """Local pre-bin edges: quantiles of the rows at global positions ``0, step, 2 step, ...``."""
    total = sum(counts.values())
    step = max(1, total // _summary.QUANTILE_SAMPLE)
    offsets: dict[int, int] = {}
    start = 0
    for pid in sorted(counts):
        offsets[pid] = start
        start += counts[pid]

    def work(pid: int, batches: Iterator[pl.DataFrame]) -> tuple[int, dict[str, Any]]:
        pos = offsets.get(pid, 0)
        rows = 0
        xs: dict[str, list[FloatArray]] = {c: [] for c in todo}
        ws: dict[str, list[FloatArray]] = {c: [] for c in todo}
        for t in batches:
            index = np.arange(pos + rows, pos + rows + t.height)
            rows += t.height
            pick = index % step == 0
            if not pick.any():
                continue
            t = t.filter(pl.Series(pick))
            wg, wb = _goods_bads(t, target, weight, labels)
            w = wg + wb
            table = to_table(t, todo)
            for c in todo:
                x = table.numeric[c]
                keep = ~np.isnan(x)
                if specials[c]:
                    keep &= ~np.isin(x, np.asarray(specials[c], dtype=np.float64))
                xs[c].append(x[keep])
                ws[c].append(w[keep])
        return rows, {c: (np.concatenate(xs[c]) if xs[c] else np.zeros(0),
                          np.concatenate(ws[c]) if ws[c] else np.zeros(0)) for c in todo}

    parts = _run(frame, names, work)
    _same_rows(counts, {pid: p[0] for pid, p in parts})
    out: dict[str, tuple[float, ...]] = {}
    for c in todo:
        x = np.concatenate([p[1][c][0] for _, p in parts])
        w = np.concatenate([p[1][c][1] for _, p in parts])
        # the sample holds fewer than 2 * QUANTILE_SAMPLE rows, so quantile_edges uses
        # every one of them, in global order, as the local fit does
        out[c] = quantile_edges(x, w, prebins, specials[c])
    return out


def fit_binner_spark(frame: DataFrame, target: str, columns: Sequence[str] | None = None, *,
                     weight: str | None = None, binner: Binner | None = None,
                     edges: Mapping[str, Sequence[float]] | None = None,
                     **params: Any) -> Binner:
    """Fit a :class:`fengkong.workbench.Binner` on a Spark DataFrame.

    The bins, bin tables, WoE and IV equal those of ``Binner(**params).fit(X, y,
    sample_weight)`` on the frame's rows in their order, ``X`` holding ``columns`` (see the
    module notes on exactness: identical unweighted or with binary-fraction weights). Only
    the per-partition summaries reach the driver (:func:`summarize_spark`), and the
    driver fits with ``Binner.fit_summaries``.

    Parameters
    ----------
    frame
        The book: characteristics, the target and, optionally, a weight column.
    target
        The outcome column: 0/1 (or two labels, the larger one = bad), no missing values.
    columns
        Columns to bin (default: ``columns`` of the binner, else every column but
        ``target`` and ``weight``).
    weight
        A column of sample weights (finite, not negative).
    binner
        An unfitted binner to fit (its settings are used); or give its settings as
        ``params`` (``max_bins=6, special_values=(-999,)``), not both.
    edges
        Fixed pre-bin edges per numeric column (default: placed as the local fit does).
    **params
        Settings of a new ``Binner``.

    Returns
    -------
    Binner
        The fitted binner; ``columns_`` and ``feature_names_in_`` are the binned columns.

    Raises
    ------
    ValueError
        As :func:`summarize_spark`, or for both ``binner`` and ``params``.
    TypeError
        For a column that is neither numbers nor text.
    """
    if binner is not None and params:
        msg = "Give either a binner or its settings, not both."
        raise ValueError(msg)
    model = binner if binner is not None else Binner(**params)
    summaries = summarize_spark(frame, target, columns, weight=weight, binner=model,
                                edges=edges)
    model.n_features_in_ = len(summaries)
    model.feature_names_in_ = np.asarray(list(summaries), dtype=object)
    return model.fit_summaries(summaries)


# -- stability -----------------------------------------------------------------------------
def _distinct_weights(frame: DataFrame, names: Sequence[str], weight: str | None,
                      ) -> dict[str, tuple[FloatArray, FloatArray]]:
    """Per numeric column: its distinct values (no NaN/null) and their summed weights."""
    from pyspark.sql import functions as F

    w = F.lit(1.0) if weight is None else F.col(f"`{weight}`").cast("double")
    cells = F.explode(F.array(*[
        F.struct(F.lit(i).alias("k"), F.col(f"`{c}`").cast("double").alias("v"), w.alias("w"))
        for i, c in enumerate(names)])).alias("cell")
    agg = (frame.select(cells).select("cell.k", "cell.v", "cell.w")
           .where(F.col("v").isNotNull() & ~F.isnan("v"))
           .groupBy("k", "v").agg(F.sum("w").alias("w")))
    table = pl.from_arrow(agg.toArrow())
    assert isinstance(table, pl.DataFrame)
    out: dict[str, tuple[FloatArray, FloatArray]] = {}
    for i, c in enumerate(names):
        part = table.filter(pl.col("k") == i).sort("v")
        out[c] = (part["v"].cast(pl.Float64).to_numpy(), part["w"].cast(pl.Float64).to_numpy())
    return out


def _quantile_cuts(values: FloatArray, weights: FloatArray, bins: int) -> FloatArray:
    """The local PSI bins of the expected sample, from its distinct values and weights."""
    if values.size == 0:
        return np.empty(0)
    qs = np.arange(1, bins, dtype=np.float64) / bins
    edges = np.unique(_weighted_quantiles(values, weights, qs, cut=True))
    return np.asarray(edges[edges > values.min()], dtype=np.float64)


def _histograms(frame: DataFrame, plan: Mapping[str, Any], weight: str | None,
                binner: Binner | None) -> tuple[int, dict[str, Any]]:
    """Rows, and per column the weighted counts: per bin (numeric) or per label.

    ``plan`` maps a column to its edges (an array: numeric bins), ``"str"`` (labels as
    ``str`` of the values), ``"text"`` (labels as Polars casts to text) or ``"woe"`` (labels
    the rounded WoE of ``binner``).
    """
    woe_cols = [c for c, p in plan.items() if isinstance(p, str) and p == "woe"]
    fitted = list(binner.columns_) if binner is not None and woe_cols else []
    names = list(dict.fromkeys([*[c for c in plan if c not in woe_cols], *fitted]))
    if weight is not None and weight not in names:
        names.append(weight)

    def labelled(values: Any, w: FloatArray, into: dict[str, float]) -> None:
        agg = pl.DataFrame({"v": values, "w": w}).group_by("v").agg(pl.col("w").sum())
        for v, s in zip(agg["v"].to_list(), agg["w"].to_list(), strict=True):
            label = MISSING_LABEL if v is None else str(v)
            into[label] = into.get(label, 0.0) + float(s)

    def work(_pid: int, batches: Iterator[pl.DataFrame]) -> tuple[int, int, dict[str, Any]]:
        rows = bad = 0
        acc: dict[str, Any] = {}
        for t in batches:
            rows += t.height
            w = _weights(t, weight)
            ok = np.isfinite(w) & (w >= 0)
            bad += int((~ok).sum())
            woe = (np.asarray(binner.transform(t.select(fitted)), dtype=np.float64)
                   if binner is not None and woe_cols else None)
            for c, p in plan.items():
                if isinstance(p, np.ndarray):
                    x = t.get_column(c).cast(pl.Float64).to_numpy()
                    k = p.shape[0] + 1
                    seen = ~np.isnan(x)
                    idx = np.where(seen, np.searchsorted(p, np.where(seen, x, 0.0),
                                                         side="right"), k)
                    counts = np.bincount(idx, weights=w, minlength=k + 1)
                    acc[c] = counts if c not in acc else acc[c] + counts
                    continue
                into = acc.setdefault(c, {})
                if p == "woe":
                    assert woe is not None
                    labelled(woe[:, fitted.index(c)].round(10).astype(str), w, into)
                elif p == "text":
                    labelled(t.get_column(c).cast(pl.String), w, into)
                else:
                    labelled(t.get_column(c), w, into)
        return rows, bad, acc

    parts = _run(frame, names, work)
    _check_psi_weight(weight, sum(p[1] for _, p in parts))
    rows = sum(p[0] for _, p in parts)
    merged: dict[str, Any] = {}
    for _, (_, _, acc) in parts:
        for c, v in acc.items():
            if isinstance(v, np.ndarray):
                merged[c] = v if c not in merged else merged[c] + v
            else:
                into = merged.setdefault(c, {})
                for label, s in v.items():
                    into[label] = into.get(label, 0.0) + s
    return rows, merged


def _check_psi_weight(weight: str | None, bad: int) -> None:
    if weight is not None and bad:
        msg = (f"The weight column `{weight}` has {bad} values that are missing, negative or "
               "not finite.")
        raise ValueError(msg)


def _table(edges_or_mode: Any, expected: Any, actual: Any, epsilon: float) -> pl.DataFrame:
    """The local ``psi_table`` on one representative value per bin, weighted by its count."""
    if isinstance(edges_or_mode, np.ndarray):
        edges = edges_or_mode
        k = edges.shape[0] + 1
        rep = np.concatenate([[-np.inf], edges, [np.nan]])
        assert rep.shape[0] == k + 1 and expected.shape[0] == k + 1
        return psi_table(rep, rep, [float(e) for e in edges], expected_weight=expected,
                         actual_weight=actual, epsilon=epsilon)
    e_labels = np.array(list(expected), dtype=str)
    a_labels = np.array(list(actual), dtype=str)
    return psi_table(e_labels, a_labels, expected_weight=np.array(list(expected.values()),
                                                                   dtype=np.float64),
                     actual_weight=np.array(list(actual.values()), dtype=np.float64),
                     epsilon=epsilon)


def _stability(expected: DataFrame, actual: DataFrame, columns: Sequence[str],
               bins: int | Sequence[float], weight: str | None, epsilon: float, *,
               mode: str, binner: Binner | None = None) -> dict[str, pl.DataFrame]:
    """PSI tables of ``columns``; ``mode`` is ``str`` (:func:`psi`), ``text`` or ``woe``."""
    for name, frame in (("expected", expected), ("actual", actual)):
        needed = list(binner.columns_) if mode == "woe" and binner is not None else columns
        what = f"column{'s' if len(needed) > 1 else ''} of the {name} sample"
        _require(frame, needed, what)
        if weight is not None:
            _require(frame, [weight], f"weight column of the {name} sample")
    plan: dict[str, Any] = {}
    numeric: list[str] = []
    for c in columns:
        if mode == "woe":
            plan[c] = "woe"
            continue
        number = _is_number(expected, c), _is_number(actual, c)
        if number[0] != number[1]:
            msg = (f"Column `{c}` holds numbers in one sample and not in the other; cast it to "
                   "one type in both.")
            raise TypeError(msg)
        if number[0]:
            numeric.append(c)
        else:
            plan[c] = mode
    if numeric:
        if isinstance(bins, int):
            if bins < 1:
                msg = "bins must be at least 1"
                raise ValueError(msg)
            distinct = _distinct_weights(expected, numeric, weight)
            for c in numeric:
                plan[c] = _quantile_cuts(*distinct[c], bins)
        else:
            cuts = np.asarray(sorted({float(b) for b in bins}), dtype=np.float64)
            for c in numeric:
                plan[c] = cuts
    n_e, counts_e = _histograms(expected, plan, weight, binner)
    n_a, counts_a = _histograms(actual, plan, weight, binner)
    if n_e == 0 or n_a == 0:
        msg = "expected and actual must not be empty"
        raise ValueError(msg)
    out: dict[str, pl.DataFrame] = {}
    for c in columns:
        e, a = counts_e[c], counts_a[c]
        if not isinstance(plan[c], np.ndarray):  # every label seen in either sample
            e = {k: e.get(k, 0.0) for k in sorted(set(e) | set(a))}
            a = {k: a.get(k, 0.0) for k in e}
        out[c] = _table(plan[c] if isinstance(plan[c], np.ndarray) else None, e, a, epsilon)
    return out


def psi_table_spark(expected: DataFrame, actual: DataFrame, column: str,
                    bins: int | Sequence[float] = 10, *, weight: str | None = None,
                    epsilon: float = 1e-4) -> pl.DataFrame:
    """Per-bin PSI of a column between two Spark DataFrames, as :func:`psi_table`.

    Equal to ``psi_table(expected[column], actual[column], bins, expected_weight=...,
    actual_weight=...)`` on the collected columns (see the module notes on exactness).
    Numeric columns get ``bins`` weighted quantile bins of ``expected`` (its distinct
    values and their weights are aggregated by Spark, then the driver places the cuts as
    the local code does) or the given cut points; other columns one bin per value. The
    counts per bin come from per-partition histograms summed on the driver.

    Parameters
    ----------
    expected
        The reference sample (e.g. the development period).
    actual
        The sample compared with it.
    column
        The column to compare; in both frames, numbers in both or in neither.
    bins
        Number of quantile bins of ``expected``, or cut points.
    weight
        A column of sample weights present in both frames.
    epsilon
        Smallest share inside the logarithm.

    Returns
    -------
    polars.DataFrame
        ``bin``, ``expected_count``, ``actual_count``, ``expected_share``,
        ``actual_share``, ``psi``.

    Raises
    ------
    ValueError
        For a column missing from a frame, an empty frame or invalid weights.
    TypeError
        For a column that holds numbers in one frame and not in the other.

    Notes
    -----
    With quantile bins the driver holds the distinct values of ``expected[column]`` (not
    its rows): few for scores, points and most characteristics. For a continuous column
    with very many distinct values, give cut points.
    """
    return _stability(expected, actual, [column], bins, weight, epsilon, mode="str")[column]


def psi_spark(expected: DataFrame, actual: DataFrame, column: str,
              bins: int | Sequence[float] = 10, *, weight: str | None = None,
              epsilon: float = 1e-4) -> float:
    """Population stability index of a column between two Spark DataFrames, as :func:`psi`.

    The sum of :func:`psi_table_spark`'s ``psi`` column; see there for the parameters.

    Returns
    -------
    float
        The PSI: below 0.1 stable, 0.1-0.25 a moderate shift, 0.25 and above significant.
    """
    table = psi_table_spark(expected, actual, column, bins, weight=weight, epsilon=epsilon)
    return float(table["psi"].sum())


def csi_spark(expected: DataFrame, actual: DataFrame, binner: Binner | None = None, *,
              columns: Sequence[str] | None = None, bins: int = 10,
              weight: str | None = None) -> pl.DataFrame:
    """Characteristic stability index of every characteristic, as :func:`csi`.

    With a fitted ``binner`` each characteristic's own bins are compared (the WoE of every
    row, from ``binner.transform`` on each partition, is one bin per distinct value);
    without one, numeric columns get ``bins`` quantile bins of ``expected`` and other
    columns one bin per value. Every column is counted in one pass over each frame (plus,
    without a binner, one aggregation of ``expected`` for the quantile bins).

    Parameters
    ----------
    expected
        The reference sample.
    actual
        The sample compared with it.
    binner
        A fitted binner (e.g. from :func:`fit_binner_spark`); both frames need its
        ``columns_``.
    columns
        Characteristics to compare (default: the binner's, else the columns of both).
    bins
        Quantile bins of numeric columns without a binner.
    weight
        A column of sample weights present in both frames.

    Returns
    -------
    polars.DataFrame
        ``feature``, ``csi``, ``interpretation``, sorted by ``csi`` descending.

    Raises
    ------
    ValueError
        For a column missing from a frame, an empty frame or invalid weights.
    TypeError
        For a column that holds numbers in one frame and not in the other.
    """
    if binner is not None:
        names = list(columns) if columns is not None else list(binner.columns_)
        unknown = [c for c in names if c not in binner.columns_]
        if unknown:
            msg = f"The binner was not fitted on {', '.join(f'`{c}`' for c in unknown)}."
            raise ValueError(msg)
        tables = _stability(expected, actual, names, bins, weight, 1e-4, mode="woe",
                            binner=binner)
    else:
        names = (list(columns) if columns is not None
                 else [c for c in expected.columns if c in actual.columns and c != weight])
        tables = _stability(expected, actual, names, bins, weight, 1e-4, mode="text")
    rows = [(c, float(tables[c]["psi"].sum())) for c in names]
    return pl.DataFrame(
        {"feature": [r[0] for r in rows], "csi": [r[1] for r in rows],
         "interpretation": [psi_interpretation(r[1]) for r in rows]},
        schema={"feature": pl.String, "csi": pl.Float64, "interpretation": pl.String},
    ).sort("csi", descending=True, maintain_order=True)
