"""Anonymise a table: generalise the quasi-identifiers, suppress what is left too rare, report."""

from __future__ import annotations

import math
import statistics
import time
from dataclasses import dataclass

import numpy as np
import polars as pl

from fengkong.anonymize._check import AnonymityCheck, check
from fengkong.anonymize._errors import (
    Achievable,
    AnonymizationDataError,
    AnonymizationError,
    KAnonymityNotMetError,
    LDiversityNotMetError,
)
from fengkong.anonymize._hierarchy import EncodedColumn, encode_column
from fengkong.anonymize._lattice import Evaluator, NodeResult, ProgressCallback, search
from fengkong.anonymize._report import AnonymizationReport, QuasiIdentifierLevel, size_buckets
from fengkong.anonymize._spec import AnonymizationSpec


@dataclass(frozen=True, slots=True)
class AnonymizationResult:
    """An anonymised table and its report.

    Attributes
    ----------
    frame
        The exported rows: quasi-identifiers generalised, the target and ``keep``
        columns as they were, suppressed rows and every other column left out.
    report
        What it achieved.
    """

    frame: pl.DataFrame
    report: AnonymizationReport


def anonymize(
    frame: pl.DataFrame,
    spec: AnonymizationSpec,
    *,
    on_progress: ProgressCallback | None = None,
) -> AnonymizationResult:
    """Generalise and suppress ``frame`` to the k-anonymity and ℓ-diversity ``spec`` asks for.

    Of all full-domain generalisations (one level per quasi-identifier), the one
    of least information loss is chosen among those that meet k-anonymity and
    ℓ-diversity of the target after suppressing at most ``max_suppression`` of
    the rows (the rows of classes that are too small or not diverse enough).

    Parameters
    ----------
    frame
        The table, e.g. decisions joined with outcomes.
    spec
        What to export and how anonymous it must be.
    on_progress
        Called as ``on_progress(done, total)`` over the lattice's nodes.

    Returns
    -------
    AnonymizationResult

    Raises
    ------
    KAnonymityNotMetError
        ``ANON_K_NOT_MET``: no generalisation meets k within the suppression cap.
    LDiversityNotMetError
        ``ANON_L_NOT_MET``: k can be met, but not ℓ-diversity of the target.
    AnonymizationDataError
        ``ANON_DATA_INVALID``: a column is missing or does not fit its hierarchy.

    Examples
    --------
    >>> import polars as pl
    >>> frame = pl.DataFrame({"id": ["a", "b", "c", "d"], "age": [23, 27, 31, 36],
    ...                       "bad": [0, 1, 0, 1]})
    >>> spec = AnonymizationSpec(quasi_identifiers={"age": {"type": "bands", "widths": [10]}},
    ...                          target="bad", k=2, l=2, max_suppression=0)
    >>> result = anonymize(frame, spec)
    >>> result.frame["age"].to_list()
    ['[20, 30)', '[20, 30)', '[30, 40)', '[30, 40)']
    >>> result.frame.columns, result.report.k
    (['age', 'bad'], 2)
    """
    started = time.perf_counter()
    _require_columns(frame, spec)
    n = frame.height
    encoded = [encode_column(frame[column], hierarchy)
               for column, hierarchy in spec.quasi_identifiers.items()]
    target = None
    if spec.target is not None:
        target = frame[spec.target].rank("dense").fill_null(0).to_numpy().astype(np.int64)
    # A hair of slack so that 5 % of 1,000 rows is 50 rows, not 49 by rounding.
    max_suppressed = math.floor(spec.max_suppression * n + 1e-9)
    evaluator = Evaluator(encoded, target, k=spec.k, l=spec.l,
                          entropy=spec.diversity == "entropy", max_suppressed=max_suppressed)
    found = search(evaluator, on_progress=on_progress)
    if found.best is None:
        raise _refusal(spec, found.top, target, n, max_suppressed)
    best = found.best

    classes = evaluator.classes(best.node, with_rows=True)
    fail, _ = evaluator.failing(classes)
    assert classes.row_class is not None
    kept = ~fail[classes.row_class] if n else np.zeros(0, dtype=bool)
    by_column = {e.column: e for e in encoded}
    level_of = dict(zip(spec.quasi_identifiers, best.node, strict=True))
    exported = {*spec.quasi_identifiers, *spec.keep, *([spec.target] if spec.target else [])}
    columns = [by_column[c].output(level_of[c]).alias(c) if c in by_column else frame[c]
               for c in frame.columns if c in exported]
    out = pl.DataFrame(columns).filter(pl.Series(kept, dtype=pl.Boolean))

    # Measure the exported table itself, by a path independent of the search's counting.
    measured = check(out, list(spec.quasi_identifiers), spec.k, spec.target, spec.l,
                     diversity=spec.diversity)
    if out.height and not measured.is_anonymous:
        msg = ("Internal error: the exported table does not meet the requirement the search "
               "found met; nothing was exported. Please report this.")
        raise AnonymizationError(msg)
    report = _report(spec, encoded, best, measured, kept, n, found.nodes, found.evaluated,
                     time.perf_counter() - started,
                     exported=tuple(out.columns),
                     dropped=tuple(c for c in frame.columns if c not in exported))
    return AnonymizationResult(out, report)


