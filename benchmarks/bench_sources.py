"""Data sources: what fetching adds to a decision, and what concurrency saves.

A strategy with three HTTP sources (bureau, telecom, e-commerce) against a provider on
loopback (a threaded stdlib server, one per run) that answers after a set delay. Each
decision goes through ``SourceRuntime.fetch`` (consent answers from memory, as the
registry's database read is measured by the service benchmark) and then ``evaluate``.
Measured per decision, side by side in one run:

* **concurrent**: fengkong as it runs — the three sources at once, under the deadline;
* **one after another**: the same three sources fetched by three single-source runtimes
  in a row, as an engine without concurrent fetching would;
* **cached**: the same person again with ``cache_ttl_s`` set: no call goes out;
* **engine only**: ``evaluate`` on the record with the fetched values, for scale.

Usage:
    .venv/bin/python benchmarks/bench_sources.py                 # 50 ms provider, 200 decisions
    .venv/bin/python benchmarks/bench_sources.py --delay-ms 0 --decisions 2000
    .venv/bin/python benchmarks/bench_sources.py --quick
"""

from __future__ import annotations

import argparse
import asyncio
import json
import statistics
import tempfile
import threading
import time
from collections.abc import Awaitable, Callable, Sequence
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

from rich.console import Console
from rich.table import Table

from fengkong import compile_strategy, evaluate
from fengkong.sources import ConsentAnswer, ConsentQuery, SourceRuntime

SOURCE = """\
  {name}:
    kind: {kind}
    purpose: origination
    consent: {consent}
    subject: applicant.id_number
    data_class: C2
    fields:
      {field}: {{type: int, min: 0}}
    connector: {{type: http, url: "{url}/{name}", request: {{id: applicant.id_number}}}}
    timeout_ms: 2000
    cache_ttl_s: {ttl}
"""
HEAD = """\
strategy: bench_sources
version: 1
stage: origination
source_deadline_ms: 5000
inputs:
  applicant.id_number: {type: str, pii: id_card}
  applicant.age: {type: int, min: 18, max: 100}
sources:
"""
RULES = """\
rules:
  - {id: low, when: "coalesce(bureau.score, 0) < 500", action: decline, reason: BUREAU_SCORE_LOW}
  - {id: short, when: "coalesce(telecom.tenure, 0) < 6", action: refer, reason: TELECOM_TENURE_SHORT}
  - {id: spend, when: "coalesce(ecommerce.orders, 0) == 0", action: flag, reason: NO_ECOMMERCE_HISTORY}
"""
SOURCES = (("bureau", "credit_report", "written", "score"),
           ("telecom", "telecom", "general", "tenure"),
           ("ecommerce", "ecommerce", "general", "orders"))
ANSWERS = {"bureau": {"score": 720}, "telecom": {"tenure": 48}, "ecommerce": {"orders": 12}}


