"""Measurement discipline shared by the benchmarks, copied from the peers' script.

`/work/shared/peers/bench_decision_engines.py` measured the peer figures quoted in
the issues; fengkong is measured the same way so the numbers compare:

* a warm-up, then one ``time.perf_counter_ns`` latency per call over ``n`` calls
  (>= 20,000 for a report), single thread, in-process, cycling through a pool of
  pre-built inputs; median, p90, p99, p99.9 from the sorted latencies;
* process CPU per call, measured apart: ``time.process_time_ns`` around each of up to
  10,000 calls, with the clock's own cost calibrated and removed;
* throughput from an un-instrumented loop of at least ``tput_seconds``;
* on Linux, the share of the machine used by *other* processes is read from
  ``/proc/stat`` around every measurement; by default we wait for a quiet machine and
  re-measure when load appeared (these boxes are shared).
"""

from __future__ import annotations

import os
import platform
import statistics
import subprocess
import sys
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from importlib import metadata
from pathlib import Path
from typing import Any

REPO = Path(__file__).resolve().parent.parent
_CLK = os.sysconf("SC_CLK_TCK") if hasattr(os, "sysconf") else 100


@dataclass(frozen=True)
class Quiet:
    """How long to wait for a quiet machine, and how often to re-measure."""

    threshold: float = 0.10  # other processes' share of the machine; 0 = never wait
    max_wait: float = 180.0
    retries: int = 2


def add_quiet_options(ap: Any) -> None:
    """The peers' script's load options, on an ``argparse.ArgumentParser``."""
    ap.add_argument("--quiet-threshold", type=float, default=None,
                    help="wait until other processes use < this share of the machine "
                         "(0 = don't wait; default 0.10, or 0 for smoke runs)")
    ap.add_argument("--max-wait", type=float, default=180.0, help="max seconds to wait for quiet")
    ap.add_argument("--retries", type=int, default=2, help="re-measure if load appeared")


def quiet_from(args: Any, *, smoke: bool = False) -> Quiet:
    """The :class:`Quiet` settings parsed by :func:`add_quiet_options`.

    Smoke runs (``--quick``, or ``smoke=True``) do not wait unless told to.
    """
    threshold = args.quiet_threshold
    if threshold is None:
        threshold = 0.0 if smoke or getattr(args, "quick", False) else 0.10
    return Quiet(threshold, args.max_wait, args.retries)


def pct(sorted_vals: Sequence[float], p: float) -> float:
    """The ``p``-th percentile of already sorted values (nearest rank, as the peers)."""
    if not sorted_vals:
        return float("nan")
    k = min(len(sorted_vals) - 1, max(0, round(p / 100.0 * (len(sorted_vals) - 1))))
    return float(sorted_vals[k])


def cpu_snapshot() -> tuple[int, int, float] | None:
    """(machine busy jiffies, machine total jiffies, own-process jiffies); None off Linux."""
    try:
        with Path("/proc/stat").open() as f:
            vals = [int(v) for v in f.readline().split()[1:]]
    except OSError:
        return None
    idle = vals[3] + (vals[4] if len(vals) > 4 else 0)
    total = sum(vals[:8])
    t = os.times()
    return total - idle, total, (t.user + t.system) * _CLK


def foreign_load(a: tuple[int, int, float] | None, b: tuple[int, int, float] | None) -> float:
    """Share of the whole machine's CPU used by *other* processes between two snapshots."""
    if a is None or b is None or b[1] == a[1]:
        return float("nan")
    return max(0.0, ((b[0] - a[0]) - (b[2] - a[2])) / (b[1] - a[1]))


def wait_for_quiet(threshold: float, max_wait: float) -> float:
    """Block until other processes use < ``threshold`` of the machine for 1 s (or ``max_wait``)."""
    t0 = time.time()
    while True:
        a = cpu_snapshot()
        time.sleep(1.0)
        fl = foreign_load(a, cpu_snapshot())
        if not (fl >= threshold) or time.time() - t0 > max_wait:
            return time.time() - t0
        time.sleep(2.0)


