"""Model workbench benchmark: fengkong's binning + scorecard against optbinning, toad and scorecardpy.

One command, side by side in one run, on the same data and the same split:

* **synthetic**: ``fengkong.workbench._datasets.synthetic_credit(rows, seed=0)``
  (1,000,000 × 30 numeric + 3 categorical characteristics, about 5 % bads, non-linear
  effects, 2 % missing, -999 special values); the protected attributes, ``channel`` and
  ``applied_at`` are not model inputs;
* **german**: the German credit data that ships inside scorecardpy
  (``scorecardpy.germancredit()``, 1,000 rows, 20 characteristics; ``creditability ==
  "bad"`` is the event).

One fixed stratified 70/30 split (``sklearn.model_selection.train_test_split``,
``random_state=42``) per data set, written to Parquet once; every implementation fits on
the same 70 % and is scored on the same 30 %; AUC is computed here, by one function, from
the scores each implementation returns.

Measured per implementation and data set:

* **fit**: binning + scorecard fit, wall seconds (binning alone where the tool reports it);
* **peak memory**: the process's peak resident memory during the fit minus its resident
  memory just before (Linux ``VmHWM`` reset through ``/proc/self/clear_refs``) — i.e.
  beyond the data already loaded; RSS, not tracemalloc, because polars, LightGBM and
  NumPy's BLAS allocate outside Python's allocator;
* **holdout AUC** on the 30 %;
* **scoring rows/s**: total score for every row of the whole table (1,000,000 rows at full
  size; synthetic only — German credit has 1,000 rows);
* **reasons rows/s**: total score plus the top 3 reason codes per record (the
  characteristics that lost most points below their best bin — the engine's rule), through
  each tool's own per-characteristic points.

Implementations:

* ``fengkong``: ``Scorecard(Binner(special_values=[-999]))`` from ``fengkong.workbench``;
  scoring through the strategy engine's batch path: the card is exported with
  ``Scorecard.export``, put in a one-card strategy, compiled, and ``fengkong.evaluate_batch``
  scores the table (score and reasons in one call); checked equal to ``predict_score`` on
  every scored row before anything is reported;
* ``numpy``: the same fengkong card scored by hand-written vectorised NumPy
  (``searchsorted`` per characteristic, read from the exported YAML document) — the floor;
  checked equal to ``predict_score``;
* ``optbinning``: ``BinningProcess`` (IV ≥ 0.02 selection, ``special_codes=[-999]``) +
  ``Scorecard`` (logistic regression, pdo 20 / 600 at 50:1);
* ``toad``: ``Combiner(method="dt", min_samples=0.05)`` + ``WOETransformer`` +
  ``ScoreCard``; reasons from ``predict(..., return_sub=True)``;
* ``scorecardpy``: ``woebin`` + ``LogisticRegression`` + ``scorecard`` +
  ``scorecard_ply``; fitted on a 20,000-row stratified subsample of the training set when
  the training set is larger (``--scorecardpy-rows``; the issue measured > 600 s for it
  at 1 M rows), and its scoring measured on 20,000 rows.

fengkong and the NumPy floor run with this (the project's) Python on current releases;
the peers need ``pandas<3`` and ``scikit-learn<1.8`` and run in their own venv
(``benchmarks/run_workbench_peers.sh`` makes it): each implementation runs in a fresh
subprocess (``--worker``), so peak memory and imports do not leak from one to the next,
and the data go through Parquet. Without the peers' Python, only fengkong and the NumPy
floor are measured on the synthetic table, and the run says so.

Usage:
    benchmarks/run_workbench_peers.sh                           # 1,000,000 rows, side by side
    benchmarks/run_workbench_peers.sh --rows 100000 --quick     # smoke run
    .venv/bin/python benchmarks/bench_workbench.py --only fengkong,numpy
"""

from __future__ import annotations

import argparse
import gc
import json
import os
import shutil
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

HERE = Path(__file__).resolve().parent
REPO = HERE.parent
DEFAULT_PEERS_PYTHON = Path(os.environ.get("FENGKONG_WORKBENCH_PEERS_VENV",
                                           "/tmp/fengkong-workbench-peers")) / "bin" / "python"
IMPLEMENTATIONS = ("fengkong", "numpy", "optbinning", "toad", "scorecardpy")
PEERS = ("optbinning", "toad", "scorecardpy")
SPECIAL = -999.0
PDO, BASE_SCORE, BASE_ODDS = 20.0, 600.0, 50.0
TOP = 3
GOAL_FIT_S = 5.0
GOAL_FIT_RATIO = 10.0
GOAL_AUC_GAP = 0.005
GOAL_REASONS_ROWS_S = 5_000_000.0


# ---------------------------------------------------------------------------------------
# measurement helpers (stdlib + numpy only: they run in both environments)
# ---------------------------------------------------------------------------------------
def _status_kib(key: str) -> int:
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith(key + ":"):
            return int(line.split()[1])
    return -1


