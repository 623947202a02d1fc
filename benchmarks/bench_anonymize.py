"""Anonymisation benchmark: fengkong against anjana on the same table, hierarchies and limits.

100,000 applications from ``generate_applications(100_000, seed=0)`` (not timed), the
example config ``examples/anonymize/consumer_loan.yaml`` (5 quasi-identifiers: age,
monthly income, occupation, education, province; target ``bad``; k = 5, distinct
ℓ = 2, at most 5 % suppressed). Measured:

* **k-check**: k and ℓ of the table as it is. fengkong: ``fengkong.anonymize.check``;
  peer: pycanon's ``k_anonymity`` and ``l_diversity`` (the checker anjana uses).
* **full anonymisation**: fengkong: ``fengkong.anonymize.anonymize`` (the optimal
  full-domain generalisation, searched over the whole lattice); peer: anjana's
  ``l_diversity`` (k-anonymity then ℓ-diversity, greedy: it generalises the
  quasi-identifier with the most distinct values until the requirement holds).

Both tools get the same hierarchies: anjana's hierarchy tables are built from
fengkong's encoding of the config (one row per distinct raw value, one column per
level, the same labels), so their outputs can be compared level by level. anjana
receives the columns fengkong exports plus the direct identifiers (which it replaces
by ``*``), as a pandas frame (conversion not timed).

Correctness before speed: both outputs are checked with fengkong's ``check`` and with
pycanon (k, ℓ), their suppression against the cap, and the information loss of each
(fengkong's metric: average normalised certainty penalty, suppressed cells count 1)
is computed on the rows each tool kept.

anjana and pycanon pin pandas and are peers, never dependencies: run this through
``benchmarks/run_anon_peers.sh``, which makes a throw-away venv with them. Without
them, only fengkong is measured.

Usage:
    benchmarks/run_anon_peers.sh                              # 100,000 rows, side by side
    benchmarks/run_anon_peers.sh --rows 20000 --quick         # smoke run
    .venv/bin/python benchmarks/bench_anonymize.py            # fengkong only
"""

from __future__ import annotations

import argparse
import json
import math
import signal
import statistics
import sys
import time
from collections.abc import Callable
from pathlib import Path
from types import FrameType
from typing import Any

import _harness as h
import numpy as np
import polars as pl

from fengkong.anonymize import AnonymizationSpec, anonymize, check, load_anonymization_spec
from fengkong.anonymize._hierarchy import EncodedColumn, encode_column
from fengkong.demo import generate_applications

CONFIG = h.REPO / "examples" / "anonymize" / "consumer_loan.yaml"
GOAL_CHECK_S = 1.0
GOAL_SEARCH_S = 10.0
ROW_ID = "__row_id"


class PeerTimeoutError(Exception):
    """The peer did not finish in time."""


def timed(fn: Callable[[], Any], repeat: int) -> tuple[dict[str, float], Any]:
    """Wall and CPU seconds of ``fn`` (median over ``repeat`` runs) and its last result."""
    walls, cpus, result = [], [], None
    for _ in range(repeat):
        c0, t0 = time.process_time(), time.perf_counter()
        result = fn()
        walls.append(time.perf_counter() - t0)
        cpus.append(time.process_time() - c0)
    return {"wall_s": statistics.median(walls), "cpu_s": statistics.median(cpus),
            "runs": repeat}, result


def hierarchy_tables(encoded: list[EncodedColumn]) -> dict[str, list[list[Any]]]:
    """Per quasi-identifier, one list per level with a value per distinct raw value."""
    tables: dict[str, list[list[Any]]] = {}
    for column in encoded:
        raw_codes = column.levels[0].codes
        _, first = np.unique(raw_codes, return_index=True)
        levels: list[list[Any]] = [column.values.gather(first).to_list()]
        for level in column.levels[1:]:
            assert level.labels is not None
            levels.append([level.labels[c] for c in level.codes[first].tolist()])
        tables[column.column] = levels
    return tables


def level_of(values: set[Any], table: list[list[Any]]) -> int | None:
    """The lowest hierarchy level whose labels include every value (None if none does)."""
    for i, labels in enumerate(table):
        if values <= set(labels):
            return i
    return None


