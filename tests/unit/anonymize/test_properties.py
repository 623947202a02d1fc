"""Random tables against a brute-force reference written independently in plain Python.

For every random table the reference evaluates every node of the lattice by
grouping rows in dictionaries. Whenever :func:`anonymize` succeeds, its output is
k-anonymous and ℓ-diverse, suppresses no more than the cap, and its information
loss is the least any passing node has; whenever it refuses, no node passes.
"""

from __future__ import annotations

import contextlib
import itertools
import math
from collections import Counter, defaultdict
from collections.abc import Callable, Iterator
from typing import Any

import polars as pl
import pytest
from hypothesis import HealthCheck, event, given, settings
from hypothesis import strategies as st

from fengkong.anonymize import (
    AnonymityNotMetError,
    AnonymizationSpec,
    KAnonymityNotMetError,
    _lattice,
    anonymize,
    check,
)

CITY_1 = {"a": "P", "b": "P", "c": "Q", "d": "Q", "e": "R", "f": "R"}
CITY_2 = {"P": "X", "Q": "X", "R": "Y"}
AGE_WIDTHS = (4, 8)
SCORE_CUTS = ((3.0, 6.0), (6.0,))
QIS = ("age", "city", "score")
HIERARCHIES: dict[str, Any] = {
    "age": {"type": "bands", "widths": list(AGE_WIDTHS)},
    "city": {"type": "categorical", "levels": [CITY_1, CITY_2]},
    "score": {"type": "bands", "cuts": [list(c) for c in SCORE_CUTS]},
}
TOP = {"age": 3, "city": 3, "score": 3}
Row = tuple[int | None, str | None, int | None, int]


