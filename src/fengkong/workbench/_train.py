"""From a table of applications with outcomes to deployed scorecards, a report and metrics.

:func:`train` splits the table (stratified train/test, and an out-of-time sample by
date), bins every candidate characteristic, selects, fits one scorecard per segment
(or one card), evaluates train/test/out-of-time and the fairness of the approvals;
:meth:`TrainResult.write` exports the strategy (compiled and checked against the
workbench's own scores before anything is moved into place), the bin tables, the
metrics and the HTML report. ``fengkong train`` is the command line of this module.
"""

from __future__ import annotations

import datetime as dt
import json
import math
import os
import secrets
import shutil
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any

import numpy as np
import polars as pl
import yaml
from numpy.typing import NDArray

from fengkong.workbench._binning import Binner
from fengkong.workbench._export import field_name, identifier, reason_code
from fengkong.workbench._fairness import disparate_impact
from fengkong.workbench._metrics import auc, csi, gains_table, gini, ks, psi
from fengkong.workbench._report import (
    CharacteristicReport,
    FairnessSection,
    ModelReport,
    SampleScores,
    SegmentReport,
)
from fengkong.workbench._scorecard import Scorecard
from fengkong.workbench._selection import Selector

ProgressFn = Callable[[str, int, int], None]

#: Fewest bads (and goods) a segment needs in its training sample to get a scorecard.
MIN_SEGMENT_BADS = 20

#: A text column with more distinct values than this (and than 5 % of the rows) looks like
#: an identifier and is not a candidate characteristic.
MAX_CATEGORIES = 50

SAMPLES = ("train", "test", "oot")


class TrainingInputError(ValueError):
    """The table or the options cannot be trained on; the message names the column or value.

    Attributes
    ----------
    parameter
        Which argument of :func:`train` is at fault (``data``, ``target``, ``segment_by``,
        ``time_column``, ``exclude``, ``protected``, ...), for the command line to point at.
    """

    def __init__(self, message: str, *, parameter: str) -> None:
        super().__init__(message)
        self.parameter = parameter


@dataclass(frozen=True)
class TrainSettings:
    """Parameters of a training run (those of :func:`train`, kept for the report).

    See :func:`train` for their meaning.
    """

    target: str
    segment_by: str | None = None
    time_column: str | None = None
    oot_months: int = 3
    exclude: tuple[str, ...] = ()
    protected: tuple[str, ...] = ()
    test_size: float = 0.3
    seed: int = 42
    special_values: tuple[float, ...] = (-999.0,)
    max_bins: int = 8
    min_bin_share: float = 0.05
    min_iv: float = 0.02
    max_corr: float = 0.7
    max_vif: float = 10.0
    max_psi: float = 0.25
    strong_iv: float = 0.5
    pdo: float = 20.0
    base_score: float = 600.0
    base_odds: float = 50.0
    stepwise: bool = True
    cutoff: float | None = None


@dataclass
class _Segment:
    name: str  # the segment value as text ("all" when not segmented)
    card: Scorecard
    binner: Binner  # fitted on every candidate (the card's own binner has the kept ones)
    characteristics: list[CharacteristicReport]
    component: str = ""  # scorecard component name in the strategy


@dataclass
class TrainResult:
    """A fitted model with its evaluation; :meth:`write` exports it.

    Attributes
    ----------
    settings
        The run's parameters.
    scorecards
        Segment value (text) -> fitted :class:`Scorecard` (``"all"`` when not segmented).
    report
        What the HTML report shows.
    metrics
        JSON-ready metrics (what ``metrics.json`` holds).
    """

    settings: TrainSettings
    scorecards: dict[str, Scorecard]
    report: ModelReport
    metrics: dict[str, Any]
    _segments: list[_Segment] = field(repr=False)
    _holdout: pl.DataFrame = field(repr=False)
    _holdout_scores: NDArray[np.float64] = field(repr=False)
    _strategy_name: str = field(repr=False, default="scorecard_model")
    _segment_int: bool = field(repr=False, default=False)

    def predict_score(self, frame: pl.DataFrame) -> NDArray[np.float64]:
        """Score records as the exported strategy does (each by its segment's card).

        Parameters
        ----------
        frame
            Records with the characteristics (and the segment column when segmented).

        Returns
        -------
        numpy.ndarray
            Points, higher = lower risk.
        """
        return _score(self._segments, self.settings.segment_by, frame)[0]

    def strategy_document(self) -> tuple[dict[str, Any], dict[str, dict[str, Any]]]:
        """The exported strategy and its scorecard documents (card name -> document)."""
        return _strategy_document(self._segments, self.settings, self._strategy_name,
                                  segment_int=self._segment_int)

    def write(self, folder: str | Path, *, progress: ProgressFn | None = None) -> list[Path]:
        """Export the strategy, bin tables, metrics and report into ``folder``.

        Everything is written into a temporary folder next to ``folder`` first; the
        strategy is compiled and the holdout records are scored through the engine,
        which must give the workbench's scores exactly. Only then are the files moved
        into ``folder`` (replacing files and sub-folders of the same name).

        Parameters
        ----------
        folder
            The output folder (created if needed).
        progress
            Called with (stage, done, total).

        Returns
        -------
        list of pathlib.Path
            The files written, relative to ``folder``.

        Raises
        ------
        ExportCheckError
            If the strategy does not compile or the engine scores a record differently.
        """
        out = Path(folder)
        out.parent.mkdir(parents=True, exist_ok=True)
        tmp = out.parent / f".{out.name}.{secrets.token_hex(4)}.tmp"
        tmp.mkdir()
        charts = self.report.chart_count()
        step = _Steps(progress, "writing", 4 + charts)
        try:
            doc, cards = self.strategy_document()
            for name, card in cards.items():
                _write_yaml(card, tmp / "scorecards" / f"{name}.yaml")
            _write_yaml(doc, tmp / "strategy.yaml")
            step("checking the export with the engine")
            check = _engine_check(tmp / "strategy.yaml", self._holdout, self._holdout_scores,
                                  self._segments)
            step("writing bin tables")
            bin_files = _write_bin_tables(self._segments, tmp / "bin_tables",
                                          segmented=self.settings.segment_by is not None)
            metrics = {**self.metrics, "engine_check": check}
            files = _file_list(cards, bin_files)
            step("writing metrics")
            (tmp / "metrics.json").write_text(
                json.dumps(_jsonable(metrics), indent=2, ensure_ascii=False) + "\n",
                encoding="utf-8")
            step("drawing the report")
            report = replace(self.report, files=files, engine_check=(
                f"Checked: the engine scored the {check['records']:,} test and out-of-time "
                f"records through the exported strategy; every score equals the workbench's "
                f"(largest difference {check['max_abs_difference']:g} points)."))

            def drawn(done: int, total: int) -> None:
                if progress is not None:
                    progress("drawing the report", 4 + min(done, charts) - 1, 4 + charts)

            (tmp / "report.html").write_text(report.to_html(drawn), encoding="utf-8")
            written = sorted(p.relative_to(tmp) for p in tmp.rglob("*") if p.is_file())
            _move_into(tmp, out)
            step.finish("written")
            return written
        finally:
            shutil.rmtree(tmp, ignore_errors=True)


