"""Online benchmark: the latency of one decision, in-process, one thread.

Part A times ``evaluate`` on the example consumer-loan strategy (inputs checked, 7
features, 5 segments, an experiment, two 15/16-characteristic scorecards, 5 pricing
tables, 38 rules, reasons). Records come from ``generate_applications`` as dicts: a
pool of distinct records is cycled.

Part B times the peers' decision (20 knock-out rules + a 30-row pricing table, see
``/work/shared/peers/bench_decision_engines.py``) three ways in the same run:
fengkong ``evaluate`` on ``strategies/rules_table.yaml``, the peers' hand-written
plain-Python floor, and zen-engine on its fast path (a ``ZenEngine`` whose loader
returns a cached ``ZenDecisionContent``). zen-engine is not a fengkong dependency:
``benchmarks/run_peers.sh`` runs this script in a throw-away venv that has it; without
it, zen is reported as skipped.

Every implementation is checked against the reference on every pooled record before
anything is timed (Part A: online against batch; Part B: fengkong and zen against the
hand-written floor). Measurement: see ``_harness.py`` (the peers' method).

Usage:
    .venv/bin/python benchmarks/bench_online.py            # report run (n=30,000 per variant)
    .venv/bin/python benchmarks/bench_online.py --quick    # smoke run (< 1 minute)
    benchmarks/run_peers.sh                                # the same, with zen-engine
"""

from __future__ import annotations

import argparse
import datetime as dt
import gc
import json
import sys
import time
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

import _harness as h
import _peer_decision as peer

from fengkong import compile_strategy, evaluate, evaluate_batch
from fengkong.core import FixedClock
from fengkong.demo import example_strategy_path, generate_applications

try:
    import zen  # zen-engine: a peer we compare with, never a fengkong dependency
except ImportError:
    zen = None

RULES_TABLE = Path(__file__).resolve().parent / "strategies" / "rules_table.yaml"
GOAL_MEDIAN_US = 15.0
GOAL_P99_US = 50.0
GOAL_VS_HANDWRITTEN = 2.0
GOAL_ZEN_OVER_FENGKONG = 5.0


class MismatchError(AssertionError):
    """An implementation disagreed with the reference before timing."""


def nest(flat: dict[str, Any]) -> dict[str, Any]:
    """``{"applicant.age": 30}`` -> ``{"applicant": {"age": 30}}`` (the API's shape)."""
    out: dict[str, Any] = {}
    for key, value in flat.items():
        head, _, rest = key.partition(".")
        if rest:
            out.setdefault(head, {})[rest] = value
        else:
            out[key] = value
    return out


# -- Part A: the example strategy ---------------------------------------------------------

def check_example(strategy: Any, frame: Any, records: Sequence[dict[str, Any]],
                  nested: Sequence[dict[str, Any]]) -> None:
    """Online (flat and nested records) must equal batch on every pooled record."""
    clock = FixedClock(dt.datetime(2026, 1, 1, tzinfo=dt.UTC))
    batch = evaluate_batch(strategy, frame, clock=clock)
    if batch["error"].null_count() != batch.height:
        msg = f"{batch.height - batch['error'].null_count()} generated records are invalid"
        raise MismatchError(msg)
    cols = ("decision", "segment", "limit", "apr", "term", "reasons", "rule_hits",
            "experiment.apr_test", "score.score")
    rows = batch.select(cols).to_dicts()
    for i, (flat, tree, want) in enumerate(zip(records, nested, rows, strict=True)):
        for rec in (flat, tree):
            got = evaluate(strategy, rec, clock=clock).to_row()
            if any(got[c] != want[c] for c in cols):
                msg = f"example strategy, record {i}: online {got['decision']} != batch {want}"
                raise MismatchError(msg)


# -- Part B: the peers' decision ----------------------------------------------------------

def fengkong_record(a: dict[str, Any]) -> dict[str, Any]:
    """A peer applicant as a rules_table.yaml record (``segment`` is reserved in fengkong)."""
    out = {k: v for k, v in a.items() if k != "segment"}
    out["customer_segment"] = a["segment"]
    return out


