"""Batch reason codes and rule hits, assembled with NumPy over whole columns.

The online backend builds each decision's reasons as: the default decline reason
(when the decision declines without a decline rule), then the reasons of fired
rules (decline, refer, cap, flag; strategy order within each), then, per scorecard
slot, the characteristics that lost points (most points lost first, ties in
characteristic order), then per model slot the features that pushed the score up
(largest contribution first), then the generic summary codes among the default
decline reason and the rules' reasons (``SCORE_TOO_LOW``...: see the catalogue), in the
same order; duplicates dropped; the first ``max_reasons`` kept.
This module computes exactly that for a whole table, without Python per row.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import polars as pl
import pyarrow as pa

from fengkong.compile.ir import Plan
from fengkong.explain import catalogue

_ACTIONS = ("decline", "refer", "cap", "flag")

# One candidate source of reasons: (rows, code ids) with rows None meaning every row
# (code -1 = nothing for that row), in the order the online backend appends them.
Candidate = tuple[np.ndarray | None, np.ndarray]


def _list_series(rows: np.ndarray, codes: np.ndarray, n: int, names: Sequence[str]) -> pl.Series:
    """A list[str] Series of length ``n`` from (row, code id) pairs already in output order."""
    counts = np.bincount(rows, minlength=n)
    offsets = np.zeros(n + 1, dtype=np.int32)
    np.cumsum(counts, out=offsets[1:])
    values = pa.array(list(names), type=pa.string()).take(pa.array(codes.astype(np.int32)))
    arr = pa.ListArray.from_arrays(pa.array(offsets), values)
    return pl.Series(pl.from_arrow(arr)).cast(pl.List(pl.String))


def reason_columns(plan: Plan, frame: pl.DataFrame, *,
                   with_reasons: bool = True) -> tuple[pl.Series, pl.Series]:
    """``reasons`` and ``rule_hits`` for every row of ``frame`` (``reasons`` all null
    without ``with_reasons``).

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

    fired = {r.id: np.flatnonzero(frame[r.column].to_numpy()) for r in plan.rules}
    if not with_reasons:
        return pl.Series("reasons", [None] * n, dtype=pl.List(pl.String)), \
            _rule_hits(plan, fired, n)
    candidates: list[Candidate] = []
    summaries: list[Candidate] = []  # generic codes: after every specific factor
    generic = catalogue().is_generic
    default = frame.select((pl.col("decision") == "decline").fill_null(value=False)
                           & ~pl.col("_declined")).to_series().to_numpy()
    rows = np.flatnonzero(default)
    (summaries if generic(o.decline_reason) else candidates).append(
        (rows, np.full(rows.size, code_id(o.decline_reason), dtype=np.int64)))
    rules_in_order = [r for a in _ACTIONS for r in plan.rules if r.action == a]
    for r in rules_in_order:
        hit = fired[r.id]
        (summaries if generic(r.reason) else candidates).append(
            (hit, np.full(hit.size, code_id(r.reason), dtype=np.int64)))
    repeats = len(rules_in_order) + 1 - len(names)  # rule codes used more than once
    # Scorecard slots first, then model slots, as online.
    for slot in sorted(plan.slots, key=lambda s: s.kind != "scorecard"):
        if slot.kind == "scorecard":
            cards = [plan.scorecards[c] for c in slot.components]
            char_codes = {c.reason for card in cards for c in card.characteristics}
            # Enough score reasons to fill the list even after duplicates are dropped.
            take = min(max(len(card.characteristics) for card in cards),
                       o.max_reasons + repeats + len(char_codes & set(names))
                       + max(len(card.characteristics) - len({c.reason for c in card.characteristics})
                             for card in cards))
            candidates += _ranked_block(
                frame, slot.name, n, take,
                [(card.name, [f"_pts.{card.name}.{c.name}" for c in card.characteristics],
                  np.array([c.max_points for c in card.characteristics]),
                  [code_id(c.reason) for c in card.characteristics]) for card in cards])
        elif slot.kind == "model":
            models = [plan.models[c] for c in slot.components]
            coded = [[i for i, r in enumerate(m.reasons) if r is not None] for m in models]
            # After dropping codes seen earlier and repeats within the model.
            take = max((min(len(ix), o.max_reasons + len(names) + len(ix) - len({m.reasons[i] for i in ix}))
                        for m, ix in zip(models, coded, strict=True)), default=0)
            if take:
                candidates += _ranked_block(
                    frame, slot.name, n, take,
                    [(m.name, [f"contrib.{m.name}.{m.features[i]}" for i in ix], None,
                      [code_id(m.reasons[i] or "") for i in ix])
                     for m, ix in zip(models, coded, strict=True) if ix])
    reasons = _first_distinct(candidates + summaries, n, o.max_reasons)  # (k, n)
    pos, rows = np.nonzero(reasons >= 0)
    order = np.lexsort((pos, rows))
    reason_series = _list_series(rows[order], reasons[pos[order], rows[order]], n, names)
    return reason_series.alias("reasons"), _rule_hits(plan, fired, n)


