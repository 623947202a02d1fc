"""The search of the full-domain generalisation lattice for the least information loss.

A *node* gives one level per quasi-identifier. Evaluating a node combines the
quasi-identifiers' codes at those levels (and the target's) into one ``int64`` key
per row, in mixed radix, and counts keys with :func:`numpy.bincount` (or a sort when
the key space is large). Classes smaller than ``k``, or with too little target
diversity, are suppressed; the node *passes* when the suppressed rows fit the cap.

Passing is monotone: every row kept at a node is kept at any more general node
(merged classes are larger and at least as diverse). So a failing node fails all
its descendants and those are never evaluated. The information loss of a node is
at least its *generalisation loss* (the loss with nothing suppressed), which
depends only on the levels and grows with them. Nodes are visited in increasing
order of that lower bound; the search stops once the bound reaches the best loss
found, and skips the ancestors of a node that passed without suppression (they
cannot do better). The result is the optimum, not an approximation.

Entropy ℓ-diversity with suppression is the exception to monotonicity (see
:func:`search`); with it, failing nodes prune nothing.
"""

from __future__ import annotations

import itertools
import math
from collections.abc import Callable, Sequence
from dataclasses import dataclass

import numpy as np

from fengkong.anonymize._hierarchy import EncodedColumn

Node = tuple[int, ...]
ProgressCallback = Callable[[int, int], None]

# Key spaces up to this many cells (or this many per row) are counted with bincount
# (one pass, no sort); larger ones are sorted.
_BINCOUNT_CELLS = 1 << 21
_BINCOUNT_CELLS_PER_ROW = 4
# Mixed-radix keys are re-densified before they could overflow int64.
_KEY_LIMIT = 1 << 52
_EPS = 1e-12


@dataclass(frozen=True, slots=True)
class Classes:
    """The equivalence classes of a node.

    Attributes
    ----------
    sizes
        Rows per class.
    distinct
        Distinct target values per class (1 without a target).
    entropy
        Entropy (natural log) of the target per class (0 without a target).
    representative
        A row of each class, to read the class's codes.
    row_class
        The class of every row; only when asked for.
    """

    sizes: np.ndarray
    distinct: np.ndarray
    entropy: np.ndarray
    representative: np.ndarray
    row_class: np.ndarray | None


@dataclass(frozen=True, slots=True)
class NodeResult:
    """What a node achieves.

    Attributes
    ----------
    node
        The level of each quasi-identifier.
    passed
        Whether the suppressed rows fit the cap.
    suppressed
        Rows in classes that fail k or ℓ.
    suppressed_for_k
        Rows in classes smaller than k.
    loss
        Information loss in [0, 1] (suppressed rows count as fully lost).
    """

    node: Node
    passed: bool
    suppressed: int
    suppressed_for_k: int
    loss: float


