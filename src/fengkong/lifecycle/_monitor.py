"""Monitoring a deployed strategy from its decision log (and outcomes when they are known).

The decision log holds every automated decision with its inputs, scores, segment, outcome
and rule hits. :func:`load_decisions` reads one strategy's decisions of a tenant into a
table whose column names are those of :func:`~fengkong.engine.evaluate_batch` (``decision``,
``segment``, ``rule_hits``, ``score.<slot>``, ``feature.<name>``) plus the inputs under
their dotted names (``bureau.score``) and ``decision_id``, ``request_id``, ``decided_at``,
``strategy_version``. A development sample scored by the strategy (:func:`score_reference`)
then has the same columns, so the log and the reference compare column by column.

From that table, per time window (day, week or month):

* :func:`score_stability` — score PSI against the reference, overall and per segment;
* :func:`feature_stability` — CSI of each input or feature against the reference;
* :func:`decision_rates` — volume and approval / decline / refer rates per segment;
* :func:`rule_hit_rates` — how often each rule fired, per segment;
* :func:`early_performance` — bad rate by score band by application month, once outcomes
  (``bad`` per decision, application or request id) are known;

:func:`monitor` runs them all into a :class:`MonitorReport` (HTML with charts via
:mod:`fengkong.reports`); :func:`live_stability` is the small summary the decision
service exports as Prometheus gauges. PSI and CSI are the workbench's
(:func:`fengkong.workbench.psi`), so a model report and a monitoring report agree.
"""

from __future__ import annotations

import datetime as dt
import math
import tempfile
from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal

import numpy as np
import orjson
import polars as pl
from matplotlib.figure import Figure
from sqlalchemy import Connection

from fengkong.compile import CompiledStrategy, compile_strategy
from fengkong.engine import evaluate_batch
from fengkong.reports import (
    Page,
    Raw,
    cards,
    escape,
    frame_table,
    new_figure,
    pct,
    psi_verdict,
    rows_table,
    short,
    styled,
)
from fengkong.store import Database, StoredDecision, list_decisions, releases
from fengkong.workbench import bad_rate_by_band, psi

Freq = Literal["day", "week", "month"]
Progress = Callable[[str, int, int], None]

#: Columns of the log table that are not inputs.
META_COLUMNS = ("decision_id", "request_id", "decided_at", "strategy_version", "segment",
                "decision", "rule_hits")
_TRUNCATE: dict[str, str] = {"day": "1d", "week": "1w", "month": "1mo"}
_APPROVE = "approve"
#: Outcome columns looked for, in order, to join outcomes to decisions.
OUTCOME_KEYS = ("decision_id", "request_id", "application_id")
#: String inputs with more distinct values than this are identifiers (pseudonyms), not
#: characteristics, and get no CSI.
MAX_CATEGORIES = 50


# --------------------------------------------------------------------------------------------
# Reading the log
# --------------------------------------------------------------------------------------------


def _flatten(prefix: str, value: Any, out: dict[str, Any]) -> None:
    if isinstance(value, dict):
        for k, v in value.items():
            _flatten(f"{prefix}.{k}" if prefix else str(k), v, out)
    elif not isinstance(value, list):
        out[prefix] = value


def decision_rows(records: Iterable[StoredDecision]) -> Iterator[dict[str, Any]]:
    """One flat row per automated decision (a reviewer's record is skipped: its
    application's automated decision is already in the log).

    Parameters
    ----------
    records
        Stored decisions of one strategy.

    Yields
    ------
    dict
        ``decision_id``, ``request_id``, ``decided_at``, ``strategy_version``, ``segment``,
        ``decision``, ``rule_hits``, ``score.<slot>``, ``feature.<name>`` and the inputs by
        dotted name (an input whose name is one of these is left out).
    """
    for d in records:
        rec = orjson.loads(d.record)
        if rec.get("human_reviewed"):
            continue
        decision = rec.get("decision") or {}
        row: dict[str, Any] = {}
        _flatten("", rec.get("inputs") or {}, row)
        for slot, value in (decision.get("scores") or {}).items():
            row[f"score.{slot}"] = value
        for name, value in (decision.get("features") or {}).items():
            if not isinstance(value, dict | list):
                row[f"feature.{name}"] = value
        row.update(decision_id=d.id, request_id=d.request_id, decided_at=d.decided_at,
                   strategy_version=d.strategy_version, segment=d.segment, decision=d.outcome,
                   rule_hits=list(decision.get("rule_hits") or []))
        yield row


def decision_frame(records: Iterable[StoredDecision]) -> pl.DataFrame:
    """The table of :func:`decision_rows` (empty with the meta columns when there are none)."""
    rows = list(decision_rows(records))
    if not rows:
        return pl.DataFrame(schema={
            "decision_id": pl.String, "request_id": pl.String,
            "decided_at": pl.Datetime("us", "UTC"), "strategy_version": pl.String,
            "segment": pl.String, "decision": pl.String, "rule_hits": pl.List(pl.String)})
    frame = pl.from_dicts(rows, infer_schema_length=None, strict=False)
    return frame.with_columns(pl.col("decided_at").cast(pl.Datetime("us", "UTC")),
                              pl.col("rule_hits").cast(pl.List(pl.String)))


def iter_decisions(conn: Connection, tenant: str, strategy: str, *,
                   start: dt.datetime | None = None, end: dt.datetime | None = None,
                   page: int = 5000) -> Iterator[StoredDecision]:
    """``tenant``'s decisions of ``strategy`` with ``start <= decided_at < end``, newest first
    (pages through :func:`fengkong.store.list_decisions`)."""
    before: int | None = None
    while True:
        batch = list_decisions(conn, tenant, strategy=strategy, start=start, end=end,
                               before_seq=before, limit=page)
        yield from batch
        if len(batch) < page:
            return
        before = batch[-1].seq


def load_decisions(db: Database, tenant: str, strategy: str, *,
                   start: dt.datetime | None = None, end: dt.datetime | None = None,
                   limit: int | None = None, progress: Progress | None = None,
                   page: int = 5000) -> pl.DataFrame:
    """Read a strategy's decisions from the log into a table (oldest first).

    Parameters
    ----------
    db
        The service's database.
    tenant, strategy
        Whose decisions, of which strategy.
    start, end
        ``start <= decided_at < end`` (UTC when naive); None = unbounded.
    limit
        Keep at most this many (the newest).
    progress
        Called with ("reading the decision log", records read, 0) every page.

    Returns
    -------
    polars.DataFrame
        See :func:`decision_rows`; in order of decision time.
    """
    got: list[StoredDecision] = []
    with db.snapshot() as conn:
        for d in iter_decisions(conn, tenant, strategy, start=start, end=end, page=page):
            got.append(d)
            if progress is not None and len(got) % page == 0:
                progress("reading the decision log", len(got), 0)
            if limit is not None and len(got) >= limit:
                break
    got.reverse()
    return decision_frame(got).sort("decided_at", maintain_order=True)


