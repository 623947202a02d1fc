"""Kill -9 under load: every acknowledged decision survives, the chain verifies, and retries
of unanswered requests make exactly one decision each (SQLite and PostgreSQL).

The real server runs as a subprocess (``fengkong serve``); it is killed with SIGKILL while
16 clients send decisions, then started again on the same data directory and database.
"""

from __future__ import annotations

import os
import threading
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import httpx
import orjson
import psycopg
import pytest
from sqlalchemy import func, select
from sqlalchemy.engine import make_url

from fengkong.demo import example_record
from fengkong.store import Database
from fengkong.store._tables import decisions

pytestmark = pytest.mark.slow

TENANT = "default"
CLIENTS = 16
MAX_PER_CLIENT = 1_500  # bounds the load even if the kill came late
LOAD_SECONDS = 1.5


@dataclass
class Load:
    """What the clients sent and what came back."""

    answered: dict[str, str] = field(default_factory=dict)  # request id -> decision id
    unanswered: set[str] = field(default_factory=set)  # no answer (connection lost) or not 200
    statuses: dict[int, int] = field(default_factory=dict)
    lock: threading.Lock = field(default_factory=threading.Lock)


def _body(request_id: str) -> bytes:
    record = example_record()
    record["application_id"] = request_id[-20:]
    return orjson.dumps(record)


def _decide(client: httpx.Client, base: str, key: str, request_id: str) -> httpx.Response:
    return client.post(f"{base}/v1/decisions/consumer_loan", content=_body(request_id),
                       headers={"Authorization": f"Bearer {key}", "X-Request-ID": request_id,
                                "Content-Type": "application/json"})


def _client(n: int, base: str, key: str, load: Load, stop: threading.Event) -> None:
    with httpx.Client(timeout=httpx.Timeout(10.0)) as client:
        for i in range(MAX_PER_CLIENT):
            if stop.is_set():
                return
            rid = f"crash-{n:02d}-{i:05d}"
            try:
                r = _decide(client, base, key, rid)
            except httpx.HTTPError:
                with load.lock:
                    load.unanswered.add(rid)
                return  # the server is gone
            with load.lock:
                load.statuses[r.status_code] = load.statuses.get(r.status_code, 0) + 1
                if r.status_code == 200:
                    load.answered[rid] = r.json()["id"]
                else:
                    load.unanswered.add(rid)


def _pg_connections(database_url: str) -> int:
    url = make_url(database_url)
    server = url.set(drivername="postgresql", database="postgres").render_as_string(
        hide_password=False)
    with psycopg.connect(server, autocommit=True, connect_timeout=5) as conn:
        row = conn.execute("SELECT count(*) FROM pg_stat_activity WHERE datname = %s",
                           (url.database,)).fetchone()
    return int(row[0]) if row else 0