def _reset_peak() -> bool:
    try:
        Path("/proc/self/clear_refs").write_text("5")
    except OSError:
        return False
    return True


class PeakRSS:
    """Peak resident memory beyond the memory resident at entry (MiB)."""

    def __enter__(self) -> PeakRSS:
        gc.collect()
        self.base = _status_kib("VmRSS")
        self.reset = _reset_peak()
        return self

    def __exit__(self, *exc: object) -> None:
        peak = _status_kib("VmHWM")
        self.mib = (peak - self.base) / 1024.0 if self.reset and peak >= 0 else float("nan")


def timed(fn: Callable[[], Any]) -> tuple[Any, float]:
    t0 = time.perf_counter()
    out = fn()
    return out, time.perf_counter() - t0


def best_rate(fn: Callable[[], Any], rows: int, repeats: int) -> tuple[float, Any]:
    """Rows per second of the fastest of ``repeats`` calls after one warm-up call (of the
    one call itself when ``repeats`` is 0: for the slow ones)."""
    t0 = time.perf_counter()
    out = fn()
    best = time.perf_counter() - t0 if repeats == 0 else float("inf")
    for _ in range(repeats):
        t0 = time.perf_counter()
        out = fn()
        best = min(best, time.perf_counter() - t0)
    return rows / best, out


def top_reasons(lost: Any, k: int = TOP) -> Any:
    """The engine's rule, in NumPy: indices of the ``k`` characteristics that lost most
    points below their best bin, most first, ties in characteristic order; -1 where fewer
    than ``k`` characteristics lost points. Shape (n, k).

    ``k`` rounds of ``argmax`` (which returns the first of equal maxima, so ties go in
    column order), each removing the chosen column: O(k · p) per row and no sort.
    """
    import numpy as np

    work = np.array(lost, dtype=np.float64, order="C")  # a copy: columns get knocked out
    n, p = work.shape
    k = min(k, p)
    out = np.empty((n, k), dtype=np.int64)
    rows = np.arange(n)
    for r in range(k):
        idx = np.argmax(work, axis=1)
        out[:, r] = np.where(work[rows, idx] > 0, idx, -1)
        work[rows, idx] = -np.inf
    return out


# ---------------------------------------------------------------------------------------
# workers: one implementation, one data set, in a fresh process
# ---------------------------------------------------------------------------------------
def _load_pandas(folder: Path, name: str) -> Any:
    import pandas as pd

    return pd.read_parquet(folder / f"{name}.parquet")


def worker_fengkong(folder: Path, meta: dict[str, Any], out: dict[str, Any], *,
                    numpy_only: bool) -> Any:
    import numpy as np
    import polars as pl
    import yaml

    from fengkong import compile_strategy, evaluate_batch
    from fengkong.workbench import Binner, Scorecard

    features: list[str] = meta["features"]
    train = pl.read_parquet(folder / "train.parquet")
    test = pl.read_parquet(folder / "test.parquet")
    x, y = train.select(features), train["bad"].to_numpy()
    special = [SPECIAL] if meta["special"] else []
    _, out["binning_s"] = timed(lambda: Binner(special_values=special).fit(x, y))
    with PeakRSS() as mem:
        card, out["fit_s"] = timed(
            lambda: Scorecard(Binner(special_values=special), pdo=PDO, base_score=BASE_SCORE,
                              base_odds=BASE_ODDS).fit(x, y))
    out["peak_mib"] = mem.mib
    out["n_features"] = len(card.features_)
    risk = -card.predict_score(test.select(features))

    work = Path(tempfile.mkdtemp(prefix="fk-wb-"))
    card_path = card.export(work / "scorecards" / "card.yaml", name="card")
    doc = {"strategy": "bench", "version": 1, "stage": "origination",
           "inputs": card.input_fields(), "scorecards": {"card": {"file": "scorecards/card.yaml"}},
           "use": {"score": "card"}, "outcome": {"max_reasons": TOP}}
    (work / "strategy.yaml").write_text(yaml.safe_dump(doc, sort_keys=False), encoding="utf-8")
    if meta.get("score_rows"):
        frame = pl.read_parquet(folder / "score.parquet").select(features)
        n = frame.height
        expected = card.predict_score(frame)
        if numpy_only:
            scorer = NumpyCard(yaml.safe_load(card_path.read_text(encoding="utf-8")), frame)
            got = scorer.score()
            if not np.array_equal(got, expected):
                bad = int(np.sum(got != expected))
                raise SystemExit(f"numpy floor disagrees with predict_score on {bad} rows")
            # the same top-3 reasons as the engine's, checked on the first 20,000 rows
            head = frame.head(20_000)
            codes = [ch["reason"] for ch in scorer.doc["characteristics"]]
            _, top = NumpyCard(scorer.doc, head).score_and_reasons()
            mine = [[codes[i] for i in row if i >= 0] for row in top.tolist()]
            strategy = compile_strategy(work / "strategy.yaml")
            engine = evaluate_batch(strategy, head)["reasons"].to_list()
            if mine != engine:
                bad = sum(a != b for a, b in zip(mine, engine, strict=True))
                raise SystemExit(f"numpy floor's reasons disagree with the engine's on {bad} rows")
            out["score_rows_s"], _ = best_rate(scorer.score, n, 3)
            out["reasons_rows_s"], _ = best_rate(scorer.score_and_reasons, n, 3)
            out["notes"] = ("the fengkong card; raw columns taken out of the frame untimed, bin "
                            "lookup and points timed; reasons checked == engine on 20,000 rows")
        else:
            strategy, out["compile_s"] = timed(lambda: compile_strategy(work / "strategy.yaml"))
            batch = evaluate_batch(strategy, frame)
            got = batch["score.score"].to_numpy()
            if not np.array_equal(got, expected):
                bad = int(np.sum(got != expected))
                raise SystemExit(f"engine score disagrees with predict_score on {bad} rows")
            out["reason_columns"] = [c for c in batch.columns if "reason" in c]
            rate, _ = best_rate(lambda: evaluate_batch(strategy, frame), n, 3)
            out["score_rows_s"] = out["reasons_rows_s"] = rate
            out["predict_score_rows_s"], _ = best_rate(lambda: card.predict_score(frame), n, 3)
            out["notes"] = ("evaluate_batch: score, points and top-3 reasons in one call; "
                            "checked == predict_score on every row")
    shutil.rmtree(work, ignore_errors=True)
    return risk


