"""Encode a quasi-identifier column once: integer codes, labels and cell loss for every level.

Each level of a hierarchy becomes one ``int64`` code per row (rows with equal codes
share the generalised value) plus, per code, its label and its normalised certainty
penalty (NCP): the share of the column's range (numbers, dates) or of its distinct
values (categories) that the generalised value covers. Nulls stay null, with loss 0,
below the top; at the top every row is ``*``.

The work happens on the column's distinct values, so a level costs one gather over
the rows; the lattice search then only combines codes.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
import polars as pl

from fengkong.anonymize._errors import AnonymizationDataError
from fengkong.anonymize._spec import BandsSpec, CategoricalSpec, DateSpec, HierarchySpec, _number

IntArray = np.ndarray
FloatArray = np.ndarray


@dataclass(frozen=True, slots=True)
class Level:
    """One level of one quasi-identifier, encoded.

    Attributes
    ----------
    name
        Readable name (``"as is"``, ``"bands of 10"``, ``"region"``, ``"*"``).
    codes
        One ``int64`` per row, in ``range(size)``.
    size
        Number of codes (distinct generalised values, a null group included).
    ncp
        Cell loss of each code, in [0, 1].
    labels
        The exported value of each code; ``None`` for level 0, which exports the
        column as it is.
    loss_sum
        Sum of the cell loss over all rows.
    """

    name: str
    codes: IntArray
    size: int
    ncp: FloatArray
    labels: tuple[str | None, ...] | None
    loss_sum: float


@dataclass(frozen=True, slots=True)
class EncodedColumn:
    """A quasi-identifier with every level of its hierarchy encoded.

    Attributes
    ----------
    column
        Column name.
    values
        The column as compared at level 0 (numbers parsed, NaN as null).
    levels
        Level 0 (as is) first, the top (``*``) last.
    """

    column: str
    values: pl.Series
    levels: tuple[Level, ...]

    def output(self, level: int) -> pl.Series:
        """The column generalised to ``level``: the values as is at 0, labels above."""
        lv = self.levels[level]
        if lv.labels is None:
            return self.values
        labels = pl.Series(self.column, list(lv.labels), dtype=pl.String)
        return labels.gather(pl.Series(lv.codes))


def encode_column(series: pl.Series, spec: HierarchySpec) -> EncodedColumn:
    """Encode every level of ``spec``'s hierarchy for ``series``.

    Parameters
    ----------
    series
        The quasi-identifier column. Text is parsed for ``bands`` (numbers) and
        ``date`` (ISO dates); categories are compared as text.
    spec
        Its hierarchy.

    Returns
    -------
    EncodedColumn

    Raises
    ------
    AnonymizationDataError
        If the column's type does not fit the hierarchy, text does not parse, or a
        value is not in a categorical hierarchy. Messages give counts, never values.
    """
    values = _prepare(series, spec)
    n = values.len()
    is_null = values.is_null().to_numpy()
    has_null = bool(is_null.any())
    inverse = values.rank("dense").fill_null(0).to_numpy().astype(np.int64) - 1
    uniques = values.drop_nulls().unique().sort()
    d = uniques.len()
    names = spec.level_names()

    levels = [_make_level(names[0], inverse, is_null, np.arange(d, dtype=np.int64),
                          None, np.zeros(d))]
    for i, (groups, labels, ncp) in enumerate(_groupings(uniques, spec, inverse, series.name)):
        levels.append(_make_level(names[i + 1], inverse, is_null, groups, labels, ncp))
    top_ncp = np.array([1.0 if d + has_null > 1 else 0.0])
    codes = np.zeros(n, dtype=np.int64)
    levels.append(Level(names[-1], codes, 1, top_ncp, (_top_label(spec),),
                        float(top_ncp[0]) * n))
    return EncodedColumn(series.name, values, tuple(levels))


def _top_label(spec: HierarchySpec) -> str:
    return spec.top_label if isinstance(spec, CategoricalSpec) else "*"


def _make_level(name: str, inverse: IntArray, is_null: np.ndarray, groups: IntArray,
                labels: Sequence[str] | None, ncp: FloatArray) -> Level:
    """Codes per row from codes per distinct value; nulls get a code of their own."""
    n_groups = int(groups.max()) + 1 if groups.size else 0
    has_null = bool(is_null.any())
    if groups.size:
        codes = np.where(is_null, n_groups, groups[np.maximum(inverse, 0)])
    else:
        codes = np.zeros(inverse.shape[0], dtype=np.int64)
    group_ncp = np.zeros(n_groups + has_null)
    if n_groups:
        # Every distinct value of a group has the group's loss; take it from any of them.
        group_ncp[groups] = ncp
    out_labels: tuple[str | None, ...] | None = None
    if labels is not None:
        out_labels = (*labels, None) if has_null else tuple(labels)
    return Level(name, codes.astype(np.int64, copy=False), n_groups + has_null, group_ncp,
                 out_labels, float(group_ncp[codes].sum()))


def _groupings(uniques: pl.Series, spec: HierarchySpec, inverse: IntArray,
               column: str) -> list[tuple[IntArray, list[str], FloatArray]]:
    """For each declared level: group of each distinct value, group labels, loss per value."""
    if isinstance(spec, BandsSpec):
        return _band_groupings(uniques.cast(pl.Float64).to_numpy(), spec)
    if isinstance(spec, DateSpec):
        days = uniques.cast(pl.Date).to_physical().to_numpy().astype(np.int64)
        return _date_groupings(days, spec)
    return _categorical_groupings(uniques.cast(pl.String).to_list(), spec, inverse, column)


def _dense(keys: np.ndarray) -> tuple[IntArray, IntArray]:
    """Dense group ids of sorted ``keys`` and the index of each group's first key."""
    if keys.size == 0:
        return np.zeros(0, dtype=np.int64), np.zeros(0, dtype=np.int64)
    new = np.empty(keys.size, dtype=bool)
    new[0] = True
    new[1:] = keys[1:] != keys[:-1]
    return np.cumsum(new) - 1, np.flatnonzero(new)