# --------------------------------------------------------------------------------------------
# The reference (development sample)
# --------------------------------------------------------------------------------------------


def stored_strategy(conn: Connection, tenant: str, strategy: str, version: str,
                    ) -> CompiledStrategy:
    """Compile a stored version of ``strategy`` (to score a development sample with it)."""
    found = releases.version_files(conn, tenant, strategy, version)
    if found is None:
        msg = (f"No stored version {version!r} of strategy {strategy!r} to score the "
               "reference with; give the strategy file (--strategy-file).")
        raise LookupError(msg)
    doc = orjson.loads(found[1])
    with tempfile.TemporaryDirectory(prefix="fengkong-monitor-") as tmp:
        root = Path(tmp)
        for path, text in doc["files"].items():
            target = root / path
            target.parent.mkdir(parents=True, exist_ok=True)
            target.write_text(text, "utf-8")
        return compile_strategy(root / doc["entry"])


def score_reference(reference: pl.DataFrame, strategy: CompiledStrategy) -> pl.DataFrame:
    """The development sample with the strategy's decision, segment, scores and features
    (the same names as the log table's), rows the strategy refused to score dropped."""
    out = evaluate_batch(strategy, reference, reasons=False)
    keep = [c for c in out.columns if c in ("decision", "segment", "rule_hits")
            or c.startswith(("score.", "feature."))]
    scored = pl.concat([reference.drop([c for c in keep if c in reference.columns]),
                        out.select(keep)], how="horizontal")
    return scored.filter(out["error"].is_null()) if "error" in out.columns else scored


def score_column(frame: pl.DataFrame, score: str | None = None) -> str:
    """The score column to monitor: ``score.<score>`` (or ``score`` as given), else the
    first ``score.*`` column."""
    if score is not None:
        for name in (f"score.{score}", score):
            if name in frame.columns:
                return name
        msg = f"No score column {score!r}; the table has {sorted(_score_cols(frame))}."
        raise KeyError(msg)
    found = _score_cols(frame)
    if not found:
        msg = "The table has no score.* column."
        raise KeyError(msg)
    return found[0]


def _score_cols(frame: pl.DataFrame) -> list[str]:
    return [c for c in frame.columns if c.startswith("score.")]


def characteristic_columns(log: pl.DataFrame, reference: pl.DataFrame | None = None,
                           ) -> list[str]:
    """Inputs and features worth a CSI: in both tables, numeric, boolean or string with at
    most :data:`MAX_CATEGORIES` values (identifiers and pseudonyms are left out)."""
    names = [c for c in log.columns if c not in META_COLUMNS and not c.startswith("score.")
             and (reference is None or c in reference.columns)]
    out = []
    for c in names:
        dtype = log.schema[c]
        text = dtype in (pl.String, pl.Categorical)
        if dtype.is_numeric() or dtype == pl.Boolean or (
                text and log[c].n_unique() <= MAX_CATEGORIES):
            out.append(c)
    return out


# --------------------------------------------------------------------------------------------
# Windows and indicators
# --------------------------------------------------------------------------------------------


def with_window(log: pl.DataFrame, freq: Freq = "month") -> pl.DataFrame:
    """The log with ``window``: the start (date) of the day, ISO week or month of each decision."""
    if freq not in _TRUNCATE:
        msg = f"freq must be day, week or month, not {freq!r}"
        raise ValueError(msg)
    return log.with_columns(window=pl.col("decided_at").dt.truncate(_TRUNCATE[freq]).dt.date())


def _windows(log: pl.DataFrame) -> list[dt.date]:
    return sorted(log["window"].unique().to_list()) if log.height else []


def split_reference(log: pl.DataFrame, freq: Freq = "month"
                    ) -> tuple[pl.DataFrame, pl.DataFrame]:
    """No development sample: the first window of the log is the reference; returns
    (reference, the rest)."""
    w = with_window(log, freq)
    if not w.height:
        return log, log
    first = w["window"].min()
    return (w.filter(pl.col("window") == first).drop("window"),
            w.filter(pl.col("window") != first).drop("window"))


def _values(frame: pl.DataFrame, column: str) -> np.ndarray[Any, Any]:
    col = frame[column]
    if col.dtype.is_numeric():
        return col.cast(pl.Float64).fill_null(float("nan")).to_numpy()
    return col.cast(pl.String).to_numpy()


def _psi_or_nan(expected: np.ndarray[Any, Any], actual: np.ndarray[Any, Any],
                bins: int | Sequence[float]) -> float:
    if not len(expected) or not len(actual):
        return float("nan")
    return psi(expected, actual, bins)


def score_stability(log: pl.DataFrame, reference: pl.DataFrame, *, score: str,
                    freq: Freq = "month", bins: int | Sequence[float] = 10,
                    by_segment: bool = True) -> pl.DataFrame:
    """Score PSI of each window against the reference.

    Parameters
    ----------
    log, reference
        Tables with the ``score`` column (and ``segment`` for ``by_segment``).
    score
        The score column (e.g. ``score.score``); nulls (decisions that stopped before the
        score) are left out.
    freq
        The window.
    bins
        Quantile bins of the reference (or cut points), as :func:`fengkong.workbench.psi`.
    by_segment
        Also one row per segment (against the reference's records of that segment when it
        has any, else against the whole reference).

    Returns
    -------
    polars.DataFrame
        ``window``, ``segment`` (``all`` for the whole window), ``n`` (scored decisions),
        ``mean_score``, ``reference_mean``, ``psi``.
    """
    w = with_window(log.filter(pl.col(score).is_not_null()), freq)
    ref = reference.filter(pl.col(score).is_not_null())
    ref_all = _values(ref, score)
    rows: list[dict[str, Any]] = []
    for window in _windows(w):
        part = w.filter(pl.col("window") == window)
        groups: list[tuple[str, pl.DataFrame, np.ndarray[Any, Any]]] = [("all", part, ref_all)]
        if by_segment and "segment" in part.columns:
            for seg in sorted(part["segment"].unique().to_list()):
                seg_ref = (ref.filter(pl.col("segment") == seg)
                           if "segment" in ref.columns else ref)
                expected = _values(seg_ref, score) if seg_ref.height else ref_all
                groups.append((seg, part.filter(pl.col("segment") == seg), expected))
        for seg, frame, expected in groups:
            actual = _values(frame, score)
            rows.append({"window": window, "segment": seg, "n": len(actual),
                         "mean_score": float(np.nanmean(actual)) if len(actual) else None,
                         "reference_mean": float(np.nanmean(expected)) if len(expected)
                         else None,
                         "psi": _psi_or_nan(expected, actual, bins)})
    return pl.DataFrame(rows, schema={"window": pl.Date, "segment": pl.String, "n": pl.Int64,
                                      "mean_score": pl.Float64, "reference_mean": pl.Float64,
                                      "psi": pl.Float64})