class NumpyCard:
    """The exported card, scored by hand in NumPy.

    Construction (not timed) takes the raw columns out of the frame (floats with NaN for
    numbers; strings stay a Polars column) and reads the bins; scoring (timed) finds each
    value's bin (``searchsorted`` on the cut points, then missing and special values),
    looks its points up and adds them.
    """

    def __init__(self, doc: dict[str, Any], frame: Any) -> None:
        import numpy as np
        import polars as pl

        self.doc = doc
        self.base = float(doc.get("base_points", 0.0))
        self.parts: list[tuple[str, Any, Any, Any, Any]] = []
        self.best: list[float] = []
        for ch in doc["characteristics"]:
            col = frame[ch.get("expr", ch["name"])]
            bins = ch["bins"]
            other = float(ch.get("other", 0.0))
            missing = float(ch.get("missing", other))
            specials = ch.get("special") or []
            extra = [other, missing]
            if col.dtype == pl.String:
                mapping: dict[str, int] = {}
                pts = []
                for i, b in enumerate(bins):
                    pts.append(float(b["points"]))
                    for cat in _categories(b["when"]):
                        mapping[cat] = i
                for s in specials:
                    for v in s["values"]:
                        mapping[str(v)] = len(pts) + len(extra)
                        extra.append(float(s["points"]))
                table = np.array([*pts, *extra])
                self.parts.append(("cat", col, mapping, len(pts), table))
            else:
                lowers = [_lower(b["when"]) for b in bins]
                order = np.argsort(lowers)
                edges = np.array([lowers[i] for i in order][1:])
                pts = [float(bins[i]["points"]) for i in order]
                special_values = []
                for s in specials:
                    for v in s["values"]:
                        special_values.append((float(v), len(pts) + len(extra)))
                        extra.append(float(s["points"]))
                table = np.array([*pts, *extra])
                values = col.cast(pl.Float64).fill_null(float("nan")).to_numpy()
                self.parts.append(("num", values, edges, special_values, table))
            self.best.append(float(table.max()))
        self.n = frame.height

    def _points(self, part: tuple[str, Any, Any, Any, Any]) -> Any:
        import numpy as np
        import polars as pl

        kind, values, how, extra, table = part
        if kind == "cat":
            codes = values.replace_strict(how, default=extra, return_dtype=pl.Int64)
            idx = np.where(values.is_null().to_numpy(), extra + 1, codes.to_numpy())
        else:
            idx = np.searchsorted(how, values, side="right")
            for v, i in extra:
                idx[values == v] = i
            idx[np.isnan(values)] = len(table) - len(extra) - 1
        return table[idx]

    def score(self) -> Any:
        import numpy as np

        total = np.full(self.n, self.base)
        for part in self.parts:
            total = total + self._points(part)
        return total

    def score_and_reasons(self) -> tuple[Any, Any]:
        import numpy as np

        pts = np.empty((len(self.parts), self.n))  # one contiguous row per characteristic
        total = np.full(self.n, self.base)
        for k, part in enumerate(self.parts):
            pts[k] = self._points(part)
            total = total + pts[k]
        lost = np.asarray(self.best)[:, None] - pts
        return total, top_reasons(lost.T)


