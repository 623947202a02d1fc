"""An open-loop HTTP/1.1 load generator: a fixed request rate, latency from the intended send time.

Closed-loop tools (wrk, ab, hey) send the next request on a connection only when the
previous answer arrived, so a slow server is simply asked less: the queueing that a
real client population would see never shows in their percentiles (coordinated
omission). wrk2 fixes that but is not packaged here, so this is the same idea in
Python:

* request ``i`` is *due* at ``t0 + i / rate``, fixed before the run starts and
  independent of how fast answers come back;
* a scheduler puts every due request on a queue (several at once if it woke late);
  ``conns`` workers, each owning one keep-alive connection
  (``asyncio.open_connection``), take requests off the queue, write them and read the
  answer (status line, headers, ``Content-Length`` bytes of body);
* a request's latency is *answer received - due time*, so time spent waiting for a
  free connection or for a late scheduler counts against the server, as a client
  would see it. The send lag (*written - due*) is reported apart: it shows whether
  the generator itself kept up (the floor run checks this);
* the first ``warmup`` seconds of the schedule are sent but not counted.

Run by ``bench_service.py``; prints one JSON object::

    python benchmarks/_openloop.py --url http://127.0.0.1:8000/bench/noop --body FILE
        --rate 1000 --duration 10 [--warmup 2] [--conns 64] [--key KEY] [--prefix P]
"""

from __future__ import annotations

import argparse
import asyncio
import json
import resource
import sys
import time
from typing import Any
from urllib.parse import urlsplit


def _pct(sorted_vals: list[float], p: float) -> float:
    if not sorted_vals:
        return float("nan")
    k = min(len(sorted_vals) - 1, max(0, round(p / 100.0 * (len(sorted_vals) - 1))))
    return sorted_vals[k]


class _Closed(Exception):
    pass


async def _read_response(reader: asyncio.StreamReader) -> tuple[int, bool]:
    """(status, server keeps the connection open) of one response; its body is read and dropped."""
    head = await reader.readuntil(b"\r\n\r\n")
    status = int(head[9:12])
    low = head.lower()
    i = low.find(b"\r\ncontent-length:")
    if i < 0:
        raise _Closed("response without Content-Length")
    j = low.find(b"\r\n", i + 2)
    length = int(low[i + 17:j])
    if length:
        await reader.readexactly(length)
    return status, b"\r\nconnection: close" not in low


