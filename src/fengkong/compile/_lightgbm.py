"""LightGBM text models: read them and score them exactly as LightGBM does, without lightgbm.

What :meth:`lightgbm.Booster.save_model` writes is parsed into frozen trees. Scoring follows
LightGBM's ``Tree::NumericalDecision`` to the bit:

* a value ``v`` with ``|v| <= kZeroThreshold`` (``1e-35f``) is read as ``0.0``, as LightGBM's
  dense-matrix reader drops it before the trees see it;
* a missing value (null here, NaN in LightGBM) is ``0.0`` at a split whose missing type is
  *None*; at a *Zero* split, ``0.0`` and missing take the default direction; at a *NaN*
  split, missing takes the default direction; otherwise ``v <= threshold`` goes left;
* the raw score is ``((0.0 + tree_0) + tree_1) + ...`` in tree order, and a ``binary``
  model's probability is ``1 / (1 + exp(-sigmoid * raw))``.

Per-decision feature contributions use path attribution (Saabas): each split on the
decision path adds ``value(child) - value(node)`` to its feature, with the stored (already
shrunk) ``internal_value``/``leaf_value``; the sum of the roots' values is the bias. Each
leaf's contribution per feature is computed once here, so both backends add the very same
numbers in the same (tree) order.
"""

from __future__ import annotations

import hashlib
import math
import os
import struct
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import numpy.typing as npt

# LightGBM's kZeroThreshold is the float 1e-35f, compared as a double.
ZERO_THRESHOLD: float = struct.unpack("f", struct.pack("f", 1e-35))[0]
MISSING_NONE, MISSING_ZERO, MISSING_NAN = 0, 1, 2
_CATEGORICAL_MASK, _DEFAULT_LEFT_MASK = 1, 2
# Deeper trees are walked by a loop instead of nested ``if``s (CPython limits nesting to 100).
MAX_INLINE_DEPTH = 48

FloatArray = npt.NDArray[np.float64]


class ModelFileError(ValueError):
    """A model file cannot be used; ``code`` is a stable kebab-case diagnostic code."""

    def __init__(self, message: str, *, code: str) -> None:
        super().__init__(message)
        self.code = code
        self.message = message


@dataclass(frozen=True, slots=True)
class Tree:
    """One regression tree. Internal nodes are ``0..n-2``; a child ``c < 0`` is leaf ``~c``."""

    split_feature: tuple[int, ...]
    threshold: tuple[float, ...]
    default_left: tuple[bool, ...]
    missing_type: tuple[int, ...]
    left_child: tuple[int, ...]
    right_child: tuple[int, ...]
    leaf_value: tuple[float, ...]
    internal_value: tuple[float, ...]
    depth: int
    # leaf -> ((feature, contribution), ...) sorted by feature: the Saabas path attribution.
    leaf_contrib: tuple[tuple[tuple[int, float], ...], ...]

    @property
    def root_value(self) -> float:
        """The value before any split: what the tree adds to the bias."""
        return self.internal_value[0] if self.internal_value else self.leaf_value[0]


@dataclass(frozen=True, slots=True)
class LightGBMModel:
    """A parsed single-output LightGBM model."""

    feature_names: tuple[str, ...]
    objective: str
    sigmoid: float | None  # the ``binary`` objective's ``sigmoid:k``
    trees: tuple[Tree, ...]
    sha256: str

    @property
    def used_features(self) -> frozenset[int]:
        """Indices of the features some split reads."""
        return frozenset(f for tree in self.trees for f in tree.split_feature)

    @property
    def bias(self) -> float:
        """Sum of the trees' root values, in tree order (the contributions' baseline)."""
        total = 0.0
        for tree in self.trees:
            total += tree.root_value
        return total

    def raw_bounds(self) -> tuple[float, float]:
        """Lowest and highest raw score any record can get (slightly widened for rounding)."""
        lo = sum(min(t.leaf_value) for t in self.trees)
        hi = sum(max(t.leaf_value) for t in self.trees)
        slack = 1e-9 * (1.0 + abs(lo) + abs(hi))
        return lo - slack, hi + slack


