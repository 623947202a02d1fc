"""Account-management review (存量经营) over a large book: accounts per second and peak memory.

The goal (issue 6): review 10,000,000 accounts on one machine at >= 1,000,000 accounts/s on
2 cores, with peak memory under 8 GB, streaming the book from Parquet.

The book: ``synthetic_book`` generates one block of accounts (``--block``, with its monthly
history, which the review does not read); the block is written ``accounts / block`` times
with fresh account ids into one Parquet file (row groups of 500,000), so the file is built
in bounded memory too. The file is cached (``--book``) and reused.

The review runs in a fresh child process (``fengkong.lifecycle.review_to_files``: read a
chunk with ``pl.scan_parquet(...).slice``, run the strategy with ``evaluate_batch``,
enforce the guards, write actions and notices), which reports its wall time, CPU time and
peak RSS. A second child times the stages on one chunk.

    .venv/bin/python benchmarks/bench_review.py                      # 10 M accounts
    .venv/bin/python benchmarks/bench_review.py --accounts 1000000   # smoke run
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import subprocess
import sys
import tempfile
import time
from datetime import date
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
STRATEGY = ROOT / "examples" / "account_management" / "strategy.yaml"
AS_OF = date(2026, 1, 1)


def generate(path: Path, accounts: int, block: int, seed: int) -> None:
    import polars as pl
    import pyarrow.parquet as pq

    from fengkong.lifecycle._book import synthetic_book

    book = synthetic_book(block, months=13, seed=seed, as_of=AS_OF).accounts
    tmp = path.with_suffix(".tmp")
    writer: pq.ParquetWriter | None = None
    done = 0
    try:
        while done < accounts:
            n = min(block, accounts - done)
            part = book.head(n).with_columns(
                (pl.lit("AC") + (pl.int_range(done, done + n, eager=True)).cast(pl.String)
                 .str.zfill(10)).alias("account_id"))
            table = part.to_arrow(compat_level=pl.CompatLevel.oldest())
            if writer is None:
                writer = pq.ParquetWriter(tmp, table.schema, compression="zstd")
            writer.write_table(table, row_group_size=500_000)
            done += n
    finally:
        if writer is not None:
            writer.close()
    tmp.rename(path)


def child_review(book: Path, out: Path, chunk: int) -> dict[str, float]:
    from fengkong import compile_strategy
    from fengkong.lifecycle._review import ReviewConfig, review_to_files

    strategy = compile_strategy(STRATEGY)
    c0 = time.process_time()
    run = review_to_files(strategy, book, as_of=AS_OF, out=out / "actions.parquet",
                          config=ReviewConfig(chunk_size=chunk))
    cpu = time.process_time() - c0
    rss = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024 / 1024  # KiB -> GiB
    return {"accounts": run.accounts, "wall_s": run.seconds, "cpu_s": cpu, "peak_rss_gib": rss,
            "notices": run.notices}


def child_stages(book: Path, out: Path, chunk: int) -> dict[str, float]:
    """Time the stages on one chunk (after a warm-up chunk)."""
    import polars as pl

    from fengkong import compile_strategy, evaluate_batch
    from fengkong.lifecycle import _review as rv

    strategy = compile_strategy(STRATEGY)
    cfg = rv.ReviewConfig(chunk_size=chunk)
    cols = rv._book_columns(strategy, cfg)
    lf = pl.scan_parquet(book).select(cols)
    rv.review_chunk(strategy, lf.slice(0, chunk).collect(), as_of=AS_OF, config=cfg)  # warm-up
    t = time.perf_counter()
    frame = lf.slice(chunk, chunk).collect()
    t_read = time.perf_counter() - t
    t = time.perf_counter()
    inputs = rv._inputs(strategy, frame)
    evaluate_batch(strategy, inputs)
    t_engine = time.perf_counter() - t
    t = time.perf_counter()
    actions, notices = rv.review_chunk(strategy, frame, as_of=AS_OF, config=cfg)
    t_chunk = time.perf_counter() - t
    t = time.perf_counter()
    actions.write_parquet(out / "stage_actions.parquet", compression="zstd")
    notices.write_parquet(out / "stage_notices.parquet", compression="zstd")
    t_write = time.perf_counter() - t
    return {"rows": frame.height, "read_s": t_read, "engine_s": t_engine,
            "job_s": t_chunk - t_engine, "write_s": t_write,
            "total_s": t_read + t_chunk + t_write}


def run_child(mode: str, book: Path, out: Path, chunk: int) -> dict[str, float]:
    res = subprocess.run([sys.executable, __file__, "--child", mode, "--book", str(book),
                          "--out", str(out), "--chunk", str(chunk)],
                         check=True, capture_output=True, text=True)
    return json.loads(res.stdout.strip().splitlines()[-1])


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--accounts", type=int, default=10_000_000)
    ap.add_argument("--block", type=int, default=1_000_000)
    ap.add_argument("--chunk", type=int, default=500_000)
    ap.add_argument("--book", type=Path, default=None)
    ap.add_argument("--out", type=Path, default=None)
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--json", type=Path, default=None)
    ap.add_argument("--child", choices=["review", "stages"], default=None)
    a = ap.parse_args()
    if a.child:
        fn = child_review if a.child == "review" else child_stages
        print(json.dumps(fn(a.book, a.out, a.chunk)))
        return
    tmp = Path(tempfile.gettempdir())
    book = a.book or tmp / f"fengkong-review-book-{a.accounts}-{a.block}-{a.seed}.parquet"
    out = a.out or tmp / "fengkong-review-out"
    out.mkdir(parents=True, exist_ok=True)
    if not book.exists():
        t = time.perf_counter()
        generate(book, a.accounts, min(a.block, a.accounts), a.seed)
        print(f"generated {a.accounts:,} accounts into {book} in {time.perf_counter() - t:.1f} s "
              f"({book.stat().st_size / 2**20:,.0f} MiB)")
    print(f"machine: {os.cpu_count()} CPUs; POLARS_MAX_THREADS={os.environ.get('POLARS_MAX_THREADS', 'unset')}; "
          f"load {os.getloadavg()[0]:.2f}")
    r = run_child("review", book, out, a.chunk)
    s = run_child("stages", book, out, a.chunk)
    rate = r["accounts"] / r["wall_s"]
    rows = [
        ("accounts reviewed", f"{int(r['accounts']):,}"),
        ("chunk size", f"{a.chunk:,}"),
        ("wall s", f"{r['wall_s']:.2f}"),
        ("CPU s", f"{r['cpu_s']:.2f}"),
        ("accounts/s (wall)", f"{rate:,.0f}"),
        ("accounts per CPU-second", f"{r['accounts'] / r['cpu_s']:,.0f}"),
        ("peak RSS GiB", f"{r['peak_rss_gib']:.2f}"),
        ("notices", f"{int(r['notices']):,}"),
        ("goal >= 1,000,000 accounts/s", "met" if rate >= 1_000_000 else f"missed by {1_000_000 / rate:.2f}x"),
        ("goal peak RSS < 8 GB", "met" if r["peak_rss_gib"] * 2**30 < 8e9 else "missed"),
        ("load average after (1 min)", f"{os.getloadavg()[0]:.2f}"),
    ]
    width = max(len(k) for k, _ in rows)
    print(f"\n| {'measure'.ljust(width)} | value |\n|{'-' * (width + 2)}|------:|")
    for k, v in rows:
        print(f"| {k.ljust(width)} | {v} |")
    n = s["rows"]
    print(f"\nWhere the time goes (one chunk of {int(n):,} accounts, warm):\n")
    print("| stage | s | share | accounts/s |\n|---|---:|---:|---:|")
    for k in ("read_s", "engine_s", "job_s", "write_s"):
        print(f"| {k[:-2]} | {s[k]:.3f} | {s[k] / s['total_s']:.0%} | {n / s[k]:,.0f} |")
    print(f"| total | {s['total_s']:.3f} | 100% | {n / s['total_s']:,.0f} |")
    if a.json:
        a.json.write_text(json.dumps({"review": r, "stages": s}, indent=2))


if __name__ == "__main__":
    main()
