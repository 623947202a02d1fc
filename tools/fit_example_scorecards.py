"""Fit the example scorecards of the consumer-loan demo on synthetic data.

Generates 200,000 applications with :func:`fengkong.demo.generate_applications`
(seed 42) and fits two points-based logistic-regression scorecards on
weight-of-evidence (WoE) encoded, binned characteristics:

``general``
    applicants with a credit-bureau file (``bureau.score`` not null);
``thin_file``
    applicants without one, scored on application, telecom, e-commerce,
    digital-footprint, device and multi-lending data.

Binning: quantile pre-binning (20 bins), then adjacent bins are pooled until
the bad rate (hence WoE) is monotone, bins smaller than 5 % are merged and at
most 6 bins are kept.  Categorical characteristics group levels of similar
bad rate.  Nulls get their own *missing* bin with its own WoE (or the worst
bin's WoE when too few nulls were seen to estimate one).

Scaling: PDO 40, 600 points at good:bad odds of 20:1, i.e.
``points = -(coef * woe + intercept / n) * factor + offset / n`` with
``factor = 40 / ln 2`` and ``offset = 600 - factor * ln 20``, rounded to
integers.

Each scorecard is written as ``<out>/<name>.yaml`` in the format the strategy
engine loads, and its AUC and KS on a 30 % hold-out are printed and recorded in
the file's header comment.

Usage::

    .venv/bin/python tools/fit_example_scorecards.py \\
        --out src/fengkong/examples/consumer_loan/scorecards
"""

from __future__ import annotations

import argparse
import itertools
import math
import re
import sys
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import polars as pl
from sklearn.linear_model import LogisticRegression
from sklearn.metrics import roc_auc_score
from sklearn.model_selection import train_test_split

try:
    from fengkong.demo import generate_applications
except ImportError:  # run from a checkout without an installed package
    sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "src"))
    from fengkong.demo import generate_applications

ROWS = 200_000
SEED = 42
HOLDOUT = 0.30
PDO = 40
BASE_SCORE = 600
BASE_ODDS = 20
FACTOR = PDO / math.log(2)
OFFSET = BASE_SCORE - FACTOR * math.log(BASE_ODDS)

PRE_BINS = 20
MAX_BINS = 6
MIN_BINS = 3
MIN_SHARE = 0.025
MIN_MISSING = 100  # fewer nulls than this in training: missing gets the worst bin's WoE
MIN_CHARACTERISTICS = 12


@dataclass(frozen=True)
class Spec:
    """A candidate characteristic.

    Attributes
    ----------
    name : str
        Identifier in the scorecard.
    expr : str
        Expression over input fields, as the strategy engine reads it.
    polars : pl.Expr
        The same expression in Polars, used for fitting.
    reason : str
        Adverse-action reason code.
    kind : str
        ``"int"``, ``"float"`` or ``"cat"``.
    """

    name: str
    expr: str
    polars: pl.Expr
    reason: str
    kind: str


def _c(name: str) -> pl.Expr:
    return pl.col(name)


def _ratio(num: pl.Expr, den_field: str) -> pl.Expr:
    return num / pl.max_horizontal(_c(den_field), pl.lit(1.0))


_DTI = _ratio(pl.coalesce(_c("bureau.monthly_debt"), pl.lit(0.0)), "applicant.income_monthly")