# -- reading ------------------------------------------------------------------------------

def read_model(path: Path) -> LightGBMModel:
    """Read and parse a LightGBM text model file.

    Raises
    ------
    ModelFileError
        ``model-file-not-found``, ``model-file-unreadable``, ``model-file-invalid``,
        ``model-categorical-split`` or ``model-unsupported``; the message names the file.
    """
    try:
        data = path.read_bytes()
    except FileNotFoundError:
        msg = f"Model file `{path}` does not exist."
        raise ModelFileError(msg, code="model-file-not-found") from None
    except OSError as exc:
        msg = f"Model file `{path}` cannot be read: {exc.strerror or exc}."
        raise ModelFileError(msg, code="model-file-unreadable") from exc
    try:
        text = data.decode("utf-8")
    except UnicodeDecodeError:
        msg = f"Model file `{path}` is not text; save the model with `Booster.save_model()`."
        raise ModelFileError(msg, code="model-file-invalid") from None
    return parse_model(text, file=str(path), sha256=hashlib.sha256(data).hexdigest())


def parse_model(text: str, *, file: str, sha256: str = "") -> LightGBMModel:
    """Parse the text of a LightGBM model (``Booster.model_to_string()``)."""
    lines = text.splitlines()
    if not lines or lines[0].strip() != "tree":
        msg = (f"Model file `{file}` is not a LightGBM text model (it should start with "
               "`tree`); save the model with `Booster.save_model()`.")
        raise ModelFileError(msg, code="model-file-invalid")
    header: dict[str, str] = {}
    blocks: list[dict[str, str]] = []
    i = 1
    while i < len(lines) and not lines[i].startswith("Tree="):
        key, _, value = lines[i].partition("=")
        header[key.strip()] = value.strip()
        i += 1
    while i < len(lines) and lines[i].startswith("Tree="):
        block = {"Tree": lines[i][5:].strip()}
        i += 1
        while i < len(lines) and lines[i].strip() and not lines[i].startswith("Tree="):
            key, _, value = lines[i].partition("=")
            block[key.strip()] = value.strip()
            i += 1
        blocks.append(block)
        while i < len(lines) and not lines[i].strip():
            i += 1
    if i >= len(lines) or lines[i].strip() != "end of trees":
        msg = f"Model file `{file}` is truncated or damaged: no `end of trees` after the trees."
        raise ModelFileError(msg, code="model-file-invalid")
    return _build(header, blocks, file, sha256)


def _build(header: dict[str, str], blocks: list[dict[str, str]], file: str,
           sha256: str) -> LightGBMModel:
    for key in ("num_class", "num_tree_per_iteration", "max_feature_idx", "objective",
                "feature_names"):
        if key not in header:
            msg = f"Model file `{file}` has no `{key}` line; it is not a complete LightGBM model."
            raise ModelFileError(msg, code="model-file-invalid")
    if header["num_class"] != "1" or header["num_tree_per_iteration"] != "1":
        msg = (f"Model file `{file}` is a multi-class model (num_class={header['num_class']}); "
               "only single-output models (binary, regression) are supported.")
        raise ModelFileError(msg, code="model-unsupported")
    if "average_output" in header:
        msg = (f"Model file `{file}` averages its trees (random forest mode); only boosted "
               "models (gbdt, goss, dart saved after training) are supported.")
        raise ModelFileError(msg, code="model-unsupported")
    names = tuple(header["feature_names"].split())
    if str(len(names) - 1) != header["max_feature_idx"]:
        msg = (f"Model file `{file}` lists {len(names)} feature names but "
               f"max_feature_idx={header['max_feature_idx']}.")
        raise ModelFileError(msg, code="model-file-invalid")
    objective, *options = header["objective"].split()
    sigmoid = None
    for opt in options:
        key, _, value = opt.partition(":")
        if key == "sigmoid":
            sigmoid = _float(value, file, "objective", None)
    if objective == "binary" and sigmoid is None:
        sigmoid = 1.0
    trees = tuple(_tree(b, names, file) for b in blocks)
    if not trees:
        msg = f"Model file `{file}` has no trees."
        raise ModelFileError(msg, code="model-file-invalid")
    return LightGBMModel(names, objective, sigmoid, trees, sha256)


