"""Where the time of one online decision goes, stage by stage.

The online backend compiles a strategy into one generated Python function, so a
function-level profiler sees little inside it. This script cuts the generated source
after each stage (inputs, features, segment, experiment, scorecards and tables, rules,
outcome, reasons, rule hits, the output tuple), compiles every prefix in the plan's own
namespace, and times each prefix on the same pool of records; the difference between
consecutive prefixes is the cost of a stage. The ``evaluate`` wrapper (argument check,
clock, ``Decision``) is timed as the difference between ``evaluate`` and the full
function. A cProfile of ``evaluate`` lists the helper calls the generated code makes.

Usage:
    .venv/bin/python benchmarks/profile_online.py            # both strategies
    .venv/bin/python benchmarks/profile_online.py --quick
"""

from __future__ import annotations

import argparse
import cProfile
import datetime as dt
import io
import pstats
import re
import statistics
import sys
import time
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

import _harness as h
import _peer_decision as peer
from bench_online import RULES_TABLE, fengkong_record

from fengkong import compile_strategy, evaluate
from fengkong.demo import example_strategy_path, generate_applications

# (stage, regex of the first line of the stage at the function's top level); the
# segment stage starts right after the last feature, wherever that is.
STAGES = [
    ("input checks (one block per declared field)", r"^    g = r\.get"),
    ("features", r"^    f\d+ = "),
    ("segment routing", None),
    ("experiment arm (CRC-32)", r"^    e\d+ = None"),
    ("scorecards and tables (slots)", r"^    (pt\d+ = None|cmp\d+ = |if seg ==|if e\d+ ==)"),
    ("rules (one boolean per rule) and caps", r"^    h\d+ = "),
    ("outcome: limit, decision, APR, term", r"^    lim = "),
    ("reasons list", r"^    rs = \[\]"),
    ("rule_hits list", r"^    hits = "),
    ("output tuple (one value per output column)", r"^    return \("),
]
_RAISE = "    if _p is not None: raise _InputError(_p)"
_FEATURE = re.compile(r"^    f\d+ = ")


def stage_starts(lines: list[str]) -> list[tuple[str, int]]:
    """The first line of each stage found in the generated source, in order."""
    out: list[tuple[str, int]] = []
    pos = 1
    for name, pattern in STAGES:
        if pattern is None:  # segment routing: the first line after the input checks and features
            i = lines.index(_RAISE) + 1
            while _FEATURE.match(lines[i]):
                i += 1
            out.append((name, i))
            pos = i + 1
            continue
        rx = re.compile(pattern)
        for i in range(pos, len(lines)):
            if rx.match(lines[i]):
                out.append((name, i))
                pos = i + 1
                break
    return out


def prefixes(strategy: Any) -> list[tuple[str, Callable[..., Any]]]:
    """(stage, function running the plan up to and including that stage)."""
    lines = strategy.online_source.split("\n")
    starts = stage_starts(lines)
    namespace = strategy.online.__globals__
    fns: list[tuple[str, Callable[..., Any]]] = []
    ends = [i for _, i in starts[1:]] + [len(lines)]
    head = lines[: starts[0][1]]
    fns.append(("call + record shape check", _compile([*head, "    return None"], namespace)))
    for (name, _), end in zip(starts, ends, strict=True):
        body = lines[:end] if end < len(lines) else lines
        if end < len(lines):
            body = [*body, "    return None"]
        fns.append((name, _compile(body, namespace)))
    return fns


def _compile(lines: list[str], namespace: dict[str, Any]) -> Callable[..., Any]:
    ns = dict(namespace)
    exec(compile("\n".join(lines), "<prefix>", "exec"), ns)
    return ns["_decide"]  # type: ignore[no-any-return]


def per_call_ns(fns: Sequence[Callable[[Any], Any]], pool: Sequence[Any], reps: int) -> list[float]:
    """Median over ``reps`` passes of the mean per-call time of each function (interleaved)."""
    samples: list[list[float]] = [[] for _ in fns]
    pc = time.perf_counter_ns
    for _ in range(reps):
        for k, fn in enumerate(fns):
            t0 = pc()
            for r in pool:
                fn(r)
            samples[k].append((pc() - t0) / len(pool))
    return [statistics.median(s) for s in samples]


def stage_table(label: str, strategy: Any, pool: Sequence[dict[str, Any]], reps: int) -> str:
    now = dt.datetime.now(dt.UTC)
    fns = prefixes(strategy)
    online = strategy.online
    runs: list[Callable[[Any], Any]] = [(lambda r, f=f: f(r, now)) for _, f in fns]
    runs.append(lambda r: online(r, now))
    runs.append(lambda r: evaluate(strategy, r))
    runs.append(lambda r: None)  # the loop itself
    for fn in runs:  # warm-up
        for r in pool[:200]:
            fn(r)
    times = per_call_ns(runs, pool, reps)
    loop = times[-1]
    total_eval = times[-2] - loop
    total_fn = times[-3] - loop
    lines = [f"#### {label}", "",
             "| stage | µs per decision | share of evaluate |", "|---|---:|---:|"]
    prev = loop
    for (name, _), t in zip(fns, times, strict=False):
        cost = t - prev
        lines.append(f"| {name} | {cost / 1000:.2f} | {cost / total_eval:.0%} |")
        prev = t
    wrapper = total_eval - total_fn
    lines.append(f"| `evaluate` wrapper (Mapping check, clock, `Decision`) | {wrapper / 1000:.2f} | "
                 f"{wrapper / total_eval:.0%} |")
    lines.append(f"| **total `evaluate`** | **{total_eval / 1000:.2f}** | 100% |")
    return "\n".join(lines)


def profile_calls(strategy: Any, pool: Sequence[dict[str, Any]], limit: int = 12) -> str:
    prof = cProfile.Profile()
    prof.enable()
    for _ in range(5):
        for r in pool:
            evaluate(strategy, r)
    prof.disable()
    out = io.StringIO()
    pstats.Stats(prof, stream=out).sort_stats("tottime").print_stats(limit)
    return out.getvalue()


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--pool", type=int, default=2000)
    ap.add_argument("--reps", type=int, default=25)
    ap.add_argument("--quick", action="store_true")
    ap.add_argument("--cprofile", action="store_true", help="also print a cProfile of evaluate")
    h.add_quiet_options(ap)
    args = ap.parse_args()
    if args.quick:
        args.pool, args.reps = 500, 5
    quiet = h.quiet_from(args)
    example = compile_strategy(example_strategy_path())
    records = generate_applications(args.pool, seed=1).drop("bad").to_dicts()
    rules_table = compile_strategy(RULES_TABLE)
    fk_records = [fengkong_record(a) for a in peer.make_applicants(args.pool)]
    if quiet.threshold > 0:
        h.wait_for_quiet(quiet.threshold, quiet.max_wait)
    snap = h.cpu_snapshot()
    print(stage_table(f"example strategy ({Path(example_strategy_path()).name}, "
                      f"{len(example.plan.fields)} input fields, {len(example.columns)} output columns)",
                      example, records, args.reps))
    print()
    print(stage_table(f"rules_table.yaml ({len(rules_table.plan.fields)} input fields, "
                      f"{len(rules_table.columns)} output columns)", rules_table, fk_records, args.reps))
    print(f"\nother load during the stage timing: {h.foreign_load(snap, h.cpu_snapshot()):.2f}")
    if args.cprofile:
        print("\ncProfile of evaluate, example strategy (helper calls of the generated code):\n")
        print(profile_calls(example, records))
    return 0


if __name__ == "__main__":
    sys.exit(main())