def measure(fn: Callable[[Any], Any], inputs: Sequence[Any], n: int, warmup: int,
            tput_seconds: float) -> dict[str, float]:
    """Per-call wall latency, per-call process CPU and throughput of ``fn`` (the peers' method)."""
    p = len(inputs)
    for i in range(warmup):
        fn(inputs[i % p])
    lat = [0] * n
    pc = time.perf_counter_ns
    for i in range(n):
        x = inputs[i % p]
        t0 = pc()
        fn(x)
        lat[i] = pc() - t0
    lat.sort()
    cpc = time.process_time_ns
    m = min(n, 10000)
    cal = []
    for _ in range(2000):
        t0 = cpc()
        cal.append(cpc() - t0)
    cal.sort()
    overhead = cal[len(cal) // 2]
    cl = [0] * m
    for i in range(m):
        x = inputs[i % p]
        t0 = cpc()
        fn(x)
        cl[i] = max(0, cpc() - t0 - overhead)
    cl.sort()
    calls = 0
    cpu0 = time.process_time()
    t_start = time.perf_counter()
    deadline = t_start + tput_seconds
    while True:
        for j in range(256):
            fn(inputs[(calls + j) % p])
        calls += 256
        if time.perf_counter() >= deadline:
            break
    elapsed = time.perf_counter() - t_start
    cpu = time.process_time() - cpu0
    return {
        "n": n,
        "cpu_us_per_call": cpu / calls * 1e6,
        "cpu_median_us": pct(cl, 50) / 1000.0,
        "cpu_p99_us": pct(cl, 99) / 1000.0,
        "median_us": pct(lat, 50) / 1000.0,
        "p90_us": pct(lat, 90) / 1000.0,
        "p99_us": pct(lat, 99) / 1000.0,
        "p999_us": pct(lat, 99.9) / 1000.0,
        "max_us": lat[-1] / 1000.0,
        "mean_us": statistics.fmean(lat) / 1000.0,
        "throughput_per_s": calls / elapsed,
    }


def measure_quiet(fn: Callable[[Any], Any], inputs: Sequence[Any], n: int, warmup: int,
                  tput_seconds: float, quiet: Quiet) -> dict[str, float]:
    """:func:`measure` on a quiet machine: wait for other load to drop, retry if it came back."""
    return run_quiet(lambda: measure(fn, inputs, n, warmup, tput_seconds), quiet)


def run_quiet(job: Callable[[], dict[str, float]], quiet: Quiet) -> dict[str, float]:
    """Run ``job`` (which returns a result dict) on a quiet machine; keep the least disturbed run."""
    best: dict[str, float] | None = None
    waited = 0.0
    for attempt in range(quiet.retries + 1):
        if quiet.threshold > 0:
            waited += wait_for_quiet(quiet.threshold, quiet.max_wait)
        a = cpu_snapshot()
        r = job()
        r["foreign_cpu_share"] = foreign_load(a, cpu_snapshot())
        r["attempt"] = attempt + 1
        if best is None or r["foreign_cpu_share"] < best["foreign_cpu_share"]:
            best = r
        if not (r["foreign_cpu_share"] >= quiet.threshold):
            break
    assert best is not None
    best["waited_s"] = round(waited, 1)
    return best


def interleaved(variants: Sequence[tuple[str, Callable[[Any], Any], Sequence[Any]]], blocks: int,
                block: int) -> dict[str, float]:
    """Mean µs per call of each variant, median over ``blocks`` rounds that take turns.

    Sequential measurements (one variant after another) drift with the machine: CPU
    frequency, neighbours on the host. Here every round runs ``block`` calls of each
    variant back to back, the starting variant rotating, so each ratio between
    variants is taken under the same conditions.
    """
    samples: dict[str, list[float]] = {name: [] for name, _, _ in variants}
    pc = time.perf_counter_ns
    k = len(variants)
    for b in range(blocks):
        for j in range(k):
            name, fn, inputs = variants[(b + j) % k]
            p = len(inputs)
            start = (b * block) % p
            t0 = pc()
            for i in range(start, start + block):
                fn(inputs[i % p])
            samples[name].append((pc() - t0) / block / 1000.0)
    return {name: statistics.median(v) for name, v in samples.items()}


def dist_version(name: str) -> str:
    """Installed version of a distribution, or ``not installed``."""
    try:
        return metadata.version(name)
    except metadata.PackageNotFoundError:
        return "not installed"


def _git(*args: str) -> str:
    try:
        out = subprocess.run(["git", "-C", str(REPO), *args], capture_output=True, text=True,
                             check=True, timeout=10)
    except (OSError, subprocess.SubprocessError):
        return "?"
    return out.stdout.strip()


def environment(**extra: Any) -> dict[str, Any]:
    """The machine and versions a result was measured with."""
    cpu_model = ""
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                cpu_model = line.split(":", 1)[1].strip()
                break
    except OSError:
        pass
    dirty = bool(_git("status", "--porcelain", "--", "src"))
    return {
        "date": time.strftime("%Y-%m-%d %H:%M %Z"),
        "python": sys.version.split()[0],
        "implementation": platform.python_implementation(),
        "platform": platform.platform(),
        "cpu": cpu_model or platform.processor() or platform.machine(),
        "cpus": os.cpu_count(),
        "affinity_cpus": len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else None,
        "load_avg_1m": round(os.getloadavg()[0], 2) if hasattr(os, "getloadavg") else None,
        "fengkong": dist_version("fengkong"),
        "git": _git("rev-parse", "--short", "HEAD") + ("+dirty src" if dirty else ""),
        "polars": dist_version("polars"),
        "numpy": dist_version("numpy"),
        "pyarrow": dist_version("pyarrow"),
        "zen_engine": dist_version("zen-engine"),
        "POLARS_MAX_THREADS": os.environ.get("POLARS_MAX_THREADS", "unset"),
        **extra,
    }


def fmt(v: float, digits: int = 2) -> str:
    """A number for a markdown cell (``–`` for NaN)."""
    if v != v:
        return "–"
    return f"{v:,.{digits}f}"


def latency_table(results: dict[str, dict[str, float]]) -> str:
    """The peers' markdown latency table."""
    lines = ["| variant | wall median µs | wall p90 µs | wall p99 µs | wall p99.9 µs | "
             "throughput /s | CPU µs/decision (mean) | CPU median µs | CPU p99 µs | other load |",
             "|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|"]
    for name, r in results.items():
        lines.append(
            f"| {name} | {fmt(r['median_us'])} | {fmt(r['p90_us'])} | {fmt(r['p99_us'])} | "
            f"{fmt(r['p999_us'])} | {r['throughput_per_s']:,.0f} | {fmt(r['cpu_us_per_call'])} | "
            f"{fmt(r['cpu_median_us'])} | {fmt(r['cpu_p99_us'])} | {fmt(r['foreign_cpu_share'])} |")
    return "\n".join(lines)


def verdict(value: float, goal: float, *, at_most: bool) -> str:
    """``met`` or ``missed by x.x×`` for a goal ``value <= goal`` (or ``>=``)."""
    if value != value:
        return "not measured"
    ok = value <= goal if at_most else value >= goal
    if ok:
        return "met"
    factor = value / goal if at_most else goal / value
    return f"missed ({factor:.2f}× off)"