def feature_stability(log: pl.DataFrame, reference: pl.DataFrame, *,
                      features: Sequence[str] | None = None, freq: Freq = "month",
                      bins: int = 10) -> pl.DataFrame:
    """CSI of each characteristic in each window against the reference.

    Numeric columns get ``bins`` quantile bins of the reference (missing values their own
    bin), other columns one bin per value — :func:`fengkong.workbench.psi`, as the
    workbench's :func:`~fengkong.workbench.csi` does without a binner.

    Returns
    -------
    polars.DataFrame
        ``window``, ``feature``, ``n``, ``csi`` — one row per window and feature.
    """
    names = list(features) if features is not None else characteristic_columns(log, reference)
    w = with_window(log, freq)
    expected = {c: _values(reference, c) for c in names if c in reference.columns}
    rows: list[dict[str, Any]] = []
    for window in _windows(w):
        part = w.filter(pl.col("window") == window)
        for c in names:
            if c not in expected or c not in part.columns:
                continue
            actual = _values(part, c)
            e = expected[c]
            numeric = e.dtype.kind == "f" and actual.dtype.kind == "f"
            if not numeric:  # one side numeric, the other text: compare as text
                e, actual = e.astype(str), actual.astype(str)
            rows.append({"window": window, "feature": c, "n": len(actual),
                         "csi": _psi_or_nan(e, actual, bins)})
    return pl.DataFrame(rows, schema={"window": pl.Date, "feature": pl.String, "n": pl.Int64,
                                      "csi": pl.Float64})


def decision_rates(log: pl.DataFrame, *, freq: Freq = "month") -> pl.DataFrame:
    """Volume and outcome rates per window and segment (``all`` = every segment).

    Returns
    -------
    polars.DataFrame
        ``window``, ``segment``, ``n``, ``approved``, ``declined``, ``referred``,
        ``approval_rate``, ``decline_rate``, ``refer_rate``.
    """
    w = with_window(log, freq)
    aggs = [pl.len().alias("n"),
            (pl.col("decision") == _APPROVE).sum().alias("approved"),
            (pl.col("decision") == "decline").sum().alias("declined"),
            (pl.col("decision") == "refer").sum().alias("referred")]
    per = w.group_by("window", "segment").agg(aggs)
    total = w.group_by("window").agg(aggs).with_columns(segment=pl.lit("all"))
    out = pl.concat([total.select(per.columns), per])
    return (out.with_columns(pl.col("n", "approved", "declined", "referred").cast(pl.Int64))
            .with_columns(approval_rate=pl.col("approved") / pl.col("n"),
                          decline_rate=pl.col("declined") / pl.col("n"),
                          refer_rate=pl.col("referred") / pl.col("n"))
            .sort("window", pl.col("segment") != "all", "segment"))


def rule_hit_rates(log: pl.DataFrame, *, freq: Freq = "month") -> pl.DataFrame:
    """How often each rule fired per window and segment (``all`` = every segment).

    Returns
    -------
    polars.DataFrame
        ``window``, ``segment``, ``rule``, ``hits``, ``n`` (decisions of the window and
        segment), ``hit_rate`` — only rules that fired at least once.
    """
    w = with_window(log, freq)
    n = pl.concat([w.group_by("window").agg(pl.len().alias("n"))
                   .with_columns(segment=pl.lit("all")).select("window", "segment", "n"),
                   w.group_by("window", "segment").agg(pl.len().alias("n"))])
    hits = w.select("window", "segment", pl.col("rule_hits").list.unique().alias("rule")
                    ).explode("rule").drop_nulls("rule")
    per = hits.group_by("window", "segment", "rule").agg(pl.len().alias("hits"))
    total = (hits.group_by("window", "rule").agg(pl.len().alias("hits"))
             .with_columns(segment=pl.lit("all")).select(per.columns))
    out = pl.concat([total, per]).join(n, on=["window", "segment"], how="left")
    return (out.with_columns(pl.col("hits", "n").cast(pl.Int64))
            .with_columns(hit_rate=pl.col("hits") / pl.col("n"))
            .select("window", "segment", "rule", "hits", "n", "hit_rate")
            .sort("window", pl.col("segment") != "all", "segment", "hits", "rule",
                  descending=[False, False, False, True, False]))


def join_outcomes(log: pl.DataFrame, outcomes: pl.DataFrame, *, key: str | None = None,
                  as_of: dt.datetime | None = None) -> pl.DataFrame:
    """The log with ``bad`` (and ``observed_at``) from the outcomes table.

    Parameters
    ----------
    outcomes
        One row per decision (``decision_id``), request (``request_id``) or application
        (``application_id``, an input of the log) with ``bad`` (1 = bad, 0 = good, null =
        not known yet) and optionally ``observed_at``.
    key
        The join column; default the first of :data:`OUTCOME_KEYS` in both tables.
    as_of
        Ignore outcomes observed after this instant.
    """
    if key is None:
        key = next((k for k in OUTCOME_KEYS if k in outcomes.columns and k in log.columns), None)
        if key is None:
            msg = ("The outcomes need a column to join on the decisions: one of "
                   + ", ".join(OUTCOME_KEYS) + " (application_id must also be an input).")
            raise KeyError(msg)
    if "bad" not in outcomes.columns:
        msg = "The outcomes need a `bad` column (1 = bad, 0 = good)."
        raise KeyError(msg)
    cols = [key, "bad"] + (["observed_at"] if "observed_at" in outcomes.columns else [])
    o = outcomes.select(cols).with_columns(pl.col(key).cast(pl.String),
                                           pl.col("bad").cast(pl.Int8))
    if as_of is not None and "observed_at" in o.columns:
        o = o.with_columns(pl.when(pl.col("observed_at").cast(pl.Datetime("us", "UTC"))
                                   <= pl.lit(as_of).cast(pl.Datetime("us", "UTC")))
                           .then(pl.col("bad")).otherwise(None).alias("bad"))
    o = o.unique(subset=key, keep="last")
    base = log.drop([c for c in ("bad", "observed_at") if c in log.columns])
    return base.with_columns(pl.col(key).cast(pl.String).alias("__k")).join(
        o.rename({key: "__k"}), on="__k", how="left").drop("__k")