class ExportCheckError(RuntimeError):
    """The exported strategy does not compile, or the engine does not score as the workbench."""


# --------------------------------------------------------------------------------------------
# Reading and checking the input
# --------------------------------------------------------------------------------------------


def read_table(path: str | Path) -> pl.DataFrame:
    """Read a Parquet or CSV file (by extension); CSV dates are parsed.

    Parameters
    ----------
    path
        ``.parquet`` or ``.csv``.

    Returns
    -------
    polars.DataFrame

    Raises
    ------
    TrainingInputError
        If the extension is neither or the file cannot be read (``parameter="data"``).
    """
    p = Path(path)
    suffix = p.suffix.lower()
    try:
        if suffix == ".parquet":
            return pl.read_parquet(p)
        if suffix == ".csv":
            return pl.read_csv(p, infer_schema_length=10_000, try_parse_dates=True)
    except (OSError, pl.exceptions.PolarsError) as exc:
        first = str(exc).split("\n", 1)[0]
        msg = f"Cannot read `{p}`: {first}"
        raise TrainingInputError(msg, parameter="data") from exc
    msg = f"`{p}` has extension `{p.suffix}`; use .parquet or .csv."
    raise TrainingInputError(msg, parameter="data")


def _names(cols: Sequence[str], n: int = 12) -> str:
    shown = ", ".join(f"`{c}`" for c in cols[:n])
    return shown + (f" and {len(cols) - n} more" if len(cols) > n else "")


def _require(frame: pl.DataFrame, column: str, parameter: str, what: str) -> None:
    if column not in frame.columns:
        msg = (f"The {what} column `{column}` is not in the data; its columns are "
               f"{_names(frame.columns)}.")
        raise TrainingInputError(msg, parameter=parameter)


def _target(frame: pl.DataFrame, target: str) -> NDArray[np.int64]:
    _require(frame, target, "target", "target")
    col = frame[target]
    n_null = col.null_count()
    if n_null:
        msg = (f"The target column `{target}` has {n_null:,} missing values; drop the records "
               "whose outcome is not known yet.")
        raise TrainingInputError(msg, parameter="target")
    if col.dtype == pl.Boolean:
        return col.cast(pl.Int64).to_numpy()
    values = col.unique().sort().to_list()
    ok = col.dtype.is_numeric() and all(
        isinstance(v, int | float) and not isinstance(v, bool) and v in (0, 1) for v in values)
    if not ok:
        shown = ", ".join(repr(v) for v in values[:6]) + (" …" if len(values) > 6 else "")
        msg = (f"The target column `{target}` must be binary, 1 = bad and 0 = good; it holds "
               f"{len(values)} distinct values ({shown}).")
        raise TrainingInputError(msg, parameter="target")
    y = col.cast(pl.Int64).to_numpy()
    if len(values) < 2:
        msg = (f"The target column `{target}` has only {'bads' if values == [1] else 'goods'} "
               f"({values[0]!r}); a scorecard needs both outcomes.")
        raise TrainingInputError(msg, parameter="target")
    return np.asarray(y, dtype=np.int64)