GENERAL = [
    Spec("bureau_score", "bureau.score", _c("bureau.score"), "LOW_BUREAU_SCORE", "int"),
    Spec(
        "delinquencies_12m",
        "bureau.delinquencies_12m",
        _c("bureau.delinquencies_12m"),
        "RECENT_DELINQUENCY",
        "int",
    ),
    Spec(
        "max_dpd_24m",
        "bureau.max_dpd_24m",
        _c("bureau.max_dpd_24m"),
        "PAST_SERIOUS_DELINQUENCY",
        "int",
    ),
    Spec(
        "credit_utilisation",
        "bureau.credit_utilisation",
        _c("bureau.credit_utilisation"),
        "HIGH_UTILISATION",
        "float",
    ),
    Spec(
        "inquiries_6m",
        "bureau.inquiries_6m",
        _c("bureau.inquiries_6m"),
        "TOO_MANY_INQUIRIES",
        "int",
    ),
    Spec(
        "credit_history_months",
        "bureau.months_since_first_credit",
        _c("bureau.months_since_first_credit"),
        "SHORT_CREDIT_HISTORY",
        "int",
    ),
    Spec("open_loans", "bureau.open_loans", _c("bureau.open_loans"), "TOO_MANY_OPEN_LOANS", "int"),
    Spec(
        "dti",
        "coalesce(bureau.monthly_debt, 0) / max(applicant.income_monthly, 1)",
        _DTI,
        "HIGH_DEBT_TO_INCOME",
        "float",
    ),
    Spec("age", "applicant.age", _c("applicant.age"), "AGE", "int"),
    Spec(
        "employment_months",
        "applicant.employment_months",
        _c("applicant.employment_months"),
        "SHORT_EMPLOYMENT",
        "int",
    ),
    Spec(
        "residence_months",
        "applicant.residence_months",
        _c("applicant.residence_months"),
        "SHORT_RESIDENCE",
        "int",
    ),
    Spec(
        "income_monthly",
        "applicant.income_monthly",
        _c("applicant.income_monthly"),
        "LOW_INCOME",
        "float",
    ),
    Spec(
        "platforms_30d",
        "multi_lending.platforms_30d",
        _c("multi_lending.platforms_30d"),
        "MULTI_LENDING",
        "int",
    ),
    Spec(
        "telecom_tenure",
        "telecom.tenure_months",
        _c("telecom.tenure_months"),
        "SHORT_PHONE_TENURE",
        "int",
    ),
    Spec(
        "occupation", "applicant.occupation", _c("applicant.occupation"), "OCCUPATION_RISK", "cat"
    ),
    Spec(
        "ecommerce_spend",
        "ecommerce.spend_12m",
        _c("ecommerce.spend_12m"),
        "LOW_ONLINE_SPEND",
        "float",
    ),
    Spec(
        "loan_apps", "device.loan_apps_count", _c("device.loan_apps_count"), "MANY_LOAN_APPS", "int"
    ),
]

THIN_FILE = [
    Spec(
        "telecom_tenure",
        "telecom.tenure_months",
        _c("telecom.tenure_months"),
        "SHORT_PHONE_TENURE",
        "int",
    ),
    Spec(
        "telecom_bill",
        "telecom.monthly_bill",
        _c("telecom.monthly_bill"),
        "LOW_PHONE_BILL",
        "float",
    ),
    Spec(
        "ecommerce_spend",
        "ecommerce.spend_12m",
        _c("ecommerce.spend_12m"),
        "LOW_ONLINE_SPEND",
        "float",
    ),
    Spec(
        "ecommerce_orders",
        "ecommerce.orders_12m",
        _c("ecommerce.orders_12m"),
        "FEW_ONLINE_ORDERS",
        "int",
    ),
    Spec("game_level", "digital.game_level", _c("digital.game_level"), "DIGITAL_BEHAVIOUR", "int"),
    Spec("followers", "digital.followers", _c("digital.followers"), "DIGITAL_FOOTPRINT", "int"),
    Spec("age", "applicant.age", _c("applicant.age"), "AGE", "int"),
    Spec(
        "income_monthly",
        "applicant.income_monthly",
        _c("applicant.income_monthly"),
        "LOW_INCOME",
        "float",
    ),
    Spec(
        "employment_months",
        "applicant.employment_months",
        _c("applicant.employment_months"),
        "SHORT_EMPLOYMENT",
        "int",
    ),
    Spec(
        "residence_months",
        "applicant.residence_months",
        _c("applicant.residence_months"),
        "SHORT_RESIDENCE",
        "int",
    ),
    Spec(
        "occupation", "applicant.occupation", _c("applicant.occupation"), "OCCUPATION_RISK", "cat"
    ),
    Spec("education", "applicant.education", _c("applicant.education"), "EDUCATION", "cat"),
    Spec(
        "platforms_30d",
        "multi_lending.platforms_30d",
        _c("multi_lending.platforms_30d"),
        "MULTI_LENDING",
        "int",
    ),
    Spec(
        "loan_apps", "device.loan_apps_count", _c("device.loan_apps_count"), "MANY_LOAN_APPS", "int"
    ),
    Spec(
        "face_match",
        "applicant.face_match_score",
        _c("applicant.face_match_score"),
        "LOW_FACE_MATCH",
        "float",
    ),
    Spec("channel", "channel", _c("channel"), "CHANNEL_RISK", "cat"),
]