def score_band_edges(reference: pl.DataFrame, score: str, bands: int = 5) -> list[float]:
    """Cut points of ``bands`` equal-count score bands of the reference."""
    values = reference[score].drop_nulls().cast(pl.Float64).to_numpy()
    if not len(values):
        return []
    qs = np.quantile(values, np.linspace(0, 1, bands + 1)[1:-1])
    return sorted({float(q) for q in qs})


def early_performance(log: pl.DataFrame, *, score: str, edges: Sequence[float],
                      approved_only: bool = True) -> pl.DataFrame:
    """Bad rate by score band by application month (a log with ``bad``, see
    :func:`join_outcomes`).

    Decisions whose outcome is not known (null ``bad``) are counted as ``pending``, not
    in the bad rate. Bands as :func:`fengkong.workbench.bad_rate_by_band`.

    Returns
    -------
    polars.DataFrame
        ``month``, ``band``, ``lower``, ``upper``, ``decisions``, ``pending``, ``count``
        (with an outcome), ``bads``, ``bad_rate``.
    """
    schema = {"month": pl.Date, "band": pl.String, "lower": pl.Float64, "upper": pl.Float64,
              "decisions": pl.Int64, "pending": pl.Int64, "count": pl.Int64, "bads": pl.Int64,
              "bad_rate": pl.Float64}
    if "bad" not in log.columns or not edges:
        return pl.DataFrame(schema=schema)
    base = log.filter(pl.col(score).is_not_null())
    if approved_only:
        base = base.filter(pl.col("decision") == _APPROVE)
    base = with_window(base, "month")
    frames = []
    for month in _windows(base):
        part = base.filter(pl.col("window") == month)
        known = part.filter(pl.col("bad").is_not_null())
        scores = part[score].cast(pl.Float64).to_numpy()
        cuts = np.asarray(sorted(edges), dtype=np.float64)
        all_idx = np.bincount(np.searchsorted(cuts, scores, side="right"),
                              minlength=len(cuts) + 1)
        if known.height:
            t = bad_rate_by_band(known["bad"].to_numpy(), known[score].to_numpy(), edges)
        else:
            t = bad_rate_by_band(np.zeros(1), np.array([cuts[0]]), edges).with_columns(
                pl.lit(0.0).alias("count"), pl.lit(0.0).alias("bads"),
                pl.lit(None, pl.Float64).alias("bad_rate"))
        # bad_rate_by_band drops empty open-ended bands: match decisions by band label
        labels = _band_labels(cuts)
        decided = dict(zip(labels, all_idx.tolist(), strict=True))
        t = t.with_columns(
            month=pl.lit(month),
            decisions=pl.col("band").replace_strict(decided, default=0, return_dtype=pl.Int64),
        )
        frames.append(t)
    if not frames:
        return pl.DataFrame(schema=schema)
    out = pl.concat(frames, how="diagonal_relaxed")
    return out.with_columns(
        pl.col("count").cast(pl.Int64), pl.col("bads").cast(pl.Int64)).with_columns(
        pending=(pl.col("decisions") - pl.col("count")).clip(lower_bound=0)).select(
        list(schema)).cast(schema)  # type: ignore[arg-type]


def _band_labels(cuts: np.ndarray[Any, Any]) -> list[str]:
    probe = bad_rate_by_band(np.zeros(len(cuts) + 1),
                             np.r_[cuts[0] - 1.0, cuts].astype(np.float64), cuts.tolist())
    return [str(b) for b in probe["band"].to_list()]


# --------------------------------------------------------------------------------------------
# The live summary (service gauges)
# --------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class LiveStability:
    """Approval rate and score PSI of one segment over the recent window."""

    segment: str
    n: int
    approval_rate: float
    score_psi: float | None


def live_stability(recent: pl.DataFrame, reference: pl.DataFrame | None, *,
                   score: str | None = None, bins: int = 10) -> list[LiveStability]:
    """Per segment (and ``all``): decisions, approval rate and score PSI against the reference
    (None without a reference or a score) — what the service exports as gauges."""
    if not recent.height:
        return []
    col = None
    try:
        col = score_column(recent, score)
    except KeyError:
        col = None
    out = []
    groups = [("all", recent)] + [
        (str(seg), recent.filter(pl.col("segment") == seg))
        for seg in sorted(recent["segment"].unique().to_list())]
    for seg, part in groups:
        rate = float((part["decision"] == _APPROVE).sum()) / part.height
        value: float | None = None
        if reference is not None and col is not None and col in reference.columns:
            ref = reference.filter(pl.col(col).is_not_null())
            if seg != "all" and "segment" in ref.columns and (ref["segment"] == seg).any():
                ref = ref.filter(pl.col("segment") == seg)
            actual = _values(part.filter(pl.col(col).is_not_null()), col)
            v = _psi_or_nan(_values(ref, col), actual, bins)
            value = None if math.isnan(v) else v
        out.append(LiveStability(seg, part.height, rate, value))
    return out


# --------------------------------------------------------------------------------------------
# The report
# --------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class MonitorReport:
    """Everything the monitoring report shows; :meth:`to_html` renders it.

    Attributes
    ----------
    tenant, strategy
        Whose log, which strategy.
    period
        First and last decision time (None when the log is empty).
    freq
        The window.
    score
        The monitored score column.
    reference_note
        What the reference is (a development sample file, or the first window).
    decisions
        The decisions monitored (after the reference window when that is the reference).
    scores
        :func:`score_stability`.
    features
        :func:`feature_stability`.
    rates
        :func:`decision_rates`.
    rules
        :func:`rule_hit_rates`.
    performance
        :func:`early_performance` (empty without outcomes).
    reference_scores, latest_scores
        Score values for the distribution chart.
    versions
        Strategy versions seen, with their decision counts.
    outcomes_note
        How outcomes were joined (empty without outcomes).
    """

    tenant: str
    strategy: str
    period: tuple[dt.datetime, dt.datetime] | None
    freq: str
    score: str | None
    reference_note: str
    decisions: int
    scores: pl.DataFrame
    features: pl.DataFrame
    rates: pl.DataFrame
    rules: pl.DataFrame
    performance: pl.DataFrame
    reference_scores: np.ndarray[Any, Any] = field(default_factory=lambda: np.zeros(0))
    latest_scores: np.ndarray[Any, Any] = field(default_factory=lambda: np.zeros(0))
    versions: Sequence[tuple[str, int]] = ()
    outcomes_note: str = ""
    created: str = ""
    min_count: int = 100

    def to_html(self) -> str:
        """One self-contained HTML page (inline SVG charts, escaped text)."""
        return _render(self)


