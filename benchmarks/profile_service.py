"""Where the decision service's CPU goes at saturation: py-spy on the server under wrk.

Starts ``fengkong serve`` (through ``service_app.py``, as ``bench_service.py`` does) on
a fresh SQLite data dir or PostgreSQL database, warms it up, then loads
``POST /v1/decisions/consumer_loan`` (or the no-op floor) with ``wrk -t1 -c64`` while
``py-spy record`` samples the server. Two sampling modes, one run each:

* ``--gil`` (default): only the thread holding the GIL is sampled. In one server
  process the GIL serialises all Python work (event loop, decision-log writer,
  thread pool), so this is the budget that caps throughput;
* ``--all-threads``: every thread that is running, including C code that released
  the GIL (SQLite's ``sqlite3_step``, fsync waits are idle and not counted).

py-spy pauses the server for each sample (whole, consistent stacks; about 1 % slower
at 250 samples/s); ``--nonblocking`` does not, but then stacks are often cut short.
Prints samples per thread, a breakdown by component (each sample goes to the
innermost frame that names one), fengkong's functions with their callees, and the
top functions by self and inclusive samples, each also in µs per request (samples /
rate / requests answered while sampling).
If py-spy is missing it is installed with ``pip install py-spy``; with ``--cprofile``
the server runs under cProfile instead (event-loop thread only).

Usage:
    .venv/bin/python benchmarks/profile_service.py                 # SQLite, decide, 10 s
    .venv/bin/python benchmarks/profile_service.py --backend postgresql --all-threads
    .venv/bin/python benchmarks/profile_service.py --endpoint noop --seconds 5
"""

from __future__ import annotations

import argparse
import contextlib
import json
import pstats
import re
import shutil
import subprocess
import sys
import tempfile
import time
import uuid
from collections import Counter
from pathlib import Path

import bench_service as bs

# (component, substrings of a frame "function (file:line)"); the first match from the leaf wins
COMPONENTS: list[tuple[str, tuple[str, ...]]] = [
    ("engine: generated decision function", ("<fengkong plan",)),
    ("engine: Decision object, to_dict()", ("fengkong/engine/_decision.py",)),
    ("engine: evaluate() wrapper, input checks", ("fengkong/engine/",)),
    ("pseudonymisation of personal data", ("fengkong/privacy/",)),
    ("decision log: hash chain, rows (fengkong.store)", ("fengkong/store/",)),
    ("decision log: SQLAlchemy", ("sqlalchemy/",)),
    ("decision log: database driver", ("sqlite3/", "psycopg/", "psycopg_pool/")),
    ("service: decide() glue (JSON, unknown fields, sha256, ids)", ("fengkong/service/_service.py",)),
    ("service: routes, auth dependency", ("fengkong/service/_routes.py",)),
    ("service: registry (routing cache)", ("fengkong/service/_registry.py",)),
    ("request log line (logging + JSON formatter)", ("logging/", "fengkong/service/_logging.py")),
    ("request middleware (fengkong)", ("fengkong/service/_middleware.py",
                                       "fengkong/service/_errors.py")),
    ("metrics (prometheus_client)", ("prometheus_client/",)),
    ("FastAPI / Starlette (routing, dependencies, Request, Response)",
     ("fastapi/", "starlette/", "pydantic/", "anyio/")),
    ("uvicorn + httptools (HTTP parsing, protocol)", ("uvicorn/", "httptools/")),
    ("asyncio / uvloop event loop, futures, contextvars", ("asyncio/", "uvloop/")),
    ("threading, queue (log writer hand-off, thread pool)", ("threading.py", "queue.py")),
    ("uuid, json, datetime, other stdlib", ("uuid.py", "json/", "datetime.py", "contextlib.py",
                                            "typing.py", "enum.py", "dataclasses.py")),
]


_LINE = re.compile(r":\d+\)$")


def component(frames: list[str]) -> str:
    for frame in reversed(frames):
        for name, keys in COMPONENTS:
            if any(k in frame for k in keys):
                return name
    return "other (" + (frames[-1] if frames else "?") + ")"