def information_loss(encoded: list[EncodedColumn], levels: list[int], kept: np.ndarray) -> float:
    """fengkong's metric for a transformation given by its levels and the rows it kept."""
    n, m = kept.size, len(encoded)
    suppressed = int(n - kept.sum())
    total = 0.0
    for column, level in zip(encoded, levels, strict=True):
        lv = column.levels[level]
        total += float(lv.ncp[lv.codes][kept].sum()) + suppressed
    return total / (n * m) if n else 0.0


def pycanon_check(frame: pl.DataFrame, qis: list[str], target: str) -> dict[str, Any]:
    """k and ℓ by pycanon (None when pycanon is not installed)."""
    try:
        from pycanon import anonymity  # type: ignore[import-not-found]
    except ImportError:
        return {"k": None, "l": None}
    data = frame.select(*qis, target).to_pandas()
    if not len(data):
        return {"k": None, "l": None}
    return {"k": int(anonymity.k_anonymity(data, qis)),
            "l": int(anonymity.l_diversity(data, qis, [target]))}


def run_fengkong(frame: pl.DataFrame, spec: AnonymizationSpec, quick: bool) -> dict[str, Any]:  # noqa: FBT001
    qis = list(spec.quasi_identifiers)
    assert spec.target is not None
    check_time, checked = timed(lambda: check(frame, qis, spec.k, spec.target, spec.l),
                                3 if quick else 7)
    k_only_time, _ = timed(lambda: check(frame, qis, spec.k), 3 if quick else 7)
    search_time, result = timed(lambda: anonymize(frame, spec), 1 if quick else 3)
    report = result.report
    return {
        "check": check_time, "check_k_only": k_only_time, "search": search_time,
        "input_k": checked.k, "input_l": checked.l, "input_classes": checked.classes,
        "output": result.frame, "report": report.to_dict(),
        "levels": [q.level for q in report.quasi_identifiers],
    }


def run_anjana(frame: pl.DataFrame, spec: AnonymizationSpec, tables: dict[str, list[list[Any]]],
               timeout_s: float, quick: bool) -> dict[str, Any] | None:  # noqa: FBT001
    try:
        import pandas as pd
        from anjana.anonymity import l_diversity  # type: ignore[import-not-found]
        from pycanon import anonymity  # type: ignore[import-not-found]
    except ImportError as exc:
        print(f"(peer not measured: {exc}; run benchmarks/run_anon_peers.sh)", file=sys.stderr)
        return None
    qis = list(spec.quasi_identifiers)
    assert spec.target is not None
    identifiers = [c for c in spec.identifiers if c in frame.columns]
    columns = [c for c in frame.columns if c in {*qis, spec.target, *spec.keep, *identifiers}]
    data = frame.select(columns).with_row_index(ROW_ID).to_pandas()
    hierarchies = {q: {i: pd.Series(level) for i, level in enumerate(tables[q])} for q in qis}

    k_time, k_value = timed(lambda: anonymity.k_anonymity(data, qis), 1 if quick else 3)
    kl_time, l_value = timed(lambda: anonymity.l_diversity(data, qis, [spec.target]), 1)

    def on_alarm(signum: int, frame_: FrameType | None) -> None:
        raise PeerTimeoutError

    previous = signal.signal(signal.SIGALRM, on_alarm)
    signal.setitimer(signal.ITIMER_REAL, timeout_s)
    try:
        search_time, out = timed(lambda: l_diversity(
            data, identifiers, qis, spec.target, spec.k, spec.l,
            100 * spec.max_suppression, hierarchies), 1)
    except PeerTimeoutError:
        return {"check_k_only": k_time, "check": {"wall_s": k_time["wall_s"] + kl_time["wall_s"],
                                                  "cpu_s": k_time["cpu_s"] + kl_time["cpu_s"]},
                "input_k": int(k_value), "input_l": int(l_value),
                "search": {"wall_s": float("inf"), "cpu_s": float("inf"), "timeout_s": timeout_s},
                "output": None}
    finally:
        signal.setitimer(signal.ITIMER_REAL, 0)
        signal.signal(signal.SIGALRM, previous)
    output = pl.from_pandas(out.reset_index(drop=True)) if len(out) else None
    return {
        "check_k_only": k_time,
        "check": {"wall_s": k_time["wall_s"] + kl_time["wall_s"],
                  "cpu_s": k_time["cpu_s"] + kl_time["cpu_s"], "runs": 1},
        "input_k": int(k_value), "input_l": int(l_value),
        "search": search_time, "output": output,
    }