class Evaluator:
    """Evaluates lattice nodes over encoded quasi-identifiers and a target."""

    def __init__(self, columns: Sequence[EncodedColumn], target: np.ndarray | None, *,
                 k: int, l: int, entropy: bool, max_suppressed: int) -> None:  # noqa: E741
        self.columns = tuple(columns)
        self.n = int(columns[0].levels[0].codes.shape[0]) if columns else 0
        self.target = target
        self.n_target = int(target.max()) + 1 if target is not None and target.size else 1
        self.k, self.l, self.entropy = k, l, entropy
        self.max_suppressed = max_suppressed
        self.evaluated = 0

    @property
    def shape(self) -> tuple[int, ...]:
        """Levels per quasi-identifier."""
        return tuple(len(c.levels) for c in self.columns)

    def _key(self, node: Node) -> tuple[np.ndarray, int]:
        key = np.zeros(self.n, dtype=np.int64)
        space = 1
        for column, lv in zip(self.columns, node, strict=True):
            level = column.levels[lv]
            if level.size == 1:
                continue
            if space * level.size > _KEY_LIMIT:
                uniques, key = np.unique(key, return_inverse=True)
                space = int(uniques.size)
            key = key * level.size + level.codes
            space *= level.size
        return key, space

    def classes(self, node: Node, *, with_rows: bool = False) -> Classes:
        """The equivalence classes of ``node`` (and the class of each row, if asked)."""
        if not self.n:
            empty = np.zeros(0, dtype=np.int64)
            return Classes(empty, empty, np.zeros(0), empty, empty if with_rows else None)
        key, space = self._key(node)
        t = self.n_target
        if t > 1 and space * t > _KEY_LIMIT:
            uniques, key = np.unique(key, return_inverse=True)
            space = int(uniques.size)
        full = key * t + self.target if t > 1 and self.target is not None else key
        if space * t <= max(_BINCOUNT_CELLS, _BINCOUNT_CELLS_PER_ROW * self.n):
            counts = np.bincount(full, minlength=space * t).reshape(space, t)
            sizes_all = counts.sum(axis=1)
            present = np.flatnonzero(sizes_all)
            counts = counts[present]
            sizes = sizes_all[present]
            distinct = np.count_nonzero(counts, axis=1)
            entropy = _entropy_rows(counts, sizes) if self.entropy else np.zeros(sizes.size)
            rep_all = np.empty(space, dtype=np.int64)
            rep_all[key] = np.arange(self.n, dtype=np.int64)
            representative = rep_all[present]
            row_class = None
            if with_rows:
                dense = np.full(space, -1, dtype=np.int64)
                dense[present] = np.arange(present.size, dtype=np.int64)
                row_class = dense[key]
            return Classes(sizes, distinct, entropy, representative, row_class)
        uniques, first, inverse, pair_counts = np.unique(
            full, return_index=True, return_inverse=True, return_counts=True)
        cls = uniques // t
        starts = np.flatnonzero(np.concatenate(([True], cls[1:] != cls[:-1])))
        sizes = np.add.reduceat(pair_counts, starts)
        distinct = np.diff(np.concatenate((starts, [cls.size])))
        if self.entropy:
            p = pair_counts / np.repeat(sizes, distinct)
            entropy = np.add.reduceat(-p * np.log(p), starts)
        else:
            entropy = np.zeros(sizes.size)
        row_class = None
        if with_rows:
            pair_class = np.cumsum(np.concatenate(([False], cls[1:] != cls[:-1])))
            row_class = pair_class[inverse]
        return Classes(sizes, distinct, entropy, first[starts], row_class)

    def failing(self, classes: Classes) -> tuple[np.ndarray, np.ndarray]:
        """Per class: whether it is suppressed, and whether it is too small for k."""
        small = classes.sizes < self.k
        fail = small.copy()
        if self.target is not None and self.l > 1:
            if self.entropy:
                fail |= classes.entropy < math.log(self.l) - 1e-9
            else:
                fail |= classes.distinct < self.l
        return fail, small

    def cell_loss(self, node: Node, classes: Classes) -> np.ndarray:
        """Sum over quasi-identifiers of the cell loss, per class."""
        total = np.zeros(classes.sizes.size)
        for column, lv in zip(self.columns, node, strict=True):
            level = column.levels[lv]
            total += level.ncp[level.codes[classes.representative]]
        return total

    def evaluate(self, node: Node) -> NodeResult:
        """Count ``node``'s classes and decide whether it passes."""
        self.evaluated += 1
        classes = self.classes(node)
        fail, small = self.failing(classes)
        suppressed = int(classes.sizes[fail].sum())
        passed = suppressed <= self.max_suppressed
        loss = math.inf
        if passed:
            m = len(self.columns)
            kept = ~fail
            lost = float((self.cell_loss(node, classes)[kept] * classes.sizes[kept]).sum())
            loss = (lost + suppressed * m) / (self.n * m) if self.n and m else 0.0
        return NodeResult(node, passed, suppressed, int(classes.sizes[small].sum()), loss)


@dataclass(frozen=True, slots=True)
class SearchResult:
    """The outcome of :func:`search`.

    Attributes
    ----------
    best
        The passing node of least information loss, or ``None`` when none passes.
    top
        The top node's result (every quasi-identifier ``*``).
    nodes
        Nodes in the lattice.
    evaluated
        Nodes whose classes were counted.
    """

    best: NodeResult | None
    top: NodeResult
    nodes: int
    evaluated: int