def _candidates(frame: pl.DataFrame, s: TrainSettings) -> tuple[list[str], list[tuple[str, str]]]:
    """Candidate characteristics, and the other columns with the reason they are left out."""
    excluded: list[tuple[str, str]] = []
    roles = {s.target: "the target"}
    if s.segment_by:
        roles[s.segment_by] = "the segment column (one scorecard per value)"
    if s.time_column:
        roles[s.time_column] = "the time column (it defines the out-of-time sample)"
    for c in s.protected:
        roles.setdefault(c, "a protected attribute: used only for the fairness report")
    for c in s.exclude:
        roles.setdefault(c, "excluded (--exclude)")
    candidates: list[str] = []
    n = frame.height
    for name, dtype in frame.schema.items():
        if name in roles:
            excluded.append((name, roles[name]))
        elif dtype.is_temporal():
            excluded.append((name, f"a date/time column ({dtype})"))
        elif dtype == pl.Boolean:
            excluded.append((name, "a true/false column: cast it to 0/1 to use it"))
        elif dtype.is_nested() or dtype == pl.Binary or dtype == pl.Null:
            excluded.append((name, f"not a number or text ({dtype})"))
        elif not (dtype.is_numeric() or dtype in (pl.String, pl.Categorical, pl.Enum)):
            excluded.append((name, f"unsupported type {dtype}"))
        else:
            col = frame[name]
            distinct = col.n_unique() - (1 if col.null_count() else 0)
            if distinct <= 1:
                excluded.append((name, "a single value"))
            elif not dtype.is_numeric() and distinct > max(MAX_CATEGORIES, 0.05 * n):
                excluded.append((name, f"text with {distinct:,} distinct values "
                                       "(an identifier?)"))
            else:
                candidates.append(name)
    return candidates, excluded


# --------------------------------------------------------------------------------------------
# Splitting
# --------------------------------------------------------------------------------------------


def _dates(frame: pl.DataFrame, column: str) -> pl.Series:
    col = frame[column]
    if col.dtype == pl.Date:
        return col
    if isinstance(col.dtype, pl.Datetime):
        return col.dt.date()
    if col.dtype == pl.String:
        parsed = col.str.to_date(strict=False)
        bad = int((parsed.is_null() & col.is_not_null()).sum())
        if bad == 0:
            return parsed
        msg = (f"The time column `{column}` has {bad:,} values that are not ISO dates "
               "(YYYY-MM-DD).")
        raise TrainingInputError(msg, parameter="time_column")
    msg = f"The time column `{column}` must hold dates; it is {col.dtype}."
    raise TrainingInputError(msg, parameter="time_column")