def _categories(when: str) -> list[str]:
    text = when.strip()
    if text.startswith("not("):
        return []
    return [part.strip().strip("'\"") for part in _split_quoted(text)]


def _split_quoted(text: str) -> list[str]:
    out, cur, quote = [], "", ""
    for ch in text:
        if quote:
            cur += ch
            if ch == quote:
                quote = ""
        elif ch in "'\"":
            quote = ch
            cur += ch
        elif ch == ",":
            out.append(cur)
            cur = ""
        else:
            cur += ch
    if cur.strip():
        out.append(cur)
    return out


def _lower(when: str) -> float:
    """Lower edge of a numeric bin: ``< a`` -> -inf, ``[a..b)`` -> a, ``>= a`` -> a."""
    text = when.strip()
    if text.startswith("<"):
        return float("-inf")
    if text.startswith(">="):
        return float(text[2:])
    if text.startswith("["):
        return float(text[1:].split("..")[0])
    msg = f"unsupported bin test for the NumPy floor: {when!r}"
    raise ValueError(msg)


def worker_optbinning(folder: Path, meta: dict[str, Any], out: dict[str, Any]) -> Any:
    import numpy as np
    from optbinning import BinningProcess, Scorecard
    from sklearn.linear_model import LogisticRegression

    features, cats = meta["features"], meta["categorical"]
    train, test = _load_pandas(folder, "train"), _load_pandas(folder, "test")
    x, y = train[features], train["bad"].to_numpy()
    special = [SPECIAL] if meta["special"] else None

    def fit() -> Any:
        bp = BinningProcess(features, categorical_variables=cats, special_codes=special,
                            selection_criteria={"iv": {"min": 0.02}})
        return Scorecard(binning_process=bp, estimator=LogisticRegression(max_iter=1000),
                         scaling_method="pdo_odds",
                         scaling_method_params={"pdo": PDO, "odds": BASE_ODDS,
                                                "scorecard_points": BASE_SCORE}).fit(x, y)

    with PeakRSS() as mem:
        card, out["fit_s"] = timed(fit)
    out["peak_mib"] = mem.mib
    out["binning_s"] = getattr(card, "_time_binning_process", float("nan"))
    selected = list(card.binning_process_.get_support(names=True))
    out["n_features"] = len(selected)
    risk = -card.score(test[features])
    if meta.get("score_rows"):
        frame = _load_pandas(folder, "score")[features]
        n = len(frame)
        out["score_rows_s"], _ = best_rate(lambda: card.score(frame), n, 1)
        # per-characteristic points exactly as Scorecard.score adds them (bin indices, then
        # the card's points per bin)
        card_table = card._df_scorecard
        points = [card_table[card_table.Variable == v].Points.to_numpy(dtype=float)
                  for v in selected]
        best = np.array([p.max() for p in points])

        def reasons() -> tuple[Any, Any]:
            idx = card._transform(X=frame, metric="indices", metric_special="empirical",
                                  metric_missing="empirical")
            pts = np.empty((len(frame), len(selected)))
            for k, v in enumerate(selected):
                pts[:, k] = points[k][idx[v].to_numpy()]
            return pts.sum(axis=1) + card.intercept_, top_reasons(best - pts)

        (total, _) = reasons()
        check = card.score(frame.iloc[:2000])
        if not np.allclose(total[:2000], check, atol=1e-6):
            raise SystemExit("optbinning: per-characteristic points do not add up to its score")
        out["reasons_rows_s"], _ = best_rate(reasons, n, 1)
        out["notes"] = "reasons: bin indices → points per characteristic, as Scorecard.score"
    return risk


def worker_toad(folder: Path, meta: dict[str, Any], out: dict[str, Any]) -> Any:
    import numpy as np
    import toad

    features = meta["features"]
    train, test = _load_pandas(folder, "train"), _load_pandas(folder, "test")
    x, y = train[features], train["bad"]

    def fit() -> tuple[Any, float]:
        t0 = time.perf_counter()
        combiner = toad.transform.Combiner()
        combiner.fit(x, y, method="dt", min_samples=0.05)
        binned = combiner.transform(x)
        t_bin = time.perf_counter() - t0
        transer = toad.transform.WOETransformer()
        woe = transer.fit_transform(binned, y)
        card = toad.ScoreCard(combiner=combiner, transer=transer, pdo=PDO, rate=2,
                              base_odds=1 / BASE_ODDS, base_score=BASE_SCORE)
        card.fit(woe, y)
        return card, t_bin

    with PeakRSS() as mem:
        (card, out["binning_s"]), out["fit_s"] = timed(fit)
    out["peak_mib"] = mem.mib
    out["n_features"] = len(features)
    risk = -np.asarray(card.predict(test[features]), dtype=float)
    if meta.get("score_rows"):
        frame = _load_pandas(folder, "score")[features]
        n = len(frame)
        out["score_rows_s"], _ = best_rate(lambda: card.predict(frame), n, 1)
        rules = card.export()
        best = {k: max(float(v) for v in r.values()) for k, r in rules.items()}

        def reasons() -> tuple[Any, Any]:
            total, sub = card.predict(frame, return_sub=True)
            cols = list(sub.columns)
            pts = sub.to_numpy(dtype=float)
            return total, top_reasons(np.array([best[c] for c in cols]) - pts)

        out["reasons_rows_s"], _ = best_rate(reasons, n, 1)
        out["notes"] = "reasons: ScoreCard.predict(return_sub=True)"
    return risk