def search(evaluator: Evaluator, *, on_progress: ProgressCallback | None = None) -> SearchResult:
    """Find the node of least information loss that passes.

    Parameters
    ----------
    evaluator
        The encoded table and the requirements.
    on_progress
        Called as ``on_progress(done, total)`` while nodes are visited or pruned.

    Returns
    -------
    SearchResult
    """
    shape = evaluator.shape
    total = math.prod(shape)
    top_node = tuple(h - 1 for h in shape)
    top = evaluator.evaluate(top_node)
    # Entropy ℓ-diversity with suppression is not monotone: a kept class merged with a
    # suppressed one can fall below the entropy bound. Then no node is pruned for
    # failing, and a failing top does not end the search.
    monotone = not evaluator.entropy
    if not top.passed and monotone:
        if on_progress is not None:
            on_progress(total, total)
        return SearchResult(None, top, total, evaluator.evaluated)

    nodes = np.array(list(itertools.product(*(range(h) for h in shape))), dtype=np.int16)
    nodes = nodes.reshape(total, len(shape))
    bound = np.zeros(total)
    for q, column in enumerate(evaluator.columns):
        sums = np.array([lv.loss_sum for lv in column.levels])
        bound += sums[nodes[:, q]]
    if evaluator.n and shape:
        bound /= evaluator.n * len(shape)
    height = nodes.sum(axis=1, dtype=np.int64)
    # Least lower bound first; among equals the least generalised, then in lattice order.
    order = np.lexsort((*(nodes[:, q] for q in reversed(range(len(shape)))), height, bound))

    best: NodeResult | None = top if top.passed else None
    best_key = (top.loss, int(height[-1]), top_node) if top.passed else (math.inf, 0, top_node)
    failed = np.zeros((0, len(shape)), dtype=np.int16)
    clean = np.zeros((0, len(shape)), dtype=np.int16)
    known: dict[Node, NodeResult] = {top_node: top}

    def known_to_fail(row: np.ndarray) -> bool:
        return bool(failed.shape[0]) and bool((row <= failed).all(axis=1).any())

    def result_of(node: Node) -> NodeResult:
        nonlocal failed
        if node not in known:
            known[node] = evaluator.evaluate(node)
            if monotone and not known[node].passed:
                failed = np.vstack((failed, np.array(node, dtype=np.int16)))
        return known[node]

    def an_ancestor_fails(node: Node) -> bool:
        # The node's projections on one or two quasi-identifiers (the others at `*`) are
        # its most general ancestors: cheap to count, and one that fails prunes a whole
        # sublattice (e.g. every node that keeps exact incomes).
        specified = [q for q, level in enumerate(node) if level != top_node[q]]
        for size in (1, 2):
            if len(specified) <= size:
                return False
            for subset in itertools.combinations(specified, size):
                ancestor = tuple(node[q] if q in subset else top_node[q]
                                 for q in range(len(node)))
                if known_to_fail(np.array(ancestor)) or not result_of(ancestor).passed:
                    return True
        return False

    step = max(1, total // 200)
    for i, idx in enumerate(order.tolist()):
        if on_progress is not None and i % step == 0:
            on_progress(i, total)
        if bound[idx] > best_key[0] + _EPS:
            break
        row = nodes[idx]
        if known_to_fail(row):
            continue
        # An ancestor of a node that passed without suppression loses at least as much.
        if clean.shape[0] and bool((row >= clean).all(axis=1).any()):
            continue
        node = tuple(int(v) for v in row)
        if monotone and an_ancestor_fails(node):
            continue
        result = result_of(node)
        if not result.passed:
            continue
        if result.suppressed == 0:
            clean = np.vstack((clean, row))
        key = (result.loss, int(height[idx]), node)
        if key < best_key:
            best, best_key = result, key
    if on_progress is not None:
        on_progress(total, total)
    return SearchResult(best, top, total, evaluator.evaluated)


def _entropy_rows(counts: np.ndarray, sizes: np.ndarray) -> np.ndarray:
    p = counts / sizes[:, None]
    with np.errstate(divide="ignore", invalid="ignore"):
        terms = np.where(p > 0, -p * np.log(np.where(p > 0, p, 1.0)), 0.0)
    return np.asarray(terms.sum(axis=1), dtype=np.float64)