# --------------------------------------------------------------------------
# Binning
# --------------------------------------------------------------------------


@dataclass
class Binning:
    """A fitted binning of one characteristic.

    For numeric characteristics ``edges`` are the cut points: bin 0 is
    ``x < edges[0]``, bin k is ``edges[k-1] <= x < edges[k]`` and the last bin
    is ``x >= edges[-1]``.  For categorical ones ``groups`` lists the levels of
    each bin.  ``woe`` holds one WoE per bin (``ln(%good / %bad)``) and
    ``missing_woe`` the WoE of nulls.
    """

    spec: Spec
    edges: list[float] = field(default_factory=list)
    groups: list[list[str]] = field(default_factory=list)
    woe: list[float] = field(default_factory=list)
    counts: list[int] = field(default_factory=list)
    bad_rates: list[float] = field(default_factory=list)
    missing_woe: float = 0.0
    missing_count: int = 0
    missing_estimated: bool = False
    iv: float = 0.0

    @property
    def n_bins(self) -> int:
        return len(self.woe)

    def bin_index(self, values: pl.Series) -> np.ndarray:
        """Bin of each value; ``-1`` for null."""
        null = values.is_null().to_numpy()
        if self.spec.kind == "cat":
            lookup = {level: k for k, group in enumerate(self.groups) for level in group}
            idx = values.replace_strict(lookup, default=-1, return_dtype=pl.Int64).to_numpy()
        else:
            x = values.cast(pl.Float64).fill_null(0.0).to_numpy()
            idx = np.searchsorted(np.asarray(self.edges), x, side="right")
        return np.where(null, -1, idx)

    def encode(self, values: pl.Series) -> np.ndarray:
        """WoE of each value (nulls and unseen levels get ``missing_woe``)."""
        idx = self.bin_index(values)
        table = np.append(np.asarray(self.woe), self.missing_woe)
        return table[np.where(idx < 0, len(self.woe), idx)]


def _nice(value: float, *, integer: bool) -> float:
    if integer:
        return float(math.floor(value) + 1)  # x <= floor(q)  <=>  x < floor(q) + 1
    if value == 0:
        return 0.0
    digits = 2 - math.floor(math.log10(abs(value)))
    return float(round(value, digits))


def _woe(goods: np.ndarray, bads: np.ndarray, total_good: float, total_bad: float) -> np.ndarray:
    return np.log(((goods + 0.5) / total_good) / ((bads + 0.5) / total_bad))


def _pav(goods: list[float], bads: list[float], *, increasing: bool) -> list[list[int]]:
    """Pool adjacent bins until the bad rate is monotone; returns index blocks."""
    blocks: list[list[int]] = []
    g: list[float] = []
    b: list[float] = []
    for i in range(len(goods)):
        blocks.append([i])
        g.append(goods[i])
        b.append(bads[i])
        while len(blocks) > 1:
            r_prev = b[-2] / (g[-2] + b[-2])
            r_last = b[-1] / (g[-1] + b[-1])
            violates = r_last < r_prev if increasing else r_last > r_prev
            if not violates:
                break
            last_block, last_g, last_b = blocks.pop(), g.pop(), b.pop()
            blocks[-1] = blocks[-1] + last_block
            g[-1] += last_g
            b[-1] += last_b
    return blocks


def _merge_small_and_many(
    goods: np.ndarray, bads: np.ndarray, blocks: list[list[int]], total: float
) -> list[list[int]]:
    """Merge blocks below MIN_SHARE into their closest neighbour, then cap at MAX_BINS."""

    def stats(block: list[int]) -> tuple[float, float]:
        return float(goods[block].sum()), float(bads[block].sum())

    def rate(block: list[int]) -> float:
        g, b = stats(block)
        return b / (g + b)

    def merge(i: int, j: int) -> None:
        lo, hi = min(i, j), max(i, j)
        blocks[lo] = blocks[lo] + blocks[hi]
        del blocks[hi]

    while len(blocks) > 1:
        sizes = [sum(stats(block)) / total for block in blocks]
        k = int(np.argmin(sizes))
        if sizes[k] >= MIN_SHARE:
            break
        if k == 0:
            merge(0, 1)
        elif k == len(blocks) - 1:
            merge(k, k - 1)
        else:
            left = abs(rate(blocks[k]) - rate(blocks[k - 1]))
            right = abs(rate(blocks[k]) - rate(blocks[k + 1]))
            merge(k, k - 1 if left <= right else k + 1)
    while len(blocks) > MAX_BINS:
        diffs = [abs(rate(blocks[i]) - rate(blocks[i + 1])) for i in range(len(blocks) - 1)]
        i = int(np.argmin(diffs))
        merge(i, i + 1)
    return blocks