def monitor(log: pl.DataFrame, *, tenant: str, strategy: str,
            reference: pl.DataFrame | None = None, reference_name: str = "",
            outcomes: pl.DataFrame | None = None, freq: Freq = "month",
            score: str | None = None, features: Sequence[str] | None = None,
            bins: int = 10, bands: int = 5, as_of: dt.datetime | None = None,
            min_count: int = 100, progress: Progress | None = None) -> MonitorReport:
    """Every monitoring indicator of one strategy's log.

    Parameters
    ----------
    log
        :func:`load_decisions`.
    reference
        The development sample with the score (:func:`score_reference`); None: the first
        window of the log is the reference and is not monitored itself.
    outcomes
        See :func:`join_outcomes`; None: no early performance.
    freq
        Window of the stability and rate tables.
    score
        Score slot (default the first ``score.*`` column).
    features
        Characteristics for the CSI (default :func:`characteristic_columns`).
    bins
        PSI/CSI bins (quantiles of the reference).
    bands
        Score bands of the early performance (equal-count bands of the reference).
    as_of
        Outcomes observed later are ignored.
    min_count
        A window or segment with fewer scored decisions gets its PSI shown as indicative
        only (small samples inflate the PSI) and no line in the chart.
    progress
        Called with (stage, done, total).

    Returns
    -------
    MonitorReport
    """
    steps = 5

    def step(name: str, i: int) -> None:
        if progress is not None:
            progress(name, i, steps)

    if reference is None:
        reference, rest = split_reference(log, freq)
        first = (log["decided_at"].min() if log.height else None)
        note = (f"the first {freq} of the log ({_date(first)}: {reference.height:,} decisions); "
                "it is not monitored itself" if first is not None else "none (empty log)")
        monitored = rest if rest.height else log
    else:
        note = f"{reference_name or 'the development sample'} ({reference.height:,} records)"
        monitored = log
    col: str | None
    try:
        col = score_column(monitored if monitored.height else reference, score)
    except KeyError:
        col = None
    step("score stability", 0)
    has_ref_score = col is not None and col in reference.columns
    scores = (score_stability(monitored, reference, score=col, freq=freq, bins=bins)
              if col is not None and has_ref_score and monitored.height
              else score_stability(pl.DataFrame({"decided_at": [], "s": []},
                                                schema={"decided_at": pl.Datetime("us", "UTC"),
                                                        "s": pl.Float64}),
                                   pl.DataFrame({"s": []}, schema={"s": pl.Float64}), score="s"))
    step("feature stability", 1)
    feats = (feature_stability(monitored, reference, features=features, freq=freq, bins=bins)
             if monitored.height else feature_stability(
                 pl.DataFrame(schema={"decided_at": pl.Datetime("us", "UTC")}),
                 reference, features=[]))
    step("decision and rule-hit rates", 2)
    rates = decision_rates(log, freq=freq)
    rules = rule_hit_rates(log, freq=freq)
    step("early performance", 3)
    performance = pl.DataFrame()
    outcomes_note = ""
    if outcomes is not None and col is not None and log.height:
        joined = join_outcomes(log, outcomes, as_of=as_of)
        edge_src = reference if has_ref_score else log
        edges = score_band_edges(edge_src, col, bands)
        performance = early_performance(joined, score=col, edges=edges)
        known = int(joined["bad"].is_not_null().sum())
        key = next(k for k in OUTCOME_KEYS if k in outcomes.columns and k in log.columns)
        outcomes_note = (f"{outcomes.height:,} outcomes joined on {key}; {known:,} of "
                         f"{log.height:,} decisions have an observed outcome"
                         + (f" by {as_of.isoformat()}" if as_of is not None else "") + ".")
    step("report", 4)
    latest = monitored
    if monitored.height:
        w = with_window(monitored, freq)
        latest = w.filter(pl.col("window") == w["window"].max())
    versions = (log.group_by("strategy_version").len().sort("strategy_version").rows()
                if log.height else [])
    times = log["decided_at"].sort().to_list()
    period = (times[0], times[-1]) if times else None
    report = MonitorReport(
        tenant=tenant, strategy=strategy, period=period, freq=freq, score=col,
        reference_note=note, decisions=log.height, scores=scores, features=feats,
        rates=rates, rules=rules, performance=performance,
        reference_scores=(_values(reference.filter(pl.col(col).is_not_null()), col)
                          if has_ref_score and col is not None else np.zeros(0)),
        latest_scores=(_values(latest.filter(pl.col(col).is_not_null()), col)
                       if col is not None and latest.height else np.zeros(0)),
        versions=[(str(v), int(n)) for v, n in versions], outcomes_note=outcomes_note,
        created=dt.datetime.now(dt.UTC).strftime("%Y-%m-%d %H:%M UTC"), min_count=min_count)
    step("done", 5)
    return report


def _date(value: Any) -> str:
    return value.date().isoformat() if isinstance(value, dt.datetime) else str(value)


# -- charts -----------------------------------------------------------------------------------

_PALETTE = ("#1f77b4", "#ff7f0e", "#2ca02c", "#d62728", "#9467bd", "#8c564b", "#e377c2",
            "#7f7f7f", "#bcbd22", "#17becf")


def _colour(i: int) -> str:
    return _PALETTE[i % len(_PALETTE)]


def _dates(frame: pl.DataFrame, column: str = "window") -> list[Any]:
    return frame[column].to_list()


def _label(window: Any, monthly: bool = False) -> str:  # noqa: FBT001
    """A window's label: its start date (``2026-03`` for a month)."""
    if monthly and isinstance(window, dt.date):
        return window.strftime("%Y-%m")
    return str(window)