def _float(text: str, file: str, key: str, tree: int | None) -> float:
    try:
        return float(text)
    except ValueError:
        where = f"tree {tree}, " if tree is not None else ""
        msg = f"Model file `{file}` ({where}`{key}`): `{text[:40]}` is not a number."
        raise ModelFileError(msg, code="model-file-invalid") from None


def _array(block: dict[str, str], key: str, n: int, file: str, kind: Callable[[str], float],
           tree: int) -> list[float]:
    raw = block.get(key)
    if raw is None:
        msg = f"Model file `{file}` (tree {tree}) has no `{key}` line."
        raise ModelFileError(msg, code="model-file-invalid")
    parts = raw.split()
    if len(parts) != n:
        msg = f"Model file `{file}` (tree {tree}, `{key}`): expected {n} values, found {len(parts)}."
        raise ModelFileError(msg, code="model-file-invalid")
    try:
        return [kind(p) for p in parts]
    except ValueError:
        msg = f"Model file `{file}` (tree {tree}, `{key}`) holds a value that is not a number."
        raise ModelFileError(msg, code="model-file-invalid") from None


def _tree(block: dict[str, str], names: tuple[str, ...], file: str) -> Tree:
    index = int(block["Tree"]) if block["Tree"].isdigit() else -1
    try:
        n_leaves = int(block.get("num_leaves", ""))
    except ValueError:
        msg = f"Model file `{file}` (tree {index}) has no valid `num_leaves`."
        raise ModelFileError(msg, code="model-file-invalid") from None
    if n_leaves < 1:
        msg = f"Model file `{file}` (tree {index}) has num_leaves={n_leaves}."
        raise ModelFileError(msg, code="model-file-invalid")
    if block.get("is_linear", "0") != "0":
        msg = f"Model file `{file}` has linear trees (`linear_tree=true`); they are not supported."
        raise ModelFileError(msg, code="model-unsupported")
    n = n_leaves - 1
    leaf_value = _array(block, "leaf_value", n_leaves, file, float, index)
    if n == 0:
        return Tree((), (), (), (), (), (), tuple(leaf_value), (), 0, ((),))
    feature = [int(v) for v in _array(block, "split_feature", n, file, int, index)]
    decision = [int(v) for v in _array(block, "decision_type", n, file, int, index)]
    for f in feature:
        if not 0 <= f < len(names):
            msg = f"Model file `{file}` (tree {index}) splits on feature #{f}, which is not declared."
            raise ModelFileError(msg, code="model-file-invalid")
    categorical = [f for f, d in zip(feature, decision, strict=True) if d & _CATEGORICAL_MASK]
    if categorical or block.get("num_cat", "0") not in ("0", ""):
        name = names[categorical[0] if categorical else feature[0]]
        msg = (f"Model file `{file}` splits feature `{name}` as categorical (tree {index}); "
               "only numeric splits are supported: retrain with the feature encoded as a "
               "number (e.g. its WoE or a target rank) and without `categorical_feature`.")
        raise ModelFileError(msg, code="model-categorical-split")
    threshold = _array(block, "threshold", n, file, float, index)
    if any(math.isnan(t) for t in threshold):
        msg = f"Model file `{file}` (tree {index}) has a threshold that is not a number."
        raise ModelFileError(msg, code="model-file-invalid")
    left = [int(v) for v in _array(block, "left_child", n, file, int, index)]
    right = [int(v) for v in _array(block, "right_child", n, file, int, index)]
    internal = _array(block, "internal_value", n, file, float, index)
    if not all(map(math.isfinite, leaf_value + internal)):
        msg = f"Model file `{file}` (tree {index}) has a leaf or node value that is not finite."
        raise ModelFileError(msg, code="model-file-invalid")
    depth, contrib = _attribute(n_leaves, feature, left, right, leaf_value, internal, file, index)
    return Tree(tuple(feature), tuple(threshold), tuple(bool(d & _DEFAULT_LEFT_MASK) for d in decision),
                tuple((d >> 2) & 3 for d in decision), tuple(left), tuple(right),
                tuple(leaf_value), tuple(internal), depth, contrib)