def check_rules_table(strategy: Any, applicants: Sequence[dict[str, Any]],
                      records: Sequence[dict[str, Any]]) -> None:
    """fengkong must give the hand-written decision, limit, APR and reasons on every applicant.

    fengkong reports no limit or APR on a decline, keeps at most four reasons (every
    fired rule is in ``rule_hits``) and gives a rule-less decline the reason NO_LIMIT;
    so limit and APR are compared on approvals, the pricing row's outputs on every
    applicant, ``rule_hits`` with the full reason list and ``reasons`` with its first four.
    """
    code_of = {r.id: r.reason for r in strategy.plan.rules}
    for i, (a, rec) in enumerate(zip(applicants, records, strict=True)):
        want = peer.py_handwritten(a)
        d = evaluate(strategy, rec)
        row = peer.PRICING_ROWS[d["table.pricing.row"]]
        lo, hi, seg, base_limit, base_apr = row
        problems = []
        if d.decision.upper() != want["decision"]:
            problems.append(f"decision {d.decision} != {want['decision']}")
        if [code_of[x] for x in d.rule_hits] != want["reasons"]:
            problems.append(f"rule_hits {d.rule_hits} != {want['reasons']}")
        first4 = want["reasons"][:4] or (["NO_LIMIT"] if want["decision"] == "DECLINE" else [])
        if d.reasons != first4:
            problems.append(f"reasons {d.reasons} != {first4}")
        if not (lo <= a["bureau_score"] < hi and seg == a["segment"]):
            problems.append(f"pricing row {row} for {a['bureau_score']}, {a['segment']}")
        if d["table.pricing.limit"] != base_limit or d["table.pricing.apr"] != base_apr:
            problems.append("pricing outputs differ from the row")
        if round(float(min(base_limit, a["income_monthly"] * 3)), 2) != round(float(want["limit"]), 2):
            problems.append("limit from the pricing row differs")
        if round(base_apr, 2) != round(float(want["apr"]), 2):
            problems.append("APR from the pricing row differs")
        if want["decision"] == "APPROVE":
            if (round(d.limit, 2), round(d.apr, 2)) != (round(want["limit"], 2), round(want["apr"], 2)):
                problems.append(f"limit/apr {d.limit}/{d.apr} != {want['limit']}/{want['apr']}")
        elif d.limit is not None or d.apr is not None:
            problems.append("a decline carries a limit or APR")
        if problems:
            msg = f"rules_table, applicant {i}: " + "; ".join(problems)
            raise MismatchError(msg)


def build_zen() -> Callable[[dict[str, Any]], Any]:
    """zen-engine's fast path, as the peers set it up: a loader returning cached content."""
    assert zen is not None
    content = json.dumps(peer.build_jdm())
    zc = zen.ZenDecisionContent(content)  # pre-parsed content object, cached by the caller
    engine = zen.ZenEngine({"loader": lambda key: zc})

    def run(a: dict[str, Any]) -> Any:
        return engine.evaluate("credit.json", a)

    return run


def check_zen(run: Callable[[dict[str, Any]], Any], applicants: Sequence[dict[str, Any]]) -> None:
    """zen must give the hand-written result on every applicant (the peers' check)."""
    for i, a in enumerate(applicants):
        got, want = peer.normalise(run(a)["result"]), peer.normalise(peer.py_handwritten(a))
        if got != want:
            msg = f"zen, applicant {i}: {got} != {want}"
            raise MismatchError(msg)


# -- main ------------------------------------------------------------------------------------