@styled
def psi_figure(scores: pl.DataFrame, title: str = "Score PSI against the reference",
               min_count: int = 0, *, monthly: bool = False) -> Figure:
    """PSI per window: bars for all decisions, lines per segment (points of windows with at
    least ``min_count`` scored decisions), 0.1 / 0.25 guides."""
    fig = new_figure(7.2, 3.0)
    ax = fig.add_subplot()
    allw = scores.filter(pl.col("segment") == "all").sort("window")
    x = _dates(allw)
    idx = np.arange(len(x))
    ax.bar(idx, np.nan_to_num(allw["psi"].to_numpy(), nan=0.0), color="#b8c7d9", width=0.6,
           label="all decisions")
    segs = [s for s in scores["segment"].unique().sort().to_list() if s != "all"]
    pos = {w: i for i, w in enumerate(x)}
    shown = scores.filter((pl.col("segment") == "all") | (pl.col("n") >= min_count))
    for j, seg in enumerate(segs):
        part = shown.filter(pl.col("segment") == seg).sort("window")
        if not part.height:
            continue
        ax.plot([pos[w] for w in part["window"].to_list()], part["psi"].to_numpy(),
                marker="o", markersize=3, linewidth=1.1, color=_colour(j), label=short(seg, 18))
    ax.axhline(0.1, color="#a15c00", linestyle="--", linewidth=0.8)
    ax.axhline(0.25, color="#c0392b", linestyle="--", linewidth=0.8)
    ax.set_xticks(idx, [_label(w, monthly) for w in x], rotation=30 if len(x) > 6 else 0,
                  ha="right" if len(x) > 6 else "center")
    ax.set_ylabel("PSI (dashed: 0.1 watch, 0.25 shifted)")
    ax.set_title(title)
    ax.legend(loc="upper left", ncols=min(4, len(segs) + 1))
    top = float(np.nanmax(np.r_[shown["psi"].to_numpy(), 0.3]))
    ax.set_ylim(0, top * 1.25)
    return fig


@styled
def distribution_figure(reference: np.ndarray[Any, Any], latest: np.ndarray[Any, Any],
                        what: str) -> Figure:
    """Score densities of the reference and the latest window."""
    fig = new_figure(5.0, 3.0)
    ax = fig.add_subplot()
    both = np.r_[reference, latest].astype(np.float64)
    both = both[np.isfinite(both)]
    edges = np.linspace(float(both.min()), float(both.max()) + 1e-9, 31) if len(both) else \
        np.linspace(0.0, 1.0, 31)
    for values, colour, label in ((reference, "#7f7f7f", "reference"),
                                  (latest, "#1f77b4", what)):
        v = np.asarray(values, np.float64)
        v = v[np.isfinite(v)]
        if len(v):
            dens, _ = np.histogram(v, bins=edges, density=True)
            ax.stairs(dens, edges, fill=True, alpha=0.35, color=colour,
                      label=f"{label} ({len(v):,})")
            ax.stairs(dens, edges, color=colour, linewidth=0.8)
    ax.set_xlabel("score")
    ax.set_yticks([])
    ax.set_title("Score distribution")
    ax.legend(loc="upper left")
    return fig


@styled
def rates_figure(rates: pl.DataFrame, column: str, ylabel: str, *,
                 monthly: bool = False) -> Figure:
    """A rate per window, one line per segment (``all`` bold), volume bars behind."""
    fig = new_figure(7.2, 3.0)
    ax = fig.add_subplot()
    allw = rates.filter(pl.col("segment") == "all").sort("window")
    x = _dates(allw)
    idx = np.arange(len(x))
    pos = {w: i for i, w in enumerate(x)}
    vol = ax.twinx()
    vol.bar(idx, allw["n"].to_numpy(), color="#e4e9ef", width=0.6, zorder=0)
    vol.set_ylabel("decisions (bars)")
    vol.grid(visible=False)
    vol.spines["right"].set_visible(True)
    ax.set_zorder(vol.get_zorder() + 1)
    ax.patch.set_visible(False)
    segs = [s for s in rates["segment"].unique().sort().to_list() if s != "all"]
    ax.plot(idx, 100 * allw[column].to_numpy(), color="#222", linewidth=2.0, marker="o",
            markersize=3.5, label="all")
    for j, seg in enumerate(segs):
        part = rates.filter(pl.col("segment") == seg).sort("window")
        ax.plot([pos[w] for w in part["window"].to_list()], 100 * part[column].to_numpy(),
                linewidth=1.1, marker="o", markersize=3, color=_colour(j), label=short(seg, 18))
    ax.set_xticks(idx, [_label(w, monthly) for w in x], rotation=30 if len(x) > 6 else 0,
                  ha="right" if len(x) > 6 else "center")
    ax.set_ylabel(ylabel)
    ax.set_ylim(0, 105)
    ax.legend(loc="lower left", ncols=min(4, len(segs) + 1))
    return fig


@styled
def csi_figure(features: pl.DataFrame, top: Sequence[str], *, monthly: bool = False) -> Figure:
    """CSI per window of the most shifted characteristics."""
    fig = new_figure(7.2, 3.0)
    ax = fig.add_subplot()
    windows = sorted(features["window"].unique().to_list())
    pos = {w: i for i, w in enumerate(windows)}
    for j, name in enumerate(top):
        part = features.filter(pl.col("feature") == name).sort("window")
        ax.plot([pos[w] for w in part["window"].to_list()], part["csi"].to_numpy(),
                marker="o", markersize=3, linewidth=1.1, color=_colour(j),
                label=short(name, 28))
    ax.axhline(0.1, color="#a15c00", linestyle="--", linewidth=0.8)
    ax.axhline(0.25, color="#c0392b", linestyle="--", linewidth=0.8)
    ax.set_xticks(np.arange(len(windows)), [_label(w, monthly) for w in windows],
                  rotation=30 if len(windows) > 6 else 0,
                  ha="right" if len(windows) > 6 else "center")
    ax.set_ylabel("CSI")
    ax.set_title("Most shifted characteristics")
    fig.legend(loc="outside right upper", fontsize=7)
    return fig


@styled
def rule_figure(rules: pl.DataFrame, top: Sequence[str], *, monthly: bool = False) -> Figure:
    """Hit rate per window of the most frequent rules (all segments)."""
    fig = new_figure(7.2, 3.0)
    ax = fig.add_subplot()
    allr = rules.filter(pl.col("segment") == "all")
    windows = sorted(allr["window"].unique().to_list())
    pos = {w: i for i, w in enumerate(windows)}
    for j, name in enumerate(top):
        part = allr.filter(pl.col("rule") == name).sort("window")
        ax.plot([pos[w] for w in part["window"].to_list()], 100 * part["hit_rate"].to_numpy(),
                marker="o", markersize=3, linewidth=1.1, color=_colour(j),
                label=short(name, 28))
    ax.set_xticks(np.arange(len(windows)), [_label(w, monthly) for w in windows],
                  rotation=30 if len(windows) > 6 else 0,
                  ha="right" if len(windows) > 6 else "center")
    ax.set_ylabel("hit rate (% of decisions)")
    ax.set_ylim(bottom=0)
    ax.set_title("Most frequent rule hits")
    fig.legend(loc="outside right upper", fontsize=7)
    return fig