def analyse_raw(path: Path, top: int, us_per_sample: float) -> str:
    """Tables from a py-spy raw (collapsed stacks, ``--threads``) file.

    ``us_per_sample`` turns sample counts into microseconds per request: one sample
    stands for 1/rate seconds, shared by the requests answered meanwhile.
    """
    threads: Counter[str] = Counter()
    comps: Counter[str] = Counter()
    self_: Counter[str] = Counter()
    incl: Counter[str] = Counter()
    total = 0
    for text in path.read_text().splitlines():
        stack, _, n_text = text.rpartition(" ")
        n = int(n_text)
        frames = stack.split(";")
        thread = "?"
        if frames and frames[0].startswith("thread ("):  # "thread (tid): Name" (--threads)
            thread = frames[0].split(": ", 1)[-1]
            frames = frames[1:]
        if thread == "MainThread":
            thread = "MainThread (event loop)"
        total += n
        threads[thread] += n
        comps[component(frames)] += n
        if frames:
            self_[frames[-1]] += n
        for f in {_LINE.sub(")", f) for f in frames}:  # by function: every line of it
            incl[f] += n
    if not total:
        return "no samples"
    u = us_per_sample
    out = [f"{total} samples, {total * u:.0f} µs per request\n",
           "| thread | samples | share | µs/request |", "|---|---:|---:|---:|"]
    out += [f"| {t} | {n} | {n / total:.1%} | {n * u:.0f} |" for t, n in threads.most_common()]
    out += ["", "| component (innermost matching frame) | samples | share | µs/request |",
            "|---|---:|---:|---:|"]
    out += [f"| {c} | {n} | {n / total:.1%} | {n * u:.0f} |" for c, n in comps.most_common()]
    out += ["", "fengkong's own functions, inclusive (callees counted in, all lines):", "",
            "| function (file) | inclusive | share | µs/request |", "|---|---:|---:|---:|"]
    fk = [(f, n) for f, n in incl.most_common()
          if ("fengkong/" in f or "<fengkong plan" in f) and "fengkong/cli/" not in f]
    out += [f"| `{f}` | {n} | {n / total:.1%} | {n * u:.0f} |" for f, n in fk[:top]]
    out += ["", f"Top {top} functions by self samples:", "",
            "| function (file:line) | self | share | µs/request |", "|---|---:|---:|---:|"]
    out += [f"| `{f}` | {n} | {n / total:.1%} | {n * u:.0f} |" for f, n in self_.most_common(top)]
    skip = ("<module>", "Typer", "Command", "Context.invoke", "_main (typer", "serve (fengkong",
            "main (service_app", "main.<locals>.run", "run (uvicorn", "Server.run",
            "asyncio_run", "Runner.run", "TyperGroup", "get_callback", "Thread._bootstrap",
            "Thread.run")
    out += ["", f"Top {top} functions by inclusive samples (start-up frames left out):", "",
            "| function (file) | inclusive | share | µs/request |", "|---|---:|---:|---:|"]
    shown = 0
    for f, n in incl.most_common():
        if any(s in f for s in skip):
            continue
        out.append(f"| `{f}` | {n} | {n / total:.1%} | {n * u:.0f} |")
        shown += 1
        if shown >= top:
            break
    return "\n".join(out)