def verify(name: str, out: pl.DataFrame | None, spec: AnonymizationSpec, n: int,
           encoded: list[EncodedColumn], tables: dict[str, list[list[Any]]],
           kept_ids: np.ndarray | None) -> dict[str, Any]:
    """Check an output with fengkong and pycanon; its levels, suppression and loss."""
    qis = list(spec.quasi_identifiers)
    assert spec.target is not None
    if out is None or out.height == 0:
        return {"tool": name, "ok": False, "why": "no output"}
    mine = check(out.with_columns(pl.col(q).cast(pl.String) for q in qis), qis, spec.k,
                 spec.target, spec.l)
    canon = pycanon_check(out.with_columns(pl.col(q).cast(pl.String) for q in qis), qis,
                          spec.target)
    levels = [level_of(set(out[q].to_list()), tables[q]) for q in qis]
    kept = np.zeros(n, dtype=bool)
    if kept_ids is not None:
        kept[kept_ids] = True
    suppressed = n - out.height
    loss = (information_loss(encoded, levels, kept)  # type: ignore[arg-type]
            if None not in levels and kept_ids is not None else float("nan"))
    ok = (mine.is_anonymous and suppressed <= spec.max_suppression * n + 1e-9
          and (canon["k"] is None or canon["k"] >= spec.k)
          and (canon["l"] is None or canon["l"] >= spec.l))
    return {"tool": name, "ok": ok, "k": mine.k, "l": mine.l, "pycanon_k": canon["k"],
            "pycanon_l": canon["l"], "rows_out": out.height, "suppressed": suppressed,
            "suppression": suppressed / n, "levels": levels, "information_loss": loss}


def pycanon_agreement(trials: int) -> tuple[int, int] | None:
    """On random small tables, does pycanon measure fengkong's output as fengkong reports?

    Tables of 0 to 300 rows, three quasi-identifiers (bands, categories, cut bands),
    a three-valued target, random k, ℓ, cap and diversity kind; every export is
    checked with pycanon's ``k_anonymity`` and ``l_diversity`` (distinct ℓ) or
    ``entropy_l_diversity`` (pycanon floors exp(entropy) to an integer).
    """
    try:
        from pycanon import anonymity  # type: ignore[import-not-found]
    except ImportError:
        return None
    from fengkong.anonymize import AnonymityNotMetError

    rng = np.random.default_rng(7)
    hierarchies = {
        "age": {"type": "bands", "widths": [4, 8]},
        "city": {"type": "categorical", "levels": [
            {"a": "P", "b": "P", "c": "Q", "d": "Q", "e": "R", "f": "R"},
            {"P": "X", "Q": "X", "R": "Y"}]},
        "score": {"type": "bands", "cuts": [[3, 6], [6]]},
    }
    agreed = done = 0
    while done < trials:
        n = int(rng.integers(0, 300))
        frame = pl.DataFrame({"age": rng.integers(18, 70, n), "city": rng.choice(list("abcdef"), n),
                              "score": rng.integers(0, 10, n), "bad": rng.choice(3, n,
                                                                                  p=[.7, .2, .1])})
        entropy = bool(rng.random() < 0.3)
        spec = AnonymizationSpec.model_validate({
            "quasi_identifiers": hierarchies, "target": "bad", "k": int(rng.integers(1, 8)),
            "l": int(rng.integers(1, 4)), "max_suppression": float(rng.choice([0, .05, .2])),
            "diversity": "entropy" if entropy else "distinct"})
        try:
            result = anonymize(frame, spec)
        except AnonymityNotMetError:
            continue
        if result.frame.height == 0:
            continue
        done += 1
        qis = list(hierarchies)
        data = result.frame.with_columns(pl.col(q).cast(pl.String) for q in qis).to_pandas()
        k = int(anonymity.k_anonymity(data, qis))
        ours = float(result.report.l or 0)
        if entropy:
            # pycanon floors exp(entropy); at a whole number either side of it is right.
            ell = int(anonymity.entropy_l_diversity(data, qis, ["bad"]))
            same = ell in (math.floor(ours - 1e-9), math.floor(ours + 1e-9))
        else:
            same = int(anonymity.l_diversity(data, qis, ["bad"])) == ours
        agreed += k == result.report.k and same
    return agreed, trials