def worker_scorecardpy(folder: Path, meta: dict[str, Any], out: dict[str, Any],
                       max_rows: int) -> Any:
    import numpy as np
    import pandas as pd
    import scorecardpy as sc
    from sklearn.linear_model import LogisticRegression
    from sklearn.model_selection import train_test_split

    features = meta["features"]

    def load(name: str) -> Any:
        # scorecardpy bins NaN as "missing" but not None (how pandas reads a null string)
        frame = _load_pandas(folder, name)
        for c in meta["categorical"]:
            frame[c] = frame[c].astype(object).where(frame[c].notna(), np.nan)
        return frame

    train, test = load("train"), load("test")
    notes = []
    if len(train) > max_rows:
        train, _ = train_test_split(train, train_size=max_rows, stratify=train["bad"],
                                    random_state=42)
        notes.append(f"fitted on a {max_rows:,}-row stratified subsample of the training set")
    out["fit_rows"] = len(train)
    data = train[[*features, "bad"]]
    special = {k: [SPECIAL] for k in features if k not in meta["categorical"]} \
        if meta["special"] else None

    def fit() -> tuple[Any, float]:
        t0 = time.perf_counter()
        bins = sc.woebin(data, y="bad", special_values=special, print_step=0)
        t_bin = time.perf_counter() - t0
        woe = sc.woebin_ply(data, bins, print_step=0)
        xcols = [c for c in woe.columns if c != "bad"]
        lr = LogisticRegression(penalty="l1", C=0.9, solver="liblinear")
        lr.fit(woe[xcols], woe["bad"])
        card = sc.scorecard(bins, lr, xcols, points0=BASE_SCORE, odds0=1 / BASE_ODDS, pdo=PDO)
        return card, t_bin

    with PeakRSS() as mem:
        (card, out["binning_s"]), out["fit_s"] = timed(fit)
    out["peak_mib"] = mem.mib
    out["n_features"] = len(card) - 1
    scored = sc.scorecard_ply(test[features], card, print_step=0)
    risk = -scored["score"].to_numpy(dtype=float)
    if meta.get("score_rows"):
        frame = load("score")[features]
        sub = frame.iloc[: min(len(frame), max_rows)]
        n = len(sub)
        notes.append(f"scoring measured on {n:,} rows")
        out["score_rows_s"], _ = best_rate(lambda: sc.scorecard_ply(sub, card, print_step=0), n, 0)
        best = {k: float(v["points"].max()) for k, v in card.items() if k != "basepoints"}

        def reasons() -> tuple[Any, Any]:
            pts = sc.scorecard_ply(sub, card, only_total_score=False, print_step=0)
            cols = [c for c in pts.columns if c.endswith("_points")]
            mat = pts[cols].to_numpy(dtype=float)
            worst = np.array([best[c[: -len("_points")]] for c in cols])
            return pts["score"], top_reasons(worst - mat)

        out["reasons_rows_s"], _ = best_rate(reasons, n, 0)
    out["notes"] = "; ".join(notes)
    _ = pd
    return risk


def run_worker(args: argparse.Namespace) -> int:
    import numpy as np

    folder = Path(args.workdir)
    meta = json.loads((folder / "meta.json").read_text())
    out: dict[str, Any] = {"impl": args.worker, "python": sys.executable}
    if args.worker in ("fengkong", "numpy"):
        risk = worker_fengkong(folder, meta, out, numpy_only=args.worker == "numpy")
    elif args.worker == "optbinning":
        risk = worker_optbinning(folder, meta, out)
    elif args.worker == "toad":
        risk = worker_toad(folder, meta, out)
    elif args.worker == "scorecardpy":
        risk = worker_scorecardpy(folder, meta, out, args.scorecardpy_rows)
    else:
        msg = f"unknown worker {args.worker}"
        raise SystemExit(msg)
    np.save(folder / f"risk-{args.worker}.npy", np.asarray(risk, dtype=np.float64))
    (folder / f"out-{args.worker}.json").write_text(json.dumps(out, default=float))
    return 0