@styled
def performance_figure(perf: pl.DataFrame) -> Figure:
    """Bad rate by score band, one line per application month."""
    fig = new_figure(7.2, 3.2)
    ax = fig.add_subplot()
    bands = perf.select("band", "lower").unique().sort("lower", nulls_last=False)["band"]
    band_list = bands.to_list()
    pos = {b: i for i, b in enumerate(band_list)}
    months = sorted(perf["month"].unique().to_list())
    for j, m in enumerate(months):
        part = perf.filter(pl.col("month") == m)
        rate = part["bad_rate"].to_numpy().astype(np.float64)
        ax.plot([pos[b] for b in part["band"].to_list()], 100 * rate, marker="o",
                markersize=3, linewidth=1.1, color=_colour(j), label=str(m)[:7])
    ax.set_xticks(np.arange(len(band_list)), band_list, rotation=20, ha="right")
    ax.set_xlabel("score band (approved decisions)")
    ax.set_ylabel("bad rate (%)")
    ax.set_ylim(bottom=0)
    ax.set_title("Early performance by application month")
    ax.legend(loc="upper right", fontsize=7, ncols=2 if len(months) > 6 else 1)
    return fig


# -- page -------------------------------------------------------------------------------------


def _latest(frame: pl.DataFrame, column: str = "window") -> pl.DataFrame:
    if not frame.height:
        return frame
    return frame.filter(pl.col(column) == frame[column].max())


def _labelled(frame: pl.DataFrame, *, monthly: bool) -> pl.DataFrame:
    return frame.with_columns(pl.col("window").map_elements(
        lambda w: _label(w, monthly), return_dtype=pl.String))


def _wide(frame: pl.DataFrame, value: str, cell: Callable[[Any, int], Raw], caption: str, *,
          monthly: bool) -> str:
    """A window × segment table of one value (``all`` first), each cell drawn by ``cell``."""
    segs = sorted(frame["segment"].unique().to_list(), key=lambda s: (s != "all", s))
    lookup = {(w, sg): (v, n) for w, sg, v, n in
              frame.select("window", "segment", value, "n").rows()}
    rows = []
    for w in sorted(frame["window"].unique().to_list()):
        rows.append((_label(w, monthly), *(
            cell(*lookup[(w, sg)]) if (w, sg) in lookup else Raw("–") for sg in segs)))
    return (f"<p class=note>{escape(caption)}</p>" + '<div class="scroll">'
            + rows_table(("window", *segs), rows) + "</div>")