def test_kill_9_under_load_loses_no_acknowledged_decision(
        database_url: str, tmp_path: Path, fengkong_server: Any, fengkong_cli: Any) -> None:
    data = tmp_path / "data"
    options = ["--data-dir", str(data)]
    if database_url.startswith("postgresql"):
        options += ["--database-url", database_url]
    sqlite_file = data / "fengkong.db"
    url = database_url if database_url.startswith("postgresql") else f"sqlite:///{sqlite_file}"

    first = fengkong_server(options, tmp_path / "server-1.log")
    first.start(tmp_path)
    made = fengkong_cli("keys", "create", "--tenant", TENANT, "--role", "decide", "--role", "audit",
                "--name", "crash-test", *options, cwd=tmp_path)
    assert made.returncode == 0, made.stderr
    key = made.stdout.strip()
    first.wait_ready()

    # The process we are about to kill is the server itself and holds the database.
    assert first.proc is not None
    if url.startswith("sqlite"):
        fds = {os.path.realpath(p) for p in Path(f"/proc/{first.proc.pid}/fd").iterdir()}
        assert str(sqlite_file.resolve()) in fds
    else:
        assert _pg_connections(url) > 0

    # -- load, then SIGKILL in the middle of it ------------------------------------------
    load, stop = Load(), threading.Event()
    clients = [threading.Thread(target=_client, args=(n, first.base, key, load, stop))
               for n in range(CLIENTS)]
    for c in clients:
        c.start()
    time.sleep(LOAD_SECONDS)
    first.kill()
    stop.set()
    for c in clients:
        c.join(30)
    assert not any(c.is_alive() for c in clients)
    assert len(load.answered) > 50, (load.statuses, first.log())
    assert load.unanswered, "no request was in flight when the server was killed"
    assert set(load.statuses) == {200}, load.statuses  # only the kill failed requests
    with pytest.raises(httpx.HTTPError):
        httpx.get(f"{first.base}/healthz", timeout=1)
    if url.startswith("postgresql"):
        deadline = time.monotonic() + 10
        while _pg_connections(url) and time.monotonic() < deadline:
            time.sleep(0.1)
        assert _pg_connections(url) == 0, "the killed server's connections are still open"

    # -- restart on the same data ---------------------------------------------------------
    second = fengkong_server(options, tmp_path / "server-2.log")
    second.start(tmp_path)
    second.wait_ready()

    db = Database.connect(url)
    try:
        with db.reader.connect() as conn:
            logged = {r.request_id: (r.id, r.seq) for r in conn.execute(
                select(decisions.c.request_id, decisions.c.id, decisions.c.seq)
                .where(decisions.c.tenant_id == TENANT))}
        lost = {rid for rid, did in load.answered.items() if logged.get(rid, (None,))[0] != did}
        assert lost == set(), f"{len(lost)} acknowledged decisions are missing or changed"
        assert sorted(seq for _, seq in logged.values()) == list(range(1, len(logged) + 1))
        attempted = set(load.answered) | load.unanswered
        assert set(logged) <= attempted  # nothing that nobody asked for
        committed_unacked = load.unanswered & set(logged)

        verified = fengkong_cli("audit", "verify", *options, cwd=tmp_path)
        assert verified.returncode == 0, verified.stdout + verified.stderr
        assert f"{TENANT}: ok, {len(logged)} records" in verified.stdout

        # -- retries: unanswered ones decide exactly once, answered ones replay ----------
        with httpx.Client(timeout=httpx.Timeout(10.0)) as client:
            for rid in sorted(load.unanswered):
                r = _decide(client, second.base, key, rid)
                assert r.status_code == 200, r.text
                assert (r.headers.get("Idempotent-Replayed") == "true") == (
                    rid in committed_unacked)
                if rid in committed_unacked:
                    assert r.json()["id"] == logged[rid][0]
            answered = sorted(load.answered)
            sample = answered[:: max(1, len(answered) // 100)]
            for rid in sample:
                r = _decide(client, second.base, key, rid)
                assert r.status_code == 200, r.text
                assert r.headers.get("Idempotent-Replayed") == "true"
                assert r.json()["id"] == load.answered[rid]
            for rid in load.unanswered:  # a second retry changes nothing either
                assert _decide(client, second.base, key, rid).status_code == 200

        with db.reader.connect() as conn:
            counts = dict(conn.execute(
                select(decisions.c.request_id, func.count()).where(
                    decisions.c.tenant_id == TENANT, decisions.c.request_id.in_(attempted))
                .group_by(decisions.c.request_id)).all())
            total = conn.execute(select(func.count()).select_from(decisions)).scalar_one()
        assert {rid: counts.get(rid, 0) for rid in load.unanswered} == dict.fromkeys(
            load.unanswered, 1)
        assert all(counts[rid] == 1 for rid in load.answered)
        assert total == len(attempted)
    finally:
        db.dispose()

    verified = fengkong_cli("audit", "verify", "--tenant", TENANT, *options, cwd=tmp_path)
    assert verified.returncode == 0, verified.stdout + verified.stderr
    assert f"{TENANT}: ok, {len(attempted)} records" in verified.stdout
