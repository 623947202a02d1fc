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


def _lists(codes: np.ndarray, names: list[str]) -> pl.Series:
    """An (n x w) int matrix of code ids (-1 = empty) -> a list[str] Series, order kept."""
    n = codes.shape[0]
    valid = codes >= 0
    counts = valid.sum(axis=1)
    offsets = np.zeros(n + 1, dtype=np.int32)
    np.cumsum(counts, out=offsets[1:])
    flat = codes[valid]  # row-major: each row's codes in column order
    dictionary = pa.array(names, type=pa.string())
    values = pa.DictionaryArray.from_arrays(pa.array(flat.astype(np.int32)), dictionary)
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
    matrix = np.column_stack(columns) if columns else np.full((n, 0), -1)
    reasons = _first_distinct(matrix, o.max_reasons)
    hits = np.column_stack([np.where(frame[r.column].to_numpy(), i, -1) for i, r in enumerate(plan.rules)]) \
        if plan.rules else np.full((n, 0), -1)
    return (_lists(reasons, names).alias("reasons"),
            _lists(hits, [r.id for r in plan.rules]).alias("rule_hits"))


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


def _first_distinct(matrix: np.ndarray, k: int) -> np.ndarray:
    """Per row, the first ``k`` distinct non-negative values in column order (-1 padded)."""
    n, w = matrix.shape
    out = np.full((n, k), -1, dtype=np.int64)
    count = np.zeros(n, dtype=np.int64)
    for j in range(w):
        col = matrix[:, j]
        take = (col >= 0) & (count < k)
        if not take.any():
            continue
        for m in range(k):
            take &= out[:, m] != col
        rows = np.flatnonzero(take)
        out[rows, count[rows]] = col[rows]
        count[rows] += 1
    return out