def _rule_hits(plan: Plan, fired: dict[str, np.ndarray], n: int) -> pl.Series:
    hit_rows = [fired[r.id] for r in plan.rules]
    hit_ids = [np.full(fired[r.id].size, i, dtype=np.int64) for i, r in enumerate(plan.rules)]
    rows_all = np.concatenate(hit_rows) if hit_rows else np.zeros(0, dtype=np.int64)
    ids_all = np.concatenate(hit_ids) if hit_ids else np.zeros(0, dtype=np.int64)
    order = np.lexsort((ids_all, rows_all))
    hits = _list_series(rows_all[order], ids_all[order], n, [r.id for r in plan.rules])
    return hits.alias("rule_hits")


def _ranked_block(frame: pl.DataFrame, slot: str, n: int, take: int,
                  components: list[tuple[str, list[str], np.ndarray | None, list[int]]],
                  ) -> list[Candidate]:
    """Per row, the codes of the components' items ranked by value, largest first.

    With ``best`` (scorecards) the value is the points lost (best points minus points);
    without it (models) the contribution. Only positive values give a reason; ties keep
    item order.
    """
    block = np.full((n, take), -1, dtype=np.int64)
    for name, columns, best, codes in components:
        rows = np.flatnonzero(frame.select(
            (pl.col(f"component.{slot}") == name).fill_null(value=False)).to_series().to_numpy())
        if rows.size == 0:
            continue
        chosen = frame.select(columns)
        if rows.size < n:  # only the rows this component scored (one card: all of them)
            chosen = chosen[rows]
        values = chosen.to_numpy().astype(np.float64, copy=False)
        # Sort ascending on the negated value (points minus best points for a scorecard,
        # minus the contribution for a model); a stable sort keeps item order in ties.
        negated = values - best if best is not None else -values
        order = np.argsort(negated, axis=1, kind="stable")[:, :take]
        top = np.take_along_axis(negated, order, axis=1)
        picked = np.asarray(codes, dtype=np.int64)[order]
        picked[~(top < 0)] = -1
        block[rows, : picked.shape[1]] = picked
    return [(None, np.ascontiguousarray(block[:, j])) for j in range(take)]


def _first_distinct(candidates: list[Candidate], n: int, k: int) -> np.ndarray:
    """Per row, the first ``k`` distinct codes in candidate order, as a (k, n) matrix."""
    out = np.full((k, n), -1, dtype=np.int64)
    count = np.zeros(n, dtype=np.int64)
    for rows, vals in candidates:
        if rows is None:
            rows = np.flatnonzero(vals >= 0)
            vals = vals[rows]
        room = count[rows] < k  # rows whose list is full need no more work
        rows, vals = rows[room], vals[room]
        if rows.size == 0:
            continue
        ok = out[0, rows] != vals
        for m in range(1, k):
            ok &= out[m, rows] != vals
        rows, vals = rows[ok], vals[ok]
        out[count[rows], rows] = vals
        count[rows] += 1
    return out



