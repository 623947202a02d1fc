"""Batch reason codes and rule hits, assembled with NumPy over whole columns.

The online backend builds each decision's reasons as: the default decline reason
(when the decision declines without a decline rule), then the reasons of fired
rules (decline, refer, cap, flag; strategy order within each), then, per scorecard
slot, the characteristics that lost points (most points lost first, ties in
characteristic order), then, per model slot, the features whose contribution raised
the score (largest first, ties in feature order; features without a reason code
skipped); duplicates dropped; the first ``max_reasons`` kept. This
module computes exactly that for a whole table, without Python per row.
"""

from __future__ import annotations

from collections.abc import Callable

import numpy as np
import polars as pl
import pyarrow as pa

from fengkong.compile.ir import Plan

_ACTIONS = ("decline", "refer", "cap", "flag")


def _list_series(rows: np.ndarray, codes: np.ndarray, n: int, names: list[str]) -> pl.Series:
    """A list[str] Series of length ``n`` from (row, code id) pairs already in output order."""
    counts = np.bincount(rows, minlength=n)
    offsets = np.zeros(n + 1, dtype=np.int32)
    np.cumsum(counts, out=offsets[1:])
    dictionary = pa.array(names, type=pa.string())
    values = pa.DictionaryArray.from_arrays(pa.array(codes.astype(np.int32)), dictionary)
    arr = pa.ListArray.from_arrays(pa.array(offsets), values.cast(pa.string()))
    return pl.Series(pl.from_arrow(arr)).cast(pl.List(pl.String))


def reason_columns(plan: Plan, frame: pl.DataFrame) -> tuple[pl.Series, pl.Series]:
    """``reasons`` and ``rule_hits`` for every row of ``frame``.

    ``frame`` holds the fired-rule columns (``rule.<id>``), ``decision``, ``_declined``,
    ``component.<slot>``, the internal points columns ``_pts.<card>.<char>`` and the
    model contributions ``contrib.<model>.<feature>``.
    """
    n = frame.height
    o = plan.outcome
    names: list[str] = []
    ids: dict[str, int] = {}

    def code_id(code: str) -> int:
        if code not in ids:
            ids[code] = len(names)
            names.append(code)
        return ids[code]

    columns: list[np.ndarray] = []
    declined = frame["_declined"].to_numpy()
    default = (frame["decision"] == "decline").fill_null(value=False).to_numpy() & ~declined
    columns.append(np.where(default, code_id(o.decline_reason), -1))
    rules_in_order = [r for a in _ACTIONS for r in plan.rules if r.action == a]
    for r in rules_in_order:
        columns.append(np.where(frame[r.column].to_numpy(), code_id(r.reason), -1))
    candidates = 1 + len(rules_in_order)
    distinct_rule_codes = len(names)
    for slot in plan.slots:
        if slot.kind != "scorecard":
            continue
        cards = [plan.scorecards[c] for c in slot.components]
        char_codes = {c.reason for card in cards for c in card.characteristics}
        # Enough score reasons to fill the list even after duplicates are dropped.
        take = min(max(len(card.characteristics) for card in cards),
                   o.max_reasons + (candidates - distinct_rule_codes) + len(char_codes & set(names))
                   + max(len(card.characteristics) - len({c.reason for c in card.characteristics})
                         for card in cards))
        block = np.full((n, take), -1, dtype=np.int64)
        component = frame[f"component.{slot.name}"].to_numpy()
        for card in cards:
            rows = np.flatnonzero(component == card.name)
            if rows.size == 0:
                continue
            pts = np.column_stack([frame[f"_pts.{card.name}.{c.name}"].to_numpy()[rows]
                                   for c in card.characteristics])
            maxp = np.array([c.max_points for c in card.characteristics], dtype=np.float64)
            loss = maxp - pts
            order = np.argsort(-loss, axis=1, kind="stable")[:, :take]
            sorted_loss = np.take_along_axis(loss, order, axis=1)
            codes = np.array([code_id(c.reason) for c in card.characteristics], dtype=np.int64)[order]
            codes[~(sorted_loss > 0)] = -1
            block[rows, : codes.shape[1]] = codes
        columns.extend(block.T)
    for slot in plan.slots:
        if slot.kind == "model":
            columns.extend(_model_block(plan, slot.name, slot.components, frame, code_id, len(names)))
    reasons = _first_distinct([np.ascontiguousarray(c) for c in columns], n, o.max_reasons)  # (k, n)
    pos, rows = np.nonzero(reasons >= 0)
    order = np.lexsort((pos, rows))
    reason_series = _list_series(rows[order], reasons[pos[order], rows[order]], n, names)
    hit_rows: list[np.ndarray] = []
    hit_ids: list[np.ndarray] = []
    for i, r in enumerate(plan.rules):
        fired = np.flatnonzero(frame[r.column].to_numpy())
        hit_rows.append(fired)
        hit_ids.append(np.full(fired.size, i, dtype=np.int64))
    rows_all = np.concatenate(hit_rows) if hit_rows else np.zeros(0, dtype=np.int64)
    ids_all = np.concatenate(hit_ids) if hit_ids else np.zeros(0, dtype=np.int64)
    order = np.lexsort((ids_all, rows_all))
    hits = _list_series(rows_all[order], ids_all[order], n, [r.id for r in plan.rules])
    return reason_series.alias("reasons"), hits.alias("rule_hits")


def _model_block(plan: Plan, slot: str, components: tuple[str, ...], frame: pl.DataFrame,
                 code_id: Callable[[str], int], known: int) -> list[np.ndarray]:
    """Reason-code columns of one model slot, from ``contrib.<model>.<feature>``."""
    n = frame.height
    models = [plan.models[c] for c in components]
    coded = [[i for i, r in enumerate(m.reasons) if r is not None] for m in models]
    # Enough reasons to fill the list after dropping codes seen earlier (at most `known`)
    # and repeats within the model (features sharing a code).
    take = max((min(len(ix), plan.outcome.max_reasons + known + len(ix) - len({m.reasons[i] for i in ix}))
                for m, ix in zip(models, coded, strict=True)), default=0)
    if take == 0:
        return []
    block = np.full((n, take), -1, dtype=np.int64)
    component = frame[f"component.{slot}"].to_numpy()
    for m, ix in zip(models, coded, strict=True):
        rows = np.flatnonzero(component == m.name)
        if rows.size == 0 or not ix:
            continue
        contrib = np.column_stack([frame[f"contrib.{m.name}.{m.features[i]}"].to_numpy()[rows]
                                   for i in ix])
        order = np.argsort(-contrib, axis=1, kind="stable")[:, :take]
        top = np.take_along_axis(contrib, order, axis=1)
        codes = np.array([code_id(m.reasons[i] or "") for i in ix], dtype=np.int64)[order]
        codes[~(top > 0)] = -1
        block[rows, : codes.shape[1]] = codes
    return list(block.T)


def _first_distinct(columns: list[np.ndarray], n: int, k: int) -> np.ndarray:
    """Per row, the first ``k`` distinct non-negative values in column order, as (k, n)."""
    out = np.full((k, n), -1, dtype=np.int64)
    count = np.zeros(n, dtype=np.int64)
    for col in columns:
        rows = np.flatnonzero(col >= 0)  # rule columns are sparse: work on their rows only
        if rows.size == 0:
            continue
        vals = col[rows]
        ok = count[rows] < k
        for m in range(k):
            ok &= out[m, rows] != vals
        rows, vals = rows[ok], vals[ok]
        out[count[rows], rows] = vals
        count[rows] += 1
    return out