def fit_binning(spec: Spec, values: pl.Series, y: np.ndarray) -> Binning:
    """Fit a monotone-WoE binning of one characteristic."""
    null = values.is_null().to_numpy()
    total_good = float((y == 0).sum())
    total_bad = float((y == 1).sum())
    yv = y[~null]
    result = Binning(spec)

    if spec.kind == "cat":
        levels = values.filter(~values.is_null()).cast(pl.String).to_numpy()
        uniq = np.unique(levels)
        goods = np.array([float(((levels == u) & (yv == 0)).sum()) for u in uniq])
        bads = np.array([float(((levels == u) & (yv == 1)).sum()) for u in uniq])
        order = np.argsort(bads / (goods + bads))
        uniq, goods, bads = uniq[order], goods[order], bads[order]
        blocks = _merge_small_and_many(goods, bads, [[i] for i in range(len(uniq))], float(len(y)))
        result.groups = [sorted(str(uniq[i]) for i in block) for block in blocks]
    else:
        x = values.filter(~values.is_null()).cast(pl.Float64).to_numpy()
        integer = spec.kind == "int"
        qs = np.quantile(x, np.linspace(0, 1, PRE_BINS + 1)[1:-1])
        edges = np.unique([_nice(q, integer=integer) for q in qs])
        edges = edges[(edges > x.min()) & (edges <= x.max())]
        idx = np.searchsorted(edges, x, side="right")
        n_pre = len(edges) + 1
        goods = np.bincount(idx, weights=(yv == 0), minlength=n_pre).astype(float)
        bads = np.bincount(idx, weights=(yv == 1), minlength=n_pre).astype(float)
        best: tuple[float, list[list[int]]] | None = None
        for increasing in (True, False):
            blocks = _pav(list(goods), list(bads), increasing=increasing)
            blocks = _merge_small_and_many(goods, bads, blocks, float(len(y)))
            g = np.array([goods[b].sum() for b in blocks])
            bb = np.array([bads[b].sum() for b in blocks])
            w = _woe(g, bb, total_good, total_bad)
            iv = float(((g / total_good - bb / total_bad) * w).sum())
            if best is None or iv > best[0]:
                best = (iv, blocks)
        assert best is not None
        blocks = best[1]
        result.edges = [float(edges[block[0] - 1]) for block in blocks[1:]]

    # pool the pre-bins (or levels) of each final bin
    goods = np.array([goods[block].sum() for block in blocks])
    bads = np.array([bads[block].sum() for block in blocks])
    woe = _woe(goods, bads, total_good, total_bad)
    result.woe = [float(v) for v in woe]
    result.counts = [int(v) for v in goods + bads]
    result.bad_rates = [float(v) for v in bads / (goods + bads)]
    result.iv = float(((goods / total_good - bads / total_bad) * woe).sum())
    result.missing_count = int(null.sum())
    if result.missing_count >= MIN_MISSING:
        mg = float((y[null] == 0).sum())
        mb = float((y[null] == 1).sum())
        result.missing_woe = float(_woe(np.array([mg]), np.array([mb]), total_good, total_bad)[0])
        result.missing_estimated = True
        result.iv += float((mg / total_good - mb / total_bad) * result.missing_woe)
    else:
        result.missing_woe = float(min(result.woe))
    return result


# --------------------------------------------------------------------------
# Scorecard
# --------------------------------------------------------------------------