def _attribute(n_leaves: int, feature: list[int], left: list[int], right: list[int],
               leaf_value: list[float], internal: list[float], file: str,
               index: int) -> tuple[int, tuple[tuple[tuple[int, float], ...], ...]]:
    """Check the tree's shape and compute each leaf's per-feature path contribution."""
    contrib: list[tuple[tuple[int, float], ...] | None] = [None] * n_leaves
    seen = [False] * (n_leaves - 1)
    depth = 0
    broken = False
    # (node, depth, contributions so far); an explicit stack: trees may be deep.
    stack: list[tuple[int, int, dict[int, float]]] = [(0, 0, {})]
    while stack and not broken:
        node, d, acc = stack.pop()
        if node < 0:
            leaf = ~node
            broken = leaf >= n_leaves or contrib[leaf] is not None
            if not broken:
                contrib[leaf] = tuple(sorted(acc.items()))
                depth = max(depth, d)
            continue
        broken = node >= n_leaves - 1 or seen[node]
        if broken:
            continue
        seen[node] = True
        f = feature[node]
        for child in (right[node], left[node]):
            if child >= n_leaves - 1 or ~child >= n_leaves:
                broken = True
                break
            value = leaf_value[~child] if child < 0 else internal[child]
            step = dict(acc)
            step[f] = step.get(f, 0.0) + (value - internal[node])
            stack.append((child, d + 1, step))
    if broken or not all(seen) or any(c is None for c in contrib):
        msg = f"Model file `{file}` (tree {index}) is not a valid tree (its child links are broken)."
        raise ModelFileError(msg, code="model-file-invalid")
    return depth, tuple(c for c in contrib if c is not None)


# -- online: generated Python ------------------------------------------------------------

def needs_zeroing(model: LightGBMModel) -> frozenset[int]:
    """Features whose tiny values (``|v| <= 1e-35f``) must be read as 0.0 to split as LightGBM.

    Only a Zero-type split or a threshold in ``[-1e-35f, 1e-35f)`` can tell them apart.
    """
    out = set()
    for tree in model.trees:
        for f, t, m in zip(tree.split_feature, tree.threshold, tree.missing_type, strict=True):
            if m == MISSING_ZERO or -ZERO_THRESHOLD <= t < ZERO_THRESHOLD:
                out.add(f)
    return frozenset(out)


def needs_zero_fill(model: LightGBMModel) -> frozenset[int]:
    """Features read with missing as 0.0 by some split (missing type None or Zero)."""
    return frozenset(f for tree in model.trees
                     for f, m in zip(tree.split_feature, tree.missing_type, strict=True)
                     if m != MISSING_NAN)


