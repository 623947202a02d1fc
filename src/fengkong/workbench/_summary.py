"""Mergeable binning summaries: weighted goods and bads per pre-bin, per chunk of data.

A :class:`BinSummary` holds, for one characteristic, the weighted number of goods and bads
in each pre-bin over fixed edges (numeric) or per category (categorical), plus the missing
and special-value counts. Summaries of chunks with the same edges add up exactly, so
:meth:`fengkong.workbench.Binner.fit_summaries` on merged summaries gives the same bins as
``fit`` on the concatenated data (``fit`` itself is ``summarize`` + ``fit_summaries``).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any, Literal

import numpy as np
import polars as pl

FloatArray = np.ndarray[Any, np.dtype[np.float64]]
Special = float | str

#: Rows used to place the pre-bin edges (a strided sample of larger columns).
QUANTILE_SAMPLE = 100_000


@dataclass(frozen=True, slots=True)
class Table:
    """Columns of the input, split by kind (internal)."""

    names: list[str]
    numeric: dict[str, FloatArray]
    categorical: dict[str, pl.Series]
    dtypes: dict[str, str]  # "int" | "float" | "str"
    n: int


@dataclass(frozen=True, slots=True, eq=False)
class BinSummary:
    """Weighted (goods, bads) of one characteristic: per pre-bin, missing, special values.

    Numeric pre-bin ``i`` is ``[edges[i-1], edges[i])`` (open at both ends of the line);
    categorical summaries count per category. ``merge`` adds two summaries of the same
    column (same edges for numeric columns).
    """

    column: str
    kind: Literal["numeric", "categorical"]
    dtype: str
    goods: FloatArray
    bads: FloatArray
    edges: tuple[float, ...] = ()
    categories: tuple[str, ...] = ()
    missing_goods: float = 0.0
    missing_bads: float = 0.0
    special_values: tuple[Special, ...] = ()
    special_goods: FloatArray = field(default_factory=lambda: np.zeros(0))
    special_bads: FloatArray = field(default_factory=lambda: np.zeros(0))

    @property
    def total(self) -> float:
        """Weighted number of records summarised."""
        return float(self.goods.sum() + self.bads.sum() + self.missing_goods + self.missing_bads
                     + self.special_goods.sum() + self.special_bads.sum())

    def merge(self, other: BinSummary) -> BinSummary:
        """The summary of both chunks together.

        Raises
        ------
        ValueError
            If the summaries are of different columns, kinds, edges or special values.
        """
        if (other.column, other.kind, other.special_values) != (self.column, self.kind,
                                                                 self.special_values):
            msg = (f"Cannot merge the summary of `{other.column}` ({other.kind}) into that of "
                   f"`{self.column}` ({self.kind}): column, kind and special values must agree.")
            raise ValueError(msg)
        dtype = self.dtype if self.dtype == other.dtype else "float"
        common: dict[str, Any] = {
            "column": self.column, "kind": self.kind, "dtype": dtype,
            "missing_goods": self.missing_goods + other.missing_goods,
            "missing_bads": self.missing_bads + other.missing_bads,
            "special_values": self.special_values,
            "special_goods": self.special_goods + other.special_goods,
            "special_bads": self.special_bads + other.special_bads}
        if self.kind == "numeric":
            if self.edges != other.edges:
                msg = f"Cannot merge summaries of `{self.column}` with different pre-bin edges."
                raise ValueError(msg)
            return BinSummary(goods=self.goods + other.goods, bads=self.bads + other.bads,
                              edges=self.edges, **common)
        cats = list(self.categories)
        index = {c: i for i, c in enumerate(cats)}
        for c in other.categories:
            if c not in index:
                index[c] = len(cats)
                cats.append(c)
        goods, bads = np.zeros(len(cats)), np.zeros(len(cats))
        for summary in (self, other):
            pos = np.array([index[c] for c in summary.categories], dtype=np.int64)
            if pos.size:
                np.add.at(goods, pos, summary.goods)
                np.add.at(bads, pos, summary.bads)
        return BinSummary(goods=goods, bads=bads, categories=tuple(cats),
                          **common)


def merge_summaries(parts: Sequence[Mapping[str, BinSummary]]) -> dict[str, BinSummary]:
    """Merge per-chunk summaries column by column."""
    if not parts:
        msg = "No summaries to merge."
        raise ValueError(msg)
    out = dict(parts[0])
    for part in parts[1:]:
        if set(part) != set(out):
            msg = "Summaries to merge must cover the same columns."
            raise ValueError(msg)
        out = {c: out[c].merge(part[c]) for c in out}
    return out


# -- input ---------------------------------------------------------------------------------
def _is_polars(x: object) -> bool:
    return isinstance(x, pl.DataFrame)


def _is_pandas(x: object) -> bool:
    return type(x).__module__.startswith("pandas") and hasattr(x, "columns")


def to_table(X: Any, columns: Sequence[str] | None = None,
             categorical: Sequence[str] | None = None) -> Table:
    """Read a Polars/pandas frame or a 2-D array into numeric and categorical columns."""
    if _is_pandas(X):
        X = pl.DataFrame({str(c): X[c].to_numpy() for c in X.columns})
    if _is_polars(X):
        frame: pl.DataFrame = X
        names = [str(c) for c in (columns if columns is not None else frame.columns)]
        numeric: dict[str, FloatArray] = {}
        cats: dict[str, pl.Series] = {}
        dtypes: dict[str, str] = {}
        forced = set(categorical or ())
        for name in names:
            s = frame.get_column(name)
            if name in forced or s.dtype in (pl.String, pl.Categorical, pl.Enum) \
                    or isinstance(s.dtype, pl.Categorical | pl.Enum):
                cats[name] = s.cast(pl.String)
                dtypes[name] = "str"
            elif s.dtype == pl.Boolean or s.dtype.is_integer():
                numeric[name] = s.cast(pl.Float64).to_numpy()
                dtypes[name] = "int"
            elif s.dtype.is_float():
                numeric[name] = s.cast(pl.Float64).to_numpy()  # nulls become NaN
                dtypes[name] = "float"
            else:
                msg = f"Column `{name}` has type {s.dtype}; expected numbers or text."
                raise TypeError(msg)
        return Table(names, numeric, cats, dtypes, frame.height)
    arr = np.asarray(X)
    if arr.ndim != 2:
        msg = f"Expected a 2-D table, got an array of shape {arr.shape}."
        raise ValueError(msg)
    names = list(columns) if columns is not None else [f"x{i}" for i in range(arr.shape[1])]
    forced = set(categorical or ())
    numeric, cats, dtypes = {}, {}, {}
    for i, name in enumerate(names):
        col = arr[:, i]
        if name in forced or col.dtype.kind in "OUS":
            if name not in forced:
                try:
                    numeric[name] = col.astype(np.float64)
                    dtypes[name] = "float"
                    continue
                except (TypeError, ValueError):
                    pass
            cats[name] = pl.Series(name, [None if v is None else str(v) for v in col],
                                   dtype=pl.String)
            dtypes[name] = "str"
        else:
            numeric[name] = np.ascontiguousarray(col, dtype=np.float64)
            dtypes[name] = "int" if col.dtype.kind in "iub" else "float"
    return Table(names, numeric, cats, dtypes, arr.shape[0])


def binary_target(y: Any) -> FloatArray:
    """A binary target as 0/1 floats: 0/1 (or False/True) as given, else the larger label = 1.

    Raises
    ------
    ValueError
        If the target is missing, has NaN, or has more than two distinct values.
    """
    if y is None:
        msg = "requires y to be passed, but the target y is None"
        raise ValueError(msg)
    yy = np.asarray(y.to_numpy() if isinstance(y, pl.Series) else y)
    if yy.ndim == 2 and yy.shape[1] == 1:
        yy = yy[:, 0]
    yy = yy.ravel()
    if yy.dtype.kind == "f" and not np.all(np.isfinite(yy)):
        msg = "Input y contains NaN or infinity; the target must be 0 (good) or 1 (bad)."
        raise ValueError(msg)
    if yy.dtype.kind == "O":
        from sklearn.utils.multiclass import type_of_target

        type_of_target(yy, input_name="y", raise_unknown=True)
    labels = np.unique(yy)
    if labels.size > 2:
        msg = (f"The target must be binary (1 = bad, 0 = good); got {labels.size} distinct "
               "values.")
        raise ValueError(msg)
    out: FloatArray
    if yy.dtype.kind in "biuf" and np.all(np.isin(labels, (0, 1))):
        out = yy.astype(np.float64)
    else:
        out = (yy == labels[-1]).astype(np.float64)
    return out


def target_weights(y: Any, sample_weight: Any, n: int) -> tuple[FloatArray, FloatArray]:
    """(weight of goods, weight of bads) per record from a 0/1 target and optional weights."""
    yy = np.asarray(y.to_numpy() if isinstance(y, pl.Series) else y).ravel()
    if yy.shape[0] != n:
        msg = f"y has {yy.shape[0]} values for {n} records."
        raise ValueError(msg)
    yb = binary_target(yy)
    if sample_weight is None:
        return 1.0 - yb, yb
    w = np.asarray(sample_weight, dtype=np.float64).ravel()
    if w.shape[0] != n:
        msg = f"sample_weight has {w.shape[0]} values for {n} records."
        raise ValueError(msg)
    if np.any(w < 0) or not np.all(np.isfinite(w)):
        msg = "Sample weights must be finite and not negative."
        raise ValueError(msg)
    if not w.sum() > 0:
        msg = "Sample weights must contain at least one non-zero number."
        raise ValueError(msg)
    return w * (1.0 - yb), w * yb


# -- pre-binning ---------------------------------------------------------------------------
def quantile_edges(x: FloatArray, weight: FloatArray, prebins: int,
                   special_values: Sequence[float] = ()) -> tuple[float, ...]:
    """Pre-bin edges at weighted quantiles (values of the data, so whole for whole numbers)."""
    n = x.shape[0]
    step = max(1, n // QUANTILE_SAMPLE)
    xs, ws = x[::step], weight[::step]
    keep = ~np.isnan(xs)
    if special_values:
        keep &= ~np.isin(xs, np.asarray(special_values, dtype=np.float64))
    xs, ws = xs[keep], ws[keep]
    if xs.size == 0:
        return ()
    order = np.argsort(xs, kind="stable")
    xs, ws = xs[order], ws[order]
    cw = np.cumsum(ws)
    if cw[-1] <= 0:
        cw = np.arange(1, xs.size + 1, dtype=np.float64)
    qs = np.arange(1, prebins) / prebins * cw[-1]
    pos = np.minimum(np.searchsorted(cw, qs, side="right"), xs.size - 1)
    edges = np.unique(xs[pos])
    edges = edges[(edges > xs[0]) & np.isfinite(edges)]
    return tuple(float(e) for e in edges)


def summarize_numeric(name: str, x: FloatArray, wg: FloatArray, wb: FloatArray, dtype: str,
                      edges: tuple[float, ...], special_values: Sequence[float],
                      codes_out: dict[str, np.ndarray[Any, Any]] | None = None) -> BinSummary:
    """Summary of one numeric column over fixed edges.

    With ``codes_out``, the pre-bin code of every value (pre-bins, then missing, then the
    special values) is kept there as uint16, so the fitted WoE can be looked up without
    binning the column again.
    """
    m = len(edges) + 1
    idx = np.searchsorted(np.asarray(edges, dtype=np.float64), x, side="right")
    nan = np.isnan(x)
    if nan.any():
        idx[nan] = m
    for k, s in enumerate(special_values):
        idx[x == s] = m + 1 + k
    size = m + 1 + len(special_values)
    if codes_out is not None and size < 2**16:
        codes_out[name] = idx.astype(np.uint16)
    g: FloatArray = np.bincount(idx, weights=wg, minlength=size).astype(np.float64, copy=False)
    b: FloatArray = np.bincount(idx, weights=wb, minlength=size).astype(np.float64, copy=False)
    return BinSummary(name, "numeric", dtype, g[:m], b[:m], edges=edges,
                      missing_goods=float(g[m]), missing_bads=float(b[m]),
                      special_values=tuple(special_values), special_goods=g[m + 1:],
                      special_bads=b[m + 1:])


def summarize_categorical(name: str, s: pl.Series, wg: FloatArray, wb: FloatArray,
                          special_values: Sequence[str]) -> BinSummary:
    """Summary of one categorical column per category."""
    agg = (pl.DataFrame({"c": s, "g": wg, "b": wb}).group_by("c")
           .agg(pl.col("g").sum(), pl.col("b").sum()).sort("c", nulls_last=True))
    cats: list[str | None] = agg["c"].to_list()
    g, b = agg["g"].to_numpy(), agg["b"].to_numpy()
    miss_g = miss_b = 0.0
    sg, sb = np.zeros(len(special_values)), np.zeros(len(special_values))
    spec = {v: k for k, v in enumerate(special_values)}
    keep: list[int] = []
    for i, c in enumerate(cats):
        if c is None:
            miss_g, miss_b = float(g[i]), float(b[i])
        elif c in spec:
            sg[spec[c]], sb[spec[c]] = g[i], b[i]
        else:
            keep.append(i)
    return BinSummary(name, "categorical", "str", g[keep].astype(np.float64),
                      b[keep].astype(np.float64),
                      categories=tuple(str(cats[i]) for i in keep), missing_goods=miss_g,
                      missing_bads=miss_b, special_values=tuple(special_values),
                      special_goods=sg, special_bads=sb)


def specials_for(special_values: Any, column: str) -> tuple[Special, ...]:
    """The declared special values of one column (a sequence for all, or a dict per column)."""
    if special_values is None:
        return ()
    vals = special_values.get(column, ()) if isinstance(special_values, Mapping) else special_values
    return tuple(vals)


def summarize(table: Table, wg: FloatArray, wb: FloatArray, *, prebins: int,
              special_values: Any = (), edges: Mapping[str, Sequence[float]] | None = None,
              threads: int = 2, codes_out: dict[str, np.ndarray[Any, Any]] | None = None,
              ) -> dict[str, BinSummary]:
    """Summaries of every column of ``table`` (columns on a thread pool).

    ``codes_out`` receives the pre-bin codes of the numeric columns (see
    :func:`summarize_numeric`).
    """
    weight = wg + wb

    def one(name: str) -> BinSummary:
        specials = specials_for(special_values, name)
        if name in table.categorical:
            return summarize_categorical(name, table.categorical[name], wg, wb,
                                         [str(v) for v in specials])
        x = table.numeric[name]
        num_specials = [float(v) for v in specials if not isinstance(v, str)]
        cut = (tuple(float(e) for e in edges[name]) if edges is not None and name in edges
               else quantile_edges(x, weight, prebins, num_specials))
        return summarize_numeric(name, x, wg, wb, table.dtypes[name], cut, num_specials,
                                 codes_out)

    if threads > 1 and len(table.names) > 1:
        from concurrent.futures import ThreadPoolExecutor

        with ThreadPoolExecutor(threads) as pool:
            results = list(pool.map(one, table.names))
    else:
        results = [one(name) for name in table.names]
    return dict(zip(table.names, results, strict=True))