# ---------------------------------------------------------------------------------------
# orchestration (the project's Python)
# ---------------------------------------------------------------------------------------
def _versions(python: str, names: list[str]) -> dict[str, str]:
    code = ("import json, importlib.metadata as m, sys\nout={}\n"
            "for n in sys.argv[1:]:\n"
            "    try: out[n]=m.version(n)\n"
            "    except m.PackageNotFoundError: out[n]='not installed'\n"
            "print(json.dumps(out))")
    try:
        res = subprocess.run([python, "-c", code, *names], capture_output=True, text=True,
                             check=True, timeout=60)
    except (OSError, subprocess.SubprocessError):
        return dict.fromkeys(names, "not installed")
    return dict(json.loads(res.stdout))


def prepare(args: argparse.Namespace, root: Path, peers_python: str | None) -> dict[str, Path]:
    import numpy as np
    import polars as pl
    from sklearn.model_selection import train_test_split

    from fengkong.workbench._datasets import (
        CATEGORICAL_CHARACTERISTICS,
        CHARACTERISTICS,
        synthetic_credit,
    )

    folders: dict[str, Path] = {}

    def write(name: str, frame: pl.DataFrame, features: list[str], cats: list[str], *,
              special: bool, score: bool) -> None:
        folder = root / name
        folder.mkdir(parents=True, exist_ok=True)
        y = frame["bad"].to_numpy()
        idx_train, idx_test = train_test_split(np.arange(frame.height), test_size=0.3,
                                               stratify=y, random_state=42)
        cols = [*features, "bad"]
        frame[np.sort(idx_train)].select(cols).write_parquet(folder / "train.parquet")
        frame[np.sort(idx_test)].select(cols).write_parquet(folder / "test.parquet")
        if score:
            frame.select(features).write_parquet(folder / "score.parquet")
        np.save(folder / "y_test.npy", y[np.sort(idx_test)])
        meta = {"features": features, "categorical": cats, "special": special,
                "score_rows": frame.height if score else 0, "rows": frame.height,
                "train_rows": len(idx_train), "test_rows": len(idx_test),
                "bad_rate": float(y.mean())}
        (folder / "meta.json").write_text(json.dumps(meta))
        folders[name] = folder

    if "synthetic" in args.datasets:
        t0 = time.perf_counter()
        frame = synthetic_credit(args.rows, seed=0)
        print(f"synthetic_credit({args.rows:,}, seed=0): {time.perf_counter() - t0:.1f} s",
              file=sys.stderr)
        write("synthetic", frame, list(CHARACTERISTICS), list(CATEGORICAL_CHARACTERISTICS),
              special=True, score=True)
    if "german" in args.datasets:
        if peers_python is None:
            print("German credit skipped: it ships inside scorecardpy, which is not installed "
                  "(run benchmarks/run_workbench_peers.sh)", file=sys.stderr)
        else:
            raw = root / "germancredit.parquet"
            subprocess.run([peers_python, "-c", "import sys, scorecardpy as sc; "
                            "sc.germancredit().to_parquet(sys.argv[1])", str(raw)],
                           check=True, capture_output=True, timeout=300)
            g = pl.read_parquet(raw)
            g = g.with_columns((pl.col("creditability") == "bad").cast(pl.Int8).alias("bad"))
            g = g.drop("creditability")
            feats = [c for c in g.columns if c != "bad"]
            g = g.with_columns([pl.col(c).cast(pl.String) for c in feats
                                if g.schema[c] in (pl.Categorical, pl.Enum)])
            cats = [c for c in feats if g.schema[c] == pl.String]
            g = g.with_columns([pl.col(c).cast(pl.Float64) for c in feats if c not in cats])
            write("german", g, feats, cats, special=False, score=False)
    return folders