def provider(delay: float) -> ThreadingHTTPServer:
    class Handler(BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.1"
        disable_nagle_algorithm = True  # headers and body go out without waiting for an ACK

        def log_message(self, *args: Any) -> None:
            pass

        def do_POST(self) -> None:
            self.rfile.read(int(self.headers.get("Content-Length") or 0))
            if delay:
                time.sleep(delay)
            body = json.dumps(ANSWERS[self.path.strip("/")]).encode()
            self.send_response(200)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    server.daemon_threads = True
    threading.Thread(target=server.serve_forever, daemon=True).start()
    return server


def strategy(folder: Path, url: str, names: Sequence[str], ttl: float) -> Any:
    parts = [HEAD] + [SOURCE.format(name=n, kind=k, consent=c, field=f, url=url, ttl=ttl)
                      for n, k, c, f in SOURCES if n in names]
    rules = [line for line in RULES.splitlines()[1:]
             if any(f"{n}." in line for n in names)]
    text = "".join(parts) + "rules:\n" + "\n".join(rules) + "\n"
    path = folder / f"{'_'.join(names)}_{int(ttl)}.yaml"
    path.write_text(text, "utf-8")
    return compile_strategy(path)


async def consents(queries: Sequence[ConsentQuery]) -> list[ConsentAnswer]:
    return [ConsentAnswer("granted", "written", "c", "v1") for _ in queries]


def record(i: int) -> dict[str, Any]:
    return {"applicant": {"id_number": f"{i:018d}", "age": 30}}


def tokens(i: int) -> dict[str, tuple[str, ...]]:
    return {"applicant.id_number": (f"pn1.bench.{i}",)}


async def timed(n: int, one: Callable[[int], Awaitable[Any]]) -> list[float]:
    out = []
    for i in range(n):
        t0 = time.perf_counter()
        await one(i)
        out.append((time.perf_counter() - t0) * 1000)
    return out


def quantile(xs: list[float], q: float) -> float:
    return statistics.quantiles(xs, n=100)[int(q) - 1] if len(xs) >= 2 else xs[0]


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--delay-ms", type=float, default=50.0, help="provider delay per call")
    ap.add_argument("--decisions", type=int, default=200)
    ap.add_argument("--quick", action="store_true", help="20 decisions")
    args = ap.parse_args()
    n = 20 if args.quick else args.decisions
    server = provider(args.delay_ms / 1000)
    url = f"http://127.0.0.1:{server.server_address[1]}"
    names = [s[0] for s in SOURCES]
    with tempfile.TemporaryDirectory() as tmp:
        folder = Path(tmp)
        full = strategy(folder, url, names, 0)
        cached = strategy(folder, url, names, 3600)
        singles = [strategy(folder, url, [name], 0) for name in names]

        async def run() -> dict[str, list[float]]:
            rt = SourceRuntime(full.plan)
            rt_cached = SourceRuntime(cached.plan)
            rt_singles = [SourceRuntime(s.plan) for s in singles]
            await rt_cached.fetch(record(0), tokens(0), consents, tenant="t")  # fill the cache

            async def concurrent(i: int) -> Any:
                got = await rt.fetch(record(i), tokens(i), consents, tenant="t")
                return evaluate(full, {"applicant.id_number": "pn", "applicant.age": 30,
                                       **got.values})

            async def serial(i: int) -> Any:
                values: dict[str, Any] = {}
                for r in rt_singles:
                    values.update((await r.fetch(record(i), tokens(i), consents,
                                                 tenant="t")).values)
                return values

            async def from_cache(i: int) -> Any:
                got = await rt_cached.fetch(record(0), tokens(0), consents, tenant="t")
                assert all(c["cached"] for c in got.calls)
                return got

            got = await rt.fetch(record(1), tokens(1), consents, tenant="t")
            assert {c["status"] for c in got.calls} == {"OK"}, got.calls
            values = {"applicant.id_number": "pn", "applicant.age": 30, **got.values}

            async def engine(i: int) -> Any:
                return evaluate(full, values)

            out = {"concurrent (3 sources)": await timed(n, concurrent),
                   "one after another": await timed(n, serial),
                   "cached (no call)": await timed(n, from_cache),
                   "engine only": await timed(n, engine)}
            for r in (rt, rt_cached, *rt_singles):
                await r.aclose()
            return out

        results = asyncio.run(run())
    server.shutdown()
    table = Table(title=f"Data sources: {n} decisions, provider delay {args.delay_ms:g} ms, "
                        "3 HTTP sources on loopback")
    for col in ("path", "p50 ms", "p99 ms", "mean ms", "vs concurrent"):
        table.add_column(col, justify="right" if col != "path" else "left")
    base = statistics.mean(results["concurrent (3 sources)"])
    for name, xs in results.items():
        mean = statistics.mean(xs)
        table.add_row(name, f"{quantile(xs, 50):.3f}", f"{quantile(xs, 99):.3f}", f"{mean:.3f}",
                      f"{mean / base:.2f}×")
    Console().print(table)


if __name__ == "__main__":
    main()