def _render(r: MonitorReport) -> str:
    period = ("no decisions" if r.period is None
              else f"{_date(r.period[0])} – {_date(r.period[1])}")
    page = Page(f"Monitoring: {r.strategy}",
                f"tenant {r.tenant} · {period} · {r.decisions:,} decisions · by {r.freq} · "
                f"{r.created}", figure_prefix="mon")
    all_rates = r.rates.filter(pl.col("segment") == "all")
    last_rate = _latest(all_rates)
    all_psi = r.scores.filter(pl.col("segment") == "all")
    last_psi = _latest(all_psi)
    worst_csi = _latest(r.features).sort("csi", descending=True, nulls_last=True)
    items = [("decisions", f"{r.decisions:,}"),
             ("approval rate (latest)",
              pct(last_rate["approval_rate"][0]) if last_rate.height else "–"),
             ("score PSI (latest)", f"{last_psi['psi'][0]:.3f}" if last_psi.height
              and last_psi["psi"][0] == last_psi["psi"][0] else "–"),
             ("largest CSI (latest)", f"{worst_csi['csi'][0]:.3f} {short(worst_csi['feature'][0], 24)}"
              if worst_csi.height and worst_csi["csi"][0] is not None else "–")]
    if r.performance.height:
        known = r.performance.select(pl.col("count").sum(), pl.col("bads").sum()).row(0)
        items.append(("observed bad rate (approved)",
                      pct(known[1] / known[0]) if known[0] else "–"))
    alerts = []
    if last_psi.height and last_psi["psi"][0] == last_psi["psi"][0] and last_psi["psi"][0] >= 0.1:
        alerts.append(f"score PSI {last_psi['psi'][0]:.3f} in the latest {r.freq}")
    shifted = worst_csi.filter(pl.col("csi") >= 0.25)["feature"].to_list() if worst_csi.height \
        else []
    if shifted:
        alerts.append(f"{len(shifted)} characteristic(s) shifted (CSI ≥ 0.25): "
                      + ", ".join(shifted[:6]) + ("…" if len(shifted) > 6 else ""))
    alert_html = ("".join(f'<p class="flag">⚑ {escape(a)}</p>' for a in alerts) if alerts
                  else '<p class="pass">No score or characteristic shift in the latest '
                       f"{escape(r.freq)}.</p>")
    versions = ", ".join(f"{v} ({n:,})" for v, n in r.versions) or "–"
    page.add("overview", "Overview", cards(items), alert_html,
             f"<p>Decisions of strategy <code>{escape(r.strategy)}</code> for tenant "
             f"<code>{escape(r.tenant)}</code> from the decision log (versions: "
             f"{escape(versions)}). Score <code>{escape(r.score or '–')}</code>. Reference: "
             f"{escape(r.reference_note)}.</p>"
             '<p class="note">PSI = Σ (actual% − expected%) · ln(actual% / expected%) over '
             "deciles of the reference; below 0.1 stable, 0.1–0.25 watch, above 0.25 shifted. "
             "CSI is the same index per characteristic. Reviewer decisions are not counted "
             "(the automated decision of the application is).</p>")

    monthly = r.freq == "month"

    # approval
    parts = []
    if r.rates.height:
        parts.append(page.figure(rates_figure(r.rates, "approval_rate", "approval rate (%)",
                                              monthly=monthly),
                                 "Approval rate by segment over time"))
        parts.append(_wide(r.rates, "approval_rate",
                           lambda v, n: Raw(f"{escape(pct(v, 1))} <span class=note>"
                                            f"{n:,}</span>"),
                           "Approval rate (decisions) by window and segment.", monthly=monthly))
        parts.append("<details><summary>Approve / decline / refer counts and rates</summary>"
                     '<div class="scroll">' + frame_table(
                         _labelled(r.rates, monthly=monthly),
                         columns=["window", "segment", "n", "approved", "declined", "referred",
                                  "approval_rate", "decline_rate", "refer_rate"],
                         labels={"n": "decisions", "approval_rate": "approval rate",
                                 "decline_rate": "decline rate", "refer_rate": "refer rate"})
                     + "</div></details>")
    else:
        parts.append("<p>No decisions in the period.</p>")
    page.add("approval", "Approval", *parts)

    # score stability
    parts = []
    if r.scores.height:
        parts.append(page.figure(psi_figure(r.scores, min_count=r.min_count, monthly=monthly),
                                 "Score PSI by window"))
        if len(r.latest_scores) and len(r.reference_scores):
            parts.append(page.figure(distribution_figure(r.reference_scores, r.latest_scores,
                                                         f"latest {r.freq}"),
                                     "Score distribution, reference and latest window"))

        def cell(v: float | None, n: int) -> Raw:
            if v is None or v != v:
                return Raw("–")
            if n < r.min_count:
                return Raw(f'<span class="note" title="only {n} scored decisions">'
                           f"{v:.3f}*</span>")
            return Raw(psi_verdict(v).replace("stable", f"{v:.3f}").replace(
                "watch", f"{v:.3f}").replace("shifted", f"{v:.3f}"))

        parts.append(_wide(r.scores, "psi", cell,
                           f"Score PSI by window and segment (green stable, amber watch, red "
                           f"shifted; * fewer than {r.min_count} scored decisions: "
                           "indicative only, not charted).", monthly=monthly))
        parts.append("<details><summary>Counts and mean scores</summary>"
                     '<div class="scroll">' + frame_table(
                         _labelled(r.scores, monthly=monthly),
                         labels={"n": "scored decisions", "mean_score": "mean score",
                                 "reference_mean": "reference mean", "psi": "PSI"})
                     + "</div></details>")
    else:
        parts.append("<p>No score to compare (no scored decisions, or a reference without "
                     "the score).</p>")
    page.add("score-stability", "Score stability", *parts)

    # feature stability
    parts = []
    if r.features.height:
        latest = _latest(r.features).sort("csi", descending=True, nulls_last=True)
        top = latest["feature"].to_list()[:6]
        parts.append(page.figure(csi_figure(r.features, top, monthly=monthly),
                                 "CSI of the most shifted characteristics"))
        windows = sorted(r.features["window"].unique().to_list())
        small = {w for w, n in r.features.group_by("window").agg(pl.col("n").max()).rows()
                 if n < r.min_count}
        csi_at = {(f, w): v for w, f, v in r.features.select("window", "feature", "csi").rows()}
        order = {f: i for i, f in enumerate(latest["feature"].to_list())}
        names = sorted({f for f, _ in csi_at}, key=lambda f: order.get(f, 1 << 30))

        def csi_cell(v: float | None, w: dt.date) -> object:
            if v is None or v != v or w not in small:
                return v
            return Raw(f'<span class="note" title="fewer than {r.min_count} decisions">'
                       f"{v:.4f}*</span>")

        body = [(f, *(csi_cell(csi_at.get((f, w)), w) for w in windows),
                 psi_verdict(csi_at.get((f, windows[-1])))) for f in names]
        if small:
            parts.append(f"<p class=note>* fewer than {r.min_count} decisions in the window: "
                         "small samples inflate the CSI, read it as indicative only.</p>")
        head = ("characteristic", *[_label(w, monthly) for w in windows], "latest")
        cols = (0, len(windows) + 1)
        parts.append(f"<p class=note>{len(order)} characteristics, most shifted in the latest "
                     f"{escape(r.freq)} first.</p>")
        parts.append('<div class="scroll">' + rows_table(head, body[:15], text_columns=cols)
                     + "</div>")
        if len(body) > 15:
            parts.append(f"<details><summary>The other {len(body) - 15} characteristics"
                         '</summary><div class="scroll">'
                         + rows_table(head, body[15:], text_columns=cols) + "</div></details>")
    else:
        parts.append("<p>No characteristic in both the log and the reference.</p>")
    page.add("feature-stability", "Characteristic stability", *parts)

    # rules
    parts = []
    if r.rules.height:
        allr = r.rules.filter(pl.col("segment") == "all")
        top = (allr.group_by("rule").agg(pl.col("hits").sum()).sort("hits", "rule",
                                                                     descending=[True, False])
               ["rule"].to_list()[:8])
        parts.append(page.figure(rule_figure(r.rules, top, monthly=monthly),
                                 "Hit rate of the most frequent rules"))
        latest_rules = _latest(r.rules)
        segs = sorted(latest_rules["segment"].unique().to_list(), key=lambda g: (g != "all", g))
        rates = {(g, rule): (h, n) for g, rule, h, n in
                 latest_rules.select("segment", "rule", "hits", "n").rows()}
        ranked = latest_rules.filter(pl.col("segment") == "all")["rule"].to_list()
        rows = [(rule, *(Raw(f"{escape(pct(rates[(g, rule)][0] / rates[(g, rule)][1], 1))} "
                             f"<span class=note>{rates[(g, rule)][0]:,}</span>")
                         if (g, rule) in rates else Raw("–") for g in segs))
                for rule in ranked]
        last = latest_rules["window"].max()
        parts.append(f"<h3>Latest {escape(r.freq)} ({escape(_label(last, monthly))})</h3>"
                     "<p class=note>Share of the segment's decisions on which the rule fired "
                     "(hits).</p>" + '<div class="scroll">'
                     + rows_table(("rule", *segs), rows) + "</div>")
        parts.append("<details><summary>Every window</summary><div class=\"scroll\">"
                     + frame_table(_labelled(r.rules, monthly=monthly),
                                   labels={"n": "decisions", "hit_rate": "hit rate"})
                     + "</div></details>")
    else:
        parts.append("<p>No rule fired.</p>")
    page.add("rules", "Rule hits", *parts)

    # performance
    parts = []
    if r.performance.height:
        parts.append(f"<p>{escape(r.outcomes_note)} Approved decisions only; bands are "
                     "equal-count bands of the reference score. A young month has few "
                     "observed outcomes (<em>pending</em>): its bad rate is early, not "
                     "final.</p>")
        parts.append(page.figure(performance_figure(r.performance),
                                 "Bad rate by score band by month"))
        parts.append('<div class="scroll">' + frame_table(
            r.performance.with_columns(pl.col("month").cast(pl.String).str.slice(0, 7)),
            columns=["month", "band", "decisions", "pending", "count", "bads", "bad_rate"],
            labels={"decisions": "approved", "count": "with outcome", "bad_rate": "bad rate"})
            + "</div>")
    else:
        parts.append("<p>No outcomes given (<code>--outcomes</code>): no early performance.</p>")
    page.add("performance", "Early performance", *parts)
    return page.to_html()


def write_report(report: MonitorReport, path: Path) -> None:
    """Write :meth:`MonitorReport.to_html` to ``path`` (UTF-8)."""
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(report.to_html(), encoding="utf-8")


def as_mapping(report: MonitorReport) -> Mapping[str, pl.DataFrame]:
    """The report's tables by name (for Parquet output)."""
    return {"score_stability": report.scores, "feature_stability": report.features,
            "decision_rates": report.rates, "rule_hits": report.rules,
            "early_performance": report.performance}