def _interval_loss(lo: np.ndarray, hi: np.ndarray, vmin: float, vmax: float) -> FloatArray:
    """Share of the data's range [vmin, vmax] that the interval [lo, hi] covers."""
    span = vmax - vmin
    if span <= 0:
        return np.zeros(lo.shape[0])
    covered = np.minimum(hi, vmax) - np.maximum(lo, vmin)
    return np.asarray(np.clip(covered / span, 0.0, 1.0), dtype=np.float64)


def _band_groupings(x: FloatArray, spec: BandsSpec) -> list[tuple[IntArray, list[str], FloatArray]]:
    out: list[tuple[IntArray, list[str], FloatArray]] = []
    vmin, vmax = (float(x[0]), float(x[-1])) if x.size else (0.0, 0.0)
    if spec.widths is not None:
        for width in spec.widths:
            band = np.floor((x - spec.origin) / width)
            groups, first = _dense(band)
            lo = spec.origin + band[first] * width
            labels = [f"[{_number(a)}, {_number(a + width)})" for a in lo.tolist()]
            ncp = _interval_loss(lo, lo + width, vmin, vmax)
            out.append((groups, labels, ncp[groups]))
        return out
    for level_cuts in spec.cuts or ():
        cuts = np.asarray(level_cuts, dtype=np.float64)
        band = np.searchsorted(cuts, x, side="right")
        groups, first = _dense(band)
        idx = band[first]
        lo = np.where(idx > 0, cuts[np.maximum(idx - 1, 0)], -np.inf)
        hi = np.where(idx < cuts.size, cuts[np.minimum(idx, cuts.size - 1)], np.inf)
        labels = [_band_label(a, b) for a, b in zip(lo.tolist(), hi.tolist(), strict=True)]
        ncp = _interval_loss(lo, hi, vmin, vmax)
        out.append((groups, labels, ncp[groups]))
    return out


def _band_label(lo: float, hi: float) -> str:
    if lo == -np.inf:
        return f"< {_number(hi)}"
    if hi == np.inf:
        return f">= {_number(lo)}"
    return f"[{_number(lo)}, {_number(hi)})"


def _date_groupings(days: IntArray, spec: DateSpec) -> list[tuple[IntArray, list[str], FloatArray]]:
    out: list[tuple[IntArray, list[str], FloatArray]] = []
    vmin, vmax = (float(days[0]), float(days[-1])) if days.size else (0.0, 0.0)
    months = days.astype("datetime64[D]").astype("datetime64[M]").astype(np.int64)
    for period in spec.levels:
        if period == "month":
            start_month, n_months = months, 1
        elif period == "quarter":
            start_month, n_months = months // 3 * 3, 3
        else:
            start_month, n_months = months // 12 * 12, 12
        groups, first = _dense(start_month)
        starts = start_month[first]
        first_day = starts.astype("datetime64[M]").astype("datetime64[D]").astype(np.int64)
        next_first = (starts + n_months).astype("datetime64[M]").astype("datetime64[D]")
        last_day = next_first.astype(np.int64) - 1
        labels = [_period_label(int(m), period) for m in starts.tolist()]
        ncp = _interval_loss(first_day.astype(np.float64), last_day.astype(np.float64), vmin, vmax)
        out.append((groups, labels, ncp[groups]))
    return out