def run_all(args: argparse.Namespace) -> int:
    import _harness as h
    import numpy as np

    from fengkong.workbench._metrics import auc

    only = [s.strip() for s in args.only.split(",")] if args.only else list(IMPLEMENTATIONS)
    peers_python: str | None = args.peers_python or (
        str(DEFAULT_PEERS_PYTHON) if DEFAULT_PEERS_PYTHON.exists() else None)
    notes: list[str] = []
    peer_versions: dict[str, str] = {}
    if peers_python is not None:
        peer_versions = _versions(peers_python, ["optbinning", "toad", "scorecardpy", "pandas",
                                                 "scikit-learn", "numpy"])
        if "not installed" in peer_versions.values():
            missing = [k for k, v in peer_versions.items() if v == "not installed"]
            notes.append(f"peer venv {peers_python} lacks {', '.join(missing)}")
    else:
        notes.append("peers not installed (no peer venv; run benchmarks/run_workbench_peers.sh):"
                     " fengkong and the NumPy floor only")
    impls = [i for i in only if i in IMPLEMENTATIONS and (
        i not in PEERS or (peers_python is not None and peer_versions.get(i) != "not installed"))]
    root = Path(args.workdir) if args.workdir else Path(tempfile.mkdtemp(prefix="fk-bench-wb-"))
    root.mkdir(parents=True, exist_ok=True)
    folders = prepare(args, root, peers_python)
    results: dict[str, dict[str, dict[str, Any]]] = {}
    for dataset, folder in folders.items():
        y_test = np.load(folder / "y_test.npy")
        results[dataset] = {}
        for impl in impls:
            if dataset != "synthetic" and impl == "numpy":
                continue
            python = peers_python if impl in PEERS else sys.executable
            assert python is not None
            cmd = [python, str(Path(__file__).resolve()), "--worker", impl, "--workdir",
                   str(folder), "--scorecardpy-rows", str(args.scorecardpy_rows)]
            print(f"[{dataset}] {impl} ...", file=sys.stderr, flush=True)
            t0 = time.perf_counter()
            load0 = os.getloadavg()[0]
            try:
                proc = subprocess.run(cmd, capture_output=True, text=True, timeout=args.timeout,
                                      cwd=str(HERE))
            except subprocess.TimeoutExpired:
                results[dataset][impl] = {"error": f"> {args.timeout:.0f} s (timed out)"}
                print(f"  timed out after {args.timeout:.0f} s", file=sys.stderr)
                continue
            if proc.returncode != 0:
                tail = "\n".join((proc.stderr or proc.stdout).strip().splitlines()[-8:])
                results[dataset][impl] = {"error": tail.splitlines()[-1] if tail else "failed"}
                print(f"  failed:\n{tail}", file=sys.stderr)
                if impl in ("fengkong", "numpy") and "disagrees" in tail:
                    return 1
                continue
            out = json.loads((folder / f"out-{impl}.json").read_text())
            risk = np.load(folder / f"risk-{impl}.npy")
            out["auc"] = float(auc(y_test, risk, higher_is_riskier=True))
            out["wall_s"] = time.perf_counter() - t0
            out["load_1m_before"] = load0
            out["load_1m_after"] = os.getloadavg()[0]
            results[dataset][impl] = out
            print(f"  fit {out.get('fit_s', float('nan')):.1f} s, AUC {out['auc']:.4f}, "
                  f"wall {out['wall_s']:.0f} s", file=sys.stderr)
    env = h.environment(peers=peer_versions, peers_python=peers_python,
                        scikit_learn=h.dist_version("scikit-learn"))
    report(results, folders, notes, env, args)
    if args.json:
        Path(args.json).write_text(json.dumps({"environment": env, "args": vars(args),
                                               "results": results, "notes": notes},
                                              indent=2, default=float))
    if not args.workdir:
        shutil.rmtree(root, ignore_errors=True)
    return 0


def _f(v: Any, fmt: str) -> str:
    if v is None or (isinstance(v, float) and v != v):
        return "—"
    return format(v, fmt)


def report(results: dict[str, dict[str, dict[str, Any]]], folders: dict[str, Path],
           notes: list[str], env: dict[str, Any], args: argparse.Namespace) -> None:
    from rich.console import Console
    from rich.table import Table

    console = Console(width=200)
    md: list[str] = []
    for dataset, rows in results.items():
        meta = json.loads((folders[dataset] / "meta.json").read_text())
        fk = rows.get("fengkong", {})
        title = (f"{dataset}: {meta['rows']:,} rows × {len(meta['features'])} characteristics, "
                 f"bad rate {meta['bad_rate']:.1%}, train {meta['train_rows']:,} / test "
                 f"{meta['test_rows']:,}")
        table = Table(title=title)
        head = ["implementation", "fit s (binning s)", "fit vs fengkong", "peak MiB (RSS Δ)",
                "holdout AUC", "AUC − fengkong", "scoring rows/s", "reasons rows/s",
                "fengkong reasons speed ×", "notes"]
        for col in head:
            table.add_column(col, justify="left" if col in ("implementation", "notes") else "right")
        md.append(f"**{title}**\n")
        md.append("| " + " | ".join(head) + " |")
        md.append("|" + "|".join(["---"] + ["---:"] * (len(head) - 2) + ["---"]) + "|")
        for impl, r in rows.items():
            if "error" in r:
                cells = [impl, r["error"], "", "", "", "", "", "", "", ""]
            elif impl == "numpy":
                reasons_ratio = (fk["reasons_rows_s"] / r["reasons_rows_s"]) if fk.get(
                    "reasons_rows_s") and r.get("reasons_rows_s") else None
                cells = [impl, "(fengkong's card)", "—", "—", "—", "—",
                         _f(r.get("score_rows_s"), ",.0f"), _f(r.get("reasons_rows_s"), ",.0f"),
                         f"{reasons_ratio:.2f}×" if reasons_ratio else "—", r.get("notes", "")]
            else:
                fit_ratio = (r["fit_s"] / fk["fit_s"]) if fk.get("fit_s") and impl != "fengkong" \
                    and r.get("fit_s") else None
                reasons_ratio = (fk["reasons_rows_s"] / r["reasons_rows_s"]) if fk.get(
                    "reasons_rows_s") and r.get("reasons_rows_s") and impl != "fengkong" else None
                cells = [
                    impl,
                    f"{_f(r.get('fit_s'), '.2f')} ({_f(r.get('binning_s'), '.2f')})",
                    f"{fit_ratio:.1f}×" if fit_ratio else "—",
                    _f(r.get("peak_mib"), ",.0f"),
                    _f(r.get("auc"), ".4f"),
                    _f(r["auc"] - fk["auc"], "+.4f") if fk.get("auc") and impl != "fengkong"
                    else "—",
                    _f(r.get("score_rows_s"), ",.0f"),
                    _f(r.get("reasons_rows_s"), ",.0f"),
                    f"{reasons_ratio:.2f}×" if reasons_ratio else "—",
                    r.get("notes", ""),
                ]
            table.add_row(*cells)
            md.append("| " + " | ".join(cells) + " |")
        console.print(table)
        md.append("")
        md.extend(goals(dataset, rows))
        md.append("")
    for note in notes:
        console.print(f"[yellow]note:[/yellow] {note}")
    console.print(f"machine: {env['cpu']} × {env['cpus']}, Python {env['python']}, "
                  f"{env['date']}, git {env['git']}, load (1 min) {env['load_1m_avg'] if 'load_1m_avg' in env else env['load_avg_1m']}")
    console.print(f"peers: {env['peers']}")
    print("\n".join(md))