def online_tree(tree: Tree, xn: dict[int, str], xz: dict[int, str], acc: str,
                contrib: list[str], indent: int, const: Callable[[object], str]) -> list[str]:
    """Python lines adding ``tree`` to ``acc`` and its path contributions to ``contrib[f]``.

    ``xn[f]`` names the feature's value as a float (NaN when missing, tiny values already
    0.0) and ``xz[f]`` the same with NaN read as 0.0; ``const`` binds a value in the
    namespace of the generated code and returns its name. Missing is NaN rather than None
    so that every split is one float comparison: ``not x > t`` sends NaN left.
    """
    lines: list[str] = []

    def num(x: float) -> str:
        return repr(x) if math.isfinite(x) else const(x)

    def leaf(pos: int, pad: str) -> None:
        parts = [f"{acc} += {num(tree.leaf_value[pos])}"]
        parts += [f"{contrib[f]} += {num(c)}" for f, c in tree.leaf_contrib[pos]]
        lines.append(pad + "; ".join(parts))

    if not tree.split_feature:
        leaf(0, "    " * indent)
        return lines
    if tree.depth > MAX_INLINE_DEPTH:
        # A loop over the nodes finds the leaf; a balanced dispatch adds its constants.
        args = ", ".join(xn.get(f, "0.0") for f in range(max(tree.split_feature) + 1))
        lines.append(f"{'    ' * indent}_lf = {const(walk)}({const(walk_nodes(tree))}, ({args},))")
        _dispatch(0, len(tree.leaf_value), indent, leaf, lines)
        return lines

    def node(k: int, depth: int) -> None:
        pad = "    " * depth
        if k < 0:
            leaf(~k, pad)
            return
        f, t = tree.split_feature[k], tree.threshold[k]
        m, dl, thr = tree.missing_type[k], tree.default_left[k], num(t)
        if m == MISSING_NONE or (m == MISSING_ZERO and (t >= 0.0) == dl):
            # At a Zero split, 0.0 goes the default way anyway when t >= 0 (left) or t < 0.
            cond = f"{xz[f]} <= {thr}"
        elif m == MISSING_ZERO:
            cond = (f"{xz[f]} == 0.0 or {xz[f]} <= {thr}" if dl
                    else f"{xz[f]} != 0.0 and {xz[f]} <= {thr}")
        else:
            cond = f"not {xn[f]} > {thr}" if dl else f"{xn[f]} <= {thr}"
        lines.append(f"{pad}if {cond}:")
        node(tree.left_child[k], depth + 1)
        lines.append(f"{pad}else:")
        node(tree.right_child[k], depth + 1)

    node(0, indent)
    return lines


def _dispatch(lo: int, hi: int, indent: int, leaf: Callable[[int, str], None],
              lines: list[str]) -> None:
    pad = "    " * indent
    if hi - lo == 1:
        leaf(lo, pad)
        return
    mid = (lo + hi) // 2
    lines.append(f"{pad}if _lf < {mid}:")
    _dispatch(lo, mid, indent + 1, leaf, lines)
    lines.append(f"{pad}else:")
    _dispatch(mid, hi, indent + 1, leaf, lines)


WalkNode = tuple[int, float, bool, int, int, int]


def walk_nodes(tree: Tree) -> tuple[WalkNode, ...]:
    """The flat node table :func:`walk` reads."""
    return tuple(zip(tree.split_feature, tree.threshold, tree.default_left, tree.missing_type,
                     tree.left_child, tree.right_child, strict=True))


def walk(nodes: tuple[WalkNode, ...], xs: tuple[float, ...]) -> int:
    """The leaf one record reaches (``xs``: NaN when missing, tiny values already 0.0)."""
    k = 0
    while k >= 0:
        f, thr, default_left, missing, left, right = nodes[k]
        x = xs[f]
        if x != x:
            if missing == MISSING_NAN:
                k = left if default_left else right
                continue
            x = 0.0
        if missing == MISSING_ZERO and x == 0.0:
            k = left if default_left else right
        else:
            k = left if x <= thr else right
    return ~k


def sigmoid(k: float, raw: float) -> float:
    """``1 / (1 + exp(-k * raw))`` as LightGBM computes it; 0.0 where ``exp`` overflows."""
    try:
        return 1.0 / (1.0 + math.exp(-k * raw))
    except OverflowError:
        return 0.0


# -- batch: vectorised NumPy --------------------------------------------------------------

_CHUNK = 16_384
_THREADS = max(1, min(8, os.cpu_count() or 1))
_MAX_SCORERS = 16
_SCORERS: dict[str, BatchScorer] = {}  # by model file SHA-256; same content, same scorer


@dataclass(frozen=True, slots=True)
class _BatchNode:
    feature: int
    variant: tuple[int, float]  # (missing set: NaN or Zero, what missing becomes)
    threshold: float
    negate: bool  # go right = not (x <= t) instead of x > t
    masks: tuple[tuple[int, np.unsignedinteger], ...]  # (word, bits): the left subtree's leaves