@dataclass
class Scorecard:
    """A fitted, scaled scorecard."""

    name: str
    binnings: list[Binning]
    coefs: list[float]
    intercept: float
    points: list[list[int]]
    missing_points: list[int]
    auc: float = 0.0
    ks: float = 0.0
    n_train: int = 0
    n_test: int = 0
    bad_rate: float = 0.0
    bands: list[tuple[int, int, int, float, float]] = field(default_factory=list)

    def score(self, frame: pl.DataFrame) -> np.ndarray:
        """Total points of each row (what the strategy engine computes)."""
        total = np.zeros(frame.height, dtype=np.int64)
        for binning, pts, miss in zip(self.binnings, self.points, self.missing_points, strict=True):
            idx = binning.bin_index(frame[binning.spec.name])
            table = np.append(np.asarray(pts, dtype=np.int64), miss)
            total += table[np.where(idx < 0, len(pts), idx)]
        return total


def _ks(y: np.ndarray, score: np.ndarray) -> float:
    order = np.argsort(score, kind="stable")
    ys = y[order]
    cum_bad = np.cumsum(ys) / max(ys.sum(), 1)
    cum_good = np.cumsum(1 - ys) / max((1 - ys).sum(), 1)
    # evaluate only at the last row of each tied score
    last = np.append(np.diff(score[order]) != 0, True)
    return float(np.max(np.abs(cum_bad - cum_good)[last]))


def _bands(
    y: np.ndarray, score: np.ndarray, k: int = 5
) -> list[tuple[int, int, int, float, float]]:
    """Hold-out score quintiles: (low, high, rows, observed bad rate, bad rate implied by the scaling)."""
    out = []
    for part in np.array_split(np.argsort(score, kind="stable"), k):
        s, t = score[part], y[part]
        odds = BASE_ODDS * 2.0 ** ((s - BASE_SCORE) / PDO)
        out.append(
            (
                int(s.min()),
                int(s.max()),
                len(part),
                float(t.mean()),
                float(np.mean(1.0 / (1.0 + odds))),
            )
        )
    return out


def fit_scorecard(name: str, specs: list[Spec], frame: pl.DataFrame) -> Scorecard:
    """Bin, WoE-encode, fit and scale one scorecard; evaluate on a hold-out."""
    data = frame.select([s.polars.alias(s.name) for s in specs] + [pl.col("bad")])
    y = data["bad"].to_numpy()
    train_idx, test_idx = train_test_split(
        np.arange(data.height), test_size=HOLDOUT, random_state=SEED, stratify=y
    )
    train, test = data[np.sort(train_idx)], data[np.sort(test_idx)]
    y_train, y_test = train["bad"].to_numpy(), test["bad"].to_numpy()

    binnings = [fit_binning(s, train[s.name], y_train) for s in specs]
    kept = [b for b in binnings if b.n_bins >= MIN_BINS]
    for b in binnings:
        if b.n_bins < MIN_BINS:
            print(f"  [{name}] drop {b.spec.name}: only {b.n_bins} bin(s) after monotone merging")

    while True:
        x = np.column_stack([b.encode(train[b.spec.name]) for b in kept])
        model = LogisticRegression(C=10.0, max_iter=2000).fit(x, y_train)
        coefs = model.coef_[0]
        # WoE = ln(good/bad): every coefficient must be negative (more WoE, less risk).
        worst = int(np.argmax(coefs))
        if coefs[worst] < -0.03 or len(kept) <= MIN_CHARACTERISTICS:
            break
        print(f"  [{name}] drop {kept[worst].spec.name}: coefficient {coefs[worst]:+.3f}")
        del kept[worst]
    if np.any(coefs >= 0):
        raise RuntimeError(
            f"{name}: non-negative coefficient left with {len(kept)} characteristics"
        )

    n = len(kept)
    b0 = float(model.intercept_[0])
    points, missing = [], []
    for binning, coef in zip(kept, coefs, strict=True):
        points.append([round(-(coef * w + b0 / n) * FACTOR + OFFSET / n) for w in binning.woe])
        missing.append(round(-(coef * binning.missing_woe + b0 / n) * FACTOR + OFFSET / n))
    card = Scorecard(name, kept, [float(c) for c in coefs], b0, points, missing)
    score_test = card.score(test)
    card.auc = float(roc_auc_score(y_test, -score_test))
    card.bands = _bands(y_test, score_test)
    card.ks = _ks(y_test, score_test)
    card.n_train, card.n_test = train.height, test.height
    card.bad_rate = float(y.mean())
    return card


# --------------------------------------------------------------------------
# Output
# --------------------------------------------------------------------------