def goals(dataset: str, rows: dict[str, dict[str, Any]]) -> list[str]:
    fk = rows.get("fengkong", {})
    out = []
    if "auc" not in fk:
        return ["fengkong: not measured"]
    peers = {k: v for k, v in rows.items() if k in PEERS and "auc" in v}
    if peers:
        best_name, best = max(peers.items(), key=lambda kv: kv[1]["auc"])
        gap = fk["auc"] - best["auc"]
        out.append(f"- AUC: fengkong {fk['auc']:.4f} vs best scorecard peer {best_name} "
                   f"{best['auc']:.4f} ({gap:+.4f}; goal ≥ −{GOAL_AUC_GAP}): "
                   f"{'met' if gap >= -GOAL_AUC_GAP else 'missed'}")
    if dataset == "synthetic":
        out.append(f"- fit: {fk['fit_s']:.2f} s (goal ≤ {GOAL_FIT_S} s): "
                   f"{'met' if fk['fit_s'] <= GOAL_FIT_S else 'missed'}")
        ob = rows.get("optbinning", {})
        if ob.get("fit_s"):
            ratio = ob["fit_s"] / fk["fit_s"]
            out.append(f"- fit vs optbinning: {ratio:.1f}× faster (goal ≥ {GOAL_FIT_RATIO}×): "
                       f"{'met' if ratio >= GOAL_FIT_RATIO else 'missed'}")
        if fk.get("reasons_rows_s"):
            rate = fk["reasons_rows_s"]
            out.append(f"- scoring with reasons through evaluate_batch: {rate:,.0f} rows/s "
                       f"(goal ≥ {GOAL_REASONS_ROWS_S:,.0f}): "
                       f"{'met' if rate >= GOAL_REASONS_ROWS_S else 'missed'}")
    return out


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0] if __doc__ else None)
    ap.add_argument("--rows", type=int, default=1_000_000, help="synthetic rows (default 1 M)")
    ap.add_argument("--quick", action="store_true",
                    help="smoke run: 100,000 rows, scorecardpy on 5,000 rows")
    ap.add_argument("--only", default="", help=f"comma list of {','.join(IMPLEMENTATIONS)}")
    ap.add_argument("--datasets", default="synthetic,german")
    ap.add_argument("--peers-python", default=None,
                    help=f"Python with the peers installed (default {DEFAULT_PEERS_PYTHON} "
                         "when it exists)")
    ap.add_argument("--scorecardpy-rows", type=int, default=20_000)
    ap.add_argument("--timeout", type=float, default=1800.0, help="per implementation, s")
    ap.add_argument("--workdir", default=None, help="keep the Parquet splits here")
    ap.add_argument("--json", default=None, help="write the raw results here")
    ap.add_argument("--worker", default=None, help=argparse.SUPPRESS)
    args = ap.parse_args(argv)
    if args.worker:
        return run_worker(args)
    if args.quick:
        if args.rows == 1_000_000:
            args.rows = 100_000
        args.scorecardpy_rows = min(args.scorecardpy_rows, 5_000)
    return run_all(args)


if __name__ == "__main__":
    sys.exit(main())