def _require_columns(frame: pl.DataFrame, spec: AnonymizationSpec) -> None:
    roles = [("quasi_identifiers", c) for c in spec.quasi_identifiers]
    if spec.target is not None:
        roles.append(("target", spec.target))
    roles += [("keep", c) for c in spec.keep]
    missing = [(role, c) for role, c in roles if c not in frame.columns]
    if missing:
        listed = ", ".join(f"`{c}` (in {role})" for role, c in missing)
        msg = f"The table has no column {listed}."
        raise AnonymizationDataError(msg)


def _refusal(spec: AnonymizationSpec, top: NodeResult, target: np.ndarray | None, n: int,
             max_suppressed: int) -> KAnonymityNotMetError | LDiversityNotMetError:
    top_l = _table_l(target, entropy=spec.diversity == "entropy") if target is not None else None
    achievable = Achievable(rows=n, k=n, l=top_l, suppressed_for_k=top.suppressed_for_k,
                            max_suppressed=max_suppressed)
    cap = f"{100 * spec.max_suppression:g} %"
    if top.suppressed_for_k > max_suppressed:
        msg = (f"k-anonymity with k = {spec.k} cannot be met within the suppression cap "
               f"({cap}, {max_suppressed:,} rows): even with every quasi-identifier "
               f"generalised to `*`, the table's {n:,} rows make one class smaller than k.")
        return KAnonymityNotMetError(msg, achievable)
    kind = "entropy ℓ-diversity" if spec.diversity == "entropy" else "ℓ-diversity"
    shown = "–" if top_l is None else (f"{top_l:.2f}" if spec.diversity == "entropy"
                                       else f"{top_l:.0f}")
    msg = (f"{kind} with ℓ = {spec.l} of `{spec.target}` cannot be met within the suppression "
           f"cap ({cap}, {max_suppressed:,} rows): k = {spec.k} can be, but with every "
           f"quasi-identifier generalised to `*` the one class has ℓ = {shown}, and no "
           "other generalisation does better within the cap.")
    return LDiversityNotMetError(msg, achievable)


def _table_l(target: np.ndarray, *, entropy: bool) -> float:
    counts = np.bincount(target)
    counts = counts[counts > 0]
    if not entropy:
        return float(counts.size)
    if not counts.size:
        return 0.0
    p = counts / counts.sum()
    return float(math.exp(-(p * np.log(p)).sum()))


def _report(spec: AnonymizationSpec, encoded: list[EncodedColumn], best: NodeResult,
            measured: AnonymityCheck, kept: np.ndarray, n: int, nodes: int, evaluated: int,
            seconds: float, *, exported: tuple[str, ...],
            dropped: tuple[str, ...]) -> AnonymizationReport:
    suppressed = int(n - kept.sum())
    per_column: list[QuasiIdentifierLevel] = []
    for column, level in zip(encoded, best.node, strict=True):
        lv = column.levels[level]
        cell = lv.ncp[lv.codes]
        loss = (float(cell[kept].sum()) + suppressed) / n if n else 0.0
        per_column.append(QuasiIdentifierLevel(column.column, level, len(column.levels),
                                               lv.name, loss))
    sizes = list(measured.class_sizes)
    rows_out = n - suppressed
    return AnonymizationReport(
        rows_in=n,
        rows_out=rows_out,
        suppressed_rows=suppressed,
        suppression=suppressed / n if n else 0.0,
        max_suppression=spec.max_suppression,
        k_required=spec.k,
        k=measured.k,
        l_required=spec.l,
        l=measured.l,
        diversity=spec.diversity,
        target=spec.target,
        quasi_identifiers=tuple(per_column),
        information_loss=best.loss,
        classes=measured.classes,
        class_sizes=size_buckets(sizes, spec.k),
        smallest_class=sizes[0] if sizes else None,
        median_class=float(statistics.median(sizes)) if sizes else None,
        largest_class=sizes[-1] if sizes else None,
        max_risk=1 / sizes[0] if sizes else None,
        average_risk=measured.classes / rows_out if rows_out else None,
        nodes=nodes,
        nodes_evaluated=evaluated,
        seconds=seconds,
        exported_columns=exported,
        dropped_columns=dropped,
    )