def ratio(peer: float, ours: float) -> str:
    if peer == float("inf"):
        return "> " + h.fmt(float("inf"))
    return f"{peer / ours:,.0f}×" if ours > 0 else "–"


def seconds(v: float) -> str:
    if v == float("inf"):
        return "timed out"
    return f"{v:.4f}" if v < 1 else (f"{v:.2f}" if v < 100 else f"{v:,.0f}")


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--rows", type=int, default=100_000)
    ap.add_argument("--quick", action="store_true", help="one run each (smoke run)")
    ap.add_argument("--no-peer", action="store_true", help="measure fengkong only")
    ap.add_argument("--peer-timeout", type=float, default=1800.0,
                    help="give up on anjana after this many seconds")
    ap.add_argument("--json", type=Path, help="also write the raw numbers here")
    h.add_quiet_options(ap)
    args = ap.parse_args()
    quiet = h.quiet_from(args)

    frame = generate_applications(args.rows, seed=0)
    spec = load_anonymization_spec(CONFIG)
    qis = list(spec.quasi_identifiers)
    encoded = [encode_column(frame[c], hierarchy)
               for c, hierarchy in spec.quasi_identifiers.items()]
    tables = hierarchy_tables(encoded)

    ours: dict[str, Any] = {}
    load = {"fengkong": h.run_quiet(lambda: ours.update(run_fengkong(frame, spec, args.quick))
                                    or {}, quiet)}
    peer: dict[str, Any] | None = None
    if not args.no_peer:
        box: dict[str, Any] = {}

        def job() -> dict[str, float]:
            got = run_anjana(frame, spec, tables, args.peer_timeout, args.quick)
            box["peer"] = got
            return {}

        load["anjana"] = h.run_quiet(job, h.Quiet(quiet.threshold, quiet.max_wait, 0))
        peer = box.get("peer")

    # Correctness: both outputs anonymous, checked two ways; levels and information loss.
    kept_ours = np.flatnonzero(_kept_mask(frame, ours["output"], qis, spec))
    checks = [verify("fengkong", ours["output"], spec, frame.height, encoded, tables, kept_ours)]
    if abs(checks[0]["information_loss"] - ours["report"]["information_loss"]) > 1e-9:
        print("fengkong's reported information loss differs from the benchmark's", file=sys.stderr)
        checks[0]["ok"] = False
    if checks[0]["pycanon_k"] is not None and (
            checks[0]["pycanon_k"] != ours["report"]["k"]
            or checks[0]["pycanon_l"] != ours["report"]["l"]):
        print("pycanon's k or ℓ of fengkong's output differs from fengkong's report",
              file=sys.stderr)
        checks[0]["ok"] = False
    agreement = pycanon_agreement(50 if args.quick else 300)
    if peer is not None:
        peer_out = peer["output"]
        kept_peer = (peer_out[ROW_ID].to_numpy() if peer_out is not None
                     and ROW_ID in peer_out.columns else None)
        checks.append(verify("anjana", peer_out, spec, frame.height, encoded, tables, kept_peer))

    env = h.environment(anjana=h.dist_version("anjana"), pycanon=h.dist_version("pycanon"),
                        pandas=h.dist_version("pandas"))
    print(f"# Anonymisation: {args.rows:,} rows × {len(qis)} quasi-identifiers "
          f"(k = {spec.k}, ℓ = {spec.l} distinct on `{spec.target}`, "
          f"≤ {100 * spec.max_suppression:g} % suppressed)\n")
    print(f"Input: k = {ours['input_k']}, ℓ = {ours['input_l']:.0f}, "
          f"{ours['input_classes']:,} equivalence classes; lattice of "
          f"{spec.lattice_size} nodes.\n")
    print("| step | fengkong wall s | fengkong CPU s | anjana / pycanon wall s | "
          "anjana / pycanon CPU s | peer / fengkong (wall) | goal (fengkong) |")
    print("|---|---:|---:|---:|---:|---:|---|")
    rows = [("k-check (k only)", "check_k_only", None),
            ("k-check (k and ℓ)", "check", GOAL_CHECK_S),
            ("full anonymisation", "search", GOAL_SEARCH_S)]
    for label, key, goal in rows:
        mine = ours[key]
        theirs = peer[key] if peer is not None else None
        verdict = (f"≤ {goal:g} s: {'met' if mine['wall_s'] <= goal else 'missed'}"
                   if goal else "–")
        print(f"| {label} | {seconds(mine['wall_s'])} | {seconds(mine['cpu_s'])} | "
              f"{seconds(theirs['wall_s']) if theirs else '–'} | "
              f"{seconds(theirs['cpu_s']) if theirs else '–'} | "
              f"{ratio(theirs['wall_s'], mine['wall_s']) if theirs else '–'} | {verdict} |")
    print("\n| tool | k-anonymous and ℓ-diverse | k (fengkong / pycanon) | "
          "ℓ (fengkong / pycanon) | rows out | suppressed | levels (" + ", ".join(
              q.split(".")[-1] for q in qis) + ") | information loss |")
    print("|---|---|---:|---:|---:|---:|---|---:|")
    for c in checks:
        if "k" not in c:
            print(f"| {c['tool']} | no ({c['why']}) | – | – | – | – | – | – |")
            continue
        print(f"| {c['tool']} | {'yes' if c['ok'] else 'NO'} | {c['k']} / {c['pycanon_k']} | "
              f"{c['l']:.0f} / {c['pycanon_l']} | {c['rows_out']:,} | "
              f"{100 * c['suppression']:.2f} % | {c['levels']} | {c['information_loss']:.4f} |")
    report = ours["report"]
    if agreement is not None:
        print(f"\npycanon agrees with fengkong's report (k and ℓ of the exported table) on "
              f"{agreement[0]} of {agreement[1]} random tables, and on the table above: "
              f"{'yes' if checks[0]['ok'] else 'NO'}.")
    print(f"\nfengkong evaluated {report['nodes_evaluated']} of {report['nodes']} lattice nodes.")
    print("Other processes' share of the machine while measuring: " + ", ".join(
        f"{tool} {h.fmt(r['foreign_cpu_share'], 3)} (waited {r['waited_s']} s)"
        for tool, r in load.items()))
    print("\nEnvironment: " + ", ".join(f"{k} {v}" for k, v in env.items()))
    if args.json:
        data = {"rows": args.rows, "fengkong": {k: v for k, v in ours.items() if k != "output"},
                "peer": ({k: v for k, v in peer.items() if k != "output"} if peer else None),
                "checks": checks, "load": load, "environment": env}
        args.json.write_text(json.dumps(data, indent=2, default=str), encoding="utf-8")
    agreed = agreement is None or agreement[0] == agreement[1]
    return 0 if checks[0].get("ok") and agreed else 1


def _kept_mask(frame: pl.DataFrame, out: pl.DataFrame, qis: list[str],
               spec: AnonymizationSpec) -> np.ndarray:
    """Which input rows fengkong kept (its output keeps the input order)."""
    result = anonymize(frame.with_row_index(ROW_ID),
                       spec.model_copy(update={"keep": (*spec.keep, ROW_ID)}))
    assert result.frame.height == out.height
    mask = np.zeros(frame.height, dtype=bool)
    mask[result.frame[ROW_ID].to_numpy()] = True
    return mask


if __name__ == "__main__":
    sys.exit(main())