def _num(value: float) -> str:
    if float(value).is_integer():
        return str(int(value))
    return np.format_float_positional(value, trim="-")


def _when_cells(binning: Binning) -> list[str]:
    if binning.spec.kind == "cat":
        return [",".join(f"'{level}'" for level in group) for group in binning.groups]
    e = binning.edges
    cells = [f"< {_num(e[0])}"]
    cells += [f"[{_num(lo)}..{_num(hi)})" for lo, hi in itertools.pairwise(e)]
    cells.append(f">= {_num(e[-1])}")
    return cells


def _yaml_scalar(text: str) -> str:
    return text if re.fullmatch(r"[A-Za-z_][A-Za-z0-9_.]*", text) else f'"{text}"'


def render_yaml(card: Scorecard) -> str:
    """Render a scorecard in the strategy engine's YAML format."""
    lines = [
        f"# fitted by tools/fit_example_scorecards.py on {ROWS:,} synthetic applications (seed {SEED}); "
        f"AUC {card.auc:.3f}, KS {card.ks:.3f} on a {HOLDOUT:.0%} hold-out",
        f"# population: {card.n_train + card.n_test:,} applications ({card.bad_rate:.1%} bad); "
        f"WoE logistic regression, intercept spread evenly over the characteristics",
        f"scorecard: {card.name}",
        "version: 1",
        f"pdo: {PDO}",
        f"base_score: {BASE_SCORE}",
        f"base_odds: {BASE_ODDS}",
        "base_points: 0",
        "characteristics:",
    ]
    for binning, pts, miss in zip(card.binnings, card.points, card.missing_points, strict=True):
        spec = binning.spec
        note = "" if binning.missing_estimated else "  # too few nulls seen: worst bin's points"
        lines += [
            f"  - name: {spec.name}",
            f"    expr: {_yaml_scalar(spec.expr)}",
            f"    reason: {spec.reason}",
            f"    missing: {miss}{note}",
            "    bins:",
        ]
        lines += [
            f'      - {{when: "{cell}", points: {p}}}'
            for cell, p in zip(_when_cells(binning), pts, strict=True)
        ]
    return "\n".join(lines) + "\n"


def print_table(card: Scorecard) -> None:
    """Print a short summary of a scorecard."""
    print(
        f"\nscorecard {card.name}: AUC {card.auc:.3f}  KS {card.ks:.3f}  (train {card.n_train:,}, hold-out {card.n_test:,}, bad rate {card.bad_rate:.2%})"
    )
    print(
        f"  {'characteristic':<24}{'IV':>7}{'coef':>8}{'bins':>6}  {'points (low..high bin)':<28}{'missing':>8}"
    )
    for binning, coef, pts, miss in zip(
        card.binnings, card.coefs, card.points, card.missing_points, strict=True
    ):
        span = " ".join(str(p) for p in pts)
        print(
            f"  {binning.spec.name:<24}{binning.iv:>7.3f}{coef:>8.3f}{binning.n_bins:>6}  {span:<28}{miss:>8}"
        )
    print(f"  {'hold-out score band':<24}{'rows':>8}{'bad rate':>10}{'implied':>9}")
    for low, high, rows, observed, implied in card.bands:
        print(f"  {f'{low}..{high}':<24}{rows:>8,}{observed:>10.2%}{implied:>9.2%}")


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", type=Path, required=True, help="directory for <scorecard>.yaml")
    args = parser.parse_args(argv)

    frame = generate_applications(ROWS, seed=SEED)
    # Policy exclusions: minors and black-list hits are declined before scoring.
    eligible = frame.filter((pl.col("applicant.age") >= 18) & ~pl.col("blacklist.hit"))
    populations = {
        "general": (GENERAL, eligible.filter(pl.col("bureau.score").is_not_null())),
        "thin_file": (THIN_FILE, eligible.filter(pl.col("bureau.score").is_null())),
    }
    args.out.mkdir(parents=True, exist_ok=True)
    for name, (specs, population) in populations.items():
        card = fit_scorecard(name, specs, population)
        if len(card.binnings) < MIN_CHARACTERISTICS:
            raise RuntimeError(f"{name}: only {len(card.binnings)} characteristics survived")
        path = args.out / f"{name}.yaml"
        path.write_text(render_yaml(card), encoding="utf-8")
        print_table(card)
        print(f"  wrote {path}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