def _period_label(month_index: int, period: str) -> str:
    """``2025-03``, ``2025-Q1`` or ``2025`` for a month counted from 1970-01."""
    year, month = 1970 + month_index // 12, month_index % 12 + 1
    if period == "month":
        return f"{year:04d}-{month:02d}"
    if period == "quarter":
        return f"{year:04d}-Q{(month - 1) // 3 + 1}"
    return f"{year:04d}"


def _categorical_groupings(raw: list[str], spec: CategoricalSpec, inverse: IntArray,
                           column: str) -> list[tuple[IntArray, list[str], FloatArray]]:
    out: list[tuple[IntArray, list[str], FloatArray]] = []
    d = len(raw)
    # A declared last level that maps everything to one value is the top itself.
    declared = spec.levels[:-1] if spec.top_is_declared else spec.levels
    unmapped = [i for i, v in enumerate(raw) if v not in spec.levels[0]]
    if unmapped:
        rows = int(np.isin(inverse, np.asarray(unmapped)).sum())
        msg = (f"Column `{column}` has {len(unmapped)} distinct value(s), in {rows} row(s), that "
               f"its hierarchy does not map (quasi_identifiers.{column}.levels[0]).")
        raise AnonymizationDataError(msg)
    current = raw
    for mapping in declared:
        current = [mapping[v] for v in current]
        labels = sorted(set(current))
        index = {label: i for i, label in enumerate(labels)}
        groups = np.fromiter((index[v] for v in current), dtype=np.int64, count=d)
        members = np.bincount(groups, minlength=len(labels))
        ncp = (members - 1) / (d - 1) if d > 1 else np.zeros(len(labels))
        out.append((groups, labels, np.asarray(ncp, dtype=np.float64)[groups]))
    return out


def _prepare(series: pl.Series, spec: HierarchySpec) -> pl.Series:
    """The column as compared and exported at level 0, checked against the hierarchy's kind."""
    name, dtype = series.name, series.dtype
    if isinstance(spec, BandsSpec):
        if dtype == pl.String:
            return _parse_numbers(series)
        if dtype.is_numeric():
            if dtype.is_float():
                # NaN is no number to band: it joins the nulls. -0.0 + 0.0 is 0.0.
                return series.fill_nan(None) + 0.0
            return series if dtype.is_integer() else series.cast(pl.Float64)
        msg = f"Column `{name}` is {dtype}; `bands` needs numbers."
        raise AnonymizationDataError(msg)
    if isinstance(spec, DateSpec):
        if dtype == pl.String:
            parsed = series.str.strip_chars().str.to_date(strict=False)
            _report_unparsed(series, parsed, "ISO dates (YYYY-MM-DD)")
            return parsed
        if dtype == pl.Date or isinstance(dtype, pl.Datetime):
            return series
        msg = f"Column `{name}` is {dtype}; `date` needs dates."
        raise AnonymizationDataError(msg)
    if isinstance(dtype, pl.Categorical | pl.Enum):
        return series.cast(pl.String)
    if dtype.is_nested() or dtype == pl.Object:
        msg = f"Column `{name}` is {dtype}; `categorical` needs scalar values."
        raise AnonymizationDataError(msg)
    return series.fill_nan(None) if dtype.is_float() else series


def _parse_numbers(text: pl.Series) -> pl.Series:
    """Text to integers if every value is one, else to floats; bad cells are reported."""
    stripped = text.str.strip_chars()
    as_int = stripped.cast(pl.Int64, strict=False)
    if int((as_int.is_null() & (stripped.str.len_chars() > 0)).sum()) == 0:
        return as_int
    as_float = stripped.cast(pl.Float64, strict=False)
    _report_unparsed(text, as_float, "numbers")
    return as_float.fill_nan(None) + 0.0


def _report_unparsed(text: pl.Series, parsed: pl.Series, expected: str) -> None:
    bad = parsed.is_null() & (text.str.strip_chars().str.len_chars() > 0)
    n_bad = int(bad.sum())
    if n_bad:
        first = int(bad.arg_true()[0]) + 1
        msg = (f"Column `{text.name}` has {n_bad} value(s) that are not {expected} "
               f"(first in data row {first}).")
        raise AnonymizationDataError(msg)