def generalise(qi: str, v: Any, level: int) -> Any:
    """The generalised value as an interval (lo, hi), a group name, or "*"."""
    if level == TOP[qi]:
        return "*"
    if v is None or level == 0:
        return v
    if qi == "age":
        width = AGE_WIDTHS[level - 1]
        return (v // width * width, v // width * width + width)
    if qi == "city":
        return CITY_1[v] if level == 1 else CITY_2[CITY_1[v]]
    cuts = SCORE_CUTS[level - 1]
    lower = max((c for c in cuts if c <= v), default=-math.inf)
    upper = min((c for c in cuts if c > v), default=math.inf)
    return (lower, upper)


def cell_loss(qi: str, values: list[Any]) -> Callable[[Any, int], float]:
    """Normalised certainty penalty of a cell of ``qi`` at a level, over this column."""
    present = sorted({v for v in values if v is not None})
    distinct = len(set(values))

    def loss(v: Any, level: int) -> float:
        if level == TOP[qi]:
            return 1.0 if distinct > 1 else 0.0
        if v is None or level == 0 or len(present) < 2:
            return 0.0
        if qi == "city":
            same = [p for p in present if generalise(qi, p, level) == generalise(qi, v, level)]
            return (len(same) - 1) / (len(present) - 1)
        lo, hi = generalise(qi, v, level)
        return (min(hi, present[-1]) - max(lo, present[0])) / (present[-1] - present[0])

    return loss


def reference(rows: list[Row], *, k: int, l: int, cap: float,  # noqa: E741
              target: bool, entropy: bool) -> dict[tuple[int, ...], tuple[bool, int, float]]:
    """Every node → (passes, suppressed rows, information loss)."""
    n, m = len(rows), len(QIS)
    max_suppressed = math.floor(cap * n + 1e-9)
    losses = [cell_loss(qi, [r[q] for r in rows]) for q, qi in enumerate(QIS)]
    out = {}
    for node in itertools.product(*(range(TOP[qi] + 1) for qi in QIS)):
        classes: dict[tuple[Any, ...], list[Row]] = defaultdict(list)
        for row in rows:
            classes[tuple(generalise(qi, row[q], node[q]) for q, qi in enumerate(QIS))].append(row)
        suppressed, lost = 0, 0.0
        for members in classes.values():
            outcomes = Counter(r[-1] for r in members)
            if entropy:
                h = -sum(c / len(members) * math.log(c / len(members)) for c in outcomes.values())
                diverse = h >= math.log(l) - 1e-9
            else:
                diverse = len(outcomes) >= l
            if len(members) < k or (target and not diverse):
                suppressed += len(members)
                lost += m * len(members)
            else:
                lost += sum(losses[q](r[q], node[q]) for r in members for q in range(m))
        out[node] = (suppressed <= max_suppressed, suppressed, lost / (m * n) if n else 0.0)
    return out


def table(rows: list[Row]) -> pl.DataFrame:
    return pl.DataFrame(
        {"age": [r[0] for r in rows], "city": [r[1] for r in rows],
         "score": [r[2] for r in rows], "bad": [r[3] for r in rows]},
        schema={"age": pl.Int64, "city": pl.String, "score": pl.Int64, "bad": pl.Int64},
    )


ROW = st.tuples(
    st.one_of(st.none(), st.integers(0, 30)) | st.integers(0, 30),
    st.one_of(st.none(), st.sampled_from("abcdef")) | st.sampled_from("abcdef"),
    st.one_of(st.none(), st.integers(0, 9)) | st.integers(0, 9),
    st.integers(0, 2),
)


@settings(max_examples=250, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(
    rows=st.lists(ROW, max_size=40),
    k=st.integers(1, 4),
    ell=st.integers(1, 3),
    cap=st.sampled_from([0.0, 0.1, 0.25, 0.5]),
    has_target=st.booleans(),
    entropy=st.booleans(),
)
def test_search_matches_brute_force(rows: list[Row], k: int, ell: int, cap: float,
                                    has_target: bool, entropy: bool) -> None:
    frame = table(rows)
    spec = AnonymizationSpec.model_validate({
        "quasi_identifiers": HIERARCHIES,
        "target": "bad" if has_target else None,
        "k": k, "l": ell, "max_suppression": cap,
        "diversity": "entropy" if entropy else "distinct",
    })
    expected = reference(rows, k=k, l=ell, cap=cap, target=has_target, entropy=entropy)
    passing = {node: v for node, v in expected.items() if v[0]}
    try:
        result = anonymize(frame, spec)
    except AnonymityNotMetError as exc:
        event(f"refused: {exc.code}")
        assert not passing, f"refused, but {sorted(passing)} pass"
        top_small = len(rows) < k and len(rows) > math.floor(cap * len(rows) + 1e-9)
        assert isinstance(exc, KAnonymityNotMetError) == top_small
        return
    assert passing, "succeeded, but no node passes"
    best = min(v[2] for v in passing.values())
    event("succeeded with suppression" if result.report.suppressed_rows else "succeeded")
    report = result.report
    assert report.information_loss == pytest.approx(best, abs=1e-9)
    node = tuple(q.level for q in report.quasi_identifiers)
    assert expected[node][0]
    assert report.suppressed_rows == expected[node][1]
    assert report.suppressed_rows <= math.floor(cap * len(rows) + 1e-9)
    assert result.frame.height == len(rows) - report.suppressed_rows

    # The output, grouped by its own values in plain Python.
    groups: dict[tuple[Any, ...], list[int]] = defaultdict(list)
    assert ("bad" in result.frame.columns) == has_target
    outcome = pl.col("bad") if has_target else pl.lit(0).alias("bad")
    for *qis, bad in result.frame.select(*QIS, outcome).iter_rows():
        groups[tuple(qis)].append(bad)
    for outcomes in groups.values():
        assert len(outcomes) >= k
        if has_target:
            counts = Counter(outcomes).values()
            if entropy:
                h = -sum(c / len(outcomes) * math.log(c / len(outcomes)) for c in counts)
                assert h >= math.log(ell) - 1e-9
            else:
                assert len(counts) >= ell
    measured = check(result.frame, list(QIS), k, "bad" if has_target else None, ell,
                     diversity="entropy" if entropy else "distinct")
    assert measured.is_anonymous
    assert measured.classes == len(groups)


@contextlib.contextmanager
def counting_path(mode: str) -> Iterator[None]:
    """Force the evaluator's counting path: bincount, sort, or sort with re-densified keys."""
    saved = (_lattice._BINCOUNT_CELLS, _lattice._BINCOUNT_CELLS_PER_ROW, _lattice._KEY_LIMIT)
    if mode != "bincount":
        _lattice._BINCOUNT_CELLS, _lattice._BINCOUNT_CELLS_PER_ROW = 0, 0
    if mode == "sort-and-densify":
        _lattice._KEY_LIMIT = 8
    try:
        yield
    finally:
        _lattice._BINCOUNT_CELLS, _lattice._BINCOUNT_CELLS_PER_ROW, _lattice._KEY_LIMIT = saved


@pytest.mark.parametrize("mode", ["sort", "sort-and-densify"])
@settings(max_examples=60, deadline=None)
@given(rows=st.lists(ROW, max_size=40), k=st.integers(1, 3), entropy=st.booleans())
def test_counting_paths_agree(mode: str, rows: list[Row], k: int, entropy: bool) -> None:
    frame = table(rows)
    spec = AnonymizationSpec.model_validate({
        "quasi_identifiers": HIERARCHIES,
        "target": "bad", "k": k, "l": 2, "max_suppression": 0.25,
        "diversity": "entropy" if entropy else "distinct",
    })

    def run() -> Any:
        try:
            result = anonymize(frame, spec)
        except AnonymityNotMetError as exc:
            return exc.code
        data = result.report.to_dict()
        del data["seconds"]
        return data, result.frame.to_dicts()

    with counting_path("bincount"):
        expected = run()
    with counting_path(mode):
        assert run() == expected