def ensure_py_spy() -> str | None:
    path = shutil.which("py-spy") or str(bs.BIN / "py-spy")
    if Path(path).exists():
        return path
    print("py-spy is not installed: running `pip install py-spy`", flush=True)
    subprocess.run([sys.executable, "-m", "pip", "install", "-q", "py-spy"], timeout=300,
                   check=False)
    path = str(bs.BIN / "py-spy")
    return path if Path(path).exists() else None


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--backend", choices=["sqlite", "postgresql"], default="sqlite")
    ap.add_argument("--endpoint", choices=["decide", "noop"], default="decide")
    ap.add_argument("--conns", type=int, default=64)
    ap.add_argument("--seconds", type=float, default=10.0)
    ap.add_argument("--rate", type=int, default=250, help="py-spy samples per second")
    ap.add_argument("--all-threads", action="store_true",
                    help="sample every running thread, not only the GIL holder")
    ap.add_argument("--nonblocking", action="store_true",
                    help="do not pause the server for each sample (py-spy --nonblocking): "
                         "less overhead, but stacks are often cut short, so inclusive "
                         "counts become lower bounds (self counts are not affected)")
    ap.add_argument("--cprofile", action="store_true", help="cProfile instead of py-spy")
    ap.add_argument("--top", type=int, default=25)
    ap.add_argument("--raw", default=None, help="keep py-spy's raw output in this file")
    args = ap.parse_args(argv)
    wrk = bs.ensure_wrk()
    spy = None if args.cprofile else ensure_py_spy()
    if spy is None and not args.cprofile:
        print("py-spy is not available: falling back to cProfile")
        args.cprofile = True
    from fengkong.demo import example_record

    body = json.dumps(example_record(), ensure_ascii=False, separators=(",", ":")).encode()
    path = bs.DECIDE_PATH if args.endpoint == "decide" else bs.NOOP_PATH
    with tempfile.TemporaryDirectory(prefix="fk-profile-service-") as tmp, \
            bs.backend(args.backend, Path(tmp)) as b:
        body_file = Path(tmp) / "body.json"
        body_file.write_bytes(body)
        key = bs.create_key(b)
        prefix = str(Path(tmp) / "cprofile")
        server = bs.start_server(b, 1, {"FENGKONG_BENCH_CPROFILE": prefix} if args.cprofile
                                 else None)
        try:
            bs.check_server(server, body, key)
            bs.run_wrk(wrk, server, path, body_file, key, 8, 2, 1, f"warm-{uuid.uuid4().hex[:6]}")
            cpu0 = server.cpu()
            load = subprocess.Popen(
                [wrk, "-t1", f"-c{args.conns}", f"-d{round(args.seconds + 2)}s", "--latency",
                 "-s", str(bs.LUA), server.base + path, "--", str(body_file), key,
                 f"p{uuid.uuid4().hex[:8]}"], stdout=subprocess.PIPE, text=True)
            raw = Path(args.raw) if args.raw else Path(tmp) / "pyspy.txt"
            try:
                time.sleep(1.0)
                if not args.cprofile:
                    cmd = [spy, "record", "-p", str(server.proc.pid), "-d",
                           str(round(args.seconds)), "-r", str(args.rate),
                           "--threads", "-f", "raw", "-o", str(raw)]
                    if args.nonblocking:
                        cmd.append("--nonblocking")
                    if not args.all_threads:
                        cmd.append("--gil")
                    subprocess.run(cmd, timeout=args.seconds + 60, check=True,
                                   capture_output=True)
                out, _ = load.communicate(timeout=args.seconds + 60)
            finally:
                if load.poll() is None:
                    load.kill()
                    load.wait()
            cpu1 = server.cpu()
            rps = next((ln for ln in out.splitlines() if ln.startswith("Requests/sec")), "?")
            wrk_json = next((ln for ln in out.splitlines() if ln.startswith("WRK_JSON")), "")
            w = json.loads(wrk_json[9:]) if wrk_json else {"requests": 0, "duration_us": 1}
            served = w["requests"]
            per_s = w["requests"] / (w["duration_us"] / 1e6)
            print(f"## {args.endpoint} on {args.backend}, wrk -t1 -c{args.conns}, "
                  f"{args.seconds:g} s, {'cProfile' if args.cprofile else 'py-spy ' + ('all running threads' if args.all_threads else '--gil')}")
            print(f"{rps.strip()}; server CPU {(cpu1[0] - cpu0[0]) / bs.CLK:.2f} s "
                  f"(event-loop thread {(cpu1[1] - cpu0[1]) / bs.CLK:.2f} s) for "
                  f"{served:,} answered requests in the wrk window: "
                  f"{(cpu1[0] - cpu0[0]) / bs.CLK / max(1, served) * 1e6:.0f} µs/request "
                  "(the profiler's own cost included)\n")
        finally:
            server.stop()
        if args.cprofile:
            for prof in Path(tmp).glob("cprofile.*.prof"):
                stats = pstats.Stats(str(prof))
                stats.sort_stats("tottime").print_stats(args.top)
                stats.sort_stats("cumulative").print_stats(args.top)
        else:
            print(analyse_raw(raw, args.top, 1e6 / args.rate / max(1.0, per_s * args.seconds)))
        with contextlib.suppress(OSError):
            if args.raw is None:
                raw.unlink()
    return 0


if __name__ == "__main__":
    sys.exit(main())