def _split(frame: pl.DataFrame, y: NDArray[np.int64], s: TrainSettings
           ) -> tuple[NDArray[np.str_], str]:
    """The sample of every row (train, test or oot) and a sentence describing the split."""
    n = frame.height
    sample = np.full(n, "train", dtype=object)
    dev = np.ones(n, dtype=bool)
    text = ""
    if s.time_column:
        dates = _dates(frame, s.time_column)
        if dates.null_count():
            msg = (f"The time column `{s.time_column}` has {dates.null_count():,} missing "
                   "dates; every record needs one for the out-of-time split.")
            raise TrainingInputError(msg, parameter="time_column")
        last = dates.max()
        assert isinstance(last, dt.date)
        month = last.year * 12 + last.month - 1 - (s.oot_months - 1)
        start = dt.date(month // 12, month % 12 + 1, 1)
        oot = (dates >= start).to_numpy()
        if oot.all() or not oot.any():
            msg = (f"The out-of-time sample (the last {s.oot_months} months of "
                   f"`{s.time_column}`, from {start}) holds {'every' if oot.all() else 'no'} "
                   "record; choose another --oot-months.")
            raise TrainingInputError(msg, parameter="oot_months")
        sample[oot] = "oot"
        dev = ~oot
        first = dates.min()
        assert isinstance(first, dt.date)
        text = (f"Out-of-time: applications from {start} to {last} ({s.oot_months} months of "
                f"`{s.time_column}`); the earlier ones ({first} to {start - dt.timedelta(1)}) ")
    else:
        text = "All records "
    # Stratified by outcome (and segment): the same bad rate and mix in train and test.
    rng = np.random.default_rng(s.seed)
    strata = y.astype(np.int64) * 1
    if s.segment_by:
        codes = frame[s.segment_by].cast(pl.String).fill_null("\x00").to_numpy()
        _, inv = np.unique(codes, return_inverse=True)
        strata = strata + 2 * inv.astype(np.int64)
    for value in np.unique(strata[dev]):
        idx = np.flatnonzero(dev & (strata == value))
        n_test = round(s.test_size * len(idx))
        sample[rng.permutation(idx)[:n_test]] = "test"
    text += (f"were split at random, stratified by outcome"
             f"{' and segment' if s.segment_by else ''}, into train "
             f"({100 * (1 - s.test_size):.0f} %) and test ({100 * s.test_size:.0f} %), "
             f"seed {s.seed}.")
    return np.asarray(sample, dtype=np.str_), text


# --------------------------------------------------------------------------------------------
# Fitting and evaluating
# --------------------------------------------------------------------------------------------


class _Steps:
    def __init__(self, progress: ProgressFn | None, prefix: str, total: int) -> None:
        self.progress, self.prefix, self.total, self.done = progress, prefix, total, 0

    def __call__(self, stage: str) -> None:
        if self.progress is not None:
            self.progress(stage, min(self.done, self.total), self.total)
        self.done += 1

    def finish(self, stage: str) -> None:
        if self.progress is not None:
            self.progress(stage, self.total, self.total)


def _specials(frame: pl.DataFrame, columns: Sequence[str], values: Sequence[float]
              ) -> dict[str, list[float]]:
    """Declared special values, per numeric column where they occur."""
    out: dict[str, list[float]] = {}
    for c in columns:
        if frame.schema[c].is_numeric():
            col = frame[c]
            present = [v for v in values if bool((col == v).any())]
            if present:
                out[c] = present
    return out


def _sample_metrics(y: NDArray[Any], score: NDArray[Any]) -> dict[str, float]:
    n, bads = len(y), int(np.sum(y))
    out: dict[str, float] = {"n": float(n), "bads": float(bads),
                             "bad_rate": bads / n if n else math.nan}
    if 0 < bads < n:
        k = ks(y, score, higher_is_riskier=False)
        out |= {"auc": auc(y, score, higher_is_riskier=False),
                "gini": gini(y, score, higher_is_riskier=False),
                "ks": k.statistic, "ks_score": k.threshold}
    return out


def _fit_segment(name: str, frame: pl.DataFrame, y: NDArray[np.int64],
                 sample: NDArray[np.str_], candidates: list[str], s: TrainSettings,
                 step: _Steps) -> tuple[Scorecard, Binner, list[CharacteristicReport]]:
    train = sample == "train"
    xtr = frame.filter(pl.Series(train)).select(candidates)
    ytr = y[train]
    label = "" if name == "all" else f" ({name})"
    step(f"binning{label}")
    params: dict[str, Any] = {
        "special_values": _specials(xtr, candidates, s.special_values),
        "max_bins": s.max_bins, "min_bin_share": s.min_bin_share, "strong_iv": s.strong_iv}
    binner = Binner(columns=candidates, **params).fit(xtr, ytr)
    step(f"selecting{label}")
    selector = Selector(min_iv=s.min_iv, max_corr=s.max_corr, max_vif=s.max_vif,
                        max_psi=s.max_psi, strong_iv=s.strong_iv)
    selector.fit(xtr, ytr, binner=binner, time=_windows(frame, s, train))
    report = selector.report_
    kept = [f for f, k in zip(report["feature"].to_list(), report["kept"].to_list(),
                              strict=True) if k]
    step(f"fitting the scorecard{label}")
    if not kept:
        msg = (f"No characteristic passed the selection{label}: every IV is below "
               f"{s.min_iv:g} or every candidate was dropped; see the IV ranking.")
        raise TrainingInputError(msg, parameter="data")
    card = Scorecard(Binner(columns=kept, **params), pdo=s.pdo, base_score=s.base_score,
                     base_odds=s.base_odds, stepwise=s.stepwise).fit(xtr.select(kept), ytr)
    reasons = dict(zip(report["feature"].to_list(), report["reason"].to_list(), strict=True))
    coef = dict(zip(card.features_, np.ravel(card.coef_).tolist(), strict=True))
    chars = []
    for c in binner.columns_:
        in_card = c in card.features_
        reason = _reason(str(reasons.get(c, "")), s)
        if c in kept and not in_card:
            reason = ("passed the filters; not chosen by the stepwise search (adds too little "
                      "by BIC)" if s.stepwise else "no WoE variation left in the scorecard fit")
        flags = list(binner.flags_.get(c, ()))
        table = binner.bin_tables_[c]
        for label, kind, goods, bads in table.select("bin", "kind", "goods", "bads").iter_rows():
            if kind != "normal" and goods + bads > 0 and min(goods, bads) == 0:
                flags.append(f"bin {label} has no {'bads' if bads == 0 else 'goods'} "
                             f"({goods + bads:,.0f} records): its WoE rests on the 0.5 "
                             "pseudo-count")
        if in_card and float(np.ptp(card.bin_points_[c])) == 0.0:
            flags.append("adds no points: every bin scores the same after rounding")
        if coef.get(c, 0.0) > 0:  # WoE is higher = better: a positive coefficient reverses it
            flags.append(f"coefficient sign reversed ({coef[c]:+.3f}): points fall as WoE "
                         "rises; collinear with other characteristics?")
        chars.append(CharacteristicReport(
            name=c, iv=float(binner.iv_[c]), kept=in_card, reason=reason, flags=tuple(flags),
            trend=str(binner.trends_.get(c, "")), bin_table=binner.bin_tables_[c]))
    return card, binner, chars


def _reason(text: str, s: TrainSettings) -> str:
    """The selector's reason without the strong-predictor note (shown as a flag)."""
    parts = [p for p in text.split("; ") if not p.startswith("strong predictor")]
    reason = "; ".join(parts) or "kept"
    if reason == "kept":
        checks = ["IV", "correlation", "VIF"] + (["stability"] if s.time_column else [])
        return f"passed the {', '.join(checks[:-1])} and {checks[-1]} filters"
    return reason


def _windows(frame: pl.DataFrame, s: TrainSettings, train: NDArray[np.bool_]
             ) -> NDArray[Any] | None:
    """Time windows of the training rows (halves by date) for the stability filter."""
    if not s.time_column:
        return None
    dates = _dates(frame, s.time_column).filter(pl.Series(train)).to_physical().to_numpy()
    median = np.median(dates)
    return np.where(dates <= median, "early", "late")


def _score(segments: Sequence[_Segment], segment_by: str | None, frame: pl.DataFrame
           ) -> tuple[NDArray[np.float64], NDArray[np.float64]]:
    """Score and PD of every record by its segment's card (the last card takes the rest)."""
    n = frame.height
    score = np.full(n, np.nan)
    proba = np.full(n, np.nan)
    rest = np.ones(n, dtype=bool)
    if segment_by is not None:
        codes = frame[segment_by].cast(pl.String).to_numpy()
        for seg in segments[:-1]:
            mask = codes == seg.name
            rest &= ~mask
            if mask.any():
                part = frame.filter(pl.Series(mask))
                score[mask] = seg.card.predict_score(part)
                proba[mask] = seg.card.predict_proba(part)[:, 1]
    last = segments[-1].card
    if rest.any():
        part = frame.filter(pl.Series(rest))
        score[rest] = last.predict_score(part)
        proba[rest] = last.predict_proba(part)[:, 1]
    return score, proba


def train(frame: pl.DataFrame, *, target: str, segment_by: str | None = None,
          time_column: str | None = None, oot_months: int = 3, exclude: Sequence[str] = (),
          protected: Sequence[str] = (), test_size: float = 0.3, seed: int = 42,
          special_values: Sequence[float] = (-999.0,), cutoff: float | None = None,
          source: str = "data", progress: ProgressFn | None = None,
          **options: Any) -> TrainResult:
    """Fit binning, selection and a scorecard per segment; evaluate; build the report.

    Parameters
    ----------
    frame
        One row per application with its outcome.
    target
        The outcome column: 1 (or true) = bad, 0 = good; no missing values.
    segment_by
        Fit one scorecard per value of this column (the largest segment's card also takes
        missing and unseen values in the strategy).
    time_column
        Application dates: the last ``oot_months`` calendar months become the
        out-of-time sample.
    oot_months
        Months in the out-of-time sample.
    exclude
        Columns that are not characteristics (ids, later information, …).
    protected
        Protected attributes (gender, age band, region, …): never characteristics, used
        only for the fairness section.
    test_size
        Share of the (in-time) records held out for testing, stratified by outcome.
    seed
        Seed of the split.
    special_values
        Values binned apart from the others in the numeric columns where they occur.
    cutoff
        Approve at this score or above in the fairness section (default: the score of
        maximum separation on the test records).
    source
        Where the data came from (for the report).
    progress
        Called with (stage, done, total) while it works.
    **options
        Further :class:`TrainSettings` fields (``max_bins``, ``min_iv``, ``max_corr``,
        ``max_vif``, ``max_psi``, ``strong_iv``, ``pdo``, ``base_score``, ``base_odds``,
        ``min_bin_share``, ``stepwise``: forward selection by BIC among the characteristics
        that passed the filters, on by default; off fits all of them).

    Returns
    -------
    TrainResult

    Raises
    ------
    TrainingInputError
        If a named column is missing, the target is not binary, a segment is too small, …
    """
    s = TrainSettings(target=target, segment_by=segment_by, time_column=time_column,
                      oot_months=oot_months, exclude=tuple(exclude), protected=tuple(protected),
                      test_size=test_size, seed=seed, special_values=tuple(special_values),
                      cutoff=cutoff, **options)
    _check_settings(frame, s)
    y = _target(frame, target)
    candidates, excluded = _candidates(frame, s)
    if not candidates:
        msg = "No column is left to be a characteristic (see the excluded columns)."
        raise TrainingInputError(msg, parameter="data")
    values = _segment_values(frame, y, s)
    segment_int = segment_by is not None and frame[segment_by].dtype.is_integer()
    step = _Steps(progress, "training", 3 + 3 * len(values) + 2)
    step("splitting")
    sample, split_text = _split(frame, y, s)
    _check_segments(frame, y, sample, s, values)

    segments: list[_Segment] = []
    for value in values:
        name = "all" if value is None else str(value)
        mask = (np.ones(frame.height, dtype=bool) if segment_by is None
                else (frame[segment_by].cast(pl.String) == name).fill_null(False).to_numpy())
        sub = frame.filter(pl.Series(mask))
        card, binner, chars = _fit_segment(name, sub, y[mask], sample[mask], candidates, s,
                                           step)
        segments.append(_Segment(name, card, binner, chars))

    step("evaluating")
    score, proba = _score(segments, segment_by, frame)
    names = _component_names(segments)
    seg_reports: list[SegmentReport] = []
    seg_codes = (frame[segment_by].cast(pl.String).to_numpy() if segment_by else None)
    for i, seg in enumerate(segments):
        if seg_codes is None:
            mask = np.ones(frame.height, dtype=bool)
        elif i < len(segments) - 1:
            mask = seg_codes == seg.name
        else:
            mask = np.ones(frame.height, dtype=bool)
            for other in segments[:-1]:
                mask &= seg_codes != other.name
        seg.component = names[i]
        seg_reports.append(_segment_report(seg, frame, y, sample, score, proba, mask, s,
                                           is_default=i == len(segments) - 1,
                                           segment_int=segment_int))

    overall = [SampleScores(k, y[sample == k], score[sample == k], proba[sample == k])
               for k in SAMPLES if (sample == k).any()]
    overall_metrics = {x.name: _sample_metrics(x.y, x.score) for x in overall}
    holdout = sample != "train"
    step("fairness")
    chosen_cutoff, cutoff_note = _cutoff(s, overall)
    fairness = _fairness(frame, holdout, score, chosen_cutoff, s)
    step.finish("trained")

    created = dt.datetime.now(dt.UTC).strftime("%Y-%m-%d %H:%M UTC")
    settings_shown: dict[str, object] = {
        k: v for k, v in vars(s).items() if v not in (None, ())}
    report = ModelReport(
        title=f"Scorecard model report: {Path(source).name}", source=source, target=target,
        created=created, n_rows=frame.height, n_columns=frame.width, split=split_text,
        overall=overall, overall_metrics=overall_metrics, segments=seg_reports,
        segment_by=segment_by, excluded=excluded, fairness=fairness, cutoff=chosen_cutoff,
        cutoff_note=cutoff_note, settings=settings_shown)
    metrics = _metrics_doc(s, report, frame, source)
    fields = sorted({c for seg in segments for c in seg.card.binner_.columns_}
                    | ({segment_by} if segment_by else set()))
    return TrainResult(
        settings=s, scorecards={seg.name: seg.card for seg in segments}, report=report,
        metrics=metrics, _segments=segments, _holdout=frame.filter(pl.Series(holdout))
        .select(fields), _holdout_scores=score[holdout],
        _strategy_name=identifier(f"{Path(source).stem}_{target}_scorecard", prefix="model"),
        _segment_int=segment_int)


def _check_settings(frame: pl.DataFrame, s: TrainSettings) -> None:
    if not 0.0 < s.test_size < 1.0:
        msg = f"The test share must be between 0 and 1; got {s.test_size:g}."
        raise TrainingInputError(msg, parameter="test_size")
    if s.oot_months < 1:
        msg = f"--oot-months must be at least 1; got {s.oot_months}."
        raise TrainingInputError(msg, parameter="oot_months")
    if s.segment_by is not None:
        _require(frame, s.segment_by, "segment_by", "segment")
        if s.segment_by == s.target:
            msg = f"The segment column `{s.segment_by}` is the target."
            raise TrainingInputError(msg, parameter="segment_by")
        if s.segment_by in s.protected:
            msg = (f"The segment column `{s.segment_by}` is a protected attribute; a model "
                   "may not be segmented by it.")
            raise TrainingInputError(msg, parameter="segment_by")
    if s.time_column is not None:
        _require(frame, s.time_column, "time_column", "time")
    for c in s.exclude:
        _require(frame, c, "exclude", "excluded")
    for c in s.protected:
        _require(frame, c, "protected", "protected")
        if c == s.target:
            msg = f"The protected attribute `{c}` is the target."
            raise TrainingInputError(msg, parameter="protected")


def _segment_values(frame: pl.DataFrame, y: NDArray[np.int64], s: TrainSettings
                    ) -> list[object]:
    """Segment values, the largest last (its card is the strategy's default)."""
    if s.segment_by is None:
        return [None]
    col = frame[s.segment_by]
    if not (col.dtype in (pl.String, pl.Categorical, pl.Enum) or col.dtype.is_integer()):
        msg = (f"The segment column `{s.segment_by}` must hold text or whole numbers; it is "
               f"{col.dtype}.")
        raise TrainingInputError(msg, parameter="segment_by")
    counts = (col.cast(pl.String).drop_nulls().value_counts(sort=True, name="n")
              .sort(["n", s.segment_by], descending=[False, True]))
    values = counts[s.segment_by].to_list()
    if not values:
        msg = f"The segment column `{s.segment_by}` has no values (every record is missing)."
        raise TrainingInputError(msg, parameter="segment_by")
    for v in values:
        if "'" in v or "\\" in v or not v.strip():
            msg = (f"Segment value {v!r} of `{s.segment_by}` cannot be routed in a strategy "
                   "(quotes, backslashes or blanks); recode it.")
            raise TrainingInputError(msg, parameter="segment_by")
    return list(values)


def _check_segments(frame: pl.DataFrame, y: NDArray[np.int64], sample: NDArray[np.str_],
                    s: TrainSettings, values: Sequence[object]) -> None:
    if s.segment_by is None:
        train = sample == "train"
        bads = int(y[train].sum())
        if min(bads, int(train.sum()) - bads) < MIN_SEGMENT_BADS:
            msg = (f"The training sample has {bads:,} bads and {int(train.sum()) - bads:,} "
                   f"goods; a scorecard needs at least {MIN_SEGMENT_BADS} of each.")
            raise TrainingInputError(msg, parameter="data")
        return
    codes = frame[s.segment_by].cast(pl.String).to_numpy()
    for v in values:
        mask = (codes == v) & (sample == "train")
        bads = int(y[mask].sum())
        goods = int(mask.sum()) - bads
        if min(bads, goods) < MIN_SEGMENT_BADS:
            msg = (f"Segment `{s.segment_by} = {v}` has {int(mask.sum()):,} training records "
                   f"with {bads:,} bads and {goods:,} goods; a scorecard needs at least "
                   f"{MIN_SEGMENT_BADS} of each. Merge it into another segment or drop it.")
            raise TrainingInputError(msg, parameter="segment_by")


def _segment_report(seg: _Segment, frame: pl.DataFrame, y: NDArray[np.int64],
                    sample: NDArray[np.str_], score: NDArray[np.float64],
                    proba: NDArray[np.float64], mask: NDArray[np.bool_], s: TrainSettings,
                    *, is_default: bool, segment_int: bool) -> SegmentReport:
    samples = [SampleScores(k, y[mask & (sample == k)], score[mask & (sample == k)],
                            proba[mask & (sample == k)])
               for k in SAMPLES if (mask & (sample == k)).any()]
    metrics = {x.name: _sample_metrics(x.y, x.score) for x in samples}
    train_scores = samples[0].score
    psis = {x.name: psi(train_scores, x.score) for x in samples[1:]}
    gains = {x.name: gains_table(x.y, x.score, higher_is_riskier=False) for x in samples
             if 0 < x.bads < x.n}
    card = seg.card
    binned = list(card.binner_.columns_)  # the card's binner may hold more than it uses
    train_x = frame.filter(pl.Series(mask & (sample == "train"))).select(binned)
    csis: dict[str, dict[str, float]] = {}
    for k in ("test", "oot"):
        other = mask & (sample == k)
        if other.any() and card.features_:
            t = csi(train_x, frame.filter(pl.Series(other)).select(binned), card.binner_,
                    columns=card.features_)
            for f, v in zip(t["feature"].to_list(), t["csi"].to_list(), strict=True):
                csis.setdefault(f, {})[k] = float(v)
    chars = [replace(c, csi=csis.get(c.name, {})) for c in seg.characteristics]
    condition = None
    if s.segment_by is not None and not is_default:
        condition = _route(s.segment_by, seg.name, segment_int=segment_int)
    points = card.points_.select("feature", "bin", "points")
    return SegmentReport(
        name=seg.name, condition=condition, samples=samples, metrics=metrics,
        characteristics=chars, points=points, base_points=float(card.base_points_),
        gains=gains, psi=psis, scorecard_file=f"scorecards/{seg.component}.yaml")


def _cutoff(s: TrainSettings, overall: Sequence[SampleScores]) -> tuple[float | None, str]:
    if s.cutoff is not None:
        return s.cutoff, "the cut-off given"
    test = next((x for x in overall if x.name == "test"), overall[0])
    if not 0 < test.bads < test.n:
        return None, "no cut-off: the test sample has one outcome only"
    k = ks(test.y, test.score, higher_is_riskier=False)
    above = test.score[test.score > k.threshold]
    cut = float(above.min()) if len(above) else float(k.threshold)
    share = float(np.mean(test.score >= cut))
    return cut, (f"the first score above the maximum-KS split on the test records; it "
                 f"approves {100 * share:.1f} % of them — pass a cut-off to use your own")


def _fairness(frame: pl.DataFrame, holdout: NDArray[np.bool_], score: NDArray[np.float64],
              cutoff: float | None, s: TrainSettings) -> list[FairnessSection]:
    if cutoff is None or not s.protected:
        return []
    out = []
    approved = score[holdout] >= cutoff
    for attr in s.protected:
        groups = frame[attr].filter(pl.Series(holdout)).cast(pl.String).fill_null("(missing)")
        table = disparate_impact(approved, groups)
        gs = groups.to_numpy()
        scores = {str(g): score[holdout][gs == g] for g in table["group"].to_list()}
        out.append(FairnessSection(attr, table, scores))
    return out


# --------------------------------------------------------------------------------------------
# Export
# --------------------------------------------------------------------------------------------


def _component_names(segments: Sequence[_Segment]) -> list[str]:
    names: list[str] = []
    for seg in segments:
        base = identifier(f"score_{seg.name}")
        name = base
        while name in names:
            name = f"{base[:60]}_{len(names)}"
        names.append(name)
    return names


def _route(column: str, value: str, *, segment_int: bool) -> str:
    """The strategy condition that routes one segment value."""
    literal = value if segment_int else f"'{value}'"
    return f"{field_name(column)} == {literal}"


def _strategy_document(segments: Sequence[_Segment], s: TrainSettings, name: str, *,
                       segment_int: bool = False
                       ) -> tuple[dict[str, Any], dict[str, dict[str, Any]]]:
    cards: dict[str, dict[str, Any]] = {}
    fields: dict[str, dict[str, Any]] = {}
    texts: dict[str, dict[str, str]] = {}
    for seg in segments:
        cards[seg.component] = seg.card.to_component(name=seg.component)
        for key, spec in seg.card.input_fields().items():
            if key in fields and fields[key]["type"] != spec["type"]:
                fields[key] = {"type": "float", "required": False}
            else:
                fields.setdefault(key, dict(spec))
        for col in seg.card.features_:
            label = col.replace("_", " ")
            texts.setdefault(reason_code(col), {
                "en": f"Your {label} lowered the score.", "zh": f"{label} 一项评分较低。"})
    doc: dict[str, Any] = {
        "schema_version": 1, "strategy": name, "version": 1, "stage": "origination",
        "description": (f"Scorecard{'s per ' + s.segment_by if s.segment_by else ''} fitted by "
                        f"fengkong train on `{s.target}`."),
        "inputs": fields,
        "scorecards": {c: {"file": f"scorecards/{c}.yaml"} for c in cards},
        "use": {"score": segments[-1].component},
    }
    if s.segment_by is not None:
        seg_field = field_name(s.segment_by)
        fields[seg_field] = {"type": "int" if segment_int else "str", "required": False}
        routes: list[dict[str, Any]] = [
            {"name": identifier(f"segment_{seg.name}"),
             "when": _route(s.segment_by, seg.name, segment_int=segment_int),
             "use": {"score": seg.component}}
            for seg in segments[:-1]]
        routes.append({"name": identifier(f"segment_{segments[-1].name}"),
                       "description": (f"{s.segment_by} = {segments[-1].name}, and every "
                                       "other or missing value")})
        doc["segments"] = routes
    doc["reasons"] = texts
    return doc, cards


def _write_yaml(doc: Mapping[str, Any], path: Path) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(yaml.safe_dump(dict(doc), sort_keys=False, allow_unicode=True, width=100),
                    encoding="utf-8")


def _engine_frame(holdout: pl.DataFrame) -> pl.DataFrame:
    """The holdout records with columns renamed to the strategy's input fields."""
    frame = holdout.rename({c: field_name(c) for c in holdout.columns})
    casts = [pl.col(c).cast(pl.String) for c, t in frame.schema.items()
             if t in (pl.Categorical, pl.Enum, pl.Boolean)]
    return frame.with_columns(casts) if casts else frame


def _engine_check(path: Path, holdout: pl.DataFrame, expected: NDArray[np.float64],
                  segments: Sequence[_Segment]) -> dict[str, Any]:
    from fengkong.compile import compile_strategy
    from fengkong.engine import evaluate_batch
    from fengkong.errors import StrategyFileError

    try:
        compiled = compile_strategy(path)
    except StrategyFileError as exc:
        problems = "; ".join(str(d) for d in exc.diagnostics[:5])
        msg = f"The exported strategy does not compile: {problems}"
        raise ExportCheckError(msg) from exc
    frame = _engine_frame(holdout)
    decisions = evaluate_batch(compiled, frame)
    errors = decisions["error"].drop_nulls()
    if len(errors):
        msg = f"The engine rejected {len(errors):,} holdout records: {errors[0]}"
        raise ExportCheckError(msg)
    got = decisions["score.score"].cast(pl.Float64).to_numpy()
    diff = np.abs(got - expected)
    worst = float(np.nanmax(diff)) if len(diff) else 0.0
    mismatched = int(np.sum(~(diff == 0)))
    if mismatched:
        i = int(np.nanargmax(diff))
        msg = (f"The engine scores {mismatched:,} of {len(diff):,} holdout records differently "
               f"from the workbench (record {i}: engine {got[i]:g}, workbench "
               f"{expected[i]:g}); nothing was written.")
        raise ExportCheckError(msg)
    return {"records": len(diff), "mismatches": 0, "max_abs_difference": worst,
            "cards": [seg.component for seg in segments]}


def _write_bin_tables(segments: Sequence[_Segment], folder: Path, *, segmented: bool
                      ) -> list[str]:
    folder.mkdir(parents=True, exist_ok=True)
    out = []
    for seg in segments:
        for c, table in seg.binner.bin_tables_.items():
            stem = identifier(f"{seg.name}__{c}" if segmented else c)
            flat = table.with_columns(pl.col("categories").list.join("|")) \
                if "categories" in table.columns else table
            flat = flat.with_columns(pl.lit(c).alias("characteristic"),
                                     pl.lit(c in seg.card.features_).alias("in_scorecard"))
            if segmented:
                flat = flat.with_columns(pl.lit(seg.name).alias("segment"))
            path = folder / f"{stem}.csv"
            flat.write_csv(path)
            out.append(f"bin_tables/{stem}.csv")
    return out


def _file_list(cards: Mapping[str, Any], bin_files: Sequence[str]) -> list[tuple[str, str]]:
    files = [("strategy.yaml", "the strategy: inputs, segment routing, scorecards — what "
                               "fengkong validate, batch, decide and releases take")]
    files += [(f"scorecards/{c}.yaml", "a scorecard component (points per bin)") for c in cards]
    files.append(("report.html", "this report"))
    files.append(("metrics.json", "every metric of this report, machine-readable"))
    files.append((f"bin_tables/*.csv ({len(bin_files)} files)",
                  "the bin tables of every candidate characteristic"))
    return files


def _move_into(tmp: Path, out: Path) -> None:
    if not out.exists():
        os.replace(tmp, out)
        tmp.mkdir()  # the caller removes it
        return
    for entry in sorted(tmp.iterdir()):
        dest = out / entry.name
        if entry.is_dir():
            if dest.exists():
                old = out / f".{entry.name}.{secrets.token_hex(4)}.old"
                os.replace(dest, old)
                os.replace(entry, dest)
                shutil.rmtree(old, ignore_errors=True)
            else:
                os.replace(entry, dest)
        else:
            os.replace(entry, dest)


def _jsonable(value: Any) -> Any:
    if isinstance(value, Mapping):
        return {str(k): _jsonable(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [_jsonable(v) for v in value]
    if isinstance(value, np.generic):
        return _jsonable(value.item())
    if isinstance(value, float) and not math.isfinite(value):
        return None
    if isinstance(value, pl.DataFrame):
        return [_jsonable(r) for r in value.to_dicts()]
    return value


def _metrics_doc(s: TrainSettings, report: ModelReport, frame: pl.DataFrame, source: str
                 ) -> dict[str, Any]:
    segs = {}
    for seg in report.segments:
        segs[seg.name] = {
            "condition": seg.condition, "scorecard": seg.scorecard_file,
            "samples": seg.metrics, "psi": dict(seg.psi),
            "characteristics": [
                {"name": c.name, "iv": c.iv, "kept": c.kept, "reason": c.reason,
                 "flags": list(c.flags), "trend": c.trend, "csi": dict(c.csi)}
                for c in seg.characteristics],
            "gains": dict(seg.gains),
        }
    return {
        "data": {"source": source, "rows": frame.height, "columns": frame.width,
                 "target": s.target, "split": report.split},
        "settings": dict(vars(s)),
        "samples": report.overall_metrics,
        "segments": segs,
        "excluded": [{"column": c, "reason": r} for c, r in report.excluded],
        "fairness": {"cutoff": report.cutoff, "cutoff_note": report.cutoff_note,
                     "attributes": {f.attribute: f.table for f in report.fairness}},
    }