@dataclass(frozen=True, slots=True)
class _BatchTree:
    nodes: tuple[_BatchNode, ...]
    words: int
    dtype: type[np.unsignedinteger]  # uint32 words for trees of up to 32 leaves, else uint64
    value: FloatArray  # by in-order leaf position
    contrib: tuple[tuple[int, FloatArray], ...]  # (feature, by in-order leaf position)


def _batch_tree(tree: Tree) -> _BatchTree:
    """Precompute a QuickScorer layout: leaves in in-order, one bitmask per node.

    Every split whose test is false (the record goes right) removes the leaves of its left
    subtree; the leaf a record reaches is then the first leaf left (Lucchese et al., 2015).
    """
    n_leaves = len(tree.leaf_value)
    dtype: type[np.unsignedinteger] = np.uint32 if n_leaves <= 32 else np.uint64
    bits_per_word = 32 if n_leaves <= 32 else 64
    order: list[int] = []  # in-order position -> leaf
    span: dict[int, tuple[int, int]] = {}  # node -> [first, last) position of its left subtree
    stack: list[tuple[int, bool]] = [(0, False)] if tree.split_feature else []
    while stack:
        k, done = stack.pop()
        if k < 0:
            order.append(~k)
        elif done:
            span[k] = (span[k][0], len(order))
        else:
            span[k] = (len(order), -1)
            stack += [(tree.right_child[k], False), (k, True), (tree.left_child[k], False)]
    if not order:
        order = [0]
    nodes = []
    for k in range(len(tree.split_feature)):
        f, t = tree.split_feature[k], tree.threshold[k]
        m, dl = tree.missing_type[k], tree.default_left[k]
        negate = False
        if m == MISSING_NONE:
            variant = (MISSING_NAN, 0.0)
        else:
            mset = MISSING_ZERO if m == MISSING_ZERO else MISSING_NAN
            # Missing as NaN goes left with `x > t`; as +inf it goes right unless t is +inf.
            if dl:
                variant = (mset, math.nan)
            elif t < math.inf:
                variant = (mset, math.inf)
            else:
                variant, negate = (mset, math.nan), True
        a, b = span[k]
        masks = []
        for w in range(a // bits_per_word, (b - 1) // bits_per_word + 1):
            lo = max(a, w * bits_per_word) - w * bits_per_word
            hi = min(b, (w + 1) * bits_per_word) - w * bits_per_word
            masks.append((w, dtype(((1 << (hi - lo)) - 1) << lo)))
        nodes.append(_BatchNode(f, variant, t, negate, tuple(masks)))
    value = np.array([tree.leaf_value[leaf] for leaf in order], dtype=np.float64)
    per_feature: dict[int, FloatArray] = {}
    for pos, leaf in enumerate(order):
        for f, c in tree.leaf_contrib[leaf]:
            if f not in per_feature:
                per_feature[f] = np.zeros(n_leaves, dtype=np.float64)
            per_feature[f][pos] = c
    words = (n_leaves + bits_per_word - 1) // bits_per_word
    return _BatchTree(tuple(nodes), words, dtype, value, tuple(sorted(per_feature.items())))


class BatchScorer:
    """Raw scores and contributions for whole columns, identical to the online code."""

    def __init__(self, model: LightGBMModel) -> None:
        self.model = model
        self.trees = tuple(_batch_tree(t) for t in model.trees)
        self.zeroing = needs_zeroing(model)

    @classmethod
    def for_model(cls, model: LightGBMModel) -> BatchScorer:
        """A scorer for ``model``, shared by models of the same file content.

        Building one takes tens of milliseconds for a few hundred trees: too much to
        repeat for every small batch.
        """
        if not model.sha256:
            return cls(model)
        scorer = _SCORERS.get(model.sha256)
        if scorer is None:
            scorer = cls(model)
            for oldest in list(_SCORERS)[: max(0, len(_SCORERS) - _MAX_SCORERS + 1)]:
                _SCORERS.pop(oldest, None)  # list(): other threads may be adding too
            _SCORERS[model.sha256] = scorer
        return scorer

    def score(self, columns: dict[int, FloatArray], n: int) -> tuple[FloatArray, FloatArray]:
        """Raw scores ``(n,)`` and contributions ``(features, n)``.

        ``columns`` maps a feature index to its values (NaN when missing); features no
        split reads may be left out.
        """
        raw = np.zeros(n, dtype=np.float64)
        contrib = np.zeros((len(self.model.feature_names), n), dtype=np.float64)

        def one(start: int) -> None:
            stop = min(n, start + _CHUNK)
            chunk = {f: c[start:stop] for f, c in columns.items()}
            self._chunk(chunk, raw[start:stop], contrib[:, start:stop])

        starts = range(0, n, _CHUNK)
        if len(starts) < 2 or _THREADS < 2:
            for start in starts:
                one(start)
        else:
            # Chunks write disjoint slices; NumPy's ufuncs release the GIL, so the
            # trees of two chunks are walked at once.
            with ThreadPoolExecutor(min(_THREADS, len(starts))) as pool:
                list(pool.map(one, starts))
        return raw, contrib

    def _chunk(self, columns: dict[int, FloatArray], raw: FloatArray, contrib: FloatArray) -> None:
        n = len(raw)
        base: dict[int, FloatArray] = {}
        for f, col in columns.items():
            x = np.array(col, dtype=np.float64, copy=True)
            if f in self.zeroing:
                x[np.abs(x) <= ZERO_THRESHOLD] = 0.0
            base[f] = x
        variants: dict[tuple[int, int, float], FloatArray] = {}

        def variant(f: int, mset: int, fill: float) -> FloatArray:
            key = (f, mset, fill)
            out = variants.get(key)
            if out is None:
                x = base[f]
                missing = np.isnan(x) if mset == MISSING_NAN else (np.isnan(x) | (x == 0.0))
                out = x if mset == MISSING_NAN and math.isnan(fill) else np.where(missing, fill, x)
                variants[key] = out
            return out

        go_right = np.empty(n, dtype=np.bool_)
        scratch = {d: (np.empty((max(t.words for t in self.trees), n), dtype=d), np.empty(n, dtype=d))
                   for d in {t.dtype for t in self.trees}}
        for tree in self.trees:
            elim, masked = scratch[tree.dtype]
            pos = self._leaves(tree, variant, go_right, elim[:tree.words], masked)
            raw += tree.value[pos]
            for f, table in tree.contrib:
                contrib[f] += table[pos]

    @staticmethod
    def _leaves(tree: _BatchTree, variant: Callable[[int, int, float], FloatArray],
                go_right: npt.NDArray[np.bool_], elim: npt.NDArray[np.unsignedinteger],
                masked: npt.NDArray[np.unsignedinteger]) -> npt.NDArray[np.intp]:
        n = elim.shape[1]
        if not tree.nodes:
            return np.zeros(n, dtype=np.intp)
        elim.fill(0)
        for node in tree.nodes:
            x = variant(node.feature, *node.variant)
            if node.negate:
                np.less_equal(x, node.threshold, out=go_right)
                np.logical_not(go_right, out=go_right)
            else:
                np.greater(x, node.threshold, out=go_right)
            for w, bits in node.masks:
                # `where=` would be simpler, but a multiply is an order of magnitude faster.
                np.multiply(go_right, bits, out=masked)
                np.bitwise_or(elim[w], masked, out=elim[w])
        # The lowest free bit, by the float exponent of the power of two `free & -free`.
        wide = tree.dtype is np.uint64
        pos = np.zeros(n, dtype=np.intp)
        for w in range(tree.words - 1, -1, -1):
            e = elim[w]
            lowest = ~e & (e + tree.dtype(1))
            index: npt.NDArray[np.intp]
            if wide:
                index = ((lowest.astype(np.float64).view(np.int64) >> 52) - 1023).astype(np.intp)
            else:
                index = ((lowest.astype(np.float32).view(np.int32) >> 23) - 127).astype(np.intp)
            if tree.words == 1:
                return index
            pos = np.where(lowest != 0, w * 64 + index, pos).astype(np.intp)
        return pos