async def run(url: str, body: bytes, rate: float, duration: float, warmup: float, conns: int,
              key: str | None, prefix: str, drain_timeout: float) -> dict[str, Any]:
    """Send ``rate`` requests a second for ``warmup + duration`` seconds; measure the last part."""
    parts = urlsplit(url)
    host, port = parts.hostname or "127.0.0.1", parts.port or 80
    head = (f"POST {parts.path} HTTP/1.1\r\nHost: {host}:{port}\r\n"
            "Content-Type: application/json\r\n"
            + (f"Authorization: Bearer {key}\r\n" if key else "")
            + f"Content-Length: {len(body)}\r\nX-Request-ID: {prefix}-").encode()
    tail = b"\r\n\r\n" + body
    n_warm = round(rate * warmup)
    n_total = n_warm + round(rate * duration)
    interval = 1.0 / rate
    due = [0.0] * n_total
    sent = [0.0] * n_total
    done = [0.0] * n_total
    status = [0] * n_total
    errors: dict[str, int] = {}
    queue: asyncio.Queue[int | None] = asyncio.Queue()
    pc = time.perf_counter

    async def connect() -> tuple[asyncio.StreamReader, asyncio.StreamWriter]:
        return await asyncio.open_connection(host, port)

    async def worker() -> None:
        reader, writer = await connect()
        try:
            while True:
                i = await queue.get()
                if i is None:
                    return
                sent[i] = pc()
                try:
                    writer.write(head + str(i).encode() + tail)
                    st, keep = await _read_response(reader)
                except (OSError, asyncio.IncompleteReadError, asyncio.LimitOverrunError,
                        ValueError, _Closed) as e:
                    errors[type(e).__name__] = errors.get(type(e).__name__, 0) + 1
                    done[i] = pc()
                    writer.close()
                    reader, writer = await connect()
                    continue
                done[i] = pc()
                status[i] = st
                if not keep:
                    writer.close()
                    reader, writer = await connect()
        finally:
            writer.close()

    workers = [asyncio.create_task(worker()) for _ in range(conns)]
    await asyncio.sleep(0.2)  # let the connections open before the clock starts
    cpu0 = resource.getrusage(resource.RUSAGE_SELF)
    t0 = pc() + 0.05
    i = 0
    max_backlog = 0
    while i < n_total:
        now = pc()
        nxt = t0 + i * interval
        if nxt > now:
            await asyncio.sleep(nxt - now)
            continue
        while i < n_total and t0 + i * interval <= now:
            due[i] = t0 + i * interval
            queue.put_nowait(i)
            i += 1
        max_backlog = max(max_backlog, queue.qsize())
    end_of_schedule = t0 + n_total * interval
    for _ in workers:
        queue.put_nowait(None)
    _, pending = await asyncio.wait(workers, timeout=drain_timeout)
    for w in pending:
        w.cancel()
    if pending:
        await asyncio.wait(pending)
    cpu1 = resource.getrusage(resource.RUSAGE_SELF)

    measured = range(n_warm, n_total)
    lat = sorted(done[k] - due[k] for k in measured if done[k] and status[k])
    lag = sorted(sent[k] - due[k] for k in measured if sent[k])
    ok = sum(1 for k in measured if 200 <= status[k] < 300)
    non2xx = sum(1 for k in measured if status[k] and not 200 <= status[k] < 300)
    unanswered = sum(1 for k in measured if not done[k])
    ok_all = sum(1 for k in range(n_total) if 200 <= status[k] < 300)
    window_end = max((done[k] for k in measured if done[k]), default=end_of_schedule)
    window = max(window_end, end_of_schedule) - (t0 + n_warm * interval)
    cpu = (cpu1.ru_utime - cpu0.ru_utime) + (cpu1.ru_stime - cpu0.ru_stime)
    ms = 1000.0
    return {
        "rate": rate, "duration_s": duration, "warmup_s": warmup, "conns": conns,
        "scheduled": n_total - n_warm, "answered": len(lat), "ok": ok, "non2xx": non2xx,
        "unanswered": unanswered, "socket_errors": dict(errors),
        "ok_including_warmup": ok_all,
        "answered_including_warmup": sum(1 for k in range(n_total) if status[k]),
        "achieved_per_s": ok / window if window > 0 else float("nan"),
        "p50_ms": _pct(lat, 50) * ms, "p90_ms": _pct(lat, 90) * ms, "p99_ms": _pct(lat, 99) * ms,
        "p999_ms": _pct(lat, 99.9) * ms, "max_ms": (lat[-1] if lat else float("nan")) * ms,
        "send_lag_p50_ms": _pct(lag, 50) * ms, "send_lag_p99_ms": _pct(lag, 99) * ms,
        "send_lag_max_ms": (lag[-1] if lag else float("nan")) * ms,
        "max_backlog": max_backlog,
        "generator_cpu_s": cpu, "generator_cpu_us_per_req": cpu / max(1, n_total) * 1e6,
    }


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--url", required=True)
    ap.add_argument("--body", required=True, help="file with the request body")
    ap.add_argument("--rate", type=float, default=1000.0, help="requests per second")
    ap.add_argument("--duration", type=float, default=10.0, help="measured seconds")
    ap.add_argument("--warmup", type=float, default=2.0, help="seconds sent before measuring")
    ap.add_argument("--conns", type=int, default=64, help="keep-alive connections")
    ap.add_argument("--key", default=None, help="API key (Authorization: Bearer KEY)")
    ap.add_argument("--prefix", default="ol", help="X-Request-ID prefix (ids are PREFIX-i)")
    ap.add_argument("--drain-timeout", type=float, default=10.0,
                    help="seconds to wait for answers after the last send")
    ap.add_argument("--loop", choices=["uvloop", "asyncio"], default="uvloop")
    args = ap.parse_args(argv)
    with open(args.body, "rb") as f:
        body = f.read()
    coro = run(args.url, body, args.rate, args.duration, args.warmup, args.conns, args.key,
               args.prefix, args.drain_timeout)
    if args.loop == "uvloop":
        import uvloop
        result = uvloop.run(coro)
    else:
        result = asyncio.run(coro)
    result["loop"] = args.loop
    sys.stdout.write(json.dumps(result) + "\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())