def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--n", type=int, default=30000, help="timed calls per variant (>= 20,000 for a report)")
    ap.add_argument("--warmup", type=int, default=2000)
    ap.add_argument("--pool", type=int, default=2000, help="distinct records cycled through")
    ap.add_argument("--seed", type=int, default=1, help="seed of generate_applications (part A)")
    ap.add_argument("--tput-seconds", type=float, default=2.0)
    ap.add_argument("--quick", action="store_true", help="smoke run: n=2000, short loops, no waiting")
    ap.add_argument("--json", help="write raw results here")
    h.add_quiet_options(ap)
    args = ap.parse_args()
    if args.quick:
        args.n, args.warmup, args.tput_seconds = 2000, 200, 0.3
    quiet = h.quiet_from(args)

    env = h.environment(n=args.n, warmup=args.warmup, pool=args.pool, quiet_threshold=quiet.threshold)
    print(json.dumps(env, indent=1))

    # -- Part A setup and check
    t0 = time.perf_counter()
    example = compile_strategy(example_strategy_path())
    compile_ms = (time.perf_counter() - t0) * 1000
    frame = generate_applications(args.pool, seed=args.seed).drop("bad")
    records = frame.to_dicts()
    nested = [nest(r) for r in records]
    check_example(example, frame, records, nested)
    print(f"correctness: example strategy, online (flat and nested records) == batch on "
          f"{len(records)} records")
    now = dt.datetime.now(dt.UTC)
    online = example.online
    a_variants: list[tuple[str, Callable[[Any], Any], Sequence[Any]]] = [
        ("fengkong: evaluate(flat dict) [example strategy]", lambda r: evaluate(example, r), records),
        ("fengkong: evaluate(nested dict, API shape) [example strategy]",
         lambda r: evaluate(example, r), nested),
        ("fengkong: generated plan function only, flat dict [example strategy]",
         lambda r: online(r, now), records),
    ]

    # -- Part B setup and check
    applicants = peer.make_applicants(args.pool)
    fk_records = [fengkong_record(a) for a in applicants]
    rules_table = compile_strategy(RULES_TABLE)
    check_rules_table(rules_table, applicants, fk_records)
    rt_online = rules_table.online
    b_variants: list[tuple[str, Callable[[Any], Any], Sequence[Any]]] = [
        ("python: hand-written if/else (floor)", peer.py_handwritten, applicants),
        ("fengkong: evaluate(record) [rules_table.yaml]", lambda r: evaluate(rules_table, r), fk_records),
        ("fengkong: generated plan function only [rules_table.yaml]", lambda r: rt_online(r, now), fk_records),
    ]
    zen_label = "zen: ZenEngine.evaluate [py loader -> cached ZenDecisionContent]"
    if zen is not None:
        zen_run = build_zen()
        check_zen(zen_run, applicants)
        b_variants.append((zen_label, zen_run, applicants))
        print(f"correctness: fengkong and zen-engine agree with the hand-written floor on "
              f"{len(applicants)} applicants")
    else:
        print(f"correctness: fengkong agrees with the hand-written floor on {len(applicants)} applicants")
        print(f"zen-engine is not importable in {sys.executable}: zen skipped "
              "(benchmarks/run_peers.sh runs this script with zen-engine installed)")

    results: dict[str, dict[str, float]] = {}
    part_of: dict[str, str] = {}
    for part, variants in (("A", a_variants), ("B", b_variants)):
        for name, fn, inputs in variants:
            gc.collect()
            r = h.measure_quiet(fn, inputs, args.n, args.warmup, args.tput_seconds, quiet)
            results[name] = r
            part_of[name] = part
            print(f"{name:70s} median {r['median_us']:8.2f} us  p99 {r['p99_us']:8.2f} us  "
                  f"{r['throughput_per_s']:>10,.0f}/s  other-load {r['foreign_cpu_share']:.2f}",
                  flush=True)

    # The ratios again, with the variants taking turns (robust to drift between them).
    gc.collect()
    pair_variants = [b_variants[0], b_variants[1]] + ([b_variants[-1]] if zen is not None else [])
    blocks = 10 if args.quick else 60
    pairs = h.run_quiet(lambda: h.interleaved(pair_variants, blocks, 500), quiet)
    print(f"interleaved, {blocks} rounds of 500 calls each (other-load {pairs['foreign_cpu_share']:.2f}): "
          + ", ".join(f"{name} {pairs[name]:.2f} us" for name, _, _ in pair_variants))

    a = results[a_variants[0][0]]
    hw = results[b_variants[0][0]]
    fk = results[b_variants[1][0]]
    zn = results.get(zen_label)
    ratio_hw = fk["median_us"] / hw["median_us"]
    ratio_hw_cpu = fk["cpu_us_per_call"] / hw["cpu_us_per_call"]
    ratio_zen = zn["median_us"] / fk["median_us"] if zn else float("nan")
    ratio_zen_cpu = zn["cpu_us_per_call"] / fk["cpu_us_per_call"] if zn else float("nan")
    pair_hw = pairs[b_variants[1][0]] / pairs[b_variants[0][0]]
    pair_zen = pairs[zen_label] / pairs[b_variants[1][0]] if zn else float("nan")

    print(f"\n### A. Example strategy, one decision (compile once: {compile_ms:,.0f} ms)\n")
    print(h.latency_table({k: v for k, v in results.items() if part_of[k] == "A"}))
    print("\n### B. 20 rules + 30-row table (the peers' decision)\n")
    print(h.latency_table({k: v for k, v in results.items() if part_of[k] == "B"}))
    print("\n### Goals\n")
    print("| goal | measured | target | verdict |")
    print("|---|---:|---:|---|")
    print(f"| A: median latency, example strategy | {a['median_us']:.2f} µs | ≤ {GOAL_MEDIAN_US:g} µs | "
          f"{h.verdict(a['median_us'], GOAL_MEDIAN_US, at_most=True)} |")
    print(f"| A: p99 latency, example strategy | {a['p99_us']:.2f} µs | ≤ {GOAL_P99_US:g} µs | "
          f"{h.verdict(a['p99_us'], GOAL_P99_US, at_most=True)} |")
    print(f"| B: fengkong / hand-written (wall median) | {ratio_hw:.2f}× | ≤ {GOAL_VS_HANDWRITTEN:g}× | "
          f"{h.verdict(ratio_hw, GOAL_VS_HANDWRITTEN, at_most=True)} |")
    print(f"| B: fengkong / hand-written (CPU per decision) | {ratio_hw_cpu:.2f}× | ≤ "
          f"{GOAL_VS_HANDWRITTEN:g}× | {h.verdict(ratio_hw_cpu, GOAL_VS_HANDWRITTEN, at_most=True)} |")
    print(f"| B: fengkong / hand-written (interleaved, mean per call) | {pair_hw:.2f}× | ≤ "
          f"{GOAL_VS_HANDWRITTEN:g}× | {h.verdict(pair_hw, GOAL_VS_HANDWRITTEN, at_most=True)} |")
    zen_cell = f"{ratio_zen:.2f}×" if zn else "zen skipped"
    zen_cpu_cell = f"{ratio_zen_cpu:.2f}×" if zn else "zen skipped"
    print(f"| B: zen / fengkong (wall median) | {zen_cell} | ≥ {GOAL_ZEN_OVER_FENGKONG:g}× | "
          f"{h.verdict(ratio_zen, GOAL_ZEN_OVER_FENGKONG, at_most=False)} |")
    print(f"| B: zen / fengkong (CPU per decision) | {zen_cpu_cell} | ≥ {GOAL_ZEN_OVER_FENGKONG:g}× | "
          f"{h.verdict(ratio_zen_cpu, GOAL_ZEN_OVER_FENGKONG, at_most=False)} |")
    pair_zen_cell = f"{pair_zen:.2f}×" if zn else "zen skipped"
    print(f"| B: zen / fengkong (interleaved, mean per call) | {pair_zen_cell} | ≥ "
          f"{GOAL_ZEN_OVER_FENGKONG:g}× | {h.verdict(pair_zen, GOAL_ZEN_OVER_FENGKONG, at_most=False)} |")
    if args.json:
        Path(args.json).write_text(json.dumps(
            {"env": env, "compile_ms": compile_ms, "results": results,
             "interleaved_us": pairs,
             "ratios": {"fengkong_over_handwritten": ratio_hw,
                        "fengkong_over_handwritten_interleaved": pair_hw,
                        "zen_over_fengkong_interleaved": pair_zen,
                        "fengkong_over_handwritten_cpu": ratio_hw_cpu,
                        "zen_over_fengkong": ratio_zen, "zen_over_fengkong_cpu": ratio_zen_cpu}},
            indent=1))
    return 0


if __name__ == "__main__":
    sys.exit(main())
